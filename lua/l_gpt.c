// alignlab shell: bindings of the model (core/gpt.c), the optimizer and schedule (core/optim.c)
// and checkpoints (core/ckpt.c).
//   al.gpt{ vocab=, ctx=, d=, heads=, layers=, seed=, head="lm"|"scalar"|"both", ln_eps= }
//   al.load(dir)                      model from DIR/config.json + DIR/model.safetensors
//   al.adamw(m, { lr=, weight_decay=, betas={b1,b2}, eps=, clip= })  -> al.AdamW
//   al.schedule{ warmup=, total=, lr=, min_lr= }                      -> al.Schedule, :lr(step)
// al.GPT methods: save, clone, freeze, config, nparams, logits, logprob, values, reward,
// train_step, params, zero_grad, grad_norm, set_head, copy_params, free (+ forward/backward from
// l_train.c, generate/score from l_sample.c, which extend the same method table).
// Memory: a model is owned by its userdata (freed by __gc, __close or m:free()); scratch arrays
// that live across a possible Lua error are userdata too, so an error never leaks.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "al_ckpt.h"
#include "al_optim.h"
#include "bind.h"
#include "shell.h"

#define ADAMW_MT "al.AdamW"
#define SCHED_MT "al.Schedule"
#define STATE_FILE "state.safetensors"

// ---- the al.GPT userdata ----

static al_lgpt *newgpt(lua_State *L) {
  al_lgpt *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->m = NULL; // safe empty state before the model exists
  luaL_setmetatable(L, AL_GPT_MT);
  return u;
}

al_gpt *al_lua_checkgpt(lua_State *L, int idx) {
  al_lgpt *u = luaL_checkudata(L, idx, AL_GPT_MT);
  if (!u->m) luaL_argerror(L, idx, "the al.GPT has been freed");
  return u->m;
}

void al_lua_pushgpt(lua_State *L, al_gpt *m) {
  al_lgpt *u = newgpt(L);
  u->m = m;
}

static int gpt_gc(lua_State *L) {
  al_lgpt *u = luaL_checkudata(L, 1, AL_GPT_MT);
  al_gpt_free(u->m);
  u->m = NULL;
  return 0;
}

// Scratch memory owned by the Lua stack (collected even when an error unwinds).
static void *scratch(lua_State *L, size_t n) {
  void *p = lua_newuserdatauv(L, n ? n : 1, 0);
  memset(p, 0, n ? n : 1);
  return p;
}

static const char *head_name(const al_gpt_config *c) {
  if (c->lm && c->scalar) return "both";
  return c->scalar ? "scalar" : "lm";
}

static int parse_head(lua_State *L, const char *h, int *lm, int *scalar) {
  if (strcmp(h, "lm") == 0) *lm = 1, *scalar = 0;
  else if (strcmp(h, "scalar") == 0) *lm = 0, *scalar = 1;
  else if (strcmp(h, "both") == 0) *lm = 1, *scalar = 1;
  else return luaL_error(L, "option 'head' must be \"lm\", \"scalar\" or \"both\" (got \"%s\")", h);
  return 0;
}

static int checkint_range(lua_State *L, lua_Integer v, const char *key) {
  if (v < 1 || v > 1 << 30) return luaL_error(L, "option '%s' = %d is out of range", key, (int)v);
  return (int)v;
}

