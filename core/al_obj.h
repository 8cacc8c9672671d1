// alignlab core: the objectives of alignment and the measurement kit, as pure functions on
// arrays. No model inside: a trainer runs the model forward, calls one of these to get the loss,
// its metrics and the gradient w.r.t. the model's outputs (per-sequence log-probs, per-token
// log-probs, rewards, values), then backpropagates through the model itself.
//
// Conventions of this module:
// - double throughout. The arrays are small (P pairs, B*T tokens, M samples); Lua numbers are
//   doubles; sums of log-probs over a sequence and the best-of-n weights (tested to 1e-10) need
//   the precision. A C trainer converts its float (B,T) log-probs on the way in and out.
// - Losses are MEANS (over pairs, or over masked tokens). Gradients are of that mean and are
//   WRITTEN (=), not accumulated, like al_masked_nll in al_ops.h: an objective starts backprop.
//   A gradient pointer may be NULL when not needed.
// - Masks are double weights (usually 0/1), NULL meaning all ones; masked entries of written
//   per-token outputs are set to 0.
// - Argument order: written, inputs, dimensions, settings. Boundary functions return al_status
//   and set al_errmsg() on bad settings (beta <= 0, probabilities outside [0,1], ...); shapes are
//   the caller's contract (the Lua bindings check them).
// - Equations cite papers/<note>.md; /work/notes/obj-equations.md lists them with these names.
// Not here: the model's log-probs, entropy and KL over the vocabulary (al_gpt / al_sample),
// sampling, the training loops (lua/al/).
#ifndef AL_OBJ_H
#define AL_OBJ_H

#include <stdint.h>

#include "al_base.h"

// ---- numerically stable scalar helpers ----
// log(1 + e^x) without overflow; log sigmoid(x) = -softplus(-x); sigmoid without overflow.
double al_softplus(double x);
double al_log_sigmoid(double x);
double al_sigmoid(double x);

// ---- reward model: Bradley-Terry (papers/instructgpt.md eq. (1); Eisenstein et al. centering) ----
typedef struct {
  double loss;     // mean over pairs of the BT term + center * (r_c + r_r)^2
  double accuracy; // mean of [r_c > r_r], ties count 1/2 (so swapping the pair gives 1 - accuracy)
  double margin;   // mean of r_c - r_r
  double mean_reward; // mean of all 2P rewards
} al_bt_out;

// d_i = r_c[i] - r_r[i] - margin[i];
// loss = mean_i [ -p_i log s(d_i) - (1-p_i) log s(-d_i) + center (r_c[i] + r_r[i])^2 ].
// dr_c, dr_r (P) written: gradient of that mean. margin (P) may be NULL (0); p (P) may be NULL
// (hard labels, p = 1) and must lie in [0,1] (RL-CAI soft labels). center >= 0 (TRL's
// center_rewards_coefficient, 0.01 recommended). AL_EINVAL on P < 1 or bad settings.
al_status al_bt_loss(al_bt_out *out, double *dr_c, double *dr_r, const double *r_c,
                     const double *r_r, const double *margin, const double *p, int P,
                     double center);

// ---- DPO family (papers/dpo.md, papers/ipo_kto.md) ----
typedef enum {
  AL_DPO_SIGMOID = 0, // DPO; with label_smoothing = cDPO / robust flip probability
  AL_DPO_IPO,         // (h - 1/(2 beta))^2
  AL_DPO_HINGE,       // relu(1 - beta h)
  AL_DPO_SIMPO        // reference-free, length-normalised, target margin gamma
} al_dpo_kind;

typedef struct {
  al_dpo_kind kind;
  double beta;            // > 0 (IPO's tau)
  double label_smoothing; // in [0, 0.5]; sigmoid and simpo only
  double gamma;           // SimPO target reward margin (TRL simpo_gamma, 0.5)
} al_dpo_opts;

// TRL's metric keys in the comments.
typedef struct {
  double loss;
  double rewards_chosen;     // rewards/chosen   = mean beta (pi_c - ref_c)   (simpo: beta pi_c/len_c)
  double rewards_rejected;   // rewards/rejected = mean beta (pi_r - ref_r)   (simpo: beta pi_r/len_r)
  double rewards_margins;    // rewards/margins  = mean of chosen - rejected rewards
  double rewards_accuracies; // rewards/accuracies = mean [chosen reward > rejected reward] (strict)
  double logps_chosen;       // logps/chosen   = mean pi_c
  double logps_rejected;     // logps/rejected = mean pi_r
} al_dpo_out;

