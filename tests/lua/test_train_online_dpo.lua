-- Tests of al.online_dpo (lua/al/online_dpo.lua): pairs by hand (higher score chosen, ties
-- dropped), the round loop raising the sampled reward on a toy task, and exact resume across
-- rounds.
print("testing online_dpo")
local al = require "al"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local fails, with = T.fails, T.merge

do print("  pairs by hand")
  local prefs, ties = al.online_dpo.make_pairs({ { 1 }, { 2 }, { 3 } },
    { { 5 }, { 6 }, { 7 }, { 8 }, { 9 }, { 10 } }, { 0.5, 1.5, 2, -1, 3, 3 })
  assert(ties == 1 and #prefs == 2)
  assert(prefs[1].chosen[1] == 6 and prefs[1].rejected[1] == 5 and prefs[1].prompt[1] == 1)
  assert(prefs[2].chosen[1] == 7 and prefs[2].rejected[1] == 8)
end

local function tiny(seed) return al.gpt{ vocab = 12, ctx = 12, d = 16, heads = 2, layers = 1, seed = seed } end
local prompts = {}
for i = 1, 8 do prompts[i] = { i % 12, (i * 5) % 12 } end
local function count3(_, c)
  local n = 0
  for _, t in ipairs(c) do if t == 3 then n = n + 1 end end
  return n
end
local base = { reward = count3, prompts = prompts, rounds = 6, pairs = 16, max_new = 6, lr = 2e-2, beta = 0.1,
  epochs = 2, batch_size = 8, progress = false }

do print("  rounds raise the sampled reward")
  local _, h = al.online_dpo(tiny(1), base)
  assert(#h == 6)
  local first, last = h[1].reward, (h[5].reward + h[6].reward) / 2
  assert(last > first + 0.3, first .. " -> " .. last)
  for _, r in ipairs(h) do
    assert(r.pairs + r.ties == 16)
    if r.pairs > 0 then assert(r.reward_chosen > r.reward_rejected and r["rewards/accuracies"]) end
  end
  local _, h2 = al.online_dpo(tiny(1), with(base, { rounds = 2, ref_per_round = true }))
  assert(#h2 == 2)
end

do print("  exact resume: killed mid-run, resumed from the last round saved")
  local a = al.online_dpo(tiny(2), base)
  local dir = T.tmpdir("odpo")
  local b = tiny(2)
  -- each round runs 2 epochs x ceil(pairs / 8) DPO steps: 4 backward passes at most per round
  local ok, err = T.kill_at_backward(b, 3 * 4 + 1, al.online_dpo, b, with(base, { ckpt = dir }))
  assert(not ok and tostring(err):find("killed"), tostring(err))
  local st = al.json.read(dir .. "/latest.json").step
  assert(st >= 1 and st < 6, st)
  local c, hc = al.online_dpo(tiny(2), with(base, { resume = dir }))
  assert(hc[1].step == st + 1)
  assert(T.param_bytes(a) == T.param_bytes(c), "resumed run is bit-identical")
  T.rmrf(dir)
end

fails("al.online_dpo: rounds must be a positive integer", al.online_dpo, tiny(1), with(base, { rounds = 0 }))
fails("unknown option 'round'", al.online_dpo, tiny(1), with(base, { round = 2 }))
print("OK")
