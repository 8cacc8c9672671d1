// Tests of core/optim.c: AdamW against a hand computation, clipping, weight decay on matrices
// only, the non-finite guard, refusals, the gradient norm and the learning-rate schedule.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "al_gpt.h"
#include "al_optim.h"
#include "testutil.h"

static al_gpt *tiny(int scalar) {
  al_gpt_config c = al_gpt_config_make(5, 3, 4, 1, 2);
  c.scalar = scalar;
  al_gpt *m = NULL;
  cr_assert_eq(al_gpt_new(&m, &c, 11), AL_OK, "%s", al_errmsg());
  cr_assert_eq(al_gpt_zero_grad(m), AL_OK);
  // parameters away from 0 and 1 so that decay is visible everywhere
  float *x = malloc(m->nparams * sizeof(float));
  tu_fill_normal(x, m->nparams, 12, 0.5f);
  memcpy(m->params, x, m->nparams * sizeof(float));
  free(x);
  return m;
}

// A matrix by its Hugging Face name: what decays. Independent of the tensor table's flag.
static int is_matrix(const char *name) {
  return strstr(name, ".weight") && !strstr(name, "ln_");
}

static unsigned char *matrix_mask(const al_gpt *m) {
  unsigned char *mask = calloc(m->nparams, 1);
  for (int k = 0; k < al_gpt_ntensors(m); k++) {
    al_gpt_tensor t;
    al_gpt_tensor_info(m, k, &t);
    if (is_matrix(t.name)) memset(mask + t.offset, 1, t.size);
  }
  return mask;
}

