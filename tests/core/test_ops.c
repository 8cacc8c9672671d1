// Tests of core/ops.c: embeddings, linear, LM head, LayerNorm, GELU, residual, scalar head, and
// the vectorisable al_expf. Forwards against naive or double-precision references; backwards
// against central finite differences of a DOUBLE-precision reference forward written here.
//
// Gradient tolerance (gerr below): the loss is L = sum(out * R) with R ~ N(0,1). The reference
// gradient comes from central differences of the double forward with h = 1e-5: truncation error
// ~h^2 |f'''| ~ 1e-10 and cancellation ~1e-16/h ~ 1e-11, so it is exact to ~1e-9 at our O(1)
// scales. The float kernels round each of their O(10)-term sums at ~6e-8 relative, so their
// gradients carry errors around 1e-6 of the gradient's scale. We measure
// |g - g_fd| / (|g_fd| + 0.01 max|g_fd|), i.e. relative per element with a floor at 1% of the
// largest component (so near-zero components are judged against the tensor's scale, not 0),
// and demand <= 1e-3: about 100x above float noise, while a wrong term, index or sign gives O(1).
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "al_ops.h"
#include "testutil.h"

#define GTOL 1e-3

static double *as_double(const float *x, size_t n) {
  double *p = tu_dnew(n);
  for (size_t i = 0; i < n; i++) p[i] = x[i];
  return p;
}

// ---- finite-difference harness ----
// A reference forward reads its inputs from `in` (double arrays) and dims, writes out (nout).
typedef void (*ref_fn)(double *out, double *const *in, const int *dims);

// g (n_k) = d/d in[k] of sum(out * R), by central differences on every coordinate
static void fd_grad(double *g, ref_fn f, const int *dims, double *const *in, int k, size_t nk,
                    size_t nout, const double *R) {
  const double h = 1e-5;
  double *out = tu_dnew(nout);
  for (size_t i = 0; i < nk; i++) {
    double save = in[k][i], lp = 0, lm = 0;
    in[k][i] = save + h;
    f(out, in, dims);
    for (size_t j = 0; j < nout; j++) lp += out[j] * R[j];
    in[k][i] = save - h;
    f(out, in, dims);
    for (size_t j = 0; j < nout; j++) lm += out[j] * R[j];
    in[k][i] = save;
    g[i] = (lp - lm) / (2 * h);
  }
  free(out);
}

// max over i of |a - b| / (|b| + 0.01 max|b|) (see the file header)
static double gerr(const float *a, const double *b, size_t n) {
  double scale = 0, m = 0;
  for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]) / (fabs(b[i]) + 0.01 * scale + 1e-12);
    if (!(d <= m)) m = d; // NaN fails
  }
  return m;
}

// max |a - b| / max(1e-30, max|b|)
static double nerr(const float *a, const float *b, size_t n) {
  double scale = 0, m = 0;
  for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)b[i]));
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]) / fmax(scale, 1e-30);
    if (!(d <= m)) m = d;
  }
  return m;
}

// ---- al_expf ----

Test(ops, expf_is_accurate_to_a_few_ulp_and_handles_special_values) {
  double worst = 0;
  for (int i = 0; i <= 2000000; i++) {
    float x = -87.0f + (float)i * (175.0f / 2000000.0f);
    double e = exp((double)x);
    double r = fabs((double)al_expf(x) - e) / e;
    if (!(r <= worst)) worst = r;
  }
  cr_expect_lt(worst, 2e-7, "max relative error %g", worst);
  cr_expect_eq(al_expf(0.0f), 1.0f);
  cr_expect_eq(al_expf(-INFINITY), 0.0f);
  cr_expect_eq(al_expf(-1000.0f), 0.0f);
  cr_expect(isfinite(al_expf(INFINITY)) && al_expf(INFINITY) > 1e38f);
  cr_expect(isnan(al_expf(NAN)));
  cr_expect(isnan(al_expf(-NAN)));
}

