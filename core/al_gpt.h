// alignlab core: the GPT-2 model (exactly Hugging Face's GPT2LMHeadModel architecture: learned
// token and position embeddings, pre-LN blocks, fused-qkv causal attention, 4C tanh-GELU MLP,
// final LN, LM head tied to wte; an optional scalar head `score` (C -> 1, no bias)).
// All parameters live in one slab, gradients in a second slab of the same layout. Activations
// are sized lazily for the largest (B,T) seen and reused: no allocation in a training step.
// Padding is on the right; since attention is causal, positions beyond a sequence's length
// never influence positions before it, so callers just ignore them (weights 0).
#ifndef AL_GPT_H
#define AL_GPT_H

#include "al_base.h"

typedef struct {
  int V;          // vocab_size
  int maxT;       // n_positions
  int C;          // n_embd
  int L;          // n_layer
  int NH;         // n_head
  int scalar;     // 1: model has the scalar head `score` (reward / value model)
  int lm;         // 1: model computes LM logits (default 1; an RM may set 0 to skip them)
  float ln_eps;   // layer_norm_epsilon, 1e-5
} al_gpt_config;

// Parameter tensors, each an array over all layers where per-layer (llm.c layout).
// X(field, per_layer, hf_name, ndim, d0, d1, decay)  -- shapes in terms of V, maxT, C
// hf_name uses %d for the layer index. `decay` = 1 for matrices (AdamW weight decay applies).
#define AL_GPT_PARAMS(X, V, maxT, C)                                             \
  X(wte,      0, "wte.weight",               2, V,      C,      1)              \
  X(wpe,      0, "wpe.weight",               2, maxT,   C,      1)              \
  X(ln1w,     1, "h.%d.ln_1.weight",         1, C,      1,      0)              \
  X(ln1b,     1, "h.%d.ln_1.bias",           1, C,      1,      0)              \
  X(qkvw,     1, "h.%d.attn.c_attn.weight",  2, C,      3 * C,  1)              \
  X(qkvb,     1, "h.%d.attn.c_attn.bias",    1, 3 * C,  1,      0)              \
  X(attprojw, 1, "h.%d.attn.c_proj.weight",  2, C,      C,      1)              \
  X(attprojb, 1, "h.%d.attn.c_proj.bias",    1, C,      1,      0)              \
  X(ln2w,     1, "h.%d.ln_2.weight",         1, C,      1,      0)              \
  X(ln2b,     1, "h.%d.ln_2.bias",           1, C,      1,      0)              \
  X(fcw,      1, "h.%d.mlp.c_fc.weight",     2, C,      4 * C,  1)              \
  X(fcb,      1, "h.%d.mlp.c_fc.bias",       1, 4 * C,  1,      0)              \
  X(fcprojw,  1, "h.%d.mlp.c_proj.weight",   2, 4 * C,  C,      1)              \
  X(fcprojb,  1, "h.%d.mlp.c_proj.bias",     1, C,      1,      0)              \
  X(lnfw,     0, "ln_f.weight",              1, C,      1,      0)              \
  X(lnfb,     0, "ln_f.bias",                1, C,      1,      0)

// The scalar head is listed apart because it exists only when cfg.scalar: "score.weight" (1,C).

typedef struct {
#define AL_X_FIELD(f, pl, name, nd, d0, d1, dec) float *f;
  AL_GPT_PARAMS(AL_X_FIELD, 0, 0, 0)
#undef AL_X_FIELD
  float *score; // (C) or NULL
} al_gpt_params;

// Activations of the last forward pass, for (B,T) <= (actB, actT). Layer arrays are (L, B, T, ...)
// packed for the (B,T) of that forward: layer l of ln1 starts at ln1 + l*B*T*C (att at
// l*B*NH*T*T); each array has room for (actB, actT).
typedef struct {
  float *encoded;  // (B,T,C)
  float *ln1;      // (L,B,T,C)
  float *ln1_mean, *ln1_rstd; // (L,B,T)
  float *qkv;      // (L,B,T,3C)
  float *atty;     // (L,B,T,C)
  float *att;      // (L,B,NH,T,T)
  float *attproj;  // (L,B,T,C)
  float *resid2;   // (L,B,T,C)
  float *ln2;      // (L,B,T,C)
  float *ln2_mean, *ln2_rstd; // (L,B,T)
  float *fch;      // (L,B,T,4C)
  float *fch_gelu; // (L,B,T,4C)
  float *fcproj;   // (L,B,T,C)
  float *resid3;   // (L,B,T,C)
  float *lnf;      // (B,T,C)
  float *lnf_mean, *lnf_rstd; // (B,T)
  float *logits;   // (B,T,V) (lm only)
  float *probs;    // (B,T,V) (lm only), filled by al_gpt_logprobs
  float *values;   // (B,T) (always allocated; written when scalar)
  float *logp;     // (B,T) scratch of al_gpt_sequence_logprob
} al_gpt_acts;

typedef struct al_gpt {
  al_gpt_config cfg;
  size_t nparams;            // number of floats in the slab
  float *params;             // the slab
  float *grads;              // same layout, allocated on first backward (NULL before)
  al_gpt_params p, g;        // views into params and grads
  int frozen;                // 1: backward and optimizer steps are refused (reference models)
  // activations and their gradients, sized for actB x actT
  int actB, actT;
  float *acts_mem, *dacts_mem;
  al_gpt_acts a;
  int *tokens;               // (actB, actT) copy of the last forward's input
  int *targets;              // (actB, actT) last al_gpt_logprobs targets
  int B, T;                  // shape of the last forward (0 before the first)
  int have_logprobs;         // al_gpt_logprobs ran after the last forward
} al_gpt;

