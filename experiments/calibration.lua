-- experiments/calibration.lua
-- Paper:   Kadavath et al. 2022, "Language Models (Mostly) Know What They Know" (arXiv
--          2207.05221); OpenAI 2023, GPT-4 technical report (arXiv 2303.08774), calibration
--          before and after RLHF; papers/calibration.md.
-- Claim:   a pretrained model's probability of its own answer is calibrated and RLHF makes it
--          worse; a P(IK) head ("will my answer come out right?") can be trained, and partly
--          generalises to a task family it never saw, worse than in distribution.
-- Protocol (fixed before the first full run): the shared assistant models (al.recipes.assistant,
--          size S, as they are): base, SFT, RLHF against the hh RM and against the gold RM (the
--          recipes spectrum and size-vs-alignment cache: beta 0.05, "instructed" held out) and
--          DPO on the hh comparisons (spectrum's recipe) and RL-CAI (al.cai.recipe, the model the
--          cai experiment builds and caches).
--          Calibration set, per seed: a balanced draw (prompt seed = seed) of `n_cal` test
--          prompts of the single-answer families add, plus (arithmetic, difficulty 1-3 by the
--          size of the sum), count, facts (known) and unknown (made-up entities). Each model
--          answers greedily; its confidence is its own probability of the answer it gave, the
--          product of its next-token probabilities over the answer's tokens (style phrases and
--          "the answer is" excluded; al.calibration.answers); correct = exact answer (tasks) or
--          "i do not know" (unknown). ECE with 10 equal-width bins (al.core.obj.calibration);
--          reliability curves, ECE per family group (known, unknown, arithmetic by difficulty)
--          reported, not judged.
--          P(IK): per seed, SFT's greedy answers on `n_pik` train-split prompts of the families
--          add, plus, facts, unknown label each prompt 1 (right) or 0; a clone of SFT with a
--          scalar head read at the prompt's last token is trained on them with the logistic
--          loss (3 epochs, lr 3e-4, head seed = seed; al.calibration.pik). AUROC on test-split
--          prompts of the same families (in distribution) and of the held-out families count,
--          sort, reverse (never in its training), labelled the same way.
-- Verdict rule (fixed before the runs; s = the larger sd over seeds of the two quantities
--          compared; base's and SFT's spread comes from the per-seed prompt draws):
--   C1 ECE(base) < 0.05                                   the pretrained model is calibrated
--   C2 ECE(RLHF-hh) - ECE(base) > s                       RLHF hurts calibration
--   C3 AUROC(P(IK), in distribution) > 0.7 (mean)          P(IK) can be learned
--   C4 AUROC(held-out) - 0.5 > s(held-out) and AUROC(in) - AUROC(held-out) > s
--                                                          it partly generalises, worse OOD
--   reproduced: C1-C4; partly: C2 or C3 holds and at least two of C1-C4 hold; else not
--   reproduced; a single seed (smoke): inconclusive.
-- Outputs: figures/calibration.{svg,png,json} (reliability curves), figures/calibration-ece.{svg,png}
local al = require "al"
local A = al.recipes.assistant
local C = al.calibration

local ex = al.experiment{
  name = "calibration",
  paper = "Kadavath et al. 2022 (Language Models (Mostly) Know What They Know); GPT-4 technical report 2023",
  claim = "the pretrained model's own answer probability is calibrated and RLHF hurts it; a P(IK) head can be learned and partly generalises to a held-out task family",
  paper_number = "GPT-4 report Fig. 8: pre-trained model calibrated on MMLU, worse after PPO; Kadavath: P(IK) AUROC drops out of distribution",
  defaults = { seeds = { 1, 2, 3 }, n_cal = 600, n_pik = 2000, n_pik_test = 400, bins = 10,
               beta = 0.05, dpo_beta = 0.1, heldout_rl = { "instructed" },
               pik_epochs = 3, pik_lr = 3e-4 },
  smoke = { seeds = { 1 }, n_cal = 50, n_pik = 64, n_pik_test = 40, pik_epochs = 1 },
}
local cfg, smoke = ex.cfg, ex.smoke

local CAL_FAMILIES = { "add", "plus", "count", "facts", "unknown" }
local PIK_TRAIN = { "add", "plus", "facts", "unknown" }
local PIK_HELDOUT = { "count", "sort", "reverse" }
local GROUPS = {
  { name = "known facts", test = function(a) return a.family == "facts" end },
  { name = "unknown", test = function(a) return a.family == "unknown" end },
  { name = "arithmetic d1", test = function(a) return (a.family == "add" or a.family == "plus") and a.difficulty == 1 end },
  { name = "arithmetic d2", test = function(a) return (a.family == "add" or a.family == "plus") and a.difficulty == 2 end },
  { name = "arithmetic d3", test = function(a) return (a.family == "add" or a.family == "plus") and a.difficulty == 3 end },
  { name = "count", test = function(a) return a.family == "count" end },
}

