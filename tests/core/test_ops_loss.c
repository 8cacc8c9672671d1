// Tests of core/ops_loss.c: softmax + log-prob of targets, entropy, masked NLL.
// Forwards against double-precision references; the backward against central differences of a
// double log-softmax (tolerance as in test_ops.c: relative per element, floored at 1% of the
// gradient's largest component, <= 1e-3, ~100x above float rounding of V-term sums).
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "al_ops.h"
#include "testutil.h"

// double log-softmax of row x at index i
static double ref_logp(const double *x, int V, int i) {
  double mx = x[0], s = 0;
  for (int j = 1; j < V; j++) mx = fmax(mx, x[j]);
  for (int j = 0; j < V; j++) s += exp(x[j] - mx);
  return x[i] - mx - log(s);
}

Test(logprob, forward_matches_double_log_softmax) {
  const int N = 7, V = 53;
  float *x = tu_frand((size_t)N * V, 1, 4), *p = tu_fnew((size_t)N * V), *lp = tu_fnew(N);
  int tg[7] = {0, 52, 3, -1, 17, 8, 40};
  al_logprob_forward(lp, p, x, tg, N, V);
  double *row = malloc(sizeof(double) * V);
  for (int n = 0; n < N; n++) {
    for (int j = 0; j < V; j++) row[j] = x[n * V + j];
    double psum = 0;
    for (int j = 0; j < V; j++) {
      double e = exp(ref_logp(row, V, j));
      cr_expect_lt(fabs(p[n * V + j] - e), 1e-6 * fmax(e, 1e-3), "n=%d j=%d", n, j);
      psum += p[n * V + j];
    }
    cr_expect_lt(fabs(psum - 1), 1e-5);
    if (tg[n] >= 0)
      cr_expect_lt(fabs(lp[n] - ref_logp(row, V, tg[n])), 1e-5 * fmax(1, fabs(lp[n])));
    else
      cr_expect_eq(lp[n], 0.0f);
  }
  free(x), free(p), free(lp), free(row);
}

Test(logprob, tiny_probabilities_keep_relative_accuracy) {
  // the target is 120 nats below the max: its probability underflows float (~1e-52), but the
  // log-sum-exp form still gives its log-prob to float precision
  const int V = 5;
  float x[5] = {100.0f, -20.0f, 99.0f, 0.0f, 3.0f}, p[5], lp;
  int tg = 1;
  al_logprob_forward(&lp, p, x, &tg, 1, V);
  double row[5];
  for (int j = 0; j < V; j++) row[j] = x[j];
  double ref = ref_logp(row, V, 1);
  cr_expect_lt(fabs(lp - ref), 1e-6 * fabs(ref), "lp %g ref %g", lp, ref);
  cr_expect(isfinite(lp));
}

Test(logprob, backward_matches_finite_differences) {
  const int N = 6, V = 13;
  float *x = tu_frand((size_t)N * V, 2, 2), *p = tu_fnew((size_t)N * V), *lp = tu_fnew(N);
  float *R = tu_frand(N, 3, 1), *g = tu_fnew((size_t)N * V);
  int tg[6] = {1, -1, 12, 0, 5, 5};
  al_logprob_forward(lp, p, x, tg, N, V);
  al_logprob_backward(g, R, p, tg, N, V);
  // L = sum_n R[n] logp[n] over rows with a target
  double *row = malloc(sizeof(double) * V), *fd = malloc(sizeof(double) * N * V);
  const double h = 1e-5;
  double scale = 0;
  for (int n = 0; n < N; n++) {
    for (int j = 0; j < V; j++) row[j] = x[n * V + j];
    for (int j = 0; j < V; j++) {
      double save = row[j], lp1 = 0, lm1 = 0;
      if (tg[n] >= 0) {
        row[j] = save + h;
        lp1 = R[n] * ref_logp(row, V, tg[n]);
        row[j] = save - h;
        lm1 = R[n] * ref_logp(row, V, tg[n]);
        row[j] = save;
      }
      fd[n * V + j] = (lp1 - lm1) / (2 * h);
      scale = fmax(scale, fabs(fd[n * V + j]));
    }
  }
  double worst = 0;
  for (int i = 0; i < N * V; i++)
    worst = fmax(worst, fabs(g[i] - fd[i]) / (fabs(fd[i]) + 0.01 * scale));
  cr_expect_lt(worst, 1e-3, "err %g", worst);
  free(x), free(p), free(lp), free(R), free(g), free(row), free(fd);
}

Test(logprob, rows_without_target_give_zero_and_no_gradient) {
  const int N = 3, V = 9;
  float *x = tu_frand((size_t)N * V, 4, 1), *p = tu_fnew((size_t)N * V), *lp = tu_fnew(N);
  float dl[3] = {1, 1, 1}, *g = tu_fnew((size_t)N * V);
  int tg[3] = {-1, 4, -100};
  al_logprob_forward(lp, p, x, tg, N, V);
  al_logprob_backward(g, dl, p, tg, N, V);
  cr_expect_eq(lp[0], 0.0f);
  cr_expect_eq(lp[2], 0.0f);
  cr_expect_lt(lp[1], 0.0f);
  for (int j = 0; j < V; j++) {
    cr_expect_eq(g[0 * V + j], 0.0f);
    cr_expect_eq(g[2 * V + j], 0.0f);
  }
  double s = 0;
  for (int j = 0; j < V; j++) s += g[V + j];
  cr_expect_lt(fabs(s), 1e-6); // onehot - probs sums to 0
  free(x), free(p), free(lp), free(g);
}

