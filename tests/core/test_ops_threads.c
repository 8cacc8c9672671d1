// Tests of the thread policy of core/ops*.c at two threads (OpenBLAS and OpenMP), against the
// same kernels at one thread in the same process:
// - the products (linear and LM head, forward and backward) run on an OpenMP team, cut into
//   blocks of rows on the sgemm kernel's tile edges, so at two (or three) threads of either kind
//   they give exactly the one-thread bits, for a sampling step's 32 rows and a training step's
//   512 (OpenBLAS's own threading gives other bits for these shapes, as does a cut off the tile
//   edges: this fails if products go back to OpenBLAS's threads or the cuts move), on the CPUs
//   whose sgemm tiles were measured (Zen, Haswell); elsewhere they agree to float rounding; at
//   any thread count they repeat their bits;
// - the OpenMP kernels (LayerNorm, GELU, attention, log-probs) split rows or heads, never a sum,
//   so two OpenMP threads give the one-thread bits, for sizes on both sides of their thresholds.
// Every kernel leaves OpenBLAS's thread count as it found it. The process starts with
// OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 (ctest) and raises the counts itself; OpenBLAS starts
// its extra thread on demand.
#include <cblas.h>
#include <criterion/criterion.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "al_ops.h"
#include "testutil.h"

// products: out = linear forward, din / dw = linear backward, lm = LM head forward, dh / dwte =
// LM head backward
typedef struct {
  float *out, *din, *dw, *db, *lm, *dh, *dwte;
} prods;

static prods run_products(int N, int IC, int OC, int V, int omp_threads, int blas_threads) {
  omp_set_num_threads(omp_threads);
  openblas_set_num_threads(blas_threads);
  cr_assert_eq(openblas_get_num_threads(), blas_threads);
  float *x = tu_frand((size_t)N * IC, 11, 1), *w = tu_frand((size_t)IC * OC, 12, 0.1f),
        *b = tu_frand(OC, 13, 1), *g = tu_frand((size_t)N * OC, 14, 1),
        *wte = tu_frand((size_t)V * IC, 15, 0.1f), *gl = tu_frand((size_t)N * V, 16, 1);
  prods p = {tu_fnew((size_t)N * OC), tu_frand((size_t)N * IC, 17, 1), tu_frand((size_t)IC * OC, 18, 1),
             tu_fnew(OC), tu_fnew((size_t)N * V), tu_frand((size_t)N * IC, 19, 1),
             tu_frand((size_t)V * IC, 20, 1)};
  al_linear_forward(p.out, x, w, b, N, IC, OC);
  al_linear_backward(p.din, p.dw, p.db, g, x, w, N, IC, OC);
  al_lmhead_forward(p.lm, x, wte, N, IC, V);
  al_lmhead_backward(p.dh, p.dwte, gl, x, wte, N, IC, V);
  cr_assert_eq(openblas_get_num_threads(), blas_threads, "OpenBLAS's thread count was not restored");
  free(x), free(w), free(b), free(g), free(wte), free(gl);
  omp_set_num_threads(1);
  openblas_set_num_threads(1);
  return p;
}

static void prods_free(prods *p) {
  free(p->out), free(p->din), free(p->dw), free(p->db), free(p->lm), free(p->dh), free(p->dwte);
}

static int same(const float *a, const float *b, size_t n) {
  return memcmp(a, b, n * sizeof(float)) == 0;
}

// N rows, IC -> OC linear, LM head over V = 2 IC: a sampling step (32 rows) of the tiny and small
// bench configs, a short batch, and a training step (512 rows)
static const int shapes[][3] = {{32, 128, 384}, {32, 512, 128}, {32, 256, 768}, {32, 1024, 256},
                                {40, 64, 192},  {512, 128, 384}, {512, 256, 1024}};

// The row cuts keep the one-thread bits only where they fall on the sgemm kernel's tile edges:
// measured for the kernel OpenBLAS picks on Zen (shared with Haswell). On another CPU the
// products must still agree to float rounding, and give the same bits run to run.
static int tiles_known(void) {
  const char *core = openblas_get_corename();
  return core && (strcmp(core, "Zen") == 0 || strcmp(core, "Haswell") == 0);
}

