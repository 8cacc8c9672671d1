-- al.reward_model(model, prefs, opts): a Bradley-Terry reward model. The model (usually a clone
-- of the SFT policy) gets a scalar head read at the last token of prompt + response (the one
-- rule every scorer uses: al.reward_of), and is trained on -log sigmoid(r_chosen - r_rejected
-- - margin) (papers/instructgpt.md eq. 1), optionally with reward centering, or on soft labels
-- (a record's `label` = P(chosen preferred), as RL-CAI's AI labels). Accuracy on a held-out split.
-- opts.n = k > 1 trains an ensemble of k models (seeds seed..seed+k-1) and returns an ensemble
-- whose :reward gives the mean and :spread the standard deviation.
local util = require "al.util"
local train = require "al.train"
local objective = require "al.objective"

local DEFAULTS = {
  epochs = 1, steps = 0, batch_size = 16, lr = 3e-4, min_lr = 0.0, warmup = 0.05,
  schedule = "cosine", weight_decay = 0.0, clip = 1.0, seed = 1, eval = 0.1, center = 0.0,
  log = util.ANY, ckpt = util.ANY, save_every = 0, resume = util.ANY, progress = true,
  tok = util.ANY, n = 1, margin = false,
}

local M = {}

local function seq_of(p) return function(resp) return train.concat(p, resp) end end

-- rewards of a list of {prompt, response} token arrays: value at the last token
function M.rewards(model, prompts, responses, bs)
  bs = bs or 64
  local out = {}
  for i = 1, #prompts, bs do
    local seqs = {}
    for j = i, math.min(i + bs - 1, #prompts) do seqs[#seqs + 1] = train.concat(prompts[j], responses[j]) end
    local res = model:forward(seqs, { values = true, logp = false })
    for b = 1, #seqs do out[#out + 1] = res.values[b][#seqs[b]] end
  end
  return out
end

local function accuracy(model, recs, bs)
  if #recs == 0 then return nil end
  local P, C, R = {}, {}, {}
  for i, r in ipairs(recs) do P[i], C[i], R[i] = r.prompt, r.chosen, r.rejected end
  local rc = M.rewards(model, P, C, bs)
  local rr = M.rewards(model, P, R, bs)
  local acc = 0
  for i = 1, #recs do
    if rc[i] > rr[i] then acc = acc + 1 elseif rc[i] == rr[i] then acc = acc + 0.5 end
  end
  return acc / #recs
end

local function train_one(fname, model, recs, evals, o, seed)
  local al = require "al"
  model:set_head{ scalar = true, lm = false, seed = seed }
  local steps = o.steps > 0 and o.steps or train.steps_for(#recs, o.batch_size, o.epochs)
  local opt = al.adamw(model, { lr = o.lr, weight_decay = o.weight_decay, clip = o.clip })
  local bs = math.min(o.batch_size, #recs)
  local hist = train.run{
    name = fname, steps = steps, log = o.log, progress = o.progress, ckpt = o.ckpt,
    save_every = o.save_every, resume = o.resume,
    save = function(dir, step) train.save_state(dir, step, { model = model }, { model = opt }) end,
    load = function(dir) return (train.load_state(dir, { model = model }, { model = opt })) end,
    step = function(step)
      local idx, epoch = train.batch_indices(#recs, bs, step, seed)
      local seqs, n = {}, #idx
      local margins, labels = {}, {}
      for k, i in ipairs(idx) do
        local r = recs[i]
        seqs[k] = train.concat(r.prompt, r.chosen)
        seqs[n + k] = train.concat(r.prompt, r.rejected)
        margins[k] = o.margin and (r.margin or 0) or 0
        labels[k] = r.label or 1
      end
      local res = model:forward(seqs, { values = true, logp = false })
      local rc, rr = {}, {}
      for k = 1, n do
        rc[k] = res.values[k][#seqs[k]]
        rr[k] = res.values[n + k][#seqs[n + k]]
      end
      local l = objective.bt{ chosen = rc, rejected = rr, margin = margins, label = labels,
                              center = o.center }
      local dvalues = {}
      for b = 1, 2 * n do
        local row = {}
        for j = 1, #seqs[b] do row[j] = 0 end
        dvalues[b] = row
      end
      for k = 1, n do
        dvalues[k][#seqs[k]] = l.d_chosen[k]
        dvalues[n + k][#seqs[n + k]] = l.d_rejected[k]
      end
      model:zero_grad()
      model:backward{ dvalues = dvalues }
      local lr = train.lr_at(o, step, steps)
      local gnorm = opt:step(model, lr)
      local mr = 0
      for k = 1, n do mr = mr + (rc[k] - rr[k]) / n end
      local m = { loss = l.loss, accuracy = l.accuracy, margin = mr, lr = lr, grad_norm = gnorm,
                  epoch = epoch }
      if (step + 1 == steps) and #evals > 0 then m.eval_accuracy = accuracy(model, evals, 64) end
      return m
    end,
  }
  return model, hist
end

local Ensemble = {}
Ensemble.__index = Ensemble
function Ensemble:reward(tokens)
  local s = 0
  for _, m in ipairs(self.models) do s = s + m:reward(tokens) end
  return s / #self.models
end
function Ensemble:spread(tokens)
  local v = {}
  for i, m in ipairs(self.models) do v[i] = m:reward(tokens) end
  return util.sd(v)
end
function Ensemble:rewards(prompts, responses)
  local sums = {}
  for _, m in ipairs(self.models) do
    local r = M.rewards(m, prompts, responses)
    for i = 1, #r do sums[i] = (sums[i] or 0) + r[i] / #self.models end
  end
  return sums
end

function M.train(model, prefs, opts)
  local al = require "al"
  local fname = "al.reward_model"
  local o = util.opts(fname, opts, DEFAULTS)
  local recs = train.pref_records(prefs, o.tok, fname)
  local evals = {}
  if o.eval > 0 then
    local n_eval = o.eval < 1 and math.max(1, math.floor(#recs * o.eval)) or math.floor(o.eval)
    local idx = {}
    for i = 1, #recs do idx[i] = i end
    al.rng(o.seed, 78):shuffle(idx)
    local is_eval, tr = {}, {}
    for i = 1, n_eval do is_eval[idx[i]] = true end
    for i, r in ipairs(recs) do if is_eval[i] then evals[#evals + 1] = r else tr[#tr + 1] = r end end
    recs = tr
  end
  if o.n <= 1 then
    local m, hist = train_one(fname, model, recs, evals, o, o.seed)
    return m, hist, evals
  end
  local models, hists = { model }, {}
  for k = 2, o.n do models[k] = model:clone() end -- clone before any training
  for k = 1, o.n do
    models[k], hists[k] = train_one(fname .. "[" .. k .. "]", models[k], recs, evals, o, o.seed + k - 1)
  end
  return setmetatable({ models = models }, Ensemble), hists, evals
end

M.accuracy = accuracy

return setmetatable(M, { __call = function(_, ...) return M.train(...) end })
