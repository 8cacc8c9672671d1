// alignlab core: causal multi-head self-attention on a fused qkv (al_ops.h), GPT-2 semantics:
// per row of qkv (B,T,3C) the layout is [q (C) | k (C) | v (C)] and head h reads channels
// h*HS .. (h+1)*HS-1 of each part (Hugging Face GPT2Attention's split), scale 1/sqrt(HS).
// Not here: the qkv and output projections (linear layers in ops.c), dropout, KV caching.
//
// Speed: threads take whole (b,h) heads (static schedule), so results do not depend on the
// thread count. Within a head, every inner loop runs over a contiguous vector the compiler
// vectorises: q.k dot products are computed as rank-4 updates of a score row against a tile of
// keys transposed into a small stack buffer (4096 floats), and the products with V and the
// backward updates are axpys over the HS channels. No reduction is split across threads or lanes
// except through the fixed 8-lane sums below.
#include "al_ops.h"
#include "ops_impl.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#define TILE_FLOATS 4096 // transposed key tile: (HS, TS) floats on the stack

// ---- weighted sums of rows, with accumulators in registers ----
// y[d] (+)= sum_{i<n} w[i*ws] * x[i*xs + d] for d < HS. Every channel's sum is formed in the
// same order (i = 0, 1, ..., starting from 0) and then added to (or stored in) y, whether the
// channel falls in a block of 32, 16 or 8 kept in vector registers (GCC vector extensions; one
// 8-float vector becomes two SSE registers without AVX, with the same bits) or in the scalar
// tail, so the result does not depend on the blocking.
typedef float v8 __attribute__((vector_size(32)));

// (macros, not functions: passing a 32-byte vector by value warns about the ABI without AVX)
#define MAC8(acc, a, p)      \
  do {                       \
    v8 t_;                   \
    memcpy(&t_, (p), sizeof t_); \
    (acc) += (a) * t_;       \
  } while (0)
#define ST8(p, v, add)             \
  do {                             \
    v8 r_ = (v);                   \
    if (add) {                     \
      v8 y_;                       \
      memcpy(&y_, (p), sizeof y_); \
      r_ += y_;                    \
    }                              \
    memcpy((p), &r_, sizeof r_);   \
  } while (0)

// NB (1, 2 or 4) named accumulators, so that they live in registers once NB is a constant
static inline __attribute__((always_inline)) void wsum_block(float *y, int add, const float *w,
                                                             ptrdiff_t ws, const float *x,
                                                             ptrdiff_t xs, int n, const int NB) {
  v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
  for (int i = 0; i < n; i++) {
    const float a = w[i * ws];
    const float *xi = x + i * xs;
    MAC8(a0, a, xi);
    if (NB > 1) MAC8(a1, a, xi + 8);
    if (NB > 2) {
      MAC8(a2, a, xi + 16);
      MAC8(a3, a, xi + 24);
    }
  }
  ST8(y, a0, add);
  if (NB > 1) ST8(y + 8, a1, add);
  if (NB > 2) {
    ST8(y + 16, a2, add);
    ST8(y + 24, a3, add);
  }
}

static void wsum(float *y, int add, const float *w, ptrdiff_t ws, const float *x, ptrdiff_t xs,
                 int n, int HS) {
  int c = 0;
  for (; c + 32 <= HS; c += 32) wsum_block(y + c, add, w, ws, x + c, xs, n, 4);
  for (; c + 16 <= HS; c += 16) wsum_block(y + c, add, w, ws, x + c, xs, n, 2);
  for (; c + 8 <= HS; c += 8) wsum_block(y + c, add, w, ws, x + c, xs, n, 1);
  for (; c < HS; c++) {
    float acc = 0;
    for (int i = 0; i < n; i++) acc += w[i * ws] * x[i * xs + c];
    y[c] = add ? y[c] + acc : acc;
  }
}

// Causal Gram matrix of one head: S[t][s] = (alpha x_t) . y_s for s <= t, 0 for s > t.
// S (T,T); x_t = x + t*sx, y_s = y + s*sy, each HS long; yt is the (HS, TS) tile buffer.
// For each tile of keys and each query, the score row is updated four channels at a time:
// row[j] = row[j] + a0 y0[j] + a1 y1[j] + a2 y2[j] + a3 y3[j], contiguous in j.
static void causal_gram(float *S, float *yt, const float *x, int sx, const float *y, int sy,
                        int T, int HS, float alpha) {
  int TS = TILE_FLOATS / HS;
  assert(TS >= 1);
  for (int t = 0; t + 1 < T; t++) memset(S + (size_t)t * T + t + 1, 0, (size_t)(T - t - 1) * sizeof(float));
  for (int s0 = 0; s0 < T; s0 += TS) {
    int n = T - s0 < TS ? T - s0 : TS;
    for (int j = 0; j < n; j++) {
      const float *ys = y + (size_t)(s0 + j) * sy;
      for (int d = 0; d < HS; d++) yt[d * n + j] = ys[d];
    }
    for (int t = s0; t < T; t++) {
      float *row = S + (size_t)t * T + s0;
      const float *xt = x + (size_t)t * sx;
      int m = t - s0 + 1 < n ? t - s0 + 1 : n;
      memset(row, 0, (size_t)m * sizeof(float));
      int d = 0;
      for (; d + 4 <= HS; d += 4) {
        float a0 = alpha * xt[d], a1 = alpha * xt[d + 1], a2 = alpha * xt[d + 2],
              a3 = alpha * xt[d + 3];
        const float *y0 = yt + d * n, *y1 = y0 + n, *y2 = y1 + n, *y3 = y2 + n;
#pragma omp simd
        for (int j = 0; j < m; j++) row[j] = row[j] + a0 * y0[j] + a1 * y1[j] + a2 * y2[j] + a3 * y3[j];
      }
      for (; d < HS; d++) {
        float a0 = alpha * xt[d];
        const float *y0 = yt + d * n;
#pragma omp simd
        for (int j = 0; j < m; j++) row[j] += a0 * y0[j];
      }
    }
  }
}

