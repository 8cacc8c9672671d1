-- Exact resume of the trainers not covered by test_train.lua (SFT), test_train_dpo.lua (DPO) and
-- test_train_rl.lua (PPO): the reward model and GRPO. A run killed mid-way and resumed from its
-- last checkpoint ends with the same bits as an uninterrupted run (OPENBLAS_NUM_THREADS=1).
print("testing resume of reward_model and grpo")
local al = require "al"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local tmpdir, rmrf, param_bytes, with = T.tmpdir, T.rmrf, T.param_bytes, T.merge

local function tiny(seed) return al.gpt{ vocab = 12, ctx = 12, d = 16, heads = 2, layers = 1, seed = seed } end

do print("  reward model: killed in step 6, resumed from step 4")
  local rng, prefs = al.rng(1), {}
  for i = 1, 96 do
    local noise = rng:int(8) - 1
    prefs[i] = { prompt = { rng:int(8) - 1 }, chosen = { noise, 9 }, rejected = { noise, 3 } }
  end
  local base = { steps = 8, batch_size = 16, lr = 3e-3, eval = 0, progress = false }
  local a = al.reward_model(tiny(6), prefs, base)
  local dir = tmpdir("rm")
  local b = tiny(6)
  local ok, err = T.kill_at_backward(b, 6, al.reward_model, b, prefs, with(base, { ckpt = dir, save_every = 2 }))
  assert(not ok and tostring(err):find("killed"), tostring(err))
  assert(al.json.read(dir .. "/latest.json").step == 4, "the last checkpoint is step 4")
  local c, hc = al.reward_model(tiny(6), prefs, with(base, { resume = dir }))
  assert(hc[1].step == 5 and #hc == 4, "resumed at step 5")
  assert(param_bytes(c) == param_bytes(a), "RM resume gives the same final bits")
  rmrf(dir)
end

do print("  grpo: killed in step 5, resumed from step 4")
  local prompts = {}
  for i = 1, 8 do prompts[i] = { i % 12, (i * 5) % 12 } end
  local function count3(_, c)
    local n = 0
    for _, t in ipairs(c) do if t == 3 then n = n + 1 end end
    return n
  end
  local lm = tiny(7)
  local base = { reward = count3, prompts = prompts, max_new = 6, steps = 7, batch_size = 16, group = 4,
                 lr = 5e-3, kl = 0.05, progress = false }
  local a = al.grpo(lm:clone(), base)
  local dir = tmpdir("grpo")
  local calls = 0
  local ok, err = pcall(al.grpo, lm:clone(), with(base, { ckpt = dir, save_every = 2, reward = function(p, c)
    calls = calls + 1
    if calls > 4 * 16 + 3 then error("killed") end
    return count3(p, c)
  end }))
  assert(not ok and tostring(err):find("killed"), tostring(err))
  assert(al.json.read(dir .. "/latest.json").step == 4, "the last checkpoint is step 4")
  local c, hc = al.grpo(lm:clone(), with(base, { resume = dir }))
  assert(hc[1].step == 5 and #hc == 3, "resumed at step 5")
  assert(param_bytes(c) == param_bytes(a), "GRPO resume gives the same final bits")
  rmrf(dir)
end

print("OK")
