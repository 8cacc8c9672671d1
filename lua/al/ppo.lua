-- al.ppo(policy, opts): PPO-RLHF (papers/ppo.md; InstructGPT, Ziegler et al. 2019, Huang et al.
-- "N+ implementation details"). Rollouts from the policy (temperature 1, the policy itself) on
-- prompts; the score of a completion from a reward model (scalar head at its last token, the
-- al.train.scores rule), an ensemble, or any Lua function(prompt, completion, i) (token arrays;
-- i = the index of the prompt in opts.prompts, e.g. to find a world's record); a per-token KL
-- penalty to the frozen reference, r_t = -beta (log pi - log pi_ref) (k1), with the score added
-- at the last token; beta fixed (kl = number or { beta = }) or adapted to a target KL
-- (kl = { target =, beta =, horizon = }, Ziegler's controller, fed the batch's mean KL); a separate
-- value model initialised from the reward model (InstructGPT) or from the policy with a fresh
-- scalar head; GAE; whitened advantages; clipped policy and value losses; several epochs over
-- shuffled minibatches; optional pretraining mix (PPO-ptx: ptx = { data =, coef =, batch_size = }).
-- GRPO and RLOO (al.grpo: advantage = "grpo" | "rloo", `group` completions per prompt, no value
-- model) share all of it.
--
-- Logged per step (one JSON line): reward (mean score), rlhf_reward (score - beta * kl),
-- kl (k1: mean over sequences of sum_t log pi - log pi_ref on the samples), kl_k3 (k3, same
-- sums), kl_exact (exact KL between the two models' next-token distributions summed over the
-- completion positions, opts.exact_kl), beta, entropy (mean per-token entropy of the policy on
-- its samples), response_length, loss (= pg_loss), pg_loss, clipfrac, approx_kl (k3 of old vs new
-- policy, over the update), ratio (mean), first_ratio (mean ratio of the first minibatch of the
-- first epoch: exactly 1, a check of the bookkeeping), value_loss, vf_clipfrac,
-- explained_variance, ptx_loss, time_rollout, time_score, time_update.
-- TRL names (peers.md section 8): objective/scores = reward, objective/rlhf_reward = rlhf_reward,
-- objective/kl = kl, objective/entropy = entropy, policy/clipfrac_avg = clipfrac,
-- loss/value_avg = value_loss, val/ratio = ratio, objective/kl_coef = beta.
--
-- Step-level API for the REPL:
--   local p = al.ppo.new(policy, opts)
--   local b = p:rollout()        -- sample completions for the next prompt batch
--   p:score(b)                   -- scores, log-probs under policy and reference, values, KL
--   p:advantages(b)              -- per-token rewards, GAE (or group) advantages and returns
--   local m = p:update(b)        -- PPO epochs; returns the step's metrics
--   p:step()                     -- all four; al.ppo(policy, opts) runs opts.steps of them with
--                                -- logging, checkpoints (policy, value model, both optimizers,
--                                -- beta) and exact resume.
--   p:run()                      -- what al.ppo(policy, opts) does: returns the policy and history;
--                                -- p.policy and p.value (the value model; nil for GRPO/RLOO)
--                                -- are the trained models.
-- Resume: call with the same initial policy (it is also the default reference) and resume = DIR.
-- Data parallelism (al.dp): under mpirun each rank back-propagates its part of every minibatch
-- (policy and value model) and, with rng_per_sequence = true, samples its slice of the rollouts
-- (gathered after); scoring (log-probs, reference, values, rewards) runs on the whole batch on
-- every rank, so every rank holds the same batch. ptx is not supported there yet.
local core = require "al.core"
local util = require "al.util"
local train = require "al.train"
local objective = require "al.objective"
local mpi = require "al.mpi"
local dp = require "al.dp"

-- The options, their defaults and meaning (the trainer only reads this table; util.opts rejects
-- any other key).
local ADVANTAGES = { gae = true, grpo = true, rloo = true, ["reinforce++"] = true }
local GROUPED = { grpo = true, rloo = true }
local LOSS_AGG = { token_mean = true, seq_mean = true, seq_sum = true, constant = true }
local DEFAULTS = {
  -- models and data
  reward = util.REQUIRED,    -- the scorer: a reward model, an ensemble or function(prompt, completion, i)
  prompts = util.REQUIRED,   -- token arrays, strings (with tok) or records (ids / tokens / prompt)
  ref = util.ANY,            -- the frozen reference (default: a frozen copy of the policy)
  value_model = util.ANY,    -- the value model as given (a model with a scalar head)
  value_init = "reward",     -- else the value model starts as: "reward" (the RM) | "policy" (+ fresh head)
  tok = util.ANY,            -- tokenizer (or world) for text prompts; its eos and pad are used
  eos = util.ANY,            -- the end-of-sequence id ending a completion (default tok.eos, else none)
  ptx = util.ANY,            -- PPO-ptx: { data =, coef =, batch_size = 8 } pretraining-loss mix
  -- rollouts and rewards
  steps = 50,                -- PPO iterations (rollout + update)
  batch_size = 32,           -- completions per iteration
  max_new = 16,              -- tokens sampled per completion
  kl = util.ANY,             -- beta (a number) or { beta = KL_BETA, target =, horizon = 10000 } (adaptive)
  exact_kl = true,           -- log the exact KL of the next-token distributions (and feed the controller)
  score_scale = 1.0,         -- score multiplier, before the no-eos penalty and reward_clip
  no_eos_penalty = util.ANY, -- added to the score of a completion without eos (the EOS trick)
  reward_clip = 0.0,         -- clip scores into [-c, c] (0: off)
  whiten_rewards = false,    -- whiten the batch's scores (unit variance, mean kept)
  -- advantages
  advantage = "gae",         -- "gae" (value model) | "grpo" | "rloo" (group baselines, no value model)
                             -- | "reinforce++" (per-token return-to-go, whitened over the batch)
  scale_rewards = true,      -- grpo: divide by the group's std (false: Dr. GRPO's mean-centring only)
  loss_agg = "token_mean",   -- the policy loss over a minibatch's tokens: "token_mean" (sum / tokens)
                             -- | "seq_mean" (mean over sequences of token means, GRPO's paper)
                             -- | "seq_sum" (mean over sequences of token sums) | "constant" (sum /
                             -- (sequences * max_new), Dr. GRPO)
  group = 4,                 -- completions per prompt of grpo / rloo
  gamma = 1.0,               -- GAE discount
  lam = 0.95,                -- GAE lambda
  whiten_advantages = util.ANY, -- whiten advantages (default: true for gae, false for groups)
  -- the update
  epochs = 2,                -- passes over each rollout batch
  minibatches = 2,           -- minibatches per pass
  lr = 1e-4,                 -- policy learning rate (train.lr_at with lr_schedule, no warmup)
  lr_schedule = "constant",  -- "constant" | "linear" (to 0 at steps)
  vf_lr = util.ANY,          -- value-model learning rate (default lr), scheduled as lr
  ratio_clip = 0.2,          -- the clip of the policy ratio, [1 - c, 1 + c]
  value_clip = 0.2,          -- the clip of the value update around the rollout's values
  clip = 1.0,                -- the gradient-norm clip of both optimizers, as in every trainer
  -- bookkeeping
  seed = 1, log = util.ANY, ckpt = util.ANY, save_every = 0, resume = util.ANY, progress = true,
  -- data parallelism (al.dp): under mpirun each rank samples and back-propagates its slice
  rng_per_sequence = false,  -- one random stream per completion (generate{streams}): rollouts split
                             -- over ranks equal the one-process ones (needed for that under MPI)
  micro_batches = 1,         -- parts per process of each PPO minibatch, gradients summed in order
}
local KL_BETA = 0.05 -- beta when kl (or its beta) is not given

local PPO = {}
PPO.__index = PPO

local M = { PPO = PPO }

local function check_num(fname, o, k, lo, hi)
  local v = o[k]
  if type(v) ~= "number" or v ~= v or (lo and v < lo) or (hi and v > hi) then
    error(string.format("%s: option '%s' must be a number in [%s, %s]", fname, k, tostring(lo or "-inf"),
      tostring(hi or "inf")), 0)
  end
end

function M.new(policy, opts, fname)
  fname = fname or "al.ppo"
  if type(opts) == "table" and opts.clip ~= nil and opts.ratio_clip == nil then
    -- old scripts passed the ratio clip as 'clip': never let it silently become the gradient clip
    error(fname .. ": option 'clip' now means the gradient-norm clip (as in every trainer); the ratio " ..
      "clip is 'ratio_clip' (pass ratio_clip too to set clip)", 0)
  end
  local o = util.opts(fname, opts, DEFAULTS)
  local self = setmetatable({ o = o, policy = policy, fname = fname, iter = 0 }, PPO)
  if not train.is_model(policy) then error(fname .. ": the policy must be a model", 0) end
  local V, ctx = train.dims(policy)
  for _, k in ipairs { "batch_size", "max_new", "epochs", "minibatches", "group", "steps" } do
    if math.type(o[k]) ~= "integer" or o[k] < (k == "steps" and 0 or 1) then
      error(string.format("%s: option '%s' must be a positive integer", fname, k), 0)
    end
  end
  check_num(fname, o, "gamma", 0, 1)
  check_num(fname, o, "lam", 0, 1)
  check_num(fname, o, "ratio_clip", 0)
  check_num(fname, o, "lr", 0)
  check_num(fname, o, "reward_clip", 0)
  check_num(fname, o, "score_scale")
  if o.vf_lr ~= nil then check_num(fname, o, "vf_lr", 0) end
  if o.no_eos_penalty ~= nil then check_num(fname, o, "no_eos_penalty") end
  if o.value_init ~= "reward" and o.value_init ~= "policy" then
    error(fname .. ": value_init must be reward or policy", 0)
  end
  if not ADVANTAGES[o.advantage] then
    error(fname .. ": advantage must be gae, grpo, rloo or reinforce++", 0)
  end
  if GROUPED[o.advantage] and o.group < 2 then error(fname .. ": group must be >= 2", 0) end
  if not LOSS_AGG[o.loss_agg] then
    error(fname .. ": loss_agg must be token_mean, seq_mean, seq_sum or constant, got '" .. tostring(o.loss_agg) .. "'", 0)
  end
  if o.lr_schedule ~= "constant" and o.lr_schedule ~= "linear" then
    error(fname .. ": lr_schedule must be constant or linear", 0)
  end
  if o.whiten_advantages == nil then o.whiten_advantages = not GROUPED[o.advantage] end
  dp.micro(fname, o.micro_batches)
  if o.ptx and (mpi.size() > 1 or o.micro_batches > 1) then
    error(fname .. ": ptx is not supported with data parallelism (MPI ranks or micro_batches > 1) yet", 0)
  end
  local tok = o.tok
  if o.eos == nil then o.eos = (tok and tok.eos) or -1 end
  if type(o.prompts) ~= "table" or #o.prompts == 0 then error(fname .. ": prompts must be a non-empty list", 0) end
  self.prompts = {}
  for i, p in ipairs(o.prompts) do
    local ids = train.prompt_ids(p, tok, fname, i)
    if type(ids) ~= "table" or #ids == 0 then error(string.format("%s: prompt %d is empty", fname, i), 0) end
    for k = 1, #ids do
      if math.type(ids[k]) ~= "integer" or ids[k] < 0 or ids[k] >= V then
        error(string.format("%s: prompt %d token %d is outside the vocabulary [0, %d)", fname, i, k, V), 0)
      end
    end
    if #ids + o.max_new > ctx then
      error(string.format("%s: prompt %d has %d tokens; with max_new = %d it exceeds the context %d",
        fname, i, #ids, o.max_new, ctx), 0)
    end
    self.prompts[i] = ids
  end
  self.prompt_records = o.prompts
  if o.ref then
    self.ref = o.ref
  else
    self.ref = policy:clone()
    self.ref:freeze()
  end
  if train.is_model(o.reward) then
    if not o.reward:config().scalar then error(fname .. ": the reward model has no scalar head", 0) end
    self.rm = o.reward
  elseif type(o.reward) == "function" then
    self.reward_fn = o.reward
  elseif type(o.reward) == "table" and type(o.reward.rewards) == "function" then
    self.rm = o.reward -- an ensemble
  else
    error(fname .. ": reward must be a reward model, an ensemble or a function(prompt, completion, i)", 0)
  end
  self.scorer = self.rm or self.reward_fn
  self.critic = o.advantage == "gae"
  if self.critic then
    if o.value_model then
      if not train.is_model(o.value_model) then error(fname .. ": value_model must be a model", 0) end
      self.value = o.value_model
    elseif o.value_init == "reward" and self.rm then
      local src = train.is_model(self.rm) and self.rm or self.rm.models[1]
      self.value = src:clone()
    else
      self.value = policy:clone()
      self.value:set_head{ scalar = true, lm = false, seed = o.seed }
    end
    if not self.value:config().scalar then error(fname .. ": the value model has no scalar head", 0) end
    self.vopt = core.adamw(self.value, { lr = o.vf_lr or o.lr, clip = o.clip })
  end
  self.opt = core.adamw(policy, { lr = o.lr, clip = o.clip })
  local kl = o.kl or {}
  if type(kl) == "number" then kl = { beta = kl } end
  if type(kl) ~= "table" then error(fname .. ": kl must be a number (beta) or { beta =, target =, horizon = }", 0) end
  for k in pairs(kl) do
    if k ~= "beta" and k ~= "target" and k ~= "horizon" then
      error(fname .. ": unknown kl option '" .. tostring(k) .. "' (known: beta, horizon, target)", 0)
    end
  end
  self.kl_ctl = objective.kl_controller{ beta = kl.beta or KL_BETA, target = kl.target,
                                         horizon = kl.horizon or 10000 }
  self.sched = { lr = o.lr, schedule = o.steps > 0 and o.lr_schedule or "constant" }
  self.ctx = train.new_ctx(fname)
  return self
end

-- Sample completions for the prompts of iteration `self.iter` (deterministic in seed and iter),
-- or for the given prompts (token arrays).
function PPO:rollout(prompts)
  local o = self.o
  local t0 = core.time()
  local idx
  if not prompts then
    local n = o.advantage == "gae" and o.batch_size or math.max(1, o.batch_size // o.group)
    idx = train.cycle_indices(#self.prompts, n, self.iter, o.seed, self.prompts)
    prompts = {}
    for k, i in ipairs(idx) do prompts[k] = self.prompts[i] end
  end
  if o.advantage ~= "gae" then -- groups: each prompt repeated `group` times, consecutively
    local rep, ridx = {}, {}
    for k, p in ipairs(prompts) do
      for _ = 1, o.group do rep[#rep + 1] = p; ridx[#ridx + 1] = idx and idx[k] or k end
    end
    prompts, idx = rep, ridx
  end
  local gen = { max_new = o.max_new, eos = o.eos, seed = o.seed * 1000003 + self.iter }
  local completions
  if o.rng_per_sequence then
    -- completion b draws from stream b - 1: under MPI each rank samples its slice of the batch
    local ids = {}
    for b = 1, #prompts do ids[b] = b - 1 end
    local size = mpi.size()
    local part = dp.parts(ids, size)[mpi.rank() + 1]
    local mine = {}
    for k, b in ipairs(part) do mine[k] = prompts[b + 1] end
    gen.streams = part
    local got = #part > 0 and self.policy:generate(mine, gen) or {}
    completions = {}
    for _, r in ipairs(size > 1 and mpi.allgather(got) or { got }) do
      table.move(r, 1, #r, #completions + 1, completions)
    end
  else
    completions = self.policy:generate(prompts, gen) -- one stream: every rank samples the whole batch
  end
  local seqs, starts = {}, {}
  for b = 1, #prompts do
    seqs[b] = train.concat(prompts[b], completions[b])
    starts[b] = #prompts[b]
  end
  return { prompts = prompts, completions = completions, seqs = seqs, starts = starts,
           prompt_index = idx, iter = self.iter, time_rollout = core.time() - t0 }
end

-- completion-token slice of a per-token list (logp/entropy/values lists are indexed by token index)
local function slice(list, start, n) return table.move(list, start, start + n - 1, 1, {}) end

-- The minibatches of the first PPO epoch (lists of sequence indices). score() runs the models on
-- exactly these batches, so the first minibatch of the update sees bit-identical log-probs
-- (sgemm's rounding depends on the batch's shape): its ratio is exactly 1.
local function minibatches(order, n, mb)
  local out = {}
  for s = 1, n, mb do out[#out + 1] = table.move(order, s, math.min(s + mb - 1, n), 1, {}) end
  return out
end

function PPO:score(b)
  local o = self.o
  local t0 = core.time()
  local n = #b.seqs
  local order = {}
  for i = 1, n do order[i] = i end
  b.mb_rng = core.rng(o.seed, 5000 + b.iter)
  b.mb_rng:shuffle(order)
  b.first_order = order
  local mb = math.max(1, math.ceil(n / o.minibatches))
  b.old_logp, b.ref_logp, b.entropy, b.values = {}, {}, {}, self.critic and {} or nil
  b.kl_exact = o.exact_kl and {} or nil
  for _, ids in ipairs(minibatches(order, n, mb)) do
    local seqs, starts = {}, {}
    for j, i in ipairs(ids) do seqs[j], starts[j] = b.seqs[i], b.starts[i] end
    -- log-probs under the policy and the reference, the policy's entropy, the exact KL
    local pol = self.policy:forward(seqs, { start = starts, entropy = true })
    local ref = self.ref:forward(seqs, { start = starts })
    local kl = o.exact_kl and self.policy:kl_to(self.ref) or nil
    local v = self.critic and self.value:forward(seqs, { values = true, logp = false }) or nil
    for j, i in ipairs(ids) do
      local L = #b.completions[i]
      b.old_logp[i] = slice(pol.logp[j], starts[j], L)
      b.ref_logp[i] = slice(ref.logp[j], starts[j], L)
      b.entropy[i] = slice(pol.entropy[j], starts[j], L)
      if kl then b.kl_exact[i] = kl[j] end
      -- values before each completion token
      if v then b.values[i] = slice(v.values[j], starts[j], L) end
    end
  end
  -- scores: the reward model (last token) or the function
  local scorer = self.scorer
  if self.reward_fn then -- i = the prompt's index in opts.prompts (the world's record for gold rewards)
    local f, pi = self.reward_fn, b.prompt_index
    scorer = function(p, c, i) return f(p, c, pi and pi[i] or i) end
  end
  local sc = train.scores(scorer, b.prompts, b.completions, 64, self.fname, train.pad_of(o.tok))
  b.raw_scores = sc
  b.scores = {}
  for i = 1, n do
    local s = sc[i]
    if not train.finite(s) then
      self.ctx.step = self.iter + 1
      self.ctx:fail(string.format("non-finite reward (%s) for completion %d", tostring(s), i))
    end
    s = s * o.score_scale
    if o.no_eos_penalty and o.eos >= 0 then
      local c = b.completions[i]
      if #c == 0 or c[#c] ~= o.eos then s = s + o.no_eos_penalty end
    end
    if o.reward_clip > 0 then s = math.max(-o.reward_clip, math.min(o.reward_clip, s)) end
    b.scores[i] = s
  end
  if o.whiten_rewards and n > 1 then b.scores = objective.whiten(b.scores, false) end
  -- sample-based KL estimates per sequence: k1 = sum d, k3 = sum (e^-d - 1 + d), d = log pi - log ref
  b.kl_k1, b.kl_k3 = {}, {}
  for i = 1, n do
    local k1, k3 = 0, 0
    local lp, lq = b.old_logp[i], b.ref_logp[i]
    for t = 1, #lp do
      local d = lp[t] - lq[t]
      k1 = k1 + d
      k3 = k3 + (math.exp(-d) - 1 + d)
    end
    b.kl_k1[i], b.kl_k3[i] = k1, k3
  end
  b.time_score = core.time() - t0
  return b
end

function PPO:advantages(b)
  local o = self.o
  local n = #b.seqs
  local beta = self.kl_ctl.beta
  b.beta = beta
  -- r_t = -beta (log pi - log pi_ref), plus the score at the last token (core/obj_rl.c)
  b.rewards = objective.kl_rewards{ logp = b.old_logp, ref_logp = b.ref_logp, scores = b.scores, beta = beta }
  if self.critic then
    local g = objective.gae{ rewards = b.rewards, values = b.values, gamma = o.gamma, lam = o.lam }
    b.adv, b.returns = g.advantages, g.returns
  elseif o.advantage == "reinforce++" then
    -- REINFORCE++ (Hu 2025): no critic; A_t = the return-to-go sum_{k>=t} gamma^(k-t) r_k of the
    -- KL-penalised per-token rewards (GAE with V = 0 and lambda = 1), then whitened over the
    -- whole batch (whiten_advantages, default on): the global normalisation
    local zeros = {}
    for i = 1, n do
      local z = {}
      for t = 1, #b.rewards[i] do z[t] = 0 end
      zeros[i] = z
    end
    b.adv = objective.gae{ rewards = b.rewards, values = zeros, gamma = o.gamma, lam = 1 }.advantages
  else
    -- group baselines on the sequence return (score - beta * KL), the same for every token
    local ret = {}
    for i = 1, n do
      local s = 0
      for _, x in ipairs(b.rewards[i]) do s = s + x end
      ret[i] = s
    end
    local a = objective.group_advantages{ rewards = ret, group = o.group, kind = o.advantage, scale = o.scale_rewards }
    b.adv = {}
    for i = 1, n do
      local row = {}
      for t = 1, #b.completions[i] do row[t] = a[i] end
      b.adv[i] = row
    end
  end
  if o.whiten_advantages then b.adv = objective.whiten_rows(b.adv, true) end
  return b
end

-- completion-aligned rows into token-aligned rows of length #seq - 1 (logp) or #seq (values)
local function pad_rows(rows, starts, seqs, extra)
  local out = {}
  for i, row in ipairs(rows) do
    local full = {}
    for t = 1, #seqs[i] - 1 + extra do full[t] = 0 end
    table.move(row, 1, #row, starts[i], full)
    out[i] = full
  end
  return out
end

-- The policy's learning rate at iteration self.iter: the one schedule of every trainer.
function PPO:lr_now()
  return train.lr_at(self.sched, self.iter, self.o.steps)
end

-- The clipped policy loss aggregated by loss_agg (al.objective.ppo_policy_agg).
M.policy_loss = objective.ppo_policy_agg

function PPO:update(b)
  local o = self.o
  local t0 = core.time()
  local ctx = self.ctx
  ctx.step = b.iter + 1
  local n = #b.seqs
  local order = b.first_order
  local mb = math.max(1, math.ceil(n / o.minibatches))
  local acc = { pg_loss = 0, clipfrac = 0, approx_kl = 0, vf_loss = 0, vf_clipfrac = 0, n = 0,
                ratio = 0, ptx_loss = 0 }
  local lr = self:lr_now()
  local vlr = (o.vf_lr or o.lr) * (lr / (o.lr > 0 and o.lr or 1))
  local first_ratio
  local k = 0
  for epoch = 1, o.epochs do
    if epoch > 1 then b.mb_rng:shuffle(order) end
    for s = 1, n, mb do
      k = k + 1
      local ids = {}
      for j = s, math.min(s + mb - 1, n) do ids[#ids + 1] = order[j] end
      local old, adv = {}, {}
      for j, i in ipairs(ids) do old[j], adv[j] = b.old_logp[i], b.adv[i] end
      local l = {}
      dp.grads(self.policy, ids, {
        forward = function(part) -- the part's new log-probs of the completion tokens
          local ps, st = {}, {}
          for j, i in ipairs(part) do ps[j], st[j] = b.seqs[i], b.starts[i] end
          local res = self.policy:forward(ps, { start = st })
          local new = {}
          for j, i in ipairs(part) do new[j] = slice(res.logp[j], st[j], #b.old_logp[i]) end
          return { logp = new }
        end,
        objective = function(out)
          l = M.policy_loss(out.logp, old, adv, o.ratio_clip, o.loss_agg, o.max_new)
          ctx:check(l.loss, "policy loss")
          return { dlogp = l.dlogp }, l.loss
        end,
        backward = function(part, g)
          local ps, st = {}, {}
          for j, i in ipairs(part) do ps[j], st[j] = b.seqs[i], b.starts[i] end
          return { dlogp = pad_rows(g.dlogp, st, ps, 0) }
        end,
      }, o.micro_batches)
      if not first_ratio then first_ratio = l.ratio_mean end
      if o.ptx and (o.ptx.coef or 0) > 0 then
        acc.ptx_loss = acc.ptx_loss + self:ptx_grad((b.iter * o.epochs * o.minibatches) + k - 1)
      end
      ctx:opt_step(self.opt, self.policy, lr, nil, "policy")
      acc.pg_loss = acc.pg_loss + l.loss
      acc.clipfrac = acc.clipfrac + l.clipfrac
      acc.approx_kl = acc.approx_kl + l.approx_kl
      acc.ratio = acc.ratio + l.ratio_mean
      if self.critic then
        local vold, ret = {}, {}
        for j, i in ipairs(ids) do vold[j], ret[j] = b.values[i], b.returns[i] end
        local vl
        dp.grads(self.value, ids, {
          forward = function(part) -- the part's values before each completion token
            local ps = {}
            for j, i in ipairs(part) do ps[j] = b.seqs[i] end
            local vres = self.value:forward(ps, { values = true, logp = false })
            local vnew = {}
            for j, i in ipairs(part) do vnew[j] = slice(vres.values[j], b.starts[i], #b.values[i]) end
            return { values = vnew }
          end,
          objective = function(out)
            vl = objective.value_loss{ values = out.values, old_values = vold, returns = ret, clip = o.value_clip }
            ctx:check(vl.loss, "value loss")
            return { dvalues = vl.dvalues }, vl.loss
          end,
          backward = function(part, g)
            local ps, st = {}, {}
            for j, i in ipairs(part) do ps[j], st[j] = b.seqs[i], b.starts[i] end
            return { dvalues = pad_rows(g.dvalues, st, ps, 1) }
          end,
        }, o.micro_batches)
        ctx:opt_step(self.vopt, self.value, vlr, nil, "value model")
        acc.vf_loss = acc.vf_loss + vl.loss
        acc.vf_clipfrac = acc.vf_clipfrac + vl.clipfrac
      end
      acc.n = acc.n + 1
    end
  end
  local mean = util.mean
  local lens, ent = {}, {}
  for i = 1, n do
    lens[i] = #b.completions[i]
    ent[i] = mean(b.entropy[i])
  end
  local kl_mean = mean(b.kl_k1)
  local m = {
    reward = mean(b.scores), kl = kl_mean, kl_k3 = mean(b.kl_k3),
    kl_exact = b.kl_exact and mean(b.kl_exact) or nil,
    rlhf_reward = mean(b.scores) - b.beta * kl_mean,
    entropy = mean(ent), response_length = mean(lens), beta = b.beta,
    loss = acc.pg_loss / acc.n, pg_loss = acc.pg_loss / acc.n, clipfrac = acc.clipfrac / acc.n,
    approx_kl = acc.approx_kl / acc.n, ratio = acc.ratio / acc.n, first_ratio = first_ratio,
    lr = lr, time_rollout = b.time_rollout, time_score = b.time_score,
  }
  if self.critic then
    m.value_loss = acc.vf_loss / acc.n
    m.vf_clipfrac = acc.vf_clipfrac / acc.n
    m.explained_variance = objective.explained_variance(b.values, b.returns)
  end
  if o.ptx and (o.ptx.coef or 0) > 0 then m.ptx_loss = acc.ptx_loss / acc.n end
  -- adapt beta to the target KL (Ziegler et al. 2019): the controller sees the batch's mean KL
  -- (the exact one when computed: lower variance than k1)
  self.kl_ctl:update(b.kl_exact and mean(b.kl_exact) or kl_mean, n)
  m.time_update = core.time() - t0
  return m
end

-- PPO-ptx: add coef * (gradient of the mean pretraining loss) on the k-th batch of ptx.data.
function PPO:ptx_grad(k)
  local o = self.o
  if not self.ptx_recs then
    for key in pairs(o.ptx) do
      if key ~= "data" and key ~= "coef" and key ~= "batch_size" then
        error(self.fname .. ": unknown ptx option '" .. tostring(key) .. "' (known: batch_size, coef, data)", 0)
      end
    end
    self.ptx_recs = train.lm_records(o.ptx.data, o.tok, self.fname .. " ptx", self.policy)
  end
  local bs = o.ptx.batch_size or 8
  local idx = train.batch_indices(#self.ptx_recs, bs, k, o.seed + 17, self.ptx_recs)
  local seqs = {}
  for j, i in ipairs(idx) do seqs[j] = self.ptx_recs[i].tokens end
  local res = self.policy:forward(seqs, { per_token = false })
  local tot, cnt = 0, 0
  for j = 1, #seqs do tot, cnt = tot + res.sum[j], cnt + res.count[j] end
  local d = {}
  for j = 1, #seqs do d[j] = -o.ptx.coef / math.max(1, cnt) end
  self.policy:backward{ dsum = d } -- accumulates on top of the policy-loss gradient
  return -tot / math.max(1, cnt)
end

function PPO:step()
  local b = self:rollout()
  self:score(b)
  self:advantages(b)
  local m = self:update(b)
  self.iter = self.iter + 1
  return m, b
end

function PPO:state()
  local models, opts = { policy = self.policy }, { policy = self.opt }
  if self.critic then models.value, opts.value = self.value, self.vopt end
  return models, opts
end

function PPO:save(dir)
  local models, opts = self:state()
  train.save_state(dir, models, opts, { beta = self.kl_ctl.beta })
end

function PPO:load(dir, step)
  local models, opts = self:state()
  local extra = train.load_state(dir, models, opts)
  self.kl_ctl.beta = extra.beta
  self.iter = step
end

function PPO:run()
  local o = self.o
  local hist = train.run{
    name = self.fname, steps = o.steps, log = o.log, progress = o.progress, ckpt = o.ckpt,
    save_every = o.save_every, resume = o.resume,
    save = function(dir) self:save(dir) end,
    load = function(dir, step) self:load(dir, step) end,
    show = function(m) return { reward = m.reward, kl = m.kl } end,
    step = function(step, ctx)
      self.iter = step
      self.ctx = ctx
      return (self:step())
    end,
  }
  return self.policy, hist
end

return setmetatable(M, { __call = function(_, policy, opts)
  return M.new(policy, opts):run()
end })
