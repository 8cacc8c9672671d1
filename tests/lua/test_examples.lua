-- The README's ten-line scripts (examples/*.lua) run end to end through the alignlab executable
-- at their tiniest budgets: each exits with status 0 and ends with its summary line, whose
-- numbers are finite. A script in examples/ without an entry here fails the test, so a new
-- example cannot go untested. (The numbers at the default budgets are in the README.)
print("testing examples/")
local core = require "al.core"
local SHELL = os.getenv("ALIGNLAB_SHELL") or core.exe()
local DIR = "../../examples/"

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function readf(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local N = "%-?%d+%.%d+" -- a finite number as the scripts print it (never nan or inf)
local function line(s) return "^" .. s:gsub("#", function() return N end) .. "$" end

-- script -> the tiniest overrides, and the pattern of its last line (# = a finite number)
local CASES = {
  pretrain = { "steps=3 vocab=300 d=32 layers=1",
    line "pretrain: %d+ tokens, loss # %-> # nats/token, held%-out #" },
  sft = { "pt_steps=3 steps=3",
    line "sft: held%-out loss # nats/token; helpful # %-> #, harmless # %-> #, gold reward # %-> #" },
  reward_model = { "n=64 epochs=1",
    line "reward_model: held%-out accuracy #; r%(great review%) = #, r%(horrible review%) = #, r%(great x6%) = # %(gold #%)" },
  dpo = { "pt_steps=3 n=48 epochs=1 loss=ipo",
    line "dpo %(ipo%): last batch accuracy #, margin #; sentiment # %-> #, P%(positive%) # %-> #, fluency # %-> #" },
  ppo = { "pt_steps=3 steps=3",
    line "ppo: batch reward # %-> #, KL # nats %(target 3, beta 0%.10 %-> #%); held%-out P%(positive%) # %-> #, fluency # %-> #" },
  grpo = { "sft_steps=3 steps=3 advantage=rloo",
    line "grpo: gold reward sampled # %-> #, greedy # %-> #" },
  best_of_n = { "pt_steps=3 n=4 prompts=8",
    line "best_of_n: sentiment # %(all 32 samples%) %-> # %(best of 4%); KL <= 0%.64 nats" },
  cai = { "smoke=true prompts=8 rounds=1",
    line "cai: red%-team answers harmless # %-> # after 1 rounds; SFT %-> SL%-CAI harmless # %-> #, helpful # %-> #" },
  kto = { "pt_steps=3 n=24 epochs=1",
    line "kto: 48 examples, last batch margin #, kl #; sentiment # %-> #, P%(positive%) # %-> #" },
  online_dpo = { "pt_steps=3 rounds=2 pairs=8",
    line "online_dpo: 2 rounds, sample reward # %-> #; sentiment # %-> #, P%(positive%) # %-> #" },
  data = { "steps=3",
    line "data: SFT loss # %-> #; DPO loss # %-> #, margin #, accuracy #" },
}

-- every examples/*.lua has a case, and every case a script
local found = {}
local p = assert(io.popen("ls " .. shq(DIR)))
for name in p:lines() do
  local s = name:match("^(.+)%.lua$")
  if s then
    found[s] = true
    assert(CASES[s], "examples/" .. name .. " has no entry in tests/lua/test_examples.lua")
  end
end
p:close()
for s in pairs(CASES) do assert(found[s], "examples/" .. s .. ".lua is missing") end

local names = {}
for s in pairs(CASES) do names[#names + 1] = s end
table.sort(names)
for _, s in ipairs(names) do
  local args, pat = CASES[s][1], CASES[s][2]
  local outf, errf = os.tmpname(), os.tmpname()
  local t0 = core.time()
  local _, how, code = os.execute(shq(SHELL) .. " " .. shq(DIR .. s .. ".lua") .. " " .. args ..
    " </dev/null >" .. shq(outf) .. " 2>" .. shq(errf))
  local out, err = readf(outf), readf(errf)
  os.remove(outf); os.remove(errf)
  assert(how == "exit" and code == 0, string.format("examples/%s.lua %s: exit %s %s\n%s%s", s, args,
    tostring(how), tostring(code), out, err))
  local last = out:match("([^\n]*)\n?$")
  assert(last:match(pat), string.format("examples/%s.lua: last line was\n  %s\nexpected the pattern\n  %s",
    s, last, pat))
  print(string.format("  %-13s %5.1f s  %s", s, core.time() - t0, last))
end

print("OK")
