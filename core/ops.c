// alignlab core: the dense kernels of a GPT-2 block (al_ops.h): embeddings, linear layers and the
// tied LM head through cblas_sgemm (with naive `_ref` twins), LayerNorm, GELU, residual, and the
// scalar head. Attention lives in ops_attention.c, softmax/log-prob/loss in ops_loss.c.
// Not here: allocation (kernels never allocate), error reporting (shapes are asserted).
//
// Determinism: every output element is computed by a fixed sequence of float operations, whatever
// the number of OpenMP threads: threads split independent rows (or independent columns of a
// parameter gradient), never a reduction; products are cut into blocks of rows on the sgemm
// kernel's tile edges (see gemm below). Row sums use 8 fixed lanes (sum8/dot8), which gives the
// same bits whether or not the compiler vectorises them. Inner loops carry `#pragma omp simd` so
// that GCC's -O2 cost model still vectorises loops of unknown length (no reductions are marked,
// so no reassociation happens).
#include "al_ops.h"
#include "ops_impl.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <string.h>

// below this many floats of work a parallel region costs more than it saves
#define PAR_MIN 32768

// ---- matrix products: one thread pool ----
// OpenBLAS (Debian's 0.3.21, pthreads build) has its own worker threads, separate from OpenMP's.
// Each pool's idle workers busy-wait for a while before sleeping (libgomp spins by default,
// OpenBLAS loops on sched_yield), so with two threads on two cores a product handed to
// OpenBLAS's worker right after an OpenMP region (attention, LayerNorm, GELU) finds that core
// taken by OpenMP's spinning worker, and vice versa: at two threads a sampling step ran 3-5x and
// a training step 1.1-1.3x slower than at one. So products never use OpenBLAS's threads: a
// product runs on an OpenMP team as large as the larger of the two thread counts (OpenMP's and
// OPENBLAS_NUM_THREADS), with OpenBLAS held at one thread for the call (its thread count is a
// global; setting it costs ~10 ns), and one pool serves every parallel loop. A product of at
// least GEMM_SPLIT_MIN multiply-adds is cut into one block of output rows per thread, each an
// ordinary single-threaded cblas_sgemm; smaller ones run whole on the calling thread.
// The cuts fall on multiples of GEMM_ROW_TILE rows: OpenBLAS's sgemm kernel for this machine
// (Haswell/Zen) works on tiles of 12 rows of a row-major C, and an element's sum depends on the
// tile it falls in, so with cuts on tile edges every element gets the same bits as in one call:
// on this kernel results do not depend on the thread count (cutting columns, or rows elsewhere,
// changes the last bits of some elements; so does OpenBLAS's own threading). On a CPU where
// OpenBLAS picks a kernel with other tiles, a given thread count still repeats its bits, but
// two threads may differ from one in the last bits (tests/core/test_ops_threads.c checks both). At one thread of each kind the
// call is a plain cblas_sgemm, as before. Core is not called from several host threads at once;
// inside an OpenMP region a product is not cut again.
#define GEMM_SPLIT_MIN 262144.0 // M*N*K; also OpenBLAS's own threshold for threading a product
#define GEMM_ROW_TILE 12

// first row of block `part` of nt: the nearest multiple of GEMM_ROW_TILE to part * M / nt
static int gemm_cut(int M, int part, int nt) {
  if (part >= nt) return M;
  long r = ((long)part * M / nt + GEMM_ROW_TILE / 2) / GEMM_ROW_TILE * GEMM_ROW_TILE;
  return r < M ? (int)r : M;
}

// C (M,N) = op(A) op(B) + beta C, row-major
static void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  int nb = openblas_get_num_threads(), nt = omp_get_max_threads();
  if (nb > nt) nt = nb;
  if (nt <= 1 || omp_in_parallel()) {
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (nb > 1) openblas_set_num_threads(1);
  if ((double)M * N * K < GEMM_SPLIT_MIN || gemm_cut(M, 1, nt) == 0) {
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
  } else {
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int part = 0; part < nt; part++) {
      int i0 = gemm_cut(M, part, nt), i1 = gemm_cut(M, part + 1, nt);
      if (i1 <= i0) continue;
      const float *Ap = ta == CblasNoTrans ? A + (size_t)i0 * lda : A + i0;
      cblas_sgemm(CblasRowMajor, ta, tb, i1 - i0, N, K, 1.0f, Ap, lda, B, ldb, beta,
                  C + (size_t)i0 * ldc, ldc);
    }
  }
  if (nb > 1) openblas_set_num_threads(nb);
}

