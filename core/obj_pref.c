// alignlab core: preference objectives on per-sequence scores: the Bradley-Terry reward-model
// loss, the DPO family (sigmoid/cDPO, IPO, hinge, SimPO), KTO and the logistic loss of a binary
// head (P(IK)), each with its gradient.
// Inputs are whatever the model produced (rewards, summed log-probs); the model is elsewhere.
#include <math.h>

#include "al_obj.h"

// ---- scalar helpers ----

double al_softplus(double x) {
  // log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow, full precision for large |x|
  return (x > 0 ? x : 0) + log1p(exp(-fabs(x)));
}

double al_log_sigmoid(double x) { return -al_softplus(-x); }

double al_sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + exp(-x));
  double e = exp(x);
  return e / (1.0 + e);
}

// ---- Bradley-Terry ----

al_status al_bt_loss(al_bt_out *out, double *dr_c, double *dr_r, const double *r_c,
                     const double *r_r, const double *margin, const double *p, int P,
                     double center) {
  if (P < 1) return al_seterr(AL_ESHAPE, "bt_loss: P = %d pairs, need at least 1", P);
  if (!(center >= 0)) return al_seterr(AL_EINVAL, "bt_loss: center = %g, need >= 0", center);
  if (p) {
    for (int i = 0; i < P; i++)
      if (!(p[i] >= 0 && p[i] <= 1))
        return al_seterr(AL_EINVAL, "bt_loss: label p[%d] = %g outside [0,1]", i + 1, p[i]);
  }
  double loss = 0, acc = 0, marg = 0, rsum = 0;
  for (int i = 0; i < P; i++) {
    double d = r_c[i] - r_r[i] - (margin ? margin[i] : 0);
    double pi = p ? p[i] : 1.0;
    double s = r_c[i] + r_r[i];
    // -p log s(d) - (1-p) log s(-d) = p softplus(-d) + (1-p) softplus(d)
    loss += pi * al_softplus(-d) + (1 - pi) * al_softplus(d) + center * s * s;
    // d/dd = -p s(-d) + (1-p) s(d) = s(d) - p
    double g = (al_sigmoid(d) - pi) / P;
    double gc = 2 * center * s / P;
    if (dr_c) dr_c[i] = g + gc;
    if (dr_r) dr_r[i] = -g + gc;
    acc += r_c[i] > r_r[i] ? 1.0 : r_c[i] == r_r[i] ? 0.5 : 0.0;
    marg += r_c[i] - r_r[i];
    rsum += s;
  }
  out->loss = loss / P;
  out->accuracy = acc / P;
  out->margin = marg / P;
  out->mean_reward = rsum / (2.0 * P);
  return AL_OK;
}

// ---- DPO family ----

// -(1-eps) log s(z) - eps log s(-z) and its derivative in z
static double smoothed_nls(double z, double eps, double *dz) {
  *dz = -(1 - eps) * al_sigmoid(-z) + eps * al_sigmoid(z);
  return (1 - eps) * al_softplus(-z) + eps * al_softplus(z);
}

