// Tests of core/gpt.c: configuration checks, the slab and its tensor table, initialisation, the
// whole-model gradient against finite differences (every parameter tensor, with and without the
// scalar head), batch and padding invariance of log-probs, error paths.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "al_gpt.h"
#include "al_optim.h"
#include "testutil.h"

// ---- helpers ----

static al_gpt *make(int V, int maxT, int C, int L, int NH, int scalar, uint64_t seed) {
  al_gpt_config c = al_gpt_config_make(V, maxT, C, L, NH);
  c.scalar = scalar;
  al_gpt *m = NULL;
  cr_assert_eq(al_gpt_new(&m, &c, seed), AL_OK, "%s", al_errmsg());
  return m;
}

static void rand_ints(int *x, int n, int lo, int hi, uint64_t seed) {
  al_rng r;
  al_rng_seed(&r, seed, 5);
  for (int i = 0; i < n; i++) x[i] = lo + (int)al_rng_int(&r, (uint64_t)(hi - lo));
}

// ---- configuration ----

static void expect_bad(al_gpt_config c, const char *field) {
  cr_expect_eq(al_gpt_config_check(&c), AL_EINVAL, "config with bad %s accepted", field);
  cr_expect(strstr(al_errmsg(), field) != NULL, "message '%s' does not name %s", al_errmsg(),
            field);
  al_gpt *m = (al_gpt *)1;
  cr_expect_eq(al_gpt_new(&m, &c, 1), AL_EINVAL);
  cr_expect_null(m);
}

Test(gpt, config_check_rejects_bad_configs_naming_the_field) {
  al_gpt_config ok = al_gpt_config_make(16, 8, 8, 2, 2);
  cr_assert_eq(al_gpt_config_check(&ok), AL_OK);
  al_gpt_config c;
  c = ok; c.V = 1; expect_bad(c, "V (vocab_size)");
  c = ok; c.V = -5; expect_bad(c, "V (vocab_size)");
  c = ok; c.maxT = 0; expect_bad(c, "maxT (n_positions)");
  c = ok; c.C = 0; expect_bad(c, "C (n_embd)");
  c = ok; c.L = 0; expect_bad(c, "L (n_layer)");
  c = ok; c.NH = 0; expect_bad(c, "NH (n_head)");
  c = ok; c.NH = 3; expect_bad(c, "NH (n_head)"); // 8 % 3 != 0
  c = ok; c.NH = 16; expect_bad(c, "NH (n_head)"); // more heads than channels
  c = ok; c.scalar = 2; expect_bad(c, "scalar");
  c = ok; c.lm = -1; expect_bad(c, "lm");
  c = ok; c.lm = 0; expect_bad(c, "no output head");
  c = ok; c.ln_eps = 0; expect_bad(c, "ln_eps");
  c = ok; c.ln_eps = NAN; expect_bad(c, "ln_eps");
  c = ok; c.C = 16384; c.L = 1024; expect_bad(c, "parameters");
}

// ---- the slab and the tensor table ----

