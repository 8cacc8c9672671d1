// alignlab core: the measurement kit (papers.md K2-K7) as pure functions: best-of-n KL and the
// unbiased best-of-n estimator from one pool, the oracle KL-reward frontier, Elo by
// Bradley-Terry maximum likelihood, Gao et al.'s functional-form fits, win rate, mean/sd, a
// seeded bootstrap CI, and calibration (ECE, reliability bins, Brier) and AUROC. Sampling the
// pools and judging are the caller's business.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "al_obj.h"

// ---- best-of-n ----

double al_bon_kl(double n) { return log(n) - (n - 1) / n; } // papers/gao.md; Stiennon et al. App.

al_status al_bon_weights(double *w, int M, int n) {
  if (M < 1 || n < 1 || n > M)
    return al_seterr(AL_EINVAL, "bon_weights: n = %d with a pool of M = %d, need 1 <= n <= M", n, M);
  // w[i] = C(i, n-1)/C(M, n); w[M-1] = C(M-1, n-1)/C(M, n) = n/M; w[i-1]/w[i] = (i-n+1)/i
  w[M - 1] = (double)n / M;
  for (int i = M - 1; i >= 1; i--) w[i - 1] = i - n + 1 > 0 ? w[i] * (double)(i - n + 1) / i : 0;
  return AL_OK;
}

typedef struct {
  double proxy, gold;
} pg_pair;

static int cmp_proxy(const void *x, const void *y) {
  double a = ((const pg_pair *)x)->proxy, b = ((const pg_pair *)y)->proxy;
  return (a > b) - (a < b);
}

al_status al_bon_expect(double *gold_out, double *proxy_out, const double *proxy,
                        const double *gold, int M, const int *n, int K) {
  if (M < 1) return al_seterr(AL_ESHAPE, "bon_expect: empty pool");
  for (int k = 0; k < K; k++)
    if (n[k] < 1 || n[k] > M)
      return al_seterr(AL_EINVAL, "bon_expect: n = %d outside [1, M = %d]", n[k], M);
  for (int i = 0; i < M; i++)
    if (isnan(proxy[i])) return al_seterr(AL_EINVAL, "bon_expect: proxy score %d is NaN", i + 1);
  al_status st = AL_OK;
  pg_pair *s = al_malloc((size_t)M, sizeof *s);
  double *w = al_malloc((size_t)M, sizeof *w);
  if (!s || !w) {
    st = al_seterr(AL_ENOMEM, "bon_expect: out of memory for a pool of %d", M);
    goto cleanup;
  }
  for (int i = 0; i < M; i++) s[i] = (pg_pair){proxy[i], gold ? gold[i] : 0};
  qsort(s, (size_t)M, sizeof *s, cmp_proxy);
  // within a block of equal proxy scores the winner is uniform: give each the block's mean gold
  for (int i = 0; i < M;) {
    int j = i;
    double g = 0;
    while (j < M && s[j].proxy == s[i].proxy) g += s[j++].gold;
    for (int k = i; k < j; k++) s[k].gold = g / (j - i);
    i = j;
  }
  for (int k = 0; k < K; k++) {
    al_bon_weights(w, M, n[k]);
    double eg = 0, ep = 0;
    for (int i = n[k] - 1; i < M; i++) {
      eg += w[i] * s[i].gold;
      ep += w[i] * s[i].proxy;
    }
    if (gold_out) gold_out[k] = eg;
    if (proxy_out) proxy_out[k] = ep;
  }
cleanup:
  free(s);
  free(w);
  return st;
}

// ---- oracle KL-reward frontier ----

