// Tests of core/obj_rl.c: PPO policy and value losses, GAE, whitening, KL estimators and
// penalised rewards, the adaptive KL controller, GRPO and RLOO advantages.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "al_obj.h"
#include "testutil.h"

#define N 40

// ---- PPO policy loss ----

Test(obj, ppo_ratio_one_gives_minus_mean_advantage_and_no_clipping) {
  double lp[N], A[N], mask[N], g[N];
  tu_fill_normal_d(lp, N, 1, 1.0);
  tu_fill_normal_d(A, N, 2, 1.0);
  double msum = 0, s = 0;
  for (int i = 0; i < N; i++) {
    lp[i] -= 3;
    mask[i] = i % 4 != 0;
    msum += mask[i];
    s += mask[i] * A[i];
  }
  al_ppo_out o;
  cr_assert_eq(al_ppo_policy_loss(&o, g, lp, lp, A, mask, N, 0.2), AL_OK);
  cr_assert_float_eq(o.loss, -s / msum, 1e-14);
  cr_assert_eq(o.clipfrac, 0);
  cr_assert_eq(o.approx_kl, 0);
  cr_assert_eq(o.kl1, 0);
  cr_assert_eq(o.ratio_mean, 1);
  cr_assert_eq(o.ratio_var, 0);
  for (int i = 0; i < N; i++) cr_assert_float_eq(g[i], -mask[i] * A[i] / msum, 1e-16);
}

Test(obj, ppo_clipping_zeroes_gradients_outside_the_trust_region_on_the_advantage_side) {
  // eps = 0.2; ratios 1.5 (above) and 0.5 (below); advantages +1 and -1
  double old[4] = {0, 0, 0, 0};
  double lp[4] = {log(1.5), log(0.5), log(1.5), log(0.5)};
  double A[4] = {1, 1, -1, -1}, g[4];
  al_ppo_out o;
  cr_assert_eq(al_ppo_policy_loss(&o, g, lp, old, A, NULL, 4, 0.2), AL_OK);
  // A > 0, r > 1+eps: clipped, flat -> 0. A > 0, r < 1-eps: unclipped (pessimistic) -> -A r / N
  cr_assert_eq(g[0], 0);
  cr_assert_float_eq(g[1], -1 * 0.5 / 4, 1e-16);
  // A < 0, r > 1+eps: unclipped -> -A r / N. A < 0, r < 1-eps: clipped -> 0
  cr_assert_float_eq(g[2], 1.5 / 4, 1e-15);
  cr_assert_eq(g[3], 0);
  cr_assert_float_eq(o.clipfrac, 0.5, 1e-15);
  // loss terms: -1.2, -0.5, 1.5, 0.8
  cr_assert_float_eq(o.loss, (-1.2 - 0.5 + 1.5 + 0.8) / 4, 1e-15);
  // k3 = (r-1) - log r, k1 = -log r
  double k3 = 0, k1 = 0;
  for (int i = 0; i < 4; i++) {
    k3 += (exp(lp[i]) - 1) - lp[i];
    k1 += -lp[i];
  }
  cr_assert_float_eq(o.approx_kl, k3 / 4, 1e-15);
  cr_assert_float_eq(o.kl1, k1 / 4, 1e-15);
}

static double ppo_at(const double *lp, const double *old, const double *A, const double *mask) {
  al_ppo_out o;
  cr_assert_eq(al_ppo_policy_loss(&o, NULL, lp, old, A, mask, N, 0.2), AL_OK);
  return o.loss;
}

Test(obj, ppo_policy_backward_matches_finite_differences) {
  double lp[N], old[N], A[N], mask[N], g[N];
  tu_fill_normal_d(old, N, 3, 1.0);
  tu_fill_normal_d(lp, N, 4, 0.3);
  tu_fill_normal_d(A, N, 5, 1.0);
  for (int i = 0; i < N; i++) {
    lp[i] += old[i];
    mask[i] = i % 5 != 1;
  }
  al_ppo_out o;
  cr_assert_eq(al_ppo_policy_loss(&o, g, lp, old, A, mask, N, 0.2), AL_OK);
  cr_assert(o.clipfrac > 0 && o.clipfrac < 1, "the data should exercise both branches");
  const double h = 1e-6;
  int checked = 0;
  for (int i = 0; i < N; i++) {
    double r = exp(lp[i] - old[i]);
    if (fabs(r - 1.2) < 1e-3 || fabs(r - 0.8) < 1e-3) continue; // skip the kinks
    double x0 = lp[i];
    lp[i] = x0 + h;
    double fp = ppo_at(lp, old, A, mask);
    lp[i] = x0 - h;
    double fm = ppo_at(lp, old, A, mask);
    lp[i] = x0;
    cr_assert(fabs((fp - fm) / (2 * h) - g[i]) < 1e-9, "token %d", i);
    checked++;
  }
  cr_assert(checked > N - 3);
}