Test(gpt, tensor_table_tiles_the_slab_in_hugging_face_order) {
  int V = 11, maxT = 8, C = 8, L = 2, NH = 2;
  al_gpt *m = make(V, maxT, C, L, NH, 1, 3);
  int nt = al_gpt_ntensors(m);
  cr_assert_eq(nt, 2 + 12 * L + 2 + 1);
  size_t expect_n = (size_t)V * C + (size_t)maxT * C + (size_t)L * (12 * C * C + 13 * C) + 2 * C + C;
  cr_assert_eq(m->nparams, expect_n);
  const char *layer_names[12] = {"ln_1.weight", "ln_1.bias", "attn.c_attn.weight",
                                 "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias",
                                 "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
                                 "mlp.c_proj.weight", "mlp.c_proj.bias"};
  char *covered = calloc(m->nparams, 1);
  for (int i = 0; i < nt; i++) {
    al_gpt_tensor t;
    cr_assert_eq(al_gpt_tensor_info(m, i, &t), AL_OK);
    char want[64];
    if (i == 0) strcpy(want, "wte.weight");
    else if (i == 1) strcpy(want, "wpe.weight");
    else if (i < 2 + 12 * L) snprintf(want, sizeof want, "h.%d.%s", (i - 2) / 12, layer_names[(i - 2) % 12]);
    else if (i == 2 + 12 * L) strcpy(want, "ln_f.weight");
    else if (i == 3 + 12 * L) strcpy(want, "ln_f.bias");
    else strcpy(want, "score.weight");
    cr_expect_str_eq(t.name, want);
    size_t sz = t.ndim == 2 ? (size_t)t.shape[0] * t.shape[1] : (size_t)t.shape[0];
    cr_expect_eq(sz, t.size, "%s", t.name);
    cr_expect_eq(t.decay, t.ndim == 2, "%s: decay must be on exactly the matrices", t.name);
    cr_assert_leq(t.offset + t.size, m->nparams);
    for (size_t j = 0; j < t.size; j++) {
      cr_assert_eq(covered[t.offset + j], 0, "%s overlaps another tensor", t.name);
      covered[t.offset + j] = 1;
    }
  }
  for (size_t j = 0; j < m->nparams; j++) cr_assert_eq(covered[j], 1, "float %zu not covered", j);
  free(covered);
  // spot-check shapes and that offsets agree with the struct views
  al_gpt_tensor t;
  al_gpt_tensor_info(m, 2 + 12 + 2, &t); // h.1.attn.c_attn.weight
  cr_expect_str_eq(t.name, "h.1.attn.c_attn.weight");
  cr_expect_eq(t.shape[0], C);
  cr_expect_eq(t.shape[1], 3 * C);
  cr_expect_eq(m->params + t.offset, m->p.qkvw + 3 * C * C);
  al_gpt_tensor_info(m, 2 + 12 + 10, &t); // h.1.mlp.c_proj.weight
  cr_expect_eq(t.shape[0], 4 * C);
  cr_expect_eq(t.shape[1], C);
  cr_expect_eq(m->params + t.offset, m->p.fcprojw + 4 * C * C);
  al_gpt_tensor_info(m, nt - 1, &t);
  cr_expect_eq(m->params + t.offset, m->p.score);
  cr_expect_eq(t.shape[0], 1);
  cr_expect_eq(t.shape[1], C);
  cr_expect_eq(al_gpt_tensor_info(m, nt, &t), AL_EINVAL);
  cr_expect_eq(al_gpt_tensor_info(m, -1, &t), AL_EINVAL);
  al_gpt_free(m);
}

static void moments(const float *x, size_t n, double *mean, double *sd) {
  double s = 0, s2 = 0;
  for (size_t i = 0; i < n; i++) s += x[i];
  *mean = s / n;
  for (size_t i = 0; i < n; i++) s2 += (x[i] - *mean) * (x[i] - *mean);
  *sd = sqrt(s2 / n);
}

Test(gpt, initialisation_follows_gpt2) {
  int V = 64, maxT = 32, C = 64, L = 4, NH = 4;
  al_gpt *m = make(V, maxT, C, L, NH, 1, 7);
  int nt = al_gpt_ntensors(m);
  double proj_sd = 0.02 / sqrt(2.0 * L);
  for (int i = 0; i < nt; i++) {
    al_gpt_tensor t;
    al_gpt_tensor_info(m, i, &t);
    const float *x = m->params + t.offset;
    double mean, sd;
    moments(x, t.size, &mean, &sd);
    if (strstr(t.name, "ln_") && strstr(t.name, ".weight")) {
      for (size_t j = 0; j < t.size; j++) cr_assert_eq(x[j], 1.0f, "%s", t.name);
    } else if (t.ndim == 1) {
      for (size_t j = 0; j < t.size; j++) cr_assert_eq(x[j], 0.0f, "%s", t.name);
    } else {
      double want = strstr(t.name, "c_proj.weight") ? proj_sd : 0.02;
      // sd of n normals has relative sd 1/sqrt(2n): 5 sigma bounds (n >= 64)
      double tol = 5.0 / sqrt(2.0 * t.size) * want;
      cr_expect(fabs(sd - want) < tol, "%s: sd %g, want %g", t.name, sd, want);
      cr_expect(fabs(mean) < 5.0 * want / sqrt((double)t.size), "%s: mean %g", t.name, mean);
    }
  }
  // the trunk does not depend on the scalar head; adding the head later gives the same model
  al_gpt *n = make(V, maxT, C, L, NH, 0, 7);
  cr_assert_eq(memcmp(n->params, m->params, n->nparams * sizeof(float)), 0);
  cr_assert_eq(al_gpt_set_scalar_head(n, 1, 7), AL_OK);
  cr_assert_eq(n->nparams, m->nparams);
  cr_assert_eq(memcmp(n->params, m->params, n->nparams * sizeof(float)), 0);
  cr_assert_eq(n->p.score, n->params + n->nparams - C);
  // another seed differs
  al_gpt *o = make(V, maxT, C, L, NH, 1, 8);
  cr_assert_neq(memcmp(o->params, m->params, o->nparams * sizeof(float)), 0);
  al_gpt_free(m);
  al_gpt_free(n);
  al_gpt_free(o);
}

