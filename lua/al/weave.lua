-- al.weave: literate notebooks. A notebook is Markdown with ```lua blocks; weaving runs the
-- blocks in order in one Lua environment, captures what each prints and the figures it draws
-- with al.plot, and writes one self-contained HTML page (CSS, KaTeX, fonts and figures inline;
-- nothing is fetched, the page works from file://). Expensive blocks are cached.
--
--   alignlab weave NOTEBOOK.md [-o OUT.html] [--check] [--force] [--keep-going] [--quiet]
--   alignlab weave --all DIR -o OUTDIR [--check] [--force] [--keep-going] [--quiet]
--
-- Block options, in the fence line: ```lua {echo=false, output=false, cache=true, eval=false,
-- error=true, caption="..."}: hide the code, hide the output, cache the block, do not run it,
-- allow it to fail (the error is shown, the weave still succeeds), a caption for its figures.
--
-- Environment: one table per notebook, __index = _G, with `al` preloaded and `show(...)`
-- (pretty-prints values). Globals persist from block to block; locals live in their block.
-- _G inside a notebook is the notebook's table, so nothing leaks into the weaver.
--
-- Cache (knitr's rule): block i has key_i = hash(version, key_{i-1}, code_i); blocks with
-- eval=false are not in the chain, and the presentation options (echo, output, caption, cache)
-- are not in the key, so toggling them re-renders without re-running. A cached block whose key
-- has an entry in OUTDIR/.cache/weave/NAME/KEY/ is not run: its output segments, figures and
-- the globals it created or changed are restored. Globals are stored when they are plain data
-- (numbers, strings, booleans, tables of those, shared references and cycles kept) or al.GPT
-- models (m:save / al.load; a model the block trained in place is copied back into the same
-- object). Anything else (functions, worlds and other objects with metatables) is not restored:
-- the page says so under the block, and a later block that needs it must recompute it (define
-- such things in uncached blocks). Side effects (files written, RNG streams advanced inside
-- objects) are not replayed either. --force ignores the cache; --check reads it but writes
-- nothing (no page, no cache, figures in a temporary directory).
--
-- The C helpers (al.core.markdown through md4c, base64, stdout capture) are in lua/l_weave.c.
local core = require "al.core"
local util = require "al.util"

local M = {}

M.CACHE_VERSION = "alignlab-weave-1"
M.MAX_OUTPUT = 256 * 1024 -- bytes of printed output kept per block

local BLOCK_OPTS = { echo = "boolean", output = "boolean", cache = "boolean", eval = "boolean",
                     error = "boolean", caption = "string" }
local FRONT_KEYS = { title = true, paper = true, description = true, order = true }

-- ---- small helpers -------------------------------------------------------------------------------

local function esc(s)
  return (tostring(s):gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                                         ['"'] = "&quot;" }))
end
M.escape = esc

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

-- ---- parsing --------------------------------------------------------------------------------------

