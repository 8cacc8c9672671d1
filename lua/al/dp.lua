-- alignlab: data-parallel gradient steps, the one place where a batch is split into parts over
-- MPI ranks (al.mpi) and micro-batches. al.train's Ctx:dp_update and PPO's update loop call
-- M.grads; the trainers only say how to run a part forward, what the objective of the whole batch
-- is, and what a part's backward gets.
--
-- The scheme (exact, and the same on every rank):
--   1. the global batch idx is cut into K = size * micro contiguous parts (M.parts); rank r owns
--      parts r*micro + 1 .. (r+1)*micro;
--   2. each rank runs its parts forward and the per-item outputs of every part are gathered
--      (al.mpi.allgather; a few numbers per sequence), so every rank sees the whole batch's
--      outputs in batch order and computes the objective (loss, metrics, per-item gradients of
--      the loss) on all of it: the normalisation (mean over tokens, pairs or sequences of the
--      global batch) is the single-process one, and the metrics are identical on every rank;
--   3. each rank back-propagates its parts' slices of the per-item gradients, each into a zeroed
--      slab, adding the slabs in part order; al.mpi.allreduce_grads adds the ranks' slabs in rank
--      order. With one part per rank this is, bit for bit, what one process with micro = size
--      computes (g_0 + g_1 + ... in part order): the single-process reference of mpirun -np N.
--      With micro > 1 the forward of a part is run again before its backward (the model keeps
--      one forward's activations); that doubles the forward cost of the reference path only.
-- K = 1 (one process, micro = 1) is the plain path: forward, objective, backward, no copies.
-- Not here: the optimizer step and the checks (al.train's Ctx), what the parts contain (trainers).
local mpi = require "al.mpi"

local M = {}

-- idx (a list) cut into k contiguous parts, the first n % k one longer than the rest.
function M.parts(idx, k)
  local n, out, pos = #idx, {}, 1
  for j = 1, k do
    local len = n // k + (j <= n % k and 1 or 0)
    out[j] = table.move(idx, pos, pos + len - 1, 1, {})
    pos = pos + len
  end
  return out
end

-- Concatenate per-item output tables (each key a list with one entry per item) in order.
local function concat_outs(list)
  local full = {}
  for _, o in ipairs(list) do
    if o then
      for key, arr in pairs(o) do
        local dst = full[key] or {}
        full[key] = table.move(arr, 1, #arr, #dst + 1, dst)
      end
    end
  end
  return full
end

-- The slice [a, a + n) of every per-item list of g (other values are passed as they are).
local function slice(g, a, n)
  local out = {}
  for key, v in pairs(g) do
    out[key] = type(v) == "table" and table.move(v, a, a + n - 1, 1, {}) or v
  end
  return out
end

-- The number of parts per rank: opts.micro_batches (nil: 1), checked.
function M.micro(what, micro)
  micro = micro or 1
  if math.type(micro) ~= "integer" or micro < 1 then
    error(string.format("%s: option 'micro_batches' must be a positive integer", what), 0)
  end
  return micro
end

-- Fill model's gradient slab for the batch idx (see the scheme above) and return the objective's
-- loss and metrics. f = {
--   forward = function(part) -> outs: per-item lists for the items of part (a non-empty list of
--             idx entries), e.g. { sum = {...}, count = {...} };
--   objective = function(outs) -> g, loss, metrics: outs of the whole batch in idx order; g holds
--             per-item lists of gradients (one entry per item of idx) and any other values;
--   backward = function(part, g_part) -> the argument of model:backward for that part (g_part:
--             g's lists sliced to the part) }
-- micro: parts per rank. Every rank must call it with the same idx.
function M.grads(model, idx, f, micro)
  local size, rank = mpi.size(), mpi.rank()
  micro = micro or 1
  if size == 1 and micro == 1 then
    local g, loss, metrics = f.objective(f.forward(idx))
    model:zero_grad()
    model:backward(f.backward(idx, g))
    return loss, metrics
  end
  local parts = M.parts(idx, size * micro)
  local first = rank * micro
  local outs = {}
  for j = 1, micro do
    local p = parts[first + j]
    outs[j] = #p > 0 and f.forward(p) or false
  end
  local all = {}
  for _, r in ipairs(size > 1 and mpi.allgather(outs) or { outs }) do
    for j = 1, micro do all[#all + 1] = r[j] end
  end
  local g, loss, metrics = f.objective(concat_outs(all))
  local off = 1
  for j = 1, first do off = off + #parts[j] end
  local sum
  for j = 1, micro do
    local p = parts[first + j]
    model:zero_grad()
    if #p > 0 then
      if micro > 1 then f.forward(p) end -- the activations of this part, again
      model:backward(f.backward(p, slice(g, off, #p)))
    end
    if sum then mpi.add_grads(model, sum) end
    if j < micro then sum = mpi.slab(model, "grads") end
    off = off + #p
  end
  if size > 1 then mpi.allreduce_grads(model) end
  return loss, metrics
end

return M