Test(gpt, clone_copies_parameters_not_state) {
  al_gpt *m = make(11, 8, 8, 2, 2, 1, 3);
  m->frozen = 1;
  int tok[4] = {1, 2, 3, 4};
  cr_assert_eq(al_gpt_forward(m, tok, 1, 4), AL_OK);
  al_gpt *c = NULL;
  cr_assert_eq(al_gpt_clone(&c, m), AL_OK);
  cr_assert_eq(c->nparams, m->nparams);
  cr_assert_neq(c->params, m->params);
  cr_assert_eq(memcmp(c->params, m->params, m->nparams * sizeof(float)), 0);
  cr_assert_eq(c->frozen, 0);
  cr_assert_null(c->grads);
  cr_assert_eq(c->B, 0);
  cr_assert_eq(c->p.score, c->params + (m->p.score - m->params));
  al_gpt_free(m);
  al_gpt_free(c);
  al_gpt_free(NULL);
}

Test(gpt, scalar_head_can_be_dropped_and_keeps_the_trunk) {
  al_gpt *m = make(11, 8, 8, 2, 2, 1, 3);
  al_gpt *ref = make(11, 8, 8, 2, 2, 0, 3);
  cr_assert_eq(al_gpt_zero_grad(m), AL_OK);
  cr_assert_eq(al_gpt_set_scalar_head(m, 0, 0), AL_OK);
  cr_assert_eq(m->nparams, ref->nparams);
  cr_assert_null(m->p.score);
  cr_assert_null(m->g.score);
  cr_assert_not_null(m->grads);
  cr_assert_eq(memcmp(m->params, ref->params, ref->nparams * sizeof(float)), 0);
  cr_assert_eq(al_gpt_ntensors(m), al_gpt_ntensors(ref));
  cr_assert_eq(al_gpt_set_scalar_head(m, 3, 0), AL_EINVAL);
  al_gpt_free(m);
  al_gpt_free(ref);
}

// ---- forward: shapes, errors, heads ----

Test(gpt, forward_refuses_bad_shapes_and_tokens_with_a_message) {
  al_gpt *m = make(11, 8, 8, 1, 2, 0, 3);
  int tok[18] = {0};
  cr_expect_eq(al_gpt_forward(m, tok, 1, 9), AL_ESHAPE);
  cr_expect(strstr(al_errmsg(), "maxT") != NULL, "%s", al_errmsg());
  cr_expect_eq(al_gpt_forward(m, tok, 0, 4), AL_ESHAPE);
  tok[1 * 4 + 3] = 11; // b=1, t=3 with T=4
  cr_expect_eq(al_gpt_forward(m, tok, 2, 4), AL_EINVAL);
  cr_expect(strstr(al_errmsg(), "b=1, t=3") != NULL, "%s", al_errmsg());
  tok[7] = -1;
  cr_expect_eq(al_gpt_forward(m, tok, 2, 4), AL_EINVAL);
  tok[7] = 0;
  // backward/logprobs before anything
  float d[8] = {0};
  int tg[8] = {0};
  cr_expect_eq(al_gpt_logprobs(m, tg, d), AL_EINVAL);
  cr_expect_eq(al_gpt_backward(m, d, NULL), AL_EINVAL);
  cr_assert_eq(al_gpt_forward(m, tok, 2, 4), AL_OK);
  cr_expect_eq(al_gpt_backward(m, d, NULL), AL_EINVAL); // logprobs not computed
  cr_expect(strstr(al_errmsg(), "al_gpt_logprobs") != NULL, "%s", al_errmsg());
  cr_expect_eq(al_gpt_backward(m, NULL, d), AL_EINVAL); // no scalar head
  tg[5] = 11;
  cr_expect_eq(al_gpt_logprobs(m, tg, d), AL_EINVAL);
  tg[5] = 0;
  float ent[8];
  cr_expect_eq(al_gpt_entropy(m, ent), AL_EINVAL);
  cr_assert_eq(al_gpt_logprobs(m, tg, d), AL_OK);
  cr_assert_eq(al_gpt_entropy(m, ent), AL_OK);
  for (int i = 0; i < 8; i++) cr_expect(ent[i] > 0 && ent[i] <= logf(11.0f) + 1e-5f);
  m->frozen = 1;
  cr_expect_eq(al_gpt_backward(m, d, NULL), AL_EINVAL);
  cr_expect(strstr(al_errmsg(), "frozen") != NULL, "%s", al_errmsg());
  al_gpt_free(m);
}

