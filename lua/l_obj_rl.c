// alignlab shell: al.obj's RL objectives (core/obj_rl.c): PPO's policy and value losses, GAE,
// whitening, KL estimators and KL-penalised rewards, the adaptive KL controller, GRPO and RLOO
// advantages. Per-token arguments are flat arrays or ragged rows (see l_obj_util.c).
// Layering: l_core.c -> l_obj_rl.c -> l_obj_util.c (array readers, the one result writer) ->
// core. Preference objectives are l_obj_pref.c's, the measurement kit l_obj_stats.c's.
#include <math.h>

#include "l_obj_util.h"

// ---- PPO ---------------------------------------------------------------------------------------

// ppo_policy_loss{ logp, old_logp, advantages, mask = nil, clip = 0.2 }
//   -> { loss, dlogp, clipfrac, approx_kl (k3), kl1, kl2, ratio_mean, ratio_var }
static const al_lobj_field ppo_fields[] = {
    AL_LOBJ_NUMF(al_ppo_out, loss),       {"dlogp", AL_LOBJ_TOK, 0, NULL},
    AL_LOBJ_NUMF(al_ppo_out, clipfrac),   AL_LOBJ_NUMF(al_ppo_out, approx_kl),
    AL_LOBJ_NUMF(al_ppo_out, kl1),        AL_LOBJ_NUMF(al_ppo_out, kl2),
    AL_LOBJ_NUMF(al_ppo_out, ratio_mean), AL_LOBJ_NUMF(al_ppo_out, ratio_var),
    {NULL, 0, 0, NULL}};

static int l_ppo_policy_loss(lua_State *L) {
  static const char *const known[] = {"logp", "old_logp", "advantages", "mask", "clip", NULL};
  const char *fn = "ppo_policy_loss";
  al_lobj_checkopts(L, fn, known);
  al_lobj_shape sh = {0};
  double *lp = al_lobj_tok(L, fn, 1, "logp", &sh, 1, 0);
  double *old = al_lobj_tok(L, fn, 1, "old_logp", &sh, 1, 0);
  double *A = al_lobj_tok(L, fn, 1, "advantages", &sh, 1, 0);
  double *um = al_lobj_tok(L, fn, 1, "mask", &sh, 0, 1);
  double *m = al_lobj_padmask(L, &sh, um);
  double *g = al_lobj_newbuf(L, (size_t)sh.N);
  al_ppo_out o;
  if (al_ppo_policy_loss(&o, g, lp, old, A, m, sh.N, al_lua_optnum(L, 1, "clip", 0.2)) != AL_OK)
    return al_lua_fail(L);
  al_lobj_push(L, ppo_fields, &o, (const void *[]){g}, 0, &sh);
  return 1;
}

// ppo_value_loss{ values, old_values, returns, mask = nil, clip = 0.2 }
//   -> { loss, dvalues, clipfrac, explained_variance, value_mean }
static const al_lobj_field value_fields[] = {
    AL_LOBJ_NUMF(al_value_out, loss), {"dvalues", AL_LOBJ_TOK, 0, NULL},
    AL_LOBJ_NUMF(al_value_out, clipfrac), AL_LOBJ_NUMF(al_value_out, explained_variance),
    AL_LOBJ_NUMF(al_value_out, value_mean), {NULL, 0, 0, NULL}};

static int l_ppo_value_loss(lua_State *L) {
  static const char *const known[] = {"values", "old_values", "returns", "mask", "clip", NULL};
  const char *fn = "ppo_value_loss";
  al_lobj_checkopts(L, fn, known);
  al_lobj_shape sh = {0};
  double *V = al_lobj_tok(L, fn, 1, "values", &sh, 1, 0);
  double *Vo = al_lobj_tok(L, fn, 1, "old_values", &sh, 1, 0);
  double *R = al_lobj_tok(L, fn, 1, "returns", &sh, 1, 0);
  double *um = al_lobj_tok(L, fn, 1, "mask", &sh, 0, 1);
  double *m = al_lobj_padmask(L, &sh, um);
  double *g = al_lobj_newbuf(L, (size_t)sh.N);
  al_value_out o;
  if (al_ppo_value_loss(&o, g, V, Vo, R, m, sh.N, al_lua_optnum(L, 1, "clip", 0.2)) != AL_OK)
    return al_lua_fail(L);
  al_lobj_push(L, value_fields, &o, (const void *[]){g}, 0, &sh);
  return 1;
}

// explained_variance(values, returns [, mask]) -> number
static int l_explained_variance(lua_State *L) {
  const char *fn = "explained_variance";
  lua_settop(L, 3); // positional arguments first: buffers go above them
  al_lobj_shape sh = {0};
  double *V = al_lobj_tok(L, fn, 1, NULL, &sh, 1, 0);
  double *R = al_lobj_tok(L, fn, 2, NULL, &sh, 1, 0);
  double *um = lua_isnoneornil(L, 3) ? NULL : al_lobj_tok(L, fn, 3, NULL, &sh, 1, 1);
  double *m = al_lobj_padmask(L, &sh, um);
  lua_pushnumber(L, al_explained_variance(V, R, m, sh.N));
  return 1;
}

