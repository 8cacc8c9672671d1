// alignlab shell: bindings of core module 'sample' (core/al_sample.h).
//   m:generate(prompts, opts) -> completions, logprobs, plain_logprobs      (method of al.GPT)
//   m:score(prompts, completions) -> logprobs, sums, entropies               (method of al.GPT)
//   al.kl(m, ref, sequences) -> mean, per_sequence, entropies                (al.core.kl)
// Token ids are 0-based integers; prompts and completions are Lua lists of such lists.
// Each model keeps one KV cache for generation (a weak-keyed registry table maps the al.GPT
// userdata to an al.KVCache userdata), grown when a call needs more and freed with the model.
// Buffers handed to the core are userdata owned by the garbage collector, so an error raised
// while reading arguments leaks nothing.
// Layering: l_core.c -> l_sample.c -> l_gpt.c (al_lua_checkgpt, al_lua_gpt_methods, which puts
// generate and score into the one al.GPT method table) -> core. Training is l_train.c's.
#include <limits.h>
#include <math.h>

#include "al_sample.h"
#include "bind.h"

#define CACHE_MT "al.KVCache"
#define CACHES_KEY "al.sample.caches"
#define RNG_MT "al.Rng" // l_rng.c's generator userdata: a bare al_rng
#define GEN_CHUNK 64    // generate at most this many sequences at once (bounds the cache)

typedef struct {
  al_kvcache *c;
} lcache;

static int cache_gc(lua_State *L) {
  lcache *u = luaL_checkudata(L, 1, CACHE_MT);
  al_kvcache_free(u->c);
  u->c = NULL;
  return 0;
}

// The generation cache of the model userdata at idx (created empty on first use). It stays
// anchored in the registry while the model userdata lives.
static lcache *model_cache(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_getfield(L, LUA_REGISTRYINDEX, CACHES_KEY);
  lua_pushvalue(L, idx);
  lua_rawget(L, -2);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lcache *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->c = NULL;
    luaL_setmetatable(L, CACHE_MT);
    lua_pushvalue(L, idx);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
  }
  lcache *u = lua_touserdata(L, -1);
  lua_pop(L, 2);
  return u;
}

// ---- reading arguments ------------------------------------------------------------------------

// A list of token lists, copied into GC-owned userdata (two values pushed on the stack).
typedef struct {
  int n;      // number of lists
  int stride; // row stride of tok (>= 1)
  int *tok;   // (n, stride), right padded with 0
  int *len;   // (n)
} tlist;

static int checkint(lua_State *L, lua_Integer v, lua_Integer lo, lua_Integer hi, const char *fn,
                    const char *key) {
  if (v < lo || v > hi)
    luaL_error(L, "%s: option '%s' = %I is outside [%I, %I]", fn, key, v, lo, hi);
  return (int)v;
}

static void read_tlist(lua_State *L, int idx, const char *fn, const char *what, int V,
                       int min_len, tlist *t) {
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx))
    luaL_error(L, "%s: %s must be a list of token lists (got %s)", fn, what, luaL_typename(L, idx));
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
  if (n > INT_MAX / 2) luaL_error(L, "%s: too many %s", fn, what);
  int stride = 1;
  for (int i = 1; i <= n; i++) {
    if (lua_rawgeti(L, idx, i) != LUA_TTABLE)
      luaL_error(L, "%s: %s[%d] must be a list of token ids (got %s)", fn, what, i,
                 luaL_typename(L, -1));
    lua_Integer len = (lua_Integer)lua_rawlen(L, -1);
    if (len < min_len)
      luaL_error(L, "%s: %s[%d] has %d tokens (at least %d needed)", fn, what, i, (int)len, min_len);
    if (len > 1 << 20) luaL_error(L, "%s: %s[%d] is too long", fn, what, i);
    if (len > stride) stride = (int)len;
    lua_pop(L, 1);
  }
  t->n = (int)n;
  t->stride = stride;
  size_t cells = (size_t)(n > 0 ? n : 1) * (size_t)stride;
  if (cells > SIZE_MAX / sizeof(int)) luaL_error(L, "%s: %s are too large", fn, what);
  t->tok = lua_newuserdatauv(L, cells * sizeof(int), 0);
  t->len = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(int), 0);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, i);
    int len = (int)lua_rawlen(L, -1);
    int *row = t->tok + (size_t)(i - 1) * stride;
    for (int j = 1; j <= len; j++) {
      lua_rawgeti(L, -1, j);
      int isnum = 0;
      lua_Integer v = lua_tointegerx(L, -1, &isnum);
      if (!isnum)
        luaL_error(L, "%s: %s[%d][%d] must be an integer token id (got %s)", fn, what, i, j,
                   luaL_typename(L, -1));
      if (v < 0 || v >= V)
        luaL_error(L, "%s: %s[%d][%d] = %I is outside the vocabulary [0, %d)", fn, what, i, j, v, V);
      row[j - 1] = (int)v;
      lua_pop(L, 1);
    }
    for (int j = len; j < stride; j++) row[j] = 0;
    t->len[i - 1] = len;
    lua_pop(L, 1);
  }
}

