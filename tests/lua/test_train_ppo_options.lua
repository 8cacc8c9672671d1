-- Tests of the al.ppo options that shape the reward and the value model (lua/al/ppo.lua), through
-- the step API: score_scale, no_eos_penalty, reward_clip (applied in that order), whiten_rewards,
-- whiten_advantages, lr_schedule, vf_lr, clip / ratio_clip / value_clip, the beta default, value_init and value_model, and the errors of each.
print("testing ppo options")
local al = require "al"
local train = require "al.train"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local fails = T.fails

local W = 12
local lm = al.gpt{ vocab = W, ctx = 12, d = 16, heads = 2, layers = 1, seed = 7 }
local prompts = {}
for i = 1, 8 do prompts[i] = { i % W, (i * 5) % W } end
local EOS = 3
-- a raw score with a spread of values: the sum of the completion's token ids
local function sum_ids(_, c)
  local s = 0
  for _, t in ipairs(c) do s = s + t end
  return s
end
local function base(extra)
  return T.merge({ reward = sum_ids, prompts = prompts, max_new = 4, batch_size = 8, eos = EOS, progress = false }, extra)
end
local function scored(extra)
  local p = al.ppo.new(lm:clone(), base(extra))
  local b = p:rollout()
  p:score(b)
  return p, b
end

do print("  score_scale, no_eos_penalty, reward_clip: s = clip(scale * raw + penalty if no eos)")
  local _, b = scored{ score_scale = 0.5, no_eos_penalty = -2, reward_clip = 6 }
  local ended, unended = 0, 0
  for i = 1, #b.scores do
    local c = b.completions[i]
    local want = 0.5 * b.raw_scores[i]
    if #c == 0 or c[#c] ~= EOS then want = want - 2; unended = unended + 1 else ended = ended + 1 end
    want = math.max(-6, math.min(6, want))
    assert(b.scores[i] == want, string.format("score %d: %g, want %g", i, b.scores[i], want))
    assert(b.raw_scores[i] == sum_ids(nil, c), "raw scores are the reward function's")
  end
  assert(unended > 0, "the rollout has completions without eos")
  -- the clip is active somewhere: raw sums of four ids in [0, 12) reach past 12
  local clipped = 0
  for i = 1, #b.scores do if math.abs(b.scores[i]) == 6 then clipped = clipped + 1 end end
  assert(clipped > 0, "reward_clip bounds some scores")
  -- without the options the score is the raw score
  local _, b0 = scored()
  for i = 1, #b0.scores do assert(b0.scores[i] == b0.raw_scores[i]) end
end

do print("  whiten_rewards: unit variance over the batch, the mean kept (TRL's shift_mean = false)")
  local _, b = scored{ whiten_rewards = true }
  local n, m, m0, v = #b.scores, 0, 0, 0
  for i = 1, n do m, m0 = m + b.scores[i] / n, m0 + b.raw_scores[i] / n end
  for i = 1, n do v = v + (b.scores[i] - m) ^ 2 / (n - 1) end
  assert(math.abs(m - m0) < 1e-9, "mean " .. m .. " vs raw " .. m0)
  assert(math.abs(v - 1) < 0.2, "variance " .. v) -- population or sample normalisation
  local _, b0 = scored()
  local v0 = 0
  for i = 1, n do v0 = v0 + (b0.scores[i] - m0) ^ 2 / (n - 1) end
  assert(math.abs(v0 - 1) > 0.5, "the raw scores were not already unit-variance: " .. v0)
end

do print("  whiten_advantages: on by default for GAE, off on request")
  local p, b = scored()
  p:advantages(b)
  local s, n = 0, 0
  for _, row in ipairs(b.adv) do for _, a in ipairs(row) do s = s + a; n = n + 1 end end
  assert(math.abs(s / n) < 1e-9, "whitened advantages have mean 0")
  local q, c = scored{ whiten_advantages = false }
  q:advantages(c)
  s = 0
  for _, row in ipairs(c.adv) do for _, a in ipairs(row) do s = s + a end end
  assert(math.abs(s / n) > 1e-3, "raw GAE advantages keep their mean")
end

