-- al.weave.run: runs a notebook's blocks in order in one Lua environment, capturing what each
-- prints and the figures it draws with al.plot, restoring and storing cached blocks through
-- al.weave.cache. It builds no HTML (al.weave.html) and parses nothing (al.weave.parse).
local core = require "al.core"
local cache = require "al.weave.cache"
local wutil = require "al.weave.util"

local now, warn = wutil.now, wutil.warn

local M = {}

M.MAX_OUTPUT = 256 * 1024 -- bytes of printed output kept per block

-- Trim the weaver's own frames off a traceback.
local function trim_traceback(tb)
  local out, cut = {}, false
  for line in (tb .. "\n"):gmatch("(.-)\n") do
    if line:find("in function 'xpcall'", 1, true) or line:find("al/weave/", 1, true) then
      cut = true
    end
    if not cut then out[#out + 1] = line end
  end
  while #out > 0 and out[#out]:match("^%s*stack traceback:%s*$") do out[#out] = nil end
  return table.concat(out, "\n")
end

local function handler(e)
  local msg
  if type(e) == "string" then msg = e
  else
    local mt = getmetatable(e)
    msg = (mt and mt.__tostring) and tostring(e) or ("(error object is a %s value)"):format(type(e))
  end
  return trim_traceback(debug.traceback(msg, 2))
end

-- The run state of one notebook.
local Run = {}
Run.__index = Run

local function new_env(path)
  local env = setmetatable({}, { __index = _G })
  env._G = env
  env.al = require "al" -- the user's facade, for notebook code (the weaver itself never uses it)
  env.show = function(...)
    local n = select("#", ...)
    for i = 1, n do
      local v = select(i, ...)
      print(type(v) == "string" and v or core.pretty(v))
    end
  end
  env.NOTEBOOK = path
  return env
end

-- Begin capturing into the current block's segments.
function Run:capture_start()
  self.cap = core.capture_stdout()
end

function Run:capture_stop()
  if not self.cap then return end
  local cap = self.cap
  self.cap = nil
  local text, total = cap:finish(M.MAX_OUTPUT)
  local r = self.current
  if total > 0 and r then
    local room = M.MAX_OUTPUT - (r.out_bytes or 0)
    if room < #text then text = text:sub(1, math.max(room, 0)) end
    r.out_bytes = (r.out_bytes or 0) + total
    if #text > 0 then
      local last = r.segments[#r.segments]
      if last and last.kind == "out" then last.text = last.text .. text
      else r.segments[#r.segments + 1] = { kind = "out", text = text } end
    end
    if r.out_bytes > M.MAX_OUTPUT then r.truncated = true end
  end
end

-- al.plot during a block: the figure lands in the notebook's figure dir and is recorded.
function Run:hook_plot()
  local plot = require "al.plot"
  local orig = plot.draw
  self.plot_orig = orig
  local run = self
  plot.draw = function(spec)
    local r = run.current
    if not r or type(spec) ~= "table" then return orig(spec) end
    local s = {}
    for k, v in pairs(spec) do s[k] = v end
    r.nfig = (r.nfig or 0) + 1
    core.mkdir_p(run.figdir)
    s.file = ("%s/block%d-fig%d"):format(run.figdir, r.block.index, r.nfig)
    s.formats = spec.formats or { "svg" }
    run:capture_stop()
    local ok, files = pcall(orig, s)
    run:capture_start()
    if not ok then error(files, 0) end
    local pick
    for _, f in ipairs(files) do if f:match("%.svg$") then pick = f end end
    pick = pick or files[1]
    r.segments[#r.segments + 1] = { kind = "fig", file = pick, title = spec.title }
    return files
  end
end

function Run:unhook_plot()
  if self.plot_orig then
    package.loaded["al.plot"].draw = self.plot_orig
    self.plot_orig = nil
  end
end

-- Run one block (or restore it from the cache).
function Run:run_block(b)
  local r = { block = b, segments = {} }
  if b.opts.eval == false then
    r.skipped = true
    return r
  end
  if self.stopped then
    r.not_run = true
    return r
  end
  if b.opts.cache and not self.force then
    local c = cache.restore(self, b)
    if c then
      self.ncached = self.ncached + 1
      return c
    end
  end
  local chunk, cerr = load(("\n"):rep(b.line) .. b.code, "@" .. self.path, "t", self.env)
  local snap = b.opts.cache and cache.snapshot(self.env) or nil
  local t0 = now()
  self.current = r
  local ok, err
  if not chunk then
    ok, err = false, cerr
  else
    self:capture_start()
    ok, err = xpcall(chunk, handler)
    self:capture_stop()
  end
  self.current = nil
  r.elapsed = now() - t0
  self.nrun = self.nrun + 1
  if not ok then
    if type(err) == "string" and err:match("^[^\n]*interrupted") then error(err, 0) end
    r.error = err
    if not b.opts.error then
      self.nerrors = self.nerrors + 1
      if not self.keep_going then self.stopped = true end
    end
  elseif b.opts.cache and not self.check then
    local changed, deleted = cache.changes(self.env, snap)
    local sok, serr = pcall(cache.store, self, b, r, changed, deleted)
    if not sok then warn(self.quiet, "%s:%d: block not cached: %s", self.path, b.line, serr) end
  elseif b.opts.cache then
    r.lost = {}
  end
  return r
end

-- A run of the notebook at `fields.path`: fields are path, name, env (M.env), check, force,
-- keep_going, quiet, cachedir, figdir; the counters nrun, ncached, nerrors start at 0.
function M.new(fields)
  fields.nrun, fields.ncached, fields.nerrors = 0, 0, 0
  return setmetatable(fields, Run)
end

M.env = new_env

return M
