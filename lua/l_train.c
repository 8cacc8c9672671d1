// alignlab shell: the training methods of al.GPT: batched forward and backward of a model on
// ragged token sequences, the one primitive every Lua trainer (pretrain, SFT, RM, DPO, PPO,
// GRPO) is built on, the exact KL between two models, and the one-call LM step m:train_step.
// Layering: l_core.c -> l_train.c -> l_gpt.c (al_lua_checkgpt, al_lua_gpt_methods, which puts
// these methods into the one al.GPT method table), l_optim.c's al_lua_checkadamw, l_util.c ->
// core. Optimizer, schedule and checkpoints are l_optim.c's; sampling is l_sample.c's.
//
//   loss, gnorm = m:train_step(batch, opt [, { lr = }])
//     mean next-token loss over the targets of a ragged batch, one AdamW step (see below).
//
//   res = m:forward(seqs [, { start = P | {P_1..P_B}, mask = {{...}}, values = bool,
//                             entropy = bool, logp = bool, last = bool, per_token = bool }])
//     seqs: list of B token arrays (0-based ids), ragged; sequence b is x_0 .. x_{n_b - 1}.
//     A token x_i (i >= 1) is "scored" when i >= start (default 1: all) and, if given,
//     mask[b][i+1] ~= 0 (mask has one entry per token, Lua index i+1 for x_i; false or an
//     absent row means no mask for that sequence).
//     res.logp[b][i]    = log p(x_i | x_<i) for i = 1 .. n_b - 1 (0 where not scored)
//     res.sum[b]        = sum of scored log-probs; res.count[b] = number of scored tokens
//     res.entropy[b][i] = entropy of p(. | x_<i), i = 1 .. n_b - 1        (entropy = true)
//     res.values[b][j]  = scalar head after reading x_{j-1}, j = 1 .. n_b  (values = true)
//     res.last[b]       = scalar head at the last token x_{n_b - 1}        (last = true)
//   per_token = false skips the per-token tables (logp, entropy, values): only sum, count and
//   last come back, which is all pretraining, SFT, DPO and reward models need.
//   res.last is THE reward rule of alignlab: a sequence's reward (or value) is the scalar head
//   read at its last token; sequences are ragged, never padded, so "last" needs no pad id.
//
//   m:backward{ dlogp = {{...}} | dsum = {...}, dvalues = {{...}} | dlast = {...} }
//     accumulates the gradient of a loss given d loss / d res.logp (same shape), or
//     d loss / d res.sum (spread over the scored tokens), and d loss / d res.values or
//     d loss / d res.last. Call m:zero_grad() first; the last forward must be of this model.
//
//   kl, rows = m:kl_to(ref [, { per_token = bool }])
//     exact KL(m || ref) between the two models' next-token distributions, summed over the
//     scored positions of each sequence: both models' last forwards must have been on the same
//     sequences with the same start/mask (checked). kl[b] is that sum; rows[b][i] the per-position
//     KL (per_token = true). Computed in double from the logits, so it is 0 exactly for a copy.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "al_optim.h"
#include "bind.h"


static int seq_len(lua_State *L, int seqs, int b) {
  int n = -1;
  if (lua_rawgeti(L, seqs, b + 1) == LUA_TTABLE) n = (int)lua_rawlen(L, -1);
  lua_pop(L, 1);
  return n;
}

static void push_rows(lua_State *L, const float *x, const int *len, int B, int T, int shift) {
  lua_createtable(L, B, 0);
  for (int b = 0; b < B; b++) {
    al_lua_pushfloats(L, x + (size_t)b * T, len[b] + shift);
    lua_rawseti(L, -2, b + 1);
  }
}

static void keep_lens(lua_State *L, int idx, const al_gpt *m, const int *len);

