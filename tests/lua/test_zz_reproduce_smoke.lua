-- Every experiment in smoke mode (tiny budgets), through `alignlab reproduce --smoke`, into a
-- temporary output directory; checks that each wrote a complete, well-formed result: NAME.json
-- with the fields CLAIMS.md and readers rely on, NAME.svg and NAME.png that are real images,
-- and a CLAIMS.md row per experiment.
print("testing reproduce --smoke")
if os.getenv("ALIGNLAB_SANITIZE") then
  -- the experiments are Lua over the C paths the other tests already run under the sanitizers;
  -- running all of them under ASan would triple the CI time for no new coverage
  print("skipped under the sanitizer build (make test runs it)")
  print("OK")
  return
end
local al = require "al"
local util = require "al.util"

local out = os.getenv("TMPDIR") or "/tmp"
out = out .. "/alignlab-smoke-" .. tostring(os.time()) .. "-" .. tostring(math.random(1 << 30))
util.mkdir_p(out)
local exe = al.core.exe()
local names = require("al.reproduce").list()
assert(#names >= 1, "no experiments found")

local cmd = string.format("ALIGNLAB_OUT=%s %s reproduce --smoke > %s/log.txt 2>&1",
  util.shell_quote(out), util.shell_quote(exe), util.shell_quote(out))
local ok = os.execute(cmd)
local log = util.read_file(out .. "/log.txt") or ""
if not ok then io.stderr:write(log) end
assert(ok, "alignlab reproduce --smoke failed (log above)")

local function is_svg(path)
  local s = util.read_file(path)
  return s and s:find("<svg", 1, true) and s:find("</svg>%s*$") ~= nil
end
local function is_png(path)
  local s = util.read_file(path)
  return s and #s > 100 and s:sub(1, 8) == "\137PNG\r\n\26\n"
end

local claims = util.read_file(out .. "/CLAIMS.md")
assert(claims, "CLAIMS.md missing")
for _, n in ipairs(names) do
  local r = al.json.read(out .. "/" .. n .. ".json")
  for _, k in ipairs{ "name", "paper", "claim", "verdict", "ours", "config", "wall_seconds", "git_revision" } do
    assert(r[k] ~= nil, n .. ".json lacks " .. k)
  end
  assert(r.smoke == true, n .. ": smoke flag not recorded")
  assert(r.name == n, n .. ": name field is " .. tostring(r.name))
  assert(({ ["reproduced"] = 1, ["not reproduced"] = 1, ["partly"] = 1, ["inconclusive"] = 1 })[r.verdict],
    n .. ": bad verdict " .. tostring(r.verdict))
  assert(is_svg(out .. "/" .. n .. ".svg"), n .. ".svg missing or not an SVG")
  assert(is_png(out .. "/" .. n .. ".png"), n .. ".png missing or not a PNG")
  assert(claims:find("[" .. n .. "]", 1, true), "CLAIMS.md has no row for " .. n)
  print(string.format("  %-20s %-15s %.1f s", n, r.verdict, r.wall_seconds))
end
os.execute("rm -rf " .. util.shell_quote(out))
print("OK")
