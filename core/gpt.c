// alignlab core: the GPT-2 model (al_gpt.h): configuration checks, the parameter slab and its
// tensor table (one X-macro), GPT-2 initialisation, heads, and the gradient slab. Layering:
// gpt_pass.c (forward, log-probs, backward) -> gpt.c; this file calls no pass. Not here: the
// optimizer (optim.c), incremental sampling with a KV cache (sample.c), checkpoints (ckpt.c),
// objectives (obj*.c).
#include "al_gpt.h"
#include "gpt_impl.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- the tensor table ----
// One row per X-macro entry, in slab order; sizes are filled from a config by `shapes`.
enum {
#define AL_X_ENUM(f, pl, name, nd, d0, d1, dec) K_##f,
  AL_GPT_PARAMS(AL_X_ENUM, 0, 0, 0)
#undef AL_X_ENUM
  NKINDS
};

static const struct {
  const char *name;
  int per_layer, ndim, decay;
} kinds[NKINDS] = {
#define AL_X_ROW(f, pl, name, nd, d0, d1, dec) {name, pl, nd, dec},
    AL_GPT_PARAMS(AL_X_ROW, 0, 0, 0)
#undef AL_X_ROW
};

// d0, d1 of each kind for config c
static void shapes(const al_gpt_config *c, size_t d0[NKINDS], size_t d1[NKINDS]) {
  size_t V = (size_t)c->V, maxT = (size_t)c->maxT, C = (size_t)c->C;
  int k = 0;
#define AL_X_SHAPE(f, pl, name, nd, a, b, dec)                                                    \
  d0[k] = (a);                                                                                    \
  d1[k] = (b);                                                                                    \
  k++;
  AL_GPT_PARAMS(AL_X_SHAPE, V, maxT, C)
#undef AL_X_SHAPE
  (void)k;
}

// floats in the slab for config c (trunk, then score when c->scalar)
static size_t slab_size(const al_gpt_config *c) {
  size_t d0[NKINDS], d1[NKINDS], n = 0;
  shapes(c, d0, d1);
  for (int k = 0; k < NKINDS; k++) n += (kinds[k].per_layer ? (size_t)c->L : 1) * d0[k] * d1[k];
  return n + (c->scalar ? (size_t)c->C : 0);
}

// point the views of v at slab `base` laid out for config c
static void wire(al_gpt_params *v, float *base, const al_gpt_config *c) {
  size_t d0[NKINDS], d1[NKINDS];
  shapes(c, d0, d1);
  size_t L = (size_t)c->L;
  float *p = base;
  int k = 0;
#define AL_X_WIRE(f, pl, name, nd, a, b, dec)                                                     \
  v->f = p;                                                                                       \
  p += (pl ? L : 1) * d0[k] * d1[k];                                                              \
  k++;
  AL_GPT_PARAMS(AL_X_WIRE, 0, 0, 0)
#undef AL_X_WIRE
  v->score = c->scalar ? p : NULL;
}

// ---- configuration ----

al_gpt_config al_gpt_config_make(int V, int maxT, int C, int L, int NH) {
  al_gpt_config c = {V, maxT, C, L, NH, 0, 1, 1e-5f};
  return c;
}

al_status al_gpt_config_check(const al_gpt_config *cfg) {
  if (!cfg) return al_seterr(AL_EINVAL, "gpt config: NULL");
  // caps keep every (B,T,*) index of a reasonable batch inside int and the slab in memory
  if (cfg->V < 2 || cfg->V > (1 << 20))
    return al_seterr(AL_EINVAL, "gpt config: V (vocab_size) = %d, must be in [2, %d]", cfg->V,
                     1 << 20);
  if (cfg->maxT < 1 || cfg->maxT > 65536)
    return al_seterr(AL_EINVAL, "gpt config: maxT (n_positions) = %d, must be in [1, 65536]",
                     cfg->maxT);
  if (cfg->C < 1 || cfg->C > 16384)
    return al_seterr(AL_EINVAL, "gpt config: C (n_embd) = %d, must be in [1, 16384]", cfg->C);
  if (cfg->L < 1 || cfg->L > 1024)
    return al_seterr(AL_EINVAL, "gpt config: L (n_layer) = %d, must be in [1, 1024]", cfg->L);
  if (cfg->NH < 1 || cfg->NH > cfg->C)
    return al_seterr(AL_EINVAL, "gpt config: NH (n_head) = %d, must be in [1, C = %d]", cfg->NH,
                     cfg->C);
  if (cfg->C % cfg->NH != 0)
    return al_seterr(AL_EINVAL, "gpt config: C (n_embd) = %d is not a multiple of NH (n_head) = %d",
                     cfg->C, cfg->NH);
  if (cfg->scalar != 0 && cfg->scalar != 1)
    return al_seterr(AL_EINVAL, "gpt config: scalar = %d, must be 0 or 1", cfg->scalar);
  if (cfg->lm != 0 && cfg->lm != 1)
    return al_seterr(AL_EINVAL, "gpt config: lm = %d, must be 0 or 1", cfg->lm);
  if (!cfg->lm && !cfg->scalar)
    return al_seterr(AL_EINVAL, "gpt config: lm = 0 and scalar = 0: the model has no output head");
  if (!(cfg->ln_eps > 0.0f && cfg->ln_eps < 1.0f))
    return al_seterr(AL_EINVAL, "gpt config: ln_eps (layer_norm_epsilon) = %g, must be in (0, 1)",
                     (double)cfg->ln_eps);
  double n = (double)slab_size(cfg);
  if (n > 1e9)
    return al_seterr(AL_EINVAL, "gpt config: %.0f parameters, more than the cap of 1e9", n);
  return AL_OK;
}

