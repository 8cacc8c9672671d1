// alignlab core: autoregressive generation with a KV cache, teacher-forced scoring, exact KL.
// - al_kvcache: per-layer K and V for B sequences x maxT positions plus all per-step scratch,
//   allocated once and reused across calls (no allocation inside a generation loop).
// - al_sample_step: the incremental forward of one token per sequence at per-sequence positions.
// - al_sample_generate: batched sampling (greedy, temperature, top-k, top-p, eos) from ragged
//   prompts, deterministic for a seed whatever the thread count of the attention loop.
// - al_sample_score / al_sample_kl: per-token log-probs, entropies and exact KL by teacher forcing
//   through al_gpt_forward (the full model, not the cache).
// Not here: the model itself (gpt.c), kernels (ops.c), Lua (lua/l_sample.c), best-of-N and PPO
// drivers (lua/al/).
//
// Token layouts. Prompts and completions are right-padded int arrays with a row stride:
// prompt b is prompts[b*Tp + 0 .. prompt_len[b]-1], completion b is comp[b*Tc + 0 .. comp_len[b]-1].
// Padding values are never read.
#ifndef AL_SAMPLE_H
#define AL_SAMPLE_H

#include "al_base.h"
#include "al_gpt.h"

// The RNG stream number used when sampling options give a seed rather than an al_rng.
#define AL_SAMPLE_STREAM 3

// ---- KV cache ----
typedef struct {
  int L, C, NH, V, maxT; // model dims the cache was made for
  int B;                 // capacity: number of sequence slots (and rows per step)
  float *k, *v;          // (L, B, NH, maxT, HS) each: keys / values of slot b, head h, position t
  // per-step scratch for up to B rows
  float *x;              // (B,C) residual stream
  float *ln;             // (B,C)
  float *mean, *rstd;    // (B)
  float *qkv;            // (B,3C)
  float *atty;           // (B,C)
  float *proj;           // (B,C)
  float *fch;            // (B,4C)
  float *fchg;           // (B,4C)
  float *logits;         // (B,V) logits of the last step's rows
  float *att;            // (B*NH, maxT) attention weights scratch
  // generation scratch
  int *seq;              // (B, maxT) prompt + sampled tokens per slot
  int *rows;             // (B) slot of each active row
  int *tok;              // (B) token fed per row
  int *pos;              // (B) position per row
  int *idx;              // (V) candidate ids for top-k / top-p
  double *w;             // (V) unnormalised sampling weights
} al_kvcache;

// Allocate a cache for model config cfg, B slots, positions 0..maxT-1 (maxT <= cfg->maxT;
// maxT <= 0 means cfg->maxT). The caller owns *out. Errors: AL_ESHAPE (B < 1, maxT > cfg->maxT),
// AL_ENOMEM.
al_status al_kvcache_new(al_kvcache **out, const al_gpt_config *cfg, int B, int maxT);
void al_kvcache_free(al_kvcache *c);
// Make *c usable for model config cfg with at least B slots and maxT positions (maxT <= 0:
// cfg->maxT): keeps it when it already fits, otherwise replaces it by one with the larger of the
// old and requested capacities, so a cache reused across calls only grows (*c may be NULL on
// entry). On failure *c is NULL (the old cache is freed).
al_status al_kvcache_fit(al_kvcache **c, const al_gpt_config *cfg, int B, int maxT);
// 1 when cache c can serve model config cfg with B slots and maxT positions.
int al_kvcache_fits(const al_kvcache *c, const al_gpt_config *cfg, int B, int maxT);

// ---- incremental forward ----
// Feed one token per row: row i feeds tokens[i] at position pos[i] of cache slot slots[i]
// (slots NULL: slot i). Writes K and V of that position into the slot, attends over positions
// 0..pos[i] of the slot (earlier positions must have been fed before, in any earlier steps),
// and when logits != NULL writes logits (N,V) of the next token (lm head tied to wte).
// logits may be c->logits. Slots within one call must be distinct.
// Errors: AL_ESHAPE (N > c->B, cache made for other dims, slot or pos out of range),
// AL_EINVAL (token out of [0,V), model has no lm head).
al_status al_sample_step(const al_gpt *m, al_kvcache *c, const int *tokens, const int *pos,
                         const int *slots, int N, float *logits);

