-- al.kto(policy, data, opts): Kahneman-Tversky Optimization on unpaired data (Ethayarajh et al.
-- 2024; papers/ipo_kto.md). Each example is (prompt, completion, label): label true = desirable,
-- false = undesirable (TRL's "unpaired preference" shape). The loss is al.core.obj.kto_loss
-- (core/obj_pref.c al_kto_loss): with r = log pi(y|x) - log pi_ref(y|x) summed over completion
-- tokens and the reference point z0 = max(0, mean over the batch of the same difference on
-- mismatched pairs (prompt i, completion i+1)) (TRL's KL estimate; detached: no gradient),
--   desirable:   w_D (1 - sigmoid(beta (r - z0)))      undesirable: w_U (1 - sigmoid(beta (z0 - r)))
-- averaged over the batch. kl = "none" sets z0 = 0 (no mismatched pairs are scored).
-- The reference is opts.ref (frozen) or the policy before training; its log-probs of the matched
-- pairs are computed once, before the first step, on the batches of the first epoch (so a first
-- step from a policy equal to its reference has r = 0 exactly); those of the mismatched pairs
-- change with the batch and are computed at each step. Logged per step: loss, rewards/chosen,
-- rewards/rejected (mean beta r over the batch's desirable / undesirable examples),
-- rewards/margins (their difference, when both occur), logps/chosen, logps/rejected, kl (z0),
-- count/chosen, count/rejected, lr, grad_norm, epoch. (TRL's KTO trainer logs metrics under these
-- names; whether it averages them the same way was not checked against its source.)
-- Data: a path to a JSONL file ({"prompt": s | [msgs], "completion": s | [one assistant msg],
-- "label": true|false} per line; M.load checks each line and names file:line on an error), or a
-- list of records with the same fields (strings or token arrays).
-- Resume: call with the same initial policy and data and resume = DIR (through al.train.run).
local core = require "al.core"
local util = require "al.util"
local train = require "al.train"
local objective = require "al.objective"

-- The options, their defaults and meaning; the training loop's are al.train.options'.
local DEFAULTS = train.options{
  ref = util.ANY,            -- the frozen reference model (default: the policy before training)
  beta = 0.1,                -- the inverse temperature of the implicit reward beta r
  desirable_weight = 1.0,    -- w_D (TRL: pick w_D n_D / (w_U n_U) in [1, 4/3])
  undesirable_weight = 1.0,  -- w_U
  kl = "batch",              -- "batch": z0 from mismatched pairs of the batch | "none": z0 = 0
}

local M = {}

local function bad(src, line, why) error(string.format("%s:%d: %s", src, line, why), 0) end

-- Check one decoded record (src, line name it) and return { prompt, completion, label }.
local function check_record(r, src, line)
  if type(r) ~= "table" then bad(src, line, "a record must be a JSON object") end
  local function text_or_msgs(k, completion)
    local v = r[k]
    if v == nil then bad(src, line, "missing field '" .. k .. "'") end
    if type(v) == "string" then return v end
    if type(v) ~= "table" or #v == 0 then bad(src, line, "field '" .. k .. "' must be a string or a list of messages") end
    for i, msg in ipairs(v) do
      if type(msg) ~= "table" or type(msg.role) ~= "string" or type(msg.content) ~= "string" then
        bad(src, line, string.format("%s[%d]: a message needs string 'role' and 'content'", k, i - 1))
      end
      if completion and (msg.role ~= "assistant" or #v ~= 1) then
        bad(src, line, "field 'completion' as messages must be one assistant message")
      end
    end
    return v
  end
  local p, c = text_or_msgs("prompt"), text_or_msgs("completion", true)
  if type(r.label) ~= "boolean" then
    bad(src, line, "field 'label' must be true (desirable) or false (undesirable), got " ..
      (r.label == nil and "nothing" or core.json.encode(r.label)))
  end
  if type(p) ~= type(c) then bad(src, line, "'prompt' and 'completion' must both be strings or both messages") end
  return { prompt = p, completion = c, label = r.label }
end

-- M.load(path) -> list of { prompt, completion, label } from a KTO JSONL file (TRL's unpaired
-- shape; other keys are ignored). Every line must be one JSON object (an empty line is an error,
-- as in JSON Lines); errors name path:line.
function M.load(path)
  local text, err = util.read_file(path)
  if not text then error("al.kto: cannot read " .. tostring(path) .. ": " .. tostring(err), 0) end
  local out, line = {}, 0
  for l in (text:sub(-1) == "\n" and text or text .. "\n"):gmatch("([^\n]*)\n") do
    line = line + 1
    l = l:gsub("\r$", "")
    if not l:find("%S") then bad(path, line, "empty line") end
    local ok, r = pcall(core.json.decode, l)
    if not ok then bad(path, line, "not valid JSON: " .. tostring(r)) end
    out[#out + 1] = check_record(r, path, line)
  end
  if #out == 0 then error("al.kto: " .. path .. ": no records", 0) end
  return out
end

-- Token arrays of a record: prompt ids and completion ids.
local function encode(r, tok, i, fname, model)
  local p, c = r.prompt, r.completion
  local pt = type(p) == "table" and (type(p[1]) == "number" or #p == 0)
  local function need_tok()
    if not tok then error(string.format("%s: example %d is text: pass opts.tok", fname, i), 0) end
  end
  local pi, ci
  if pt then pi, ci = p, c
  elseif type(p) == "string" then need_tok() pi, ci = tok:encode(p), tok:encode(c)
  else
    need_tok()
    pi = core.data.prompt(tok, p) -- rendering + the generation prompt
    ci = tok:encode(c[1].content) -- continued after "<|assistant|>\n", closed by <|end|>
    local e = tok:encode("<|end|>", { specials = true })
    table.move(e, 1, #e, #ci + 1, ci)
  end
  if type(ci) ~= "table" or #ci == 0 then error(string.format("%s: example %d has an empty completion", fname, i), 0) end
  if #pi == 0 then error(string.format("%s: example %d has an empty prompt (a completion needs a first token to follow)", fname, i), 0) end
  local cfg = model:config()
  if #pi + #ci > cfg.ctx then
    error(string.format("%s: example %d has %d tokens, more than the model's context %d", fname, i, #pi + #ci, cfg.ctx), 0)
  end
  for _, ids in ipairs { pi, ci } do
    for _, t in ipairs(ids) do
      if math.type(t) ~= "integer" or t < 0 or t >= cfg.vocab then
        error(string.format("%s: example %d: token %s outside the vocabulary [0, %d)", fname, i, tostring(t), cfg.vocab), 0)
      end
    end
  end
  return pi, ci
end

function M.train(policy, data, opts)
  local fname = "al.kto"
  local o = util.opts(fname, opts, DEFAULTS)
  train.check_common(fname, o)
  if not (type(o.beta) == "number" and o.beta > 0) then error(fname .. ": beta must be > 0", 0) end
  for _, k in ipairs { "desirable_weight", "undesirable_weight" } do
    if not (type(o[k]) == "number" and o[k] >= 0) then error(fname .. ": " .. k .. " must be >= 0", 0) end
  end
  if o.kl ~= "batch" and o.kl ~= "none" then error(fname .. ": kl must be 'batch' or 'none'", 0) end
  if type(data) == "string" then data = M.load(data) end
  if type(data) ~= "table" or #data == 0 then error(fname .. ": no KTO data", 0) end
  local P, C, D = {}, {}, {}
  for i, r in ipairs(data) do
    if type(r) ~= "table" then error(string.format("%s: example %d is a %s", fname, i, type(r)), 0) end
    if type(r.label) ~= "boolean" then error(string.format("%s: example %d: label must be true or false", fname, i), 0) end
    P[i], C[i] = encode(r, o.tok, i, fname, policy)
    D[i] = r.label and 1 or 0
  end
  local n_all = #P
  local steps = o.steps > 0 and o.steps or train.steps_for(n_all, o.batch_size, o.epochs)
  local bs = math.min(o.batch_size, n_all)
  local use_kl = o.kl == "batch" and bs > 1
  local ref = o.ref or policy
  if not train.is_model(ref) then error(fname .. ": ref must be a model", 0) end

  -- the sequences of a batch: matched pairs, then (with kl) mismatched ones (prompt i, completion
  -- of the next example of the batch)
  local function batch_seqs(idx)
    local seqs, starts, n = {}, {}, #idx
    for k, i in ipairs(idx) do seqs[k], starts[k] = train.concat(P[i], C[i]), #P[i] end
    if use_kl then
      for k, i in ipairs(idx) do
        local j = idx[k % n + 1]
        local s = train.concat(P[i], C[j])
        if #s > policy:config().ctx then s = table.move(s, 1, policy:config().ctx, 1, {}) end
        seqs[n + k], starts[n + k] = s, #P[i]
      end
    end
    return seqs, starts
  end
  -- reference log-probs of the matched pairs, once, in the layout of the first epoch's steps
  local ref_lp = {}
  local per_epoch = (n_all + bs - 1) // bs
  for k = 0, per_epoch - 1 do
    local idx = train.batch_indices(n_all, bs, k, o.seed, P)
    local seqs, starts = batch_seqs(idx)
    local res = ref:forward(seqs, { start = starts, per_token = false })
    for j, i in ipairs(idx) do ref_lp[i] = res.sum[j] end
  end
  local ref_frozen = o.ref -- the policy itself moves: mismatched reference terms need a fixed model
  if use_kl and not ref_frozen then
    ref_frozen = policy:clone()
    ref_frozen:freeze()
  end

  local opt = core.adamw(policy, { lr = o.lr, weight_decay = o.weight_decay, clip = o.clip })
  local hist = train.run{
    name = fname, steps = steps, sched = o, log = o.log, progress = o.progress, ckpt = o.ckpt,
    save_every = o.save_every, resume = o.resume,
    save = function(dir) train.save_state(dir, { model = policy }, { model = opt }) end,
    load = function(dir) train.load_state(dir, { model = policy }, { model = opt }) end,
    show = function(m) return { loss = m.loss, kl = m.kl } end,
    step = function(step, ctx)
      local idx, epoch = train.batch_indices(n_all, bs, step, o.seed, P)
      local n = #idx
      local seqs, starts = batch_seqs(idx)
      local res = policy:forward(seqs, { start = starts, per_token = false })
      local pi, rf, des = {}, {}, {}
      for k, i in ipairs(idx) do pi[k], rf[k], des[k] = res.sum[k], ref_lp[i], D[i] end
      local z0 = 0
      if use_kl then
        local kseqs, kstarts = table.move(seqs, n + 1, 2 * n, 1, {}), table.move(starts, n + 1, 2 * n, 1, {})
        local rk = ref_frozen:forward(kseqs, { start = kstarts, per_token = false })
        for k = 1, n do z0 = z0 + (res.sum[n + k] - rk.sum[k]) end
        z0 = z0 / n
      end
      local l = objective.kto{ policy = pi, ref = rf, desirable = des, z0 = z0, beta = o.beta,
        desirable_weight = o.desirable_weight, undesirable_weight = o.undesirable_weight }
      local dsum = l.d_policy
      if use_kl then for k = n + 1, 2 * n do dsum[k] = 0 end end -- z0 is detached
      local m = ctx:update(policy, opt, { dsum = dsum }, l.loss)
      m.epoch = epoch
      local nc, nr, lc, lr_ = 0, 0, 0, 0
      for k = 1, n do
        if des[k] == 1 then nc, lc = nc + 1, lc + pi[k] else nr, lr_ = nr + 1, lr_ + pi[k] end
      end
      m.kl = l.kl
      m["count/chosen"], m["count/rejected"] = nc, nr
      if nc > 0 then m["rewards/chosen"], m["logps/chosen"] = l.rewards_chosen, lc / nc end
      if nr > 0 then m["rewards/rejected"], m["logps/rejected"] = l.rewards_rejected, lr_ / nr end
      if nc > 0 and nr > 0 then m["rewards/margins"] = l.rewards_chosen - l.rewards_rejected end
      return m
    end,
  }
  if ref_frozen and ref_frozen ~= o.ref then ref_frozen:free() end
  return policy, hist
end

return setmetatable(M, { __call = function(_, ...) return M.train(...) end })
