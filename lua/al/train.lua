-- alignlab: what every trainer shares. Turning user data into token sequences (checked against
-- the model, errors naming the item), deterministic batching that a resumed run re-derives from
-- the step number alone, the training loop (progress bar, one JSONL line per step, a stop on a
-- non-finite loss or gradient naming the trainer and the step, checkpoints every k steps, exact
-- resume), the learning-rate schedule, and the one scoring rule (al.train.scores).
--
-- A "sequence record" is { tokens = {0-based ids}, start = P, mask = {...} or nil }: tokens
-- x_0..x_{n-1}, of which x_i with i >= P (and mask[i+1] ~= 0 when a mask is given) are trained on.
-- A "preference record" is { prompt = ids, chosen = ids, rejected = ids, margin =, label = }.
--
-- Checkpoint layout (DIR = opts.ckpt): DIR/step-<N>/ holds the models (each a model directory:
-- config.json + model.safetensors), the optimizers' states and trainer.json; DIR/latest.json
-- (written atomically, last) names the newest complete step directory. A crash while saving
-- leaves latest.json pointing at the previous, intact checkpoint; the two newest are kept.
-- Not here: the numerics of the objectives (al.objective, core/al_obj.h), the models (al.gpt).
local core = require "al.core"
local util = require "al.util"
local log_mod = require "al.log"
local progress = require "al.progress"
local mpi = require "al.mpi"
local dp = require "al.dp"

local M = {}

-- ---- data ----

local function is_token_array(t)
  return type(t) == "table" and (math.type(t[1]) == "integer" or next(t) == nil)
end

local function encode(tok, s, what, i)
  if not tok then
    error(string.format("%s: data item %d is text: pass opts.tok (a tokenizer or a world)", what, i), 0)
  end
  return tok:encode(s)
end

