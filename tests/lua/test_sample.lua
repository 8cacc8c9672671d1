-- Tests of lua/l_sample.c: m:generate, m:score and al.kl, checked against the model's own
-- m:logits / m:logprob (l_gpt.c), plus every error path.
print("testing sample")
local al = require "al"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local fails, same = T.fails, T.same

local function concat(a, b)
  local t = {}
  for _, x in ipairs(a) do t[#t + 1] = x end
  for _, x in ipairs(b) do t[#t + 1] = x end
  return t
end

local function argmax0(z) -- 0-based id of the largest entry (lowest id on ties)
  local best = 1
  for i = 2, #z do
    if z[i] > z[best] then best = i end
  end
  return best - 1
end

-- a small model trained a little on a counting pattern, so that its distributions are peaked
local V = 24
local m = al.gpt{ vocab = V, ctx = 32, d = 32, heads = 4, layers = 2, seed = 7 }
local opt = al.adamw(m, { lr = 1e-2, weight_decay = 0 })
local batch = {}
for s = 0, 7 do
  local seq = {}
  for t = 0, 11 do seq[#seq + 1] = (s + 3 * t) % V end
  batch[#batch + 1] = seq
end
for _ = 1, 15 do m:train_step(batch, opt) end -- entropy ~1.5 nats: peaked, not deterministic

local prompts = { { 1, 4, 7 }, { 5 }, { 2, 5, 8, 11, 14 }, { 0, 3 } }

print("testing generate: shapes, ranges, determinism")
do
  local c, lp, plain = m:generate(prompts, { max_new = 6, seed = 11 })
  assert(#c == #prompts and #lp == #prompts and #plain == #prompts)
  for i = 1, #c do
    assert(#c[i] == 6 and #lp[i] == 6 and #plain[i] == 6)
    for j = 1, 6 do
      assert(math.type(c[i][j]) == "integer" and c[i][j] >= 0 and c[i][j] < V)
      assert(lp[i][j] <= 0 and math.abs(lp[i][j] - plain[i][j]) < 1e-6)
    end
  end
  local c2, lp2 = m:generate(prompts, { max_new = 6, seed = 11 })
  assert(same(c, c2) and same(lp, lp2), "the same seed must give the same samples")
  local differ = 0
  for s = 12, 14 do
    if not same(c, (m:generate(prompts, { max_new = 6, seed = s }))) then differ = differ + 1 end
  end
  assert(differ == 3, "different seeds must give different samples")
  -- an al.Rng seeded on the sampling stream draws exactly like the seed option, and advances
  local r = al.core.rng(11, 3)
  local c3 = m:generate(prompts, { max_new = 6, rng = r })
  assert(same(c, c3), "rng = al.core.rng(seed, 3) must match seed = seed")
  local c4 = m:generate(prompts, { max_new = 6, rng = r })
  assert(not same(c3, c4), "the rng must advance")
  -- no prompts: nothing to do
  local e1, e2 = m:generate({}, { max_new = 3 })
  assert(#e1 == 0 and #e2 == 0)
end

print("testing generate: greedy is the argmax path of the full model")
do
  local c, lp = m:generate(prompts, { max_new = 7, temperature = 0 })
  for i, p in ipairs(prompts) do
    local ctx = p
    for j = 1, 7 do
      local z = m:logits(ctx)
      assert(c[i][j] == argmax0(z), string.format("prompt %d token %d", i, j))
      ctx = concat(ctx, { c[i][j] })
    end
    -- greedy reports temperature-1 log-probs: they sum to m:logprob
    local s = 0
    for j = 1, 7 do s = s + lp[i][j] end
    assert(math.abs(s - m:logprob(p, c[i])) < 1e-4)
  end
  -- top_k = 1 is greedy whatever the temperature
  assert(same(c, (m:generate(prompts, { max_new = 7, top_k = 1, temperature = 2, seed = 5 }))))
  -- ragged prompts give what each prompt gives alone
  for i, p in ipairs(prompts) do
    local alone = m:generate({ p }, { max_new = 7, temperature = 0 })
    assert(same(alone[1], c[i]), "prompt " .. i .. " alone differs")
  end
end

print("testing generate: eos")
do
  local g = m:generate(prompts, { max_new = 8, temperature = 0 })
  local eos = g[1][3]
  local c, lp = m:generate(prompts, { max_new = 8, temperature = 0, eos = eos })
  for i = 1, #prompts do
    local n = 0
    repeat n = n + 1 until n == 8 or g[i][n] == eos
    assert(#c[i] == n and #lp[i] == n, string.format("prompt %d: %d tokens, expected %d", i, #c[i], n))
    for j = 1, n do assert(c[i][j] == g[i][j]) end
  end
  assert(#c[1] <= 3 and c[1][#c[1]] == eos)
end

print("testing generate: top_k / top_p keep to their sets")
do
  local many = {}
  for i = 1, 24 do many[i] = { (i * 5) % V, (i * 7) % V } end
  local c = m:generate(many, { max_new = 1, top_k = 2, temperature = 1.5, seed = 3 })
  for i = 1, #many do
    local z = m:logits(many[i])
    local rank = 0
    for v = 1, V do
      if z[v] > z[c[i][1] + 1] then rank = rank + 1 end
    end
    assert(rank < 2, "top_k = 2 emitted a token of rank " .. rank)
  end
  c = m:generate(many, { max_new = 1, top_p = 0.3, seed = 4 })
  for i = 1, #many do
    local z = m:logits(many[i])
    local mx = -math.huge
    for v = 1, V do mx = math.max(mx, z[v]) end
    local S, above = 0, 0
    local zt = z[c[i][1] + 1]
    for v = 1, V do
      S = S + math.exp(z[v] - mx)
      if z[v] > zt then above = above + math.exp(z[v] - mx) end
    end
    assert(above / S < 0.3 + 1e-4, "top_p = 0.3 emitted a token outside the nucleus")
  end
end

print("testing score")
do
  local c, lp = m:generate(prompts, { max_new = 5, seed = 21 })
  local per, sums, ents = m:score(prompts, c)
  assert(#per == #prompts and #sums == #prompts and #ents == #prompts)
  for i = 1, #prompts do
    local s = 0
    for j = 1, 5 do
      assert(math.abs(per[i][j] - lp[i][j]) < 1e-5, "score differs from the sampler's log-prob")
      assert(ents[i][j] > 0 and ents[i][j] <= math.log(V) + 1e-5)
      s = s + per[i][j]
    end
    assert(math.abs(sums[i] - s) < 1e-4)
    assert(math.abs(sums[i] - m:logprob(prompts[i], c[i])) < 1e-4)
  end
  local p2, s2 = m:score({ { 1 } }, { {} })
  assert(#p2[1] == 0 and s2[1] == 0)
end

print("testing kl")
do
  local c = m:generate(prompts, { max_new = 5, seed = 31 })
  local seqs = { prompts = prompts, completions = c }
  local mean, per, ent = al.kl(m, m, seqs)
  assert(mean == 0 and #per == #prompts and #ent == #prompts)
  for i = 1, #per do assert(per[i] == 0 and ent[i] > 0) end
  local ref = m:clone()
  assert(al.kl(m, ref, seqs) == 0, "KL to a clone must be 0")
  local ropt = al.adamw(ref, { lr = 1e-2, weight_decay = 0 })
  for _ = 1, 5 do ref:train_step({ { 9, 8, 7, 6, 5, 4 } }, ropt) end
  mean, per = al.kl(m, ref, seqs)
  local s = 0
  for i = 1, #per do
    assert(per[i] > 0)
    s = s + per[i]
  end
  assert(math.abs(mean - s / #per) < 1e-6)
  -- the list-of-pairs form gives the same numbers
  local pairs_ = {}
  for i = 1, #prompts do pairs_[i] = { prompts[i], c[i] } end
  local mean2, per2 = al.kl(m, ref, pairs_)
  assert(mean2 == mean and same(per, per2))
  -- a direct computation for the first sequence from m:logits of both models
  local ctx, direct = prompts[1], 0
  for j = 1, #c[1] do
    local zp, zq = m:logits(ctx), ref:logits(ctx)
    local mp, mq = -math.huge, -math.huge
    for v = 1, V do mp, mq = math.max(mp, zp[v]), math.max(mq, zq[v]) end
    local sp, sq = 0, 0
    for v = 1, V do sp, sq = sp + math.exp(zp[v] - mp), sq + math.exp(zq[v] - mq) end
    for v = 1, V do
      local lp, lq = zp[v] - mp - math.log(sp), zq[v] - mq - math.log(sq)
      direct = direct + math.exp(lp) * (lp - lq)
    end
    ctx = concat(ctx, { c[1][j] })
  end
  assert(math.abs(per[1] - direct) < 1e-5 * math.max(1, direct), per[1] .. " vs " .. direct)
end

print("testing errors")
do
  fails("unknown option 'temp'", m.generate, m, prompts, { temp = 1 })
  fails("bad argument #1", m.generate, 3, prompts)
  fails("generate: prompts must be a list of token lists", m.generate, m, 5)
  fails("generate: prompts[2] must be a list of token ids", m.generate, m, { { 1 }, 2 })
  fails("generate: prompts[1] has 0 tokens", m.generate, m, { {} })
  fails("generate: prompts[1][2] = 24 is outside the vocabulary", m.generate, m, { { 1, 24 } })
  fails("generate: prompts[1][1] must be an integer", m.generate, m, { { 1.5 } })
  fails("exceeds the context", m.generate, m, { { 1, 2, 3 } }, { max_new = 30 })
  fails("option 'max_new' = 0", m.generate, m, prompts, { max_new = 0 })
  fails("option 'top_k' = -1", m.generate, m, prompts, { top_k = -1 })
  fails("top_p", m.generate, m, prompts, { top_p = 0 })
  fails("temperature", m.generate, m, prompts, { temperature = -1 })
  fails("option 'eos' = 24", m.generate, m, prompts, { eos = 24 })
  fails("option 'temperature' must be a number", m.generate, m, prompts, { temperature = "hot" })
  fails("not both", m.generate, m, prompts, { seed = 1, rng = al.core.rng(1) })
  fails("option 'rng' must be an al.Rng", m.generate, m, prompts, { rng = 3 })
  fails("score: 2 prompts but 1 completions", m.score, m, { { 1 }, { 2 } }, { { 3 } })
  fails("score: completions[1][1] = -1", m.score, m, { { 1 } }, { { -1 } })
  fails("kl: no sequences", al.kl, m, m, { prompts = {}, completions = {} })
  fails("kl: sequences has prompts but no completions", al.kl, m, m, { prompts = prompts })
  fails("unknown option 'extra'", al.kl, m, m, { prompts = prompts, completions = prompts, extra = 1 })
  fails("kl: sequences[1] must be a {prompt, completion} pair", al.kl, m, m, { 5 })
  local other = al.gpt{ vocab = 10, ctx = 32, d = 16, heads = 2, layers = 1 }
  fails("vocabularies differ", al.kl, other, m, { { { 1 }, { 2 } } })
  local freed = m:clone()
  freed:free()
  fails("freed", freed.generate, freed, prompts)
end

print("testing generate: one random stream per sequence (streams)")
do
  local ps, ids = {}, {}
  for i = 1, 12 do ps[i], ids[i] = { i % V, (i * 7) % V, (i * 3) % V }, 100 + i end
  local full = m:generate(ps, { max_new = 8, seed = 5, streams = ids })
  -- the two halves, each with its own ids: the same completions as the whole batch
  local a = m:generate(table.move(ps, 1, 6, 1, {}), { max_new = 8, seed = 5, streams = table.move(ids, 1, 6, 1, {}) })
  local b = m:generate(table.move(ps, 7, 12, 1, {}), { max_new = 8, seed = 5, streams = table.move(ids, 7, 12, 1, {}) })
  for i = 1, 6 do table.insert(a, b[i]) end
  assert(T.same(full, a), "a split batch with per-sequence streams differs from the whole batch")
  -- reversed order: each sequence keeps its tokens
  local rp, ri = {}, {}
  for i = 12, 1, -1 do rp[#rp + 1], ri[#ri + 1] = ps[i], ids[i] end
  local rev = m:generate(rp, { max_new = 8, seed = 5, streams = ri })
  for i = 1, 12 do assert(T.same(rev[13 - i], full[i]), "sequence " .. i .. " changed with its position") end
  -- true means ids 0..n-1; false is the default one-stream path (today's bits)
  local ids0 = {}
  for i = 1, 12 do ids0[i] = i - 1 end
  assert(T.same(m:generate(ps, { max_new = 8, seed = 5, streams = true }),
                m:generate(ps, { max_new = 8, seed = 5, streams = ids0 })))
  assert(T.same(m:generate(ps, { max_new = 8, seed = 5, streams = false }), m:generate(ps, { max_new = 8, seed = 5 })))
  assert(not T.same(m:generate(ps, { max_new = 8, seed = 5, streams = true }), m:generate(ps, { max_new = 8, seed = 5 })),
    "per-sequence streams drew the same numbers as the one stream")
  fails("streams' or 'rng', not both", m.generate, m, ps, { streams = true, rng = al.core.rng(1) })
  fails("option 'streams' has 2 ids for 12 prompts", m.generate, m, ps, { streams = { 1, 2 } })
  fails("streams[2] must be an integer >= 0", m.generate, m, { { 1 }, { 2 } }, { streams = { 1, -1 } })
  fails("option 'streams' must be true or a list", m.generate, m, ps, { streams = 3 })
end

print("OK")
