// alignlab shell: what the binding files share. Each core module has one binding file
// lua/l_<module>.c exporting `int al_open_<module>(lua_State *L)`, which adds its functions to
// the table on top of the stack (the C module "al.core") and returns 0. l_core.c calls them in
// order. Only bindings raise Lua errors: `return al_lua_fail(L);` after the core has cleaned up.
#ifndef AL_BIND_H
#define AL_BIND_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "al_base.h"
#include "al_gpt.h"
#include "al_tok.h"

// userdata "al.GPT": owns the model (m may be NULL after close)
typedef struct {
  al_gpt *m;
} al_lgpt;

#define AL_GPT_MT "al.GPT"

// The model at stack index idx (raises a Lua error when not an al.GPT or already freed).
al_gpt *al_lua_checkgpt(lua_State *L, int idx);
// Push a new al.GPT userdata owning m (takes ownership).
void al_lua_pushgpt(lua_State *L, al_gpt *m);
// Raise a Lua error with the core's last message (al_errmsg()).
int al_lua_fail(lua_State *L);
// Raise "fname: unknown option 'k' (known: a, b, c)" when the table at idx has a key not in
// known[] (NULL-terminated). Does nothing when idx is none or nil.
void al_lua_checkopts(lua_State *L, int idx, const char *fname, const char *const known[]);
// Option readers for an options table at idx (absent -> default; wrong type -> error naming key).
double al_lua_optnum(lua_State *L, int idx, const char *key, double def);
lua_Integer al_lua_optint(lua_State *L, int idx, const char *key, lua_Integer def);
int al_lua_optbool(lua_State *L, int idx, const char *key, int def);
const char *al_lua_optstr(lua_State *L, int idx, const char *key, const char *def);
// Read a Lua array of integers at idx into a malloc'd int array (*n elements); error names
// `what` on a non-integer element. Caller frees. Returns NULL only for an empty array (*n=0).
int *al_lua_toints(lua_State *L, int idx, const char *what, int *n);
// Push a Lua array from floats / ints.
void al_lua_pushfloats(lua_State *L, const float *x, int n);
void al_lua_pushints(lua_State *L, const int *x, int n);

// The RNG at stack index idx (userdata "al.Rng", l_base.c).
al_rng *al_lua_checkrng(lua_State *L, int idx);

// The tokenizer at stack index idx (userdata "al.Tokenizer", l_tok.c), and pushing a new one
// (takes ownership).
al_tok *al_lua_checktok(lua_State *L, int idx);
void al_lua_pushtok(lua_State *L, al_tok *t);

// 1 when the user pressed Ctrl-C since the last check (the check clears it). Long C loops poll it
// and return AL_EINTR; Lua loops see an "interrupted" error from the hook.
int al_lua_interrupted(void);

int al_open_base(lua_State *L);   // l_base.c: rng, json, jsonl, version, errors
int al_open_gpt(lua_State *L);    // l_gpt.c: al.GPT, adamw, schedule, checkpoints
int al_open_sample(lua_State *L); // l_sample.c: generate, score, kl
int al_open_tok(lua_State *L);    // l_tok.c: tokenizers
int al_open_data(lua_State *L);   // l_data.c: datasets, batching
int al_open_obj(lua_State *L);    // l_obj.c: objectives (losses, GAE, KL estimators)
int al_open_weave(lua_State *L);  // l_weave.c: markdown rendering for notebooks
int al_open_train(lua_State *L);  // l_train.c: batched forward/backward for the trainers

#endif