// pi_c, pi_r (P): policy log-probs of the chosen / rejected completions, summed over completion
// tokens; ref_c, ref_r (P): the reference's (ignored, may be NULL, for simpo); len_c, len_r (P):
// completion lengths >= 1 (simpo only, may be NULL otherwise). h_i = (pi_c - ref_c) - (pi_r - ref_r).
//   sigmoid: -(1-eps) log s(beta h) - eps log s(-beta h)           (papers/dpo.md eq. (7))
//   ipo:     (h - 1/(2 beta))^2                                     (papers/ipo_kto.md, Azar et al. IPO loss)
//   hinge:   max(0, 1 - beta h)                                     (SLiC-style, TRL "hinge")
//   simpo:   z = beta (pi_c/len_c - pi_r/len_r) - gamma; -(1-eps) log s(z) - eps log s(-z)
// mean over pairs. dpi_c, dpi_r (P) written (gradients w.r.t. the policy's log-probs; the
// reference gets none). IPO takes h as given: TRL feeds it token-averaged log-probs, pass those
// to match. The hinge's kink at beta h = 1 takes the gradient of the flat side.
al_status al_dpo_loss(al_dpo_out *out, double *dpi_c, double *dpi_r, const double *pi_c,
                      const double *pi_r, const double *ref_c, const double *ref_r,
                      const int *len_c, const int *len_r, int P, const al_dpo_opts *o);

// KTO (papers/ipo_kto.md, Ethayarajh et al. 2024): unpaired examples with label desirable[i] (1/0).
// r_i = pi[i] - ref[i]; z0 >= 0 the reference point (a detached batch KL estimate, clamped by the
// caller or here at 0); v_i = lambda_D s(beta (r_i - z0)) if desirable else lambda_U s(beta (z0 - r_i));
// loss = mean_i (lambda_y - v_i). dpi (N) written. Metrics: rewards_chosen/rejected are the means of
// beta r over desirable / undesirable examples (0 when there are none).
typedef struct {
  double loss, rewards_chosen, rewards_rejected, kl;
} al_kto_out;
al_status al_kto_loss(al_kto_out *out, double *dpi, const double *pi, const double *ref,
                      const int *desirable, int N, double z0, double beta, double lambda_d,
                      double lambda_u);

// ---- PPO (papers/ppo_rlhf.md: Schulman et al. 2017 eq. (7), Huang et al. 37 details) ----
typedef struct {
  double loss;       // mean over masked tokens of max(-A r, -A clip(r, 1-eps, 1+eps))
  double clipfrac;   // fraction of masked tokens where the clipped term is the larger (TRL clipfrac)
  double approx_kl;  // k3: mean (r - 1) - log r, r = exp(logp - old_logp)  (KL[old || new] >= 0)
  double kl1;        // k1: mean old_logp - logp
  double kl2;        // k2: mean 0.5 (logp - old_logp)^2 (TRL's policy/approxkl_avg)
  double ratio_mean; // val/ratio
  double ratio_var;  // val/ratio_var (population variance over masked tokens)
} al_ppo_out;

// Clipped surrogate over N tokens: ratio r = exp(logp - old_logp); loss = masked mean of
// max(-A r, -A clip(r, 1-eps, 1+eps)). dlogp (N) written: -A r / sum(mask) where the unclipped
// term is active, 0 where the clipped one is strictly larger (A > 0 and r > 1+eps, or A < 0 and
// r < 1-eps). eps > 0; eps = INFINITY is the unclipped policy gradient. All-zero mask: loss 0.
al_status al_ppo_policy_loss(al_ppo_out *out, double *dlogp, const double *logp,
                             const double *old_logp, const double *adv, const double *mask, int N,
                             double eps);

typedef struct {
  double loss;               // 0.5 masked mean of max((V-R)^2, (clip(V, V_old +- eps) - R)^2)
  double clipfrac;           // fraction where the clipped term is strictly larger (val/clipfrac)
  double explained_variance; // 1 - Var(R - V) / Var(R) over masked tokens (0 when Var(R) = 0)
  double value_mean;
} al_value_out;

// Clipped value loss (Huang et al. detail 9). dV (N) written. eps >= 0; INFINITY = unclipped.
al_status al_ppo_value_loss(al_value_out *out, double *dV, const double *V, const double *V_old,
                            const double *R, const double *mask, int N, double eps);
// 1 - Var(R - V) / Var(R) over masked entries (population variances; 0 when Var(R) = 0).
double al_explained_variance(const double *V, const double *R, const double *mask, int N);

// GAE (papers/ppo_rlhf.md: delta_t = r_t + gamma V_{t+1} - V_t, A_t = sum_l (gamma lambda)^l
// delta_{t+l}) over B rows of T tokens. Within a row the masked-in tokens form the sequence
// (normally a contiguous response span); the value after the last one is 0 (bootstrap 0 at the
// end of each sequence). adv, ret (B,T) written: ret = adv + values (ret may be NULL); 0 at
// masked-out tokens. mask NULL = all tokens. gamma, lambda in [0,1].
// Reference: the T=3 table in tests/core/test_obj_rl.c and /work/notes/obj-equations.md.
al_status al_gae(double *adv, double *ret, const double *rewards, const double *values,
                 const double *mask, int B, int T, double gamma, double lambda);

