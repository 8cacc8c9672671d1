// alignlab bench: training-step time of the GPT-2 model (forward + log-probs + masked NLL + backward
// + AdamW with clipping) for the tiny and small configs, against cblas_sgemm's peak on this
// machine. Prints a table: per-step medians over 20 steps after 3 warm-up steps, the split into
// forward / backward / optimizer, tokens per second, and achieved GFLOP/s of the model
// (6 x matmul parameters x tokens + 12 L C T^2 B for attention, the nanoGPT/PaLM estimate) beside
// the sgemm peak (512^3). Threads come from the environment (OPENBLAS_NUM_THREADS / OMP_NUM_THREADS).
// cpu_ms is the process CPU time per step (all threads), robust to other load on the machine.
// bench/torch_train.py measures the same model and step in PyTorch and prints the same columns.
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "al_gpt.h"
#include "al_ops.h"
#include "al_optim.h"

#define WARMUP 3
#define STEPS 20

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// CPU time of the whole process (all threads): on a shared machine it is far less disturbed by
// other processes than wall time, so the table prints both.
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *x, int n) {
  qsort(x, (size_t)n, sizeof x[0], cmp);
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

static double sgemm_peak(int n) {
  float *a = al_falloc((size_t)n * n), *b = al_falloc((size_t)n * n), *c = al_falloc((size_t)n * n);
  if (!a || !b || !c) return 0;
  for (size_t i = 0; i < (size_t)n * n; i++) {
    a[i] = (float)(i % 7) * 0.1f;
    b[i] = (float)(i % 5) * 0.1f;
  }
  double t[10];
  for (int k = -2; k < 10; k++) {
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    if (k >= 0) t[k] = now() - t0;
  }
  al_ffree(a);
  al_ffree(b);
  al_ffree(c);
  return 2.0 * n * n * (double)n / median(t, 10) * 1e-9;
}

static int run(const char *name, int V, int T, int C, int NH, int L, int B, double peak) {
  al_gpt_config cfg = al_gpt_config_make(V, T, C, L, NH);
  al_gpt *m = NULL;
  al_adamw *o = NULL;
  int N = B * T, ok = 0;
  int *tok = malloc((size_t)N * sizeof(int)), *tgt = malloc((size_t)N * sizeof(int));
  float *logp = malloc((size_t)N * sizeof(float)), *dlogp = malloc((size_t)N * sizeof(float));
  double tf[STEPS], tb[STEPS], to[STEPS], ts[STEPS], tc[STEPS];
  if (!tok || !tgt || !logp || !dlogp) goto cleanup;
  if (al_gpt_new(&m, &cfg, 1) != AL_OK) goto cleanup;
  al_adamw_config oc = al_adamw_defaults();
  oc.weight_decay = 0.1f;
  if (al_adamw_new(&o, m, &oc) != AL_OK) goto cleanup;
  al_rng r;
  al_rng_seed(&r, 2, 0);
  for (int i = 0; i < N; i++) tok[i] = (int)al_rng_int(&r, (uint64_t)V);
  for (int i = 0; i < N; i++) tgt[i] = (i % T) + 1 < T ? tok[i + 1] : -1;
  float loss = 0;
  for (int k = -WARMUP; k < STEPS; k++) {
    double c0 = cpu_now(), t0 = now();
    if (al_gpt_forward(m, tok, B, T) != AL_OK || al_gpt_logprobs(m, tgt, logp) != AL_OK) goto cleanup;
    loss = al_masked_nll(dlogp, logp, NULL, N);
    double t1 = now();
    if (al_gpt_zero_grad(m) != AL_OK || al_gpt_backward(m, dlogp, NULL) != AL_OK) goto cleanup;
    double t2 = now();
    if (al_adamw_step(o, m, 1e-4f, NULL) != AL_OK) goto cleanup;
    double t3 = now(), c3 = cpu_now();
    if (k >= 0) {
      tc[k] = c3 - c0;
      tf[k] = t1 - t0;
      tb[k] = t2 - t1;
      to[k] = t3 - t2;
      ts[k] = t3 - t0;
    }
  }
  double step = median(ts, STEPS);
  size_t mm = (size_t)L * 12 * C * C + (size_t)V * C; // matmul weights, lm head included
  double flops = 6.0 * mm * N + 12.0 * L * C * (double)T * T * B;
  printf("%-6s %9zu %6d %9.2f %8.2f %8.2f %8.2f %8.2f %10.0f %8.1f %8.1f %6.0f%%  (loss %.3f)\n",
         name, m->nparams, N, step * 1e3, median(tc, STEPS) * 1e3, median(tf, STEPS) * 1e3,
         median(tb, STEPS) * 1e3,
         median(to, STEPS) * 1e3, N / step, flops / step * 1e-9, peak,
         100.0 * flops / step * 1e-9 / peak, loss);
  ok = 1;
cleanup:
  if (!ok) fprintf(stderr, "bench_train %s: %s\n", name, al_errmsg());
  al_adamw_free(o);
  al_gpt_free(m);
  free(tok);
  free(tgt);
  free(logp);
  free(dlogp);
  return ok ? 0 : 1;
}

int main(void) {
  const char *ob = getenv("OPENBLAS_NUM_THREADS"), *om = getenv("OMP_NUM_THREADS");
  printf("alignlab train step: OPENBLAS_NUM_THREADS=%s OMP_NUM_THREADS=%s (omp max %d)\n",
         ob ? ob : "unset", om ? om : "unset", omp_get_max_threads());
  double peak = sgemm_peak(512);
  printf("%-6s %9s %6s %9s %8s %8s %8s %8s %10s %8s %8s %7s\n", "config", "params", "tok",
         "step_ms", "cpu_ms", "fwd_ms", "bwd_ms", "opt_ms", "tok/s", "GFLOP/s", "peak", "%peak");
  int bad = 0;
  bad |= run("tiny", 256, 64, 128, 4, 2, 32, peak);
  bad |= run("small", 512, 128, 256, 8, 4, 16, peak);
  return bad;
}
