// alignlab core: KV-cached incremental forward, batched sampling, teacher-forced scoring and exact
// KL (contracts in al_sample.h). The incremental forward mirrors gpt.c's full forward one row per
// sequence: projections are the shared linear / LM-head kernels over the N active rows (ops.c runs
// them on the OpenMP team, never on OpenBLAS's own threads), LayerNorm and GELU are the shared
// kernels too, attention over the cache is the loop below. Nothing here writes the model.
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

// ---- drawing one token -------------------------------------------------------------------------

al_sample_opts al_sample_opts_default(void) {
  al_sample_opts o = {16, 1.0f, 0, 1.0f, -1, 0, NULL};
  return o;
}

static al_status check_opts(const al_sample_opts *o, int V, const char *fn) {
  if (!(o->temperature >= 0.0f) || !isfinite(o->temperature))
    return al_seterr(AL_EINVAL, "%s: temperature %g must be >= 0", fn, (double)o->temperature);
  if (o->top_k < 0) return al_seterr(AL_EINVAL, "%s: top_k %d must be >= 0", fn, o->top_k);
  if (!(o->top_p > 0.0f && o->top_p <= 1.0f))
    return al_seterr(AL_EINVAL, "%s: top_p %g must be in (0, 1]", fn, (double)o->top_p);
  if (o->eos < -1 || o->eos >= V)
    return al_seterr(AL_EINVAL, "%s: eos %d outside [-1, %d)", fn, o->eos, V);
  return AL_OK;
}

// a ranks before b: higher logit, ties to the lower id
static int before(const float *z, int a, int b) { return z[a] > z[b] || (z[a] == z[b] && a < b); }

// min-heap on `before` order (the root is the worst kept id)
static void sift_down(int *h, int n, int i, const float *z) {
  for (;;) {
    int l = 2 * i + 1, r = l + 1, w = i;
    if (l < n && before(z, h[w], h[l])) w = l;
    if (r < n && before(z, h[w], h[r])) w = r;
    if (w == i) return;
    int t = h[i];
    h[i] = h[w];
    h[w] = t;
    i = w;
  }
}

// idx[0..k) = the k best ids of z (V), sorted best first
static void top_sorted(int *idx, const float *z, int V, int k) {
  int n = 0;
  for (int id = 0; id < V; id++) {
    if (n < k) {
      // push: sift up
      int i = n++;
      idx[i] = id;
      while (i > 0) {
        int par = (i - 1) / 2;
        if (!before(z, idx[par], idx[i])) break;
        int t = idx[par];
        idx[par] = idx[i];
        idx[i] = t;
        i = par;
      }
    } else if (before(z, id, idx[0])) {
      idx[0] = id;
      sift_down(idx, n, 0, z);
    }
  }
  // heapsort: repeatedly move the worst to the end
  for (int m = n - 1; m > 0; m--) {
    int t = idx[0];
    idx[0] = idx[m];
    idx[m] = t;
    sift_down(idx, m, 0, z);
  }
}

// Sample from z (V) with uniform u in [0,1) (ignored when greedy). Options checked by the caller.
static int draw(const float *z, int V, const al_sample_opts *o, double u, int *idx, double *w,
                float *lp, float *lp_plain) {
  float zmax = z[0];
  int amax = 0;
  for (int v = 1; v < V; v++)
    if (z[v] > zmax) zmax = z[v], amax = v;
  double s1 = 0.0;
  for (int v = 0; v < V; v++) s1 += exp((double)z[v] - zmax);
  double lse1 = log(s1);
  int tok;
  if (o->temperature == 0.0f) {
    tok = amax;
    *lp = (float)((double)z[tok] - zmax - lse1);
  } else {
    double invT = 1.0 / o->temperature;
    int n = (o->top_k > 0 && o->top_k < V) ? o->top_k : V;
    if (n < V || o->top_p < 1.0f) {
      // kept set in order of decreasing probability
      top_sorted(idx, z, V, n);
      double S = 0.0;
      for (int i = 0; i < n; i++) S += (w[i] = exp(((double)z[idx[i]] - zmax) * invT));
      if (o->top_p < 1.0f) {
        double cum = 0.0, thr = (double)o->top_p * S;
        int keep = n;
        for (int i = 0; i < n; i++) {
          cum += w[i];
          if (cum >= thr) {
            keep = i + 1;
            break;
          }
        }
        n = keep;
        S = 0.0;
        for (int i = 0; i < n; i++) S += w[i];
      }
      double target = u * S, cum = 0.0;
      int k = n - 1;
      for (int i = 0; i < n; i++) {
        cum += w[i];
        if (target < cum) {
          k = i;
          break;
        }
      }
      tok = idx[k];
      *lp = (float)(((double)z[tok] - zmax) * invT - log(S));
    } else {
      // no truncation: walk the vocabulary in id order
      double S = 0.0;
      for (int v = 0; v < V; v++) S += (w[v] = exp(((double)z[v] - zmax) * invT));
      double target = u * S, cum = 0.0;
      tok = V - 1;
      for (int v = 0; v < V; v++) {
        cum += w[v];
        if (target < cum) {
          tok = v;
          break;
        }
      }
      *lp = (float)(((double)z[tok] - zmax) * invT - log(S));
    }
  }
  if (lp_plain) *lp_plain = (float)((double)z[tok] - zmax - lse1);
  return tok;
}

