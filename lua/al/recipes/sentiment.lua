-- al.recipes.sentiment: the shared models of the sentiment world (DESIGN.md "Other worlds"),
-- built once and cached by a hash of their recipe (al.cache): a base LM pretrained on the world's
-- corpus, and the SFT policy (= the reference policy pi_ref of the DPO, PPO, best-of-n and
-- reward-model experiments) fine-tuned from it on the world's demonstrations (review prefixes and
-- their continuations). Two variants: "full" (preset S of papers.md section 0: d=64, L=2, 4
-- heads, context 32) and "smoke" (a tiny model and budget for the test suite).
--
--   local R = al.recipes.sentiment
--   local world, sft, base = R.models("full")   -- or R.models{ smoke = true }
--   R.recipe("full")                              -- the table whose hash keys the cache
--
-- Corpus documents longer than the context are cut to their first `ctx` tokens (about 5% of
-- them at ctx 32: they lose their <eos>). Everything is seeded in the recipe, so the same
-- recipe always gives the same bits (one thread).
local core = require "al.core"
local util = require "al.util"
local cache = require "al.cache"
local pretrain = require "al.pretrain"
local sft_trainer = require "al.sft"

local M = {}

M.VARIANTS = {
  full = {
    world_seed = 1, ctx = 32, d = 64, heads = 4, layers = 2, init_seed = 1,
    corpus = 20000, pretrain_steps = 800, pretrain_lr = 3e-3, pretrain_batch = 32,
    demos = 3000, sft_epochs = 1, sft_lr = 1e-3, sft_batch = 32,
  },
  smoke = {
    world_seed = 1, ctx = 32, d = 32, heads = 2, layers = 1, init_seed = 1,
    corpus = 1500, pretrain_steps = 60, pretrain_lr = 3e-3, pretrain_batch = 32,
    demos = 300, sft_epochs = 1, sft_lr = 1e-3, sft_batch = 32,
  },
}

local function variant_of(v)
  if v == nil then return "full" end
  if type(v) == "table" then return v.smoke and "smoke" or "full" end
  if v == true then return "smoke" end
  if not M.VARIANTS[v] then
    error("al.recipes.sentiment: unknown variant '" .. tostring(v) .. "' (full, smoke)", 3)
  end
  return v
end

-- The recipe table of a variant ("full" | "smoke" | { smoke = bool }); a copy.
function M.recipe(v)
  local r = {}
  for k, x in pairs(M.VARIANTS[variant_of(v)]) do r[k] = x end
  r.world = "sentiment"
  return r
end

function M.world(v)
  return require("al.worlds.sentiment"){ seed = M.recipe(v).world_seed }
end

local function cut(ids, n)
  if #ids <= n then return ids end
  return table.move(ids, 1, n, 1, {})
end

