-- al.weave.util: the path, file and message helpers the weaver's modules share (one floor below
-- them all; requires only al.core and al.util). Paths are plain strings, "/"-separated.
local core = require "al.core"
local util = require "al.util"

local M = {}

local function dirname(p)
  return p:match("^(.*)/[^/]*$") or "."
end

local function basename(p)
  return p:match("([^/]*)$")
end

local function stem(p)
  return (basename(p):gsub("%.[^.]*$", ""))
end

local function join(a, b)
  if b:sub(1, 1) == "/" then return b end
  if a == "." or a == "" then return b end
  return a .. "/" .. b
end

local function now()
  return core.time and core.time() or os.clock()
end

local function rm_rf(path)
  os.execute("rm -rf " .. util.shell_quote(path))
end

local function is_dir(path)
  local ok = os.execute("test -d " .. util.shell_quote(path))
  return ok == true
end

local function warn(quiet, fmt, ...)
  if not quiet then io.stderr:write("weave: ", string.format(fmt, ...), "\n") end
end

-- Read a file's bytes or raise.
local function slurp(path)
  local s, err = util.read_file(path)
  if not s then error("weave: cannot read " .. path .. ": " .. tostring(err), 0) end
  return s
end

local function copy_file(src, dst)
  util.write_file(dst, slurp(src))
end

M.dirname, M.basename, M.stem, M.join = dirname, basename, stem, join
M.now, M.rm_rf, M.is_dir, M.warn = now, rm_rf, is_dir, warn
M.slurp, M.copy_file = slurp, copy_file

return M
