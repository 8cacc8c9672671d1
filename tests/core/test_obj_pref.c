// Tests of core/obj_pref.c: Bradley-Terry, the DPO family and KTO: identities, hand-computed
// values and every gradient against central finite differences in double.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "al_obj.h"
#include "testutil.h"

#define P 7

// ---- Bradley-Terry ----

static double bt_at(const double *rc, const double *rr, const double *margin, const double *p,
                    double center) {
  al_bt_out o;
  cr_assert_eq(al_bt_loss(&o, NULL, NULL, rc, rr, margin, p, P, center), AL_OK);
  return o.loss;
}

Test(obj, softplus_and_log_sigmoid_are_stable_and_exact) {
  cr_assert_float_eq(al_softplus(0), log(2.0), 1e-15);
  cr_assert_float_eq(al_softplus(1000), 1000, 1e-12);
  cr_assert_float_eq(al_softplus(-1000), 0, 1e-300);
  cr_assert_float_eq(al_log_sigmoid(-800), -800, 1e-12);
  cr_assert_float_eq(al_sigmoid(-800), 0, 1e-300);
  cr_assert_float_eq(al_sigmoid(800), 1, 1e-15);
  cr_assert_float_eq(al_log_sigmoid(1.3), log(1 / (1 + exp(-1.3))), 1e-15);
}

Test(obj, bt_loss_matches_hand_computed_values) {
  // one pair: r_c = 1, r_r = 0 -> -log s(1) = log(1 + e^-1); accuracy 1
  double rc = 1, rr = 0, dc, dr;
  al_bt_out o;
  cr_assert_eq(al_bt_loss(&o, &dc, &dr, &rc, &rr, NULL, NULL, 1, 0), AL_OK);
  cr_assert_float_eq(o.loss, log(1 + exp(-1.0)), 1e-15);
  cr_assert_float_eq(dc, -1 / (1 + exp(1.0)), 1e-15); // s(1) - 1 = -s(-1)
  cr_assert_float_eq(dr, -dc, 1e-15);
  cr_assert_eq(o.accuracy, 1.0);
  // margin 1 makes d = 0: log 2; centering 0.5 adds 0.5 * 1^2
  double m = 1;
  cr_assert_eq(al_bt_loss(&o, NULL, NULL, &rc, &rr, &m, NULL, 1, 0.5), AL_OK);
  cr_assert_float_eq(o.loss, log(2.0) + 0.5, 1e-15);
  // soft label p = 0.5 at d = 1: 0.5 (log(1+e^-1) + log(1+e^1))
  double p = 0.5;
  cr_assert_eq(al_bt_loss(&o, NULL, NULL, &rc, &rr, NULL, &p, 1, 0), AL_OK);
  cr_assert_float_eq(o.loss, 0.5 * (log(1 + exp(-1.0)) + log(1 + exp(1.0))), 1e-15);
  // equal rewards count as half right
  cr_assert_eq(al_bt_loss(&o, NULL, NULL, &rr, &rr, NULL, NULL, 1, 0), AL_OK);
  cr_assert_eq(o.accuracy, 0.5);
}

Test(obj, bt_loss_is_stable_for_huge_reward_gaps) {
  double rc[2] = {1000, -1000}, rr[2] = {-1000, 1000}, dc[2], dr[2];
  al_bt_out o;
  cr_assert_eq(al_bt_loss(&o, dc, dr, rc, rr, NULL, NULL, 2, 0), AL_OK);
  cr_assert_float_eq(o.loss, 1000.0, 1e-9); // (0 + 2000) / 2
  cr_assert(isfinite(dc[0]) && isfinite(dc[1]));
  cr_assert_float_eq(dc[1], -0.5, 1e-15);
}

Test(obj, bt_loss_is_antisymmetric_under_swapping_with_flipped_labels) {
  double rc[P], rr[P], p[P], q[P];
  tu_fill_normal_d(rc, P, 1, 1.0);
  tu_fill_normal_d(rr, P, 2, 1.0);
  for (int i = 0; i < P; i++) {
    p[i] = (i + 0.5) / P;
    q[i] = 1 - p[i];
  }
  al_bt_out a, b;
  cr_assert_eq(al_bt_loss(&a, NULL, NULL, rc, rr, NULL, p, P, 0.01), AL_OK);
  cr_assert_eq(al_bt_loss(&b, NULL, NULL, rr, rc, NULL, q, P, 0.01), AL_OK);
  cr_assert_float_eq(a.loss, b.loss, 1e-14);
  cr_assert_float_eq(a.accuracy, 1 - b.accuracy, 1e-15);
  cr_assert_float_eq(a.margin, -b.margin, 1e-14);
}