al_status al_frontier(double *R, double *KL, double *ess, double *ess_min, const double *r,
                      int NP, int M, const double *beta, int K) {
  if (NP < 1 || M < 1) return al_seterr(AL_ESHAPE, "frontier: %d prompts x %d samples", NP, M);
  for (int k = 0; k < K; k++) {
    double b = beta[k];
    if (!(b > 0)) return al_seterr(AL_EINVAL, "frontier: beta[%d] = %g, need > 0", k + 1, b);
    double Rs = 0, KLs = 0, Es = 0, Emin = INFINITY;
    for (int p = 0; p < NP; p++) {
      const double *rp = r + (size_t)p * M;
      double mx = -INFINITY;
      for (int i = 0; i < M; i++) mx = fmax(mx, rp[i] / b);
      // papers.md K3: w = exp(r/beta) (shifted by max r/beta, which cancels in every ratio)
      double S = 0, S2 = 0, Sr = 0, Su = 0;
      for (int i = 0; i < M; i++) {
        double u = rp[i] / b;
        double wi = exp(u - mx);
        S += wi;
        S2 += wi * wi;
        Sr += wi * rp[i];
        Su += wi * u;
      }
      double kl = Su / S - (mx + log(S / M)); // E_w[r/beta] - log mean exp(r/beta)
      Rs += Sr / S;
      KLs += kl > 0 ? kl : 0; // >= 0 by Jensen; clamp the rounding
      double e = S * S / S2;
      Es += e;
      Emin = fmin(Emin, e);
    }
    R[k] = Rs / NP;
    KL[k] = KLs / NP;
    if (ess) ess[k] = Es / NP;
    if (ess_min) ess_min[k] = Emin;
  }
  return AL_OK;
}

// ---- Elo by Bradley-Terry MLE ----

// log-likelihood (natural scale) with the Gaussian prior
static double bt_ll(const double *th, const int *a, const int *b, const double *s, int G, int n,
                    double prior) {
  double ll = 0;
  for (int g = 0; g < G; g++) {
    double d = th[a[g]] - th[b[g]];
    ll += s[g] * al_log_sigmoid(d) + (1 - s[g]) * al_log_sigmoid(-d);
  }
  for (int i = 0; i < n; i++) ll -= 0.5 * prior * th[i] * th[i];
  return ll;
}

// Solve A x = y in place (A m x m symmetric positive definite, destroyed) by Cholesky; 0 when A
// is not numerically positive definite.
static int chol_solve(double *A, double *y, int m) {
  for (int j = 0; j < m; j++) {
    double d = A[j * m + j];
    for (int k = 0; k < j; k++) d -= A[j * m + k] * A[j * m + k];
    if (!(d > 1e-12 * (1 + fabs(A[j * m + j])))) return 0;
    d = sqrt(d);
    A[j * m + j] = d;
    for (int i = j + 1; i < m; i++) {
      double v = A[i * m + j];
      for (int k = 0; k < j; k++) v -= A[i * m + k] * A[j * m + k];
      A[i * m + j] = v / d;
    }
  }
  for (int i = 0; i < m; i++) { // L z = y
    for (int k = 0; k < i; k++) y[i] -= A[i * m + k] * y[k];
    y[i] /= A[i * m + i];
  }
  for (int i = m - 1; i >= 0; i--) { // L^T x = z
    for (int k = i + 1; k < m; k++) y[i] -= A[k * m + i] * y[k];
    y[i] /= A[i * m + i];
  }
  return 1;
}

