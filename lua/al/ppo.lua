-- al.ppo(policy, opts): PPO-RLHF (papers/ppo.md; InstructGPT, Ziegler et al. 2019).
-- Rollouts from the policy on prompts; the score of a completion from a reward model (value at
-- its last token) or any Lua function of (prompt, completion); a per-token KL penalty to the
-- frozen reference, r_t = -beta (log pi - log pi_ref) with the score added at the last token;
-- beta fixed or adapted to a target KL (Ziegler's controller); a separate value model
-- initialised from the reward model (InstructGPT) or the policy; GAE; whitened advantages;
-- clipped policy and value losses; several epochs over minibatches; optional pretraining mix
-- (PPO-ptx). GRPO and RLOO (al.grpo) share the rollout and update code.
--
-- Step-level API for the REPL:
--   local p = al.ppo.new(policy, opts)
--   local b = p:rollout()        -- sample completions for the next prompt batch
--   p:score(b)                   -- scores, log-probs under policy and reference, values, KL
--   p:advantages(b)              -- per-token rewards, GAE advantages and returns
--   local m = p:update(b)        -- PPO epochs; returns the step's metrics
--   p:step()                     -- all four, logged; al.ppo(policy, opts) runs opts.steps of them
local util = require "al.util"
local train = require "al.train"
local objective = require "al.objective"

local DEFAULTS = {
  ref = util.ANY, reward = util.REQUIRED, prompts = util.REQUIRED, value_model = util.ANY,
  value_init = "reward", tok = util.ANY,
  steps = 50, batch_size = 32, max_new = 16, temperature = 1.0, top_k = 0, top_p = 1.0, eos = -1,
  epochs = 2, minibatches = 2, lr = 1e-4, vf_lr = util.ANY, clip = 0.2, vf_clip = 0.2,
  grad_clip = 1.0, gamma = 1.0, lam = 0.95, kl = util.ANY, whiten_advantages = true,
  whiten_rewards = false, reward_clip = 0.0, score_scale = 1.0, ptx = util.ANY,
  advantage = "gae", group = 4, no_eos_penalty = util.ANY, seed = 1, log = util.ANY,
  ckpt = util.ANY, save_every = 0, resume = util.ANY, progress = true, exact_kl = true,
}

local PPO = {}
PPO.__index = PPO

local M = { PPO = PPO }

local function is_model(x)
  return (type(x) == "userdata" or type(x) == "table") and type(x.forward) == "function"
end

local function prompt_list(prompts, tok, fname)
  local out = {}
  for i, p in ipairs(prompts) do
    if type(p) == "string" then
      if not tok then error(fname .. ": string prompts need opts.tok", 3) end
      out[i] = tok:encode(p)
    elseif type(p) == "table" and p.tokens then
      out[i] = p.tokens
    elseif type(p) == "table" and p.prompt then
      out[i] = type(p.prompt) == "string" and tok:encode(p.prompt) or p.prompt
    elseif type(p) == "table" then
      out[i] = p
    else
      error(fname .. ": prompt " .. i .. " is not a token array or a string", 3)
    end
  end
  if #out == 0 then error(fname .. ": no prompts", 3) end
  return out
end

function M.new(policy, opts, fname)
  local al = require "al"
  fname = fname or "al.ppo"
  local o = util.opts(fname, opts, DEFAULTS)
  local self = setmetatable({ o = o, policy = policy, fname = fname, iter = 0 }, PPO)
  self.prompt_records = o.prompts
  self.prompts = prompt_list(o.prompts, o.tok or (type(o.prompts) == "table" and o.prompts.tok), fname)
  if o.ref then
    self.ref = o.ref
  else
    self.ref = policy:clone()
    self.ref:freeze()
  end
  if is_model(o.reward) then
    self.rm = o.reward
  elseif type(o.reward) == "function" then
    self.reward_fn = o.reward
  else
    error(fname .. ": reward must be a reward model or a function(prompt, completion)", 2)
  end
  self.critic = o.advantage == "gae"
  if self.critic then
    if o.value_model then
      self.value = o.value_model
    elseif o.value_init == "reward" and self.rm then
      self.value = self.rm:clone()
    else
      self.value = policy:clone()
      self.value:set_head{ scalar = true, lm = false, seed = o.seed }
    end
    self.vopt = al.adamw(self.value, { lr = o.vf_lr or o.lr, clip = o.grad_clip })
  elseif o.advantage ~= "grpo" and o.advantage ~= "rloo" then
    error(fname .. ": advantage must be gae, grpo or rloo", 2)
  end
  self.opt = al.adamw(policy, { lr = o.lr, clip = o.grad_clip })
  local kl = o.kl or { beta = 0.05 }
  if type(kl) == "number" then kl = { beta = kl } end
  self.kl_ctl = objective.kl_controller{ beta = kl.beta or 0.15, target = kl.target,
                                         horizon = kl.horizon or 10000 }
  return self
end

-- Sample completions for the prompts of iteration `self.iter` (deterministic in seed and iter).
function PPO:rollout(prompts)
  local o = self.o
  local idx
  if not prompts then
    local n = o.advantage == "gae" and o.batch_size or math.max(1, o.batch_size // o.group)
    idx = train.batch_indices(#self.prompts, n, self.iter, o.seed)
    prompts = {}
    for k, i in ipairs(idx) do prompts[k] = self.prompts[i] end
  end
  if o.advantage ~= "gae" then -- groups: each prompt repeated `group` times
    local rep, ridx = {}, {}
    for k, p in ipairs(prompts) do
      for _ = 1, o.group do rep[#rep + 1] = p; ridx[#ridx + 1] = idx and idx[k] or k end
    end
    prompts, idx = rep, ridx
  end
  local completions = self.policy:generate(prompts, {
    max_new = o.max_new, temperature = o.temperature, top_k = o.top_k, top_p = o.top_p,
    eos = o.eos, seed = o.seed * 1000003 + self.iter,
  })
  local seqs, starts = {}, {}
  for b = 1, #prompts do
    seqs[b] = train.concat(prompts[b], completions[b])
    starts[b] = #prompts[b]
  end
  return { prompts = prompts, completions = completions, seqs = seqs, starts = starts,
           prompt_index = idx, iter = self.iter }
end

-- completion-token slice of a per-token list (logp/entropy/values lists are indexed by token index)
local function slice(list, start, n)
  local out = {}
  for k = 1, n do out[k] = list[start + k - 1] end
  return out
end

function PPO:score(b)
  local o = self.o
  local n = #b.seqs
  -- log-probs under the policy (temperature 1: the policy being optimised) and the reference
  local pol = self.policy:forward(b.seqs, { start = b.starts, entropy = true })
  local ref = self.ref:forward(b.seqs, { start = b.starts })
  b.old_logp, b.ref_logp, b.entropy = {}, {}, {}
  for i = 1, n do
    local L = #b.completions[i]
    b.old_logp[i] = slice(pol.logp[i], b.starts[i], L)
    b.ref_logp[i] = slice(ref.logp[i], b.starts[i], L)
    b.entropy[i] = slice(pol.entropy[i], b.starts[i], L)
  end
  -- scores
  b.scores = {}
  if self.rm then
    local res = self.rm:forward(b.seqs, { values = true, logp = false })
    for i = 1, n do b.scores[i] = res.values[i][#b.seqs[i]] * o.score_scale end
  else
    for i = 1, n do
      local s = self.reward_fn(b.prompts[i], b.completions[i], b.prompt_index and b.prompt_index[i] or i)
      if type(s) ~= "number" then error(self.fname .. ": the reward function must return a number", 0) end
      b.scores[i] = s * o.score_scale
    end
  end
  if o.no_eos_penalty and o.eos >= 0 then
    for i = 1, n do
      local c = b.completions[i]
      if #c == 0 or c[#c] ~= o.eos then b.scores[i] = b.scores[i] + o.no_eos_penalty end
    end
  end
  if o.reward_clip > 0 then
    for i = 1, n do b.scores[i] = math.max(-o.reward_clip, math.min(o.reward_clip, b.scores[i])) end
  end
  if o.whiten_rewards then b.scores = objective.whiten(b.scores, true) end
  -- values before each completion token
  if self.critic then
    local v = self.value:forward(b.seqs, { values = true, logp = false })
    b.values = {}
    for i = 1, n do b.values[i] = slice(v.values[i], b.starts[i], #b.completions[i]) end
  end
  -- KL estimates: k1 and k3 per sequence from the samples; exact from the full distributions
  b.kl_k1, b.kl_k3 = {}, {}
  for i = 1, n do
    local k1, k3 = 0, 0
    for t = 1, #b.old_logp[i] do
      local d = b.old_logp[i][t] - b.ref_logp[i][t]
      k1 = k1 + d
      k3 = k3 + (math.exp(-d) - 1 + d)
    end
    b.kl_k1[i], b.kl_k3[i] = k1, k3
  end
  if o.exact_kl then
    local al = require "al"
    local _, per = al.kl(self.policy, self.ref, { prompts = b.prompts, completions = b.completions })
    b.kl_exact = per
  end
  return b
end

function PPO:advantages(b)
  local o = self.o
  local n = #b.seqs
  local beta = self.kl_ctl.beta
  b.rewards = {}
  for i = 1, n do
    local r = {}
    local L = #b.completions[i]
    for t = 1, L do r[t] = -beta * (b.old_logp[i][t] - b.ref_logp[i][t]) end
    if L > 0 then r[L] = r[L] + b.scores[i] end
    b.rewards[i] = r
  end
  if self.critic then
    local g = objective.gae{ rewards = b.rewards, values = b.values, gamma = o.gamma, lam = o.lam }
    b.adv, b.returns = g.advantages, g.returns
  else
    -- group baselines on the sequence return (score - beta * KL), spread over the tokens
    local ret = {}
    for i = 1, n do
      local s = 0
      for _, x in ipairs(b.rewards[i]) do s = s + x end
      ret[i] = s
    end
    local a = objective.group_advantages{ rewards = ret, group = o.group, kind = o.advantage }
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

local function pad_rows(rows, starts, seqs)
  -- turn completion-aligned rows into token-aligned rows (length #seq - 1), zero elsewhere
  local out = {}
  for i, row in ipairs(rows) do
    local full = {}
    for t = 1, #seqs[i] - 1 do full[t] = 0 end
    for k = 1, #row do full[starts[i] + k - 1] = row[k] end
    out[i] = full
  end
  return out
end

local function pad_values(rows, starts, seqs)
  local out = {}
  for i, row in ipairs(rows) do
    local full = {}
    for t = 1, #seqs[i] do full[t] = 0 end
    for k = 1, #row do full[starts[i] + k - 1] = row[k] end
    out[i] = full
  end
  return out
end

function PPO:update(b)
  local al = require "al"
  local o = self.o
  local n = #b.seqs
  local order = {}
  for i = 1, n do order[i] = i end
  local rng = al.rng(o.seed, 5000 + b.iter)
  local mb = math.max(1, math.ceil(n / o.minibatches))
  local acc = { pg_loss = 0, clipfrac = 0, approx_kl = 0, vf_loss = 0, vf_clipfrac = 0, n = 0,
                ratio = 0, ptx_loss = 0 }
  local lr_frac = 1.0
  local first_ratio
  for epoch = 1, o.epochs do
    rng:shuffle(order)
    for s = 1, n, mb do
      local ids = {}
      for k = s, math.min(s + mb - 1, n) do ids[#ids + 1] = order[k] end
      local seqs, starts, old, adv = {}, {}, {}, {}
      for k, i in ipairs(ids) do
        seqs[k], starts[k], old[k], adv[k] = b.seqs[i], b.starts[i], b.old_logp[i], b.adv[i]
      end
      local res = self.policy:forward(seqs, { start = starts })
      local new = {}
      for k = 1, #ids do new[k] = slice(res.logp[k], starts[k], #old[k]) end
      local l = objective.ppo_policy{ logp = new, old_logp = old, advantages = adv, clip = o.clip }
      if not first_ratio then first_ratio = l.ratio_mean end
      self.policy:zero_grad()
      self.policy:backward{ dlogp = pad_rows(l.dlogp, starts, seqs) }
      if o.ptx and o.ptx.coef and o.ptx.coef > 0 then
        acc.ptx_loss = acc.ptx_loss + self:ptx_grad(b.iter * 1000 + epoch * 100 + s)
      end
      self.opt:step(self.policy, o.lr * lr_frac)
      acc.pg_loss = acc.pg_loss + l.loss
      acc.clipfrac = acc.clipfrac + l.clipfrac
      acc.approx_kl = acc.approx_kl + l.approx_kl
      acc.ratio = acc.ratio + l.ratio_mean
      if self.critic then
        local vold, ret = {}, {}
        for k, i in ipairs(ids) do vold[k], ret[k] = b.values[i], b.returns[i] end
        local vres = self.value:forward(seqs, { values = true, logp = false })
        local vnew = {}
        for k = 1, #ids do vnew[k] = slice(vres.values[k], starts[k], #vold[k]) end
        local vl = objective.value_loss{ values = vnew, old_values = vold, returns = ret, clip = o.vf_clip }
        self.value:zero_grad()
        self.value:backward{ dvalues = pad_values(vl.dvalues, starts, seqs) }
        self.vopt:step(self.value, o.vf_lr or o.lr)
        acc.vf_loss = acc.vf_loss + vl.loss
        acc.vf_clipfrac = acc.vf_clipfrac + vl.clipfrac
      end
      acc.n = acc.n + 1
    end
  end
  local function mean(t) return util.mean(t) end
  local lens, ent = {}, {}
  for i = 1, n do
    lens[i] = #b.completions[i]
    ent[i] = lens[i] > 0 and mean(b.entropy[i]) or 0
  end
  local kl_mean = mean(b.kl_k1)
  local m = {
    reward = mean(b.scores), kl = kl_mean, kl_k3 = mean(b.kl_k3),
    kl_exact = b.kl_exact and mean(b.kl_exact) or nil,
    rlhf_reward = mean(b.scores) - self.kl_ctl.beta * kl_mean,
    entropy = mean(ent), response_length = mean(lens), beta = self.kl_ctl.beta,
    loss = acc.pg_loss / acc.n, pg_loss = acc.pg_loss / acc.n, clipfrac = acc.clipfrac / acc.n,
    approx_kl = acc.approx_kl / acc.n, ratio = acc.ratio / acc.n, first_ratio = first_ratio,
  }
  if self.critic then
    m.value_loss = acc.vf_loss / acc.n
    m.vf_clipfrac = acc.vf_clipfrac / acc.n
    m.explained_variance = objective.explained_variance(b.values, b.returns)
  end
  if o.ptx and o.ptx.coef then m.ptx_loss = acc.ptx_loss / acc.n end
  -- adapt beta to the target KL (Ziegler et al. 2019): the controller sees the batch's mean KL
  self.kl_ctl:update(b.kl_exact and mean(b.kl_exact) or kl_mean, n)
  return m
end

-- PPO-ptx: add coef * (pretraining loss gradient) on a batch of the pretraining data.
function PPO:ptx_grad(seed)
  local o = self.o
  if not self.ptx_recs then
    self.ptx_recs = train.lm_records(o.ptx.data, o.tok, self.fname .. " ptx")
  end
  local bs = o.ptx.batch_size or 8
  local idx = train.batch_indices(#self.ptx_recs, bs, seed, o.seed + 17)
  local seqs = {}
  for k, i in ipairs(idx) do seqs[k] = self.ptx_recs[i].tokens end
  local res = self.policy:forward(seqs, {})
  local tot, cnt = 0, 0
  for k = 1, #seqs do tot, cnt = tot + res.sum[k], cnt + res.count[k] end
  local d = {}
  for k = 1, #seqs do d[k] = -o.ptx.coef / math.max(1, cnt) end
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

function PPO:save(dir, step)
  local models, opts = { policy = self.policy }, { policy = self.opt }
  if self.critic then models.value, opts.value = self.value, self.vopt end
  train.save_state(dir, step, models, opts, { beta = self.kl_ctl.beta })
end

function PPO:load(dir)
  local models, opts = { policy = self.policy }, { policy = self.opt }
  if self.critic then models.value, opts.value = self.value, self.vopt end
  local step, extra = train.load_state(dir, models, opts)
  self.kl_ctl.beta = extra.beta
  self.iter = step
  return step
end

function PPO:run()
  local o = self.o
  local hist = train.run{
    name = self.fname, steps = o.steps, log = o.log, progress = o.progress, ckpt = o.ckpt,
    save_every = o.save_every, resume = o.resume,
    save = function(dir, step) self:save(dir, step) end,
    load = function(dir) return self:load(dir) end,
    step = function(step)
      self.iter = step
      return (self:step())
    end,
  }
  return self.policy, hist
end

return setmetatable(M, { __call = function(_, policy, opts)
  return M.new(policy, opts):run()
end })
