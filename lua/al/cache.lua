-- alignlab: al.cache(name, recipe, build) returns the model that `build()` makes, built once and
-- kept in .cache/models/NAME-HASH/ where HASH is a hash of the recipe table (its canonical JSON)
-- and of the library version. Change anything in the recipe and it is rebuilt. The cache dir is
-- $ALIGNLAB_CACHE when set. build() must be deterministic in the recipe (seeds inside it).
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

function M.key(name, recipe)
  local al = require "al"
  return name .. "-" .. al.core.hash(canonical(recipe) .. "|" .. al.version)
end

return setmetatable(M, {
  __call = function(_, name, recipe, build)
    if type(name) ~= "string" then error("al.cache: bad argument #1 (name string expected)", 2) end
    if type(recipe) ~= "table" then error("al.cache: bad argument #2 (recipe table expected)", 2) end
    if type(build) ~= "function" then error("al.cache: bad argument #3 (function expected)", 2) end
    local al = require "al"
    local dir = M.dir() .. "/" .. M.key(name, recipe)
    if util.file_exists(dir .. "/model.safetensors") then
      local ok, m = pcall(al.load, dir)
      if ok then return m, true end
      io.stderr:write("al.cache: rebuilding " .. dir .. " (" .. tostring(m) .. ")\n")
    end
    local m = build()
    util.mkdir_p(dir)
    m:save(dir)
    return m, false
  end,
})
