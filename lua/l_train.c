// alignlab shell: batched forward and backward of a model on ragged token sequences, the one
// primitive every Lua trainer (pretrain, SFT, RM, DPO, PPO, GRPO) is built on.
//
//   res = m:forward(seqs [, { start = P | {P_1..P_B}, mask = {{...}}, values = bool,
//                             entropy = bool, logp = bool }])
//     seqs: list of B token arrays (0-based ids), ragged; sequence b is x_0 .. x_{n_b - 1}.
//     A token x_i (i >= 1) is "scored" when i >= start (default 1: all) and, if given,
//     mask[b][i+1] ~= 0 (mask has one entry per token, Lua index i+1 for x_i).
//     res.logp[b][i]    = log p(x_i | x_<i) for i = 1 .. n_b - 1 (0 where not scored)
//     res.sum[b]        = sum of scored log-probs; res.count[b] = number of scored tokens
//     res.entropy[b][i] = entropy of p(. | x_<i), i = 1 .. n_b - 1        (entropy = true)
//     res.values[b][j]  = scalar head after reading x_{j-1}, j = 1 .. n_b  (values = true)
//   m:backward{ dlogp = {{...}} | dsum = {...}, dvalues = {{...}} }
//     accumulates the gradient of a loss given d loss / d res.logp (same shape), or
//     d loss / d res.sum (spread over the scored tokens), and d loss / d res.values.
//     Call m:zero_grad() first; the last forward must be of this model.
#include <stdlib.h>
#include <string.h>

#include "bind.h"

typedef struct {
  int B, T;
  int *tokens, *targets, *len;
  float *buf;
} fwd_scratch;

static void scratch_free(fwd_scratch *s) {
  free(s->tokens);
  free(s->targets);
  free(s->len);
  free(s->buf);
}

static int seq_len(lua_State *L, int seqs, int b) {
  lua_geti(L, seqs, b + 1);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    return -1;
  }
  int n = (int)luaL_len(L, -1);
  lua_pop(L, 1);
  return n;
}

