-- kill -9 at a random moment and resume, for every trainer (pretrain, SFT, RM, DPO, PPO, GRPO):
-- the final weights are bit-identical to an uninterrupted run (tests/lua/lib/killresume.lua). One
-- kill per trainer here; `make soak` runs many (tests/soak_kill_resume.lua).
local al = require "al"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local KR = require "killresume"

local seed = tonumber(os.getenv("ALIGNLAB_KILL_SEED") or "") or os.time()
print("testing kill -9 and resume for every trainer (ALIGNLAB_KILL_SEED=" .. seed .. ")")
local rng = al.rng(seed)
for _, t in ipairs(KR.TRAINERS) do
  local n, from = KR.run(t, 1, rng)
  print(string.format("  %-8s killed %d time(s), resumed from step %s: final weights bit-identical", t, n,
    table.concat(from, ",")))
end
print("OK")
