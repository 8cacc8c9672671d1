// alignlab shell: the pretty printer of the REPL and of al.core.pretty(v [, opts]): Lua values
// rendered as Lua-like literals, tables nested and sorted, cut at a depth and an item count and
// wrapped at a width, strings quoted as Lua literals (the escaper is l_util.c's, shared with
// l_json.c). Layering: repl.c and l_core.c -> l_pretty.c -> l_util.c. It reads no input and
// prints nothing itself: repl.c writes what it renders.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l_util.h"

static const char *const reserved[] = {
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
    "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while", NULL};

static int is_ident(const char *s, size_t n) {
  if (n == 0 || !(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
    return 0;
  for (size_t i = 1; i < n; i++) {
    char c = s[i];
    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
      return 0;
  }
  for (int i = 0; reserved[i]; i++)
    if (strlen(reserved[i]) == n && memcmp(reserved[i], s, n) == 0) return 0;
  return 1;
}

// Append s quoted as a Lua string literal (at most `max` bytes of it, then an ellipsis).
static void add_quoted(lua_State *L, al_lbuf *b, const char *s, size_t n, size_t max) {
  size_t m = n > max ? max : n;
  al_lbuf_addc(L, b, '"');
  al_lbuf_addescaped(L, b, s, m, AL_ESC_LUA);
  al_lbuf_addc(L, b, '"');
  if (m < n) {
    char more[48];
    snprintf(more, sizeof more, "...(%zu bytes)", n);
    al_lbuf_adds(L, b, more);
  }
}

typedef struct {
  int depth, items, width;
  int seen; // stack index of the table of tables being printed (cycle detection)
} pretty_cfg;

// Sort key of a non-sequence table key: numbers, then strings, then booleans, then the rest.
typedef struct {
  int cls;
  lua_Number num;
  const char *s;
  size_t len;
  int pos; // index in the keys table
} pkey;

static int pkey_cmp(const void *a_, const void *b_) {
  const pkey *a = a_, *b = b_;
  if (a->cls != b->cls) return a->cls < b->cls ? -1 : 1;
  if (a->cls == 0) return a->num < b->num ? -1 : a->num > b->num ? 1 : 0;
  size_t m = a->len < b->len ? a->len : b->len;
  int c = memcmp(a->s, b->s, m);
  if (c) return c;
  return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

static void pretty_value(lua_State *L, int idx, int level, const pretty_cfg *cfg);

static int has_newline(const char *s, size_t n) { return memchr(s, '\n', n) != NULL; }

// Render the table at idx (absolute) into a string pushed on the stack.
static void pretty_table(lua_State *L, int idx, int level, const pretty_cfg *cfg) {
  luaL_checkstack(L, 12, "pretty: nesting too deep");
  lua_pushvalue(L, idx);
  if (lua_rawget(L, cfg->seen) != LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushliteral(L, "<cycle>");
    return;
  }
  lua_pop(L, 1);
  lua_pushnil(L);
  int empty = !lua_next(L, idx);
  if (!empty) lua_pop(L, 2);
  if (empty) {
    lua_pushliteral(L, "{}");
    return;
  }
  if (level >= cfg->depth) {
    lua_pushliteral(L, "{...}");
    return;
  }
  lua_pushvalue(L, idx);
  lua_pushboolean(L, 1);
  lua_rawset(L, cfg->seen);

  lua_newtable(L); // parts: rendered items
  int parts = lua_gettop(L);
  int nparts = 0, nseq = 0, total = 0;
  // sequence part, 1..n while non-nil
  for (lua_Integer i = 1;; i++) {
    if (lua_rawgeti(L, idx, i) == LUA_TNIL) {
      lua_pop(L, 1);
      break;
    }
    total++;
    if (nparts < cfg->items) {
      pretty_value(L, lua_gettop(L), level + 1, cfg);
      lua_rawseti(L, parts, ++nparts);
      nseq++;
    }
    lua_pop(L, 1);
  }
  // other keys, sorted
  lua_newtable(L);
  int keys = lua_gettop(L);
  int nkeys = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_isinteger(L, -1)) {
      lua_Integer k = lua_tointeger(L, -1);
      if (k >= 1 && k <= total) continue; // in the sequence part
    }
    lua_pushvalue(L, -1);
    lua_rawseti(L, keys, ++nkeys);
  }
  total += nkeys;
  pkey *pk = lua_newuserdatauv(L, sizeof(pkey) * (size_t)(nkeys ? nkeys : 1), 0);
  lua_newtable(L); // anchors for tostring'd keys
  int anchors = lua_gettop(L);
  for (int i = 0; i < nkeys; i++) {
    lua_rawgeti(L, keys, i + 1);
    pkey *k = &pk[i];
    k->pos = i + 1;
    k->num = 0;
    k->s = NULL;
    k->len = 0;
    switch (lua_type(L, -1)) {
    case LUA_TNUMBER: k->cls = 0; k->num = lua_tonumber(L, -1); break;
    case LUA_TSTRING: k->cls = 1; k->s = lua_tolstring(L, -1, &k->len); break;
    case LUA_TBOOLEAN: k->cls = 2; k->s = lua_toboolean(L, -1) ? "true" : "false";
      k->len = strlen(k->s); break;
    default:
      k->cls = 3;
      k->s = luaL_tolstring(L, -1, &k->len);
      lua_rawseti(L, anchors, i + 1);
    }
    lua_pop(L, 1);
  }
  qsort(pk, (size_t)nkeys, sizeof *pk, pkey_cmp);
  for (int i = 0; i < nkeys && nparts < cfg->items; i++) {
    al_lbuf *b = al_lbuf_new(L);
    int bi = lua_gettop(L);
    lua_rawgeti(L, keys, pk[i].pos);
    int kt = lua_type(L, -1);
    if (kt == LUA_TSTRING && is_ident(pk[i].s, pk[i].len)) {
      al_lbuf_add(L, b, pk[i].s, pk[i].len);
    } else {
      al_lbuf_addc(L, b, '[');
      if (kt == LUA_TSTRING) add_quoted(L, b, pk[i].s, pk[i].len, 60);
      else {
        size_t n;
        const char *s = luaL_tolstring(L, -1, &n);
        al_lbuf_add(L, b, s, n);
        lua_pop(L, 1);
      }
      al_lbuf_addc(L, b, ']');
    }
    al_lbuf_adds(L, b, " = ");
    lua_rawget(L, idx); // value of the key on top
    pretty_value(L, lua_gettop(L), level + 1, cfg);
    size_t vn;
    const char *v = lua_tolstring(L, -1, &vn);
    al_lbuf_add(L, b, v, vn);
    lua_pop(L, 2);
    lua_pushlstring(L, b->p, b->n);
    lua_rawseti(L, parts, ++nparts);
    lua_settop(L, bi - 1);
  }
  lua_settop(L, parts);
  if (total > nparts) {
    lua_pushfstring(L, "... (%d more)", total - nparts);
    lua_rawseti(L, parts, ++nparts);
  }

  // layout: one line when it fits, else one keyed item per line and sequence items packed
  int budget = cfg->width - 2 * level;
  size_t len = 4;
  int multi = 0;
  for (int i = 1; i <= nparts; i++) {
    size_t n;
    lua_rawgeti(L, parts, i);
    const char *s = lua_tolstring(L, -1, &n);
    if (has_newline(s, n)) multi = 1;
    len += n + 2;
    lua_pop(L, 1);
  }
  if ((int)len > budget) multi = 1;
  al_lbuf *b = al_lbuf_new(L);
  if (!multi) {
    al_lbuf_adds(L, b, "{ ");
    for (int i = 1; i <= nparts; i++) {
      size_t n;
      lua_rawgeti(L, parts, i);
      const char *s = lua_tolstring(L, -1, &n);
      if (i > 1) al_lbuf_adds(L, b, ", ");
      al_lbuf_add(L, b, s, n);
      lua_pop(L, 1);
    }
    al_lbuf_adds(L, b, " }");
  } else {
    al_lbuf_addc(L, b, '{');
    int col = 0; // current column on a line of packed sequence items (0: at line start)
    for (int i = 1; i <= nparts; i++) {
      size_t n;
      lua_rawgeti(L, parts, i);
      const char *s = lua_tolstring(L, -1, &n);
      int packable = i <= nseq && !has_newline(s, n);
      if (!(packable && col > 0 && col + (int)n + 2 <= budget)) {
        al_lbuf_adds(L, b, "\n  ");
        col = 2;
      } else {
        al_lbuf_addc(L, b, ' ');
        col++;
      }
      for (size_t j = 0; j < n; j++) { // indent continuation lines of nested items
        al_lbuf_addc(L, b, s[j]);
        if (s[j] == '\n') al_lbuf_adds(L, b, "  ");
      }
      al_lbuf_addc(L, b, ',');
      col = packable ? col + (int)n + 1 : budget + 1;
      lua_pop(L, 1);
    }
    al_lbuf_adds(L, b, "\n}");
  }
  lua_pushlstring(L, b->p, b->n);
  lua_replace(L, parts);
  lua_settop(L, parts);
  lua_pushvalue(L, idx);
  lua_pushnil(L);
  lua_rawset(L, cfg->seen);
}

static void pretty_value(lua_State *L, int idx, int level, const pretty_cfg *cfg) {
  luaL_checkstack(L, 4, "pretty: nesting too deep");
  int t = lua_type(L, idx);
  if (t == LUA_TSTRING) {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    al_lbuf *b = al_lbuf_new(L);
    add_quoted(L, b, s, n, level == 0 ? (size_t)-1 : 200);
    lua_pushlstring(L, b->p, b->n);
    lua_remove(L, -2);
  } else if (t == LUA_TTABLE && luaL_getmetafield(L, idx, "__tostring") == LUA_TNIL) {
    pretty_table(L, idx, level, cfg);
  } else {
    if (t == LUA_TTABLE) lua_pop(L, 1); // the __tostring field
    luaL_tolstring(L, idx, NULL);
  }
}

void al_pretty_push(lua_State *L, int idx, int depth, int items, int width) {
  idx = lua_absindex(L, idx);
  lua_newtable(L);
  pretty_cfg cfg = {depth, items, width, lua_gettop(L)};
  pretty_value(L, idx, 0, &cfg);
  lua_remove(L, -2);
}

// al.core.pretty(v [, {depth=4, items=40, width=80}]) -> string
static int l_pretty(lua_State *L) {
  static const char *const known[] = {"depth", "items", "width", NULL};
  luaL_checkany(L, 1);
  al_lua_checkopts(L, 2, "pretty", known);
  int depth = (int)al_lua_optint(L, 2, "depth", 4);
  int items = (int)al_lua_optint(L, 2, "items", 40);
  int width = (int)al_lua_optint(L, 2, "width", 80);
  luaL_argcheck(L, depth >= 0 && items >= 1 && width >= 10, 2, "depth >= 0, items >= 1, width >= 10");
  al_pretty_push(L, 1, depth, items, width);
  return 1;
}

static const luaL_Reg pretty_funcs[] = {{"pretty", l_pretty}, {NULL, NULL}};

int al_open_pretty(lua_State *L) {
  luaL_setfuncs(L, pretty_funcs, 0);
  return 0;
}
