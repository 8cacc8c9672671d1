-- alignlab: small helpers shared by the pure-Lua library (option checking, statistics, paths).
local util = {}

-- Check an options table against `defaults` (a table of known keys with default values) and
-- return a new table with defaults filled in. An unknown key is an error naming the function and
-- listing the known keys; a value of the wrong type is an error naming the key. A default of
-- util.REQUIRED makes the key mandatory; util.ANY accepts any type (default nil).
util.REQUIRED = setmetatable({}, { __tostring = function() return "<required>" end })
util.ANY = setmetatable({}, { __tostring = function() return "<any>" end })

function util.opts(fname, opts, defaults)
  if opts ~= nil and type(opts) ~= "table" then
    error(string.format("%s: options must be a table, got %s", fname, type(opts)), 3)
  end
  opts = opts or {}
  local out = {}
  for k, v in pairs(opts) do
    local d = defaults[k]
    if d == nil then
      local known = {}
      for kk in pairs(defaults) do known[#known + 1] = tostring(kk) end
      table.sort(known)
      error(string.format("%s: unknown option '%s' (known: %s)", fname, tostring(k),
                          table.concat(known, ", ")), 3)
    end
    if d ~= util.REQUIRED and d ~= util.ANY and d ~= false and type(d) ~= type(v)
       and not (type(d) == "number" and type(v) == "number") then
      -- `false` defaults accept anything truthy-or-table (e.g. optional objects)
      error(string.format("%s: option '%s' must be a %s, got %s", fname, k, type(d), type(v)), 3)
    end
    out[k] = v
  end
  for k, d in pairs(defaults) do
    if out[k] == nil then
      if d == util.REQUIRED then
        error(string.format("%s: option '%s' is required", fname, k), 3)
      elseif d ~= util.ANY then
        out[k] = d
      end
    end
  end
  return out
end

function util.mean(t)
  local s, n = 0, 0
  for _, v in ipairs(t) do s = s + v; n = n + 1 end
  return n > 0 and s / n or 0 / 0
end

-- sample standard deviation (n-1); 0 for a single value
function util.sd(t)
  local n = #t
  if n < 2 then return 0 end
  local m = util.mean(t)
  local s = 0
  for _, v in ipairs(t) do s = s + (v - m) ^ 2 end
  return math.sqrt(s / (n - 1))
end

function util.copy(t, deep)
  if type(t) ~= "table" then return t end
  local o = {}
  for k, v in pairs(t) do o[k] = deep and util.copy(v, true) or v end
  return o
end

function util.map(t, f)
  local o = {}
  for i, v in ipairs(t) do o[i] = f(v, i) end
  return o
end

-- The repository (or install) root: two levels above this file's directory (lua/al/ -> root).
function util.root()
  local env = os.getenv("ALIGNLAB_ROOT")
  if env and env ~= "" then return env end
  local src = debug.getinfo(1, "S").source
  local dir = src:match("^@(.*)/al/[^/]*$") or "."
  return dir:match("^(.+)/lua$") or (dir .. "/..")
end

function util.file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

function util.read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  return s
end

-- Write atomically: temporary file then rename.
function util.write_file(path, data)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then error("cannot write " .. path .. ": " .. tostring(err), 2) end
  f:write(data)
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then error("cannot rename " .. tmp .. ": " .. tostring(rerr), 2) end
end

function util.mkdir_p(path)
  local core = require "al.core"
  if core.mkdir_p then return core.mkdir_p(path) end
  os.execute("mkdir -p '" .. path:gsub("'", "'\\''") .. "'")
end

function util.shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Names of files in dir matching a Lua pattern, sorted.
function util.listdir(dir, pattern)
  local out = {}
  local p = io.popen("ls -1 " .. util.shell_quote(dir) .. " 2>/dev/null")
  if p then
    for line in p:lines() do
      if not pattern or line:match(pattern) then out[#out + 1] = line end
    end
    p:close()
  end
  table.sort(out)
  return out
end

-- git revision of the repository, or "unknown"
function util.git_rev()
  local p = io.popen("git -C " .. util.shell_quote(util.root()) .. " rev-parse --short HEAD 2>/dev/null")
  if not p then return "unknown" end
  local r = p:read("l")
  p:close()
  return r or "unknown"
end

return util
