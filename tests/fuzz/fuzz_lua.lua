-- Fuzz harness for the parsers written in Lua: command-line overrides (lua/al/args.lua, one
-- argument per input line) and the notebook parser (lua/al/weave/parse.lua). libFuzzer cannot
-- instrument Lua, so this is a plain mutational fuzzer: it takes the seed files of
-- corpus/TARGET/, applies random byte edits (flip, insert, delete, duplicate a span, splice two
-- seeds, insert a token of the target's syntax) and runs the parser under pcall. Property: the
-- parser returns, or raises a string error of its own (naming the module or the input); an
-- internal Lua error ("attempt to ...", a stack overflow, a non-string error) is a crash, and its
-- input is written to corpus/TARGET/crash-<hash> so `make test` replays it.
-- Usage: alignlab tests/fuzz/fuzz_lua.lua TARGET replay FILE_OR_DIR...
--        alignlab tests/fuzz/fuzz_lua.lua TARGET fuzz SECONDS [SEED]
local core = require "al.core"
local util = require "al.util"
local target, mode = arg[1], arg[2]
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"

local args = require "al.args"
local parse = require "al.weave.parse"
local DEFAULTS = { steps = 10, lr = 0.001, name = "x", flag = false, seeds = { 1, 2, 3 }, tags = { "a" },
                   ppo = { kl = 0.05, steps = 4 } }
local TARGETS = {
  args = {
    run = function(s)
      local argv = {}
      for l in (s .. "\n"):gmatch("([^\n]*)\n") do argv[#argv + 1] = l end
      local cfg = args(DEFAULTS, argv)
      assert(type(cfg) == "table" and type(cfg.steps) == "number", "args returned a bad table")
    end,
    tokens = { "=", ",", ".", "--", "steps", "ppo.kl", "seeds", "true", "1e309", "nan", "-0", "0x10", "\n" },
  },
  notebook = {
    run = function(s)
      local doc = parse.parse(s, "fuzz.md")
      assert(type(doc) == "table", "parse returned " .. type(doc))
    end,
    tokens = { "```", "```lua", "~~~", "{", "}", "cache=true", "echo=false", "$$", "\n", "#", "<!--", "-->" },
  },
}
local T = TARGETS[target]
if not T then error("fuzz_lua: target must be args or notebook", 0) end

local function internal(err)
  if type(err) ~= "string" then return "non-string error (" .. type(err) .. ")" end
  if err:find("attempt to", 1, true) or err:find("stack overflow", 1, true) or err:find("bad argument #", 1, true) then
    return err
  end
  return nil
end

local function read(p) local f = assert(io.open(p, "rb")) local s = f:read("a") f:close() return s end

local function check(s)
  local ok, err = pcall(T.run, s)
  if not ok then return internal(err) end
  return nil
end

local function files(paths)
  local out = {}
  for _, p in ipairs(paths) do
    local fs = util.listdir(p)
    local is_dir = os.execute("test -d " .. util.shell_quote(p))
    if is_dir then for _, f in ipairs(fs) do out[#out + 1] = p .. "/" .. f end else out[#out + 1] = p end
  end
  return out
end

if mode == "replay" then
  local paths = {}
  for i = 3, #arg do paths[#paths + 1] = arg[i] end
  local n = 0
  for _, f in ipairs(files(paths)) do
    local bug = check(read(f))
    if bug then error("fuzz_lua " .. target .. ": " .. f .. ": " .. bug, 0) end
    n = n + 1
  end
  print(string.format("fuzz_lua %s: replayed %d input(s), no crash", target, n))
  return
end
if mode ~= "fuzz" then error("usage: fuzz_lua.lua TARGET replay PATH... | TARGET fuzz SECONDS [SEED]", 0) end

local seconds = tonumber(arg[3] or "60")
local rng = core.Rng and core.Rng(tonumber(arg[4] or os.time())) or require("al").rng(tonumber(arg[4] or os.time()))
local dir = here .. "corpus/" .. target
local seeds = {}
for _, f in ipairs(files{ dir }) do seeds[#seeds + 1] = read(f) end
assert(#seeds > 0, "no seeds in " .. dir)
local function r(n) return rng:int(n) end -- 1..n
local function mutate(s)
  for _ = 1, r(4) do
    local k, n = r(6), #s
    if k == 1 and n > 0 then -- flip a byte
      local i = r(n)
      s = s:sub(1, i - 1) .. string.char(r(256) - 1) .. s:sub(i + 1)
    elseif k == 2 then -- insert a byte
      local i = r(n + 1)
      s = s:sub(1, i - 1) .. string.char(r(256) - 1) .. s:sub(i)
    elseif k == 3 and n > 0 then -- delete a span
      local i = r(n)
      s = s:sub(1, i - 1) .. s:sub(i + r(16))
    elseif k == 4 and n > 0 then -- duplicate a span
      local i = r(n)
      local j = math.min(n, i + r(64))
      s = s:sub(1, j) .. s:sub(i, j) .. s:sub(j + 1)
    elseif k == 5 then -- splice with another seed
      local o = seeds[r(#seeds)]
      local i, j = r(n + 1), r(#o + 1)
      s = s:sub(1, i - 1) .. o:sub(j)
    else -- a token of the syntax
      local i = r(n + 1)
      s = s:sub(1, i - 1) .. T.tokens[r(#T.tokens)] .. s:sub(i)
    end
  end
  if #s > 65536 then s = s:sub(1, 65536) end
  return s
end

local t0, execs, crashes = core.time(), 0, 0
local pool = { table.unpack(seeds) }
while core.time() - t0 < seconds do
  for _ = 1, 100 do
    local s = mutate(pool[r(#pool)])
    execs = execs + 1
    local bug = check(s)
    if bug then
      crashes = crashes + 1
      local name = dir .. "/crash-" .. core.hash(s)
      local f = assert(io.open(name, "wb"))
      f:write(s)
      f:close()
      io.stderr:write("fuzz_lua " .. target .. ": CRASH " .. bug .. " (input kept in " .. name .. ")\n")
    elseif #pool < 2000 and r(50) == 1 then
      pool[#pool + 1] = s -- keep some mutants to mutate further
    end
  end
end
print(string.format("fuzz_lua %s: %d executions in %.0f s, %d crash(es)", target, execs, core.time() - t0, crashes))
os.exit(crashes == 0 and 0 or 1)