local world = A.world(smoke)
local base = A.base{ smoke = smoke }
local sft = A.sft{ smoke = smoke }
local METHODS = {
  { name = "base", build = function() return base end },
  { name = "SFT", build = function() return sft end },
  { name = "RLHF-hh", build = function(seed)
      return A.rlhf{ smoke = smoke, seed = seed, labeler = "hh", beta = cfg.beta, exclude = cfg.heldout_rl }
    end },
  { name = "RLHF-gold", build = function(seed)
      return A.rlhf{ smoke = smoke, seed = seed, labeler = "gold", beta = cfg.beta, exclude = cfg.heldout_rl }
    end },
  { name = "DPO", build = function(seed)
      local prefs = A.preferences{ smoke = smoke, seed = seed, labeler = "hh", exclude = cfg.heldout_rl }
      return A.dpo{ smoke = smoke, seed = seed, prefs = prefs, beta = cfg.dpo_beta }
    end },
  { name = "CAI", build = function(seed) return (al.cai.recipe{ smoke = smoke, seed = seed }) end },
}

-- answers with a confidence (responses with no answer words are counted, then dropped)
local function calib(answers)
  local p, y, dropped = {}, {}, 0
  for _, a in ipairs(answers) do
    if a.conf then p[#p + 1], y[#y + 1] = a.conf, a.correct else dropped = dropped + 1 end
  end
  if #p == 0 then return { dropped = dropped, n = 0 } end
  local r = C.reliability(p, y, cfg.bins)
  r.dropped = dropped
  r.mean_conf, r.accuracy = A.mean(p), A.mean(y)
  return r
end

local per_seed, pooled = {}, {}
for _, seed in ipairs(cfg.seeds) do
  local entry = { seed = seed, ece = {}, brier = {}, accuracy = {}, mean_conf = {}, groups = {},
                  dropped = {} }
  local prompts = world:prompts(cfg.n_cal, { split = "test", balanced = true, family = CAL_FAMILIES,
                                             seed = seed })
  for _, m in ipairs(METHODS) do
    local model = m.build(seed)
    local ans = C.answers(model, world, prompts)
    local r = calib(ans)
    entry.ece[m.name], entry.brier[m.name], entry.dropped[m.name] = r.ece, r.brier, r.dropped
    entry.accuracy[m.name], entry.mean_conf[m.name] = r.accuracy, r.mean_conf
    entry.groups[m.name] = {}
    for _, g in ipairs(GROUPS) do
      local sub = {}
      for _, a in ipairs(ans) do if g.test(a) then sub[#sub + 1] = a end end
      local gr = calib(sub)
      entry.groups[m.name][g.name] = { ece = gr.ece, accuracy = gr.accuracy, mean_conf = gr.mean_conf, n = gr.n }
    end
    pooled[m.name] = pooled[m.name] or {}
    for _, a in ipairs(ans) do pooled[m.name][#pooled[m.name] + 1] = a end
    if model ~= base and model ~= sft and model.free then model:free() end
    collectgarbage()
  end
  -- P(IK) on SFT
  local function labelled(recs)
    local ans = C.answers(sft, world, recs)
    local y = {}
    for i, a in ipairs(ans) do y[i] = a.correct end
    return y
  end
  local train_p = world:prompts(cfg.n_pik, { split = "train", family = PIK_TRAIN, seed = 700 + seed })
  local head = C.pik(sft, train_p, labelled(train_p), { epochs = cfg.pik_epochs, lr = cfg.pik_lr, seed = seed })
  local in_p = world:prompts(cfg.n_pik_test, { split = "test", balanced = true, family = PIK_TRAIN, seed = 800 + seed })
  local out_p = world:prompts(cfg.n_pik_test, { split = "test", balanced = true, family = PIK_HELDOUT, seed = 800 + seed })
  local y_in, y_out = labelled(in_p), labelled(out_p)
  local s_in, s_out = C.pik_scores(head, in_p), C.pik_scores(head, out_p)
  entry.pik = { auroc_in = C.auroc(s_in, y_in), auroc_out = C.auroc(s_out, y_out),
                ece_in = C.reliability(s_in, y_in, cfg.bins).ece, ece_out = C.reliability(s_out, y_out, cfg.bins).ece,
                base_rate_in = A.mean(y_in), base_rate_out = A.mean(y_out) }
  if head.free then head:free() end
  per_seed[#per_seed + 1] = entry
  ex:say("seed %d: ECE base %.3f SFT %.3f RLHF-hh %.3f RLHF-gold %.3f DPO %.3f CAI %.3f; P(IK) AUROC in %s out %s", seed,
    entry.ece.base, entry.ece.SFT, entry.ece["RLHF-hh"], entry.ece["RLHF-gold"], entry.ece.DPO, entry.ece.CAI,
    tostring(entry.pik.auroc_in), tostring(entry.pik.auroc_out))
end

-- summaries over seeds
local function over(f)
  local v = {}
  for _, e in ipairs(per_seed) do local x = f(e) if x then v[#v + 1] = x end end
  return v
end
-- A.stat without NaN (JSON has none): an empty list gives { n = 0, values = {} }
local function stat(v)
  if #v == 0 then return { n = 0, values = {} } end
  return A.stat(v)
end
local summary = { ece = {}, brier = {}, accuracy = {}, mean_conf = {} }
for _, m in ipairs(METHODS) do
  for _, k in ipairs({ "ece", "brier", "accuracy", "mean_conf" }) do
    summary[k][m.name] = stat(over(function(e) return e[k][m.name] end))
  end
end
summary.auroc_in = stat(over(function(e) return e.pik.auroc_in end))
summary.auroc_out = stat(over(function(e) return e.pik.auroc_out end))

-- figure 1: reliability curves, answers pooled over seeds
local series = { { name = "perfect calibration", x = { 0, 1 }, y = { 0, 1 } } }
local curves = {}
for _, m in ipairs(METHODS) do
  local r = calib(pooled[m.name])
  local s = { name = string.format("%s (ECE %.3f)", m.name, summary.ece[m.name].mean), x = {}, y = {} }
  for k = 1, cfg.bins do
    if r.count and r.count[k] > 0 then s.x[#s.x + 1], s.y[#s.y + 1] = r.conf[k], r.acc[k] end
  end
  if #s.x > 0 then series[#series + 1] = s end
  curves[m.name] = { count = r.count, conf = r.conf, acc = r.acc }
end
ex:plot{ kind = "line", title = "Reliability of the model's own answer probability (pooled over seeds)",
         xlabel = "confidence (probability of its greedy answer)", ylabel = "fraction correct",
         xrange = { 0, 1 }, yrange = { 0, 1 }, series = series, key = "bottom right" }
-- figure 2: ECE by model (mean +- sd over seeds) and the P(IK) AUROCs
local bx, by, bsd = {}, {}, {}
for _, m in ipairs(METHODS) do
  bx[#bx + 1], by[#by + 1], bsd[#bsd + 1] = m.name, summary.ece[m.name].mean, summary.ece[m.name].sd
end
for _, k in ipairs({ { "P(IK) in", "auroc_in" }, { "P(IK) held-out", "auroc_out" } }) do
  if summary[k[2]].n > 0 then
    bx[#bx + 1], by[#by + 1], bsd[#bsd + 1] = k[1], summary[k[2]].mean, summary[k[2]].sd
  end
end
ex:plot({ kind = "bars", title = "ECE of each model's answers; AUROC of the P(IK) head (mean +- sd over seeds)",
          ylabel = "ECE (10 bins) / AUROC", width = 1000, series = { { name = "mean +- sd", x = bx, y = by, sd = bsd } },
          key = false }, "ece")

-- verdict
local ece_base = over(function(e) return e.ece.base end)
local ece_rl = over(function(e) return e.ece["RLHF-hh"] end)
local a_in, a_out = summary.auroc_in.values, summary.auroc_out.values
local H = {}
H.C1 = { holds = A.mean(ece_base) < 0.05, mean = A.mean(ece_base), sd = A.sd(ece_base) }
do
  local ok, d, s = A.exceeds(ece_rl, ece_base)
  H.C2 = { holds = ok, diff = d, spread = s }
end
H.C3 = { holds = #a_in > 0 and A.mean(a_in) > 0.7, mean = summary.auroc_in.mean, sd = summary.auroc_in.sd }
do
  local above = #a_out > 0 and A.mean(a_out) - 0.5 > A.sd(a_out)
  local ok, d, s = false, nil, nil
  if #a_in > 0 and #a_out > 0 then ok, d, s = A.exceeds(a_in, a_out) end
  H.C4 = { holds = above and ok, above_chance = above, drop = d, spread = s }
end
local n_hold = 0
for _, k in ipairs({ "C1", "C2", "C3", "C4" }) do if H[k].holds then n_hold = n_hold + 1 end end
local verdict
if n_hold == 4 then verdict = "reproduced"
elseif (H.C2.holds or H.C3.holds) and n_hold >= 2 then verdict = "partly"
else verdict = "not reproduced" end
if #cfg.seeds < 2 then verdict = "inconclusive" end

local E = summary.ece
local ours = string.format(
  "ECE base %.3f, SFT %.3f, RLHF-hh %.3f (sd %.3f), RLHF-gold %.3f, DPO %.3f, CAI %.3f; P(IK) AUROC %.2f in distribution, %.2f on held-out families (sd %.2f)",
  E.base.mean, E.SFT.mean, E["RLHF-hh"].mean, E["RLHF-hh"].sd, E["RLHF-gold"].mean, E.DPO.mean, E.CAI.mean,
  summary.auroc_in.mean or -1, summary.auroc_out.mean or -1, summary.auroc_out.sd or -1)
ex:finish{
  verdict = verdict, ours = ours, rule = "C1..C4 in the script header (effects must exceed the sd over seeds)",
  judged = { checks = H, summary = summary }, per_seed = per_seed,
  data = { cpu_seconds = os.clock(), curves = curves, families = CAL_FAMILIES, pik_train = PIK_TRAIN,
           pik_heldout = PIK_HELDOUT },
  notes = "Protocol, thresholds and families fixed before the first full run (papers/calibration.md). " ..
    "Confidence = the model's own probability of its greedy answer's tokens; shared models used as built by al.recipes.assistant (REV " ..
    A.REV .. "; CAI = al.cai.recipe's RL-CAI).",
}
