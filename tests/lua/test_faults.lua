-- Faults other than kill -9 (those are tests/lua/test_kill_resume.lua): a checkpoint write that
-- fails with ENOSPC or a short write (core/io.c's fault hook) keeps the previous checkpoint
-- intact and loadable and names the file; two processes building the same al.cache entry at
-- once both succeed and leave one complete entry.
print("testing faults")
local al = require "al"
local core = require "al.core"
local util = require "al.util"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local tmpdir, rmrf, param_bytes, with = T.tmpdir, T.rmrf, T.param_bytes, T.merge

local function tiny(seed) return al.gpt{ vocab = 16, ctx = 8, d = 16, heads = 2, layers = 1, seed = seed } end
local rng = al.rng(3)
local data = {}
for i = 1, 64 do
  local a, b = rng:int(8) - 1, rng:int(8) - 1
  data[i] = { prompt = { a, b }, completion = { (a + b) % 8 + 8, 15 } }
end
local base = { steps = 10, batch_size = 16, lr = 5e-3, progress = false }
local want = param_bytes(al.sft(tiny(4), data, base))

for _, case in ipairs{ { 0, "ENOSPC", "No space left on device" }, { 700, "EIO", "Input/output error" },
                       { 5000, "ENOSPC", "No space left on device" } } do
  local budget, errname, text = case[1], case[2], case[3]
  print(string.format("  a checkpoint write failing with %s after %d bytes keeps the previous one", errname, budget))
  local dir = tmpdir("ckfault")
  -- the disk fills up during step 5, after the checkpoint of step 4: the checkpoint of step 6 fails
  local m = tiny(4)
  local methods = getmetatable(m).__index
  local real, calls = methods.backward, 0
  methods.backward = function(...)
    calls = calls + 1
    if calls == 5 then core._io_fail_after(budget, errname) end
    return real(...)
  end
  local ok, err = pcall(al.sft, m, data, with(base, { ckpt = dir, save_every = 2 }))
  methods.backward = real
  core._io_fail_after(-1)
  err = tostring(err)
  assert(not ok, "the run stops")
  assert(err:find(text, 1, true) and err:find("write failed", 1, true), err)
  assert(err:find(dir .. "/step-00000006/", 1, true), "the error names the file: " .. err)
  local latest = al.json.read(dir .. "/latest.json")
  assert(latest.step == 4, "latest.json still points at step 4")
  local kept = al.load(dir .. "/step-00000004/model")
  assert(#kept:logits({ 1, 2 }) > 0, "step 4 loads")
  for _, f in ipairs(util.listdir(dir .. "/step-00000006/model")) do
    assert(not f:find("%.tmp%."), "no temporary file left: " .. f)
  end
  -- and the run resumes from step 4 to the same bits as an uninterrupted run
  local c, hc = al.sft(tiny(4), data, with(base, { resume = dir, save_every = 2 }))
  assert(hc[1].step == 5, "resumed at step 5")
  assert(param_bytes(c) == want, "resume after the failed write gives the same final bits")
  rmrf(dir)
end

do print("  two processes building the same al.cache entry at once")
  local cdir = tmpdir("cache2")
  local script = tmpdir("builder.lua")
  T.write_file(script, [[
local al = require "al"
local cache = require "al.cache"
local built = false
local m, hit = cache("race", { n = 1 }, function()
  built = true
  local m = al.gpt{ vocab = 16, ctx = 8, d = 16, heads = 2, layers = 1, seed = 9 }
  os.execute("sleep 0.4") -- both processes are inside build() at the same time
  return m, { who = "builder" }
end)
print(built and "built" or "loaded", hit and "hit" or "miss")
]])
  local exe = os.getenv("ALIGNLAB_SHELL") or core.exe()
  local cmd = string.format("cd /tmp && ALIGNLAB_CACHE=%s %s %s > %s.1 2>&1 & ALIGNLAB_CACHE=%s %s %s > %s.2 2>&1; wait",
    T.shell_quote(cdir), T.shell_quote(exe), T.shell_quote(script), script, T.shell_quote(cdir),
    T.shell_quote(exe), T.shell_quote(script), script)
  assert(os.execute(cmd))
  local o1, o2 = T.read_file(script .. ".1"), T.read_file(script .. ".2")
  assert(o1:find("built%smiss") and o2:find("built%smiss"), "both built (at once) and both succeeded: " .. o1 .. " | " .. o2)
  local entries = util.listdir(cdir)
  assert(#entries == 1 and entries[1]:match("^race%-"), "one entry, no build directory left: " .. table.concat(entries, ","))
  local e = cdir .. "/" .. entries[1]
  for _, f in ipairs{ "config.json", "model.safetensors", "build.json" } do
    assert(util.file_exists(e .. "/" .. f), "the entry is complete: " .. f)
  end
  assert(al.json.read(e .. "/build.json").who == "builder")
  local want2 = param_bytes(tiny(9))
  assert(param_bytes(al.load(e)) == want2, "the entry holds the built model")
  -- a third process loads it
  assert(os.execute(string.format("ALIGNLAB_CACHE=%s %s %s > %s.3 2>&1", T.shell_quote(cdir), T.shell_quote(exe),
    T.shell_quote(script), script)))
  assert(T.read_file(script .. ".3"):find("loaded%shit"))
  rmrf(cdir)
  for _, s in ipairs{ "", ".1", ".2", ".3" } do os.remove(script .. s) end
end
print("OK")