Test(ops, expf_vectorised_loop_gives_the_same_bits_as_scalar_calls) {
  enum { n = 1003 };
  float x[n], y[n];
  for (int i = 0; i < n; i++) x[i] = -90.0f + 0.18f * i;
#pragma omp simd
  for (int i = 0; i < n; i++) y[i] = al_expf(x[i]);
  for (int i = 0; i < n; i++) {
    volatile float xi = x[i];
    cr_assert_eq(y[i], al_expf(xi), "i=%d", i);
  }
}

// ---- encoder ----

static void ref_encoder(double *out, double *const *in, const int *d) {
  const double *wte = in[0], *wpe = in[1];
  const int *tok = (const int *)(const void *)in[2];
  int B = d[0], T = d[1], C = d[2];
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++)
      for (int c = 0; c < C; c++)
        out[((size_t)b * T + t) * C + c] = wte[tok[b * T + t] * C + c] + wpe[t * C + c];
}

static void check_encoder(int B, int T, int C, int V, int maxT) {
  size_t N = (size_t)B * T;
  int *tok = malloc(N * sizeof(int) + 8);
  for (size_t i = 0; i < N; i++) tok[i] = (int)((i * 7 + 3) % V); // repeats when N > V
  float *wte = tu_frand((size_t)V * C, 1, 1), *wpe = tu_frand((size_t)maxT * C, 2, 1);
  float *out = tu_fnew(N * C), *R = tu_frand(N * C, 3, 1);
  al_encoder_forward(out, tok, wte, wpe, B, T, C);
  double *dwte = as_double(wte, (size_t)V * C), *dwpe = as_double(wpe, (size_t)maxT * C);
  double *in[3] = {dwte, dwpe, (double *)(void *)tok};
  int dims[3] = {B, T, C};
  double *ro = tu_dnew(N * C);
  ref_encoder(ro, in, dims);
  cr_expect_lt(tu_max_rel_err_fd(out, ro, N * C), 1e-7);

  float *gwte = tu_fnew((size_t)V * C), *gwpe = tu_fnew((size_t)maxT * C);
  al_encoder_backward(gwte, gwpe, R, tok, B, T, C);
  double *dR = as_double(R, N * C), *fg = tu_dnew((size_t)V * C), *fg2 = tu_dnew((size_t)maxT * C);
  fd_grad(fg, ref_encoder, dims, in, 0, (size_t)V * C, N * C, dR);
  fd_grad(fg2, ref_encoder, dims, in, 1, (size_t)maxT * C, N * C, dR);
  cr_expect_lt(gerr(gwte, fg, (size_t)V * C), GTOL, "dwte err %g", gerr(gwte, fg, (size_t)V * C));
  cr_expect_lt(gerr(gwpe, fg2, (size_t)maxT * C), GTOL, "dwpe err %g",
               gerr(gwpe, fg2, (size_t)maxT * C));
  free(tok), free(wte), free(wpe), free(out), free(R), free(dwte), free(dwpe), free(ro);
  free(gwte), free(gwpe), free(dR), free(fg), free(fg2);
}

Test(ops, encoder_forward_and_backward_match_reference_and_finite_differences) {
  check_encoder(2, 3, 8, 5, 4); // 6 tokens over a vocabulary of 5: a row of dwte gets two
}

// ---- linear ----

static void ref_linear(double *out, double *const *in, const int *d) {
  const double *x = in[0], *w = in[1], *b = in[2];
  int N = d[0], IC = d[1], OC = d[2];
  for (int n = 0; n < N; n++)
    for (int o = 0; o < OC; o++) {
      double s = b[o];
      for (int i = 0; i < IC; i++) s += x[n * IC + i] * w[i * OC + o];
      out[n * OC + o] = s;
    }
}

