-- `mpirun -np N alignlab bench/bench_reduce.lua [REPS]`: the cost of al.mpi.allreduce_grads alone
-- on the small config's slab (3.3M floats), each call after a barrier so that waiting for a slower
-- rank is left out as far as possible; rank 0 prints the median ms and the bytes per rank.
local al = require "al"
local mpi, core = al.mpi, al.core
local reps = math.tointeger(tonumber(arg[1] or "21"))
local m = al.gpt{ vocab = 512, ctx = 128, d = 256, heads = 8, layers = 4, seed = 1 }
m:forward({ { 1, 2, 3 } }, { per_token = false })
m:zero_grad()
m:backward{ dsum = { -1 } }
local t = {}
for i = 1, reps do
  mpi.barrier()
  local t0 = core.time()
  mpi.allreduce_grads(m)
  t[i] = core.time() - t0
end
table.sort(t)
local P = #mpi.slab(m, "grads") // 4
if mpi.is_root() then
  print(core.json.encode{ ranks = mpi.size(), params = P, ms_median = 1000 * t[(reps + 1) // 2],
                          ms_min = 1000 * t[1], bytes_received = 4 * P * (mpi.size() - 1) })
end
