// alignlab shell: al.obj's preference objectives (core/obj_pref.c), with their gradients:
//   bt_loss (Bradley-Terry reward model), dpo_loss (DPO, cDPO, IPO, hinge, SimPO), kto_loss,
//   logistic_loss (a binary head: P(IK)).
// Layering: l_core.c -> l_obj_pref.c -> l_obj_util.c (array readers, the one result writer) ->
// core. RL objectives are l_obj_rl.c's, the measurement kit l_obj_stats.c's.
#include "l_obj_util.h"

// bt_loss{ chosen, rejected, margin = nil, label = nil, center = 0 }
//   -> { loss, accuracy, margin, mean_reward, d_chosen, d_rejected }
static const al_lobj_field bt_fields[] = {
    AL_LOBJ_NUMF(al_bt_out, loss),        AL_LOBJ_NUMF(al_bt_out, accuracy),
    AL_LOBJ_NUMF(al_bt_out, margin),      AL_LOBJ_NUMF(al_bt_out, mean_reward),
    {"d_chosen", AL_LOBJ_VEC, 0, NULL},   {"d_rejected", AL_LOBJ_VEC, 1, NULL},
    {NULL, 0, 0, NULL}};

static int l_bt_loss(lua_State *L) {
  static const char *const known[] = {"chosen", "rejected", "margin", "label", "center", NULL};
  const char *fn = "bt_loss";
  al_lobj_checkopts(L, fn, known);
  int P;
  double *rc = al_lobj_vec(L, fn, 1, "chosen", &P, 1, 0);
  double *rr = al_lobj_vec_like(L, fn, "rejected", "chosen", P, 1, 0);
  double *mg = al_lobj_vec_like(L, fn, "margin", "chosen", P, 0, 0);
  double *p = al_lobj_vec_like(L, fn, "label", "chosen", P, 0, 0);
  double center = al_lua_optnum(L, 1, "center", 0);
  double *dc = al_lobj_newbuf(L, (size_t)P), *dr = al_lobj_newbuf(L, (size_t)P);
  al_bt_out o;
  if (al_bt_loss(&o, dc, dr, rc, rr, mg, p, P, center) != AL_OK) return al_lua_fail(L);
  al_lobj_push(L, bt_fields, &o, (const void *[]){dc, dr}, P, NULL);
  return 1;
}

// dpo_loss{ policy_chosen, policy_rejected, ref_chosen, ref_rejected, len_chosen, len_rejected,
//           beta = 0.1, loss = "sigmoid"|"cdpo"|"ipo"|"hinge"|"simpo", label_smoothing = 0,
//           gamma = 0.5 }
//   -> { loss, d_chosen, d_rejected, rewards_chosen, rewards_rejected, rewards_margins,
//        rewards_accuracies, logps_chosen, logps_rejected, metrics = { TRL keys } }
static const al_lobj_field dpo_metrics[] = { // TRL's metric keys (peers.md section 8)
    {"loss", AL_LOBJ_NUM, offsetof(al_dpo_out, loss), NULL},
    {"rewards/chosen", AL_LOBJ_NUM, offsetof(al_dpo_out, rewards_chosen), NULL},
    {"rewards/rejected", AL_LOBJ_NUM, offsetof(al_dpo_out, rewards_rejected), NULL},
    {"rewards/margins", AL_LOBJ_NUM, offsetof(al_dpo_out, rewards_margins), NULL},
    {"rewards/accuracies", AL_LOBJ_NUM, offsetof(al_dpo_out, rewards_accuracies), NULL},
    {"logps/chosen", AL_LOBJ_NUM, offsetof(al_dpo_out, logps_chosen), NULL},
    {"logps/rejected", AL_LOBJ_NUM, offsetof(al_dpo_out, logps_rejected), NULL},
    {NULL, 0, 0, NULL}};

static const al_lobj_field dpo_fields[] = {
    AL_LOBJ_NUMF(al_dpo_out, loss),
    {"d_chosen", AL_LOBJ_VEC, 0, NULL},
    {"d_rejected", AL_LOBJ_VEC, 1, NULL},
    AL_LOBJ_NUMF(al_dpo_out, rewards_chosen),
    AL_LOBJ_NUMF(al_dpo_out, rewards_rejected),
    AL_LOBJ_NUMF(al_dpo_out, rewards_margins),
    AL_LOBJ_NUMF(al_dpo_out, rewards_accuracies),
    AL_LOBJ_NUMF(al_dpo_out, logps_chosen),
    AL_LOBJ_NUMF(al_dpo_out, logps_rejected),
    {"metrics", AL_LOBJ_SUB, 0, dpo_metrics},
    {NULL, 0, 0, NULL}};

