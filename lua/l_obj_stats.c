// alignlab shell: al.obj's measurement kit (core/obj_stats.c): best-of-n (KL, weights,
// expected rewards), the reward-KL frontier, Elo ratings, Gao et al.'s scaling-law fits, win
// rates, mean and sd, bootstrap confidence intervals, calibration (ECE, reliability bins) and AUROC.
// Layering: l_core.c -> l_obj_stats.c -> l_obj_util.c (array readers, the one result writer) ->
// core. Objectives are l_obj_pref.c's and l_obj_rl.c's.
#include <limits.h>
#include <math.h>

#include "l_obj_util.h"

// bon_kl(n) -> log n - (n-1)/n
static int l_bon_kl(lua_State *L) {
  double n = luaL_checknumber(L, 1);
  luaL_argcheck(L, n >= 1, 1, "n must be >= 1");
  lua_pushnumber(L, al_bon_kl(n));
  return 1;
}

// bon_weights(M, n) -> array of M winning probabilities by ascending rank
static int l_bon_weights(lua_State *L) {
  lua_Integer M = luaL_checkinteger(L, 1), n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, M >= 1 && M <= INT_MAX / 8, 1, "pool size out of range");
  luaL_argcheck(L, n >= 1 && n <= M, 2, "need 1 <= n <= M");
  double *w = al_lobj_newbuf(L, (size_t)M);
  if (al_bon_weights(w, (int)M, (int)n) != AL_OK) return al_lua_fail(L);
  al_lobj_pushvec(L, w, (int)M);
  return 1;
}

// bon{ proxy, gold = nil, n = { ... } } -> { n, kl, proxy, gold } expected under best-of-n
static const al_lobj_field bon_fields[] = {
    {"n", AL_LOBJ_INTS, 0, NULL},     {"kl", AL_LOBJ_VEC, 1, NULL},
    {"proxy", AL_LOBJ_VEC, 2, NULL}, {"gold", AL_LOBJ_VEC, 3, NULL}, // gold: when given
    {NULL, 0, 0, NULL}};

static int l_bon(lua_State *L) {
  static const char *const known[] = {"proxy", "gold", "n", NULL};
  const char *fn = "bon";
  al_lobj_checkopts(L, fn, known);
  int M, K;
  double *px = al_lobj_vec(L, fn, 1, "proxy", &M, 1, 0);
  double *gd = al_lobj_vec_like(L, fn, "gold", "proxy", M, 0, 0);
  int *ns = al_lobj_ivec(L, fn, 1, "n", &K, 1);
  double *eg = al_lobj_newbuf(L, (size_t)K), *ep = al_lobj_newbuf(L, (size_t)K), *kl = al_lobj_newbuf(L, (size_t)K);
  if (al_bon_expect(gd ? eg : NULL, ep, px, gd, M, ns, K) != AL_OK) return al_lua_fail(L);
  for (int k = 0; k < K; k++) kl[k] = al_bon_kl(ns[k]);
  al_lobj_push(L, bon_fields, NULL, (const void *[]){ns, kl, ep, gd ? eg : NULL}, K, NULL);
  return 1;
}

// frontier{ rewards (one row of M per prompt, or a flat array for one prompt), beta = { ... } }
//   -> { beta, reward, kl, ess, ess_min }
static const al_lobj_field frontier_fields[] = {
    {"beta", AL_LOBJ_VEC, 0, NULL}, {"reward", AL_LOBJ_VEC, 1, NULL},
    {"kl", AL_LOBJ_VEC, 2, NULL},   {"ess", AL_LOBJ_VEC, 3, NULL},
    {"ess_min", AL_LOBJ_VEC, 4, NULL}, {NULL, 0, 0, NULL}};

static int l_frontier(lua_State *L) {
  static const char *const known[] = {"rewards", "beta", NULL};
  const char *fn = "frontier";
  al_lobj_checkopts(L, fn, known);
  al_lobj_shape sh = {0};
  double *r = al_lobj_tok(L, fn, 1, "rewards", &sh, 1, 0);
  for (int b = 0; b < sh.B; b++)
    if (sh.len[b] != sh.T || sh.T == 0)
      return luaL_error(L, "frontier: every prompt needs the same number (>= 1) of rewards");
  int K;
  double *beta = al_lobj_vec(L, fn, 1, "beta", &K, 1, 0);
  double *R = al_lobj_newbuf(L, (size_t)K), *KL = al_lobj_newbuf(L, (size_t)K), *E = al_lobj_newbuf(L, (size_t)K),
         *Em = al_lobj_newbuf(L, (size_t)K);
  if (al_frontier(R, KL, E, Em, r, sh.B, sh.T, beta, K) != AL_OK) return al_lua_fail(L);
  al_lobj_push(L, frontier_fields, NULL, (const void *[]){beta, R, KL, E, Em}, K, NULL);
  return 1;
}

