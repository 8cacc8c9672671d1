// alignlab shell: the small generic functions of "al.core": version, time, isatty, mkdir_p,
// hash, nthreads, set_threads, the io fault hook (_io_fail_after), and probes of the bind.h
// helpers for tests/lua/test_core.lua.
// What else was once here lives in its own file: the helpers every binding uses in l_util.c,
// JSON and JSONL in l_json.c, the pretty printer in l_pretty.c, al.Rng in l_rng.c and Ctrl-C in
// shell.c. Layering: l_core.c -> l_base.c -> l_util.c -> core.
#include <cblas.h>
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "al_io.h"
#include "l_util.h"

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
  al_lbuf *b = al_lbuf_new(L);
  al_lbuf_add(L, b, path, n);
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

// al.core.blas() -> { core = the sgemm kernel OpenBLAS chose (e.g. "Haswell", "SkylakeX": it
// decides the bits of every product; OPENBLAS_CORETYPE pins it at start-up), config = its build
// string (version and options), threads = its thread count }.
static int l_blas(lua_State *L) {
  lua_createtable(L, 0, 3);
  lua_pushstring(L, openblas_get_corename());
  lua_setfield(L, -2, "core");
  lua_pushstring(L, openblas_get_config());
  lua_setfield(L, -2, "config");
  lua_pushinteger(L, openblas_get_num_threads());
  lua_setfield(L, -2, "threads");
  return 1;
}

// al.core.set_threads(n): both OpenBLAS and OpenMP use n threads (n >= 1).
static int l_set_threads(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n >= 1 && n <= 4096, 1, "thread count must be in [1, 4096]");
  openblas_set_num_threads((int)n);
  omp_set_num_threads((int)n);
  return 0;
}

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

// al.core._io_fail_after(bytes [, errno_name]): arm core/io.c's fault hook (al_io_fail_after) so
// that atomic writes fail after `bytes` more bytes with "ENOSPC" (default) or "EIO"; a negative
// count disarms it. For the fault tests only.
static int l_io_fail_after(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  static const char *const names[] = {"ENOSPC", "EIO", NULL};
  static const int codes[] = {ENOSPC, EIO};
  int e = luaL_checkoption(L, 2, "ENOSPC", names);
  al_io_fail_after((long long)n, codes[e]);
  return 0;
}

// ---- al.core ------------------------------------------------------------------------------------

static const luaL_Reg base_funcs[] = {
    {"time", l_time},         {"isatty", l_isatty},           {"mkdir_p", l_mkdir_p},
    {"hash", l_hash},         {"nthreads", l_nthreads}, {"blas", l_blas},       {"set_threads", l_set_threads},
    {"_probe_opts", l_probe_opts}, {"_probe_ints", l_probe_ints}, {"_probe_fail", l_probe_fail},
    {"_io_fail_after", l_io_fail_after}, {NULL, NULL}};

int al_open_base(lua_State *L) {
  luaL_setfuncs(L, base_funcs, 0);
  lua_pushstring(L, AL_VERSION);
  lua_setfield(L, -2, "version");
  return 0;
}
