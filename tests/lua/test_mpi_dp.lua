-- Data-parallel training (al.dp through al.train's Ctx:dp_update and PPO's update): SFT,
-- pretraining, reward model, DPO, PPO (+ its value model) and GRPO under `mpirun -np 2` give
-- final weights and logs bit-identical to one process with micro_batches = 2 and to a rerun; the
-- micro-batch path is the same mean as the plain one (first-step loss and gradient norm agree to
-- rounding) and not the same bits (so the comparison can fail). Without MPI or mpirun only the
-- one-process checks run. The mpirun flags for root and 2 cores live here, not in users' way.
print("testing data-parallel trainers (al.dp)")
local al = require "al"
local core = require "al.core"
local SHELL = os.getenv("ALIGNLAB_SHELL") or core.exe()
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local shq, read_file = T.shell_quote, T.read_file
local HERE = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "mpi/"
local NAMES = { "sft", "pretrain", "rm", "dpo", "ppo", "ppo_value", "grpo" }

local function run(cmd, limit)
  local outf = os.tmpname()
  local _, _, code = os.execute(("timeout -s KILL %d sh -c %s >%s 2>&1"):format(limit or 120, shq(cmd), shq(outf)))
  local out = read_file(outf) or ""
  os.remove(outf)
  return out, code
end

local tmp = os.tmpname()
os.remove(tmp)
local function trainers(dir, micro, launcher)
  core.mkdir_p(tmp .. "/" .. dir)
  local out, code = run(("%s%s %s %s %d"):format(launcher or "", shq(SHELL), shq(HERE .. "dp.lua"),
                        shq(tmp .. "/" .. dir), micro))
  assert(code == 0 and out:find("rank 0 OK"), out)
  return out
end
local function same(a, b, what)
  for _, n in ipairs(NAMES) do
    for _, ext in ipairs { ".params", ".jsonl" } do
      local x, y = read_file(tmp .. "/" .. a .. "/" .. n .. ext), read_file(tmp .. "/" .. b .. "/" .. n .. ext)
      assert(x and #x > 0 and x == y, what .. ": " .. n .. ext .. " differs")
    end
  end
end

do print("  one process: micro_batches = 2 is the plain mean, in other bits; reruns are identical")
  trainers("m1", 1)
  trainers("m2", 2)
  trainers("m2b", 2)
  same("m2", "m2b", "a rerun with micro_batches = 2")
  local differ = 0
  for _, n in ipairs(NAMES) do
    if read_file(tmp .. "/m1/" .. n .. ".params") ~= read_file(tmp .. "/m2/" .. n .. ".params") then differ = differ + 1 end
  end
  assert(differ == #NAMES, "micro_batches = 2 gave the plain path's bits for " .. (#NAMES - differ) .. " trainers")
  for _, n in ipairs { "sft", "pretrain", "rm", "dpo", "ppo" } do
    local function first(dir)
      return core.json.decode(read_file(tmp .. "/" .. dir .. "/" .. n .. ".jsonl"):match("^[^\n]+"))
    end
    local a, b = first("m1"), first("m2")
    for _, k in ipairs { "loss", "grad_norm" } do
      if a[k] then
        assert(math.abs(a[k] - b[k]) <= 1e-5 * math.max(1, math.abs(a[k])),
          ("%s: step 1 %s %.9g (plain) vs %.9g (2 micro-batches)"):format(n, k, a[k], b[k]))
      end
    end
  end
  local ok, err = pcall(al.sft, al.gpt{ vocab = 5, ctx = 4, d = 8, heads = 2, layers = 1 }, { { 1, 2, 3 } },
                        { micro_batches = 0, progress = false })
  assert(not ok and err:find("al.sft: option 'micro_batches' must be a positive integer", 1, true), err)
end

local have_mpirun = os.execute("command -v mpirun >/dev/null 2>&1")
if not al.mpi.available() then
  print("  skipped mpirun -np 2: this alignlab was built without MPI")
elseif not have_mpirun then
  print("  skipped mpirun -np 2: mpirun is not installed (make deps installs openmpi-bin)")
else
  local MPIRUN = "mpirun --oversubscribe --allow-run-as-root --bind-to none -np 2 "
  if os.getenv("ALIGNLAB_SANITIZE") then MPIRUN = "ASAN_OPTIONS=detect_leaks=0 " .. MPIRUN end
  print("  mpirun -np 2 equals one process with micro_batches = 2, bit for bit, and its rerun")
  local out = trainers("np2", 1, MPIRUN)
  assert(out:find("rank 1 OK"), out)
  same("m2", "np2", "mpirun -np 2 vs micro_batches = 2")
  trainers("np2b", 1, MPIRUN)
  same("np2", "np2b", "a rerun of mpirun -np 2")
end
os.execute("rm -rf " .. shq(tmp))
print("OK")
