-- Tests of lua/l_obj_pref.c, l_obj_rl.c, l_obj_stats.c (and l_obj_util.c): every al.core.obj binding once, the shapes it returns, and its errors.
print("testing obj")
local al = require "al"
local obj = al.core.obj
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local fails = T.fails

local function near(a, b, tol, what)
  assert(math.abs(a - b) <= (tol or 1e-12), string.format("%s: %.17g vs %.17g", what or "value", a, b))
end

assert(al.obj == obj, "al.obj resolves to the core table")

-- ---- Bradley-Terry ----
do
  local r = obj.bt_loss{ chosen = { 1, 0 }, rejected = { 0, 0 } }
  near(r.loss, (math.log(1 + math.exp(-1)) + math.log(2)) / 2, 1e-15, "bt loss")
  near(r.accuracy, 0.75, 0, "bt accuracy (tie counts 1/2)")
  assert(#r.d_chosen == 2 and #r.d_rejected == 2)
  near(r.d_chosen[1], -1 / (1 + math.exp(1)) / 2, 1e-15, "bt d_chosen")
  near(r.d_rejected[1], -r.d_chosen[1], 0, "bt d_rejected")
  local s = obj.bt_loss{ chosen = { 0.3 }, rejected = { 0.1 }, label = { 0.7 }, margin = { 0.05 }, center = 0.01 }
  local w = obj.bt_loss{ chosen = { 0.1 }, rejected = { 0.3 }, label = { 0.3 }, margin = { -0.05 }, center = 0.01 }
  near(s.loss, w.loss, 1e-15, "bt antisymmetry")
  fails("bt_loss: unknown option 'centre'", obj.bt_loss, { chosen = { 1 }, rejected = { 0 }, centre = 1 })
  fails("'rejected' has 1 entries but 'chosen' has 2", obj.bt_loss, { chosen = { 1, 2 }, rejected = { 0 } })
  fails("chosen[2] must be a number", obj.bt_loss, { chosen = { 1, "x" }, rejected = { 0, 0 } })
  fails("outside [0,1]", obj.bt_loss, { chosen = { 1 }, rejected = { 0 }, label = { 2 } })
  fails("rejected is required", obj.bt_loss, { chosen = { 1 } })
end

-- ---- DPO family ----
do
  local pc, pr = { -10, -12, -7 }, { -11, -9, -8 }
  local r = obj.dpo_loss{ policy_chosen = pc, policy_rejected = pr, ref_chosen = pc, ref_rejected = pr, beta = 0.1 }
  near(r.loss, math.log(2), 1e-15, "dpo at the reference")
  near(r.d_chosen[1], -0.5 * 0.1 / 3, 1e-17, "dpo gradient at the reference")
  assert(r.metrics["rewards/accuracies"] == 0 and r.rewards_margins == 0)
  assert(r.metrics["logps/chosen"] == r.logps_chosen)
  local ipo = obj.dpo_loss{ policy_chosen = pc, policy_rejected = pr, ref_chosen = pc, ref_rejected = pr,
                            beta = 0.5, loss = "ipo" }
  near(ipo.loss, 1 / (4 * 0.25), 1e-15, "ipo at the reference")
  local hinge = obj.dpo_loss{ policy_chosen = pc, policy_rejected = pr, ref_chosen = pc, ref_rejected = pr,
                              loss = "hinge" }
  near(hinge.loss, 1, 0, "hinge at the reference")
  local c = obj.dpo_loss{ policy_chosen = pc, policy_rejected = pr, ref_chosen = { -9, -12, -7 },
                          ref_rejected = pr, loss = "cdpo", label_smoothing = 0.1 }
  assert(c.loss > 0 and c.rewards_chosen < 0)
  local s = obj.dpo_loss{ policy_chosen = pc, policy_rejected = pr, len_chosen = { 5, 6, 7 },
                          len_rejected = { 4, 4, 4 }, loss = "simpo", beta = 2, gamma = 0.5 }
  local want = 0
  for i = 1, 3 do
    local z = 2 * (pc[i] / ({ 5, 6, 7 })[i] - pr[i] / 4) - 0.5
    want = want + math.log(1 + math.exp(-z)) / 3
  end
  near(s.loss, want, 1e-13, "simpo")
  fails("loss = 'dpo' is not one of", obj.dpo_loss, { policy_chosen = pc, policy_rejected = pr,
        ref_chosen = pc, ref_rejected = pr, loss = "dpo" })
  fails("ref_chosen is required", obj.dpo_loss, { policy_chosen = pc, policy_rejected = pr })
  fails("len_chosen is required", obj.dpo_loss, { policy_chosen = pc, policy_rejected = pr, loss = "simpo" })
  fails("len_chosen[1] must be an integer", obj.dpo_loss, { policy_chosen = pc, policy_rejected = pr,
        loss = "simpo", len_chosen = { 1.5, 2, 3 }, len_rejected = { 1, 2, 3 } })
  fails("beta = 0, need > 0", obj.dpo_loss, { policy_chosen = pc, policy_rejected = pr,
        ref_chosen = pc, ref_rejected = pr, beta = 0 })
  fails("option 'beta' must be a number", obj.dpo_loss, { policy_chosen = pc, policy_rejected = pr,
        ref_chosen = pc, ref_rejected = pr, beta = "big" })
end

-- ---- KTO ----
do
  local r = obj.kto_loss{ policy = { -3, -4 }, ref = { -3, -4 }, desirable = { true, false },
                          undesirable_weight = 1.5 }
  near(r.loss, (0.5 + 0.75) / 2, 1e-15, "kto at the reference")
  assert(#r.d_policy == 2 and r.d_policy[1] < 0 and r.d_policy[2] > 0)
  fails("desirable is required", obj.kto_loss, { policy = { 1 }, ref = { 1 } })
end

-- ---- PPO: ragged rows in, the same rows out ----
do
  local logp = { { -1, -2, -0.5 }, { -0.3 } }
  local adv = { { 1, -1, 0.5 }, { 2 } }
  local r = obj.ppo_policy_loss{ logp = logp, old_logp = logp, advantages = adv }
  near(r.loss, -(1 - 1 + 0.5 + 2) / 4, 1e-15, "ppo at ratio 1")
  assert(r.clipfrac == 0 and r.approx_kl == 0 and r.ratio_mean == 1)
  assert(#r.dlogp == 2 and #r.dlogp[1] == 3 and #r.dlogp[2] == 1, "dlogp keeps the ragged shape")
  near(r.dlogp[2][1], -2 / 4, 1e-15, "ppo gradient")
  local m = obj.ppo_policy_loss{ logp = logp, old_logp = logp, advantages = adv,
                                 mask = { { true, false, true }, { 1 } }, clip = 0.1 }
  near(m.loss, -(1 + 0.5 + 2) / 3, 1e-15, "masked ppo")
  assert(m.dlogp[1][2] == 0)
  local flat = obj.ppo_policy_loss{ logp = { 0.1, 0.2 }, old_logp = { 0, 0 }, advantages = { 1, 1 } }
  assert(#flat.dlogp == 2 and type(flat.dlogp[1]) == "number", "flat arrays stay flat")
  fails("does not have the shape of 'logp'", obj.ppo_policy_loss,
        { logp = logp, old_logp = { -1, -2, -0.5, -0.3 }, advantages = adv })
  fails("row 2 of advantages has 2 entries", obj.ppo_policy_loss,
        { logp = logp, old_logp = logp, advantages = { { 1, 1, 1 }, { 1, 1 } } })
  fails("clip eps = 0", obj.ppo_policy_loss, { logp = logp, old_logp = logp, advantages = adv, clip = 0 })

  local v = obj.ppo_value_loss{ values = { { 0.1, 0.5 } }, old_values = { { 0, 0 } }, returns = { { 1, 1 } } }
  near(v.loss, (0.405 + 0.32) / 2, 1e-15, "value loss")
  assert(v.dvalues[1][2] == 0 and v.clipfrac == 0.5)
  near(obj.explained_variance({ 1, 2, 3 }, { 1, 2, 3 }), 1, 1e-15, "explained variance")
end

-- ---- GAE, whitening, KL ----
do
  local g = obj.gae{ rewards = { { 1, 0, 2 } }, values = { { 0.5, 1.0, -0.5 } }, gamma = 0.9, lam = 0.8 }
  near(g.advantages[1][1], 1.652, 1e-14, "gae A0")
  near(g.returns[1][1], 2.152, 1e-14, "gae R0")
  fails("gae: unknown option 'lambda'", obj.gae, { rewards = { 1 }, values = { 0 }, lambda = 0.9 })

  local w = obj.whiten({ 1, 2, 3, 4, 5 })
  local s, ss = 0, 0
  for _, x in ipairs(w) do s, ss = s + x, ss + x * x end
  near(s, 0, 1e-14, "whitened mean")
  near(ss / 4, 1, 1e-8, "whitened variance")
  local wc = obj.whiten({ { 1, 2 }, { 3, 100 } }, { clip = 1, shift_mean = true })
  assert(wc[2][2] == 1, "clipped")
  fails("need at least 2", obj.whiten, { 1 })
  fails("whiten: unknown option 'shift'", obj.whiten, { 1, 2 }, { shift = true })

  local k = obj.kl_estimate{ logp = { -1, -2 }, ref_logp = { -1.5, -1 }, estimator = "k3" }
  near(k[1], math.exp(-0.5) - 1 + 0.5, 1e-15, "k3")
  assert(k[2] >= 0)
  local kr = obj.kl_rewards{ logp = { { -1, -2 }, { -1 } }, ref_logp = { { -1.5, -2 }, { -1 } },
                             scores = { 3, -1 }, beta = 0.1 }
  near(kr.rewards[1][1], -0.05, 1e-15, "kl penalty")
  near(kr.rewards[1][2], 3, 1e-15, "score on the last token")
  near(kr.rewards[2][1], -1, 1e-15, "score on a one-token row")
  fails("'beta' (a number) is required", obj.kl_rewards, { logp = { -1 }, ref_logp = { -1 } })
  fails("'scores' has 1 entries for 2 rows", obj.kl_rewards,
        { logp = { { -1 }, { -1 } }, ref_logp = { { -1 }, { -1 } }, scores = { 1 }, beta = 0.1 })
  fails("estimator = 'k4' is not one of", obj.kl_estimate, { logp = { 1 }, ref_logp = { 1 }, estimator = "k4" })
end

-- ---- controller, GRPO, RLOO ----
do
  local c = obj.kl_controller{ beta = 0.15, target = 6, horizon = 10000 }
  local b = c:update(6.6, 512)
  near(b, 0.15 * (1 + 0.1 * 512 / 10000), 1e-15, "controller step")
  assert(c.beta == b, "the state is a plain field")
  local fixed = obj.kl_controller{ beta = 0.05 }
  assert(fixed:update(100, 512) == 0.05)
  fails("kl_controller: unknown option 'init'", obj.kl_controller, { init = 0.1 })
  fails("horizon", obj.kl_controller, { target = 6, horizon = 0 })

  local a = obj.grpo_advantages{ rewards = { 1, 2, 3, 0, 0, 3 }, group = 3, eps = 0 }
  near(a[1], -1, 1e-15, "grpo")
  local l = obj.rloo_advantages{ rewards = { 1, 2, 3, 6 }, group = 4 }
  near(l[4], 4, 1e-15, "rloo")
  fails("not a whole number of groups", obj.grpo_advantages, { rewards = { 1, 2, 3 }, group = 2 })
  fails("group size 0", obj.rloo_advantages, { rewards = { 1, 2 } })
end

-- ---- measurement kit ----
do
  assert(obj.bon_kl(1) == 0)
  near(obj.bon_kl(4), math.log(4) - 0.75, 1e-15, "bon kl")
  local w = obj.bon_weights(4, 2)
  near(w[4], 0.5, 1e-15, "C(3,1)/C(4,2)")
  near(w[1], 0, 0, "lowest never wins")
  fails("need 1 <= n <= M", obj.bon_weights, 3, 4)
  local b = obj.bon{ proxy = { 0.1, 0.4, 0.2, 0.3 }, gold = { 1, 2, 3, 4 }, n = { 1, 4 } }
  near(b.gold[1], 2.5, 1e-15, "bon n=1")
  near(b.gold[2], 2, 1e-15, "bon n=M is the proxy's argmax")
  near(b.kl[2], math.log(4) - 0.75, 1e-15)
  fails("n = 5 outside", obj.bon, { proxy = { 1, 2 }, n = { 5 } })

  local f = obj.frontier{ rewards = { { 0, 1 }, { 0, 1 } }, beta = { 1, 1e9 } }
  near(f.reward[1], math.exp(1) / (1 + math.exp(1)), 1e-15, "frontier R")
  assert(f.kl[2] < 1e-12 and f.ess[2] > 1.99)
  fails("same number", obj.frontier, { rewards = { { 0, 1 }, { 0 } }, beta = { 1 } })

  local truth = { 0, 100, -200 }
  local ga, gb, gs = {}, {}, {}
  for i = 1, 3 do
    for j = i + 1, 3 do
      ga[#ga + 1], gb[#gb + 1] = i, j
      gs[#gs + 1] = 1 / (1 + 10 ^ ((truth[j] - truth[i]) / 400))
    end
  end
  local e = obj.elo{ a = ga, b = gb, score = gs }
  for i = 1, 3 do near(e[i], truth[i], 1e-6, "elo " .. i) end
  fails("set prior > 0", obj.elo, { a = { 1 }, b = { 2 }, score = { 1 } })
  fails("player id < 1", obj.elo, { a = { 0 }, b = { 2 }, score = { 1 } })

  local kl, rw = {}, {}
  for i = 1, 8 do
    kl[i] = i
    local d = math.sqrt(i)
    rw[i] = d * (0.5 - 0.1 * d)
  end
  local fit = obj.fit_gao{ form = "bon", kl = kl, reward = rw }
  near(fit.alpha, 0.5, 1e-12, "alpha")
  near(fit.beta, 0.1, 1e-12, "beta")
  near(fit.r2, 1, 1e-12, "r2")
  fails("give 'd' (sqrt KL) or 'kl'", obj.fit_gao, { reward = rw })
  fails("form = 'ppo' is not one of", obj.fit_gao, { form = "ppo", kl = kl, reward = rw })

  near(obj.winrate({ 1, 2, 3 }, { 0, 2, 4 }), 0.5, 0, "winrate")
  local m, sd = obj.mean_sd({ 1, 2, 3, 4 })
  near(m, 2.5, 0, "mean")
  near(sd, math.sqrt(5 / 3), 1e-15, "sd")
  local lo, hi = obj.bootstrap_ci{ x = { 1, 2, 3, 4, 5, 6, 7, 8 }, n_boot = 500, seed = 3 }
  local lo2, hi2 = obj.bootstrap_ci{ x = { 1, 2, 3, 4, 5, 6, 7, 8 }, n_boot = 500, seed = 3 }
  assert(lo < 4.5 and 4.5 < hi and lo == lo2 and hi == hi2, "seeded CI")
  fails("level = 2 outside", obj.bootstrap_ci, { x = { 1, 2 }, level = 2 })
  fails("must be an array of numbers", obj.mean_sd, 5)
end

print("OK")
