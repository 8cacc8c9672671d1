// alignlab shell: running Lua code for main.c and repl.c, one floor below both (they call in, it
// calls neither): lua_pcall under a message handler (docall), error reports, and Ctrl-C (the
// SIGINT handler, the hook that raises "interrupted" in Lua code, al_lua_interrupted() for C
// loops). It leaves the command line to main.c, reading lines to repl.c and printing values to
// l_pretty.c.
//
// As in lua.c, the handler only sets flags and a hook; unlike lua.c it stays installed between
// calls (main.c installs it once per mode), because the REPL's prompt (repl.c) must see a Ctrl-C
// typed while no Lua code runs and drop the line instead of killing the shell.
#include "shell.h"
#include "l_mpi.h"

#include <stdio.h>
#include <string.h>

// ---- running code ---------------------------------------------------------------------------------

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int plainhandler(lua_State *L) {
  if (lua_type(L, 1) == LUA_TSTRING) return 1;
  if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
  lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  return 1;
}

int al_shell_docall(lua_State *L, int narg, int nres, int traceback) {
  int base = lua_gettop(L) - narg; // function index
  lua_pushcfunction(L, traceback ? msghandler : plainhandler);
  lua_insert(L, base);
  int status = lua_pcall(L, narg, nres, base);
  lua_remove(L, base);
  return status;
}

void al_shell_report(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  al_mpi_on_error(msg); // under MPI with several ranks: "rank R: msg", stop every rank
  fprintf(stderr, "alignlab: %s\n", msg ? msg : "(error object is not a string)");
  fflush(stderr);
  lua_pop(L, 1);
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