Test(optim, adamw_matches_a_hand_computed_update) {
  al_gpt *m = tiny(1);
  size_t n = m->nparams;
  al_adamw_config cfg = al_adamw_defaults();
  cfg.weight_decay = 0.1f;
  cfg.clip = 0; // off
  cfg.beta1 = 0.8f;
  cfg.beta2 = 0.95f;
  cfg.eps = 1e-6f;
  al_adamw *o = NULL;
  cr_assert_eq(al_adamw_new(&o, m, &cfg), AL_OK);
  unsigned char *mask = matrix_mask(m);
  double *p = malloc(n * sizeof(double)), *mo = calloc(n, sizeof(double)),
         *v = calloc(n, sizeof(double)), *tm = malloc(n * sizeof(double)),
         *tv = malloc(n * sizeof(double));
  for (size_t i = 0; i < n; i++) p[i] = m->params[i];
  const float lrs[3] = {1e-2f, 3e-3f, 5e-2f};
  for (int step = 1; step <= 3; step++) {
    // gradients of several magnitudes, some exactly zero
    tu_fill_normal(m->grads, n, 100 + step, step == 2 ? 1e-3f : 1.0f);
    for (size_t i = 0; i < n; i += 7) m->grads[i] = 0;
    double gn;
    cr_assert_eq(al_adamw_step(o, m, lrs[step - 1], &gn), AL_OK, "%s", al_errmsg());
    double lr = lrs[step - 1], b1 = cfg.beta1, b2 = cfg.beta2;
    for (size_t i = 0; i < n; i++) {
      double g = m->grads[i];
      // float rounding bounds: relative to the size of the terms summed, not of the result
      tm[i] = 1e-6 * (fabs(b1 * mo[i]) + fabs((1 - b1) * g)) + 1e-12;
      tv[i] = 1e-6 * (b2 * v[i] + (1 - b2) * g * g) + 1e-15;
      mo[i] = b1 * mo[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      double mhat = mo[i] / (1 - pow(b1, step)), vhat = v[i] / (1 - pow(b2, step));
      p[i] = p[i] - lr * (mask[i] ? cfg.weight_decay * p[i] : 0) -
             lr * mhat / (sqrt(vhat) + cfg.eps);
    }
    for (size_t i = 0; i < n; i++) {
      cr_assert(fabs(m->params[i] - p[i]) < 1e-6 * (1 + fabs(p[i])), "step %d float %zu: %.9g vs %.9g",
                step, i, m->params[i], p[i]);
      cr_assert(fabs(o->m[i] - mo[i]) < tm[i], "step %d m[%zu]: %.9g vs %.9g", step, i, o->m[i], mo[i]);
      cr_assert(fabs(o->v[i] - v[i]) < tv[i], "step %d v[%zu]: %.9g vs %.9g", step, i, o->v[i], v[i]);
    }
  }
  cr_assert_eq(o->step, 3);
  free(p);
  free(mo);
  free(v);
  free(tm);
  free(tv);
  free(mask);
  al_adamw_free(o);
  al_gpt_free(m);
}

Test(optim, weight_decay_applies_to_matrices_only) {
  al_gpt *m = tiny(1);
  size_t n = m->nparams;
  float *before = malloc(n * sizeof(float));
  memcpy(before, m->params, n * sizeof(float));
  al_adamw_config cfg = al_adamw_defaults();
  cfg.weight_decay = 0.5f;
  al_adamw *o = NULL;
  cr_assert_eq(al_adamw_new(&o, m, &cfg), AL_OK);
  // zero gradient: Adam's own step is 0/(0+eps) = 0, only the decay moves parameters
  cr_assert_eq(al_adamw_step(o, m, 0.1f, NULL), AL_OK);
  int nmat = 0, nvec = 0;
  for (int k = 0; k < al_gpt_ntensors(m); k++) {
    al_gpt_tensor t;
    al_gpt_tensor_info(m, k, &t);
    int mat = is_matrix(t.name);
    nmat += mat;
    nvec += !mat;
    for (size_t j = t.offset; j < t.offset + t.size; j++) {
      float want = mat ? before[j] * (1.0f - 0.1f * 0.5f) : before[j];
      cr_assert_float_eq(m->params[j], want, 1e-7f, "%s: %g -> %g", t.name, before[j], m->params[j]);
    }
  }
  cr_assert_eq(nmat, 2 + 4 + 1); // wte, wpe, c_attn, attn.c_proj, c_fc, mlp.c_proj, score
  cr_assert_eq(nvec, 8 + 2);
  free(before);
  al_adamw_free(o);
  al_gpt_free(m);
}

Test(optim, clipping_scales_the_gradient_to_the_clip_norm) {
  al_gpt *m = tiny(0);
  size_t n = m->nparams;
  tu_fill_normal(m->grads, n, 5, 1.0f);
  double ss = 0;
  for (size_t i = 0; i < n; i++) ss += (double)m->grads[i] * m->grads[i];
  float k = (float)(10.0 / sqrt(ss)); // rescale to norm 10
  for (size_t i = 0; i < n; i++) m->grads[i] *= k;
  double norm = al_gpt_grad_norm(m);
  cr_assert(fabs(norm - 10.0) < 1e-4, "%g", norm);
  float *g = malloc(n * sizeof(float));
  memcpy(g, m->grads, n * sizeof(float));
  al_adamw_config cfg = al_adamw_defaults();
  cfg.clip = 1.0f;
  al_adamw *o = NULL;
  cr_assert_eq(al_adamw_new(&o, m, &cfg), AL_OK);
  double gn = 0;
  cr_assert_eq(al_adamw_step(o, m, 1e-3f, &gn), AL_OK);
  cr_assert_eq(gn, norm, "reported norm is the pre-clip norm");
  // after one step m = (1 - beta1) * clipped g, so the clipped gradient is m / (1 - beta1)
  double cn = 0;
  for (size_t i = 0; i < n; i++) {
    double gc = o->m[i] / (1.0 - cfg.beta1);
    cr_assert(fabs(gc - g[i] / norm) < 1e-5 * (1 + fabs(g[i])), "float %zu", i);
    cn += gc * gc;
  }
  cr_assert(fabs(sqrt(cn) - 1.0) < 1e-5, "clipped norm %g", sqrt(cn));
  cr_assert_eq(memcmp(g, m->grads, n * sizeof(float)), 0, "grads are not modified");
  al_adamw_free(o);
  // a clip above the norm leaves the gradient alone
  cfg.clip = 20.0f;
  cr_assert_eq(al_adamw_new(&o, m, &cfg), AL_OK);
  cr_assert_eq(al_adamw_step(o, m, 1e-3f, NULL), AL_OK);
  for (size_t i = 0; i < n; i++)
    cr_assert(fabs(o->m[i] / (1.0 - cfg.beta1) - g[i]) < 1e-5 * (1 + fabs(g[i])));
  free(g);
  al_adamw_free(o);
  al_gpt_free(m);
}

static void nonfinite_case(float bad) {
  al_gpt *m = tiny(1);
  size_t n = m->nparams;
  al_adamw *o = NULL;
  al_adamw_config cfg = al_adamw_defaults();
  cfg.weight_decay = 0.1f;
  cr_assert_eq(al_adamw_new(&o, m, &cfg), AL_OK);
  tu_fill_normal(m->grads, n, 1, 1.0f);
  cr_assert_eq(al_adamw_step(o, m, 1e-2f, NULL), AL_OK); // non-trivial moments
  float *p = malloc(n * sizeof(float)), *mm = malloc(n * sizeof(float)), *vv = malloc(n * sizeof(float));
  memcpy(p, m->params, n * sizeof(float));
  memcpy(mm, o->m, n * sizeof(float));
  memcpy(vv, o->v, n * sizeof(float));
  m->g.fcb[3] = bad; // h.0.mlp.c_fc.bias[3]
  double gn = 0;
  cr_assert_eq(al_adamw_step(o, m, 1e-2f, &gn), AL_ENONFINITE);
  cr_assert(!isfinite(gn));
  cr_assert(strstr(al_errmsg(), "h.0.mlp.c_fc.bias at index 3") != NULL, "%s", al_errmsg());
  cr_assert(strstr(al_errmsg(), "step 2") != NULL, "%s", al_errmsg());
  cr_assert_eq(memcmp(p, m->params, n * sizeof(float)), 0, "params changed");
  cr_assert_eq(memcmp(mm, o->m, n * sizeof(float)), 0, "m changed");
  cr_assert_eq(memcmp(vv, o->v, n * sizeof(float)), 0, "v changed");
  cr_assert_eq(o->step, 1);
  free(p);
  free(mm);
  free(vv);
  al_adamw_free(o);
  al_gpt_free(m);
}

Test(optim, nan_gradient_is_refused_and_changes_nothing) { nonfinite_case(NAN); }
Test(optim, inf_gradient_is_refused_and_changes_nothing) { nonfinite_case(-INFINITY); }

Test(optim, step_refuses_frozen_models_mismatched_sizes_and_missing_grads) {
  al_gpt_config c = al_gpt_config_make(5, 3, 4, 1, 2);
  al_gpt *m = NULL;
  cr_assert_eq(al_gpt_new(&m, &c, 1), AL_OK);
  al_adamw *o = NULL;
  al_adamw_config cfg = al_adamw_defaults();
  cr_assert_eq(al_adamw_new(&o, m, &cfg), AL_OK);
  cr_expect_eq(al_adamw_step(o, m, 1e-3f, NULL), AL_EINVAL); // no grads yet
  cr_expect(strstr(al_errmsg(), "backward") != NULL, "%s", al_errmsg());
  cr_assert_eq(al_gpt_zero_grad(m), AL_OK);
  cr_expect_eq(al_adamw_step(o, m, NAN, NULL), AL_EINVAL);
  cr_expect_eq(al_adamw_step(o, m, -1.0f, NULL), AL_EINVAL);
  m->frozen = 1;
  cr_expect_eq(al_adamw_step(o, m, 1e-3f, NULL), AL_EINVAL);
  cr_expect(strstr(al_errmsg(), "frozen") != NULL, "%s", al_errmsg());
  m->frozen = 0;
  cr_assert_eq(al_gpt_set_scalar_head(m, 1, 1), AL_OK);
  cr_expect_eq(al_adamw_step(o, m, 1e-3f, NULL), AL_EINVAL);
  cr_expect(strstr(al_errmsg(), "parameters") != NULL, "%s", al_errmsg());
  cr_expect_eq(o->step, 0);
  al_adamw_free(o);
  al_adamw *bad = (al_adamw *)1;
  cfg.beta2 = 1.0f;
  cr_expect_eq(al_adamw_new(&bad, m, &cfg), AL_EINVAL);
  cr_expect(strstr(al_errmsg(), "beta2") != NULL, "%s", al_errmsg());
  cr_expect_null(bad);
  al_adamw_free(NULL);
  al_gpt_free(m);
}

Test(optim, grad_norm_is_the_l2_norm_of_the_slab) {
  al_gpt *m = tiny(1);
  cr_assert_eq(al_gpt_grad_norm(m), 0.0);
  tu_fill_normal(m->grads, m->nparams, 3, 2.0f);
  double ss = 0;
  for (size_t i = 0; i < m->nparams; i++) ss += (double)m->grads[i] * m->grads[i];
  cr_assert(fabs(al_gpt_grad_norm(m) - sqrt(ss)) < 1e-12 * sqrt(ss));
  al_gpt_free(m);
}

static double lr_cos(long step, double warmup, long total, double mx, double mn) {
  al_lr_schedule s = {AL_LR_COSINE, mx, mn, warmup, total};
  return al_lr_at(&s, step);
}

Test(optim, schedule_warms_up_then_decays_by_cosine) {
  const double mx = 1e-3, mn = 1e-4;
  const long w = 10, tot = 110;
  cr_assert_float_eq(lr_cos(0, w, tot, mx, mn), 1e-4, 1e-15);
  cr_assert_float_eq(lr_cos(4, w, tot, mx, mn), 5e-4, 1e-15);
  cr_assert_float_eq(lr_cos(9, w, tot, mx, mn), 1e-3, 1e-15);
  cr_assert_float_eq(lr_cos(10, w, tot, mx, mn), 1e-3, 1e-15);   // end of warmup: peak
  cr_assert_float_eq(lr_cos(35, w, tot, mx, mn),                  // a quarter: cos(pi/4)
                     mn + 0.5 * (1 + sqrt(0.5)) * (mx - mn), 1e-15);
  cr_assert_float_eq(lr_cos(60, w, tot, mx, mn), 5.5e-4, 1e-15); // middle
  cr_assert(lr_cos(110, w, tot, mx, mn) == mn);                  // end, exactly
  cr_assert(lr_cos(1000, w, tot, mx, mn) == mn);                 // after the end
  double prev = 1;
  for (long s = w; s <= tot; s++) {
    double lr = lr_cos(s, w, tot, mx, mn);
    cr_assert(lr <= prev && lr >= mn);
    prev = lr;
  }
  // no warmup: starts at the peak
  cr_assert_float_eq(lr_cos(0, 0, 100, mx, 0), mx, 1e-15);
}

Test(optim, schedule_kinds_and_fractional_warmup) {
  al_lr_schedule lin = {AL_LR_LINEAR, 1.0, 0.0, 0, 100};
  cr_assert(al_lr_at(&lin, 0) == 1.0 && al_lr_at(&lin, 100) == 0.0 && al_lr_at(&lin, 500) == 0.0);
  cr_assert_float_eq(al_lr_at(&lin, 25), 0.75, 1e-15);
  al_lr_schedule cst = {AL_LR_CONSTANT, 0.5, 0.1, 4, 100};
  cr_assert_float_eq(al_lr_at(&cst, 1), 0.25, 1e-15); // warmup still applies: 0.5 * 2 / 4
  cr_assert(al_lr_at(&cst, 4) == 0.5 && al_lr_at(&cst, 99) == 0.5 && al_lr_at(&cst, 1000) == 0.5);
  // a fraction of total: floor(0.05 * 200) = 10 steps, and at least one step
  al_lr_schedule fr = {AL_LR_COSINE, 1.0, 0.0, 0.05, 200};
  cr_assert_float_eq(al_lr_at(&fr, 0), 0.1, 1e-15);
  cr_assert(al_lr_at(&fr, 10) == 1.0);
  al_lr_schedule tiny = {AL_LR_COSINE, 1.0, 0.0, 0.05, 10}; // floor(0.5) = 0 -> 1 step
  cr_assert(al_lr_at(&tiny, 0) == 1.0);
  // total <= warmup: after warmup the run is at its end (p = 1)
  al_lr_schedule shortrun = {AL_LR_COSINE, 1.0, 0.25, 8, 8};
  cr_assert(al_lr_at(&shortrun, 8) == 0.25);
  al_lr_kind k;
  cr_assert(al_lr_kind_from_name(&k, "linear") == AL_OK && k == AL_LR_LINEAR);
  cr_assert(al_lr_kind_from_name(&k, "cosin") == AL_EINVAL);
  cr_assert(strstr(al_errmsg(), "got 'cosin'") != NULL);
}