al_status al_sample_token(const float *logits, int V, const al_sample_opts *opts, al_rng *rng,
                          int *idx_scratch, double *w_scratch, int *token, float *lp,
                          float *lp_plain) {
  if (V < 1) return al_seterr(AL_ESHAPE, "al_sample_token: V = %d", V);
  al_status st = check_opts(opts, V, "al_sample_token");
  if (st != AL_OK) return st;
  if (opts->temperature > 0.0f && !rng)
    return al_seterr(AL_EINVAL, "al_sample_token: rng is NULL and temperature > 0");
  int *idx = idx_scratch;
  double *w = w_scratch;
  int own = !idx || !w;
  if (own) {
    idx = al_malloc((size_t)V, sizeof(int));
    w = al_malloc((size_t)V, sizeof(double));
    if (!idx || !w) {
      free(idx);
      free(w);
      return al_seterr(AL_ENOMEM, "al_sample_token: out of memory");
    }
  }
  double u = opts->temperature > 0.0f ? al_rng_uniform(rng) : 0.0;
  float dummy;
  *token = draw(logits, V, opts, u, idx, w, lp ? lp : &dummy, lp_plain);
  if (own) {
    free(idx);
    free(w);
  }
  return AL_OK;
}

// ---- generation --------------------------------------------------------------------------------

al_status al_sample_generate(const al_gpt *m, al_kvcache **cache, const int *prompts,
                             const int *prompt_len, int B, int Tp, const al_sample_opts *opts,
                             int *out, int *out_len, float *logp, float *logp_plain) {
  const al_gpt_config *cfg = &m->cfg;
  al_kvcache *tmp = NULL;
  al_kvcache **cp = cache ? cache : &tmp;
  al_status st = AL_OK;
  const int V = cfg->V, maxT = cfg->maxT, max_new = opts->max_new;
  if (B < 1) return al_seterr(AL_ESHAPE, "al_sample_generate: B = %d must be >= 1", B);
  if (max_new < 1)
    return al_seterr(AL_EINVAL, "al_sample_generate: max_new = %d must be >= 1", max_new);
  if (!cfg->lm) return al_seterr(AL_EINVAL, "al_sample_generate: model has no LM head");
  st = check_opts(opts, V, "al_sample_generate");
  if (st != AL_OK) return st;
  for (int b = 0; b < B; b++) {
    int pl = prompt_len[b];
    if (pl < 1 || pl > Tp)
      return al_seterr(AL_EINVAL, "al_sample_generate: prompt %d has length %d outside [1, %d]", b,
                       pl, Tp);
    if (pl + max_new > maxT)
      return al_seterr(AL_ESHAPE,
                       "al_sample_generate: prompt %d: length %d + max_new %d exceeds the "
                       "context maxT = %d",
                       b, pl, max_new, maxT);
    for (int t = 0; t < pl; t++) {
      int tk = prompts[(size_t)b * Tp + t];
      if (tk < 0 || tk >= V)
        return al_seterr(AL_EINVAL, "al_sample_generate: prompt %d token %d = %d outside [0, %d)",
                         b, t, tk, V);
    }
  }
  int need = 0;
  for (int b = 0; b < B; b++)
    if (prompt_len[b] + max_new > need) need = prompt_len[b] + max_new;
  st = al_kvcache_fit(cp, cfg, B, need);
  if (st != AL_OK) goto cleanup;
  al_kvcache *c = *cp;
  const int cT = c->maxT; // row stride of c->seq
  al_rng local, *rng = opts->rng;
  if (!rng) {
    al_rng_seed(&local, opts->seed, AL_SAMPLE_STREAM);
    rng = &local;
  }
  for (size_t j = 0; j < (size_t)B * max_new; j++) {
    out[j] = -1;
    if (logp) logp[j] = 0.0f;
    if (logp_plain) logp_plain[j] = 0.0f;
  }
  for (int b = 0; b < B; b++) {
    out_len[b] = 0;
    memcpy(c->seq + (size_t)b * cT, prompts + (size_t)b * Tp, (size_t)prompt_len[b] * sizeof(int));
  }
  // sequence b is active while out_len[b] < max_new and its last sampled token is not eos
  for (int t = 0;; t++) {
    int N = 0, need = 0;
    for (int b = 0; b < B; b++) {
      int nb = out_len[b];
      if (nb == max_new) continue;
      if (nb > 0 && opts->eos >= 0 && out[(size_t)b * max_new + nb - 1] == opts->eos) continue;
      c->rows[N] = b;
      c->tok[N] = c->seq[(size_t)b * cT + t];
      c->pos[N] = t;
      N++;
      if (t + 1 >= prompt_len[b]) need = 1;
    }
    if (N == 0) break;
    st = al_sample_step(m, c, c->tok, c->pos, c->rows, N, need ? c->logits : NULL);
    if (st != AL_OK) goto cleanup;
    if (!need) continue;
    for (int i = 0; i < N; i++) {
      int b = c->rows[i];
      if (t + 1 < prompt_len[b]) continue;
      double u = opts->temperature > 0.0f ? al_rng_uniform(rng) : 0.0;
      float lp, lpp;
      int tok = draw(c->logits + (size_t)i * V, V, opts, u, c->idx, c->w, &lp, &lpp);
      size_t j = (size_t)b * max_new + out_len[b]++;
      out[j] = tok;
      if (logp) logp[j] = lp;
      if (logp_plain) logp_plain[j] = lpp;
      c->seq[(size_t)b * cT + t + 1] = tok;
    }
  }
cleanup:
  al_kvcache_free(tmp);
  return st;
}

