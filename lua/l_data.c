// alignlab shell: bindings of core module 'data' (core/al_data.h).
//   al.core.data.sft(path | records, tok, opts), al.core.data.preferences(path | records, tok, opts)
//     opts: max_len, too_long ("truncate" | "drop" | "error"), strict (default true), add_bos,
//     add_eos (default true), match_specials
//   al.core.data.prompt(tok, prompt [, opts]) -> ids ready for generation (string or messages)
//   al.core.data.render(messages [, { generation_prompt = }]) -> the chat template as text
//   al.core.data.chat_specials -> {"<|system|>", "<|user|>", "<|assistant|>", "<|end|>"}
//   userdata "al.Dataset": size, get(i), batches(B, { seed, shuffle, epoch, drop_last, pad_to }),
//     stats, kind; # gives the size. The dataset pins its tokenizer (user value 1).
// Records given from Lua are converted to cJSON objects and go through the same validation as
// JSONL lines; they are named "records[i]" in messages.
#include <stdlib.h>
#include <string.h>

#include "al_data.h"
#include "bind.h"
#include "bind_util.h"

#define AL_DATA_MT "al.Dataset"


typedef struct {
  al_dataset *d;
} ldata;

static ldata *checkdata(lua_State *L, int idx) {
  ldata *u = luaL_checkudata(L, idx, AL_DATA_MT);
  if (!u->d) luaL_error(L, "dataset is closed");
  return u;
}

// ---- Lua value -> cJSON (never raises; NULL and a message on error) ----

static cJSON *to_json(lua_State *L, int idx, char *err, size_t errn, const char *path, int depth) {
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    if (strlen(s) != n) {
      snprintf(err, errn, "%s contains a NUL byte", path);
      return NULL;
    }
    return cJSON_CreateString(s);
  }
  case LUA_TNUMBER: return cJSON_CreateNumber(lua_tonumber(L, idx));
  case LUA_TBOOLEAN: return cJSON_CreateBool(lua_toboolean(L, idx));
  case LUA_TTABLE: break;
  default: snprintf(err, errn, "%s: unsupported value (%s)", path, luaL_typename(L, idx)); return NULL;
  }
  if (depth > 8 || !lua_checkstack(L, 4)) {
    snprintf(err, errn, "%s: nested too deeply", path);
    return NULL;
  }
  size_t n = lua_rawlen(L, idx);
  int isarray = n > 0;
  if (!isarray) { // empty table or object: an object when it has a key
    lua_pushnil(L);
    isarray = !lua_next(L, idx);
    if (!isarray) lua_pop(L, 2);
  }
  char sub[256];
  if (isarray) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 1; a && i <= n; i++) {
      lua_rawgeti(L, idx, (lua_Integer)i);
      snprintf(sub, sizeof sub, "%s[%zu]", path, i - 1);
      cJSON *x = to_json(L, -1, err, errn, sub, depth + 1);
      lua_pop(L, 1);
      if (!x) {
        cJSON_Delete(a);
        return NULL;
      }
      cJSON_AddItemToArray(a, x);
    }
    return a;
  }
  cJSON *o = cJSON_CreateObject();
  lua_pushnil(L);
  while (o && lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      lua_pop(L, 2);
      snprintf(err, errn, "%s: keys must be strings", path);
      cJSON_Delete(o);
      return NULL;
    }
    const char *k = lua_tostring(L, -2);
    snprintf(sub, sizeof sub, "%s.%s", path, k);
    cJSON *x = to_json(L, -1, err, errn, sub, depth + 1);
    lua_pop(L, 1);
    if (!x) {
      lua_pop(L, 1);
      cJSON_Delete(o);
      return NULL;
    }
    cJSON_AddItemToObject(o, k, x);
  }
  return o;
}

// ---- constructors ----

