// alignlab core: AdamW (Loshchilov & Hutter, decoupled weight decay) over the model's flat slabs,
// global-norm clipping, the non-finite guard, and the learning-rate schedule of every trainer (al_optim.h).
// The update follows torch.optim.AdamW exactly (same order of operations), so runs can be
// compared with PyTorch. Not here: computing gradients (gpt.c), saving the state (ckpt.c).
#include "al_optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

al_adamw_config al_adamw_defaults(void) {
  al_adamw_config c = {3e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, 1.0f};
  return c;
}

static al_status check_cfg(const al_adamw_config *c) {
  if (!(c->lr >= 0.0f && isfinite(c->lr)))
    return al_seterr(AL_EINVAL, "adamw: lr = %g, must be finite and >= 0", (double)c->lr);
  if (!(c->beta1 >= 0.0f && c->beta1 < 1.0f))
    return al_seterr(AL_EINVAL, "adamw: beta1 = %g, must be in [0, 1)", (double)c->beta1);
  if (!(c->beta2 >= 0.0f && c->beta2 < 1.0f))
    return al_seterr(AL_EINVAL, "adamw: beta2 = %g, must be in [0, 1)", (double)c->beta2);
  if (!(c->eps > 0.0f && isfinite(c->eps)))
    return al_seterr(AL_EINVAL, "adamw: eps = %g, must be finite and > 0", (double)c->eps);
  if (!(c->weight_decay >= 0.0f && isfinite(c->weight_decay)))
    return al_seterr(AL_EINVAL, "adamw: weight_decay = %g, must be finite and >= 0",
                     (double)c->weight_decay);
  if (isnan(c->clip)) return al_seterr(AL_EINVAL, "adamw: clip is NaN");
  return AL_OK;
}

al_status al_adamw_new(al_adamw **out, const al_gpt *m, const al_adamw_config *cfg) {
  if (!out || !m || !cfg) return al_seterr(AL_EINVAL, "al_adamw_new: NULL argument");
  *out = NULL;
  al_status s = check_cfg(cfg);
  if (s) return s;
  al_adamw *o = al_calloc(1, sizeof *o);
  if (!o) return al_seterr(AL_ENOMEM, "adamw: out of memory");
  o->cfg = *cfg;
  o->n = m->nparams;
  o->m = al_falloc(o->n);
  o->v = al_falloc(o->n);
  o->decay = al_calloc(o->n, 1);
  if (!o->m || !o->v || !o->decay) {
    al_adamw_free(o);
    return al_seterr(AL_ENOMEM, "adamw: out of memory for the moments of %zu parameters", m->nparams);
  }
  int nt = al_gpt_ntensors(m);
  for (int i = 0; i < nt; i++) {
    al_gpt_tensor t;
    al_gpt_tensor_info(m, i, &t);
    if (t.decay) memset(o->decay + t.offset, 1, t.size);
  }
  *out = o;
  return AL_OK;
}

void al_adamw_free(al_adamw *o) {
  if (!o) return;
  al_ffree(o->m);
  al_ffree(o->v);
  free(o->decay);
  free(o);
}

double al_gpt_grad_norm(const al_gpt *m) {
  if (!m || !m->grads) return 0.0;
  // one sequential pass in slab order: the same bits whatever the thread count
  double ss = 0.0;
  const float *g = m->grads;
  for (size_t i = 0; i < m->nparams; i++) ss += (double)g[i] * (double)g[i];
  return sqrt(ss);
}

// name of the tensor holding flat index i (for messages)
static void tensor_of(const al_gpt *m, size_t i, al_gpt_tensor *t) {
  int nt = al_gpt_ntensors(m);
  for (int k = 0; k < nt; k++) {
    al_gpt_tensor_info(m, k, t);
    if (i >= t->offset && i < t->offset + t->size) return;
  }
  strcpy(t->name, "?");
  t->offset = i;
}

