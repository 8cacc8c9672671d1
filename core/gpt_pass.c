// alignlab core: the GPT-2 passes over the slabs: activation layout, the full forward, log-probs
// and entropy, and full backprop, forward and backward side by side. The numerics of each layer
// live in the kernels (ops*.c); this file only wires them. Layering: gpt_pass.c -> gpt.c
// (gpt_impl.h) -> ops; gpt.c never calls this file.
#include "al_ops.h"
#include "gpt_impl.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

// *field = base + *off (NULL when counting), then *off past n floats rounded up to 16, so every
// array stays 64-byte aligned
static void take(float **field, float *base, size_t *off, size_t n) {
  *field = base ? base + *off : NULL;
  *off += (n + 15) / 16 * 16;
}

// lay out the forward activations for capacity (B,T) from base (NULL: just count); returns floats
static size_t layout_acts(al_gpt_acts *a, float *base, const al_gpt_config *c, size_t B, size_t T) {
  size_t L = (size_t)c->L, C = (size_t)c->C, V = (size_t)c->V, NH = (size_t)c->NH;
  size_t N = B * T, off = 0;
  al_gpt_acts tmp;
  if (!a) a = &tmp;
#define TAKE(field, n) take(&a->field, base, &off, (n))
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
#define TAKE(field, n) take(&d->field, base, &off, (n))
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
  al__gpt_free_acts(m);
  size_t n = layout_acts(NULL, NULL, &m->cfg, (size_t)nB, (size_t)nT);
  m->acts_mem = al_falloc(n);
  m->tokens = al_malloc((size_t)nB * (size_t)nT, sizeof(int));
  m->targets = al_malloc((size_t)nB * (size_t)nT, sizeof(int));
  if (!m->acts_mem || !m->tokens || !m->targets) {
    al__gpt_free_acts(m);
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
