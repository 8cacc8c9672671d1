// alignlab core: the GPT-2 model (al_gpt.h): configuration checks, the parameter slab and its
// tensor table, GPT-2 initialisation, the full forward pass, log-probs, and full backprop.
// The numerics of each layer live in the kernels (ops.c); this file only wires them over the
// slabs. Not here: the optimizer (optim.c), incremental sampling with a KV cache (sample.c),
// checkpoints (ckpt.c), objectives (obj*.c).
#include "al_gpt.h"
#include "al_ops.h"

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

static void free_acts(al_gpt *m) {
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
  free_acts(m);
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
  free_acts(m); // the activation layout depends on lm
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

// ---- activations ----
// Forward activations (named in m->a) and backward scratch are each one allocation, laid out for
// capacity (actB, actT); within it, a forward at (B,T) uses the leading B*T rows of each array.

typedef struct {
  float *dres;    // (B,T,C) gradient of the residual stream
  float *dx;      // (B,T,C) scratch: d lnf, d ln2, d atty, d ln1 in turn
  float *dqkv;    // (B,T,3C)
  float *dfchg;   // (B,T,4C) gradient of fch_gelu
  float *dfch;    // (B,T,4C)
  float *datt;    // (B,NH,T,T) attention scratch
  float *dlogits; // (B,T,V) (lm only)
} dacts;

// lay out the forward activations for capacity (B,T) from base (NULL: just count); returns floats
static size_t layout_acts(al_gpt_acts *a, float *base, const al_gpt_config *c, size_t B, size_t T) {
  size_t L = (size_t)c->L, C = (size_t)c->C, V = (size_t)c->V, NH = (size_t)c->NH;
  size_t N = B * T, off = 0;
  al_gpt_acts tmp;
  if (!a) a = &tmp;
#define TAKE(field, n)                                                                            \
  do {                                                                                            \
    a->field = base ? base + off : NULL;                                                          \
    off += ((n) + 15) / 16 * 16; /* keep every array 64-byte aligned */                           \
  } while (0)
  TAKE(encoded, N * C);
  TAKE(ln1, L * N * C);
  TAKE(ln1_mean, L * N);
  TAKE(ln1_rstd, L * N);
  TAKE(qkv, L * N * 3 * C);
  TAKE(atty, L * N * C);
  TAKE(att, L * B * NH * T * T);
  TAKE(attproj, L * N * C);
  TAKE(resid2, L * N * C);
  TAKE(ln2, L * N * C);
  TAKE(ln2_mean, L * N);
  TAKE(ln2_rstd, L * N);
  TAKE(fch, L * N * 4 * C);
  TAKE(fch_gelu, L * N * 4 * C);
  TAKE(fcproj, L * N * C);
  TAKE(resid3, L * N * C);
  TAKE(lnf, N * C);
  TAKE(lnf_mean, N);
  TAKE(lnf_rstd, N);
  TAKE(logits, c->lm ? N * V : 0);
  TAKE(probs, c->lm ? N * V : 0);
  TAKE(values, N);
  TAKE(logp, N);
#undef TAKE
  if (!c->lm) a->logits = a->probs = NULL;
  return off;
}

static size_t layout_dacts(dacts *d, float *base, const al_gpt_config *c, size_t B, size_t T) {
  size_t C = (size_t)c->C, V = (size_t)c->V, NH = (size_t)c->NH;
  size_t N = B * T, off = 0;
  dacts tmp;
  if (!d) d = &tmp;
#define TAKE(field, n)                                                                            \
  do {                                                                                            \
    d->field = base ? base + off : NULL;                                                          \
    off += ((n) + 15) / 16 * 16;                                                                  \
  } while (0)
  TAKE(dres, N * C);
  TAKE(dx, N * C);
  TAKE(dqkv, N * 3 * C);
  TAKE(dfchg, N * 4 * C);
  TAKE(dfch, N * 4 * C);
  TAKE(datt, B * NH * T * T);
  TAKE(dlogits, c->lm ? N * V : 0);
#undef TAKE
  if (!c->lm) d->dlogits = NULL;
  return off;
}

// make room for a forward at (B,T); never shrinks
static al_status fit_acts(al_gpt *m, int B, int T) {
  if (m->acts_mem && B <= m->actB && T <= m->actT) return AL_OK;
  int nB = B > m->actB ? B : m->actB, nT = T > m->actT ? T : m->actT;
  free_acts(m);
  size_t n = layout_acts(NULL, NULL, &m->cfg, (size_t)nB, (size_t)nT);
  m->acts_mem = al_falloc(n);
  m->tokens = al_malloc((size_t)nB * (size_t)nT, sizeof(int));
  m->targets = al_malloc((size_t)nB * (size_t)nT, sizeof(int));
  if (!m->acts_mem || !m->tokens || !m->targets) {
    free_acts(m);
    return al_seterr(AL_ENOMEM, "gpt: out of memory for activations of B=%d, T=%d (%zu floats)",
                     nB, nT, n);
  }
  m->actB = nB;
  m->actT = nT;
  layout_acts(&m->a, m->acts_mem, &m->cfg, (size_t)nB, (size_t)nT);
  return AL_OK;
}

// ---- forward ----

al_status al_gpt_forward(al_gpt *m, const int *tokens, int B, int T) {
  if (!m || !tokens) return al_seterr(AL_EINVAL, "al_gpt_forward: NULL argument");
  const al_gpt_config *c = &m->cfg;
  if (B < 1 || T < 1 || T > c->maxT)
    return al_seterr(AL_ESHAPE, "al_gpt_forward: B=%d, T=%d: need B >= 1 and 1 <= T <= maxT = %d",
                     B, T, c->maxT);
  size_t widest = (size_t)4 * c->C > (size_t)c->V ? (size_t)4 * c->C : (size_t)c->V;
  if ((double)B * T * widest > INT_MAX || (double)B * c->NH * T * T > INT_MAX)
    return al_seterr(AL_ESHAPE, "al_gpt_forward: B=%d, T=%d is too large for this model", B, T);
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      int v = tokens[b * T + t];
      if (v < 0 || v >= c->V)
        return al_seterr(AL_EINVAL, "al_gpt_forward: token %d at b=%d, t=%d out of [0, V=%d)", v,
                         b, t, c->V);
    }
  al_status s = fit_acts(m, B, T);
  if (s) return s;
  memmove(m->tokens, tokens, (size_t)B * T * sizeof(int)); // tokens may be m->tokens

  const al_gpt_params *p = &m->p;
  al_gpt_acts *a = &m->a;
  int C = c->C, NH = c->NH, N = B * T;
  size_t nC = (size_t)N * C, natt = (size_t)B * NH * T * T;
  size_t Cs = (size_t)C;

  al_encoder_forward(a->encoded, tokens, p->wte, p->wpe, B, T, C);
  const float *residual = a->encoded;
  for (int l = 0; l < c->L; l++) {
    // layer l's slices: (B,T,*) arrays at l*N*width, weights at l*(IC*OC)
    float *ln1 = a->ln1 + l * nC, *ln1m = a->ln1_mean + (size_t)l * N,
          *ln1r = a->ln1_rstd + (size_t)l * N;
    float *qkv = a->qkv + 3 * l * nC, *atty = a->atty + l * nC, *att = a->att + l * natt;
    float *attproj = a->attproj + l * nC, *resid2 = a->resid2 + l * nC, *ln2 = a->ln2 + l * nC;
    float *ln2m = a->ln2_mean + (size_t)l * N, *ln2r = a->ln2_rstd + (size_t)l * N;
    float *fch = a->fch + 4 * l * nC, *fchg = a->fch_gelu + 4 * l * nC;
    float *fcproj = a->fcproj + l * nC, *resid3 = a->resid3 + l * nC;

    al_layernorm_forward(ln1, ln1m, ln1r, residual, p->ln1w + l * Cs, p->ln1b + l * Cs, N, C,
                         c->ln_eps);
    al_linear_forward(qkv, ln1, p->qkvw + l * 3 * Cs * Cs, p->qkvb + l * 3 * Cs, N, C, 3 * C);
    al_attention_forward(atty, att, qkv, B, T, C, NH);
    al_linear_forward(attproj, atty, p->attprojw + l * Cs * Cs, p->attprojb + l * Cs, N, C, C);
    al_residual_forward(resid2, residual, attproj, (int)nC);
    al_layernorm_forward(ln2, ln2m, ln2r, resid2, p->ln2w + l * Cs, p->ln2b + l * Cs, N, C,
                         c->ln_eps);
    al_linear_forward(fch, ln2, p->fcw + l * 4 * Cs * Cs, p->fcb + l * 4 * Cs, N, C, 4 * C);
    al_gelu_forward(fchg, fch, 4 * (int)nC);
    al_linear_forward(fcproj, fchg, p->fcprojw + l * 4 * Cs * Cs, p->fcprojb + l * Cs, N, 4 * C,
                      C);
    al_residual_forward(resid3, resid2, fcproj, (int)nC);
    residual = resid3;
  }
  al_layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, residual, p->lnfw, p->lnfb, N, C,
                       c->ln_eps);
  if (c->lm) al_lmhead_forward(a->logits, a->lnf, p->wte, N, C, c->V);
  if (c->scalar) al_scalar_forward(a->values, a->lnf, p->score, N, C);
  m->B = B;
  m->T = T;
  m->have_logprobs = 0;
  return AL_OK;
}

