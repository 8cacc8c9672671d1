// alignlab shell: bindings of core/al_obj.h as al.core.obj (so al.obj): the objectives, with
// their gradients, and the measurement kit, taking and returning Lua arrays.
//
// Array arguments: per-pair / per-sample arguments are flat arrays of numbers. Per-token
// arguments (logp, advantages, rewards, values, mask, ...) are either one flat array or an
// array of rows ({{...}, {...}}, ragged, as m:forward returns res.logp); every per-token
// argument of one call has the shape of the first, and per-token results come back in that
// shape, so `m:backward{ dlogp = obj.ppo_policy_loss{...}.dlogp }` just works. Entries past a
// row's end do not exist; `mask` (numbers or booleans) removes more.
// Every buffer is a userdata owned by the garbage collector, so an error raised half-way
// through a call leaks nothing. Options tables reject unknown keys.
#include <limits.h>
#include <math.h>
#include <string.h>

#include "al_obj.h"
#include "bind.h"

// ---- reading arrays ------------------------------------------------------------------------

// Push the value to read: t[key] when key is given, else the value at stack index t.
static int fetch(lua_State *L, int t, const char *key) {
  if (key) return lua_getfield(L, t, key);
  lua_pushvalue(L, t);
  return lua_type(L, -1);
}

static const char *argname(lua_State *L, int t, const char *key) {
  return key ? lua_pushstring(L, key) : lua_pushfstring(L, "argument #%d", t);
}

static double *newbuf(lua_State *L, size_t n) {
  double *x = lua_newuserdatauv(L, n ? n * sizeof(double) : 1, 0);
  if (n) memset(x, 0, n * sizeof(double));
  return x;
}

