// alignlab core: the KV cache and the KV-cached incremental forward (contracts in al_sample.h).
// The incremental forward mirrors gpt_pass.c's full forward one row per sequence: projections are
// the shared linear / LM-head kernels over the N active rows (ops.c runs them on the OpenMP team,
// never on OpenBLAS's own threads), LayerNorm and GELU are the shared kernels too, attention over
// the cache is the loop below. Layering: calls gpt and ops only. Nothing here writes the model.
#include "al_sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "al_ops.h"

// ---- KV cache ----------------------------------------------------------------------------------

void al_kvcache_free(al_kvcache *c) {
  if (!c) return;
  al_ffree(c->k);
  al_ffree(c->v);
  al_ffree(c->x);
  al_ffree(c->ln);
  al_ffree(c->mean);
  al_ffree(c->rstd);
  al_ffree(c->qkv);
  al_ffree(c->atty);
  al_ffree(c->proj);
  al_ffree(c->fch);
  al_ffree(c->fchg);
  al_ffree(c->logits);
  al_ffree(c->att);
  free(c->seq);
  free(c->rows);
  free(c->tok);
  free(c->pos);
  free(c->idx);
  free(c->w);
  free(c);
}

al_status al_kvcache_new(al_kvcache **out, const al_gpt_config *cfg, int B, int maxT) {
  *out = NULL;
  al_status st = al_gpt_config_check(cfg);
  if (st != AL_OK) return st;
  if (maxT <= 0) maxT = cfg->maxT;
  if (B < 1) return al_seterr(AL_ESHAPE, "al_kvcache_new: B = %d must be >= 1", B);
  if (maxT > cfg->maxT)
    return al_seterr(AL_ESHAPE, "al_kvcache_new: maxT = %d exceeds the model's %d", maxT, cfg->maxT);
  al_kvcache *c = al_calloc(1, sizeof *c);
  if (!c) return al_seterr(AL_ENOMEM, "al_kvcache_new: out of memory");
  c->L = cfg->L;
  c->C = cfg->C;
  c->NH = cfg->NH;
  c->V = cfg->V;
  c->maxT = maxT;
  c->B = B;
  size_t Bz = (size_t)B, C = (size_t)cfg->C, V = (size_t)cfg->V;
  size_t kv = (size_t)cfg->L * Bz * (size_t)maxT * C;
  c->k = al_falloc(kv);
  c->v = al_falloc(kv);
  c->x = al_falloc(Bz * C);
  c->ln = al_falloc(Bz * C);
  c->mean = al_falloc(Bz);
  c->rstd = al_falloc(Bz);
  c->qkv = al_falloc(Bz * 3 * C);
  c->atty = al_falloc(Bz * C);
  c->proj = al_falloc(Bz * C);
  c->fch = al_falloc(Bz * 4 * C);
  c->fchg = al_falloc(Bz * 4 * C);
  c->logits = al_falloc(Bz * V);
  c->att = al_falloc(Bz * (size_t)cfg->NH * (size_t)maxT);
  c->seq = al_malloc(Bz * (size_t)maxT, sizeof(int));
  c->rows = al_malloc(Bz, sizeof(int));
  c->tok = al_malloc(Bz, sizeof(int));
  c->pos = al_malloc(Bz, sizeof(int));
  c->idx = al_malloc(V, sizeof(int));
  c->w = al_malloc(V, sizeof(double));
  if (!c->k || !c->v || !c->x || !c->ln || !c->mean || !c->rstd || !c->qkv || !c->atty ||
      !c->proj || !c->fch || !c->fchg || !c->logits || !c->att || !c->seq || !c->rows ||
      !c->tok || !c->pos || !c->idx || !c->w) {
    al_kvcache_free(c);
    return al_seterr(AL_ENOMEM, "al_kvcache_new: out of memory for B = %d, maxT = %d", B, maxT);
  }
  *out = c;
  return AL_OK;
}