Test(ops, linear_forward_matches_naive_reference) {
  const int shapes[][3] = {{1, 1, 1}, {1, 8, 24}, {6, 8, 24}, {37, 19, 53}, {64, 128, 512}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int N = shapes[s][0], IC = shapes[s][1], OC = shapes[s][2];
    float *x = tu_frand((size_t)N * IC, 10 + s, 1), *w = tu_frand((size_t)IC * OC, 20 + s, 0.2f),
          *b = tu_frand(OC, 30 + s, 1);
    float *o1 = tu_fnew((size_t)N * OC), *o2 = tu_fnew((size_t)N * OC);
    for (int withb = 0; withb < 2; withb++) {
      memset(o1, 0x7f, (size_t)N * OC * sizeof(float)); // written, not accumulated
      al_linear_forward(o1, x, w, withb ? b : NULL, N, IC, OC);
      al_linear_forward_ref(o2, x, w, withb ? b : NULL, N, IC, OC);
      cr_expect_lt(nerr(o1, o2, (size_t)N * OC), 1e-5, "shape %zu bias %d err %g", s, withb,
                   nerr(o1, o2, (size_t)N * OC));
    }
    free(x), free(w), free(b), free(o1), free(o2);
  }
}

Test(ops, linear_backward_matches_naive_reference) {
  const int shapes[][3] = {{1, 1, 1}, {6, 8, 24}, {37, 19, 53}, {64, 128, 512}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int N = shapes[s][0], IC = shapes[s][1], OC = shapes[s][2];
    float *x = tu_frand((size_t)N * IC, 40 + s, 1), *w = tu_frand((size_t)IC * OC, 50 + s, 0.2f),
          *g = tu_frand((size_t)N * OC, 60 + s, 1);
    float *a[3] = {tu_frand((size_t)N * IC, 70, 1), tu_frand((size_t)IC * OC, 71, 1), tu_frand(OC, 72, 1)};
    float *r[3] = {tu_fnew((size_t)N * IC), tu_fnew((size_t)IC * OC), tu_fnew(OC)};
    size_t n[3] = {(size_t)N * IC, (size_t)IC * OC, (size_t)OC};
    for (int k = 0; k < 3; k++) memcpy(r[k], a[k], n[k] * sizeof(float)); // same start: +=
    al_linear_backward(a[0], a[1], a[2], g, x, w, N, IC, OC);
    al_linear_backward_ref(r[0], r[1], r[2], g, x, w, N, IC, OC);
    for (int k = 0; k < 3; k++)
      cr_expect_lt(nerr(a[k], r[k], n[k]), 1e-5, "shape %zu grad %d err %g", s, k,
                   nerr(a[k], r[k], n[k]));
    for (int k = 0; k < 3; k++) free(a[k]), free(r[k]);
    free(x), free(w), free(g);
  }
}

static void check_linear_fd(int N, int IC, int OC) {
  float *x = tu_frand((size_t)N * IC, 1, 1), *w = tu_frand((size_t)IC * OC, 2, 0.5f),
        *b = tu_frand(OC, 3, 1), *R = tu_frand((size_t)N * OC, 4, 1);
  float *gx = tu_fnew((size_t)N * IC), *gw = tu_fnew((size_t)IC * OC), *gb = tu_fnew(OC);
  al_linear_backward(gx, gw, gb, R, x, w, N, IC, OC);
  double *in[3] = {as_double(x, (size_t)N * IC), as_double(w, (size_t)IC * OC), as_double(b, OC)};
  size_t n[3] = {(size_t)N * IC, (size_t)IC * OC, (size_t)OC};
  float *ga[3] = {gx, gw, gb};
  int dims[3] = {N, IC, OC};
  double *dR = as_double(R, (size_t)N * OC);
  for (int k = 0; k < 3; k++) {
    double *fg = tu_dnew(n[k]);
    fd_grad(fg, ref_linear, dims, in, k, n[k], (size_t)N * OC, dR);
    cr_expect_lt(gerr(ga[k], fg, n[k]), GTOL, "N=%d input %d err %g", N, k, gerr(ga[k], fg, n[k]));
    free(fg);
  }
  for (size_t k = 0; k < sizeof in / sizeof in[0]; k++) free(in[k]);
  free(x), free(w), free(b), free(R), free(gx), free(gw), free(gb), free(dR);
}

