-- al.grpo(policy, opts): Group Relative Policy Optimization (Shao et al. 2024): for each
-- prompt, `group` completions; each completion's advantage is its return (score - beta * KL)
-- minus the group's mean, divided by the group's standard deviation; no value model.
-- opts.advantage = "rloo" gives the leave-one-out baseline of RLOO (Ahmadian et al. 2024)
-- instead. Same options, step API, logs, checkpoints and resume as al.ppo (its rollout and
-- update code): batch_size counts completions, so batch_size // group prompts per step;
-- advantages are not whitened again unless whiten_advantages = true. The length-bias switches
-- (al.ppo's options): loss_agg = "token_mean" (default) | "seq_mean" (the GRPO paper's) |
-- "seq_sum" | "constant" (Dr. GRPO, Liu et al. 2025, with scale_rewards = false: no division by
-- the group's std). al.reinforce_pp(policy, opts) is al.ppo with advantage = "reinforce++".
local ppo = require "al.ppo"

local M = {}

function M.new(policy, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("al.grpo: options must be a table", 2) end
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  if o.advantage == nil then o.advantage = "grpo" end
  if o.advantage ~= "grpo" and o.advantage ~= "rloo" then error("al.grpo: advantage must be grpo or rloo", 2) end
  return ppo.new(policy, o, "al.grpo")
end

return setmetatable(M, { __call = function(_, policy, opts) return M.new(policy, opts):run() end })