// al.gpt{...}
static int l_gpt(lua_State *L) {
  static const char *const known[] = {"vocab", "ctx", "d", "heads", "layers", "seed", "head",
                                      "ln_eps", NULL};
  luaL_checktype(L, 1, LUA_TTABLE);
  al_lua_checkopts(L, 1, "al.gpt", known);
  lua_getfield(L, 1, "vocab");
  int missing = lua_isnil(L, -1);
  lua_pop(L, 1);
  if (missing) return luaL_error(L, "al.gpt: option 'vocab' is required");
  al_gpt_config c = al_gpt_config_make(
      checkint_range(L, al_lua_optint(L, 1, "vocab", 0), "vocab"),
      checkint_range(L, al_lua_optint(L, 1, "ctx", 64), "ctx"),
      checkint_range(L, al_lua_optint(L, 1, "d", 128), "d"),
      checkint_range(L, al_lua_optint(L, 1, "layers", 2), "layers"),
      checkint_range(L, al_lua_optint(L, 1, "heads", 4), "heads"));
  parse_head(L, al_lua_optstr(L, 1, "head", "lm"), &c.lm, &c.scalar);
  c.ln_eps = (float)al_lua_optnum(L, 1, "ln_eps", 1e-5);
  uint64_t seed = (uint64_t)al_lua_optint(L, 1, "seed", 1);
  al_lgpt *u = newgpt(L);
  if (al_gpt_new(&u->m, &c, seed) != AL_OK) return al_lua_fail(L);
  return 1;
}

// al.load(dir)
static int l_load(lua_State *L) {
  const char *dir = luaL_checkstring(L, 1);
  al_lgpt *u = newgpt(L);
  if (al_ckpt_load(&u->m, dir) != AL_OK) return al_lua_fail(L);
  return 1;
}

static int m_clone(lua_State *L) {
  al_gpt *m = al_lua_checkgpt(L, 1);
  al_lgpt *u = newgpt(L);
  if (al_gpt_clone(&u->m, m) != AL_OK) return al_lua_fail(L);
  return 1;
}

// m:freeze([flag]) -> m
static int m_freeze(lua_State *L) {
  al_gpt *m = al_lua_checkgpt(L, 1);
  m->frozen = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
  lua_settop(L, 1);
  return 1;
}

static int m_frozen(lua_State *L) {
  lua_pushboolean(L, al_lua_checkgpt(L, 1)->frozen);
  return 1;
}

static int m_free(lua_State *L) {
  al_lgpt *u = luaL_checkudata(L, 1, AL_GPT_MT);
  al_gpt_free(u->m);
  u->m = NULL;
  return 0;
}

static int m_config(lua_State *L) {
  al_gpt *m = al_lua_checkgpt(L, 1);
  const al_gpt_config *c = &m->cfg;
  lua_createtable(L, 0, 10);
  lua_pushinteger(L, c->V), lua_setfield(L, -2, "vocab");
  lua_pushinteger(L, c->maxT), lua_setfield(L, -2, "ctx");
  lua_pushinteger(L, c->C), lua_setfield(L, -2, "d");
  lua_pushinteger(L, c->NH), lua_setfield(L, -2, "heads");
  lua_pushinteger(L, c->L), lua_setfield(L, -2, "layers");
  lua_pushstring(L, head_name(c)), lua_setfield(L, -2, "head");
  lua_pushboolean(L, c->lm), lua_setfield(L, -2, "lm");
  lua_pushboolean(L, c->scalar), lua_setfield(L, -2, "scalar");
  lua_pushnumber(L, (lua_Number)c->ln_eps), lua_setfield(L, -2, "ln_eps");
  lua_pushboolean(L, m->frozen), lua_setfield(L, -2, "frozen");
  return 1;
}

static int m_nparams(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)al_lua_checkgpt(L, 1)->nparams);
  return 1;
}

static int m_tostring(lua_State *L) {
  al_lgpt *u = luaL_checkudata(L, 1, AL_GPT_MT);
  if (!u->m) {
    lua_pushliteral(L, "al.GPT (freed)");
    return 1;
  }
  const al_gpt_config *c = &u->m->cfg;
  double n = (double)u->m->nparams;
  char size[32];
  if (n >= 1e6) snprintf(size, sizeof size, "%.2fM", n / 1e6);
  else if (n >= 1e3) snprintf(size, sizeof size, "%.1fK", n / 1e3);
  else snprintf(size, sizeof size, "%.0f", n);
  lua_pushfstring(L, "al.GPT(vocab=%d, ctx=%d, d=%d, heads=%d, layers=%d, head=%s, %s params%s)",
                  c->V, c->maxT, c->C, c->NH, c->L, head_name(c), size,
                  u->m->frozen ? ", frozen" : "");
  return 1;
}

