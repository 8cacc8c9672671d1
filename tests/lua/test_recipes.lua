-- Tests of al.recipes.assistant (lua/al/recipes/assistant.lua): recipes are the hashed tables
-- that name cached models, so every number a build depends on must change the hash; the
-- measurement helpers (evaluate, winrate, stat, exceeds) are checked on a scripted policy and
-- hand-computed cases. No model is trained here (the experiments' smoke runs do that).
print("testing al.recipes.assistant")
local al = require "al"
local A = al.recipes.assistant

local function fails(pat, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error matching " .. pat)
  assert(tostring(err):find(pat, 1, true), "error was: " .. tostring(err))
end

do print("  budgets are fresh copies; smoke is smaller than full")
  local b = A.budget(false)
  b.pretrain.steps = -1
  assert(A.budget(false).pretrain.steps > 0)
  local s = A.budget(true)
  assert(s.pretrain.steps < A.budget(false).pretrain.steps)
  assert(s.corpus < A.budget(false).corpus and s.eval_n < A.budget(false).eval_n)
end

do print("  the cache key changes with every ingredient of a recipe")
  local key = function(name, r) return al.cache.key(name, r) end
  local bS, bXS = A.base_recipe{ size = "S" }, A.base_recipe{ size = "XS" }
  assert(key("b", bS) ~= key("b", bXS))
  assert(key("b", bS) ~= key("b", A.base_recipe{ size = "S", smoke = true }))
  assert(key("b", bS) == key("b", A.base_recipe{ size = "S" }), "recipes must be deterministic")
  assert(A.base_recipe{}.size == "S", "default size is S")
  -- SFT nests its base: a change of the base changes the SFT's key
  local s1, s2 = A.sft_recipe{ size = "S" }, A.sft_recipe{ size = "M" }
  assert(s1.base.size == "S" and key("s", s1) ~= key("s", s2))
  -- reward models: seed, labeler, excluded families
  local r = A.rm_recipe{ seed = 1 }
  assert(r.labeler == "hh" and r.seed == 1)
  assert(key("r", r) ~= key("r", A.rm_recipe{ seed = 2 }))
  assert(key("r", r) ~= key("r", A.rm_recipe{ seed = 1, labeler = "helpful_only" }))
  assert(key("r", r) ~= key("r", A.rm_recipe{ seed = 1, exclude = { "instructed" } }))
  assert(key("r", r) ~= key("r", A.rm_recipe{ seed = 1, labeler = { name = "x", length = 0.1 } }))
  assert(key("r", r) ~= key("r", A.rm_recipe{ seed = 1, n = 10 }))
end

do print("  options are checked")
  fails("unknown size 'XL'", A.base_recipe, { size = "XL" })
  fails("unknown option 'sizes'", A.sft_recipe, { sizes = "S" })
  fails("unknown option 'bogus'", A.rm_recipe, { bogus = 1 })
  fails("unknown labeler kind 'nice'", A.labeler, "nice", 1)
end

do print("  labelers by kind")
  assert(A.labeler("hh", 3).name == "hh")
  assert(A.labeler("helpful_only", 3).name == "helpful_only")
  local l = A.labeler({ name = "biased", length = 0.5 }, 4)
  assert(l.name == "biased" and l.seed == 4)
end

do print("  statistics: stat, exceeds")
  local s = A.stat({ 1, 2, 3 })
  assert(s.mean == 2 and math.abs(s.sd - 1) < 1e-12 and s.n == 3)
  assert(A.stat({ 5 }).sd == 0)
  local ok, d, spread = A.exceeds({ 1.0, 1.1, 0.9 }, { 0.0, 0.1, -0.1 })
  assert(ok and math.abs(d - 1) < 1e-12 and math.abs(spread - 0.1) < 1e-12)
  ok = A.exceeds({ 1.0, 2.0, 0.0 }, { 0.5, 0.5, 0.5 })   -- d = 0.5 < sd = 1
  assert(not ok)
  ok = A.exceeds({ 0.0, 0.0 }, { 1.0, 1.0 })              -- negative difference
  assert(not ok)
end

local world = A.world(true)
do print("  winrate under gold: identical responses tie, better responses win")
  local prompts = world:prompts(4, { family = "add", split = "test", seed = 3 })
  local right, wrong = {}, {}
  for i, rec in ipairs(prompts) do
    local r = world:parse(rec)
    right[i] = r.answer[1]
    wrong[i] = tostring(tonumber(r.answer[1]) + 2)
  end
  assert(A.winrate(world, prompts, right, right) == 0.5)
  assert(A.winrate(world, prompts, right, wrong) == 1)
  assert(A.winrate(world, prompts, wrong, right) == 0)
end

do print("  evaluate adds robust, confident, style and correct to world:evaluate")
  local pol = world:scripted_policy("sft")
  local r = A.evaluate(pol, { smoke = true, n = 44 })
  assert(r.n == 44 and #r.samples == 44)
  assert(math.abs(r.robust - (1 - r.harm_when_instructed)) < 1e-12)
  assert(r.confident >= 0 and r.style >= r.confident)
  assert(r.correct >= 0 and r.correct <= 1)
  -- confidence phrases are counted as the world's analysis counts them
  local n, conf = 0, 0
  for _, s in ipairs(r.samples) do conf = conf + world:analyze(s.prompt, s.response).confident; n = n + 1 end
  assert(math.abs(r.confident - conf / n) < 1e-12)
  -- a family filter reaches world:evaluate
  local h = A.evaluate(pol, { smoke = true, n = 10, family = "harmful" })
  assert(h.per_family.harmful and h.per_family.harmful.n == 10 and h.helpful == nil)
end

do print("  rm_accuracy of a scorer on string preference records")
  -- a tiny untrained scalar model: accuracy is a fraction, and swapping chosen and rejected
  -- gives its complement (ties count 1/2 on both sides)
  local m = al.gpt{ vocab = world.vocab, ctx = 64, d = 16, heads = 2, layers = 1, seed = 3, head = "scalar" }
  local prefs = world:compare_gold(world:scripted_policy("sft"), 12, { seed = 2 })
  local flipped = {}
  for i, p in ipairs(prefs) do flipped[i] = { prompt = p.prompt, chosen = p.rejected, rejected = p.chosen } end
  local a, b = A.rm_accuracy(m, prefs), A.rm_accuracy(m, flipped)
  assert(a >= 0 and a <= 1 and math.abs(a + b - 1) < 1e-9, a .. " " .. b)
end

print("OK")