Test(ops, linear_backward_matches_finite_differences) {
  check_linear_fd(6, 8, 24);
  check_linear_fd(1, 8, 5); // B=1, T=1
}

// ---- LM head ----

static void ref_lmhead(double *out, double *const *in, const int *d) {
  const double *x = in[0], *wte = in[1];
  int N = d[0], C = d[1], V = d[2];
  for (int n = 0; n < N; n++)
    for (int v = 0; v < V; v++) {
      double s = 0;
      for (int i = 0; i < C; i++) s += x[n * C + i] * wte[v * C + i];
      out[n * V + v] = s;
    }
}

Test(ops, lmhead_forward_and_backward_match_naive_reference) {
  const int shapes[][3] = {{1, 8, 11}, {6, 8, 11}, {70, 64, 301}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int N = shapes[s][0], C = shapes[s][1], V = shapes[s][2];
    float *x = tu_frand((size_t)N * C, 1 + s, 1), *wte = tu_frand((size_t)V * C, 2 + s, 0.3f),
          *g = tu_frand((size_t)N * V, 3 + s, 1);
    float *o1 = tu_fnew((size_t)N * V), *o2 = tu_fnew((size_t)N * V);
    al_lmhead_forward(o1, x, wte, N, C, V);
    al_lmhead_forward_ref(o2, x, wte, N, C, V);
    cr_expect_lt(nerr(o1, o2, (size_t)N * V), 1e-5);
    float *a0 = tu_frand((size_t)N * C, 9, 1), *a1 = tu_frand((size_t)V * C, 8, 1);
    float *r0 = tu_fnew((size_t)N * C), *r1 = tu_fnew((size_t)V * C);
    memcpy(r0, a0, (size_t)N * C * sizeof(float));
    memcpy(r1, a1, (size_t)V * C * sizeof(float));
    al_lmhead_backward(a0, a1, g, x, wte, N, C, V);
    al_lmhead_backward_ref(r0, r1, g, x, wte, N, C, V);
    cr_expect_lt(nerr(a0, r0, (size_t)N * C), 1e-5);
    cr_expect_lt(nerr(a1, r1, (size_t)V * C), 1e-5);
    free(x), free(wte), free(g), free(o1), free(o2), free(a0), free(a1), free(r0), free(r1);
  }
}

static void check_lmhead_fd(int N, int C, int V) {
  float *x = tu_frand((size_t)N * C, 1, 1), *wte = tu_frand((size_t)V * C, 2, 0.5f),
        *R = tu_frand((size_t)N * V, 3, 1);
  float *gx = tu_fnew((size_t)N * C), *gw = tu_fnew((size_t)V * C);
  al_lmhead_backward(gx, gw, R, x, wte, N, C, V);
  double *in[2] = {as_double(x, (size_t)N * C), as_double(wte, (size_t)V * C)};
  size_t n[2] = {(size_t)N * C, (size_t)V * C};
  float *ga[2] = {gx, gw};
  int dims[3] = {N, C, V};
  double *dR = as_double(R, (size_t)N * V);
  for (int k = 0; k < 2; k++) {
    double *fg = tu_dnew(n[k]);
    fd_grad(fg, ref_lmhead, dims, in, k, n[k], (size_t)N * V, dR);
    cr_expect_lt(gerr(ga[k], fg, n[k]), GTOL, "input %d err %g", k, gerr(ga[k], fg, n[k]));
    free(fg);
  }
  for (size_t k = 0; k < sizeof in / sizeof in[0]; k++) free(in[k]);
  free(x), free(wte), free(R), free(gx), free(gw), free(dR);
}

Test(ops, lmhead_backward_matches_finite_differences) {
  check_lmhead_fd(6, 8, 11);
  check_lmhead_fd(1, 8, 11);
}

// ---- LayerNorm ----