// element on top of the stack -> number (booleans too when allow_bool); pops it
static double tonum(lua_State *L, const char *fn, const char *name, int row, int i, int allow_bool) {
  double v;
  if (lua_type(L, -1) == LUA_TNUMBER) v = lua_tonumber(L, -1);
  else if (allow_bool && lua_type(L, -1) == LUA_TBOOLEAN) v = lua_toboolean(L, -1);
  else if (row > 0)
    return luaL_error(L, "%s: %s[%d][%d] must be a number (got %s)", fn, name, row, i, luaL_typename(L, -1));
  else
    return luaL_error(L, "%s: %s[%d] must be a number (got %s)", fn, name, i, luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

// A flat array of numbers at t[key] (or stack index t) into a buffer left on the stack.
// NULL (nothing pushed) when absent and not required.
static double *vec(lua_State *L, const char *fn, int t, const char *key, int *n, int required,
                   int allow_bool) {
  luaL_checkstack(L, 6, fn);
  int ty = fetch(L, t, key);
  int vi = lua_gettop(L);
  const char *name = argname(L, t, key);
  if (ty == LUA_TNIL) {
    lua_pop(L, 2);
    *n = 0;
    if (required) luaL_error(L, "%s: %s is required", fn, key ? key : "an array");
    return NULL;
  }
  if (ty != LUA_TTABLE) luaL_error(L, "%s: %s must be an array of numbers (got %s)", fn, name, lua_typename(L, ty));
  lua_Unsigned len = lua_rawlen(L, vi);
  if (len > (lua_Unsigned)(INT_MAX / 8)) luaL_error(L, "%s: %s is too long", fn, name);
  double *x = newbuf(L, (size_t)len);
  for (lua_Unsigned i = 1; i <= len; i++) {
    lua_rawgeti(L, vi, (lua_Integer)i);
    x[i - 1] = tonum(L, fn, name, 0, (int)i, allow_bool);
  }
  lua_remove(L, vi); // the value
  lua_remove(L, vi); // its name; the buffer stays
  *n = (int)len;
  return x;
}

// A flat array of integers (lengths, player ids, n values) into an int buffer left on the stack.
static int *ivec(lua_State *L, const char *fn, int t, const char *key, int *n, int required) {
  double *x = vec(L, fn, t, key, n, required, 0);
  if (!x) return NULL;
  int *v = lua_newuserdatauv(L, *n ? (size_t)*n * sizeof(int) : 1, 0);
  for (int i = 0; i < *n; i++) {
    if (!(x[i] == floor(x[i]) && fabs(x[i]) <= INT_MAX))
      luaL_error(L, "%s: %s[%d] must be an integer (got %f)", fn, key, i + 1, x[i]);
    v[i] = (int)x[i];
  }
  lua_remove(L, -2); // the double buffer
  return v;
}

static void samelen(lua_State *L, const char *fn, const char *k1, int n1, const char *k2, int n2) {
  if (n1 != n2) luaL_error(L, "%s: '%s' has %d entries but '%s' has %d", fn, k2, n2, k1, n1);
}

// Shape of per-token arguments: B rows of len[b] entries, padded to T (flat = one row).
typedef struct {
  int set, nested, B, T, N; // N = B * T
  int *len;
  const char *first;
} shape;

// A per-token argument into a (B,T) buffer (0 past each row's end) left on the stack; the first
// one read fixes the shape, later ones must match it.
static double *tok(lua_State *L, const char *fn, int t, const char *key, shape *sh, int required,
                   int allow_bool) {
  luaL_checkstack(L, 8, fn);
  int ty = fetch(L, t, key);
  int vi = lua_gettop(L);
  const char *name = argname(L, t, key);
  if (ty == LUA_TNIL) {
    lua_pop(L, 2);
    if (required) luaL_error(L, "%s: %s is required", fn, key ? key : "an array");
    return NULL;
  }
  if (ty != LUA_TTABLE)
    luaL_error(L, "%s: %s must be an array of numbers or of rows (got %s)", fn, name, lua_typename(L, ty));
  lua_Unsigned outer = lua_rawlen(L, vi);
  if (outer > (lua_Unsigned)(INT_MAX / 8)) luaL_error(L, "%s: %s is too long", fn, name);
  int nested = 0;
  if (outer > 0) {
    nested = lua_rawgeti(L, vi, 1) == LUA_TTABLE;
    lua_pop(L, 1);
  }
  if (!sh->set) {
    sh->set = 1;
    sh->nested = nested;
    sh->first = key ? key : t == 1 ? "argument #1" : t == 2 ? "argument #2" : "argument #3";
    sh->B = nested ? (int)outer : 1;
    sh->len = lua_newuserdatauv(L, (size_t)sh->B * sizeof(int) + 1, 0);
    sh->T = 0;
    for (int b = 0; b < sh->B; b++) {
      int n = (int)outer;
      if (nested) {
        if (lua_rawgeti(L, vi, b + 1) != LUA_TTABLE)
          luaL_error(L, "%s: %s[%d] must be a row (an array of numbers), got %s", fn, name, b + 1, luaL_typename(L, -1));
        lua_Unsigned rl = lua_rawlen(L, -1);
        if (rl > (lua_Unsigned)(INT_MAX / 8)) luaL_error(L, "%s: %s[%d] is too long", fn, name, b + 1);
        n = (int)rl;
        lua_pop(L, 1);
      }
      sh->len[b] = n;
      if (n > sh->T) sh->T = n;
    }
    if ((size_t)sh->B * (size_t)sh->T > (size_t)(INT_MAX / 8)) luaL_error(L, "%s: %s is too large", fn, name);
    sh->N = sh->B * sh->T;
    lua_insert(L, vi); // keep the lengths below the value
    vi++;
  } else if (nested != sh->nested || (nested && (int)outer != sh->B) ||
             (!nested && (int)outer != sh->len[0])) {
    luaL_error(L, "%s: %s does not have the shape of '%s' (%s of %d)", fn, name, sh->first,
               nested ? "rows" : "array", (int)outer);
  }
  double *x = newbuf(L, (size_t)sh->N);
  for (int b = 0; b < sh->B; b++) {
    int rowi = vi;
    if (nested) {
      if (lua_rawgeti(L, vi, b + 1) != LUA_TTABLE)
        luaL_error(L, "%s: %s[%d] must be a row (an array of numbers), got %s", fn, name, b + 1, luaL_typename(L, -1));
      rowi = lua_gettop(L);
      if ((int)lua_rawlen(L, rowi) != sh->len[b])
        luaL_error(L, "%s: row %d of %s has %d entries, row %d of '%s' has %d", fn, b + 1, name,
                   (int)lua_rawlen(L, rowi), b + 1, sh->first, sh->len[b]);
    }
    for (int i = 0; i < sh->len[b]; i++) {
      lua_rawgeti(L, rowi, i + 1);
      x[(size_t)b * sh->T + i] = tonum(L, fn, name, nested ? b + 1 : 0, i + 1, allow_bool);
    }
    if (nested) lua_pop(L, 1);
  }
  lua_remove(L, vi);
  lua_remove(L, vi); // value and name gone; the buffer stays
  return x;
}

// (B,T) mask of the entries that exist, times the user's mask; left on the stack
static double *padmask(lua_State *L, const shape *sh, const double *user) {
  double *m = newbuf(L, (size_t)sh->N);
  for (int b = 0; b < sh->B; b++)
    for (int t = 0; t < sh->len[b]; t++) {
      size_t i = (size_t)b * sh->T + t;
      m[i] = user ? user[i] : 1.0;
    }
  return m;
}

// Push x (B,T) back in the shape of the arguments
static void pushtok(lua_State *L, const shape *sh, const double *x) {
  luaL_checkstack(L, 4, "obj");
  if (sh->nested) lua_createtable(L, sh->B, 0);
  for (int b = 0; b < sh->B; b++) {
    lua_createtable(L, sh->len[b], 0);
    for (int t = 0; t < sh->len[b]; t++) {
      lua_pushnumber(L, x[(size_t)b * sh->T + t]);
      lua_rawseti(L, -2, t + 1);
    }
    if (sh->nested) lua_rawseti(L, -2, b + 1);
  }
}

static void pushvec(lua_State *L, const double *x, int n) {
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushnumber(L, x[i]);
    lua_rawseti(L, -2, i + 1);
  }
}

static void setnum(lua_State *L, const char *k, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}

static int optenum(lua_State *L, const char *fn, const char *key, const char *def,
                   const char *const names[]) {
  const char *s = al_lua_optstr(L, 1, key, def);
  for (int i = 0; names[i]; i++)
    if (strcmp(s, names[i]) == 0) return i;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 0; names[i]; i++) {
    if (i) luaL_addstring(&b, ", ");
    luaL_addstring(&b, names[i]);
  }
  luaL_pushresult(&b);
  return luaL_error(L, "%s: %s = '%s' is not one of %s", fn, key, s, lua_tostring(L, -1));
}

