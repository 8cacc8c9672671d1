-- One tiny deterministic run of each trainer, as a script the kill/resume tests start as a child
-- process (alignlab tests/lua/lib/trainers.lua TRAINER MODE DIR OUT [STEPS]):
--   TRAINER  pretrain | sft | rm | dpo | ppo | grpo
--   MODE     plain (no checkpoints) | ckpt (checkpoint to DIR every 2 steps and resume from DIR's
--            latest checkpoint when there is one, so a killed run is continued by running it again)
--   OUT      directory the final model is saved to (OUT/model; PPO's value model in OUT/value)
-- Everything is seeded: two complete runs give the same bits (with the same BLAS kernel/threads).
local al = require "al"
local trainer, mode, dir, out = arg[1], arg[2], arg[3], arg[4]
local steps = math.tointeger(tonumber(arg[5] or "")) or 30
assert(trainer and (mode == "plain" or mode == "ckpt") and out, "usage: trainers.lua TRAINER plain|ckpt DIR OUT [STEPS]")

local V = 16
local function tiny(seed) return al.gpt{ vocab = V, ctx = 12, d = 16, heads = 2, layers = 1, seed = seed } end
local base = { steps = steps, batch_size = 16, lr = 5e-3, progress = false }
if mode == "ckpt" then base.ckpt, base.resume, base.save_every = dir, dir, 2 end
local function with(extra)
  local o = {}
  for k, v in pairs(base) do o[k] = v end
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local rng = al.rng(11)
local function prefs(n)
  local p = {}
  for i = 1, n do
    local noise = rng:int(8) - 1
    p[i] = { prompt = { rng:int(8) - 1 }, chosen = { noise, 9 }, rejected = { noise, 3 } }
  end
  return p
end
local prompts = {}
for i = 1, 8 do prompts[i] = { i % V, (i * 5) % V } end
local function count3(_, c)
  local n = 0
  for _, t in ipairs(c) do if t == 3 then n = n + 1 end end
  return n
end

local model, value
if trainer == "pretrain" then
  local seqs = {}
  for i = 1, 64 do
    local s = {}
    for k = 1, 10 do s[k] = (i * k + rng:int(3)) % V end
    seqs[i] = s
  end
  model = al.pretrain(tiny(1), seqs, with{ warmup = 3 })
elseif trainer == "sft" then
  local data = {}
  for i = 1, 96 do
    local a, b = rng:int(8) - 1, rng:int(8) - 1
    data[i] = { prompt = { a, b }, completion = { (a + b) % 8 + 8, 15 } }
  end
  model = al.sft(tiny(2), data, with{ warmup = 3 })
elseif trainer == "rm" then
  model = al.reward_model(tiny(3), prefs(96), with{ eval = 0, lr = 3e-3 })
elseif trainer == "dpo" then
  model = al.dpo(tiny(4), prefs(64), with{ beta = 0.2 })
elseif trainer == "ppo" then
  local p = al.ppo.new(tiny(5), with{ reward = count3, prompts = prompts, max_new = 6,
    kl = { target = 1, beta = 0.1, horizon = 100 } })
  model = p:run()
  value = p.value
elseif trainer == "grpo" then
  model = al.grpo(tiny(6), with{ reward = count3, prompts = prompts, max_new = 6, group = 4, kl = 0.05 })
else
  error("trainers.lua: unknown trainer " .. trainer)
end
model:save(out .. "/model")
if value then value:save(out .. "/value") end
print("done " .. trainer)