al_status al_adamw_step(al_adamw *o, al_gpt *m, float lr, double *gnorm) {
  if (!o || !m) return al_seterr(AL_EINVAL, "al_adamw_step: NULL argument");
  if (m->frozen) return al_seterr(AL_EINVAL, "al_adamw_step: the model is frozen");
  if (o->n != m->nparams)
    return al_seterr(AL_EINVAL,
                     "al_adamw_step: optimizer made for %zu parameters, model has %zu", o->n,
                     m->nparams);
  if (!m->grads)
    return al_seterr(AL_EINVAL, "al_adamw_step: the model has no gradients (call backward first)");
  if (!(lr >= 0.0f && isfinite(lr)))
    return al_seterr(AL_EINVAL, "al_adamw_step: lr = %g, must be finite and >= 0", (double)lr);
  double norm = al_gpt_grad_norm(m);
  if (gnorm) *gnorm = norm;
  if (!isfinite(norm)) {
    // squares of finite floats cannot overflow a double sum of this size: some entry is NaN/Inf
    size_t i = 0;
    while (i < m->nparams && isfinite(m->grads[i])) i++;
    al_gpt_tensor t;
    tensor_of(m, i, &t);
    return al_seterr(AL_ENONFINITE,
                     "adamw step %ld: gradient is not finite (%g in %s at index %zu); "
                     "nothing was updated",
                     o->step + 1, i < m->nparams ? (double)m->grads[i] : norm, t.name,
                     i - t.offset);
  }
  const al_adamw_config *c = &o->cfg;
  float scale = (c->clip > 0.0f && norm > (double)c->clip) ? (float)((double)c->clip / norm) : 1.0f;
  o->step++;
  // torch.optim.AdamW: p *= 1 - lr*wd; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)
  double bc1 = 1.0 - pow((double)c->beta1, (double)o->step);
  double bc2 = 1.0 - pow((double)c->beta2, (double)o->step);
  const float b1 = c->beta1, b2 = c->beta2, eps = c->eps;
  const float step_size = (float)((double)lr / bc1);
  const float inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
  const float shrink = 1.0f - lr * c->weight_decay;
  float *p = m->params, *mm = o->m, *vv = o->v;
  const float *g = m->grads;
  const unsigned char *dec = o->decay;
  for (size_t i = 0; i < o->n; i++) {
    float gi = g[i] * scale;
    float mi = b1 * mm[i] + (1.0f - b1) * gi;
    float vi = b2 * vv[i] + (1.0f - b2) * gi * gi;
    mm[i] = mi;
    vv[i] = vi;
    float pi = dec[i] ? p[i] * shrink : p[i];
    p[i] = pi - step_size * (mi / (sqrtf(vi) * inv_sqrt_bc2 + eps));
  }
  return AL_OK;
}

double al_lr_at(const al_lr_schedule *s, long step) {
  if (step < 0) step = 0;
  double warm = s->warmup;
  if (warm > 0 && warm < 1) {
    warm = floor(warm * (double)s->total);
    if (warm < 1) warm = 1;
  }
  if ((double)step < warm) return s->lr * (double)(step + 1) / warm;
  if (s->kind == AL_LR_CONSTANT) return s->lr;
  double p = (double)s->total > warm ? ((double)step - warm) / ((double)s->total - warm) : 1.0;
  if (p > 1) p = 1;
  if (s->kind == AL_LR_LINEAR) return s->lr + (s->min_lr - s->lr) * p;
  return s->min_lr + 0.5 * (s->lr - s->min_lr) * (1 + cos(3.14159265358979323846 * p));
}

al_status al_lr_kind_from_name(al_lr_kind *kind, const char *name) {
  static const char *const names[] = {"cosine", "linear", "constant"};
  for (int k = 0; k < 3; k++)
    if (name && strcmp(name, names[k]) == 0) {
      *kind = (al_lr_kind)k;
      return AL_OK;
    }
  return al_seterr(AL_EINVAL, "schedule must be cosine, linear or constant (got '%s')",
                   name ? name : "(null)");
}