// log-probs of m->targets (already set) into logp, keeping probs
static void logprobs_of_targets(al_gpt *m, float *logp) {
  al_logprob_forward(logp, m->a.probs, m->a.logits, m->targets, m->B * m->T, m->cfg.V);
  m->have_logprobs = 1;
}

static al_status need_lm_forward(const al_gpt *m, const char *fn) {
  if (!m->cfg.lm) return al_seterr(AL_EINVAL, "%s: the model has no lm head (lm = 0)", fn);
  if (m->B == 0) return al_seterr(AL_EINVAL, "%s: no forward pass to read", fn);
  return AL_OK;
}

al_status al_gpt_logprobs(al_gpt *m, const int *targets, float *logp) {
  if (!m || !targets || !logp) return al_seterr(AL_EINVAL, "al_gpt_logprobs: NULL argument");
  al_status s = need_lm_forward(m, "al_gpt_logprobs");
  if (s) return s;
  int N = m->B * m->T;
  for (int i = 0; i < N; i++)
    if (targets[i] >= m->cfg.V)
      return al_seterr(AL_EINVAL, "al_gpt_logprobs: target %d at b=%d, t=%d out of [0, V=%d)",
                       targets[i], i / m->T, i % m->T, m->cfg.V);
  memmove(m->targets, targets, (size_t)N * sizeof(int));
  logprobs_of_targets(m, logp);
  return AL_OK;
}