Test(obj, ppo_policy_loss_with_empty_mask_is_zero_and_bad_eps_is_refused) {
  double x[3] = {0.1, 0.2, 0.3}, m[3] = {0, 0, 0}, g[3] = {9, 9, 9};
  al_ppo_out o;
  cr_assert_eq(al_ppo_policy_loss(&o, g, x, x, x, m, 3, 0.2), AL_OK);
  cr_assert_eq(o.loss, 0);
  cr_assert_eq(g[0], 0);
  cr_assert_eq(al_ppo_policy_loss(&o, g, x, x, x, NULL, 3, 0), AL_EINVAL);
  cr_assert(strstr(al_errmsg(), "eps"));
}

// ---- value loss ----

Test(obj, value_loss_clips_and_matches_hand_values) {
  // V_old = 0, eps = 0.2, R = 1. V = 0.1: inside, 0.5 * 0.81.
  // V = 0.5: clipped to 0.2, (0.2-1)^2 = 0.64 > (0.5-1)^2 = 0.25 -> 0.32, grad 0.
  // V = -0.5: clipped to -0.2, (1.2)^2 = 1.44 < (1.5)^2 = 2.25 -> unclipped 1.125, grad -1.5/3.
  double V[3] = {0.1, 0.5, -0.5}, Vo[3] = {0, 0, 0}, R[3] = {1, 1, 1}, g[3];
  al_value_out o;
  cr_assert_eq(al_ppo_value_loss(&o, g, V, Vo, R, NULL, 3, 0.2), AL_OK);
  cr_assert_float_eq(o.loss, (0.405 + 0.32 + 1.125) / 3, 1e-15);
  cr_assert_float_eq(g[0], -0.9 / 3, 1e-15);
  cr_assert_eq(g[1], 0);
  cr_assert_float_eq(g[2], -1.5 / 3, 1e-15);
  cr_assert_float_eq(o.clipfrac, 1.0 / 3, 1e-15);
  // INFINITY disables clipping
  cr_assert_eq(al_ppo_value_loss(&o, g, V, Vo, R, NULL, 3, INFINITY), AL_OK);
  cr_assert_float_eq(o.loss, 0.5 * (0.81 + 0.25 + 2.25) / 3, 1e-15);
  cr_assert_float_eq(g[1], -0.5 / 3, 1e-15);
}

static double value_at(const double *V, const double *Vo, const double *R, const double *m) {
  al_value_out o;
  cr_assert_eq(al_ppo_value_loss(&o, NULL, V, Vo, R, m, N, 0.2), AL_OK);
  return o.loss;
}

Test(obj, value_backward_matches_finite_differences) {
  double V[N], Vo[N], R[N], m[N], g[N];
  tu_fill_normal_d(Vo, N, 6, 1.0);
  tu_fill_normal_d(V, N, 7, 0.3);
  tu_fill_normal_d(R, N, 8, 1.0);
  for (int i = 0; i < N; i++) {
    V[i] += Vo[i];
    m[i] = i % 3 != 2;
  }
  al_value_out o;
  cr_assert_eq(al_ppo_value_loss(&o, g, V, Vo, R, m, N, 0.2), AL_OK);
  cr_assert(o.clipfrac > 0);
  const double h = 1e-6;
  for (int i = 0; i < N; i++) {
    if (fabs(fabs(V[i] - Vo[i]) - 0.2) < 1e-3) continue;
    double x0 = V[i];
    V[i] = x0 + h;
    double fp = value_at(V, Vo, R, m);
    V[i] = x0 - h;
    double fm = value_at(V, Vo, R, m);
    V[i] = x0;
    cr_assert(fabs((fp - fm) / (2 * h) - g[i]) < 1e-9, "token %d", i);
  }
}

