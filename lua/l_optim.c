// alignlab shell: the optimizer and the learning-rate schedule (core/optim.c), and saving
// training state with checkpoints (core/ckpt.c).
//   al.adamw(m, { lr=, weight_decay=, betas={b1,b2}, eps=, clip= })  -> al.AdamW
//     opt:step(m [, lr]), nsteps, config, save(path [, meta]), load(path_or_dir [, rngs]), free
//   al.schedule{ kind=, warmup=, total=, lr=, min_lr= }               -> al.Schedule, :lr(step)
//   al.lr_at(kind, step, total, lr [, min_lr, warmup])               -> the rate (trainers)
//   m:save(dir [, { tok =, card = {...}, state = opt, rngs = {...}, meta = {...} }])
//                                            (method of al.GPT; a Hugging Face directory, al_hf.h)
// Layering: l_core.c -> l_optim.c -> l_gpt.c (al_lua_checkgpt, al_lua_gpt_methods), l_rng.c's
// al_lua_checkrng, l_util.c -> core. The training step that uses the optimizer is l_train.c's;
// it reaches the optimizer only through al_lua_checkadamw.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "al_ckpt.h"
#include "al_hf.h"
#include "al_optim.h"
#include "bind.h"

#define ADAMW_MT "al.AdamW"
#define SCHED_MT "al.Schedule"
#define STATE_FILE "state.safetensors"

// ---- al.AdamW ----

typedef struct {
  al_adamw *o;
} lopt;

static lopt *checkopt(lua_State *L, int idx) {
  lopt *u = luaL_checkudata(L, idx, ADAMW_MT);
  if (!u->o) luaL_argerror(L, idx, "the al.AdamW has been freed");
  return u;
}

al_adamw *al_lua_checkadamw(lua_State *L, int idx) { return checkopt(L, idx)->o; }

static int opt_gc(lua_State *L) {
  lopt *u = luaL_checkudata(L, 1, ADAMW_MT);
  al_adamw_free(u->o);
  u->o = NULL;
  return 0;
}

// al.adamw(m, { lr=, weight_decay=, betas={b1,b2}, eps=, clip= })
static int l_adamw(lua_State *L) {
  static const char *const known[] = {"lr", "weight_decay", "betas", "eps", "clip", NULL};
  al_gpt *m = al_lua_checkgpt(L, 1);
  al_lua_checkopts(L, 2, "al.adamw", known);
  al_adamw_config c = al_adamw_defaults();
  c.lr = (float)al_lua_optnum(L, 2, "lr", c.lr);
  c.weight_decay = (float)al_lua_optnum(L, 2, "weight_decay", c.weight_decay);
  c.eps = (float)al_lua_optnum(L, 2, "eps", c.eps);
  c.clip = (float)al_lua_optnum(L, 2, "clip", c.clip);
  if (lua_istable(L, 2)) {
    int t = lua_getfield(L, 2, "betas");
    if (t != LUA_TNIL) {
      if (t != LUA_TTABLE || lua_rawlen(L, -1) != 2)
        return luaL_error(L, "option 'betas' must be a table {b1, b2}");
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      if (!lua_isnumber(L, -1) || !lua_isnumber(L, -2))
        return luaL_error(L, "option 'betas' must hold two numbers");
      c.beta1 = (float)lua_tonumber(L, -2);
      c.beta2 = (float)lua_tonumber(L, -1);
      lua_pop(L, 2);
    }
    lua_pop(L, 1);
  }
  lopt *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->o = NULL;
  luaL_setmetatable(L, ADAMW_MT);
  if (al_adamw_new(&u->o, m, &c) != AL_OK) return al_lua_fail(L);
  return 1;
}

// opt:step(m [, lr]) -> gradient norm before clipping
static int opt_step(lua_State *L) {
  lopt *u = checkopt(L, 1);
  al_gpt *m = al_lua_checkgpt(L, 2);
  float lr = (float)luaL_optnumber(L, 3, u->o->cfg.lr);
  if (!m->grads) return luaL_error(L, "step: the model has no gradients (run a backward first)");
  double gnorm = 0;
  if (al_adamw_step(u->o, m, lr, &gnorm) != AL_OK) return al_lua_fail(L);
  lua_pushnumber(L, gnorm);
  return 1;
}

static int opt_nsteps(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)checkopt(L, 1)->o->step);
  return 1;
}

