// alignlab shell: bindings of core module 'tok' (core/al_tok.h).
//   al.core.bpe.train(texts | path, { vocab =, specials =, bos =, eos =, pad =, min_count = })
//   al.core.tokenizer.load(path), .words(list, { specials =, unk =, bos =, eos =, pad = }),
//     .from_json(string)
//   al.core.corpus(name, { max_bytes = }) -> list of documents; al.core.corpus_path(name)
//   userdata "al.Tokenizer": encode, decode, size, id, token, is_special, save, export_hf,
//     to_json, kind, merges; fields bos, eos, pad, unk (ids or nil). Ids are 0-based values.
// Role options (bos, eos, pad): a string names the special (added when absent), false = none,
// nil = the default (al_tok.h).
#include <stdlib.h>
#include <string.h>

#include "al_tok.h"
#include "bind.h"
#include "l_util.h"
#include "bind_util.h"

#define AL_TOK_MT "al.Tokenizer"

typedef struct {
  al_tok *t;
} ltok;

al_tok *al_lua_checktok(lua_State *L, int idx) {
  ltok *u = luaL_checkudata(L, idx, AL_TOK_MT);
  if (!u->t) luaL_error(L, "tokenizer is closed");
  return u->t;
}

void al_lua_pushtok(lua_State *L, al_tok *t) {
  ltok *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->t = t;
  luaL_setmetatable(L, AL_TOK_MT);
}

// A new empty tokenizer userdata (so a Lua error before the core returns cannot leak it).
static ltok *newtok(lua_State *L) {
  ltok *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->t = NULL;
  luaL_setmetatable(L, AL_TOK_MT);
  return u;
}

// ---- option helpers ----

// Role option: string, false (-> ""), nil (-> NULL).
static const char *optrole(lua_State *L, int idx, const char *key) {
  if (lua_isnoneornil(L, idx)) return NULL;
  int t = lua_getfield(L, idx, key);
  const char *v = NULL;
  if (t == LUA_TSTRING) v = lua_tostring(L, -1); // kept alive by the options table
  else if (t == LUA_TBOOLEAN && !lua_toboolean(L, -1)) v = "";
  else if (t != LUA_TNIL) luaL_error(L, "option '%s' must be a string or false", key);
  lua_pop(L, 1);
  return v;
}

// opts.specials as a C array in a userdata left on the stack (strings kept by the options table).
static const char **optspecials(lua_State *L, int idx, int *n) {
  *n = 0;
  if (lua_isnoneornil(L, idx)) {
    lua_pushnil(L);
    return NULL;
  }
  int t = lua_getfield(L, idx, "specials");
  if (t == LUA_TNIL) return NULL; // nil stays on the stack
  if (t != LUA_TTABLE) luaL_error(L, "option 'specials' must be a list of strings");
  int k = (int)lua_rawlen(L, -1);
  const char **a = lua_newuserdatauv(L, sizeof(char *) * (size_t)(k ? k : 1), 0);
  for (int i = 1; i <= k; i++) {
    lua_rawgeti(L, -2, i);
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "specials[%d] must be a string", i);
    size_t len;
    a[i - 1] = lua_tolstring(L, -1, &len);
    if (strlen(a[i - 1]) != len) luaL_error(L, "specials[%d] contains a NUL byte", i);
    lua_pop(L, 1);
  }
  lua_remove(L, -2);
  *n = k;
  return a;
}

// ---- constructors ----

static int l_bpe_train(lua_State *L) {
  static const char *const known[] = {"vocab", "specials", "bos", "eos", "pad", "min_count", NULL};
  al_lua_checkopts(L, 2, "bpe.train", known);
  al_bpe_opts o = {0};
  o.vocab = (int)al_lua_optint(L, 2, "vocab", 1000);
  o.min_count = (int)al_lua_optint(L, 2, "min_count", 2);
  o.sp.bos = optrole(L, 2, "bos");
  o.sp.eos = optrole(L, 2, "eos");
  o.sp.pad = optrole(L, 2, "pad");
  o.sp.specials = optspecials(L, 2, &o.sp.nspecials);
  int n;
  const char **texts;
  size_t *lens;
  if (lua_type(L, 1) == LUA_TSTRING) { // a file path: the whole file is one text
    // the whole file, owned by a buffer on the stack (kept there while texts[0] points into it)
    al_lbuf *b = al_lua_read_file(L, "bpe.train", lua_tostring(L, 1));
    n = 1;
    texts = lua_newuserdatauv(L, sizeof(char *), 0);
    lens = lua_newuserdatauv(L, sizeof(size_t), 0);
    texts[0] = b->p ? b->p : "";
    lens[0] = b->n;
  } else {
    luaL_checktype(L, 1, LUA_TTABLE);
    n = (int)lua_rawlen(L, 1);
    texts = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n ? n : 1), 0);
    lens = lua_newuserdatauv(L, sizeof(size_t) * (size_t)(n ? n : 1), 0);
    for (int i = 1; i <= n; i++) {
      lua_rawgeti(L, 1, i);
      if (lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "bpe.train: texts[%d] must be a string (got %s)", i, luaL_typename(L, -1));
      texts[i - 1] = lua_tolstring(L, -1, &lens[i - 1]); // the list keeps the string alive
      lua_pop(L, 1);
    }
  }
  ltok *u = newtok(L);
  if (al_bpe_train(&u->t, texts, lens, n, &o) != AL_OK) return al_lua_fail(L);
  return 1;
}

