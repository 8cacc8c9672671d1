-- Tests of alignlab reproduce --compare (lua/al/compare.lua) on two hand-made result directories:
-- moved judged numbers with their change relative to the spread over seeds (an sd or spread
-- stored beside them, or per-seed values), changed non-numbers, verdict changes, machine changes,
-- experiments missing from the fresh run, and the exit status.
print("testing reproduce --compare")
local al = require "al"
local core = require "al.core"
local util = require "al.util"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"

local ref, new = T.tmpdir("cmp-ref"), T.tmpdir("cmp-new")
util.mkdir_p(ref)
util.mkdir_p(new)
local mach = { cpu = "Intel Xeon", isa = "x86-64-v4 (AVX-512)", blas_core = "Haswell", blas_threads = 1, jobs = 2 }
local function rec(verdict, judged, per_seed, machine)
  return { name = "x", verdict = verdict, judged = judged, per_seed = per_seed, machine = machine or mach, smoke = false }
end
-- exp a: one number moves by 2 of its stored sd, another by half the sd of its per-seed values;
-- the verdict and machine are unchanged
al.json.write(ref .. "/a.json", rec("reproduced", { gap = { mean = 0.5, sd = 0.1 }, win = 0.6, holds = true },
  { { win = 0.5 }, { win = 0.6 }, { win = 0.7 } }))
al.json.write(new .. "/a.json", rec("reproduced", { gap = { mean = 0.7, sd = 0.1 }, win = 0.65, holds = true },
  { { win = 0.55 }, { win = 0.65 }, { win = 0.75 } }))
-- exp b: the verdict flips, a check's spread is stored as `spread`, another kernel
al.json.write(ref .. "/b.json", rec("partly", { checks = { S1 = { diff = 0.3, spread = 0.2, holds = true } } }, {}))
al.json.write(new .. "/b.json", rec("not reproduced", { checks = { S1 = { diff = -0.1, spread = 0.2, holds = false } } }, {},
  { cpu = "AMD EPYC", isa = "x86-64-v3 (AVX2)", blas_core = "Zen", blas_threads = 1, jobs = 2 }))
-- exp c: identical; exp d: committed only
al.json.write(ref .. "/c.json", rec("reproduced", { n = 3 }, {}))
al.json.write(new .. "/c.json", rec("reproduced", { n = 3 }, {}))
al.json.write(ref .. "/d.json", rec("inconclusive", { n = 1 }, {}))

local out = {}
local compared, changed = require("al.compare").dirs(ref, new, function(l) out[#out + 1] = l end)
local text = table.concat(out, "\n")
print(text)
assert(compared == 3 and changed == 1, "3 compared, 1 verdict changed")
local function has(s) assert(text:find(s, 1, true), "report lacks: " .. s) end
has("== a: verdict reproduced (unchanged)")
has("moved     gap.mean: 0.5 -> 0.7 (+0.2, 2.00 x its spread over seeds 0.1)")
has("moved     win: 0.6 -> 0.65 (+0.05, 0.50 x its spread over seeds 0.1)")
has("   machine: the same")
has("2 of 4 judged numbers moved")
has("== b: verdict partly -> not reproduced  ** CHANGED **")
has("machine DIFFERS: committed Intel Xeon, x86-64-v4 (AVX-512), OpenBLAS Haswell")
has("fresh     AMD EPYC, x86-64-v3 (AVX2), OpenBLAS Zen")
has("moved     checks.S1.diff: 0.3 -> -0.1 (-0.4, 2.00 x its spread over seeds 0.2)")
has("changed   checks.S1.holds: true -> false")
has("== c: verdict reproduced (unchanged)")
has("0 of 1 judged numbers moved")
has("not in the fresh run: d")

-- through the command line: exit 1 when a verdict changed, 0 when none did
local exe = T.shell_quote(os.getenv("ALIGNLAB_SHELL") or core.exe())
local function cli(fresh)
  local h = io.popen(string.format("ALIGNLAB_OUT=%s %s reproduce --compare %s 2>&1; echo rc=$?", T.shell_quote(fresh), exe,
    T.shell_quote(ref)))
  local s = h:read("a")
  h:close()
  return s
end
local s = cli(new)
assert(s:find("** CHANGED **", 1, true) and s:find("rc=1", 1, true), s)
os.remove(new .. "/b.json")
s = cli(new)
assert(s:find("0 verdict(s) changed", 1, true) and s:find("rc=0", 1, true), s)
local empty = T.tmpdir("cmp-empty")
util.mkdir_p(empty)
s = cli(empty)
assert(s:find("no results in " .. empty, 1, true) and s:find("rc=1", 1, true), s)
T.rmrf(ref)
T.rmrf(new)
T.rmrf(empty)
print("OK")