static void ref_layernorm(double *out, double *const *in, const int *d) {
  const double *x = in[0], *w = in[1], *b = in[2];
  int N = d[0], C = d[1];
  const double eps = 1e-5;
  for (int n = 0; n < N; n++) {
    double m = 0, v = 0;
    for (int i = 0; i < C; i++) m += x[n * C + i];
    m /= C;
    for (int i = 0; i < C; i++) v += (x[n * C + i] - m) * (x[n * C + i] - m);
    v /= C;
    for (int i = 0; i < C; i++) out[n * C + i] = (x[n * C + i] - m) / sqrt(v + eps) * w[i] + b[i];
  }
}

Test(ops, layernorm_forward_matches_double_reference) {
  const int shapes[][2] = {{1, 1}, {1, 8}, {6, 8}, {33, 129}, {5, 768}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int N = shapes[s][0], C = shapes[s][1];
    float *x = tu_frand((size_t)N * C, 1 + s, 3), *w = tu_frand(C, 2 + s, 1), *b = tu_frand(C, 3 + s, 1);
    for (size_t i = 0; i < (size_t)N * C; i++) x[i] += 5.0f; // a mean far from 0
    float *out = tu_fnew((size_t)N * C), *mean = tu_fnew(N), *rstd = tu_fnew(N);
    al_layernorm_forward(out, mean, rstd, x, w, b, N, C, 1e-5f);
    double *in[3] = {as_double(x, (size_t)N * C), as_double(w, C), as_double(b, C)};
    double *ro = tu_dnew((size_t)N * C);
    int dims[2] = {N, C};
    ref_layernorm(ro, in, dims);
    cr_expect_lt(tu_max_rel_err_fd(out, ro, (size_t)N * C), 2e-5, "shape %zu err %g", s,
                 tu_max_rel_err_fd(out, ro, (size_t)N * C));
    for (int n = 0; n < N; n++) {
      double m = 0;
      for (int i = 0; i < C; i++) m += in[0][n * C + i];
      cr_expect_lt(fabs(mean[n] - m / C), 1e-5 * fabs(m / C));
    }
    for (int k = 0; k < 3; k++) free(in[k]);
    free(x), free(w), free(b), free(out), free(mean), free(rstd), free(ro);
  }
}

static void check_layernorm_fd(int N, int C, double scale) {
  float *x = tu_frand((size_t)N * C, 11, (float)scale), *w = tu_frand(C, 12, 1), *b = tu_frand(C, 13, 1),
        *R = tu_frand((size_t)N * C, 14, 1);
  float *out = tu_fnew((size_t)N * C), *mean = tu_fnew(N), *rstd = tu_fnew(N);
  al_layernorm_forward(out, mean, rstd, x, w, b, N, C, 1e-5f);
  float *gx = tu_fnew((size_t)N * C), *gw = tu_fnew(C), *gb = tu_fnew(C);
  al_layernorm_backward(gx, gw, gb, R, x, w, mean, rstd, N, C);
  double *in[3] = {as_double(x, (size_t)N * C), as_double(w, C), as_double(b, C)};
  size_t n[3] = {(size_t)N * C, (size_t)C, (size_t)C};
  float *ga[3] = {gx, gw, gb};
  int dims[2] = {N, C};
  double *dR = as_double(R, (size_t)N * C);
  for (int k = 0; k < 3; k++) {
    double *fg = tu_dnew(n[k]);
    fd_grad(fg, ref_layernorm, dims, in, k, n[k], (size_t)N * C, dR);
    cr_expect_lt(gerr(ga[k], fg, n[k]), GTOL, "N=%d C=%d input %d err %g", N, C, k,
                 gerr(ga[k], fg, n[k]));
    free(fg);
  }
  for (size_t k = 0; k < sizeof in / sizeof in[0]; k++) free(in[k]);
  free(x), free(w), free(b), free(R), free(out), free(mean), free(rstd);
  free(gx), free(gw), free(gb), free(dR);
}

Test(ops, layernorm_backward_matches_finite_differences) {
  check_layernorm_fd(6, 8, 1);
  check_layernorm_fd(3, 21, 1); // C not a multiple of the 8 lanes
  check_layernorm_fd(2, 8, 0.1); // small variance: eps matters more
  check_layernorm_fd(1, 8, 1);   // B=1, T=1
}

