// alignlab shell: the al.Rng userdata, al.core.rng(seed [, stream]), a bare al_rng
// (xoshiro256**, core/rng.c) with methods int, uniform, normal, shuffle, state, set_state,
// clone. Layering: l_core.c -> l_rng.c -> core; other binding files take an al.Rng through
// al_lua_checkrng (bind.h) and never look inside the userdata.
#include <stdio.h>
#include <string.h>

#include "bind.h"

#define RNG_MT "al.Rng"

al_rng *al_lua_checkrng(lua_State *L, int idx) { return luaL_checkudata(L, idx, RNG_MT); }

static al_rng *push_rng(lua_State *L) {
  al_rng *r = lua_newuserdatauv(L, sizeof *r, 0);
  memset(r, 0, sizeof *r);
  luaL_setmetatable(L, RNG_MT);
  return r;
}

// al.core.rng(seed [, stream]) -> al.Rng (xoshiro256**, seeded as al_rng_seed does).
static int l_rng(lua_State *L) {
  lua_Integer seed = luaL_checkinteger(L, 1);
  lua_Integer stream = luaL_optinteger(L, 2, 0);
  al_rng *r = push_rng(L);
  al_rng_seed(r, (uint64_t)seed, (uint64_t)stream);
  return 1;
}

// rng:int(n) -> integer in [1, n]; rng:int(a, b) -> integer in [a, b] (like math.random).
static int rng_int(lua_State *L) {
  al_rng *r = al_lua_checkrng(L, 1);
  lua_Integer a = 1, b;
  if (lua_isnoneornil(L, 3)) {
    b = luaL_checkinteger(L, 2);
    luaL_argcheck(L, b >= 1, 2, "n must be >= 1");
  } else {
    a = luaL_checkinteger(L, 2);
    b = luaL_checkinteger(L, 3);
    luaL_argcheck(L, a <= b, 3, "interval is empty (a > b)");
  }
  uint64_t span = (uint64_t)b - (uint64_t)a + 1; // 0 means the whole 64-bit range
  uint64_t x = span ? al_rng_int(r, span) : al_rng_u64(r);
  lua_pushinteger(L, (lua_Integer)((uint64_t)a + x));
  return 1;
}

// rng:uniform() -> [0, 1); rng:uniform(a, b) -> [a, b).
static int rng_uniform(lua_State *L) {
  al_rng *r = al_lua_checkrng(L, 1);
  double u = al_rng_uniform(r);
  if (!lua_isnoneornil(L, 2)) {
    double a = luaL_checknumber(L, 2), b = luaL_checknumber(L, 3);
    u = a + (b - a) * u;
  }
  lua_pushnumber(L, u);
  return 1;
}

// rng:normal([mean, sd]) -> a normal draw (standard by default).
static int rng_normal(lua_State *L) {
  al_rng *r = al_lua_checkrng(L, 1);
  double mu = luaL_optnumber(L, 2, 0.0), sd = luaL_optnumber(L, 3, 1.0);
  lua_pushnumber(L, mu + sd * al_rng_normal(r));
  return 1;
}

// rng:shuffle(t) -> t, shuffled in place (Fisher-Yates, the same draws as al_rng_shuffle).
static int rng_shuffle(lua_State *L) {
  al_rng *r = al_lua_checkrng(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
  for (lua_Integer i = n; i > 1; i--) {
    lua_Integer j = 1 + (lua_Integer)al_rng_int(r, (uint64_t)i);
    lua_rawgeti(L, 2, i);
    lua_rawgeti(L, 2, j);
    lua_rawseti(L, 2, i);
    lua_rawseti(L, 2, j);
  }
  lua_settop(L, 2);
  return 1;
}

// rng:state() -> 64 hex digits (s[0..3]); rng:set_state(s) restores it.
static int rng_state(lua_State *L) {
  al_rng *r = al_lua_checkrng(L, 1);
  char hex[65];
  for (int i = 0; i < 4; i++) snprintf(hex + 16 * i, 17, "%016llx", (unsigned long long)r->s[i]);
  lua_pushlstring(L, hex, 64);
  return 1;
}

static int rng_set_state(lua_State *L) {
  al_rng *r = al_lua_checkrng(L, 1);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  uint64_t st[4] = {0, 0, 0, 0};
  luaL_argcheck(L, n == 64, 2, "a state is 64 hex digits (from rng:state())");
  for (size_t i = 0; i < 64; i++) {
    char c = s[i];
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
          : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
    luaL_argcheck(L, d >= 0, 2, "a state is 64 hex digits (from rng:state())");
    st[i / 16] = (st[i / 16] << 4) | (uint64_t)d;
  }
  luaL_argcheck(L, st[0] | st[1] | st[2] | st[3], 2, "the all-zero state is invalid");
  memcpy(r->s, st, sizeof st);
  lua_settop(L, 1);
  return 1;
}

// rng:clone() -> an independent generator with the same state.
static int rng_clone(lua_State *L) {
  al_rng *r = al_lua_checkrng(L, 1);
  al_rng *c = push_rng(L);
  *c = *r;
  return 1;
}

static int rng_tostring(lua_State *L) {
  al_rng *r = al_lua_checkrng(L, 1);
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", (unsigned long long)r->s[0]);
  lua_pushfstring(L, "al.Rng(state %s...)", hex);
  return 1;
}

static const luaL_Reg rng_methods[] = {
    {"int", rng_int},         {"uniform", rng_uniform}, {"normal", rng_normal},
    {"shuffle", rng_shuffle}, {"state", rng_state},     {"set_state", rng_set_state},
    {"clone", rng_clone},     {NULL, NULL}};

static const luaL_Reg rng_meta[] = {{"__tostring", rng_tostring}, {NULL, NULL}};

int al_open_rng(lua_State *L) {
  luaL_newmetatable(L, RNG_MT);
  luaL_setfuncs(L, rng_meta, 0);
  luaL_newlib(L, rng_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_rng);
  lua_setfield(L, -2, "rng");
  return 0;
}
