-- Kill -9 at random moments, then resume: the driver shared by tests/lua/test_kill_resume.lua (one
-- kill per trainer, in make test) and tests/soak_kill_resume.lua (make soak, many kills). Each
-- trainer runs as a child process (tests/lua/lib/trainers.lua) checkpointing every 2 steps; the
-- child is killed with SIGKILL after a random delay, restarted (it resumes from its latest
-- checkpoint) and killed again, `kills` times, then run to the end; its final weights must equal
-- those of an uninterrupted run bit for bit.
local core = require "al.core"
local util = require "al.util"

local M = {}

M.TRAINERS = { "pretrain", "sft", "rm", "dpo", "ppo", "grpo" }

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local script = here .. "trainers.lua"
local exe = os.getenv("ALIGNLAB_SHELL") or (core.exe and core.exe()) or "alignlab"
local q = util.shell_quote

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function run_child(trainer, mode, dir, out, steps)
  local cmd = string.format("%s %s %s %s %s %s %d > %s.log 2>&1", q(exe), q(script), trainer, mode, q(dir), q(out),
    steps, q(out))
  local ok = os.execute(cmd)
  if not ok then error(trainer .. ": child failed: " .. (read(out .. ".log") or cmd), 0) end
end

-- Start the child, SIGKILL it after `delay` seconds; true when the kill landed (it was still running).
local function run_killed(trainer, dir, out, steps, delay)
  local cmd = string.format("%s %s %s ckpt %s %s %d >> %s.log 2>&1 & p=$!; sleep %.3f; " ..
    "if kill -9 $p 2>/dev/null; then wait $p 2>/dev/null; echo killed; else wait $p; echo finished $?; fi",
    q(exe), q(script), trainer, q(dir), q(out), steps, q(out), delay)
  local h = io.popen(cmd)
  local r = h:read("a")
  h:close()
  if r:find("killed", 1, true) then return true end
  if not r:find("finished 0", 1, true) then error(trainer .. ": child failed: " .. (read(out .. ".log") or r), 0) end
  return false
end

local function same_files(a, b, what)
  local x, y = read(a), read(b)
  assert(x and #x > 0, what .. ": " .. a .. " is missing")
  assert(y and #y > 0, what .. ": " .. b .. " is missing")
  return x == y
end

-- Run one trainer with `kills` random kills; rng = al.rng. Returns the kills that landed, the
-- checkpoint steps they were resumed from. Raises when the final bits differ.
function M.run(trainer, kills, rng, opts)
  opts = opts or {}
  local steps = opts.steps or 30
  local tmp = os.tmpname()
  os.remove(tmp)
  local ref, dir, out = tmp .. "-ref", tmp .. "-ckpt", tmp .. "-out"
  local t0 = core.time()
  run_child(trainer, "plain", "-", ref, steps)
  -- kill delays are drawn over the uninterrupted run's own length (a fixed span missed a fast
  -- trainer most of the time), shrinking after every kill that came too late
  local landed, tries, resumed = 0, 0, {}
  local span = opts.span or math.max(0.05, core.time() - t0)
  while landed < kills and tries < kills * 8 do
    tries = tries + 1
    local delay = 0.02 + rng:uniform() * span
    if run_killed(trainer, dir, out, steps, delay) then
      landed = landed + 1
      local f = io.open(dir .. "/latest.json", "r")
      resumed[#resumed + 1] = f and (f:read("a"):match('"step"%s*:%s*(%d+)') or "?") or "none"
      if f then f:close() end
    else
      -- it finished before the kill: start again from scratch, with shorter delays
      os.execute("rm -rf " .. q(dir) .. " " .. q(out))
      span = span * 0.6
    end
  end
  if landed < kills then error(trainer .. ": only " .. landed .. " of " .. kills .. " kills landed", 0) end
  run_child(trainer, "ckpt", dir, out, steps)
  assert(same_files(ref .. "/model/model.safetensors", out .. "/model/model.safetensors", trainer),
    trainer .. ": resumed after " .. landed .. " kill(s) (from steps " .. table.concat(resumed, ",") ..
    ") the final weights differ from an uninterrupted run")
  if trainer == "ppo" then
    assert(same_files(ref .. "/value/model.safetensors", out .. "/value/model.safetensors", trainer),
      "ppo: the value model differs after resume")
  end
  os.execute("rm -rf " .. q(ref) .. " " .. q(dir) .. " " .. q(out) .. " " .. q(ref .. ".log") .. " " .. q(out .. ".log"))
  return landed, resumed
end

return M
