-- alignlab: al.mpi, processes working together under mpirun / srun (Open MPI). The C primitives
-- are in lua/l_mpi.c (al.core._mpi); this file serialises Lua values and reduces numbers in fixed
-- rank order. Sweeps over ranks are in al.sweep; data-parallel training in al.dp (the trainers'
-- Ctx:dp_update, PPO's update).
--
--   al.mpi.available()            MPI compiled in (false: every collective raises NO_MPI)
--   al.mpi.rank(), size()         0 and 1 without a launcher (or without MPI)
--   al.mpi.is_root()              rank() == 0
--   al.mpi.barrier()
--   al.mpi.bcast(v, root)         root's v (nil, boolean, number, string, nested table) on all
--   al.mpi.allgather(v)           { v of rank 0, v of rank 1, ... } on all
--   al.mpi.allreduce(x, op)       x a number or an array of numbers; op "sum" (default), "min",
--                                 "max"; ranks combined in rank order 0..N-1, never MPI_SUM
--   al.mpi.allreduce_grads(m)     m's gradient slab := g_0 + g_1 + ... (float, rank order)
--   al.mpi.bcast_params(m, root)  root's parameters, bit for bit, on every rank
--   al.mpi.abort(msg)             print "rank R: msg" and stop every rank
--   al.mpi.slab(m, "params"|"grads"), al.mpi.add_grads(m, s)   snapshots (no MPI needed)
--
-- The rule for outputs: only the root (al.mpi.is_root()) writes logs, checkpoints and figures,
-- unless a caller decides otherwise (al.sweep gives each point its own directory instead).
--
-- The gradient promise: allreduce_grads adds in float, starting from rank 0's slab:
-- ((g_0 + g_1) + g_2) + ... . One process reproduces it bit for bit by computing each micro-batch
-- into a zeroed slab and adding it to the running sum (s = slab(m, "grads") after micro-batch 0;
-- then per micro-batch k: zero_grad, backward, add_grads(m, s), s = slab(m, "grads")).
-- Two backwards into one slab without zeroing are NOT the same bits: the core's backward adds
-- bias and LayerNorm gradients row by row into the slab (g_0 + d_1 + d_2 ... rather than
-- g_0 + (d_1 + d_2 ...)), so the micro-batch order of rounding differs.
local C = require("al.core")._mpi

local M = {}
M.NO_MPI = C.NO_MPI
for _, k in ipairs { "available", "active", "rank", "size", "barrier", "allreduce_grads",
                     "bcast_params", "slab", "add_grads", "abort" } do
  M[k] = C[k]
end

function M.is_root() return C.rank() == 0 end

-- ---- serialising Lua values (bit-exact numbers, any key type, no cycles) ----

local function ser(v, out, depth)
  local t = type(v)
  if t == "nil" then out[#out + 1] = "z"
  elseif t == "boolean" then out[#out + 1] = v and "T" or "F"
  elseif math.type(v) == "integer" then out[#out + 1] = string.pack("<c1j", "i", v)
  elseif t == "number" then out[#out + 1] = string.pack("<c1d", "d", v)
  elseif t == "string" then out[#out + 1] = string.pack("<c1s4", "s", v)
  elseif t == "table" then
    if depth > 100 then error("al.mpi: table nested too deep (or a cycle)", 0) end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    out[#out + 1] = string.pack("<c1I4", "t", #keys)
    for _, k in ipairs(keys) do
      ser(k, out, depth + 1)
      ser(v[k], out, depth + 1)
    end
  else
    error("al.mpi: cannot send a " .. t, 0)
  end
end

local function deser(s, pos)
  local tag = s:sub(pos, pos)
  pos = pos + 1
  if tag == "z" then return nil, pos
  elseif tag == "T" then return true, pos
  elseif tag == "F" then return false, pos
  elseif tag == "i" then return string.unpack("<j", s, pos)
  elseif tag == "d" then return string.unpack("<d", s, pos)
  elseif tag == "s" then return string.unpack("<s4", s, pos)
  elseif tag == "t" then
    local n
    n, pos = string.unpack("<I4", s, pos)
    local t = {}
    for _ = 1, n do
      local k, v
      k, pos = deser(s, pos)
      v, pos = deser(s, pos)
      t[k] = v
    end
    return t, pos
  end
  error("al.mpi: corrupt message", 0)
end

function M.encode(v)
  local out = {}
  ser(v, out, 0)
  return table.concat(out)
end

function M.decode(s) return (deser(s, 1)) end

-- ---- collectives on Lua values ----

function M.bcast(v, root)
  root = root or 0
  return M.decode(C.bcast(C.rank() == root and M.encode(v) or "", root))
end

function M.allgather(v)
  local all = C.allgather(M.encode(v))
  for i, s in ipairs(all) do all[i] = M.decode(s) end
  return all
end

local ops = {
  sum = function(a, b) return a + b end,
  min = math.min,
  max = math.max,
}

function M.allreduce(x, op)
  op = op or "sum"
  local f = ops[op] or error("al.mpi.allreduce: op must be 'sum', 'min' or 'max' (got " ..
                             tostring(op) .. ")", 2)
  local scalar = type(x) == "number"
  if not scalar and type(x) ~= "table" then
    error("al.mpi.allreduce: a number or an array of numbers expected, got " .. type(x), 2)
  end
  local arr = scalar and { x } or x
  for i = 1, #arr do
    if type(arr[i]) ~= "number" then error(("al.mpi.allreduce: element %d is not a number"):format(i), 2) end
  end
  local all = M.allgather(arr)
  for r = 2, #all do
    if #all[r] ~= #arr then
      error(("al.mpi.allreduce: rank %d has %d numbers, rank 0 has %d"):format(r - 1, #all[r], #all[1]), 2)
    end
  end
  local res = {}
  for i = 1, #arr do
    local acc = all[1][i]
    for r = 2, #all do acc = f(acc, all[r][i]) end
    res[i] = acc
  end
  return scalar and res[1] or res
end

return M