Test(obj, explained_variance_is_one_for_perfect_values_and_zero_for_the_mean) {
  double R[5] = {1, 2, 3, 4, 5}, Vm[5] = {3, 3, 3, 3, 3};
  al_value_out o;
  cr_assert_eq(al_ppo_value_loss(&o, NULL, R, R, R, NULL, 5, 0.2), AL_OK);
  cr_assert_float_eq(o.explained_variance, 1, 1e-15);
  cr_assert_eq(o.loss, 0);
  cr_assert_eq(al_ppo_value_loss(&o, NULL, Vm, Vm, R, NULL, 5, 0.2), AL_OK);
  cr_assert_float_eq(o.explained_variance, 0, 1e-15);
}

// ---- GAE ----

Test(obj, gae_matches_a_hand_computed_table) {
  // T = 3, gamma = 0.9, lambda = 0.8, bootstrap 0 after the last token:
  //   t  r    V     delta_t = r + 0.9 V_{t+1} - V_t    A_t = delta_t + 0.72 A_{t+1}    R = A + V
  //   2  2   -0.5   2 + 0 + 0.5          =  2.5        2.5                              2.0
  //   1  0    1.0   0 - 0.45 - 1         = -1.45       -1.45 + 0.72 * 2.5  = 0.35       1.35
  //   0  1    0.5   1 + 0.9 - 0.5        =  1.4        1.4 + 0.72 * 0.35   = 1.652      2.152
  double r[3] = {1, 0, 2}, V[3] = {0.5, 1.0, -0.5}, A[3], R[3];
  cr_assert_eq(al_gae(A, R, r, V, NULL, 1, 3, 0.9, 0.8), AL_OK);
  double wantA[3] = {1.652, 0.35, 2.5}, wantR[3] = {2.152, 1.35, 2.0};
  for (int t = 0; t < 3; t++) {
    cr_assert_float_eq(A[t], wantA[t], 1e-14, "A[%d] = %.17g", t, A[t]);
    cr_assert_float_eq(R[t], wantR[t], 1e-14);
  }
  // the same sequence inside a padded row (prompt token before, padding after) and a second row
  double r2[10] = {7, 1, 0, 2, 7, 0, 0, 0, 1, 0}, V2[10] = {7, 0.5, 1.0, -0.5, 7, 0, 0, 0, 0, 0};
  double m2[10] = {0, 1, 1, 1, 0, 0, 0, 0, 1, 0}, A2[10], R2[10];
  cr_assert_eq(al_gae(A2, R2, r2, V2, m2, 2, 5, 0.9, 0.8), AL_OK);
  for (int t = 0; t < 3; t++) cr_assert_float_eq(A2[t + 1], wantA[t], 1e-14);
  cr_assert_eq(A2[0], 0);
  cr_assert_eq(A2[4], 0);
  cr_assert_eq(R2[4], 0);
  cr_assert_float_eq(A2[8], 1.0, 1e-15); // single-token sequence: r - V = 1
}

Test(obj, gae_lambda_one_is_monte_carlo_and_lambda_zero_is_td) {
  enum { T = 6 };
  double r[T], V[T], A[T], R[T];
  tu_fill_normal_d(r, T, 9, 1.0);
  tu_fill_normal_d(V, T, 10, 1.0);
  double g = 0.95;
  cr_assert_eq(al_gae(A, R, r, V, NULL, 1, T, g, 1.0), AL_OK);
  for (int t = 0; t < T; t++) {
    double G = 0, disc = 1;
    for (int k = t; k < T; k++, disc *= g) G += disc * r[k];
    cr_assert_float_eq(A[t], G - V[t], 1e-13);
    cr_assert_float_eq(R[t], G, 1e-13);
  }
  cr_assert_eq(al_gae(A, R, r, V, NULL, 1, T, g, 0.0), AL_OK);
  for (int t = 0; t < T; t++) {
    double next = t + 1 < T ? V[t + 1] : 0;
    cr_assert_float_eq(A[t], r[t] + g * next - V[t], 1e-14);
  }
}