// gae{ rewards, values, mask = nil, gamma = 1, lam = 0.95 } -> { advantages, returns }
static const al_lobj_field gae_fields[] = {
    {"advantages", AL_LOBJ_TOK, 0, NULL}, {"returns", AL_LOBJ_TOK, 1, NULL}, {NULL, 0, 0, NULL}};

static int l_gae(lua_State *L) {
  static const char *const known[] = {"rewards", "values", "mask", "gamma", "lam", NULL};
  const char *fn = "gae";
  al_lobj_checkopts(L, fn, known);
  al_lobj_shape sh = {0};
  double *r = al_lobj_tok(L, fn, 1, "rewards", &sh, 1, 0);
  double *V = al_lobj_tok(L, fn, 1, "values", &sh, 1, 0);
  double *um = al_lobj_tok(L, fn, 1, "mask", &sh, 0, 1);
  double *m = al_lobj_padmask(L, &sh, um);
  double *A = al_lobj_newbuf(L, (size_t)sh.N), *R = al_lobj_newbuf(L, (size_t)sh.N);
  if (al_gae(A, R, r, V, m, sh.B, sh.T, al_lua_optnum(L, 1, "gamma", 1.0),
             al_lua_optnum(L, 1, "lam", 0.95)) != AL_OK)
    return al_lua_fail(L);
  al_lobj_push(L, gae_fields, NULL, (const void *[]){A, R}, 0, &sh);
  return 1;
}

// whiten(x [, { mask, shift_mean = true, clip }]) -> x whitened over all (masked) entries, in
// x's shape; masked-out entries become 0; clip = c then clips into [-c, c].
static int l_whiten(lua_State *L) {
  static const char *const known[] = {"mask", "shift_mean", "clip", NULL};
  const char *fn = "whiten";
  lua_settop(L, 2);
  al_lobj_shape sh = {0};
  double *x = al_lobj_tok(L, fn, 1, NULL, &sh, 1, 0);
  double *um = NULL;
  int shift = 1;
  double c = INFINITY;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    al_lua_checkopts(L, 2, fn, known);
    um = al_lobj_tok(L, fn, 2, "mask", &sh, 0, 1);
    shift = al_lua_optbool(L, 2, "shift_mean", 1);
    c = al_lua_optnum(L, 2, "clip", INFINITY);
    if (!(c > 0)) return luaL_error(L, "whiten: clip = %f, need > 0", c);
  }
  double *m = al_lobj_padmask(L, &sh, um);
  double *out = al_lobj_newbuf(L, (size_t)sh.N);
  if (al_whiten(out, x, m, sh.N, shift) != AL_OK) return al_lua_fail(L);
  if (isfinite(c)) al_clip(out, sh.N, -c, c);
  al_lobj_pushtok(L, &sh, out);
  return 1;
}

static const char *const kl_names[] = {"k1", "k2", "k3", "abs", NULL};

// kl_estimate{ logp, ref_logp, estimator = "k1" } -> per-token estimates in logp's shape
static int l_kl_estimate(lua_State *L) {
  static const char *const known[] = {"logp", "ref_logp", "estimator", NULL};
  const char *fn = "kl_estimate";
  al_lobj_checkopts(L, fn, known);
  al_kl_kind kind = (al_kl_kind)al_lobj_optenum(L, fn, "estimator", "k1", kl_names);
  al_lobj_shape sh = {0};
  double *lp = al_lobj_tok(L, fn, 1, "logp", &sh, 1, 0);
  double *lq = al_lobj_tok(L, fn, 1, "ref_logp", &sh, 1, 0);
  double *kl = al_lobj_newbuf(L, (size_t)sh.N);
  al_kl_estimate(kl, lp, lq, sh.N, kind);
  al_lobj_pushtok(L, &sh, kl);
  return 1;
}

// kl_rewards{ logp, ref_logp, scores = nil (one per row), mask = nil, beta, estimator = "k1" }
//   -> { rewards, kl } per token: -beta kl, plus the row's score at its last (masked-in) token
static const al_lobj_field kl_rewards_fields[] = {
    {"rewards", AL_LOBJ_TOK, 0, NULL}, {"kl", AL_LOBJ_TOK, 1, NULL}, {NULL, 0, 0, NULL}};

