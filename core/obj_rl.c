// alignlab core: the per-token pieces of PPO-RLHF, GRPO and RLOO: clipped policy and value
// losses with their gradients, GAE, masked whitening, KL estimators and the KL-penalised
// rewards, the adaptive KL controller, group-relative and leave-one-out advantages.
// Rollouts, minibatching and the model's log-probs live in the Lua trainer and al_gpt.
#include <math.h>

#include "al_obj.h"

static double mval(const double *mask, int i) { return mask ? mask[i] : 1.0; }

// ---- clipped surrogate policy loss ----

al_status al_ppo_policy_loss(al_ppo_out *out, double *dlogp, const double *logp,
                             const double *old_logp, const double *adv, const double *mask, int N,
                             double eps) {
  if (N < 0) return al_seterr(AL_ESHAPE, "ppo_policy_loss: N = %d", N);
  if (!(eps > 0)) return al_seterr(AL_EINVAL, "ppo_policy_loss: clip eps = %g, need > 0", eps);
  double msum = 0;
  for (int i = 0; i < N; i++) msum += mval(mask, i);
  double loss = 0, clipped = 0, k1 = 0, k2 = 0, k3 = 0, rs = 0, rs2 = 0;
  for (int i = 0; i < N; i++) {
    double m = mval(mask, i);
    if (m == 0 || msum == 0) {
      if (dlogp) dlogp[i] = 0;
      continue;
    }
    double lr = logp[i] - old_logp[i];
    double r = exp(lr);
    double A = adv[i];
    double rc = r < 1 - eps ? 1 - eps : r > 1 + eps ? 1 + eps : r;
    double l1 = -A * r, l2 = -A * rc;
    // papers/ppo_rlhf.md, Schulman et al. eq. (7), negated to a loss: max(-A r, -A clip(r))
    int clip_on = l2 > l1;
    loss += m * (clip_on ? l2 : l1);
    clipped += m * clip_on;
    if (dlogp) dlogp[i] = clip_on ? 0 : m * (-A * r) / msum; // d r / d logp = r
    k1 += m * -lr;
    k2 += m * 0.5 * lr * lr;
    k3 += m * ((r - 1) - lr); // Schulman's k3 for KL[old || new]: r = new/old, samples from old
    rs += m * r;
    rs2 += m * r * r;
  }
  if (msum == 0) {
    *out = (al_ppo_out){0};
    out->ratio_mean = 1;
    return AL_OK;
  }
  out->loss = loss / msum;
  out->clipfrac = clipped / msum;
  out->kl1 = k1 / msum;
  out->kl2 = k2 / msum;
  out->approx_kl = k3 / msum;
  out->ratio_mean = rs / msum;
  double v = rs2 / msum - out->ratio_mean * out->ratio_mean;
  out->ratio_var = v > 0 ? v : 0;
  return AL_OK;
}

// ---- clipped value loss ----

al_status al_ppo_value_loss(al_value_out *out, double *dV, const double *V, const double *V_old,
                            const double *R, const double *mask, int N, double eps) {
  if (N < 0) return al_seterr(AL_ESHAPE, "ppo_value_loss: N = %d", N);
  if (!(eps >= 0)) return al_seterr(AL_EINVAL, "ppo_value_loss: clip eps = %g, need >= 0", eps);
  double msum = 0;
  for (int i = 0; i < N; i++) msum += mval(mask, i);
  double loss = 0, clipped = 0, vs = 0;
  for (int i = 0; i < N; i++) {
    double m = mval(mask, i);
    if (m == 0 || msum == 0) {
      if (dV) dV[i] = 0;
      continue;
    }
    double lo = V_old[i] - eps, hi = V_old[i] + eps;
    double vc = V[i] < lo ? lo : V[i] > hi ? hi : V[i];
    double e1 = V[i] - R[i], e2 = vc - R[i];
    int clip_on = e2 * e2 > e1 * e1;
    loss += m * 0.5 * (clip_on ? e2 * e2 : e1 * e1);
    clipped += m * clip_on;
    if (dV) {
      // the clipped term can only be the larger outside the band, where it is flat in V
      dV[i] = clip_on ? 0 : m * e1 / msum;
    }
    vs += m * V[i];
  }
  if (msum == 0) {
    *out = (al_value_out){0};
    return AL_OK;
  }
  out->loss = loss / msum;
  out->clipfrac = clipped / msum;
  out->value_mean = vs / msum;
  out->explained_variance = al_explained_variance(V, R, mask, N);
  return AL_OK;
}