al_status al_elo_fit(double *elo, const int *a, const int *b, const double *s, int G, int n,
                     int anchor, double prior) {
  if (n < 1) return al_seterr(AL_ESHAPE, "elo_fit: %d players", n);
  if (anchor < 0 || anchor >= n)
    return al_seterr(AL_EINVAL, "elo_fit: anchor %d outside [0, %d)", anchor, n);
  if (!(prior >= 0) || !isfinite(prior)) return al_seterr(AL_EINVAL, "elo_fit: prior = %g", prior);
  for (int g = 0; g < G; g++) {
    if (a[g] < 0 || a[g] >= n || b[g] < 0 || b[g] >= n)
      return al_seterr(AL_EINVAL, "elo_fit: game %d has a player outside [0, %d)", g + 1, n);
    if (a[g] == b[g]) return al_seterr(AL_EINVAL, "elo_fit: game %d pits player %d against itself", g + 1, a[g]);
    if (!(s[g] >= 0 && s[g] <= 1)) return al_seterr(AL_EINVAL, "elo_fit: score of game %d = %g outside [0,1]", g + 1, s[g]);
  }
  al_status st = AL_OK;
  int m = n - 1; // free players: all but the anchor
  double *th = al_calloc((size_t)n, sizeof *th), *tn = al_calloc((size_t)n, sizeof *tn);
  double *grad = al_calloc((size_t)n, sizeof *grad);
  double *H = al_calloc((size_t)n * n, sizeof *H), *A = al_calloc((size_t)(m ? m : 1) * (m ? m : 1), sizeof *A);
  double *y = al_calloc((size_t)(m ? m : 1), sizeof *y);
  if (!th || !tn || !grad || !H || !A || !y) {
    st = al_seterr(AL_ENOMEM, "elo_fit: out of memory for %d players", n);
    goto cleanup;
  }
  int converged = m == 0;
  for (int it = 0; it < 100 && !converged; it++) {
    // gradient and negative Hessian of the log-likelihood
    memset(grad, 0, (size_t)n * sizeof *grad);
    memset(H, 0, (size_t)n * n * sizeof *H);
    for (int g = 0; g < G; g++) {
      double p = al_sigmoid(th[a[g]] - th[b[g]]);
      double q = p * (1 - p);
      grad[a[g]] += s[g] - p;
      grad[b[g]] -= s[g] - p;
      H[a[g] * n + a[g]] += q;
      H[b[g] * n + b[g]] += q;
      H[a[g] * n + b[g]] -= q;
      H[b[g] * n + a[g]] -= q;
    }
    for (int i = 0; i < n; i++) {
      grad[i] -= prior * th[i];
      H[i * n + i] += prior;
    }
    // restrict to the free players
    for (int i = 0, fi = 0; i < n; i++) {
      if (i == anchor) continue;
      y[fi] = grad[i];
      for (int j = 0, fj = 0; j < n; j++) {
        if (j == anchor) continue;
        A[fi * m + fj] = H[i * n + j];
        fj++;
      }
      fi++;
    }
    if (!chol_solve(A, y, m)) break;
    // Newton step with step halving: the log-likelihood is concave, so this ascends
    double ll0 = bt_ll(th, a, b, s, G, n, prior), step = 1, maxd = 0;
    for (int i = 0, fi = 0; i < n; i++)
      if (i != anchor) maxd = fmax(maxd, fabs(y[fi++]));
    for (int h = 0; h < 30; h++, step *= 0.5) {
      for (int i = 0, fi = 0; i < n; i++) tn[i] = i == anchor ? 0 : th[i] + step * y[fi++];
      // accept within rounding of the log-likelihood: near the optimum the true gain of a Newton
      // step is below the rounding of ll0, and insisting on ">=" would stall the fit
      if (bt_ll(tn, a, b, s, G, n, prior) >= ll0 - 1e-12 * fabs(ll0)) break;
    }
    memcpy(th, tn, (size_t)n * sizeof *th);
    if (maxd < 1e-9) converged = 1; // natural-scale units: 1e-9 is 4e-7 Elo points
  }
  if (!converged) {
    st = al_seterr(AL_EINVAL, "elo_fit: no finite maximum-likelihood ratings (comparisons not "
                              "connected, or a player wins or loses every game); set prior > 0");
    goto cleanup;
  }
  for (int i = 0; i < n; i++) elo[i] = th[i] * 400.0 / log(10.0); // papers.md K4: base-10, 400
cleanup:
  free(th);
  free(tn);
  free(grad);
  free(H);
  free(A);
  free(y);
  return st;
}

// ---- Gao et al. fits ----

// least squares R ~ alpha x1 - beta x2 (no intercept) over the points with use[i]
static al_status fit2(al_fit *f, const char *fn, const double *x1, const double *x2,
                      const double *R, const int *use, int N) {
  double s11 = 0, s12 = 0, s22 = 0, s1r = 0, s2r = 0, sr = 0;
  int n = 0;
  for (int i = 0; i < N; i++) {
    if (!use[i]) continue;
    s11 += x1[i] * x1[i];
    s12 += x1[i] * x2[i];
    s22 += x2[i] * x2[i];
    s1r += x1[i] * R[i];
    s2r += x2[i] * R[i];
    sr += R[i];
    n++;
  }
  double det = s11 * s22 - s12 * s12;
  if (n < 2 || !(fabs(det) > 1e-12 * (s11 * s22 + 1e-300)))
    return al_seterr(AL_EINVAL, "%s: need at least 2 points with distinct d > 0", fn);
  // [s11 -s12; -s12 s22] [alpha; beta] = [s1r; -s2r]  (columns x1 and -x2)
  double alpha = (s1r * s22 - s12 * s2r) / det;
  double beta = (s12 * s1r - s11 * s2r) / det;
  double mean = sr / n, ssr = 0, sst = 0;
  for (int i = 0; i < N; i++) {
    if (!use[i]) continue;
    double e = R[i] - (alpha * x1[i] - beta * x2[i]);
    ssr += e * e;
    sst += (R[i] - mean) * (R[i] - mean);
  }
  f->alpha = alpha;
  f->beta = beta;
  f->r2 = sst > 0 ? 1 - ssr / sst : (ssr == 0 ? 1 : 0);
  return AL_OK;
}

