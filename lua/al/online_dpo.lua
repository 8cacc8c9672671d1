-- al.online_dpo(policy, opts): online (iterative) DPO (Xiong et al. 2024; Guo et al. 2024; TRL's
-- OnlineDPOTrainer in spirit): each round samples two completions per prompt from the current
-- policy, scores both with opts.reward (a reward model, an ensemble or function(prompt,
-- completion, i): the al.train.scores rule), makes the higher-scored one chosen (ties are
-- dropped), and trains al.dpo on the round's pairs against the reference. The reference is
-- opts.ref, else a frozen copy of the initial policy; ref_per_round = true uses the policy at
-- the start of each round instead (the iterative-DPO variant). A round is one step of
-- al.train.run, so the log (one JSON line per round), checkpoints (the policy after each
-- round) and exact resume are the loop's: the samples of round k depend only on (seed, k) and
-- the policy, and each round's DPO starts a fresh optimizer.
-- Logged per round: reward (mean score of all samples), reward_chosen, reward_rejected, pairs,
-- ties, and the DPO's last step: loss, rewards/margins, rewards/accuracies, implicit_kl.
local core = require "al.core"
local util = require "al.util"
local train = require "al.train"
local dpo = require "al.dpo"

local DEFAULTS = {
  reward = util.REQUIRED,   -- the scorer
  prompts = util.REQUIRED,  -- token arrays, strings (with tok) or records
  tok = util.ANY,           -- tokenizer (or world) for text prompts; its eos ends a completion
  eos = util.ANY,           -- end-of-sequence id (default tok.eos, else none)
  ref = util.ANY,           -- the frozen reference (default: a frozen copy of the initial policy)
  ref_per_round = false,    -- the reference is the policy at the start of each round
  rounds = 4,               -- sample -> label -> DPO rounds
  pairs = 64,               -- prompts per round (two samples each)
  max_new = 16,             -- tokens sampled per completion
  temperature = 1.0,        -- sampling temperature
  beta = 0.1, loss = "sigmoid", -- al.dpo's
  epochs = 1, batch_size = 16, lr = 1e-4, warmup = 0.1, clip = 1.0, -- each round's al.dpo
  seed = 1, log = util.ANY, ckpt = util.ANY, save_every = 1, resume = util.ANY, progress = true,
}

local M = {}

-- Preference pairs from samples: completions[2k-1], completions[2k] of prompts[k] with scores in
-- the same order; the higher score is chosen; equal scores are dropped (counted as ties).
function M.make_pairs(prompts, completions, scores)
  local prefs, ties = {}, 0
  for k, p in ipairs(prompts) do
    local a, b = 2 * k - 1, 2 * k
    local sa, sb = scores[a], scores[b]
    if sa == sb then ties = ties + 1
    elseif sa > sb then prefs[#prefs + 1] = { prompt = p, chosen = completions[a], rejected = completions[b], s = { sa, sb } }
    else prefs[#prefs + 1] = { prompt = p, chosen = completions[b], rejected = completions[a], s = { sb, sa } } end
  end
  return prefs, ties
end

function M.train(policy, opts)
  local fname = "al.online_dpo"
  local o = util.opts(fname, opts, DEFAULTS)
  if not train.is_model(policy) then error(fname .. ": the policy must be a model", 0) end
  for _, k in ipairs { "rounds", "pairs", "max_new" } do
    if math.type(o[k]) ~= "integer" or o[k] < 1 then error(fname .. ": " .. k .. " must be a positive integer", 0) end
  end
  local V, ctx = train.dims(policy)
  if type(o.prompts) ~= "table" or #o.prompts == 0 then error(fname .. ": prompts must be a non-empty list", 0) end
  local prompts = {}
  for i, p in ipairs(o.prompts) do
    local ids = train.prompt_ids(p, o.tok, fname, i)
    if type(ids) ~= "table" or #ids == 0 then error(string.format("%s: prompt %d is empty", fname, i), 0) end
    if #ids + o.max_new > ctx then
      error(string.format("%s: prompt %d has %d tokens; with max_new = %d it exceeds the context %d", fname, i, #ids, o.max_new, ctx), 0)
    end
    for _, t in ipairs(ids) do
      if math.type(t) ~= "integer" or t < 0 or t >= V then
        error(string.format("%s: prompt %d: token %s outside the vocabulary [0, %d)", fname, i, tostring(t), V), 0)
      end
    end
    prompts[i] = ids
  end
  local eos = o.eos
  if eos == nil then eos = o.tok and o.tok.eos or nil end
  local own_ref = not o.ref
  local ref = o.ref
  if own_ref then ref = policy:clone() ref:freeze() end
  local pad = train.pad_of(o.tok)
  local hist = train.run{
    name = fname, steps = o.rounds, sched = { lr = o.lr }, log = o.log, progress = o.progress,
    ckpt = o.ckpt, save_every = o.save_every, resume = o.resume,
    save = function(dir) train.save_state(dir, { model = policy }, {}) end,
    load = function(dir) train.load_state(dir, { model = policy }, {}) end,
    show = function(m) return { reward = m.reward, loss = m.loss } end,
    step = function(step)
      local idx = train.cycle_indices(#prompts, o.pairs, step, o.seed, prompts)
      local ps, rep = {}, {}
      for k, i in ipairs(idx) do ps[k] = prompts[i]; rep[2 * k - 1], rep[2 * k] = prompts[i], prompts[i] end
      local comps = policy:generate(rep, { max_new = o.max_new, temperature = o.temperature, eos = eos,
        seed = o.seed * 1000003 + step + 1 })
      local ridx = {}
      for k, i in ipairs(idx) do ridx[2 * k - 1], ridx[2 * k] = i, i end
      local scorer = o.reward
      if type(scorer) == "function" then
        local f = scorer
        scorer = function(p, c, j) return f(p, c, ridx[j]) end
      end
      local scores = train.scores(scorer, rep, comps, nil, fname, pad)
      local prefs, ties = M.make_pairs(ps, comps, scores)
      local m = { reward = util.mean(scores), pairs = #prefs, ties = ties }
      if #prefs == 0 then
        m.loss = 0 -- nothing to learn this round: every pair tied
        return m
      end
      local sc, sr = 0, 0
      for _, p in ipairs(prefs) do sc, sr = sc + p.s[1], sr + p.s[2] end
      m.reward_chosen, m.reward_rejected = sc / #prefs, sr / #prefs
      local r = ref
      if o.ref_per_round then r = policy:clone() r:freeze() end
      local _, h = dpo.train(policy, prefs, { ref = r, beta = o.beta, loss = o.loss, epochs = o.epochs,
        batch_size = o.batch_size, lr = o.lr, warmup = o.warmup, clip = o.clip, seed = o.seed + step,
        progress = false })
      if r ~= ref then r:free() end
      local last = h[#h]
      m.loss = last.loss
      m["rewards/margins"], m["rewards/accuracies"], m.implicit_kl = last["rewards/margins"],
        last["rewards/accuracies"], last.implicit_kl
      return m
    end,
  }
  if own_ref then ref:free() end
  return policy, hist
end

return setmetatable(M, { __call = function(_, ...) return M.train(...) end })