Test(gpt, reward_model_without_lm_head_computes_the_same_values) {
  al_gpt_config c = al_gpt_config_make(13, 8, 8, 2, 2);
  c.scalar = 1;
  al_gpt *a = NULL, *b = NULL;
  cr_assert_eq(al_gpt_new(&a, &c, 9), AL_OK);
  c.lm = 0;
  cr_assert_eq(al_gpt_new(&b, &c, 9), AL_OK);
  int tok[12];
  rand_ints(tok, 12, 0, 13, 1);
  cr_assert_eq(al_gpt_forward(a, tok, 2, 6), AL_OK);
  cr_assert_eq(al_gpt_forward(b, tok, 2, 6), AL_OK);
  cr_assert_null(b->a.logits);
  for (int i = 0; i < 12; i++) cr_expect_eq(a->a.values[i], b->a.values[i]);
  float lp[12];
  int tg[12] = {0};
  cr_expect_eq(al_gpt_logprobs(b, tg, lp), AL_EINVAL);
  cr_expect(strstr(al_errmsg(), "lm") != NULL);
  cr_expect_eq(al_gpt_set_scalar_head(b, 0, 0), AL_EINVAL);
  // gradients of the values agree too
  float dv[12];
  tu_fill_normal(dv, 12, 4, 1.0f);
  cr_assert_eq(al_gpt_backward(a, NULL, dv), AL_OK);
  cr_assert_eq(al_gpt_backward(b, NULL, dv), AL_OK);
  cr_expect_eq(memcmp(a->grads, b->grads, a->nparams * sizeof(float)), 0);
  // switching the lm head on gives a's logits; off again drops them
  cr_assert_eq(al_gpt_set_lm(b, 1), AL_OK);
  cr_assert_eq(al_gpt_forward(b, tok, 2, 6), AL_OK);
  cr_assert_not_null(b->a.logits);
  cr_expect_eq(memcmp(a->a.logits, b->a.logits, 12 * 13 * sizeof(float)), 0);
  cr_assert_eq(al_gpt_set_lm(b, 0), AL_OK);
  cr_assert_null(b->a.logits);
  cr_assert_eq(al_gpt_forward(b, tok, 2, 6), AL_OK);
  cr_assert_null(b->a.logits);
  cr_expect_eq(al_gpt_set_lm(b, 2), AL_EINVAL);
  cr_assert_eq(al_gpt_set_scalar_head(a, 0, 0), AL_OK);
  cr_expect_eq(al_gpt_set_lm(a, 0), AL_EINVAL);
  al_gpt_free(a);
  al_gpt_free(b);
}

// ---- whole-model gradient check ----

typedef struct {
  al_gpt *m;
  int B, T;
  int tok[64], tgt[64];
  float w[64], u[64]; // loss = sum w*logp + sum u*values
  float logp[64];
} gc_problem;

