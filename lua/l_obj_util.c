// alignlab shell: what the objective bindings (l_obj_pref.c, l_obj_rl.c, l_obj_stats.c, one per
// core/obj_*.c) share: reading array arguments into buffers owned by the garbage collector, and
// the one table-driven writer that turns a core result struct (and its arrays) into the Lua
// table a binding returns. Layering: l_obj_*.c -> l_obj_util.c -> l_util.c, core/al_obj.h; it
// binds no Lua function.
//
// Array arguments: per-pair / per-sample arguments are flat arrays of numbers. Per-token
// arguments (logp, advantages, rewards, values, mask, ...) are either one flat array or an
// array of rows ({{...}, {...}}, ragged, as m:forward returns res.logp); every per-token
// argument of one call has the shape of the first, and per-token results come back in that
// shape, so `m:backward{ dlogp = obj.ppo_policy_loss{...}.dlogp }` just works. Entries past a
// row's end do not exist; `mask` (numbers or booleans) removes more.
// Every buffer is a userdata owned by the garbage collector, so an error raised half-way
// through a call leaks nothing. Options tables reject unknown keys.
#include "l_obj_util.h"

#include <limits.h>
#include <math.h>
#include <string.h>

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

// Push the argument and, above it, its name for messages (*name); returns the argument's type.
// When it is nil, pops both, and raises "fn: key is required" when required.
static int fetch_named(lua_State *L, const char *fn, int t, const char *key, int required,
                       const char **name) {
  int ty = fetch(L, t, key);
  *name = argname(L, t, key);
  if (ty == LUA_TNIL) {
    lua_pop(L, 2);
    if (required) luaL_error(L, "%s: %s is required", fn, key ? key : "an array");
  }
  return ty;
}

double *al_lobj_newbuf(lua_State *L, size_t n) {
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
double *al_lobj_vec(lua_State *L, const char *fn, int t, const char *key, int *n, int required,
                   int allow_bool) {
  luaL_checkstack(L, 6, fn);
  const char *name;
  int ty = fetch_named(L, fn, t, key, required, &name);
  *n = 0;
  if (ty == LUA_TNIL) return NULL;
  int vi = lua_gettop(L) - 1;
  if (ty != LUA_TTABLE) luaL_error(L, "%s: %s must be an array of numbers (got %s)", fn, name, lua_typename(L, ty));
  lua_Unsigned len = lua_rawlen(L, vi);
  if (len > (lua_Unsigned)(INT_MAX / 8)) luaL_error(L, "%s: %s is too long", fn, name);
  double *x = al_lobj_newbuf(L, (size_t)len);
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
int *al_lobj_ivec(lua_State *L, const char *fn, int t, const char *key, int *n, int required) {
  double *x = al_lobj_vec(L, fn, t, key, n, required, 0);
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

void al_lobj_samelen(lua_State *L, const char *fn, const char *k1, int n1, const char *k2, int n2) {
  if (n1 != n2) luaL_error(L, "%s: '%s' has %d entries but '%s' has %d", fn, k2, n2, k1, n1);
}

double *al_lobj_vec_like(lua_State *L, const char *fn, const char *key, const char *like, int n,
                         int required, int allow_bool) {
  int m;
  double *x = al_lobj_vec(L, fn, 1, key, &m, required, allow_bool);
  if (x) al_lobj_samelen(L, fn, like, n, key, m);
  return x;
}

int *al_lobj_ivec_like(lua_State *L, const char *fn, const char *key, const char *like, int n,
                       int required) {
  int m;
  int *x = al_lobj_ivec(L, fn, 1, key, &m, required);
  if (x) al_lobj_samelen(L, fn, like, n, key, m);
  return x;
}

// A per-token argument into a (B,T) buffer (0 past each row's end) left on the stack; the first
// one read fixes the shape, later ones must match it.
double *al_lobj_tok(lua_State *L, const char *fn, int t, const char *key, al_lobj_shape *sh, int required,
                   int allow_bool) {
  luaL_checkstack(L, 8, fn);
  const char *name;
  int ty = fetch_named(L, fn, t, key, required, &name);
  if (ty == LUA_TNIL) return NULL;
  int vi = lua_gettop(L) - 1;
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
  double *x = al_lobj_newbuf(L, (size_t)sh->N);
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
double *al_lobj_padmask(lua_State *L, const al_lobj_shape *sh, const double *user) {
  double *m = al_lobj_newbuf(L, (size_t)sh->N);
  for (int b = 0; b < sh->B; b++)
    for (int t = 0; t < sh->len[b]; t++) {
      size_t i = (size_t)b * sh->T + t;
      m[i] = user ? user[i] : 1.0;
    }
  return m;
}

// Push x (B,T) back in the shape of the arguments
void al_lobj_pushtok(lua_State *L, const al_lobj_shape *sh, const double *x) {
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

void al_lobj_pushvec(lua_State *L, const double *x, int n) {
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushnumber(L, x[i]);
    lua_rawseti(L, -2, i + 1);
  }
}

int al_lobj_optenum(lua_State *L, const char *fn, const char *key, const char *def,
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

void al_lobj_checkopts(lua_State *L, const char *fn, const char *const known[]) {
  luaL_checktype(L, 1, LUA_TTABLE);
  al_lua_checkopts(L, 1, fn, known);
}

// ---- the result writer --------------------------------------------------------------------

void al_lobj_push(lua_State *L, const al_lobj_field *fields, const void *out,
                  const void *const arrays[], int n, const al_lobj_shape *sh) {
  int count = 0;
  while (fields[count].key) count++;
  luaL_checkstack(L, 4, "obj");
  lua_createtable(L, 0, count);
  for (const al_lobj_field *f = fields; f->key; f++) {
    const void *a = f->kind == AL_LOBJ_NUM || f->kind == AL_LOBJ_SUB ? NULL : arrays[f->at];
    switch (f->kind) {
    case AL_LOBJ_NUM: lua_pushnumber(L, *(const double *)((const char *)out + f->at)); break;
    case AL_LOBJ_SUB: al_lobj_push(L, f->sub, out, arrays, n, sh); break;
    case AL_LOBJ_TOK: al_lobj_pushtok(L, sh, a); break;
    case AL_LOBJ_VEC:
      if (!a) continue; // an optional array that was not computed
      al_lobj_pushvec(L, a, n);
      break;
    case AL_LOBJ_INTS:
      if (!a) continue;
      al_lua_pushints(L, a, n);
      break;
    }
    lua_setfield(L, -2, f->key);
  }
}