// ---- fixed-order reductions (sum8, dot8 in ops_impl.h) ----

// sum of (x[i] - m)^2
static inline float sqdev8(const float *x, float m, int n) {
  float acc[8] = {0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) {
      float d = x[i + j] - m;
      acc[j] += d * d;
    }
  for (int j = 0; i < n; i++, j++) {
    float d = x[i] - m;
    acc[j] += d * d;
  }
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

// ---- token + position embedding ----

void al_encoder_forward(float *out, const int *inp, const float *wte, const float *wpe,
                        int B, int T, int C) {
  assert(out && inp && wte && wpe && B >= 0 && T >= 0 && C > 0);
  int N = B * T;
  // out (N,C): one row per token
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
  for (int n = 0; n < N; n++) {
    int t = n % T;
    assert(inp[n] >= 0);
    const float *e = wte + (size_t)inp[n] * C;
    const float *p = wpe + (size_t)t * C;
    float *o = out + (size_t)n * C;
#pragma omp simd
    for (int i = 0; i < C; i++) o[i] = e[i] + p[i];
  }
}

void al_encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp,
                         int B, int T, int C) {
  assert(dout && inp && B >= 0 && T >= 0 && C > 0);
  // rows of dwte can repeat (same token twice), so this stays serial, in (b,t) order
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      const float *g = dout + ((size_t)b * T + t) * C;
      if (dwte) {
        float *e = dwte + (size_t)inp[b * T + t] * C;
#pragma omp simd
        for (int i = 0; i < C; i++) e[i] += g[i];
      }
      if (dwpe) {
        float *p = dwpe + (size_t)t * C;
#pragma omp simd
        for (int i = 0; i < C; i++) p[i] += g[i];
      }
    }
}

// ---- linear ----

void al_linear_forward(float *out, const float *inp, const float *w, const float *bias,
                       int N, int IC, int OC) {
  assert(out && inp && w && N >= 0 && IC >= 0 && OC >= 0);
  if (N == 0 || OC == 0) return;
  // out (N,OC) = bias broadcast, then += inp (N,IC) @ w (IC,OC)
  for (int n = 0; n < N; n++) {
    float *o = out + (size_t)n * OC;
    if (bias)
      memcpy(o, bias, (size_t)OC * sizeof(float));
    else
      memset(o, 0, (size_t)OC * sizeof(float));
  }
  if (IC == 0) return;
  gemm(CblasNoTrans, CblasNoTrans, N, OC, IC, inp, IC, w, OC, 1.0f, out, OC);
}

void al_linear_forward_ref(float *out, const float *inp, const float *w, const float *bias,
                           int N, int IC, int OC) {
  for (int n = 0; n < N; n++)
    for (int o = 0; o < OC; o++) {
      double s = bias ? bias[o] : 0.0;
      for (int i = 0; i < IC; i++) s += (double)inp[(size_t)n * IC + i] * w[(size_t)i * OC + o];
      out[(size_t)n * OC + o] = (float)s;
    }
}

void al_linear_backward(float *dinp, float *dw, float *dbias, const float *dout,
                        const float *inp, const float *w, int N, int IC, int OC) {
  assert(dout && N >= 0 && IC >= 0 && OC >= 0);
  if (N == 0 || OC == 0) return;
  if (dinp && IC > 0) // dinp (N,IC) += dout (N,OC) @ w^T
    gemm(CblasNoTrans, CblasTrans, N, IC, OC, dout, OC, w, OC, 1.0f, dinp, IC);
  if (dw && IC > 0) // dw (IC,OC) += inp^T @ dout
    gemm(CblasTrans, CblasNoTrans, IC, OC, N, inp, IC, dout, OC, 1.0f, dw, OC);
  if (dbias) // dbias (OC) += column sums of dout, rows in order
    for (int n = 0; n < N; n++) {
      const float *g = dout + (size_t)n * OC;
#pragma omp simd
      for (int o = 0; o < OC; o++) dbias[o] += g[o];
    }
}

void al_linear_backward_ref(float *dinp, float *dw, float *dbias, const float *dout,
                            const float *inp, const float *w, int N, int IC, int OC) {
  if (dinp)
    for (int n = 0; n < N; n++)
      for (int i = 0; i < IC; i++) {
        double s = 0;
        for (int o = 0; o < OC; o++) s += (double)dout[(size_t)n * OC + o] * w[(size_t)i * OC + o];
        dinp[(size_t)n * IC + i] += (float)s;
      }
  if (dw)
    for (int i = 0; i < IC; i++)
      for (int o = 0; o < OC; o++) {
        double s = 0;
        for (int n = 0; n < N; n++) s += (double)inp[(size_t)n * IC + i] * dout[(size_t)n * OC + o];
        dw[(size_t)i * OC + o] += (float)s;
      }
  if (dbias)
    for (int o = 0; o < OC; o++) {
      double s = 0;
      for (int n = 0; n < N; n++) s += dout[(size_t)n * OC + o];
      dbias[o] += (float)s;
    }
}