Test(obj, mask_from_lengths_and_its_errors) {
  int len[2] = {2, 0};
  double m[6];
  cr_assert_eq(al_mask_from_lengths(m, len, 2, 3), AL_OK);
  double want[6] = {1, 1, 0, 0, 0, 0};
  for (int i = 0; i < 6; i++) cr_assert_eq(m[i], want[i]);
  len[1] = 4;
  cr_assert_eq(al_mask_from_lengths(m, len, 2, 3), AL_EINVAL);
}

// ---- whitening ----

Test(obj, whitening_gives_mean_zero_and_unit_variance_over_the_mask) {
  double x[N], m[N], w[N];
  tu_fill_normal_d(x, N, 11, 3.0);
  double msum = 0;
  for (int i = 0; i < N; i++) {
    x[i] += 5;
    m[i] = i % 4 != 3;
    msum += m[i];
  }
  cr_assert_eq(al_whiten(w, x, m, N, 1), AL_OK);
  double s = 0, ss = 0;
  for (int i = 0; i < N; i++) s += m[i] * w[i];
  for (int i = 0; i < N; i++) ss += m[i] * w[i] * w[i];
  cr_assert_float_eq(s / msum, 0, 1e-14);
  cr_assert_float_eq(ss / (msum - 1), 1, 1e-8); // unbiased variance, up to the 1e-8 guard
  for (int i = 3; i < N; i += 4) cr_assert_eq(w[i], 0);
  // shift_mean = 0 keeps the original mean
  double xm = 0;
  for (int i = 0; i < N; i++) xm += m[i] * x[i];
  cr_assert_eq(al_whiten(w, x, m, N, 0), AL_OK);
  s = 0;
  for (int i = 0; i < N; i++) s += m[i] * w[i];
  cr_assert_float_eq(s / msum, xm / msum, 1e-12);
  cr_assert_eq(al_whiten(w, x, NULL, 1, 1), AL_EINVAL);
}

Test(obj, clip_bounds_values) {
  double x[4] = {-5, -1, 1, 5};
  al_clip(x, 4, -2, 2);
  cr_assert(x[0] == -2 && x[1] == -1 && x[2] == 1 && x[3] == 2);
}

// ---- KL ----

Test(obj, kl_estimators_are_unbiased_in_exact_expectation_and_k3_is_nonnegative) {
  // p, q over 4 outcomes; E_p[k1] = E_p[k3] = KL(p||q) exactly
  double p[4] = {0.1, 0.2, 0.3, 0.4}, q[4] = {0.25, 0.25, 0.4, 0.1};
  double lp[4], lq[4], k1[4], k2[4], k3[4];
  double kl = 0;
  for (int i = 0; i < 4; i++) {
    lp[i] = log(p[i]);
    lq[i] = log(q[i]);
    kl += p[i] * log(p[i] / q[i]);
  }
  al_kl_estimate(k1, lp, lq, 4, AL_KL_K1);
  al_kl_estimate(k2, lp, lq, 4, AL_KL_K2);
  al_kl_estimate(k3, lp, lq, 4, AL_KL_K3);
  double e1 = 0, e3 = 0;
  for (int i = 0; i < 4; i++) {
    e1 += p[i] * k1[i];
    e3 += p[i] * k3[i];
    cr_assert(k3[i] >= 0);
    cr_assert_float_eq(k2[i], 0.5 * k1[i] * k1[i], 1e-15);
    double r = q[i] / p[i];
    cr_assert_float_eq(k3[i], (r - 1) - log(r), 1e-14);
  }
  cr_assert_float_eq(e1, kl, 1e-15);
  cr_assert_float_eq(e3, kl, 1e-14);
  // a model against itself: 0
  al_kl_estimate(k3, lp, lp, 4, AL_KL_K3);
  for (int i = 0; i < 4; i++) cr_assert_eq(k3[i], 0);
}

