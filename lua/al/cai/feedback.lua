-- al.cai.feedback: the model as its own critic (Constitutional AI; papers/cai.md). The
-- constitution's normal form, batched sampling of critiques and revisions (al.cai.critique,
-- al.cai.revise) and the feedback model's soft choice labels (al.cai.choice_logprobs,
-- al.cai.soft_labels). It trains nothing (al.cai: SL-CAI, RL-CAI, the pipeline) and builds no
-- guarded view (al.cai.guard). Every prompt is formatted by the world (its feedback language).
local core = require "al.core"
local util = require "al.util"
local common = require "al.worlds.common"
local log_ = require "al.log"
local progress = require "al.progress"

local M = {}

-- ---- the constitution --------------------------------------------------------------------------

-- al.cai.constitution(c): c = nil (al.constitution), a table { principles = {...} }, a list of
-- principles, or a path to a .lua file returning one / a .json file holding one. Each principle
-- needs a non-empty list `kinds` of strings (its focus, in the world's words; the world checks
-- them when it formats a prompt). Returns { principles = {...}, name = }.
function M.constitution(c)
  if c == nil then c = require "al.constitution" end
  if type(c) == "string" then
    local path = c
    if c:match("%.json$") then
      local ok, v = pcall(core.json.read, path)
      if not ok then error("al.cai.constitution: " .. tostring(v), 2) end
      c = v
    else
      local f, err = loadfile(c)
      if not f then error("al.cai.constitution: " .. tostring(err), 2) end
      c = f()
    end
  end
  if type(c) ~= "table" then error("al.cai.constitution: expected a table or a file", 2) end
  local list = c.principles or c
  if type(list) ~= "table" or #list == 0 then error("al.cai.constitution: no principles", 2) end
  for i, p in ipairs(list) do
    if type(p) ~= "table" or type(p.kinds) ~= "table" or #p.kinds == 0 then
      error(string.format("al.cai.constitution: principle %d (%s) has no kinds", i,
        type(p) == "table" and tostring(p.name) or "?"), 2)
    end
    for _, k in ipairs(p.kinds) do
      if type(k) ~= "string" or not k:match("^%S+$") then
        error(string.format("al.cai.constitution: principle %d (%s) has a kind that is not one word", i,
          tostring(p.name)), 2)
      end
    end
    p.name = p.name or ("principle" .. i)
  end
  return { name = c.name or "custom", principles = list }
end

-- The prompt string of a prompt or record (raises otherwise).
local function prompt_text(p)
  if type(p) == "table" then p = p.prompt end
  if type(p) ~= "string" then error("al.cai: a prompt must be a string or a record with .prompt", 3) end
  return p
end