// ---- tied LM head ----

void al_lmhead_forward(float *logits, const float *inp, const float *wte, int N, int C, int V) {
  assert(logits && inp && wte && N >= 0 && C > 0 && V >= 0);
  if (N == 0 || V == 0) return;
  // logits (N,V) = inp (N,C) @ wte^T
  gemm(CblasNoTrans, CblasTrans, N, V, C, inp, C, wte, C, 0.0f, logits, V);
}

void al_lmhead_forward_ref(float *logits, const float *inp, const float *wte, int N, int C, int V) {
  for (int n = 0; n < N; n++)
    for (int v = 0; v < V; v++) {
      double s = 0;
      for (int i = 0; i < C; i++) s += (double)inp[(size_t)n * C + i] * wte[(size_t)v * C + i];
      logits[(size_t)n * V + v] = (float)s;
    }
}

void al_lmhead_backward(float *dinp, float *dwte, const float *dlogits, const float *inp,
                        const float *wte, int N, int C, int V) {
  assert(dlogits && N >= 0 && C > 0 && V >= 0);
  if (N == 0 || V == 0) return;
  if (dinp) // dinp (N,C) += dlogits (N,V) @ wte (V,C)
    gemm(CblasNoTrans, CblasNoTrans, N, C, V, dlogits, V, wte, C, 1.0f, dinp, C);
  if (dwte) // dwte (V,C) += dlogits^T @ inp
    gemm(CblasTrans, CblasNoTrans, V, C, N, dlogits, V, inp, C, 1.0f, dwte, C);
}

void al_lmhead_backward_ref(float *dinp, float *dwte, const float *dlogits, const float *inp,
                            const float *wte, int N, int C, int V) {
  if (dinp)
    for (int n = 0; n < N; n++)
      for (int i = 0; i < C; i++) {
        double s = 0;
        for (int v = 0; v < V; v++) s += (double)dlogits[(size_t)n * V + v] * wte[(size_t)v * C + i];
        dinp[(size_t)n * C + i] += (float)s;
      }
  if (dwte)
    for (int v = 0; v < V; v++)
      for (int i = 0; i < C; i++) {
        double s = 0;
        for (int n = 0; n < N; n++) s += (double)dlogits[(size_t)n * V + v] * inp[(size_t)n * C + i];
        dwte[(size_t)v * C + i] += (float)s;
      }
}

// ---- LayerNorm ----
// y = (x - mean) * rstd * w + b, mean and biased variance over the C channels of a row,
// rstd = 1/sqrt(var + eps) (GPT-2 / torch.nn.LayerNorm convention).

void al_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *w, const float *b, int N, int C, float eps) {
  assert(out && mean && rstd && inp && w && b && N >= 0 && C > 0);
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
  for (int n = 0; n < N; n++) {
    const float *x = inp + (size_t)n * C;
    float *y = out + (size_t)n * C;
    float m = sum8(x, C) / (float)C;
    float var = sqdev8(x, m, C) / (float)C; // two passes: no cancellation
    float s = 1.0f / sqrtf(var + eps);
#pragma omp simd
    for (int i = 0; i < C; i++) y[i] = (x[i] - m) * s * w[i] + b[i];
    mean[n] = m;
    rstd[n] = s;
  }
}