static int l_forward(lua_State *L) {
  lua_settop(L, 3); // fixed slots: scratch goes above
  al_gpt *m = al_lua_checkgpt(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  static const char *const known[] = {"start", "mask", "values", "entropy", "logp", "last",
                                      "per_token", NULL};
  al_lua_checkopts(L, 3, "forward", known);
  int want_values = al_lua_optbool(L, 3, "values", 0);
  int want_last = al_lua_optbool(L, 3, "last", 0);
  int want_ent = al_lua_optbool(L, 3, "entropy", 0);
  int want_logp = al_lua_optbool(L, 3, "logp", m->cfg.lm);
  int per_token = al_lua_optbool(L, 3, "per_token", 1);
  if ((want_values || want_last) && !m->cfg.scalar)
    return luaL_error(L, "forward: values requested but the model has no scalar head");
  if ((want_logp || want_ent) && !m->cfg.lm) return luaL_error(L, "forward: model has no LM head (lm = false)");
  int B = (int)lua_rawlen(L, 2);
  if (B < 1) return luaL_error(L, "forward: empty batch");
  int *len = al_lua_scratch(L, (size_t)B * sizeof(int));
  int T = 0;
  for (int b = 0; b < B; b++) {
    int n = seq_len(L, 2, b);
    if (n < 1) return luaL_error(L, "forward: sequence %d is %s", b + 1, n < 0 ? "not a table" : "empty");
    len[b] = n;
    if (n > T) T = n;
  }
  if (T > m->cfg.maxT)
    return luaL_error(L, "forward: sequence of %d tokens exceeds the model's context %d", T, m->cfg.maxT);
  int *tokens = al_lua_scratch(L, (size_t)B * T * sizeof(int));
  int *targets = al_lua_scratch(L, (size_t)B * T * sizeof(int));
  float *buf = al_lua_scratch(L, (size_t)B * T * sizeof(float));
  // start: a number or a per-sequence list; mask: a list of per-token arrays
  int istart = lua_gettop(L) + 1, imask = istart + 1;
  int start_type = LUA_TNIL;
  if (lua_istable(L, 3)) {
    start_type = lua_getfield(L, 3, "start");
    if (start_type != LUA_TNIL && start_type != LUA_TNUMBER && start_type != LUA_TTABLE)
      return luaL_error(L, "forward: option 'start' must be a number or a list");
    int mt = lua_getfield(L, 3, "mask");
    if (mt != LUA_TNIL && mt != LUA_TTABLE) return luaL_error(L, "forward: option 'mask' must be a list of arrays");
  } else {
    lua_pushnil(L);
    lua_pushnil(L);
  }
  for (int b = 0; b < B; b++) {
    int n = len[b];
    lua_rawgeti(L, 2, b + 1);
    int *row = tokens + (size_t)b * T;
    for (int i = 0; i < n; i++) {
      lua_rawgeti(L, -1, i + 1);
      int isnum;
      lua_Integer id = lua_tointegerx(L, -1, &isnum);
      lua_pop(L, 1);
      if (!isnum || id < 0 || id >= m->cfg.V)
        return luaL_error(L, "forward: sequence %d token %d is %s (vocabulary %d)", b + 1, i + 1,
                          isnum ? "out of range" : "not an integer", m->cfg.V);
      row[i] = (int)id;
    }
    lua_pop(L, 1);
    int start = 1;
    if (start_type == LUA_TNUMBER) {
      start = (int)lua_tointeger(L, istart);
    } else if (start_type == LUA_TTABLE) {
      lua_rawgeti(L, istart, b + 1);
      start = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : 1;
      lua_pop(L, 1);
    }
    if (start < 1) start = 1;
    int has_mask = 0;
    if (lua_istable(L, imask)) {
      lua_rawgeti(L, imask, b + 1);
      has_mask = lua_istable(L, -1);
      if (!has_mask) lua_pop(L, 1);
    }
    int *tg = targets + (size_t)b * T;
    for (int t = 0; t < T; t++) {
      int i = t + 1; // target token index
      int tgt = -1;
      if (i < n && i >= start) {
        tgt = row[i];
        if (has_mask) {
          lua_rawgeti(L, -1, i + 1);
          int v = lua_isboolean(L, -1) ? lua_toboolean(L, -1) : lua_tonumber(L, -1) != 0;
          if (!v) tgt = -1;
          lua_pop(L, 1);
        }
      }
      tg[t] = tgt;
    }
    if (has_mask) lua_pop(L, 1);
  }
  al_status st = al_gpt_forward(m, tokens, B, T);
  if (st == AL_OK && (want_logp || want_ent)) st = al_gpt_logprobs(m, targets, buf);
  if (st != AL_OK) return al_lua_fail(L);
  keep_lens(L, 1, m, len);
  lua_createtable(L, 0, 6);
  int res = lua_gettop(L);
  if (want_logp) {
    lua_createtable(L, B, 0); // sum
    lua_createtable(L, B, 0); // count
    for (int b = 0; b < B; b++) {
      double sum = 0;
      int cnt = 0;
      for (int t = 0; t < len[b] - 1; t++) {
        size_t i = (size_t)b * T + t;
        if (targets[i] >= 0) sum += buf[i], cnt++;
        else buf[i] = 0.0f;
      }
      lua_pushnumber(L, sum);
      lua_rawseti(L, -3, b + 1);
      lua_pushinteger(L, cnt);
      lua_rawseti(L, -2, b + 1);
    }
    lua_setfield(L, res, "count");
    lua_setfield(L, res, "sum");
    if (per_token) {
      push_rows(L, buf, len, B, T, -1);
      lua_setfield(L, res, "logp");
    }
  }
  if (want_ent && per_token) {
    if (al_gpt_entropy(m, buf) != AL_OK) return al_lua_fail(L);
    push_rows(L, buf, len, B, T, -1);
    lua_setfield(L, res, "entropy");
  }
  if (want_values && per_token) {
    push_rows(L, m->a.values, len, B, T, 0);
    lua_setfield(L, res, "values");
  }
  if (want_last) {
    lua_createtable(L, B, 0);
    for (int b = 0; b < B; b++) {
      lua_pushnumber(L, (lua_Number)m->a.values[(size_t)b * T + len[b] - 1]);
      lua_rawseti(L, -2, b + 1);
    }
    lua_setfield(L, res, "last");
  }
  return 1;
}

// Read a list of B float arrays into dst (B,T): entry j of row b goes to dst[b*T + j - 1].
static void read_rows(lua_State *L, int idx, const char *what, float *dst, int B, int T) {
  if ((int)lua_rawlen(L, idx) != B)
    luaL_error(L, "backward: %s has %d rows, the last forward had %d", what, (int)lua_rawlen(L, idx), B);
  for (int b = 0; b < B; b++) {
    if (lua_rawgeti(L, idx, b + 1) != LUA_TTABLE) luaL_error(L, "backward: %s row %d is not a table", what, b + 1);
    int n = (int)lua_rawlen(L, -1);
    if (n > T) luaL_error(L, "backward: %s row %d is longer than the sequence", what, b + 1);
    for (int j = 0; j < n; j++) {
      lua_rawgeti(L, -1, j + 1);
      int isnum;
      double v = lua_tonumberx(L, -1, &isnum);
      if (!isnum) luaL_error(L, "backward: %s[%d][%d] is not a number", what, b + 1, j + 1);
      dst[(size_t)b * T + j] = (float)v;
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
}

// A list of B numbers at idx into x (B).
static void read_list(lua_State *L, int idx, const char *what, double *x, int B) {
  if ((int)lua_rawlen(L, idx) != B)
    luaL_error(L, "backward: %s has %d entries, the last forward had %d", what, (int)lua_rawlen(L, idx), B);
  for (int b = 0; b < B; b++) {
    lua_rawgeti(L, idx, b + 1);
    int isnum;
    x[b] = lua_tonumberx(L, -1, &isnum);
    if (!isnum) luaL_error(L, "backward: %s[%d] is not a number", what, b + 1);
    lua_pop(L, 1);
  }
}

static const int *kept_lens(lua_State *L, int idx, const al_gpt *m);

static int l_backward(lua_State *L) {
  lua_settop(L, 2);
  al_gpt *m = al_lua_checkgpt(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  static const char *const known[] = {"dlogp", "dsum", "dvalues", "dlast", NULL};
  al_lua_checkopts(L, 2, "backward", known);
  int B = m->B, T = m->T;
  if (B < 1) return luaL_error(L, "backward: no forward pass to differentiate");
  if (m->frozen) return luaL_error(L, "backward: the model is frozen");
  float *dlogp = NULL, *dval = NULL;
  lua_getfield(L, 2, "dlogp");
  lua_getfield(L, 2, "dsum");
  lua_getfield(L, 2, "dvalues");
  lua_getfield(L, 2, "dlast");
  int idl = 3, ids = 4, idv = 5, idz = 6;
  if (!lua_isnil(L, idl) && !lua_isnil(L, ids)) return luaL_error(L, "backward: give dlogp or dsum, not both");
  if (!lua_isnil(L, idv) && !lua_isnil(L, idz)) return luaL_error(L, "backward: give dvalues or dlast, not both");
  if (!lua_isnil(L, idl) || !lua_isnil(L, ids)) {
    if (!m->have_logprobs) return luaL_error(L, "backward: the last forward computed no log-probs");
    dlogp = al_lua_scratch(L, (size_t)B * T * sizeof(float));
    if (!lua_isnil(L, idl)) {
      luaL_checktype(L, idl, LUA_TTABLE);
      read_rows(L, idl, "dlogp", dlogp, B, T);
    } else {
      luaL_checktype(L, ids, LUA_TTABLE);
      double *d = al_lua_scratch(L, (size_t)B * sizeof(double));
      read_list(L, ids, "dsum", d, B);
      for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
          if (m->targets[(size_t)b * T + t] >= 0) dlogp[(size_t)b * T + t] = (float)d[b];
    }
  }
  if (!lua_isnil(L, idv) || !lua_isnil(L, idz)) {
    if (!m->cfg.scalar) return luaL_error(L, "backward: dvalues given but the model has no scalar head");
    dval = al_lua_scratch(L, (size_t)B * T * sizeof(float));
    if (!lua_isnil(L, idv)) {
      luaL_checktype(L, idv, LUA_TTABLE);
      read_rows(L, idv, "dvalues", dval, B, T);
    } else {
      luaL_checktype(L, idz, LUA_TTABLE);
      // the lengths of the last forward's sequences, kept by forward in the registry
      const int *len = kept_lens(L, 1, m);
      if (!len) return luaL_error(L, "backward: dlast needs the last forward of this model to be m:forward");
      double *d = al_lua_scratch(L, (size_t)B * sizeof(double));
      read_list(L, idz, "dlast", d, B);
      for (int b = 0; b < B; b++) dval[(size_t)b * T + len[b] - 1] = (float)d[b];
    }
  }
  if (!dlogp && !dval) return luaL_error(L, "backward: nothing to backpropagate (give dlogp, dsum, dvalues or dlast)");
  if (al_gpt_backward(m, dlogp, dval) != AL_OK) return al_lua_fail(L);
  return 0;
}

// The lengths of the sequences of a model's last m:forward, for backward's dlast and kl_to. They
// live in a weak-keyed registry table (model userdata -> record of B, T, len (B), tokens (B,T)),
// and are trusted only while the model's last forward is still that one (same B, T, tokens):
// m:logits, m:train_step or scoring in between make them stale, and then they are refused.
#define LENS_KEY "al.train.lens"

static void keep_lens(lua_State *L, int idx, const al_gpt *m, const int *len) {
  idx = lua_absindex(L, idx);
  if (lua_getfield(L, LUA_REGISTRYINDEX, LENS_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, LENS_KEY);
  }
  size_t BT = (size_t)m->B * m->T;
  int *rec = lua_newuserdatauv(L, (2 + (size_t)m->B + BT) * sizeof(int), 0);
  rec[0] = m->B, rec[1] = m->T;
  memcpy(rec + 2, len, (size_t)m->B * sizeof(int));
  memcpy(rec + 2 + m->B, m->tokens, BT * sizeof(int));
  lua_pushvalue(L, idx);
  lua_insert(L, -2);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

// The kept lengths of the model at idx (NULL when stale or absent); pushes one value.
static const int *kept_lens(lua_State *L, int idx, const al_gpt *m) {
  idx = lua_absindex(L, idx);
  if (lua_getfield(L, LUA_REGISTRYINDEX, LENS_KEY) != LUA_TTABLE) return NULL;
  lua_pushvalue(L, idx);
  lua_rawget(L, -2);
  lua_remove(L, -2);
  const int *rec = lua_touserdata(L, -1);
  if (!rec || rec[0] != m->B || rec[1] != m->T ||
      memcmp(rec + 2 + m->B, m->tokens, (size_t)m->B * m->T * sizeof(int)) != 0)
    return NULL;
  return rec + 2;
}

// log-softmax of one logits row (V) into out, in double
static void log_softmax(double *out, const float *z, int V) {
  double mx = z[0];
  for (int v = 1; v < V; v++)
    if (z[v] > mx) mx = z[v];
  double s = 0;
  for (int v = 0; v < V; v++) s += exp((double)z[v] - mx);
  double lse = mx + log(s);
  for (int v = 0; v < V; v++) out[v] = (double)z[v] - lse;
}

static int l_kl_to(lua_State *L) {
  static const char *const known[] = {"per_token", NULL};
  lua_settop(L, 3);
  al_gpt *p = al_lua_checkgpt(L, 1), *q = al_lua_checkgpt(L, 2);
  al_lua_checkopts(L, 3, "kl_to", known);
  int per_token = al_lua_optbool(L, 3, "per_token", 0);
  if (!p->cfg.lm || !q->cfg.lm) return luaL_error(L, "kl_to: both models need the lm head");
  if (p->cfg.V != q->cfg.V) return luaL_error(L, "kl_to: vocabularies differ (%d vs %d)", p->cfg.V, q->cfg.V);
  int B = p->B, T = p->T, V = p->cfg.V;
  if (B < 1 || !p->have_logprobs || !q->have_logprobs)
    return luaL_error(L, "kl_to: run m:forward on both models first (with log-probs)");
  if (q->B != B || q->T != T || memcmp(p->tokens, q->tokens, (size_t)B * T * sizeof(int)) != 0 ||
      memcmp(p->targets, q->targets, (size_t)B * T * sizeof(int)) != 0)
    return luaL_error(L, "kl_to: the two models' last forwards were on different sequences");
  const int *len = kept_lens(L, 1, p);
  if (!len) return luaL_error(L, "kl_to: the last forward of the model was not m:forward");
  double *lp = al_lua_scratch(L, (size_t)V * sizeof(double)), *lq = al_lua_scratch(L, (size_t)V * sizeof(double));
  float *rows = al_lua_scratch(L, (size_t)B * T * sizeof(float));
  lua_createtable(L, B, 0);
  int out = lua_gettop(L);
  for (int b = 0; b < B; b++) {
    double s = 0;
    for (int t = 0; t < T; t++) {
      size_t i = (size_t)b * T + t;
      if (p->targets[i] < 0) continue;
      log_softmax(lp, p->a.logits + i * V, V);
      log_softmax(lq, q->a.logits + i * V, V);
      double k = 0;
      for (int v = 0; v < V; v++) k += exp(lp[v]) * (lp[v] - lq[v]);
      if (k < 0) k = 0; // rounding: KL >= 0
      rows[i] = (float)k;
      s += k;
    }
    lua_pushnumber(L, s);
    lua_rawseti(L, out, b + 1);
  }
  if (!per_token) return 1;
  push_rows(L, rows, len, B, T, -1);
  return 2;
}

// ---- the one-call LM step ----

// m:train_step(batch, opt [, { lr = }]) -> mean next-token loss, gradient norm
// batch: list of token arrays (ragged, right-padded here); batch.mask: list of per-token 0/1
// arrays, mask[b][i+1] ~= 0 when token x_i counts as a target (default: all of x_1..).
static int m_train_step(lua_State *L) {
  static const char *const known[] = {"lr", NULL};
  lua_settop(L, 4);
  al_gpt *m = al_lua_checkgpt(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  al_adamw *o = al_lua_checkadamw(L, 3);
  al_lua_checkopts(L, 4, "train_step", known);
  float lr = (float)al_lua_optnum(L, 4, "lr", o->cfg.lr);
  if (m->frozen) return luaL_error(L, "train_step: the model is frozen");
  if (!m->cfg.lm) return luaL_error(L, "train_step: the model has no lm head");
  int B = (int)lua_rawlen(L, 2);
  if (B < 1) return luaL_error(L, "train_step: empty batch");
  lua_getfield(L, 2, "mask");
  int maskidx = lua_gettop(L);
  int hasmask = !lua_isnil(L, maskidx);
  if (hasmask) luaL_argexpected(L, lua_istable(L, maskidx), 2, "batch.mask to be a table");
  int T = 0;
  for (int b = 0; b < B; b++) {
    if (lua_rawgeti(L, 2, b + 1) != LUA_TTABLE)
      return luaL_error(L, "train_step: batch[%d] must be a token array (got %s)", b + 1,
                        luaL_typename(L, -1));
    int n = (int)lua_rawlen(L, -1);
    lua_pop(L, 1);
    if (n > m->cfg.maxT)
      return luaL_error(L, "train_step: batch[%d] has %d tokens, more than the model's ctx = %d",
                        b + 1, n, m->cfg.maxT);
    if (n > T) T = n;
  }
  if (T < 2) return luaL_error(L, "train_step: every sequence is shorter than 2 tokens");
  int *tok = al_lua_scratch(L, (size_t)B * T * sizeof(int));
  int *tgt = al_lua_scratch(L, (size_t)B * T * sizeof(int));
  float *logp = al_lua_scratch(L, (size_t)B * T * sizeof(float));
  float *dlogp = al_lua_scratch(L, (size_t)B * T * sizeof(float));
  int count = 0;
  for (int b = 0; b < B; b++) {
    lua_rawgeti(L, 2, b + 1);
    int n = (int)lua_rawlen(L, -1);
    if (hasmask && lua_rawgeti(L, maskidx, b + 1) != LUA_TTABLE)
      return luaL_error(L, "train_step: batch.mask[%d] must be an array", b + 1);
    if (hasmask && (int)lua_rawlen(L, -1) != n)
      return luaL_error(L, "train_step: batch.mask[%d] has %d entries for %d tokens", b + 1,
                        (int)lua_rawlen(L, -1), n);
    int seq = lua_gettop(L) - hasmask;
    for (int i = 0; i < T; i++) {
      tgt[b * T + i] = -1;
      if (i >= n) continue; // right padding: token 0, never a target
      lua_rawgeti(L, seq, i + 1);
      int isint = 0;
      lua_Integer v = lua_tointegerx(L, -1, &isint);
      if (!isint || v < 0 || v >= m->cfg.V)
        return luaL_error(L, "train_step: batch[%d][%d] must be a token id in [0, %d)", b + 1,
                          i + 1, m->cfg.V);
      lua_pop(L, 1);
      tok[b * T + i] = (int)v;
    }
    for (int i = 1; i < n; i++) {
      int on = 1;
      if (hasmask) {
        lua_rawgeti(L, -1, i + 1);
        if (!lua_isnumber(L, -1) && !lua_isboolean(L, -1))
          return luaL_error(L, "train_step: batch.mask[%d][%d] must be 0 or 1", b + 1, i + 1);
        on = lua_isboolean(L, -1) ? lua_toboolean(L, -1) : lua_tonumber(L, -1) != 0;
        lua_pop(L, 1);
      }
      if (on) {
        tgt[b * T + i - 1] = tok[b * T + i]; // position i-1 predicts token i
        count++;
      }
    }
    lua_pop(L, 1 + hasmask);
  }
  if (count == 0) return luaL_error(L, "train_step: no target tokens (the mask is all zero)");
  if (al_gpt_zero_grad(m) != AL_OK) return al_lua_fail(L);
  if (al_gpt_forward(m, tok, B, T) != AL_OK) return al_lua_fail(L);
  if (al_gpt_logprobs(m, tgt, logp) != AL_OK) return al_lua_fail(L);
  double loss = 0;
  for (int i = 0; i < B * T; i++)
    if (tgt[i] >= 0) {
      loss -= logp[i];
      dlogp[i] = -1.0f / (float)count;
    }
  loss /= count;
  if (!isfinite(loss)) return luaL_error(L, "train_step: non-finite loss (%f); nothing updated", loss);
  if (al_gpt_backward(m, dlogp, NULL) != AL_OK) return al_lua_fail(L);
  double gnorm = 0;
  if (al_adamw_step(o, m, lr, &gnorm) != AL_OK) return al_lua_fail(L);
  lua_pushnumber(L, loss);
  lua_pushnumber(L, gnorm);
  return 2;
}

// ---- registration ----

static const luaL_Reg train_methods[] = {{"forward", l_forward},   {"backward", l_backward},
                                         {"kl_to", l_kl_to},       {"train_step", m_train_step},
                                         {NULL, NULL}};

int al_open_train(lua_State *L) {
  al_lua_gpt_methods(L, train_methods);
  return 0;
}
