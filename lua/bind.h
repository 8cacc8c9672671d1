// alignlab shell: what the binding files share. Each core module has one binding file
// lua/l_<module>.c exporting `int al_open_<module>(lua_State *L)`, which adds its functions to
// the table on top of the stack (the C module "al.core") and returns 0. l_core.c calls them in
// order. Only bindings raise Lua errors: `return al_lua_fail(L);` after the core has cleaned up.
// Layering: l_core.c -> l_<module>.c -> (l_gpt.c for the model userdata) -> l_util.c -> core;
// no binding file calls into l_core.c, main.c or repl.c.
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
// Push a zeroed userdata of n bytes (at least 1) and return its memory: scratch that the
// collector frees even when an error unwinds past the caller.
void *al_lua_scratch(lua_State *L, size_t n);
// (the helpers above are in l_util.c)

// Add methods (NULL-terminated) to the one method table of al.GPT (l_gpt.c; created on first
// use, so the order of the al_open_* calls does not matter). l_gpt.c, l_optim.c, l_train.c and
// l_sample.c each add the methods of their concern. Stack unchanged.
void al_lua_gpt_methods(lua_State *L, const luaL_Reg *methods);

// The optimizer at stack index idx (userdata "al.AdamW", l_optim.c; raises when not one or freed).
struct al_adamw *al_lua_checkadamw(lua_State *L, int idx);

// The RNG at stack index idx (userdata "al.Rng", l_rng.c).
al_rng *al_lua_checkrng(lua_State *L, int idx);

// The tokenizer at stack index idx (userdata "al.Tokenizer", l_tok.c), and pushing a new one
// (takes ownership).
al_tok *al_lua_checktok(lua_State *L, int idx);
void al_lua_pushtok(lua_State *L, al_tok *t);

// 1 when the user pressed Ctrl-C since the last check (the check clears it). Long C loops poll it
// and return AL_EINTR; Lua loops see an "interrupted" error from the hook (shell.c).
int al_lua_interrupted(void);

// Push a readable rendering of the value at idx: tables nested and sorted, cut at `depth`
// levels and `items` entries per table, wrapped at `width` columns; userdata via __tostring
// (l_pretty.c; the REPL prints with it).
void al_pretty_push(lua_State *L, int idx, int depth, int items, int width);

int al_open_base(lua_State *L);   // l_base.c: version, time, isatty, mkdir_p, hash, threads
int al_open_rng(lua_State *L);    // l_rng.c: rng (al.Rng)
int al_open_pretty(lua_State *L); // l_pretty.c: pretty
int al_open_json(lua_State *L);   // l_json.c: json, jsonl
int al_open_gpt(lua_State *L);    // l_gpt.c: al.GPT (model, inference), load
int al_open_optim(lua_State *L);  // l_optim.c: adamw, schedule, m:save and training state
int al_open_sample(lua_State *L); // l_sample.c: generate, score, kl
int al_open_tok(lua_State *L);    // l_tok.c: tokenizers
int al_open_data(lua_State *L);   // l_data.c: datasets, batching
int al_open_weave(lua_State *L);  // l_weave.c: markdown rendering for notebooks
int al_open_train(lua_State *L);  // l_train.c: train_step, batched forward/backward, kl_to
// al.core.obj: one binding file per core/obj_*.c, each adding its functions to the table on top
int al_open_obj_pref(lua_State *L);  // l_obj_pref.c: bt_loss, dpo_loss, kto_loss
int al_open_obj_rl(lua_State *L);    // l_obj_rl.c: PPO, GAE, whitening, KL, GRPO, RLOO
int al_open_obj_stats(lua_State *L); // l_obj_stats.c: best-of-n, frontier, Elo, fits, CIs

#endif