static void checkopts(lua_State *L, const char *fn, const char *const known[]) {
  luaL_checktype(L, 1, LUA_TTABLE);
  al_lua_checkopts(L, 1, fn, known);
}

// ---- preference objectives -----------------------------------------------------------------

// bt_loss{ chosen, rejected, margin = nil, label = nil, center = 0 }
//   -> { loss, accuracy, margin, mean_reward, d_chosen, d_rejected }
static int l_bt_loss(lua_State *L) {
  static const char *const known[] = {"chosen", "rejected", "margin", "label", "center", NULL};
  const char *fn = "bt_loss";
  checkopts(L, fn, known);
  int P, n;
  double *rc = vec(L, fn, 1, "chosen", &P, 1, 0);
  double *rr = vec(L, fn, 1, "rejected", &n, 1, 0);
  samelen(L, fn, "chosen", P, "rejected", n);
  double *mg = vec(L, fn, 1, "margin", &n, 0, 0);
  if (mg) samelen(L, fn, "chosen", P, "margin", n);
  double *p = vec(L, fn, 1, "label", &n, 0, 0);
  if (p) samelen(L, fn, "chosen", P, "label", n);
  double center = al_lua_optnum(L, 1, "center", 0);
  double *dc = newbuf(L, (size_t)P), *dr = newbuf(L, (size_t)P);
  al_bt_out o;
  if (al_bt_loss(&o, dc, dr, rc, rr, mg, p, P, center) != AL_OK) return al_lua_fail(L);
  lua_createtable(L, 0, 6);
  setnum(L, "loss", o.loss);
  setnum(L, "accuracy", o.accuracy);
  setnum(L, "margin", o.margin);
  setnum(L, "mean_reward", o.mean_reward);
  pushvec(L, dc, P);
  lua_setfield(L, -2, "d_chosen");
  pushvec(L, dr, P);
  lua_setfield(L, -2, "d_rejected");
  return 1;
}

