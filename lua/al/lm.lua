-- alignlab: the next-token trainer behind al.pretrain and al.sft. Pretraining trains on every
-- token; SFT on completion tokens only (a record's `start`, or its mask). Mean token
-- cross-entropy over the batch, AdamW, global-norm clipping, warmup + cosine schedule, an eval
-- split with eval loss, JSONL logs, checkpoints and exact resume (see al/train.lua).
local util = require "al.util"
local train = require "al.train"

local DEFAULTS = {
  steps = 0, epochs = 0, batch_size = 32, lr = 1e-3, min_lr = 0.0, warmup = 0.05,
  schedule = "cosine", weight_decay = 0.0, clip = 1.0, betas = util.ANY, seed = 1,
  eval = 0.0, eval_every = 0, log = util.ANY, ckpt = util.ANY, save_every = 0, resume = util.ANY,
  progress = true, tok = util.ANY, completion_only = true, opt = util.ANY,
}

local M = {}

-- mean next-token loss of records (no gradient); batched
function M.eval_loss(model, recs, bs)
  local tot, cnt = 0, 0
  for i = 1, #recs, bs do
    local seqs, starts, masks, has_mask = {}, {}, {}, false
    for j = i, math.min(i + bs - 1, #recs) do
      local r = recs[j]
      seqs[#seqs + 1], starts[#starts + 1] = r.tokens, r.start
      masks[#masks + 1] = r.mask or false
      has_mask = has_mask or r.mask ~= nil
    end
    local res = model:forward(seqs, { start = starts, mask = has_mask and masks or nil })
    for b = 1, #seqs do tot, cnt = tot - res.sum[b], cnt + res.count[b] end
  end
  return cnt > 0 and tot / cnt or 0
end

function M.train(fname, model, data, opts, sft)
  local al = require "al"
  local o = util.opts(fname, opts, DEFAULTS)
  local recs = train.lm_records(data, o.tok, fname)
  if not sft or not o.completion_only then
    for _, r in ipairs(recs) do r.start = 1 end
  end
  -- hold out an eval split (a fraction, taken deterministically)
  local evals = {}
  if o.eval > 0 then
    local n_eval = o.eval < 1 and math.max(1, math.floor(#recs * o.eval)) or math.floor(o.eval)
    local idx = {}
    for i = 1, #recs do idx[i] = i end
    al.rng(o.seed, 77):shuffle(idx)
    local is_eval = {}
    for i = 1, n_eval do is_eval[idx[i]] = true end
    local tr = {}
    for i, r in ipairs(recs) do
      if is_eval[i] then evals[#evals + 1] = r else tr[#tr + 1] = r end
    end
    recs = tr
  end
  local steps = o.steps
  if steps <= 0 then steps = train.steps_for(#recs, o.batch_size, o.epochs > 0 and o.epochs or 1) end
  local opt = o.opt or al.adamw(model, { lr = o.lr, weight_decay = o.weight_decay, clip = o.clip,
                                         betas = o.betas })
  local bs = math.min(o.batch_size, #recs)
  local eval_every = o.eval_every > 0 and o.eval_every or math.max(1, steps // 10)
  local hist = train.run{
    name = fname, steps = steps, log = o.log, progress = o.progress, ckpt = o.ckpt,
    save_every = o.save_every, resume = o.resume,
    save = function(dir, step) train.save_state(dir, step, { model = model }, { model = opt }) end,
    load = function(dir) return (train.load_state(dir, { model = model }, { model = opt })) end,
    step = function(step)
      local idx, epoch = train.batch_indices(#recs, bs, step, o.seed)
      local seqs, starts, masks, has_mask = {}, {}, {}, false
      for k, i in ipairs(idx) do
        local r = recs[i]
        seqs[k], starts[k], masks[k] = r.tokens, r.start, r.mask or false
        has_mask = has_mask or r.mask ~= nil
      end
      local res = model:forward(seqs, { start = starts, mask = has_mask and masks or nil })
      local tot, cnt = 0, 0
      for b = 1, #seqs do tot, cnt = tot + res.sum[b], cnt + res.count[b] end
      if cnt == 0 then error(fname .. ": a batch has no trained tokens (check start/mask)", 0) end
      local dsum = {}
      for b = 1, #seqs do dsum[b] = -1 / cnt end
      model:zero_grad()
      model:backward{ dsum = dsum }
      local lr = train.lr_at(o, step, steps)
      local gnorm = opt:step(model, lr)
      local m = { loss = -tot / cnt, lr = lr, grad_norm = gnorm, epoch = epoch, tokens = cnt }
      if #evals > 0 and ((step + 1) % eval_every == 0 or step + 1 == steps) then
        m.eval_loss = M.eval_loss(model, evals, bs)
      end
      return m
    end,
  }
  return model, hist
end

return M