static void read_opts(lua_State *L, int idx, const char *fname, al_data_opts *o) {
  static const char *const known[] = {"max_len", "too_long", "strict", "add_bos", "add_eos",
                                      "match_specials", NULL};
  al_lua_checkopts(L, idx, fname, known);
  *o = al_data_defaults();
  lua_Integer ml = al_lua_optint(L, idx, "max_len", 0);
  if (ml < 0 || ml > 1 << 30) luaL_error(L, "%s: max_len must be >= 0", fname);
  o->max_len = (int)ml;
  const char *tl = al_lua_optstr(L, idx, "too_long", "truncate");
  if (!strcmp(tl, "truncate")) o->too_long = AL_TOO_LONG_TRUNCATE;
  else if (!strcmp(tl, "drop")) o->too_long = AL_TOO_LONG_DROP;
  else if (!strcmp(tl, "error")) o->too_long = AL_TOO_LONG_ERROR;
  else luaL_error(L, "%s: too_long must be \"truncate\", \"drop\" or \"error\" (got \"%s\")", fname, tl);
  o->strict = al_lua_optbool(L, idx, "strict", 1);
  o->add_bos = al_lua_optbool(L, idx, "add_bos", 0);
  o->add_eos = al_lua_optbool(L, idx, "add_eos", 1);
  o->match_specials = al_lua_optbool(L, idx, "match_specials", 0);
}

static int make(lua_State *L, al_data_kind kind, const char *fname) {
  al_tok *t = al_lua_checktok(L, 2);
  al_data_opts o;
  read_opts(L, 3, fname, &o);
  if (lua_type(L, 1) != LUA_TSTRING && lua_type(L, 1) != LUA_TTABLE)
    return luaL_typeerror(L, 1, "file path or list of records");
  ldata *u = lua_newuserdatauv(L, sizeof *u, 1);
  u->d = NULL;
  luaL_setmetatable(L, AL_DATA_MT);
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, -2, 1); // pin the tokenizer
  if (al_data_new(&u->d, kind, t, &o) != AL_OK) return al_lua_fail(L);
  if (lua_type(L, 1) == LUA_TSTRING) {
    if (al_data_add_jsonl(u->d, lua_tostring(L, 1)) != AL_OK) return al_lua_fail(L);
    return 1;
  }
  int n = (int)lua_rawlen(L, 1);
  char err[512], path[64];
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    snprintf(path, sizeof path, "records[%d]", i);
    err[0] = '\0';
    cJSON *rec = to_json(L, -1, err, sizeof err, path, 0);
    lua_pop(L, 1);
    al_status st;
    if (!rec) { // a value JSON cannot hold: an error when strict, else counted as skipped
      if (o.strict) {
        al_seterr(AL_EFORMAT, "records:%d: %s", i, err);
        return al_lua_fail(L);
      }
      cJSON *bad = cJSON_CreateNull();
      st = al_data_add(u->d, bad, "records", i);
      cJSON_Delete(bad);
    } else {
      st = al_data_add(u->d, rec, "records", i);
      cJSON_Delete(rec);
    }
    if (st != AL_OK) return al_lua_fail(L);
  }
  return 1;
}

static int l_sft(lua_State *L) { return make(L, AL_DATA_SFT, "data.sft"); }
static int l_prefs(lua_State *L) { return make(L, AL_DATA_PREF, "data.preferences"); }

static int l_prompt(lua_State *L) {
  al_tok *t = al_lua_checktok(L, 1);
  luaL_checkany(L, 2);
  al_data_opts o;
  read_opts(L, 3, "data.prompt", &o);
  char err[512] = "";
  cJSON *p = to_json(L, 2, err, sizeof err, "prompt", 0);
  if (!p) return luaL_error(L, "data.prompt: %s", err);
  int *ids, n;
  al_status st = al_data_prompt_ids(t, p, &o, &ids, &n);
  cJSON_Delete(p);
  if (st != AL_OK) return al_lua_fail(L);
  al_lua_pushints(L, ids, n);
  free(ids);
  return 1;
}

static int l_render(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  static const char *const known[] = {"generation_prompt", NULL};
  al_lua_checkopts(L, 2, "data.render", known);
  int gp = al_lua_optbool(L, 2, "generation_prompt", 0);
  char err[512] = "";
  cJSON *m = to_json(L, 1, err, sizeof err, "messages", 0);
  if (!m) return luaL_error(L, "data.render: %s", err);
  char *s;
  al_status st = al_data_render(m, gp, &s);
  cJSON_Delete(m);
  if (st != AL_OK) return al_lua_fail(L);
  lua_pushstring(L, s);
  free(s);
  return 1;
}

// ---- methods ----

