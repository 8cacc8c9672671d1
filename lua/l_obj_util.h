// alignlab shell: the helpers of the objective bindings (l_obj_util.c), for l_obj_pref.c,
// l_obj_rl.c and l_obj_stats.c only. `fn` is the binding's name for error messages; `t` the
// stack index of the argument (or of the options table holding it at `key`; key NULL: the value
// at t itself). Every reader leaves its buffer on the stack (owned by the garbage collector).
#ifndef AL_L_OBJ_UTIL_H
#define AL_L_OBJ_UTIL_H

#include <stddef.h>

#include "al_obj.h"
#include "bind.h"

// Shape of per-token arguments: B rows of len[b] entries, padded to T (flat = one row).
typedef struct {
  int set, nested, B, T, N; // N = B * T
  int *len;
  const char *first;
} al_lobj_shape;

// A zeroed buffer of n doubles.
double *al_lobj_newbuf(lua_State *L, size_t n);
// A flat array of numbers (booleans too when allow_bool); *n gets its length. NULL (nothing
// pushed) when absent and not required; raises "fn: key is required" when required.
double *al_lobj_vec(lua_State *L, const char *fn, int t, const char *key, int *n, int required,
                    int allow_bool);
// A flat array of integers (lengths, player ids, n values), as al_lobj_vec.
int *al_lobj_ivec(lua_State *L, const char *fn, int t, const char *key, int *n, int required);
// Raise "fn: 'k2' has n2 entries but 'k1' has n1" when n1 != n2.
void al_lobj_samelen(lua_State *L, const char *fn, const char *k1, int n1, const char *k2, int n2);
// The flat array (of numbers / integers) at options key `key`, which must have the n entries of
// the array at `like` when present (al_lobj_vec / al_lobj_ivec of the options table at 1, then
// al_lobj_samelen).
double *al_lobj_vec_like(lua_State *L, const char *fn, const char *key, const char *like, int n,
                         int required, int allow_bool);
int *al_lobj_ivec_like(lua_State *L, const char *fn, const char *key, const char *like, int n,
                       int required);
// A per-token argument into a (B,T) buffer (0 past each row's end); the first one read fixes
// *sh (zero it before), later ones must match it.
double *al_lobj_tok(lua_State *L, const char *fn, int t, const char *key, al_lobj_shape *sh,
                    int required, int allow_bool);
// (B,T) mask of the entries that exist, times the user's mask (NULL: all 1).
double *al_lobj_padmask(lua_State *L, const al_lobj_shape *sh, const double *user);
// Push x (B,T) back in the shape of the arguments / a flat array of n numbers.
void al_lobj_pushtok(lua_State *L, const al_lobj_shape *sh, const double *x);
void al_lobj_pushvec(lua_State *L, const double *x, int n);
// Index in names (NULL-terminated) of the string option key of the options table at 1
// (default def); raises "fn: key = 'x' is not one of a, b, c".
int al_lobj_optenum(lua_State *L, const char *fn, const char *key, const char *def,
                    const char *const names[]);
// Argument 1 must be an options table whose keys are all in known[].
void al_lobj_checkopts(lua_State *L, const char *fn, const char *const known[]);

// ---- the one result writer ----
// A field of a result table: a double of the core's result struct at byte offset `at` (NUM),
// the array arrays[at] as n numbers (VEC) or n integers (INTS), skipped when NULL, the array
// arrays[at] in the shape sh (TOK), or a nested table of the fields `sub` (SUB).
typedef enum { AL_LOBJ_NUM, AL_LOBJ_VEC, AL_LOBJ_INTS, AL_LOBJ_TOK, AL_LOBJ_SUB } al_lobj_kind;
typedef struct al_lobj_field {
  const char *key;
  al_lobj_kind kind;
  size_t at;
  const struct al_lobj_field *sub;
} al_lobj_field;

// A NUM field whose key is the name of the struct's member.
#define AL_LOBJ_NUMF(type, member) {#member, AL_LOBJ_NUM, offsetof(type, member), NULL}

// Push a new table with the fields (NULL-key-terminated, in that order) of the result struct
// `out` and of `arrays`.
void al_lobj_push(lua_State *L, const al_lobj_field *fields, const void *out,
                  const void *const arrays[], int n, const al_lobj_shape *sh);

#endif