static double gc_loss(gc_problem *P) {
  al_gpt *m = P->m;
  cr_assert_eq(al_gpt_forward(m, P->tok, P->B, P->T), AL_OK, "%s", al_errmsg());
  double L = 0;
  int N = P->B * P->T;
  cr_assert_eq(al_gpt_logprobs(m, P->tgt, P->logp), AL_OK);
  for (int i = 0; i < N; i++) L += (double)P->w[i] * P->logp[i];
  if (m->cfg.scalar)
    for (int i = 0; i < N; i++) L += (double)P->u[i] * m->a.values[i];
  return L;
}

static void gc_setup(gc_problem *P, int scalar) {
  int V = 11, maxT = 8, C = 8, L = 2, NH = 2;
  P->B = 2;
  P->T = 5;
  int N = P->B * P->T;
  P->m = make(V, maxT, C, L, NH, scalar, 21);
  // move away from the near-symmetric initialisation so every path carries gradient: attention
  // is no longer uniform, LN weights differ from 1, biases from 0
  float *noise = malloc(P->m->nparams * sizeof(float));
  tu_fill_normal(noise, P->m->nparams, 22, 0.25f);
  for (size_t i = 0; i < P->m->nparams; i++) P->m->params[i] += noise[i];
  free(noise);
  rand_ints(P->tok, N, 0, V, 23);
  rand_ints(P->tgt, N, 0, V, 24);
  P->tgt[3] = -1; // ignored positions
  P->tgt[N - 1] = -1;
  tu_fill_normal(P->w, N, 25, 1.0f);
  tu_fill_normal(P->u, N, 26, 1.0f);
}

// Relative error per tensor: ||g - fd|| / ||fd|| over ALL its coordinates (the model is tiny).
// Central differences in float: with eps = 1e-2 the truncation error is eps^2/6 |f'''| ~ 1e-5 and
// the rounding noise ~ (|loss| * 6e-8 * a few) / (2 eps) ~ 1e-5, against gradient norms of
// 1e-2..1 per tensor: a correct backward gives relative errors around 1e-3; a gradient off by 10%
// gives 0.1. The threshold 2e-2 separates them, and `mutant` below checks that it does.
#define GC_TOL 2e-2

static void gc_run(int scalar) {
  gc_problem P;
  gc_setup(&P, scalar);
  al_gpt *m = P.m;
  // analytic
  cr_assert_eq(al_gpt_zero_grad(m), AL_OK);
  gc_loss(&P);
  cr_assert_eq(al_gpt_backward(m, P.w, scalar ? P.u : NULL), AL_OK, "%s", al_errmsg());
  float *g = malloc(m->nparams * sizeof(float));
  memcpy(g, m->grads, m->nparams * sizeof(float));
  // numeric, every coordinate of every tensor
  const float eps = 1e-2f;
  double *fd = malloc(m->nparams * sizeof(double));
  for (size_t i = 0; i < m->nparams; i++) {
    float orig = m->params[i];
    m->params[i] = orig + eps;
    double hp = (double)m->params[i] - orig;
    double lp = gc_loss(&P);
    m->params[i] = orig - eps;
    double hm = (double)orig - m->params[i];
    double lm = gc_loss(&P);
    m->params[i] = orig;
    fd[i] = (lp - lm) / (hp + hm);
  }
  int nt = al_gpt_ntensors(m);
  double worst = 0;
  char worst_name[64] = "";
  for (int k = 0; k < nt; k++) {
    al_gpt_tensor t;
    al_gpt_tensor_info(m, k, &t);
    double num = 0, den = 0, mut = 0;
    for (size_t j = t.offset; j < t.offset + t.size; j++) {
      num += (g[j] - fd[j]) * (g[j] - fd[j]);
      den += fd[j] * fd[j];
      mut += (1.1 * g[j] - fd[j]) * (1.1 * g[j] - fd[j]);
    }
    // every tensor must carry gradient, or its check would be vacuous
    cr_expect(sqrt(den) > 1e-3, "%s: gradient norm %g too small to check", t.name, sqrt(den));
    double rel = sqrt(num / den), mutant = sqrt(mut / den);
    cr_expect(rel < GC_TOL, "%s: relative error %g (|fd| = %g)", t.name, rel, sqrt(den));
    cr_expect(mutant > GC_TOL, "%s: a gradient scaled by 1.1 would pass (%g)", t.name, mutant);
    if (rel > worst) {
      worst = rel;
      strcpy(worst_name, t.name);
    }
  }
  cr_log_info("gradient check (scalar=%d): worst relative error %.2e in %s", scalar, worst,
              worst_name);
  if (getenv("AL_VERBOSE"))
    fprintf(stderr, "gradient check (scalar=%d): worst relative error %.2e in %s\n", scalar,
            worst, worst_name);
  free(g);
  free(fd);
  al_gpt_free(m);
}