static void push_int_rows(lua_State *L, const int *x, const int *len, int n, int stride) {
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    al_lua_pushints(L, x + (size_t)i * stride, len[i]);
    lua_rawseti(L, -2, i + 1);
  }
}

static void push_float_rows(lua_State *L, const float *x, const int *len, int n, int stride) {
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    al_lua_pushfloats(L, x + (size_t)i * stride, len[i]);
    lua_rawseti(L, -2, i + 1);
  }
}

static void push_float_list(lua_State *L, const float *x, int n) {
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushnumber(L, x[i]);
    lua_rawseti(L, -2, i + 1);
  }
}

// ---- m:generate --------------------------------------------------------------------------------

static const char *const gen_keys[] = {"max_new", "temperature", "top_k", "top_p", "eos",
                                       "seed",    "rng",         "streams", NULL};

// m:generate(prompts, opts) -> completions, logprobs, plain_logprobs
// prompts: list of token lists (each >= 1 token). opts: max_new (16), temperature (1; 0 =
// greedy), top_k (0 = off), top_p (1 = off), eos (nil = none; a sampled eos ends the completion
// and is its last token), seed (0) or rng (an al.Rng, advanced by the draws). Returns lists of
// completion token lists, of the log-prob of each token under the distribution it was sampled
// from (greedy: the temperature-1 log-prob), and of the plain temperature-1 log-probs. Prompts
// are generated GEN_CHUNK at a time with one generator, so results depend only on the seed.
// streams (default off): a list of one integer id (>= 0) per prompt, or true for 0..n-1: prompt
// b then draws from its own generator (seed, streams[b]) (core/al_sample.h), so its completion
// does not depend on the other prompts' draws (a batch split over MPI ranks samples the same
// tokens, given the same logits); not with rng.
static int l_generate(lua_State *L) {
  al_gpt *m = al_lua_checkgpt(L, 1);
  al_lua_checkopts(L, 3, "generate", gen_keys);
  const int maxT = m->cfg.maxT, V = m->cfg.V;
  al_sample_opts o = al_sample_opts_default();
  o.max_new = checkint(L, al_lua_optint(L, 3, "max_new", 16), 1, maxT, "generate", "max_new");
  o.temperature = (float)al_lua_optnum(L, 3, "temperature", 1.0);
  o.top_k = checkint(L, al_lua_optint(L, 3, "top_k", 0), 0, V, "generate", "top_k");
  o.top_p = (float)al_lua_optnum(L, 3, "top_p", 1.0);
  o.eos = checkint(L, al_lua_optint(L, 3, "eos", -1), -1, V - 1, "generate", "eos");
  al_rng local;
  al_rng_seed(&local, (uint64_t)al_lua_optint(L, 3, "seed", 0), AL_SAMPLE_STREAM);
  o.rng = &local;
  if (lua_istable(L, 3)) {
    if (lua_getfield(L, 3, "rng") != LUA_TNIL) {
      al_rng *r = luaL_testudata(L, -1, RNG_MT);
      if (!r) luaL_error(L, "generate: option 'rng' must be an al.Rng (got %s)", luaL_typename(L, -1));
      lua_getfield(L, 3, "seed");
      if (!lua_isnil(L, -1)) luaL_error(L, "generate: give option 'seed' or 'rng', not both");
      lua_pop(L, 1);
      o.rng = r; // anchored by the options table during the call
    }
    lua_pop(L, 1);
  }
  tlist pr;
  read_tlist(L, 2, "generate", "prompts", V, 1, &pr);
  const int n = pr.n, mn = o.max_new;
  uint64_t *streams = NULL;
  if (lua_istable(L, 3) && lua_getfield(L, 3, "streams") != LUA_TNIL) {
    if (o.rng != &local) luaL_error(L, "generate: give option 'streams' or 'rng', not both");
    int all = lua_isboolean(L, -1);
    if (all && !lua_toboolean(L, -1)) {
      lua_pop(L, 1);
    } else {
      if (!all && !lua_istable(L, -1))
        luaL_error(L, "generate: option 'streams' must be true or a list of stream ids (got %s)",
                   luaL_typename(L, -1));
      if (!all && (int)luaL_len(L, -1) != n)
        luaL_error(L, "generate: option 'streams' has %d ids for %d prompts", (int)luaL_len(L, -1), n);
      streams = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *streams, 0);
      for (int b = 0; b < n; b++) {
        lua_Integer id = b;
        if (!all) {
          lua_geti(L, -2, b + 1);
          int isint = 0;
          id = lua_tointegerx(L, -1, &isint);
          if (!isint || id < 0) luaL_error(L, "generate: streams[%d] must be an integer >= 0", b + 1);
          lua_pop(L, 1);
        }
        streams[b] = (uint64_t)id;
      }
      lua_replace(L, -2); // keep the ids anchored on the stack for the call
      o.rng = NULL;        // sequence b: al_rng_seed(seed, streams[b])
      o.seed = (uint64_t)al_lua_optint(L, 3, "seed", 0);
    }
  } else if (lua_istable(L, 3)) {
    lua_pop(L, 1);
  }
  for (int b = 0; b < n; b++)
    if (pr.len[b] + mn > maxT)
      luaL_error(L, "generate: prompts[%d] has %d tokens; with max_new = %d it exceeds the context "
                 "of %d positions", b + 1, pr.len[b], mn, maxT);
  size_t cells = (size_t)(n > 0 ? n : 1) * (size_t)mn;
  int *out = lua_newuserdatauv(L, cells * sizeof(int), 0);
  int *len = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(int), 0);
  float *lp = lua_newuserdatauv(L, cells * sizeof(float), 0);
  float *lpp = lua_newuserdatauv(L, cells * sizeof(float), 0);
  lcache *cache = model_cache(L, 1);
  for (int b0 = 0; b0 < n; b0 += GEN_CHUNK) {
    int nb = n - b0 < GEN_CHUNK ? n - b0 : GEN_CHUNK;
    if (al_lua_interrupted()) return luaL_error(L, "generate: interrupted");
    o.streams = streams ? streams + b0 : NULL;
    al_status st = al_sample_generate(m, &cache->c, pr.tok + (size_t)b0 * pr.stride, pr.len + b0,
                                      nb, pr.stride, &o, out + (size_t)b0 * mn, len + b0,
                                      lp + (size_t)b0 * mn, lpp + (size_t)b0 * mn);
    if (st != AL_OK) return al_lua_fail(L);
  }
  push_int_rows(L, out, len, n, mn);
  push_float_rows(L, lp, len, n, mn);
  push_float_rows(L, lpp, len, n, mn);
  return 3;
}