// mask (B,T) written: 1 for t < len[b], else 0.
// AL_EINVAL when a length is outside [0, T].
al_status al_mask_from_lengths(double *mask, const int *len, int B, int T);

// Masked whitening (TRL masked_whiten): out = (x - mean) / sqrt(var + 1e-8), var the unbiased
// (Bessel-corrected) masked variance; shift_mean = 0 adds the mean back. out (N) written (may
// equal x); 0 at masked-out entries. AL_EINVAL with fewer than 2 masked-in entries.
al_status al_whiten(double *out, const double *x, const double *mask, int N, int shift_mean);

// Clip each x[i] into [lo, hi] in place (reward clipping; lo <= hi).
void al_clip(double *x, int N, double lo, double hi);

// ---- KL to the reference: per-token estimators and the penalised rewards ----
typedef enum {
  AL_KL_K1 = 0, // log p - log q
  AL_KL_K2,     // 0.5 (log p - log q)^2
  AL_KL_K3,     // (r - 1) - log r, r = q/p
  AL_KL_ABS     // |log p - log q| (legacy TRL "abs")
} al_kl_kind;

// kl (N) written: per-token estimate of KL(p || q) from tokens sampled from p (Schulman, "Approximating
// KL divergence", 2020): logp = policy, logq = reference. k3 >= 0 always; E_p[k1] = E_p[k3] = KL.
void al_kl_estimate(double *kl, const double *logp, const double *logq, int N, al_kl_kind kind);

// Per-token penalised rewards (papers/ppo_rlhf.md, Ziegler et al. 2019 sec. 2.2; InstructGPT eq. (2)):
// rewards[b,t] = -beta kl[b,t] on masked-in tokens, plus score[b] at the row's last masked-in
// token; 0 elsewhere. kl (B,T) written when not NULL. AL_EINVAL when a row has no masked-in token.
al_status al_kl_rewards(double *rewards, double *kl, const double *logp, const double *ref_logp,
                        const double *mask, const double *score, int B, int T, double beta,
                        al_kl_kind kind);

// Adaptive KL controller (Ziegler et al. 2019, papers/ppo_rlhf.md): e = clip(KL/target - 1, -0.2, 0.2),
// beta <- beta (1 + e n_steps / horizon). target <= 0 makes it a fixed coefficient.
typedef struct {
  double beta, target, horizon;
} al_klctl;
al_status al_klctl_init(al_klctl *c, double beta, double target, double horizon);
// Returns the new beta.
double al_klctl_update(al_klctl *c, double kl, double n_steps);

// GRPO (Shao et al. 2024, DeepSeekMath sec. 4.1.2): rewards (N) in consecutive groups of G
// completions of the same prompt; adv = (r - group mean) / (group std + eps), the std unbiased
// (TRL); scale = 0 skips the division (Dr. GRPO). adv (N) written. N % G == 0, G >= 2.
al_status al_grpo_advantages(double *adv, const double *rewards, int N, int G, double eps,
                             int scale);
// RLOO (Ahmadian et al. 2024): adv_i = r_i - mean_{j != i in its group} r_j. G >= 2.
al_status al_rloo_advantages(double *adv, const double *rewards, int N, int G);

// ---- best-of-n (papers/gao.md; measurement kit K2) ----
// Analytic KL(best-of-n || base) = log n - (n-1)/n nats (n >= 1).
double al_bon_kl(double n);
// w (M) written: w[i] = C(i, n-1) / C(M, n) for the sample of rank i (0-based, ascending score):
// the probability that it wins a best-of-n draw without replacement from the pool (Nakano et al.).
// Computed by the ratio w[i-1] = w[i] (i-n+1)/i from w[M-1] = n/M: every factor is <= 1, so
// nothing overflows for any M, and small weights underflow gracefully to 0. 1 <= n <= M.
al_status al_bon_weights(double *w, int M, int n);
// Expected gold and proxy of the best-of-n (by proxy) winner from a pool of M samples, for each
// of K values of n: gold_out, proxy_out (K) written (either may be NULL; the gold input may be
// NULL, then gold_out is 0).
// Unsorted input; proxy ties are broken uniformly (gold averaged over a tie block).
al_status al_bon_expect(double *gold_out, double *proxy_out, const double *proxy,
                        const double *gold, int M, const int *n, int K);