Test(obj, bt_backward_matches_finite_differences) {
  double rc[P], rr[P], mg[P], p[P], dc[P], dr[P];
  tu_fill_normal_d(rc, P, 3, 2.0);
  tu_fill_normal_d(rr, P, 4, 2.0);
  tu_fill_normal_d(mg, P, 5, 0.5);
  for (int i = 0; i < P; i++) p[i] = 0.1 + 0.8 * i / (P - 1);
  al_bt_out o;
  cr_assert_eq(al_bt_loss(&o, dc, dr, rc, rr, mg, p, P, 0.05), AL_OK);
  const double h = 1e-5;
  for (int i = 0; i < P; i++) {
    double *xs[2] = {rc, rr}, *gs[2] = {dc, dr};
    for (int k = 0; k < 2; k++) {
      double x0 = xs[k][i];
      xs[k][i] = x0 + h;
      double lp = bt_at(rc, rr, mg, p, 0.05);
      xs[k][i] = x0 - h;
      double lm = bt_at(rc, rr, mg, p, 0.05);
      xs[k][i] = x0;
      double fd = (lp - lm) / (2 * h);
      cr_assert(fabs(fd - gs[k][i]) < 1e-9, "pair %d input %d: fd %g grad %g", i, k, fd, gs[k][i]);
    }
  }
}

Test(obj, bt_loss_refuses_bad_labels_and_empty_batches) {
  double x = 0, bad = 1.5;
  al_bt_out o;
  cr_assert_eq(al_bt_loss(&o, NULL, NULL, &x, &x, NULL, &bad, 1, 0), AL_EINVAL);
  cr_assert(strstr(al_errmsg(), "outside [0,1]"));
  cr_assert_eq(al_bt_loss(&o, NULL, NULL, &x, &x, NULL, NULL, 0, 0), AL_ESHAPE);
  cr_assert_eq(al_bt_loss(&o, NULL, NULL, &x, &x, NULL, NULL, 1, -1), AL_EINVAL);
}

// ---- DPO family ----

typedef struct {
  double pc[P], pr[P], rc[P], rr[P];
  int lc[P], lr[P];
} dpo_data;

static void dpo_fill(dpo_data *d, uint64_t seed) {
  tu_fill_normal_d(d->pc, P, seed, 3.0);
  tu_fill_normal_d(d->pr, P, seed + 1, 3.0);
  tu_fill_normal_d(d->rc, P, seed + 2, 3.0);
  tu_fill_normal_d(d->rr, P, seed + 3, 3.0);
  for (int i = 0; i < P; i++) {
    d->pc[i] -= 20;
    d->pr[i] -= 20;
    d->rc[i] = d->pc[i] + d->rc[i] * 0.3;
    d->rr[i] = d->pr[i] + d->rr[i] * 0.3;
    d->lc[i] = 3 + i;
    d->lr[i] = 9 - i;
  }
}

static al_dpo_out dpo_at(const dpo_data *d, al_dpo_opts o, double *gc, double *gr) {
  al_dpo_out out;
  cr_assert_eq(al_dpo_loss(&out, gc, gr, d->pc, d->pr, d->rc, d->rr, d->lc, d->lr, P, &o), AL_OK,
               "%s", al_errmsg());
  return out;
}

Test(obj, dpo_loss_is_log2_when_policy_equals_reference) {
  dpo_data d;
  dpo_fill(&d, 10);
  memcpy(d.rc, d.pc, sizeof d.pc);
  memcpy(d.rr, d.pr, sizeof d.pr);
  double betas[] = {0.01, 0.1, 1, 5};
  for (int k = 0; k < 4; k++) {
    al_dpo_out o = dpo_at(&d, (al_dpo_opts){AL_DPO_SIGMOID, betas[k], 0, 0}, NULL, NULL);
    cr_assert_float_eq(o.loss, log(2.0), 1e-15);
    cr_assert_eq(o.rewards_chosen, 0);
    cr_assert_eq(o.rewards_margins, 0);
    cr_assert_eq(o.rewards_accuracies, 0); // strict >, as TRL
    o = dpo_at(&d, (al_dpo_opts){AL_DPO_SIGMOID, betas[k], 0.2, 0}, NULL, NULL);
    cr_assert_float_eq(o.loss, log(2.0), 1e-15); // cDPO too
    o = dpo_at(&d, (al_dpo_opts){AL_DPO_IPO, betas[k], 0, 0}, NULL, NULL);
    cr_assert_float_eq(o.loss, 1 / (4 * betas[k] * betas[k]), 1e-12 / (betas[k] * betas[k]));
    o = dpo_at(&d, (al_dpo_opts){AL_DPO_HINGE, betas[k], 0, 0}, NULL, NULL);
    cr_assert_float_eq(o.loss, 1.0, 1e-15);
  }
}