int al_kvcache_fits(const al_kvcache *c, const al_gpt_config *cfg, int B, int maxT) {
  if (maxT <= 0) maxT = cfg->maxT;
  return c && c->L == cfg->L && c->C == cfg->C && c->NH == cfg->NH && c->V == cfg->V &&
         c->maxT >= maxT && c->maxT <= cfg->maxT && c->B >= B;
}

al_status al_kvcache_fit(al_kvcache **c, const al_gpt_config *cfg, int B, int maxT) {
  if (maxT <= 0) maxT = cfg->maxT;
  if (al_kvcache_fits(*c, cfg, B, maxT)) return AL_OK;
  al_kvcache *old = *c;
  if (old && old->L == cfg->L && old->C == cfg->C && old->NH == cfg->NH && old->V == cfg->V &&
      old->maxT <= cfg->maxT) {
    if (old->B > B) B = old->B;
    if (old->maxT > maxT) maxT = old->maxT;
  }
  al_kvcache_free(old);
  *c = NULL;
  return al_kvcache_new(c, cfg, B, maxT);
}

// ---- incremental forward -----------------------------------------------------------------------

// a . b over n floats, with 8 partial sums so that the compiler can vectorise it without
// reassociating (the order is fixed by this code, so results do not depend on the machine's
// vector width)
static inline float dot(const float *restrict a, const float *restrict b, int n) {
  float acc[8] = {0};
  int j = 0;
  for (; j + 8 <= n; j += 8)
    for (int u = 0; u < 8; u++) acc[u] += a[j + u] * b[j + u];
  float s = 0.0f;
  for (; j < n; j++) s += a[j] * b[j];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + s;
}

// o (n) += alpha * x (n)
static inline void axpy(float *restrict o, float alpha, const float *restrict x, int n) {
  int j = 0;
  for (; j + 8 <= n; j += 8)
    for (int u = 0; u < 8; u++) o[j + u] += alpha * x[j + u];
  for (; j < n; j++) o[j] += alpha * x[j];
}