static void push_seq(lua_State *L, const al_seq *s, int with_prompt) {
  lua_createtable(L, 0, 4);
  al_lua_pushints(L, s->ids, s->len);
  lua_setfield(L, -2, "tokens");
  lua_createtable(L, s->len, 0);
  for (int i = 0; i < s->len; i++) {
    lua_pushinteger(L, s->mask[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "mask");
  lua_pushinteger(L, s->len);
  lua_setfield(L, -2, "len");
  if (with_prompt) {
    lua_pushinteger(L, s->prompt_len);
    lua_setfield(L, -2, "prompt_len");
  }
}

static int m_size(lua_State *L) {
  lua_pushinteger(L, al_data_size(checkdata(L, 1)->d));
  return 1;
}

static int m_kind(lua_State *L) {
  lua_pushstring(L, al_data_kind_of(checkdata(L, 1)->d) == AL_DATA_SFT ? "sft" : "preferences");
  return 1;
}

// get(i), 1-based: SFT { tokens, mask, len, prompt_len, line, truncated };
// preferences { chosen = {tokens, mask, len}, rejected = {...}, prompt_len, line, truncated }
static int m_get(lua_State *L) {
  al_dataset *d = checkdata(L, 1)->d;
  lua_Integer i = luaL_checkinteger(L, 2);
  const al_example *e = al_data_get(d, (int)(i - 1));
  if (i < 1 || i > al_data_size(d) || !e)
    return luaL_error(L, "get: index %d out of range [1, %d]", (int)i, al_data_size(d));
  if (al_data_kind_of(d) == AL_DATA_SFT) {
    push_seq(L, &e->seq, 1);
  } else {
    lua_createtable(L, 0, 5);
    push_seq(L, &e->seq, 0);
    lua_setfield(L, -2, "chosen");
    push_seq(L, &e->rejected, 0);
    lua_setfield(L, -2, "rejected");
    lua_pushinteger(L, e->seq.prompt_len);
    lua_setfield(L, -2, "prompt_len");
  }
  lua_pushinteger(L, e->line);
  lua_setfield(L, -2, "line");
  lua_pushboolean(L, e->truncated);
  lua_setfield(L, -2, "truncated");
  return 1;
}

static int m_stats(lua_State *L) {
  const al_data_stats *s = al_data_get_stats(checkdata(L, 1)->d);
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, s->lines);
  lua_setfield(L, -2, "lines");
  lua_pushinteger(L, s->kept);
  lua_setfield(L, -2, "kept");
  lua_pushinteger(L, s->skipped);
  lua_setfield(L, -2, "skipped");
  lua_pushinteger(L, s->truncated);
  lua_setfield(L, -2, "truncated");
  lua_pushinteger(L, s->dropped);
  lua_setfield(L, -2, "dropped");
  if (s->first_error[0]) {
    lua_pushstring(L, s->first_error);
    lua_setfield(L, -2, "first_error");
  }
  return 1;
}

// Push {tokens = {{...}}, mask = {{...}}, lens = {...}, prompt_lens = {...}} from a batch.
static void push_batch(lua_State *L, const al_batch *b) {
  lua_createtable(L, 0, 4);
  lua_createtable(L, b->B, 0);
  for (int i = 0; i < b->B; i++) {
    al_lua_pushints(L, b->tokens + (size_t)i * b->T, b->T);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "tokens");
  lua_createtable(L, b->B, 0);
  for (int i = 0; i < b->B; i++) {
    lua_createtable(L, b->T, 0);
    for (int t = 0; t < b->T; t++) {
      lua_pushinteger(L, (lua_Integer)b->mask[(size_t)i * b->T + t]);
      lua_rawseti(L, -2, t + 1);
    }
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "mask");
  al_lua_pushints(L, b->lens, b->B);
  lua_setfield(L, -2, "lens");
  al_lua_pushints(L, b->prompt_lens, b->B);
  lua_setfield(L, -2, "prompt_lens");
}

// iterator state (userdata, upvalue 2): the epoch's order and the position
typedef struct {
  int n, pos, B, pad_to, drop_last;
  int perm[];
} iterstate;

static int batch_iter(lua_State *L) {
  ldata *u = checkdata(L, lua_upvalueindex(1));
  iterstate *s = lua_touserdata(L, lua_upvalueindex(2));
  int left = s->n - s->pos;
  if (left <= 0 || (s->drop_last && left < s->B)) return 0;
  int B = left < s->B ? left : s->B;
  const int *idx = s->perm + s->pos;
  s->pos += B;
  al_batch c, r = {0};
  if (al_data_batch(u->d, idx, B, 0, s->pad_to, &c) != AL_OK) return al_lua_fail(L);
  int pref = al_data_kind_of(u->d) == AL_DATA_PREF;
  if (pref && al_data_batch(u->d, idx, B, 1, s->pad_to, &r) != AL_OK) {
    al_batch_free(&c);
    return al_lua_fail(L);
  }
  if (pref) {
    lua_createtable(L, 0, 6);
    push_batch(L, &c);
    lua_setfield(L, -2, "chosen");
    push_batch(L, &r);
    lua_setfield(L, -2, "rejected");
    al_lua_pushints(L, c.prompt_lens, B);
    lua_setfield(L, -2, "prompt_lens");
  } else {
    push_batch(L, &c);
  }
  lua_createtable(L, B, 0);
  for (int i = 0; i < B; i++) {
    lua_pushinteger(L, idx[i] + 1);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "index");
  lua_pushinteger(L, B);
  lua_setfield(L, -2, "B");
  lua_pushinteger(L, c.T);
  lua_setfield(L, -2, "T");
  al_batch_free(&c);
  al_batch_free(&r);
  return 1;
}

// batches(B, { seed = 0, shuffle = true, epoch = 0, drop_last = false, pad_to = 0 })
static int m_batches(lua_State *L) {
  ldata *u = checkdata(L, 1);
  lua_Integer B = luaL_checkinteger(L, 2);
  if (B < 1) return luaL_argerror(L, 2, "batch size must be >= 1");
  static const char *const known[] = {"seed", "shuffle", "epoch", "drop_last", "pad_to", NULL};
  al_lua_checkopts(L, 3, "batches", known);
  lua_Integer seed = al_lua_optint(L, 3, "seed", 0);
  lua_Integer epoch = al_lua_optint(L, 3, "epoch", 0);
  int shuffle = al_lua_optbool(L, 3, "shuffle", 1);
  int drop_last = al_lua_optbool(L, 3, "drop_last", 0);
  lua_Integer pad_to = al_lua_optint(L, 3, "pad_to", 0);
  if (pad_to < 0 || epoch < 0) return luaL_error(L, "batches: pad_to and epoch must be >= 0");
  int n = al_data_size(u->d);
  lua_pushvalue(L, 1);
  iterstate *s = lua_newuserdatauv(L, sizeof *s + sizeof(int) * (size_t)(n ? n : 1), 0);
  s->n = n;
  s->pos = 0;
  s->B = (int)(B > 1 << 30 ? 1 << 30 : B);
  s->pad_to = (int)pad_to;
  s->drop_last = drop_last;
  al_rng rng;
  // stream 0xDA7A + epoch: one independent order per epoch from one seed
  al_rng_seed(&rng, (uint64_t)seed, 0xDA7Au + (uint64_t)epoch);
  al_data_order(n, shuffle, &rng, s->perm);
  lua_pushcclosure(L, batch_iter, 2);
  return 1;
}

static int m_gc(lua_State *L) {
  ldata *u = luaL_checkudata(L, 1, AL_DATA_MT);
  al_data_free(u->d);
  u->d = NULL;
  return 0;
}

static int m_tostring(lua_State *L) {
  ldata *u = luaL_checkudata(L, 1, AL_DATA_MT);
  if (!u->d) {
    lua_pushstring(L, "al.Dataset (closed)");
    return 1;
  }
  const al_data_stats *s = al_data_get_stats(u->d);
  lua_pushfstring(L, "al.Dataset(%s, %d examples; %d skipped, %d truncated, %d dropped)",
                  al_data_kind_of(u->d) == AL_DATA_SFT ? "sft" : "preferences",
                  al_data_size(u->d), (int)s->skipped, (int)s->truncated, (int)s->dropped);
  return 1;
}

static const luaL_Reg data_methods[] = {{"size", m_size},   {"get", m_get},
                                        {"batches", m_batches}, {"stats", m_stats},
                                        {"kind", m_kind},   {NULL, NULL}};

int al_open_data(lua_State *L) {
  al_lua_defclass(L, AL_DATA_MT, data_methods, NULL, m_gc, m_tostring, m_size);

  static const luaL_Reg f[] = {{"sft", l_sft},       {"preferences", l_prefs},
                               {"prompt", l_prompt}, {"render", l_render},
                               {NULL, NULL}};
  luaL_newlib(L, f);
  static const char *const chat[] = {AL_DATA_CHAT_SPECIALS};
  lua_createtable(L, 4, 0);
  for (int i = 0; i < 4; i++) {
    lua_pushstring(L, chat[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "chat_specials");
  lua_setfield(L, -2, "data");
  return 0;
}
