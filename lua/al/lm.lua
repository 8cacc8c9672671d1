-- alignlab: the next-token trainer behind al.pretrain and al.sft. Pretraining trains on every
-- token; SFT on completion tokens only (a record's `start`, or its mask). Mean token
-- cross-entropy over the batch's trained tokens, AdamW, global-norm clipping, warmup + cosine
-- schedule, an eval split with eval loss, JSONL logs, checkpoints and exact resume (al/train.lua).
-- Logged per step: loss, lr, grad_norm, epoch, tokens (trained tokens in the batch), and
-- eval_loss every eval_every steps when there is an eval split.
local core = require "al.core"
local util = require "al.util"
local train = require "al.train"

-- The options of al.pretrain and al.sft, their defaults and meaning: their own and the defaults
-- changed here, the training loop's (steps, schedule, clip, ...) in al.train.options. The trainer
-- only reads this table; util.opts rejects any other key.
local DEFAULTS = train.options{
  completion_only = true, -- SFT: train on completion tokens only (false: on every token)
  eval = 0.0,             -- held-out split: a fraction (< 1) or a count (0: none)
  eval_every = 0,         -- eval loss every k steps (0: ten times a run)
  betas = util.ANY,       -- AdamW's { beta1, beta2 } (default the optimizer's)
  epochs = 0,             -- passes over the data when steps = 0 (0: one)
  batch_size = 32,        -- sequences per step
  lr = 1e-3,              -- peak learning rate
  warmup = 0.05,          -- linear warmup: steps, or a fraction of all steps when < 1
}

local M = {}

local function batch_of(recs, idx)
  local seqs, starts, masks, has_mask = {}, {}, {}, false
  for k, i in ipairs(idx) do
    local r = recs[i]
    seqs[k], starts[k], masks[k] = r.tokens, r.start, r.mask or false
    has_mask = has_mask or r.mask ~= nil
  end
  return seqs, { start = starts, mask = has_mask and masks or nil, per_token = false }
end

-- Mean next-token loss (nats per trained token) of records, no gradient, batched.
function M.eval_loss(model, recs, bs)
  bs = bs or 64
  local tot, cnt = 0, 0
  for i = 1, #recs, bs do
    local idx = {}
    for j = i, math.min(i + bs - 1, #recs) do idx[#idx + 1] = j end
    local seqs, fo = batch_of(recs, idx)
    local res = model:forward(seqs, fo)
    for b = 1, #seqs do tot, cnt = tot - res.sum[b], cnt + res.count[b] end
  end
  return cnt > 0 and tot / cnt or 0
end

-- Records of `data` for the LM trainers (sft: completion tokens only unless completion_only = false).
function M.records(fname, model, data, o, sft)
  local recs = train.lm_records(data, o.tok, fname, model)
  if not sft or not o.completion_only then
    for i, r in ipairs(recs) do recs[i] = { tokens = r.tokens, start = 1, mask = r.mask } end
  end
  return recs
end

function M.train(fname, model, data, opts, sft)
  local o = util.opts(fname, opts, DEFAULTS)
  train.check_common(fname, o)
  local recs = M.records(fname, model, data, o, sft)
  local evals
  recs, evals = train.split(recs, o.eval, o.seed, 77)
  local steps = o.steps
  if steps <= 0 then steps = train.steps_for(#recs, o.batch_size, o.epochs > 0 and o.epochs or 1) end
  local opt = core.adamw(model, { lr = o.lr, weight_decay = o.weight_decay, clip = o.clip, betas = o.betas })
  local bs = math.min(o.batch_size, #recs)
  local eval_every = o.eval_every > 0 and o.eval_every or math.max(1, steps // 10)
  local hist = train.run{
    name = fname, steps = steps, sched = o, log = o.log, progress = o.progress, ckpt = o.ckpt,
    save_every = o.save_every, resume = o.resume,
    save = function(dir) train.save_state(dir, { model = model }, { model = opt }) end,
    load = function(dir) train.load_state(dir, { model = model }, { model = opt }) end,
    step = function(step, ctx)
      local idx, epoch = train.batch_indices(#recs, bs, step, o.seed, recs)
      local m = ctx:dp_update(model, opt, idx, {
        forward = function(part)
          local seqs, fo = batch_of(recs, part)
          local res = model:forward(seqs, fo)
          return { sum = table.move(res.sum, 1, #part, 1, {}), count = table.move(res.count, 1, #part, 1, {}) }
        end,
        -- mean cross-entropy over the batch's trained tokens (all parts)
        objective = function(out)
          local tot, cnt = 0, 0
          for b = 1, #out.sum do tot, cnt = tot + out.sum[b], cnt + out.count[b] end
          if cnt == 0 then error(fname .. ": a batch has no trained tokens (check start/mask)", 0) end
          local dsum = {}
          for b = 1, #out.sum do dsum[b] = -1 / cnt end
          return { dsum = dsum }, -tot / cnt, { tokens = cnt }
        end,
        backward = function(_, g) return g end,
      })
      m.epoch = epoch
      if #evals > 0 and ((step + 1) % eval_every == 0 or step + 1 == steps) then
        m.eval_loss = M.eval_loss(model, evals, 64)
      end
      return m
    end,
  }
  hist.eval = evals
  return model, hist
end

return M
