// alignlab core: teacher-forced scoring of completions and the exact per-position KL between two
// models (contracts in al_sample.h), by full forwards in chunks of sequences. Layering: calls the
// gpt forward and log-probs only; no KV cache, no sampling.
#include "al_sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "al_ops.h"

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