// elo{ a, b, score, players = max id, anchor = 1, prior = 0 } -> array of Elo ratings
// (players are 1-based; score = a's result: 1 win, 0.5 tie, 0 loss)
static int l_elo(lua_State *L) {
  static const char *const known[] = {"a", "b", "score", "players", "anchor", "prior", NULL};
  const char *fn = "elo";
  al_lobj_checkopts(L, fn, known);
  int G;
  int *a = al_lobj_ivec(L, fn, 1, "a", &G, 1);
  int *b = al_lobj_ivec_like(L, fn, "b", "a", G, 1);
  double *s = al_lobj_vec_like(L, fn, "score", "a", G, 1, 0);
  int mx = 0;
  for (int g = 0; g < G; g++) {
    if (a[g] < 1 || b[g] < 1) return luaL_error(L, "elo: game %d has a player id < 1", g + 1);
    a[g]--, b[g]--;
    if (a[g] + 1 > mx) mx = a[g] + 1;
    if (b[g] + 1 > mx) mx = b[g] + 1;
  }
  lua_Integer P = al_lua_optint(L, 1, "players", mx);
  if (P < 1 || P < mx || P > 100000) return luaL_error(L, "elo: players = %d, but ids go up to %d", (int)P, mx);
  lua_Integer anchor = al_lua_optint(L, 1, "anchor", 1);
  if (anchor < 1 || anchor > P) return luaL_error(L, "elo: anchor %d outside [1, %d]", (int)anchor, (int)P);
  double *elo = al_lobj_newbuf(L, (size_t)P);
  if (al_elo_fit(elo, a, b, s, G, (int)P, (int)anchor - 1, al_lua_optnum(L, 1, "prior", 0)) != AL_OK)
    return al_lua_fail(L);
  al_lobj_pushvec(L, elo, (int)P);
  return 1;
}

// fit_gao{ form = "bon"|"rl", d = ... | kl = ..., reward } -> { alpha, beta, r2 }
static const al_lobj_field fit_fields[] = {
    AL_LOBJ_NUMF(al_fit, alpha), AL_LOBJ_NUMF(al_fit, beta), AL_LOBJ_NUMF(al_fit, r2),
    {NULL, 0, 0, NULL}};

static int l_fit_gao(lua_State *L) {
  static const char *const known[] = {"form", "d", "kl", "reward", NULL};
  static const char *const forms[] = {"bon", "rl", NULL};
  const char *fn = "fit_gao";
  al_lobj_checkopts(L, fn, known);
  int form = al_lobj_optenum(L, fn, "form", "bon", forms);
  int N;
  double *d = al_lobj_vec(L, fn, 1, "d", &N, 0, 0);
  if (!d) {
    d = al_lobj_vec(L, fn, 1, "kl", &N, 0, 0);
    if (!d) return luaL_error(L, "fit_gao: give 'd' (sqrt KL) or 'kl'");
    for (int i = 0; i < N; i++) d[i] = d[i] >= 0 ? sqrt(d[i]) : NAN;
  } else {
    lua_getfield(L, 1, "kl");
    if (!lua_isnil(L, -1)) return luaL_error(L, "fit_gao: give 'd' or 'kl', not both");
    lua_pop(L, 1);
  }
  double *R = al_lobj_vec_like(L, fn, "reward", "d", N, 1, 0);
  al_fit f;
  if ((form ? al_fit_gao_rl : al_fit_gao_bon)(&f, d, R, N) != AL_OK) return al_lua_fail(L);
  al_lobj_push(L, fit_fields, &f, NULL, 0, NULL);
  return 1;
}

// winrate(x, y [, tol = 0]) -> mean of [x > y] with ties (|x - y| <= tol) as 1/2
static int l_winrate(lua_State *L) {
  const char *fn = "winrate";
  lua_settop(L, 3);
  int N, n;
  double *x = al_lobj_vec(L, fn, 1, NULL, &N, 1, 0);
  double *y = al_lobj_vec(L, fn, 2, NULL, &n, 1, 0);
  if (N != n) return luaL_error(L, "winrate: x has %d entries, y has %d", N, n);
  if (N < 1) return luaL_error(L, "winrate: no pairs");
  double tol = luaL_optnumber(L, 3, 0);
  luaL_argcheck(L, tol >= 0, 3, "tol must be >= 0");
  lua_pushnumber(L, al_winrate(x, y, N, tol));
  return 1;
}