static int opt_config(lua_State *L) {
  const al_adamw_config *c = &checkopt(L, 1)->o->cfg;
  lua_createtable(L, 0, 5);
  lua_pushnumber(L, c->lr), lua_setfield(L, -2, "lr");
  lua_pushnumber(L, c->weight_decay), lua_setfield(L, -2, "weight_decay");
  lua_pushnumber(L, c->eps), lua_setfield(L, -2, "eps");
  lua_pushnumber(L, c->clip), lua_setfield(L, -2, "clip");
  lua_createtable(L, 2, 0);
  lua_pushnumber(L, c->beta1), lua_rawseti(L, -2, 1);
  lua_pushnumber(L, c->beta2), lua_rawseti(L, -2, 2);
  lua_setfield(L, -2, "betas");
  return 1;
}

static int opt_tostring(lua_State *L) {
  lopt *u = luaL_checkudata(L, 1, ADAMW_MT);
  if (!u->o) lua_pushliteral(L, "al.AdamW (freed)");
  else
    lua_pushfstring(L, "al.AdamW(lr=%f, weight_decay=%f, clip=%f, %d params, step %d)",
                    (double)u->o->cfg.lr, (double)u->o->cfg.weight_decay, (double)u->o->cfg.clip,
                    (int)u->o->n, (int)u->o->step);
  return 1;
}

// A flat Lua table (string keys; string, number or boolean values) at idx as a JSON object
// string in Lua-owned memory (pushed). nil/none pushes nil.
static const char *meta_to_json(lua_State *L, int idx, const char *what) {
  if (lua_isnoneornil(L, idx)) {
    lua_pushnil(L);
    return NULL;
  }
  idx = lua_absindex(L, idx);
  luaL_checktype(L, idx, LUA_TTABLE);
  // validate first (may raise), then build with cJSON (cannot raise)
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int vt = lua_type(L, -1);
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "%s: keys must be strings", what);
    if (vt != LUA_TSTRING && vt != LUA_TNUMBER && vt != LUA_TBOOLEAN)
      luaL_error(L, "%s: value of '%s' must be a string, number or boolean (got %s)",
                 what, lua_tostring(L, -2), luaL_typename(L, -1));
    if (vt == LUA_TNUMBER && !isfinite(lua_tonumber(L, -1)))
      luaL_error(L, "%s: value of '%s' is not finite", what, lua_tostring(L, -2));
    lua_pop(L, 1);
  }
  cJSON *j = cJSON_CreateObject();
  lua_pushnil(L);
  while (j && lua_next(L, idx)) {
    const char *k = lua_tostring(L, -2);
    int vt = lua_type(L, -1);
    if (vt == LUA_TSTRING) cJSON_AddStringToObject(j, k, lua_tostring(L, -1));
    else if (vt == LUA_TBOOLEAN) cJSON_AddBoolToObject(j, k, lua_toboolean(L, -1));
    else cJSON_AddNumberToObject(j, k, lua_tonumber(L, -1));
    lua_pop(L, 1);
  }
  char *s = j ? cJSON_PrintUnformatted(j) : NULL;
  cJSON_Delete(j);
  if (!s) luaL_error(L, "meta: out of memory");
  lua_pushstring(L, s); // may raise on memory: s would leak, in a state that is dying anyway
  free(s);
  return lua_tostring(L, -1);
}

// Push the JSON object string s as a flat Lua table (nested values come back as JSON strings).
static void push_meta(lua_State *L, const char *s) {
  cJSON *j = s ? cJSON_Parse(s) : NULL;
  lua_newtable(L);
  for (const cJSON *c = j ? j->child : NULL; c; c = c->next) {
    if (cJSON_IsString(c)) lua_pushstring(L, c->valuestring);
    else if (cJSON_IsBool(c)) lua_pushboolean(L, cJSON_IsTrue(c));
    else if (cJSON_IsNumber(c)) {
      double d = c->valuedouble;
      if (d == floor(d) && fabs(d) < 9007199254740992.0) lua_pushinteger(L, (lua_Integer)d);
      else lua_pushnumber(L, d);
    } else continue;
    lua_setfield(L, -2, c->string);
  }
  cJSON_Delete(j);
}

// The rngs list at idx (or none) into Lua-owned scratch.
static al_rng *check_rngs(lua_State *L, int idx, int *n) {
  *n = 0;
  if (lua_isnoneornil(L, idx)) return NULL;
  luaL_checktype(L, idx, LUA_TTABLE);
  int k = (int)lua_rawlen(L, idx);
  al_rng *r = al_lua_scratch(L, (size_t)k * sizeof *r);
  for (int i = 0; i < k; i++) {
    lua_rawgeti(L, idx, i + 1);
    r[i] = *al_lua_checkrng(L, -1);
    lua_pop(L, 1);
  }
  *n = k;
  return r;
}

