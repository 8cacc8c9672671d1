-- A sweep of 4 points for test_mpi.lua: `alignlab sweep sweep4.lua OUT [KILL_AT]`. Each run
-- appends its point to OUT.runs; with KILL_AT = i the process is killed (SIGKILL) inside point i.
local out, kill_at = ...
return {
  grid = { seed = { 1, 2 }, lr = { 0.25, 0.5 } },
  out = out,
  jobs = tonumber(os.getenv("SWEEP_JOBS") or "1"),
  run = function(p, dir)
    local f = assert(io.open(out .. ".runs", "a"))
    f:write(p.lr, " ", p.seed, "\n")
    f:close()
    if kill_at and dir:match("/00" .. kill_at .. "%-") then
      -- under mpirun point 1 runs on the other rank: let it finish first
      os.execute("for i in $(seq 100); do ls " .. out .. "/001-*/done.json >/dev/null 2>&1 && break; sleep 0.1; done")
      os.execute("kill -9 $PPID")
    end
    if p.lr == 0.25 and p.seed == 2 and os.getenv("SWEEP_FAIL") then error("deliberate failure") end
    return { score = p.lr * p.seed, seed = p.seed }
  end,
}
