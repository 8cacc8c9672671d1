-- al.reinforce_pp(policy, opts): REINFORCE++ (Hu 2025; OpenRLHF's advantage estimator): no value
-- model; each completion token's advantage is the return-to-go of the KL-penalised per-token
-- rewards (the score at the last token), normalised over the whole batch (global whitening),
-- then PPO's clipped update. It is al.ppo with advantage = "reinforce++" (lua/al/ppo.lua
-- PPO:advantages): the same options (minus the value model's), step API, logs, checkpoints and
-- exact resume; loss_agg chooses the aggregation of the policy loss.
local ppo = require "al.ppo"

local M = {}

function M.new(policy, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("al.reinforce_pp: options must be a table", 2) end
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  if o.advantage ~= nil and o.advantage ~= "reinforce++" then
    error("al.reinforce_pp: advantage is reinforce++ (use al.ppo or al.grpo for the others)", 2)
  end
  o.advantage = "reinforce++"
  return ppo.new(policy, o, "al.reinforce_pp")
end

return setmetatable(M, { __call = function(_, policy, opts) return M.new(policy, opts):run() end })
