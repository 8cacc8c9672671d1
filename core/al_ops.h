// alignlab core: the numerical kernels of a GPT-2 block, each a forward/backward pair on raw
// float arrays (llm.c style). Kernels never allocate and never fail: shapes are the caller's
// contract (checked with assert in debug builds). Backward functions ACCUMULATE (+=) into every
// gradient they write; the caller zeroes. A gradient pointer may be NULL when not needed.
// Argument order: written, cached, inputs, weights, dimensions, scalar settings.
// Dimensions: B batch, T time, C channels, V vocabulary, NH heads, HS = C/NH, N = B*T rows.
// Matrix products go through cblas_sgemm; each such kernel has a naive `_ref` twin for tests.
// Weights of linear layers are stored in-by-out (Hugging Face Conv1D layout): w is (IC, OC).
#ifndef AL_OPS_H
#define AL_OPS_H

#include <stdint.h>

// ---- token + position embedding ----
// out (B,T,C) = wte[inp[b,t]] + wpe[t];  inp (B,T) token ids in [0,V); wte (V,C); wpe (maxT,C)
void al_encoder_forward(float *out, const int *inp, const float *wte, const float *wpe,
                        int B, int T, int C);
// dwte (V,C) and dwpe (maxT,C) += from dout (B,T,C)
void al_encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp,
                         int B, int T, int C);

// ---- linear: out (N,OC) = inp (N,IC) @ w (IC,OC) + bias (OC) (bias may be NULL) ----
void al_linear_forward(float *out, const float *inp, const float *w, const float *bias,
                       int N, int IC, int OC);
void al_linear_forward_ref(float *out, const float *inp, const float *w, const float *bias,
                           int N, int IC, int OC);
// dinp (N,IC), dw (IC,OC), dbias (OC) += ; any of them may be NULL
void al_linear_backward(float *dinp, float *dw, float *dbias, const float *dout,
                        const float *inp, const float *w, int N, int IC, int OC);
void al_linear_backward_ref(float *dinp, float *dw, float *dbias, const float *dout,
                            const float *inp, const float *w, int N, int IC, int OC);

// ---- tied LM head: logits (N,V) = inp (N,C) @ wte^T, wte (V,C) ----
void al_lmhead_forward(float *logits, const float *inp, const float *wte, int N, int C, int V);
void al_lmhead_forward_ref(float *logits, const float *inp, const float *wte, int N, int C, int V);
// dinp (N,C), dwte (V,C) +=
void al_lmhead_backward(float *dinp, float *dwte, const float *dlogits, const float *inp,
                        const float *wte, int N, int C, int V);
void al_lmhead_backward_ref(float *dinp, float *dwte, const float *dlogits, const float *inp,
                            const float *wte, int N, int C, int V);

// ---- LayerNorm over the last dimension (eps given; GPT-2 uses 1e-5) ----
// out (N,C) written; mean (N), rstd (N) written and kept for backward
void al_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *w, const float *b, int N, int C, float eps);
void al_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                           const float *inp, const float *w, const float *mean,
                           const float *rstd, int N, int C);

// ---- tanh-approximated GELU ("gelu_new") ----
void al_gelu_forward(float *out, const float *inp, int N);
void al_gelu_backward(float *dinp, const float *dout, const float *inp, int N);

// ---- residual: out = a + b ----
void al_residual_forward(float *out, const float *a, const float *b, int N);
void al_residual_backward(float *da, float *db, const float *dout, int N);

// ---- causal multi-head self-attention on a fused qkv (B,T,3C) = [q | k | v] ----
// out (B,T,C) written; att (B,NH,T,T) written: softmax probabilities (row t uses keys <= t,
// entries above the diagonal are 0), kept for backward. Scale 1/sqrt(HS).
void al_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH);
// dqkv (B,T,3C) +=; datt (B,NH,T,T) is scratch the kernel overwrites
void al_attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv,
                           const float *att, int B, int T, int C, int NH);

// ---- softmax + log-prob of targets ----
// probs (N,V) written = softmax(logits); logp (N) written = log probs[target] (0 where target < 0),
// computed as (x - max) - log sum exp(x - max). logp and targets may be NULL: softmax only.
void al_logprob_forward(float *logp, float *probs, const float *logits, const int *targets,
                        int N, int V);
// dlogits (N,V) += dlogp[n] * (onehot(target) - probs); rows with target < 0 are skipped
void al_logprob_backward(float *dlogits, const float *dlogp, const float *probs,
                         const int *targets, int N, int V);
// entropy (N) written from probs (N,V), in nats
void al_entropy_forward(float *ent, const float *probs, int N, int V);
// softmax cross-entropy with a loss mask, the pretraining/SFT loss:
// returns sum_n mask[n] * (-logp[n]) / sum_n mask[n] (0 when the mask is all zero; mask NULL = 1)
// and writes dlogp (N) = -mask[n] / sum(mask) so that al_logprob_backward gives its gradient.
float al_masked_nll(float *dlogp, const float *logp, const float *mask, int N);

// ---- scalar head: values (B,T) = inp (B,T,C) . w (C), no bias ----
// A reward model reads values[b, lengths[b]-1] (the last non-pad token); a value model reads
// every position. al_last_index gives that rule in one place.
void al_scalar_forward(float *values, const float *inp, const float *w, int N, int C);
void al_scalar_backward(float *dinp, float *dw, const float *dvalues, const float *inp,
                        const float *w, int N, int C);
// index into (B,T) of the last non-pad token of sequence b: b*T + lengths[b]-1
static inline int al_last_index(int b, int T, int length) { return b * T + length - 1; }

// ---- vectorisable exp ----
// exp(x) in float, relative error about 1e-7 (max 1.02e-7 measured on [-87, 88]; ~1 ulp), in
// plain arithmetic so that loops calling it under `#pragma omp simd` vectorise (libm's expf
// does not without -ffast-math). exp(-inf) and anything below about -87.68 give 0; x above
// 88.3 gives exp(88.3) (finite); NaN gives NaN. Range reduction x = n ln2 + r (Cody-Waite, two
// constants), |r| <= ln2/2, degree-7 Taylor polynomial for exp(r), 2^n built in the exponent
// bits. All clamping is done on integer keys of the bit pattern: float comparisons may trap, and
// GCC (without -fno-trapping-math) refuses to vectorise loops that select on them.
static inline float al_expf(float x) {
  union { float f; int32_t i; } u = {x};
  const int32_t nan = -(int32_t)((u.i & 0x7fffffff) > 0x7f800000); // all ones for NaN
  int32_t key = u.i ^ ((u.i >> 31) & 0x7fffffff); // integer order of key == float order of x
  key = key < -1118830593 ? -1118830593 : key;    // key(-88.0f)
  key = key > 1118869914 ? 1118869914 : key;      // key(88.3f)
  u.i = key ^ ((key >> 31) & 0x7fffffff);
  const float xc = u.f;
  // round to nearest with the 1.5*2^23 trick (valid for |v| < 2^22; vectorises without SSE4.1)
  const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f; // in [-127, 127]
  float r = xc - n * 0.693145751953125f; // ln2 high part: exact product for |n| < 2^9
  r = r - n * 1.42860682030941723e-06f;  // ln2 low part
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  union { float f; int32_t i; } sc;
  sc.i = ((int32_t)n + 127) << 23; // n = -127 gives 0.0f: exp underflows to exactly 0
  u.f = p * sc.f;
  u.i = (u.i & ~nan) | (0x7fc00000 & nan);
  return u.f;
}

#endif