// ---- creation ----

// GPT-2 initialisation: N(0, 0.02) for weights (the residual projections scaled by 1/sqrt(2L)),
// zero biases, LayerNorm weight 1. Normals are drawn in slab order for the weight tensors only.
static void init_trunk(al_gpt *m, uint64_t seed) {
  al_rng r;
  al_rng_seed(&r, seed, 0);
  const al_gpt_config *c = &m->cfg;
  size_t d0[NKINDS], d1[NKINDS];
  shapes(c, d0, d1);
  double proj_std = 0.02 / sqrt(2.0 * c->L);
  float *p = m->params;
  for (int k = 0; k < NKINDS; k++) {
    size_t n = (kinds[k].per_layer ? (size_t)c->L : 1) * d0[k] * d1[k];
    if (kinds[k].ndim == 2) {
      double sd = (k == K_attprojw || k == K_fcprojw) ? proj_std : 0.02;
      for (size_t i = 0; i < n; i++) p[i] = (float)(sd * al_rng_normal(&r));
    } else {
      int is_lnw = k == K_ln1w || k == K_ln2w || k == K_lnfw;
      for (size_t i = 0; i < n; i++) p[i] = is_lnw ? 1.0f : 0.0f;
    }
    p += n;
  }
}

// score ~ N(0, 0.02) from stream 1 of `seed`, so that al_gpt_new with scalar = 1 and
// al_gpt_new with scalar = 0 followed by al_gpt_set_scalar_head give the same model.
static void init_score(float *score, int C, uint64_t seed) {
  al_rng r;
  al_rng_seed(&r, seed, 1);
  for (int i = 0; i < C; i++) score[i] = (float)(0.02 * al_rng_normal(&r));
}

static al_status alloc_model(al_gpt **out, const al_gpt_config *cfg) {
  *out = NULL;
  al_status s = al_gpt_config_check(cfg);
  if (s) return s;
  al_gpt *m = al_calloc(1, sizeof *m);
  if (!m) return al_seterr(AL_ENOMEM, "gpt: out of memory for the model struct");
  m->cfg = *cfg;
  m->nparams = slab_size(cfg);
  m->params = al_falloc(m->nparams);
  if (!m->params) {
    size_t n = m->nparams;
    free(m);
    return al_seterr(AL_ENOMEM, "gpt: out of memory for %zu parameters", n);
  }
  wire(&m->p, m->params, cfg);
  *out = m;
  return AL_OK;
}

al_status al_gpt_new(al_gpt **out, const al_gpt_config *cfg, uint64_t seed) {
  if (!out) return al_seterr(AL_EINVAL, "al_gpt_new: out is NULL");
  al_status s = alloc_model(out, cfg);
  if (s) return s;
  init_trunk(*out, seed);
  if (cfg->scalar) init_score((*out)->p.score, cfg->C, seed);
  return AL_OK;
}

al_status al_gpt_clone(al_gpt **out, const al_gpt *src) {
  if (!out || !src) return al_seterr(AL_EINVAL, "al_gpt_clone: NULL argument");
  al_status s = alloc_model(out, &src->cfg);
  if (s) return s;
  memcpy((*out)->params, src->params, src->nparams * sizeof(float));
  return AL_OK;
}

void al__gpt_free_acts(al_gpt *m) {
  al_ffree(m->acts_mem);
  al_ffree(m->dacts_mem);
  free(m->tokens);
  free(m->targets);
  m->acts_mem = m->dacts_mem = NULL;
  m->tokens = m->targets = NULL;
  memset(&m->a, 0, sizeof m->a);
  m->actB = m->actT = 0;
  m->B = m->T = 0;
  m->have_logprobs = 0;
}

void al_gpt_free(al_gpt *m) {
  if (!m) return;
  al__gpt_free_acts(m);
  al_ffree(m->params);
  al_ffree(m->grads);
  free(m);
}

