// alignlab shell: the al.GPT userdata (core/gpt.c): building and loading a model, its one
// method table, and the methods of the model itself and of inference.
//   al.gpt{ vocab=, ctx=, d=, heads=, layers=, seed=, head="lm"|"scalar"|"both", ln_eps= }
//   al.load(dir)                      model from DIR/config.json + DIR/model.safetensors
// al.GPT methods here: clone, freeze, frozen, config, nparams, logits, logprob, values, reward,
// params, zero_grad, grad_norm, set_head, copy_params, free. The other methods live with their
// concern and are added to the same table through al_lua_gpt_methods: save (l_optim.c),
// train_step, forward, backward, kl_to (l_train.c), generate, score (l_sample.c).
// Layering: l_optim.c, l_train.c, l_sample.c -> l_gpt.c -> l_util.c -> core; l_gpt.c calls none
// of theirs. The optimizer and the schedule are in l_optim.c.
// Memory: a model is owned by its userdata (freed by __gc, __close or m:free()); scratch arrays
// that live across a possible Lua error are userdata too, so an error never leaks.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "al_ckpt.h"
#include "bind.h"

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
  int *t = al_lua_scratch(L, n * sizeof(int));
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
  int *all = al_lua_scratch(L, (size_t)(P + C) * sizeof(int));
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

// ---- registration ----

static const luaL_Reg gpt_methods[] = {
    {"clone", m_clone},         {"freeze", m_freeze},
    {"frozen", m_frozen},       {"config", m_config},
    {"nparams", m_nparams},     {"logits", m_logits},
    {"logprob", m_logprob},     {"values", m_values},
    {"reward", m_reward},       {"params", m_params},
    {"zero_grad", m_zero_grad}, {"grad_norm", m_grad_norm},
    {"set_head", m_set_head},   {"copy_params", m_copy_params},
    {"free", m_free},           {NULL, NULL}};
static const luaL_Reg gpt_meta[] = {
    {"__gc", gpt_gc}, {"__close", gpt_gc}, {"__tostring", m_tostring}, {NULL, NULL}};

static const luaL_Reg funcs[] = {{"gpt", l_gpt}, {"load", l_load}, {NULL, NULL}};

void al_lua_gpt_methods(lua_State *L, const luaL_Reg *methods) {
  if (luaL_newmetatable(L, AL_GPT_MT)) { // first use: the metamethods and an empty __index
    luaL_setfuncs(L, gpt_meta, 0);
    lua_newtable(L);
    lua_setfield(L, -2, "__index");
  }
  lua_getfield(L, -1, "__index");
  luaL_setfuncs(L, methods, 0);
  lua_pop(L, 2);
}

int al_open_gpt(lua_State *L) {
  al_lua_gpt_methods(L, gpt_methods);
  luaL_setfuncs(L, funcs, 0);
  return 0;
}
