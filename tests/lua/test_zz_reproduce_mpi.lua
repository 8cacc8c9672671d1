-- `mpirun -np 2 alignlab reproduce --smoke NAMES` (the shared-model builds and the experiments
-- split over the two ranks, lua/al/reproduce.lua) gives the results of a one-machine run: the
-- JSONs equal without their wall times, git revision and machine record, the SVGs byte for byte,
-- CLAIMS.md the same. Each run starts from an empty model cache, so the builds are split too.
-- Skipped without MPI, without mpirun, and under the sanitizer build (as the smoke test is).
print("testing mpirun -np 2 reproduce --smoke")
local al = require "al"
local util = require "al.util"
local json = al.core.json
if os.getenv("ALIGNLAB_SANITIZE") then
  print("skipped under the sanitizer build (make test runs it)")
  print("OK")
  return
end
if not al.mpi.available() or not os.execute("command -v mpirun >/dev/null 2>&1") then
  print("skipped: no MPI in this build, or no mpirun")
  print("OK")
  return
end
local NAMES = { "labelers", "frontier", "shift" }
local tmp = os.tmpname()
os.remove(tmp)
local exe = al.core.exe()
local q = util.shell_quote
local function reproduce(dir, launcher)
  local cmd = ("ALIGNLAB_CACHE=%s ALIGNLAB_OUT=%s %s%s reproduce --smoke %s > %s.log 2>&1"):format(
    q(tmp .. "/cache-" .. dir), q(tmp .. "/" .. dir), launcher, q(exe), table.concat(NAMES, " "), q(tmp .. "/" .. dir))
  util.mkdir_p(tmp .. "/" .. dir)
  local ok = os.execute(cmd)
  local log = util.read_file(tmp .. "/" .. dir .. ".log") or ""
  assert(ok, dir .. ": reproduce failed:\n" .. log)
  return log
end
reproduce("one", "")
local log = reproduce("np2", "mpirun --oversubscribe --allow-run-as-root --bind-to none -np 2 ")
assert(log:find("rank 1 building shared models", 1, true), "rank 1 built no shared model:\n" .. log)

local VOL = { "wall", "seconds", "git_revision", "elapsed", "time_s", "_time$", "^time$", "^machine$" }
local function strip(x)
  if type(x) ~= "table" then return x end
  local o = {}
  for k, v in pairs(x) do
    local drop = false
    for _, p in ipairs(VOL) do drop = drop or (type(k) == "string" and k:find(p) ~= nil) end
    if not drop then o[k] = strip(v) end
  end
  return o
end
for _, n in ipairs(NAMES) do
  local a, b = json.read(tmp .. "/one/" .. n .. ".json"), json.read(tmp .. "/np2/" .. n .. ".json")
  assert(json.encode(strip(a)) == json.encode(strip(b)), n .. ".json differs between one machine and mpirun -np 2")
  assert(util.read_file(tmp .. "/one/" .. n .. ".svg") == util.read_file(tmp .. "/np2/" .. n .. ".svg"), n .. ".svg differs")
  print("  " .. n .. ": same")
end
assert(util.read_file(tmp .. "/one/CLAIMS.md") == util.read_file(tmp .. "/np2/CLAIMS.md"), "CLAIMS.md differs")
os.execute("rm -rf " .. q(tmp))
print("OK")
