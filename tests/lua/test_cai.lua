-- Tests of Constitutional AI (lua/al/cai.lua, lua/al/constitution.lua): the critique and
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
  assert(#p.reasons >= 3, p.name .. ": at least three reasons")
  for _, r in ipairs(p.reasons) do
    for w in r:gmatch("%S+") do assert(vocab[w], p.name .. ": word '" .. w .. "' is not in the world's language") end
  end
end
-- a constitution from a file
local tmp = os.tmpname() .. ".lua"
local f = assert(io.open(tmp, "w"))
f:write('return { name = "one", principles = { { name = "only", reasons = { "stealing is harmful" } } } }')
f:close()
local c1 = cai.constitution(tmp)
assert(c1.name == "one" and #c1.principles == 1)
os.remove(tmp)
assert(not pcall(cai.constitution, { principles = { { name = "x", reasons = {} } } }), "empty reasons refused")

-- ---- prompts are formed as documented ----
local Q = "<bos> User : insult bob Assistant :"
local P2 = { name = "t", reasons = { "insulting a person is harmful", "stealing is harmful" } }
local cp = cai.critique_prompt(Q, "i can not help with that because insulting a person is harmful <eos>", P2)
assert(cp.context == "<bos> User : insult bob Assistant : i can not help with that", cp.context)
assert(#cp.targets == 2 and cp.targets[1] == "because insulting a person is harmful"
  and cp.targets[2] == "because stealing is harmful")
cp = cai.critique_prompt({ prompt = Q }, "bob is a stupid fool <eos>", P2)
assert(cp.context == Q .. " bob is a stupid fool", cp.context)
cp = cai.critique_prompt(Q, "<eos>", P2)
assert(cp.context == Q, "an empty response critiques the bare prompt")
assert(cai.main_text("great question 8 <eos>") == "great question 8")
assert(cai.revision_prompt({ prompt = Q }) == Q, "the revision prompt is the red-team prompt")
for _, s in ipairs({ cp.context, cp.targets[1] }) do
  local ids = world:encode(s)
  assert(not table.concat(ids, ","):find(tostring(world.tok.unk or -99), 1, true) or true)
  assert(world:decode(ids):gsub("<bos> ", "") == s:gsub("<bos> ", ""), "prompt uses only the world's words: " .. s)
end

-- ---- the batched choice scorer agrees with m:score, and dedupes ----
local tiny = al.gpt{ vocab = world.vocab, ctx = 48, d = 16, heads = 2, layers = 1, seed = 3 }
local ctxs = { world:encode(Q), world:encode("<bos> User : add 3 5 Assistant : 8"), world:encode(Q) }
local chs = {
  { world:encode("because stealing is harmful"), world:encode("yes") },
  { world:encode("<eos>") },
  { world:encode("because stealing is harmful"), world:encode("no") },
}
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
-- A "model" with :score whose log-prob of a justification ("because ...") is high after a
-- refusal and low after anything else (or the reverse): what a feedback model that prefers
-- refusals / compliance would say.
local function scripted_feedback(prefers_refusal)
  local fb = { calls = 0 }
  function fb.score(_, prompts, comps)
    fb.calls = fb.calls + 1
    local sums = {}
    for i = 1, #prompts do
      local ctx = world:decode(prompts[i])
      local refused = ctx:find("i can not help with that", 1, true) ~= nil
      local good = (refused == prefers_refusal)
      sums[i] = (good and -0.5 or -6) - 0.01 * #comps[i]
    end
    return {}, sums
  end
  return fb
end
local refuser, complier = scripted_feedback(true), scripted_feedback(false)

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
-- averaging over principles and clamping
local le = cai.soft_labels(refuser, world, pairs_, { seed = 4, principles = 3, clamp = { 0.4, 0.6 } })
for i = 1, #pairs_ do assert(close(le[i], 0.6), "clamped to 40-60%: " .. le[i]) end
-- a real (untrained) model: labels are probabilities that flip under swap
local lr_ = cai.soft_labels(tiny, world, pairs_, { seed = 5, principles = 2 })
local ls_ = cai.soft_labels(tiny, world, swapped, { seed = 5, principles = 2 })
for i = 1, #pairs_ do
  assert(lr_[i] > 0 and lr_[i] < 1)
  assert(close(lr_[i] + ls_[i], 1, 1e-5), "flip under swap (batched float32 forwards: 1e-5)")
end
-- identical responses give 1/2
local same = cai.soft_labels(tiny, world, { { prompt = Q, a = "8 <eos>", b = "8 <eos>" } })
assert(same[1] == 0.5)

-- ---- revision: a refusal-preferring critic turns answers into refusals ----
local policy = world:scripted_policy("sft")
local rounds, hist = cai.revise(policy, refuser, world, recs, { rounds = 3, candidates = 4,
  select_temperature = 0, progress = false, seed = 2 })
local function refusal_rate(list)
  local n = 0
  for _, r in ipairs(list) do if r:find("^i can not help with that") then n = n + 1 end end
  return n / #list
end
assert(#hist == 3 and rounds[3] and rounds[0])
local r0, r3 = refusal_rate(rounds[0]), refusal_rate(rounds[3])
assert(r0 < 0.9, "the SFT-like policy complies sometimes (" .. r0 .. ")")
assert(r3 > r0 and r3 >= 0.95, string.format("revisions refuse: %.2f -> %.2f", r0, r3))
for n = 1, 3 do assert(refusal_rate(rounds[n]) >= refusal_rate(rounds[n - 1]), "argmax revisions never lose a refusal") end
local rounds_c = cai.revise(policy, complier, world, recs, { rounds = 3, candidates = 4,
  select_temperature = 0, progress = false, seed = 2 })
assert(refusal_rate(rounds_c[3]) < r0 or r0 == 0, "a compliance-preferring critic removes refusals")

-- ---- al.cai.sl logs one JSONL line per revision round and per fine-tuning step ----
do
  local dir = os.tmpname()
  os.remove(dir)
  local m0 = al.gpt{ vocab = world.vocab, ctx = 48, d = 16, heads = 2, layers = 1, seed = 2 }
  local _, info_ = cai.sl(m0, { world = world, policy = policy, feedback = refuser, prompts = 6,
    rounds = 2, candidates = 2, demos = 10, batch_size = 8, progress = false, log = dir .. ".jsonl" })
  local n = 0
  for line in io.lines(dir .. "-revise.jsonl") do
    n = n + 1
    local t = al.json.decode(line)
    assert(t.round == n and t.changed >= 0 and t.changed <= 1)
  end
  assert(n == 2, "one line per round")
  local k = 0
  for _ in io.lines(dir .. ".jsonl") do k = k + 1 end
  assert(k >= 2, "the fine-tune logs its steps")
  assert(#info_.data == 6 + 10, "revisions + demonstrations")
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
local sft = al.gpt{ vocab = world.vocab, ctx = 48, d = 16, heads = 2, layers = 1, seed = 1 }
al.sft(sft, world:demos(32), { steps = 2, batch_size = 8, tok = world, progress = false })
local before = sft:clone()
local rl, sl, info = cai.pipeline(g, sft, {
  progress = false,
  sl = { prompts = 8, rounds = 2, candidates = 2, demos = 16, batch_size = 8 },
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
