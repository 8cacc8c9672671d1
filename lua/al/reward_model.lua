-- al.reward_model(model, prefs, opts): a Bradley-Terry reward model. The model (usually a clone
-- of the SFT policy) gets a scalar head read at the last token of prompt .. response: the one
-- rule every scorer uses (al.train.scores, m:forward{last = true}; PPO, best-of-n, ensembles):
-- the last non-pad token (trailing pad tokens, opts.tok.pad, are dropped from responses).
-- Trained on -log sigmoid(r_chosen - r_rejected - margin) (papers/instructgpt.md eq. 1),
-- optionally with reward centering (center * (r_c + r_r)^2, Eisenstein et al.), or on soft
-- labels (a record's `label` = P(chosen preferred), as RL-CAI's AI labels). Accuracy on a
-- held-out split (opts.eval, a fraction or a count).
-- opts.n = k > 1 trains an ensemble of k models (head seeds and data orders seed..seed+k-1, the
-- same trunk) and returns an ensemble: ens:rewards(prompts, completions) gives the mean,
-- ens:spread(prompts, completions) the standard deviation across members.
-- Logged per step: loss, accuracy (train batch), margin (mean r_c - r_r), lr, grad_norm, epoch,
-- and eval_accuracy every eval_every steps (and at the end) when there is an eval split.
-- Returns model, history (history.eval_accuracy = the final held-out accuracy).
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

return setmetatable(M, { __call = function(_, ...) return M.train(...) end })
