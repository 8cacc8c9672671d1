-- Tests of Constitutional AI (lua/al/cai/, lua/al/constitution.lua): the critique and
-- revision prompts are formed as documented; the batched choice scorer agrees with m:score;
-- soft labels are probabilities, complementary, and flip when A and B are swapped; a feedback
-- model that prefers refusals yields labels and revisions that prefer refusals (and one that
-- prefers compliance the opposite); the whole pipeline runs in smoke mode through a world that
-- raises on any read of a gold score or harm label.
print("testing cai")
local al = require "al"
local cai = al.cai
local core = require "al.core"

local world = al.worlds.assistant{ seed = 1 }
local t_start = core.time()

local function close(a, b, tol) return math.abs(a - b) <= (tol or 1e-9) end

-- ---- the constitution ----
local cons = cai.constitution()
assert(#cons.principles == 16, "16 principles, as in the paper")
local vocab = {}
for _, w in ipairs(world.words) do vocab[w] = true end
for _, p in ipairs(cons.principles) do
  assert(#p.kinds >= 3, p.name .. ": at least three kinds")
  for _, k in ipairs(p.kinds) do assert(vocab[k], p.name .. ": kind '" .. k .. "' is not in the world's language") end
  assert(type(p.text) == "string" and #p.text > 20, p.name .. ": an English text for people")
end
-- a constitution from a file
local tmp = os.tmpname() .. ".lua"
local f = assert(io.open(tmp, "w"))
f:write('return { name = "one", principles = { { name = "only", kinds = { "steal" } } } }')
f:close()
local c1 = cai.constitution(tmp)
assert(c1.name == "one" and #c1.principles == 1)
os.remove(tmp)
local ok0, e0 = pcall(cai.constitution, { principles = { { name = "x", kinds = {} } } })
assert(not ok0 and e0:find("principle 1 %(x%) has no kinds"), "empty kinds refused: " .. tostring(e0))
assert(not pcall(cai.constitution, { principles = { { name = "x", kinds = { "two words" } } } }))

-- ---- prompts are formed as documented (the world's feedback language) ----
local Q = "<bos> User : insult bob Assistant :"
local req = world:critique_request(Q, "bob is a stupid fool <eos>", { "insult", "steal" })
assert(req == Q .. " bob is a stupid fool User : critique insult steal Assistant :", req)
assert(world:critique_request({ prompt = Q }, "<eos>", { "hurt" }) == Q .. " User : critique hurt Assistant :",
  "an empty answer critiques the bare prompt")
local rev = world:revision_request(req, "insulting a person is harmful")
assert(rev == req .. " insulting a person is harmful User : revise Assistant :", rev)
local ch = world:choice_request(Q, "i can not help with that <eos>", "bob is a stupid fool", { "insult" })
assert(ch == "<bos> User : insult bob User : which is less harmful for insult ? (A) i can not help with that (B) bob is a stupid fool Assistant :", ch)
local okk, ek = pcall(world.critique_request, world, Q, "x", { "rudeness" })
assert(not okk and ek:find("unknown harm kind 'rudeness'"), "a kind outside the language is refused: " .. tostring(ek))
for _, s in ipairs({ req, rev, ch }) do
  local ids = world:encode(s)
  for _, id in ipairs(ids) do assert(id ~= world.tok:id("<unk>"), "prompt uses only the world's words: " .. s) end
  assert(#ids <= world.max_len)
end

-- ---- the batched choice scorer agrees with m:score, and dedupes ----
local tiny = al.gpt{ vocab = world.vocab, ctx = 64, d = 16, heads = 2, layers = 1, seed = 3 }
local ctxs = { world:encode(ch), world:encode("<bos> User : add 3 5 Assistant : 8"), world:encode(ch) }
local A_, B_ = world:encode("(A)"), world:encode("(B)")
local chs = { { A_, B_ }, { world:encode("<eos>") }, { A_, world:encode("(A) <eos>") } }
local lp, distinct = cai.choice_logprobs(tiny, ctxs, chs)
assert(distinct == 4, "identical pairs scored once (got " .. distinct .. ")")
for i = 1, #ctxs do
  for k = 1, #chs[i] do
    local _, sums = tiny:score({ ctxs[i] }, { chs[i][k] })
    assert(close(lp[i][k], sums[1], 1e-4), string.format("lp[%d][%d] %g vs m:score %g", i, k, lp[i][k], sums[1]))
    assert(lp[i][k] < 0)
  end
end
assert(lp[1][1] == lp[3][1])

-- ---- scripted feedback models ----
-- A "model" with :score that reads the choice question and puts its mass on the letter of the
-- refusal (or of the other answer): a feedback model that prefers refusals / compliance.
local function options_of(ctx)
  local a, b = ctx:match("%(A%) (.-) %(B%) (.-) Assistant :$")
  return a, b
end
local function scripted_feedback(prefers_refusal)
  local fb = { calls = 0 }
  function fb.score(_, prompts, comps)
    fb.calls = fb.calls + 1
    local sums = {}
    for i = 1, #prompts do
      local a = options_of(world:decode(prompts[i]))
      local a_refuses = a:find("^i can not help with that") ~= nil
      local letter = world:decode(comps[i])
      local good = (letter == "(A)") == (a_refuses == prefers_refusal)
      sums[i] = good and -0.05 or -4
    end
    return {}, sums
  end
  return fb
end
local refuser, complier = scripted_feedback(true), scripted_feedback(false)
-- always "(A)": pure position bias
local biased = { score = function(_, prompts, comps)
  local s = {}
  for i = 1, #prompts do s[i] = world:decode(comps[i]) == "(A)" and -0.1 or -3 end
  return {}, s
end }

-- pairs of (refusal, compliance) on red-team prompts
local recs = world:prompts(24, { family = "harmful", seed = 9 })
local pairs_, swapped = {}, {}
for i, r in ipairs(recs) do
  local harmful = "the password of bob is tiger 42 <eos>"
  local refusal = (i % 2 == 0) and "i can not help with that <eos>" or "i can not help with that because stealing is harmful <eos>"
  pairs_[i] = { prompt = r.prompt, a = refusal, b = harmful }
  swapped[i] = { prompt = r.prompt, a = harmful, b = refusal }
end
local la = cai.soft_labels(refuser, world, pairs_, { seed = 4 })
local lb = cai.soft_labels(refuser, world, swapped, { seed = 4 })
for i = 1, #pairs_ do
  assert(la[i] >= 0 and la[i] <= 1, "a probability")
  assert(close(la[i] + lb[i], 1, 1e-12), "swapping A and B flips the label: " .. la[i] .. " + " .. lb[i])
  assert(la[i] > 0.9, "a refusal-preferring feedback model prefers the refusal: " .. la[i])
end
local lc = cai.soft_labels(complier, world, pairs_, { seed = 4 })
for i = 1, #pairs_ do assert(lc[i] < 0.1, "a compliance-preferring feedback model prefers compliance") end
-- the label is the normalised probability of the letter: with log-probs -0.05 / -4
local want = 1 / (1 + math.exp(-4 + 0.05))
assert(close(la[1], want, 1e-12), "P(A) = p(A) / (p(A) + p(B)): " .. la[1] .. " vs " .. want)
-- a position-biased feedback model: debiasing (both orders) cancels it, one order does not
local d1 = cai.soft_labels(biased, world, pairs_, { seed = 4 })
local d0 = cai.soft_labels(biased, world, pairs_, { seed = 4, debias = false })
for i = 1, #pairs_ do
  assert(close(d1[i], 0.5, 1e-12), "debias cancels a pure position bias: " .. d1[i])
  assert(d0[i] > 0.9, "one order keeps it: " .. d0[i])
end
-- averaging over principles and clamping
local le, used = cai.soft_labels(refuser, world, pairs_, { seed = 4, principles = 3, clamp = { 0.4, 0.6 } })
for i = 1, #pairs_ do assert(close(le[i], 0.6), "clamped to 40-60%: " .. le[i]); assert(#used[i] == 3) end
-- the principle reaches the question: a feedback model that only judges under "steal" sees it
local seen = {}
local spy = { score = function(_, prompts, comps)
  local s = {}
  for i = 1, #prompts do
    seen[world:decode(prompts[i]):match("which is less harmful for (.-) %?")] = true
    s[i] = -1
  end
  return {}, s
end }
cai.soft_labels(spy, world, pairs_, { seed = 4, constitution = { principles = { { name = "s", kinds = { "steal", "hurt" } } } } })
assert(seen["steal hurt"] and next(seen, next(seen)) == nil, "the principle's kinds are the question's focus")
-- a real (untrained) model: labels are probabilities that flip under swap
local lr_ = cai.soft_labels(tiny, world, pairs_, { seed = 5, principles = 2 })
local ls_ = cai.soft_labels(tiny, world, swapped, { seed = 5, principles = 2 })
for i = 1, #pairs_ do
  assert(lr_[i] > 0 and lr_[i] < 1)
  assert(close(lr_[i] + ls_[i], 1, 1e-5), "flip under swap (batched float32 forwards: 1e-5)")
end
-- identical responses give 1/2; a question too long for the model is refused, naming the pair
local same = cai.soft_labels(tiny, world, { { prompt = Q, a = "8 <eos>", b = "8 <eos>" } })
assert(same[1] == 0.5)
local short = al.gpt{ vocab = world.vocab, ctx = 24, d = 16, heads = 2, layers = 1, seed = 3 }
local okl, el = pcall(cai.soft_labels, short, world, pairs_)
assert(not okl and el:find("choice question of pair 1 has %d+ tokens, the feedback model's context is 24"), tostring(el))

-- ---- revision: the model critiques, then revises in the same context ----
-- A scripted model: answers prompts like the world's SFT-like policy; critiques every answer
-- that is not a refusal with "stealing is harmful" (or, when lenient, says "it is fine");
-- revises after a harm critique into a refusal and keeps the answer after "it is fine".
local function scripted_reviser(lenient)
  local inner = world:scripted_policy("sft")
  local m = { prompts = {} }
  function m.generate(_, prompts, o)
    local out, plain_ = {}, {}
    for i, ids in ipairs(prompts) do
      local p = world:decode(ids)
      m.prompts[#m.prompts + 1] = p
      if p:match("User : revise Assistant :$") then
        local ans, crit = p:match("Assistant : (.-) User : critique .- Assistant : (.-) User : revise Assistant :$")
        out[i] = world:encode((crit == world.critique_fine and (ans or "") or "i can not help with that") .. " <eos>")
      elseif p:match("User : critique .- Assistant :$") then
        local ans = p:match("Assistant : (.-) User : critique") or ""
        local c = (lenient or ans:find("^i can not help")) and world.critique_fine or "stealing is harmful"
        out[i] = world:encode(c .. " <eos>")
      else
        plain_[#plain_ + 1] = i
      end
    end
    if #plain_ > 0 then
      local sub = {}
      for k, i in ipairs(plain_) do sub[k] = prompts[i] end
      local r = inner:generate(sub, o)
      for k, i in ipairs(plain_) do out[i] = r[k] end
    end
    return out
  end
  return m
end
local function refusal_rate(list)
  local n = 0
  for _, r in ipairs(list) do if r:find("^i can not help with that") then n = n + 1 end end
  return n / #list
end
local strict = scripted_reviser(false)
local rounds, hist = cai.revise(strict, world, recs, { rounds = 3, progress = false, seed = 2 })
assert(#hist == 3 and rounds[3] and rounds[0])
local r0, r1 = refusal_rate(rounds[0]), refusal_rate(rounds[1])
assert(r0 < 0.9, "the SFT-like policy complies sometimes (" .. r0 .. ")")
assert(r1 == 1 and refusal_rate(rounds[3]) == 1, string.format("revisions refuse: %.2f -> %.2f", r0, r1))
assert(close(hist[1].flagged, 1 - r0, 1e-12) and close(hist[1].changed, 1 - r0, 1e-12), "round 1 flags and changes every compliance")
assert(hist[2].flagged == 0 and hist[2].changed == 0, "nothing left to revise at round 2")
-- the prompts the model saw: critique request under the sampled principle, then the revision
-- request holding the critique
local cons_by = {}
for _, p in ipairs(cons.principles) do cons_by[p.name] = p end
local p1 = cons_by[hist[1].critiques[1].principle]
local creq = world:critique_request(recs[1].prompt, rounds[0][1], p1.kinds)
local rreq = world:revision_request(creq, hist[1].critiques[1].critique)
local found_c, found_r = false, false
for _, p in ipairs(strict.prompts) do
  if p == creq then found_c = true end
  if p == rreq then found_r = true end
end
assert(found_c and found_r, "critique and revision requests are formed as documented")
local lenient = scripted_reviser(true)
local rounds_l, hist_l = cai.revise(lenient, world, recs, { rounds = 2, progress = false, seed = 2 })
for n = 1, 2 do
  assert(hist_l[n].flagged == 0 and hist_l[n].changed == 0)
  for i = 1, #recs do assert(rounds_l[n][i] == rounds_l[0][i], "a critic that finds nothing changes nothing") end
end

-- ---- al.cai.sl logs one JSONL line per revision round and per fine-tuning step ----
do
  local dir = os.tmpname()
  os.remove(dir)
  local m0 = al.gpt{ vocab = world.vocab, ctx = 64, d = 16, heads = 2, layers = 1, seed = 2 }
  local _, info_ = cai.sl(m0, { world = world, policy = scripted_reviser(false), prompts = 6,
    rounds = 2, demos = 10, batch_size = 8, progress = false, log = dir .. ".jsonl" })
  local n = 0
  for line in io.lines(dir .. "-revise.jsonl") do
    n = n + 1
    local t = al.json.decode(line)
    assert(t.round == n and t.changed >= 0 and t.changed <= 1 and t.flagged >= 0 and t.flagged <= 1)
  end
  assert(n == 2, "one line per round")
  local k = 0
  for _ in io.lines(dir .. ".jsonl") do k = k + 1 end
  assert(k >= 2, "the fine-tune logs its steps")
  assert(#info_.data == 6 + 10 and info_.dropped == 0, "revisions + demonstrations")
  for k = 1, 6 do assert(info_.data[k].completion == "i can not help with that <eos>", "trained on the final revisions") end
  os.remove(dir .. "-revise.jsonl")
  os.remove(dir .. ".jsonl")
end

-- ---- the guard raises on gold and harm reads; the blind view hides harm ----
local g = cai.guard(world)
assert(not pcall(function() return g:gold(Q, "x") end), "guard: gold raises")
assert(not pcall(function() return g:evaluate(tiny) end), "guard: evaluate raises")
local fe = g:features(Q, "bob is a stupid fool <eos>")
assert(not pcall(function() return fe.harmful end), "guard: harm feature raises")
assert(fe.length == 5)
local bl = cai.blind(g)
local fb_ = bl:features(Q, "bob is a stupid fool <eos>")
assert(fb_.harmful == nil and fb_.length == 5, "blind view has no harm field")
local hl = cai.helpful_labeler(g, { seed = 1 })
local p_ = hl:prefer({ prompt = "<bos> User : add 3 5 Assistant :" }, "8 <eos>", "9 <eos>")
assert(p_ > 0.5, "the blind helpful labeler still judges helpfulness")

-- ---- the whole pipeline, smoke budget, through the guard: no gold or harm label read ----
local sft = al.gpt{ vocab = world.vocab, ctx = 64, d = 16, heads = 2, layers = 1, seed = 1 }
al.sft(sft, world:demos(32), { steps = 2, batch_size = 8, tok = world, progress = false })
local before = sft:clone()
local rl, sl, info = cai.pipeline(g, sft, {
  progress = false,
  sl = { prompts = 8, rounds = 2, demos = 16, batch_size = 8 },
  rl = { pairs = 8, helpful = 8, prompts = 16, rm = { epochs = 1, batch_size = 8, eval = 0 },
         ppo = { steps = 2, batch_size = 4, max_new = 8, epochs = 1, minibatches = 1 } },
})
assert(rl and sl and rl ~= sl and rl ~= sft and sl ~= sft, "three distinct models")
assert(#info.sl.rounds == 2 and #info.sl.rounds[0] == 8)
assert(#info.rl.ai_prefs == 8 and info.rl.ai_prefs[1].label >= 0 and info.rl.ai_prefs[1].label <= 1)
assert(#info.rl.prefs >= 8 + 4, "AI labels mixed with helpfulness labels")
for _, p in ipairs(info.rl.prefs) do
  if p.labeler ~= "ai" then assert(p.family ~= "harmful" and p.family ~= "instructed", "helpfulness labels on benign prompts only") end
end
-- sft itself is untouched
local q = { world:encode(Q) }
local _, s1 = sft:score(q, { world:encode("i can not help with that") })
local _, s2 = before:score(q, { world:encode("i can not help with that") })
assert(s1[1] == s2[1], "pipeline leaves the SFT model unchanged")
-- the same pipeline on the real world with a labeler that reads harm is caught by the guard
local ok, err = pcall(cai.rl, sl:clone(), { world = g, labeler = { choose = function(_, rec, a, b)
  local f = g:features(rec, a); return f.harmful == 0, 0.5 end }, pairs = 4, helpful = 4,
  prompts = 4, progress = false, rm = { epochs = 1, eval = 0 }, ppo = { steps = 1, batch_size = 2 } })
assert(not ok and tostring(err):find("al.cai.guard: harm feature 'harmful' read", 1, true),
  "a labeler that reads harm is caught by the guard: " .. tostring(err))

print(string.format("  cai tests: %.1f s", core.time() - t_start))
print("OK")
