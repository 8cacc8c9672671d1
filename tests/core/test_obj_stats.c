// Tests of core/obj_stats.c: best-of-n against brute-force enumeration, the oracle frontier,
// Elo recovery, Gao fits on exact data, win rate, mean/sd and the bootstrap.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "al_obj.h"
#include "testutil.h"

// ---- best-of-n ----

Test(obj, bon_kl_matches_its_formula_and_is_zero_at_n_one) {
  cr_assert_eq(al_bon_kl(1), 0);
  cr_assert_float_eq(al_bon_kl(2), log(2.0) - 0.5, 1e-15);
  cr_assert_float_eq(al_bon_kl(1000), log(1000.0) - 0.999, 1e-13);
}

Test(obj, bon_weights_sum_to_one_and_match_binomials) {
  enum { M = 30 };
  double w[M];
  for (int n = 1; n <= M; n++) {
    cr_assert_eq(al_bon_weights(w, M, n), AL_OK);
    double s = 0;
    for (int i = 0; i < M; i++) {
      s += w[i];
      // C(i, n-1) / C(M, n) through lgamma, as an independent route
      double want = i < n - 1 ? 0
                              : exp(lgamma(i + 1.0) - lgamma(n + 0.0) - lgamma(i - n + 2.0) -
                                    (lgamma(M + 1.0) - lgamma(n + 1.0) - lgamma(M - n + 1.0)));
      cr_assert(fabs(w[i] - want) <= 1e-12 * (1 + want), "n %d i %d: %g vs %g", n, i, w[i], want);
    }
    cr_assert_float_eq(s, 1, 1e-13);
  }
  // a large pool stays finite and normalised
  static double big[100000];
  cr_assert_eq(al_bon_weights(big, 100000, 5000), AL_OK);
  double s = 0;
  for (int i = 0; i < 100000; i++) s += big[i];
  cr_assert_float_eq(s, 1, 1e-9);
  cr_assert_eq(al_bon_weights(w, M, M + 1), AL_EINVAL);
  cr_assert_eq(al_bon_weights(w, M, 0), AL_EINVAL);
}

Test(obj, bon_estimator_matches_brute_force_enumeration_over_all_subsets) {
  enum { M = 9 };
  double proxy[M], gold[M];
  tu_fill_normal_d(proxy, M, 1, 1.0);
  tu_fill_normal_d(gold, M, 2, 1.0);
  int ns[M];
  for (int k = 0; k < M; k++) ns[k] = k + 1;
  double eg[M], ep[M];
  cr_assert_eq(al_bon_expect(eg, ep, proxy, gold, M, ns, M), AL_OK);
  for (int n = 1; n <= M; n++) {
    double sg = 0, sp = 0;
    int count = 0;
    for (int set = 0; set < (1 << M); set++) {
      if (__builtin_popcount((unsigned)set) != n) continue;
      int best = -1;
      for (int i = 0; i < M; i++)
        if ((set >> i & 1) && (best < 0 || proxy[i] > proxy[best])) best = i;
      sg += gold[best];
      sp += proxy[best];
      count++;
    }
    cr_assert(fabs(eg[n - 1] - sg / count) < 1e-10, "n = %d gold", n);
    cr_assert(fabs(ep[n - 1] - sp / count) < 1e-10, "n = %d proxy", n);
  }
  // n = 1 is the pool mean, n = M the proxy's argmax
  double mg = 0;
  for (int i = 0; i < M; i++) mg += gold[i] / M;
  cr_assert_float_eq(eg[0], mg, 1e-14);
}

Test(obj, bon_estimator_averages_gold_over_proxy_ties) {
  double proxy[3] = {1, 1, 0}, gold[3] = {2, 4, 100}, eg;
  int n = 3;
  cr_assert_eq(al_bon_expect(&eg, NULL, proxy, gold, 3, &n, 1), AL_OK);
  cr_assert_float_eq(eg, 3, 1e-15);
}