// Check a configuration: positive dims, C % NH == 0, V >= 2, maxT >= 1, reasonable caps.
// Sets the error message naming the bad field.
al_status al_gpt_config_check(const al_gpt_config *cfg);
// A default config (lm head, ln_eps 1e-5) with the given dimensions.
al_gpt_config al_gpt_config_make(int V, int maxT, int C, int L, int NH);

// Create a model with GPT-2's initialisation: weights (wte, wpe, c_attn, c_fc) N(0, 0.02), the two
// residual projections (attn.c_proj, mlp.c_proj) N(0, 0.02/sqrt(2L)), biases 0, LN weight 1 bias 0,
// drawn in slab order (weights only) from al_rng (seed, stream 0); score N(0, 0.02) from
// (seed, stream 1), so the trunk does not depend on cfg.scalar. The caller owns *out (al_gpt_free).
// Errors: those of al_gpt_config_check, AL_ENOMEM.
al_status al_gpt_new(al_gpt **out, const al_gpt_config *cfg, uint64_t seed);
// Deep copy of parameters and config (not gradients or activations; not frozen).
al_status al_gpt_clone(al_gpt **out, const al_gpt *src);
void al_gpt_free(al_gpt *m);
// Add (or drop, scalar=0) the scalar head: the slab (and the grads slab, if any) is reallocated
// with score last; adding draws score N(0, 0.02) from (seed, stream 1), exactly as al_gpt_new
// would. Invalidates the last forward and any optimizer made for the old size. No-op when the
// head is already as asked. Errors: AL_EINVAL (dropping the only head of an lm = 0 model), AL_ENOMEM.
al_status al_gpt_set_scalar_head(al_gpt *m, int scalar, uint64_t seed);

// Switch the LM head's logits on (lm=1) or off (lm=0, e.g. a reward model): parameters are kept
// (wte stays, it is the token embedding); activations are dropped and regrown at the next forward.
// Errors: AL_EINVAL (lm not 0/1, or lm=0 on a model without the scalar head).
al_status al_gpt_set_lm(al_gpt *m, int lm);

// ---- parameter tensors by name (checkpoints, Lua's m:params()) ----
// Number of named tensors (per-layer tensors count once per layer, plus score if present).
int al_gpt_ntensors(const al_gpt *m);
typedef struct {
  char name[64];   // Hugging Face name, e.g. "h.0.attn.c_attn.weight"
  int ndim;        // 1 or 2
  int shape[2];
  size_t offset;   // offset in floats into the params (and grads) slab
  size_t size;     // number of floats
  int decay;       // AdamW weight decay applies (the 2-D tensors, score.weight included)
} al_gpt_tensor;
// Order: wte, wpe, h.0.ln_1.weight, h.0.ln_1.bias, h.0.attn.c_attn.weight, .bias, h.0.attn.c_proj.*,
// h.0.ln_2.*, h.0.mlp.c_fc.*, h.0.mlp.c_proj.*, h.1..., ln_f.weight, ln_f.bias, score.weight.
// 1-D tensors have shape {d0, 1}. Offsets are valid for both params and grads.
// Fill *t for tensor i in [0, al_gpt_ntensors). Returns AL_EINVAL for i out of range.
al_status al_gpt_tensor_info(const al_gpt *m, int i, al_gpt_tensor *t);

// ---- forward / backward ----
// Run the model on tokens (B,T), ids in [0,V), T <= maxT. Computes logits (lm) and values
// (scalar) into m->a. Grows activations when (B,T) exceeds what was allocated.
// Errors: AL_ESHAPE (T > maxT, B < 1), AL_EINVAL (token out of range, names b,t), AL_ENOMEM.
al_status al_gpt_forward(al_gpt *m, const int *tokens, int B, int T);
// After forward: logp (B,T) = log p(targets[b,t] | tokens[b,0..t]); targets < 0 give 0.
// Keeps probs for backward. Usually targets[b,t] = tokens[b,t+1] for the scored part.
al_status al_gpt_logprobs(al_gpt *m, const int *targets, float *logp);
// After logprobs: per-position entropy (B,T) of the next-token distribution.
al_status al_gpt_entropy(al_gpt *m, float *ent);
// Zero the gradient slab (allocating it on first use).
al_status al_gpt_zero_grad(al_gpt *m);
// Backpropagate d(loss)/d(logp) (B,T) (may be NULL; needs al_gpt_logprobs first) and
// d(loss)/d(values) (B,T) (may be NULL; scalar head only) from the last forward; ACCUMULATES
// into m->grads (allocated zeroed on first use). Both NULL: nothing to do. May be called several
// times after one forward (each call accumulates again). AL_EINVAL when the model is frozen or
// the needed forward state is missing; AL_ENOMEM when the backward scratch cannot be allocated.
al_status al_gpt_backward(al_gpt *m, const float *dlogp, const float *dvalues);

// Sum of log-probs of completion tokens for each of B sequences, in one batched forward:
// tokens (B,T) right padded, seq b has prompt_len[b] prompt tokens then completion up to len[b].
// out[b] = sum_{t = prompt_len[b]}^{len[b]-1} log p(tokens[b,t] | tokens[b,<t]).
// Needs 1 <= prompt_len[b] <= len[b] <= T (AL_EINVAL otherwise). Leaves the model as after
// al_gpt_logprobs with those targets (position t scores token t+1 when it is a completion token),
// so al_gpt_backward(m, dlogp, ...) with dlogp[b*T+t] = d loss / d out[b] at those positions works.
al_status al_gpt_sequence_logprob(al_gpt *m, const int *tokens, const int *prompt_len,
                                  const int *len, int B, int T, float *out);

#endif
