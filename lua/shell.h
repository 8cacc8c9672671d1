// alignlab shell: what shell.c exports to main.c and repl.c (private to the executable; binding
// files use bind.h, whose al_lua_interrupted() shell.c also defines). Layering: main.c -> repl.c
// -> shell.c and main.c -> shell.c; shell.c calls neither.
#ifndef AL_SHELL_H
#define AL_SHELL_H

#include <signal.h>

#include "bind.h"

// ---- Ctrl-C ----
// Set by the SIGINT handler, cleared by al_lua_interrupted() (C loops) and by the hook that
// raises "interrupted" in Lua code. al_shell_sigints counts every SIGINT ever received, so a
// caller can tell whether an error happened because of one.
extern volatile sig_atomic_t al_shell_sigint;
extern volatile sig_atomic_t al_shell_sigints;

// Install the SIGINT handler for state L (hard = 1: a second Ctrl-C while the first is still
// pending kills the process, as for scripts; hard = 0: never, as for the REPL). L = NULL: the
// handler only sets the flags (before lua_close).
void al_shell_catch_sigint(lua_State *L, int hard);
// Forget a pending Ctrl-C and remove the interrupt hook.
void al_shell_clear_sigint(lua_State *L);

// ---- running code ----
// lua_pcall with a message handler (a traceback when `traceback`, else the plain message); on
// error leaves the message on the stack and returns the status.
int al_shell_docall(lua_State *L, int narg, int nres, int traceback);
// Print the error message on top of the stack to stderr, prefixed by "alignlab: ", pop it.
void al_shell_report(lua_State *L);

#endif
