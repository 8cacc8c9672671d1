// alignlab shell: the helpers every binding file uses (declared in bind.h and l_util.h): raising
// the core's error, reading options and integer arrays, pushing arrays, Lua-owned scratch, a
// byte buffer owned by the garbage collector, the string escaper shared by l_pretty.c and
// l_json.c, and whole-file read / atomic write. Layering: binding files -> l_util.c -> core;
// it binds no Lua function itself (al.core's small functions are in l_base.c).
#include "l_util.h"
#include "al_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// ---- helpers of bind.h ------------------------------------------------------------------------

int al_lua_fail(lua_State *L) {
  const char *m = al_errmsg();
  return luaL_error(L, "%s", (m && m[0]) ? m : "unknown error in the core");
}

void al_lua_checkopts(lua_State *L, int idx, const char *fname, const char *const known[]) {
  if (lua_isnoneornil(L, idx)) return;
  idx = lua_absindex(L, idx);
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int found = 0;
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -1);
      for (int i = 0; known[i]; i++)
        if (strcmp(k, known[i]) == 0) found = 1;
    }
    if (!found) {
      luaL_Buffer b;
      const char *k = luaL_tolstring(L, -1, NULL); // key stays below the buffer
      luaL_buffinit(L, &b);
      for (int i = 0; known[i]; i++) {
        if (i) luaL_addstring(&b, ", ");
        luaL_addstring(&b, known[i]);
      }
      luaL_pushresult(&b);
      luaL_error(L, "%s: unknown option '%s' (known: %s)", fname, k, lua_tostring(L, -1));
    }
  }
}

// Push opts[key] (nil when there is no options table).
static int opt_get(lua_State *L, int idx, const char *key) {
  if (lua_isnoneornil(L, idx)) {
    lua_pushnil(L);
    return LUA_TNIL;
  }
  luaL_checktype(L, idx, LUA_TTABLE);
  return lua_getfield(L, idx, key);
}

static int opt_error(lua_State *L, const char *key, const char *want) {
  return luaL_error(L, "option '%s' must be %s (got %s)", key, want, luaL_typename(L, -1));
}

double al_lua_optnum(lua_State *L, int idx, const char *key, double def) {
  int t = opt_get(L, idx, key);
  double v = def;
  if (t == LUA_TNUMBER) v = lua_tonumber(L, -1);
  else if (t != LUA_TNIL) opt_error(L, key, "a number");
  lua_pop(L, 1);
  return v;
}

lua_Integer al_lua_optint(lua_State *L, int idx, const char *key, lua_Integer def) {
  int t = opt_get(L, idx, key);
  lua_Integer v = def;
  if (t != LUA_TNIL) {
    int isint = 0;
    if (t == LUA_TNUMBER) v = lua_tointegerx(L, -1, &isint);
    if (!isint) opt_error(L, key, "an integer");
  }
  lua_pop(L, 1);
  return v;
}

int al_lua_optbool(lua_State *L, int idx, const char *key, int def) {
  int t = opt_get(L, idx, key);
  int v = def;
  if (t == LUA_TBOOLEAN) v = lua_toboolean(L, -1);
  else if (t != LUA_TNIL) opt_error(L, key, "a boolean");
  lua_pop(L, 1);
  return v;
}

// The returned string is owned by the options table: valid while the table holds it.
const char *al_lua_optstr(lua_State *L, int idx, const char *key, const char *def) {
  int t = opt_get(L, idx, key);
  const char *v = def;
  if (t == LUA_TSTRING) v = lua_tostring(L, -1);
  else if (t != LUA_TNIL) opt_error(L, key, "a string");
  lua_pop(L, 1);
  return v;
}

// Two passes: validate every element (may raise, nothing allocated yet), then allocate and fill
// with raw reads that cannot raise. So a bad element never leaks the array.
int *al_lua_toints(lua_State *L, int idx, const char *what, int *n) {
  idx = lua_absindex(L, idx);
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_Unsigned len = lua_rawlen(L, idx);
  if (len > (lua_Unsigned)INT32_MAX) luaL_error(L, "%s: too many elements", what);
  for (lua_Unsigned i = 1; i <= len; i++) {
    lua_rawgeti(L, idx, (lua_Integer)i);
    int isint = 0;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < INT32_MIN || v > INT32_MAX)
      luaL_error(L, "%s: element %d must be an integer (got %s)", what, (int)i,
                 isint ? "an integer out of range" : luaL_typename(L, -1));
    lua_pop(L, 1);
  }
  *n = (int)len;
  if (len == 0) return NULL;
  int *a = malloc(len * sizeof *a);
  if (!a) luaL_error(L, "%s: not enough memory for %d integers", what, (int)len);
  for (lua_Unsigned i = 1; i <= len; i++) {
    lua_rawgeti(L, idx, (lua_Integer)i);
    a[i - 1] = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
  }
  return a;
}

