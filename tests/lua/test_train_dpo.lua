-- Tests of al.dpo (lua/al/dpo.lua): the identity loss = log 2 at step 1, the closed-form optimum
-- pi_ref exp(r / beta) / Z on a one-step bandit with Bradley-Terry preferences, the margin rising,
-- every loss variant, TRL metric names, exact resume, and errors.
print("testing dpo")
local al = require "al"
local train = require "al.train"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local fails, tmpdir, rmrf, param_bytes = T.fails, T.tmpdir, T.rmrf, T.param_bytes

-- ---- the one-step bandit: prompt { 0 }, one-token responses, a skewed reference ----
local B = T.bandit()
local V, ref, pref, r, beta, star = B.V, B.ref, B.pref, B.r, B.beta, B.star
local next_probs, tv, draw = T.next_probs, T.tv, T.draw
assert(tv(pref, star) > 0.3, "the optimum is far from the reference")

-- preferences sampled from the Bradley-Terry model of r on pairs drawn from the reference
local function bt_prefs(n, seed)
  local rng, out = al.rng(seed), {}
  while #out < n do
    local a, b = draw(rng, pref), draw(rng, pref)
    if a ~= b then
      if rng:uniform() >= 1 / (1 + math.exp(-(r[a] - r[b]))) then a, b = b, a end
      out[#out + 1] = { prompt = { 0 }, chosen = { a - 1 }, rejected = { b - 1 } }
    end
  end
  return out
end

print("testing dpo identity and closed form")
do
  local prefs = bt_prefs(8000, 11)
  local pol, h = al.dpo(ref:clone(), prefs, { beta = beta, epochs = 3, batch_size = 128, lr = 1e-2, progress = false })
  -- identity: the policy equals the reference at step 1 (the reference is a copy): loss = log 2
  -- exactly: every pair's log-ratio is 0 (the margins, chosen rewards and implicit KL are 0, not
  -- merely small); the loss is the mean of 128 copies of log 2, equal to log 2 up to the mean's
  -- rounding
  assert(h[1]["rewards/margins"] == 0 and h[1]["rewards/chosen"] == 0 and h[1]["rewards/rejected"] == 0
    and h[1].implicit_kl == 0, "policy = reference exactly at step 1")
  assert(math.abs(h[1].loss - math.log(2)) < 1e-15, string.format("first DPO loss %.17g is log 2", h[1].loss))
  -- closed form: the DPO optimum is pi_ref exp(r / beta) / Z. Measured TV 0.016-0.029 over three
  -- data seeds with 8000 pairs (0.035-0.058 with 4000: the labels are noisy draws); tolerance
  -- 0.06. TV(reference, optimum) is 0.37.
  local d = tv(next_probs(pol), star)
  print(string.format("  TV(DPO policy, pi_ref exp(r/beta)/Z) = %.4f (reference: %.4f)", d, tv(pref, star)))
  assert(d < 0.06, "DPO converges to the KL-regularised optimum")
  -- behaviour: the margin rises, accuracies rise
  local m2 = 0
  for i = 1, 10 do m2 = m2 + h[#h - i + 1]["rewards/margins"] / 10 end
  print(string.format("  margins: step 1 %.4f, last 10 steps %.4f", h[1]["rewards/margins"], m2))
  assert(m2 > 0.3, "DPO raises the margin")
  for _, k in ipairs { "loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
                       "logps/chosen", "logps/rejected", "implicit_kl", "lr", "grad_norm", "epoch", "step" } do
    assert(h[#h][k] ~= nil, "metric " .. k .. " is logged")
  end
  -- an explicit reference gives the same run
  local pol2 = al.dpo(ref:clone(), prefs, { ref = ref, beta = beta, steps = 5, batch_size = 128, lr = 1e-2, progress = false })
  local pol3 = al.dpo(ref:clone(), prefs, { beta = beta, steps = 5, batch_size = 128, lr = 1e-2, progress = false })
  assert(param_bytes(pol2) == param_bytes(pol3), "ref = the initial policy is the default")
end

print("testing dpo variants")
do
  local prefs = bt_prefs(600, 12)
  for _, loss in ipairs { "sigmoid", "ipo", "hinge", "cdpo", "simpo" } do
    local _, h = al.dpo(ref:clone(), prefs, { beta = 0.5, loss = loss, epochs = 2, batch_size = 64, lr = 1e-2, progress = false })
    local m1, m2 = h[1]["rewards/margins"], h[#h]["rewards/margins"]
    assert(m2 > m1, loss .. " raises the margin")
    if loss == "ipo" then assert(math.abs(h[1].loss - 1) < 1e-9, "IPO at step 1: (0 - 1/(2 beta))^2 = 1") end
    if loss == "hinge" then assert(h[1].loss == 1, "hinge at step 1: max(0, 1 - 0) = 1") end
    if loss == "cdpo" then assert(math.abs(h[1].loss - math.log(2)) < 1e-15, "cDPO at step 1 is log 2 too") end
  end
  fails("al.dpo: loss must be sigmoid, ipo, hinge, cdpo or simpo", al.dpo, ref:clone(), prefs, { loss = "kto" })
  fails("al.dpo: label_smoothing applies to sigmoid, cdpo and simpo only", al.dpo, ref:clone(), prefs,
    { loss = "ipo", label_smoothing = 0.1 })
  fails("al.dpo: beta must be > 0", al.dpo, ref:clone(), prefs, { beta = 0 })
  fails("al.dpo: unknown option 'betta'", al.dpo, ref:clone(), prefs, { betta = 1 })
  fails("al.dpo: preference 2 has an empty response", al.dpo, ref:clone(),
    { prefs[1], { prompt = { 0 }, chosen = {}, rejected = { 1 } } }, {})
  fails("al.dpo: preference 1: chosen token 1 is 99", al.dpo, ref:clone(), { { prompt = { 0 }, chosen = { 99 }, rejected = { 1 } } }, {})
  fails("al.dpo: non-finite", al.dpo, ref:clone(), prefs, { lr = 1e30, warmup = 0, steps = 10, progress = false })
end

print("testing dpo resume")
do
  -- longer sequences so that the model does real work
  local rng, prefs = al.rng(21), {}
  for i = 1, 64 do
    local c, rj = {}, {}
    for k = 1, 2 do c[k] = rng:int(V) - 1; rj[k] = rng:int(V) - 1 end
    prefs[i] = { prompt = { 0, rng:int(V) - 1 }, chosen = c, rejected = rj }
  end
  local opts = function(extra)
    return T.merge({ beta = 0.2, steps = 10, batch_size = 16, lr = 5e-3, progress = false }, extra)
  end
  local a = al.dpo(ref:clone(), prefs, opts())
  local dir = tmpdir("dpo")
  local ok = T.kill_at_backward(ref, 7, al.dpo, ref:clone(), prefs, opts{ ckpt = dir, save_every = 4 })
  assert(not ok and al.json.read(dir .. "/latest.json").step == 4)
  local log = tmpdir("dpo.jsonl")
  local c, hc = al.dpo(ref:clone(), prefs, opts{ resume = dir, log = log })
  assert(hc[1].step == 5 and #hc == 6)
  assert(param_bytes(c) == param_bytes(a), "DPO resume gives the same final bits")
  rmrf(dir)
  os.remove(log)
end

print("OK")