-- The cache key of a shared model: the recipe and the world's lexicon (AFINN when installed, else
-- the world's own), by content, so a model built under one lexicon is never served under another.
function M.cache_key(r, world)
  if not world._lexicon_hash then
    local words = {}
    for w, v in pairs(world.lexicon) do words[#words + 1] = w .. "=" .. tostring(v) end
    table.sort(words)
    world._lexicon_hash = core.hash(table.concat(words, "\n"))
  end
  local k = util.copy(r)
  k.lexicon = world._lexicon_hash
  return k
end

-- The pretrained base LM of variant v (cached).
function M.base(v, world)
  local r = M.recipe(v)
  world = world or M.world(v)
  return (cache("sentiment-base", M.cache_key(r, world), function()
    local m = core.gpt{ vocab = world.vocab, ctx = r.ctx, d = r.d, heads = r.heads,
                      layers = r.layers, seed = r.init_seed }
    local docs = {}
    for i, s in ipairs(world:corpus(r.corpus)) do docs[i] = cut(world:encode(s), r.ctx) end
    pretrain(m, docs, { steps = r.pretrain_steps, batch_size = r.pretrain_batch,
                           lr = r.pretrain_lr, seed = r.init_seed, progress = false })
    return m
  end))
end

-- The SFT policy of variant v (cached; its key covers the base recipe too).
function M.sft(v, world)
  local r = M.recipe(v)
  r.stage = "sft"
  world = world or M.world(v)
  return (cache("sentiment-sft", M.cache_key(r, world), function()
    local m = M.base(v, world):clone()
    local recs = {}
    for i, d in ipairs(world:demos(r.demos)) do
      local p = world:encode(d.prompt)
      local c = world:encode(d.completion)
      local n = math.min(#c, r.ctx - #p)
      -- tokens + start (train.lm_record reads a { prompt =, completion = } table as an empty
      -- token array: #t == 0; reported to the trainers' owner)
      local toks = table.move(p, 1, #p, 1, {})
      table.move(c, 1, n, #p + 1, toks)
      recs[i] = { tokens = toks, start = #p }
    end
    sft_trainer(m, recs, { epochs = r.sft_epochs, batch_size = r.sft_batch, lr = r.sft_lr,
                      seed = r.init_seed, progress = false })
    return m
  end))
end

-- ---- helpers the sentiment experiments share ------------------------------------------------

-- Preference records with strings (world:compare / compare_gold) -> token records
-- { prompt =, chosen =, rejected = } (world:encode maps the literal <bos>/<eos> to their ids).
function M.encode_prefs(world, prefs)
  local out = {}
  for i, p in ipairs(prefs) do
    out[i] = { prompt = world:encode(p.prompt), chosen = world:encode(p.chosen),
               rejected = world:encode(p.rejected) }
  end
  return out
end

-- k samples of `model` for each prompt record: returns prompts (ids, one per sample), their
-- completions (ids, ending in <eos> when they stopped) and owner[j] = index of the record.
-- Sampled in chunks of `chunk` sequences, chunk c seeded by seed * 100003 + c.
function M.sample(model, world, recs, k, opts)
  opts = opts or {}
  local rep, owner = {}, {}
  for i, r in ipairs(recs) do
    for _ = 1, k do rep[#rep + 1] = r.ids; owner[#owner + 1] = i end
  end
  local comps, chunk, c = {}, opts.chunk or 256, 0
  for s = 1, #rep, chunk do
    c = c + 1
    local part = table.move(rep, s, math.min(s + chunk - 1, #rep), 1, {})
    local out = model:generate(part, { max_new = opts.max_new or 16, eos = world.tok.eos,
      temperature = opts.temperature or 1, seed = (opts.seed or 1) * 100003 + c })
    for _, x in ipairs(out) do comps[#comps + 1] = x end
  end
  return rep, comps, owner
end

-- Gold of token completions: field ("reward" = G, "p_pos", ...) of world:gold for each
-- completion j of record recs[owner[j]] (owner may be nil: recs[j]).
function M.gold(world, recs, comps, owner, field)
  field = field or "reward"
  local out = {}
  for j, c in ipairs(comps) do
    out[j] = world:gold(recs[owner and owner[j] or j], world.tok:decode(c))[field]
  end
  return out
end

-- A copy of a table with NaN and infinite numbers removed (JSON has no NaN): results keep
-- only what was measured.
function M.clean(v)
  if type(v) == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return nil end
    return v
  end
  if type(v) ~= "table" then return v end
  local o = {}
  for k, x in pairs(v) do o[k] = M.clean(x) end
  return o
end

-- world, sft, base of variant v.
function M.models(v)
  local world = M.world(v)
  local base = M.base(v, world)
  local sft = M.sft(v, world)
  return world, sft, base
end

-- For `alignlab reproduce`: the shared models to build before experiments run in parallel.
function M.prepare_tasks(smoke) return { "models" } end
function M.prepare(smoke) M.models{ smoke = smoke } end

return M
