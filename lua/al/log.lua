-- al.log: a JSONL run log. Each :write(t) appends one JSON object as a line and flushes, so a
-- crash loses at most the line being written and `tail -f` shows progress.
--
--   local log <close> = al.log("runs/ppo.jsonl")          -- appends; { append = false } truncates
--   log:write{ step = 1, reward = 0.3, kl = 0.01 }
--   log:close()
-- Options: append (default true); csv = true: on close, the log is also written as CSV beside it
-- (RUN.csv, al.log2csv); tensorboard = DIR: each record is also an Event in a new TensorBoard
-- event file in DIR (al.tensorboard). Trainers take log = PATH or log = { path =, csv =,
-- tensorboard = } (al.train.run).
local core = require "al.core"
local log2csv = require "al.log2csv"
local tensorboard = require "al.tensorboard"

local M = {}
local Log = {}
Log.__index = Log
Log.__name = "al.Log"

function M.open(path, opts)
  if type(path) ~= "string" or path == "" then error("al.log: path must be a non-empty string", 2) end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "append" and k ~= "csv" and k ~= "tensorboard" then
      error("al.log: unknown option '" .. tostring(k) .. "' (known: append, csv, tensorboard)", 2)
    end
  end
  if opts.tensorboard ~= nil and (type(opts.tensorboard) ~= "string" or opts.tensorboard == "") then
    error("al.log: option 'tensorboard' must be a directory name", 2)
  end
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then
    local ok, err = pcall(core.mkdir_p, dir)
    if not ok then error("al.log: " .. tostring(err), 2) end
  end
  local f, err = io.open(path, opts.append == false and "w" or "a")
  if not f then error("al.log: " .. err, 2) end
  local tb = opts.tensorboard and tensorboard.open(opts.tensorboard) or nil
  return setmetatable({ path = path, f = f, n = 0, csv = opts.csv and true or false, tb = tb }, Log)
end

function Log:write(t)
  if not self.f then error("al.log: " .. self.path .. " is closed", 2) end
  if type(t) ~= "table" then error("al.log: write expects a table (got " .. type(t) .. ")", 2) end
  local line = core.json.encode(t) -- raises (NaN, functions, ...) before anything is written
  if line:sub(1, 1) ~= "{" then error("al.log: a record must be a JSON object, not an array", 2) end
  self.f:write(line, "\n")
  self.f:flush()
  if self.tb then self.tb:write(t) end
  self.n = self.n + 1
  return self
end

function Log:close()
  if self.f then
    self.f:close()
    self.f = nil
    if self.tb then self.tb:close() end
    if self.csv then log2csv.convert(self.path, (self.path:gsub("%.jsonl$", "")) .. ".csv") end
  end
end

Log.__close = Log.close
Log.__gc = Log.close
function Log:__tostring()
  return ("al.Log(%s, %d records%s)"):format(self.path, self.n, self.f and "" or ", closed")
end

return setmetatable(M, { __call = function(_, ...) return M.open(...) end })