// dpo_loss{ policy_chosen, policy_rejected, ref_chosen, ref_rejected, len_chosen, len_rejected,
//           beta = 0.1, loss = "sigmoid"|"cdpo"|"ipo"|"hinge"|"simpo", label_smoothing = 0,
//           gamma = 0.5 }
//   -> { loss, d_chosen, d_rejected, rewards_chosen, rewards_rejected, rewards_margins,
//        rewards_accuracies, logps_chosen, logps_rejected, metrics = { TRL keys } }
static int l_dpo_loss(lua_State *L) {
  static const char *const known[] = {"policy_chosen", "policy_rejected", "ref_chosen", "ref_rejected",
                                      "len_chosen", "len_rejected", "beta", "loss",
                                      "label_smoothing", "gamma", NULL};
  static const char *const kinds[] = {"sigmoid", "ipo", "hinge", "simpo", "cdpo", NULL};
  const char *fn = "dpo_loss";
  checkopts(L, fn, known);
  int k = optenum(L, fn, "loss", "sigmoid", kinds);
  al_dpo_opts op = {k == 4 ? AL_DPO_SIGMOID : (al_dpo_kind)k, al_lua_optnum(L, 1, "beta", 0.1),
                    al_lua_optnum(L, 1, "label_smoothing", 0), al_lua_optnum(L, 1, "gamma", 0.5)};
  int simpo = op.kind == AL_DPO_SIMPO;
  int P, n;
  double *pc = vec(L, fn, 1, "policy_chosen", &P, 1, 0);
  double *pr = vec(L, fn, 1, "policy_rejected", &n, 1, 0);
  samelen(L, fn, "policy_chosen", P, "policy_rejected", n);
  double *rc = vec(L, fn, 1, "ref_chosen", &n, !simpo, 0);
  if (rc) samelen(L, fn, "policy_chosen", P, "ref_chosen", n);
  double *rr = vec(L, fn, 1, "ref_rejected", &n, !simpo, 0);
  if (rr) samelen(L, fn, "policy_chosen", P, "ref_rejected", n);
  int *lc = ivec(L, fn, 1, "len_chosen", &n, simpo);
  if (lc) samelen(L, fn, "policy_chosen", P, "len_chosen", n);
  int *lr = ivec(L, fn, 1, "len_rejected", &n, simpo);
  if (lr) samelen(L, fn, "policy_chosen", P, "len_rejected", n);
  double *dc = newbuf(L, (size_t)P), *dr = newbuf(L, (size_t)P);
  al_dpo_out o;
  if (al_dpo_loss(&o, dc, dr, pc, pr, simpo ? NULL : rc, simpo ? NULL : rr, lc, lr, P, &op) != AL_OK)
    return al_lua_fail(L);
  lua_createtable(L, 0, 11);
  setnum(L, "loss", o.loss);
  pushvec(L, dc, P);
  lua_setfield(L, -2, "d_chosen");
  pushvec(L, dr, P);
  lua_setfield(L, -2, "d_rejected");
  setnum(L, "rewards_chosen", o.rewards_chosen);
  setnum(L, "rewards_rejected", o.rewards_rejected);
  setnum(L, "rewards_margins", o.rewards_margins);
  setnum(L, "rewards_accuracies", o.rewards_accuracies);
  setnum(L, "logps_chosen", o.logps_chosen);
  setnum(L, "logps_rejected", o.logps_rejected);
  lua_createtable(L, 0, 7); // TRL's metric keys (peers.md section 8)
  setnum(L, "loss", o.loss);
  setnum(L, "rewards/chosen", o.rewards_chosen);
  setnum(L, "rewards/rejected", o.rewards_rejected);
  setnum(L, "rewards/margins", o.rewards_margins);
  setnum(L, "rewards/accuracies", o.rewards_accuracies);
  setnum(L, "logps/chosen", o.logps_chosen);
  setnum(L, "logps/rejected", o.logps_rejected);
  lua_setfield(L, -2, "metrics");
  return 1;
}

// kto_loss{ policy, ref, desirable (booleans or 0/1), z0 = 0, beta = 0.1,
//           desirable_weight = 1, undesirable_weight = 1 }
//   -> { loss, d_policy, rewards_chosen, rewards_rejected, kl }
static int l_kto_loss(lua_State *L) {
  static const char *const known[] = {"policy", "ref", "desirable", "z0", "beta",
                                      "desirable_weight", "undesirable_weight", NULL};
  const char *fn = "kto_loss";
  checkopts(L, fn, known);
  int N, n;
  double *pi = vec(L, fn, 1, "policy", &N, 1, 0);
  double *ref = vec(L, fn, 1, "ref", &n, 1, 0);
  samelen(L, fn, "policy", N, "ref", n);
  double *dz = vec(L, fn, 1, "desirable", &n, 1, 1);
  samelen(L, fn, "policy", N, "desirable", n);
  int *des = lua_newuserdatauv(L, (size_t)N * sizeof(int) + 1, 0);
  for (int i = 0; i < N; i++) des[i] = dz[i] != 0;
  double *g = newbuf(L, (size_t)N);
  al_kto_out o;
  if (al_kto_loss(&o, g, pi, ref, des, N, al_lua_optnum(L, 1, "z0", 0), al_lua_optnum(L, 1, "beta", 0.1),
                  al_lua_optnum(L, 1, "desirable_weight", 1), al_lua_optnum(L, 1, "undesirable_weight", 1)) != AL_OK)
    return al_lua_fail(L);
  lua_createtable(L, 0, 5);
  setnum(L, "loss", o.loss);
  pushvec(L, g, N);
  lua_setfield(L, -2, "d_policy");
  setnum(L, "rewards_chosen", o.rewards_chosen);
  setnum(L, "rewards_rejected", o.rewards_rejected);
  setnum(L, "kl", o.kl);
  return 1;
}

