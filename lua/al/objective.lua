-- alignlab: the trainers' view of the C objectives (al.core.obj, core/al_obj.h). Thin on
-- purpose: the numerics and their gradients live in C; this file only names arguments the way
-- the trainers use them.
local core = require "al.core"
local obj = core.obj

local M = {}

-- Bradley-Terry: { chosen, rejected, margin, label, center } -> { loss, accuracy, d_chosen, d_rejected }
function M.bt(a) return obj.bt_loss(a) end

-- DPO family: see al.core.obj.dpo_loss
function M.dpo(a)
  local t = {}
  for k, v in pairs(a) do t[k] = v end
  if t.loss == "simpo" then
    t.ref_chosen, t.ref_rejected = nil, nil -- reference-free
  else
    t.len_chosen, t.len_rejected, t.gamma = nil, nil, nil
  end
  return obj.dpo_loss(t)
end

function M.ppo_policy(a) return obj.ppo_policy_loss(a) end
function M.value_loss(a) return obj.ppo_value_loss(a) end
function M.gae(a) return obj.gae(a) end
function M.whiten(x, shift_mean) return obj.whiten(x, { shift_mean = shift_mean ~= false }) end
M.whiten_rows = M.whiten
function M.explained_variance(values, returns) return obj.explained_variance(values, returns) end
-- per-token KL-penalised rewards: { logp, ref_logp, scores, beta } -> rows of -beta (logp -
-- ref_logp), the row's score added at its last token (k1; al.core.obj.kl_rewards)
function M.kl_rewards(a) return obj.kl_rewards(a).rewards end
function M.kl_controller(a) return obj.kl_controller(a) end
function M.bon_kl(n) return obj.bon_kl(n) end

-- group-relative advantages of GRPO (kind = "grpo") or RLOO (kind = "rloo")
function M.group_advantages(a)
  if a.kind == "rloo" then return obj.rloo_advantages{ rewards = a.rewards, group = a.group } end
  return obj.grpo_advantages{ rewards = a.rewards, group = a.group, scale = a.scale ~= false }
end

-- KTO: { policy, ref, desirable, z0, beta, desirable_weight, undesirable_weight } ->
-- { loss, d_policy, rewards_chosen, rewards_rejected, kl } (al.core.obj.kto_loss)
function M.kto(a) return obj.kto_loss(a) end

-- The clipped policy loss of a minibatch (rows of per-token log-probs, old log-probs and
-- advantages) aggregated by `agg` (the loss_agg option), with its gradient: the C loss is a
-- weighted token mean sum_i,t w_i l_it / sum_i,t w_i; w = 1 gives token_mean, w_i = 1 / |o_i|
-- seq_mean; seq_sum and constant rescale the token mean by tokens / sequences and tokens /
-- (sequences * max_new). clipfrac, approx_kl and ratio_mean are weighted as the loss is.
function M.ppo_policy_agg(new, old, adv, clip, agg, max_new)
  local mask
  if agg == "seq_mean" then
    mask = {}
    for i, row in ipairs(old) do
      local w, m = 1 / #row, {}
      for t = 1, #row do m[t] = w end
      mask[i] = m
    end
  end
  local l = M.ppo_policy{ logp = new, old_logp = old, advantages = adv, mask = mask, clip = clip }
  if agg == "seq_sum" or agg == "constant" then
    local ntok = 0
    for _, row in ipairs(old) do ntok = ntok + #row end
    local f = ntok / (#old * (agg == "constant" and max_new or 1))
    l.loss = l.loss * f
    for _, row in ipairs(l.dlogp) do
      for t = 1, #row do row[t] = row[t] * f end
    end
  end
  return l
end

return M
