-- Soft labels and Burns et al.'s auxiliary confidence loss in lua/al/reward_model.lua: the soft
-- label loss -p log s(d) - (1 - p) log s(-d) (d = r_c - r_r) reduces to Bradley-Terry at p = 1
-- (bit for bit: a run with every label 1 trains the same model as a run with no labels);
-- confidence = 0 changes nothing; with confidence = alpha and no warm-up the step-1 loss equals
-- the hand-computed mean over the batch of the loss against (1 - alpha) p + alpha 1[d > 0]
-- from the initial model's rewards; with a warm-up the first step is the plain soft-label loss.
print("testing reward model soft labels and confidence loss")
local al = require "al"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"

local V, N = 12, 10
local rng = al.rng(7)
local function ids(n)
  local t = {}
  for k = 1, n do t[k] = rng:int(V) - 1 end
  return t
end
local prefs, labelled = {}, {}
for i = 1, N do
  prefs[i] = { prompt = ids(1 + rng:int(3)), chosen = ids(rng:int(3)), rejected = ids(rng:int(3)) }
  labelled[i] = { prompt = prefs[i].prompt, chosen = prefs[i].chosen, rejected = prefs[i].rejected,
                  label = 0.1 + 0.08 * i }
end
local m0 = al.gpt{ vocab = V, ctx = 12, d = 16, heads = 2, layers = 1, seed = 9 }
m0:set_head{ scalar = true, lm = false, seed = 3 }
local base = { steps = 3, batch_size = N, eval = 0, progress = false, lr = 1e-2 }

-- p = 1 everywhere is Bradley-Terry, to the bit
local ones = {}
for i = 1, N do ones[i] = { prompt = prefs[i].prompt, chosen = prefs[i].chosen, rejected = prefs[i].rejected, label = 1 } end
local a = m0:clone(); al.reward_model(a, prefs, base)
local b = m0:clone(); al.reward_model(b, ones, base)
assert(T.param_bytes(a) == T.param_bytes(b), "label 1 trains a different model than no label")
-- confidence = 0 is the default
local c = m0:clone(); al.reward_model(c, labelled, base)
local d = m0:clone(); al.reward_model(d, labelled, T.merge(base, { confidence = 0 }))
assert(T.param_bytes(c) == T.param_bytes(d), "confidence = 0 changed the model")

-- and the checks can fail: other labels train another model
local e = m0:clone(); al.reward_model(e, labelled, T.merge(base, { confidence = 0.5, confidence_warmup = 0 }))
assert(T.param_bytes(e) ~= T.param_bytes(c), "confidence 0.5 trained the same model as 0")

-- the step-1 loss by hand
local function sig(z) return 1 / (1 + math.exp(-z)) end
local P, C, R = {}, {}, {}
for i, r in ipairs(labelled) do P[i], C[i], R[i] = r.prompt, r.chosen, r.rejected end
local rc = al.reward_model.rewards(m0, P, C)
local rr = al.reward_model.rewards(m0, P, R)
local function hand(alpha)
  local loss = 0
  for i = 1, N do
    local dd = rc[i] - rr[i]
    local p = (1 - alpha) * labelled[i].label + alpha * (dd > 0 and 1 or 0)
    loss = loss - p * math.log(sig(dd)) - (1 - p) * math.log(sig(-dd))
  end
  return loss / N
end
for _, alpha in ipairs({ 0.25, 0.5, 1 }) do
  local _, hist = al.reward_model(m0:clone(), labelled, T.merge(base, { confidence = alpha, confidence_warmup = 0 }))
  assert(math.abs(hist[1].loss - hand(alpha)) < 1e-5,
    string.format("alpha %g: step-1 loss %g vs hand %g", alpha, hist[1].loss, hand(alpha)))
end
assert(math.abs(hand(0.5) - hand(0)) > 1e-3, "the test's labels do not separate the cases")
local _, hw = al.reward_model(m0:clone(), labelled, T.merge(base, { confidence = 0.5, confidence_warmup = 0.5 }))
assert(math.abs(hw[1].loss - hand(0)) < 1e-5, "warm-up: the first step should use the plain labels")

T.fails("confidence must be in [0, 1]", al.reward_model, m0:clone(), labelled, T.merge(base, { confidence = 2 }))
T.fails("confidence_warmup must be in [0, 1]", al.reward_model, m0:clone(), labelled,
  T.merge(base, { confidence = 0.5, confidence_warmup = -1 }))
print("OK")
