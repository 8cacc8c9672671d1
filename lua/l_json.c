// alignlab shell: al.core.json {decode, encode, read, write, null, array} and al.core.jsonl
// {lines, write}. JSON is parsed by cJSON; it is written by our own encoder (sorted keys, exact
// 64-bit integers, two-space indentation) into a buffer owned by the garbage collector, so a Lua
// error in the middle of a value (NaN, a function, a cycle) leaks nothing. Layering: l_core.c ->
// l_json.c -> l_util.c (buffer, string escaper, whole-file read, atomic write: the one place
// where lua/ reads and writes files whole) -> cJSON. Checkpoint metadata (l_optim.c) uses cJSON
// directly and does not come through here.
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "al_io.h"
#include "l_util.h"

// ---- JSON -----------------------------------------------------------------------------------------

#define JSON_ARRAY_MT "al.json.array" // marks a table to encode as an array even when empty
#define JSON_MAXDEPTH 200

// A path into the value being encoded, for error messages ("$.runs[3].loss").
typedef struct seg {
  const struct seg *up;
  const char *key; // NULL: an array index
  size_t klen;
  lua_Integer idx;
} seg;

// Appends "$.a[2].b"; deep paths keep their last 8 steps ("$[...].c.d").
static void path_add(lua_State *L, al_lbuf *b, const seg *s, int keep) {
  if (!s) {
    al_lbuf_addc(L, b, '$');
    return;
  }
  if (keep == 0) {
    al_lbuf_adds(L, b, "$[...]");
    return;
  }
  path_add(L, b, s->up, keep - 1);
  if (s->key) {
    al_lbuf_addc(L, b, '.');
    al_lbuf_add(L, b, s->key, s->klen > 40 ? 40 : s->klen);
  } else {
    char t[32];
    snprintf(t, sizeof t, "[%lld]", (long long)s->idx);
    al_lbuf_adds(L, b, t);
  }
}

static int json_fail(lua_State *L, const char *fname, const seg *at, const char *what) {
  al_lbuf *b = al_lbuf_new(L);
  path_add(L, b, at, 8);
  return luaL_error(L, "%s: %s at %s", fname, what, b->p);
}

static void add_json_string(lua_State *L, al_lbuf *b, const char *s, size_t n) {
  al_lbuf_reserve(L, b, n + 2);
  al_lbuf_addc(L, b, '"');
  al_lbuf_addescaped(L, b, s, n, AL_ESC_JSON);
  al_lbuf_addc(L, b, '"');
}

// Shortest of %.15g/%.16g/%.17g that reads back to the same double.
static void add_json_float(lua_State *L, al_lbuf *b, double x) {
  char t[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(t, sizeof t, "%.*g", prec, x);
    if (strtod(t, NULL) == x) break;
  }
  al_lbuf_adds(L, b, t);
}

static void add_indent(lua_State *L, al_lbuf *b, int indent, int level) {
  al_lbuf_addc(L, b, '\n');
  for (int i = 0; i < indent * level; i++) al_lbuf_addc(L, b, ' ');
}

typedef struct {
  const char *s;
  size_t len;
} skey;