static int l_kl_rewards(lua_State *L) {
  static const char *const known[] = {"logp", "ref_logp", "scores", "mask", "beta", "estimator", NULL};
  const char *fn = "kl_rewards";
  al_lobj_checkopts(L, fn, known);
  al_kl_kind kind = (al_kl_kind)al_lobj_optenum(L, fn, "estimator", "k1", kl_names);
  lua_getfield(L, 1, "beta");
  if (!lua_isnumber(L, -1)) return luaL_error(L, "kl_rewards: 'beta' (a number) is required");
  double beta = lua_tonumber(L, -1);
  lua_pop(L, 1);
  al_lobj_shape sh = {0};
  double *lp = al_lobj_tok(L, fn, 1, "logp", &sh, 1, 0);
  double *lq = al_lobj_tok(L, fn, 1, "ref_logp", &sh, 1, 0);
  double *um = al_lobj_tok(L, fn, 1, "mask", &sh, 0, 1);
  int n;
  double *sc = al_lobj_vec(L, fn, 1, "scores", &n, 0, 0);
  if (sc && n != sh.B)
    return luaL_error(L, "kl_rewards: 'scores' has %d entries for %d rows", n, sh.B);
  double *m = al_lobj_padmask(L, &sh, um);
  double *r = al_lobj_newbuf(L, (size_t)sh.N), *kl = al_lobj_newbuf(L, (size_t)sh.N);
  if (al_kl_rewards(r, kl, lp, lq, m, sc, sh.B, sh.T, beta, kind) != AL_OK) return al_lua_fail(L);
  al_lobj_push(L, kl_rewards_fields, NULL, (const void *[]){r, kl}, 0, &sh);
  return 1;
}

// ---- adaptive KL controller: a plain table { beta, target, horizon } with method update ----

static const char *const klctl_known[] = {"beta", "target", "horizon", NULL};

static const al_lobj_field klctl_fields[] = {
    AL_LOBJ_NUMF(al_klctl, beta), AL_LOBJ_NUMF(al_klctl, target), AL_LOBJ_NUMF(al_klctl, horizon),
    {NULL, 0, 0, NULL}};

static al_klctl klctl_read(lua_State *L, int idx, const char *fn) {
  al_klctl c;
  if (al_klctl_init(&c, al_lua_optnum(L, idx, "beta", 0.15), al_lua_optnum(L, idx, "target", 0),
                    al_lua_optnum(L, idx, "horizon", 10000)) != AL_OK)
    luaL_error(L, "%s: %s", fn, al_errmsg());
  return c;
}

// ctl:update(kl, n_steps) -> new beta (also stored in ctl.beta)
static int l_klctl_update(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  double kl = luaL_checknumber(L, 2);
  double n = luaL_checknumber(L, 3);
  al_klctl c = klctl_read(L, 1, "kl_controller:update");
  double b = al_klctl_update(&c, kl, n);
  lua_pushnumber(L, b);
  lua_setfield(L, 1, "beta");
  lua_pushnumber(L, b);
  return 1;
}

// kl_controller{ beta = 0.15, target = nil (fixed beta), horizon = 10000 } -> ctl
static int l_kl_controller(lua_State *L) {
  const char *fn = "kl_controller";
  if (lua_isnoneornil(L, 1)) lua_settop(L, 0), lua_newtable(L);
  al_lobj_checkopts(L, fn, klctl_known);
  al_klctl c = klctl_read(L, 1, fn);
  al_lobj_push(L, klctl_fields, &c, NULL, 0, NULL);
  if (luaL_newmetatable(L, "al.KLController")) {
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_klctl_update);
    lua_setfield(L, -2, "update");
    lua_setfield(L, -2, "__index");
  }
  lua_setmetatable(L, -2);
  return 1;
}

// grpo_advantages{ rewards, group, eps = 1e-4, scale = true } -> array
static int l_grpo_advantages(lua_State *L) {
  static const char *const known[] = {"rewards", "group", "eps", "scale", NULL};
  const char *fn = "grpo_advantages";
  al_lobj_checkopts(L, fn, known);
  int N;
  double *r = al_lobj_vec(L, fn, 1, "rewards", &N, 1, 0);
  int G = (int)al_lua_optint(L, 1, "group", 0);
  double *a = al_lobj_newbuf(L, (size_t)N);
  if (al_grpo_advantages(a, r, N, G, al_lua_optnum(L, 1, "eps", 1e-4), al_lua_optbool(L, 1, "scale", 1)) != AL_OK)
    return al_lua_fail(L);
  al_lobj_pushvec(L, a, N);
  return 1;
}

// rloo_advantages{ rewards, group } -> array
static int l_rloo_advantages(lua_State *L) {
  static const char *const known[] = {"rewards", "group", NULL};
  const char *fn = "rloo_advantages";
  al_lobj_checkopts(L, fn, known);
  int N;
  double *r = al_lobj_vec(L, fn, 1, "rewards", &N, 1, 0);
  int G = (int)al_lua_optint(L, 1, "group", 0);
  double *a = al_lobj_newbuf(L, (size_t)N);
  if (al_rloo_advantages(a, r, N, G) != AL_OK) return al_lua_fail(L);
  al_lobj_pushvec(L, a, N);
  return 1;
}

// ---- registration ----

static const luaL_Reg funcs[] = {
    {"ppo_policy_loss", l_ppo_policy_loss},
    {"ppo_value_loss", l_ppo_value_loss},
    {"explained_variance", l_explained_variance},
    {"gae", l_gae},
    {"whiten", l_whiten},
    {"kl_estimate", l_kl_estimate},
    {"kl_rewards", l_kl_rewards},
    {"kl_controller", l_kl_controller},
    {"grpo_advantages", l_grpo_advantages},
    {"rloo_advantages", l_rloo_advantages},
    {NULL, NULL},
};

int al_open_obj_rl(lua_State *L) {
  luaL_setfuncs(L, funcs, 0);
  return 0;
}
