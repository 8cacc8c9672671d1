-- alignlab: al.cache(name, recipe, build) returns the model that `build()` makes, built once and
-- kept in .cache/models/NAME-HASH/ where HASH is a hash of the recipe table (its canonical JSON)
-- and of the code (see M.code_fingerprint). Change anything in the recipe or the code and it is
-- rebuilt. The cache dir is
-- $ALIGNLAB_CACHE when set. build() must be deterministic in the recipe (seeds inside it).
local core = require "al.core"
local util = require "al.util"

local function canonical(v)
  local t = type(v)
  if t == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. canonical(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif t == "number" then
    return string.format("%.17g", v)
  else
    return t .. ":" .. tostring(v)
  end
end

local M = {}

function M.dir()
  local d = os.getenv("ALIGNLAB_CACHE")
  if not d or d == "" then d = util.root() .. "/.cache/models" end
  return d
end

-- The code that builds models: the alignlab executable (the C core is linked into it) and every
-- Lua file of the library. A cached model is reused only when both are unchanged, so a fixed
-- trainer never silently serves models its bug built. $ALIGNLAB_CACHE_CODE overrides it (e.g.
-- "any" to reuse models across code changes on purpose).
local fingerprint
-- files that never change what a model learns (presentation, plumbing; and lua/al/weave/)
local NOT_MODEL_CODE = {}
for _, f in ipairs{ "plot", "reproduce", "experiment", "progress", "log", "args", "cache", "init" } do
  NOT_MODEL_CODE["lua/al/" .. f .. ".lua"] = true
end
function M.code_fingerprint()
  if fingerprint then return fingerprint end
  local env = os.getenv("ALIGNLAB_CACHE_CODE")
  if env and env ~= "" then fingerprint = env return env end
  local parts = { core.hash(util.read_file(core.exe()) or "") }
  local p = io.popen("find " .. util.shell_quote(util.root() .. "/lua/al") .. " -name '*.lua' | sort")
  if p then
    for f in p:lines() do
      local rel = f:match("lua/al/.*$")
      local skip = NOT_MODEL_CODE[rel] or rel:match("^lua/al/weave/")
      if not skip then parts[#parts + 1] = rel .. ":" .. core.hash(util.read_file(f) or "") end
    end
    p:close()
  end
  fingerprint = core.hash(table.concat(parts, "\n"))
  return fingerprint
end

-- The key of a model: its recipe, the version, the code that builds it and the BLAS kernel (whose
-- sgemm decides the bits: a model built under one kernel is never served under another).
function M.key(name, recipe)
  return name .. "-" .. core.hash(canonical(recipe) .. "|" .. core.version .. "|" .. M.code_fingerprint() ..
    "|" .. core.blas().core)
end

-- A unique sibling name for building dir (two processes may build the same entry at once: each
-- builds in its own directory and the first rename wins; the loser keeps the winner's model).
local function temp_dir(dir)
  return dir .. ".build-" .. core.hash(tostring({}) .. os.clock() .. os.time())
end

return setmetatable(M, {
  -- build() returns the model and, optionally, a table of facts about its building (e.g. the
  -- reward model's held-out accuracy); they are kept in DIR/build.json and returned on every
  -- later load, so a result never depends on whether the cache was warm.
  __call = function(_, name, recipe, build)
    if type(name) ~= "string" then error("al.cache: bad argument #1 (name string expected)", 2) end
    if type(recipe) ~= "table" then error("al.cache: bad argument #2 (recipe table expected)", 2) end
    if type(build) ~= "function" then error("al.cache: bad argument #3 (function expected)", 2) end
    local dir = M.dir() .. "/" .. M.key(name, recipe)
    if util.file_exists(dir .. "/model.safetensors") then
      local ok, m = pcall(core.load, dir)
      if ok then
        local meta = util.file_exists(dir .. "/build.json") and core.json.read(dir .. "/build.json") or nil
        return m, true, meta
      end
      io.stderr:write("al.cache: rebuilding " .. dir .. " (" .. tostring(m) .. ")\n")
    end
    local m, meta = build()
    if meta ~= nil and type(meta) ~= "table" then
      error("al.cache: " .. name .. ": the build function's second result must be a table", 2)
    end
    local tmp = temp_dir(dir)
    util.mkdir_p(tmp)
    m:save(tmp)
    if meta then core.json.write(tmp .. "/build.json", meta) end
    if not os.rename(tmp, dir) then
      -- dir exists: a broken entry (replace it) or another process's finished build (keep it)
      if util.file_exists(dir .. "/model.safetensors") and pcall(core.load, dir) then
        os.execute("rm -rf " .. util.shell_quote(tmp))
      else
        os.execute("rm -rf " .. util.shell_quote(dir))
        local ok, err = os.rename(tmp, dir)
        if not ok then error("al.cache: cannot move " .. tmp .. " to " .. dir .. ": " .. tostring(err), 2) end
      end
    end
    return m, false, meta
  end,
})