al_status al_sample_step(const al_gpt *m, al_kvcache *c, const int *tokens, const int *pos,
                         const int *slots, int N, float *logits) {
  const al_gpt_config *cfg = &m->cfg;
  int C = cfg->C, NH = cfg->NH, L = cfg->L, V = cfg->V;
  if (!c || c->L != L || c->C != C || c->NH != NH || c->V != V || c->maxT > cfg->maxT)
    return al_seterr(AL_ESHAPE, "al_sample_step: cache was made for another model shape");
  if (!cfg->lm) return al_seterr(AL_EINVAL, "al_sample_step: model has no LM head");
  if (N < 1 || N > c->B)
    return al_seterr(AL_ESHAPE, "al_sample_step: N = %d rows outside [1, %d]", N, c->B);
  for (int i = 0; i < N; i++) {
    int s = slots ? slots[i] : i;
    if (s < 0 || s >= c->B)
      return al_seterr(AL_ESHAPE, "al_sample_step: row %d: slot %d outside [0, %d)", i, s, c->B);
    if (pos[i] < 0 || pos[i] >= c->maxT)
      return al_seterr(AL_ESHAPE, "al_sample_step: row %d: position %d outside [0, %d)", i,
                       pos[i], c->maxT);
    if (tokens[i] < 0 || tokens[i] >= V)
      return al_seterr(AL_EINVAL, "al_sample_step: row %d: token %d outside [0, %d)", i,
                       tokens[i], V);
  }
  const int HS = C / NH, maxT = c->maxT;
  const float scale = 1.0f / sqrtf((float)HS);
  const al_gpt_params *p = &m->p;
  float *x = c->x, *ln = c->ln, *qkv = c->qkv, *atty = c->atty, *proj = c->proj;

  // x (N,C) = wte[token] + wpe[pos]
  for (int i = 0; i < N; i++) {
    const float *te = p->wte + (size_t)tokens[i] * C, *pe = p->wpe + (size_t)pos[i] * C;
    float *xi = x + (size_t)i * C;
    for (int j = 0; j < C; j++) xi[j] = te[j] + pe[j];
  }

  for (int l = 0; l < L; l++) {
    size_t lC = (size_t)l * C;
    al_layernorm_forward(ln, c->mean, c->rstd, x, p->ln1w + lC, p->ln1b + lC, N, C, cfg->ln_eps);
    al_linear_forward(qkv, ln, p->qkvw + lC * 3 * C, p->qkvb + lC * 3, N, C, 3 * C);
    // K and V of this position into the cache: (L,B,NH,maxT,HS)
    float *Kl = c->k + (size_t)l * c->B * maxT * C, *Vl = c->v + (size_t)l * c->B * maxT * C;
    for (int i = 0; i < N; i++) {
      size_t base = (size_t)(slots ? slots[i] : i) * NH * maxT;
      for (int h = 0; h < NH; h++) {
        size_t off = ((base + (size_t)h * maxT) + pos[i]) * HS;
        memcpy(Kl + off, qkv + (size_t)i * 3 * C + C + h * HS, (size_t)HS * sizeof(float));
        memcpy(Vl + off, qkv + (size_t)i * 3 * C + 2 * C + h * HS, (size_t)HS * sizeof(float));
      }
    }
    // attention of each row's query over its slot's positions 0..pos: atty (N,C)
    int NNH = N * NH;
    long work = (long)NNH * (pos[0] + 1) * HS;
#pragma omp parallel for schedule(static) if (work > 65536)
    for (int ih = 0; ih < NNH; ih++) {
      int i = ih / NH, h = ih % NH, T1 = pos[i] + 1;
      const float *q = qkv + (size_t)i * 3 * C + h * HS;
      size_t hoff = ((size_t)(slots ? slots[i] : i) * NH + h) * maxT * HS;
      const float *Ks = Kl + hoff, *Vs = Vl + hoff;
      float *a = c->att + (size_t)ih * maxT;
      float mx = -INFINITY;
      for (int t = 0; t < T1; t++) {
        float s = dot(q, Ks + (size_t)t * HS, HS) * scale;
        a[t] = s;
        if (s > mx) mx = s;
      }
      float sum = 0.0f;
      for (int t = 0; t < T1; t++) {
        a[t] = expf(a[t] - mx);
        sum += a[t];
      }
      float inv = 1.0f / sum;
      float *o = atty + (size_t)i * C + h * HS;
      for (int j = 0; j < HS; j++) o[j] = 0.0f;
      for (int t = 0; t < T1; t++) axpy(o, a[t] * inv, Vs + (size_t)t * HS, HS);
    }
    al_linear_forward(proj, atty, p->attprojw + lC * C, p->attprojb + lC, N, C, C);
    for (size_t j = 0; j < (size_t)N * C; j++) x[j] += proj[j];
    al_layernorm_forward(ln, c->mean, c->rstd, x, p->ln2w + lC, p->ln2b + lC, N, C, cfg->ln_eps);
    al_linear_forward(c->fch, ln, p->fcw + lC * 4 * C, p->fcb + lC * 4, N, C, 4 * C);
    al_gelu_forward(c->fchg, c->fch, N * 4 * C);
    al_linear_forward(proj, c->fchg, p->fcprojw + lC * 4 * C, p->fcprojb + lC, N, 4 * C, C);
    for (size_t j = 0; j < (size_t)N * C; j++) x[j] += proj[j];
  }
  if (logits) {
    al_layernorm_forward(ln, c->mean, c->rstd, x, p->lnfw, p->lnfb, N, C, cfg->ln_eps);
    // logits (N,V) = ln (N,C) @ wte^T
    al_lmhead_forward(logits, ln, p->wte, N, C, V);
  }
  return AL_OK;
}