// ---- PPO -------------------------------------------------------------------------------------

// ppo_policy_loss{ logp, old_logp, advantages, mask = nil, clip = 0.2 }
//   -> { loss, dlogp, clipfrac, approx_kl (k3), kl1, kl2, ratio_mean, ratio_var }
static int l_ppo_policy_loss(lua_State *L) {
  static const char *const known[] = {"logp", "old_logp", "advantages", "mask", "clip", NULL};
  const char *fn = "ppo_policy_loss";
  checkopts(L, fn, known);
  shape sh = {0};
  double *lp = tok(L, fn, 1, "logp", &sh, 1, 0);
  double *old = tok(L, fn, 1, "old_logp", &sh, 1, 0);
  double *A = tok(L, fn, 1, "advantages", &sh, 1, 0);
  double *um = tok(L, fn, 1, "mask", &sh, 0, 1);
  double *m = padmask(L, &sh, um);
  double *g = newbuf(L, (size_t)sh.N);
  al_ppo_out o;
  if (al_ppo_policy_loss(&o, g, lp, old, A, m, sh.N, al_lua_optnum(L, 1, "clip", 0.2)) != AL_OK)
    return al_lua_fail(L);
  lua_createtable(L, 0, 8);
  setnum(L, "loss", o.loss);
  pushtok(L, &sh, g);
  lua_setfield(L, -2, "dlogp");
  setnum(L, "clipfrac", o.clipfrac);
  setnum(L, "approx_kl", o.approx_kl);
  setnum(L, "kl1", o.kl1);
  setnum(L, "kl2", o.kl2);
  setnum(L, "ratio_mean", o.ratio_mean);
  setnum(L, "ratio_var", o.ratio_var);
  return 1;
}

// ppo_value_loss{ values, old_values, returns, mask = nil, clip = 0.2 }
//   -> { loss, dvalues, clipfrac, explained_variance, value_mean }
static int l_ppo_value_loss(lua_State *L) {
  static const char *const known[] = {"values", "old_values", "returns", "mask", "clip", NULL};
  const char *fn = "ppo_value_loss";
  checkopts(L, fn, known);
  shape sh = {0};
  double *V = tok(L, fn, 1, "values", &sh, 1, 0);
  double *Vo = tok(L, fn, 1, "old_values", &sh, 1, 0);
  double *R = tok(L, fn, 1, "returns", &sh, 1, 0);
  double *um = tok(L, fn, 1, "mask", &sh, 0, 1);
  double *m = padmask(L, &sh, um);
  double *g = newbuf(L, (size_t)sh.N);
  al_value_out o;
  if (al_ppo_value_loss(&o, g, V, Vo, R, m, sh.N, al_lua_optnum(L, 1, "clip", 0.2)) != AL_OK)
    return al_lua_fail(L);
  lua_createtable(L, 0, 5);
  setnum(L, "loss", o.loss);
  pushtok(L, &sh, g);
  lua_setfield(L, -2, "dvalues");
  setnum(L, "clipfrac", o.clipfrac);
  setnum(L, "explained_variance", o.explained_variance);
  setnum(L, "value_mean", o.value_mean);
  return 1;
}

// explained_variance(values, returns [, mask]) -> number
static int l_explained_variance(lua_State *L) {
  const char *fn = "explained_variance";
  lua_settop(L, 3); // positional arguments first: buffers go above them
  shape sh = {0};
  double *V = tok(L, fn, 1, NULL, &sh, 1, 0);
  double *R = tok(L, fn, 2, NULL, &sh, 1, 0);
  double *um = lua_isnoneornil(L, 3) ? NULL : tok(L, fn, 3, NULL, &sh, 1, 1);
  double *m = padmask(L, &sh, um);
  lua_pushnumber(L, al_explained_variance(V, R, m, sh.N));
  return 1;
}