// mean_sd(x) -> mean, sample sd
static int l_mean_sd(lua_State *L) {
  int N;
  lua_settop(L, 1);
  double *x = al_lobj_vec(L, "mean_sd", 1, NULL, &N, 1, 0);
  if (N < 1) return luaL_error(L, "mean_sd: empty array");
  double m, sd;
  al_mean_sd(&m, &sd, x, N);
  lua_pushnumber(L, m);
  lua_pushnumber(L, sd);
  return 2;
}

// bootstrap_ci{ x, level = 0.9, n_boot = 1000, seed = 1 } -> lo, hi (percentile CI of the mean)
static int l_bootstrap_ci(lua_State *L) {
  static const char *const known[] = {"x", "level", "n_boot", "seed", NULL};
  const char *fn = "bootstrap_ci";
  al_lobj_checkopts(L, fn, known);
  int N;
  double *x = al_lobj_vec(L, fn, 1, "x", &N, 1, 0);
  lua_Integer nb = al_lua_optint(L, 1, "n_boot", 1000);
  if (nb < 2 || nb > 10000000) return luaL_error(L, "bootstrap_ci: n_boot = %d out of range", (int)nb);
  double lo, hi;
  if (al_bootstrap_ci(&lo, &hi, x, N, (int)nb, al_lua_optnum(L, 1, "level", 0.9),
                      (uint64_t)al_lua_optint(L, 1, "seed", 1), NULL, NULL) != AL_OK)
    return al_lua_fail(L);
  lua_pushnumber(L, lo);
  lua_pushnumber(L, hi);
  return 2;
}

// calibration{ p, y, bins = 10 } -> { ece, brier, count, conf, acc } (count/conf/acc: one entry
// per bin, equal-width bins over [0,1])
typedef struct {
  double ece, brier;
} calib_out;
static const al_lobj_field calib_fields[] = {
    AL_LOBJ_NUMF(calib_out, ece), AL_LOBJ_NUMF(calib_out, brier),
    {"count", AL_LOBJ_VEC, 0, NULL}, {"conf", AL_LOBJ_VEC, 1, NULL},
    {"acc", AL_LOBJ_VEC, 2, NULL},   {NULL, 0, 0, NULL}};

static int l_calibration(lua_State *L) {
  static const char *const known[] = {"p", "y", "bins", NULL};
  const char *fn = "calibration";
  al_lobj_checkopts(L, fn, known);
  int N;
  double *p = al_lobj_vec(L, fn, 1, "p", &N, 1, 0);
  double *y = al_lobj_vec_like(L, fn, "y", "p", N, 1, 0);
  lua_Integer K = al_lua_optint(L, 1, "bins", 10);
  if (K < 1 || K > 100000) return luaL_error(L, "calibration: bins = %d, need 1..100000", (int)K);
  double *cnt = al_lobj_newbuf(L, (size_t)K), *cf = al_lobj_newbuf(L, (size_t)K), *ac = al_lobj_newbuf(L, (size_t)K);
  calib_out o;
  if (al_calibration(&o.ece, &o.brier, cnt, cf, ac, p, y, N, (int)K) != AL_OK) return al_lua_fail(L);
  al_lobj_push(L, calib_fields, &o, (const void *[]){cnt, cf, ac}, (int)K, NULL);
  return 1;
}

// auroc(scores, labels) -> area under the ROC curve (labels 0/1; ties count 1/2)
static int l_auroc(lua_State *L) {
  const char *fn = "auroc";
  lua_settop(L, 2);
  int N, n;
  double *s = al_lobj_vec(L, fn, 1, NULL, &N, 1, 0);
  double *y = al_lobj_vec(L, fn, 2, NULL, &n, 1, 0);
  if (N != n) return luaL_error(L, "auroc: %d scores but %d labels", N, n);
  double auc;
  if (al_auroc(&auc, s, y, N) != AL_OK) return al_lua_fail(L);
  lua_pushnumber(L, auc);
  return 1;
}

// ---- registration ----

static const luaL_Reg funcs[] = {
    {"bon_kl", l_bon_kl},
    {"bon_weights", l_bon_weights},
    {"bon", l_bon},
    {"frontier", l_frontier},
    {"elo", l_elo},
    {"fit_gao", l_fit_gao},
    {"winrate", l_winrate},
    {"mean_sd", l_mean_sd},
    {"bootstrap_ci", l_bootstrap_ci},
    {"calibration", l_calibration},
    {"auroc", l_auroc},
    {NULL, NULL},
};

int al_open_obj_stats(lua_State *L) {
  luaL_setfuncs(L, funcs, 0);
  return 0;
}