static int l_forward(lua_State *L) {
  al_gpt *m = al_lua_checkgpt(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  static const char *const known[] = {"start", "mask", "values", "entropy", "logp", NULL};
  al_lua_checkopts(L, 3, "forward", known);
  int want_values = al_lua_optbool(L, 3, "values", 0);
  int want_ent = al_lua_optbool(L, 3, "entropy", 0);
  int want_logp = al_lua_optbool(L, 3, "logp", m->cfg.lm);
  if (want_values && !m->cfg.scalar) return luaL_error(L, "forward: values requested but the model has no scalar head");
  if ((want_logp || want_ent) && !m->cfg.lm) return luaL_error(L, "forward: model has no LM head (lm = false)");
  int B = (int)luaL_len(L, 2);
  if (B < 1) return luaL_error(L, "forward: empty batch");
  fwd_scratch s = {0};
  s.len = calloc((size_t)B, sizeof(int));
  if (!s.len) return luaL_error(L, "forward: out of memory");
  int T = 0;
  for (int b = 0; b < B; b++) {
    int n = seq_len(L, 2, b);
    if (n < 1) {
      scratch_free(&s);
      return luaL_error(L, "forward: sequence %d is %s", b + 1, n < 0 ? "not a table" : "empty");
    }
    s.len[b] = n;
    if (n > T) T = n;
  }
  if (T > m->cfg.maxT) {
    scratch_free(&s);
    return luaL_error(L, "forward: sequence of %d tokens exceeds the model's context %d", T, m->cfg.maxT);
  }
  s.B = B;
  s.T = T;
  s.tokens = calloc((size_t)B * T, sizeof(int));
  s.targets = malloc((size_t)B * T * sizeof(int));
  s.buf = calloc((size_t)B * T, sizeof(float));
  if (!s.tokens || !s.targets || !s.buf) {
    scratch_free(&s);
    return luaL_error(L, "forward: out of memory");
  }
  // start: a number or a per-sequence list
  int start_type = LUA_TNIL;
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "start");
    start_type = lua_type(L, -1);
    if (start_type != LUA_TNIL && start_type != LUA_TNUMBER && start_type != LUA_TTABLE) {
      scratch_free(&s);
      return luaL_error(L, "forward: option 'start' must be a number or a list");
    }
    lua_getfield(L, 3, "mask");
    if (!lua_isnil(L, -1) && !lua_istable(L, -1)) {
      scratch_free(&s);
      return luaL_error(L, "forward: option 'mask' must be a list of arrays");
    }
  } else {
    lua_pushnil(L);
    lua_pushnil(L);
  }
  int istart = lua_gettop(L) - 1, imask = lua_gettop(L);
  for (int b = 0; b < B; b++) {
    int n = s.len[b];
    lua_geti(L, 2, b + 1);
    for (int i = 0; i < n; i++) {
      lua_geti(L, -1, i + 1);
      int isnum;
      lua_Integer id = lua_tointegerx(L, -1, &isnum);
      lua_pop(L, 1);
      if (!isnum || id < 0 || id >= m->cfg.V) {
        scratch_free(&s);
        return luaL_error(L, "forward: sequence %d token %d is %s (vocabulary %d)", b + 1, i + 1,
                          isnum ? "out of range" : "not an integer", m->cfg.V);
      }
      s.tokens[b * T + i] = (int)id;
    }
    lua_pop(L, 1);
    int start = 1;
    if (start_type == LUA_TNUMBER) {
      start = (int)lua_tointeger(L, istart);
    } else if (start_type == LUA_TTABLE) {
      lua_geti(L, istart, b + 1);
      start = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : 1;
      lua_pop(L, 1);
    }
    if (start < 1) start = 1;
    int has_mask = 0;
    if (lua_istable(L, imask)) {
      lua_geti(L, imask, b + 1);
      has_mask = lua_istable(L, -1);
      if (!has_mask) lua_pop(L, 1);
    }
    for (int t = 0; t < T; t++) {
      int i = t + 1; // target token index
      int tgt = -1;
      if (i < n && i >= start) {
        tgt = s.tokens[b * T + i];
        if (has_mask) {
          lua_geti(L, -1, i + 1);
          if (lua_tonumber(L, -1) == 0) tgt = -1;
          lua_pop(L, 1);
        }
      }
      s.targets[b * T + t] = tgt;
    }
    if (has_mask) lua_pop(L, 1);
  }
  lua_pop(L, 2);
  al_status st = al_gpt_forward(m, s.tokens, B, T);
  if (st == AL_OK && (want_logp || want_ent)) st = al_gpt_logprobs(m, s.targets, s.buf);
  if (st != AL_OK) {
    scratch_free(&s);
    return al_lua_fail(L);
  }
  lua_createtable(L, 0, 5);
  if (want_logp) {
    lua_createtable(L, B, 0); // logp
    lua_createtable(L, B, 0); // sum
    lua_createtable(L, B, 0); // count
    for (int b = 0; b < B; b++) {
      int n = s.len[b];
      double sum = 0;
      int cnt = 0;
      lua_createtable(L, n - 1, 0);
      for (int t = 0; t < n - 1; t++) {
        float v = s.targets[b * T + t] >= 0 ? s.buf[b * T + t] : 0.0f;
        if (s.targets[b * T + t] >= 0) {
          sum += v;
          cnt++;
        }
        lua_pushnumber(L, v);
        lua_rawseti(L, -2, t + 1);
      }
      lua_rawseti(L, -4, b + 1);
      lua_pushnumber(L, sum);
      lua_rawseti(L, -3, b + 1);
      lua_pushinteger(L, cnt);
      lua_rawseti(L, -2, b + 1);
    }
    lua_setfield(L, -4, "count");
    lua_setfield(L, -3, "sum");
    lua_setfield(L, -2, "logp");
  }
  if (want_ent) {
    if (al_gpt_entropy(m, s.buf) != AL_OK) {
      scratch_free(&s);
      return al_lua_fail(L);
    }
    lua_createtable(L, B, 0);
    for (int b = 0; b < B; b++) {
      al_lua_pushfloats(L, s.buf + (size_t)b * T, s.len[b] - 1);
      lua_rawseti(L, -2, b + 1);
    }
    lua_setfield(L, -2, "entropy");
  }
  if (want_values) {
    lua_createtable(L, B, 0);
    for (int b = 0; b < B; b++) {
      al_lua_pushfloats(L, m->a.values + (size_t)b * T, s.len[b]);
      lua_rawseti(L, -2, b + 1);
    }
    lua_setfield(L, -2, "values");
  }
  scratch_free(&s);
  return 1;
}