// gae{ rewards, values, mask = nil, gamma = 1, lam = 0.95 } -> { advantages, returns }
static int l_gae(lua_State *L) {
  static const char *const known[] = {"rewards", "values", "mask", "gamma", "lam", NULL};
  const char *fn = "gae";
  checkopts(L, fn, known);
  shape sh = {0};
  double *r = tok(L, fn, 1, "rewards", &sh, 1, 0);
  double *V = tok(L, fn, 1, "values", &sh, 1, 0);
  double *um = tok(L, fn, 1, "mask", &sh, 0, 1);
  double *m = padmask(L, &sh, um);
  double *A = newbuf(L, (size_t)sh.N), *R = newbuf(L, (size_t)sh.N);
  if (al_gae(A, R, r, V, m, sh.B, sh.T, al_lua_optnum(L, 1, "gamma", 1.0),
             al_lua_optnum(L, 1, "lam", 0.95)) != AL_OK)
    return al_lua_fail(L);
  lua_createtable(L, 0, 2);
  pushtok(L, &sh, A);
  lua_setfield(L, -2, "advantages");
  pushtok(L, &sh, R);
  lua_setfield(L, -2, "returns");
  return 1;
}

// whiten(x [, { mask, shift_mean = true, clip }]) -> x whitened over all (masked) entries, in
// x's shape; masked-out entries become 0; clip = c then clips into [-c, c].
static int l_whiten(lua_State *L) {
  static const char *const known[] = {"mask", "shift_mean", "clip", NULL};
  const char *fn = "whiten";
  lua_settop(L, 2);
  shape sh = {0};
  double *x = tok(L, fn, 1, NULL, &sh, 1, 0);
  double *um = NULL;
  int shift = 1;
  double c = INFINITY;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    al_lua_checkopts(L, 2, fn, known);
    um = tok(L, fn, 2, "mask", &sh, 0, 1);
    shift = al_lua_optbool(L, 2, "shift_mean", 1);
    c = al_lua_optnum(L, 2, "clip", INFINITY);
    if (!(c > 0)) return luaL_error(L, "whiten: clip = %f, need > 0", c);
  }
  double *m = padmask(L, &sh, um);
  double *out = newbuf(L, (size_t)sh.N);
  if (al_whiten(out, x, m, sh.N, shift) != AL_OK) return al_lua_fail(L);
  if (isfinite(c)) al_clip(out, sh.N, -c, c);
  pushtok(L, &sh, out);
  return 1;
}

static const char *const kl_names[] = {"k1", "k2", "k3", "abs", NULL};

// kl_estimate{ logp, ref_logp, estimator = "k1" } -> per-token estimates in logp's shape
static int l_kl_estimate(lua_State *L) {
  static const char *const known[] = {"logp", "ref_logp", "estimator", NULL};
  const char *fn = "kl_estimate";
  checkopts(L, fn, known);
  al_kl_kind kind = (al_kl_kind)optenum(L, fn, "estimator", "k1", kl_names);
  shape sh = {0};
  double *lp = tok(L, fn, 1, "logp", &sh, 1, 0);
  double *lq = tok(L, fn, 1, "ref_logp", &sh, 1, 0);
  double *kl = newbuf(L, (size_t)sh.N);
  al_kl_estimate(kl, lp, lq, sh.N, kind);
  pushtok(L, &sh, kl);
  return 1;
}

// kl_rewards{ logp, ref_logp, scores = nil (one per row), mask = nil, beta, estimator = "k1" }
//   -> { rewards, kl } per token: -beta kl, plus the row's score at its last (masked-in) token
static int l_kl_rewards(lua_State *L) {
  static const char *const known[] = {"logp", "ref_logp", "scores", "mask", "beta", "estimator", NULL};
  const char *fn = "kl_rewards";
  checkopts(L, fn, known);
  al_kl_kind kind = (al_kl_kind)optenum(L, fn, "estimator", "k1", kl_names);
  lua_getfield(L, 1, "beta");
  if (!lua_isnumber(L, -1)) return luaL_error(L, "kl_rewards: 'beta' (a number) is required");
  double beta = lua_tonumber(L, -1);
  lua_pop(L, 1);
  shape sh = {0};
  double *lp = tok(L, fn, 1, "logp", &sh, 1, 0);
  double *lq = tok(L, fn, 1, "ref_logp", &sh, 1, 0);
  double *um = tok(L, fn, 1, "mask", &sh, 0, 1);
  int n;
  double *sc = vec(L, fn, 1, "scores", &n, 0, 0);
  if (sc && n != sh.B)
    return luaL_error(L, "kl_rewards: 'scores' has %d entries for %d rows", n, sh.B);
  double *m = padmask(L, &sh, um);
  double *r = newbuf(L, (size_t)sh.N), *kl = newbuf(L, (size_t)sh.N);
  if (al_kl_rewards(r, kl, lp, lq, m, sc, sh.B, sh.T, beta, kind) != AL_OK) return al_lua_fail(L);
  lua_createtable(L, 0, 2);
  pushtok(L, &sh, r);
  lua_setfield(L, -2, "rewards");
  pushtok(L, &sh, kl);
  lua_setfield(L, -2, "kl");
  return 1;
}