// ---- shapes ----

// The head size HS = C / NH (NH divides C; HS at most TILE_FLOATS) and the score scale
// 1/sqrt(HS), as both kernels check and use them.
static int head_dims(int C, int NH, float *scale) {
  assert(NH > 0 && C % NH == 0);
  const int HS = C / NH;
  assert(HS <= TILE_FLOATS);
  *scale = 1.0f / sqrtf((float)HS);
  return HS;
}

// Offset of head h of batch row b in a (B,T,3C) qkv or dqkv: its q row t is at + t*C3, k at +C,
// v at +2C.
static size_t head_at(int b, int h, int T, int C3, int HS) { return (size_t)b * T * C3 + h * HS; }

void al_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
  assert(out && att && qkv && B >= 0 && T >= 0);
  float scale;
  const int HS = head_dims(C, NH, &scale), C3 = 3 * C;
#pragma omp parallel for schedule(static) if ((size_t)B * NH * T * T * HS >= 65536)
  for (int bh = 0; bh < B * NH; bh++) {
    const int b = bh / NH, h = bh % NH;
    const float *q = qkv + head_at(b, h, T, C3, HS), *k = q + C, *v = q + 2 * C;
    float *A = att + (size_t)bh * T * T;
    float yt[TILE_FLOATS];
    // pre-softmax scores (T,T), causal
    causal_gram(A, yt, q, C3, k, C3, T, HS, scale);
    for (int t = 0; t < T; t++) {
      float *row = A + (size_t)t * T;
      const int L = t + 1;
      // softmax over keys 0..t, max subtracted
      float mx = row[0];
      for (int s = 1; s < L; s++) mx = row[s] > mx ? row[s] : mx;
#pragma omp simd
      for (int s = 0; s < L; s++) row[s] = al_expf(row[s] - mx);
      const float inv = 1.0f / sum8(row, L);
#pragma omp simd
      for (int s = 0; s < L; s++) row[s] *= inv;
      // out_t (HS) = sum_s P[t][s] v_s
      wsum(out + ((size_t)b * T + t) * C + h * HS, 0, row, 1, v, C3, L, HS);
    }
  }
}

// With a = scale q.k, P = softmax(a), o = P v:
//   dP[t][s] = do_t . v_s
//   da[t][s] = P[t][s] (dP[t][s] - sum_s' P[t][s'] dP[t][s'])
//   dq_t += scale sum_s da[t][s] k_s,  dk_s += scale sum_t da[t][s] q_t,  dv_s += sum_t P[t][s] do_t
// datt holds dP, then scale * da (the gradient of the unscaled dot product q.k).
void al_attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv,
                           const float *att, int B, int T, int C, int NH) {
  assert(dqkv && datt && dout && qkv && att && B >= 0 && T >= 0);
  float scale;
  const int HS = head_dims(C, NH, &scale), C3 = 3 * C;
#pragma omp parallel for schedule(static) if ((size_t)B * NH * T * T * HS >= 65536)
  for (int bh = 0; bh < B * NH; bh++) {
    const int b = bh / NH, h = bh % NH;
    const size_t at = head_at(b, h, T, C3, HS);
    const float *q = qkv + at, *k = q + C, *v = q + 2 * C;
    float *dq = dqkv + at, *dk = dq + C, *dv = dq + 2 * C;
    const float *g = dout + (size_t)b * T * C + h * HS; // row t at g + t*C
    const float *P = att + (size_t)bh * T * T;
    float *D = datt + (size_t)bh * T * T;
    float yt[TILE_FLOATS];
    causal_gram(D, yt, g, C, v, C3, T, HS, 1.0f); // dP
    for (int t = 0; t < T; t++) {
      const float *p = P + (size_t)t * T;
      float *da = D + (size_t)t * T;
      const int L = t + 1;
      const float pd = dot8(p, da, L);
#pragma omp simd
      for (int s = 0; s < L; s++) da[s] = scale * (p[s] * (da[s] - pd));
      // dq_t += sum_{s<=t} da[t][s] k_s
      wsum(dq + (size_t)t * C3, 1, da, 1, k, C3, L, HS);
    }
    for (int s = 0; s < T; s++) {
      // dk_s += sum_{t>=s} da[t][s] q_t;  dv_s += sum_{t>=s} P[t][s] do_t  (columns of D and P)
      const size_t st = (size_t)s * T + s;
      wsum(dk + (size_t)s * C3, 1, D + st, T, q + (size_t)s * C3, C3, T - s, HS);
      wsum(dv + (size_t)s * C3, 1, P + st, T, g + (size_t)s * C, C, T - s, HS);
    }
  }
}
