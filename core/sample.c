// alignlab core: drawing one token (temperature, top-k, top-p) and batched generation (contracts
// in al_sample.h). Layering: sample.c -> sample_kv.c (KV cache, incremental forward) -> gpt;
// teacher-forced scoring and exact KL are sample_score.c. Nothing here writes the model.
#include "al_sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "al_ops.h"

// ---- drawing one token -------------------------------------------------------------------------

al_sample_opts al_sample_opts_default(void) {
  al_sample_opts o = {16, 1.0f, 0, 1.0f, -1, 0, NULL, NULL};
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
  al_rng *rngs = NULL; // one generator per sequence when opts->streams is given
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
  if (opts->streams && rng) {
    st = al_seterr(AL_EINVAL, "al_sample_generate: give streams or rng, not both");
    goto cleanup;
  }
  if (!rng) {
    al_rng_seed(&local, opts->seed, AL_SAMPLE_STREAM);
    rng = &local;
  }
  if (opts->streams) {
    rngs = malloc((size_t)B * sizeof *rngs);
    if (!rngs) {
      st = al_seterr(AL_ENOMEM, "al_sample_generate: out of memory (%d generators)", B);
      goto cleanup;
    }
    for (int b = 0; b < B; b++) al_rng_seed(&rngs[b], opts->seed, opts->streams[b]);
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
      double u = opts->temperature > 0.0f ? al_rng_uniform(rngs ? &rngs[b] : rng) : 0.0;
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
  free(rngs);
  al_kvcache_free(tmp);
  return st;
}
