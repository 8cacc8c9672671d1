-- Data-parallel training of the small config (V 512, ctx 128, d 256, 8 heads, 4 layers; 3.3M
-- params): `[mpirun -np N] alignlab bench/bench_dp.lua BATCH [STEPS]` trains al.pretrain on
-- random 128-token sequences with global batch BATCH split over the N ranks (al.dp) and prints,
-- from rank 0, one JSON line: ranks, global batch, median ms per step (steps after the first),
-- median ms per step inside al.mpi.allreduce_grads (the gradient reduction: an MPI_Allgather of
-- the slab in chunks and the rank-order sum), and the bytes each rank sends and receives per step
-- in that reduction. Run with OPENBLAS_NUM_THREADS=1 (one thread per rank). bench/dp.sh runs the
-- weak and strong scaling series.
local al = require "al"
local mpi = al.mpi
local core = al.core
local B = math.tointeger(tonumber(arg[1] or "16"))
local steps = math.tointeger(tonumber(arg[2] or "6"))
local V, T = 512, 128
local m = al.gpt{ vocab = V, ctx = T, d = 256, heads = 8, layers = 4, seed = 1 }
local rng = core.rng(7, 0)
local data = {}
for i = 1, B * steps do
  local s = {}
  for t = 1, T do s[t] = rng:int(0, V - 1) end
  data[i] = s
end
-- time the reduction: al.dp calls al.mpi.allreduce_grads through the module table
local red, t_red = mpi.allreduce_grads, {}
mpi.allreduce_grads = function(model) -- called once per step by al.dp
  local t0 = core.time()
  red(model)
  t_red[#t_red + 1] = core.time() - t0
end
local _, hist = al.pretrain(m, data, { batch_size = B, steps = steps, lr = 1e-3, warmup = 0, progress = false,
  seed = 1 })
local function median(t)
  table.sort(t)
  return #t == 0 and 0 or (#t % 2 == 1 and t[(#t + 1) // 2] or (t[#t // 2] + t[#t // 2 + 1]) / 2)
end
local times, reds = {}, {}
for i = 2, #hist do times[#times + 1] = hist[i].time end
for i = 2, #t_red do reds[#reds + 1] = t_red[i] end
local nparams = #mpi.slab(m, "params") // 4
local size = mpi.size()
local res = {
  ranks = size, batch = B, per_rank = B / size, steps = steps, params = nparams,
  ms_step = 1000 * median(times),
  ms_reduce = 1000 * median(reds),
  bytes_sent = size > 1 and nparams * 4 or 0,               -- per rank per step (MPI_Allgather)
  bytes_received = size > 1 and nparams * 4 * (size - 1) or 0,
}
local all = mpi.size() > 1 and mpi.allgather(res.ms_reduce) or { res.ms_reduce }
res.ms_reduce = math.max(table.unpack(all))
if mpi.is_root() then print(core.json.encode(res)) end
