// alignlab shell: what repl.c exports to main.c (private to the executable).
#ifndef AL_REPL_H
#define AL_REPL_H

#include "bind.h"

// Read-eval-print loop on stdin until EOF. Interactive (readline, prompts, history) when stdin
// is a terminal; otherwise reads lines quietly. Returns the exit status (0).
int al_repl(lua_State *L);

#endif