// ---- oracle frontier ----

Test(obj, oracle_frontier_matches_hand_values_and_limits) {
  // M = 2, r = {0, 1}, beta = 1: w = {1, e}
  double r2[2] = {0, 1}, R, KL, ess, emin, beta = 1;
  cr_assert_eq(al_frontier(&R, &KL, &ess, &emin, r2, 1, 2, &beta, 1), AL_OK);
  double e = exp(1.0);
  cr_assert_float_eq(R, e / (1 + e), 1e-15);
  cr_assert_float_eq(KL, e / (1 + e) - log((1 + e) / 2), 1e-15);
  cr_assert_float_eq(ess, (1 + e) * (1 + e) / (1 + e * e), 1e-14);
  enum { NP = 3, M = 500 };
  static double r[NP * M];
  tu_fill_normal_d(r, NP * M, 3, 1.0);
  double betas[3] = {1e7, 1e-4, 0.5}, Rk[3], KLk[3], Ek[3], Emin[3];
  cr_assert_eq(al_frontier(Rk, KLk, Ek, Emin, r, NP, M, betas, 3), AL_OK);
  double mean = 0, maxmean = 0;
  for (int p = 0; p < NP; p++) {
    double mx = -INFINITY;
    for (int i = 0; i < M; i++) {
      mean += r[p * M + i] / (NP * M);
      mx = fmax(mx, r[p * M + i]);
    }
    maxmean += mx / NP;
  }
  // beta -> large: the reference itself
  cr_assert(KLk[0] < 1e-12, "KL %g", KLk[0]);
  cr_assert_float_eq(Rk[0], mean, 1e-6);
  cr_assert_float_eq(Ek[0], M, 1e-4);
  // beta -> 0: the argmax, KL -> log M, ess -> 1
  cr_assert_float_eq(Rk[1], maxmean, 1e-9);
  cr_assert_float_eq(KLk[1], log((double)M), 1e-6);
  cr_assert_float_eq(Emin[1], 1, 1e-6);
  // in between: monotone
  cr_assert(Rk[2] > Rk[0] && Rk[2] < Rk[1] && KLk[2] > 0 && KLk[2] < KLk[1]);
}

// ---- Elo ----

Test(obj, elo_recovers_known_ratings_from_expected_scores_exactly) {
  double truth[4] = {0, 100, -200, 300};
  int a[6], b[6], g = 0;
  double s[6];
  for (int i = 0; i < 4; i++)
    for (int j = i + 1; j < 4; j++) {
      a[g] = i;
      b[g] = j;
      s[g] = 1 / (1 + pow(10, (truth[j] - truth[i]) / 400));
      g++;
    }
  double elo[4];
  cr_assert_eq(al_elo_fit(elo, a, b, s, 6, 4, 0, 0), AL_OK, "%s", al_errmsg());
  for (int i = 0; i < 4; i++) cr_assert_float_eq(elo[i], truth[i], 1e-6, "player %d: %g", i, elo[i]);
  // anchoring player 2 shifts everything by 200
  cr_assert_eq(al_elo_fit(elo, a, b, s, 6, 4, 2, 0), AL_OK);
  for (int i = 0; i < 4; i++) cr_assert_float_eq(elo[i], truth[i] + 200, 1e-6);
}

Test(obj, elo_recovers_known_ratings_from_sampled_games) {
  double truth[3] = {0, 150, -100};
  enum { G = 6000 };
  static int a[G], b[G];
  static double s[G];
  al_rng rng;
  al_rng_seed(&rng, 17, 0);
  for (int g = 0; g < G; g++) {
    a[g] = g % 3;
    b[g] = (g + 1 + (g / 3) % 2) % 3;
    double p = 1 / (1 + pow(10, (truth[b[g]] - truth[a[g]]) / 400));
    double u = al_rng_uniform(&rng);
    s[g] = u < 0.1 ? 0.5 : u < 0.1 + 0.9 * p ? 1 : 0; // 10% ties
  }
  double elo[3];
  cr_assert_eq(al_elo_fit(elo, a, b, s, G, 3, 0, 0), AL_OK, "%s", al_errmsg());
  for (int i = 0; i < 3; i++) cr_assert(fabs(elo[i] - truth[i]) < 25, "player %d: %g", i, elo[i]);
}

