// alignlab shell: the entry point. Parses the command line, creates the Lua state (standard
// libraries, "al.core" preloaded, package.path pointing at lua/al), then runs -e chunks, a script
// with its `arg` table, a subcommand (reproduce, weave, bench: the Lua modules al.<name>, whose
// main(args) does the work) or the REPL (repl.c). Everything runs under lua_pcall with a
// traceback handler (shell.c); Ctrl-C raises "interrupted" in Lua code (shell.c) and makes a
// script exit with status 130. The Lua modules themselves live in lua/al/.
// Layering: main.c -> repl.c -> shell.c, main.c -> shell.c; nothing calls back into main.c.
#include "repl.h"
#include "shell.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <omp.h>

int luaopen_al_core(lua_State *L);

static const char *const usage_text =
    "usage: alignlab [options] [script.lua [args]]\n"
    "       alignlab reproduce|weave|bench|sweep|log2csv [args]\n"
    "With no arguments, alignlab starts the REPL (also when reading a pipe).\n"
    "Options:\n"
    "  -e code        run the Lua string 'code'\n"
    "  -l name        require module 'name' into the global 'name'\n"
    "  -i             enter the REPL after the script or -e code\n"
    "  -              run the script read from stdin\n"
    "  --             stop handling options\n"
    "  -v, --version  print the version\n"
    "  -h, --help     print this help\n"
    "Environment: ALIGNLAB_LUA_PATH (directory holding al/init.lua), ALIGNLAB_HISTORY.\n";

// ---- errors -------------------------------------------------------------------------------------

// Report the error on top of the stack; 130 when a Ctrl-C caused it, else 1.
static int fail_status(lua_State *L, int sigints_before) {
  if (al_shell_sigints != sigints_before) {
    lua_pop(L, 1);
    fprintf(stderr, "alignlab: interrupted\n");
    return 130;
  }
  al_shell_report(L);
  return 1;
}

// ---- package.path ---------------------------------------------------------------------------------

static int has_al(const char *dir) {
  char p[PATH_MAX];
  if (snprintf(p, sizeof p, "%s/al/init.lua", dir) >= (int)sizeof p) return 0;
  return access(p, R_OK) == 0;
}

static void prepend_path(lua_State *L, const char *dir, int is_template) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  if (is_template) lua_pushfstring(L, "%s;%s", dir, lua_tostring(L, -1));
  else lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
  lua_setfield(L, -3, "path");
  lua_pop(L, 2);
}

// Find lua/al: $ALIGNLAB_LUA_PATH, else next to the executable (installed: ../share/alignlab/lua,
// build tree: ../lua), else the source tree compiled in, else the configured install prefix.
static void setup_path(lua_State *L) {
  const char *env = getenv("ALIGNLAB_LUA_PATH");
  if (env && env[0]) {
    prepend_path(L, env, strchr(env, '?') != NULL);
    return;
  }
  char exe[PATH_MAX], cand[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    static const char *const rel[] = {"../share/alignlab/lua", "../lua", "lua", NULL};
    for (int i = 0; rel[i]; i++) {
      if (snprintf(cand, sizeof cand, "%s/%s", exe, rel[i]) >= (int)sizeof cand) continue;
      if (has_al(cand)) {
        char real[PATH_MAX];
        prepend_path(L, realpath(cand, real) ? real : cand, 0);
        return;
      }
    }
  }
#ifdef AL_SOURCE_DIR
  if (has_al(AL_SOURCE_DIR "/lua")) {
    prepend_path(L, AL_SOURCE_DIR "/lua", 0);
    return;
  }
#endif
#ifdef AL_INSTALL_LUADIR
  if (has_al(AL_INSTALL_LUADIR)) {
    prepend_path(L, AL_INSTALL_LUADIR, 0);
    return;
  }
#endif
  // not found: `require "al"` will list the paths it tried
}

// ---- the command line -----------------------------------------------------------------------------

typedef struct {
  int argc;
  char **argv;
  int script; // index of the script in argv (0: none)
  int interactive, version, help, has_e;
  int status; // exit status
} opts;