Test(gpt, backward_matches_finite_differences_for_every_tensor) { gc_run(0); }

Test(gpt, backward_with_scalar_head_matches_finite_differences_for_every_tensor) { gc_run(1); }

Test(gpt, backward_accumulates_into_grads) {
  gc_problem P;
  gc_setup(&P, 1);
  al_gpt *m = P.m;
  gc_loss(&P);
  cr_assert_eq(al_gpt_backward(m, P.w, P.u), AL_OK);
  float *g1 = malloc(m->nparams * sizeof(float));
  memcpy(g1, m->grads, m->nparams * sizeof(float));
  cr_assert_eq(al_gpt_backward(m, P.w, P.u), AL_OK);
  for (size_t i = 0; i < m->nparams; i++)
    cr_assert_float_eq(m->grads[i], 2 * g1[i], 1e-6f * (1 + fabsf(g1[i])), "float %zu", i);
  cr_assert_eq(al_gpt_zero_grad(m), AL_OK);
  for (size_t i = 0; i < m->nparams; i++) cr_assert_eq(m->grads[i], 0.0f);
  free(g1);
  al_gpt_free(m);
}

// ---- log-probs do not depend on the batch or the padding ----

Test(gpt, logprobs_do_not_depend_on_batch_or_padding) {
  int V = 20, maxT = 16, C = 16, L = 2, NH = 2;
  al_gpt *m = make(V, maxT, C, L, NH, 0, 31);
  float *noise = malloc(m->nparams * sizeof(float));
  tu_fill_normal(noise, m->nparams, 32, 0.1f);
  for (size_t i = 0; i < m->nparams; i++) m->params[i] += noise[i];
  free(noise);
  int n = 7, seq[7];
  rand_ints(seq, n, 0, V, 33);
  // alone, exactly its length
  int tg1[7];
  float lp1[7];
  for (int t = 0; t < n; t++) tg1[t] = t + 1 < n ? seq[t + 1] : -1;
  cr_assert_eq(al_gpt_forward(m, seq, 1, n), AL_OK);
  cr_assert_eq(al_gpt_logprobs(m, tg1, lp1), AL_OK);
  // row 1 of a batch of 3, T = 12, random other rows and random padding after it
  int B = 3, T = 12, tok[36], tg[36];
  float lp[36];
  for (int trial = 0; trial < 3; trial++) {
    rand_ints(tok, B * T, 0, V, 40 + trial);
    rand_ints(tg, B * T, 0, V, 50 + trial);
    memcpy(tok + T, seq, n * sizeof(int));
    memcpy(tg + T, tg1, n * sizeof(int));
    cr_assert_eq(al_gpt_forward(m, tok, B, T), AL_OK);
    cr_assert_eq(al_gpt_logprobs(m, tg, lp), AL_OK);
    for (int t = 0; t < n - 1; t++)
      cr_expect(fabsf(lp[T + t] - lp1[t]) <= 1e-5f, "trial %d t %d: %g vs %g", trial, t,
                lp[T + t], lp1[t]);
  }
  // the same through al_gpt_sequence_logprob, with a prompt of 3 tokens
  int pl[3] = {3, 1, 2}, len[3] = {n, 12, 5};
  float out[3];
  cr_assert_eq(al_gpt_sequence_logprob(m, tok, pl, len, B, T, out), AL_OK); // rows 0 and 2 random
  int pl1 = 3, len1 = n;
  float out1;
  memcpy(tok, seq, n * sizeof(int));
  cr_assert_eq(al_gpt_sequence_logprob(m, tok, pl, len, B, T, out), AL_OK);
  cr_assert_eq(al_gpt_sequence_logprob(m, seq, &pl1, &len1, 1, n, &out1), AL_OK);
  double want = 0;
  for (int t = pl1 - 1; t < n - 1; t++) want += lp1[t];
  cr_expect(fabs(out1 - want) < 1e-5, "%g vs %g", out1, want);
  cr_expect(fabs(out[0] - want) < 2e-5, "%g vs %g", out[0], want);
  // empty completion sums to 0; bad lengths refused
  pl1 = len1 = 4;
  cr_assert_eq(al_gpt_sequence_logprob(m, seq, &pl1, &len1, 1, n, &out1), AL_OK);
  cr_expect_eq(out1, 0.0f);
  pl1 = 0;
  cr_expect_eq(al_gpt_sequence_logprob(m, seq, &pl1, &len1, 1, n, &out1), AL_EINVAL);
  pl1 = 2;
  len1 = n + 1;
  cr_expect_eq(al_gpt_sequence_logprob(m, seq, &pl1, &len1, 1, n, &out1), AL_EINVAL);
  cr_expect(strstr(al_errmsg(), "sequence 0") != NULL, "%s", al_errmsg());
  al_gpt_free(m);
}