Test(obj, elo_refuses_a_perfect_record_without_prior_and_fits_it_with_one) {
  int a[2] = {0, 0}, b[2] = {1, 1};
  double s[2] = {1, 1}, elo[2];
  cr_assert_eq(al_elo_fit(elo, a, b, s, 2, 2, 0, 0), AL_EINVAL);
  cr_assert(strstr(al_errmsg(), "prior"));
  cr_assert_eq(al_elo_fit(elo, a, b, s, 2, 2, 0, 0.1), AL_OK);
  cr_assert(elo[1] < -100 && isfinite(elo[1]));
  int c[1] = {2};
  cr_assert_eq(al_elo_fit(elo, a, c, s, 1, 2, 0, 0), AL_EINVAL);
}

// ---- Gao fits ----

Test(obj, gao_fits_recover_parameters_from_exact_data) {
  enum { K = 12 };
  double d[K], R[K];
  for (int i = 0; i < K; i++) {
    d[i] = 0.25 * (i + 1);
    R[i] = d[i] * (0.6 - 0.11 * d[i]);
  }
  al_fit f;
  cr_assert_eq(al_fit_gao_bon(&f, d, R, K), AL_OK);
  cr_assert_float_eq(f.alpha, 0.6, 1e-12);
  cr_assert_float_eq(f.beta, 0.11, 1e-12);
  cr_assert_float_eq(f.r2, 1, 1e-12);
  d[0] = 0; // RL form skips d = 0 (R(0) := 0)
  for (int i = 0; i < K; i++) R[i] = d[i] > 0 ? d[i] * (0.8 - 0.2 * log(d[i])) : 0;
  cr_assert_eq(al_fit_gao_rl(&f, d, R, K), AL_OK);
  cr_assert_float_eq(f.alpha, 0.8, 1e-12);
  cr_assert_float_eq(f.beta, 0.2, 1e-12);
  cr_assert_float_eq(f.r2, 1, 1e-12);
  // noise lowers R^2 below 1
  R[5] += 0.3;
  cr_assert_eq(al_fit_gao_rl(&f, d, R, K), AL_OK);
  cr_assert(f.r2 < 0.999 && f.r2 > 0);
  cr_assert_eq(al_fit_gao_bon(&f, d, R, 1), AL_EINVAL);
}

// ---- statistics ----

Test(obj, winrate_counts_ties_as_half) {
  double x[4] = {1, 2, 3, 4}, y[4] = {0, 2, 5, 3.95};
  cr_assert_float_eq(al_winrate(x, y, 4, 0), (1 + 0.5 + 0 + 1) / 4.0, 1e-15);
  cr_assert_float_eq(al_winrate(x, y, 4, 0.1), (1 + 0.5 + 0 + 0.5) / 4.0, 1e-15);
}

Test(obj, mean_sd_matches_hand_values) {
  double x[4] = {1, 2, 3, 4}, m, sd;
  al_mean_sd(&m, &sd, x, 4);
  cr_assert_float_eq(m, 2.5, 1e-15);
  cr_assert_float_eq(sd, sqrt(5.0 / 3), 1e-15);
  al_mean_sd(&m, &sd, x, 1);
  cr_assert_eq(sd, 0);
}