// read a list of B float arrays into dst (B,T): entry j of row b goes to dst[b*T + j + shift]
static int read_rows(lua_State *L, int idx, const char *what, float *dst, int B, int T, int shift) {
  if ((int)luaL_len(L, idx) != B) return luaL_error(L, "backward: %s has %d rows, the last forward had %d",
                                                    what, (int)luaL_len(L, idx), B);
  for (int b = 0; b < B; b++) {
    lua_geti(L, idx, b + 1);
    if (!lua_istable(L, -1)) return luaL_error(L, "backward: %s row %d is not a table", what, b + 1);
    int n = (int)luaL_len(L, -1);
    if (n + shift > T) return luaL_error(L, "backward: %s row %d is longer than the sequence", what, b + 1);
    for (int j = 0; j < n; j++) {
      lua_geti(L, -1, j + 1);
      dst[(size_t)b * T + j + shift] = (float)lua_tonumber(L, -1);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  return 0;
}

static int l_backward(lua_State *L) {
  al_gpt *m = al_lua_checkgpt(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  static const char *const known[] = {"dlogp", "dsum", "dvalues", NULL};
  al_lua_checkopts(L, 2, "backward", known);
  int B = m->B, T = m->T;
  if (B < 1) return luaL_error(L, "backward: no forward pass to differentiate");
  float *dlogp = NULL, *dval = NULL;
  lua_getfield(L, 2, "dlogp");
  lua_getfield(L, 2, "dsum");
  lua_getfield(L, 2, "dvalues");
  int idl = lua_gettop(L) - 2, ids = lua_gettop(L) - 1, idv = lua_gettop(L);
  if (!lua_isnil(L, idl) && !lua_isnil(L, ids)) return luaL_error(L, "backward: give dlogp or dsum, not both");
  if (!lua_isnil(L, idl) || !lua_isnil(L, ids)) {
    if (!m->have_logprobs) return luaL_error(L, "backward: the last forward computed no log-probs");
    // a Lua error inside read_rows would leak a malloc'd buffer: use a userdata as scratch
    dlogp = lua_newuserdatauv(L, (size_t)B * T * sizeof(float), 0);
    memset(dlogp, 0, (size_t)B * T * sizeof(float));
    if (!lua_isnil(L, idl)) {
      luaL_checktype(L, idl, LUA_TTABLE);
      read_rows(L, idl, "dlogp", dlogp, B, T, 0);
    } else {
      luaL_checktype(L, ids, LUA_TTABLE);
      if ((int)luaL_len(L, ids) != B) return luaL_error(L, "backward: dsum has %d entries, the last forward had %d",
                                                        (int)luaL_len(L, ids), B);
      for (int b = 0; b < B; b++) {
        lua_geti(L, ids, b + 1);
        float d = (float)lua_tonumber(L, -1);
        lua_pop(L, 1);
        for (int t = 0; t < T; t++)
          if (m->targets[(size_t)b * T + t] >= 0) dlogp[(size_t)b * T + t] = d;
      }
    }
  }
  if (!lua_isnil(L, idv)) {
    if (!m->cfg.scalar) return luaL_error(L, "backward: dvalues given but the model has no scalar head");
    luaL_checktype(L, idv, LUA_TTABLE);
    dval = lua_newuserdatauv(L, (size_t)B * T * sizeof(float), 0);
    memset(dval, 0, (size_t)B * T * sizeof(float));
    read_rows(L, idv, "dvalues", dval, B, T, 0);
  }
  if (!dlogp && !dval) return luaL_error(L, "backward: nothing to backpropagate (give dlogp, dsum or dvalues)");
  if (al_gpt_backward(m, dlogp, dval) != AL_OK) return al_lua_fail(L);
  return 0;
}

int al_open_train(lua_State *L) {
  luaL_getmetatable(L, AL_GPT_MT);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0; // the model bindings are not there: nothing to extend
  }
  lua_getfield(L, -1, "__index");
  if (lua_istable(L, -1)) {
    lua_pushcfunction(L, l_forward);
    lua_setfield(L, -2, "forward");
    lua_pushcfunction(L, l_backward);
    lua_setfield(L, -2, "backward");
  }
  lua_pop(L, 2);
  return 0;
}
