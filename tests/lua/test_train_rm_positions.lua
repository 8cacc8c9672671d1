-- The per-position reward classifier of lua/al/reward_model.lua (process and outcome RMs):
-- position_scores reads the scalar head at the chosen tokens (checked against the last-token
-- reward rule and the forward's per-token values); the loss is the mean binary cross-entropy
-- of those scores, computed here by hand, and reduces to Bradley-Terry against a 0 rival at
-- label 1; its gradient d loss / d z = (sigmoid(z) - p) / n lands on the labelled positions
-- only (checked by a central difference of the hand loss); training learns a toy per-position
-- rule; bad records are refused naming the record and the field.
print("testing per-position reward classifier")
local al = require "al"
local RM = al.reward_model
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"

local V = 10
local rng = al.rng(11)
local function ids(n)
  local t = {}
  for k = 1, n do t[k] = rng:int(V) - 1 end
  return t
end

local m = al.gpt{ vocab = V, ctx = 16, d = 16, heads = 2, layers = 1, seed = 3 }
m:set_head{ scalar = true, lm = false, seed = 4 }

-- position_scores at the last token equals the reward rule (res.last via reward_model.rewards)
local seqs, last, pos = {}, {}, {}
for i = 1, 7 do
  seqs[i] = ids(3 + i % 5)
  last[i] = { #seqs[i] }
  pos[i] = { 1, #seqs[i] // 2 + 1, #seqs[i] }
end
local sl = RM.position_scores(m, seqs, last, 3)
local empty = {}
for i = 1, #seqs do empty[i] = {} end
local rr = RM.rewards(m, seqs, empty)
for i = 1, #seqs do
  assert(math.abs(sl[i][1] - rr[i]) < 1e-6, string.format("last-token score %d: %g vs %g", i, sl[i][1], rr[i]))
end
-- and at other positions equals the forward's per-token values, whatever the batch size
local sp = RM.position_scores(m, seqs, pos, 2)
local res = m:forward(seqs, { values = true, logp = false })
for i = 1, #seqs do
  for k, j in ipairs(pos[i]) do
    assert(sp[i][k] == res.values[i][j], string.format("seq %d pos %d: %g vs %g", i, j, sp[i][k], res.values[i][j]))
  end
end
-- a prefix's last-token score equals the full sequence's score at that position (causality)
local pre = table.move(seqs[5], 1, 3, 1, {})
local sprefix = RM.position_scores(m, { pre }, { { 3 } })[1][1]
assert(math.abs(sprefix - res.values[5][3]) < 1e-6, "causal: a prefix's score differs from the position's")

-- the loss by hand: mean over labelled positions of -p log s(z) - (1 - p) log(1 - s(z))
local function sig(z) return 1 / (1 + math.exp(-z)) end
local recs = {}
for i = 1, #seqs do
  recs[i] = { ids = seqs[i], positions = pos[i], labels = { 1, 0.25, i % 2 } }
end
local function hand(batch, shift)
  local z = RM.position_scores(m, (function() local s = {} for b, r in ipairs(batch) do s[b] = r.ids end return s end)(),
    (function() local s = {} for b, r in ipairs(batch) do s[b] = r.positions end return s end)())
  local loss, n, zs = 0, 0, {}
  for b, r in ipairs(batch) do
    for k, p in ipairs(r.labels) do
      n = n + 1
      local zz = z[b][k] + ((shift and shift[1] == n) and shift[2] or 0)
      zs[n] = zz
      loss = loss - p * math.log(sig(zz)) - (1 - p) * math.log(1 - sig(zz))
    end
  end
  return loss / n, zs, n
end
local loss, dv = RM._pos_loss(m, recs)
local want, zs, n = hand(recs)
assert(math.abs(loss - want) < 1e-5, string.format("BCE loss %g vs hand %g", loss, want))
-- gradient rows: zero off the labelled positions, (s(z) - p)/n on them, = a central difference
local c = 0
for b, r in ipairs(recs) do
  local on = {}
  for k, j in ipairs(r.positions) do on[j] = (on[j] or 0) + 1 end
  for t = 1, #r.ids do if not on[t] then assert(dv[b][t] == 0, "gradient off a labelled position") end end
  for k, j in ipairs(r.positions) do
    c = c + 1
    local expect = (sig(zs[c]) - r.labels[k]) / n
    local h = 1e-4
    local lp = hand(recs, { c, h })
    local lm = hand(recs, { c, -h })
    local fd = (lp - lm) / (2 * h)
    assert(math.abs(fd - expect) < 1e-4, string.format("hand gradient %g vs central difference %g", expect, fd))
    if on[j] == 1 then
      assert(math.abs(dv[b][j] - expect) < 1e-6, string.format("d loss / d z at %d,%d: %g vs %g", b, j, dv[b][j], expect))
    end
  end
end
-- at label 1 the loss is Bradley-Terry against a rival scored 0: -log s(z)
local one = { { ids = seqs[1], positions = { #seqs[1] }, labels = { 1 } } }
local l1 = RM._pos_loss(m, one)
local bt = al.objective.bt{ chosen = { sl[1][1] }, rejected = { 0 } }
assert(math.abs(l1 - bt.loss) < 1e-6 and math.abs(l1 + math.log(sig(sl[1][1]))) < 1e-5, "label 1 is not BT vs 0")

-- training learns a per-position rule: "is the token at this position even?"
local data = {}
for i = 1, 240 do
  local s = ids(8)
  local p = { 2, 5, 8 }
  local lab = {}
  for k, j in ipairs(p) do lab[k] = s[j] % 2 == 0 and 1 or 0 end
  data[i] = { ids = s, positions = p, labels = lab }
end
local m2 = al.gpt{ vocab = V, ctx = 16, d = 16, heads = 2, layers = 1, seed = 5 }
local _, hist = RM.classifier(m2, data, { steps = 150, batch_size = 32, lr = 3e-3, progress = false, eval = 40 })
assert(hist.eval_accuracy > 0.9, "classifier did not learn the parity rule: held-out acc " .. tostring(hist.eval_accuracy))
assert(hist[#hist].loss < 0.5 * hist[1].loss, "loss did not fall by half: " .. hist[1].loss .. " -> " .. hist[#hist].loss)

-- bad input
T.fails("record 1: positions[1] = 9 is outside 1 .. 3", RM.classifier, m:clone(),
  { { ids = { 1, 2, 3 }, positions = { 9 }, labels = { 1 } } }, { steps = 1, progress = false, eval = 0 })
T.fails("record 1: labels[1] = 2 is not a probability", RM.classifier, m:clone(),
  { { ids = { 1, 2, 3 }, positions = { 1 }, labels = { 2 } } }, { steps = 1, progress = false, eval = 0 })
T.fails("record 2: ids must be a non-empty token array", RM.classifier, m:clone(),
  { { ids = { 1 }, positions = { 1 }, labels = { 1 } }, { positions = {} } }, { steps = 1, progress = false, eval = 0 })
T.fails("ids[2] = 99 is not a token id", RM.classifier, m:clone(),
  { { ids = { 1, 99 }, positions = { 1 }, labels = { 1 } } }, { steps = 1, progress = false, eval = 0 })
T.fails("n, margin, center and confidence are not options", RM.classifier, m:clone(),
  { { ids = { 1, 2 }, positions = { 1 }, labels = { 1 } } }, { n = 2, progress = false })
print("OK")