Test(gpt, sequence_logprob_backward_gives_the_gradient_of_the_sum) {
  // d out[b] / d params through al_gpt_backward after al_gpt_sequence_logprob, against a
  // directional finite difference (along the gradient itself, where the signal is largest)
  al_gpt *m = make(11, 8, 8, 1, 2, 0, 41);
  int tok[12], pl[2] = {2, 1}, len[2] = {6, 4};
  rand_ints(tok, 12, 0, 11, 42);
  float out[2], dl[12] = {0};
  cr_assert_eq(al_gpt_sequence_logprob(m, tok, pl, len, 2, 6, out), AL_OK);
  for (int b = 0; b < 2; b++)
    for (int t = 0; t < 6; t++) dl[b * 6 + t] = b == 0 ? 1.0f : -0.5f;
  cr_assert_eq(al_gpt_zero_grad(m), AL_OK);
  cr_assert_eq(al_gpt_backward(m, dl, NULL), AL_OK);
  double gg = 0;
  for (size_t i = 0; i < m->nparams; i++) gg += (double)m->grads[i] * m->grads[i];
  double h = 1e-3 / sqrt(gg);
  float *p0 = malloc(m->nparams * sizeof(float));
  memcpy(p0, m->params, m->nparams * sizeof(float));
  double f[2];
  for (int s = 0; s < 2; s++) {
    for (size_t i = 0; i < m->nparams; i++)
      m->params[i] = p0[i] + (float)((s ? -h : h) * m->grads[i]);
    cr_assert_eq(al_gpt_sequence_logprob(m, tok, pl, len, 2, 6, out), AL_OK);
    f[s] = (double)out[0] - 0.5 * out[1];
  }
  double fd = (f[0] - f[1]) / (2 * h);
  cr_expect(fabs(fd - gg) / gg < 1e-2, "directional derivative %g, |g|^2 %g", fd, gg);
  if (getenv("AL_VERBOSE")) fprintf(stderr, "directional: fd %g vs %g\n", fd, gg);
  free(p0);
  al_gpt_free(m);
}

// activations grow for a larger batch and are reused (same results) for a smaller one
Test(gpt, activations_grow_and_results_do_not_depend_on_history) {
  al_gpt *m = make(11, 8, 8, 2, 2, 1, 5);
  int tok[32];
  rand_ints(tok, 32, 0, 11, 6);
  cr_assert_eq(al_gpt_forward(m, tok, 1, 3), AL_OK);
  float v1[3];
  memcpy(v1, m->a.values, sizeof v1);
  float *mem = m->acts_mem;
  cr_assert_eq(al_gpt_forward(m, tok, 4, 8), AL_OK);
  cr_assert_eq(m->actB, 4);
  cr_assert_eq(m->actT, 8);
  mem = m->acts_mem;
  cr_assert_eq(al_gpt_forward(m, tok, 2, 5), AL_OK);
  cr_assert_eq(m->acts_mem, mem, "no reallocation for a smaller shape");
  cr_assert_eq(al_gpt_forward(m, tok, 1, 3), AL_OK);
  for (int i = 0; i < 3; i++) cr_expect_eq(m->a.values[i], v1[i]);
  al_gpt_free(m);
}
