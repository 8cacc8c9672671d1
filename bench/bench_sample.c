// alignlab bench: sampling throughput of al_sample_generate (KV cache, batch 32, 8-token prompts,
// 64 new tokens, temperature 1, no truncation, no eos) for the tiny and small configs. Prints one
// JSON line per config: new tokens per second (wall clock), median over repeats, and the median
// CPU time of the process (all threads; a steadier figure on a busy machine). Threads come from the
// environment (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS). bench/torch_sample.py measures the same
// thing in PyTorch.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "al_gpt.h"
#include "al_sample.h"

static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int run(const char *name, int V, int maxT, int C, int NH, int L, int reps) {
  enum { B = 32, P = 8, NEW = 64 };
  al_gpt_config cfg = al_gpt_config_make(V, maxT, C, L, NH);
  al_gpt *m = NULL;
  al_kvcache *cache = NULL;
  int prompts[B * P], plen[B], out[B * NEW], len[B];
  float lp[B * NEW];
  double t[64], cpu[64];
  if (al_gpt_new(&m, &cfg, 1) != AL_OK) goto fail;
  al_rng r;
  al_rng_seed(&r, 2, 0);
  for (int i = 0; i < B * P; i++) prompts[i] = (int)al_rng_int(&r, (uint64_t)V);
  for (int b = 0; b < B; b++) plen[b] = P;
  al_sample_opts o = al_sample_opts_default();
  o.max_new = NEW;
  for (int k = -1; k < reps; k++) { // k = -1: warm-up (allocates the cache)
    o.seed = (uint64_t)k + 10;
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    if (al_sample_generate(m, &cache, prompts, plen, B, P, &o, out, len, lp, NULL) != AL_OK)
      goto fail;
    if (k >= 0) {
      t[k] = clock_s(CLOCK_MONOTONIC) - t0;
      cpu[k] = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
  }
  qsort(t, (size_t)reps, sizeof t[0], cmp);
  qsort(cpu, (size_t)reps, sizeof cpu[0], cmp);
  double med = t[reps / 2], medcpu = cpu[reps / 2];
  long ntok = 0;
  for (int b = 0; b < B; b++) ntok += len[b];
  printf("{\"bench\": \"sample\", \"impl\": \"alignlab\", \"config\": \"%s\", \"V\": %d, \"C\": %d, "
         "\"NH\": %d, \"L\": %d, \"ctx\": %d, \"B\": %d, \"prompt\": %d, \"new\": %d, "
         "\"threads\": %d, \"median_s\": %.6f, \"tokens_per_s\": %.0f, \"median_cpu_s\": %.6f}\n",
         name, V, C, NH, L, maxT, B, P, NEW, omp_get_max_threads(), med, ntok / med, medcpu);
  al_kvcache_free(cache);
  al_gpt_free(m);
  return 0;
fail:
  fprintf(stderr, "bench_sample %s: %s\n", name, al_errmsg());
  al_kvcache_free(cache);
  al_gpt_free(m);
  return 1;
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 11;
  if (reps < 1 || reps > 64) reps = 11;
  int rc = run("tiny", 256, 128, 128, 4, 2, reps);
  rc |= run("small", 512, 128, 256, 8, 4, reps);
  return rc;
}
