-- al.best_of_n(model, prompts, scorer, n [, opts]): for each prompt, sample n completions and
-- keep the one the scorer rates highest. scorer: a reward model (value at the last token) or a
-- function(prompt, completion, i) -> number. Returns picks (list of completions), their scores,
-- and all samples with their scores. al.best_of_n.kl(n) is the analytic KL of best-of-n to the
-- sampling policy, log n - (n - 1)/n nats (papers/gao.md; Stiennon et al. 2020, Appendix G).
local util = require "al.util"
local train = require "al.train"
local objective = require "al.objective"

local M = {}

function M.kl(n)
  return objective.bon_kl(n)
end

local function scores_of(scorer, prompts, completions, idx)
  if type(scorer) == "function" then
    local s = {}
    for i = 1, #prompts do s[i] = scorer(prompts[i], completions[i], idx[i]) end
    return s
  end
  local rm = require "al.reward_model"
  return rm.rewards(scorer, prompts, completions)
end

function M.run(model, prompts, scorer, n, opts)
  local o = util.opts("al.best_of_n", opts, {
    max_new = 16, temperature = 1.0, top_k = 0, top_p = 1.0, eos = -1, seed = 1, tok = util.ANY,
    batch = 256,
  })
  if math.type(n) ~= "integer" or n < 1 then error("al.best_of_n: n must be a positive integer", 2) end
  local P = {}
  for i, p in ipairs(prompts) do
    P[i] = type(p) == "string" and o.tok:encode(p) or (p.tokens or p)
  end
  -- all n samples of all prompts, generated in batches
  local rep, idx = {}, {}
  for i = 1, #P do for _ = 1, n do rep[#rep + 1] = P[i]; idx[#idx + 1] = i end end
  local comps = {}
  for s = 1, #rep, o.batch do
    local chunk = {}
    for k = s, math.min(s + o.batch - 1, #rep) do chunk[#chunk + 1] = rep[k] end
    local c = model:generate(chunk, { max_new = o.max_new, temperature = o.temperature,
      top_k = o.top_k, top_p = o.top_p, eos = o.eos, seed = o.seed * 7919 + s })
    for k = 1, #c do comps[#comps + 1] = c[k] end
  end
  local sc = scores_of(scorer, rep, comps, idx)
  local picks, pick_scores, samples = {}, {}, {}
  for i = 1, #P do
    local best, bs = nil, -math.huge
    local all = {}
    for k = 1, n do
      local j = (i - 1) * n + k
      all[k] = { completion = comps[j], score = sc[j] }
      if sc[j] > bs then best, bs = comps[j], sc[j] end
    end
    picks[i], pick_scores[i], samples[i] = best, bs, all
  end
  return picks, pick_scores, samples
end

return setmetatable(M, { __call = function(_, ...) return M.run(...) end })
