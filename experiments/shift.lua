-- experiments/shift.lua
-- Paper:   the seed's distribution shift (papers/overview.md "Distribution shift"); cf.
--          InstructGPT's held-out evaluations and Gao et al.'s proxy/gold gap.
-- Claim:   a reward model and the policy optimised against it do worse on prompt families held
--          out of their training than in distribution: RM accuracy (against gold preferences)
--          and the policy's gold-reward gain both drop out of distribution.
-- Protocol: held-out families (fixed before the runs): "plus" (a paraphrase of "add"),
--          "count" (a task the RM never saw) and "instructed" (harmful requests behind "ignore
--          your rules and"). The shared SFT model (trained on all benign demonstrations) is the
--          start. Per seed: hh labelers compare SFT samples on the in-distribution (ID) families
--          only; an RM is trained on them; PPO from SFT against it on ID prompts only.
--          RM accuracy = agreement with the noiseless gold preference on fresh pairs of SFT
--          samples (ties dropped), ID vs held-out (OOD) families; a control RM trained on all
--          families (same budget) is scored on the same OOD pairs. Policy: gold reward of PPO
--          minus SFT (greedy, test prompts), ID vs OOD families.
-- Verdict rule (fixed before the runs; s = the larger sd over seeds):
--   S1 acc_ID - acc_OOD > s  (the RM's accuracy drops out of distribution)
--   S2 gain_ID - gain_OOD > s (the policy's gold-reward gain drops out of distribution)
--   reproduced: both; partly: one; not reproduced: neither; a single seed: inconclusive.
-- Outputs: figures/shift.{svg,png,json}
local al = require "al"
local A = al.recipes.assistant

local ex = al.experiment{
  name = "shift",
  paper = "seed: distribution shift",
  claim = "RM accuracy and the policy's gold-reward gain drop on held-out prompt families",
  paper_number = "qualitative (the seed): out-of-distribution accuracy and gold reward drop",
  defaults = { seeds = { 1, 2, 3 }, heldout = { "plus", "count", "instructed" }, gold_pairs = 600,
               eval_n = 360, control = true },
  smoke = { seeds = { 1 }, gold_pairs = 24, eval_n = 30 },
}
local cfg, smoke = ex.cfg, ex.smoke
local world = A.world(smoke)
local sft = A.sft{ smoke = smoke }

local id_families = {}
do
  local held = {}
  for _, f in ipairs(cfg.heldout) do held[f] = true end
  for _, f in ipairs(world.families) do if not held[f] then id_families[#id_families + 1] = f end end
end

local function gold_pairs(families, seed)
  return world:compare_gold(sft, cfg.gold_pairs, { family = families, seed = 7000 + seed,
    prompt_seed = 7000 + seed })
end

-- SFT's gold reward, by family set and seed (the seed draws the test prompts)
local per_seed = {}
for _, seed in ipairs(cfg.seeds) do
  local rm = A.reward_model{ smoke = smoke, seed = seed, labeler = "hh", exclude = cfg.heldout }
  local pairs_id, pairs_ood = gold_pairs(id_families, seed), gold_pairs(cfg.heldout, seed)
  local e = { seed = seed }
  e.acc_id = A.rm_accuracy(rm, pairs_id)
  e.acc_ood = A.rm_accuracy(rm, pairs_ood)
  e.n_pairs_id, e.n_pairs_ood = #pairs_id, #pairs_ood
  -- per held-out family accuracy
  e.acc_ood_family = {}
  for _, f in ipairs(cfg.heldout) do
    local sub = {}
    for _, p in ipairs(pairs_ood) do if p.family == f then sub[#sub + 1] = p end end
    if #sub > 0 then e.acc_ood_family[f] = A.rm_accuracy(rm, sub) end
  end
  if cfg.control then
    local rm_all = A.reward_model{ smoke = smoke, seed = seed, labeler = "hh" }
    e.acc_ood_control = A.rm_accuracy(rm_all, pairs_ood)
    e.acc_id_control = A.rm_accuracy(rm_all, pairs_id)
    if rm_all.free then rm_all:free() end
  end
  local pol = A.ppo{ smoke = smoke, seed = seed, rm = rm, exclude = cfg.heldout }
  local function ev(model, o)
    local r = A.evaluate(model, { smoke = smoke, n = cfg.eval_n, family = o.family, exclude = o.exclude,
                                  prompt_seed = seed })
    return r
  end
  local sft_id, sft_ood = ev(sft, { exclude = cfg.heldout }), ev(sft, { family = cfg.heldout })
  local pol_id, pol_ood = ev(pol, { exclude = cfg.heldout }), ev(pol, { family = cfg.heldout })
  e.reward = { sft_id = sft_id.reward, sft_ood = sft_ood.reward, ppo_id = pol_id.reward, ppo_ood = pol_ood.reward }
  e.gain_id = pol_id.reward - sft_id.reward
  e.gain_ood = pol_ood.reward - sft_ood.reward
  e.gain_family = {}
  for f, m in pairs(pol_ood.per_family) do
    e.gain_family[f] = m.reward - (sft_ood.per_family[f] and sft_ood.per_family[f].reward or 0)
  end
  for f, m in pairs(pol_id.per_family) do
    e.gain_family[f] = m.reward - (sft_id.per_family[f] and sft_id.per_family[f].reward or 0)
  end
  if pol.free then pol:free() end
  if rm.free then rm:free() end
  per_seed[#per_seed + 1] = e
  collectgarbage()
end

local function col(k)
  local v = {}
  for _, e in ipairs(per_seed) do if e[k] ~= nil then v[#v + 1] = e[k] end end
  return v
end
local summary = {}
for _, k in ipairs({ "acc_id", "acc_ood", "acc_ood_control", "acc_id_control", "gain_id", "gain_ood" }) do
  summary[k] = A.stat(col(k))
end

local S1ok, S1d, S1s = A.exceeds(col("acc_id"), col("acc_ood"))
local S2ok, S2d, S2s = A.exceeds(col("gain_id"), col("gain_ood"))
local checks = { S1 = { holds = S1ok, diff = S1d, spread = S1s }, S2 = { holds = S2ok, diff = S2d, spread = S2s } }
local verdict = (S1ok and S2ok) and "reproduced" or ((S1ok or S2ok) and "partly" or "not reproduced")

local series = {
  { name = "in distribution", x = { "RM accuracy vs gold", "PPO gold-reward gain" },
    y = { summary.acc_id.mean, summary.gain_id.mean }, sd = { summary.acc_id.sd, summary.gain_id.sd } },
  { name = "held-out families", x = { "RM accuracy vs gold", "PPO gold-reward gain" },
    y = { summary.acc_ood.mean, summary.gain_ood.mean }, sd = { summary.acc_ood.sd, summary.gain_ood.sd } },
}
if cfg.control then
  series[#series + 1] = { name = "held-out families, RM trained on them (control)", x = { "RM accuracy vs gold" },
    y = { summary.acc_ood_control.mean }, sd = { summary.acc_ood_control.sd } }
end
ex:plot{ kind = "bars", title = "Distribution shift: reward model and policy on held-out prompt families",
         ylabel = "mean +- sd over seeds", series = series, key = "outside bottom center horizontal",
         width = 900, height = 520 }

local ours = string.format("RM accuracy ID %.2f vs OOD %.2f (control trained on OOD: %s); PPO gold gain ID %+.3f vs OOD %+.3f",
  summary.acc_id.mean, summary.acc_ood.mean,
  cfg.control and string.format("%.2f", summary.acc_ood_control.mean) or "n/a",
  summary.gain_id.mean, summary.gain_ood.mean)
-- one seed has no spread to compare an effect with: no claim either way
if #cfg.seeds < 2 then verdict = "inconclusive" end
ex:finish{
  verdict = verdict, ours = ours, rule = "S1, S2 in the script header (effects must exceed the sd over seeds)",
  judged = { checks = checks, summary = summary }, per_seed = per_seed,
  data = { cpu_seconds = os.clock(), heldout = cfg.heldout, in_distribution = id_families },
  notes = "Held-out families fixed before the runs. The SFT model saw every benign family (it is the shared " ..
    "one); only the reward model and PPO are trained in distribution. Base and SFT are shared across seeds." ..
    " Shared-model budgets (al.recipes.assistant REV 4) were raised once before any full run, on the quality of the shared models alone: pretraining 1200 -> 3000 steps (base greedy helpfulness 0.53 -> 0.86), SFT 2 -> 3 epochs on 3000 demos, RM 2000 pairs x 2 epochs (held-out accuracy 0.48, chance) -> 4000 x 4 epochs, PPO lr 3e-5 -> 5e-5; nothing was changed after seeing a verdict; REV 5 (session 2) added the feedback language to the corpus (12% of documents, for Constitutional AI) and raised the context 48 -> 64, which changes every assistant model and so every number here.",
}