al_status al_dpo_loss(al_dpo_out *out, double *dpi_c, double *dpi_r, const double *pi_c,
                      const double *pi_r, const double *ref_c, const double *ref_r,
                      const int *len_c, const int *len_r, int P, const al_dpo_opts *o) {
  if (P < 1) return al_seterr(AL_ESHAPE, "dpo_loss: P = %d pairs, need at least 1", P);
  if (!(o->beta > 0)) return al_seterr(AL_EINVAL, "dpo_loss: beta = %g, need > 0", o->beta);
  double eps = o->label_smoothing;
  if (!(eps >= 0 && eps <= 0.5))
    return al_seterr(AL_EINVAL, "dpo_loss: label_smoothing = %g outside [0, 0.5]", eps);
  int simpo = o->kind == AL_DPO_SIMPO;
  if (o->kind < AL_DPO_SIGMOID || o->kind > AL_DPO_SIMPO)
    return al_seterr(AL_EINVAL, "dpo_loss: unknown loss kind %d", (int)o->kind);
  if (eps != 0 && (o->kind == AL_DPO_IPO || o->kind == AL_DPO_HINGE))
    return al_seterr(AL_EINVAL, "dpo_loss: label_smoothing applies to sigmoid and simpo only");
  if (simpo) {
    if (!len_c || !len_r) return al_seterr(AL_EINVAL, "dpo_loss: simpo needs len_c and len_r");
    if (!isfinite(o->gamma)) return al_seterr(AL_EINVAL, "dpo_loss: gamma = %g", o->gamma);
    for (int i = 0; i < P; i++)
      if (len_c[i] < 1 || len_r[i] < 1)
        return al_seterr(AL_EINVAL, "dpo_loss: pair %d has a length < 1", i + 1);
  } else if (!ref_c || !ref_r) {
    return al_seterr(AL_EINVAL, "dpo_loss: reference log-probs are required (except simpo)");
  }
  double beta = o->beta;
  double loss = 0, rc = 0, rr = 0, acc = 0, lc = 0, lr = 0;
  for (int i = 0; i < P; i++) {
    double l, gc, gr; // loss term and its derivative w.r.t. pi_c, pi_r
    double chosen, rejected; // implicit rewards (TRL metrics)
    if (simpo) {
      // SimPO (Meng et al. 2024): z = beta/|y_w| log pi(y_w) - beta/|y_l| log pi(y_l) - gamma
      double ac = pi_c[i] / len_c[i], ar = pi_r[i] / len_r[i];
      double dz;
      l = smoothed_nls(beta * (ac - ar) - o->gamma, eps, &dz);
      gc = dz * beta / len_c[i];
      gr = -dz * beta / len_r[i];
      chosen = beta * ac;
      rejected = beta * ar;
    } else {
      double h = (pi_c[i] - ref_c[i]) - (pi_r[i] - ref_r[i]);
      double dh;
      switch (o->kind) {
      case AL_DPO_SIGMOID: { // papers/dpo.md eq. (7); cDPO = label smoothing
        double dz;
        l = smoothed_nls(beta * h, eps, &dz);
        dh = dz * beta;
        break;
      }
      case AL_DPO_IPO: { // papers/ipo_kto.md: (h - 1/(2 tau))^2
        double e = h - 1.0 / (2.0 * beta);
        l = e * e;
        dh = 2 * e;
        break;
      }
      default: { // hinge: relu(1 - beta h)
        double m = 1 - beta * h;
        l = m > 0 ? m : 0;
        dh = m > 0 ? -beta : 0;
        break;
      }
      }
      gc = dh;
      gr = -dh;
      chosen = beta * (pi_c[i] - ref_c[i]);
      rejected = beta * (pi_r[i] - ref_r[i]);
    }
    loss += l;
    if (dpi_c) dpi_c[i] = gc / P;
    if (dpi_r) dpi_r[i] = gr / P;
    rc += chosen;
    rr += rejected;
    acc += chosen > rejected;
    lc += pi_c[i];
    lr += pi_r[i];
  }
  out->loss = loss / P;
  out->rewards_chosen = rc / P;
  out->rewards_rejected = rr / P;
  out->rewards_margins = (rc - rr) / P;
  out->rewards_accuracies = acc / P;
  out->logps_chosen = lc / P;
  out->logps_rejected = lr / P;
  return AL_OK;
}

// ---- KTO ----

al_status al_kto_loss(al_kto_out *out, double *dpi, const double *pi, const double *ref,
                      const int *desirable, int N, double z0, double beta, double lambda_d,
                      double lambda_u) {
  if (N < 1) return al_seterr(AL_ESHAPE, "kto_loss: N = %d examples, need at least 1", N);
  if (!(beta > 0)) return al_seterr(AL_EINVAL, "kto_loss: beta = %g, need > 0", beta);
  if (!(lambda_d >= 0) || !(lambda_u >= 0))
    return al_seterr(AL_EINVAL, "kto_loss: desirable/undesirable weights must be >= 0");
  if (!isfinite(z0)) return al_seterr(AL_EINVAL, "kto_loss: z0 = %g", z0);
  if (z0 < 0) z0 = 0; // the reference point is clamped at 0 (KTO, section 4.1)
  double loss = 0, rc = 0, rr = 0;
  int nd = 0, nu = 0;
  for (int i = 0; i < N; i++) {
    double r = pi[i] - ref[i];
    double g;
    if (desirable[i]) {
      double s = al_sigmoid(beta * (r - z0));
      loss += lambda_d * (1 - s);
      g = -lambda_d * beta * s * (1 - s);
      rc += beta * r;
      nd++;
    } else {
      double s = al_sigmoid(beta * (z0 - r));
      loss += lambda_u * (1 - s);
      g = lambda_u * beta * s * (1 - s);
      rr += beta * r;
      nu++;
    }
    if (dpi) dpi[i] = g / N;
  }
  out->loss = loss / N;
  out->rewards_chosen = nd ? rc / nd : 0;
  out->rewards_rejected = nu ? rr / nu : 0;
  out->kl = z0;
  return AL_OK;
}

// ---- binary head (logistic loss) ----

al_status al_logistic_loss(al_logistic_out *out, double *dz, const double *z, const double *y,
                           int N) {
  if (N < 1) return al_seterr(AL_ESHAPE, "logistic_loss: N = %d examples, need at least 1", N);
  for (int i = 0; i < N; i++)
    if (!(y[i] >= 0 && y[i] <= 1))
      return al_seterr(AL_EINVAL, "logistic_loss: target y[%d] = %g outside [0,1]", i + 1, y[i]);
  double loss = 0, acc = 0, mp = 0;
  for (int i = 0; i < N; i++) {
    // -y log s(z) - (1-y) log s(-z) = y softplus(-z) + (1-y) softplus(z); d/dz = s(z) - y
    double s = al_sigmoid(z[i]);
    loss += y[i] * al_softplus(-z[i]) + (1 - y[i]) * al_softplus(z[i]);
    if (dz) dz[i] = (s - y[i]) / N;
    acc += z[i] == 0 ? 0.5 : ((z[i] > 0) == (y[i] > 0.5) ? 1.0 : 0.0);
    mp += s;
  }
  out->loss = loss / N;
  out->accuracy = acc / N;
  out->mean_p = mp / N;
  return AL_OK;
}