// ---- scoring by teacher forcing ----------------------------------------------------------------

#define CHUNK 32

static al_status check_pairs(const al_gpt *m, const int *prompt_len, int Tp, const int *comp_len,
                             int Tc, int B, const char *fn) {
  if (B < 1) return al_seterr(AL_ESHAPE, "%s: B = %d must be >= 1", fn, B);
  if (!m->cfg.lm) return al_seterr(AL_EINVAL, "%s: model has no LM head", fn);
  for (int b = 0; b < B; b++) {
    if (prompt_len[b] < 1 || prompt_len[b] > Tp)
      return al_seterr(AL_EINVAL, "%s: prompt %d has length %d outside [1, %d]", fn, b,
                       prompt_len[b], Tp);
    if (comp_len[b] < 0 || comp_len[b] > Tc)
      return al_seterr(AL_EINVAL, "%s: completion %d has length %d outside [0, %d]", fn, b,
                       comp_len[b], Tc);
    if (prompt_len[b] + comp_len[b] - 1 > m->cfg.maxT)
      return al_seterr(AL_ESHAPE, "%s: sequence %d: prompt %d + completion %d tokens exceed the "
                       "context maxT = %d", fn, b, prompt_len[b], comp_len[b], m->cfg.maxT);
  }
  return AL_OK;
}

// Input tokens (n,T) and targets (n,T) of sequences b0..b0+n-1; returns T.
static int build_chunk(int *tokens, int *targets, const int *prompts, const int *prompt_len,
                       int Tp, const int *comp, const int *comp_len, int Tc, int b0, int n) {
  int T = 1;
  for (int i = 0; i < n; i++) {
    int len = prompt_len[b0 + i] + comp_len[b0 + i] - 1;
    if (len > T) T = len;
  }
  for (int i = 0; i < n; i++) {
    int b = b0 + i, pl = prompt_len[b], cl = comp_len[b];
    for (int t = 0; t < T; t++) {
      int tk = 0;
      if (t < pl) tk = prompts[(size_t)b * Tp + t];
      else if (t - pl < cl) tk = comp[(size_t)b * Tc + t - pl];
      tokens[i * T + t] = tk;
      int j = t - pl + 1; // completion index this position predicts
      targets[i * T + t] = (j >= 0 && j < cl) ? comp[(size_t)b * Tc + j] : -1;
    }
  }
  return T;
}

