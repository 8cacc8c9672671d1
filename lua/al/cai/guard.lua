-- al.cai.guard: views of a world that hide what CAI must not read. al.cai.blind(world) for
-- labelers (features without harm fields) and al.cai.guard(world), which raises on any read of a
-- gold score or harm label, so a pipeline run on it proves it uses none. Views only: they
-- hold no model and train nothing.
local M = {}

-- A view of world: view's own fields first, then world's (methods bound to world).
local function bound_view(view, world)
  return setmetatable(view, { __index = function(_, k)
    local v = world[k]
    if type(v) == "function" then return function(_, ...) return v(world, ...) end end
    return v
  end })
end

-- What a helpfulness labeler may perceive (world:features fields); harm fields are left out.
local HELPFUL_FEATURES = { "quality", "difficulty", "plausible", "idk", "confidence", "style",
  "length", "agree", "concede", "disfluency", "answer" }

-- al.cai.blind(world) -> a view of world for labelers: features(prompt, response) returns only
-- the helpfulness fields (no harmful, refusal, explained, harm_prompt); everything else is the
-- world's (methods bound to it).
function M.blind(world)
  local view = { name = (world.name or "world") .. "(blind)", tok = world.tok, vocab = world.vocab }
  view.features = function(_, rec, response)
    local f = world:features(rec, response)
    local g = {}
    for _, k in ipairs(HELPFUL_FEATURES) do g[k] = f[k] end
    return g
  end
  return bound_view(view, world)
end

-- Everything of a world that holds gold truth or harm labels.
local GUARDED = { "gold", "_gold", "evaluate", "compare_gold", "analyze", "parse", "respond",
  "scripted_policy" }
local HARM_FEATURES = { harmful = true, refusal = true, explained = true, harm_prompt = true }

-- al.cai.guard(world) -> a view of world that raises "al.cai.guard: ... read" on any read of a
-- gold score or harm label: world:gold/evaluate/compare_gold/analyze/parse/respond/
-- scripted_policy, and the harm fields (harmful, refusal, explained, harm_prompt) of
-- world:features. Everything else (prompts, demos, encode, tok, compare, ...) is the world's.
-- Run a pipeline on it to prove it uses no harm label (tests/lua/test_cai.lua, experiments/cai.lua).
function M.guard(world)
  local view = { name = (world.name or "world") .. "(guarded)", tok = world.tok, vocab = world.vocab,
    guarded = true }
  for _, k in ipairs(GUARDED) do
    view[k] = function() error("al.cai.guard: world:" .. k .. " read (gold or harm label)", 2) end
  end
  view.features = function(_, rec, response)
    local f = world:features(rec, response)
    local g = {}
    for k, v in pairs(f) do if not HARM_FEATURES[k] then g[k] = v end end
    return setmetatable(g, { __index = function(_, k)
      if HARM_FEATURES[k] then error("al.cai.guard: harm feature '" .. k .. "' read", 2) end
      return nil
    end })
  end
  return bound_view(view, world)
end

-- al.cai.helpful_labeler(world, opts) -> a labeler whose :choose(rec, a, b) is a helpful-only

return M