// Parse options; returns 0 on a usage error (message printed).
static int parse_args(opts *o) {
  int i;
  for (i = 1; i < o->argc; i++) {
    const char *a = o->argv[i];
    if (a[0] != '-' || strcmp(a, "-") == 0) break; // the script
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (strcmp(a, "-i") == 0) o->interactive = 1;
    else if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) o->version = 1;
    else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) o->help = 1;
    else if (strncmp(a, "-e", 2) == 0 || strncmp(a, "-l", 2) == 0) {
      if (a[2] == '\0') {
        if (++i >= o->argc) {
          fprintf(stderr, "alignlab: '%s' needs an argument\n%s", a, usage_text);
          return 0;
        }
      }
      if (a[1] == 'e') o->has_e = 1;
    } else {
      fprintf(stderr, "alignlab: unknown option '%s'\n%s", a, usage_text);
      return 0;
    }
  }
  o->script = i < o->argc ? i : 0;
  return 1;
}

// The global `arg`, as lua(1) builds it: arg[0] = script, arg[1..] its arguments, options at
// negative indices.
static void create_arg(lua_State *L, char **argv, int argc, int script) {
  lua_createtable(L, argc - script, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

// Run -e and -l in order of appearance; returns 0 or an exit status.
static int run_options(lua_State *L, opts *o) {
  int end = o->script ? o->script : o->argc;
  for (int i = 1; i < end; i++) {
    const char *a = o->argv[i];
    if (strcmp(a, "--") == 0) break;
    if (a[0] != '-' || (a[1] != 'e' && a[1] != 'l')) continue;
    const char *val = a[2] ? a + 2 : o->argv[++i];
    int before = al_shell_sigints, status;
    if (a[1] == 'e') {
      status = luaL_loadbuffer(L, val, strlen(val), "=(command line)");
      if (status == LUA_OK) status = al_shell_docall(L, 0, 0, 1);
    } else {
      lua_getglobal(L, "require");
      lua_pushstring(L, val);
      status = al_shell_docall(L, 1, 1, 1);
      if (status == LUA_OK) lua_setglobal(L, val);
    }
    if (status != LUA_OK) return fail_status(L, before);
  }
  return 0;
}

// The global `al` for interactive use (REPL, -e); a failure is only a warning.
static void load_al_global(lua_State *L, int warn) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "al");
  if (al_shell_docall(L, 1, 1, 0) == LUA_OK) {
    lua_setglobal(L, "al");
  } else {
    if (warn) fprintf(stderr, "alignlab: warning: cannot load module 'al': %s\n",
                      lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

static int run_script(lua_State *L, opts *o) {
  const char *fname = o->argv[o->script];
  if (strcmp(fname, "-") == 0 && strcmp(o->argv[o->script - 1], "--") != 0) fname = NULL;
  int before = al_shell_sigints;
  int status = luaL_loadfile(L, fname);
  if (status == LUA_OK) {
    int n = o->argc - o->script - 1;
    luaL_checkstack(L, n + 3, "too many arguments to script");
    for (int i = 1; i <= n; i++) lua_pushstring(L, o->argv[o->script + i]);
    status = al_shell_docall(L, n, 0, 1);
  }
  return status == LUA_OK ? 0 : fail_status(L, before);
}

static const char *const subcommand_lua =
    "local name, args = ...\n"
    "local mod = 'al.' .. name\n"
    "if not package.preload[mod] and not package.searchpath(mod, package.path) then\n"
    "  return false, ('subcommand \\'%s\\' is not available: module %s was not found in '\n"
    "    .. 'package.path (%s)'):format(name, mod, package.path)\n"
    "end\n"
    "local m = require(mod)\n"
    "if type(m) ~= 'table' or type(m.main) ~= 'function' then\n"
    "  return false, ('module %s has no main(args) function'):format(mod)\n"
    "end\n"
    "return true, m.main(args)\n";

// `alignlab NAME args...` -> require("al.NAME").main({args...}); main's result: a number is the
// exit status, false is 1, anything else 0.
static int run_subcommand(lua_State *L, opts *o) {
  create_arg(L, o->argv, o->argc, 1);
  int before = al_shell_sigints;
  if (luaL_loadbuffer(L, subcommand_lua, strlen(subcommand_lua), "=(subcommand)") != LUA_OK)
    return fail_status(L, before);
  lua_pushstring(L, o->argv[1]);
  lua_createtable(L, o->argc - 2, 0);
  for (int i = 2; i < o->argc; i++) {
    lua_pushstring(L, o->argv[i]);
    lua_rawseti(L, -2, i - 1);
  }
  if (al_shell_docall(L, 2, 2, 1) != LUA_OK) return fail_status(L, before);
  if (!lua_toboolean(L, -2)) {
    fprintf(stderr, "alignlab: %s\n", lua_tostring(L, -1));
    return 1;
  }
  int status = 0;
  if (lua_isinteger(L, -1)) status = (int)lua_tointeger(L, -1);
  else if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) status = 1;
  lua_pop(L, 2);
  return status;
}

static int is_subcommand(const char *a) {
  return strcmp(a, "reproduce") == 0 || strcmp(a, "weave") == 0 || strcmp(a, "bench") == 0 ||
         strcmp(a, "sweep") == 0 || strcmp(a, "log2csv") == 0;
}

// Everything that touches Lua runs here, under the lua_pcall of main().
static int pmain(lua_State *L) {
  opts *o = lua_touserdata(L, 1);
  luaL_checkversion(L);
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_al_core);
  lua_setfield(L, -2, "al.core");
  lua_pop(L, 1);
  setup_path(L);
  lua_gc(L, LUA_GCGEN, 0, 0);

  if (o->argc >= 2 && is_subcommand(o->argv[1])) {
    al_shell_catch_sigint(L, 1);
    o->status = run_subcommand(L, o);
    return 0;
  }
  if (!parse_args(o)) {
    o->status = 1;
    return 0;
  }
  if (o->help) {
    fputs(usage_text, stdout);
    return 0;
  }
  if (o->version) {
    printf("alignlab %s (%s)\n", AL_VERSION, LUA_RELEASE);
    if (!o->script && !o->has_e && !o->interactive) return 0;
  }
  int repl = o->interactive || (!o->script && !o->has_e && !o->version);
  al_shell_catch_sigint(L, !repl);
  create_arg(L, o->argv, o->argc, o->script);
  if (repl || o->has_e) load_al_global(L, repl);
  if ((o->status = run_options(L, o)) != 0) return 0;
  if (o->script && (o->status = run_script(L, o)) != 0) return 0;
  if (repl) {
    al_shell_catch_sigint(L, 0);
    o->status = al_repl(L);
  }
  return 0;
}

int main(int argc, char **argv) {
  // Unless the user asks (OMP_NUM_THREADS), the OpenMP loops (attention, LayerNorm, GELU) run on
  // one thread: `alignlab reproduce` runs two single-threaded jobs side by side, and spinning
  // OpenMP workers would oversubscribe the cores. Matrix products run on an OpenMP team as large
  // as OPENBLAS_NUM_THREADS (core/ops.c), never on OpenBLAS's own threads, so the two pools no
  // longer spin against each other; OMP_NUM_THREADS=2 makes the OpenMP loops parallel too.
  if (!getenv("OMP_NUM_THREADS")) omp_set_num_threads(1);
  opts o;
  memset(&o, 0, sizeof o);
  o.argc = argc;
  o.argv = argv;
  lua_State *L = luaL_newstate();
  if (!L) {
    fprintf(stderr, "alignlab: cannot create the Lua state (not enough memory)\n");
    return 1;
  }
  lua_pushcfunction(L, pmain);
  lua_pushlightuserdata(L, &o);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    al_shell_report(L);
    o.status = 1;
  }
  fflush(stdout);
  al_shell_catch_sigint(NULL, 1);
  lua_close(L);
  return o.status;
}
