-- al.mpi and al.sweep: single-process semantics always; under `mpirun -np 2` (when mpirun is
-- installed and alignlab was built with MPI) values of the collectives, the gradient bit-identity
-- promise, an error on rank 1 stopping both ranks, and sweeps split over ranks, resumed after a
-- kill. Without MPI compiled in, the collectives' error message.
print("testing al.mpi and al.sweep")
local al = require "al"
local core = require "al.core"
local SHELL = os.getenv("ALIGNLAB_SHELL") or core.exe()
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local shq, read_file = T.shell_quote, T.read_file
local mpi = al.mpi
local HERE = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "mpi/"

-- run a shell command with a time limit; returns output (stdout + stderr), exit code, seconds
local function run(cmd, limit)
  local outf = os.tmpname()
  local t0 = core.time()
  local _, _, code = os.execute(("timeout -s KILL %d sh -c %s >%s 2>&1"):format(limit or 60, shq(cmd), shq(outf)))
  local out = read_file(outf) or ""
  os.remove(outf)
  return out, code, core.time() - t0
end

local tmp = os.tmpname()
os.remove(tmp)
core.mkdir_p(tmp)

do print("  one process")
  assert(mpi.rank() == 0 and mpi.size() == 1 and mpi.is_root() and not mpi.active())
  if mpi.available() then
    assert(mpi.bcast({ 1, "a" })[2] == "a" and mpi.allreduce(0.5) == 0.5)
    assert(mpi.allreduce({ 1, 2 }, "max")[2] == 2)
    mpi.barrier()
    local m = al.gpt{ vocab = 7, ctx = 4, d = 8, heads = 2, layers = 1, seed = 1 }
    local p = mpi.slab(m, "params")
    mpi.bcast_params(m, 0)
    assert(mpi.slab(m, "params") == p)
    local ok, err = pcall(mpi.allreduce_grads, m)
    assert(not ok and err:find("no gradients"), err)
  else
    for _, f in ipairs { "barrier", "bcast", "allgather", "allreduce" } do
      local ok, err = pcall(mpi[f], 1)
      assert(not ok and err:find(mpi.NO_MPI, 1, true), f .. ": " .. tostring(err))
    end
    assert(mpi.NO_MPI == "al.mpi: this alignlab was built without MPI (install libopenmpi-dev and rebuild)")
  end
  local v = mpi.decode(mpi.encode({ 1, 0.1, "s", false, { k = math.pi }, [10] = -3 }))
  assert(v[2] == 0.1 and v[5].k == math.pi and v[10] == -3 and v[4] == false)
end

local function sweep(out, extra, env, launcher)
  return run(("%s %s %s sweep %s %s %s"):format(env or "", launcher or "", shq(SHELL),
             shq(HERE .. "sweep4.lua"), shq(out), extra or ""))
end