// A path, or a directory holding STATE_FILE. Pushes the resolved path.
static const char *state_path(lua_State *L, int idx) {
  const char *p = luaL_checkstring(L, idx);
  struct stat sb;
  if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) lua_pushfstring(L, "%s/%s", p, STATE_FILE);
  else lua_pushstring(L, p);
  return lua_tostring(L, -1);
}

// opt:save(path [, meta])
static int opt_save(lua_State *L) {
  lua_settop(L, 3); // fixed slots: what state_path and meta_to_json push goes above
  lopt *u = checkopt(L, 1);
  const char *path = state_path(L, 2);
  const char *meta = meta_to_json(L, 3, "meta");
  if (al_ckpt_save_state(path, u->o, NULL, 0, meta) != AL_OK) return al_lua_fail(L);
  return 0;
}

// opt:load(path_or_dir [, rngs]) -> meta table; rngs (a list of al.Rng) are restored in place
static int opt_load(lua_State *L) {
  lua_settop(L, 3);
  lopt *u = checkopt(L, 1);
  const char *path = state_path(L, 2);
  int nr;
  al_rng *r = check_rngs(L, 3, &nr);
  char *meta = NULL;
  if (al_ckpt_load_state(path, u->o, r, nr, &meta) != AL_OK) return al_lua_fail(L);
  for (int i = 0; i < nr; i++) {
    lua_rawgeti(L, 3, i + 1);
    *al_lua_checkrng(L, -1) = r[i];
    lua_pop(L, 1);
  }
  push_meta(L, meta); // a memory error here would leak meta: the state is dying anyway
  free(meta);
  return 1;
}

// m:save(dir [, { tok = tokenizer, card = { key = value }, state = opt, rngs = {...},
//                meta = {...} }]): the Hugging Face directory of al_hf_save (the tokenizer's
// files and ids with tok; card's entries in the model card's Training table), plus the training
// state when state, rngs or meta is given.
static int m_save(lua_State *L) {
  static const char *const known[] = {"state", "rngs", "meta", "tok", "card", NULL};
  lua_settop(L, 3);
  al_gpt *m = al_lua_checkgpt(L, 1);
  const char *dir = luaL_checkstring(L, 2);
  al_lua_checkopts(L, 3, "save", known);
  al_adamw *o = NULL;
  int nr = 0;
  al_rng *r = NULL;
  const char *meta = NULL, *card = NULL;
  al_tok *tok = NULL;
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "tok");
    if (!lua_isnil(L, -1)) tok = al_lua_checktok(L, lua_gettop(L));
    lua_getfield(L, 3, "card");
    card = meta_to_json(L, -1, "card");
    lua_getfield(L, 3, "state");
    if (!lua_isnil(L, -1)) o = checkopt(L, lua_gettop(L))->o;
    lua_getfield(L, 3, "rngs");
    r = check_rngs(L, lua_gettop(L), &nr);
    lua_getfield(L, 3, "meta");
    meta = meta_to_json(L, -1, "meta");
  }
  if (al_hf_save(m, tok, dir, card) != AL_OK) return al_lua_fail(L);
  if (o || nr || meta) {
    lua_pushfstring(L, "%s/%s", dir, STATE_FILE);
    if (al_ckpt_save_state(lua_tostring(L, -1), o, r, nr, meta) != AL_OK) return al_lua_fail(L);
  }
  return 0;
}

// ---- al.Schedule and al.lr_at (al_lr_at in core/optim.c: every trainer's schedule) ----

static al_lr_kind check_kind(lua_State *L, int arg, const char *name) {
  al_lr_kind k;
  if (al_lr_kind_from_name(&k, name) != AL_OK) luaL_argerror(L, arg, al_errmsg());
  return k;
}

// al.lr_at(kind, step, total, lr, min_lr, warmup) -> the learning rate of step (from 0); the
// positional form the trainers call once per step (lua/al/train.lua M.lr_at).
static int l_lr_at(lua_State *L) {
  al_lr_schedule s;
  s.kind = check_kind(L, 1, luaL_checkstring(L, 1));
  lua_Integer step = luaL_checkinteger(L, 2);
  s.total = (long)luaL_checkinteger(L, 3);
  s.lr = luaL_checknumber(L, 4);
  s.min_lr = luaL_optnumber(L, 5, 0);
  s.warmup = luaL_optnumber(L, 6, 0);
  luaL_argcheck(L, step >= 0, 2, "step must be >= 0");
  luaL_argcheck(L, s.warmup >= 0, 6, "warmup must be >= 0");
  lua_pushnumber(L, al_lr_at(&s, (long)step));
  return 1;
}

