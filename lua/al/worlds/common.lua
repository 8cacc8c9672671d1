-- Shared helpers of the worlds (lua/al/worlds/*.lua): option checking, seeded random
-- streams, word-level text helpers, batched sampling from a model, simple statistics.
-- Worlds know nothing of model internals: they only call model:generate(prompts, opts)
-- (lists of 0-based token arrays) and decode with their own tokenizer.
local core = require "al.core"

local common = {}

-- The C bindings (al.core: tokenizers, rng). Kept for worlds/assistant until it requires
-- "al.core" itself (removed at merge).

-- A seeded random stream: al.rng(seed, stream). Worlds never use math.random.
function common.rng(seed, stream)
  return core.rng(seed, stream)
end

-- Copy `opts` over `defaults`, refusing keys that `defaults` does not name (a typo must not
-- silently become a default). `where` names the caller in the error message.
function common.options(opts, defaults, where)
  local out = {}
  for k, v in pairs(defaults) do out[k] = v end
  if opts == nil then return out end
  if type(opts) ~= "table" then
    error(where .. ": options must be a table, got " .. type(opts), 3)
  end
  for k, v in pairs(opts) do
    if defaults[k] == nil then
      local known = {}
      for name in pairs(defaults) do known[#known + 1] = name end
      table.sort(known)
      error(string.format("%s: unknown option '%s' (known: %s)", where, tostring(k),
        table.concat(known, ", ")), 3)
    end
    out[k] = v
  end
  return out
end

-- Marks an option whose default is "not given" (options() needs a non-nil default).
common.NONE = setmetatable({}, { __tostring = function() return "none" end })
function common.given(v) return v ~= nil and v ~= common.NONE end

-- Words of a space-separated string.
function common.words(s)
  local out = {}
  for w in s:gmatch("%S+") do out[#out + 1] = w end
  return out
end

function common.join(list, from, to)
  return table.concat(list, " ", from or 1, to or #list)
end

-- Set from a list.
function common.set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

-- Pick one element of a list uniformly.
function common.pick(rng, list)
  return list[rng:int(#list)]
end

-- Pick a key of `weights` (name -> weight) with probability proportional to its weight;
-- `order` fixes the iteration order so that draws are deterministic.
function common.pick_weighted(rng, order, weights)
  local total = 0
  for _, k in ipairs(order) do total = total + (weights[k] or 0) end
  if total <= 0 then error("pick_weighted: all weights are zero", 2) end
  local x = rng:uniform() * total
  for _, k in ipairs(order) do
    x = x - (weights[k] or 0)
    if x < 0 then return k end
  end
  for i = #order, 1, -1 do
    if (weights[order[i]] or 0) > 0 then return order[i] end
  end
end

function common.sigmoid(x)
  if x >= 0 then
    return 1 / (1 + math.exp(-x))
  end
  local e = math.exp(x)
  return e / (1 + e)
end

function common.mean(t)
  if #t == 0 then return 0 / 0 end
  local s = 0
  for _, v in ipairs(t) do s = s + v end
  return s / #t
end

-- Fraction of adjacent word pairs (bigrams) that repeat an earlier bigram of the same list.
function common.repeated_bigrams(ws)
  if #ws < 3 then return 0 end
  local seen, rep = {}, 0
  for i = 1, #ws - 1 do
    local b = ws[i] .. "\0" .. ws[i + 1]
    if seen[b] then rep = rep + 1 else seen[b] = true end
  end
  return rep / (#ws - 1)
end

-- Strip the literal "<bos>" / "<eos>" / "<pad>" markers from a string; tells whether the
-- text ended with "<eos>" (a completion that stopped rather than being truncated).
function common.strip_specials(s)
  local ws, out, stopped = common.words(s), {}, false
  for _, w in ipairs(ws) do
    if w == "<eos>" then stopped = true break end
    if w ~= "<bos>" and w ~= "<pad>" then out[#out + 1] = w end
  end
  return table.concat(out, " "), stopped
end

-- Encode a string word by word with tok:id, so that literal specials ("<bos>", "<eos>")
-- map to their ids whatever tok:encode does with them; unknown words map to <unk>.
function common.encode(tok, s)
  local out, unk = {}, tok:id("<unk>")
  for w in s:gmatch("%S+") do
    local id = tok:id(w)
    if id == nil then
      if unk == nil then error("encode: word '" .. w .. "' is not in the vocabulary", 2) end
      id = unk
    end
    out[#out + 1] = id
  end
  return out
end

-- Decode a completion (token array) into a string without the trailing <eos>; returns the
-- string and whether it stopped on eos.
function common.decode_completion(tok, ids)
  local out, stopped = {}, false
  for _, id in ipairs(ids) do
    if id == tok.eos then stopped = true break end
    if id ~= tok.pad and id ~= tok.bos then out[#out + 1] = tok:token(id) or "<unk>" end
  end
  return table.concat(out, " "), stopped
end

-- Sample one completion per prompt record (records carry .prompt strings) in batches.
-- gen_opts go to model:generate (max_new, temperature, top_k, top_p, seed); eos is the
-- world's. Returns a list of response strings (eos stripped) and a parallel list of
-- "stopped" flags. Batch b gets seed (gen_opts.seed + b - 1) so that results do not depend
-- on how a caller splits its work.
function common.sample(model, world, records, gen_opts, batch)
  batch = batch or 64
  local out, stopped = {}, {}
  local nb = 0
  for first = 1, #records, batch do
    nb = nb + 1
    local prompts = {}
    for i = first, math.min(#records, first + batch - 1) do
      prompts[#prompts + 1] = world:encode(records[i].prompt)
    end
    local o = {}
    for k, v in pairs(gen_opts) do o[k] = v end
    o.eos = world.tok.eos
    if o.seed then o.seed = o.seed + nb - 1 end
    local completions = model:generate(prompts, o)
    if type(completions) ~= "table" or #completions ~= #prompts then
      error("model:generate returned " .. tostring(completions and #completions) ..
        " completions for " .. #prompts .. " prompts", 2)
    end
    for j, c in ipairs(completions) do
      local s, st = common.decode_completion(world.tok, c)
      out[first + j - 1] = s
      stopped[first + j - 1] = st
    end
  end
  return out, stopped
end

-- A scripted completion: ids followed by eos, cut at max_new tokens (no eos when cut), as a
-- model's generate returns it.
function common.truncate(ids, eos, max_new)
  local c = {}
  for i, id in ipairs(ids) do c[i] = id end
  c[#c + 1] = eos
  if max_new and #c > max_new then
    for i = #c, max_new + 1, -1 do c[i] = nil end
  end
  return c
end

-- ---- scripted policies and calibration pairs (every world) ----

local Scripted = {}
Scripted.__index = Scripted

-- common.scripted_policy(world, stream, respond, fields) -> an object with :generate(prompts,
-- opts) like a model's (no model needed): prompts are token arrays; respond(rng, prompt_string)
-- returns the response text (no <eos>); completions are token arrays ending in eos, cut at
-- opts.max_new, with log-probs of -1 per token. opts.seed seeds the draws (else the call count),
-- from the world's stream `stream`. `fields` (optional) are kept on the object.
function common.scripted_policy(world, stream, respond, fields)
  local s = fields or {}
  s.world, s.stream, s.respond, s.calls = world, stream, respond, 0
  return setmetatable(s, Scripted)
end

function Scripted:generate(prompts, opts)
  opts = opts or {}
  self.calls = self.calls + 1
  local w = self.world
  local rng = common.rng(w.seed, self.stream * 1000 + (opts.seed or self.calls) % 100000)
  local out, lps = {}, {}
  for i, ids in ipairs(prompts) do
    local c = common.truncate(w:encode(self.respond(rng, w.tok:decode(ids))), w.tok.eos, opts.max_new)
    local lp = {}
    for j = 1, #c do lp[j] = -1 end
    out[i], lps[i] = c, lp
  end
  return out, lps
end

-- common.calibration_pairs(world, n, stream, pair) -> up to n distinct response pairs { rec, a, b },
-- computed once per n and kept on the world: what labelers calibrate their noise on. The prompts
-- are world:prompts(2n, { seed = 977 }); pair(rng, rec) draws two responses to rec (rng from the
-- world's stream `stream`), and pairs of equal responses are skipped.
function common.calibration_pairs(world, n, stream, pair)
  world._calib = world._calib or {}
  if not world._calib[n] then
    local rng, out = common.rng(world.seed, stream * 1000), {}
    for _, rec in ipairs(world:prompts(n * 2, { seed = 977 })) do
      if #out >= n then break end
      local a, b = pair(rng, rec)
      if a ~= b then out[#out + 1] = { rec, a, b } end
    end
    world._calib[n] = out
  end
  return world._calib[n]
end

-- Options of generation for evaluation: greedy when temperature is 0 (top_k = 1 too, for
-- samplers that treat temperature 0 specially or not at all).
function common.gen_options(o)
  local g = { max_new = o.max_new, temperature = o.temperature, seed = o.seed }
  if o.temperature == 0 then g.temperature = 1; g.top_k = 1 end
  if o.top_k and o.temperature ~= 0 then g.top_k = o.top_k end
  if o.top_p then g.top_p = o.top_p end
  return g
end

-- Add the components of `g` (a table of numbers) into accumulator `acc` (sums and counts).
function common.accumulate(acc, key, value)
  if value == nil then return end
  local a = acc[key]
  if not a then a = { sum = 0, n = 0 }; acc[key] = a end
  a.sum = a.sum + value
  a.n = a.n + 1
end

function common.means(acc)
  local out = {}
  for k, a in pairs(acc) do out[k] = a.n > 0 and a.sum / a.n or nil end
  return out
end

-- Preference pairs from a model. make_prompts(count, round) returns prompt records (with
-- .prompt and .family); two responses are sampled per prompt (temperature sampling, seeds
-- fixed by o.seed and the round) until n distinct pairs; judge(rec, a, b) returns (a_wins,
-- P(a)). Ties (P(a) == 0.5 exactly) are dropped unless o.ties. Records are TRL's
-- { prompt =, chosen =, rejected = } plus family, p (probability of the choice), labeler;
-- completions end in " <eos>" when they stopped.
function common.compare(world, model, n, o, make_prompts, judge, name)
  local out = {}
  local round = 0
  while #out < n and round < 8 do
    round = round + 1
    local need = n - #out
    local recs = make_prompts(math.ceil(need * 1.25) + 4, round)
    local doubled = {}
    for _, r in ipairs(recs) do doubled[#doubled + 1] = r; doubled[#doubled + 1] = r end
    local g = common.gen_options({ max_new = o.max_new, temperature = o.temperature,
      seed = o.seed * 1000 + round * 97, top_k = common.given(o.top_k) and o.top_k or nil,
      top_p = common.given(o.top_p) and o.top_p or nil })
    local resp, stopped = common.sample(model, world, doubled, g, o.batch)
    for i, rec in ipairs(recs) do
      if #out >= n then break end
      local a, b = resp[2 * i - 1], resp[2 * i]
      if stopped[2 * i - 1] then a = a .. " <eos>" end
      if stopped[2 * i] then b = b .. " <eos>" end
      if a ~= b then
        local a_wins, p = judge(rec, a, b)
        if o.ties or p ~= 0.5 then
          out[#out + 1] = { prompt = rec.prompt, chosen = a_wins and a or b,
            rejected = a_wins and b or a, family = rec.family, p = a_wins and p or 1 - p,
            labeler = name }
        end
      end
    end
  end
  return out
end

-- A judge from the gold reward, without noise (equal rewards tie).
function common.gold_judge(world)
  return function(rec, a, b)
    local ra, rb = world:gold(rec, a).reward, world:gold(rec, b).reward
    if ra == rb then return true, 0.5 end
    return ra > rb, ra > rb and 1 or 0
  end
end

-- Install world:compare(model, labeler, n, opts) and world:compare_gold(model, n, opts) on
-- the class table World: both return common.compare's preference records, judged by
-- labeler:choose (named labeler.name or "labeler") or by common.gold_judge (named "gold").
-- opts are checked against `defaults` (errors name `where`); prompt_opts(o, round) gives the
-- options of world:prompts(count, ...) for each sampling round.
function common.install_compare(World, defaults, where, prompt_opts)
  local function compare_with(self, model, n, opts, judge, name)
    local o = common.options(opts, defaults, where)
    return common.compare(self, model, n, o, function(count, round)
      return self:prompts(count, prompt_opts(o, round))
    end, judge, name)
  end
  function World:compare(model, labeler, n, opts)
    return compare_with(self, model, n, opts,
      function(rec, a, b) return labeler:choose(rec, a, b) end, labeler.name or "labeler")
  end
  function World:compare_gold(model, n, opts)
    return compare_with(self, model, n, opts, common.gold_judge(self), "gold")
  end
end

-- Directory of the repository root: ALIGNLAB_ROOT, else three levels above this file
-- (lua/al/worlds/common.lua), else the current directory.
function common.repo_root()
  local env = os.getenv("ALIGNLAB_ROOT")
  if env and env ~= "" then return env end
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) == "@" then
    local path = src:sub(2)
    local dir = path:match("^(.*)/lua/al/worlds/[^/]+$")
    if dir then return dir end
    if path:match("^lua/al/worlds/") then return "." end
  end
  return "."
end

-- A lazily loaded table of modules: t.NAME requires prefix .. NAME on first use.
function common.lazy(prefix, names)
  local known = common.set(names)
  return setmetatable({}, {
    __index = function(t, k)
      if not known[k] then
        error(prefix .. tostring(k) .. " does not exist (known: " ..
          table.concat(names, ", ") .. ")", 2)
      end
      local m = require(prefix .. k)
      rawset(t, k, m)
      return m
    end,
  })
end

return common