do print("  lr_schedule linear decays to 0 over the steps; vf_lr sets the value optimizer")
  local p = al.ppo.new(lm:clone(), base{ lr = 1e-3, vf_lr = 5e-4, lr_schedule = "linear", steps = 4 })
  assert(p:lr_now() == 1e-3)
  p:step()
  assert(math.abs(p:lr_now() - 0.75e-3) < 1e-15, "linear: lr (1 - iter / steps)")
  assert(math.abs(p.vopt:config().lr - 5e-4) < 1e-9, "vf_lr is the value optimizer's rate")
  local q = al.ppo.new(lm:clone(), base{ lr = 1e-3, steps = 4 })
  q:step()
  assert(q:lr_now() == 1e-3, "constant by default")
end

do print("  names: clip is the gradient-norm clip, ratio_clip and value_clip the PPO clips; one beta default")
  local p = al.ppo.new(lm:clone(), base{ clip = 0.5, ratio_clip = 0.1, value_clip = 0.3 })
  assert(p.opt:config().clip == 0.5 and p.vopt:config().clip == 0.5, "clip: both optimizers' gradient-norm clip")
  assert(p.o.ratio_clip == 0.1 and p.o.value_clip == 0.3)
  local q = al.ppo.new(lm:clone(), base())
  assert(q.opt:config().clip == 1.0 and q.o.ratio_clip == 0.2 and q.o.value_clip == 0.2, "defaults 1, 0.2, 0.2")
  assert(q.kl_ctl.beta == 0.05, "beta 0.05 without kl")
  local r = al.ppo.new(lm:clone(), base{ kl = { target = 1 } })
  assert(r.kl_ctl.beta == 0.05, "the same beta 0.05 with a kl table without beta")
end

do print("  value_init: the reward model's weights, or the policy's trunk with a new head")
  local rm = lm:clone()
  rm:set_head{ scalar = true, lm = false, seed = 2 }
  local p = al.ppo.new(lm:clone(), base{ reward = rm })
  local P, C = { prompts[1], prompts[2] }, { { 1, 2 }, { 4, 5 } }
  local vr, rr = train.scores(p.value, P, C), train.scores(rm, P, C)
  assert(vr[1] == rr[1] and vr[2] == rr[2], "value_init = reward (default): the value model starts as the RM")
  assert(p.value ~= rm, "a copy, not the RM itself")
  local q = al.ppo.new(lm:clone(), base{ reward = rm, value_init = "policy" })
  local vq = train.scores(q.value, P, C)
  assert(vq[1] ~= rr[1], "value_init = policy: a fresh scalar head")
  local vm = rm:clone()
  local s = al.ppo.new(lm:clone(), base{ value_model = vm })
  assert(s.value == vm, "value_model is used as given")
end

do print("  errors")
  fails("al.ppo: value_init must be reward or policy", al.ppo.new, lm:clone(), base{ value_init = "rm" })
  fails("al.ppo: option 'no_eos_penalty' must be a number", al.ppo.new, lm:clone(), base{ no_eos_penalty = true })
  fails("al.ppo: option 'reward_clip' must be a number in [0, inf]", al.ppo.new, lm:clone(), base{ reward_clip = -1 })
  fails("al.ppo: option 'score_scale' must be a number", al.ppo.new, lm:clone(), base{ score_scale = 0 / 0 })
  fails("al.ppo: option 'vf_lr' must be a number in [0, inf]", al.ppo.new, lm:clone(), base{ vf_lr = -1 })
  fails("al.ppo: lr_schedule must be constant or linear", al.ppo.new, lm:clone(), base{ lr_schedule = "cosine" })
  fails("al.ppo: option 'clip' now means the gradient-norm clip (as in every trainer); the ratio clip is 'ratio_clip'",
    al.ppo.new, lm:clone(), base{ clip = 0.2 })
  fails("al.grpo: option 'clip' now means the gradient-norm clip", al.grpo.new, lm:clone(), base{ clip = 0.2 })
  fails("al.ppo: unknown option 'grad_clip'", al.ppo.new, lm:clone(), base{ grad_clip = 1 })
  fails("al.ppo: option 'ratio_clip' must be a number in [0, inf]", al.ppo.new, lm:clone(), base{ ratio_clip = -1 })
  fails("al.ppo: value_model must be a model", al.ppo.new, lm:clone(), base{ value_model = 3 })
  fails("al.ppo: the value model has no scalar head", al.ppo.new, lm:clone(), base{ value_model = lm:clone() })
end

print("OK")
