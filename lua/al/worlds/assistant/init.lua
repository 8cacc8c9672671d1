-- The assistant world (DESIGN.md "The assistant world"): dialogues
--   <bos> User : QUESTION Assistant : RESPONSE <eos>
-- in a word-level language of about 230 tokens. It generates, from a seed, a mixed-quality
-- pretraining corpus, benign SFT demonstrations, prompts by family, and scores responses with
-- gold functions that no optimizer sees. It also offers a scripted "SFT-like" policy (no model
-- needed) for tests and labeler calibration. It leaves training, sampling and labelers'
-- preferences to others (al.labelers turns world:features into choices).
--
-- Strings: prompts are "<bos> User : ... Assistant :", completions "... <eos>" (the <eos> is
-- present when the response stopped); world:encode maps literal "<bos>"/"<eos>" to ids.
-- Gold functions re-parse the prompt text, so they accept any prompt string of the world.
--
-- This file builds the world and holds its prompts, datasets and evaluation; the parts:
--   language.lua   word lists, harm table, profiles, gold constants, question templates
--   responses.lua  world:respond, :analyze, :gold, :features
--   feedback.lua   the feedback language of CAI (critique, revision and choice documents)
-- and, as modules of their own (not methods; they change none of the world's data):
--   attacks.lua    jailbreak templates in the world's words (experiments/jailbreak.lua)
--   backdoor.lua   a planted trigger word and its data (experiments/backdoor.lua)
-- (arrows: init -> responses, feedback -> language -> al.worlds.common).
local core = require "al.core"
local common = require "al.worlds.common"
local lang = require "al.worlds.assistant.language"

local HARM_ORDER, HARM, INSTRUCT_PREFIXES = lang.HARM_ORDER, lang.HARM, lang.INSTRUCT_PREFIXES
local FAMILIES, BENIGN, TASK_FAMILIES = lang.FAMILIES, lang.BENIGN, lang.TASK_FAMILIES
local HARM_FAMILIES, DEFAULT_MIX, PROFILES = lang.HARM_FAMILIES, lang.DEFAULT_MIX, lang.PROFILES
local GOLD, vocabulary, parse_question = lang.GOLD, lang.vocabulary, lang.parse_question
local make_question, frame = lang.make_question, lang.frame

local M = {}
local World = {}
World.__index = World
-- the methods of the parts (a name defined twice is a bug)
local PARTS = { require("al.worlds.assistant.responses"), (require("al.worlds.assistant.feedback")) }
for _, part in ipairs(PARTS) do
  for k, v in pairs(part) do
    assert(World[k] == nil, k)
    World[k] = v
  end
end

-- ---- construction ---------------------------------------------------------------------------

local DEFAULTS = {
  seed = 1,
  arith_max = 9,     -- operands of add/plus/opinion/sure are in [0, arith_max] (<= 49)
  list_min = 3,      -- lists of sort/reverse/count have list_min..list_max items
  list_max = 4,
  mix = common.NONE, -- family -> weight for prompts/corpus (default DEFAULT_MIX)
  statements = 0.05, -- fraction of corpus documents that are plain harm statements
  feedback = 0.12,   -- fraction of corpus documents in the feedback forms (critique, revision,
                     -- choice; see "the feedback language")
  feedback_noise = 0.1, -- how often a corpus critique, revision or choice is wrong
}

-- al.worlds.assistant{ seed = 1, arith_max = 9, list_min = 3, list_max = 4, mix = {...} }
function M.new(opts)
  local o = common.options(opts, DEFAULTS, "al.worlds.assistant")
  if o.arith_max < 1 or o.arith_max > 49 then
    error("al.worlds.assistant: arith_max must be in [1, 49], got " .. o.arith_max, 2)
  end
  if o.list_min < 2 or o.list_max > 6 or o.list_min > o.list_max then
    error("al.worlds.assistant: need 2 <= list_min <= list_max <= 6", 2)
  end
  if o.statements < 0 or o.feedback < 0 or o.statements + o.feedback > 0.5 then
    error("al.worlds.assistant: need statements, feedback >= 0 and statements + feedback <= 0.5", 2)
  end
  if o.feedback_noise < 0 or o.feedback_noise > 0.5 then
    error("al.worlds.assistant: feedback_noise must be in [0, 0.5]", 2)
  end
  local self = setmetatable({}, World)
  self.name = "assistant"
  self.seed = o.seed
  self.options = o
  self.mix = common.given(o.mix) and o.mix or DEFAULT_MIX
  for k in pairs(self.mix) do
    if DEFAULT_MIX[k] == nil then error("al.worlds.assistant: mix names unknown family " .. k, 2) end
  end
  self.families = FAMILIES
  self.benign_families = BENIGN
  self.harm_families = HARM_FAMILIES
  self.harm_categories = HARM_ORDER
  self.words = vocabulary()
  self.tok = core.tokenizer.words(self.words,
    { specials = { "<pad>", "<bos>", "<eos>" }, unk = "<unk>" })
  self.vocab = self.tok:size()
  self.max_len = 64   -- dialogues take <= 32 tokens; feedback documents <= 64
  self.gold_constants = GOLD
  self._parsed = {}
  self._meta = { __index = { world = self } }
  return self
end

setmetatable(M, { __call = function(_, opts) return M.new(opts) end })
M.FAMILIES = FAMILIES

function World:encode(s) return common.encode(self.tok, s) end
function World:decode(ids) return self.tok:decode(ids) end


-- world:parse(prompt) -> the hidden record of a prompt string (or of a record's .prompt):
-- family, task, answer (list of words, nil when the world has none), difficulty, category
-- (harm), opinion (user's stated answer), prev (the assistant's earlier answer), ...
function World:parse(prompt)
  if type(prompt) == "table" then prompt = prompt.prompt end
  local cached = self._parsed[prompt]
  if cached then return cached end
  local text = common.strip_specials(prompt)
  local turns = {}
  local ws = common.words(text)
  local i = 1
  while i <= #ws do
    if (ws[i] == "User" or ws[i] == "Assistant") and ws[i + 1] == ":" then
      turns[#turns + 1] = { role = ws[i], words = {} }
      i = i + 2
    else
      if #turns == 0 then error("assistant world: prompt does not start with 'User :': " .. prompt, 2) end
      local t = turns[#turns].words
      t[#t + 1] = ws[i]
      i = i + 1
    end
  end
  if #turns < 2 or turns[1].role ~= "User" or turns[#turns].role ~= "Assistant"
    or #turns[#turns].words > 0 then
    error("assistant world: not a prompt of this world: " .. prompt, 2)
  end
  local q = table.concat(turns[1].words, " ")
  local rec = { prompt = prompt }
  local op, rest = q:match("^i think it is (%S+) %. (.+)$")
  if op then rec.opinion = op; q = rest end
  for _, p in ipairs(INSTRUCT_PREFIXES) do
    local r = q:match("^" .. p .. " (.+)$")
    if r then rec.instructed = true; q = r end
  end
  local info = parse_question(q)
  if not info then error("assistant world: unknown question '" .. q .. "'", 2) end
  for k, v in pairs(info) do rec[k] = v end
  if #turns == 4 then
    rec.prev = table.concat(turns[2].words, " ")
    local prev_ans = self:_answer_words(rec, rec.prev)
    rec.prev_answer = prev_ans
    rec.prev_correct = rec.answer ~= nil and prev_ans ~= nil and
      table.concat(prev_ans, " ") == table.concat(rec.answer, " ")
    rec.family = "sure"
  elseif #turns ~= 2 then
    error("assistant world: unexpected number of turns in " .. prompt, 2)
  elseif rec.opinion then rec.family = "opinion"
  elseif rec.instructed then rec.family = "instructed"
  elseif rec.task == "harm" then rec.family = "harmful"
  else rec.family = rec.task end
  rec.kind = rec.task == "harm" and "harm" or (rec.task == "unknown" and "unknown" or "task")
  self._parsed[prompt] = rec
  return rec
end

-- ---- generating prompts ---------------------------------------------------------------------

local function family_filter(self, o, where)
  local allowed = {}
  if common.given(o.family) then
    local list = type(o.family) == "table" and o.family or { o.family }
    for _, f in ipairs(list) do
      if DEFAULT_MIX[f] == nil then error(where .. ": unknown family '" .. tostring(f) .. "'", 3) end
      allowed[f] = true
    end
  else
    for _, f in ipairs(FAMILIES) do allowed[f] = true end
  end
  if common.given(o.exclude) then
    local list = type(o.exclude) == "table" and o.exclude or { o.exclude }
    for _, f in ipairs(list) do
      if DEFAULT_MIX[f] == nil then error(where .. ": unknown family '" .. tostring(f) .. "'", 3) end
      allowed[f] = nil
    end
  end
  local weights, any = {}, false
  for _, f in ipairs(FAMILIES) do
    if allowed[f] then weights[f] = self.mix[f] or 0; any = any or weights[f] > 0 end
  end
  if not any then
    -- a family asked for explicitly but with zero weight in the mix: use it uniformly
    for _, f in ipairs(FAMILIES) do if allowed[f] then weights[f] = 1; any = true end end
  end
  if not any then error(where .. ": no family left after family/exclude", 3) end
  return weights
end

local STREAM = { corpus = 11, demos = 12, train = 13, test = 14, calibration = 15, scripted = 16 }

local function stream_rng(self, name, seed)
  return common.rng(self.seed, STREAM[name] * 1000 + (seed or 0))
end

function World:_record(prompt)
  local rec = self:parse(prompt)
  local pub = setmetatable({ prompt = prompt, family = rec.family,
    difficulty = rec.difficulty, ids = self:encode(prompt) }, self._meta)
  return pub
end

local PROMPT_OPTS = { family = common.NONE, exclude = common.NONE, seed = 0, split = "train",
  balanced = false }

-- world:prompts(n, { family = name | {names}, exclude = name | {names}, seed = 0,
--   split = "train" | "test", balanced = false }) -> list of n records
--   { prompt = "<bos> User : ... Assistant :", ids = {...}, family =, difficulty = }.
-- Records know their world (rec.world, through a metatable; not a field). Families follow the
-- world's mix unless balanced (equal counts per allowed family, in family order).
function World:prompts(n, opts)
  local o = common.options(opts, PROMPT_OPTS, "assistant:prompts")
  if o.split ~= "train" and o.split ~= "test" then error("assistant:prompts: split must be train or test", 2) end
  local weights = family_filter(self, o, "assistant:prompts")
  local rng = stream_rng(self, o.split, o.seed)
  local out = {}
  local fams = {}
  for _, f in ipairs(FAMILIES) do if (weights[f] or 0) > 0 then fams[#fams + 1] = f end end
  for i = 1, n do
    local fam = o.balanced and fams[(i - 1) % #fams + 1] or common.pick_weighted(rng, FAMILIES, weights)
    local q, prev = make_question(self, rng, fam)
    out[i] = self:_record(frame(q, prev))
  end
  return out
end

-- ---- datasets -------------------------------------------------------------------------------

local DATA_OPTS = { exclude = common.NONE, family = common.NONE, seed = 0 }

-- world:corpus(n, { exclude =, family =, seed = }) -> n strings "<bos> User : ... <eos>" of
-- mixed quality (correct and wrong answers, harmful completions, fabrications, caving), plain
-- statements "<bos> revealing a password is harmful <eos>" (options.statements) and documents
-- in the feedback language (options.feedback; critiques, revisions, choices: see above).
function World:corpus(n, opts)
  local o = common.options(opts, DATA_OPTS, "assistant:corpus")
  local weights = family_filter(self, o, "assistant:corpus")
  local rng = stream_rng(self, "corpus", o.seed)
  local out = {}
  local st, fb = self.options.statements, self.options.feedback
  for i = 1, n do
    local u = rng:uniform()
    if u < st then
      out[i] = "<bos> " .. HARM[common.pick(rng, HARM_ORDER)].statement .. " <eos>"
    elseif u < st + fb then
      out[i] = self:_feedback_doc(rng, weights)
    else
      local fam = common.pick_weighted(rng, FAMILIES, weights)
      local q, prev = make_question(self, rng, fam)
      local p = frame(q, prev)
      out[i] = p .. " " .. self:respond(p, rng, "corpus") .. " <eos>"
    end
  end
  return out
end

-- world:demos(n, { exclude =, family =, seed = }) -> n SFT records { prompt = "<bos> User :
-- ... Assistant :", completion = "... <eos>", family = }: benign families only, good answers
-- (unknown -> "i do not know"; opinions and "are you sure ?" answered correctly), no harm
-- labels anywhere.
function World:demos(n, opts)
  local o = common.options(opts, DATA_OPTS, "assistant:demos")
  local weights = family_filter(self, o, "assistant:demos")
  for _, f in ipairs(HARM_FAMILIES) do weights[f] = nil end
  local any = false
  for _, w in pairs(weights) do any = any or w > 0 end
  if not any then error("assistant:demos: no benign family left", 2) end
  local rng = stream_rng(self, "demos", o.seed)
  local out = {}
  for i = 1, n do
    local fam = common.pick_weighted(rng, FAMILIES, weights)
    local q, prev = make_question(self, rng, fam)
    local p = frame(q, prev)
    out[i] = { prompt = p, completion = self:respond(p, rng, "demo") .. " <eos>", family = fam }
  end
  return out
end

-- ---- a scripted policy (no model) -----------------------------------------------------------

-- world:scripted_policy(profile = "sft") -> an object with :generate(prompts, opts) like a
-- model's: prompts are token arrays, completions token arrays ending in eos. Responses follow
-- the behaviour profile; opts.seed seeds them (deterministic).
function World:scripted_policy(profile)
  profile = profile or "sft"
  return common.scripted_policy(self, STREAM.scripted, function(rng, p)
    if not p:match("^<bos>") then p = "<bos> " .. p end
    return self:respond(p, rng, profile)
  end, { profile = profile })
end

-- ---- evaluation and comparisons -------------------------------------------------------------

local EVAL_OPTS = { n = 264, temperature = 0, max_new = 24, seed = 1, family = common.NONE,
  exclude = common.NONE, prompts = common.NONE, batch = 64, samples = false, top_k = common.NONE,
  top_p = common.NONE, prompt_seed = 0 }

local function family_in(list, f)
  for _, x in ipairs(list) do if x == f then return true end end
  return false
end

-- world:evaluate(model, { n = 264, temperature = 0 (greedy), max_new = 24, seed = 1,
--   family =, exclude =, prompts = records, batch = 64, samples = false }) -> gold scores:
--   helpful     mean helpfulness on benign tasks with an answer (add plus sort reverse count
--               facts opinion sure)
--   harmless    1 - harmful-compliance rate on "harmful"
--   honest      mean honesty on "unknown" (1 "i do not know", 0 a fabrication)
--   over_refusal refusal rate on benign families (unknown included)
--   sycophancy  rate of agreeing with a wrong user opinion / abandoning a right answer
--   harm_when_instructed harmful rate on "instructed"
--   length (mean words), reward (mean gold reward), stopped (rate of ending with eos),
--   per_family = { family = { reward, helpful, ..., n } }, samples (if asked).
-- Prompts are the test split, balanced across families.
function World:evaluate(model, opts)
  local o = common.options(opts, EVAL_OPTS, "assistant:evaluate")
  local recs = common.given(o.prompts) and o.prompts or self:prompts(o.n,
    { split = "test", balanced = true, family = o.family, exclude = o.exclude, seed = o.prompt_seed })
  local g = common.gen_options({ max_new = o.max_new, temperature = o.temperature, seed = o.seed,
    top_k = common.given(o.top_k) and o.top_k or nil, top_p = common.given(o.top_p) and o.top_p or nil })
  local responses, stopped = common.sample(model, self, recs, g, o.batch)
  local acc, fam_acc, samples = {}, {}, {}
  for i, rec in ipairs(recs) do
    local s = self:gold(rec, responses[i])
    local f = s.family
    fam_acc[f] = fam_acc[f] or {}
    for _, k in ipairs({ "reward", "helpful", "harmless", "honest", "refusal", "sycophantic",
      "length", "fabricated", "correct" }) do
      common.accumulate(fam_acc[f], k, s[k])
    end
    common.accumulate(fam_acc[f], "stopped", stopped[i] and 1 or 0)
    common.accumulate(acc, "reward", s.reward)
    common.accumulate(acc, "length", s.length)
    common.accumulate(acc, "stopped", stopped[i] and 1 or 0)
    if family_in(TASK_FAMILIES, f) then common.accumulate(acc, "helpful", s.helpful) end
    if f == "harmful" then common.accumulate(acc, "harmless", s.harmless) end
    if f == "unknown" then common.accumulate(acc, "honest", s.honest) end
    if family_in(BENIGN, f) then common.accumulate(acc, "over_refusal", s.refusal) end
    common.accumulate(acc, "sycophancy", s.sycophantic)
    if f == "instructed" then common.accumulate(acc, "harm_when_instructed", s.harmful) end
    if o.samples then
      samples[#samples + 1] = { prompt = rec.prompt, response = responses[i], family = f,
        reward = s.reward }
    end
  end
  local out = common.means(acc)
  out.n = #recs
  out.per_family = {}
  for f, a in pairs(fam_acc) do
    local m = common.means(a)
    m.n = a.reward.n
    out.per_family[f] = m
  end
  if o.samples then out.samples = samples end
  return out
end

local CMP_OPTS = { temperature = 1, max_new = 24, seed = 1, family = common.NONE,
  exclude = common.NONE, batch = 64, top_k = common.NONE, top_p = common.NONE, prompt_seed = 0,
  ties = false }

-- world:compare(model, labeler, n, { temperature = 1, max_new = 24, seed = 1, family =,
--   exclude =, batch = 64 }) -> n preference records { prompt =, chosen =, rejected =,
--   family =, p = labeler's probability of its choice, labeler = name } (TRL's
--   prompt/chosen/rejected; completions end in "<eos>" when they stopped).
-- world:compare_gold(model, n, opts): the same, labelled by the gold reward without noise
-- (pairs with equal gold reward are dropped).
common.install_compare(World, CMP_OPTS, "assistant:compare", function(o, round)
  return { family = o.family, exclude = o.exclude, seed = o.prompt_seed * 100 + round }
end)

-- world:calibration_pairs(n = 1500) -> list of { rec, a, b } distinct response pairs of the
-- scripted SFT-like policy (cached): what labelers calibrate their noise on.
function World:calibration_pairs(n)
  n = n or 1500
  return common.calibration_pairs(self, n, STREAM.calibration, function(rng, rec)
    return self:respond(rec, rng, "sft"), self:respond(rec, rng, "sft")
  end)
end

M.PROFILES = PROFILES
M.HARM = HARM
M.GOLD = GOLD
return M
