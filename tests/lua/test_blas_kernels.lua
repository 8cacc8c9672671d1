-- Cross-machine bit identity: the same small training + sampling run (tests/lua/lib/determinism.lua)
-- in child processes under different OpenBLAS kernels. (a) Under the pin `alignlab reproduce`
-- uses (lua/al/reproduce.lua blas_core: Haswell on every AVX2+FMA machine) two runs give equal
-- weight and sample hashes, and so does Zen's kernel (what OpenBLAS picks on AMD machines):
-- OPENBLAS_CORETYPE overrides the CPU detection, so the machine's own kernel plays no part. (b)
-- Other kernels this CPU can run (SkylakeX, Cooperlake with AVX-512, Sandybridge without FMA)
-- give other bits: the reason for the pin. Kernels the CPU cannot run are skipped, said so.
local core = require "al.core"
local util = require "al.util"
local reproduce = require "al.reproduce"
print("testing bit identity across OpenBLAS kernels")

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local exe = os.getenv("ALIGNLAB_SHELL") or core.exe()
local function run(prefix)
  local h = io.popen(string.format("%sOPENBLAS_NUM_THREADS=1 %s %s 2>&1", prefix, util.shell_quote(exe),
    util.shell_quote(here .. "lib/determinism.lua")))
  local out = h:read("a")
  h:close()
  local k, w, s = out:match("kernel=(%S+) weights=(%x+) samples=(%x+)")
  assert(k, "the determinism run failed: " .. out)
  return { kernel = k, weights = w, samples = s }
end

local pinned, prefix = reproduce.blas_core()
if not pinned then
  print("  SKIP: this CPU lacks AVX2+FMA, so reproduce does not pin a kernel")
  print("OK")
  return
end
assert(pinned == "Haswell" or os.getenv("ALIGNLAB_BLAS_CORE"), "reproduce pins Haswell by default")
local a, b = run(prefix), run(prefix)
assert(a.kernel == pinned and b.kernel == pinned, "the pin took effect: " .. a.kernel)
assert(a.weights == b.weights and a.samples == b.samples, "two runs under the pin give the same bits")
print(string.format("  pinned %s (twice): weights %s samples %s", pinned, a.weights, a.samples))
local zen = run("OPENBLAS_CORETYPE=Zen ")
if zen.kernel == "Zen" then
  assert(zen.weights == a.weights and zen.samples == a.samples, "Zen's kernel is Haswell's: the same bits")
  print("  Zen (an AMD machine's own choice): the same bits as the pin")
end
local native = core.blas().core
local tried, differ = {}, 0
for _, k in ipairs{ "SkylakeX", "Cooperlake", "Sandybridge" } do
  local r = run("OPENBLAS_CORETYPE=" .. k .. " ")
  if r.kernel ~= k then
    print(string.format("  SKIP %s: OpenBLAS runs %s instead on this CPU", k, r.kernel))
  else
    tried[#tried + 1] = k
    local same = r.weights == a.weights
    if not same then differ = differ + 1 end
    print(string.format("  %-11s weights %s (%s the pin's), samples %s%s", k, r.weights, same and "=" or "differ from",
      r.samples == a.samples and "equal" or "differ", k == native and "  [this machine's own kernel]" or ""))
  end
end
if #tried == 0 then
  print("  SKIP (b): no other kernel than " .. pinned .. " runs on this CPU")
else
  assert(differ > 0, "some other kernel gives other bits (otherwise the pin would not be needed)")
end
print("OK")