Test(logprob, backward_accumulates) {
  const int N = 4, V = 10;
  float *x = tu_frand((size_t)N * V, 5, 1), *p = tu_fnew((size_t)N * V), *lp = tu_fnew(N);
  float *dl = tu_frand(N, 6, 1), *once = tu_fnew((size_t)N * V), *twice = tu_fnew((size_t)N * V);
  int tg[4] = {0, 9, 3, 3};
  al_logprob_forward(lp, p, x, tg, N, V);
  al_logprob_backward(once, dl, p, tg, N, V);
  al_logprob_backward(twice, dl, p, tg, N, V);
  al_logprob_backward(twice, dl, p, tg, N, V);
  for (int i = 0; i < N * V; i++) cr_expect_lt(fabs(twice[i] - 2 * once[i]), 1e-6);
  free(x), free(p), free(lp), free(dl), free(once), free(twice);
}

Test(logprob, degenerate_shapes_B1_T1_and_V1) {
  float x = 3.5f, p, lp;
  int tg = 0;
  al_logprob_forward(&lp, &p, &x, &tg, 1, 1);
  cr_expect_eq(p, 1.0f);
  cr_expect_eq(lp, 0.0f);
  float g = 0, dl = 2;
  al_logprob_backward(&g, &dl, &p, &tg, 1, 1);
  cr_expect_eq(g, 0.0f);
}

Test(entropy, matches_double_reference_and_known_values) {
  const int N = 4, V = 37;
  float *x = tu_frand((size_t)N * V, 7, 3), *p = tu_fnew((size_t)N * V), *ent = tu_fnew(N);
  for (int j = 0; j < V; j++) x[j] = 0;           // row 0 uniform: log V
  for (int j = 0; j < V; j++) x[V + j] = j == 5 ? 0 : -200; // row 1 one-hot: 0
  al_logprob_forward(NULL, p, x, NULL, N, V);
  al_entropy_forward(ent, p, N, V);
  cr_expect_lt(fabs(ent[0] - log(V)), 1e-5);
  cr_expect_eq(ent[1], 0.0f);
  double row[37];
  for (int n = 2; n < N; n++) {
    for (int j = 0; j < V; j++) row[j] = x[n * V + j];
    double h = 0;
    for (int j = 0; j < V; j++) {
      double l = ref_logp(row, V, j);
      h -= exp(l) * l;
    }
    cr_expect_lt(fabs(ent[n] - h), 1e-5 * fmax(1, h), "n=%d %g vs %g", n, ent[n], h);
  }
  free(x), free(p), free(ent);
}

Test(masked_nll, matches_hand_computed_value_and_gradient) {
  float lp[4] = {-1.0f, -2.0f, -3.0f, -4.0f}, m[4] = {1, 0, 1, 0.5f}, d[4];
  // (1*1 + 1*3 + 0.5*4) / 2.5 = 2.4
  float loss = al_masked_nll(d, lp, m, 4);
  cr_expect_lt(fabs(loss - 2.4f), 1e-6);
  cr_expect_lt(fabs(d[0] + 0.4f), 1e-7);
  cr_expect_eq(d[1], 0.0f);
  cr_expect_lt(fabs(d[2] + 0.4f), 1e-7);
  cr_expect_lt(fabs(d[3] + 0.2f), 1e-7);
  // NULL mask = all ones: the mean
  loss = al_masked_nll(d, lp, NULL, 4);
  cr_expect_lt(fabs(loss - 2.5f), 1e-6);
  for (int i = 0; i < 4; i++) cr_expect_lt(fabs(d[i] + 0.25f), 1e-7);
}

Test(masked_nll, zero_mask_returns_zero_and_zero_grads) {
  float lp[3] = {-1.0f, NAN, -3.0f}, m[3] = {0, 0, 0}, d[3] = {7, 7, 7};
  cr_expect_eq(al_masked_nll(d, lp, m, 3), 0.0f);
  for (int i = 0; i < 3; i++) cr_expect_eq(d[i], 0.0f);
  // a masked-out non-finite log-prob does not leak into the loss
  float m2[3] = {1, 0, 1};
  cr_expect_lt(fabs(al_masked_nll(d, lp, m2, 3) - 2.0f), 1e-6);
  cr_expect_eq(al_masked_nll(NULL, lp, m, 0), 0.0f);
}

Test(masked_nll, chained_with_logprob_gives_the_cross_entropy_gradient) {
  // d/dlogits of mean_n mask[n] * -log softmax(x_n)[t_n] = mask[n]/sum(mask) (probs - onehot)
  const int N = 5, V = 8;
  float *x = tu_frand((size_t)N * V, 9, 1), *p = tu_fnew((size_t)N * V), *lp = tu_fnew(N), *g = tu_fnew((size_t)N * V);
  float m[5] = {1, 1, 0, 1, 1}, d[5];
  int tg[5] = {2, 7, 0, -1, 4};
  al_logprob_forward(lp, p, x, tg, N, V);
  al_masked_nll(d, lp, m, N);
  al_logprob_backward(g, d, p, tg, N, V);
  const double msum = 4;
  for (int n = 0; n < N; n++)
    for (int j = 0; j < V; j++) {
      double want = tg[n] < 0 ? 0 : m[n] / msum * (p[n * V + j] - (j == tg[n]));
      cr_expect_lt(fabs(g[n * V + j] - want), 1e-7, "n=%d j=%d", n, j);
    }
  free(x), free(p), free(lp), free(g);
}