static int close_to(const float *a, const float *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float d = a[i] - b[i], s = 1e-5f * (1.0f + (a[i] < 0 ? -a[i] : a[i]));
    if (d > s || d < -s) return 0;
  }
  return 1;
}

static int match(const float *a, const float *b, size_t n) {
  return tiles_known() ? same(a, b, n) : close_to(a, b, n);
}

static void expect_same_products(const prods *a, const prods *b, int N, int IC, int OC, int V,
                                 int omp, int blas) {
  cr_expect(match(a->out, b->out, (size_t)N * OC), "linear forward %dx%dx%d, omp %d blas %d", N, IC, OC, omp, blas);
  cr_expect(match(a->din, b->din, (size_t)N * IC), "linear dinp %dx%dx%d, omp %d blas %d", N, IC, OC, omp, blas);
  cr_expect(match(a->dw, b->dw, (size_t)IC * OC), "linear dw %dx%dx%d, omp %d blas %d", N, IC, OC, omp, blas);
  cr_expect(match(a->db, b->db, (size_t)OC), "linear dbias %dx%dx%d, omp %d blas %d", N, IC, OC, omp, blas);
  cr_expect(match(a->lm, b->lm, (size_t)N * V), "lm head forward %dx%dx%d, omp %d blas %d", N, IC, V, omp, blas);
  cr_expect(match(a->dh, b->dh, (size_t)N * IC), "lm head dinp %dx%dx%d, omp %d blas %d", N, IC, V, omp, blas);
  cr_expect(match(a->dwte, b->dwte, (size_t)V * IC), "lm head dwte %dx%dx%d, omp %d blas %d", N, IC, V, omp, blas);
}

Test(ops_threads, products_at_two_threads_give_the_one_thread_bits) {
  // (OpenMP, OpenBLAS) thread counts: the bench's 2/2, OpenMP only, and the shell's default
  // (one OpenMP thread, OpenBLAS's default of one per core)
  const int cfg[][2] = {{2, 2}, {2, 1}, {1, 2}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int N = shapes[s][0], IC = shapes[s][1], OC = shapes[s][2], V = 2 * IC;
    prods a = run_products(N, IC, OC, V, 1, 1);
    for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
      prods b = run_products(N, IC, OC, V, cfg[k][0], cfg[k][1]);
      expect_same_products(&a, &b, N, IC, OC, V, cfg[k][0], cfg[k][1]);
      // the same thread counts give the same bits on any CPU
      prods c = run_products(N, IC, OC, V, cfg[k][0], cfg[k][1]);
      cr_expect(same(b.out, c.out, (size_t)N * OC) && same(b.dw, c.dw, (size_t)IC * OC) &&
                    same(b.lm, c.lm, (size_t)N * V) && same(b.dwte, c.dwte, (size_t)V * IC),
                "products repeat their bits at omp %d blas %d", cfg[k][0], cfg[k][1]);
      prods_free(&b), prods_free(&c);
    }
    prods_free(&a);
  }
}

Test(ops_threads, products_at_three_threads_give_the_one_thread_bits) {
  // three blocks of rows: the cuts still fall on the kernel's tile edges
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int N = shapes[s][0], IC = shapes[s][1], OC = shapes[s][2], V = 2 * IC;
    prods a = run_products(N, IC, OC, V, 1, 1), b = run_products(N, IC, OC, V, 3, 1);
    expect_same_products(&a, &b, N, IC, OC, V, 3, 1);
    prods_free(&a), prods_free(&b);
  }
}

// OpenMP kernels at 1 and 2 threads (OpenBLAS at 2 as well, as in a two-thread run)
typedef struct {
  float *ln, *mean, *rstd, *dln, *dlw, *dlb, *ge, *gd, *att, *atty, *dqkv, *datt, *lp, *probs, *dl;
} omp_outs;

