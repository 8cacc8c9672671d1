-- Tests of al.cache (lua/al/cache.lua): a model is built once and loaded after; the facts its
-- build returns (e.g. an RM's held-out accuracy) come back on every load, so a result never
-- depends on whether the cache was warm; an entry is published by one rename (no half-written
-- directory is ever served); a sentiment model's key covers the lexicon it was built under.
print("testing al.cache")
local al = require "al"
local core = require "al.core"

local dir = os.tmpname()
os.remove(dir)
local prev = os.getenv("ALIGNLAB_CACHE")
assert(prev == nil or prev == "", "the test sets its own cache directory")
-- al.cache.dir reads the environment; point it at a fresh directory through the module
local cache = require "al.cache"
local real_dir = cache.dir
cache.dir = function() return dir end

local function tiny(seed)
  return al.gpt{ vocab = 8, ctx = 4, d = 8, heads = 2, layers = 1, seed = seed }
end

do print("  built once, then loaded bit-identically with the build's facts")
  local builds = 0
  local function build() builds = builds + 1 return tiny(5), { eval_accuracy = 0.625, n = 3 } end
  local m1, hit1, meta1 = cache("t", { a = 1 }, build)
  assert(not hit1 and builds == 1 and meta1.eval_accuracy == 0.625)
  local m2, hit2, meta2 = cache("t", { a = 1 }, build)
  assert(hit2 and builds == 1, "second call loads")
  assert(meta2.eval_accuracy == 0.625 and meta2.n == 3, "facts come back on a warm load")
  local a, b = m1:logits({ 1, 2, 3 }), m2:logits({ 1, 2, 3 })
  assert(#a > 0)
  for i = 1, #a do assert(a[i] == b[i], "loaded model equals built model") end
  -- a build without facts gives nil facts, warm or cold
  local _, _, none = cache("t", { a = 2 }, function() return tiny(6) end)
  assert(none == nil)
  local _, hit, none2 = cache("t", { a = 2 }, function() error("must not rebuild") end)
  assert(hit and none2 == nil)
end

do print("  no build directory is left behind; a broken entry is rebuilt")
  local p = io.popen("ls -1 " .. dir)
  for f in p:lines() do assert(not f:find(".build-", 1, true), "left behind: " .. f) end
  p:close()
  local key = cache.key("t", { a = 3 })
  os.execute("mkdir -p " .. dir .. "/" .. key)
  local f = assert(io.open(dir .. "/" .. key .. "/model.safetensors", "wb"))
  f:write("not a model")
  f:close()
  local m, hit = cache("t", { a = 3 }, function() return tiny(7) end)
  assert(not hit and m, "a broken entry is rebuilt")
  local _, hit2 = cache("t", { a = 3 }, function() error("must not rebuild") end)
  assert(hit2, "the rebuilt entry replaced the broken one")
end

do print("  facts must be a table")
  local ok, err = pcall(cache, "t", { a = 4 }, function() return tiny(8), 3 end)
  assert(not ok and tostring(err):find("second result must be a table", 1, true), tostring(err))
end

do print("  a sentiment model's key covers the lexicon, by content")
  local S = require "al.recipes.sentiment"
  local r = S.recipe("smoke")
  local w1 = al.worlds.sentiment{ seed = 1, lexicon = { good = 2, bad = -2 } }
  local w2 = al.worlds.sentiment{ seed = 1, lexicon = { good = 3, bad = -2 } }
  local w3 = al.worlds.sentiment{ seed = 1, lexicon = { bad = -2, good = 2 } }
  local k = function(w) return cache.key("sentiment-base", S.cache_key(r, w)) end
  assert(k(w1) ~= k(w2), "another lexicon, another key")
  assert(k(w1) == k(w3), "the same lexicon, the same key")
  assert(S.cache_key(r, w1).lexicon and r.lexicon == nil, "the recipe itself is not changed")
end

do print("  the key covers the BLAS kernel (its sgemm decides a model's bits)")
  local b = core.blas()
  assert(type(b.core) == "string" and #b.core > 0 and b.config:find("OpenBLAS", 1, true), b.config)
  local k1 = cache.key("t", { a = 1 })
  local real = core.blas
  core.blas = function() return { core = "SomeOtherKernel", config = b.config, threads = 1 } end
  local ok, k2 = pcall(cache.key, "t", { a = 1 })
  core.blas = real
  assert(ok and k1 ~= k2, "another kernel, another key")
  assert(cache.key("t", { a = 1 }) == k1)
end

cache.dir = real_dir
os.execute("rm -rf " .. dir)
assert(core.version)
print("OK")