static int skey_cmp(const void *a_, const void *b_) {
  const skey *a = a_, *b = b_;
  size_t m = a->len < b->len ? a->len : b->len;
  int c = memcmp(a->s, b->s, m);
  if (c) return c;
  return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

static int is_scalar(lua_State *L, int idx) {
  int t = lua_type(L, idx);
  return t != LUA_TTABLE;
}

// Encode the value on top of the stack (left there) into b.
static void json_value(lua_State *L, al_lbuf *b, int indent, int level, const seg *at) {
  luaL_checkstack(L, 8, "json.encode: nesting too deep");
  int v = lua_gettop(L);
  switch (lua_type(L, v)) {
  case LUA_TNIL: al_lbuf_adds(L, b, "null"); return;
  case LUA_TBOOLEAN: al_lbuf_adds(L, b, lua_toboolean(L, v) ? "true" : "false"); return;
  case LUA_TNUMBER:
    if (lua_isinteger(L, v)) {
      char t[32];
      snprintf(t, sizeof t, "%lld", (long long)lua_tointeger(L, v));
      al_lbuf_adds(L, b, t);
    } else {
      double x = lua_tonumber(L, v);
      if (isnan(x)) json_fail(L, "json.encode", at, "cannot encode NaN");
      if (isinf(x)) json_fail(L, "json.encode", at, "cannot encode an infinite number");
      add_json_float(L, b, x);
    }
    return;
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, v, &n);
    add_json_string(L, b, s, n);
    return;
  }
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, v) == NULL) { // json.null
      al_lbuf_adds(L, b, "null");
      return;
    }
    break;
  case LUA_TTABLE: {
    if (level >= JSON_MAXDEPTH)
      json_fail(L, "json.encode", at, "nesting deeper than 200 levels (a cycle?)");
    int marked = 0;
    if (lua_getmetatable(L, v)) {
      luaL_getmetatable(L, JSON_ARRAY_MT);
      marked = lua_rawequal(L, -1, -2);
      lua_pop(L, 2);
    }
    lua_Integer count = 0, maxkey = 0;
    int allstr = 1, allseq = 1;
    lua_pushnil(L);
    while (lua_next(L, v)) {
      lua_pop(L, 1);
      count++;
      if (lua_type(L, -1) != LUA_TSTRING) allstr = 0;
      if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) allseq = 0;
      else if (lua_tointeger(L, -1) > maxkey) maxkey = lua_tointeger(L, -1);
    }
    lua_Integer n = maxkey;
    if (count == 0) {
      al_lbuf_adds(L, b, marked ? "[]" : "{}");
      return;
    }
    if (allseq && count == n) { // array: keys exactly 1..n
      int flat = 1;
      for (lua_Integer i = 1; i <= n && flat; i++) {
        lua_rawgeti(L, v, i);
        flat = is_scalar(L, -1);
        lua_pop(L, 1);
      }
      al_lbuf_addc(L, b, '[');
      for (lua_Integer i = 1; i <= n; i++) {
        seg s = {at, NULL, 0, i};
        if (i > 1) al_lbuf_addc(L, b, ',');
        if (indent && flat && i > 1) al_lbuf_addc(L, b, ' ');
        if (indent && !flat) add_indent(L, b, indent, level + 1);
        lua_rawgeti(L, v, i);
        json_value(L, b, indent, level + 1, &s);
        lua_pop(L, 1);
      }
      if (indent && !flat) add_indent(L, b, indent, level);
      al_lbuf_addc(L, b, ']');
      return;
    }
    if (!allstr) {
      if (allseq) json_fail(L, "json.encode", at, "cannot encode a sparse array (keys 1..n with holes)");
      lua_pushnil(L);
      while (lua_next(L, v)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) break;
      }
      const char *tn = luaL_typename(L, -1);
      const char *ks = luaL_tolstring(L, -1, NULL);
      const char *what = lua_pushfstring(L, "cannot encode a table with a %s key (%s): objects "
                                            "need string keys, arrays keys 1..n", tn, ks);
      json_fail(L, "json.encode", at, what);
    }
    skey *keys = lua_newuserdatauv(L, sizeof(skey) * (size_t)count, 0);
    lua_Integer k = 0;
    lua_pushnil(L);
    while (lua_next(L, v)) { // the key strings stay alive: the table holds them
      lua_pop(L, 1);
      keys[k].s = lua_tolstring(L, -1, &keys[k].len);
      k++;
    }
    qsort(keys, (size_t)count, sizeof *keys, skey_cmp);
    al_lbuf_addc(L, b, '{');
    for (lua_Integer i = 0; i < count; i++) {
      seg s = {at, keys[i].s, keys[i].len, 0};
      if (i > 0) al_lbuf_addc(L, b, ',');
      if (indent) add_indent(L, b, indent, level + 1);
      add_json_string(L, b, keys[i].s, keys[i].len);
      al_lbuf_adds(L, b, indent ? ": " : ":");
      lua_pushlstring(L, keys[i].s, keys[i].len);
      lua_rawget(L, v);
      json_value(L, b, indent, level + 1, &s);
      lua_pop(L, 1);
    }
    if (indent) add_indent(L, b, indent, level);
    al_lbuf_addc(L, b, '}');
    lua_pop(L, 1); // keys
    return;
  }
  default: break;
  }
  json_fail(L, "json.encode", at, lua_pushfstring(L, "cannot encode a %s", luaL_typename(L, v)));
}

// Encode the value at idx into a new buffer pushed on the stack.
static al_lbuf *json_encode_push(lua_State *L, int idx, int indent) {
  idx = lua_absindex(L, idx);
  al_lbuf *b = al_lbuf_new(L);
  lua_pushvalue(L, idx);
  json_value(L, b, indent, 0, NULL);
  lua_pop(L, 1);
  return b;
}