Test(obj, bootstrap_ci_is_seeded_and_close_to_the_normal_interval) {
  enum { N = 400 };
  static double x[N];
  tu_fill_normal_d(x, N, 5, 2.0);
  double lo, hi, lo2, hi2, m, sd;
  al_mean_sd(&m, &sd, x, N);
  cr_assert_eq(al_bootstrap_ci(&lo, &hi, x, N, 2000, 0.9, 1, NULL, NULL), AL_OK);
  cr_assert_eq(al_bootstrap_ci(&lo2, &hi2, x, N, 2000, 0.9, 1, NULL, NULL), AL_OK);
  cr_assert(lo == lo2 && hi == hi2);
  cr_assert(lo < m && m < hi);
  double half = 1.645 * sd / sqrt((double)N);
  cr_assert(fabs((hi - lo) / 2 - half) < 0.15 * half, "half-width %g vs %g", (hi - lo) / 2, half);
  cr_assert_eq(al_bootstrap_ci(&lo2, &hi2, x, N, 2000, 0.9, 2, NULL, NULL), AL_OK);
  cr_assert(lo2 != lo);
  cr_assert_eq(al_bootstrap_ci(&lo, &hi, x, N, 2000, 1.5, 1, NULL, NULL), AL_EINVAL);
}

// Regression: with many games the Newton step's true gain near the optimum falls below the
// rounding of the log-likelihood; a line search demanding a strict increase stalled and the fit
// reported "no finite maximum" on well-posed data (960 games, 5 players, every pair met).
Test(obj_stats, elo_converges_on_many_games_with_a_weak_prior) {
  enum { n = 5, G = 960 };
  static int a[G], b[G];
  static double s[G];
  const double truth[n] = {0, -0.1, 2.1, 2.8, 2.9}; // natural-scale strengths
  al_rng r;
  al_rng_seed(&r, 11, 0);
  int g = 0;
  while (g < G)
    for (int i = 0; i < n && g < G; i++)
      for (int j = i + 1; j < n && g < G; j++, g++) {
        a[g] = i;
        b[g] = j;
        double p = al_sigmoid(truth[i] - truth[j]), u = al_rng_uniform(&r);
        s[g] = u < 0.1 ? 0.5 : (u < 0.1 + 0.9 * p ? 1.0 : 0.0);
      }
  double elo[n];
  for (int k = 0; k < 3; k++) {
    double prior = k == 0 ? 0.0 : (k == 1 ? 0.01 : 0.1);
    cr_assert_eq(al_elo_fit(elo, a, b, s, G, n, 0, prior), AL_OK, "prior %g: %s", prior, al_errmsg());
    cr_assert_eq(elo[0], 0.0);
    cr_assert(elo[4] > elo[2] && elo[2] > elo[1], "prior %g: ordering", prior);
  }
}

// ---- calibration and AUROC ----

Test(obj, calibration_matches_a_hand_computation) {
  // 5 predictions, 2 bins [0, .5) and [.5, 1]:
  //   bin 0: p = .1, .3 (y = 0, 1): conf .2, acc .5, count 2
  //   bin 1: p = .5, .9, 1 (y = 1, 1, 0): conf 2.4/3 = .8, acc 2/3, count 3
  //   ECE = 2/5 |.5 - .2| + 3/5 |2/3 - .8| = .12 + .08 = .2
  //   Brier = (.01 + .49 + .25 + .01 + 1) / 5 = .352
  double p[5] = {0.1, 0.3, 0.5, 0.9, 1.0}, y[5] = {0, 1, 1, 1, 0};
  double ece, brier, cnt[2], conf[2], acc[2];
  cr_assert_eq(al_calibration(&ece, &brier, cnt, conf, acc, p, y, 5, 2), AL_OK);
  cr_assert_float_eq(ece, 0.2, 1e-14);
  cr_assert_float_eq(brier, 0.352, 1e-14);
  cr_assert_eq(cnt[0], 2);
  cr_assert_eq(cnt[1], 3);
  cr_assert_float_eq(conf[0], 0.2, 1e-14);
  cr_assert_float_eq(conf[1], 0.8, 1e-14);
  cr_assert_float_eq(acc[0], 0.5, 1e-14);
  cr_assert_float_eq(acc[1], 2.0 / 3, 1e-14);
  // ten bins: .1 -> bin 1, .3 -> bin 3, .5 -> bin 5, .9 -> bin 9, 1 -> bin 9 (the last)
  double c10[10], f10[10], a10[10];
  cr_assert_eq(al_calibration(&ece, NULL, c10, f10, a10, p, y, 5, 10), AL_OK);
  cr_assert_eq(c10[1] + c10[3] + c10[5] + c10[9], 5);
  cr_assert_eq(c10[9], 2);
  cr_assert_eq(c10[0], 0);
  cr_assert_eq(f10[0], 0); // empty bins report 0
  // per-bin |acc - conf|: .1, .7, .5, |.5 - .95| = .45 (weights 1,1,1,2 of 5)
  cr_assert_float_eq(ece, (0.1 + 0.7 + 0.5 + 2 * 0.45) / 5, 1e-14);
}

