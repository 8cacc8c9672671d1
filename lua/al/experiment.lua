-- alignlab: the frame every experiments/NAME.lua script uses. It merges the script's defaults with
-- its smoke budget (when run with --smoke or ALIGNLAB_SMOKE=1) and with key=value overrides from
-- the command line, knows where outputs go, and writes OUT/NAME.json with the config, seeds,
-- per-seed metrics, the numbers the claim is judged on, the verdict, wall time and git revision.
-- It never decides a verdict: the script computes it from its numbers by a rule it states.
local util = require "al.util"
local core = require "al.core"

local Experiment = {}
Experiment.__index = Experiment

local VERDICTS = { ["reproduced"] = true, ["not reproduced"] = true, ["partly"] = true,
                   ["inconclusive"] = true }

local function is_smoke(argv)
  local e = os.getenv("ALIGNLAB_SMOKE")
  if e and e ~= "" and e ~= "0" then return true end
  for _, a in ipairs(argv or {}) do
    if a == "--smoke" then return true end
  end
  return false
end

-- path of an output file of this experiment: OUT/NAME.ext (ext without dot), or OUT/NAME-tag.ext
function Experiment:file(ext, tag)
  return string.format("%s/%s%s%s", self.out, self.name, tag and ("-" .. tag) or "", ext and ("." .. ext) or "")
end

-- Progress line on stderr, prefixed with the experiment's name and the seconds since it started.
function Experiment:say(fmt, ...)
  local now = core.time and core.time() or os.clock()
  io.stderr:write(string.format("[%s %5.0fs] " .. fmt .. "\n", self.name, now - self.t0, ...))
end

-- Draw a figure into OUT/NAME (svg + png) with al.plot; spec as al.plot's, without `file`.
function Experiment:plot(spec, tag)
  spec = util.copy(spec)
  spec.file = self:file(nil, tag)
  return require("al.plot")(spec)
end

-- The machine a result was made on: what decides its bits besides the code and the seed (the
-- CPU, its widest vector ISA, OpenBLAS's kernel and build, the thread counts, and how many
-- experiments ran at once: `alignlab reproduce --jobs N` passes ALIGNLAB_JOBS=N, 1 otherwise).
local function machine()
  local f = io.open("/proc/cpuinfo", "r")
  local info = f and f:read("a") or ""
  if f then f:close() end
  local flags = " " .. (info:match("\nflags%s*:%s*([^\n]*)") or "") .. " "
  local isa = "x86-64"
  for _, l in ipairs{ { "avx2", "x86-64-v3 (AVX2)" }, { "avx512f", "x86-64-v4 (AVX-512)" } } do
    if flags:find(" " .. l[1] .. " ", 1, true) then isa = l[2] end
  end
  local b = core.blas()
  local nb, nomp = core.nthreads()
  return { cpu = info:match("model name%s*:%s*([^\n]*)") or "unknown", isa = isa,
           blas_core = b.core, blas_config = b.config, blas_threads = nb, omp_threads = nomp,
           cores = tonumber((io.popen("nproc 2>/dev/null"):read("l") or "")),
           jobs = math.tointeger(tonumber(os.getenv("ALIGNLAB_JOBS") or "")) or 1 }
end

-- Finish: r = { verdict = "reproduced"|"not reproduced"|"partly"|"inconclusive", ours = "one line
-- with our number(s)", judged = { numbers the verdict rests on }, per_seed = {...}, data = {...},
-- notes = "what was tried/changed" }. Writes OUT/NAME.json and prints the verdict line.
function Experiment:finish(r)
  local o = util.opts("experiment:finish", r, {
    verdict = util.REQUIRED, ours = util.REQUIRED, judged = {}, per_seed = {}, data = {},
    notes = "", rule = "",
  })
  if not VERDICTS[o.verdict] then
    error("experiment:finish: verdict must be reproduced, not reproduced, partly or inconclusive", 2)
  end
  local t1 = core.time and core.time() or os.clock()
  local rec = {
    name = self.name, paper = self.paper, claim = self.claim, paper_number = self.paper_number,
    rule = o.rule, smoke = self.smoke, config = self.cfg, seeds = self.cfg.seeds,
    per_seed = o.per_seed, judged = o.judged, data = o.data, verdict = o.verdict, ours = o.ours,
    notes = o.notes, wall_seconds = t1 - self.t0, git_revision = util.git_rev(),
    threads = core.nthreads and core.nthreads() or nil, version = core.version, machine = machine(),
  }
  core.json.write(self:file("json"), rec)
  print(string.format("%s: %s -- %s", self.name, o.verdict, o.ours))
  return rec
end

-- al.experiment{ name=, paper=, claim=, paper_number=, defaults={...}, smoke={...} [, arg=] }
return function(spec)
  local s = util.opts("al.experiment", spec, {
    name = util.REQUIRED, paper = util.REQUIRED, claim = util.REQUIRED, paper_number = "",
    defaults = {}, smoke = {}, arg = util.ANY,
  })
  local argv = s.arg or _G.arg or {}
  local self = setmetatable({}, Experiment)
  self.name, self.paper, self.claim, self.paper_number = s.name, s.paper, s.claim, s.paper_number
  self.smoke = is_smoke(argv)
  local base = util.copy(s.defaults, true)
  if self.smoke then
    for k, v in pairs(s.smoke) do
      if base[k] == nil then error("al.experiment: smoke key '" .. k .. "' is not in defaults", 2) end
      base[k] = v
    end
  end
  local rest = {}
  for _, a in ipairs(argv) do if a ~= "--smoke" then rest[#rest + 1] = a end end
  self.cfg = require("al.args")(base, rest)
  local out = os.getenv("ALIGNLAB_OUT")
  if not out or out == "" then
    out = self.smoke and (util.root() .. "/build/smoke") or (util.root() .. "/figures")
  end
  util.mkdir_p(out)
  self.out = out
  self.t0 = core.time and core.time() or os.clock()
  io.stderr:write(string.format("[%s] %s%s\n", self.name, self.claim, self.smoke and " (smoke)" or ""))
  return self
end
