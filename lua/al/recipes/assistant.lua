-- al.recipes.assistant: the shared models of the assistant world (DESIGN.md "The assistant
-- world"), each built once and cached by a hash of its recipe (al.cache), and the toy-scale
-- settings of the stages every assistant experiment runs:
--   base   a GPT pretrained on world:corpus (mixed quality: capable but unsafe)
--   sft    the base fine-tuned on world:demos (benign tasks only, no harm labels)
--   reward_model  a Bradley-Terry RM on labelers' comparisons of SFT samples (hh, helpful-only,
--          or any labeler options), cached per seed and prompt-family filter
--   rlhf   PPO from SFT against an RM (cached per recipe)
--   dpo    DPO from SFT on the same comparisons
-- plus the measurement every experiment reports (A.evaluate: instruction following,
-- harmlessness, honesty, robustness to instructed harm, sycophancy, length, confidence, gold
-- reward) and gold-judged win rates (A.winrate).
--
-- Budgets: A.budget(smoke) gives the full budget (sized for `alignlab reproduce` in 30 minutes
-- on 2 cores) or the smoke budget (tiny, for the test suite). Every builder takes
-- { smoke = bool, size = "XS"|"S"|"M", seed = n, ... }; the recipe table that is hashed holds
-- every number the build depends on (and A.REV, bumped when this file's build code changes).
-- It leaves the experiments' protocols and verdicts to experiments/*.lua.
--
-- Measured cost of the full budget (CPU seconds, one thread, OMP_NUM_THREADS=1; wall time on
-- the shared machine was 2-9x more): base S 51 + SFT S 4; base + SFT XS 16; base + SFT M 154;
-- one RM (4,000 comparisons sampled + 4 epochs) ~20; one PPO run of 100 iterations (S) ~12.
-- With OpenMP left at 2 threads on a loaded machine the same base took 280 s (threads spin).
local M = {}

-- Bump when the way a model is built changes (invalidates the cache).
M.REV = 5

-- Model presets (papers.md section 0: XS, S, M). ctx 64 = the world's budget (dialogues <= 32 tokens, feedback documents <= 64).
M.PRESETS = {
  XS = { d = 32, layers = 1, heads = 2 },
  S = { d = 64, layers = 2, heads = 4 },
  M = { d = 128, layers = 2, heads = 4 },
}

local FULL = {
  world = { seed = 1 },
  ctx = 64,
  corpus = 30000,
  pretrain = { steps = 3000, batch_size = 32, lr = 2e-3, warmup = 0.05 },
  demos = 3000,
  sft = { epochs = 3, batch_size = 32, lr = 5e-4 },
  pairs = 4000,       -- comparisons per reward model
  rm = { epochs = 4, batch_size = 32, lr = 3e-4 },
  ppo = { steps = 100, batch_size = 32, max_new = 16, epochs = 2, minibatches = 2, lr = 5e-5,
          beta = 0.05 },
  dpo = { epochs = 2, batch_size = 32, lr = 2e-5, beta = 0.1 },
  eval_n = 528,       -- test prompts per evaluation (balanced: 48 per family)
}

local SMOKE = {
  world = { seed = 1 },
  ctx = 64,
  corpus = 400,
  pretrain = { steps = 12, batch_size = 16, lr = 2e-3, warmup = 0.05 },
  demos = 64,
  sft = { epochs = 1, batch_size = 16, lr = 3e-4 },
  pairs = 48,
  rm = { epochs = 1, batch_size = 16, lr = 1e-4 },
  ppo = { steps = 2, batch_size = 8, max_new = 8, epochs = 1, minibatches = 1, lr = 3e-5,
          beta = 0.05 },
  dpo = { epochs = 1, batch_size = 16, lr = 2e-5, beta = 0.1 },
  eval_n = 44,
}

local core = require "al.core"
local util = require "al.util"
local function copy(t) return util.copy(t, true) end
local cache = require "al.cache"
local labelers = require "al.labelers"
local pretrain = require "al.pretrain"
local sft_trainer = require "al.sft"
local reward_model = require "al.reward_model"
local ppo = require "al.ppo"
local dpo = require "al.dpo"

-- A.budget(smoke) -> a fresh copy of the full or smoke budget table.
function M.budget(smoke)
  return copy(smoke and SMOKE or FULL)
end

local worlds = {}
-- A.world(smoke) -> the assistant world the shared models are trained in (one per process).
function M.world(smoke)
  local b = M.budget(smoke)
  local key = b.world.seed
  if not worlds[key] then worlds[key] = require("al.worlds.assistant")(copy(b.world)) end
  return worlds[key]
end

local function size_of(o)
  local size = o.size or "S"
  if not M.PRESETS[size] then
    error("al.recipes.assistant: unknown size '" .. tostring(size) .. "' (XS, S, M)", 3)
  end
  return size
end

local function check(o, known, where)
  o = o or {}
  for k in pairs(o) do
    if not known[k] then error(where .. ": unknown option '" .. tostring(k) .. "'", 3) end
  end
  return o
end

local quiet = true
-- A.verbose(flag): show trainers' progress bars (off by default: experiments print one line).
function M.verbose(flag) quiet = not flag end

-- ---- base and SFT -------------------------------------------------------------------------

-- The recipe of the base model (the table that is hashed).
function M.base_recipe(o)
  o = check(o, { smoke = 1, size = 1 }, "al.recipes.assistant.base")
  local b = M.budget(o.smoke)
  local size = size_of(o)
  return { rev = M.REV, stage = "base", size = size, model = copy(M.PRESETS[size]), ctx = b.ctx,
           world = b.world, corpus = b.corpus, pretrain = b.pretrain, smoke = o.smoke and true or false }
end

-- A.base{ smoke =, size = "S" } -> the pretrained base model (cached), built = true when built now.
function M.base(o)
  local r = M.base_recipe(o)
  return cache("assistant-base-" .. r.size, r, function()
    local w = M.world(r.smoke)
    local m = core.gpt{ vocab = w.vocab, ctx = r.ctx, d = r.model.d, heads = r.model.heads,
                      layers = r.model.layers, seed = 1 }
    local recs = {}
    for i, s in ipairs(w:corpus(r.corpus)) do recs[i] = w:encode(s) end
    local p = r.pretrain
    pretrain(m, recs, { steps = p.steps, batch_size = p.batch_size, lr = p.lr, warmup = p.warmup,
                           seed = 1, progress = not quiet })
    return m
  end)
end

function M.sft_recipe(o)
  o = check(o, { smoke = 1, size = 1 }, "al.recipes.assistant.sft")
  local b = M.budget(o.smoke)
  return { rev = M.REV, stage = "sft", base = M.base_recipe(o), demos = b.demos, sft = b.sft }
end

-- A.sft{ smoke =, size = "S" } -> the SFT model (cached; builds the base first if needed).
function M.sft(o)
  local r = M.sft_recipe(o)
  return cache("assistant-sft-" .. r.base.size, r, function()
    local w = M.world(r.base.smoke)
    local base = M.base(o)
    local m = base:clone()
    local s = r.sft
    sft_trainer(m, w:demos(r.demos), { epochs = s.epochs, batch_size = s.batch_size, lr = s.lr,
                                  tok = w.tok, seed = 1, progress = not quiet })
    return m
  end)
end

-- ---- preferences and reward models ---------------------------------------------------------

-- Labeler options by kind: "hh", "helpful_only", or a table of labelers.new options.
local function make_labeler(kind, seed)
  if type(kind) == "table" then
    local o = copy(kind)
    o.seed = seed
    return labelers.new(o)
  elseif kind == "hh" then return labelers.hh{ seed = seed }
  elseif kind == "helpful_only" then return labelers.helpful_only{ seed = seed }
  elseif kind == "gold" then return labelers.gold{ seed = seed }
  end
  error("al.recipes.assistant: unknown labeler kind '" .. tostring(kind) .. "'", 3)
end
M.labeler = make_labeler

local PREF_KNOWN = { smoke = 1, size = 1, seed = 1, labeler = 1, n = 1, family = 1, exclude = 1,
                     policy = 1 }

-- A.preferences{ smoke, size, seed = 1, labeler = "hh" | "helpful_only" | {options}, n = pairs,
--   family =, exclude = } -> comparison records of pairs of SFT samples (temperature 1) judged by
--   one labeler of that kind (its own seed = seed), plus the labeler.
function M.preferences(o)
  o = check(o, PREF_KNOWN, "al.recipes.assistant.preferences")
  local b = M.budget(o.smoke)
  local w = M.world(o.smoke)
  local seed = o.seed or 1
  local lab = make_labeler(o.labeler or "hh", 100 + seed)
  local policy = o.policy or M.sft{ smoke = o.smoke, size = o.size }
  local prefs = w:compare(policy, lab, o.n or b.pairs, { seed = seed, prompt_seed = seed,
    family = o.family, exclude = o.exclude })
  return prefs, lab
end

function M.rm_recipe(o)
  o = check(o, PREF_KNOWN, "al.recipes.assistant.reward_model")
  local b = M.budget(o.smoke)
  return { rev = M.REV, stage = "rm", sft = M.sft_recipe{ smoke = o.smoke, size = o.size },
           seed = o.seed or 1, labeler = o.labeler or "hh", n = o.n or b.pairs, rm = b.rm,
           family = o.family or false, exclude = o.exclude or false }
end

-- A.reward_model{ smoke, size, seed, labeler, n, family, exclude } -> the RM (cached), its
-- held-out accuracy on its own labels (kept with the cached model, so a warm cache gives it too).
function M.reward_model(o)
  local r = M.rm_recipe(o)
  local label = type(r.labeler) == "table" and (r.labeler.name or "custom") or r.labeler
  local m, _, meta = cache("assistant-rm-" .. label, r, function()
    local w = M.world(o.smoke)
    local prefs = M.preferences(o)
    local sft = M.sft{ smoke = o.smoke, size = o.size }
    local rm = sft:clone()
    local _, hist = reward_model(rm, prefs, { epochs = r.rm.epochs, batch_size = r.rm.batch_size,
      lr = r.rm.lr, seed = r.seed, tok = w.tok, eval = 0.1, progress = not quiet })
    return rm, { eval_accuracy = hist.eval_accuracy or (hist[#hist] and hist[#hist].eval_accuracy) }
  end)
  return m, meta and meta.eval_accuracy
end

-- A.rm_accuracy(rm, prefs) -> fraction of preference records (strings, as world:compare gives)
-- whose chosen response the RM scores higher (ties 1/2).
function M.rm_accuracy(rm, prefs)
  local recs = {}
  for i, p in ipairs(prefs) do
    local w = M.world(false)
    recs[i] = { prompt = w:encode(p.prompt), chosen = w:encode(p.chosen), rejected = w:encode(p.rejected) }
  end
  return reward_model.accuracy(rm, recs, 64)
end

-- ---- policies ------------------------------------------------------------------------------

-- Prompt records for RL (train split) with the world's mix, optionally filtered.
function M.rl_prompts(o)
  local w = M.world(o.smoke)
  return w:prompts(o.n or 1024, { seed = 500 + (o.seed or 1), family = o.family, exclude = o.exclude })
end

-- A.ppo_options(o) -> the PPO options of the budget with o's overrides (beta, steps, lr, ...).
local PPO_KNOWN = { smoke = 1, size = 1, seed = 1, rm = 1, reward = 1, steps = 1, beta = 1,
  target = 1, lr = 1, family = 1, exclude = 1, on_step = 1, every = 1, ref = 1, policy = 1,
  batch_size = 1, rm_recipe = 1 }

-- A.ppo{ smoke, size, seed, rm = model (or reward = function), beta, target, steps, lr,
--   family, exclude, policy = start (default SFT), ref = reference (default SFT),
--   on_step = function(iter, metrics, policy), every = k (call on_step every k iterations, and
--   at 0 with metrics nil) } -> the trained policy, the per-step metrics. Not cached.
function M.ppo(o)
  o = check(o, PPO_KNOWN, "al.recipes.assistant.ppo")
  local b = M.budget(o.smoke)
  local w = M.world(o.smoke)
  local sft = M.sft{ smoke = o.smoke, size = o.size }
  local policy = o.policy or sft:clone()
  local p = b.ppo
  local kl = o.target and { beta = o.beta or p.beta, target = o.target } or { beta = o.beta or p.beta }
  local prompts = M.rl_prompts{ smoke = o.smoke, seed = o.seed, family = o.family, exclude = o.exclude }
  local trainer = ppo.new(policy, {
    ref = o.ref or sft, reward = o.rm or o.reward, prompts = prompts, tok = w.tok,
    steps = o.steps or p.steps, batch_size = o.batch_size or p.batch_size, max_new = p.max_new,
    epochs = p.epochs, minibatches = p.minibatches, lr = o.lr or p.lr, kl = kl,
    eos = w.tok.eos, seed = o.seed or 1, progress = false,
  })
  local steps = o.steps or p.steps
  local hist = {}
  local every = o.every or 0
  if o.on_step and every > 0 then o.on_step(0, nil, policy) end
  for it = 1, steps do
    trainer.iter = it - 1
    local m = trainer:step()
    hist[it] = m
    if o.on_step and every > 0 and (it % every == 0 or it == steps) then o.on_step(it, m, policy) end
  end
  return policy, hist
end

-- A.rlhf{ smoke, size, seed, labeler = "hh", rm_size = "S", beta, exclude } -> PPO policy
-- against the cached RM of that labeler, seed and prompt families (exclude applies to both the
-- comparisons and the PPO prompts), itself cached: experiments with the same recipe share it.
function M.rlhf(o)
  o = check(o, { smoke = 1, size = 1, seed = 1, labeler = 1, rm_size = 1, beta = 1, exclude = 1 },
    "al.recipes.assistant.rlhf")
  local b = M.budget(o.smoke)
  local rm_o = { smoke = o.smoke, size = o.rm_size or "S", seed = o.seed, labeler = o.labeler or "hh",
                 exclude = o.exclude }
  local r = { rev = M.REV, stage = "rlhf", sft = M.sft_recipe{ smoke = o.smoke, size = o.size },
              rm = M.rm_recipe(rm_o), ppo = b.ppo, beta = o.beta or b.ppo.beta, seed = o.seed or 1,
              exclude = o.exclude or false }
  return cache("assistant-rlhf-" .. (o.size or "S"), r, function()
    local rm = M.reward_model(rm_o)
    return (M.ppo{ smoke = o.smoke, size = o.size, seed = o.seed, rm = rm, beta = r.beta,
                   exclude = o.exclude })
  end)
end

-- A.dpo{ smoke, size, seed, prefs = records (default: A.preferences with the same seed and
--   labeler), labeler, beta, lr } -> the DPO policy (not cached).
function M.dpo(o)
  o = check(o, { smoke = 1, size = 1, seed = 1, prefs = 1, labeler = 1, beta = 1, lr = 1 },
    "al.recipes.assistant.dpo")
  local b = M.budget(o.smoke)
  local w = M.world(o.smoke)
  local sft = M.sft{ smoke = o.smoke, size = o.size }
  local prefs = o.prefs or M.preferences{ smoke = o.smoke, size = o.size, seed = o.seed,
    labeler = o.labeler or "hh" }
  local pol = sft:clone()
  local d = b.dpo
  dpo(pol, prefs, { ref = sft, beta = o.beta or d.beta, epochs = d.epochs,
    batch_size = d.batch_size, lr = o.lr or d.lr, seed = o.seed or 1, tok = w.tok, progress = false })
  return pol
end

-- ---- measurement ---------------------------------------------------------------------------

-- A.evaluate(model, { smoke, n, family, exclude, prompts, temperature = 0, seed, prompt_seed = 0 })
-- -> world:evaluate's
-- metrics plus robust (1 - harm_when_instructed), confident (confidence phrases per response),
-- style (style phrases per response), correct (exact answers on task families) and the samples.
function M.evaluate(model, o)
  o = check(o, { smoke = 1, n = 1, family = 1, exclude = 1, prompts = 1, temperature = 1, seed = 1,
    prompt_seed = 1 }, "al.recipes.assistant.evaluate")
  local w = M.world(o.smoke)
  local b = M.budget(o.smoke)
  local r = w:evaluate(model, { n = o.n or b.eval_n, family = o.family, exclude = o.exclude,
    prompts = o.prompts, temperature = o.temperature or 0, seed = o.seed or 1, samples = true,
    prompt_seed = o.prompt_seed or 0 })
  local conf, style, correct, nc = 0, 0, 0, 0
  for _, s in ipairs(r.samples) do
    local a = w:analyze(s.prompt, s.response)
    conf = conf + a.confident
    style = style + a.style
    local g = w:gold(s.prompt, s.response)
    if g.correct then correct = correct + g.correct; nc = nc + 1 end
  end
  local n = math.max(1, #r.samples)
  r.confident, r.style = conf / n, style / n
  r.correct = nc > 0 and correct / nc or nil
  r.robust = r.harm_when_instructed and 1 - r.harm_when_instructed or nil
  return r
end

-- A.responses(model, prompts, { temperature = 0, seed = 1 }) -> response strings (greedy by default).
function M.responses(model, prompts, o)
  o = o or {}
  local w = prompts[1] and prompts[1].world or M.world(false)
  local common = require "al.worlds.common"
  local g = common.gen_options({ max_new = 24, temperature = o.temperature or 0, seed = o.seed or 1 })
  return (common.sample(model, w, prompts, g, 64))
end

-- A.winrate(world, prompts, resp_a, resp_b) -> fraction of prompts where the gold reward of
-- a's response beats b's (ties count 1/2): the gold-judged preference of a over b (K5).
function M.winrate(world, prompts, ra, rb)
  local s = 0
  for i, rec in ipairs(prompts) do
    local ga, gb = world:gold(rec, ra[i]).reward, world:gold(rec, rb[i]).reward
    if ga > gb then s = s + 1 elseif ga == gb then s = s + 0.5 end
  end
  return s / #prompts
end

-- ---- small statistics shared by the experiments ----------------------------------------------

-- mean (NaN when empty) and sample standard deviation (n-1; 0 below two values)
M.mean = util.mean
M.sd = util.sd

-- A.stat(list) -> { mean =, sd =, n =, values = } (sd over seeds; 0 for one seed).
function M.stat(t)
  return { mean = M.mean(t), sd = M.sd(t), n = #t, values = t }
end

-- A.separated(a, b) -> true when mean(a) - mean(b) exceeds the larger of the two spreads over
-- seeds and is positive (the "effect larger than its spread" rule every verdict uses).
function M.exceeds(a, b, margin)
  local d = M.mean(a) - M.mean(b)
  local spread = math.max(M.sd(a), M.sd(b))
  return d > spread and d > (margin or 0), d, spread
end

-- For `alignlab reproduce`: the shared models to build before experiments run in parallel, one
-- task per preset (S serves every experiment; XS and M the size experiment).
function M.prepare_tasks(smoke) return smoke and { "S" } or { "M", "S", "XS" } end
function M.prepare(smoke, size) M.sft{ smoke = smoke, size = size or "S" } end

return M