al_status al_gpt_set_scalar_head(al_gpt *m, int scalar, uint64_t seed) {
  if (!m) return al_seterr(AL_EINVAL, "al_gpt_set_scalar_head: model is NULL");
  if (scalar != 0 && scalar != 1)
    return al_seterr(AL_EINVAL, "al_gpt_set_scalar_head: scalar = %d, must be 0 or 1", scalar);
  if (scalar == m->cfg.scalar) return AL_OK;
  if (!scalar && !m->cfg.lm)
    return al_seterr(AL_EINVAL, "al_gpt_set_scalar_head: the model has no lm head, "
                                "dropping the scalar head would leave no output");
  al_gpt_config c = m->cfg;
  c.scalar = scalar;
  size_t n = slab_size(&c);
  float *np = al_falloc(n), *ng = NULL;
  if (!np || (m->grads && !(ng = al_falloc(n)))) {
    al_ffree(np);
    return al_seterr(AL_ENOMEM, "gpt: out of memory resizing the slab to %zu floats", n);
  }
  size_t keep = n < m->nparams ? n : m->nparams; // the trunk: score is last
  memcpy(np, m->params, keep * sizeof(float));
  if (ng) memcpy(ng, m->grads, keep * sizeof(float));
  al_ffree(m->params);
  al_ffree(m->grads);
  m->params = np;
  m->grads = ng;
  m->nparams = n;
  m->cfg = c;
  wire(&m->p, m->params, &c);
  if (ng) wire(&m->g, m->grads, &c);
  else memset(&m->g, 0, sizeof m->g);
  if (scalar) init_score(m->p.score, c.C, seed);
  m->B = m->T = 0; // the last forward did not compute values
  m->have_logprobs = 0;
  return AL_OK;
}

al_status al_gpt_set_lm(al_gpt *m, int lm) {
  if (!m) return al_seterr(AL_EINVAL, "al_gpt_set_lm: model is NULL");
  if (lm != 0 && lm != 1) return al_seterr(AL_EINVAL, "al_gpt_set_lm: lm = %d, must be 0 or 1", lm);
  if (lm == m->cfg.lm) return AL_OK;
  if (!lm && !m->cfg.scalar)
    return al_seterr(AL_EINVAL, "al_gpt_set_lm: the model has no scalar head, "
                                "dropping the lm head would leave no output");
  al__gpt_free_acts(m); // the activation layout depends on lm
  m->cfg.lm = lm;
  return AL_OK;
}

// ---- the tensor table by name ----

int al_gpt_ntensors(const al_gpt *m) {
  int n = 0;
  for (int k = 0; k < NKINDS; k++) n += kinds[k].per_layer ? m->cfg.L : 1;
  return n + (m->cfg.scalar ? 1 : 0);
}

al_status al_gpt_tensor_info(const al_gpt *m, int i, al_gpt_tensor *t) {
  if (!m || !t) return al_seterr(AL_EINVAL, "al_gpt_tensor_info: NULL argument");
  int nt = al_gpt_ntensors(m);
  if (i < 0 || i >= nt)
    return al_seterr(AL_EINVAL, "al_gpt_tensor_info: index %d out of [0, %d)", i, nt);
  const al_gpt_config *c = &m->cfg;
  size_t d0[NKINDS], d1[NKINDS];
  shapes(c, d0, d1);
  memset(t, 0, sizeof *t);
  if (c->scalar && i == nt - 1) {
    snprintf(t->name, sizeof t->name, "score.weight");
    t->ndim = 2;
    t->shape[0] = 1;
    t->shape[1] = c->C;
    t->offset = (size_t)(m->p.score - m->params);
    t->size = (size_t)c->C;
    t->decay = 1;
    return AL_OK;
  }
  // HF order: wte, wpe, then h.0.* ... h.{L-1}.*, then ln_f. The slab groups each per-layer kind
  // over all layers, so offsets are kind base + layer * size.
  int first_pl = -1, last_pl = -1;
  for (int k = 0; k < NKINDS; k++)
    if (kinds[k].per_layer) {
      if (first_pl < 0) first_pl = k;
      last_pl = k;
    }
  int npre = first_pl, npl = last_pl - first_pl + 1;
  int k, layer = -1;
  if (i < npre) {
    k = i;
  } else if (i < npre + npl * c->L) {
    layer = (i - npre) / npl;
    k = first_pl + (i - npre) % npl;
  } else {
    k = last_pl + 1 + (i - npre - npl * c->L);
  }
  size_t base = 0;
  for (int j = 0; j < k; j++) base += (kinds[j].per_layer ? (size_t)c->L : 1) * d0[j] * d1[j];
  size_t sz = d0[k] * d1[k];
  if (layer >= 0) snprintf(t->name, sizeof t->name, kinds[k].name, layer);
  else snprintf(t->name, sizeof t->name, "%s", kinds[k].name);
  t->ndim = kinds[k].ndim;
  t->shape[0] = (int)d0[k];
  t->shape[1] = kinds[k].ndim == 2 ? (int)d1[k] : 1;
  t->offset = base + (layer >= 0 ? (size_t)layer * sz : 0);
  t->size = sz;
  t->decay = kinds[k].decay;
  return AL_OK;
}

// ---- gradients ----

al_status al_gpt_zero_grad(al_gpt *m) {
  if (!m) return al_seterr(AL_EINVAL, "al_gpt_zero_grad: model is NULL");
  if (!m->grads) {
    m->grads = al_falloc(m->nparams); // zeroed
    if (!m->grads)
      return al_seterr(AL_ENOMEM, "gpt: out of memory for %zu gradients", m->nparams);
    wire(&m->g, m->grads, &m->cfg);
    return AL_OK;
  }
  memset(m->grads, 0, m->nparams * sizeof(float));
  return AL_OK;
}