// ---- GELU ----

static void ref_gelu(double *out, double *const *in, const int *d) {
  for (int i = 0; i < d[0]; i++) {
    double x = in[0][i];
    out[i] = 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  }
}

Test(ops, gelu_forward_matches_tanh_formula) {
  enum { N = 4001 };
  float *x = tu_fnew(N), *out = tu_fnew(N);
  for (int i = 0; i < N; i++) x[i] = -10.0f + 20.0f * i / (N - 1);
  al_gelu_forward(out, x, N);
  double *in[1] = {as_double(x, N)}, *ro = tu_dnew(N);
  int dims[1] = {N};
  ref_gelu(ro, in, dims);
  double worst = 0;
  for (int i = 0; i < N; i++) { // absolute error on O(1) values, relative beyond
    double e = fabs(out[i] - ro[i]) / fmax(1e-3, fabs(ro[i]));
    worst = fmax(worst, e);
  }
  cr_expect_lt(worst, 1e-5, "err %g", worst);
  float one = 1.0f, g1;
  al_gelu_forward(&g1, &one, 1);
  cr_expect_lt(fabs(g1 - 0.8411920f), 1e-6); // gelu_new(1) by hand: 0.5 (1 + tanh(0.833556))
  free(x), free(out), free(in[0]), free(ro);
}

Test(ops, gelu_backward_matches_finite_differences) {
  for (int N = 1; N <= 200; N += 199) {
    float *x = tu_frand(N, 5, 2.5f), *R = tu_frand(N, 6, 1), *g = tu_fnew(N);
    al_gelu_backward(g, R, x, N);
    double *in[1] = {as_double(x, N)}, *fg = tu_dnew(N), *dR = as_double(R, N);
    int dims[1] = {N};
    fd_grad(fg, ref_gelu, dims, in, 0, N, N, dR);
    cr_expect_lt(gerr(g, fg, N), GTOL, "N=%d err %g", N, gerr(g, fg, N));
    free(x), free(R), free(g), free(in[0]), free(fg), free(dR);
  }
}

// ---- residual ----

Test(ops, residual_forward_adds_and_backward_routes_gradient_to_both) {
  enum { N = 37 };
  float *a = tu_frand(N, 1, 1), *b = tu_frand(N, 2, 1), *o = tu_fnew(N), *g = tu_frand(N, 3, 1);
  float *da = tu_frand(N, 4, 1), *db = tu_frand(N, 5, 1), *da0 = tu_fnew(N), *db0 = tu_fnew(N);
  memcpy(da0, da, sizeof(float) * N);
  memcpy(db0, db, sizeof(float) * N);
  al_residual_forward(o, a, b, N);
  al_residual_backward(da, db, g, N);
  for (int i = 0; i < N; i++) {
    cr_expect_eq(o[i], a[i] + b[i]);
    cr_expect_eq(da[i], da0[i] + g[i]);
    cr_expect_eq(db[i], db0[i] + g[i]);
  }
  free(a), free(b), free(o), free(g), free(da), free(db), free(da0), free(db0);
}

// ---- scalar head ----

static void ref_scalar(double *out, double *const *in, const int *d) {
  for (int n = 0; n < d[0]; n++) {
    double s = 0;
    for (int i = 0; i < d[1]; i++) s += in[0][n * d[1] + i] * in[1][i];
    out[n] = s;
  }
}