// ---- adaptive KL controller: a plain table { beta, target, horizon } with method update ----

static const char *const klctl_known[] = {"beta", "target", "horizon", NULL};

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
  checkopts(L, fn, klctl_known);
  al_klctl c = klctl_read(L, 1, fn);
  lua_createtable(L, 0, 3);
  setnum(L, "beta", c.beta);
  setnum(L, "target", c.target);
  setnum(L, "horizon", c.horizon);
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
  checkopts(L, fn, known);
  int N;
  double *r = vec(L, fn, 1, "rewards", &N, 1, 0);
  int G = (int)al_lua_optint(L, 1, "group", 0);
  double *a = newbuf(L, (size_t)N);
  if (al_grpo_advantages(a, r, N, G, al_lua_optnum(L, 1, "eps", 1e-4), al_lua_optbool(L, 1, "scale", 1)) != AL_OK)
    return al_lua_fail(L);
  pushvec(L, a, N);
  return 1;
}

// rloo_advantages{ rewards, group } -> array
static int l_rloo_advantages(lua_State *L) {
  static const char *const known[] = {"rewards", "group", NULL};
  const char *fn = "rloo_advantages";
  checkopts(L, fn, known);
  int N;
  double *r = vec(L, fn, 1, "rewards", &N, 1, 0);
  int G = (int)al_lua_optint(L, 1, "group", 0);
  double *a = newbuf(L, (size_t)N);
  if (al_rloo_advantages(a, r, N, G) != AL_OK) return al_lua_fail(L);
  pushvec(L, a, N);
  return 1;
}

// ---- measurement kit -------------------------------------------------------------------------

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
  double *w = newbuf(L, (size_t)M);
  if (al_bon_weights(w, (int)M, (int)n) != AL_OK) return al_lua_fail(L);
  pushvec(L, w, (int)M);
  return 1;
}

// bon{ proxy, gold = nil, n = { ... } } -> { n, kl, proxy, gold } expected under best-of-n
static int l_bon(lua_State *L) {
  static const char *const known[] = {"proxy", "gold", "n", NULL};
  const char *fn = "bon";
  checkopts(L, fn, known);
  int M, m, K;
  double *px = vec(L, fn, 1, "proxy", &M, 1, 0);
  double *gd = vec(L, fn, 1, "gold", &m, 0, 0);
  if (gd) samelen(L, fn, "proxy", M, "gold", m);
  int *ns = ivec(L, fn, 1, "n", &K, 1);
  double *eg = newbuf(L, (size_t)K), *ep = newbuf(L, (size_t)K), *kl = newbuf(L, (size_t)K);
  if (al_bon_expect(gd ? eg : NULL, ep, px, gd, M, ns, K) != AL_OK) return al_lua_fail(L);
  for (int k = 0; k < K; k++) kl[k] = al_bon_kl(ns[k]);
  lua_createtable(L, 0, 4);
  al_lua_pushints(L, ns, K);
  lua_setfield(L, -2, "n");
  pushvec(L, kl, K);
  lua_setfield(L, -2, "kl");
  pushvec(L, ep, K);
  lua_setfield(L, -2, "proxy");
  if (gd) {
    pushvec(L, eg, K);
    lua_setfield(L, -2, "gold");
  }
  return 1;
}

// frontier{ rewards (one row of M per prompt, or a flat array for one prompt), beta = { ... } }
//   -> { beta, reward, kl, ess, ess_min }
static int l_frontier(lua_State *L) {
  static const char *const known[] = {"rewards", "beta", NULL};
  const char *fn = "frontier";
  checkopts(L, fn, known);
  shape sh = {0};
  double *r = tok(L, fn, 1, "rewards", &sh, 1, 0);
  for (int b = 0; b < sh.B; b++)
    if (sh.len[b] != sh.T || sh.T == 0)
      return luaL_error(L, "frontier: every prompt needs the same number (>= 1) of rewards");
  int K;
  double *beta = vec(L, fn, 1, "beta", &K, 1, 0);
  double *R = newbuf(L, (size_t)K), *KL = newbuf(L, (size_t)K), *E = newbuf(L, (size_t)K),
         *Em = newbuf(L, (size_t)K);
  if (al_frontier(R, KL, E, Em, r, sh.B, sh.T, beta, K) != AL_OK) return al_lua_fail(L);
  lua_createtable(L, 0, 5);
  pushvec(L, beta, K);
  lua_setfield(L, -2, "beta");
  pushvec(L, R, K);
  lua_setfield(L, -2, "reward");
  pushvec(L, KL, K);
  lua_setfield(L, -2, "kl");
  pushvec(L, E, K);
  lua_setfield(L, -2, "ess");
  pushvec(L, Em, K);
  lua_setfield(L, -2, "ess_min");
  return 1;
}