static al_status fit_gao(al_fit *f, const char *fn, const double *d, const double *R, int N, int rl) {
  if (N < 1) return al_seterr(AL_ESHAPE, "%s: no points", fn);
  al_status st = AL_OK;
  double *x1 = al_malloc((size_t)N, sizeof *x1), *x2 = al_malloc((size_t)N, sizeof *x2);
  int *use = al_malloc((size_t)N, sizeof *use);
  if (!x1 || !x2 || !use) {
    st = al_seterr(AL_ENOMEM, "%s: out of memory", fn);
    goto cleanup;
  }
  for (int i = 0; i < N; i++) {
    if (!(d[i] >= 0) || !isfinite(d[i]) || !isfinite(R[i])) {
      st = al_seterr(AL_EINVAL, "%s: point %d has d = %g, R = %g", fn, i + 1, d[i], R[i]);
      goto cleanup;
    }
    x1[i] = d[i];
    // papers/gao.md: BoN R = d(alpha - beta d); RL R = d(alpha - beta log d)
    x2[i] = rl ? (d[i] > 0 ? d[i] * log(d[i]) : 0) : d[i] * d[i];
    use[i] = rl ? d[i] > 0 : 1;
  }
  st = fit2(f, fn, x1, x2, R, use, N);
cleanup:
  free(x1);
  free(x2);
  free(use);
  return st;
}

al_status al_fit_gao_bon(al_fit *f, const double *d, const double *R, int N) {
  return fit_gao(f, "fit_gao_bon", d, R, N, 0);
}

al_status al_fit_gao_rl(al_fit *f, const double *d, const double *R, int N) {
  return fit_gao(f, "fit_gao_rl", d, R, N, 1);
}

// ---- statistics ----

double al_winrate(const double *x, const double *y, int N, double tol) {
  if (N < 1) return NAN;
  double w = 0;
  for (int i = 0; i < N; i++) {
    double d = x[i] - y[i];
    w += fabs(d) <= tol ? 0.5 : d > 0 ? 1.0 : 0.0; // papers.md K5: ties count 1/2
  }
  return w / N;
}

void al_mean_sd(double *mean, double *sd, const double *x, int N) {
  double m = 0, ss = 0;
  for (int i = 0; i < N; i++) m += x[i];
  m = N > 0 ? m / N : NAN;
  for (int i = 0; i < N; i++) ss += (x[i] - m) * (x[i] - m);
  if (mean) *mean = m;
  if (sd) *sd = N > 1 ? sqrt(ss / (N - 1)) : 0;
}

static double stat_mean(const double *x, int N, void *ctx) {
  (void)ctx;
  double m;
  al_mean_sd(&m, NULL, x, N);
  return m;
}

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

static double quantile_sorted(const double *v, int n, double q) {
  double pos = q * (n - 1);
  int i = (int)floor(pos);
  if (i >= n - 1) return v[n - 1];
  double fr = pos - i;
  return v[i] + fr * (v[i + 1] - v[i]);
}

al_status al_bootstrap_ci(double *lo, double *hi, const double *x, int N, int n_boot,
                          double level, uint64_t seed, al_stat_fn stat, void *ctx) {
  if (N < 1) return al_seterr(AL_ESHAPE, "bootstrap_ci: no data");
  if (n_boot < 2) return al_seterr(AL_EINVAL, "bootstrap_ci: n_boot = %d, need >= 2", n_boot);
  if (!(level > 0 && level < 1)) return al_seterr(AL_EINVAL, "bootstrap_ci: level = %g outside (0,1)", level);
  if (!stat) stat = stat_mean;
  al_status st = AL_OK;
  double *rs = al_malloc((size_t)N, sizeof *rs), *v = al_malloc((size_t)n_boot, sizeof *v);
  if (!rs || !v) {
    st = al_seterr(AL_ENOMEM, "bootstrap_ci: out of memory");
    goto cleanup;
  }
  al_rng rng;
  al_rng_seed(&rng, seed, 0);
  for (int b = 0; b < n_boot; b++) {
    for (int i = 0; i < N; i++) rs[i] = x[al_rng_int(&rng, (uint64_t)N)];
    v[b] = stat(rs, N, ctx);
  }
  qsort(v, (size_t)n_boot, sizeof *v, cmp_double);
  *lo = quantile_sorted(v, n_boot, (1 - level) / 2);
  *hi = quantile_sorted(v, n_boot, 1 - (1 - level) / 2);
cleanup:
  free(rs);
  free(v);
  return st;
}