// ---- m:score -----------------------------------------------------------------------------------

// m:score(prompts, completions) -> logprobs, sums, entropies
// Teacher-forced log p(completion token | prompt, earlier completion tokens) per token (a list of
// float lists), their sums (a list), and the entropy (nats) of each of those next-token
// distributions (a list of float lists). Completions may be empty.
static int l_score(lua_State *L) {
  al_gpt *m = al_lua_checkgpt(L, 1);
  tlist pr, co;
  read_tlist(L, 2, "score", "prompts", m->cfg.V, 1, &pr);
  read_tlist(L, 3, "score", "completions", m->cfg.V, 0, &co);
  if (pr.n != co.n)
    return luaL_error(L, "score: %d prompts but %d completions", pr.n, co.n);
  int n = pr.n;
  if (n == 0) {
    lua_newtable(L);
    lua_newtable(L);
    lua_newtable(L);
    return 3;
  }
  size_t cells = (size_t)n * (size_t)co.stride;
  float *lp = lua_newuserdatauv(L, cells * sizeof(float), 0);
  float *ent = lua_newuserdatauv(L, cells * sizeof(float), 0);
  float *sum = lua_newuserdatauv(L, (size_t)n * sizeof(float), 0);
  if (al_sample_score(m, pr.tok, pr.len, pr.stride, co.tok, co.len, co.stride, n, lp, sum, ent) !=
      AL_OK)
    return al_lua_fail(L);
  push_float_rows(L, lp, co.len, n, co.stride);
  push_float_list(L, sum, n);
  push_float_rows(L, ent, co.len, n, co.stride);
  return 3;
}