static void check_scalar(int N, int C) {
  float *x = tu_frand((size_t)N * C, 1, 1), *w = tu_frand(C, 2, 1), *R = tu_frand(N, 3, 1);
  float *v = tu_fnew(N), *gx = tu_fnew((size_t)N * C), *gw = tu_fnew(C);
  al_scalar_forward(v, x, w, N, C);
  double *in[2] = {as_double(x, (size_t)N * C), as_double(w, C)}, *ro = tu_dnew(N);
  int dims[2] = {N, C};
  ref_scalar(ro, in, dims);
  cr_expect_lt(tu_max_rel_err_fd(v, ro, N), 1e-5);
  al_scalar_backward(gx, gw, R, x, w, N, C);
  double *dR = as_double(R, N);
  size_t n[2] = {(size_t)N * C, (size_t)C};
  float *ga[2] = {gx, gw};
  for (int k = 0; k < 2; k++) {
    double *fg = tu_dnew(n[k]);
    fd_grad(fg, ref_scalar, dims, in, k, n[k], N, dR);
    cr_expect_lt(gerr(ga[k], fg, n[k]), GTOL, "input %d err %g", k, gerr(ga[k], fg, n[k]));
    free(fg);
  }
  for (size_t k = 0; k < sizeof in / sizeof in[0]; k++) free(in[k]);
  free(x), free(w), free(R), free(v), free(gx), free(gw), free(ro), free(dR);
}

Test(ops, scalar_head_matches_reference_and_finite_differences) {
  check_scalar(6, 8);
  check_scalar(5, 77); // C with a lane tail
  check_scalar(1, 8);  // B=1, T=1
  cr_expect_eq(al_last_index(2, 5, 3), 12);
}

// ---- properties shared by all backwards ----

// run a backward twice on zeroed gradients: the second call must double the first
Test(ops, backward_accumulates) {
  const int N = 6, C = 8, OC = 24, V = 11, T = 3, B = 2;
  float *x = tu_frand((size_t)N * C, 1, 1), *w = tu_frand((size_t)C * OC, 2, 0.3f), *g = tu_frand((size_t)N * OC, 3, 1);
  float *lw = tu_frand(C, 4, 1), *mean = tu_fnew(N), *rstd = tu_fnew(N), *tmp = tu_fnew((size_t)N * C);
  float *gl = tu_frand((size_t)N * V, 5, 1), *wte = tu_frand((size_t)V * C, 6, 1), *wpe = tu_frand((size_t)T * C, 7, 1);
  int tok[6] = {1, 4, 1, 0, 9, 1};
  al_layernorm_forward(tmp, mean, rstd, x, lw, lw, N, C, 1e-5f);
  // one slot per gradient (some slots are shared by two ops, which also accumulates)
  enum { S = 12 };
  size_t n[S] = {(size_t)N * C, (size_t)C * OC, (size_t)OC, (size_t)N * C, (size_t)C, (size_t)C,
                 (size_t)N * C, (size_t)N * C, (size_t)V * C, (size_t)V * C, (size_t)T * C, (size_t)C};
  float *once[S], *twice[S];
  for (int k = 0; k < S; k++) once[k] = tu_fnew(n[k]), twice[k] = tu_fnew(n[k]);
  for (int calls = 1; calls <= 2; calls++) {
    float **d = calls == 1 ? once : twice;
    for (int r = 0; r < calls; r++) {
      al_linear_backward(d[0], d[1], d[2], g, x, w, N, C, OC);
      al_layernorm_backward(d[3], d[4], d[5], g, x, lw, mean, rstd, N, C);
      al_gelu_backward(d[6], g, x, N * C);
      al_residual_backward(d[7], d[7], g, N * C);
      al_lmhead_backward(d[3], d[8], gl, x, wte, N, C, V);
      al_encoder_backward(d[9], d[10], g, tok, B, T, C);
      al_scalar_backward(d[7], d[11], g, x, lw, N, C);
    }
  }
  for (int k = 0; k < S; k++) {
    for (size_t i = 0; i < n[k]; i++) once[k][i] *= 2;
    cr_expect_lt(nerr(twice[k], once[k], n[k]), 1e-6, "slot %d err %g", k, nerr(twice[k], once[k], n[k]));
  }
  for (int k = 0; k < S; k++) free(once[k]), free(twice[k]);
  free(x), free(w), free(g), free(lw), free(mean), free(rstd), free(tmp), free(gl), free(wte), free(wpe);
}