static int json_indent_opt(lua_State *L, int idx) {
  static const char *const known[] = {"indent", NULL};
  al_lua_checkopts(L, idx, "json.encode", known);
  if (lua_isnoneornil(L, idx)) return 0;
  lua_getfield(L, idx, "indent");
  int indent = 0;
  if (lua_type(L, -1) == LUA_TBOOLEAN) indent = lua_toboolean(L, -1) ? 2 : 0;
  else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0 && lua_tointeger(L, -1) <= 8)
    indent = (int)lua_tointeger(L, -1);
  else if (!lua_isnil(L, -1))
    luaL_error(L, "json.encode: option 'indent' must be a boolean or an integer in [0, 8]");
  lua_pop(L, 1);
  return indent;
}

// json.encode(v [, {indent=true|n}]) -> string; object keys sorted, integers exact.
static int l_json_encode(lua_State *L) {
  luaL_checkany(L, 1);
  int indent = json_indent_opt(L, 2);
  al_lbuf *b = json_encode_push(L, 1, indent);
  lua_pushlstring(L, b->p ? b->p : "", b->n);
  return 1;
}

// cJSON tree owned by the GC while it is being converted.
typedef struct {
  cJSON *root;
} jtree;

static int jtree_gc(lua_State *L) {
  jtree *t = lua_touserdata(L, 1);
  cJSON_Delete(t->root);
  t->root = NULL;
  return 0;
}

static void push_json(lua_State *L, const cJSON *j) {
  luaL_checkstack(L, 4, "json: nesting too deep");
  if (cJSON_IsNull(j)) {
    lua_pushlightuserdata(L, NULL);
  } else if (cJSON_IsFalse(j)) {
    lua_pushboolean(L, 0);
  } else if (cJSON_IsTrue(j)) {
    lua_pushboolean(L, 1);
  } else if (cJSON_IsNumber(j)) {
    double x = j->valuedouble;
    if (x == floor(x) && fabs(x) <= 9007199254740992.0) lua_pushinteger(L, (lua_Integer)x);
    else lua_pushnumber(L, x);
  } else if (cJSON_IsString(j)) {
    lua_pushstring(L, j->valuestring);
  } else if (cJSON_IsArray(j)) {
    int n = cJSON_GetArraySize(j);
    lua_createtable(L, n, 0);
    int i = 0;
    for (const cJSON *c = j->child; c; c = c->next) {
      push_json(L, c);
      lua_rawseti(L, -2, ++i);
    }
    if (n == 0) luaL_setmetatable(L, JSON_ARRAY_MT);
  } else if (cJSON_IsObject(j)) {
    lua_createtable(L, 0, cJSON_GetArraySize(j));
    for (const cJSON *c = j->child; c; c = c->next) {
      push_json(L, c);
      lua_setfield(L, -2, c->string);
    }
  } else {
    lua_pushnil(L);
  }
}

