-- alignlab: what every trainer shares. Turning user data into token sequences, deterministic
-- batching that a resumed run can re-derive from the step number alone, the training loop
-- (progress bar, one JSONL line per step, stop on a non-finite loss naming the step, checkpoints
-- every k steps and exact resume), and the learning-rate schedule.
--
-- A "sequence record" is { tokens = {0-based ids}, start = P, mask = {...} or nil }: tokens
-- x_0..x_{n-1}, of which x_i with i >= P (and mask[i+1] ~= 0 when a mask is given) are trained on.
local util = require "al.util"

local M = {}

-- ---- data ----

local function is_token_array(t)
  return type(t) == "table" and (#t == 0 or math.type(t[1]) == "integer")
end

local function encode(tok, s, what)
  if not tok then
    error(what .. ": text records need a tokenizer (pass opts.tok, or data with a .tok field)", 4)
  end
  return tok:encode(s)
end

local function concat(a, b)
  local o = {}
  for i = 1, #a do o[i] = a[i] end
  for i = 1, #b do o[#a + i] = b[i] end
  return o
end

-- Normalise one LM training item into a sequence record.
function M.lm_record(item, tok, what)
  if is_token_array(item) then return { tokens = item, start = 1 } end
  if type(item) == "string" then return { tokens = encode(tok, item, what), start = 1 } end
  if type(item) ~= "table" then error(what .. ": a data item must be a table or a string", 3) end
  if item.tokens then
    return { tokens = item.tokens, start = item.start or item.prompt_len or 1, mask = item.mask }
  end
  if item.text then return { tokens = encode(tok, item.text, what), start = 1 } end
  if item.prompt and item.completion then
    local p = type(item.prompt) == "table" and item.prompt or encode(tok, item.prompt, what)
    local c = type(item.completion) == "table" and item.completion or encode(tok, item.completion, what)
    return { tokens = concat(p, c), start = math.max(1, #p) }
  end
  error(what .. ": cannot read a data item (expected tokens, text, or prompt + completion)", 3)
end

-- A list of sequence records from: a list (of token arrays, strings, or records), or a dataset
-- object with :size() and :get(i).
function M.lm_records(data, tok, what)
  tok = tok or (type(data) == "table" or type(data) == "userdata") and data.tok or nil
  local out = {}
  if (type(data) == "userdata" or type(data) == "table") and data.size and data.get then
    for i = 1, data:size() do out[i] = M.lm_record(data:get(i), tok, what) end
  elseif type(data) == "table" then
    for i, item in ipairs(data) do out[i] = M.lm_record(item, tok, what) end
  else
    error(what .. ": data must be a list or a dataset", 3)
  end
  if #out == 0 then error(what .. ": no training data", 3) end
  return out
end

-- A preference record { prompt = ids, chosen = ids, rejected = ids } (completions without the
-- prompt) from an item with token arrays or strings (prompt optional: then the shared prefix).
function M.pref_record(item, tok, what)
  if type(item) ~= "table" then error(what .. ": a preference must be a table", 3) end
  local function ids(x)
    if x == nil then return nil end
    if type(x) == "table" then return x end
    return encode(tok, x, what)
  end
  local p, c, r = ids(item.prompt), ids(item.chosen), ids(item.rejected)
  if not c or not r then error(what .. ": a preference needs chosen and rejected", 3) end
  if not p then
    local k = 0
    while k < #c and k < #r and c[k + 1] == r[k + 1] do k = k + 1 end
    p = table.move(c, 1, k, 1, {})
    c = table.move(c, k + 1, #c, 1, {})
    r = table.move(r, k + 1, #r, 1, {})
  end
  return { prompt = p, chosen = c, rejected = r, margin = item.margin, label = item.label }
end

function M.pref_records(data, tok, what)
  tok = tok or (type(data) == "table" or type(data) == "userdata") and data.tok or nil
  local out = {}
  if (type(data) == "userdata" or type(data) == "table") and data.size and data.get then
    for i = 1, data:size() do out[i] = M.pref_record(data:get(i), tok, what) end
  else
    for i, item in ipairs(data) do out[i] = M.pref_record(item, tok, what) end
  end
  if #out == 0 then error(what .. ": no preference data", 3) end
  return out
end

M.concat = concat

-- ---- batching ----

-- Indices (1-based) of the records in batch number `step` (0-based): each epoch is a permutation
-- drawn from (seed, epoch); batches do not cross epochs. Depends only on its arguments, so a
-- resumed run finds its place from the step number.
function M.batch_indices(n, bs, step, seed)
  local al = require "al"
  bs = math.min(bs, n)
  local per_epoch = (n + bs - 1) // bs
  local epoch, k = step // per_epoch, step % per_epoch
  local perm = {}
  for i = 1, n do perm[i] = i end
  al.rng(seed, 1000 + epoch):shuffle(perm)
  local out = {}
  for i = k * bs + 1, math.min((k + 1) * bs, n) do out[#out + 1] = perm[i] end
  return out, epoch
end

function M.steps_for(n, bs, epochs)
  bs = math.min(bs, n)
  return ((n + bs - 1) // bs) * epochs
end

-- ---- schedule ----

function M.lr_at(o, step, total)
  local warm = o.warmup or 0
  if warm < 1 and warm > 0 then warm = math.floor(warm * total) end
  local min_lr = o.min_lr or 0
  if step < warm then return o.lr * (step + 1) / warm end
  if o.schedule == "constant" then return o.lr end
  local p = total > warm and (step - warm) / (total - warm) or 1
  if p > 1 then p = 1 end
  return min_lr + 0.5 * (o.lr - min_lr) * (1 + math.cos(math.pi * p))
end

-- ---- the loop ----

local function finite(x) return x == x and x ~= math.huge and x ~= -math.huge end

-- M.run{ name=, steps=, step=function(step) -> metrics table (must have .loss),
--        log=path|nil, progress=bool, ckpt=dir|nil, save_every=k, resume=dir|nil,
--        save=function(dir, step), load=function(dir) -> step }
-- Runs steps [start, steps): start = 0, or the step after the checkpoint in `resume`.
-- Returns the list of per-step metrics of this run.
function M.run(o)
  local al = require "al"
  local start = 0
  if o.resume then
    local f = o.resume .. "/trainer.json"
    if util.file_exists(f) then
      start = o.load(o.resume)
      io.stderr:write(string.format("%s: resuming from %s at step %d\n", o.name, o.resume, start))
    else
      io.stderr:write(string.format("%s: no checkpoint in %s, starting fresh\n", o.name, o.resume))
    end
  end
  local log = o.log and al.log(o.log) or nil
  local bar = (o.progress ~= false) and al.progress(o.steps - start, o.name) or nil
  local history = {}
  local core = require "al.core"
  for step = start, o.steps - 1 do
    local t0 = core.time()
    local m = o.step(step)
    m.step = step + 1
    m.time = core.time() - t0
    if not finite(m.loss) then
      if log then log:close() end
      if bar then bar:done() end
      error(string.format("%s: non-finite loss (%s) at step %d; last good checkpoint kept%s", o.name,
        tostring(m.loss), step + 1, o.ckpt and (" in " .. o.ckpt) or ""), 0)
    end
    history[#history + 1] = m
    if log then log:write(m) end
    if bar then bar:update(1, { loss = m.loss }) end
    if o.ckpt and o.save_every and o.save_every > 0 and (step + 1) % o.save_every == 0 and step + 1 < o.steps then
      o.save(o.ckpt, step + 1)
    end
  end
  if bar then bar:done() end
  if log then log:close() end
  if o.ckpt then o.save(o.ckpt, o.steps) end
  return history
end

-- Save / load the state of a trainer that has one model and one optimizer (+ extra state table):
-- DIR/model.safetensors + config.json, DIR/optimizer.safetensors, DIR/trainer.json.
function M.save_state(dir, step, models, opts, extra)
  local al = require "al"
  util.mkdir_p(dir)
  for name, m in pairs(models) do
    local d = dir .. "/" .. name
    util.mkdir_p(d)
    m:save(d)
  end
  for name, opt in pairs(opts) do opt:save(dir .. "/" .. name .. ".optimizer.safetensors") end
  al.json.write(dir .. "/trainer.json", { step = step, extra = extra or {} })
end

function M.load_state(dir, models, opts)
  local al = require "al"
  local st = al.json.read(dir .. "/trainer.json")
  for name, m in pairs(models) do
    local src = al.load(dir .. "/" .. name)
    m:copy_params(src)
    src:free()
  end
  for name, opt in pairs(opts) do opt:load(dir .. "/" .. name .. ".optimizer.safetensors") end
  return st.step, st.extra
end

return M