// ---- calibration ----

al_status al_calibration(double *ece, double *brier, double *count, double *conf, double *acc,
                         const double *p, const double *y, int N, int K) {
  if (N < 1 || K < 1) return al_seterr(AL_ESHAPE, "calibration: N = %d predictions, K = %d bins, need >= 1", N, K);
  for (int i = 0; i < N; i++) {
    if (!(p[i] >= 0 && p[i] <= 1))
      return al_seterr(AL_EINVAL, "calibration: confidence p[%d] = %g outside [0,1]", i + 1, p[i]);
    if (!(y[i] >= 0 && y[i] <= 1))
      return al_seterr(AL_EINVAL, "calibration: outcome y[%d] = %g outside [0,1]", i + 1, y[i]);
  }
  double *c = al_malloc((size_t)K * 3, sizeof *c);
  if (!c) return al_seterr(AL_ENOMEM, "calibration: out of memory for %d bins", K);
  double *sp = c + K, *sy = c + 2 * K, b = 0;
  for (int k = 0; k < 3 * K; k++) c[k] = 0;
  for (int i = 0; i < N; i++) {
    int k = (int)(p[i] * K);
    if (k >= K) k = K - 1; // p = 1 goes to the last bin
    c[k] += 1, sp[k] += p[i], sy[k] += y[i];
    b += (p[i] - y[i]) * (p[i] - y[i]);
  }
  double e = 0;
  for (int k = 0; k < K; k++) {
    double mc = c[k] > 0 ? sp[k] / c[k] : 0, ma = c[k] > 0 ? sy[k] / c[k] : 0;
    e += c[k] / N * fabs(ma - mc); // Guo et al. 2017 ECE; Kadavath et al. 2022 sec. 3
    if (count) count[k] = c[k];
    if (conf) conf[k] = mc;
    if (acc) acc[k] = ma;
  }
  if (ece) *ece = e;
  if (brier) *brier = b / N;
  free(c);
  return AL_OK;
}

typedef struct {
  double s, y;
} sy_pair;

static int cmp_score(const void *x, const void *y) {
  double a = ((const sy_pair *)x)->s, b = ((const sy_pair *)y)->s;
  return (a > b) - (a < b);
}

al_status al_auroc(double *auc, const double *s, const double *y, int N) {
  double npos = 0, nneg = 0;
  for (int i = 0; i < N; i++) {
    if (y[i] != 0 && y[i] != 1) return al_seterr(AL_EINVAL, "auroc: label y[%d] = %g is not 0 or 1", i + 1, y[i]);
    if (isnan(s[i])) return al_seterr(AL_EINVAL, "auroc: score %d is NaN", i + 1);
    if (y[i] == 1) npos++; else nneg++;
  }
  if (npos == 0 || nneg == 0)
    return al_seterr(AL_EINVAL, "auroc: %g positives and %g negatives, need both", npos, nneg);
  sy_pair *v = al_malloc((size_t)N, sizeof *v);
  if (!v) return al_seterr(AL_ENOMEM, "auroc: out of memory for %d scores", N);
  for (int i = 0; i < N; i++) v[i] = (sy_pair){s[i], y[i]};
  qsort(v, (size_t)N, sizeof *v, cmp_score);
  // U = sum over positives of (negatives below + 1/2 negatives tied), block by block of ties
  double below = 0, u = 0;
  for (int i = 0; i < N;) {
    int j = i;
    double pos = 0, neg = 0;
    while (j < N && v[j].s == v[i].s) {
      if (v[j].y == 1) pos++; else neg++;
      j++;
    }
    u += pos * (below + 0.5 * neg);
    below += neg;
    i = j;
  }
  *auc = u / (npos * nneg);
  free(v);
  return AL_OK;
}
