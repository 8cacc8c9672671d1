-- al.args: command-line overrides for an experiment's settings.
--
--   local cfg = al.args({ seeds = { 1, 2, 3 }, beta = 0.1, steps = 300, name = "dpo",
--                         smoke = false, ppo = { kl = 0.05 } }, arg)
--   -- alignlab exp.lua steps=50 seeds=4,5 smoke ppo.kl=0.1
--
-- Each argument is key=value (a leading "--" is allowed), checked against the type of the
-- default: integers, numbers, booleans (true/false/1/0/yes/no/on/off; a bare `key` is true),
-- strings, lists of numbers or strings (comma-separated), nested tables through dotted keys.
-- An unknown key or a value of the wrong type is an error that lists the known keys. Returns
-- a new table: the defaults are not modified.
local util = require "al.util"

local M = {}

local function copy(t) return util.copy(t, true) end

local function is_list(t)
  return type(t) == "table" and (#t > 0 or next(t) == nil)
end

local function known_keys(defaults, prefix, out)
  out = out or {}
  for k, v in pairs(defaults) do
    local name = prefix .. tostring(k)
    if type(v) == "table" and not is_list(v) then known_keys(v, name .. ".", out)
    else out[#out + 1] = name end
  end
  return out
end

local function usage(defaults)
  local ks = known_keys(defaults, "")
  table.sort(ks)
  return table.concat(ks, ", ")
end

local BOOL = { ["true"] = true, ["1"] = true, yes = true, on = true,
               ["false"] = false, ["0"] = false, no = false, off = false }

local function convert(key, default, s)
  local t = type(default)
  local function bad(what) error(("al.args: %s expects %s, got '%s'"):format(key, what, s), 0) end
  if t == "boolean" then
    local v = BOOL[s:lower()]
    if v == nil then bad("a boolean (true/false)") end
    return v
  elseif t == "number" then
    local v = tonumber(s)
    if v == nil then bad("a number") end
    if math.type(default) == "integer" then
      v = math.tointeger(v)
      if v == nil then bad("an integer") end
      return v
    end
    return v + 0.0
  elseif t == "string" then
    return s
  elseif t == "table" then -- a list
    local out, proto = {}, default[1]
    if s == "" then return out end
    for item in (s .. ","):gmatch("([^,]*),") do
      item = item:match("^%s*(.-)%s*$")
      if proto == nil then -- empty default list: numbers when they all parse
        out[#out + 1] = tonumber(item) or item
      else
        local ok, v = pcall(convert, key, proto, item)
        if not ok then
          bad("a comma-separated list of " .. (type(proto) == "number"
            and (math.type(proto) == "integer" and "integers" or "numbers") or (type(proto) .. "s")))
        end
        out[#out + 1] = v
      end
    end
    return out
  end
  error(("al.args: %s has a default of type %s, which cannot be set from the command line")
    :format(key, t), 0)
end

function M.parse(defaults, argv)
  if type(defaults) ~= "table" then error("al.args: defaults must be a table", 2) end
  if argv ~= nil and type(argv) ~= "table" then error("al.args: arguments must be a table (arg)", 2) end
  local cfg = copy(defaults)
  for i, a in ipairs(argv or {}) do
    if type(a) ~= "string" then error(("al.args: argument %d is not a string"):format(i), 2) end
    local s = a:gsub("^%-%-", "")
    local key, val = s:match("^([%w_%.%-]+)=(.*)$")
    if not key then key = s:match("^([%w_%.%-]+)$") end
    if not key then
      error(("al.args: expected key=value, got '%s' (known keys: %s)"):format(a, usage(defaults)), 2)
    end
    -- walk dotted keys into nested tables
    local t, d, name = cfg, defaults, key
    local parts = {}
    for p in key:gmatch("[^%.]+") do parts[#parts + 1] = p end
    for j = 1, #parts - 1 do
      local p = parts[j]
      if type(d[p]) ~= "table" or is_list(d[p]) then d = nil break end
      d, t = d[p], t[p]
    end
    local last = parts[#parts]
    if d == nil or d[last] == nil or (type(d[last]) == "table" and not is_list(d[last])) then
      error(("al.args: unknown key '%s' (known: %s)"):format(key, usage(defaults)), 2)
    end
    if val == nil then
      if type(d[last]) ~= "boolean" then
        error(("al.args: %s needs a value (%s=...)"):format(name, name), 2)
      end
      val = "true"
    end
    local ok, v = pcall(convert, name, d[last], val)
    if not ok then error(v, 2) end
    t[last] = v
  end
  return cfg
end

M.usage = usage

return setmetatable(M, { __call = function(_, defaults, argv)
  local ok, r = pcall(M.parse, defaults, argv)
  if not ok then error(r, 2) end
  return r
end })
