-- al.grpo(policy, opts): Group Relative Policy Optimization (Shao et al. 2024): for each
-- prompt, `group` completions; each completion's advantage is its return minus the group's mean,
-- divided by the group's standard deviation; no value model. opts.advantage = "rloo" gives the
-- leave-one-out baseline of RLOO (Ahmadian et al. 2024) instead. Same options as al.ppo
-- (batch_size counts completions: batch_size / group prompts per step).
local ppo = require "al.ppo"
return function(policy, opts)
  opts = opts or {}
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  if o.advantage == nil then o.advantage = "grpo" end
  if o.advantage == "gae" then error("al.grpo: advantage must be grpo or rloo", 2) end
  return ppo.new(policy, o, "al.grpo"):run()
end
