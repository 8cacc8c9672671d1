-- al.weave.cache: the block cache (knitr's rule). The chained key of each block, which globals a
-- block created or changed, plain data (and al.GPT models) written as Lua source that rebuilds
-- it, and the store/restore of an entry in OUTDIR/.cache/weave/NAME/KEY/. It runs no block:
-- al.weave.run calls it around each cached block.
local core = require "al.core"
local util = require "al.util"
local wutil = require "al.weave.util"

local join, rm_rf, copy_file = wutil.join, wutil.rm_rf, wutil.copy_file

local M = {}

M.CACHE_VERSION = "alignlab-weave-1"

local function json_array_mt()
  return debug.getregistry()["al.json.array"]
end

local function is_model(v)
  if type(v) ~= "userdata" then return false end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__name == "al.GPT"
end
M.is_model = is_model

-- Whether v is plain data (or a model); seen guards cycles.
local function storable(v, seen)
  local t = type(v)
  if t == "number" or t == "string" or t == "boolean" then return true end
  if is_model(v) then return true end
  if t ~= "table" then return false end
  if seen[v] then return true end
  local mt = getmetatable(v)
  if mt ~= nil and mt ~= json_array_mt() then return false end
  seen[v] = true
  for k, x in pairs(v) do
    local kt = type(k)
    if kt ~= "string" and kt ~= "number" and kt ~= "boolean" then return false end
    if not storable(x, seen) then return false end
  end
  return true
end

local function lit(v)
  local t = type(v)
  if t == "number" then
    if v ~= v then return "(0/0)" end
    return string.format("%q", v)
  elseif t == "string" then
    return (string.format("%q", v):gsub("\\\n", "\\n"))
  else
    return tostring(v)
  end
end

-- Lua source that rebuilds the values of `names` (a list of global names) from `vals`. Tables are
-- created first then filled, so shared references and cycles survive; models are written by
-- `save_model(m, i)` (when given) and referenced as model(i). Keys are emitted in a sorted order
-- so the text is a deterministic fingerprint of the data.
local function encode(names, vals, save_model)
  local ids, order, models, mids = {}, {}, {}, {}
  local function visit(v)
    if type(v) == "table" and not ids[v] then
      order[#order + 1] = v
      ids[v] = #order
      for k, x in pairs(v) do visit(k) visit(x) end
    elseif is_model(v) and not mids[v] then
      models[#models + 1] = v
      mids[v] = #models
    end
  end
  for _, name in ipairs(names) do visit(vals[name]) end
  local out = { "local T, M = {}, {}" }
  for i, m in ipairs(models) do
    if save_model then save_model(m, i) end
    out[#out + 1] = ("M[%d] = model(%d)"):format(i, i)
  end
  local function ref(v)
    if type(v) == "table" then return ("T[%d]"):format(ids[v]) end
    if is_model(v) then
      return save_model and ("M[%d]"):format(mids[v]) or ("M[%s]"):format(tostring(v):gsub("%W", ""))
    end
    return lit(v)
  end
  local amt = json_array_mt()
  for i, t in ipairs(order) do
    out[#out + 1] = ("T[%d] = %s"):format(i, getmetatable(t) == amt and "array({})" or "{}")
  end
  local function keyorder(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "boolean" then return (a and 1 or 0) < (b and 1 or 0) end
    if a ~= a then return false end
    if b ~= b then return true end
    return a < b
  end
  for i, t in ipairs(order) do
    local ks = {}
    for k in pairs(t) do ks[#ks + 1] = k end
    table.sort(ks, keyorder)
    for _, k in ipairs(ks) do
      out[#out + 1] = ("T[%d][%s] = %s"):format(i, ref(k), ref(t[k]))
    end
  end
  for _, name in ipairs(names) do
    out[#out + 1] = ("G[%s] = %s"):format(lit(name), ref(vals[name]))
  end
  return table.concat(out, "\n") .. "\n"
end

-- Fingerprint of a value, to tell whether a block changed a table in place (nil: not data).
local function fingerprint(v)
  if type(v) ~= "table" or not storable(v, {}) then return nil end
  return encode({ "x" }, { x = v }, nil)
end

-- Key of each evaluated block, chained (knitr's rule).
function M.keys(blocks)
  local prev = M.CACHE_VERSION
  for _, b in ipairs(blocks) do
    if b.opts.eval ~= false then
      b.key = core.hash(M.CACHE_VERSION .. "\0" .. prev .. "\0" .. b.code)
      prev = b.key
    end
  end
end

-- ---- a block's globals -------------------------------------------------------------------------

-- Which globals a block created, replaced, changed in place or deleted.
function M.snapshot(env)
  local snap = {}
  for k, v in pairs(env) do
    if type(k) == "string" then snap[k] = { v = v, fp = fingerprint(v) } end
  end
  return snap
end

function M.changes(env, snap)
  local changed, deleted = {}, {}
  for k, v in pairs(env) do
    if type(k) == "string" then
      local s = snap[k]
      if s == nil or not rawequal(s.v, v) or is_model(v) or
         (type(v) == "table" and fingerprint(v) ~= s.fp) then
        changed[#changed + 1] = k
      end
    end
  end
  for k in pairs(snap) do
    if rawget(env, k) == nil then deleted[#deleted + 1] = k end
  end
  table.sort(changed)
  table.sort(deleted)
  return changed, deleted
end

local INTERNAL = { _G = true, al = true, show = true, NOTEBOOK = true }

-- Store a successful cached block of the run `self`: KEYDIR/{entry.json, globals.lua, figN.*, model-N/}.
function M.store(self, b, r, changed, deleted)
  local dir = join(self.cachedir, b.key)
  local tmp = dir .. ".tmp"
  rm_rf(tmp)
  core.mkdir_p(tmp)
  local keep, lost = {}, {}
  for _, k in ipairs(changed) do
    if not INTERNAL[k] then
      if storable(self.env[k], {}) then keep[#keep + 1] = k
      else lost[#lost + 1] = ("%s (%s)"):format(k, type(self.env[k])) end
    end
  end
  local env = self.env
  local src = encode(keep, env, function(m, i)
    if type(m.save) ~= "function" then error("weave: models cannot be saved (no m:save)", 0) end
    m:save(("%s/model-%d"):format(tmp, i))
  end)
  util.write_file(tmp .. "/globals.lua", src)
  local segs = {}
  for i, s in ipairs(r.segments) do
    if s.kind == "fig" then
      local name = ("fig%d.%s"):format(i, s.file:match("%.(%w+)$") or "svg")
      copy_file(s.file, tmp .. "/" .. name)
      segs[i] = { kind = "fig", file = name, title = s.title }
    else
      segs[i] = { kind = "out", text = s.text }
    end
  end
  local entry = { version = M.CACHE_VERSION, key = b.key, line = b.line, segments = segs,
                  truncated = r.truncated or false, lost = core.json.array(lost),
                  deleted = core.json.array(deleted), elapsed = r.elapsed }
  core.json.write(tmp .. "/entry.json", entry)
  rm_rf(dir)
  local ok, err = os.rename(tmp, dir)
  if not ok then error("weave: cannot store cache entry " .. dir .. ": " .. tostring(err), 0) end
  r.lost = lost
end

-- Restore a cached block into the run `self`'s environment; returns the result or nil when there is no usable entry.
function M.restore(self, b)
  local dir = join(self.cachedir, b.key)
  local ok, entry = pcall(core.json.read, dir .. "/entry.json")
  if not ok or type(entry) ~= "table" or entry.version ~= M.CACHE_VERSION or entry.key ~= b.key then
    return nil
  end
  local src = util.read_file(dir .. "/globals.lua")
  if not src then return nil end
  local loaded = {}
  local env = {
    G = loaded,
    array = function(t) return core.json.array(t) end,
    model = function(i) return core.load(("%s/model-%d"):format(dir, i)) end,
  }
  local chunk = load(src, "=" .. dir .. "/globals.lua", "t", env)
  if not chunk or not pcall(chunk) then return nil end
  for k, v in pairs(loaded) do
    local cur = rawget(self.env, k)
    if is_model(v) and is_model(cur) and pcall(cur.copy_params, cur, v) then
      v:free()          -- trained in place: keep the object other references point to
    else
      self.env[k] = v
    end
  end
  for _, k in ipairs(entry.deleted or {}) do self.env[k] = nil end
  local r = { block = b, segments = {}, cached = true, elapsed = entry.elapsed,
              truncated = entry.truncated, lost = entry.lost or {} }
  for i, s in ipairs(entry.segments or {}) do
    if s.kind == "fig" then
      local f = dir .. "/" .. s.file
      if self.figdir and not self.check then -- keep NAME_files/ complete for the reader
        core.mkdir_p(self.figdir)
        local dst = ("%s/block%d-%s"):format(self.figdir, b.index, s.file)
        copy_file(f, dst)
        f = dst
      end
      r.segments[i] = { kind = "fig", file = f, title = s.title }
    else
      r.segments[i] = { kind = "out", text = s.text }
    end
  end
  return r
end


return M
