// alignlab shell: the C helpers of the notebook weaver (lua/al/weave/): Markdown to HTML
// through md4c's HTML renderer, base64 for data: URIs, and capture of everything written to the
// standard output (print, io.write, C code, child processes) while a notebook block runs.
// It does not parse notebooks, run blocks or build pages: lua/al/weave/ does.
//   al.core.markdown(text [, {tables, strikethrough, math, autolinks, tasklists, html, xhtml}])
//   al.core.base64(s)
//   al.core.capture_stdout() -> al.Capture; cap:finish([max_bytes]) -> text, total_bytes
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bind.h"

#ifdef AL_HAVE_MD4C
#include <md4c-html.h>
#endif

// ---- markdown ---------------------------------------------------------------------------------

typedef struct {
  char *p;
  size_t n, cap;
  int oom;
} obuf;

static void obuf_add(obuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
}

#ifdef AL_HAVE_MD4C
static void md_out(const MD_CHAR *s, MD_SIZE n, void *ud) { obuf_add(ud, s, n); }
#endif

// al.core.markdown(text [, opts]) -> html (a fragment: no <html>/<body>).
// opts (all booleans): tables (default true), strikethrough (true), math (true: $..$ and $$..$$
// become <x-equation> / <x-equation type="display"> with the TeX left verbatim), autolinks (true:
// bare URLs, www. and e-mail addresses become links), tasklists (true), html (true: raw HTML
// passes through; false drops it), xhtml (false: <br /> style void tags).
// Raises when alignlab was built without md4c.
static int l_markdown(lua_State *L) {
  static const char *const known[] = {"tables", "strikethrough", "math", "autolinks",
                                      "tasklists", "html", "xhtml", NULL};
  size_t n;
  const char *text = luaL_checklstring(L, 1, &n);
  al_lua_checkopts(L, 2, "markdown", known);
  int tables = al_lua_optbool(L, 2, "tables", 1);
  int strike = al_lua_optbool(L, 2, "strikethrough", 1);
  int math = al_lua_optbool(L, 2, "math", 1);
  int autol = al_lua_optbool(L, 2, "autolinks", 1);
  int tasks = al_lua_optbool(L, 2, "tasklists", 1);
  int html = al_lua_optbool(L, 2, "html", 1);
  int xhtml = al_lua_optbool(L, 2, "xhtml", 0);
#ifdef AL_HAVE_MD4C
  if (n > (size_t)0x7fffffff) return luaL_error(L, "markdown: text too large (%d bytes)", (int)n);
  unsigned flags = 0;
  if (tables) flags |= MD_FLAG_TABLES;
  if (strike) flags |= MD_FLAG_STRIKETHROUGH;
  if (math) flags |= MD_FLAG_LATEXMATHSPANS;
  if (autol) flags |= MD_FLAG_PERMISSIVEAUTOLINKS;
  if (tasks) flags |= MD_FLAG_TASKLISTS;
  if (!html) flags |= MD_FLAG_NOHTML;
  unsigned rflags = MD_HTML_FLAG_SKIP_UTF8_BOM | (xhtml ? MD_HTML_FLAG_XHTML : 0);
  obuf b = {NULL, 0, 0, 0};
  int rc = md_html(text, (MD_SIZE)n, md_out, &b, flags, rflags);
  if (rc != 0 || b.oom) {
    free(b.p);
    return luaL_error(L, "markdown: md4c failed (%s)", b.oom ? "out of memory" : "parser error");
  }
  lua_pushlstring(L, b.p ? b.p : "", b.n); // may raise on OOM: copy the pointer out first
  free(b.p);
  return 1;
#else
  (void)text, (void)tables, (void)strike, (void)math, (void)autol, (void)tasks, (void)html,
      (void)xhtml;
  return luaL_error(L, "markdown: alignlab was built without md4c; install the Debian package "
                       "libmd4c-html0-dev (make deps) and re-run cmake");
#endif
}

// ---- base64 ------------------------------------------------------------------------------------

// al.core.base64(s) -> the standard base64 encoding of s (RFC 4648, with '=' padding, no lines).
static int l_base64(lua_State *L) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  char *o = luaL_buffinitsize(L, &b, 4 * ((n + 2) / 3) + 1);
  size_t k = 0, i = 0;
  for (; i + 2 < n; i += 3) {
    unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
    o[k++] = tab[v >> 18];
    o[k++] = tab[(v >> 12) & 63];
    o[k++] = tab[(v >> 6) & 63];
    o[k++] = tab[v & 63];
  }
  if (i < n) {
    unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0u);
    o[k++] = tab[v >> 18];
    o[k++] = tab[(v >> 12) & 63];
    o[k++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
    o[k++] = '=';
  }
  luaL_pushresultsize(&b, k);
  return 1;
}

