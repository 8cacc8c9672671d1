-- al.dpo(policy, prefs, opts): Direct Preference Optimization and its family
-- (papers/dpo.md eq. 7; IPO, hinge, conservative DPO by label smoothing, SimPO-like
-- reference-free; the losses are al.core.obj.dpo_loss, core/obj_pref.c). The reference is
-- opts.ref (frozen), or a copy of the policy taken before training; its log-probs are computed
-- once, before the first step (and again, identically, on resume). Log-probs are sums over
-- completion tokens. Logged per step with TRL's names: loss, rewards/chosen, rewards/rejected,
-- rewards/margins, rewards/accuracies, logps/chosen, logps/rejected, plus implicit_kl (mean over
-- the batch's chosen and rejected of log pi - log pi_ref: the sequence-level KL estimate on the
-- preference data), lr, grad_norm, epoch.
-- Resume: call with the same initial policy and data and resume = DIR.
local core = require "al.core"
local util = require "al.util"
local train = require "al.train"
local objective = require "al.objective"

-- The options, their defaults and meaning: the objective's here, the training loop's (epochs,
-- steps, batch_size 16, lr 1e-4, warmup 0.1, schedule, clip, ...) in al.train.options. The trainer
-- only reads this table; util.opts rejects any other key.
local DEFAULTS = train.options{
  ref = util.ANY,             -- the frozen reference model (default: the policy before training)
  beta = 0.1,                 -- the inverse temperature of the implicit reward beta log(pi / pi_ref)
  loss = "sigmoid",           -- "sigmoid" (DPO) | "ipo" | "hinge" | "cdpo" | "simpo" (reference-free)
  label_smoothing = util.ANY, -- conservative DPO's eps in [0, 0.5] (default 0.1 for cdpo, else 0)
  gamma = 0.5,                -- SimPO's target margin
}
local LOSSES = { sigmoid = true, ipo = true, hinge = true, cdpo = true, simpo = true }

local M = {}