// dinp = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dout * w, xhat = (x - mean) * rstd
// dw += sum_rows dout * xhat, db += sum_rows dout
void al_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                           const float *inp, const float *w, const float *mean,
                           const float *rstd, int N, int C) {
  assert(dout && inp && w && mean && rstd && N >= 0 && C > 0);
  int par = (size_t)N * C >= PAR_MIN;
  if (dinp) {
#pragma omp parallel for schedule(static) if (par)
    for (int n = 0; n < N; n++) {
      const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
      float *dx = dinp + (size_t)n * C;
      float m = mean[n], s = rstd[n];
      // the two row means, in 8 fixed lanes
      float a1[8] = {0}, a2[8] = {0};
      int i = 0;
      for (; i + 8 <= C; i += 8)
        for (int j = 0; j < 8; j++) {
          float gw = g[i + j] * w[i + j];
          a1[j] += gw;
          a2[j] += gw * ((x[i + j] - m) * s);
        }
      for (int j = 0; i < C; i++, j++) {
        float gw = g[i] * w[i];
        a1[j] += gw;
        a2[j] += gw * ((x[i] - m) * s);
      }
      float mg = (((a1[0] + a1[4]) + (a1[1] + a1[5])) + ((a1[2] + a1[6]) + (a1[3] + a1[7]))) / C;
      float mgx = (((a2[0] + a2[4]) + (a2[1] + a2[5])) + ((a2[2] + a2[6]) + (a2[3] + a2[7]))) / C;
#pragma omp simd
      for (int k = 0; k < C; k++) {
        float xhat = (x[k] - m) * s;
        dx[k] += s * (g[k] * w[k] - mg - xhat * mgx);
      }
    }
  }
  if (dw || db) {
    // parameter gradients: threads split the channels; each channel sums rows 0..N-1 in order
    enum { CB = 64 };
    int nblk = (C + CB - 1) / CB;
#pragma omp parallel for schedule(static) if (par && nblk > 1)
    for (int blk = 0; blk < nblk; blk++) {
      int c0 = blk * CB, c1 = c0 + CB < C ? c0 + CB : C;
      for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
        float m = mean[n], s = rstd[n];
        if (dw) {
#pragma omp simd
          for (int k = c0; k < c1; k++) dw[k] += g[k] * ((x[k] - m) * s);
        }
        if (db) {
#pragma omp simd
          for (int k = c0; k < c1; k++) db[k] += g[k];
        }
      }
    }
  }
}

// ---- GELU, tanh approximation ("gelu_new") ----
// gelu(x) = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3).
// Computed as x * sigmoid(2u), an exact identity (0.5 (1 + tanh u) = 1 / (1 + exp(-2u))) that
// has no cancellation for negative x and vectorises through al_expf.
// d gelu/dx = sg + 2 x sg (1 - sg) u',  sg = sigmoid(2u),  u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)

#define GELU_K 0.7978845608028654f // sqrt(2/pi)
#define GELU_A 0.044715f

void al_gelu_forward(float *out, const float *inp, int N) {
  assert(out && inp && N >= 0);
#pragma omp parallel for simd schedule(static) if (N >= PAR_MIN)
  for (int i = 0; i < N; i++) {
    float x = inp[i];
    float u = GELU_K * (x + GELU_A * x * x * x);
    out[i] = x / (1.0f + al_expf(-2.0f * u));
  }
}

void al_gelu_backward(float *dinp, const float *dout, const float *inp, int N) {
  assert(dinp && dout && inp && N >= 0);
#pragma omp parallel for simd schedule(static) if (N >= PAR_MIN)
  for (int i = 0; i < N; i++) {
    float x = inp[i];
    float u = GELU_K * (x + GELU_A * x * x * x);
    float sg = 1.0f / (1.0f + al_expf(-2.0f * u));
    float du = GELU_K * (1.0f + 3.0f * GELU_A * x * x);
    dinp[i] += dout[i] * (sg + 2.0f * x * sg * (1.0f - sg) * du);
  }
}

// ---- residual ----

void al_residual_forward(float *out, const float *a, const float *b, int N) {
  assert(out && a && b && N >= 0);
#pragma omp simd
  for (int i = 0; i < N; i++) out[i] = a[i] + b[i];
}

void al_residual_backward(float *da, float *db, const float *dout, int N) {
  assert(dout && N >= 0);
  if (da) {
#pragma omp simd
    for (int i = 0; i < N; i++) da[i] += dout[i];
  }
  if (db) {
#pragma omp simd
    for (int i = 0; i < N; i++) db[i] += dout[i];
  }
}

// ---- scalar head ----

void al_scalar_forward(float *values, const float *inp, const float *w, int N, int C) {
  assert(values && inp && w && N >= 0 && C > 0);
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
  for (int n = 0; n < N; n++) values[n] = dot8(inp + (size_t)n * C, w, C);
}

void al_scalar_backward(float *dinp, float *dw, const float *dvalues, const float *inp,
                        const float *w, int N, int C) {
  assert(dvalues && N >= 0 && C > 0);
  for (int n = 0; n < N; n++) {
    float g = dvalues[n];
    if (dinp) {
      float *dx = dinp + (size_t)n * C;
#pragma omp simd
      for (int i = 0; i < C; i++) dx[i] += g * w[i];
    }
    if (dw) {
      const float *x = inp + (size_t)n * C;
#pragma omp simd
      for (int i = 0; i < C; i++) dw[i] += g * x[i];
    }
  }
}
