-- al.calibration (lua/al/calibration.lua) and its C kit (al.core.obj.calibration, auroc,
-- logistic_loss): the answer span of a response; the confidence of an answer equals the
-- product of the model's next-token probabilities over the answer's tokens, computed here
-- independently token by token (m:logits); reliability bins and AUROC through the binding
-- against hand computations; bad input refused with a message; a P(IK) head learns a rule it
-- can see in the prompt (AUROC near 1) and leaves the input model untouched.
print("testing al.calibration")
local al = require "al"
local C = require "al.calibration"
local obj = al.core.obj

local function words(s) local t = {} for w in s:gmatch("%S+") do t[#t + 1] = w end return t end
local function same(a, b) return table.concat(a, ",") == table.concat(b, ",") end

-- the answer's words: style phrases anywhere and a leading "the answer is" are not the answer
assert(same(C.answer_positions(words("8")), { 1 }))
assert(same(C.answer_positions(words("certainly the answer is 8")), { 5 }))
assert(same(C.answer_positions(words("great question i do not know")), { 3, 4, 5, 6 }))
assert(same(C.answer_positions(words("1 2 of course 3")), { 1, 2, 5 }))
assert(#C.answer_positions(words("happy to help")) == 0)

-- reliability and AUROC: the hand computation of tests/core/test_obj_stats.c through the binding
local r = C.reliability({ 0.1, 0.3, 0.5, 0.9, 1.0 }, { 0, 1, 1, 1, 0 }, 2)
assert(math.abs(r.ece - 0.2) < 1e-12 and math.abs(r.brier - 0.352) < 1e-12, r.ece)
assert(r.count[1] == 2 and r.count[2] == 3 and math.abs(r.acc[2] - 2 / 3) < 1e-12 and r.n == 5)
assert(math.abs(C.auroc({ 0.9, 0.4, 0.4, 0.4, 0.1 }, { 1, 1, 0, 1, 0 }) - 5 / 6) < 1e-12)
assert(C.auroc({ 0.2, 0.3 }, { 1, 1 }) == nil, "one class: no AUROC")
local ok, err = pcall(obj.calibration, { p = { 0.5, 1.5 }, y = { 1, 0 } })
assert(not ok and err:find("p%[2%]"), err)
ok, err = pcall(obj.calibration, { p = { 0.5 }, y = { 1, 0 } })
assert(not ok, "length mismatch accepted")
ok, err = pcall(obj.calibration, { p = { 0.5 }, y = { 1 }, binz = 3 })
assert(not ok and err:find("binz"), err)
ok, err = pcall(obj.auroc, { 0.5, 0.2 }, { 1, 2 })
assert(not ok and err:find("y%[2%]"), err)
local l = obj.logistic_loss{ logits = { 0, 2 }, targets = { 1, 0 } }
assert(math.abs(l.loss - (math.log(2) + math.log(1 + math.exp(2))) / 2) < 1e-12)
assert(math.abs(l.d_logits[1] + 0.25) < 1e-12)
ok, err = pcall(obj.logistic_loss, { logits = { 0 }, targets = { 2 } })
assert(not ok and err:find("y%[1%]"), err)

-- answers(): confidence = product of the model's own probabilities of the answer tokens
local world = al.worlds.assistant{ seed = 1 }
local m = al.gpt{ vocab = world.vocab, ctx = 64, d = 16, heads = 2, layers = 1, seed = 3 }
local prompts = world:prompts(6, { split = "test", balanced = true, family = { "add", "facts", "unknown" } })
local ans = C.answers(m, world, prompts, { max_new = 6 })
assert(#ans == 6)
for i, a in ipairs(ans) do
  assert(a.correct == 0 or a.correct == 1)
  local ws = words(a.response)
  local pos = C.answer_positions(ws)
  assert(a.n_answer == #pos)
  if a.conf then
    assert(a.conf >= 0 and a.conf <= 1)
    -- independently: the softmax of the logits after each prefix, one token at a time
    local seq = world:encode(prompts[i].prompt)
    local lp = 0
    local k = 1
    for j, w in ipairs(ws) do
      if pos[k] == j then
        local row = m:logits(seq) -- the next-token logits after seq
        local mx = -math.huge
        for _, v in ipairs(row) do if v > mx then mx = v end end
        local z = 0
        for _, v in ipairs(row) do z = z + math.exp(v - mx) end
        lp = lp + row[world.tok:id(w) + 1] - mx - math.log(z)
        k = k + 1
      end
      seq[#seq + 1] = world.tok:id(w)
    end
    assert(math.abs(math.log(a.conf) - lp) < 1e-3, string.format("%d: %g vs %g", i, math.log(a.conf), lp))
  end
end

-- a P(IK) head learns "label 1 iff the prompt's second token is even"
local V = 10
local rng = al.rng(4)
local P, Y = {}, {}
for i = 1, 256 do
  local t = { 1, rng:int(V) - 1, rng:int(V) - 1 }
  P[i], Y[i] = t, t[2] % 2 == 0 and 1 or 0
end
local small = al.gpt{ vocab = V, ctx = 8, d = 16, heads = 2, layers = 1, seed = 2 }
local before = small:forward({ P[1] }, { logp = true }).sum[1]
local head, hist = C.pik(small, P, Y, { epochs = 30, lr = 3e-3, seed = 1 })
assert(hist[#hist].loss < hist[1].loss, "the loss did not fall")
local s = C.pik_scores(head, P)
local auc = C.auroc(s, Y)
assert(auc > 0.95, "P(IK) AUROC " .. auc)
assert(small:forward({ P[1] }, { logp = true }).sum[1] == before, "pik changed its input model")
ok, err = pcall(C.pik, small, P, { 1 }, {})
assert(not ok and err:find("labels"), err)
print("OK")