static int l_tok_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  ltok *u = newtok(L);
  if (al_tok_load(&u->t, path) != AL_OK) return al_lua_fail(L);
  return 1;
}

static int l_tok_from_json(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  const char *name = luaL_optstring(L, 2, "string");
  ltok *u = newtok(L);
  if (al_tok_from_json(&u->t, s, n, name) != AL_OK) return al_lua_fail(L);
  return 1;
}

static int l_tok_words(lua_State *L) {
  static const char *const known[] = {"specials", "unk", "bos", "eos", "pad", NULL};
  luaL_checktype(L, 1, LUA_TTABLE);
  al_lua_checkopts(L, 2, "tokenizer.words", known);
  al_tok_specials sp = {0};
  sp.bos = optrole(L, 2, "bos");
  sp.eos = optrole(L, 2, "eos");
  sp.pad = optrole(L, 2, "pad");
  const char *unk = al_lua_optstr(L, 2, "unk", NULL);
  sp.specials = optspecials(L, 2, &sp.nspecials);
  int n = (int)lua_rawlen(L, 1);
  const char **w = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n ? n : 1), 0);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    if (lua_type(L, -1) != LUA_TSTRING)
      return luaL_error(L, "tokenizer.words: words[%d] must be a string (got %s)", i,
                        luaL_typename(L, -1));
    w[i - 1] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  ltok *u = newtok(L);
  if (al_tok_words(&u->t, w, n, &sp, unk) != AL_OK) return al_lua_fail(L);
  return 1;
}

// ---- methods ----

static int m_encode(lua_State *L) {
  al_tok *t = al_lua_checktok(L, 1);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  static const char *const known[] = {"specials", NULL};
  al_lua_checkopts(L, 3, "encode", known);
  int sp = al_lua_optbool(L, 3, "specials", 0);
  int *ids, k;
  if (al_tok_encode(t, s, n, sp, &ids, &k) != AL_OK) return al_lua_fail(L);
  al_lua_pushints(L, ids, k);
  free(ids);
  return 1;
}

static int m_decode(lua_State *L) {
  al_tok *t = al_lua_checktok(L, 1);
  int n;
  int *ids = al_lua_toints(L, 2, "decode", &n);
  char *s;
  size_t len;
  al_status st = al_tok_decode(t, ids, n, &s, &len);
  free(ids);
  if (st != AL_OK) return al_lua_fail(L);
  lua_pushlstring(L, s, len);
  free(s);
  return 1;
}

static int m_size(lua_State *L) {
  lua_pushinteger(L, al_tok_size(al_lua_checktok(L, 1)));
  return 1;
}

static int m_id(lua_State *L) {
  al_tok *t = al_lua_checktok(L, 1);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  int id = al_tok_id(t, s, n);
  if (id < 0) lua_pushnil(L);
  else lua_pushinteger(L, id);
  return 1;
}

static int m_token(lua_State *L) {
  al_tok *t = al_lua_checktok(L, 1);
  lua_Integer id = luaL_checkinteger(L, 2);
  size_t n;
  const char *s = (id >= 0 && id < al_tok_size(t)) ? al_tok_token(t, (int)id, &n) : NULL;
  if (!s) lua_pushnil(L);
  else lua_pushlstring(L, s, n);
  return 1;
}

static int m_is_special(lua_State *L) {
  al_tok *t = al_lua_checktok(L, 1);
  lua_Integer id = luaL_checkinteger(L, 2);
  lua_pushboolean(L, id >= 0 && id < al_tok_size(t) && al_tok_is_special(t, (int)id));
  return 1;
}

static int m_save(lua_State *L) {
  al_tok *t = al_lua_checktok(L, 1);
  if (al_tok_save(t, luaL_checkstring(L, 2)) != AL_OK) return al_lua_fail(L);
  return 0;
}

static int m_export_hf(lua_State *L) {
  al_tok *t = al_lua_checktok(L, 1);
  if (al_tok_export_hf(t, luaL_checkstring(L, 2)) != AL_OK) return al_lua_fail(L);
  return 0;
}

static int m_to_json(lua_State *L) {
  char *s;
  if (al_tok_to_json(al_lua_checktok(L, 1), &s) != AL_OK) return al_lua_fail(L);
  lua_pushstring(L, s);
  free(s);
  return 1;
}