// ---- al.kl -------------------------------------------------------------------------------------

// al.kl(m, ref, sequences) -> mean, per_sequence, entropies
// sequences = { prompts = {...}, completions = {...} } or a list of { prompt, completion } pairs.
// per_sequence[i] = sum over the completion positions of the exact KL(m || ref) between the two
// models' next-token distributions; mean = their average; entropies[i] = the summed entropy of
// m at the same positions.
static int l_kl(lua_State *L) {
  al_gpt *p = al_lua_checkgpt(L, 1);
  al_gpt *q = al_lua_checkgpt(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  int pi, ci;
  lua_getfield(L, 3, "prompts");
  if (!lua_isnil(L, -1)) {
    static const char *const keys[] = {"prompts", "completions", NULL};
    al_lua_checkopts(L, 3, "kl", keys);
    pi = lua_gettop(L);
    lua_getfield(L, 3, "completions");
    if (lua_isnil(L, -1)) return luaL_error(L, "kl: sequences has prompts but no completions");
    ci = lua_gettop(L);
  } else {
    // a list of {prompt, completion} pairs: split it into two lists
    lua_pop(L, 1);
    int n = (int)lua_rawlen(L, 3);
    lua_createtable(L, n, 0);
    pi = lua_gettop(L);
    lua_createtable(L, n, 0);
    ci = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
      if (lua_rawgeti(L, 3, i) != LUA_TTABLE)
        return luaL_error(L, "kl: sequences[%d] must be a {prompt, completion} pair (got %s)", i,
                          luaL_typename(L, -1));
      lua_rawgeti(L, -1, 1);
      lua_rawseti(L, pi, i);
      lua_rawgeti(L, -1, 2);
      lua_rawseti(L, ci, i);
      lua_pop(L, 1);
    }
  }
  tlist pr, co;
  read_tlist(L, pi, "kl", "prompts", p->cfg.V, 1, &pr);
  read_tlist(L, ci, "kl", "completions", p->cfg.V, 0, &co);
  if (pr.n != co.n) return luaL_error(L, "kl: %d prompts but %d completions", pr.n, co.n);
  if (pr.n == 0) return luaL_error(L, "kl: no sequences");
  int n = pr.n;
  float *kl = lua_newuserdatauv(L, (size_t)n * sizeof(float), 0);
  float *ent = lua_newuserdatauv(L, (size_t)n * sizeof(float), 0);
  if (al_sample_kl(p, q, pr.tok, pr.len, pr.stride, co.tok, co.len, co.stride, n, kl, NULL, ent) !=
      AL_OK)
    return al_lua_fail(L);
  double s = 0.0;
  for (int i = 0; i < n; i++) s += kl[i];
  lua_pushnumber(L, s / n);
  push_float_list(L, kl, n);
  push_float_list(L, ent, n);
  return 3;
}

// ---- registration ------------------------------------------------------------------------------

static const luaL_Reg sample_methods[] = {{"generate", l_generate}, {"score", l_score}, {NULL, NULL}};

int al_open_sample(lua_State *L) {
  int core = lua_gettop(L);
  if (luaL_newmetatable(L, CACHE_MT)) {
    lua_pushcfunction(L, cache_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  lua_newtable(L); // model userdata -> cache userdata, weak keys
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, CACHES_KEY);

  lua_pushcfunction(L, l_kl);
  lua_setfield(L, core, "kl");

  al_lua_gpt_methods(L, sample_methods); // m:generate, m:score
  return 0;
}