local function split_lines(text)
  local lines = {}
  local pos = 1
  while pos <= #text do
    local nl = text:find("\n", pos, true)
    if not nl then
      lines[#lines + 1] = text:sub(pos)
      break
    end
    lines[#lines + 1] = text:sub(pos, nl - 1)
    pos = nl + 1
  end
  for i, l in ipairs(lines) do lines[i] = l:gsub("\r$", "") end
  return lines
end

-- The options in a fence line's braces: key=value pairs separated by commas or spaces; values
-- true, false, numbers, "strings", 'strings' or bare words. Unknown keys and wrong types are
-- errors (a typo never silently becomes a default).
function M.parse_options(s, where)
  where = where or "block options"
  local opts = {}
  local body = s:match("^%s*{(.*)}%s*$")
  if not body then
    if s:match("^%s*$") then return opts end
    error(("%s: expected {key=value, ...} after 'lua', got '%s'"):format(where, s), 0)
  end
  local i, n = 1, #body
  while true do
    i = body:find("[^%s,]", i) or n + 1
    if i > n then break end
    local key, after = body:match("^([%a_][%w_]*)%s*=%s*()", i)
    if not key then
      error(("%s: expected key=value at '%s'"):format(where, body:sub(i)), 0)
    end
    i = after
    local c, v = body:sub(i, i), nil
    if c == '"' or c == "'" then
      local j = i + 1
      local buf = {}
      while j <= n and body:sub(j, j) ~= c do
        if body:sub(j, j) == "\\" and j < n then j = j + 1 end
        buf[#buf + 1] = body:sub(j, j)
        j = j + 1
      end
      if j > n then error(("%s: unterminated string for '%s'"):format(where, key), 0) end
      v = table.concat(buf)
      i = j + 1
    else
      local word = body:match("^[^%s,]+", i)
      if not word then error(("%s: missing value for '%s'"):format(where, key), 0) end
      i = i + #word
      if word == "true" then v = true
      elseif word == "false" then v = false
      elseif tonumber(word) then v = tonumber(word)
      else v = word end
    end
    local want = BLOCK_OPTS[key]
    if not want then
      local known = {}
      for k in pairs(BLOCK_OPTS) do known[#known + 1] = k end
      table.sort(known)
      error(("%s: unknown option '%s' (known: %s)"):format(where, key, table.concat(known, ", ")), 0)
    end
    if type(v) ~= want then
      error(("%s: option '%s' must be a %s, got %s"):format(where, key, want, type(v)), 0)
    end
    if opts[key] ~= nil then error(("%s: option '%s' given twice"):format(where, key), 0) end
    opts[key] = v
  end
  return opts
end

-- Parse a notebook: front matter, prose and ```lua blocks.
-- Returns { front = {...}, pieces = { {kind="md", text}, {kind="code", code, opts, line}, ... },
-- blocks = { the code pieces in order } }. Errors name the file and line.
function M.parse(text, path)
  path = path or "notebook"
  local lines = split_lines(text)
  local front, first = {}, 1
  if lines[1] == "---" then
    for j = 2, math.min(#lines, 100) do
      if lines[j] == "---" or lines[j] == "..." then
        for k = 2, j - 1 do
          local l = lines[k]
          if l:match("%S") and not l:match("^%s*#") then
            local key, val = l:match("^([%w_]+)%s*:%s*(.-)%s*$")
            if not key then error(("%s:%d: front matter: expected 'key: value'"):format(path, k), 0) end
            if not FRONT_KEYS[key] then
              error(("%s:%d: front matter: unknown key '%s' (known: description, order, paper, "
                .. "title)")
                :format(path, k, key), 0)
            end
            val = val:gsub('^"(.*)"$', "%1"):gsub("^'(.*)'$", "%1")
            front[key] = val
          end
        end
        first = j + 1
        break
      end
    end
  end
  local pieces, blocks, md = {}, {}, {}
  local function flush_md()
    if #md > 0 then
      pieces[#pieces + 1] = { kind = "md", text = table.concat(md, "\n") .. "\n" }
      md = {}
    end
  end
  local i = first
  while i <= #lines do
    local l = lines[i]
    local indent, fence, info = l:match("^( ? ? ?)(```+)%s*(.-)%s*$")
    if not fence then indent, fence, info = l:match("^( ? ? ?)(~~~+)%s*(.-)%s*$") end
    if fence and fence:sub(1, 1) == "`" and info:find("`", 1, true) then fence = nil end
    if not fence then
      md[#md + 1] = l
      i = i + 1
    else
      local ch, len = fence:sub(1, 1), #fence
      local lang, rest = info:match("^(%S+)(.*)$")
      local is_lua = lang == "lua" or (lang and lang:match("^lua{") ~= nil)
      if lang and lang:match("^lua{") then rest = lang:sub(4) .. rest end
      -- find the closing fence
      local j = i + 1
      while j <= #lines do
        local c = lines[j]:match("^ ? ? ?(" .. (ch == "`" and "`" or "~") .. "+)%s*$")
        if c and #c >= len then break end
        j = j + 1
      end
      if is_lua then
        flush_md()
        local code = {}
        for k = i + 1, math.min(j, #lines + 1) - 1 do
          local cl = lines[k]
          if #indent > 0 then cl = cl:gsub("^" .. (" ?"):rep(#indent), "", 1) end
          code[#code + 1] = cl
        end
        local opts = M.parse_options(rest, ("%s:%d: block options"):format(path, i))
        local b = { kind = "code", code = table.concat(code, "\n"), opts = opts, line = i,
                    index = #blocks + 1 }
        pieces[#pieces + 1] = b
        blocks[#blocks + 1] = b
      else
        for k = i, math.min(j, #lines) do md[#md + 1] = lines[k] end
      end
      i = j + 1
    end
  end
  flush_md()
  -- the title: front matter, else the first level-1 heading
  if not front.title then
    for _, p in ipairs(pieces) do
      if p.kind == "md" then
        local t = p.text:match("^#%s+([^\n]-)%s*#*%s*\n") or p.text:match("\n#%s+([^\n]-)%s*#*%s*\n")
        if t then front.title = t break end
      end
    end
  end
  if not front.description then
    for _, p in ipairs(pieces) do
      if p.kind == "md" then
        for para in (p.text .. "\n"):gmatch("(.-)\n%s*\n") do
          local s = para:gsub("^%s+", "")
          if s ~= "" and not s:match("^[#<|>%-*`!%[]") and not s:match("^%d+%.") then
            s = s:gsub("%$%$?([^$]*)%$%$?", "%1"):gsub("[*_`]", ""):gsub("%[([^%]]*)%]%b()", "%1")
            s = s:gsub("%s+", " ")
            if #s > 240 then s = s:sub(1, 237):gsub("[\128-\191]*$", "") .. "..." end
            front.description = s
            break
          end
        end
        if front.description then break end
      end
    end
  end
  return { front = front, pieces = pieces, blocks = blocks }
end

-- ---- Lua highlighting --------------------------------------------------------------------------------

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or repeat
  return then true until while]]):gmatch("%a+") do KEYWORDS[w] = true end

-- HTML for Lua source with <span class="kw|str|com|num"> around tokens.
function M.highlight(code)
  local out, i, n = {}, 1, #code
  local function emit(cls, s)
    if cls then out[#out + 1] = '<span class="' .. cls .. '">' .. esc(s) .. "</span>"
    else out[#out + 1] = esc(s) end
  end
  while i <= n do
    local c = code:sub(i, i)
    local long = code:match("^%[(=*)%[", i)
    if code:sub(i, i + 1) == "--" then
      local eq = code:match("^%-%-%[(=*)%[", i)
      local j
      if eq then
        local _, e = code:find("]" .. eq .. "]", i + 4 + #eq, true)
        j = e or n
      else
        j = (code:find("\n", i, true) or n + 1) - 1
      end
      emit("com", code:sub(i, j))
      i = j + 1
    elseif long then
      local _, e = code:find("]" .. long .. "]", i + 2 + #long, true)
      local j = e or n
      emit("str", code:sub(i, j))
      i = j + 1
    elseif c == '"' or c == "'" then
      local j = i + 1
      while j <= n do
        local d = code:sub(j, j)
        if d == "\\" then j = j + 2
        elseif d == c or d == "\n" then break
        else j = j + 1 end
      end
      j = math.min(j, n)
      emit("str", code:sub(i, j))
      i = j + 1
    elseif c:match("%d") or (c == "." and code:sub(i + 1, i + 1):match("%d")) then
      local num = code:match("^[%w%.]+", i)
      local j = i + #num
      if num:match("[eEpP]$") and code:sub(j, j):match("[%+%-]") then
        local more = code:match("^[%+%-]%w*", j)
        num, j = num .. more, j + #more
      end
      emit("num", num)
      i = j
    elseif c:match("[%a_]") then
      local w = code:match("^[%w_]+", i)
      emit(KEYWORDS[w] and "kw" or nil, w)
      i = i + #w
    else
      local run = code:match("^[^%w_\"'%-%[%.]+", i) or c
      emit(nil, run)
      i = i + #run
    end
  end
  return table.concat(out)
end

-- ---- serialising globals (the cache) ------------------------------------------------------------

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

-- ---- executing a notebook ------------------------------------------------------------------------

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

-- Trim the weaver's own frames off a traceback.
local function trim_traceback(tb)
  local out, cut = {}, false
  for line in (tb .. "\n"):gmatch("(.-)\n") do
    if line:find("in function 'xpcall'", 1, true) or line:find("al/weave.lua", 1, true) then
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

-- Read a file's bytes or raise.
local function slurp(path)
  local s, err = util.read_file(path)
  if not s then error("weave: cannot read " .. path .. ": " .. tostring(err), 0) end
  return s
end

local function copy_file(src, dst)
  util.write_file(dst, slurp(src))
end

-- The run state of one notebook.
local Run = {}
Run.__index = Run

local function new_env(path)
  local env = setmetatable({}, { __index = _G })
  env._G = env
  env.al = require "al"
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

-- Which globals a block created, replaced, changed in place or deleted.
local function snapshot(env)
  local snap = {}
  for k, v in pairs(env) do
    if type(k) == "string" then snap[k] = { v = v, fp = fingerprint(v) } end
  end
  return snap
end

local function changes(env, snap)
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

-- Store a successful cached block: KEYDIR/{entry.json, globals.lua, figN.*, model-N/}.
function Run:store(b, r, changed, deleted)
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

-- Restore a cached block; returns the result or nil when there is no usable entry.
function Run:restore(b)
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
    model = function(i)
      local al = require "al"
      return al.load(("%s/model-%d"):format(dir, i))
    end,
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
    local c = self:restore(b)
    if c then
      self.ncached = self.ncached + 1
      return c
    end
  end
  local chunk, cerr = load(("\n"):rep(b.line) .. b.code, "@" .. self.path, "t", self.env)
  local snap = b.opts.cache and snapshot(self.env) or nil
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
    local changed, deleted = changes(self.env, snap)
    local sok, serr = pcall(self.store, self, b, r, changed, deleted)
    if not sok then warn(self.quiet, "%s:%d: block not cached: %s", self.path, b.line, serr) end
  elseif b.opts.cache then
    r.lost = {}
  end
  return r
end

-- ---- HTML ----------------------------------------------------------------------------------------

local KATEX_DIR = "/usr/share/javascript/katex"

local CSS = [[
:root { --fg: #1d1d1f; --muted: #6b6b70; --bg: #ffffff; --code-bg: #f5f6f8; --out-bg: #fffdf5;
  --line: #e3e4e8; --accent: #2d5fa8; --err: #a4161a; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 17px/1.6 Charter, "Bitstream Charter", "Noto Serif", Georgia, "DejaVu Serif", serif; }
main, .top, footer { max-width: 46rem; margin: 0 auto; padding: 0 1rem; }
.top { font: 14px/1.5 system-ui, "DejaVu Sans", sans-serif; color: var(--muted); padding-top: .8rem;
  display: flex; flex-wrap: wrap; gap: .3rem 1rem; }
.top a, footer a { color: var(--muted); }
footer { font: 13px/1.5 system-ui, "DejaVu Sans", sans-serif; color: var(--muted);
  border-top: 1px solid var(--line); margin-top: 3rem; padding-top: .6rem; padding-bottom: 2rem; }
h1, h2, h3, h4 { font-family: system-ui, "DejaVu Sans", sans-serif; line-height: 1.25; }
h1 { font-size: 1.9rem; margin: 1.2rem 0 .6rem; }
h2 { font-size: 1.4rem; margin-top: 2.2rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
h3 { font-size: 1.15rem; margin-top: 1.6rem; }
a { color: var(--accent); }
p, li { hyphens: auto; overflow-wrap: break-word; }
code, pre { font: 14px/1.45 "DejaVu Sans Mono", Menlo, Consolas, monospace; }
:not(pre) > code { background: var(--code-bg); padding: .05em .3em; border-radius: 3px; }
pre { overflow-x: auto; padding: .7rem .9rem; margin: 0; border-radius: 6px; }
main > pre { background: var(--code-bg); margin: 1rem 0; }
table { border-collapse: collapse; margin: 1rem 0; display: block; overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid var(--line); padding: .3rem .6rem; text-align: left; }
th { background: var(--code-bg); }
blockquote { margin: 1rem 0; padding: .1rem 1rem; border-left: 4px solid var(--line); color: #444; }
img { max-width: 100%; height: auto; }
x-equation { font-family: "DejaVu Sans Mono", monospace; }
x-equation[type="display"] { display: block; text-align: center; margin: .8rem 0; overflow-x: auto;
  overflow-y: hidden; }
x-equation .katex { font-family: KaTeX_Main, "Times New Roman", serif; } /* not the TeX fallback's mono */
x-equation[type="display"] .katex-display { margin: 0; }
.cell { margin: 1.2rem 0; border: 1px solid var(--line); border-radius: 8px; overflow: hidden;
  break-inside: avoid; }
@media screen and (min-width: 56rem) { /* code cells a little wider than the prose: ~90 columns */
  .cell, main > pre { margin-left: -3rem; margin-right: -3rem; } }
.cell > pre.code { background: var(--code-bg); border-radius: 0; }
.cell-meta { font: 12px/1.4 system-ui, "DejaVu Sans", sans-serif; color: var(--muted);
  padding: .25rem .9rem; border-top: 1px solid var(--line); background: var(--code-bg);
  display: flex; justify-content: space-between; gap: 1rem; }
.cell > pre.output { background: var(--out-bg); border-top: 1px solid var(--line); border-radius: 0;
  border-left: 3px solid #e0c36a; }
.cell > figure { margin: 0; padding: .6rem; border-top: 1px solid var(--line); text-align: center;
  background: #fff; }
.cell > figure img { width: 100%; max-width: 800px; }
figcaption { font: 13px/1.4 system-ui, "DejaVu Sans", sans-serif; color: var(--muted); margin-top: .3rem; }
.cell > .error { border-top: 1px solid var(--line); background: #fff1f0; border-left: 3px solid var(--err); }
.cell > .error pre { color: var(--err); white-space: pre-wrap; }
.cell > .error .label, .cell > .note { font: 12px/1.4 system-ui, "DejaVu Sans", sans-serif; padding: .3rem .9rem 0; }
.cell > .note { color: var(--muted); padding: .3rem .9rem; border-top: 1px solid var(--line); }
.cell.failed { border-color: var(--err); }
.kw { color: #8a2a8a; font-weight: 600; } .str { color: #2a6e1e; } .com { color: #777a80; font-style: italic; }
.num { color: #a4501a; }
.index-list { list-style: none; padding: 0; }
.index-list li { border: 1px solid var(--line); border-radius: 8px; padding: .7rem 1rem; margin: .8rem 0; }
.index-list .desc { color: #444; margin: .2rem 0 0; }
.badge { font: 12px/1 system-ui, sans-serif; padding: .2rem .45rem; border-radius: 9px; margin-left: .4rem;
  vertical-align: middle; }
.badge.ok { background: #e5f4e7; color: #1e6b2a; } .badge.failed { background: #fde7e7; color: var(--err); }
@media (max-width: 600px) {
  body { font-size: 16px; }
  h1 { font-size: 1.5rem; }
  code, pre { font-size: 12.5px; }
  main, .top, footer { padding: 0 .7rem; }
}
@media print {
  body { font-size: 11pt; }
  .top { display: none; }
  main { max-width: none; }
  a { color: inherit; }
  pre { white-space: pre-wrap; overflow: visible; }
  .cell, figure, table { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
}
]]

-- KaTeX from Debian's libjs-katex, read once: { js =, css = } with the woff2 fonts inlined as
-- data: URIs (the page stays one file); nil when KaTeX is not installed.
local katex_cache
function M.katex()
  if katex_cache ~= nil then return katex_cache or nil end
  local dir = os.getenv("ALIGNLAB_KATEX_DIR")
  if not dir or dir == "" then dir = KATEX_DIR end
  local js = util.read_file(dir .. "/katex.min.js") or util.read_file(dir .. "/katex.js")
  local css = util.read_file(dir .. "/katex.min.css") or util.read_file(dir .. "/katex.css")
  if not js or not css then
    katex_cache = false
    return nil
  end
  css = css:gsub("src:url%(fonts/([%w_%-]+)%.woff2%) format%([\"']woff2[\"']%)[^;}]*", function(name)
    local font = util.read_file(dir .. "/fonts/" .. name .. ".woff2")
    if not font then return nil end -- keep the original rule
    return "src:url(data:font/woff2;base64," .. core.base64(font) .. ") format('woff2')"
  end)
  -- a literal "</script" or "</style" would end the inline element early
  js = js:gsub("</(script)", "<\\/%1")
  css = css:gsub("</(style)", "<\\/%1")
  katex_cache = { js = js, css = css }
  return katex_cache
end

local RENDER_JS = [[
(function () {
  var eqs = document.getElementsByTagName("x-equation"), bad = 0;
  for (var i = 0; i < eqs.length; i++) {
    var el = eqs[i];
    if (typeof katex === "undefined") break;
    try {
      katex.render(el.textContent, el, { displayMode: el.getAttribute("type") === "display",
                                         throwOnError: false });
    } catch (e) { bad++; el.className += " katex-failed"; }
  }
  document.body.setAttribute("data-math", typeof katex === "undefined" ? "unavailable" :
                             bad ? "errors" : "rendered");
  function figs() {
    var imgs = document.querySelectorAll("img"), ok = 0;
    for (var j = 0; j < imgs.length; j++) {
      var good = imgs[j].complete && imgs[j].naturalWidth > 0;
      imgs[j].setAttribute("data-loaded", good ? "yes" : "no");
      if (good) ok++;
    }
    document.body.setAttribute("data-figures", ok + "/" + imgs.length);
  }
  if (document.readyState === "complete") figs(); else window.addEventListener("load", figs);
})();
]]

local function data_uri(path)
  local body = util.read_file(path)
  if not body then return nil end
  local ext = (path:match("%.(%w+)$") or ""):lower()
  local mime = ({ svg = "image/svg+xml", png = "image/png", jpg = "image/jpeg", jpeg = "image/jpeg",
                  gif = "image/gif", webp = "image/webp" })[ext]
  if not mime then return nil end
  return "data:" .. mime .. ";base64," .. core.base64(body)
end

-- The page around `body`.
function M.page(o)
  local k = M.katex()
  local h = {}
  h[#h + 1] = '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
  h[#h + 1] = '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
  h[#h + 1] = '<meta name="generator" content="alignlab weave ' .. esc(core.version or "") .. '">\n'
  h[#h + 1] = "<title>" .. esc(o.title or "notes") .. "</title>\n"
  h[#h + 1] = "<style>\n" .. CSS .. "</style>\n"
  if k then h[#h + 1] = "<style>\n" .. k.css .. "\n</style>\n" end
  h[#h + 1] = "</head>\n<body>\n"
  if o.nav and #o.nav > 0 then
    h[#h + 1] = '<nav class="top">' .. table.concat(o.nav, " ") .. "</nav>\n"
  end
  h[#h + 1] = "<main>\n" .. o.body .. "\n</main>\n"
  if o.footer then h[#h + 1] = "<footer>" .. o.footer .. "</footer>\n" end
  if k then h[#h + 1] = "<script>\n" .. k.js .. "\n</script>\n" end
  h[#h + 1] = "<script>\n" .. RENDER_JS .. "</script>\n</body>\n</html>\n"
  return table.concat(h)
end

-- Rewrite the prose HTML: local images inlined, links to notebooks and paper notes retargeted.
function M.fix_prose(html, ctx)
  html = html:gsub('(<img src=")([^"]*)(")', function(a, src, b)
    if src:match("^%a[%w+.-]*:") or src:match("^#") or src == "" then return nil end
    local uri = data_uri(join(ctx.dir, (src:gsub("&amp;", "&"))))
    if not uri then
      warn(ctx.quiet, "%s: image %s not found; left as a link", ctx.path, src)
      return nil
    end
    return a .. uri .. b
  end)
  html = html:gsub('(<a href=")([^"#]*%.md)(["#])', function(a, href, b)
    if href:match("^%a[%w+.-]*:") then return nil end
    local target = join(ctx.dir, href)
    local name = stem(href)
    if ctx.paper_for and ctx.paper_for(target) then
      return a .. ctx.paper_for(target) .. b
    end
    if dirname(target) == ctx.dir and util.file_exists(target) then
      return a .. name .. ".html" .. b
    end
    return nil
  end)
  return html
end

local function render_block(r, nfig)
  local b = r.block
  local o = b.opts
  local h = {}
  local cls = "cell" .. ((r.error and not o.error) and " failed" or "")
  h[#h + 1] = ('<div class="%s" id="block-%d">'):format(cls, b.index)
  if o.echo ~= false then
    h[#h + 1] = '<pre class="code"><code class="language-lua">' .. M.highlight(b.code) .. "</code></pre>"
  end
  local meta
  if r.skipped then meta = "not run (eval=false)"
  elseif r.not_run then meta = "not run: an earlier block failed"
  elseif r.cached then meta = ("from the cache (%.1f s when it ran)"):format(r.elapsed or 0)
  else meta = ("%.2f s"):format(r.elapsed or 0) end
  if o.echo ~= false or r.not_run then
    h[#h + 1] = ('<div class="cell-meta"><span>line %d</span><span>%s</span></div>'):format(b.line,
      esc(meta))
  end
  if o.output ~= false then
    for _, s in ipairs(r.segments) do
      if s.kind == "out" then
        h[#h + 1] = '<pre class="output">' .. esc(s.text:gsub("\n$", "")) .. "</pre>"
      else
        nfig[1] = nfig[1] + 1
        local uri = data_uri(s.file)
        local cap = o.caption or s.title
        local label = ("Figure %d"):format(nfig[1])
        h[#h + 1] = '<figure id="fig-' .. nfig[1] .. '">'
          .. (uri and ('<img src="' .. uri .. '" alt="' .. esc(label .. (cap and (": " .. cap) or ""))
            .. '">') or ("<p>(figure file " .. esc(s.file) .. " is missing)</p>"))
          .. "<figcaption>" .. esc(label .. (cap and (". " .. cap) or "")) .. "</figcaption></figure>"
      end
    end
    if r.truncated then
      h[#h + 1] = '<div class="note">output truncated: ' .. (r.out_bytes or M.MAX_OUTPUT)
        .. " bytes printed, the first " .. M.MAX_OUTPUT .. " shown</div>"
    end
  end
  if r.error then
    h[#h + 1] = '<div class="error"><div class="label">' ..
      (o.error and "error (expected: error=true)" or "error") .. "</div><pre>" .. esc(r.error) .. "</pre></div>"
  end
  if r.lost and #r.lost > 0 then
    h[#h + 1] = '<div class="note">' .. (r.cached
      and "cached block: not restored from the cache (not plain data): "
      or "cached block: these globals are not plain data and will not be restored from the cache: ")
      .. esc(table.concat(r.lost, ", ")) .. "</div>"
  end
  h[#h + 1] = "</div>"
  return table.concat(h, "\n")
end

-- ---- weaving one notebook ----------------------------------------------------------------------

-- Resolve a paper reference ("dpo", "papers/dpo.md", "../papers/dpo.md") to a source path.
local function paper_source(ref, nbdir)
  local cands = {}
  if ref:match("%.md$") then
    cands[#cands + 1] = join(nbdir, ref)
    cands[#cands + 1] = ref
  else
    cands[#cands + 1] = join(nbdir, "../papers/" .. ref .. ".md")
    cands[#cands + 1] = "papers/" .. ref .. ".md"
  end
  for _, c in ipairs(cands) do
    if util.file_exists(c) then return c end
  end
  return nil
end

-- Render a paper note (plain Markdown, nothing executed) into OUTDIR/papers/NAME.html.
local function write_paper(src, outdir, site)
  local text = slurp(src)
  local doc = M.parse(text, src)
  local body = {}
  for _, p in ipairs(doc.pieces) do
    if p.kind == "md" then body[#body + 1] = core.markdown(p.text)
    else
      body[#body + 1] = '<pre><code class="language-lua">' .. M.highlight(p.code) .. "</code></pre>"
    end
  end
  local nav = {}
  if site then nav[#nav + 1] = '<a href="../index.html">alignlab notes</a>' end
  nav[#nav + 1] = "<span>paper note " .. esc(src:match("papers/.*$") or src) .. "</span>"
  local html = M.page{ title = doc.front.title or stem(src), body = table.concat(body, "\n"), nav = nav,
                       footer = "rendered by alignlab weave from " .. esc(src:match("papers/.*$") or src) }
  core.mkdir_p(outdir .. "/papers")
  util.write_file(outdir .. "/papers/" .. stem(src) .. ".html", html)
end

-- Weave one notebook. opts: out (page path; nil with check), check, force, keep_going, quiet,
-- site (part of a --all site: link to index.html). Returns a summary table:
-- { ok, errors, blocks, ran, cached, title, out, html }.
function M.weave(path, opts)
  opts = opts or {}
  local text = slurp(path)
  local doc = M.parse(text, path)
  M.keys(doc.blocks)
  local name = stem(path)
  local out = opts.out
  local outdir = out and dirname(out) or "."
  local run = setmetatable({
    path = path, name = name, env = new_env(path), check = opts.check, force = opts.force,
    keep_going = opts.keep_going, quiet = opts.quiet, nrun = 0, ncached = 0, nerrors = 0,
    cachedir = join(outdir, ".cache/weave/" .. name),
  }, Run)
  local tmpfig
  if opts.check or not out then
    tmpfig = os.tmpname()
    os.remove(tmpfig)
    run.figdir = tmpfig
  else
    run.figdir = join(outdir, name .. "_files")
  end
  if not opts.check and out then
    rm_rf(run.figdir) -- figures of this run only
  end
  local t0 = now()
  run:hook_plot()
  local results = {}
  local ok, err = pcall(function()
    for i, b in ipairs(doc.blocks) do
      if not opts.quiet then
        io.stderr:write(("weave: %s: block %d/%d (line %d)"):format(path, i, #doc.blocks, b.line))
        io.stderr:flush()
      end
      local r = run:run_block(b)
      results[b] = r
      if not opts.quiet then
        io.stderr:write(r.skipped and " eval=false\n" or r.not_run and " not run\n" or
          r.cached and " cached\n" or r.error and (" failed" .. (b.opts.error and " (allowed)\n" or "\n"))
          or (" %.2f s\n"):format(r.elapsed or 0))
      end
      if r.lost and #r.lost > 0 and not r.cached then
        warn(opts.quiet, "%s:%d: not restorable from the cache (not plain data): %s", path, b.line,
          table.concat(r.lost, ", "))
      end
    end
  end)
  if run.cap then run:capture_stop() end
  run:unhook_plot()
  if not ok then
    if tmpfig then rm_rf(tmpfig) end
    error(err, 0)
  end
  -- papers: the front matter's, else papers/NAME.md when it exists
  local nbdir = dirname(path)
  local papers, paper_href = {}, {}
  local function paper_for(src)
    local real = src:gsub("/%./", "/")
    if not real:match("papers/[^/]+%.md$") or not util.file_exists(real) then return nil end
    if not paper_href[real] then
      papers[#papers + 1] = real
      paper_href[real] = "papers/" .. stem(real) .. ".html"
    end
    return paper_href[real]
  end
  local declared = {}
  if doc.front.paper then
    for ref in doc.front.paper:gmatch("[^,%s]+") do
      local src = paper_source(ref, nbdir)
      if src then declared[#declared + 1] = src; paper_for(src)
      else warn(opts.quiet, "%s: paper note '%s' not found", path, ref) end
    end
  else
    local src = paper_source(name, nbdir)
    if src then declared[#declared + 1] = src; paper_for(src) end
  end
  -- the body: the prose rendered once with placeholders for the blocks
  local md, marks = {}, {}
  for _, p in ipairs(doc.pieces) do
    if p.kind == "md" then md[#md + 1] = p.text
    else
      local mark = ("<!--al-weave-block-%d-->"):format(p.index)
      marks[p.index] = mark
      md[#md + 1] = "\n" .. mark .. "\n\n"
    end
  end
  local ctx = { dir = nbdir, path = path, quiet = opts.quiet, paper_for = paper_for }
  local html = M.fix_prose(core.markdown(table.concat(md)), ctx)
  local nfig = { 0 }
  for _, b in ipairs(doc.blocks) do
    local piece = render_block(results[b], nfig)
    local s, e = html:find(marks[b.index], 1, true)
    if s then html = html:sub(1, s - 1) .. piece .. html:sub(e + 1) end
  end
  local nav = {}
  if opts.site then nav[#nav + 1] = '<a href="index.html">alignlab notes</a>' end
  nav[#nav + 1] = "<span>notebook " .. esc(path:match("notebooks/.*$") or basename(path)) .. "</span>"
  for _, src in ipairs(declared) do
    nav[#nav + 1] = '<a class="paper" href="' .. esc(paper_href[src]) .. '">paper note: '
      .. esc(stem(src)) .. "</a>"
  end
  local elapsed = now() - t0
  local footer = ("woven by alignlab weave %s: %d blocks, %d run, %d from the cache, %d failed; %.1f s")
    :format(esc(core.version or ""), #doc.blocks, run.nrun, run.ncached, run.nerrors, elapsed)
  local page = M.page{ title = doc.front.title or name, body = html, nav = nav, footer = footer }
  if out and not opts.check then
    core.mkdir_p(outdir)
    util.write_file(out, page)
    for _, src in ipairs(papers) do write_paper(src, outdir, opts.site) end
    -- drop cache entries this notebook no longer uses
    local used = {}
    for _, b in ipairs(doc.blocks) do if b.key then used[b.key] = true end end
    if is_dir(run.cachedir) then
      for _, f in ipairs(util.listdir(run.cachedir)) do
        if not used[f] then rm_rf(join(run.cachedir, f)) end
      end
    end
  end
  if tmpfig then rm_rf(tmpfig) end
  return { ok = run.nerrors == 0, errors = run.nerrors, blocks = #doc.blocks, ran = run.nrun,
           cached = run.ncached, title = doc.front.title or name,
           description = doc.front.description, out = out, html = page, elapsed = elapsed }
end

-- ---- the index page and --all ---------------------------------------------------------------------

function M.index(entries, outdir)
  local h = { "<h1>alignlab notes</h1>",
    "<p>Course notes woven from <code>notebooks/</code>: every number and figure below was "
    .. "computed by the code shown with it.</p>", '<ul class="index-list">' }
  for _, e in ipairs(entries) do
    h[#h + 1] = ('<li><a href="%s"><strong>%s</strong></a><span class="badge %s">%s</span>'):format(
      esc(e.href), esc(e.title), e.ok and "ok" or "failed", e.ok and "ok" or "failed")
    if e.description then h[#h + 1] = '<p class="desc">' .. esc(e.description) .. "</p>" end
    h[#h + 1] = "</li>"
  end
  h[#h + 1] = "</ul>"
  local papers = util.listdir(outdir .. "/papers", "%.html$")
  if #papers > 0 then
    h[#h + 1] = "<h2>Paper notes</h2>\n<ul>"
    for _, p in ipairs(papers) do
      h[#h + 1] = ('<li><a href="papers/%s">%s</a></li>'):format(esc(p), esc(stem(p)))
    end
    h[#h + 1] = "</ul>"
  end
  return M.page{ title = "alignlab notes", body = table.concat(h, "\n"),
                 footer = "woven by alignlab weave " .. esc(core.version or "") }
end

local function weave_all(dir, o)
  local files = util.listdir(dir, "%.md$")
  if #files == 0 then
    io.stderr:write("weave: no notebooks (*.md) in " .. dir .. "\n")
    return 2
  end
  -- course order: front matter `order:` (a number) first, then the file name
  local fronts = {}
  for _, f in ipairs(files) do
    local src = join(dir, f)
    local pok, doc = pcall(M.parse, util.read_file(src) or "", src)
    fronts[f] = pok and doc.front or {}
  end
  local function rank(f) return tonumber(fronts[f].order) or math.huge end
  table.sort(files, function(a, b)
    if rank(a) ~= rank(b) then return rank(a) < rank(b) end
    return a < b
  end)
  local entries, failed = {}, 0
  local exe = core.exe()
  for _, f in ipairs(files) do
    local src = join(dir, f)
    local out = join(o.out, stem(f) .. ".html")
    local cmd = { util.shell_quote(exe), "weave", util.shell_quote(src), "--site" }
    if o.check then cmd[#cmd + 1] = "--check" else cmd[#cmd + 1] = "-o " .. util.shell_quote(out) end
    if o.force then cmd[#cmd + 1] = "--force" end
    if o.keep_going then cmd[#cmd + 1] = "--keep-going" end
    if o.quiet then cmd[#cmd + 1] = "--quiet" end
    local ok = os.execute(table.concat(cmd, " "))
    if not ok then failed = failed + 1 end
    local front = fronts[f]
    entries[#entries + 1] = { href = stem(f) .. ".html", title = front.title or stem(f),
                              description = front.description, ok = ok and true or false }
  end
  if not o.check then
    core.mkdir_p(o.out)
    util.write_file(join(o.out, "index.html"), M.index(entries, o.out))
    if not o.quiet then
      io.stderr:write(("weave: wrote %s (%d notebooks, %d failed)\n"):format(join(o.out, "index.html"),
        #entries, failed))
    end
  end
  return failed > 0 and 1 or 0
end

local USAGE = [[
usage: alignlab weave NOTEBOOK.md [-o OUT.html] [--check] [--force] [--keep-going] [--quiet]
       alignlab weave --all DIR -o OUTDIR [--check] [--force] [--keep-going] [--quiet]
Runs the ```lua blocks of a Markdown notebook in order and writes one self-contained HTML page
(default: NAME.html in the current directory); --all weaves every DIR/*.md into OUTDIR/NAME.html
and writes OUTDIR/index.html. Cached blocks ({cache=true}) live in OUTDIR/.cache/weave/NAME/.
  -o PATH        the page (or, with --all, the output directory)
  --check        run without writing anything (CI); exit status 1 when a block fails
  --force        ignore the cache (cached blocks run again and are re-stored)
  --keep-going   run the blocks after a failed one (default: they are shown, not run)
  --quiet        no progress on stderr
Exit status: 0 all blocks ran, 1 a block failed (the page is still written), 2 usage error.
]]

-- `alignlab weave ...`: returns the exit status.
function M.main(args)
  local o, input, all = {}, nil, nil
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "-o" or a == "--output" then
      i = i + 1
      o.out = args[i]
      if not o.out then io.stderr:write("weave: -o needs a path\n", USAGE) return 2 end
    elseif a == "--all" then
      i = i + 1
      all = args[i]
      if not all then io.stderr:write("weave: --all needs a directory\n", USAGE) return 2 end
    elseif a == "--check" then o.check = true
    elseif a == "--force" then o.force = true
    elseif a == "--keep-going" then o.keep_going = true
    elseif a == "--quiet" or a == "-q" then o.quiet = true
    elseif a == "--site" then o.site = true
    elseif a == "-h" or a == "--help" then io.stdout:write(USAGE) return 0
    elseif a:sub(1, 1) == "-" then
      io.stderr:write("weave: unknown option '" .. a .. "'\n", USAGE)
      return 2
    elseif input then
      io.stderr:write("weave: one notebook at a time (or --all DIR)\n", USAGE)
      return 2
    else
      input = a
    end
    i = i + 1
  end
  if all then
    if input then io.stderr:write("weave: give either a notebook or --all DIR\n", USAGE) return 2 end
    if not o.out and not o.check then io.stderr:write("weave: --all needs -o OUTDIR\n", USAGE) return 2 end
    return weave_all(all, o)
  end
  if not input then io.stderr:write(USAGE) return 2 end
  if not util.file_exists(input) then
    io.stderr:write("weave: cannot read " .. input .. "\n")
    return 2
  end
  if not o.out and not o.check then o.out = stem(input) .. ".html" end
  local ok, res = pcall(M.weave, input, o)
  if not ok then
    io.stderr:write("weave: ", tostring(res), "\n")
    return 1
  end
  if not o.quiet then
    io.stderr:write(("weave: %s: %d blocks, %d run, %d from the cache, %d failed%s\n"):format(
      input, res.blocks, res.ran, res.cached, res.errors,
      (o.out and not o.check) and (" -> " .. o.out) or " (check: nothing written)"))
  end
  return res.ok and 0 or 1
end

return M