Test(obj, dpo_gradient_at_reference_is_half_beta_per_pair) {
  // papers/dpo.md: the gradient weight is s(r_l - r_w) = 1/2 at the start
  dpo_data d;
  dpo_fill(&d, 11);
  memcpy(d.rc, d.pc, sizeof d.pc);
  memcpy(d.rr, d.pr, sizeof d.pr);
  double gc[P], gr[P];
  dpo_at(&d, (al_dpo_opts){AL_DPO_SIGMOID, 0.1, 0, 0}, gc, gr);
  for (int i = 0; i < P; i++) {
    cr_assert_float_eq(gc[i], -0.5 * 0.1 / P, 1e-16);
    cr_assert_float_eq(gr[i], 0.5 * 0.1 / P, 1e-16);
  }
}

Test(obj, cdpo_with_zero_smoothing_equals_dpo) {
  dpo_data d;
  dpo_fill(&d, 12);
  double g1[P], g2[P];
  al_dpo_out a = dpo_at(&d, (al_dpo_opts){AL_DPO_SIGMOID, 0.3, 0, 0}, g1, NULL);
  // and against the formula written out directly
  double ref = 0;
  for (int i = 0; i < P; i++) {
    double h = (d.pc[i] - d.rc[i]) - (d.pr[i] - d.rr[i]);
    ref += -log(1 / (1 + exp(-0.3 * h)));
  }
  cr_assert_float_eq(a.loss, ref / P, 1e-13);
  al_dpo_out b = dpo_at(&d, (al_dpo_opts){AL_DPO_SIGMOID, 0.3, 1e-300, 0}, g2, NULL);
  cr_assert_float_eq(a.loss, b.loss, 1e-15);
  for (int i = 0; i < P; i++) cr_assert_float_eq(g1[i], g2[i], 1e-17);
}

Test(obj, dpo_metrics_follow_trl_definitions) {
  dpo_data d;
  dpo_fill(&d, 13);
  double beta = 0.2;
  al_dpo_out o = dpo_at(&d, (al_dpo_opts){AL_DPO_SIGMOID, beta, 0, 0}, NULL, NULL);
  double c = 0, r = 0, acc = 0, lc = 0, lr = 0;
  for (int i = 0; i < P; i++) {
    double ci = beta * (d.pc[i] - d.rc[i]), ri = beta * (d.pr[i] - d.rr[i]);
    c += ci;
    r += ri;
    acc += ci > ri;
    lc += d.pc[i];
    lr += d.pr[i];
  }
  cr_assert_float_eq(o.rewards_chosen, c / P, 1e-13);
  cr_assert_float_eq(o.rewards_rejected, r / P, 1e-13);
  cr_assert_float_eq(o.rewards_margins, (c - r) / P, 1e-13);
  cr_assert_float_eq(o.rewards_accuracies, acc / P, 1e-15);
  cr_assert_float_eq(o.logps_chosen, lc / P, 1e-12);
  cr_assert_float_eq(o.logps_rejected, lr / P, 1e-12);
}

Test(obj, simpo_matches_its_formula_and_ignores_the_reference) {
  dpo_data d;
  dpo_fill(&d, 14);
  double beta = 2.0, gamma = 0.5;
  al_dpo_out o = dpo_at(&d, (al_dpo_opts){AL_DPO_SIMPO, beta, 0, gamma}, NULL, NULL);
  double ref = 0;
  for (int i = 0; i < P; i++) {
    double z = beta * (d.pc[i] / d.lc[i] - d.pr[i] / d.lr[i]) - gamma;
    ref += log(1 + exp(-z));
  }
  cr_assert_float_eq(o.loss, ref / P, 1e-13);
  al_dpo_out o2;
  al_dpo_opts so = {AL_DPO_SIMPO, beta, 0, gamma};
  cr_assert_eq(al_dpo_loss(&o2, NULL, NULL, d.pc, d.pr, NULL, NULL, d.lc, d.lr, P, &so), AL_OK);
  cr_assert_eq(o.loss, o2.loss);
  double rc = 0;
  for (int i = 0; i < P; i++) rc += beta * d.pc[i] / d.lc[i];
  cr_assert_float_eq(o.rewards_chosen, rc / P, 1e-12);
}

