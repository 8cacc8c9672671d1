-- Values of the reward model trainer's margin and centering options (lua/al/reward_model.lua):
-- the loss logged at step 1 equals mean over the batch of
--   -log sigmoid(r_c - r_r - m) + center * (r_c + r_r)^2
-- computed independently from the initial model's rewards (al.reward_model.rewards), for the
-- whole set as one batch and for a smaller batch (the trainer's al.train.batch_indices), and with
-- margins off (opts.margin = false ignores the records' margins).
print("testing reward model margin and centering values")
local al = require "al"
local train = require "al.train"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"

local V, N = 12, 12
local rng, prefs = al.rng(3), {}
local function ids(n)
  local t = {}
  for k = 1, n do t[k] = rng:int(V) - 1 end
  return t
end
for i = 1, N do
  -- margins of both signs and zero; the last record has none (it counts as 0)
  local m = i < N and 0.25 * ((i % 5) - 2) or nil
  prefs[i] = { prompt = ids(rng:int(3)), chosen = ids(rng:int(3)), rejected = ids(rng:int(3)), margin = m }
end

-- the initial reward model: a scalar head already in place, so the trainer keeps it as it is
local m0 = al.gpt{ vocab = V, ctx = 12, d = 16, heads = 2, layers = 1, seed = 5 }
m0:set_head{ scalar = true, lm = false, seed = 2 }
assert(m0:clone():config().head == "scalar")

-- the expected step-1 values of a batch (1-based indices into prefs) from the initial rewards
local function expected(batch, use_margin, center)
  local P, C, R = {}, {}, {}
  for k, i in ipairs(batch) do P[k], C[k], R[k] = prefs[i].prompt, prefs[i].chosen, prefs[i].rejected end
  local rc = al.reward_model.rewards(m0, P, C)
  local rr = al.reward_model.rewards(m0, P, R)
  local loss, bt, diff = 0, 0, 0
  for k, i in ipairs(batch) do
    local m = use_margin and (prefs[i].margin or 0) or 0
    local d = rc[k] - rr[k] - m
    local nls = -math.log(1 / (1 + math.exp(-d)))
    loss = loss + nls + center * (rc[k] + rr[k]) ^ 2
    bt = bt + nls
    diff = diff + rc[k] - rr[k]
  end
  local n = #batch
  return { loss = loss / n, bt = bt / n, margin = diff / n, rc = rc, rr = rr }
end

local TOL = 1e-6 -- float32 rewards (batches padded differently), a double loss

local function first_step(opts)
  local o = T.merge({ steps = 1, eval = 0, lr = 1e-3, progress = false }, opts)
  local _, h = al.reward_model(m0:clone(), prefs, o)
  assert(#h == 1)
  return h[1]
end

do print("  margin and center, the whole set as one batch")
  local center = 0.5
  local all = {}
  for i = 1, N do all[i] = i end
  local e = expected(all, true, center)
  local log = T.tmpdir("rm.jsonl")
  local h = first_step{ batch_size = N, margin = true, center = center, log = log }
  print(string.format("  logged %.10f, expected %.10f", h.loss, e.loss))
  assert(math.abs(h.loss - e.loss) < TOL, string.format("loss %.17g vs %.17g", h.loss, e.loss))
  assert(math.abs(h.margin - e.margin) < TOL, "the logged margin is the mean r_c - r_r")
  -- the check can fail: without the margins, or without the centering term, it is far off
  local no_margin = expected(all, false, center)
  assert(math.abs(no_margin.loss - e.loss) > 100 * TOL, "the margins change the loss")
  assert(math.abs(e.bt - e.loss) > 100 * TOL, "the centering term changes the loss")
  -- the JSONL log holds the same value
  local first = al.jsonl.lines(log)()
  assert(first.step == 1 and first.loss == h.loss)
  os.remove(log)
end

do print("  margin and center, a batch of 5 (the trainer's first batch)")
  local center = 0.25
  local batch = train.batch_indices(N, 5, 0, 1)
  assert(#batch == 5)
  local e = expected(batch, true, center)
  local h = first_step{ batch_size = 5, margin = true, center = center }
  assert(math.abs(h.loss - e.loss) < TOL, string.format("loss %.17g vs %.17g", h.loss, e.loss))
  assert(math.abs(h.margin - e.margin) < TOL)
  -- a different batch of 5 would give another value
  local other = {}
  for i = 1, N do
    local used = false
    for _, j in ipairs(batch) do used = used or j == i end
    if not used and #other < 5 then other[#other + 1] = i end
  end
  assert(math.abs(expected(other, true, center).loss - e.loss) > 100 * TOL)
end

do print("  margin = false ignores the records' margins; center = 0 is plain Bradley-Terry")
  local all = {}
  for i = 1, N do all[i] = i end
  local e = expected(all, false, 0)
  local h = first_step{ batch_size = N }
  assert(math.abs(h.loss - e.loss) < TOL, string.format("loss %.17g vs %.17g", h.loss, e.loss))
  assert(math.abs(e.loss - e.bt) == 0)
  local with_margin = expected(all, true, 0)
  assert(math.abs(with_margin.loss - e.loss) > 100 * TOL)
  -- and center alone
  local ec = expected(all, false, 2.0)
  local hc = first_step{ batch_size = N, center = 2.0 }
  assert(math.abs(hc.loss - ec.loss) < TOL, string.format("loss %.17g vs %.17g", hc.loss, ec.loss))
end

print("OK")