// Decode s[0..n) and push the value (returns 1), or write a reason into err (returns 0).
static int json_decode_push(lua_State *L, const char *s, size_t n, char *err, size_t errsz) {
  size_t deep = al_io_json_too_deep(s, n, AL_IO_JSON_DEPTH);
  if (deep < n) {
    snprintf(err, errsz, "JSON nested deeper than %d levels at byte %zu", AL_IO_JSON_DEPTH, deep);
    return 0;
  }
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(s, n, &end, 0);
  if (root) { // cJSON stops after the value: only whitespace may follow
    const char *p = end;
    while (p < s + n && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    if (p < s + n) {
      cJSON_Delete(root);
      root = NULL;
      end = p;
    }
  }
  if (!root) {
    size_t pos = (end && end >= s && end <= s + n) ? (size_t)(end - s) : n;
    size_t line = 1, col = 1;
    for (size_t i = 0; i < pos; i++) {
      if (s[i] == '\n') {
        line++;
        col = 1;
      } else {
        col++;
      }
    }
    size_t rest = pos; // only whitespace left: the input ended too early
    while (rest < n && (s[rest] == ' ' || s[rest] == '\t' || s[rest] == '\n' || s[rest] == '\r'))
      rest++;
    if (rest >= n) {
      snprintf(err, errsz, "unexpected end of input at line %zu, column %zu", line, col);
    } else {
      char near[24];
      size_t k = 0;
      for (size_t i = pos; i < n && k < 16; i++)
        near[k++] = (s[i] >= 32 && s[i] < 127 && s[i] != '\'') ? s[i] : '?';
      near[k] = '\0';
      snprintf(err, errsz, "syntax error at line %zu, column %zu (byte %zu) near '%s'", line, col,
               pos + 1, near);
    }
    return 0;
  }
  jtree *t = lua_newuserdatauv(L, sizeof *t, 0);
  t->root = root;
  if (luaL_newmetatable(L, "al.core.jtree")) {
    lua_pushcfunction(L, jtree_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  push_json(L, root);
  cJSON_Delete(t->root);
  t->root = NULL;
  lua_remove(L, -2);
  return 1;
}

// json.decode(s) -> value; null -> json.null; empty arrays come back marked as arrays.
static int l_json_decode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  char err[160];
  if (!json_decode_push(L, s, n, err, sizeof err)) return luaL_error(L, "json.decode: %s", err);
  return 1;
}

// json.read(path) -> value; errors name the file, line and column.
static int l_json_read(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  al_lbuf *b = al_lua_read_file(L, "json.read", path);
  char err[160];
  if (!json_decode_push(L, b->p ? b->p : "", b->n, err, sizeof err))
    return luaL_error(L, "json.read: %s: %s", path, err);
  return 1;
}

// json.write(path, v [, {indent=true}]): encode (indented by default) and write atomically.
static int l_json_write(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checkany(L, 2);
  int indent = lua_isnoneornil(L, 3) ? 2 : json_indent_opt(L, 3);
  al_lbuf *b = json_encode_push(L, 2, indent);
  al_lbuf_addc(L, b, '\n');
  al_lua_write_atomic(L, "json.write", path, b->p, b->n);
  return 0;
}

// json.array(t) -> t marked to encode as a JSON array even when empty.
static int l_json_array(lua_State *L) {
  if (lua_isnoneornil(L, 1)) lua_newtable(L);
  else luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  luaL_setmetatable(L, JSON_ARRAY_MT);
  return 1;
}

// ---- JSONL ----------------------------------------------------------------------------------------

typedef struct {
  FILE *f;
  char *line;
  size_t cap;
  long lineno;
  int strict, warned;
} jreader;

#define JREADER_MT "al.jsonl.reader"

static int jreader_close(lua_State *L) {
  jreader *r = luaL_checkudata(L, 1, JREADER_MT);
  if (r->f) fclose(r->f);
  r->f = NULL;
  free(r->line);
  r->line = NULL;
  r->cap = 0;
  return 0;
}

// upvalues: reader, stats table, path
static int jsonl_next(lua_State *L) {
  jreader *r = luaL_checkudata(L, lua_upvalueindex(1), JREADER_MT);
  const char *path = lua_tostring(L, lua_upvalueindex(3));
  int stats = lua_upvalueindex(2);
  while (r->f) {
    errno = 0;
    size_t got = 0;
    int rc = al_io_getline(r->f, AL_IO_LINE_MAX, &r->line, &r->cap, &got);
    if (rc == -1) { // refused before the whole line is in memory, whatever strict says
      fclose(r->f);
      r->f = NULL;
      return luaL_error(L, "jsonl.lines: %s:%d: line longer than %d bytes", path, (int)r->lineno + 1,
                        (int)AL_IO_LINE_MAX);
    }
    ssize_t n = rc > 0 ? (ssize_t)got : -1;
    if (n < 0) {
      int e = errno, bad = ferror(r->f);
      lua_pushinteger(L, r->lineno);
      lua_setfield(L, stats, "lines");
      fclose(r->f);
      r->f = NULL;
      if (bad) return luaL_error(L, "jsonl.lines: %s: read error: %s", path, strerror(e ? e : EIO));
      lua_getfield(L, stats, "skipped");
      lua_Integer skipped = lua_tointeger(L, -1);
      lua_pop(L, 1);
      if (skipped > 0 && !r->warned) {
        r->warned = 1;
        lua_getfield(L, stats, "first_error");
        fprintf(stderr, "jsonl.lines: %s: skipped %lld malformed line%s (first: %s)\n", path,
                (long long)skipped, skipped == 1 ? "" : "s", lua_tostring(L, -1));
        fflush(stderr);
        lua_pop(L, 1);
      }
      return 0;
    }
    r->lineno++;
    while (n > 0 && (r->line[n - 1] == '\n' || r->line[n - 1] == '\r')) n--;
    size_t i = 0;
    while (i < (size_t)n && (r->line[i] == ' ' || r->line[i] == '\t')) i++;
    if (i == (size_t)n) continue; // blank line
    char err[160];
    if (json_decode_push(L, r->line, (size_t)n, err, sizeof err)) {
      lua_getfield(L, stats, "records");
      lua_Integer k = lua_tointeger(L, -1) + 1;
      lua_pop(L, 1);
      lua_pushinteger(L, k);
      lua_setfield(L, stats, "records");
      return 1;
    }
    if (r->strict) {
      fclose(r->f);
      r->f = NULL;
      return luaL_error(L, "%s:%d: %s", path, (int)r->lineno, err);
    }
    lua_getfield(L, stats, "skipped");
    lua_Integer k = lua_tointeger(L, -1) + 1;
    lua_pop(L, 1);
    lua_pushinteger(L, k);
    lua_setfield(L, stats, "skipped");
    if (lua_getfield(L, stats, "first_error") == LUA_TNIL) {
      lua_pushfstring(L, "line %d: %s", (int)r->lineno, err);
      lua_setfield(L, stats, "first_error");
    }
    lua_pop(L, 1);
  }
  return 0;
}

// jsonl.lines(path [, {strict=false}]) -> iterator, stats, nil, closer.
// `for rec in jsonl.lines(p) do ... end`; stats = {records=, skipped=, lines=, first_error=}.
// strict: a malformed line raises "path:LINE: reason"; otherwise it is skipped, counted, and
// one warning line goes to stderr at the end. Blank lines are ignored.
static int l_jsonl_lines(lua_State *L) {
  static const char *const known[] = {"strict", NULL};
  const char *path = luaL_checkstring(L, 1);
  al_lua_checkopts(L, 2, "jsonl.lines", known);
  int strict = al_lua_optbool(L, 2, "strict", 0);
  jreader *r = lua_newuserdatauv(L, sizeof *r, 0);
  memset(r, 0, sizeof *r);
  r->strict = strict;
  luaL_setmetatable(L, JREADER_MT);
  r->f = fopen(path, "rb");
  if (!r->f) {
    int e = errno;
    return luaL_error(L, "jsonl.lines: cannot open %s: %s", path, strerror(e));
  }
  int ri = lua_gettop(L);
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, 0);
  lua_setfield(L, -2, "records");
  lua_pushinteger(L, 0);
  lua_setfield(L, -2, "skipped");
  lua_pushinteger(L, 0);
  lua_setfield(L, -2, "lines");
  int si = lua_gettop(L);
  lua_pushvalue(L, ri);
  lua_pushvalue(L, si);
  lua_pushvalue(L, 1);
  lua_pushcclosure(L, jsonl_next, 3);
  lua_pushvalue(L, si);
  lua_pushnil(L);
  lua_pushvalue(L, ri);
  return 4;
}

// jsonl.write(path, records): one compact JSON value per line, written atomically.
static int l_jsonl_write(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
  lua_pushnil(L);
  if (n == 0 && lua_next(L, 2)) return luaL_error(L, "jsonl.write: records must be a list");
  lua_settop(L, 2);
  al_lbuf *b = al_lbuf_new(L);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 2, i);
    seg s = {NULL, NULL, 0, i};
    json_value(L, b, 0, 1, &s);
    lua_pop(L, 1);
    al_lbuf_addc(L, b, '\n');
  }
  al_lua_write_atomic(L, "jsonl.write", path, b->p ? b->p : "", b->n);
  return 0;
}

// ---- registration ---------------------------------------------------------------------------------

static const luaL_Reg json_funcs[] = {{"encode", l_json_encode}, {"decode", l_json_decode},
                                      {"read", l_json_read},     {"write", l_json_write},
                                      {"array", l_json_array},   {NULL, NULL}};

static const luaL_Reg jsonl_funcs[] = {{"lines", l_jsonl_lines}, {"write", l_jsonl_write},
                                       {NULL, NULL}};

int al_open_json(lua_State *L) {
  luaL_newmetatable(L, JSON_ARRAY_MT);
  lua_pop(L, 1);
  luaL_newmetatable(L, JREADER_MT);
  lua_pushcfunction(L, jreader_close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, jreader_close);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
  luaL_newlib(L, json_funcs);
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  lua_setfield(L, -2, "json");
  luaL_newlib(L, jsonl_funcs);
  lua_setfield(L, -2, "jsonl");
  return 0;
}