al_status al_sample_score(al_gpt *m, const int *prompts, const int *prompt_len, int Tp,
                          const int *comp, const int *comp_len, int Tc, int B, float *logp,
                          float *sum, float *ent) {
  al_status st = check_pairs(m, prompt_len, Tp, comp_len, Tc, B, "al_sample_score");
  if (st != AL_OK) return st;
  int maxT = m->cfg.maxT;
  size_t cap = (size_t)CHUNK * maxT;
  int *tokens = al_malloc(cap, sizeof(int)), *targets = al_malloc(cap, sizeof(int));
  float *lp = al_falloc(cap), *en = ent ? al_falloc(cap) : NULL;
  if (!tokens || !targets || !lp || (ent && !en)) {
    st = al_seterr(AL_ENOMEM, "al_sample_score: out of memory");
    goto cleanup;
  }
  for (int b0 = 0; b0 < B; b0 += CHUNK) {
    int n = B - b0 < CHUNK ? B - b0 : CHUNK;
    int T = build_chunk(tokens, targets, prompts, prompt_len, Tp, comp, comp_len, Tc, b0, n);
    if ((st = al_gpt_forward(m, tokens, n, T)) != AL_OK) goto cleanup;
    if ((st = al_gpt_logprobs(m, targets, lp)) != AL_OK) goto cleanup;
    if (ent && (st = al_gpt_entropy(m, en)) != AL_OK) goto cleanup;
    for (int i = 0; i < n; i++) {
      int b = b0 + i, pl = prompt_len[b], cl = comp_len[b];
      double s = 0.0;
      for (int j = 0; j < Tc; j++) {
        float v = j < cl ? lp[i * T + pl - 1 + j] : 0.0f;
        logp[(size_t)b * Tc + j] = v;
        s += v;
        if (ent) ent[(size_t)b * Tc + j] = j < cl ? en[i * T + pl - 1 + j] : 0.0f;
      }
      if (sum) sum[b] = (float)s;
    }
  }
cleanup:
  free(tokens);
  free(targets);
  al_ffree(lp);
  al_ffree(en);
  return st;
}

// out (V) = log_softmax(z), computed in double and rounded (the same path for both models, so
// identical logits give identical rows and an exactly zero KL)
static void log_softmax_row(float *out, const float *z, int V) {
  float mx = z[0];
  for (int v = 1; v < V; v++)
    if (z[v] > mx) mx = z[v];
  double s = 0.0;
  for (int v = 0; v < V; v++) s += exp((double)z[v] - mx);
  double lse = log(s) + mx;
  for (int v = 0; v < V; v++) out[v] = (float)((double)z[v] - lse);
}

al_status al_sample_kl(al_gpt *p, al_gpt *q, const int *prompts, const int *prompt_len, int Tp,
                       const int *comp, const int *comp_len, int Tc, int B, float *kl,
                       float *kl_tok, float *ent) {
  al_status st = check_pairs(p, prompt_len, Tp, comp_len, Tc, B, "al_sample_kl");
  if (st != AL_OK) return st;
  if ((st = check_pairs(q, prompt_len, Tp, comp_len, Tc, B, "al_sample_kl")) != AL_OK) return st;
  if (p->cfg.V != q->cfg.V)
    return al_seterr(AL_ESHAPE, "al_sample_kl: vocabularies differ (%d vs %d)", p->cfg.V, q->cfg.V);
  const int V = p->cfg.V;
  int maxT = p->cfg.maxT > q->cfg.maxT ? p->cfg.maxT : q->cfg.maxT;
  size_t cap = (size_t)CHUNK * maxT;
  int *tokens = al_malloc(cap, sizeof(int)), *targets = al_malloc(cap, sizeof(int));
  float *lpp = al_falloc((size_t)CHUNK * Tc * V), *lq = al_falloc((size_t)V);
  if (!tokens || !targets || !lpp || !lq) {
    st = al_seterr(AL_ENOMEM, "al_sample_kl: out of memory");
    goto cleanup;
  }
  for (int b0 = 0; b0 < B; b0 += CHUNK) {
    int n = B - b0 < CHUNK ? B - b0 : CHUNK;
    int T = build_chunk(tokens, targets, prompts, prompt_len, Tp, comp, comp_len, Tc, b0, n);
    if ((st = al_gpt_forward(p, tokens, n, T)) != AL_OK) goto cleanup;
    for (int i = 0; i < n; i++) {
      int b = b0 + i, pl = prompt_len[b];
      for (int j = 0; j < comp_len[b]; j++)
        log_softmax_row(lpp + ((size_t)i * Tc + j) * V,
                        p->a.logits + ((size_t)i * T + pl - 1 + j) * V, V);
    }
    if ((st = al_gpt_forward(q, tokens, n, T)) != AL_OK) goto cleanup;
    for (int i = 0; i < n; i++) {
      int b = b0 + i, pl = prompt_len[b], cl = comp_len[b];
      double ksum = 0.0, esum = 0.0;
      for (int j = 0; j < Tc; j++) {
        double k = 0.0;
        if (j < cl) {
          const float *a = lpp + ((size_t)i * Tc + j) * V;
          log_softmax_row(lq, q->a.logits + ((size_t)i * T + pl - 1 + j) * V, V);
          double e = 0.0;
          for (int v = 0; v < V; v++) {
            double pv = exp((double)a[v]);
            k += pv * ((double)a[v] - (double)lq[v]);
            e -= pv * (double)a[v];
          }
          esum += e;
        }
        ksum += k;
        if (kl_tok) kl_tok[(size_t)b * Tc + j] = (float)k;
      }
      kl[b] = (float)ksum;
      if (ent) ent[b] = (float)esum;
    }
  }
cleanup:
  free(tokens);
  free(targets);
  al_ffree(lpp);
  al_ffree(lq);
  return st;
}
