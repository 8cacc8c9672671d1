-- make soak: kill -9 at random moments, many times per trainer, then resume; the final weights
-- must equal an uninterrupted run's bit for bit (tests/lua/lib/killresume.lua). Not run by make
-- test (which kills once per trainer, tests/lua/test_kill_resume.lua). ALIGNLAB_SOAK_KILLS kills
-- per trainer (default 8), ALIGNLAB_KILL_SEED the seed of the delays.
local al = require "al"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lua/lib/?.lua;" .. package.path
local KR = require "killresume"

local kills = math.tointeger(tonumber(os.getenv("ALIGNLAB_SOAK_KILLS") or "")) or 8
local seed = tonumber(os.getenv("ALIGNLAB_KILL_SEED") or "") or os.time()
print(string.format("soak: %d kills per trainer (ALIGNLAB_KILL_SEED=%d)", kills, seed))
local rng, total = al.rng(seed), 0
for _, t in ipairs(KR.TRAINERS) do
  local n, from = KR.run(t, kills, rng, { steps = 40, span = 2.0 })
  total = total + n
  print(string.format("  %-8s %d kills, resumed from steps %s: final weights bit-identical", t, n, table.concat(from, ",")))
end
print(string.format("soak: OK, %d kills over %d trainers", total, #KR.TRAINERS))