// ---- oracle KL-reward frontier (measurement kit K3) ----
// r (NP, M): M rewards of reference samples for each of NP prompts. For each of K betas:
// w = exp(r/beta); R = sum w r / sum w; KL = sum w (r/beta) / sum w - log mean w; ess =
// (sum w)^2 / sum w^2; R, KL, ess averaged over prompts; ess_min the smallest. Outputs (K)
// written, ess/ess_min may be NULL. Stable: weights are shifted by max r/beta.
al_status al_frontier(double *R, double *KL, double *ess, double *ess_min, const double *r,
                      int NP, int M, const double *beta, int K);

// ---- Elo by Bradley-Terry MLE (measurement kit K4) ----
// G games: players a[g], b[g] in [0, n), s[g] in [0,1] = a's score (1 win, 1/2 tie, 0 loss).
// P(a beats b) = 1 / (1 + 10^((E_b - E_a)/400)). Newton's method on the log-likelihood, with an
// optional Gaussian prior of precision `prior` >= 0 on the natural-scale strengths (needed when a
// player wins or loses every game); player `anchor` fixed at 0. elo (n) written.
// AL_EINVAL when the MLE does not exist (disconnected comparisons or a perfect record with
// prior 0) or Newton does not converge in 100 steps.
al_status al_elo_fit(double *elo, const int *a, const int *b, const double *s, int G, int n,
                     int anchor, double prior);

// ---- Gao et al. functional forms (measurement kit K6, papers/gao.md) ----
typedef struct {
  double alpha, beta, r2; // r2 = 1 - SS_res / SS_tot (centered), in R's units
} al_fit;
// Best-of-n: R = alpha d - beta d^2, least squares without intercept. d = sqrt(KL).
al_status al_fit_gao_bon(al_fit *f, const double *d, const double *R, int N);
// RL: R = d (alpha - beta log d), i.e. R/d = alpha - beta log d, fitted by least squares in R
// (equivalently R/d weighted by d^2); points with d <= 0 are skipped (the form has R(0) = 0).
al_status al_fit_gao_rl(al_fit *f, const double *d, const double *R, int N);

// ---- statistics (measurement kit K5, K7) ----
// Win rate of x over y pairwise (N): [x > y + tol] + 1/2 [|x - y| <= tol], mean. tol >= 0.
double al_winrate(const double *x, const double *y, int N, double tol);
// Mean and sample standard deviation (N-1; 0 when N < 2) of x (N).
void al_mean_sd(double *mean, double *sd, const double *x, int N);
// Percentile bootstrap CI of a statistic (the mean when stat is NULL) at level in (0,1):
// n_boot resamples of x with replacement drawn from al_rng (seed, stream 0); lo, hi written.
typedef double (*al_stat_fn)(const double *x, int N, void *ctx);
al_status al_bootstrap_ci(double *lo, double *hi, const double *x, int N, int n_boot,
                          double level, uint64_t seed, al_stat_fn stat, void *ctx);

// ---- binary head: logistic loss on a scalar head (P(IK), Kadavath et al. 2022; papers/calibration.md) ----
typedef struct {
  double loss;     // mean over examples of -y log s(z) - (1-y) log s(-z)
  double accuracy; // mean of [s(z) > 1/2] == [y > 1/2] (z = 0 counts 1/2)
  double mean_p;   // mean of s(z), the predicted probability
} al_logistic_out;

// z (N): logits (the scalar head); y (N): targets in [0,1] (1 = "my answer comes out right").
// dz (N) written (may be NULL): gradient of the mean loss, (s(z_i) - y_i) / N.
// AL_ESHAPE on N < 1, AL_EINVAL on a target outside [0,1].
al_status al_logistic_loss(al_logistic_out *out, double *dz, const double *z, const double *y,
                           int N);

// ---- calibration (Kadavath et al. 2022; GPT-4 report Fig. 8; papers/calibration.md) ----
// Reliability of N confidences p[i] in [0,1] against outcomes y[i] in [0,1] (usually 0/1), in K
// equal-width bins: bin k holds k/K <= p < (k+1)/K (p = 1 in bin K-1). count, conf, acc (K)
// written (any may be NULL): per bin the number of predictions, their mean confidence and their
// mean outcome (both 0 for an empty bin). *ece = sum_k (count_k / N) |acc_k - conf_k| (expected
// calibration error), *brier = mean (p - y)^2; either pointer may be NULL.
// AL_ESHAPE on N < 1 or K < 1, AL_EINVAL on p or y outside [0,1] (or NaN).
al_status al_calibration(double *ece, double *brier, double *count, double *conf, double *acc,
                         const double *p, const double *y, int N, int K);

// Area under the ROC curve of scores s (N) for binary labels y (N, 0 or 1): the probability
// that a random positive scores above a random negative, ties counting 1/2 (Mann-Whitney U / n+ n-).
// *auc written; AL_EINVAL when a label is not 0/1 or one class is empty, AL_ENOMEM.
al_status al_auroc(double *auc, const double *s, const double *y, int N);

#endif