static void dpo_check_fd(al_dpo_opts o, uint64_t seed) {
  dpo_data d;
  dpo_fill(&d, seed);
  double gc[P], gr[P];
  dpo_at(&d, o, gc, gr);
  const double h = 1e-5;
  for (int i = 0; i < P; i++) {
    double *xs[2] = {d.pc, d.pr}, *gs[2] = {gc, gr};
    for (int k = 0; k < 2; k++) {
      double x0 = xs[k][i];
      xs[k][i] = x0 + h;
      double lp = dpo_at(&d, o, NULL, NULL).loss;
      xs[k][i] = x0 - h;
      double lm = dpo_at(&d, o, NULL, NULL).loss;
      xs[k][i] = x0;
      double fd = (lp - lm) / (2 * h);
      cr_assert(fabs(fd - gs[k][i]) < 1e-8 * (1 + fabs(fd)), "kind %d pair %d input %d: fd %.12g grad %.12g",
                (int)o.kind, i, k, fd, gs[k][i]);
    }
  }
}

Test(obj, dpo_backward_matches_finite_differences_for_every_kind) {
  dpo_check_fd((al_dpo_opts){AL_DPO_SIGMOID, 0.1, 0, 0}, 20);
  dpo_check_fd((al_dpo_opts){AL_DPO_SIGMOID, 0.5, 0.1, 0}, 21);
  dpo_check_fd((al_dpo_opts){AL_DPO_IPO, 0.1, 0, 0}, 22);
  dpo_check_fd((al_dpo_opts){AL_DPO_HINGE, 0.3, 0, 0}, 23); // random data stays off the kink
  dpo_check_fd((al_dpo_opts){AL_DPO_SIMPO, 2.0, 0, 0.5}, 24);
  dpo_check_fd((al_dpo_opts){AL_DPO_SIMPO, 2.0, 0.2, 0.5}, 25);
}

Test(obj, hinge_gradient_is_zero_past_the_margin) {
  double pc = 0, pr = -20, rc = 0, rr = 0, gc, gr; // h = 20, beta h = 2 > 1
  al_dpo_out o;
  al_dpo_opts op = {AL_DPO_HINGE, 0.1, 0, 0};
  cr_assert_eq(al_dpo_loss(&o, &gc, &gr, &pc, &pr, &rc, &rr, NULL, NULL, 1, &op), AL_OK);
  cr_assert_eq(o.loss, 0);
  cr_assert_eq(gc, 0);
  cr_assert_eq(gr, 0);
}

Test(obj, dpo_loss_refuses_bad_settings) {
  dpo_data d;
  dpo_fill(&d, 30);
  al_dpo_out o;
  al_dpo_opts op = {AL_DPO_SIGMOID, 0, 0, 0};
  cr_assert_eq(al_dpo_loss(&o, NULL, NULL, d.pc, d.pr, d.rc, d.rr, NULL, NULL, P, &op), AL_EINVAL);
  cr_assert(strstr(al_errmsg(), "beta"));
  op = (al_dpo_opts){AL_DPO_SIGMOID, 0.1, 0.7, 0};
  cr_assert_eq(al_dpo_loss(&o, NULL, NULL, d.pc, d.pr, d.rc, d.rr, NULL, NULL, P, &op), AL_EINVAL);
  op = (al_dpo_opts){AL_DPO_IPO, 0.1, 0.1, 0};
  cr_assert_eq(al_dpo_loss(&o, NULL, NULL, d.pc, d.pr, d.rc, d.rr, NULL, NULL, P, &op), AL_EINVAL);
  op = (al_dpo_opts){AL_DPO_SIMPO, 0.1, 0, 0};
  cr_assert_eq(al_dpo_loss(&o, NULL, NULL, d.pc, d.pr, NULL, NULL, NULL, NULL, P, &op), AL_EINVAL);
  op = (al_dpo_opts){AL_DPO_SIGMOID, 0.1, 0, 0};
  cr_assert_eq(al_dpo_loss(&o, NULL, NULL, d.pc, d.pr, NULL, NULL, NULL, NULL, P, &op), AL_EINVAL);
}

// ---- KTO ----

static double kto_at(const double *pi, const double *ref, const int *des, double z0) {
  al_kto_out o;
  cr_assert_eq(al_kto_loss(&o, NULL, pi, ref, des, P, z0, 0.1, 1.0, 1.33), AL_OK);
  return o.loss;
}