// m:params() -> { [name] = {d0[, d1]} }
static int m_params(lua_State *L) {
  al_gpt *m = al_lua_checkgpt(L, 1);
  int nt = al_gpt_ntensors(m);
  lua_createtable(L, 0, nt);
  for (int i = 0; i < nt; i++) {
    al_gpt_tensor t;
    if (al_gpt_tensor_info(m, i, &t) != AL_OK) return al_lua_fail(L);
    al_lua_pushints(L, t.shape, t.ndim);
    lua_setfield(L, -2, t.name);
  }
  return 1;
}

static int m_zero_grad(lua_State *L) {
  if (al_gpt_zero_grad(al_lua_checkgpt(L, 1)) != AL_OK) return al_lua_fail(L);
  return 0;
}

static int m_grad_norm(lua_State *L) {
  al_gpt *m = al_lua_checkgpt(L, 1);
  lua_pushnumber(L, m->grads ? al_gpt_grad_norm(m) : 0.0);
  return 1;
}

// m:copy_params(src): the same architecture required
static int m_copy_params(lua_State *L) {
  al_gpt *m = al_lua_checkgpt(L, 1), *s = al_lua_checkgpt(L, 2);
  const al_gpt_config *a = &m->cfg, *b = &s->cfg;
  if (a->V != b->V || a->maxT != b->maxT || a->C != b->C || a->L != b->L || a->NH != b->NH ||
      a->scalar != b->scalar || m->nparams != s->nparams)
    return luaL_error(L, "copy_params: the models differ in shape (%d/%d/%d/%d/%d%s vs "
                         "%d/%d/%d/%d/%d%s: vocab/ctx/d/layers/heads)",
                      a->V, a->maxT, a->C, a->L, a->NH, a->scalar ? "+scalar" : "", b->V, b->maxT,
                      b->C, b->L, b->NH, b->scalar ? "+scalar" : "");
  if (m != s) memcpy(m->params, s->params, m->nparams * sizeof(float));
  m->B = m->T = 0; // the last forward is stale
  m->have_logprobs = 0;
  return 0;
}

// m:set_head{ scalar = bool, lm = bool, seed = n }: add or drop the scalar head (score
// initialised from seed), switch the LM logits on or off. Parameters of the trunk are kept.
static int m_set_head(lua_State *L) {
  static const char *const known[] = {"scalar", "lm", "seed", NULL};
  al_lgpt *u = luaL_checkudata(L, 1, AL_GPT_MT);
  al_gpt *m = al_lua_checkgpt(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  al_lua_checkopts(L, 2, "set_head", known);
  int scalar = al_lua_optbool(L, 2, "scalar", m->cfg.scalar);
  int lm = al_lua_optbool(L, 2, "lm", m->cfg.lm);
  uint64_t seed = (uint64_t)al_lua_optint(L, 2, "seed", 1);
  if (!scalar && !lm) return luaL_error(L, "set_head: a model needs the lm head or the scalar head");
  if (lm == m->cfg.lm) {
    if (al_gpt_set_scalar_head(m, scalar, seed) != AL_OK) return al_lua_fail(L);
    return 0;
  }
  // the activation layout depends on lm: rebuild the model from a fresh clone (no activations)
  al_gpt *n = NULL;
  if (al_gpt_clone(&n, m) != AL_OK) return al_lua_fail(L);
  n->cfg.lm = lm;
  n->frozen = m->frozen;
  if (al_gpt_set_scalar_head(n, scalar, seed) != AL_OK) {
    al_gpt_free(n);
    return al_lua_fail(L);
  }
  al_gpt_free(u->m);
  u->m = n;
  return 0;
}

// ---- inference ----

// Tokens at idx (a non-empty array of ids) into Lua-owned scratch; *T gets the length.
static int *checktokens(lua_State *L, int idx, const char *fname, int *T, int maxT) {
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_Unsigned n = lua_rawlen(L, idx);
  if (n == 0) luaL_error(L, "%s: empty token sequence", fname);
  if (n > (lua_Unsigned)maxT)
    luaL_error(L, "%s: %d tokens, more than the model's ctx = %d", fname, (int)n, maxT);
  int *t = scratch(L, n * sizeof(int));
  for (lua_Unsigned i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, (lua_Integer)i);
    int isint = 0;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < 0 || v > INT32_MAX)
      luaL_error(L, "%s: token %d must be a non-negative integer (got %s)", fname, (int)i,
                 isint ? "a negative or huge integer" : luaL_typename(L, -1));
    t[i - 1] = (int)v;
    lua_pop(L, 1);
  }
  *T = (int)n;
  return t;
}

