-- al.dpo(policy, prefs, opts): Direct Preference Optimization and its family
-- (papers/dpo.md eq. 7; IPO, hinge, conservative DPO by label smoothing, SimPO-like
-- reference-free). The reference is opts.ref (frozen), or a frozen copy of the policy taken
-- before training; its log-probs are computed once. Log-probs are sums over completion tokens.
-- Logs TRL's metric names: rewards/chosen, rewards/rejected, rewards/margins,
-- rewards/accuracies, logps/chosen, logps/rejected.
local util = require "al.util"
local train = require "al.train"
local objective = require "al.objective"

local DEFAULTS = {
  ref = util.ANY, beta = 0.1, loss = "sigmoid", label_smoothing = 0.0, gamma = 0.0,
  epochs = 1, steps = 0, batch_size = 16, lr = 1e-4, min_lr = 0.0, warmup = 0.1,
  schedule = "cosine", weight_decay = 0.0, clip = 1.0, seed = 1, log = util.ANY, ckpt = util.ANY,
  save_every = 0, resume = util.ANY, progress = true, tok = util.ANY,
}
local LOSSES = { sigmoid = true, ipo = true, hinge = true, cdpo = true, simpo = true }

local M = {}

-- summed completion log-probs of (prompt, completion) pairs, batched
function M.logps(model, prompts, completions, bs)
  bs = bs or 64
  local out, lens = {}, {}
  for i = 1, #prompts, bs do
    local seqs, starts = {}, {}
    for j = i, math.min(i + bs - 1, #prompts) do
      seqs[#seqs + 1] = train.concat(prompts[j], completions[j])
      starts[#starts + 1] = #prompts[j]
    end
    local res = model:forward(seqs, { start = starts })
    for b = 1, #seqs do
      out[#out + 1] = res.sum[b]
      lens[#lens + 1] = res.count[b]
    end
  end
  return out, lens
end

function M.train(policy, prefs, opts)
  local al = require "al"
  local fname = "al.dpo"
  local o = util.opts(fname, opts, DEFAULTS)
  if not LOSSES[o.loss] then
    error(fname .. ": loss must be sigmoid, ipo, hinge, cdpo or simpo, got '" .. tostring(o.loss) .. "'", 2)
  end
  local recs = train.pref_records(prefs, o.tok, fname)
  for _, r in ipairs(recs) do
    if #r.prompt == 0 then error(fname .. ": a preference has an empty prompt", 2) end
    if #r.chosen == 0 or #r.rejected == 0 then error(fname .. ": a preference has an empty response", 2) end
  end
  local P, C, R = {}, {}, {}
  for i, r in ipairs(recs) do P[i], C[i], R[i] = r.prompt, r.chosen, r.rejected end
  local ref_c, ref_r = {}, {}
  if o.loss ~= "simpo" then
    local ref = o.ref
    local own_ref = false
    if not ref then
      ref = policy:clone()
      ref:freeze()
      own_ref = true
    end
    ref_c = M.logps(ref, P, C)
    ref_r = M.logps(ref, P, R)
    if own_ref and ref.free then ref:free() end
  end
  local steps = o.steps > 0 and o.steps or train.steps_for(#recs, o.batch_size, o.epochs)
  local opt = al.adamw(policy, { lr = o.lr, weight_decay = o.weight_decay, clip = o.clip })
  local bs = math.min(o.batch_size, #recs)
  local hist = train.run{
    name = fname, steps = steps, log = o.log, progress = o.progress, ckpt = o.ckpt,
    save_every = o.save_every, resume = o.resume,
    save = function(dir, step) train.save_state(dir, step, { model = policy }, { model = opt }) end,
    load = function(dir) return (train.load_state(dir, { model = policy }, { model = opt })) end,
    step = function(step)
      local idx, epoch = train.batch_indices(#recs, bs, step, o.seed)
      local n = #idx
      local seqs, starts = {}, {}
      local rc, rr = {}, {}
      for k, i in ipairs(idx) do
        seqs[k] = train.concat(P[i], C[i])
        seqs[n + k] = train.concat(P[i], R[i])
        starts[k], starts[n + k] = #P[i], #P[i]
        rc[k], rr[k] = ref_c[i] or 0, ref_r[i] or 0
      end
      local res = policy:forward(seqs, { start = starts })
      local pc, pr, lc, lr_ = {}, {}, {}, {}
      for k = 1, n do
        pc[k], pr[k] = res.sum[k], res.sum[n + k]
        lc[k], lr_[k] = res.count[k], res.count[n + k]
      end
      local l = objective.dpo{
        policy_chosen = pc, policy_rejected = pr, ref_chosen = rc, ref_rejected = rr,
        beta = o.beta, loss = o.loss, label_smoothing = o.label_smoothing, gamma = o.gamma,
        len_chosen = lc, len_rejected = lr_,
      }
      local dsum = {}
      for k = 1, n do dsum[k], dsum[n + k] = l.d_chosen[k], l.d_rejected[k] end
      policy:zero_grad()
      policy:backward{ dsum = dsum }
      local lr = train.lr_at(o, step, steps)
      local gnorm = opt:step(policy, lr)
      return {
        loss = l.loss, lr = lr, grad_norm = gnorm, epoch = epoch,
        ["rewards/chosen"] = l.rewards_chosen, ["rewards/rejected"] = l.rewards_rejected,
        ["rewards/margins"] = l.rewards_margins, ["rewards/accuracies"] = l.rewards_accuracies,
        ["logps/chosen"] = l.logps_chosen, ["logps/rejected"] = l.logps_rejected,
      }
    end,
  }
  return policy, hist
end

return setmetatable(M, { __call = function(_, ...) return M.train(...) end })