Test(obj, calibration_is_zero_for_a_calibrated_predictor_and_refuses_bad_input) {
  // in each bin the outcome rate equals the confidence exactly
  double p[8] = {0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75};
  double y[8] = {1, 0, 0, 0, 1, 1, 0, 1};
  double ece;
  cr_assert_eq(al_calibration(&ece, NULL, NULL, NULL, NULL, p, y, 8, 10), AL_OK);
  cr_assert_float_eq(ece, 0, 1e-15);
  double bad = 1.5;
  cr_assert_eq(al_calibration(&ece, NULL, NULL, NULL, NULL, &bad, y, 1, 10), AL_EINVAL);
  cr_assert(strstr(al_errmsg(), "p[1]") != NULL, "%s", al_errmsg());
  cr_assert_eq(al_calibration(&ece, NULL, NULL, NULL, NULL, p, &bad, 1, 10), AL_EINVAL);
  cr_assert_eq(al_calibration(&ece, NULL, NULL, NULL, NULL, p, y, 0, 10), AL_ESHAPE);
  cr_assert_eq(al_calibration(&ece, NULL, NULL, NULL, NULL, p, y, 8, 0), AL_ESHAPE);
}

Test(obj, auroc_matches_pair_counting_with_ties) {
  // positives .9 .4 .4; negatives .4 .1: pairs (9>4, 9>1, 4=4 half, 4>1, 4=4 half, 4>1) = 5/6
  double s[5] = {0.9, 0.4, 0.4, 0.4, 0.1}, y[5] = {1, 1, 0, 1, 0};
  double auc;
  cr_assert_eq(al_auroc(&auc, s, y, 5), AL_OK);
  cr_assert_float_eq(auc, 5.0 / 6, 1e-15);
  // brute force over random scores with ties
  enum { N = 200 };
  double rs[N], ry[N];
  al_rng rng;
  al_rng_seed(&rng, 7, 0);
  for (int i = 0; i < N; i++) rs[i] = (double)al_rng_int(&rng, 20), ry[i] = (double)al_rng_int(&rng, 2);
  double u = 0, np = 0, nn = 0;
  for (int i = 0; i < N; i++) {
    if (ry[i] == 1) np++; else nn++;
    for (int j = 0; j < N; j++)
      if (ry[i] == 1 && ry[j] == 0) u += rs[i] > rs[j] ? 1 : rs[i] == rs[j] ? 0.5 : 0;
  }
  cr_assert_eq(al_auroc(&auc, rs, ry, N), AL_OK);
  cr_assert_float_eq(auc, u / (np * nn), 1e-14);
  // reversing the scores gives 1 - AUC
  for (int i = 0; i < N; i++) rs[i] = -rs[i];
  double rev;
  cr_assert_eq(al_auroc(&rev, rs, ry, N), AL_OK);
  cr_assert_float_eq(rev, 1 - auc, 1e-14);
  double one[2] = {1, 1};
  cr_assert_eq(al_auroc(&auc, s, one, 2), AL_EINVAL);
  double half = 0.5;
  cr_assert_eq(al_auroc(&auc, s, &half, 1), AL_EINVAL);
}