-- Summed completion log-probs of (prompt, completion) pairs under model, batched; and the counts.
function M.logps(model, prompts, completions, bs)
  bs = bs or 64
  local out, lens = {}, {}
  for i = 1, #prompts, bs do
    local seqs, starts = {}, {}
    for j = i, math.min(i + bs - 1, #prompts) do
      seqs[#seqs + 1] = train.concat(prompts[j], completions[j])
      starts[#starts + 1] = #prompts[j]
    end
    local res = model:forward(seqs, { start = starts, per_token = false })
    for b = 1, #seqs do
      out[#out + 1] = res.sum[b]
      lens[#lens + 1] = res.count[b]
    end
  end
  return out, lens
end

function M.train(policy, prefs, opts)
  local fname = "al.dpo"
  local o = util.opts(fname, opts, DEFAULTS)
  train.check_common(fname, o)
  if not LOSSES[o.loss] then
    error(fname .. ": loss must be sigmoid, ipo, hinge, cdpo or simpo, got '" .. tostring(o.loss) .. "'", 0)
  end
  if not (o.beta > 0) then error(fname .. ": beta must be > 0", 0) end
  local ls = o.label_smoothing
  if ls == nil then ls = o.loss == "cdpo" and 0.1 or 0.0 end
  if type(ls) ~= "number" or ls < 0 or ls > 0.5 then error(fname .. ": label_smoothing must be in [0, 0.5]", 0) end
  if ls > 0 and (o.loss == "ipo" or o.loss == "hinge") then
    error(fname .. ": label_smoothing applies to sigmoid, cdpo and simpo only", 0)
  end
  local recs = train.pref_records(prefs, o.tok, fname, policy)
  local P, C, R = {}, {}, {}
  for i, r in ipairs(recs) do P[i], C[i], R[i] = r.prompt, r.chosen, r.rejected end
  local steps = o.steps > 0 and o.steps or train.steps_for(#recs, o.batch_size, o.epochs)
  local bs = math.min(o.batch_size, #recs)
  -- reference log-probs, once, on the batches of the first epoch (the same batch shapes as the
  -- training steps of that epoch: sgemm's rounding depends on them, and so the first step of a
  -- policy equal to its reference has h = 0 exactly and the loss log 2)
  local ref_c, ref_r = {}, {}
  if o.loss ~= "simpo" then
    local ref = o.ref or policy -- the policy before its first update (read before a resume loads)
    if not train.is_model(ref) then error(fname .. ": ref must be a model", 0) end
    local per_epoch = (#recs + bs - 1) // bs
    for k = 0, per_epoch - 1 do
      local idx = train.batch_indices(#recs, bs, k, o.seed, recs)
      local n, seqs, starts = #idx, {}, {}
      for j, i in ipairs(idx) do
        seqs[j], seqs[n + j] = train.concat(P[i], C[i]), train.concat(P[i], R[i])
        starts[j], starts[n + j] = #P[i], #P[i]
      end
      local res = ref:forward(seqs, { start = starts, per_token = false })
      for j, i in ipairs(idx) do ref_c[i], ref_r[i] = res.sum[j], res.sum[n + j] end
    end
  end
  local opt = core.adamw(policy, { lr = o.lr, weight_decay = o.weight_decay, clip = o.clip })
  local hist = train.run{
    name = fname, steps = steps, sched = o, log = o.log, progress = o.progress, ckpt = o.ckpt,
    save_every = o.save_every, resume = o.resume,
    save = function(dir) train.save_state(dir, { model = policy }, { model = opt }) end,
    load = function(dir) train.load_state(dir, { model = policy }, { model = opt }) end,
    show = function(m) return { loss = m.loss, margin = m["rewards/margins"] } end,
    step = function(step, ctx)
      local idx, epoch = train.batch_indices(#recs, bs, step, o.seed, recs)
      local m = ctx:dp_update(policy, opt, idx, {
        -- summed completion log-probs and lengths of the part's chosen and rejected responses
        forward = function(part)
          local n, seqs, starts = #part, {}, {}
          for k, i in ipairs(part) do
            seqs[k] = train.concat(P[i], C[i])
            seqs[n + k] = train.concat(P[i], R[i])
            starts[k], starts[n + k] = #P[i], #P[i]
          end
          local res = policy:forward(seqs, { start = starts, per_token = false })
          return { pc = table.move(res.sum, 1, n, 1, {}), pr = table.move(res.sum, n + 1, 2 * n, 1, {}),
                   lc = table.move(res.count, 1, n, 1, {}), lr = table.move(res.count, n + 1, 2 * n, 1, {}) }
        end,
        objective = function(out)
          local n, rc, rr = #idx, {}, {}
          for k, i in ipairs(idx) do rc[k], rr[k] = ref_c[i], ref_r[i] end
          local l = objective.dpo{
            policy_chosen = out.pc, policy_rejected = out.pr, ref_chosen = rc, ref_rejected = rr,
            beta = o.beta, loss = o.loss, label_smoothing = ls, gamma = o.gamma,
            len_chosen = out.lc, len_rejected = out.lr,
          }
          local mt = {
            ["rewards/chosen"] = l.rewards_chosen, ["rewards/rejected"] = l.rewards_rejected,
            ["rewards/margins"] = l.rewards_margins, ["rewards/accuracies"] = l.rewards_accuracies,
            ["logps/chosen"] = l.logps_chosen, ["logps/rejected"] = l.logps_rejected,
          }
          if o.loss ~= "simpo" then
            local ikl = 0
            for k = 1, n do ikl = ikl + (out.pc[k] - rc[k]) + (out.pr[k] - rr[k]) end
            mt.implicit_kl = ikl / (2 * n)
          end
          return { dc = l.d_chosen, dr = l.d_rejected }, l.loss, mt
        end,
        backward = function(part, g)
          local n = #part
          return { dsum = table.move(g.dr, 1, n, n + 1, table.move(g.dc, 1, n, 1, {})) }
        end,
      })
      m.epoch = epoch
      return m
    end,
  }
  return policy, hist
end

return setmetatable(M, { __call = function(_, ...) return M.train(...) end })