Test(obj, kto_loss_is_half_lambda_at_the_reference_point_and_matches_fd) {
  double pi[P], ref[P], g[P];
  int des[P];
  tu_fill_normal_d(pi, P, 40, 3.0);
  memcpy(ref, pi, sizeof pi);
  for (int i = 0; i < P; i++) des[i] = i % 3 != 0;
  al_kto_out o;
  // r = 0 = z0: every v is lambda/2, so the loss is mean lambda_y / 2
  cr_assert_eq(al_kto_loss(&o, g, pi, ref, des, P, 0, 0.1, 1.0, 1.33), AL_OK);
  double want = 0;
  for (int i = 0; i < P; i++) want += (des[i] ? 1.0 : 1.33) / 2;
  cr_assert_float_eq(o.loss, want / P, 1e-15);
  tu_fill_normal_d(ref, P, 41, 3.0);
  cr_assert_eq(al_kto_loss(&o, g, pi, ref, des, P, 0.4, 0.1, 1.0, 1.33), AL_OK);
  const double h = 1e-5;
  for (int i = 0; i < P; i++) {
    double x0 = pi[i];
    pi[i] = x0 + h;
    double lp = kto_at(pi, ref, des, 0.4);
    pi[i] = x0 - h;
    double lm = kto_at(pi, ref, des, 0.4);
    pi[i] = x0;
    cr_assert(fabs((lp - lm) / (2 * h) - g[i]) < 1e-10, "example %d", i);
  }
}

// ---- binary head (logistic loss) ----

static double logistic_at(const double *z, const double *y, int N) {
  al_logistic_out o;
  cr_assert_eq(al_logistic_loss(&o, NULL, z, y, N), AL_OK);
  return o.loss;
}

Test(obj, logistic_loss_matches_hand_computed_values) {
  // z = 0: log 2 whatever the target; gradient (1/2 - y) / N
  double z[2] = {0, 2}, y[2] = {1, 0}, dz[2];
  al_logistic_out o;
  cr_assert_eq(al_logistic_loss(&o, dz, z, y, 2), AL_OK);
  cr_assert_float_eq(o.loss, (log(2.0) + log(1 + exp(2.0))) / 2, 1e-15);
  cr_assert_float_eq(dz[0], -0.25, 1e-15);
  cr_assert_float_eq(dz[1], (1 / (1 + exp(-2.0))) / 2, 1e-15);
  cr_assert_float_eq(o.accuracy, 0.25, 1e-15); // a tie (1/2) and a miss (0)
  cr_assert_float_eq(o.mean_p, (0.5 + 1 / (1 + exp(-2.0))) / 2, 1e-15);
  // stable at huge logits: a confident miss costs |z|
  double big = -1000, one = 1;
  cr_assert_eq(al_logistic_loss(&o, dz, &big, &one, 1), AL_OK);
  cr_assert_float_eq(o.loss, 1000, 1e-9);
  cr_assert_float_eq(dz[0], -1, 1e-15);
}

Test(obj, logistic_backward_matches_finite_differences) {
  double z[P], y[P], dz[P];
  tu_fill_normal_d(z, P, 8, 2.0);
  for (int i = 0; i < P; i++) y[i] = i % 3 == 0 ? 0.3 : (i % 2); // soft and hard targets
  al_logistic_out o;
  cr_assert_eq(al_logistic_loss(&o, dz, z, y, P), AL_OK);
  const double h = 1e-5;
  for (int i = 0; i < P; i++) {
    double z0 = z[i];
    z[i] = z0 + h;
    double lp = logistic_at(z, y, P);
    z[i] = z0 - h;
    double lm = logistic_at(z, y, P);
    z[i] = z0;
    double fd = (lp - lm) / (2 * h);
    cr_assert(fabs(fd - dz[i]) < 1e-9, "example %d: fd %g grad %g", i, fd, dz[i]);
  }
}

Test(obj, logistic_loss_refuses_bad_targets_and_empty_batches) {
  double z = 0, y = 1.5;
  al_logistic_out o;
  cr_assert_eq(al_logistic_loss(&o, NULL, &z, &y, 1), AL_EINVAL);
  cr_assert(strstr(al_errmsg(), "y[1]") != NULL, "%s", al_errmsg());
  cr_assert_eq(al_logistic_loss(&o, NULL, &z, &y, 0), AL_ESHAPE);
}
