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

return M
