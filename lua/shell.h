// alignlab shell: what main.c, repl.c and l_base.c share (private to the executable; binding
// files use bind.h). main.c parses the command line and runs scripts, repl.c reads and
// evaluates lines, l_base.c owns the Ctrl-C flag and the pretty printer.
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
// pending kills the process, as for scripts; hard = 0: never, as for the REPL).
void al_shell_catch_sigint(lua_State *L, int hard);
// Forget a pending Ctrl-C and remove the interrupt hook.
void al_shell_clear_sigint(lua_State *L);

// ---- running code ----
// lua_pcall with a traceback message handler; on error leaves the message (with traceback
// when `traceback`) on the stack and returns the status.
int al_shell_docall(lua_State *L, int narg, int nres, int traceback);
// Print the error message on top of the stack to stderr, prefixed by "alignlab: ", pop it.
void al_shell_report(lua_State *L);

// ---- REPL (repl.c) ----
// Read-eval-print loop on stdin until EOF. Interactive (readline, prompts, history) when stdin
// is a terminal; otherwise reads lines quietly. Returns the exit status (0).
int al_repl(lua_State *L);

// ---- pretty printing (l_base.c) ----
// Push a readable rendering of the value at idx: tables nested and sorted, cut at `depth`
// levels and `items` entries per table, wrapped at `width` columns; userdata via __tostring.
void al_pretty_push(lua_State *L, int idx, int depth, int items, int width);

// ---- shared helpers (l_base.c) ----
// The al.Rng at idx (raises when it is not one).
al_rng *al_lua_checkrng(lua_State *L, int idx);

#endif
