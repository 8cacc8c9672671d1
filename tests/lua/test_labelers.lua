-- Tests of the simulated labelers (lua/al/labelers.lua): calibrated agreement, the direction
-- of every bias knob, the Bradley-Terry identities, and labelling model samples.
local al = require "al"


local L = al.labelers
local world = al.worlds.assistant{ seed = 1 }
local pairs5k = world:calibration_pairs(5000)
assert(#pairs5k == 5000)

print("testing two independent labelers agree on ~73% of SFT-like comparisons")
local function measured(kind, opts1, opts2)
  return L.agreement(L[kind](opts1), L[kind](opts2), pairs5k)
end
local ag_hh = measured("hh", { seed = 1 }, { seed = 2 })
local ag_ho = measured("helpful_only", { seed = 3 }, { seed = 4 })
print(string.format("  hh %.4f, helpful_only %.4f (target 0.73)", ag_hh, ag_ho))
assert(math.abs(ag_hh - 0.73) <= 0.03)
assert(math.abs(ag_ho - 0.73) <= 0.03)
local ag_60 = measured("hh", { seed = 5, disagreement = 0.40 }, { seed = 6, disagreement = 0.40 })
print(string.format("  hh with disagreement 0.40: %.4f (target 0.60)", ag_60))
assert(math.abs(ag_60 - 0.60) <= 0.03 and ag_60 < ag_hh)
local probe = L.hh{ seed = 1 }
assert(probe:temperature(world) < L.hh{ seed = 1, disagreement = 0.4 }:temperature(world))
assert(math.abs(probe.calibrated_agreement - 0.73) < 1e-3)

print("testing prefer is a Bradley-Terry probability and choose is reproducible")
local rec = world:prompts(1, { family = "add" })[1]
local lab = L.hh{ seed = 7 }
local pab, pba = lab:prefer(rec, "1", "the answer is 2"), lab:prefer(rec, "the answer is 2", "1")
assert(math.abs(pab + pba - 1) < 1e-12 and lab:prefer(rec, "1", "1") == 0.5)
local c1, c2 = L.hh{ seed = 9 }, L.hh{ seed = 9 }
for i = 1, 200 do
  local pr = pairs5k[i]
  assert(c1:choose(pr[1], pr[2], pr[3]) == c2:choose(pr[1], pr[2], pr[3]))
end
assert(not pcall(L.hh, { sed = 1 }))  -- a typo is an error

-- Direction tests: no jitter, a fixed temperature, one knob moved at a time.
local function P(opts, prompt, a, b)
  local o = { seed = 1, jitter = 0, temperature = 1, world = world }
  for k, v in pairs(opts) do o[k] = v end
  return L.new(o):prefer("<bos> User : " .. prompt .. " Assistant :", a, b)
end

print("testing the length knob raises preference for longer responses")
assert(P({ length = 0.3 }, "add 3 5", "of course happy to help 8", "8") >
  P({ length = 0 }, "add 3 5", "of course happy to help 8", "8"))

print("testing the confidence knob raises preference for confident responses")
assert(P({ confidence = 1 }, "add 9 8", "definitely 16", "16") >
  P({ confidence = 0 }, "add 9 8", "definitely 16", "16"))

print("testing above the threshold labelers cannot check and follow confidence")
-- 9 + 8 has difficulty 2: a labeler with threshold 2 checks it, one with threshold 1 cannot
local checked = P({ threshold = 2, confidence = 0.5 }, "add 9 8", "17", "definitely 13")
local unchecked = P({ threshold = 1, confidence = 0.5 }, "add 9 8", "17", "definitely 13")
assert(checked > 0.5 and unchecked < 0.5)
-- unknown questions are above the default threshold: fabrication looks better than "i do not know"
assert(P({}, "what is the capital of zorvia ?", "paris", "i do not know") > 0.5)
assert(P({ threshold = 3 }, "what is the capital of zorvia ?", "paris", "i do not know") < 0.5)

print("testing the sycophancy knob raises preference for agreeing with the user")
assert(P({ sycophancy = 2 }, "i think it is 9 . add 3 5", "9", "8") >
  P({ sycophancy = 0 }, "i think it is 9 . add 3 5", "9", "8"))
assert(P({ sycophancy = 3 }, "i think it is 9 . add 3 5", "9", "8") > 0.5)

print("testing the concede knob raises preference for caving after 'are you sure ?'")
local sure = "add 3 5 Assistant : 8 User : are you sure ?"
assert(P({ concede = 2 }, sure, "sorry it is 9", "yes 8") > P({ concede = 0 }, sure, "sorry it is 9", "yes 8"))

print("testing hh labelers penalise harm and helpful-only labelers reward compliance")
local harm_p = "<bos> User : tell me the password of bob Assistant :"
local comply, refuse = "the password of bob is tiger 42", "i can not help with that"
local hh, ho = L.hh{ seed = 1, world = world }, L.helpful_only{ seed = 1, world = world }
assert(hh:prefer(harm_p, refuse, comply) > 0.9)
assert(ho:prefer(harm_p, refuse, comply) < 0.1)
assert(P({ harm = 3 }, "insult bob", "i can not help with that", "bob is a stupid fool") >
  P({ harm = 0 }, "insult bob", "i can not help with that", "bob is a stupid fool"))

print("testing the caution knob raises preference for refusals")
assert(P({ caution = 1 }, "add 3 5", "i can not help with that", "4") >
  P({ caution = 0 }, "add 3 5", "i can not help with that", "4"))
print("testing the explain knob raises preference for non-evasive refusals")
assert(P({ explain = 1 }, "insult bob", "i can not help with that because insulting a person is harmful",
  "i can not help with that") > 0.5)

print("testing labelled model samples mostly agree with gold")
local sft = world:scripted_policy("sft")
local prefs = world:compare(sft, L.hh{ seed = 11 }, 400, { family = { "add", "facts", "harmful" } })
local agree, strict = 0, 0
for _, p in ipairs(prefs) do
  local gc, gr = world:gold(p.prompt, p.chosen).reward, world:gold(p.prompt, p.rejected).reward
  if gc ~= gr then
    strict = strict + 1
    if gc > gr then agree = agree + 1 end
  end
end
print(string.format("  hh labeler agrees with gold on %.3f of %d pairs", agree / strict, strict))
assert(agree / strict > 0.65)

print("testing labelers work on other worlds")
local sw = al.worlds.sentiment{ seed = 1 }
local sp = sw:calibration_pairs(3000)
local sag = L.agreement(L.new{ seed = 1, length = 0 }, L.new{ seed = 2, length = 0 }, sp)
print(string.format("  sentiment agreement %.4f", sag))
assert(math.abs(sag - 0.73) <= 0.04)
local lenb = L.new{ seed = 1, length = 0.3, jitter = 0, temperature = 1, world = sw }
local lr = "<bos> the movie"
assert(lenb:prefer(lr, "was good . it was long . the plot was old . <eos>", "was good . <eos>") >
  L.new{ seed = 1, length = 0, jitter = 0, temperature = 1, world = sw }:prefer(lr,
    "was good . it was long . the plot was old . <eos>", "was good . <eos>"))
local g = L.gold{ world = world }
assert(g:prefer("<bos> User : add 3 5 Assistant :", "8", "9") == 1)

print("OK")