// m:logits(tokens [, {all = true}])
static int m_logits(lua_State *L) {
  static const char *const known[] = {"all", NULL};
  lua_settop(L, 3);
  al_gpt *m = al_lua_checkgpt(L, 1);
  al_lua_checkopts(L, 3, "logits", known);
  int all = al_lua_optbool(L, 3, "all", 0);
  if (!m->cfg.lm) return luaL_error(L, "logits: the model has no lm head (head = \"scalar\")");
  int T;
  int *tok = checktokens(L, 2, "logits", &T, m->cfg.maxT);
  if (al_gpt_forward(m, tok, 1, T) != AL_OK) return al_lua_fail(L);
  int V = m->cfg.V;
  if (!all) {
    al_lua_pushfloats(L, m->a.logits + (size_t)(T - 1) * V, V);
    return 1;
  }
  lua_createtable(L, T, 0);
  for (int t = 0; t < T; t++) {
    al_lua_pushfloats(L, m->a.logits + (size_t)t * V, V);
    lua_rawseti(L, -2, t + 1);
  }
  return 1;
}

// m:logprob(prompt, completion) -> sum of log p(completion | prompt)
static int m_logprob(lua_State *L) {
  lua_settop(L, 3); // fixed slots: scratch goes above
  al_gpt *m = al_lua_checkgpt(L, 1);
  if (!m->cfg.lm) return luaL_error(L, "logprob: the model has no lm head (head = \"scalar\")");
  int P, C = 0;
  int *p = checktokens(L, 2, "logprob", &P, m->cfg.maxT);
  luaL_checktype(L, 3, LUA_TTABLE);
  if (lua_rawlen(L, 3) == 0) {
    lua_pushnumber(L, 0.0);
    return 1;
  }
  int *c = checktokens(L, 3, "logprob", &C, m->cfg.maxT);
  if (P + C > m->cfg.maxT)
    return luaL_error(L, "logprob: prompt + completion = %d tokens, more than the model's ctx = %d",
                      P + C, m->cfg.maxT);
  int *all = scratch(L, (size_t)(P + C) * sizeof(int));
  memcpy(all, p, (size_t)P * sizeof(int));
  memcpy(all + P, c, (size_t)C * sizeof(int));
  int len = P + C;
  float out;
  if (al_gpt_sequence_logprob(m, all, &P, &len, 1, len, &out) != AL_OK) return al_lua_fail(L);
  lua_pushnumber(L, (lua_Number)out);
  return 1;
}

static int values_forward(lua_State *L, const char *fname, int *T) {
  lua_settop(L, 2);
  al_gpt *m = al_lua_checkgpt(L, 1);
  if (!m->cfg.scalar)
    return luaL_error(L, "%s: the model has no scalar head (create it with head = \"scalar\" or "
                         "call m:set_head{scalar = true})", fname);
  int *tok = checktokens(L, 2, fname, T, m->cfg.maxT);
  if (al_gpt_forward(m, tok, 1, *T) != AL_OK) return al_lua_fail(L);
  return 0;
}

// m:values(tokens) -> the scalar head at every position
static int m_values(lua_State *L) {
  int T;
  values_forward(L, "values", &T);
  al_lua_pushfloats(L, al_lua_checkgpt(L, 1)->a.values, T);
  return 1;
}