// ---- stdout capture -----------------------------------------------------------------------------

// userdata "al.Capture": while active, file descriptor 1 points at a temporary file.
typedef struct {
  FILE *tmp; // the temporary file (NULL when finished)
  int saved; // dup of the original fd 1 (-1 when finished)
} capture;

#define CAPTURE_MT "al.Capture"

static int capture_active = 0; // one capture at a time: nesting would lose the outer one

// Point fd 1 back at the original and drop the temporary file's descriptor. Safe to call twice.
static void capture_restore(capture *c) {
  if (c->saved >= 0) {
    fflush(stdout);
    dup2(c->saved, 1);
    close(c->saved);
    c->saved = -1;
    capture_active = 0;
  }
}

static void capture_close(capture *c) {
  capture_restore(c);
  if (c->tmp) {
    fclose(c->tmp);
    c->tmp = NULL;
  }
}

// al.core.capture_stdout() -> cap: from now on everything written to the standard output (by
// Lua, C or child processes) goes to a temporary file until cap:finish(). Raises when a capture
// is already active or the file cannot be created.
static int l_capture_stdout(lua_State *L) {
  if (capture_active) return luaL_error(L, "capture_stdout: a capture is already active");
  capture *c = lua_newuserdatauv(L, sizeof *c, 0);
  c->tmp = NULL; // safe empty state before acquiring anything
  c->saved = -1;
  luaL_setmetatable(L, CAPTURE_MT);
  fflush(stdout);
  c->tmp = tmpfile();
  if (!c->tmp) return luaL_error(L, "capture_stdout: cannot create a temporary file");
  c->saved = dup(1);
  if (c->saved < 0) return luaL_error(L, "capture_stdout: dup(1) failed");
  if (dup2(fileno(c->tmp), 1) < 0) {
    close(c->saved);
    c->saved = -1;
    return luaL_error(L, "capture_stdout: dup2 failed");
  }
  capture_active = 1;
  return 1;
}

// cap:finish([max_bytes]) -> text (at most max_bytes, default 1 MiB), total bytes written.
// Restores the standard output; a second call raises.
static int capture_finish(lua_State *L) {
  capture *c = luaL_checkudata(L, 1, CAPTURE_MT);
  lua_Integer max = luaL_optinteger(L, 2, 1 << 20);
  luaL_argcheck(L, max >= 0, 2, "max_bytes must be >= 0");
  if (!c->tmp) return luaL_error(L, "capture: already finished");
  capture_restore(c);
  long total = 0;
  if (fseek(c->tmp, 0, SEEK_END) == 0) total = ftell(c->tmp);
  if (total < 0) total = 0;
  size_t want = (size_t)total < (size_t)max ? (size_t)total : (size_t)max;
  lua_pushinteger(L, total);
  luaL_Buffer b; // Lua-owned: an allocation error leaves nothing behind (the file is the udata's)
  char *buf = luaL_buffinitsize(L, &b, want + 1);
  size_t got = 0;
  if (fseek(c->tmp, 0, SEEK_SET) == 0) got = fread(buf, 1, want, c->tmp);
  capture_close(c);
  luaL_pushresultsize(&b, got);
  lua_insert(L, -2);
  return 2;
}

static int capture_gc(lua_State *L) {
  capture *c = luaL_checkudata(L, 1, CAPTURE_MT);
  capture_close(c);
  return 0;
}

static int capture_tostring(lua_State *L) {
  capture *c = luaL_checkudata(L, 1, CAPTURE_MT);
  lua_pushstring(L, c->tmp ? "al.Capture (active)" : "al.Capture (finished)");
  return 1;
}

// ---- registration --------------------------------------------------------------------------------

int al_open_weave(lua_State *L) {
  static const luaL_Reg cap_methods[] = {{"finish", capture_finish}, {NULL, NULL}};
  static const luaL_Reg cap_meta[] = {
      {"__gc", capture_gc}, {"__close", capture_gc}, {"__tostring", capture_tostring}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {{"markdown", l_markdown},
                                   {"base64", l_base64},
                                   {"capture_stdout", l_capture_stdout},
                                   {NULL, NULL}};
  if (luaL_newmetatable(L, CAPTURE_MT)) {
    luaL_setfuncs(L, cap_meta, 0);
    luaL_newlib(L, cap_methods);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  luaL_setfuncs(L, funcs, 0);
  return 0;
}
