-- experiments/size-vs-alignment.lua
-- Paper:   Ouyang et al. 2022 (InstructGPT), papers/instructgpt.md, Fig. 1 and abstract.
-- Claim:   at every size the aligned model (PPO) is preferred to the base model of the same size
--          (175B InstructGPT over 175B GPT-3: 85 +- 3%), and the small aligned model is preferred
--          to a much larger base model (1.3B InstructGPT over 175B GPT-3, 100x the parameters).
-- Protocol: three sizes (papers.md presets) XS (d 32, 1 layer), S (d 64, 2 layers), M (d 128,
--          2 layers): about 24k, 120k and 440k parameters, so the largest is ~18x the smallest,
--          not 100x. Per size: base pretrained on the same corpus with the same steps, SFT on
--          the same demonstrations (cached, shared). Per seed: one hh reward model of size S for
--          every policy (InstructGPT used one 6B RM for all sizes) on comparisons of S-SFT
--          samples without the instructed family, and PPO from each size's SFT against it (the
--          size-S policy is spectrum's, same recipe, cached). Judge: the gold reward (noiseless;
--          ties 1/2) on greedy responses to the same test prompts (balanced over families,
--          instructed excluded, a different draw per seed). Also every model against SFT-M
--          (Fig. 1's "win rate against SFT 175B").
-- Verdict rule (fixed before the runs; s = sd over seeds):
--   Z1 for every size, winrate(PPO_size vs base_size) - 0.5 > s
--   Z2 winrate(PPO_XS vs base_M) - 0.5 > s
--   reproduced: both; partly: one; not reproduced: neither; a single seed: inconclusive.
--   The paper's 85% is reported beside ours.
-- Diagnostic (reported, never judged; added in session 2, after the verdict was known, to test
--   the cause papers/instructgpt.md names: PPO over-optimises a reward model that agrees with
--   gold only ~60% of the time): the same PPO from each size's SFT against a size-S reward model
--   trained on the same number of comparisons labelled by the gold reward instead of hh
--   labelers. Its win rates against base are recorded beside Z1/Z2; the verdict ignores them.
-- Outputs: figures/size-vs-alignment.{svg,png,json}
local al = require "al"
local A = al.recipes.assistant

local ex = al.experiment{
  name = "size-vs-alignment",
  paper = "Ouyang et al. 2022 (InstructGPT)",
  claim = "aligned models beat base models of the same size, and a small aligned model beats a much larger base model under gold preference",
  paper_number = "175B InstructGPT preferred to 175B GPT-3 85 +- 3%; 1.3B InstructGPT preferred to 175B GPT-3",
  defaults = { seeds = { 1, 2, 3 }, sizes = { "XS", "S", "M" }, beta = 0.05, eval_n = 500,
               exclude = { "instructed" } },
  smoke = { seeds = { 1 }, eval_n = 40 },
}
local cfg, smoke = ex.cfg, ex.smoke
local world = A.world(smoke)
local sizes = cfg.sizes
local small, large = sizes[1], sizes[#sizes]

local function nparams(m) return m.nparams and m:nparams() or 0 end

-- shared per-size models (seed-independent) and their parameter counts
local bases, sfts, params = {}, {}, {}
for _, sz in ipairs(sizes) do
  bases[sz] = A.base{ smoke = smoke, size = sz }
  sfts[sz] = A.sft{ smoke = smoke, size = sz }
  params[sz] = nparams(bases[sz])
end

local per_seed = {}
for _, seed in ipairs(cfg.seeds) do
  local prompts = world:prompts(cfg.eval_n, { split = "test", balanced = true, exclude = cfg.exclude,
                                               seed = seed })
  local resp = {}
  for _, sz in ipairs(sizes) do
    resp["base-" .. sz] = A.responses(bases[sz], prompts)
    resp["SFT-" .. sz] = A.responses(sfts[sz], prompts)
    local pol = A.rlhf{ smoke = smoke, size = sz, seed = seed, labeler = "hh", beta = cfg.beta,
                        exclude = cfg.exclude }
    resp["PPO-" .. sz] = A.responses(pol, prompts)
    if pol.free then pol:free() end
    local gpol = A.rlhf{ smoke = smoke, size = sz, seed = seed, labeler = "gold", beta = cfg.beta,
                         exclude = cfg.exclude }
    resp["PPOgold-" .. sz] = A.responses(gpol, prompts)
    if gpol.free then gpol:free() end
  end
  local e = { seed = seed, same_size = {}, vs_sft_large = {}, gold_reward = {}, gold_rm_same_size = {} }
  for _, sz in ipairs(sizes) do
    e.same_size[sz] = A.winrate(world, prompts, resp["PPO-" .. sz], resp["base-" .. sz])
    e.gold_rm_same_size[sz] = A.winrate(world, prompts, resp["PPOgold-" .. sz], resp["base-" .. sz])
    for _, kind in ipairs({ "base", "SFT", "PPO", "PPOgold" }) do
      local key = kind .. "-" .. sz
      e.vs_sft_large[key] = A.winrate(world, prompts, resp[key], resp["SFT-" .. large])
      local g = 0
      for i, rec in ipairs(prompts) do g = g + world:gold(rec, resp[key][i]).reward end
      e.gold_reward[key] = g / #prompts
    end
  end
  e.small_aligned_vs_large_base = A.winrate(world, prompts, resp["PPO-" .. small], resp["base-" .. large])
  e.small_sft_vs_large_base = A.winrate(world, prompts, resp["SFT-" .. small], resp["base-" .. large])
  e.small_gold_rm_vs_large_base = A.winrate(world, prompts, resp["PPOgold-" .. small], resp["base-" .. large])
  per_seed[#per_seed + 1] = e
  collectgarbage()
end

local function col(f)
  local v = {}
  for _, e in ipairs(per_seed) do v[#v + 1] = f(e) end
  return v
end
local summary = { same_size = {}, vs_sft_large = {}, gold_reward = {}, gold_rm_same_size = {} }
for _, sz in ipairs(sizes) do
  summary.same_size[sz] = A.stat(col(function(e) return e.same_size[sz] end))
  summary.gold_rm_same_size[sz] = A.stat(col(function(e) return e.gold_rm_same_size[sz] end))
  for _, kind in ipairs({ "base", "SFT", "PPO", "PPOgold" }) do
    local key = kind .. "-" .. sz
    summary.vs_sft_large[key] = A.stat(col(function(e) return e.vs_sft_large[key] end))
    summary.gold_reward[key] = A.stat(col(function(e) return e.gold_reward[key] end))
  end
end
summary.small_aligned_vs_large_base = A.stat(col(function(e) return e.small_aligned_vs_large_base end))
summary.small_sft_vs_large_base = A.stat(col(function(e) return e.small_sft_vs_large_base end))
summary.small_gold_rm_vs_large_base = A.stat(col(function(e) return e.small_gold_rm_vs_large_base end))

-- figure: Fig. 1's layout: win rate against SFT-M by size (parameters), one line per method
local series = {}
for _, kind in ipairs({ "PPO", "PPOgold", "SFT", "base" }) do
  local s = { name = kind == "PPOgold" and "PPO, gold-labelled RM (diagnostic)" or kind, x = {}, y = {}, sd = {} }
  for i, sz in ipairs(sizes) do
    local st = summary.vs_sft_large[kind .. "-" .. sz]
    s.x[i], s.y[i], s.sd[i] = params[sz] > 0 and params[sz] or i, st.mean, st.sd
  end
  series[#series + 1] = s
end
ex:plot{ kind = "line", title = "Gold win rate against SFT-" .. large .. " by model size (InstructGPT Fig. 1 analogue)",
         xlabel = "parameters", ylabel = "gold win rate vs SFT-" .. large, logx = params[small] > 0,
         yrange = { 0, 1 }, series = series, key = "bottom right" }

-- verdict
local Z1 = true
local z1 = {}
for _, sz in ipairs(sizes) do
  local st = summary.same_size[sz]
  z1[sz] = { mean = st.mean, sd = st.sd, holds = st.mean - 0.5 > st.sd and st.mean > 0.5 }
  Z1 = Z1 and z1[sz].holds
end
local z2s = summary.small_aligned_vs_large_base
local Z2 = z2s.mean - 0.5 > z2s.sd and z2s.mean > 0.5
local verdict = (Z1 and Z2) and "reproduced" or ((Z1 or Z2) and "partly" or "not reproduced")

local parts = {}
for _, sz in ipairs(sizes) do
  parts[#parts + 1] = string.format("%s %.0f%%", sz, 100 * summary.same_size[sz].mean)
end
local gparts = {}
for _, sz in ipairs(sizes) do
  gparts[#gparts + 1] = string.format("%s %.0f%%", sz, 100 * summary.gold_rm_same_size[sz].mean)
end
local ours = string.format("PPO vs base same size: %s (paper 85%%); PPO-%s vs base-%s (%.0fx params): %.0f +- %.0f%%; diagnostic, RM on gold labels: %s, PPO-%s vs base-%s %.0f%%",
  table.concat(parts, ", "), small, large, params[small] > 0 and params[large] / params[small] or 0,
  100 * z2s.mean, 100 * z2s.sd, table.concat(gparts, ", "), small, large,
  100 * summary.small_gold_rm_vs_large_base.mean)
-- one seed has no spread to compare an effect with: no claim either way
if #cfg.seeds < 2 then verdict = "inconclusive" end
ex:finish{
  verdict = verdict, ours = ours, rule = "Z1, Z2 in the script header (effects must exceed the sd over seeds)",
  judged = { Z1 = z1, Z2 = { mean = z2s.mean, sd = z2s.sd, holds = Z2 }, summary = summary },
  per_seed = per_seed, data = { cpu_seconds = os.clock(), params = params, sizes = sizes },
  notes = "One size-S hh reward model per seed scores every policy; base and SFT per size are shared across seeds. " ..
    "The parameter ratio is ~18x, not InstructGPT's 100x. Gold judge, not labelers." ..
    " The gold-labelled-RM arm (PPOgold) is a diagnostic added in session 2 after the verdict was known; it does not enter the verdict." ..
    " Shared-model budgets (al.recipes.assistant REV 4) were raised once before any full run, on the quality of the shared models alone: pretraining 1200 -> 3000 steps (base greedy helpfulness 0.53 -> 0.86), SFT 2 -> 3 epochs on 3000 demos, RM 2000 pairs x 2 epochs (held-out accuracy 0.48, chance) -> 4000 x 4 epochs, PPO lr 3e-5 -> 5e-5; nothing was changed after seeing a verdict; REV 5 (session 2) added the feedback language to the corpus (12% of documents, for Constitutional AI) and raised the context 48 -> 64, which changes every assistant model and so every number here.",
}