do print("  sweeps in one process: order, jobs, resume, a failing point")
  local out, code = sweep(tmp .. "/a")
  assert(code == 0, out)
  assert(read_file(tmp .. "/a.runs") == "0.25 1\n0.25 2\n0.5 1\n0.5 2\n", read_file(tmp .. "/a.runs"))
  local md = read_file(tmp .. "/a/summary.md")
  assert(md:find("| 1 | lr=0.25,seed=1 | done | 0.25 | 1 |", 1, true), md)
  out, code = sweep(tmp .. "/b", "", "SWEEP_JOBS=2")
  assert(code == 0, out)
  assert(read_file(tmp .. "/b/summary.json") == read_file(tmp .. "/a/summary.json"))
  -- killed inside point 2: point 1 is done and not run again
  out, code = sweep(tmp .. "/k", "2")
  assert(code ~= 0, out)
  assert(read_file(tmp .. "/k.runs") == "0.25 1\n0.25 2\n")
  out, code = sweep(tmp .. "/k")
  assert(code == 0, out)
  assert(read_file(tmp .. "/k.runs") == "0.25 1\n0.25 2\n0.25 2\n0.5 1\n0.5 2\n", read_file(tmp .. "/k.runs"))
  assert(read_file(tmp .. "/k/summary.json") == read_file(tmp .. "/a/summary.json"))
  -- a failing point is recorded, the others run, the exit status is 1
  out, code = sweep(tmp .. "/f", "", "SWEEP_FAIL=1")
  assert(code == 1, out)
  assert(out:find("point 2 (lr=0.25,seed=2)", 1, true) and out:find("deliberate failure"), out)
  assert(read_file(tmp .. "/f.runs"):find("0.5 2\n$"))
  assert(read_file(tmp .. "/f/summary.md"):find("| 2 | lr=0.25,seed=2 | error |", 1, true))
  -- al.sweep from a script, and a Slurm array task: its share only
  out, code = run(("SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=2 %s -e %s"):format(shq(SHELL),
    shq(("local s = loadfile(%q)(%q); s.jobs = 1; require('al').sweep(s)"):format(HERE .. "sweep4.lua", tmp .. "/s"))))
  assert(code == 0, out)
  assert(read_file(tmp .. "/s/summary.md"):find("| 1 | lr=0.25,seed=1 | pending |", 1, true))
  assert(read_file(tmp .. "/s/summary.md"):find("| 2 | lr=0.25,seed=2 | done |", 1, true))
end

local have_mpirun = os.execute("command -v mpirun >/dev/null 2>&1")
if not mpi.available() then
  print("  skipped the mpirun tests: this alignlab was built without MPI")
elseif not have_mpirun then
  print("  skipped the mpirun tests: mpirun is not installed (make deps installs openmpi-bin)")
else
  local MPIRUN = "mpirun --oversubscribe --allow-run-as-root --bind-to none -np 2 "
  -- Open MPI keeps allocations until exit (ompi_op_base_op_select, its plugins): no leak check
  if os.getenv("ALIGNLAB_SANITIZE") then MPIRUN = "ASAN_OPTIONS=detect_leaks=0 " .. MPIRUN end
  local function np2(script)
    return run(MPIRUN .. shq(SHELL) .. " " .. shq(HERE .. script))
  end
  do print("  mpirun -np 2: rank, size, bcast, allgather, allreduce")
    local out, code = np2("basic.lua")
    assert(code == 0 and out:find("rank 0 OK") and out:find("rank 1 OK"), out)
  end
  do print("  mpirun -np 2: allreduce_grads equals one process accumulating g1 + g2, bit for bit")
    local out, code = np2("grads.lua")
    assert(code == 0 and out:find("rank 0 OK") and out:find("rank 1 OK"), out)
  end
  do print("  mpirun -np 2: an error on rank 1 stops both ranks")
    local out, code, secs = np2("fail.lua")
    assert(code ~= 0 and out:find("alignlab: rank 1: ", 1, true) and out:find("deliberate failure"), out)
    assert(not out:find("WRONG") and secs < 30, out)
  end
  do print("  mpirun -np 2: a sweep split over ranks equals the local sweep; resumed after a kill")
    local out, code = sweep(tmp .. "/m", "", "", MPIRUN)
    assert(code == 0, out)
    assert(read_file(tmp .. "/m/summary.json") == read_file(tmp .. "/a/summary.json"))
    out, code = sweep(tmp .. "/mk", "2", "", MPIRUN)
    assert(code ~= 0, out)
    assert(read_file(tmp .. "/mk/001-lr=0.25,seed=1/done.json"), out)
    out, code = sweep(tmp .. "/mk", "", "", MPIRUN)
    assert(code == 0, out)
    local runs = read_file(tmp .. "/mk.runs")
    local _, n1 = runs:gsub("0.25 1\n", "")
    assert(n1 == 1, "finished point 1 ran again: " .. runs)
    assert(read_file(tmp .. "/mk/summary.json") == read_file(tmp .. "/a/summary.json"))
  end
end
os.execute("rm -rf " .. shq(tmp))
print("OK")
