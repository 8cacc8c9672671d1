-- al.cai: Constitutional AI (Bai et al. 2022b; papers/cai.md) on a world of alignlab.
--
-- A constitution (al.constitution: 16 principles, data) replaces human harm labels. The model
-- itself critiques and revises its answers to red-team prompts (SL-CAI), then a feedback model
-- labels which of two answers better follows a principle (RL-CAI); a preference model trained on
-- those AI labels plus labelers' *helpfulness* comparisons is the reward of PPO. Nothing here
-- reads a gold score or a labeler's harm judgement (tests/lua/test_cai.lua runs the pipeline
-- through a world that raises on any such read).
--
-- The prompts are in the world's feedback language (lua/al/worlds/assistant/feedback.lua,
-- "the feedback language"): the world formats them (world:critique_request, :revision_request,
-- :choice_request) and its pretraining corpus holds a few percent of documents in those forms,
-- the way the web holds critiques and comparisons a pretrained LM has read. A principle puts its
-- focus (principle.kinds, world words) in front of the model:
--   critique   the model continues "<bos> User : Q Assistant : R User : critique K Assistant :"
--              with its critique C (sampled text, e.g. "stealing is harmful" or "it is fine")
--   revision   it then continues "... C User : revise Assistant :" with its revision R'
--              (sampled text), which the next round critiques again under a fresh principle
--   choice     the feedback model reads "<bos> User : Q User : which is less harmful for K ?
--              (A) a (B) b Assistant :"; the soft label is its normalised probability of the
--              letter: P(a) = p("(A)") / (p("(A)") + p("(B)")). With debias (the default) the
--              question is also asked with the answers swapped and the two are averaged,
--              P(a) = (P_ab(A) + P_ba(B)) / 2, which cancels the letters' position bias and makes
--              swapping a and b flip the label exactly. Labels are optionally averaged over
--              several principles and clamped (the paper clamps CoT labels to 40-60%).
-- Prompts that would not fit the model's context are refused with an error that says so; the
-- revision's token budget is what the context leaves.
--
-- The hot numerics are the batched forwards of the models, in C: model:generate (KV-cached
-- sampling of critiques and revisions, all prompts of a round in one batch) and m:score
-- (teacher-forced log-probs of many (context, continuation) pairs, chunked), on which
-- al.cai.choice_logprobs builds. Lua only formats strings and sums a few numbers per comparison.
--
-- API (all options tables reject unknown keys):
--   al.cai.constitution([c])                  -> normalised constitution (default al.constitution)
--   al.cai.critique(model, world, items, principles, opts) -> the model's critiques (text) per item
--   al.cai.revise(model, world, prompts, opts) -> rounds[0..R] of responses, history
--   al.cai.choice_logprobs(model, contexts, choices) -> lp[i][k] = log p(choices[i][k] | contexts[i])
--   al.cai.soft_labels(feedback, world, pairs, opts) -> P(A) per pair, principles used
--   al.cai.sl(model, opts)   -> model (fine-tuned in place), info
--   al.cai.rl(model, opts)   -> model (PPO in place), info
--   al.cai.ai_preferences(feedback, policy, world, n, opts) -> soft-labelled red-team pairs
--   al.cai.pipeline(world, sft, opts) -> rl_cai, sl_cai, info   (both stages, sft untouched)
--   al.cai.recipe{ smoke, seed }  -> rl_cai, sl_cai cached on al.recipes.assistant's models
--                                    (experiments/cai.lua and the spectrum's CAI row)
--   al.cai.guard(world)      -> a view of world that raises on any gold / harm-label read
--   al.cai.blind(world)      -> a view of world whose features carry no harm field
--   al.cai.helpful_labeler(world, opts) -> a helpful-only labeler that sees no harm field
--
-- The parts: al.cai.feedback (the constitution, critiques, revisions, soft labels) and
-- al.cai.guard (the blind and guarded views); this file holds the training stages (SL-CAI,
-- RL-CAI, the pipeline) and the cached recipe, and re-exports the parts' functions.
-- (arrows: init -> feedback, guard; init -> al.sft, al.reward_model, al.ppo, al.labelers,
-- al.cache, al.recipes.assistant.)
local util = require "al.util"
local feedback = require "al.cai.feedback"
local guard = require "al.cai.guard"
local labelers = require "al.labelers"
local sft_ = require "al.sft"
local reward_model = require "al.reward_model"
local ppo = require "al.ppo"
local cache = require "al.cache"
local recipes_assistant = require "al.recipes.assistant"

local sample, prompt_text = feedback.sample, feedback.prompt_text

local M = {}

-- the parts' public functions, as al.cai has always offered them
M.constitution, M.sample, M.critique, M.revise = feedback.constitution, feedback.sample,
  feedback.critique, feedback.revise
M.choice_logprobs, M.soft_labels = feedback.choice_logprobs, feedback.soft_labels
M.blind, M.guard = guard.blind, guard.guard

-- ---- labelers that cannot see harm -------------------------------------------------------------

-- labeler's (al.labelers.helpful_only(opts)) judging through al.cai.blind(world).
function M.helpful_labeler(world, opts)
  local o = util.copy(opts or {})
  local view = M.blind(world)
  o.world = view
  local inner = labelers.helpful_only(o)
  local lab = { name = "helpful_only(blind)", inner = inner, view = view }
  function lab.choose(_, rec, a, b) return inner:choose({ prompt = prompt_text(rec) }, a, b) end
  function lab.prefer(_, rec, a, b) return inner:prefer({ prompt = prompt_text(rec) }, a, b) end
  return lab
end

-- ---- SL-CAI ------------------------------------------------------------------------------------

local HARM_FAMILIES = { "harmful" }

local function red_team(world, n, seed)
  return world:prompts(n, { family = HARM_FAMILIES, seed = seed })
end

local SL_DEFAULTS = {
  world = util.REQUIRED, policy = util.ANY, prompts = util.ANY, demos = util.ANY,
  rounds = 4, temperature = 1.0, critique_temperature = 1.0, max_new = 16, critique_max_new = 8,
  constitution = util.ANY, epochs = 1, lr = 3e-4, batch_size = 32, seed = 1, log = util.ANY,
  progress = true, revisions = util.ANY,
}

-- al.cai.sl(model, { world =, policy = model, prompts = 256 | records, demos = 1024 | records,
--   rounds = 4, temperature = 1, critique_temperature = 1, max_new = 16, critique_max_new = 8,
--   constitution =, epochs = 1, lr = 3e-4, batch_size = 32, seed = 1,
--   log = "PATH.jsonl" (revision rounds go to PATH-revise.jsonl, the fine-tune to PATH),
--   revisions = precomputed rounds (skip revising) }) -> model, info
-- Red-team prompts (the world's "harmful" family: red-teamers' attempts, not labels) are answered
-- by the policy, which critiques and revises its own answers `rounds` times (al.cai.revise); the
-- model is fine-tuned (al.sft, in place) on the final revisions that stopped (ended in <eos>)
-- mixed with helpful demonstrations (world:demos).
-- info = { rounds = rounds[0..R], history =, prompts = records, data = SFT records,
--   dropped = revisions left out because they ran out of tokens }.
function M.sl(model, opts)
  local o = util.opts("al.cai.sl", opts, SL_DEFAULTS)
  local world = o.world
  local policy = o.policy or model
  o.prompts, o.demos = o.prompts or 256, o.demos or 1024
  local recs = type(o.prompts) == "table" and o.prompts or red_team(world, o.prompts, o.seed)
  local logbase = o.log and o.log:gsub("%.jsonl$", "") or nil
  local rounds, history = o.revisions, nil
  if not rounds then
    rounds, history = M.revise(policy, world, recs, {
      rounds = o.rounds, temperature = o.temperature, critique_temperature = o.critique_temperature,
      max_new = o.max_new, critique_max_new = o.critique_max_new, constitution = o.constitution,
      seed = o.seed, progress = o.progress, log = logbase and (logbase .. "-revise.jsonl") or nil })
  end
  local final = rounds[#rounds]
  local data, dropped = {}, 0
  for i, rec in ipairs(recs) do
    local c = final[i]
    if c and c:match("<eos>$") then data[#data + 1] = { prompt = prompt_text(rec), completion = c }
    else dropped = dropped + 1 end
  end
  local demos = type(o.demos) == "table" and o.demos or (o.demos > 0 and world:demos(o.demos, { seed = o.seed }) or {})
  for _, d in ipairs(demos) do data[#data + 1] = { prompt = d.prompt, completion = d.completion } end
  sft_(model, data, { epochs = o.epochs, lr = o.lr, batch_size = o.batch_size, seed = o.seed,
    tok = world, progress = o.progress, log = o.log })
  return model, { rounds = rounds, history = history, prompts = recs, data = data, dropped = dropped }
end

-- ---- RL-CAI ------------------------------------------------------------------------------------

local RL_DEFAULTS = {
  world = util.REQUIRED, feedback = util.ANY, policy = util.ANY, pairs = 512, helpful = 1024,
  helpful_prefs = util.ANY, labeler = util.ANY, principles = 1, clamp = false,
  constitution = util.ANY, rm_init = util.ANY, rm = util.ANY, ppo = util.ANY, prompts = util.ANY,
  seed = 1, log = util.ANY, progress = true, max_new = 16, temperature = 1.0, debias = true,
}

-- Two distinct responses per red-team prompt from `model`: list of { prompt =, a =, b = }.
local function response_pairs(model, world, n, o)
  local out, round = {}, 0
  while #out < n and round < 8 do
    round = round + 1
    local recs = red_team(world, math.ceil((n - #out) * 1.3) + 4, o.seed * 100 + round)
    local doubled = {}
    for _, r in ipairs(recs) do doubled[#doubled + 1] = r.prompt; doubled[#doubled + 1] = r.prompt end
    local resp = sample(model, world, doubled, o, o.seed * 31337 + round, "al.cai.ai_preferences")
    for i, r in ipairs(recs) do
      if #out >= n then break end
      local a, b = resp[2 * i - 1], resp[2 * i]
      if a ~= b then out[#out + 1] = { prompt = r.prompt, a = a, b = b } end
    end
  end
  return out
end

-- al.cai.ai_preferences(feedback, policy, world, n, opts) -> preference records { prompt =,
--   chosen = a, rejected = b, label = P(a less harmful) } on n red-team prompts (pairs of
--   distinct answers sampled from policy, labelled by the feedback model under sampled
--   principles: al.cai.soft_labels). opts: principles = 1, clamp = false, debias = true,
--   constitution =, seed = 1, max_new = 16, temperature = 1.
function M.ai_preferences(feedback, policy, world, n, opts)
  local o = util.opts("al.cai.ai_preferences", opts, { principles = 1, clamp = false,
    constitution = util.ANY, seed = 1, max_new = 16, temperature = 1.0, debias = true })
  local pairs = response_pairs(policy, world, n, o)
  local labels = M.soft_labels(feedback, world, pairs, { constitution = o.constitution,
    principles = o.principles, clamp = o.clamp, seed = o.seed, debias = o.debias })
  local prefs = {}
  for i, pr in ipairs(pairs) do
    prefs[i] = { prompt = pr.prompt, chosen = pr.a, rejected = pr.b, label = labels[i],
      family = "red-team", labeler = "ai" }
  end
  return prefs
end

-- al.cai.rl(model, { world =, feedback = model, policy = model (samples the pairs), pairs = 512,
--   helpful = 1024 (labeler comparisons on benign prompts) | helpful_prefs = records,
--   labeler = al.cai.helpful_labeler(world), principles = 1, clamp = false | {0.4, 0.6},
--   debias = true (ask each choice in both orders), constitution =, rm_init = model:clone(), rm = { al.reward_model options },
--   ppo = { al.ppo options: steps, kl, lr, ... }, prompts = 256 | records, seed = 1,
--   log = "PATH.jsonl" (PATH-rm.jsonl, PATH-ppo.jsonl) }) -> model, info
-- The preference model learns from AI harmlessness labels (soft, from the feedback model) plus
-- helpfulness comparisons from labelers that cannot see harm; PPO (al.ppo) optimises the model
-- against it, with a frozen copy of the model as the KL reference. info = { rm =, prefs =,
-- ai_prefs =, rm_history =, ppo_history = }.
function M.rl(model, opts)
  local o = util.opts("al.cai.rl", opts, RL_DEFAULTS)
  local world = o.world
  local feedback = o.feedback or model
  local policy = o.policy or model
  local ai = M.ai_preferences(feedback, policy, world, o.pairs, { principles = o.principles,
    clamp = o.clamp, constitution = o.constitution, seed = o.seed, max_new = o.max_new,
    temperature = o.temperature, debias = o.debias })
  local help = o.helpful_prefs
  if not help and o.helpful > 0 then
    local lab = o.labeler or M.helpful_labeler(world, { seed = o.seed })
    help = world:compare(policy, lab, o.helpful, { exclude = { "harmful", "instructed" },
      seed = o.seed, max_new = o.max_new })
  end
  local prefs = {}
  for _, p in ipairs(ai) do prefs[#prefs + 1] = p end
  for _, p in ipairs(help or {}) do
    prefs[#prefs + 1] = { prompt = p.prompt, chosen = p.chosen, rejected = p.rejected, label = 1,
      family = p.family, labeler = p.labeler }
  end
  -- interleave deterministically (the RM trainer shuffles anyway)
  local logbase = o.log and o.log:gsub("%.jsonl$", "") or nil
  local rmo = util.copy(o.rm or {})
  rmo.tok = world
  rmo.seed = rmo.seed or o.seed
  rmo.progress = o.progress
  rmo.log = rmo.log or (logbase and logbase .. "-rm.jsonl" or nil)
  local rm, rm_hist = reward_model(o.rm_init or model:clone(), prefs, rmo)
  rm:freeze()
  local ref = model:clone()
  ref:freeze()
  local prompts = type(o.prompts) == "table" and o.prompts or world:prompts(o.prompts or 256, { seed = o.seed + 500 })
  local ids = {}
  for i, r in ipairs(prompts) do ids[i] = r.ids or world:encode(prompt_text(r)) end
  local po = util.copy(o.ppo or {})
  po.ref, po.reward, po.prompts = ref, rm, ids
  po.eos = po.eos or world.tok.eos
  po.max_new = po.max_new or o.max_new
  po.seed = po.seed or o.seed
  po.progress = o.progress
  po.log = po.log or (logbase and logbase .. "-ppo.jsonl" or nil)
  local _, ppo_hist = ppo(model, po)
  return model, { rm = rm, prefs = prefs, ai_prefs = ai, rm_history = rm_hist, ppo_history = ppo_hist }
end

-- ---- the whole pipeline ------------------------------------------------------------------------

local PIPE_DEFAULTS = { feedback = util.ANY, policy = util.ANY, sl = util.ANY, rl = util.ANY,
  seed = 1, progress = true, log = util.ANY }

-- al.cai.pipeline(world, sft, { feedback = sft (RL-CAI's labeller, e.g. the pretrained base, as
--   in the paper), policy = sft (the helpful model that answers, critiques and revises in
--   SL-CAI, e.g. helpful-only RLHF),
--   sl = { al.cai.sl options }, rl = { al.cai.rl options }, seed = 1, log = "DIR" })
--   -> rl_cai, sl_cai, info
-- SL-CAI = a clone of sft fine-tuned on the policy's revised answers + demonstrations; RL-CAI =
-- a clone of SL-CAI trained by PPO against a PM on AI harmlessness labels (pairs sampled from
-- SL-CAI, labelled by the feedback model) + blind helpfulness labels. sft is not modified.
-- info = { sl = al.cai.sl info, rl = al.cai.rl info }. The spectrum experiment's CAI row.
function M.pipeline(world, sft, opts)
  local o = util.opts("al.cai.pipeline", opts, PIPE_DEFAULTS)
  local feedback = o.feedback or sft
  local policy = o.policy or sft
  -- a stage's options: its own table over the pipeline's world, seed, progress and log
  local function stage(own, stage_name, key, value)
    local so = util.copy(own or {})
    so.world, so[key] = world, value
    so.seed = so.seed or o.seed
    so.progress = o.progress
    if o.log then so.log = so.log or (o.log .. "/cai-" .. stage_name .. ".jsonl") end
    return so
  end
  local sl, sl_info = M.sl(sft:clone(), stage(o.sl, "sl", "policy", policy))
  local rl, rl_info = M.rl(sl:clone(), stage(o.rl, "rl", "feedback", feedback))
  return rl, sl, { sl = sl_info, rl = rl_info }
end

-- ---- the cached recipe on the assistant world ---------------------------------------------------

-- Bump when the way the CAI models are built changes (invalidates their cache entries).
M.REV = 2

local BUDGET = {
  full = {
    sl = { prompts = 256, rounds = 4, demos = 1024, epochs = 1, lr = 3e-4, batch_size = 32,
           temperature = 1.0, critique_temperature = 1.0 },
    rl = { pairs = 512, helpful = 1024, principles = 1, clamp = false, prompts = 1024,
           rm = { epochs = 2, batch_size = 32, lr = 1e-4, eval = 0.1 } },
  },
  smoke = {
    sl = { prompts = 8, rounds = 2, demos = 16, epochs = 1, lr = 3e-4, batch_size = 8,
           temperature = 1.0, critique_temperature = 1.0 },
    rl = { pairs = 8, helpful = 8, principles = 1, clamp = false, prompts = 16,
           rm = { epochs = 1, batch_size = 8, lr = 1e-4, eval = 0 } },
  },
}

-- al.cai.budget(smoke) -> a fresh copy of the budget of al.cai.recipe.
function M.budget(smoke) return util.copy(smoke and BUDGET.smoke or BUDGET.full, true) end

-- al.cai.recipe{ smoke = false, seed = 1, size = "S", clamp = false, principles = 1 }
--   -> rl_cai, sl_cai (each cached by al.cache under a hash of its recipe), built on the shared
--   models of al.recipes.assistant: the SFT model (the helpful model: benign demonstrations only)
--   answers red-team prompts and writes critiques and revisions of its own answers (SL-CAI = SFT
--   fine-tuned on the final revisions + demonstrations); the pretrained base is the feedback
--   model of RL-CAI (as in the paper); RL-CAI = PPO from SL-CAI (al.recipes.assistant's PPO
--   budget) against a PM on AI harmlessness labels + blind helpful-only labelers' comparisons on
--   benign prompts. The paper revises a helpful-only RLHF model's answers; experiments/cai.lua
--   measures that choice's revisions too. The pipeline runs on al.cai.guard(world): any read of
--   a gold score or harm label would raise. experiments/cai.lua and experiments/spectrum.lua
--   (the CAI row) both call it; the second call loads from the cache.
function M.recipe(opts)
  local o = util.opts("al.cai.recipe", opts, { smoke = false, seed = 1, size = "S", clamp = false,
    principles = 1 })
  local A = recipes_assistant
  local b = M.budget(o.smoke)
  local ab = A.budget(o.smoke)
  b.rl.clamp, b.rl.principles = o.clamp, o.principles
  local sft_r = A.sft_recipe{ smoke = o.smoke, size = o.size }
  local sl_r = { rev = M.REV, arev = A.REV, stage = "sl-cai", sft = sft_r, policy = "sft",
    sl = b.sl, seed = o.seed }
  local world = A.world(o.smoke)
  local guarded = M.guard(world)
  local sl = cache("assistant-slcai-" .. o.size, sl_r, function()
    local s = b.sl
    local sft = A.sft{ smoke = o.smoke, size = o.size }
    return (M.sl(sft:clone(), { world = guarded, policy = sft,
      prompts = s.prompts, rounds = s.rounds, demos = s.demos,
      epochs = s.epochs, lr = s.lr, batch_size = s.batch_size, temperature = s.temperature,
      critique_temperature = s.critique_temperature, seed = o.seed, progress = false }))
  end)
  local rl_r = { rev = M.REV, arev = A.REV, stage = "rl-cai", sl = sl_r, rl = b.rl, ppo = ab.ppo,
    base = A.base_recipe{ smoke = o.smoke, size = o.size }, seed = o.seed }
  local rl = cache("assistant-rlcai-" .. o.size, rl_r, function()
    local r = b.rl
    local base = A.base{ smoke = o.smoke, size = o.size }
    local sft = A.sft{ smoke = o.smoke, size = o.size }
    local p = ab.ppo
    local prompts = A.rl_prompts{ smoke = o.smoke, seed = o.seed, n = r.prompts }
    local rm = util.copy(r.rm)
    local m = sl:clone()
    return (M.rl(m, { world = guarded, feedback = base, policy = sl, pairs = r.pairs,
      helpful = r.helpful, principles = r.principles, clamp = r.clamp, rm_init = sft:clone(),
      rm = rm, prompts = prompts, seed = o.seed, progress = false, max_new = p.max_new,
      ppo = { steps = p.steps, batch_size = p.batch_size, epochs = p.epochs,
        minibatches = p.minibatches, lr = p.lr, kl = { beta = p.beta } } }))
  end)
  return rl, sl
end

return M
