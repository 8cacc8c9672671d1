-- Run by test_mpi_dp.lua: tiny SFT, pretraining, reward-model, DPO, PPO and GRPO runs, either
-- under mpirun -np 2 (micro_batches = 1: each rank a half of every batch) or in one process with
-- micro_batches = MICRO (argument 2). Rank 0 writes OUT/<trainer>.params (the final weights, raw
-- float bytes) and OUT/<trainer>.jsonl (the log); every rank checks that its weights equal rank
-- 0's. Usage: dp.lua OUT MICRO
local al = require "al"
local mpi = al.mpi
local out, micro = arg[1], math.tointeger(tonumber(arg[2] or "1"))
local V = 13
local function model(seed, scalar)
  local m = al.gpt{ vocab = V, ctx = 16, d = 16, heads = 2, layers = 2, seed = seed }
  if scalar then m:set_head{ scalar = true, lm = false, seed = seed } end
  return m
end
local rng = al.core.rng(42, 0)
local function seq(n)
  local s = {}
  for i = 1, n do s[i] = rng:int(0, V - 1) end
  return s
end
-- odd batch sizes on purpose: parts of unequal size (7 = 4 + 3)
local lm_data, prefs, prompts = {}, {}, {}
for i = 1, 20 do lm_data[i] = { prompt = seq(2 + i % 3), completion = seq(2 + i % 4) } end
for i = 1, 14 do prefs[i] = { prompt = seq(3), chosen = seq(1 + i % 3), rejected = seq(2 + i % 2) } end
for i = 1, 6 do prompts[i] = seq(2 + i % 2) end

local function save(name, m, hist)
  local p = mpi.slab(m, "params")
  local all = mpi.allgather(p)
  for r = 2, #all do
    if all[r] ~= all[1] then error(name .. ": rank " .. (r - 1) .. " holds other weights than rank 0", 0) end
  end
  if not mpi.is_root() then return end
  local f = assert(io.open(out .. "/" .. name .. ".params", "wb"))
  f:write(p)
  f:close()
  -- the per-step metrics, wall times dropped
  local lines = {}
  for _, h in ipairs(hist) do
    local t = {}
    for k, v in pairs(h) do if not k:find("^time") then t[k] = v end end
    lines[#lines + 1] = al.core.json.encode(t)
  end
  f = assert(io.open(out .. "/" .. name .. ".jsonl", "wb"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
end

local common = { progress = false, micro_batches = micro, lr = 3e-3, warmup = 1 }
local function with(t)
  local o = {}
  for k, v in pairs(common) do o[k] = v end
  for k, v in pairs(t) do o[k] = v end
  return o
end

local m = model(1)
local _, h = al.sft(m, lm_data, with{ batch_size = 7, steps = 4 })
save("sft", m, h)
m = model(2)
_, h = al.pretrain(m, lm_data, with{ batch_size = 8, steps = 3, clip = 0.05 })
save("pretrain", m, h)
m = model(3, true)
_, h = al.reward_model(m, prefs, with{ batch_size = 7, steps = 4 })
save("rm", m, h)
m = model(4)
_, h = al.dpo(m, prefs, with{ batch_size = 6, steps = 4 })
save("dpo", m, h)
-- PPO: rollouts split over ranks with one random stream per completion; a reward model scores
local rm = model(5, true)
local ppo = al.ppo.new(model(6), { reward = rm, prompts = prompts, steps = 3, batch_size = 6, max_new = 4,
  minibatches = 2, epochs = 2, lr = 3e-3, rng_per_sequence = true, micro_batches = micro, progress = false })
local pol
pol, h = ppo:run()
save("ppo", pol, h)
save("ppo_value", ppo.value, h)
local function threes(_, c) -- a reward with spread inside each group
  local s = 0
  for _, t in ipairs(c) do if t % 3 == 0 then s = s + 1 end end
  return s
end
local g0 = mpi.slab(model(7), "params")
local g = al.grpo(model(7), { reward = threes, prompts = prompts, steps = 2,
  batch_size = 8, group = 4, max_new = 4, lr = 3e-3, rng_per_sequence = true, micro_batches = micro,
  progress = false })
if mpi.slab(g, "params") == g0 then error("grpo: the policy did not move", 0) end
save("grpo", g, {})
print("rank " .. mpi.rank() .. " OK")