// elo{ a, b, score, players = max id, anchor = 1, prior = 0 } -> array of Elo ratings
// (players are 1-based; score = a's result: 1 win, 0.5 tie, 0 loss)
static int l_elo(lua_State *L) {
  static const char *const known[] = {"a", "b", "score", "players", "anchor", "prior", NULL};
  const char *fn = "elo";
  checkopts(L, fn, known);
  int G, n;
  int *a = ivec(L, fn, 1, "a", &G, 1);
  int *b = ivec(L, fn, 1, "b", &n, 1);
  samelen(L, fn, "a", G, "b", n);
  double *s = vec(L, fn, 1, "score", &n, 1, 0);
  samelen(L, fn, "a", G, "score", n);
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
  double *elo = newbuf(L, (size_t)P);
  if (al_elo_fit(elo, a, b, s, G, (int)P, (int)anchor - 1, al_lua_optnum(L, 1, "prior", 0)) != AL_OK)
    return al_lua_fail(L);
  pushvec(L, elo, (int)P);
  return 1;
}

// fit_gao{ form = "bon"|"rl", d = ... | kl = ..., reward } -> { alpha, beta, r2 }
static int l_fit_gao(lua_State *L) {
  static const char *const known[] = {"form", "d", "kl", "reward", NULL};
  static const char *const forms[] = {"bon", "rl", NULL};
  const char *fn = "fit_gao";
  checkopts(L, fn, known);
  int form = optenum(L, fn, "form", "bon", forms);
  int N, n;
  double *d = vec(L, fn, 1, "d", &N, 0, 0);
  if (!d) {
    d = vec(L, fn, 1, "kl", &N, 0, 0);
    if (!d) return luaL_error(L, "fit_gao: give 'd' (sqrt KL) or 'kl'");
    for (int i = 0; i < N; i++) d[i] = d[i] >= 0 ? sqrt(d[i]) : NAN;
  } else {
    lua_getfield(L, 1, "kl");
    if (!lua_isnil(L, -1)) return luaL_error(L, "fit_gao: give 'd' or 'kl', not both");
    lua_pop(L, 1);
  }
  double *R = vec(L, fn, 1, "reward", &n, 1, 0);
  samelen(L, fn, "d", N, "reward", n);
  al_fit f;
  if ((form ? al_fit_gao_rl : al_fit_gao_bon)(&f, d, R, N) != AL_OK) return al_lua_fail(L);
  lua_createtable(L, 0, 3);
  setnum(L, "alpha", f.alpha);
  setnum(L, "beta", f.beta);
  setnum(L, "r2", f.r2);
  return 1;
}

// winrate(x, y [, tol = 0]) -> mean of [x > y] with ties (|x - y| <= tol) as 1/2
static int l_winrate(lua_State *L) {
  const char *fn = "winrate";
  lua_settop(L, 3);
  int N, n;
  double *x = vec(L, fn, 1, NULL, &N, 1, 0);
  double *y = vec(L, fn, 2, NULL, &n, 1, 0);
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
  double *x = vec(L, "mean_sd", 1, NULL, &N, 1, 0);
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
  checkopts(L, fn, known);
  int N;
  double *x = vec(L, fn, 1, "x", &N, 1, 0);
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

static const luaL_Reg obj_funcs[] = {
    {"bt_loss", l_bt_loss},
    {"dpo_loss", l_dpo_loss},
    {"kto_loss", l_kto_loss},
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
    {"bon_kl", l_bon_kl},
    {"bon_weights", l_bon_weights},
    {"bon", l_bon},
    {"frontier", l_frontier},
    {"elo", l_elo},
    {"fit_gao", l_fit_gao},
    {"winrate", l_winrate},
    {"mean_sd", l_mean_sd},
    {"bootstrap_ci", l_bootstrap_ci},
    {NULL, NULL},
};

int al_open_obj(lua_State *L) {
  luaL_newlib(L, obj_funcs);
  lua_setfield(L, -2, "obj");
  return 0;
}