double al_explained_variance(const double *V, const double *R, const double *mask, int N) {
  // two passes (means first) so a large common offset does not cancel the variances away
  double msum = 0, rm = 0, em = 0;
  for (int i = 0; i < N; i++) {
    double m = mval(mask, i);
    msum += m;
    rm += m * R[i];
    em += m * (R[i] - V[i]);
  }
  if (msum == 0) return 0;
  rm /= msum;
  em /= msum;
  double vr = 0, ve = 0;
  for (int i = 0; i < N; i++) {
    double m = mval(mask, i), e = R[i] - V[i] - em;
    vr += m * (R[i] - rm) * (R[i] - rm);
    ve += m * e * e;
  }
  return vr > 0 ? 1 - ve / vr : 0;
}

// ---- GAE ----

al_status al_gae(double *adv, double *ret, const double *rewards, const double *values,
                 const double *mask, int B, int T, double gamma, double lambda) {
  if (B < 0 || T < 0) return al_seterr(AL_ESHAPE, "gae: B = %d, T = %d", B, T);
  if (!(gamma >= 0 && gamma <= 1) || !(lambda >= 0 && lambda <= 1))
    return al_seterr(AL_EINVAL, "gae: gamma = %g, lambda = %g, need both in [0,1]", gamma, lambda);
  for (int b = 0; b < B; b++) {
    double next_v = 0, next_a = 0; // value and advantage of the next masked-in token (0 past the end)
    for (int t = T - 1; t >= 0; t--) {
      int i = b * T + t;
      if (mval(mask, i) == 0) {
        adv[i] = 0;
        if (ret) ret[i] = 0;
        continue;
      }
      // papers/ppo_rlhf.md: delta_t = r_t + gamma V_{t+1} - V_t; A_t = delta_t + gamma lambda A_{t+1}
      double delta = rewards[i] + gamma * next_v - values[i];
      double a = delta + gamma * lambda * next_a;
      adv[i] = a;
      if (ret) ret[i] = a + values[i];
      next_v = values[i];
      next_a = a;
    }
  }
  return AL_OK;
}

al_status al_mask_from_lengths(double *mask, const int *len, int B, int T) {
  for (int b = 0; b < B; b++) {
    if (len[b] < 0 || len[b] > T)
      return al_seterr(AL_EINVAL, "mask_from_lengths: length %d of row %d outside [0, %d]",
                       len[b], b + 1, T);
    for (int t = 0; t < T; t++) mask[b * T + t] = t < len[b] ? 1.0 : 0.0;
  }
  return AL_OK;
}

// ---- whitening and clipping ----

al_status al_whiten(double *out, const double *x, const double *mask, int N, int shift_mean) {
  double msum = 0, s = 0;
  for (int i = 0; i < N; i++) {
    msum += mval(mask, i);
    s += mval(mask, i) * x[i];
  }
  if (!(msum > 1)) return al_seterr(AL_EINVAL, "whiten: %g masked-in entries, need at least 2", msum);
  double mean = s / msum, ss = 0;
  for (int i = 0; i < N; i++) ss += mval(mask, i) * (x[i] - mean) * (x[i] - mean);
  double var = ss / msum * (msum / (msum - 1)); // Bessel's correction, as TRL's masked_var
  double rstd = 1.0 / sqrt(var + 1e-8);
  for (int i = 0; i < N; i++) {
    if (mval(mask, i) == 0) {
      out[i] = 0;
      continue;
    }
    double w = (x[i] - mean) * rstd;
    out[i] = shift_mean ? w : w + mean;
  }
  return AL_OK;
}