local function concat(a, b)
  local o = table.move(a, 1, #a, 1, {})
  return table.move(b, 1, #b, #a + 1, o)
end
M.concat = concat

-- The pad id of a tokenizer-like object (nil when none).
function M.pad_of(tok)
  if tok == nil then return nil end
  local function get(t, k)
    local ok, v = pcall(function() return t[k] end)
    return ok and v or nil
  end
  local p = get(tok, "pad")
  if math.type(p) == "integer" and p >= 0 then return p end
  local inner = get(tok, "tok") -- a world: its tokenizer
  if inner ~= nil and inner ~= tok then return M.pad_of(inner) end
  return nil
end

-- ids without its trailing pad tokens (the same table when there are none).
function M.strip_pad(ids, pad)
  if pad == nil or #ids == 0 or ids[#ids] ~= pad then return ids end
  local n = #ids
  while n > 0 and ids[n] == pad do n = n - 1 end
  return table.move(ids, 1, n, 1, {})
end

-- Check a token array against the model's vocabulary and context; errors name item i.
local function check_ids(ids, what, i, part, V, ctx, noun)
  noun = noun or "data item"
  if type(ids) ~= "table" then
    error(string.format("%s: %s %d: %s must be a token array or a string", what, noun, i, part), 0)
  end
  for k = 1, #ids do
    local v = ids[k]
    if math.type(v) ~= "integer" or (V and (v < 0 or v >= V)) then
      error(string.format("%s: %s %d: %s token %d is %s (vocabulary [0, %d))", what, noun, i, part, k,
        tostring(v), V or -1), 0)
    end
  end
  if ctx and #ids > ctx then
    error(string.format("%s: %s %d: %d tokens, more than the model's context %d", what, noun, i, #ids, ctx), 0)
  end
  return ids
end

-- The vocabulary size and context of a model (nil, nil when m is nil).
function M.dims(m)
  if not m then return nil, nil end
  local c = m:config()
  return c.vocab, c.ctx
end

-- Normalise LM training item i into a sequence record (model dims V, ctx for the checks).
function M.lm_record(item, tok, what, i, V, ctx)
  local r
  if is_token_array(item) then
    r = { tokens = item, start = 1 }
  elseif type(item) == "string" then
    r = { tokens = encode(tok, item, what, i), start = 1 }
  elseif type(item) ~= "table" then
    error(string.format("%s: data item %d is a %s (expected a table or a string)", what, i, type(item)), 0)
  elseif item.tokens then
    r = { tokens = item.tokens, start = item.start or 1, mask = item.mask }
  elseif item.text then
    r = { tokens = encode(tok, item.text, what, i), start = 1 }
  elseif item.prompt and item.completion then
    local p = type(item.prompt) == "table" and item.prompt or encode(tok, item.prompt, what, i)
    local c = type(item.completion) == "table" and item.completion or encode(tok, item.completion, what, i)
    check_ids(p, what, i, "prompt", V, nil)
    check_ids(c, what, i, "completion", V, nil)
    if #c == 0 then error(string.format("%s: data item %d has an empty completion", what, i), 0) end
    r = { tokens = concat(p, c), start = math.max(1, #p) }
  else
    error(string.format("%s: data item %d: expected tokens, text, or prompt + completion", what, i), 0)
  end
  check_ids(r.tokens, what, i, "sequence", V, ctx)
  if #r.tokens < 2 then
    error(string.format("%s: data item %d has %d token(s): nothing to predict", what, i, #r.tokens), 0)
  end
  if math.type(r.start) ~= "integer" or r.start < 1 then
    error(string.format("%s: data item %d: start must be an integer >= 1", what, i), 0)
  end
  if r.mask ~= nil and (type(r.mask) ~= "table" or #r.mask ~= #r.tokens) then
    error(string.format("%s: data item %d: mask must have one entry per token", what, i), 0)
  end
  return r
end

local function items(data, what)
  if (type(data) == "userdata" or type(data) == "table") and data.size and data.get then
    local out = {}
    for i = 1, data:size() do out[i] = data:get(i) end
    return out
  end
  if type(data) ~= "table" then error(what .. ": data must be a list or a dataset", 0) end
  return data
end

-- A list of sequence records from a list (token arrays, strings, records) or a dataset object
-- with :size() and :get(i). model (optional) gives the vocabulary and context to check against.
-- record(item, tok, what, i, V, ctx) of every item of data; `none` is the error when there is none.
local function records(record, data, tok, what, model, none)
  local V, ctx = M.dims(model)
  local out = {}
  for i, item in ipairs(items(data, what)) do out[i] = record(item, tok, what, i, V, ctx) end
  if #out == 0 then error(what .. ": " .. none, 0) end
  return out
end

function M.lm_records(data, tok, what, model)
  return records(M.lm_record, data, tok, what, model, "no training data")
end

-- A preference record from item i: token arrays or strings; the prompt may be absent, then it is
-- the shared prefix of chosen and rejected.
function M.pref_record(item, tok, what, i, V, ctx)
  if type(item) ~= "table" then
    error(string.format("%s: preference %d is a %s (expected a table)", what, i, type(item)), 0)
  end
  if type(item.chosen) == "table" and item.chosen.tokens and item.prompt_len then
    -- an example of al.data.preferences (ds:get): whole sequences sharing prompt_len tokens
    local n = item.prompt_len
    local function part(s, a, b) return table.move(s.tokens, a, b, 1, {}) end
    local c, r = item.chosen, item.rejected
    item = { prompt = part(c, 1, n), chosen = part(c, n + 1, c.len or #c.tokens),
             rejected = part(r, n + 1, r.len or #r.tokens), margin = item.margin, label = item.label }
  end
  local function ids(x)
    if x == nil or type(x) == "table" then return x end
    if type(x) ~= "string" then
      error(string.format("%s: preference %d: a %s where a string or token array was expected", what, i, type(x)), 0)
    end
    return encode(tok, x, what, i)
  end
  local p, c, r = ids(item.prompt), ids(item.chosen), ids(item.rejected)
  if not c or not r then error(string.format("%s: preference %d needs chosen and rejected", what, i), 0) end
  local pad = M.pad_of(tok)
  c, r = M.strip_pad(c, pad), M.strip_pad(r, pad)
  if not p then
    local k = 0
    while k < #c and k < #r and c[k + 1] == r[k + 1] do k = k + 1 end
    p = table.move(c, 1, k, 1, {})
    c = table.move(c, k + 1, #c, 1, {})
    r = table.move(r, k + 1, #r, 1, {})
  end
  check_ids(p, what, i, "prompt", V, nil, "preference")
  check_ids(c, what, i, "chosen", V, nil, "preference")
  check_ids(r, what, i, "rejected", V, nil, "preference")
  if #p == 0 then error(string.format("%s: preference %d has an empty prompt", what, i), 0) end
  if #c == 0 or #r == 0 then error(string.format("%s: preference %d has an empty response", what, i), 0) end
  if ctx and (#p + #c > ctx or #p + #r > ctx) then
    error(string.format("%s: preference %d: prompt + response is longer than the model's context %d", what, i, ctx), 0)
  end
  if item.label ~= nil and (type(item.label) ~= "number" or item.label < 0 or item.label > 1) then
    error(string.format("%s: preference %d: label must be a probability in [0, 1]", what, i), 0)
  end
  if item.margin ~= nil and type(item.margin) ~= "number" then
    error(string.format("%s: preference %d: margin must be a number", what, i), 0)
  end
  return { prompt = p, chosen = c, rejected = r, margin = item.margin, label = item.label }
end

function M.pref_records(data, tok, what, model)
  return records(M.pref_record, data, tok, what, model, "no preference data")
end

-- A prompt (token array, string, or a record with ids / tokens / prompt) as a token array.
function M.prompt_ids(p, tok, what, i)
  if type(p) == "string" then return encode(tok, p, what, i) end
  if type(p) ~= "table" then
    error(string.format("%s: prompt %d is a %s (expected a token array, a string or a record)", what, i, type(p)), 0)
  end
  if p.ids then return p.ids end
  if p.tokens then return p.tokens end
  if p.prompt then return type(p.prompt) == "string" and encode(tok, p.prompt, what, i) or p.prompt end
  return p
end

-- Split records into (train, eval): `frac` < 1 a fraction, >= 1 a count, drawn from (seed, stream).
function M.split(recs, frac, seed, stream)
  if not frac or frac <= 0 then return recs, {} end
  local n_eval = frac < 1 and math.max(1, math.floor(#recs * frac)) or math.floor(frac)
  if n_eval >= #recs then error("eval split leaves no training data", 0) end
  local idx = {}
  for i = 1, #recs do idx[i] = i end
  core.rng(seed, stream):shuffle(idx)
  local is_eval = {}
  for i = 1, n_eval do is_eval[idx[i]] = true end
  local tr, ev = {}, {}
  for i, r in ipairs(recs) do
    if is_eval[i] then ev[#ev + 1] = r else tr[#tr + 1] = r end
  end
  return tr, ev
end

-- ---- batching ----

local perm_cache = setmetatable({}, { __mode = "k" })

-- Indices (1-based) of the records in batch number `step` (0-based): each epoch is a permutation
-- drawn from (seed, 1000 + epoch); batches do not cross epochs (the last one may be short).
-- Depends only on its arguments, so a resumed run finds its place from the step number.
-- `key` (any table, e.g. the records list) caches the current epoch's permutation.
function M.batch_indices(n, bs, step, seed, key)
  bs = math.min(bs, n)
  local per_epoch = (n + bs - 1) // bs
  local epoch, k = step // per_epoch, step % per_epoch
  local c = key and perm_cache[key]
  local perm
  if c and c.n == n and c.seed == seed and c.epoch == epoch then
    perm = c.perm
  else
    perm = {}
    for i = 1, n do perm[i] = i end
    core.rng(seed, 1000 + epoch):shuffle(perm)
    if key then perm_cache[key] = { n = n, seed = seed, epoch = epoch, perm = perm } end
  end
  return table.move(perm, k * bs + 1, math.min((k + 1) * bs, n), 1, {}), epoch
end

-- Indices of batch `step` when batches of bs run through an endless stream of epoch
-- permutations (seed, 1000 + epoch) and may cross epochs (and repeat items when bs > n): the
-- prompt batches of PPO, GRPO.
function M.cycle_indices(n, bs, step, seed, key)
  local out = {}
  local pos = step * bs
  while #out < bs do
    local epoch, k = pos // n, pos % n
    local ids = M.batch_indices(n, n, epoch, seed, key)
    local take = math.min(bs - #out, n - k)
    table.move(ids, k + 1, k + take, #out + 1, out)
    pos = pos + take
  end
  return out
end

function M.steps_for(n, bs, epochs)
  bs = math.min(bs, n)
  return ((n + bs - 1) // bs) * epochs
end

-- ---- schedule ----

-- The learning rate of step (from 0) of total under the options o (lr, min_lr, warmup: steps or a
-- fraction of total when < 1, schedule: "cosine" | "linear" | "constant"): the core's one
-- schedule (al_lr_at, core/optim.c), which every trainer, PPO included, reaches through here.
function M.lr_at(o, step, total)
  return core.lr_at(o.schedule or "cosine", step, total, o.lr, o.min_lr or 0, o.warmup or 0)
end

local SCHEDULES = { cosine = true, linear = true, constant = true }

-- The options every gradient trainer (al.pretrain, al.sft, al.dpo, al.reward_model) shares, their
-- defaults and meaning (TRL's TrainingArguments); M.options(own) adds a trainer's own options and
-- the defaults it changes. The learning rate flows one way: these options -> M.lr_at (in
-- Ctx:update) -> the optimizer step.
local COMMON = {
  epochs = 1,          -- passes over the data (when steps = 0)
  steps = 0,           -- optimizer steps (0: from epochs)
  batch_size = 16,     -- records per step
  lr = 1e-4,           -- peak learning rate
  min_lr = 0.0,        -- the learning rate at the end of the schedule
  warmup = 0.1,        -- linear warmup: steps, or a fraction of all steps when < 1
  schedule = "cosine", -- "cosine" | "linear" | "constant" after warmup
  weight_decay = 0.0,  -- AdamW's decoupled weight decay
  clip = 1.0,          -- the gradient-norm clip
  seed = 1,            -- the data order (and any split)
  tok = util.ANY,      -- tokenizer (or world) for text data
  log = util.ANY,      -- JSONL log path
  ckpt = util.ANY,     -- checkpoint directory
  save_every = 0,      -- checkpoint every k steps (0: only at the end)
  resume = util.ANY,   -- resume from this checkpoint directory
  progress = true,     -- show a progress bar
  micro_batches = 1,   -- parts per process of each batch, gradients summed in part order (al.dp):
                       -- k = N is the one-process reference of mpirun -np N
}

-- A trainer's defaults: COMMON with own's keys over it.
function M.options(own)
  local o = {}
  for k, v in pairs(COMMON) do o[k] = v end
  for k, v in pairs(own) do o[k] = v end
  return o
end

-- Common checks of the options every trainer shares.
function M.check_common(fname, o)
  if o.schedule and not SCHEDULES[o.schedule] then
    error(string.format("%s: schedule must be cosine, linear or constant (got '%s')", fname, tostring(o.schedule)), 0)
  end
  for _, k in ipairs { "batch_size" } do
    if o[k] and (math.type(o[k]) ~= "integer" or o[k] < 1) then
      error(string.format("%s: option '%s' must be a positive integer", fname, k), 0)
    end
  end
  if o.lr and not (o.lr >= 0) then error(fname .. ": option 'lr' must be >= 0", 0) end
  if o.save_every and o.save_every > 0 and not o.ckpt and not o.resume then
    error(fname .. ": save_every needs ckpt = DIR", 0)
  end
end

-- ---- the loop ----

local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end
M.finite = finite

-- The context of the step being run (set by M.run): trainers call these inside o.step.
local Ctx = {}
Ctx.__index = Ctx

function Ctx:fail(what)
  error(string.format("%s: %s at step %d; stopped, %s", self.name, what, self.step,
    self.last_ckpt and ("the last good checkpoint (step " .. self.last_ckpt.step .. ") is kept in " ..
      self.last_ckpt.dir) or "no checkpoint was written"), 0)
end

-- Raise the trainer's error when x is not finite.
function Ctx:check(x, what)
  if not finite(x) then self:fail(string.format("non-finite %s (%s)", what, tostring(x))) end
  return x
end

-- opt:step(model, lr) with the non-finite gradient guard turned into the trainer's error; the
-- loss is checked first (a NaN loss is reported as such, before any update).
function Ctx:opt_step(opt, model, lr, loss, which)
  if loss ~= nil then self:check(loss, "loss") end
  local ok, g = pcall(opt.step, opt, model, lr)
  if not ok then
    local msg = tostring(g)
    if msg:find("finite", 1, true) then
      self:fail("non-finite gradient" .. (which and (" of the " .. which) or "") .. " (" .. msg .. ")")
    end
    error(string.format("%s: step %d: %s", self.name, self.step, msg), 0)
  end
  return g
end

-- The learning rate of the step being run: M.lr_at(sched, step, steps) with the schedule options
-- the context was made with (lr, warmup, min_lr, schedule: the trainer's options table).
function Ctx:lr()
  return M.lr_at(self.sched, self.step - 1, self.steps)
end

-- The tail of every gradient step: the loss checked, model's gradients zeroed and filled by
-- model:backward(grads) (e.g. { dsum = ... }), then opt:step at the scheduled learning rate with
-- the optimizer's global-norm clip and the non-finite guard. Returns the step's metrics so far,
-- { loss, lr, grad_norm }, for the trainer to complete.
function Ctx:update(model, opt, grads, loss)
  self:check(loss, "loss")
  model:zero_grad()
  model:backward(grads)
  local lr = self:lr()
  local gnorm = self:opt_step(opt, model, lr)
  return { loss = loss, lr = lr, grad_norm = gnorm }
end

-- The data-parallel form of Ctx:update (al.dp.grads: the batch idx in parts over MPI ranks and
-- micro-batches, the objective on the whole batch, gradients summed in a fixed order), then the
-- same optimizer step on every rank. f = { forward, objective, backward } as al.dp.grads says;
-- the objective's metrics are merged into the returned { loss, lr, grad_norm }.
function Ctx:dp_update(model, opt, idx, f)
  local loss, metrics = dp.grads(model, idx, f, dp.micro(self.name, self.sched and self.sched.micro_batches))
  self:check(loss, "loss")
  local lr = self:lr()
  local gnorm = self:opt_step(opt, model, lr)
  local m = { loss = loss, lr = lr, grad_norm = gnorm }
  for k, v in pairs(metrics or {}) do m[k] = v end
  return m
end

M.Ctx = Ctx

-- A fresh step context for trainer `name` (train.run makes its own and passes it to o.step);
-- sched (the trainer's options: lr, warmup, min_lr, schedule) and steps feed Ctx:lr.
function M.new_ctx(name, sched, steps)
  return setmetatable({ name = name, step = 0, sched = sched, steps = steps }, Ctx)
end

local function latest_file(dir) return dir .. "/latest.json" end

-- The step directory and step of the newest complete checkpoint in dir (nil when none).
function M.latest(dir)
  local f = latest_file(dir)
  if not util.file_exists(f) then return nil end
  local st = core.json.read(f)
  return dir .. "/" .. st.dir, st.step
end

local function rm_tree(path)
  -- a step directory holds files and model directories of files, nothing deeper
  for _, name in ipairs(util.listdir(path)) do
    local p = path .. "/" .. name
    for _, sub in ipairs(util.listdir(p)) do os.remove(p .. "/" .. sub) end
    os.remove(p)
  end
  os.remove(path)
end

-- Write a checkpoint of step `step`: save(sdir) fills DIR/step-N, then latest.json moves to it.
local function checkpoint(dir, step, save)
  util.mkdir_p(dir)
  local name = string.format("step-%08d", step)
  local sdir = dir .. "/" .. name
  if util.file_exists(sdir .. "/trainer.json") then rm_tree(sdir) end
  util.mkdir_p(sdir)
  save(sdir)
  local prev = util.file_exists(latest_file(dir)) and core.json.read(latest_file(dir)) or nil
  core.json.write(latest_file(dir), { dir = name, step = step, prev = prev and prev.dir or nil })
  -- keep the two newest
  if prev and prev.prev and prev.prev ~= name and prev.prev ~= prev.dir then rm_tree(dir .. "/" .. prev.prev) end
end

-- On resume, keep the log lines of the steps up to the checkpoint (the killed run may have
-- logged a few more), so the log reads as one uninterrupted run.
local function trim_log(path, upto)
  if not util.file_exists(path) then return end
  local keep = {}
  for rec in core.jsonl.lines(path) do
    if type(rec) == "table" and type(rec.step) == "number" and rec.step <= upto then keep[#keep + 1] = rec end
  end
  core.jsonl.write(path, keep)
end

-- M.run{ name=, steps=, step=function(step, ctx) -> metrics table (with .loss), sched=options
--        (lr, warmup, min_lr, schedule: the learning rate of ctx:lr and ctx:update),
--        log=path|nil, progress=bool, ckpt=dir|nil, save_every=k, resume=dir|nil,
--        save=function(dir) (write the state into dir), load=function(dir, step) (read it) }
-- Runs steps [start, steps): start = 0, or the step of the checkpoint in `resume` (then further
-- checkpoints go to ckpt, or to resume when ckpt is nil). Each metrics table gets `step`
-- (1-based count of steps done) and `time` (seconds), is logged as one JSON line and shown on the
-- progress bar. A final checkpoint is written at the end when ckpt is set.
-- Returns the list of per-step metrics of this run.
function M.run(o)
  local start = 0
  local root = mpi.is_root() -- under MPI only rank 0 writes logs and checkpoints, shows progress
  local ckpt = o.ckpt or o.resume
  local ctx = M.new_ctx(o.name, o.sched, o.steps)
  if o.resume then
    local sdir, step = M.latest(o.resume)
    if sdir then
      o.load(sdir, step)
      start = step
      ctx.last_ckpt = { dir = sdir, step = step }
      if root then io.stderr:write(string.format("%s: resuming from %s at step %d\n", o.name, sdir, start)) end
    elseif root then
      io.stderr:write(string.format("%s: no checkpoint in %s, starting fresh\n", o.name, o.resume))
    end
  end
  local log
  if o.log and root then
    -- log = PATH, or { path = PATH, csv = true, tensorboard = DIR } (al.log's options)
    local path, lo = o.log, {}
    if type(o.log) == "table" then
      path, lo = o.log.path, { csv = o.log.csv, tensorboard = o.log.tensorboard }
      for k in pairs(o.log) do
        if k ~= "path" and k ~= "csv" and k ~= "tensorboard" then
          error(string.format("%s: log: unknown key '%s' (known: path, csv, tensorboard)", o.name, tostring(k)), 0)
        end
      end
    end
    if start > 0 then trim_log(path, start) end
    lo.append = start > 0
    log = log_mod(path, lo)
  end
  local bar = (o.progress ~= false and root) and progress(o.steps, o.name) or nil
  if bar then bar:update(start) end
  local history = {}
  local ok, err = pcall(function()
    for step = start, o.steps - 1 do
      ctx.step = step + 1
      local t0 = core.time()
      local m = o.step(step, ctx)
      m.step = step + 1
      m.time = core.time() - t0
      ctx:check(m.loss, "loss")
      for k, v in pairs(m) do
        if type(v) == "number" and not finite(v) then m[k] = nil end -- JSON has no NaN (e.g. an undefined metric)
      end
      history[#history + 1] = m
      if log then log:write(m) end
      if bar then bar:update(step + 1, o.show and o.show(m) or { loss = m.loss }) end
      if ckpt and o.save_every and o.save_every > 0 and (step + 1) % o.save_every == 0 and step + 1 < o.steps then
        if root then checkpoint(ckpt, step + 1, o.save) end
        ctx.last_ckpt = { dir = ckpt, step = step + 1 }
      end
    end
  end)
  if bar then bar:done() end
  if log then log:close() end
  if not ok then error(err, 0) end
  if ckpt and start < o.steps and root then checkpoint(ckpt, o.steps, o.save) end
  return history
end

-- Save / load models and optimizers into a step directory: NAME/ model directories,
-- NAME.optimizer.safetensors, and trainer.json holding `extra` (numbers exactly, via JSON).
function M.save_state(dir, models, opts, extra)
  for name, m in pairs(models) do m:save(dir .. "/" .. name) end
  for name, opt in pairs(opts) do opt:save(dir .. "/" .. name .. ".optimizer.safetensors") end
  core.json.write(dir .. "/trainer.json", { extra = extra or {} })
end

function M.load_state(dir, models, opts)
  local st = core.json.read(dir .. "/trainer.json")
  for name, m in pairs(models) do
    local src = core.load(dir .. "/" .. name)
    m:copy_params(src)
    src:free()
  end
  for name, opt in pairs(opts) do opt:load(dir .. "/" .. name .. ".optimizer.safetensors") end
  return st.extra
end

-- ---- scoring: the one rule ----

-- Is x a model (an al.GPT)?
function M.is_model(x)
  return type(x) == "userdata" and tostring(x):find("^al%.GPT") ~= nil
end

-- Scores of completions: scorer is a reward model (the scalar head read at the last non-pad
-- token of prompt .. completion, batched: m:forward{last = true}; trailing pad tokens, pad =
-- an id or nil, are dropped first), an object with :rewards(prompts, completions) (an
-- ensemble), or a function(prompt, completion, i) -> number.
function M.scores(scorer, prompts, completions, bs, what, pad)
  what = what or "scores"
  local out = {}
  if type(scorer) == "function" then
    for i = 1, #prompts do
      local s = scorer(prompts[i], completions[i], i)
      if type(s) ~= "number" then
        error(string.format("%s: the reward function returned a %s for completion %d", what, type(s), i), 0)
      end
      out[i] = s
    end
    return out
  end
  if M.is_model(scorer) then
    bs = bs or 64
    for i = 1, #prompts, bs do
      local seqs = {}
      for j = i, math.min(i + bs - 1, #prompts) do
        seqs[#seqs + 1] = concat(prompts[j], M.strip_pad(completions[j], pad))
      end
      local res = scorer:forward(seqs, { last = true, logp = false, per_token = false })
      for b = 1, #seqs do out[#out + 1] = res.last[b] end
    end
    return out
  end
  if type(scorer) == "table" and type(scorer.rewards) == "function" then
    return scorer:rewards(prompts, completions, bs, pad)
  end
  error(what .. ": a scorer must be a reward model, an ensemble or a function(prompt, completion, i)", 0)
end

return M