Test(ops, null_gradient_pointers_are_skipped) {
  const int N = 4, C = 8, OC = 5;
  float *x = tu_frand((size_t)N * C, 1, 1), *w = tu_frand((size_t)C * OC, 2, 1), *g = tu_frand((size_t)N * OC, 3, 1);
  float *gw = tu_fnew((size_t)C * OC), *gw2 = tu_fnew((size_t)C * OC), *gx = tu_fnew((size_t)N * C);
  al_linear_backward(NULL, gw, NULL, g, x, w, N, C, OC);
  al_linear_backward(gx, gw2, NULL, g, x, w, N, C, OC);
  cr_expect_eq(memcmp(gw, gw2, sizeof(float) * C * OC), 0);
  float *lw = tu_frand(C, 4, 1), *mean = tu_fnew(N), *rstd = tu_fnew(N), *out = tu_fnew((size_t)N * C);
  float *lg = tu_frand((size_t)N * C, 5, 1), *dx1 = tu_fnew((size_t)N * C), *dx2 = tu_fnew((size_t)N * C),
        *dw = tu_fnew(C);
  al_layernorm_forward(out, mean, rstd, x, lw, lw, N, C, 1e-5f);
  al_layernorm_backward(dx1, NULL, NULL, lg, x, lw, mean, rstd, N, C);
  al_layernorm_backward(dx2, dw, NULL, lg, x, lw, mean, rstd, N, C);
  cr_expect_eq(memcmp(dx1, dx2, sizeof(float) * N * C), 0);
  al_residual_backward(NULL, dx1, lg, N * C);
  al_scalar_backward(NULL, dw, lg, x, lw, N, C);
  al_encoder_backward(NULL, NULL, lg, (int[]){0, 0, 0, 0}, 1, N, C);
  al_lmhead_backward(NULL, NULL, g, x, w, N, C, OC);
  free(x), free(w), free(g), free(gw), free(gw2), free(gx), free(lw), free(mean), free(rstd);
  free(out), free(lg), free(dx1), free(dx2), free(dw);
}

// the parallel kernels split rows (or channels), never a sum: 1 and 2 threads give equal bits
Test(ops, results_do_not_depend_on_thread_count) {
  const int N = 512, C = 128;
  float *x = tu_frand((size_t)N * C, 1, 1), *w = tu_frand(C, 2, 1), *b = tu_frand(C, 3, 1),
        *g = tu_frand((size_t)N * C, 4, 1);
  float *o[2], *m[2], *r[2], *dx[2], *dw[2], *db[2], *ge[2], *gd[2];
  for (int k = 0; k < 2; k++) {
    omp_set_num_threads(k + 1);
    o[k] = tu_fnew((size_t)N * C), m[k] = tu_fnew(N), r[k] = tu_fnew(N), dx[k] = tu_fnew((size_t)N * C);
    dw[k] = tu_fnew(C), db[k] = tu_fnew(C), ge[k] = tu_fnew((size_t)N * C), gd[k] = tu_fnew((size_t)N * C);
    al_layernorm_forward(o[k], m[k], r[k], x, w, b, N, C, 1e-5f);
    al_layernorm_backward(dx[k], dw[k], db[k], g, x, w, m[k], r[k], N, C);
    al_gelu_forward(ge[k], x, N * C);
    al_gelu_backward(gd[k], g, x, N * C);
  }
  omp_set_num_threads(1);
  cr_expect_eq(memcmp(o[0], o[1], sizeof(float) * N * C), 0);
  cr_expect_eq(memcmp(dx[0], dx[1], sizeof(float) * N * C), 0);
  cr_expect_eq(memcmp(dw[0], dw[1], sizeof(float) * C), 0);
  cr_expect_eq(memcmp(db[0], db[1], sizeof(float) * C), 0);
  cr_expect_eq(memcmp(ge[0], ge[1], sizeof(float) * N * C), 0);
  cr_expect_eq(memcmp(gd[0], gd[1], sizeof(float) * N * C), 0);
  for (int k = 0; k < 2; k++)
    free(o[k]), free(m[k]), free(r[k]), free(dx[k]), free(dw[k]), free(db[k]), free(ge[k]), free(gd[k]);
  free(x), free(w), free(b), free(g);
}