// m:reward(tokens) -> the scalar head at the last token
static int m_reward(lua_State *L) {
  int T;
  values_forward(L, "reward", &T);
  lua_pushnumber(L, (lua_Number)al_lua_checkgpt(L, 1)->a.values[T - 1]);
  return 1;
}

// ---- al.AdamW ----

typedef struct {
  al_adamw *o;
} lopt;

static lopt *checkopt(lua_State *L, int idx) {
  lopt *u = luaL_checkudata(L, idx, ADAMW_MT);
  if (!u->o) luaL_argerror(L, idx, "the al.AdamW has been freed");
  return u;
}

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
static const char *meta_to_json(lua_State *L, int idx) {
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
      luaL_error(L, "meta: keys must be strings");
    if (vt != LUA_TSTRING && vt != LUA_TNUMBER && vt != LUA_TBOOLEAN)
      luaL_error(L, "meta: value of '%s' must be a string, number or boolean (got %s)",
                 lua_tostring(L, -2), luaL_typename(L, -1));
    if (vt == LUA_TNUMBER && !isfinite(lua_tonumber(L, -1)))
      luaL_error(L, "meta: value of '%s' is not finite", lua_tostring(L, -2));
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
  al_rng *r = scratch(L, (size_t)k * sizeof *r);
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
  const char *meta = meta_to_json(L, 3);
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

// m:save(dir [, { state = opt, rngs = {...}, meta = {...} }])
static int m_save(lua_State *L) {
  static const char *const known[] = {"state", "rngs", "meta", NULL};
  lua_settop(L, 3);
  al_gpt *m = al_lua_checkgpt(L, 1);
  const char *dir = luaL_checkstring(L, 2);
  al_lua_checkopts(L, 3, "save", known);
  al_adamw *o = NULL;
  int nr = 0;
  al_rng *r = NULL;
  const char *meta = NULL;
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "state");
    if (!lua_isnil(L, -1)) o = checkopt(L, lua_gettop(L))->o;
    lua_getfield(L, 3, "rngs");
    r = check_rngs(L, lua_gettop(L), &nr);
    lua_getfield(L, 3, "meta");
    meta = meta_to_json(L, -1);
  }
  if (al_ckpt_save(m, dir) != AL_OK) return al_lua_fail(L);
  if (o || nr || meta) {
    lua_pushfstring(L, "%s/%s", dir, STATE_FILE);
    if (al_ckpt_save_state(lua_tostring(L, -1), o, r, nr, meta) != AL_OK) return al_lua_fail(L);
  }
  return 0;
}

// ---- training ----

