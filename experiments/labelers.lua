-- experiments/labelers.lua
-- Paper:   Ouyang et al. 2022, "Training language models to follow instructions with human
--          feedback" (InstructGPT, arXiv:2203.02155), with Stiennon et al. 2020 (reward-model
--          scaling); papers/reward_models.md.
-- Claim:   a reward model's held-out accuracy is bounded near the agreement between labelers
--          (InstructGPT: labelers agree 72.6 +- 1.5%, its RM reaches 72.4 +- 0.4% within and
--          69.6 +- 0.9% across labeler groups), and grows with the amount of comparison data
--          (Stiennon: ~+1.1 points per doubling).
-- Protocol (sentiment world; pi_ref = the cached SFT policy):
--   1. Pairs: two SFT samples for each train prompt (identical pairs dropped); held-out pairs
--      likewise on test prompts.
--   2. Labelers (al.labelers.new on the sentiment world: Bradley-Terry on gold G plus a small
--      per-word length bias, weights jittered per labeler): for each disagreement level in
--      cfg.disagreements, a training labeler (seed s) and a held-out labeler (another seed) share
--      one temperature, found by bisection so that their expected agreement on the first
--      calib_pairs train pairs (SFT samples: the pairs they will judge) is 1 - disagreement; the
--      training labeler labels the train pairs by sampling its choice; the held-out labeler judges
--      the test pairs.
--   3. Reward models (SFT clones with a scalar head, Bradley-Terry) on the first N train pairs,
--      N in cfg.sizes (nested), each for max(rm_steps, rm_epochs epochs) optimizer steps of batch
--      rm_batch (a fixed number of epochs leaves the small sets undertrained: 2 epochs of 250
--      pairs stay at chance; a fixed number of steps undertrains the large ones).
--   4. Measured on the test pairs: labeler agreement = E[p1 p2 + (1-p1)(1-p2)] between the
--      training labeler and the held-out labeler (exact, from their probabilities); RM held-out
--      accuracy = E[held-out labeler agrees with the RM's ranking] = mean of p or 1-p (the
--      expectation over the labeler's coin, less noisy than one draw); the Bayes ceiling
--      E[max(p, 1-p)] of any predictor of the held-out labeler; and RM accuracy against the
--      noiseless gold ranking.
-- Verdict rule (stated before the runs; papers/reward_models.md):
--   (a) accuracy grows with data: at every level, the per-doubling slope of held-out accuracy
--       (least squares on log2 N, per seed) has mean > sd over seeds (> 0 with one seed);
--   (b) bounded: at every level and N, the seed-mean held-out accuracy <= agreement + 0.02;
--   (c) near: at the level closest to 0.27 and the largest N, accuracy >= agreement - 0.05.
--   reproduced iff (a), (b) and (c); partly if two of them; otherwise not reproduced.
-- Outputs: figures/labelers.{svg,png,json}
local al = require "al"
local R = al.recipes.sentiment
local obj = al.obj

local ex = al.experiment{
  name = "labelers",
  paper = "Ouyang et al. 2022 (InstructGPT); Stiennon et al. 2020 (RM scaling)",
  claim = "reward-model held-out accuracy grows with data and is bounded near the labelers' agreement",
  paper_number = "labeler agreement 72.6 +- 1.5%; RM accuracy 72.4 +- 0.4% (69.6 +- 0.9% held-out labelers)",
  defaults = {
    seeds = { 1, 2, 3 }, disagreements = { 0.15, 0.27, 0.40 }, sizes = { 250, 1000, 4000 },
    rm_steps = 300, rm_epochs = 4, rm_lr = 3e-4, rm_batch = 16, test_pairs = 1000,
    calib_pairs = 1000, max_new = 16,
  },
  smoke = { seeds = { 1 }, disagreements = { 0.27 }, sizes = { 40, 120 }, rm_steps = 10, rm_epochs = 1, test_pairs = 60, calib_pairs = 100 },
}
local cfg = ex.cfg
local function say(...) ex:say(...) end

local world, sft = R.models(ex.smoke and "smoke" or "full")
local tok = world.tok
say("models ready (%s)", ex.smoke and "smoke" or "full")

-- pairs of distinct SFT samples: { rec, a_ids, b_ids, a_str, b_str, prompt_ids }
local function make_pairs(n, split, seed)
  local out, round = {}, 0
  while #out < n and round < 5 do
    round = round + 1
    local recs = world:prompts(math.ceil((n - #out) * 1.1) + 4, { split = split, seed = seed * 10 + round })
    local _, C = R.sample(sft, world, recs, 2, { seed = seed * 10 + round, max_new = cfg.max_new })
    for i, rec in ipairs(recs) do
      if #out >= n then break end
      local a, b = C[2 * i - 1], C[2 * i]
      local sa, sb = tok:decode(a), tok:decode(b)
      if sa ~= sb then out[#out + 1] = { rec = rec, a = a, b = b, sa = sa, sb = sb } end
    end
  end
  return out
end

local test = make_pairs(cfg.test_pairs, "test", 7777)
local gold_test = {}
for i, pr in ipairs(test) do
  local ga, gb = world:gold(pr.rec, pr.sa).reward, world:gold(pr.rec, pr.sb).reward
  gold_test[i] = ga > gb and 1 or (ga < gb and 0 or 0.5)
end
local tP, tA, tB = {}, {}, {}
for i, pr in ipairs(test) do tP[i], tA[i], tB[i] = pr.rec.ids, pr.a, pr.b end

local maxN = 0
for _, n in ipairs(cfg.sizes) do maxN = math.max(maxN, n) end

local per_seed = {}
for _, seed in ipairs(cfg.seeds) do
  local train = make_pairs(maxN, "train", seed)
  local rec = { seed = seed, levels = {} }
  for _, dis in ipairs(cfg.disagreements) do
    -- one temperature for both labelers: expected agreement on the calibration pairs = 1 - dis
    local function make(T)
      return al.labelers.new{ name = "train", world = world, seed = 100 * seed + 1, temperature = T },
             al.labelers.new{ name = "held-out", world = world, seed = 100 * seed + 2, temperature = T }
    end
    local u1, u2 = make(1)
    local d1, d2 = {}, {}
    for i = 1, math.min(cfg.calib_pairs, #train) do
      local pr = train[i]
      d1[i] = u1:utility(pr.rec, pr.sa) - u1:utility(pr.rec, pr.sb)
      d2[i] = u2:utility(pr.rec, pr.sa) - u2:utility(pr.rec, pr.sb)
    end
    local function agreement_at(T)
      local a = 0
      for i = 1, #d1 do
        local p1, p2 = 1 / (1 + math.exp(-d1[i] / T)), 1 / (1 + math.exp(-d2[i] / T))
        a = a + (p1 * p2 + (1 - p1) * (1 - p2)) / #d1
      end
      return a
    end
    local lo, hi = math.log(1e-3), math.log(1e3)
    for _ = 1, 40 do
      local mid = 0.5 * (lo + hi)
      if agreement_at(math.exp(mid)) > 1 - dis then lo = mid else hi = mid end
    end
    local T_cal = math.exp(0.5 * (lo + hi))
    local lab, held = make(T_cal)
    -- training labels: the training labeler's sampled choices
    local prefs = {}
    for i, pr in ipairs(train) do
      local a_wins = lab:choose(pr.rec, pr.sa, pr.sb)
      prefs[i] = { prompt = pr.rec.ids, chosen = a_wins and pr.a or pr.b, rejected = a_wins and pr.b or pr.a }
    end
    -- agreement and ceiling on the test pairs
    local ph, agree, ceil = {}, 0, 0
    for i, pr in ipairs(test) do
      local p1 = lab:prefer(pr.rec, pr.sa, pr.sb)
      local p2 = held:prefer(pr.rec, pr.sa, pr.sb)
      ph[i] = p2
      agree = agree + (p1 * p2 + (1 - p1) * (1 - p2)) / #test
      ceil = ceil + math.max(p2, 1 - p2) / #test
    end
    local lv = { disagreement = dis, agreement = agree, ceiling = ceil, T = T_cal,
      calib_agreement = agreement_at(T_cal), rms = {} }
    for _, N in ipairs(cfg.sizes) do
      local rm = al.reward_model(sft:clone(), table.move(prefs, 1, N, 1, {}), { steps = math.max(cfg.rm_steps, cfg.rm_epochs * ((N + cfg.rm_batch - 1) // cfg.rm_batch)),
        lr = cfg.rm_lr, batch_size = cfg.rm_batch, eval = 0, seed = seed, progress = false })
      local ra = al.reward_model.rewards(rm, tP, tA, 128)
      local rb = al.reward_model.rewards(rm, tP, tB, 128)
      local acc, gacc = 0, 0
      for i = 1, #test do
        local pick_a = ra[i] > rb[i] and 1 or (ra[i] < rb[i] and 0 or 0.5)
        acc = acc + (pick_a * ph[i] + (1 - pick_a) * (1 - ph[i])) / #test
        gacc = gacc + (gold_test[i] == 0.5 and 0.5 or (pick_a == gold_test[i] and 1 or (pick_a == 0.5 and 0.5 or 0))) / #test
      end
      lv.rms[#lv.rms + 1] = { N = N, accuracy = acc, gold_accuracy = gacc }
      say("seed %d dis %.2f N=%d: agreement %.3f ceiling %.3f | RM held-out acc %.3f, vs gold %.3f",
        seed, dis, N, agree, ceil, acc, gacc)
    end
    -- per-doubling slope of accuracy on log2 N
    local xs, ys = {}, {}
    for k, r in ipairs(lv.rms) do xs[k], ys[k] = math.log(r.N, 2), r.accuracy end
    local mx, my = 0, 0
    for k = 1, #xs do mx, my = mx + xs[k] / #xs, my + ys[k] / #ys end
    local sxy, sxx = 0, 0
    for k = 1, #xs do sxy, sxx = sxy + (xs[k] - mx) * (ys[k] - my), sxx + (xs[k] - mx) ^ 2 end
    lv.slope = sxx > 0 and sxy / sxx or 0
    rec.levels[#rec.levels + 1] = lv
  end
  per_seed[#per_seed + 1] = rec
end

-- ---- aggregate and judge ----
local S = #per_seed
local function ms(t) return obj.mean_sd(t) end
local summary, series = {}, {}
local A, B, C = true, true, false
local near_level, best = 1, math.huge
for j, dis in ipairs(cfg.disagreements) do
  if math.abs(dis - 0.27) < best then best, near_level = math.abs(dis - 0.27), j end
end
for j, dis in ipairs(cfg.disagreements) do
  local ag, ce, sl = {}, {}, {}
  for s = 1, S do
    local lv = per_seed[s].levels[j]
    ag[s], ce[s], sl[s] = lv.agreement, lv.ceiling, lv.slope
  end
  local agm, agsd = ms(ag)
  local cem = ms(ce)
  local slm, slsd = ms(sl)
  local row = { disagreement = dis, agreement = agm, agreement_sd = agsd, ceiling = cem,
    slope_per_doubling = slm, slope_sd = slsd, sizes = {} }
  local xs, ym, ysd, gm = {}, {}, {}, {}
  for k, N in ipairs(cfg.sizes) do
    local a, g = {}, {}
    for s = 1, S do a[s], g[s] = per_seed[s].levels[j].rms[k].accuracy, per_seed[s].levels[j].rms[k].gold_accuracy end
    local am, asd = ms(a)
    local gmm, gsd = ms(g)
    row.sizes[k] = { N = N, accuracy = am, accuracy_sd = asd, gold_accuracy = gmm, gold_accuracy_sd = gsd }
    xs[k], ym[k], ysd[k], gm[k] = N, am, asd, gmm
    if am > agm + 0.02 then B = false end
  end
  if not ((S > 1 and slm > slsd) or (S == 1 and slm > 0)) then A = false end
  if j == near_level and ym[#ym] >= agm - 0.05 then C = true end
  summary[j] = row
  local ax = {}
  for k = 1, #xs do ax[k] = agm end
  series[#series + 1] = { name = string.format("RM acc vs held-out labeler, agreement %.2f", agm), x = xs, y = ym, sd = ysd }
  series[#series + 1] = { name = string.format("labeler agreement %.2f", agm), x = xs, y = ax }
end
local nsat = (A and 1 or 0) + (B and 1 or 0) + (C and 1 or 0)
local verdict = nsat == 3 and "reproduced" or (nsat == 2 and "partly" or "not reproduced")

ex:plot{ kind = "line", series = series, logx = true, key = "outside right",
  title = "reward-model accuracy on held-out labelers' judgments (sentiment world; mean +- sd over seeds)",
  xlabel = "comparisons N (log scale)", ylabel = "accuracy", width = 1000, height = 520 }

local parts = {}
for _, r in ipairs(summary) do
  local last = r.sizes[#r.sizes]
  parts[#parts + 1] = string.format("agreement %.3f (ceiling %.3f): acc %.3f+-%.3f at N=%d (vs gold %.3f), slope %+.3f+-%.3f/doubling",
    r.agreement, r.ceiling, last.accuracy, last.accuracy_sd, last.N, last.gold_accuracy, r.slope_per_doubling, r.slope_sd)
end
local ours = string.format("(a) grows with N %s; (b) <= agreement + 0.02 %s; (c) near agreement at ~0.27 %s. ",
  A and "yes" or "no", B and "yes" or "no", C and "yes" or "no") .. table.concat(parts, "; ")

local per_seed_out = {}
for _, r in ipairs(per_seed) do
  local o = { seed = r.seed, levels = {} }
  for _, lv in ipairs(r.levels) do
    o.levels[#o.levels + 1] = { disagreement = lv.disagreement, agreement = lv.agreement, ceiling = lv.ceiling,
      temperature = lv.T, calib_agreement = lv.calib_agreement, slope = lv.slope, rms = lv.rms }
  end
  per_seed_out[#per_seed_out + 1] = o
end
ex:finish{
  verdict = verdict,
  ours = ours,
  rule = "(a) per-doubling slope of held-out accuracy: mean > sd over seeds at every level; (b) seed-mean "
    .. "held-out accuracy <= labeler agreement + 0.02 at every level and N; (c) at the level nearest 0.27 "
    .. "and the largest N, accuracy >= agreement - 0.05. reproduced iff all three, partly if two",
  judged = R.clean{ A = A, B = B, C = C, levels = summary },
  per_seed = R.clean(per_seed_out),
  data = {},
  notes = "Sentiment world labelers (al.labelers.new: Bradley-Terry on gold G + 0.02/word length bias, "
    .. "jittered weights; one temperature per level calibrated on " .. cfg.calib_pairs .. " train pairs of "
    .. "SFT samples). Agreement, ceiling and accuracy are expectations over the held-out labeler's coin on "
    .. cfg.test_pairs .. " test pairs of SFT samples; RMs are SFT clones, max(" .. cfg.rm_steps .. " steps, "
    .. cfg.rm_epochs .. " epochs), batch " .. cfg.rm_batch .. ", nested training sets. Changed after the "
    .. "first full run (numbers in papers/reward_models.md): the labelers' temperature came from the "
    .. "world's calibration pairs (scripted continuations), which gave agreements of 0.79/0.65/0.55 "
    .. "on SFT pairs instead of 0.85/0.73/0.60, so the ~73% level was not tested; and every RM had 300 "
    .. "steps, which left N=4000 undertrained (accuracy below N=1000's). Changed after the second "
    .. "full run: 2 -> 4 epochs (N=4000: 500 -> 1000 steps). Every RM sits on a log-2 plateau until "
    .. "its trunk learns the preference feature (a linear probe on the SFT features reaches 0.53); "
    .. "the escape step is random (174-386 over 12 head/order seeds), and seed 3 had not escaped "
    .. "when the cosine schedule cut its lr at 500 steps (0.547); with 1000 steps it escapes at step "
    .. "267. The same change also trains seeds 1-2 further, past the labelers' agreement.",
}
