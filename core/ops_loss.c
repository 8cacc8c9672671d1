// alignlab core: softmax, log-probabilities of targets, entropy and the masked next-token NLL
// (al_ops.h). These are the bridge from logits to every objective (SFT, RM, PPO, DPO): the
// objectives write dlogp and al_logprob_backward turns it into dlogits.
// Not here: the objectives themselves (core/obj*.c), the LM head (ops.c).
//
// Numerics: softmax subtracts the row max; log p = (x - max) - log(sum exp(x - max)), never
// log(prob), so tiny probabilities keep full relative accuracy. Rows are independent, so threads
// split rows; row sums use 8 fixed lanes, the same bits whatever the thread count.
#include "al_ops.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>

#define PAR_MIN 32768

static inline float lanes(const float a[8]) {
  return ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
}

void al_logprob_forward(float *logp, float *probs, const float *logits, const int *targets,
                        int N, int V) {
  assert(probs && logits && N >= 0 && V > 0);
#pragma omp parallel for schedule(static) if ((size_t)N * V >= PAR_MIN)
  for (int n = 0; n < N; n++) {
    const float *x = logits + (size_t)n * V;
    float *p = probs + (size_t)n * V;
    float mx = x[0];
    for (int i = 1; i < V; i++) mx = x[i] > mx ? x[i] : mx;
#pragma omp simd
    for (int i = 0; i < V; i++) p[i] = al_expf(x[i] - mx);
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= V; i += 8)
      for (int j = 0; j < 8; j++) acc[j] += p[i + j];
    for (int j = 0; i < V; i++, j++) acc[j] += p[i];
    const float sum = lanes(acc); // >= 1: the max contributes exp(0)
    const float inv = 1.0f / sum;
#pragma omp simd
    for (int k = 0; k < V; k++) p[k] *= inv;
    if (logp) {
      const int tg = targets ? targets[n] : -1;
      assert(tg < V);
      logp[n] = tg >= 0 ? (x[tg] - mx) - logf(sum) : 0.0f;
    }
  }
}

void al_logprob_backward(float *dlogits, const float *dlogp, const float *probs,
                         const int *targets, int N, int V) {
  assert(dlogits && dlogp && probs && targets && N >= 0 && V > 0);
#pragma omp parallel for schedule(static) if ((size_t)N * V >= PAR_MIN)
  for (int n = 0; n < N; n++) {
    const int tg = targets[n];
    if (tg < 0) continue;
    assert(tg < V);
    const float g = dlogp[n];
    const float *p = probs + (size_t)n * V;
    float *dx = dlogits + (size_t)n * V;
#pragma omp simd
    for (int i = 0; i < V; i++) dx[i] -= g * p[i];
    dx[tg] += g;
  }
}

void al_entropy_forward(float *ent, const float *probs, int N, int V) {
  assert(ent && probs && N >= 0 && V > 0);
#pragma omp parallel for schedule(static) if ((size_t)N * V >= PAR_MIN)
  for (int n = 0; n < N; n++) {
    const float *p = probs + (size_t)n * V;
    float acc[8] = {0};
    for (int i = 0; i < V; i++) {
      const float pi = p[i];
      acc[i & 7] += pi > 0.0f ? pi * logf(pi) : 0.0f; // 0 log 0 = 0
    }
    ent[n] = -lanes(acc);
  }
}

float al_masked_nll(float *dlogp, const float *logp, const float *mask, int N) {
  assert(logp && N >= 0);
  double msum = 0, lsum = 0; // sequential, in double: N is small and this is one scalar
  for (int n = 0; n < N; n++) {
    const double m = mask ? mask[n] : 1.0;
    if (m == 0.0) continue; // a masked position never contributes, even if its logp is not finite
    msum += m;
    lsum += m * -(double)logp[n];
  }
  if (msum == 0.0) {
    if (dlogp)
      for (int n = 0; n < N; n++) dlogp[n] = 0.0f;
    return 0.0f;
  }
  if (dlogp)
    for (int n = 0; n < N; n++) dlogp[n] = (float)(-(mask ? mask[n] : 1.0) / msum);
  return (float)(lsum / msum);
}