void al_clip(double *x, int N, double lo, double hi) {
  for (int i = 0; i < N; i++) x[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
}

// ---- KL estimators and penalised rewards ----

static double kl_one(double logp, double logq, al_kl_kind kind) {
  double lr = logp - logq; // log p/q; Schulman's r = q/p = exp(-lr)
  switch (kind) {
  case AL_KL_K2: return 0.5 * lr * lr;
  case AL_KL_K3: return expm1(-lr) + lr;
  case AL_KL_ABS: return fabs(lr);
  default: return lr;
  }
}

void al_kl_estimate(double *kl, const double *logp, const double *logq, int N, al_kl_kind kind) {
  for (int i = 0; i < N; i++) kl[i] = kl_one(logp[i], logq[i], kind);
}

al_status al_kl_rewards(double *rewards, double *kl, const double *logp, const double *ref_logp,
                        const double *mask, const double *score, int B, int T, double beta,
                        al_kl_kind kind) {
  if (!isfinite(beta) || beta < 0) return al_seterr(AL_EINVAL, "kl_rewards: beta = %g, need >= 0", beta);
  if (kind < AL_KL_K1 || kind > AL_KL_ABS) return al_seterr(AL_EINVAL, "kl_rewards: bad estimator");
  for (int b = 0; b < B; b++) {
    int last = -1;
    for (int t = 0; t < T; t++) {
      int i = b * T + t;
      if (mval(mask, i) == 0) {
        rewards[i] = 0;
        if (kl) kl[i] = 0;
        continue;
      }
      double k = kl_one(logp[i], ref_logp[i], kind);
      if (kl) kl[i] = k;
      rewards[i] = -beta * k; // Ziegler et al. 2019: R = r - beta log(pi/rho), spread per token
      last = t;
    }
    if (last < 0) return al_seterr(AL_EINVAL, "kl_rewards: row %d has no response token", b + 1);
    if (score) rewards[b * T + last] += score[b];
  }
  return AL_OK;
}

// ---- adaptive KL controller ----

al_status al_klctl_init(al_klctl *c, double beta, double target, double horizon) {
  if (!(beta >= 0) || !isfinite(beta)) return al_seterr(AL_EINVAL, "klctl: beta = %g, need >= 0", beta);
  if (target > 0 && !(horizon > 0))
    return al_seterr(AL_EINVAL, "klctl: horizon = %g, need > 0", horizon);
  c->beta = beta;
  c->target = target;
  c->horizon = horizon;
  return AL_OK;
}

double al_klctl_update(al_klctl *c, double kl, double n_steps) {
  if (!(c->target > 0)) return c->beta; // fixed coefficient
  double e = kl / c->target - 1; // Ziegler et al. 2019: proportional error in log space
  e = e < -0.2 ? -0.2 : e > 0.2 ? 0.2 : e;
  c->beta *= 1 + e * n_steps / c->horizon;
  return c->beta;
}

// ---- GRPO and RLOO ----

static al_status check_groups(const char *fn, int N, int G) {
  if (G < 2) return al_seterr(AL_EINVAL, "%s: group size %d, need >= 2", fn, G);
  if (N < 0 || N % G != 0)
    return al_seterr(AL_ESHAPE, "%s: %d rewards are not a whole number of groups of %d", fn, N, G);
  return AL_OK;
}

al_status al_grpo_advantages(double *adv, const double *rewards, int N, int G, double eps,
                             int scale) {
  al_status st = check_groups("grpo_advantages", N, G);
  if (st) return st;
  if (!(eps >= 0)) return al_seterr(AL_EINVAL, "grpo_advantages: eps = %g, need >= 0", eps);
  for (int g0 = 0; g0 < N; g0 += G) {
    double m = 0, ss = 0;
    for (int j = 0; j < G; j++) m += rewards[g0 + j];
    m /= G;
    for (int j = 0; j < G; j++) ss += (rewards[g0 + j] - m) * (rewards[g0 + j] - m);
    double sd = sqrt(ss / (G - 1));
    double inv = scale ? 1.0 / (sd + eps) : 1.0;
    if (scale && !isfinite(inv)) inv = 0; // all equal with eps = 0: the advantages are 0 anyway
    for (int j = 0; j < G; j++) adv[g0 + j] = (rewards[g0 + j] - m) * inv;
  }
  return AL_OK;
}

al_status al_rloo_advantages(double *adv, const double *rewards, int N, int G) {
  al_status st = check_groups("rloo_advantages", N, G);
  if (st) return st;
  for (int g0 = 0; g0 < N; g0 += G) {
    double s = 0;
    for (int j = 0; j < G; j++) s += rewards[g0 + j];
    for (int j = 0; j < G; j++) adv[g0 + j] = rewards[g0 + j] - (s - rewards[g0 + j]) / (G - 1);
  }
  return AL_OK;
}