void al_lua_pushfloats(lua_State *L, const float *x, int n) {
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushnumber(L, (lua_Number)x[i]);
    lua_rawseti(L, -2, i + 1);
  }
}

void al_lua_pushints(lua_State *L, const int *x, int n) {
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushinteger(L, x[i]);
    lua_rawseti(L, -2, i + 1);
  }
}

// Lua-owned scratch: freed by the collector even when an error unwinds past it.
void *al_lua_scratch(lua_State *L, size_t n) {
  void *p = lua_newuserdatauv(L, n ? n : 1, 0);
  memset(p, 0, n ? n : 1);
  return p;
}

// ---- a growable byte buffer owned by the garbage collector ---------------------------------------

#define LBUF_MT "al.core.buffer"

static int lbuf_gc(lua_State *L) {
  al_lbuf *b = luaL_checkudata(L, 1, LBUF_MT);
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
  return 0;
}

al_lbuf *al_lbuf_new(lua_State *L) {
  al_lbuf *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->p = NULL;
  b->n = b->cap = 0;
  if (luaL_newmetatable(L, LBUF_MT)) {
    lua_pushcfunction(L, lbuf_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return b;
}

void al_lbuf_reserve(lua_State *L, al_lbuf *b, size_t extra) {
  if (b->cap - b->n > extra) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->n <= extra) {
    if (cap > SIZE_MAX / 2) luaL_error(L, "not enough memory");
    cap *= 2;
  }
  char *p = realloc(b->p, cap);
  if (!p) luaL_error(L, "not enough memory");
  b->p = p;
  b->cap = cap;
}

void al_lbuf_add(lua_State *L, al_lbuf *b, const char *s, size_t n) {
  al_lbuf_reserve(L, b, n);
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

void al_lbuf_adds(lua_State *L, al_lbuf *b, const char *s) {
  al_lbuf_add(L, b, s, strlen(s));
}

void al_lbuf_addc(lua_State *L, al_lbuf *b, char c) { al_lbuf_add(L, b, &c, 1); }

// ---- the string escaper ------------------------------------------------------------------------

void al_lbuf_addescaped(lua_State *L, al_lbuf *b, const char *s, size_t n, al_esc_style style) {
  static const char hexd[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '"': al_lbuf_adds(L, b, "\\\""); break;
    case '\\': al_lbuf_adds(L, b, "\\\\"); break;
    case '\n': al_lbuf_adds(L, b, "\\n"); break;
    case '\r': al_lbuf_adds(L, b, "\\r"); break;
    case '\t': al_lbuf_adds(L, b, "\\t"); break;
    default:
      if (style == AL_ESC_JSON && c == '\b') {
        al_lbuf_adds(L, b, "\\b");
      } else if (style == AL_ESC_JSON && c == '\f') {
        al_lbuf_adds(L, b, "\\f");
      } else if (c < 0x20 || c == 0x7f) {
        char e[8];
        if (style == AL_ESC_JSON) {
          e[0] = '\\', e[1] = 'u', e[2] = '0', e[3] = '0', e[4] = hexd[c >> 4];
          e[5] = hexd[c & 15], e[6] = '\0';
        } else {
          snprintf(e, sizeof e, "\\%d", c);
        }
        al_lbuf_adds(L, b, e);
      } else {
        al_lbuf_addc(L, b, (char)c);
      }
    }
  }
}

// ---- files --------------------------------------------------------------------------------------

al_lbuf *al_lua_read_file(lua_State *L, const char *fname, const char *path) {
  al_lbuf *b = al_lbuf_new(L); // first: nothing below raises while memory is unowned
  char what[64];
  snprintf(what, sizeof what, "%s:", fname);
  char *data;
  size_t n;
  if (al_io_read_file(path, SIZE_MAX, what, &data, &n) != AL_OK) luaL_error(L, "%s", al_errmsg());
  b->p = data;
  b->n = n;
  b->cap = n + 1;
  return b;
}

void al_lua_write_atomic(lua_State *L, const char *fname, const char *path, const char *data,
                         size_t n) {
  char what[64];
  snprintf(what, sizeof what, "%s:", fname);
  al_io_chunk c = {data, n};
  if (al_io_write_atomic(path, &c, 1, what) != AL_OK) luaL_error(L, "%s", al_errmsg());
}