// m:train_step(batch, opt [, { lr = }]) -> mean next-token loss, gradient norm
// batch: list of token arrays (ragged, right-padded here); batch.mask: list of per-token 0/1
// arrays, mask[b][i+1] ~= 0 when token x_i counts as a target (default: all of x_1..).
static int m_train_step(lua_State *L) {
  static const char *const known[] = {"lr", NULL};
  lua_settop(L, 4);
  al_gpt *m = al_lua_checkgpt(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lopt *u = checkopt(L, 3);
  al_lua_checkopts(L, 4, "train_step", known);
  float lr = (float)al_lua_optnum(L, 4, "lr", u->o->cfg.lr);
  if (m->frozen) return luaL_error(L, "train_step: the model is frozen");
  if (!m->cfg.lm) return luaL_error(L, "train_step: the model has no lm head");
  int B = (int)lua_rawlen(L, 2);
  if (B < 1) return luaL_error(L, "train_step: empty batch");
  lua_getfield(L, 2, "mask");
  int maskidx = lua_gettop(L);
  int hasmask = !lua_isnil(L, maskidx);
  if (hasmask) luaL_argexpected(L, lua_istable(L, maskidx), 2, "batch.mask to be a table");
  int T = 0;
  for (int b = 0; b < B; b++) {
    if (lua_rawgeti(L, 2, b + 1) != LUA_TTABLE)
      return luaL_error(L, "train_step: batch[%d] must be a token array (got %s)", b + 1,
                        luaL_typename(L, -1));
    int n = (int)lua_rawlen(L, -1);
    lua_pop(L, 1);
    if (n > m->cfg.maxT)
      return luaL_error(L, "train_step: batch[%d] has %d tokens, more than the model's ctx = %d",
                        b + 1, n, m->cfg.maxT);
    if (n > T) T = n;
  }
  if (T < 2) return luaL_error(L, "train_step: every sequence is shorter than 2 tokens");
  int *tok = scratch(L, (size_t)B * T * sizeof(int));
  int *tgt = scratch(L, (size_t)B * T * sizeof(int));
  float *logp = scratch(L, (size_t)B * T * sizeof(float));
  float *dlogp = scratch(L, (size_t)B * T * sizeof(float));
  int count = 0;
  for (int b = 0; b < B; b++) {
    lua_rawgeti(L, 2, b + 1);
    int n = (int)lua_rawlen(L, -1);
    if (hasmask && lua_rawgeti(L, maskidx, b + 1) != LUA_TTABLE)
      return luaL_error(L, "train_step: batch.mask[%d] must be an array", b + 1);
    if (hasmask && (int)lua_rawlen(L, -1) != n)
      return luaL_error(L, "train_step: batch.mask[%d] has %d entries for %d tokens", b + 1,
                        (int)lua_rawlen(L, -1), n);
    int seq = lua_gettop(L) - hasmask;
    for (int i = 0; i < T; i++) {
      tgt[b * T + i] = -1;
      if (i >= n) continue; // right padding: token 0, never a target
      lua_rawgeti(L, seq, i + 1);
      int isint = 0;
      lua_Integer v = lua_tointegerx(L, -1, &isint);
      if (!isint || v < 0 || v >= m->cfg.V)
        return luaL_error(L, "train_step: batch[%d][%d] must be a token id in [0, %d)", b + 1,
                          i + 1, m->cfg.V);
      lua_pop(L, 1);
      tok[b * T + i] = (int)v;
    }
    for (int i = 1; i < n; i++) {
      int on = 1;
      if (hasmask) {
        lua_rawgeti(L, -1, i + 1);
        if (!lua_isnumber(L, -1) && !lua_isboolean(L, -1))
          return luaL_error(L, "train_step: batch.mask[%d][%d] must be 0 or 1", b + 1, i + 1);
        on = lua_isboolean(L, -1) ? lua_toboolean(L, -1) : lua_tonumber(L, -1) != 0;
        lua_pop(L, 1);
      }
      if (on) {
        tgt[b * T + i - 1] = tok[b * T + i]; // position i-1 predicts token i
        count++;
      }
    }
    lua_pop(L, 1 + hasmask);
  }
  if (count == 0) return luaL_error(L, "train_step: no target tokens (the mask is all zero)");
  if (al_gpt_zero_grad(m) != AL_OK) return al_lua_fail(L);
  if (al_gpt_forward(m, tok, B, T) != AL_OK) return al_lua_fail(L);
  if (al_gpt_logprobs(m, tgt, logp) != AL_OK) return al_lua_fail(L);
  double loss = 0;
  for (int i = 0; i < B * T; i++)
    if (tgt[i] >= 0) {
      loss -= logp[i];
      dlogp[i] = -1.0f / (float)count;
    }
  loss /= count;
  if (!isfinite(loss)) return luaL_error(L, "train_step: non-finite loss (%f); nothing updated", loss);
  if (al_gpt_backward(m, dlogp, NULL) != AL_OK) return al_lua_fail(L);
  double gnorm = 0;
  if (al_adamw_step(u->o, m, lr, &gnorm) != AL_OK) return al_lua_fail(L);
  lua_pushnumber(L, loss);
  lua_pushnumber(L, gnorm);
  return 2;
}

// ---- al.Schedule ----

typedef struct {
  long warmup, total;
  double lr, min_lr;
} lsched;

static int l_schedule(lua_State *L) {
  static const char *const known[] = {"warmup", "total", "lr", "min_lr", NULL};
  luaL_checktype(L, 1, LUA_TTABLE);
  al_lua_checkopts(L, 1, "al.schedule", known);
  lsched s;
  s.warmup = (long)al_lua_optint(L, 1, "warmup", 0);
  s.total = (long)al_lua_optint(L, 1, "total", -1);
  s.lr = al_lua_optnum(L, 1, "lr", -1);
  s.min_lr = al_lua_optnum(L, 1, "min_lr", 0);
  if (s.total < 1) return luaL_error(L, "al.schedule: option 'total' (>= 1) is required");
  if (!(s.lr >= 0)) return luaL_error(L, "al.schedule: option 'lr' (>= 0) is required");
  if (s.warmup < 0 || s.warmup > s.total)
    return luaL_error(L, "al.schedule: warmup = %d must be in [0, total = %d]", (int)s.warmup,
                      (int)s.total);
  if (!(s.min_lr >= 0 && s.min_lr <= s.lr))
    return luaL_error(L, "al.schedule: min_lr must be in [0, lr]");
  lsched *u = lua_newuserdatauv(L, sizeof *u, 0);
  *u = s;
  luaL_setmetatable(L, SCHED_MT);
  return 1;
}

static int sched_lr(lua_State *L) {
  lsched *s = luaL_checkudata(L, 1, SCHED_MT);
  lua_Integer step = luaL_checkinteger(L, 2);
  luaL_argcheck(L, step >= 0, 2, "step must be >= 0");
  lua_pushnumber(L, al_lr_schedule((long)step, s->warmup, s->total, s->lr, s->min_lr));
  return 1;
}

static int sched_tostring(lua_State *L) {
  lsched *s = luaL_checkudata(L, 1, SCHED_MT);
  lua_pushfstring(L, "al.Schedule(warmup=%d, total=%d, lr=%f, min_lr=%f)", (int)s->warmup,
                  (int)s->total, s->lr, s->min_lr);
  return 1;
}

// ---- registration ----

static const luaL_Reg gpt_methods[] = {
    {"save", m_save},           {"clone", m_clone},
    {"freeze", m_freeze},       {"frozen", m_frozen},
    {"config", m_config},       {"nparams", m_nparams},
    {"logits", m_logits},       {"logprob", m_logprob},
    {"values", m_values},       {"reward", m_reward},
    {"train_step", m_train_step}, {"params", m_params},
    {"zero_grad", m_zero_grad}, {"grad_norm", m_grad_norm},
    {"set_head", m_set_head},   {"copy_params", m_copy_params},
    {"free", m_free},           {NULL, NULL}};
static const luaL_Reg gpt_meta[] = {
    {"__gc", gpt_gc}, {"__close", gpt_gc}, {"__tostring", m_tostring}, {NULL, NULL}};

static const luaL_Reg opt_methods[] = {{"step", opt_step}, {"nsteps", opt_nsteps},
                                       {"config", opt_config}, {"save", opt_save},
                                       {"load", opt_load}, {"free", opt_gc}, {NULL, NULL}};
static const luaL_Reg opt_meta[] = {
    {"__gc", opt_gc}, {"__close", opt_gc}, {"__tostring", opt_tostring}, {NULL, NULL}};

static const luaL_Reg sched_methods[] = {{"lr", sched_lr}, {NULL, NULL}};
static const luaL_Reg sched_meta[] = {{"__tostring", sched_tostring}, {NULL, NULL}};

static const luaL_Reg funcs[] = {{"gpt", l_gpt},     {"load", l_load}, {"adamw", l_adamw},
                                 {"schedule", l_schedule}, {NULL, NULL}};

static void newclass(lua_State *L, const char *name, const luaL_Reg *methods,
                     const luaL_Reg *meta) {
  luaL_newmetatable(L, name);
  luaL_setfuncs(L, meta, 0);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

int al_open_gpt(lua_State *L) {
  newclass(L, AL_GPT_MT, gpt_methods, gpt_meta);
  newclass(L, ADAMW_MT, opt_methods, opt_meta);
  newclass(L, SCHED_MT, sched_methods, sched_meta);
  luaL_setfuncs(L, funcs, 0);
  return 0;
}
