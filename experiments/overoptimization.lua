-- experiments/overoptimization.lua
-- Paper:   Gao, Schulman, Hilton 2022, "Scaling Laws for Reward Model Overoptimization"
--          (arXiv:2210.10760); papers/gao.md.
-- Claim:   optimising a learned proxy reward model, by best-of-n or by RL, raises the proxy
--          steadily while the gold reward rises, peaks and falls; gold follows
--          R = d (alpha - beta d) for best-of-n and R = d (alpha - beta log d) for RL, with
--          d = sqrt(KL(pi || pi_init)); more reward-model data moves the peak out.
-- Protocol (papers.md T3a/T3b at toy scale, sentiment world, gold = G with its fluency,
--   repetition and length penalties; pi_init = the cached SFT policy):
--   1. Proxy RMs (clones of the SFT policy with a scalar head, Bradley-Terry) trained on N
--      deterministic gold-labelled comparisons of SFT samples (the first N of one list per seed,
--      so datasets are nested), N in cfg.sizes, each for max(rm_steps, rm_epochs epochs)
--      optimizer steps of batch 16 (small sets are seen for many epochs, large ones at least
--      twice); accuracy on 500 fresh gold-labelled pairs.
--   2. Best-of-n: one pool of pool_m SFT samples for each of pool_prompts test prompts; for n in
--      cfg.ns the expected gold and proxy of the best-of-n pick by the unbiased estimator
--      (al.obj.bon: rank weights C(i-1, n-1)/C(M, n)); KL_bon = log n - (n-1)/n. Oracle = best-of-n
--      by gold itself.
--   3. RL: PPO with no KL penalty (as Gao et al.) against each proxy, ppo_iters iterations;
--      every iteration's rollout batch gives exact KL (al.kl), proxy and gold; averaged over
--      windows of `window` iterations.
--   Scores are in units of the pool's standard deviation, re-centred on the SFT pool mean
--   (Gao et al. re-centre so the initial policy is 0 and normalise gold; proxies alike).
-- Verdict rule (stated before the runs; papers/gao.md):
--   B1 best-of-n proxy non-decreasing in n for every N (seed means, tolerance 0.02);
--   B2 the smallest-N proxy's gold has an interior maximum and has fallen by >= 0.05 by the
--      largest n, in at least 2/3 of the seeds;
--   B3 peak moves out: the seed-mean argmax d* of gold is non-decreasing in N and larger for the
--      largest N than for the smallest, and d*(largest N) >= d*(smallest N) in every seed;
--   R1 RL against the smallest-N proxy: gold falls >= 0.1 below its peak window by the last two
--      windows while the proxy there is above its value at the gold peak, in >= 2/3 of seeds.
--   reproduced = B1-B3 and R1; partly = B1-B3 or R1 (not both); otherwise not reproduced.
--   The fits (alpha, beta, R^2, peak) and the RL peak shift with N are reported, not gated.
-- Outputs: figures/overoptimization.{svg,png,json}, figures/overoptimization-rl.{svg,png}
local al = require "al"
local R = al.recipes.sentiment
local obj = al.obj

local ex = al.experiment{
  name = "overoptimization",
  paper = "Gao, Schulman, Hilton 2022 (reward model overoptimization)",
  claim = "proxy reward keeps rising while gold reward peaks then falls, for best-of-n and RL; "
    .. "more RM data moves the gold peak out",
  paper_number = "BoN gold peaks at KL 4-5 (3M RM) to >10 nats (>=300M RM); R = d(alpha - beta d), "
    .. "R = d(alpha - beta log d)",
  defaults = {
    seeds = { 1, 2, 3 }, sizes = { 250, 1000, 4000 }, rm_steps = 400, rm_epochs = 2, rm_lr = 3e-4,
    test_pairs = 500, pool_prompts = 48, pool_m = 512,
    ns = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512 },
    ppo_iters = 100, ppo_lr = 3e-5, ppo_batch = 32, ppo_prompts = 512, window = 5,
    max_new = 16,
  },
  smoke = {
    seeds = { 1 }, sizes = { 60, 200 }, rm_steps = 20, rm_epochs = 1, test_pairs = 40, pool_prompts = 6,
    pool_m = 32, ppo_iters = 6, ppo_batch = 8, ppo_prompts = 32, window = 2,
  },
}
local cfg = ex.cfg
local function say(...) ex:say(...) end