Test(obj, kl_rewards_put_the_score_on_the_last_response_token) {
  // B = 2, T = 4: row 0 response at t = 1..2, row 1 at t = 0..3
  double lp[8] = {0, -1, -2, 0, -1, -1, -1, -1};
  double lq[8] = {0, -1.5, -1, 0, -1, -2, -1, -0.5};
  double m[8] = {0, 1, 1, 0, 1, 1, 1, 1}, score[2] = {3, -2}, r[8], kl[8];
  cr_assert_eq(al_kl_rewards(r, kl, lp, lq, m, score, 2, 4, 0.1, AL_KL_K1), AL_OK);
  double want[8] = {0, -0.05, 0.1 + 3, 0, 0, -0.1, 0, 0.05 - 2};
  for (int i = 0; i < 8; i++) cr_assert_float_eq(r[i], want[i], 1e-15, "i = %d: %g", i, r[i]);
  cr_assert_float_eq(kl[1], 0.5, 1e-15);
  double m0[8] = {0, 0, 0, 0, 1, 1, 1, 1};
  cr_assert_eq(al_kl_rewards(r, kl, lp, lq, m0, score, 2, 4, 0.1, AL_KL_K1), AL_EINVAL);
  cr_assert(strstr(al_errmsg(), "row 1"));
}

// ---- adaptive KL controller ----

Test(obj, adaptive_kl_controller_follows_its_formula_and_saturates) {
  al_klctl c;
  cr_assert_eq(al_klctl_init(&c, 0.15, 6, 10000), AL_OK);
  // KL = 6.6: e = 0.1, beta = 0.15 (1 + 0.1 * 512/10000)
  double b = al_klctl_update(&c, 6.6, 512);
  cr_assert_float_eq(b, 0.15 * (1 + 0.1 * 512 / 10000.0), 1e-15);
  // KL far above: e saturates at 0.2
  double b0 = c.beta;
  b = al_klctl_update(&c, 100, 512);
  cr_assert_float_eq(b, b0 * (1 + 0.2 * 512 / 10000.0), 1e-15);
  // KL = 0: e = -0.2 (saturated below)
  b0 = c.beta;
  b = al_klctl_update(&c, 0, 512);
  cr_assert_float_eq(b, b0 * (1 - 0.2 * 512 / 10000.0), 1e-15);
  // on target: unchanged
  b0 = c.beta;
  cr_assert_eq(al_klctl_update(&c, 6, 512), b0);
  // fixed controller
  cr_assert_eq(al_klctl_init(&c, 0.05, 0, 0), AL_OK);
  cr_assert_eq(al_klctl_update(&c, 100, 512), 0.05);
  cr_assert_eq(al_klctl_init(&c, 0.05, 6, 0), AL_EINVAL);
}

// ---- GRPO and RLOO ----

Test(obj, grpo_advantages_match_hand_values) {
  // group {1, 2, 3}: mean 2, unbiased sd 1; group {0, 0, 3}: mean 1, sd sqrt(3)
  double r[6] = {1, 2, 3, 0, 0, 3}, a[6];
  cr_assert_eq(al_grpo_advantages(a, r, 6, 3, 0, 1), AL_OK);
  double s3 = sqrt(3.0);
  double want[6] = {-1, 0, 1, -1 / s3, -1 / s3, 2 / s3};
  for (int i = 0; i < 6; i++) cr_assert_float_eq(a[i], want[i], 1e-15);
  cr_assert_eq(al_grpo_advantages(a, r, 6, 3, 1e-4, 0), AL_OK);
  double want0[6] = {-1, 0, 1, -1, -1, 2};
  for (int i = 0; i < 6; i++) cr_assert_float_eq(a[i], want0[i], 1e-15);
  double same[3] = {5, 5, 5};
  cr_assert_eq(al_grpo_advantages(a, same, 3, 3, 0, 1), AL_OK);
  for (int i = 0; i < 3; i++) cr_assert_eq(a[i], 0);
  cr_assert_eq(al_grpo_advantages(a, r, 6, 4, 0, 1), AL_ESHAPE);
  cr_assert_eq(al_grpo_advantages(a, r, 6, 1, 0, 1), AL_EINVAL);
}

Test(obj, rloo_baseline_leaves_one_out) {
  double r[4] = {1, 2, 3, 6}, a[4];
  cr_assert_eq(al_rloo_advantages(a, r, 4, 4), AL_OK);
  double want[4] = {1 - 11 / 3.0, 2 - 10 / 3.0, 3 - 3.0, 6 - 2.0};
  for (int i = 0; i < 4; i++) cr_assert_float_eq(a[i], want[i], 1e-15);
  // equals G/(G-1) times the mean-baseline advantage
  for (int i = 0; i < 4; i++) cr_assert_float_eq(a[i], 4.0 / 3 * (r[i] - 3), 1e-15);
}