static omp_outs run_omp(int B, int T, int C, int NH, int V, int threads) {
  const int N = B * T;
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
  float *x = tu_frand((size_t)N * C, 21, 1), *w = tu_frand(C, 22, 1), *b = tu_frand(C, 23, 1),
        *g = tu_frand((size_t)N * C, 24, 1), *qkv = tu_frand((size_t)N * 3 * C, 25, 1),
        *logits = tu_frand((size_t)N * V, 26, 2), *dlogp = tu_frand(N, 27, 1);
  int *tg = malloc((size_t)N * sizeof(int));
  cr_assert(tg);
  for (int i = 0; i < N; i++) tg[i] = (i * 7) % V;
  omp_outs o = {tu_fnew((size_t)N * C), tu_fnew(N), tu_fnew(N), tu_fnew((size_t)N * C), tu_fnew(C),
               tu_fnew(C), tu_fnew((size_t)N * C), tu_fnew((size_t)N * C),
               tu_fnew((size_t)B * NH * T * T), tu_fnew((size_t)N * C), tu_fnew((size_t)N * 3 * C),
               tu_fnew((size_t)B * NH * T * T), tu_fnew(N), tu_fnew((size_t)N * V),
               tu_fnew((size_t)N * V)};
  al_layernorm_forward(o.ln, o.mean, o.rstd, x, w, b, N, C, 1e-5f);
  al_layernorm_backward(o.dln, o.dlw, o.dlb, g, x, w, o.mean, o.rstd, N, C);
  al_gelu_forward(o.ge, x, N * C);
  al_gelu_backward(o.gd, g, x, N * C);
  al_attention_forward(o.atty, o.att, qkv, B, T, C, NH);
  al_attention_backward(o.dqkv, o.datt, g, qkv, o.att, B, T, C, NH);
  al_logprob_forward(o.lp, o.probs, logits, tg, N, V);
  al_logprob_backward(o.dl, dlogp, o.probs, tg, N, V);
  omp_set_num_threads(1);
  openblas_set_num_threads(1);
  free(x), free(w), free(b), free(g), free(qkv), free(logits), free(dlogp), free(tg);
  return o;
}

static void outs_free(omp_outs *o) {
  free(o->ln), free(o->mean), free(o->rstd), free(o->dln), free(o->dlw), free(o->dlb);
  free(o->ge), free(o->gd), free(o->att), free(o->atty), free(o->dqkv), free(o->datt);
  free(o->lp), free(o->probs), free(o->dl);
}

Test(ops_threads, openmp_kernels_give_the_one_thread_bits_at_two_threads) {
  // small (serial by threshold) and training-sized (parallel) problems
  const int cfg[][5] = {{32, 1, 128, 4, 256}, {2, 9, 64, 4, 50}, {8, 64, 128, 4, 256}};
  for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
    int B = cfg[k][0], T = cfg[k][1], C = cfg[k][2], NH = cfg[k][3], V = cfg[k][4], N = B * T;
    omp_outs a = run_omp(B, T, C, NH, V, 1), b = run_omp(B, T, C, NH, V, 2);
    size_t nc = (size_t)N * C, na = (size_t)B * NH * T * T;
    cr_expect(same(a.ln, b.ln, nc) && same(a.mean, b.mean, N) && same(a.rstd, b.rstd, N),
              "layernorm forward, config %zu", k);
    cr_expect(same(a.dln, b.dln, nc) && same(a.dlw, b.dlw, C) && same(a.dlb, b.dlb, C),
              "layernorm backward, config %zu", k);
    cr_expect(same(a.ge, b.ge, nc) && same(a.gd, b.gd, nc), "gelu, config %zu", k);
    cr_expect(same(a.att, b.att, na) && same(a.atty, b.atty, nc), "attention forward, config %zu", k);
    cr_expect(same(a.dqkv, b.dqkv, 3 * nc) && same(a.datt, b.datt, na),
              "attention backward, config %zu", k);
    cr_expect(same(a.lp, b.lp, N) && same(a.probs, b.probs, (size_t)N * V) &&
                  same(a.dl, b.dl, (size_t)N * V),
              "log-probs, config %zu", k);
    outs_free(&a), outs_free(&b);
  }
}
