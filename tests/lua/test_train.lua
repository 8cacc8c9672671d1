-- Tests of the shared trainer machinery (lua/al/train.lua), the batched primitives of
-- lua/l_train.c, al.pretrain / al.sft (lua/al/lm.lua) and al.reward_model: data normalisation and
-- its errors, deterministic batching, the schedule, logs, checkpoints, exact resume, the
-- non-finite stop, and the behaviour of each trainer on tiny models.
print("testing train")
local al = require "al"
local train = require "al.train"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local fails, tmpdir, rmrf, param_bytes = T.fails, T.tmpdir, T.rmrf, T.param_bytes

local V = 16
local function tiny(seed, extra)
  return al.gpt(T.merge({ vocab = V, ctx = 12, d = 16, heads = 2, layers = 1, seed = seed or 1 }, extra))
end

-- ---- l_train.c: forward / backward / kl_to ----
print("testing forward, backward, kl_to")
do
  local m = tiny(1, { head = "both" })
  local seqs = { { 1, 2, 3, 4 }, { 5, 6 }, { 7, 8, 9 } }
  local full = m:forward(seqs, { start = { 2, 1, 1 }, values = true, entropy = true, last = true })
  assert(#full.logp[1] == 3 and #full.logp[2] == 1 and #full.values[1] == 4 and #full.entropy[3] == 2)
  assert(full.logp[1][1] == 0 and full.count[1] == 2, "start = 2 scores x_2 and x_3 only")
  assert(full.sum[1] == full.logp[1][2] + full.logp[1][3])
  -- the reward rule: res.last is the value at each sequence's own last token, not at the padded end
  for b = 1, 3 do assert(full.last[b] == full.values[b][#seqs[b]], "last = values at the last token") end
  local lean = m:forward(seqs, { start = { 2, 1, 1 }, last = true, per_token = false })
  assert(lean.logp == nil and lean.entropy == nil and lean.values == nil, "per_token = false skips the tables")
  for b = 1, 3 do assert(lean.sum[b] == full.sum[b] and lean.last[b] == full.last[b]) end
  -- a mask removes tokens: mask row of the first sequence drops x_3
  local mk = m:forward(seqs, { start = { 2, 1, 1 }, mask = { { 1, 1, 1, 0 }, false, false } })
  assert(mk.count[1] == 1 and mk.logp[1][3] == 0 and mk.count[2] == 1)
  -- dlast equals dvalues with the gradient at the last position
  m:forward(seqs, { last = true, per_token = false })
  m:zero_grad()
  m:backward{ dlast = { 0.5, -1, 2 } }
  local g1 = m:grad_norm()
  m:forward(seqs, { values = true })
  m:zero_grad()
  m:backward{ dvalues = { { 0, 0, 0, 0.5 }, { 0, -1 }, { 0, 0, 2 } } }
  assert(m:grad_norm() == g1, "dlast = dvalues at the last token")
  -- dsum equals dlogp spread over the scored tokens
  m:forward(seqs, { start = 2 })
  m:zero_grad()
  m:backward{ dsum = { 1, 1, 1 } }
  local g2 = m:grad_norm()
  m:zero_grad()
  m:backward{ dlogp = { { 0, 1, 1 }, { 0 }, { 0, 1 } } }
  assert(m:grad_norm() == g2, "dsum = dlogp on the scored tokens")
  -- dlast refuses a stale forward (another forward of the model in between)
  m:forward(seqs, { last = true, per_token = false })
  m:reward({ 1, 2 })
  fails("dlast needs the last forward", m.backward, m, { dlast = { 1, 1, 1 } })
  fails("backward: dlogp has 1 rows, the last forward had 3", function()
    m:forward(seqs)
    m:backward{ dlogp = { { 1 } } }
  end)
  fails("forward: unknown option 'lst'", m.forward, m, seqs, { lst = true })
  fails("forward: sequence 2 token 1 is out of range", m.forward, m, { { 1 }, { 99 } })
  -- KL of a model to itself (and to a copy) is exactly 0; to another model > 0
  local p = tiny(1)
  local q = p:clone()
  p:forward(seqs, { start = 1 })
  q:forward(seqs, { start = 1 })
  local kl, rows = p:kl_to(q, { per_token = true })
  for b = 1, 3 do
    assert(kl[b] == 0, "KL(m || copy of m) = 0")
    for _, x in ipairs(rows[b]) do assert(x == 0) end
  end
  assert(p:kl_to(p)[1] == 0, "KL(m || m) = 0")
  local r = tiny(2)
  r:forward(seqs, { start = 1 })
  local kr = p:kl_to(r)
  assert(kr[1] > 0 and kr[2] > 0, "KL to another model is positive")
  -- the exact KL agrees with al.kl (the sampler's exact KL) to float precision
  local mean, per = al.kl(p, r, { prompts = { { 1 }, { 5 }, { 7 } }, completions = { { 2, 3, 4 }, { 6 }, { 8, 9 } } })
  for b = 1, 3 do assert(math.abs(per[b] - kr[b]) < 1e-5, "kl_to matches al.kl") end
  assert(math.abs(mean - (kr[1] + kr[2] + kr[3]) / 3) < 1e-5)
  fails("kl_to: run m:forward on both models first", p.kl_to, p, r) -- al.kl ran other forwards
  p:forward(seqs)
  r:forward({ { 1, 2 } })
  fails("kl_to: the two models' last forwards were on different sequences", p.kl_to, p, r)
end

-- ---- data normalisation and its errors ----
print("testing data records")
do
  local m = tiny()
  local recs = train.lm_records({ { 1, 2, 3 }, { prompt = { 1, 2 }, completion = { 3, 4 } },
    { tokens = { 4, 5, 6 }, start = 2 } }, nil, "t", m)
  assert(recs[2].start == 2 and #recs[2].tokens == 4, "prompt + completion: start at the first completion token")
  assert(recs[3].start == 2 and recs[1].start == 1)
  fails("t: data item 2: sequence token 2 is 99 (vocabulary [0, 16))", train.lm_records, { { 1, 2 }, { 1, 99 } }, nil, "t", m)
  fails("t: data item 1: 13 tokens, more than the model's context 12", train.lm_records,
    { { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 } }, nil, "t", m)
  fails("t: data item 1 is text: pass opts.tok", train.lm_records, { "hello" }, nil, "t", m)
  fails("t: data item 2 is a number", train.lm_records, { { 1, 2 }, 7 }, nil, "t", m)
  fails("t: data item 1 has an empty completion", train.lm_records, { { prompt = { 1 }, completion = {} } }, nil, "t", m)
  fails("t: data item 1: expected tokens, text, or prompt + completion", train.lm_records, { { foo = 1 } }, nil, "t", m)
  fails("t: no training data", train.lm_records, {}, nil, "t", m)
  local pr = train.pref_records({ { chosen = { 1, 2, 3 }, rejected = { 1, 2, 5, 6 } } }, nil, "p", m)
  assert(#pr[1].prompt == 2 and pr[1].chosen[1] == 3 and pr[1].rejected[2] == 6, "shared prefix is the prompt")
  fails("p: preference 1 needs chosen and rejected", train.pref_records, { { chosen = { 1 } } }, nil, "p", m)
  fails("p: preference 1 has an empty response", train.pref_records, { { prompt = { 1 }, chosen = {}, rejected = { 2 } } }, nil, "p", m)
  fails("p: preference 1: label must be a probability", train.pref_records,
    { { prompt = { 1 }, chosen = { 2 }, rejected = { 3 }, label = 2 } }, nil, "p", m)
  -- strings go through the tokenizer
  local w = al.worlds.assistant{ seed = 1 }
  local r = train.lm_records(w:demos(2), w.tok, "t")
  assert(r[1].start > 1 and r[1].tokens[1] == w.tok:encode("<bos>")[1])
end

-- ---- batching and schedule ----
print("testing batching and schedule")
do
  local seen = {}
  for step = 0, 3 do -- 10 items, batches of 3: 4 batches per epoch, the last one short
    local idx, epoch = train.batch_indices(10, 3, step, 7)
    assert(epoch == 0 and #idx == (step == 3 and 1 or 3))
    for _, i in ipairs(idx) do assert(not seen[i]); seen[i] = true end
  end
  for i = 1, 10 do assert(seen[i], "an epoch covers every item once") end
  local a = train.batch_indices(10, 3, 5, 7)
  local key = {}
  local b = train.batch_indices(10, 3, 5, 7, key)
  local c = train.batch_indices(10, 3, 5, 7, key)
  assert(table.concat(a, ",") == table.concat(b, ",") and table.concat(b, ",") == table.concat(c, ","),
    "a batch depends only on (n, bs, step, seed)")
  assert(table.concat(train.batch_indices(10, 3, 5, 8), ",") ~= table.concat(a, ","), "seeds differ")
  local cyc = train.cycle_indices(3, 8, 0, 1)
  assert(#cyc == 8, "cycled batches may be larger than the data")
  local o = { lr = 1.0, warmup = 10, min_lr = 0.1, schedule = "cosine" }
  assert(train.lr_at(o, 0, 110) == 0.1 and train.lr_at(o, 9, 110) == 1.0)
  assert(math.abs(train.lr_at(o, 60, 110) - 0.55) < 1e-12 and math.abs(train.lr_at(o, 110, 110) - 0.1) < 1e-12)
  assert(train.lr_at({ lr = 2, schedule = "constant" }, 50, 100) == 2)
  assert(math.abs(train.lr_at({ lr = 1, schedule = "linear" }, 50, 100) - 0.5) < 1e-12)
end

-- ---- pretraining and SFT ----
print("testing pretrain and sft")
local function sft_data(n, seed)
  -- prompt: 2 tokens a b; completion: (a + b) % 8 + 8 and 15 (an end token)
  local rng = al.rng(seed or 1)
  local out = {}
  for i = 1, n do
    local a, b = rng:int(8) - 1, rng:int(8) - 1
    out[i] = { prompt = { a, b }, completion = { (a + b) % 8 + 8, 15 } }
  end
  return out
end
do
  local m = tiny(3)
  local data = sft_data(200)
  local _, h = al.pretrain(m, { { 1, 2, 3, 4, 5, 6 }, { 6, 5, 4, 3, 2, 1 } }, { steps = 30, lr = 1e-2, progress = false })
  assert(h[#h].loss < 0.5 * h[1].loss, "pretraining fits two sequences")
  local before = require("al.lm").eval_loss(m, train.lm_records(data, nil, "t", m), 64)
  local log = tmpdir("sft.jsonl")
  local _, hs = al.sft(m, data, { epochs = 6, batch_size = 32, lr = 1e-2, eval = 0.2, log = log, progress = false })
  assert(#hs == 6 * 5, "epochs: 160 training records, batches of 32")
  local after = require("al.lm").eval_loss(m, train.lm_records(data, nil, "t", m), 64)
  assert(after < before - 0.5, string.format("SFT lowers the completion loss (%.3f -> %.3f)", before, after))
  assert(hs[#hs].eval_loss and hs[#hs].eval_loss < before, "eval loss is logged and falls")
  assert(hs[1].tokens == 64, "SFT trains on completion tokens only (2 per item)")
  -- the JSONL log: one line per step, with the metrics
  local n, last = 0, nil
  for rec in al.jsonl.lines(log) do n, last = n + 1, rec end
  assert(n == #hs and last.step == #hs and last.loss == hs[#hs].loss and last.lr and last.grad_norm)
  os.remove(log)
  -- completion_only = false trains on the prompt too
  local _, hp = al.sft(tiny(3), data, { steps = 1, completion_only = false, progress = false })
  assert(hp[1].tokens == 32 * 3)
end

-- ---- checkpoints and exact resume (SFT) ----
print("testing checkpoints and resume")
do
  local data = sft_data(96, 2)
  local opts = function(extra)
    return T.merge({ steps = 12, batch_size = 16, lr = 5e-3, warmup = 3, progress = false }, extra)
  end
  local a = tiny(4)
  al.sft(a, data, opts())
  -- a run killed during step 8 (after the checkpoint of step 6): backward raises on its 8th call
  local dir = tmpdir("ckpt")
  local b = tiny(4)
  local ok, err = T.kill_at_backward(b, 8, al.sft, b, data, opts{ ckpt = dir, save_every = 3 })
  assert(not ok and tostring(err):find("killed"), "the run was killed")
  local latest = al.json.read(dir .. "/latest.json")
  assert(latest.step == 6 and latest.dir == "step-00000006", "latest checkpoint is step 6")
  local kept = {}
  for _, name in ipairs(require("al.util").listdir(dir, "^step%-")) do kept[#kept + 1] = name end
  assert(#kept == 2 and kept[1] == "step-00000003", "the two newest checkpoints are kept")
  -- resume from a fresh copy of the initial model: the same final bits as the uninterrupted run
  local log = tmpdir("resume.jsonl")
  local c = tiny(4)
  local _, hc = al.sft(c, data, opts{ resume = dir, log = log, save_every = 3 })
  assert(#hc == 6 and hc[1].step == 7, "resumed at step 7")
  assert(param_bytes(c) == param_bytes(a), "resume gives the same final parameters bit for bit")
  assert(al.json.read(dir .. "/latest.json").step == 12, "final checkpoint")
  rmrf(dir)
  os.remove(log)
end

-- ---- errors: options, non-finite ----
print("testing errors")
do
  local data = sft_data(32)
  fails("al.sft: unknown option 'lrr'", al.sft, tiny(), data, { lrr = 1 })
  fails("al.pretrain: option 'lr' must be a number", al.pretrain, tiny(), { { 1, 2 } }, { lr = "x" })
  fails("al.sft: schedule must be cosine, linear or constant", al.sft, tiny(), data, { schedule = "cos" })
  fails("al.sft: save_every needs ckpt", al.sft, tiny(), data, { save_every = 2 })
  local e = fails("al.sft: non-finite", al.sft, tiny(), data, { lr = 1e30, steps = 10, warmup = 0, progress = false })
  assert(e:find("at step %d+"), "the message names the step: " .. e)
  -- (that the last checkpoint stays intact is tested with PPO in test_train_rl.lua)
end

-- ---- reward model ----
print("testing reward_model")
local function rm_prefs(n, seed)
  -- separable: the chosen response contains token 9, the rejected one token 3, padded by noise
  local rng = al.rng(seed or 1)
  local out = {}
  for i = 1, n do
    local p = { rng:int(8) - 1 }
    local noise = rng:int(8) - 1
    out[i] = { prompt = p, chosen = { noise, 9 }, rejected = { noise, 3 } }
    if rng:uniform() < 0.5 then out[i].chosen, out[i].rejected = { 9, noise }, { 3, noise } end
  end
  return out
end
do
  local prefs = rm_prefs(300)
  local rm, h = al.reward_model(tiny(6), prefs, { epochs = 3, lr = 3e-3, eval = 0.2, batch_size = 32, progress = false })
  assert(h.eval_accuracy > 0.9, "held-out accuracy > 90% on separable preferences: " .. h.eval_accuracy)
  assert(h[#h].loss < h[1].loss and h[#h].eval_accuracy == h.eval_accuracy)
  local c = rm:config()
  assert(c.scalar and not c.lm, "the RM has a scalar head and no LM head")
  -- the one rule: the reward of (prompt, completion) is the head at the last token, the same in
  -- a ragged batch as alone (a scorer reading a padded position would differ for the short ones)
  local P = { { 1 }, { 2 }, { 3 } }
  local C = { { 9 }, { 4, 5, 6, 7, 9 }, { 3, 3 } }
  local batched = train.scores(rm, P, C)
  for i = 1, 3 do
    local alone = rm:reward(train.concat(P[i], C[i]))
    assert(math.abs(batched[i] - alone) < 1e-6, "batched reward = single-sequence reward")
    local vals = rm:values(train.concat(P[i], C[i]))
    assert(math.abs(vals[#vals] - alone) < 1e-6)
  end
  -- changing the last token changes the reward; changing what follows the sequence in the
  -- padded batch (another, longer sequence) does not
  local r1 = train.scores(rm, { { 1 } }, { { 2, 9 } })[1]
  local r2 = train.scores(rm, { { 1 } }, { { 2, 3 } })[1]
  assert(r1 > r2, "the reward follows the last token")
  local r3 = train.scores(rm, { { 1 }, { 5 } }, { { 2, 9 }, { 1, 2, 3, 4, 5, 6, 7 } })[1]
  assert(math.abs(r3 - r1) < 1e-6, "padding does not leak into the reward")
  -- the last NON-PAD token: trailing pad tokens of a response are not read
  local padded = { { 9, 15, 15 }, { 4, 5, 6, 7, 9, 15 }, { 3, 3 } }
  local rp = al.reward_model.rewards(rm, P, padded, nil, 15)
  for i = 1, 3 do assert(rp[i] == batched[i], "trailing pads are dropped before reading the reward") end
  assert(al.reward_model.rewards(rm, P, padded)[1] ~= batched[1], "without a pad id, the pad is a token")
  local pdata = {}
  for i, x in ipairs(prefs) do
    pdata[i] = { prompt = x.prompt, chosen = train.concat(x.chosen, { 15 }), rejected = x.rejected }
  end
  local recs = train.pref_records(pdata, { pad = 15 }, "t")
  assert(#recs[1].chosen == #prefs[1].chosen, "preference records drop trailing pads (tok.pad)")
  assert(train.pad_of(al.worlds.assistant{ seed = 1 }) == al.worlds.assistant{ seed = 1 }.tok.pad, "a world's pad")
  -- margin and centering options run; soft labels of 0.5 carry no preference (zero gradient at r_c = r_r)
  local soft = {}
  for i = 1, 16 do soft[i] = { prompt = { 1 }, chosen = { 2 }, rejected = { 2 }, label = 0.5 } end
  local rm0 = tiny(6)
  local _, hs = al.reward_model(rm0, soft, { steps = 1, eval = 0, progress = false })
  assert(hs[1].grad_norm < 1e-9, "label 0.5 on identical responses: no gradient (up to rounding)")
  local _, hm = al.reward_model(tiny(6), prefs, { steps = 3, margin = true, center = 0.01, progress = false })
  assert(#hm == 3)
  -- ensembles: mean and spread
  local ens, hh = al.reward_model(tiny(7), rm_prefs(200, 2), { n = 2, epochs = 2, lr = 3e-3, batch_size = 32, progress = false })
  assert(#ens.models == 2 and hh.eval_accuracy > 0.85, "ensemble accuracy " .. tostring(hh.eval_accuracy))
  local r = ens:rewards(P, C)
  local a1, a2 = train.scores(ens.models[1], P, C), train.scores(ens.models[2], P, C)
  local sd = ens:spread(P, C)
  for i = 1, 3 do
    assert(math.abs(r[i] - (a1[i] + a2[i]) / 2) < 1e-12, "ensemble reward is the mean")
    assert(math.abs(sd[i] - math.abs(a1[i] - a2[i]) / math.sqrt(2)) < 1e-9, "spread is the sd")
  end
  assert(sd[1] > 0, "members differ")
  fails("al.reward_model: n must be a positive integer", al.reward_model, tiny(), prefs, { n = 0 })
end

print("OK")