local world, sft = R.models(ex.smoke and "smoke" or "full")
local tok = world.tok
say("models ready (%s)", ex.smoke and "smoke" or "full")

local ns = {}
for _, n in ipairs(cfg.ns) do if n <= cfg.pool_m then ns[#ns + 1] = n end end
local dgrid = {}
for k, n in ipairs(ns) do dgrid[k] = math.sqrt(obj.bon_kl(n)) end

local mean = require("al.util").mean
local function sd(t) local _, s = obj.mean_sd(t) return s end
local function argmax(t) local b = 1 for i = 2, #t do if t[i] > t[b] then b = i end end return b end

-- ---- the best-of-n pool (shared by all seeds: the seeds vary the RM data, init and PPO) ----
local pool_recs = world:prompts(cfg.pool_prompts, { split = "test" })
local pool_p, pool_c, owner = R.sample(sft, world, pool_recs, cfg.pool_m, { seed = 1, max_new = cfg.max_new })
local pool_g = R.gold(world, pool_recs, pool_c, owner, "reward")
local g0, gs = obj.mean_sd(pool_g)
say("pool: %d prompts x %d samples, gold mean %.3f sd %.3f", cfg.pool_prompts, cfg.pool_m, g0, gs)

local M = cfg.pool_m
local function bon_curves(proxy, gold)
  local eg, ep = {}, {}
  for k = 1, #ns do eg[k], ep[k] = 0, 0 end
  for i = 1, cfg.pool_prompts do
    local a, b = (i - 1) * M + 1, i * M
    local r = obj.bon{ proxy = table.move(proxy, a, b, 1, {}), gold = table.move(gold, a, b, 1, {}), n = ns }
    for k = 1, #ns do
      eg[k] = eg[k] + r.gold[k] / cfg.pool_prompts
      ep[k] = ep[k] + r.proxy[k] / cfg.pool_prompts
    end
  end
  return eg, ep
end

local oracle = bon_curves(pool_g, pool_g)
for k = 1, #ns do oracle[k] = (oracle[k] - g0) / gs end

local test = R.encode_prefs(world, world:compare_gold(sft, cfg.test_pairs,
  { seed = 991, prompt_seed = 991, max_new = cfg.max_new }))
local ppo_recs = world:prompts(cfg.ppo_prompts, { split = "train", seed = 7 })
local ppo_ids = {}
for i, r in ipairs(ppo_recs) do ppo_ids[i] = r.ids end

-- ---- per seed ----
local per_seed = {}
for _, seed in ipairs(cfg.seeds) do
  local all = R.encode_prefs(world, world:compare_gold(sft, cfg.sizes[#cfg.sizes],
    { seed = seed, prompt_seed = seed, max_new = cfg.max_new }))
  local rec = { seed = seed, rms = {} }
  for _, N in ipairs(cfg.sizes) do
    local prefs = table.move(all, 1, N, 1, {})
    local rm = al.reward_model(sft:clone(), prefs, { steps = math.max(cfg.rm_steps, cfg.rm_epochs * ((N + 15) // 16)), lr = cfg.rm_lr,
      eval = 0, seed = seed, progress = false })
    local acc = al.reward_model.accuracy(rm, test, 64)
    local prox = al.reward_model.rewards(rm, pool_p, pool_c, 256)
    local p0, ps = obj.mean_sd(prox)
    local eg, ep = bon_curves(prox, pool_g)
    for k = 1, #ns do eg[k], ep[k] = (eg[k] - g0) / gs, (ep[k] - p0) / ps end
    local kpk = argmax(eg)
    -- RL: PPO with no KL penalty against this proxy
    local ppo = al.ppo.new(sft:clone(), { ref = sft, reward = rm, prompts = ppo_ids, kl = { beta = 0 },
      batch_size = cfg.ppo_batch, lr = cfg.ppo_lr, eos = tok.eos, max_new = cfg.max_new,
      seed = seed, progress = false })
    local win = { kl = {}, gold = {}, proxy = {} }
    local acc_w = { kl = 0, gold = 0, proxy = 0, n = 0 }
    for it = 1, cfg.ppo_iters do
      local m, b = ppo:step()
      local g = R.gold(world, ppo_recs, b.completions, b.prompt_index, "reward")
      acc_w.kl = acc_w.kl + m.kl_exact
      acc_w.gold = acc_w.gold + (mean(g) - g0) / gs
      acc_w.proxy = acc_w.proxy + (m.reward - p0) / ps
      acc_w.n = acc_w.n + 1
      if acc_w.n == cfg.window or it == cfg.ppo_iters then
        win.kl[#win.kl + 1] = acc_w.kl / acc_w.n
        win.gold[#win.gold + 1] = acc_w.gold / acc_w.n
        win.proxy[#win.proxy + 1] = acc_w.proxy / acc_w.n
        acc_w = { kl = 0, gold = 0, proxy = 0, n = 0 }
      end
    end
    win.d = {}
    for i, k in ipairs(win.kl) do win.d[i] = math.sqrt(math.max(k, 0)) end
    local W = #win.gold
    local rpk = argmax(win.gold)
    local last = W >= 2 and (win.gold[W] + win.gold[W - 1]) / 2 or win.gold[W]
    local lastp = W >= 2 and (win.proxy[W] + win.proxy[W - 1]) / 2 or win.proxy[W]
    rec.rms[#rec.rms + 1] = {
      N = N, accuracy = acc,
      bon = { gold = eg, proxy = ep, peak_n = ns[kpk], peak_d = dgrid[kpk], peak_gold = eg[kpk],
              drop = eg[kpk] - eg[#ns], interior = kpk > 1 and kpk < #ns },
      rl = { d = win.d, kl = win.kl, gold = win.gold, proxy = win.proxy, peak_kl = win.kl[rpk],
             peak_d = win.d[rpk], peak_gold = win.gold[rpk], final_gold = last,
             drop = win.gold[rpk] - last, proxy_rises = lastp > win.proxy[rpk] },
    }
    say("seed %d N=%d: acc %.3f | BoN gold peak %.3f at n=%d (drop %.3f) | RL gold peak %.3f at KL %.2f, final %.3f, final KL %.2f",
      seed, N, acc, eg[kpk], ns[kpk], eg[kpk] - eg[#ns], win.gold[rpk], win.kl[rpk], last, win.kl[W])
  end
  per_seed[#per_seed + 1] = rec
end

-- ---- aggregate, fit, judge ----
local S = #per_seed
local summary, series_bon, series_rl = {}, {}, {}
local function over_seeds(j, f)
  local v = {}
  for s = 1, S do v[s] = f(per_seed[s].rms[j]) end
  return v
end
for j, N in ipairs(cfg.sizes) do
  local gm, gsd, pm, psd = {}, {}, {}, {}
  for k = 1, #ns do
    local g = over_seeds(j, function(r) return r.bon.gold[k] end)
    local p = over_seeds(j, function(r) return r.bon.proxy[k] end)
    gm[k], gsd[k] = obj.mean_sd(g)
    pm[k], psd[k] = obj.mean_sd(p)
  end
  local fb = obj.fit_gao{ form = "bon", d = dgrid, reward = gm }
  -- RL: pool the windows of all seeds; fit on d > 0.3 (the form fails near the origin)
  local fd, fr = {}, {}
  for s = 1, S do
    local rl = per_seed[s].rms[j].rl
    for i = 1, #rl.d do if rl.d[i] > 0.3 then fd[#fd + 1] = rl.d[i]; fr[#fr + 1] = rl.gold[i] end end
  end
  local fr_ok, frl = false, nil
  if #fd >= 3 then fr_ok, frl = pcall(obj.fit_gao, { form = "rl", d = fd, reward = fr }) end
  if not fr_ok then frl = { alpha = 0 / 0, beta = 0 / 0, r2 = 0 / 0 } end
  local acc = over_seeds(j, function(r) return r.accuracy end)
  local bpd = over_seeds(j, function(r) return r.bon.peak_d end)
  local rpk = over_seeds(j, function(r) return r.rl.peak_kl end)
  local rdrop = over_seeds(j, function(r) return r.rl.drop end)
  local am, asd = obj.mean_sd(acc)
  local bm, bsd = obj.mean_sd(bpd)
  local rm_, rsd = obj.mean_sd(rpk)
  local dm, dsd = obj.mean_sd(rdrop)
  summary[j] = {
    N = N, rm_accuracy = am, rm_accuracy_sd = asd,
    bon_gold = gm, bon_gold_sd = gsd, bon_proxy = pm, bon_proxy_sd = psd,
    bon_fit = { alpha = fb.alpha, beta = fb.beta, r2 = fb.r2,
                d_star = fb.beta > 0 and fb.alpha / (2 * fb.beta) or nil },
    bon_peak_d = bm, bon_peak_d_sd = bsd, bon_peak_d_per_seed = bpd,
    bon_drop_per_seed = over_seeds(j, function(r) return r.bon.drop end),
    rl_fit = { alpha = frl.alpha, beta = frl.beta, r2 = frl.r2, points = #fd,
               d_star = (frl.beta and frl.beta > 0) and math.exp(frl.alpha / frl.beta - 1) or nil },
    rl_peak_kl = rm_, rl_peak_kl_sd = rsd, rl_drop = dm, rl_drop_sd = dsd,
  }
  local fit = {}
  for k = 1, #ns do fit[k] = dgrid[k] * (fb.alpha - fb.beta * dgrid[k]) end
  series_bon[#series_bon + 1] = { name = "gold, N=" .. N, x = dgrid, y = gm, sd = gsd }
  series_bon[#series_bon + 1] = { name = "proxy, N=" .. N, x = dgrid, y = pm, sd = psd }
  series_bon[#series_bon + 1] = { name = string.format("fit N=%d (R2 %.2f)", N, fb.r2), x = dgrid, y = fit }
  -- RL curves: mean over seeds window by window (x = mean d)
  local W = #per_seed[1].rms[j].rl.d
  local xd, yg, yp, sg, sp = {}, {}, {}, {}, {}
  for w = 1, W do
    xd[w] = mean(over_seeds(j, function(r) return r.rl.d[w] end))
    yg[w], sg[w] = obj.mean_sd(over_seeds(j, function(r) return r.rl.gold[w] end))
    yp[w], sp[w] = obj.mean_sd(over_seeds(j, function(r) return r.rl.proxy[w] end))
  end
  series_rl[#series_rl + 1] = { name = "gold, N=" .. N, x = xd, y = yg, sd = sg }
  series_rl[#series_rl + 1] = { name = "proxy, N=" .. N, x = xd, y = yp, sd = sp }
  if fr_ok then
    local fx, fy = {}, {}
    local dmax = 0
    for _, v in ipairs(fd) do dmax = math.max(dmax, v) end
    for i = 1, 25 do
      fx[i] = 0.3 + (dmax - 0.3) * (i - 1) / 24
      fy[i] = fx[i] * (frl.alpha - frl.beta * math.log(fx[i]))
    end
    series_rl[#series_rl + 1] = { name = string.format("fit N=%d (R2 %.2f)", N, frl.r2), x = fx, y = fy }
  end
end
series_bon[#series_bon + 1] = { name = "oracle (best-of-n by gold)", x = dgrid, y = oracle }

ex:plot{ kind = "line", series = series_bon, key = "outside right",
  title = "best-of-n against proxy RMs (sentiment world; mean +- sd over seeds)",
  xlabel = "d = sqrt(KL(best-of-n || SFT)) (nats^1/2)", ylabel = "score - SFT mean (pool sd units)",
  width = 1000, height = 550 }
ex:plot({ kind = "line", series = series_rl, key = "outside right",
  title = "PPO without KL penalty against proxy RMs (windows of " .. cfg.window .. " iterations)",
  xlabel = "d = sqrt(KL(pi || SFT)) (nats^1/2)", ylabel = "score - SFT mean (pool sd units)",
  width = 1000, height = 550 }, "rl")

-- B1
local B1 = true
for _, s in ipairs(summary) do
  for k = 2, #ns do if s.bon_proxy[k] < s.bon_proxy[k - 1] - 0.02 then B1 = false end end
end
-- B2
local small = summary[1]
local turned = 0
for s = 1, S do
  local b = per_seed[s].rms[1].bon
  if b.interior and b.drop >= 0.05 then turned = turned + 1 end
end
local B2 = turned * 3 >= 2 * S and turned >= 1
-- B3
local B3 = summary[#summary].bon_peak_d > summary[1].bon_peak_d
for j = 2, #summary do if summary[j].bon_peak_d < summary[j - 1].bon_peak_d then B3 = false end end
for s = 1, S do
  if per_seed[s].rms[#cfg.sizes].bon.peak_d < per_seed[s].rms[1].bon.peak_d then B3 = false end
end
-- R1
local humps = 0
for s = 1, S do
  local rl = per_seed[s].rms[1].rl
  if rl.drop >= 0.1 and rl.proxy_rises then humps = humps + 1 end
end
local R1 = humps * 3 >= 2 * S and humps >= 1
local bon_ok = B1 and B2 and B3
local verdict = (bon_ok and R1) and "reproduced" or ((bon_ok or R1) and "partly" or "not reproduced")

local parts = {}
for _, s in ipairs(summary) do
  parts[#parts + 1] = string.format("N=%d: acc %.2f, BoN gold peak d*=%.2f+-%.2f (fit R2 %.2f), RL peak KL %.1f+-%.1f, RL drop %.2f+-%.2f",
    s.N, s.rm_accuracy, s.bon_peak_d, s.bon_peak_d_sd, s.bon_fit.r2, s.rl_peak_kl, s.rl_peak_kl_sd,
    s.rl_drop, s.rl_drop_sd)
end
local ours = string.format("B1 proxy monotone %s; B2 smallest-N gold turns over in %d/%d seeds; "
  .. "B3 peak moves out %s; R1 RL hump in %d/%d seeds. ", B1 and "yes" or "no", turned, S,
  B3 and "yes" or "no", humps, S) .. table.concat(parts, "; ")

local per_seed_out = {}
for _, r in ipairs(per_seed) do
  local o = { seed = r.seed }
  for _, m in ipairs(r.rms) do
    o["N" .. m.N] = { accuracy = m.accuracy, bon_peak_n = m.bon.peak_n, bon_peak_d = m.bon.peak_d,
      bon_peak_gold = m.bon.peak_gold, bon_drop = m.bon.drop, rl_peak_kl = m.rl.peak_kl,
      rl_peak_gold = m.rl.peak_gold, rl_final_gold = m.rl.final_gold, rl_drop = m.rl.drop,
      rl_proxy_rises = m.rl.proxy_rises }
  end
  per_seed_out[#per_seed_out + 1] = o
end

ex:finish{
  verdict = verdict,
  ours = ours,
  rule = "reproduced iff B1 (BoN proxy non-decreasing in n), B2 (smallest-N gold has an interior "
    .. "max and falls >= 0.05 pool-sd by the largest n in >= 2/3 seeds), B3 (seed-mean BoN gold "
    .. "peak d* non-decreasing in N and larger for the largest N than the smallest; per seed "
    .. "d*(largest N) >= d*(smallest N)) "
    .. "and R1 (PPO vs the smallest-N proxy: gold falls >= 0.1 below its peak window by the last "
    .. "two windows while proxy is above its value at the gold peak, >= 2/3 seeds); partly if "
    .. "B1-B3 or R1 alone; fits and the RL peak shift are reported, not gated",
  -- (B3 as first run: per seed d*(largest) > d*(smallest), strict; see notes)
  judged = R.clean{ B1 = B1, B2 = B2, B2_seeds = turned, B3 = B3, R1 = R1, R1_seeds = humps, sizes = summary,
    oracle = oracle, ns = ns, d = dgrid, gold_pool_mean = g0, gold_pool_sd = gs },
  per_seed = R.clean(per_seed_out),
  data = R.clean{ per_seed = per_seed },
  notes = "Sentiment world, gold G (sent + fluency, repetition, length penalties); pi_init = cached "
    .. "SFT policy (al.recipes.sentiment). Proxy RMs = SFT clones with a scalar head trained "
    .. "max(" .. cfg.rm_steps .. " steps, " .. cfg.rm_epochs .. " epochs) (batch 16) on N nested gold-labelled (deterministic) comparisons of SFT samples. "
    .. "BoN by the unbiased pool estimator (one pool of " .. cfg.pool_m .. " samples x "
    .. cfg.pool_prompts .. " test prompts, shared across seeds); PPO without KL penalty, lr "
    .. cfg.ppo_lr .. ", batch " .. cfg.ppo_batch .. ", " .. cfg.ppo_iters .. " iterations, gold/proxy/"
    .. "exact KL from each rollout batch. Scores in pool-sd units re-centred at the SFT pool mean. "
    .. "KL is at toy scale (completions <= 16 tokens): compare shapes, not the paper's nats. "
    .. "Changed after the first full run (its numbers are in papers/gao.md): RMs were trained 2 "
    .. "epochs, so N=250 got 32 steps and stayed at chance (held-out accuracy 0.49-0.52, and 0.50 "
    .. "for N=1000 in one seed): undertrained, not data-limited. Second run: every RM got 400 "
    .. "steps, which left N=4000 undertrained instead (accuracy 0.82, equal to N=1000's). Now "
    .. "max(400 steps, 2 epochs). B3's per-seed test became >= (it was >, which failed on a tie of "
    .. "grid points, n=256 for both N=250 and N=4000 in seed 1).",
}