al_status al_gpt_entropy(al_gpt *m, float *ent) {
  if (!m || !ent) return al_seterr(AL_EINVAL, "al_gpt_entropy: NULL argument");
  al_status s = need_lm_forward(m, "al_gpt_entropy");
  if (s) return s;
  if (!m->have_logprobs)
    return al_seterr(AL_EINVAL, "al_gpt_entropy: call al_gpt_logprobs after the forward first");
  al_entropy_forward(ent, m->a.probs, m->B * m->T, m->cfg.V);
  return AL_OK;
}

al_status al_gpt_sequence_logprob(al_gpt *m, const int *tokens, const int *prompt_len,
                                  const int *len, int B, int T, float *out) {
  if (!m || !tokens || !prompt_len || !len || !out)
    return al_seterr(AL_EINVAL, "al_gpt_sequence_logprob: NULL argument");
  if (!m->cfg.lm)
    return al_seterr(AL_EINVAL, "al_gpt_sequence_logprob: the model has no lm head (lm = 0)");
  for (int b = 0; b < B; b++)
    if (prompt_len[b] < 1 || prompt_len[b] > len[b] || len[b] > T)
      return al_seterr(AL_EINVAL,
                       "al_gpt_sequence_logprob: sequence %d has prompt_len %d and len %d; need "
                       "1 <= prompt_len <= len <= T = %d",
                       b, prompt_len[b], len[b], T);
  al_status s = al_gpt_forward(m, tokens, B, T);
  if (s) return s;
  // position t scores token t+1: completion tokens are t+1 in [prompt_len, len)
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      int u = t + 1;
      m->targets[b * T + t] = (u >= prompt_len[b] && u < len[b]) ? tokens[b * T + u] : -1;
    }
  float *logp = m->a.logp;
  logprobs_of_targets(m, logp);
  for (int b = 0; b < B; b++) {
    double sum = 0;
    for (int t = prompt_len[b] - 1; t < len[b] - 1; t++) sum += logp[b * T + t];
    out[b] = (float)sum;
  }
  return AL_OK;
}

// ---- backward ----

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