local function sample_principles(cons, n, rng)
  local out = {}
  for i = 1, n do out[i] = cons.principles[rng:int(#cons.principles)] end
  return out
end

local function ctx_of(model)
  if type(model) == "table" or type(model) == "userdata" then
    local ok, c = pcall(function() return model:config().ctx end)
    if ok and c then return c end
  end
  return math.huge   -- scripted models (tests) have no context limit
end

-- ---- generation ----------------------------------------------------------------------------------

-- Sample one continuation per prompt string from `model` (batched): strings ending in " <eos>"
-- when the continuation stopped. max_new is cut to what each batch's longest prompt leaves of
-- the model's context; a prompt that leaves no room is an error naming it.
local function sample(model, world, prompts, o, seed, where)
  local ids = {}
  for i, p in ipairs(prompts) do ids[i] = world:encode(p) end
  local ctx = ctx_of(model)
  for i, t in ipairs(ids) do
    if #t >= ctx then
      error(string.format("%s: prompt %d has %d tokens, the model's context is %d: %s",
        where or "al.cai", i, #t, ctx, prompts[i]), 3)
    end
  end
  local out = {}
  local bs = o.batch or 256
  for first = 1, #ids, bs do
    local chunk, longest = {}, 0
    for i = first, math.min(#ids, first + bs - 1) do
      chunk[#chunk + 1] = ids[i]
      longest = math.max(longest, #ids[i])
    end
    local g = { max_new = math.min(o.max_new, ctx - longest), temperature = o.temperature,
      eos = world.tok.eos, seed = seed + first }
    if o.temperature == 0 then g.temperature, g.top_k = 1, 1 end
    local comps = model:generate(chunk, g)
    for j, c in ipairs(comps) do
      local text, stopped = common.decode_completion(world.tok, c)
      out[first + j - 1] = stopped and (text == "" and "<eos>" or text .. " <eos>") or text
    end
  end
  return out
end
M.sample = sample
M.prompt_text = prompt_text

local function plain(s) return (common.strip_specials(s or "")) end

local CRITIQUE_DEFAULTS = { temperature = 1.0, max_new = 8, seed = 1, batch = 256 }

-- al.cai.critique(model, world, items, principles, { temperature = 1, max_new = 8, seed = 1 })
--   -> list of { request =, critique =, principle = name } per item. items: list of
--   { prompt = string|record, response = string }; principles: one per item (a list), or one
--   principle for all. request = world:critique_request(prompt, response, principle.kinds);
--   critique = the model's sampled continuation (text, no <eos>).
function M.critique(model, world, items, principles, opts)
  local o = util.opts("al.cai.critique", opts, CRITIQUE_DEFAULTS)
  local single = principles and principles.kinds ~= nil
  local reqs, prs = {}, {}
  for i, it in ipairs(items) do
    local p = single and principles or (principles and principles[i])
    if not p then error("al.cai.critique: no principle for item " .. i, 2) end
    reqs[i], prs[i] = world:critique_request(prompt_text(it.prompt), it.response, p.kinds), p
  end
  local texts = #reqs > 0 and sample(model, world, reqs, o, o.seed, "al.cai.critique") or {}
  local out = {}
  for i = 1, #items do
    out[i] = { request = reqs[i], critique = plain(texts[i]), principle = prs[i].name }
  end
  return out
end

local REVISE_DEFAULTS = {
  rounds = 4, temperature = 1.0, critique_temperature = 1.0, max_new = 16, critique_max_new = 8,
  constitution = util.ANY, seed = 1, batch = 256, log = util.ANY, progress = true,
  initial = util.ANY,
}

-- al.cai.revise(model, world, prompts, { rounds = 4, temperature = 1 (revisions),
--   critique_temperature = 1, max_new = 16, critique_max_new = 8, constitution =, seed = 1,
--   log = path, initial = responses }) -> rounds, history.
-- prompts: red-team prompt strings or records. rounds[0] = the model's answers (sampled at
-- `temperature`, or opts.initial), rounds[n] = its revisions after n critique-revision rounds
-- (strings, " <eos>" at the end when stopped). Each round samples one principle per prompt; the
-- model critiques its current answer under it, then revises in the same context (as in the
-- paper: request, critique, revision request, revision). history[n] = { round, changed (share
-- of answers the revision changed), flagged (share of critiques that are not the world's "it is
-- fine"), critiques = { {principle, critique} per prompt } }.
function M.revise(model, world, prompts, opts)
  local o = util.opts("al.cai.revise", opts, REVISE_DEFAULTS)
  local cons = M.constitution(o.constitution)
  local P = {}
  for i, p in ipairs(prompts) do P[i] = prompt_text(p) end
  if #P == 0 then error("al.cai.revise: no prompts", 2) end
  local rng = core.rng(o.seed, 72)
  local current = o.initial or sample(model, world, P, o, o.seed * 7919, "al.cai.revise")
  if #current ~= #P then error("al.cai.revise: initial has " .. #current .. " responses for " .. #P .. " prompts", 2) end
  local rounds = { [0] = util.copy(current) }
  local history = {}
  local log = o.log and log_(o.log) or nil
  local bar = o.progress and progress(o.rounds, "al.cai.revise") or nil
  local fine = world.critique_fine
  for n = 1, o.rounds do
    local principles = sample_principles(cons, #P, rng)
    local items = {}
    for i = 1, #P do items[i] = { prompt = P[i], response = current[i] } end
    local cr = M.critique(model, world, items, principles, { temperature = o.critique_temperature,
      max_new = o.critique_max_new, seed = o.seed * 7919 + n * 104729, batch = o.batch })
    local reqs = {}
    for i = 1, #P do reqs[i] = world:revision_request(cr[i].request, cr[i].critique) end
    local revs = sample(model, world, reqs, o, o.seed * 7919 + n * 104729 + 1, "al.cai.revise")
    local changed, flagged, crit = 0, 0, {}
    for i = 1, #P do
      if plain(revs[i]) ~= plain(current[i]) then changed = changed + 1 end
      if fine and cr[i].critique ~= fine then flagged = flagged + 1 end
      crit[i] = { principle = cr[i].principle, critique = cr[i].critique }
      current[i] = revs[i]
    end
    rounds[n] = util.copy(current)
    local h = { round = n, changed = changed / #P, flagged = flagged / #P }
    if log then log:write(h) end
    h.critiques = crit
    history[n] = h
    if bar then bar:update(n, { changed = h.changed, flagged = h.flagged }) end
  end
  if bar then bar:done() end
  if log then log:close() end
  return rounds, history
end

-- ---- batched choice scoring --------------------------------------------------------------------

-- al.cai.choice_logprobs(model, contexts, choices) -> lp with lp[i][k] = log p(choices[i][k] |
-- contexts[i]) (sum of the teacher-forced token log-probs). contexts: list of token arrays;
-- choices: list (one per context) of lists of token arrays (each non-empty). Identical
-- (context, choice) pairs are scored once; all distinct pairs go through one batched
-- model:score call (the C core chunks them). Returns lp and the number of distinct pairs scored.
function M.choice_logprobs(model, contexts, choices)
  if #contexts ~= #choices then error("al.cai.choice_logprobs: contexts and choices differ in length", 2) end
  local P, C, slot, where = {}, {}, {}, {}
  for i, ctx in ipairs(contexts) do
    if #ctx == 0 then error("al.cai.choice_logprobs: context " .. i .. " is empty", 2) end
    local ckey = table.concat(ctx, ",")
    for k, ch in ipairs(choices[i]) do
      if #ch == 0 then error(string.format("al.cai.choice_logprobs: choice %d of context %d is empty", k, i), 2) end
      local key = ckey .. "|" .. table.concat(ch, ",")
      local n = slot[key]
      if not n then
        P[#P + 1], C[#C + 1] = ctx, ch
        n = #P
        slot[key] = n
      end
      where[#where + 1] = { i, k, n }
    end
  end
  local out = {}
  for i = 1, #contexts do out[i] = {} end
  if #P == 0 then return out, 0 end
  local _, sums = model:score(P, C)
  for _, w in ipairs(where) do out[w[1]][w[2]] = sums[w[3]] end
  return out, #P
end

-- P(first choice) from the log-probs of the two letters.
local function letter_prob(lp)
  local a, b = lp[1], lp[2]
  if a == b then return 0.5 end
  return 1 / (1 + math.exp(b - a))
end

local LABEL_DEFAULTS = { constitution = util.ANY, principles = 1, clamp = false, debias = true,
  seed = 1, max_words = 16 }

-- Keep at most n words of a response (the choice question must fit the feedback model).
local function clip_words(s, n)
  local ws = common.words(plain(s))
  if #ws <= n then return table.concat(ws, " ") end
  return table.concat(ws, " ", 1, n)
end

-- al.cai.soft_labels(feedback, world, pairs, { constitution =, principles = 1, clamp = false |
--   {lo, hi}, debias = true, seed = 1, max_words = 16 }) -> labels, used.
--   labels[i] = P(pairs[i].a is less harmful than pairs[i].b): the feedback model's normalised
--   probability of the letter of a in world:choice_request(prompt, a, b, principle.kinds)
--   (averaged with the swapped question when debias), averaged over `principles` principles
--   sampled with replacement per pair, then clamped to [lo, hi] when asked. Identical answers
--   get 1/2. Answers are cut to max_words words inside the question. pairs: list of
--   { prompt =, a =, b = }. used[i] = names of the principles of pair i.
function M.soft_labels(feedback, world, pairs, opts)
  local o = util.opts("al.cai.soft_labels", opts, LABEL_DEFAULTS)
  local cons = M.constitution(o.constitution)
  local rng = core.rng(o.seed, 71)
  local letters = {}
  for k, w in ipairs(world.choices) do letters[k] = world:encode(w) end
  local ctx = ctx_of(feedback)
  local ctxs, chs, used, plan = {}, {}, {}, {}
  for i, pair in ipairs(pairs) do
    used[i], plan[i] = {}, {}
    local a, b = clip_words(pair.a, o.max_words), clip_words(pair.b, o.max_words)
    for _ = 1, o.principles do
      local p = cons.principles[rng:int(#cons.principles)]
      used[i][#used[i] + 1] = p.name
      if a ~= b then
        local orders = o.debias and { { a, b }, { b, a } } or { { a, b } }
        local slots = {}
        for k, ab in ipairs(orders) do
          local ids = world:encode(world:choice_request(pair.prompt, ab[1], ab[2], p.kinds))
          if #ids + 1 > ctx then
            error(string.format("al.cai.soft_labels: the choice question of pair %d has %d tokens, the feedback model's context is %d (lower max_words)",
              i, #ids, ctx), 2)
          end
          ctxs[#ctxs + 1], chs[#chs + 1] = ids, letters
          slots[k] = #ctxs
        end
        plan[i][#plan[i] + 1] = slots
      else
        plan[i][#plan[i] + 1] = false
      end
    end
  end
  local lp = #ctxs > 0 and M.choice_logprobs(feedback, ctxs, chs) or {}
  local labels = {}
  for i = 1, #pairs do
    local s = 0
    for _, slots in ipairs(plan[i]) do
      if not slots then s = s + 0.5
      elseif #slots == 1 then s = s + letter_prob(lp[slots[1]])
      else s = s + 0.5 * (letter_prob(lp[slots[1]]) + (1 - letter_prob(lp[slots[2]]))) end
    end
    local p = s / o.principles
    if o.clamp then
      local lo, hi = o.clamp[1] or 0.4, o.clamp[2] or 0.6
      p = math.max(lo, math.min(hi, p))
    end
    labels[i] = p
  end
  return labels, used
end

return M
