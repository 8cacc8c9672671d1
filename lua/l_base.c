// alignlab shell: the generic part of "al.core" and the helpers every binding file uses.
//   helpers of bind.h: al_lua_fail, al_lua_checkopts, al_lua_opt*, al_lua_toints, al_lua_push*
//   Ctrl-C: the SIGINT handler, the hook that raises "interrupted", al_lua_interrupted()
//   al.core: version, time, isatty, mkdir_p, hash, nthreads, set_threads, pretty, rng (al.Rng),
//            json {decode, encode, read, write, null, array}, jsonl {lines, write}
// JSON is parsed by cJSON; it is written by our own encoder (sorted keys, exact 64-bit integers,
// two-space indentation) into a buffer owned by the garbage collector, so a Lua error in the
// middle of a value (NaN, a function, a cycle) leaks nothing. Model bindings live in l_gpt.c.
#include "shell.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

// ---- Ctrl-C -------------------------------------------------------------------------------------

volatile sig_atomic_t al_shell_sigint = 0;
volatile sig_atomic_t al_shell_sigints = 0;
static lua_State *sig_L;
static volatile sig_atomic_t sig_hard;

int al_lua_interrupted(void) {
  if (!al_shell_sigint) return 0;
  al_shell_sigint = 0;
  return 1;
}

static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  al_shell_sigint = 0; // consumed here: the next C loop must not see it again
  luaL_error(L, "interrupted");
}