static int l_dpo_loss(lua_State *L) {
  static const char *const known[] = {"policy_chosen", "policy_rejected", "ref_chosen", "ref_rejected",
                                      "len_chosen", "len_rejected", "beta", "loss",
                                      "label_smoothing", "gamma", NULL};
  static const char *const kinds[] = {"sigmoid", "ipo", "hinge", "simpo", "cdpo", NULL};
  const char *fn = "dpo_loss";
  al_lobj_checkopts(L, fn, known);
  int k = al_lobj_optenum(L, fn, "loss", "sigmoid", kinds);
  al_dpo_opts op = {k == 4 ? AL_DPO_SIGMOID : (al_dpo_kind)k, al_lua_optnum(L, 1, "beta", 0.1),
                    al_lua_optnum(L, 1, "label_smoothing", 0), al_lua_optnum(L, 1, "gamma", 0.5)};
  int simpo = op.kind == AL_DPO_SIMPO;
  int P;
  double *pc = al_lobj_vec(L, fn, 1, "policy_chosen", &P, 1, 0);
  double *pr = al_lobj_vec_like(L, fn, "policy_rejected", "policy_chosen", P, 1, 0);
  double *rc = al_lobj_vec_like(L, fn, "ref_chosen", "policy_chosen", P, !simpo, 0);
  double *rr = al_lobj_vec_like(L, fn, "ref_rejected", "policy_chosen", P, !simpo, 0);
  int *lc = al_lobj_ivec_like(L, fn, "len_chosen", "policy_chosen", P, simpo);
  int *lr = al_lobj_ivec_like(L, fn, "len_rejected", "policy_chosen", P, simpo);
  double *dc = al_lobj_newbuf(L, (size_t)P), *dr = al_lobj_newbuf(L, (size_t)P);
  al_dpo_out o;
  if (al_dpo_loss(&o, dc, dr, pc, pr, simpo ? NULL : rc, simpo ? NULL : rr, lc, lr, P, &op) != AL_OK)
    return al_lua_fail(L);
  al_lobj_push(L, dpo_fields, &o, (const void *[]){dc, dr}, P, NULL);
  return 1;
}

// kto_loss{ policy, ref, desirable (booleans or 0/1), z0 = 0, beta = 0.1,
//           desirable_weight = 1, undesirable_weight = 1 }
//   -> { loss, d_policy, rewards_chosen, rewards_rejected, kl }
static const al_lobj_field kto_fields[] = {
    AL_LOBJ_NUMF(al_kto_out, loss), {"d_policy", AL_LOBJ_VEC, 0, NULL},
    AL_LOBJ_NUMF(al_kto_out, rewards_chosen), AL_LOBJ_NUMF(al_kto_out, rewards_rejected),
    AL_LOBJ_NUMF(al_kto_out, kl), {NULL, 0, 0, NULL}};

static int l_kto_loss(lua_State *L) {
  static const char *const known[] = {"policy", "ref", "desirable", "z0", "beta",
                                      "desirable_weight", "undesirable_weight", NULL};
  const char *fn = "kto_loss";
  al_lobj_checkopts(L, fn, known);
  int N;
  double *pi = al_lobj_vec(L, fn, 1, "policy", &N, 1, 0);
  double *ref = al_lobj_vec_like(L, fn, "ref", "policy", N, 1, 0);
  double *dz = al_lobj_vec_like(L, fn, "desirable", "policy", N, 1, 1);
  int *des = lua_newuserdatauv(L, (size_t)N * sizeof(int) + 1, 0);
  for (int i = 0; i < N; i++) des[i] = dz[i] != 0;
  double *g = al_lobj_newbuf(L, (size_t)N);
  al_kto_out o;
  if (al_kto_loss(&o, g, pi, ref, des, N, al_lua_optnum(L, 1, "z0", 0), al_lua_optnum(L, 1, "beta", 0.1),
                  al_lua_optnum(L, 1, "desirable_weight", 1), al_lua_optnum(L, 1, "undesirable_weight", 1)) != AL_OK)
    return al_lua_fail(L);
  al_lobj_push(L, kto_fields, &o, (const void *[]){g}, N, NULL);
  return 1;
}

// ---- registration ----

// logistic_loss{ logits, targets } -> { loss, accuracy, mean_p, d_logits }
static const al_lobj_field logistic_fields[] = {
    AL_LOBJ_NUMF(al_logistic_out, loss), AL_LOBJ_NUMF(al_logistic_out, accuracy),
    AL_LOBJ_NUMF(al_logistic_out, mean_p), {"d_logits", AL_LOBJ_VEC, 0, NULL},
    {NULL, 0, 0, NULL}};

static int l_logistic_loss(lua_State *L) {
  static const char *const known[] = {"logits", "targets", NULL};
  const char *fn = "logistic_loss";
  al_lobj_checkopts(L, fn, known);
  int N;
  double *z = al_lobj_vec(L, fn, 1, "logits", &N, 1, 0);
  double *y = al_lobj_vec_like(L, fn, "targets", "logits", N, 1, 0);
  double *dz = al_lobj_newbuf(L, (size_t)N);
  al_logistic_out o;
  if (al_logistic_loss(&o, dz, z, y, N) != AL_OK) return al_lua_fail(L);
  al_lobj_push(L, logistic_fields, &o, (const void *[]){dz}, N, NULL);
  return 1;
}

static const luaL_Reg funcs[] = {
    {"bt_loss", l_bt_loss},
    {"dpo_loss", l_dpo_loss},
    {"kto_loss", l_kto_loss},
    {"logistic_loss", l_logistic_loss},
    {NULL, NULL},
};

int al_open_obj_pref(lua_State *L) {
  luaL_setfuncs(L, funcs, 0);
  return 0;
}
