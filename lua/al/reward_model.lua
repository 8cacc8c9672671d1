-- al.reward_model(model, prefs, opts): a Bradley-Terry reward model. The model (usually a clone
-- of the SFT policy) gets a scalar head read at the last token of prompt .. response: the one
-- rule every scorer uses (al.train.scores, m:forward{last = true}; PPO, best-of-n, ensembles):
-- the last non-pad token (trailing pad tokens, opts.tok.pad, are dropped from responses).
-- Trained on -log sigmoid(r_chosen - r_rejected - margin) (papers/instructgpt.md eq. 1),
-- optionally with reward centering (center * (r_c + r_r)^2, Eisenstein et al.), or on soft
-- labels (a record's `label` = P(chosen preferred), as RL-CAI's AI labels, or a weak model's
-- probabilities in weak-to-strong training). opts.confidence = alpha adds Burns et al. 2023's
-- auxiliary confidence loss: the cross-entropy is taken against (1 - alpha_t) label + alpha_t
-- 1[r_c > r_r] (the model's own prediction, hardened, no gradient through it), alpha_t ramping
-- from 0 to alpha over confidence_warmup of the steps (papers/weak_to_strong.md). Accuracy on a
-- held-out split (opts.eval, a fraction or a count).
-- opts.n = k > 1 trains an ensemble of k models (head seeds and data orders seed..seed+k-1, the
-- same trunk) and returns an ensemble: ens:rewards(prompts, completions) gives the mean,
-- ens:spread(prompts, completions) the standard deviation across members.
-- Logged per step: loss, accuracy (train batch), margin (mean r_c - r_r), lr, grad_norm, epoch,
-- and eval_accuracy every eval_every steps (and at the end) when there is an eval split.
-- Returns model, history (history.eval_accuracy = the final held-out accuracy).
-- al.reward_model.classifier(model, records, opts) trains the same scalar head as a classifier
-- read at chosen token positions (process and outcome RMs, papers/process.md); position_scores
-- reads it.
local core = require "al.core"
local util = require "al.util"
local train = require "al.train"
local objective = require "al.objective"

-- The options, their defaults and meaning: the objective's and the defaults changed here, the
-- training loop's (epochs, steps, batch_size 16, schedule, clip, ...) in al.train.options. The
-- trainer only reads this table; util.opts rejects any other key.
local DEFAULTS = train.options{
  margin = false,  -- subtract each record's `margin` inside the sigmoid (Llama-2)
  center = 0.0,    -- reward centering: + center * (r_c + r_r)^2
  confidence = 0.0, -- Burns et al.'s auxiliary confidence loss: weight alpha of the model's own
                    -- hardened prediction 1[r_c > r_r] mixed into each record's label
  confidence_warmup = 0.2, -- alpha ramps linearly from 0 over this fraction of the steps
  n = 1,           -- ensemble members (k > 1: an ensemble, seeds seed .. seed + k - 1)
  eval = 0.1,      -- held-out split: a fraction (< 1) or a count
  eval_every = 0,  -- held-out accuracy every k steps (0: five times a run)
  lr = 3e-4,       -- peak learning rate
  warmup = 0.05,   -- linear warmup: steps, or a fraction of all steps when < 1
}

local M = {}

-- Rewards of (prompt, completion) token arrays under a reward model: the scalar head at the last
-- non-pad token of prompt .. completion (pad: an id, or nil for none), in batches of bs.
function M.rewards(model, prompts, completions, bs, pad)
  return train.scores(model, prompts, completions, bs, "al.reward_model.rewards", pad)
end

-- Held-out accuracy of a scorer on preference records (ties count 1/2).
function M.accuracy(scorer, recs, bs)
  if #recs == 0 then return nil end
  local P, C, R = {}, {}, {}
  for i, r in ipairs(recs) do P[i], C[i], R[i] = r.prompt, r.chosen, r.rejected end
  local rc = train.scores(scorer, P, C, bs)
  local rr = train.scores(scorer, P, R, bs)
  local acc = 0
  for i = 1, #recs do
    if rc[i] > rr[i] then acc = acc + 1 elseif rc[i] == rr[i] then acc = acc + 0.5 end
  end
  return acc / #recs
end

local function train_one(fname, model, recs, evals, o, seed, ckpt, resume, log)
  local c = model:config()
  if not c.scalar or c.lm then model:set_head{ scalar = true, lm = false, seed = seed } end
  local steps = o.steps > 0 and o.steps or train.steps_for(#recs, o.batch_size, o.epochs)
  local opt = core.adamw(model, { lr = o.lr, weight_decay = o.weight_decay, clip = o.clip })
  local bs = math.min(o.batch_size, #recs)
  local eval_every = o.eval_every > 0 and o.eval_every or math.max(1, steps // 5)
  local hist = train.run{
    name = fname, steps = steps, sched = o, log = log, progress = o.progress, ckpt = ckpt,
    save_every = o.save_every, resume = resume,
    save = function(dir) train.save_state(dir, { model = model }, { model = opt }) end,
    load = function(dir) train.load_state(dir, { model = model }, { model = opt }) end,
    show = function(m) return { loss = m.loss, acc = m.accuracy } end,
    step = function(step, ctx)
      local idx, epoch = train.batch_indices(#recs, bs, step, seed, recs)
      local m = ctx:dp_update(model, opt, idx, {
        -- the scalar head's reward of the part's chosen and rejected responses
        forward = function(part)
          local seqs, n = {}, #part
          for k, i in ipairs(part) do
            seqs[k] = train.concat(recs[i].prompt, recs[i].chosen)
            seqs[n + k] = train.concat(recs[i].prompt, recs[i].rejected)
          end
          local res = model:forward(seqs, { last = true, logp = false, per_token = false })
          return { rc = table.move(res.last, 1, n, 1, {}), rr = table.move(res.last, n + 1, 2 * n, 1, {}) }
        end,
        objective = function(out)
          local margins, labels, any_label = {}, {}, false
          for k, i in ipairs(idx) do
            local r = recs[i]
            margins[k] = o.margin and (r.margin or 0) or 0
            labels[k] = r.label or 1
            any_label = any_label or r.label ~= nil
          end
          if o.confidence > 0 then -- Burns et al.'s auxiliary confidence loss, warmed up
            local ramp = o.confidence_warmup * steps
            local a = o.confidence * (ramp > 0 and math.min(1, step / ramp) or 1)
            for k = 1, #idx do labels[k] = (1 - a) * labels[k] + a * (out.rc[k] > out.rr[k] and 1 or 0) end
            any_label = true
          end
          local l = objective.bt{ chosen = out.rc, rejected = out.rr, margin = o.margin and margins or nil,
                                  label = any_label and labels or nil, center = o.center }
          return { dc = l.d_chosen, dr = l.d_rejected }, l.loss, { accuracy = l.accuracy, margin = l.margin }
        end,
        backward = function(part, g)
          local n = #part
          return { dlast = table.move(g.dr, 1, n, n + 1, table.move(g.dc, 1, n, 1, {})) }
        end,
      })
      m.epoch = epoch
      if #evals > 0 and ((step + 1) % eval_every == 0 or step + 1 == steps) then
        m.eval_accuracy = M.accuracy(model, evals, 64)
      end
      return m
    end,
  }
  hist.eval_accuracy = #evals > 0 and M.accuracy(model, evals, 64) or nil
  return model, hist
end

-- ---- ensembles ----

local Ensemble = {}
Ensemble.__index = Ensemble
Ensemble.__name = "al.RewardEnsemble"
M.Ensemble = Ensemble

local function member_scores(self, prompts, completions, bs, pad)
  local all = {}
  for k, m in ipairs(self.models) do all[k] = train.scores(m, prompts, completions, bs, nil, pad) end
  return all
end

-- mean reward across members of each (prompt, completion)
function Ensemble:rewards(prompts, completions, bs, pad)
  local all = member_scores(self, prompts, completions, bs, pad)
  local out = {}
  for i = 1, #prompts do
    local s = 0
    for k = 1, #all do s = s + all[k][i] end
    out[i] = s / #all
  end
  return out
end

-- standard deviation (n - 1) across members, and the means
function Ensemble:spread(prompts, completions, bs, pad)
  local all = member_scores(self, prompts, completions, bs, pad)
  local sd, mean = {}, {}
  for i = 1, #prompts do
    local v = {}
    for k = 1, #all do v[k] = all[k][i] end
    sd[i], mean[i] = util.sd(v), util.mean(v)
  end
  return sd, mean
end

-- the reward of one full token sequence (prompt .. completion)
function Ensemble:reward(tokens)
  return self:rewards({ tokens }, { {} })[1]
end

function Ensemble:__tostring() return string.format("al.RewardEnsemble(%d members)", #self.models) end

function M.train(model, prefs, opts)
  local fname = "al.reward_model"
  local o = util.opts(fname, opts, DEFAULTS)
  train.check_common(fname, o)
  if math.type(o.n) ~= "integer" or o.n < 1 then error(fname .. ": n must be a positive integer", 0) end
  if o.center < 0 then error(fname .. ": center must be >= 0", 0) end
  if not (o.confidence >= 0 and o.confidence <= 1) then error(fname .. ": confidence must be in [0, 1]", 0) end
  if not (o.confidence_warmup >= 0 and o.confidence_warmup <= 1) then
    error(fname .. ": confidence_warmup must be in [0, 1]", 0)
  end
  local recs = train.pref_records(prefs, o.tok, fname, model)
  local evals
  recs, evals = train.split(recs, o.eval, o.seed, 78)
  if o.n == 1 then
    local m, hist = train_one(fname, model, recs, evals, o, o.seed, o.ckpt, o.resume, o.log)
    return m, hist
  end
  local models, hists = { model }, {}
  for k = 2, o.n do models[k] = model:clone() end -- clones of the untrained trunk
  for k = 1, o.n do
    local sub = function(d) return d and (d .. "/member-" .. k) or nil end
    local log = o.log and o.log:gsub("%.jsonl$", "") .. "-" .. k .. ".jsonl" or nil
    models[k], hists[k] = train_one(fname .. "[" .. k .. "]", models[k], recs, evals, o, o.seed + k - 1,
      sub(o.ckpt), sub(o.resume), log)
  end
  local ens = setmetatable({ models = models }, Ensemble)
  hists.eval_accuracy = #evals > 0 and M.accuracy(ens, evals, 64) or nil
  return ens, hists
end

-- ---- per-position classifiers (process and outcome reward models) ----
-- A record { ids = token array (0-based ids), positions = { j_1, ... }, labels = { p_1, ... } }
-- asks for P(label) at chosen tokens: position j is the 1-based index of a token in ids (the
-- head reads x_{j-1} after the causal trunk has seen x_0 .. x_{j-1}), p in [0, 1]. The loss is
-- the binary cross-entropy -p log s(z) - (1 - p) log(1 - s(z)) of each labelled position's score
-- z, averaged over the batch's positions: the Bradley-Terry loss with soft label p against a
-- fixed rival scored 0 (core/obj_pref.c:al_bt_loss, so no new kernel). An outcome RM is the case
-- of one position, the last token; a process RM labels every step separator (Lightman et al.
-- 2023, papers/process.md).

local function check_pos_records(fname, recs, V, T)
  if type(recs) ~= "table" or #recs == 0 then error(fname .. ": records must be a non-empty list", 0) end
  for i, r in ipairs(recs) do
    local where = string.format("%s: record %d", fname, i)
    if type(r) ~= "table" or type(r.ids) ~= "table" or #r.ids == 0 then error(where .. ": ids must be a non-empty token array", 0) end
    if #r.ids > T then error(string.format("%s: %d tokens, the model's context is %d", where, #r.ids, T), 0) end
    for j, t in ipairs(r.ids) do
      if math.type(t) ~= "integer" or t < 0 or t >= V then
        error(string.format("%s: ids[%d] = %s is not a token id in [0, %d)", where, j, tostring(t), V), 0)
      end
    end
    if type(r.positions) ~= "table" or type(r.labels) ~= "table" or #r.positions ~= #r.labels or #r.positions == 0 then
      error(where .. ": positions and labels must be non-empty lists of the same length", 0)
    end
    for k, j in ipairs(r.positions) do
      if math.type(j) ~= "integer" or j < 1 or j > #r.ids then
        error(string.format("%s: positions[%d] = %s is outside 1 .. %d", where, k, tostring(j), #r.ids), 0)
      end
      local p = r.labels[k]
      if type(p) ~= "number" or not (p >= 0 and p <= 1) then
        error(string.format("%s: labels[%d] = %s is not a probability", where, k, tostring(p)), 0)
      end
    end
  end
end

-- al.reward_model.position_scores(model, seqs, positions, bs) -> rows of scores: out[b][k] = the
-- scalar head at token positions[b][k] of seqs[b] (logits; sigmoid gives P(label)).
function M.position_scores(model, seqs, positions, bs)
  bs = bs or 64
  local out = {}
  for i = 1, #seqs, bs do
    local batch = table.move(seqs, i, math.min(i + bs - 1, #seqs), 1, {})
    local res = model:forward(batch, { values = true, logp = false })
    for b = 1, #batch do
      local row, v = {}, res.values[b]
      for k, j in ipairs(positions[i + b - 1]) do row[k] = v[j] end
      out[i + b - 1] = row
    end
  end
  return out
end

-- Loss, gradient rows and accuracy of one batch of position records under model.
local function pos_loss(model, batch)
  local seqs, z, p = {}, {}, {}
  for b, r in ipairs(batch) do seqs[b] = r.ids end
  local res = model:forward(seqs, { values = true, logp = false })
  for b, r in ipairs(batch) do
    for k, j in ipairs(r.positions) do z[#z + 1], p[#p + 1] = res.values[b][j], r.labels[k] end
  end
  local zero = {}
  for k = 1, #z do zero[k] = 0 end
  local l = objective.bt{ chosen = z, rejected = zero, label = p }
  local dv, n, acc = {}, 0, 0
  for b, r in ipairs(batch) do
    local row = {}
    for t = 1, #r.ids do row[t] = 0 end
    for _, j in ipairs(r.positions) do
      n = n + 1
      row[j] = row[j] + l.d_chosen[n]
      if (z[n] > 0) == (p[n] >= 0.5) then acc = acc + 1 end
    end
    dv[b] = row
  end
  return l.loss, dv, acc / n
end
M._pos_loss = pos_loss

-- al.reward_model.classifier(model, records, opts) -> model, history: trains a scalar head on
-- the records' position labels (options as M.train's but n = 1 and no margin or centering;
-- opts.eval holds out a split whose position accuracy is history.eval_accuracy).
function M.classifier(model, recs, opts)
  local fname = "al.reward_model.classifier"
  local o = util.opts(fname, opts, DEFAULTS)
  train.check_common(fname, o)
  if o.n ~= 1 or o.margin or o.center ~= 0 or o.confidence ~= 0 then
    error(fname .. ": n, margin, center and confidence are not options of a classifier", 0)
  end
  local c = model:config()
  check_pos_records(fname, recs, c.vocab, c.ctx)
  local evals
  recs, evals = train.split(recs, o.eval, o.seed, 79)
  if not c.scalar or c.lm then model:set_head{ scalar = true, lm = false, seed = o.seed } end
  local steps = o.steps > 0 and o.steps or train.steps_for(#recs, o.batch_size, o.epochs)
  local opt = core.adamw(model, { lr = o.lr, weight_decay = o.weight_decay, clip = o.clip })
  local bs = math.min(o.batch_size, #recs)
  local function eval_acc()
    local acc, n = 0, 0
    for i = 1, #evals, 64 do
      local batch = table.move(evals, i, math.min(i + 63, #evals), 1, {})
      local _, _, a = pos_loss(model, batch)
      acc, n = acc + a * #batch, n + #batch
    end
    return acc / n
  end
  local hist = train.run{
    name = fname, steps = steps, sched = o, log = o.log, progress = o.progress, ckpt = o.ckpt,
    save_every = o.save_every, resume = o.resume,
    save = function(dir) train.save_state(dir, { model = model }, { model = opt }) end,
    load = function(dir) train.load_state(dir, { model = model }, { model = opt }) end,
    show = function(m) return { loss = m.loss, acc = m.accuracy } end,
    step = function(step, ctx)
      local idx, epoch = train.batch_indices(#recs, bs, step, o.seed, recs)
      local batch = {}
      for k, i in ipairs(idx) do batch[k] = recs[i] end
      local loss, dv, acc = pos_loss(model, batch)
      local m = ctx:update(model, opt, { dvalues = dv }, loss)
      m.accuracy, m.epoch = acc, epoch
      return m
    end,
  }
  hist.eval_accuracy = #evals > 0 and eval_acc() or nil
  return model, hist
end

return setmetatable(M, { __call = function(_, ...) return M.train(...) end })