// Async-signal-safe: sets flags and a hook (lua_sethook is safe to call from a signal handler,
// as lua.c relies on). The hook raises the error at the next Lua instruction.
static void on_sigint(int sig) {
  if (sig_hard && al_shell_sigint) { // second Ctrl-C while the first is still pending
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  al_shell_sigint = 1;
  al_shell_sigints++;
  if (sig_L)
    lua_sethook(sig_L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

void al_shell_catch_sigint(lua_State *L, int hard) {
  sig_L = L;
  sig_hard = hard;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
}

void al_shell_clear_sigint(lua_State *L) {
  al_shell_sigint = 0;
  lua_sethook(L, NULL, 0, 0);
}

// ---- a growable byte buffer owned by the garbage collector ---------------------------------------

typedef struct {
  char *p;
  size_t n, cap;
} sbuf;

#define SBUF_MT "al.core.buffer"

static int sbuf_gc(lua_State *L) {
  sbuf *b = luaL_checkudata(L, 1, SBUF_MT);
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
  return 0;
}

// Push a new empty buffer; it is freed by the GC, even when a Lua error unwinds past its user.
static sbuf *sbuf_new(lua_State *L) {
  sbuf *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->p = NULL;
  b->n = b->cap = 0;
  if (luaL_newmetatable(L, SBUF_MT)) {
    lua_pushcfunction(L, sbuf_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return b;
}

static void sbuf_reserve(lua_State *L, sbuf *b, size_t extra) {
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

static void sbuf_add(lua_State *L, sbuf *b, const char *s, size_t n) {
  sbuf_reserve(L, b, n);
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void sbuf_adds(lua_State *L, sbuf *b, const char *s) { sbuf_add(L, b, s, strlen(s)); }

static void sbuf_addc(lua_State *L, sbuf *b, char c) { sbuf_add(L, b, &c, 1); }

// ---- small functions -------------------------------------------------------------------------------

// al.core.time() -> monotonic seconds (double), for rates and ETAs.
static int l_time(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + 1e-9 * (lua_Number)ts.tv_nsec);
  return 1;
}

// al.core.isatty(fd) -> boolean; fd is 0/1/2 or "stdin"/"stdout"/"stderr".
static int l_isatty(lua_State *L) {
  int fd;
  if (lua_type(L, 1) == LUA_TSTRING) {
    static const char *const names[] = {"stdin", "stdout", "stderr", NULL};
    fd = luaL_checkoption(L, 1, NULL, names);
  } else {
    fd = (int)luaL_checkinteger(L, 1);
  }
  lua_pushboolean(L, isatty(fd));
  return 1;
}

// al.core.mkdir_p(path) -> true; creates every missing directory; raises on failure.
static int l_mkdir_p(lua_State *L) {
  size_t n;
  const char *path = luaL_checklstring(L, 1, &n);
  if (n == 0) return luaL_error(L, "mkdir_p: empty path");
  sbuf *b = sbuf_new(L);
  sbuf_add(L, b, path, n);
  char *p = b->p;
  for (size_t i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != '\0') continue;
    char c = p[i];
    p[i] = '\0';
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
      int e = errno;
      return luaL_error(L, "mkdir_p: cannot create '%s': %s", p, strerror(e));
    }
    p[i] = c;
  }
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
    return luaL_error(L, "mkdir_p: '%s' exists and is not a directory", path);
  lua_pushboolean(L, 1);
  return 1;
}

// 64-bit FNV-1a (offset 0xcbf29ce484222325, prime 0x100000001b3): stable across platforms.
static uint64_t fnv1a(const char *s, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

// al.core.hash(s) -> 16 lowercase hex digits of the 64-bit FNV-1a hash of the bytes of s.
static int l_hash(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv1a(s, n));
  lua_pushstring(L, hex);
  return 1;
}

// al.core.nthreads() -> OpenBLAS threads, OpenMP threads.
static int l_nthreads(lua_State *L) {
  lua_pushinteger(L, openblas_get_num_threads());
  lua_pushinteger(L, omp_get_max_threads());
  return 2;
}

// al.core.set_threads(n): both OpenBLAS and OpenMP use n threads (n >= 1).
static int l_set_threads(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n >= 1 && n <= 4096, 1, "thread count must be in [1, 4096]");
  openblas_set_num_threads((int)n);
  omp_set_num_threads((int)n);
  return 0;
}

// ---- pretty printing ------------------------------------------------------------------------------

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
static void add_quoted(lua_State *L, sbuf *b, const char *s, size_t n, size_t max) {
  sbuf_addc(L, b, '"');
  size_t m = n > max ? max : n;
  for (size_t i = 0; i < m; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    switch (c) {
    case '"': sbuf_adds(L, b, "\\\""); break;
    case '\\': sbuf_adds(L, b, "\\\\"); break;
    case '\n': sbuf_adds(L, b, "\\n"); break;
    case '\r': sbuf_adds(L, b, "\\r"); break;
    case '\t': sbuf_adds(L, b, "\\t"); break;
    default:
      if (c < 32 || c == 127) {
        snprintf(esc, sizeof esc, "\\%d", c);
        sbuf_adds(L, b, esc);
      } else {
        sbuf_addc(L, b, (char)c);
      }
    }
  }
  sbuf_addc(L, b, '"');
  if (m < n) {
    char more[48];
    snprintf(more, sizeof more, "...(%zu bytes)", n);
    sbuf_adds(L, b, more);
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
    sbuf *b = sbuf_new(L);
    int bi = lua_gettop(L);
    lua_rawgeti(L, keys, pk[i].pos);
    int kt = lua_type(L, -1);
    if (kt == LUA_TSTRING && is_ident(pk[i].s, pk[i].len)) {
      sbuf_add(L, b, pk[i].s, pk[i].len);
    } else {
      sbuf_addc(L, b, '[');
      if (kt == LUA_TSTRING) add_quoted(L, b, pk[i].s, pk[i].len, 60);
      else {
        size_t n;
        const char *s = luaL_tolstring(L, -1, &n);
        sbuf_add(L, b, s, n);
        lua_pop(L, 1);
      }
      sbuf_addc(L, b, ']');
    }
    sbuf_adds(L, b, " = ");
    lua_rawget(L, idx); // value of the key on top
    pretty_value(L, lua_gettop(L), level + 1, cfg);
    size_t vn;
    const char *v = lua_tolstring(L, -1, &vn);
    sbuf_add(L, b, v, vn);
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
  sbuf *b = sbuf_new(L);
  if (!multi) {
    sbuf_adds(L, b, "{ ");
    for (int i = 1; i <= nparts; i++) {
      size_t n;
      lua_rawgeti(L, parts, i);
      const char *s = lua_tolstring(L, -1, &n);
      if (i > 1) sbuf_adds(L, b, ", ");
      sbuf_add(L, b, s, n);
      lua_pop(L, 1);
    }
    sbuf_adds(L, b, " }");
  } else {
    sbuf_addc(L, b, '{');
    int col = 0; // current column on a line of packed sequence items (0: at line start)
    for (int i = 1; i <= nparts; i++) {
      size_t n;
      lua_rawgeti(L, parts, i);
      const char *s = lua_tolstring(L, -1, &n);
      int packable = i <= nseq && !has_newline(s, n);
      if (!(packable && col > 0 && col + (int)n + 2 <= budget)) {
        sbuf_adds(L, b, "\n  ");
        col = 2;
      } else {
        sbuf_addc(L, b, ' ');
        col++;
      }
      for (size_t j = 0; j < n; j++) { // indent continuation lines of nested items
        sbuf_addc(L, b, s[j]);
        if (s[j] == '\n') sbuf_adds(L, b, "  ");
      }
      sbuf_addc(L, b, ',');
      col = packable ? col + (int)n + 1 : budget + 1;
      lua_pop(L, 1);
    }
    sbuf_adds(L, b, "\n}");
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
    sbuf *b = sbuf_new(L);
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
static void path_add(lua_State *L, sbuf *b, const seg *s, int keep) {
  if (!s) {
    sbuf_addc(L, b, '$');
    return;
  }
  if (keep == 0) {
    sbuf_adds(L, b, "$[...]");
    return;
  }
  path_add(L, b, s->up, keep - 1);
  if (s->key) {
    sbuf_addc(L, b, '.');
    sbuf_add(L, b, s->key, s->klen > 40 ? 40 : s->klen);
  } else {
    char t[32];
    snprintf(t, sizeof t, "[%lld]", (long long)s->idx);
    sbuf_adds(L, b, t);
  }
}

static int json_fail(lua_State *L, const char *fname, const seg *at, const char *what) {
  sbuf *b = sbuf_new(L);
  path_add(L, b, at, 8);
  return luaL_error(L, "%s: %s at %s", fname, what, b->p);
}

static void add_json_string(lua_State *L, sbuf *b, const char *s, size_t n) {
  static const char hexd[] = "0123456789abcdef";
  sbuf_reserve(L, b, n + 2);
  sbuf_addc(L, b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '"': sbuf_adds(L, b, "\\\""); break;
    case '\\': sbuf_adds(L, b, "\\\\"); break;
    case '\n': sbuf_adds(L, b, "\\n"); break;
    case '\r': sbuf_adds(L, b, "\\r"); break;
    case '\t': sbuf_adds(L, b, "\\t"); break;
    case '\b': sbuf_adds(L, b, "\\b"); break;
    case '\f': sbuf_adds(L, b, "\\f"); break;
    default:
      if (c < 0x20 || c == 0x7f) {
        char u[7] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15], 0};
        sbuf_adds(L, b, u);
      } else {
        sbuf_addc(L, b, (char)c);
      }
    }
  }
  sbuf_addc(L, b, '"');
}

// Shortest of %.15g/%.16g/%.17g that reads back to the same double.
static void add_json_float(lua_State *L, sbuf *b, double x) {
  char t[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(t, sizeof t, "%.*g", prec, x);
    if (strtod(t, NULL) == x) break;
  }
  sbuf_adds(L, b, t);
}

static void add_indent(lua_State *L, sbuf *b, int indent, int level) {
  sbuf_addc(L, b, '\n');
  for (int i = 0; i < indent * level; i++) sbuf_addc(L, b, ' ');
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
static void json_value(lua_State *L, sbuf *b, int indent, int level, const seg *at) {
  luaL_checkstack(L, 8, "json.encode: nesting too deep");
  int v = lua_gettop(L);
  switch (lua_type(L, v)) {
  case LUA_TNIL: sbuf_adds(L, b, "null"); return;
  case LUA_TBOOLEAN: sbuf_adds(L, b, lua_toboolean(L, v) ? "true" : "false"); return;
  case LUA_TNUMBER:
    if (lua_isinteger(L, v)) {
      char t[32];
      snprintf(t, sizeof t, "%lld", (long long)lua_tointeger(L, v));
      sbuf_adds(L, b, t);
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
      sbuf_adds(L, b, "null");
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
      sbuf_adds(L, b, marked ? "[]" : "{}");
      return;
    }
    if (allseq && count == n) { // array: keys exactly 1..n
      int flat = 1;
      for (lua_Integer i = 1; i <= n && flat; i++) {
        lua_rawgeti(L, v, i);
        flat = is_scalar(L, -1);
        lua_pop(L, 1);
      }
      sbuf_addc(L, b, '[');
      for (lua_Integer i = 1; i <= n; i++) {
        seg s = {at, NULL, 0, i};
        if (i > 1) sbuf_addc(L, b, ',');
        if (indent && flat && i > 1) sbuf_addc(L, b, ' ');
        if (indent && !flat) add_indent(L, b, indent, level + 1);
        lua_rawgeti(L, v, i);
        json_value(L, b, indent, level + 1, &s);
        lua_pop(L, 1);
      }
      if (indent && !flat) add_indent(L, b, indent, level);
      sbuf_addc(L, b, ']');
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
    sbuf_addc(L, b, '{');
    for (lua_Integer i = 0; i < count; i++) {
      seg s = {at, keys[i].s, keys[i].len, 0};
      if (i > 0) sbuf_addc(L, b, ',');
      if (indent) add_indent(L, b, indent, level + 1);
      add_json_string(L, b, keys[i].s, keys[i].len);
      sbuf_adds(L, b, indent ? ": " : ":");
      lua_pushlstring(L, keys[i].s, keys[i].len);
      lua_rawget(L, v);
      json_value(L, b, indent, level + 1, &s);
      lua_pop(L, 1);
    }
    if (indent) add_indent(L, b, indent, level);
    sbuf_addc(L, b, '}');
    lua_pop(L, 1); // keys
    return;
  }
  default: break;
  }
  json_fail(L, "json.encode", at, lua_pushfstring(L, "cannot encode a %s", luaL_typename(L, v)));
}

// Encode the value at idx into a new buffer pushed on the stack.
static sbuf *json_encode_push(lua_State *L, int idx, int indent) {
  idx = lua_absindex(L, idx);
  sbuf *b = sbuf_new(L);
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
  sbuf *b = json_encode_push(L, 1, indent);
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

// Read a whole file into a new buffer pushed on the stack (raises "fname: path: reason").
static sbuf *read_file(lua_State *L, const char *fname, const char *path) {
  sbuf *b = sbuf_new(L); // before fopen: nothing below raises while the file is open
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    luaL_error(L, "%s: cannot open %s: %s", fname, path, strerror(e));
  }
  int err = 0;
  for (;;) {
    if (b->cap - b->n < 4097) {
      size_t cap = b->cap ? 2 * b->cap : 65536;
      char *p = realloc(b->p, cap);
      if (!p) {
        err = ENOMEM;
        break;
      }
      b->p = p;
      b->cap = cap;
    }
    size_t got = fread(b->p + b->n, 1, b->cap - b->n - 1, f);
    b->n += got;
    if (got == 0) {
      if (ferror(f)) err = errno ? errno : EIO;
      break;
    }
  }
  fclose(f);
  if (err) luaL_error(L, "%s: cannot read %s: %s", fname, path, strerror(err));
  if (b->p) b->p[b->n] = '\0';
  return b;
}

// Write data to path atomically: a temporary file in the same directory, fsync, rename.
static void write_atomic(lua_State *L, const char *fname, const char *path, const char *data,
                         size_t n) {
  sbuf *t = sbuf_new(L);
  sbuf_adds(L, t, path);
  sbuf_adds(L, t, ".tmp.XXXXXX");
  int fd = mkstemp(t->p);
  if (fd < 0) {
    int e = errno;
    luaL_error(L, "%s: cannot create %s: %s", fname, t->p, strerror(e));
  }
  mode_t mask = umask(0);
  umask(mask);
  int err = 0;
  if (fchmod(fd, 0666 & ~mask) != 0) err = errno;
  size_t off = 0;
  while (!err && off < n) {
    ssize_t w = write(fd, data + off, n - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      err = errno;
    } else {
      off += (size_t)w;
    }
  }
  if (!err && fsync(fd) != 0) err = errno;
  if (close(fd) != 0 && !err) err = errno;
  if (!err && rename(t->p, path) != 0) err = errno;
  if (err) {
    unlink(t->p);
    luaL_error(L, "%s: cannot write %s: %s", fname, path, strerror(err));
  }
  lua_pop(L, 1);
}

// json.read(path) -> value; errors name the file, line and column.
static int l_json_read(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  sbuf *b = read_file(L, "json.read", path);
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
  sbuf *b = json_encode_push(L, 2, indent);
  sbuf_addc(L, b, '\n');
  write_atomic(L, "json.write", path, b->p, b->n);
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
    ssize_t n = getline(&r->line, &r->cap, r->f);
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
  sbuf *b = sbuf_new(L);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 2, i);
    seg s = {NULL, NULL, 0, i};
    json_value(L, b, 0, 1, &s);
    lua_pop(L, 1);
    sbuf_addc(L, b, '\n');
  }
  write_atomic(L, "jsonl.write", path, b->p ? b->p : "", b->n);
  return 0;
}

// ---- al.Rng ---------------------------------------------------------------------------------------

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

// ---- probes of the bind.h helpers, for tests/lua/test_core.lua --------------------------------------

// al.core._probe_opts(opts) -> n, i, b, s: the options n (number, default 1.5), i (integer, 7),
// b (boolean, false), s (string, "def") read by the bind.h helpers; other keys are refused.
static int l_probe_opts(lua_State *L) {
  static const char *const known[] = {"n", "i", "b", "s", NULL};
  lua_settop(L, 1); // slot 1 stays the options (or nil) while results are pushed above it
  al_lua_checkopts(L, 1, "probe", known);
  lua_pushnumber(L, al_lua_optnum(L, 1, "n", 1.5));
  lua_pushinteger(L, al_lua_optint(L, 1, "i", 7));
  lua_pushboolean(L, al_lua_optbool(L, 1, "b", 0));
  lua_pushstring(L, al_lua_optstr(L, 1, "s", "def"));
  return 4;
}

// al.core._probe_ints(t) -> the integers of t through al_lua_toints and al_lua_pushints, then
// as floats through al_lua_pushfloats.
static int l_probe_ints(lua_State *L) {
  int n;
  int *a = al_lua_toints(L, 1, "probe", &n);
  float *f = malloc(sizeof(float) * (size_t)(n ? n : 1));
  if (!f) {
    free(a);
    return luaL_error(L, "not enough memory");
  }
  for (int i = 0; i < n; i++) f[i] = (float)a[i];
  al_lua_pushints(L, a, n); // may raise only on memory errors; fine for a probe
  al_lua_pushfloats(L, f, n);
  free(a);
  free(f);
  return 2;
}

// al.core._probe_fail(msg) raises msg through al_seterr + al_lua_fail, as bindings do.
static int l_probe_fail(lua_State *L) {
  const char *m = luaL_checkstring(L, 1);
  al_seterr(AL_EINVAL, "probe: %s", m);
  return al_lua_fail(L);
}

// ---- al.core ------------------------------------------------------------------------------------

static const luaL_Reg base_funcs[] = {
    {"time", l_time},     {"isatty", l_isatty},         {"mkdir_p", l_mkdir_p},
    {"hash", l_hash},     {"nthreads", l_nthreads},     {"set_threads", l_set_threads},
    {"rng", l_rng},       {"pretty", l_pretty},         {"_probe_opts", l_probe_opts},
    {"_probe_ints", l_probe_ints},                      {"_probe_fail", l_probe_fail},
    {NULL, NULL}};

static const luaL_Reg json_funcs[] = {{"encode", l_json_encode}, {"decode", l_json_decode},
                                      {"read", l_json_read},     {"write", l_json_write},
                                      {"array", l_json_array},   {NULL, NULL}};

static const luaL_Reg jsonl_funcs[] = {{"lines", l_jsonl_lines}, {"write", l_jsonl_write},
                                       {NULL, NULL}};

int al_open_base(lua_State *L) {
  // metatables used by the functions above
  luaL_newmetatable(L, SBUF_MT);
  lua_pushcfunction(L, sbuf_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, JSON_ARRAY_MT);
  lua_pop(L, 1);
  luaL_newmetatable(L, JREADER_MT);
  lua_pushcfunction(L, jreader_close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, jreader_close);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
  luaL_newmetatable(L, RNG_MT);
  luaL_setfuncs(L, rng_meta, 0);
  luaL_newlib(L, rng_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);

  luaL_setfuncs(L, base_funcs, 0);
  lua_pushstring(L, AL_VERSION);
  lua_setfield(L, -2, "version");
  luaL_newlib(L, json_funcs);
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  lua_setfield(L, -2, "json");
  luaL_newlib(L, jsonl_funcs);
  lua_setfield(L, -2, "jsonl");
  return 0;
}