static int m_kind(lua_State *L) {
  lua_pushstring(L, al_tok_kind_of(al_lua_checktok(L, 1)) == AL_TOK_BPE ? "bpe" : "words");
  return 1;
}

// merges() -> list of {a, b, out} (0-based ids), in rank order
static int m_merges(lua_State *L) {
  al_tok *t = al_lua_checktok(L, 1);
  int n = al_tok_nmerges(t);
  lua_createtable(L, n, 0);
  for (int k = 0; k < n; k++) {
    int a, b, o;
    al_tok_merge(t, k, &a, &b, &o);
    lua_createtable(L, 3, 0);
    lua_pushinteger(L, a);
    lua_rawseti(L, -2, 1);
    lua_pushinteger(L, b);
    lua_rawseti(L, -2, 2);
    lua_pushinteger(L, o);
    lua_rawseti(L, -2, 3);
    lua_rawseti(L, -2, k + 1);
  }
  return 1;
}

static int m_gc(lua_State *L) {
  ltok *u = luaL_checkudata(L, 1, AL_TOK_MT);
  al_tok_free(u->t);
  u->t = NULL;
  return 0;
}

static int m_tostring(lua_State *L) {
  ltok *u = luaL_checkudata(L, 1, AL_TOK_MT);
  if (!u->t) lua_pushstring(L, "al.Tokenizer (closed)");
  else
    lua_pushfstring(L, "al.Tokenizer(%s, %d ids: %d ordinary + %d special)",
                    al_tok_kind_of(u->t) == AL_TOK_BPE ? "bpe" : "words", al_tok_size(u->t),
                    al_tok_nbase(u->t), al_tok_size(u->t) - al_tok_nbase(u->t));
  return 1;
}

static const luaL_Reg tok_methods[] = {
    {"encode", m_encode}, {"decode", m_decode},   {"size", m_size},
    {"id", m_id},         {"token", m_token},     {"is_special", m_is_special},
    {"save", m_save},     {"export_hf", m_export_hf}, {"to_json", m_to_json},
    {"kind", m_kind},     {"merges", m_merges},   {NULL, NULL}};

// __index: methods first, then the role fields (nil when the tokenizer has no such role)
static int m_index(lua_State *L) {
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  const char *k = lua_tostring(L, 2);
  if (!k) return 0;
  al_tok *t = al_lua_checktok(L, 1);
  int id = -2;
  if (!strcmp(k, "bos")) id = al_tok_bos(t);
  else if (!strcmp(k, "eos")) id = al_tok_eos(t);
  else if (!strcmp(k, "pad")) id = al_tok_pad(t);
  else if (!strcmp(k, "unk")) id = al_tok_unk(t);
  if (id < 0) lua_pushnil(L);
  else lua_pushinteger(L, id);
  return 1;
}

// ---- corpora ----

static int l_corpus(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  static const char *const known[] = {"max_bytes", NULL};
  al_lua_checkopts(L, 2, "corpus", known);
  lua_Integer mb = al_lua_optint(L, 2, "max_bytes", 0);
  if (mb < 0) return luaL_error(L, "corpus: max_bytes must be >= 0");
  al_corpus *c;
  if (al_corpus_load(&c, name, (size_t)mb) != AL_OK) return al_lua_fail(L);
  // copy into Lua strings; a memory error here would leak c, so check the stack first
  luaL_checkstack(L, 4, "corpus");
  lua_createtable(L, c->n, 0);
  for (int i = 0; i < c->n; i++) {
    lua_pushlstring(L, c->docs[i], c->lens[i]);
    lua_rawseti(L, -2, i + 1);
  }
  al_corpus_free(c);
  return 1;
}

static int l_corpus_path(lua_State *L) {
  char buf[4096];
  const char *p = al_corpus_path(luaL_checkstring(L, 1), buf, sizeof buf);
  if (!p) lua_pushnil(L);
  else lua_pushstring(L, p);
  return 1;
}

int al_open_tok(lua_State *L) {
  al_lua_defclass(L, AL_TOK_MT, tok_methods, m_index, m_gc, m_tostring, m_size);

  static const luaL_Reg tokf[] = {
      {"load", l_tok_load}, {"words", l_tok_words}, {"from_json", l_tok_from_json}, {NULL, NULL}};
  luaL_newlib(L, tokf);
  lua_setfield(L, -2, "tokenizer");
  static const luaL_Reg bpef[] = {{"train", l_bpe_train}, {"load", l_tok_load}, {NULL, NULL}};
  luaL_newlib(L, bpef);
  lua_setfield(L, -2, "bpe");
  lua_pushcfunction(L, l_corpus);
  lua_setfield(L, -2, "corpus");
  lua_pushcfunction(L, l_corpus_path);
  lua_setfield(L, -2, "corpus_path");
  return 0;
}