// ---- sampling ----
typedef struct {
  int max_new;       // completion budget per sequence (>= 1)
  float temperature; // 0: greedy argmax (ties: lowest id); > 0: softmax(logits / temperature)
  int top_k;         // 0: off; else keep the k highest logits (ties: lowest id)
  float top_p;       // 1: off; else nucleus: smallest prefix (by prob desc, ties lowest id) of
                     // the temperature/top-k distribution with cumulative prob >= top_p
  int eos;           // -1: none; else a sampled eos ends the sequence (eos is kept, counted)
  uint64_t seed;     // used when rng is NULL: al_rng_seed(seed, AL_SAMPLE_STREAM)
  al_rng *rng;       // when not NULL: drawn from and advanced (seed ignored)
  const uint64_t *streams; // NULL: one generator for the batch (above); else B stream ids, and
                     // sequence b draws from its own generator al_rng_seed(seed, streams[b])
                     // (rng must be NULL): its tokens do not depend on its batch-mates' draws
} al_sample_opts;

// max_new 16, temperature 1, top_k 0, top_p 1, eos -1, seed 0, rng NULL, streams NULL.
al_sample_opts al_sample_opts_default(void);

// Sample completions for B ragged prompts (prompt b = prompts[b*Tp ..], prompt_len[b] >= 1 tokens).
// All sequences step together from position 0: sequence b is teacher-forced through its prompt,
// then samples until eos or max_new tokens. Sequences that finish drop out of later steps.
// Outputs (each (B, max_new), row b valid for out_len[b] entries; the rest is -1 / 0):
//   out       completion tokens; out_len (B) their counts (an eos is the last counted token)
//   logp      (may be NULL) log-prob of each sampled token under the distribution it was drawn
//             from: softmax(logits/temperature) restricted to the top-k / top-p set and
//             renormalised. Greedy (temperature 0) is a point mass, so greedy reports the
//             temperature-1 untruncated log-prob instead (equal to logp_plain).
//   logp_plain (may be NULL) log-prob under the policy itself: temperature 1, no truncation
//             (what al_sample_score recomputes by teacher forcing).
// Randomness: exactly one uniform draw per sampled token (none when greedy), drawn at each step in
// ascending b, from opts->rng or a generator seeded with opts->seed: the same seed gives the same
// completions for the same thread count (sgemm's bits may depend on it). With opts->streams, one
// generator per sequence (see al_sample_opts), so a batch split into parts (over MPI ranks, say)
// draws the same numbers for each sequence as the whole batch does.
// Lengths: prompt_len[b] + max_new must be <= cfg.maxT for every b, else AL_ESHAPE (no silent
// truncation). cache: the address of the caller's cache pointer to reuse (grown by al_kvcache_fit
// to B slots x max_b(prompt_len[b]) + max_new positions when too small; *cache may be NULL), or
// NULL to use a temporary cache.
// Errors: AL_ESHAPE, AL_EINVAL (bad option, token out of range, empty prompt), AL_ENOMEM.
al_status al_sample_generate(const al_gpt *m, al_kvcache **cache, const int *prompts,
                             const int *prompt_len, int B, int Tp, const al_sample_opts *opts,
                             int *out, int *out_len, float *logp, float *logp_plain);

// Draw one token from a logits row (V) with the given options, using the cache's idx/w scratch
// (or NULL to allocate). *lp = log-prob as documented for al_sample_generate's logp; *lp_plain
// (may be NULL) = temperature-1 log-prob. Exposed for tests and best-of-N drivers.
// Errors: AL_EINVAL (bad options), AL_ENOMEM (scratch NULL and allocation failed).
al_status al_sample_token(const float *logits, int V, const al_sample_opts *opts, al_rng *rng,
                          int *idx_scratch, double *w_scratch, int *token, float *lp,
                          float *lp_plain);

// ---- scoring by teacher forcing (full forward, in chunks of at most 32 sequences) ----
// logp (B,Tc): logp[b*Tc+j] = log p(comp[b,j] | prompt b, comp[b,<j]) for j < comp_len[b], 0
// beyond; sum (B, may be NULL): their sums; ent (B,Tc, may be NULL): entropy (nats) of the
// next-token distribution at the same positions. comp_len[b] may be 0. Overwrites m's
// activations (it runs al_gpt_forward). Needs prompt_len[b] + comp_len[b] - 1 <= cfg.maxT.
al_status al_sample_score(al_gpt *m, const int *prompts, const int *prompt_len, int Tp,
                          const int *comp, const int *comp_len, int Tc, int B, float *logp,
                          float *sum, float *ent);

// Exact KL(p || q) = sum_v p(v) log(p(v)/q(v)) between the next-token distributions of models p
// and q (same V), at each completion position (the positions that predict comp[b,j]), summed:
// kl (B) = sum_j KL_j; kl_tok (B,Tc, may be NULL) per position; ent (B, may be NULL) the summed
// entropy of p at those positions. p and q may be the same model. Computed in double from the
// log-softmax of each model's logits.
al_status al_sample_kl(al_gpt *p, al_gpt *q, const int *prompts, const int *prompt_len, int Tp,
                       const int *comp, const int *comp_len, int Tc, int B, float *kl,
                       float *kl_tok, float *ent);

#endif