static int l_schedule(lua_State *L) {
  static const char *const known[] = {"warmup", "total", "lr", "min_lr", "kind", NULL};
  luaL_checktype(L, 1, LUA_TTABLE);
  al_lua_checkopts(L, 1, "al.schedule", known);
  al_lr_schedule s;
  lua_getfield(L, 1, "kind");
  const char *kind = lua_isnil(L, -1) ? "cosine" : lua_tostring(L, -1);
  if (al_lr_kind_from_name(&s.kind, kind) != AL_OK)
    return luaL_error(L, "al.schedule: %s", al_errmsg());
  lua_pop(L, 1);
  s.warmup = al_lua_optnum(L, 1, "warmup", 0);
  s.total = (long)al_lua_optint(L, 1, "total", -1);
  s.lr = al_lua_optnum(L, 1, "lr", -1);
  s.min_lr = al_lua_optnum(L, 1, "min_lr", 0);
  if (s.total < 1) return luaL_error(L, "al.schedule: option 'total' (>= 1) is required");
  if (!(s.lr >= 0)) return luaL_error(L, "al.schedule: option 'lr' (>= 0) is required");
  if (!(s.warmup >= 0 && s.warmup <= (double)s.total)) {
    char w[32];
    snprintf(w, sizeof w, "%g", s.warmup);
    return luaL_error(L, "al.schedule: warmup = %s must be in [0, total = %d]", w, (int)s.total);
  }
  if (!(s.min_lr >= 0 && s.min_lr <= s.lr))
    return luaL_error(L, "al.schedule: min_lr must be in [0, lr]");
  al_lr_schedule *u = lua_newuserdatauv(L, sizeof *u, 0);
  *u = s;
  luaL_setmetatable(L, SCHED_MT);
  return 1;
}

static int sched_lr(lua_State *L) {
  al_lr_schedule *s = luaL_checkudata(L, 1, SCHED_MT);
  lua_Integer step = luaL_checkinteger(L, 2);
  luaL_argcheck(L, step >= 0, 2, "step must be >= 0");
  lua_pushnumber(L, al_lr_at(s, (long)step));
  return 1;
}

static int sched_tostring(lua_State *L) {
  static const char *const kinds[] = {"cosine", "linear", "constant"};
  al_lr_schedule *s = luaL_checkudata(L, 1, SCHED_MT);
  lua_pushfstring(L, "al.Schedule(%s, warmup=%f, total=%d, lr=%f, min_lr=%f)", kinds[s->kind],
                  s->warmup, (int)s->total, s->lr, s->min_lr);
  return 1;
}

// ---- registration ----

static const luaL_Reg opt_methods[] = {{"step", opt_step}, {"nsteps", opt_nsteps},
                                       {"config", opt_config}, {"save", opt_save},
                                       {"load", opt_load}, {"free", opt_gc}, {NULL, NULL}};
static const luaL_Reg opt_meta[] = {
    {"__gc", opt_gc}, {"__close", opt_gc}, {"__tostring", opt_tostring}, {NULL, NULL}};

static const luaL_Reg sched_methods[] = {{"lr", sched_lr}, {NULL, NULL}};
static const luaL_Reg sched_meta[] = {{"__tostring", sched_tostring}, {NULL, NULL}};

static const luaL_Reg gpt_methods[] = {{"save", m_save}, {NULL, NULL}};

static const luaL_Reg funcs[] = {{"adamw", l_adamw}, {"schedule", l_schedule}, {"lr_at", l_lr_at}, {NULL, NULL}};

static void newclass(lua_State *L, const char *name, const luaL_Reg *methods,
                     const luaL_Reg *meta) {
  luaL_newmetatable(L, name);
  luaL_setfuncs(L, meta, 0);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

int al_open_optim(lua_State *L) {
  newclass(L, ADAMW_MT, opt_methods, opt_meta);
  newclass(L, SCHED_MT, sched_methods, sched_meta);
  al_lua_gpt_methods(L, gpt_methods);
  luaL_setfuncs(L, funcs, 0);
  return 0;
}
