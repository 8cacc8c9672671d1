-- Run by test_mpi.lua under mpirun -np 2: two ranks each backpropagating half the batch, combined
-- by allreduce_grads, equal bit for bit one process accumulating the halves (half 1 into a zeroed
-- slab, half 2 into a zeroed slab, added: g1 + g2); after an AdamW step the weights agree too.
local al = require "al"
local mpi = al.mpi
local r = mpi.rank()
local function model(seed) return al.gpt{ vocab = 11, ctx = 8, d = 16, heads = 2, layers = 2, seed = seed } end
local halves = { { { 1, 2, 3, 4, 5 }, { 3, 3, 1, 7 } }, { { 9, 8, 2 }, { 4, 10, 6, 5, 1, 2 } } }
local function backward(m, seqs)
  m:zero_grad()
  m:forward(seqs, { per_token = false })
  m:backward{ dsum = { -1, -0.5 } }
end

-- every rank starts from rank 0's weights
local m = model(1 + r)
mpi.bcast_params(m, 0)
local ref = model(1)
assert(mpi.slab(m, "params") == mpi.slab(ref, "params"), "bcast_params: weights differ")

-- data parallel: rank r takes half r+1
backward(m, halves[r + 1])
mpi.allreduce_grads(m)

-- one process, the same two micro-batches in the same order
backward(ref, halves[1])
local acc = mpi.slab(ref, "grads")
backward(ref, halves[2])
mpi.add_grads(ref, acc)
assert(mpi.slab(m, "grads") == mpi.slab(ref, "grads"), "allreduce_grads differs from g1 + g2")
local g = mpi.allgather(mpi.slab(m, "grads"))
assert(g[1] == g[2], "ranks hold different gradients")

-- the optimizer step is the same everywhere
local opt, ropt = al.adamw(m, { lr = 1e-2 }), al.adamw(ref, { lr = 1e-2 })
opt:step(m)
ropt:step(ref)
assert(mpi.slab(m, "params") == mpi.slab(ref, "params"), "weights differ after the step")
local p = mpi.allgather(mpi.slab(m, "params"))
assert(p[1] == p[2], "ranks hold different weights")
print("rank " .. r .. " OK")
