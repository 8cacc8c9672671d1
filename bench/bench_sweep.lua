-- A sweep for bench/dp.sh: `[mpirun -np N] alignlab sweep bench/bench_sweep.lua OUT POINTS`, POINTS
-- points (seeds), each a fixed amount of work: 20 pretraining steps of the tiny config (V 256,
-- ctx 64, d 128, 4 heads, 2 layers) on batch 8 of random sequences. Under MPI point i runs on rank
-- (i-1) % N (al.sweep), one BLAS thread per rank.
local al = require "al"
local out, points = ...
points = math.tointeger(tonumber(points or "4"))
local seeds = {}
for i = 1, points do seeds[i] = i end
return {
  grid = { seed = seeds },
  out = out,
  run = function(p)
    local m = al.gpt{ vocab = 256, ctx = 64, d = 128, heads = 4, layers = 2, seed = p.seed }
    local rng = al.core.rng(p.seed, 3)
    local data = {}
    for i = 1, 160 do
      local s = {}
      for t = 1, 64 do s[t] = rng:int(0, 255) end
      data[i] = s
    end
    local _, h = al.pretrain(m, data, { batch_size = 8, steps = 20, progress = false, seed = p.seed })
    return { loss = h[#h].loss }
  end,
}