al_status al_gpt_backward(al_gpt *m, const float *dlogp, const float *dvalues) {
  if (!m) return al_seterr(AL_EINVAL, "al_gpt_backward: model is NULL");
  const al_gpt_config *c = &m->cfg;
  if (m->frozen) return al_seterr(AL_EINVAL, "al_gpt_backward: the model is frozen");
  if (m->B == 0) return al_seterr(AL_EINVAL, "al_gpt_backward: no forward pass to differentiate");
  if (dlogp && !c->lm)
    return al_seterr(AL_EINVAL, "al_gpt_backward: dlogp given but the model has no lm head");
  if (dlogp && !m->have_logprobs)
    return al_seterr(AL_EINVAL, "al_gpt_backward: dlogp given but al_gpt_logprobs was not called "
                                "after the last forward");
  if (dvalues && !c->scalar)
    return al_seterr(AL_EINVAL, "al_gpt_backward: dvalues given but the model has no scalar head");
  if (!m->grads) {
    al_status s = al_gpt_zero_grad(m);
    if (s) return s;
  }
  if (!dlogp && !dvalues) return AL_OK;
  if (!m->dacts_mem) {
    size_t n = layout_dacts(NULL, NULL, c, (size_t)m->actB, (size_t)m->actT);
    m->dacts_mem = al_falloc(n);
    if (!m->dacts_mem)
      return al_seterr(AL_ENOMEM, "gpt: out of memory for backward scratch (%zu floats)", n);
  }
  dacts d;
  layout_dacts(&d, m->dacts_mem, c, (size_t)m->actB, (size_t)m->actT);

  const al_gpt_params *p = &m->p, *g = &m->g;
  const al_gpt_acts *a = &m->a;
  int B = m->B, T = m->T, C = c->C, NH = c->NH, N = B * T;
  size_t nC = (size_t)N * C, natt = (size_t)B * NH * T * T, Cs = (size_t)C;
  const size_t fsz = sizeof(float);

  // heads -> d lnf (in dx)
  memset(d.dx, 0, nC * fsz);
  if (dlogp) {
    memset(d.dlogits, 0, (size_t)N * c->V * fsz);
    al_logprob_backward(d.dlogits, dlogp, a->probs, m->targets, N, c->V);
    al_lmhead_backward(d.dx, g->wte, d.dlogits, a->lnf, p->wte, N, C, c->V);
  }
  if (dvalues) al_scalar_backward(d.dx, g->score, dvalues, a->lnf, p->score, N, C);
  memset(d.dres, 0, nC * fsz);
  al_layernorm_backward(d.dres, g->lnfw, g->lnfb, d.dx, a->resid3 + (size_t)(c->L - 1) * nC,
                        p->lnfw, a->lnf_mean, a->lnf_rstd, N, C);

  // blocks in reverse; dres holds d(resid3[l]) on entry and d(resid3[l-1]) on exit. The residual
  // additions pass dres through unchanged, so it doubles as d(fcproj) and d(attproj).
  for (int l = c->L - 1; l >= 0; l--) {
    const float *residual = l == 0 ? a->encoded : a->resid3 + (size_t)(l - 1) * nC;
    const float *ln1 = a->ln1 + l * nC, *ln1m = a->ln1_mean + (size_t)l * N,
                *ln1r = a->ln1_rstd + (size_t)l * N;
    const float *qkv = a->qkv + 3 * l * nC, *atty = a->atty + l * nC, *att = a->att + l * natt;
    const float *resid2 = a->resid2 + l * nC, *ln2 = a->ln2 + l * nC;
    const float *ln2m = a->ln2_mean + (size_t)l * N, *ln2r = a->ln2_rstd + (size_t)l * N;
    const float *fch = a->fch + 4 * l * nC, *fchg = a->fch_gelu + 4 * l * nC;

    // MLP: resid3 = resid2 + fcproj(gelu(fc(ln2(resid2))))
    memset(d.dfchg, 0, 4 * nC * fsz);
    al_linear_backward(d.dfchg, g->fcprojw + l * 4 * Cs * Cs, g->fcprojb + l * Cs, d.dres, fchg,
                       p->fcprojw + l * 4 * Cs * Cs, N, 4 * C, C);
    memset(d.dfch, 0, 4 * nC * fsz);
    al_gelu_backward(d.dfch, d.dfchg, fch, 4 * (int)nC);
    memset(d.dx, 0, nC * fsz);
    al_linear_backward(d.dx, g->fcw + l * 4 * Cs * Cs, g->fcb + l * 4 * Cs, d.dfch, ln2,
                       p->fcw + l * 4 * Cs * Cs, N, C, 4 * C);
    al_layernorm_backward(d.dres, g->ln2w + l * Cs, g->ln2b + l * Cs, d.dx, resid2,
                          p->ln2w + l * Cs, ln2m, ln2r, N, C);

    // attention: resid2 = residual + attproj(attention(qkv(ln1(residual))))
    memset(d.dx, 0, nC * fsz);
    al_linear_backward(d.dx, g->attprojw + l * Cs * Cs, g->attprojb + l * Cs, d.dres, atty,
                       p->attprojw + l * Cs * Cs, N, C, C);
    memset(d.dqkv, 0, 3 * nC * fsz);
    al_attention_backward(d.dqkv, d.datt, d.dx, qkv, att, B, T, C, NH);
    memset(d.dx, 0, nC * fsz);
    al_linear_backward(d.dx, g->qkvw + l * 3 * Cs * Cs, g->qkvb + l * 3 * Cs, d.dqkv, ln1,
                       p->qkvw + l * 3 * Cs * Cs, N, C, 3 * C);
    al_layernorm_backward(d.dres, g->ln1w + l * Cs, g->ln1b + l * Cs, d.dx, residual,
                          p->ln1w + l * Cs, ln1m, ln1r, N, C);
  }
  al_encoder_backward(g->wte, g->wpe, d.dres, m->tokens, B, T, C);
  return AL_OK;
}
