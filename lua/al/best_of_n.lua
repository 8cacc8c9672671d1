-- al.best_of_n(model, prompts, scorer, n [, opts]): for each prompt, sample n completions and
-- keep the one the scorer rates highest (the first of equal scores). scorer: a reward model
-- (scalar head at the last token, the al.train.scores rule), an ensemble, or a
-- function(prompt, completion, i) -> number (i = the prompt's index). Returns picks (list of
-- completions), their scores, and all samples ({ completion =, score = } per prompt).
-- opts: max_new (16), temperature (1), top_k, top_p, eos (tok.eos when tok is given), seed, tok,
-- batch (sequences generated per call, 256).
--
-- al.best_of_n.kl(n): the analytic KL of best-of-n to the sampling policy, log n - (n - 1)/n
-- nats (Stiennon et al. 2020 App. G; papers/gao.md). It is exact for a continuous score
-- distribution and an upper bound otherwise (Beirami et al. 2024).
-- al.best_of_n.discrete(probs, scores, n): for a finite set of outcomes with base probabilities
-- probs and DISTINCT scores, the exact best-of-n distribution (P(pick = y) = F(y)^n - F(y-)^n,
-- F the base CDF in score order) and its exact KL to the base: the check of the formula.
local util = require "al.util"
local train = require "al.train"
local objective = require "al.objective"

local M = {}

function M.kl(n)
  if type(n) ~= "number" or n < 1 then error("al.best_of_n.kl: n must be >= 1", 2) end
  return objective.bon_kl(n)
end

function M.discrete(probs, scores, n)
  local K = #probs
  if #scores ~= K or K == 0 then error("al.best_of_n.discrete: probs and scores must have the same length", 2) end
  local order = {}
  for i = 1, K do order[i] = i end
  table.sort(order, function(a, b) return scores[a] < scores[b] end)
  for j = 2, K do
    if scores[order[j]] == scores[order[j - 1]] then error("al.best_of_n.discrete: scores must be distinct", 2) end
  end
  local out, F, kl = {}, 0, 0
  for _, i in ipairs(order) do
    local F1 = F + probs[i]
    local q = F1 ^ n - F ^ n
    out[i] = q
    if q > 0 then kl = kl + q * math.log(q / probs[i]) end
    F = F1
  end
  return out, kl
end

function M.run(model, prompts, scorer, n, opts)
  local fname = "al.best_of_n"
  local o = util.opts(fname, opts, {
    max_new = 16, temperature = 1.0, top_k = 0, top_p = 1.0, eos = util.ANY, seed = 1, tok = util.ANY,
    batch = 256,
  })
  if math.type(n) ~= "integer" or n < 1 then error(fname .. ": n must be a positive integer", 2) end
  if type(prompts) ~= "table" or #prompts == 0 then error(fname .. ": prompts must be a non-empty list", 2) end
  if o.eos == nil then o.eos = (o.tok and o.tok.eos) or -1 end
  local P = {}
  for i, p in ipairs(prompts) do P[i] = train.prompt_ids(p, o.tok, fname, i) end
  -- all n samples of all prompts, generated in batches; sample (i, k) is at (i - 1) * n + k
  local rep, idx = {}, {}
  for i = 1, #P do for _ = 1, n do rep[#rep + 1] = P[i]; idx[#idx + 1] = i end end
  local comps = {}
  for s = 1, #rep, o.batch do
    local chunk = table.move(rep, s, math.min(s + o.batch - 1, #rep), 1, {})
    local c = model:generate(chunk, { max_new = o.max_new, temperature = o.temperature,
      top_k = o.top_k, top_p = o.top_p, eos = o.eos, seed = o.seed * 7919 + s })
    table.move(c, 1, #c, #comps + 1, comps)
  end
  local sc
  if type(scorer) == "function" then
    sc = train.scores(function(p, c, j) return scorer(p, c, idx[j]) end, rep, comps, nil, fname)
  else
    sc = train.scores(scorer, rep, comps, 64, fname, train.pad_of(o.tok))
  end
  local picks, pick_scores, samples = {}, {}, {}
  for i = 1, #P do
    local best, bs = nil, -math.huge
    local all = {}
    for k = 1, n do
      local j = (i - 1) * n + k
      if not train.finite(sc[j]) then
        error(string.format("%s: non-finite score (%s) for sample %d of prompt %d", fname, tostring(sc[j]), k, i), 0)
      end
      all[k] = { completion = comps[j], score = sc[j] }
      if sc[j] > bs then best, bs = comps[j], sc[j] end
    end
    picks[i], pick_scores[i], samples[i] = best, bs, all
  end
  return picks, pick_scores, samples
end

return setmetatable(M, { __call = function(_, ...) return M.run(...) end })
