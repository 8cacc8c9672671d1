-- docs/architecture.md names where each formula and floor lives as `FILE:FUNCTION` (e.g.
-- `core/obj_pref.c:al_dpo_loss`, `lua/al/ppo.lua:PPO:advantages`): every such reference must
-- name an existing file that defines that function, so the map cannot drift from the code.
-- Also: no source file of core/, lua/ or lua/al/ is over 600 lines (data tables excepted, listed
-- in the map), and core/ includes no header of lua/.
print("testing docs/architecture.md against the tree")
local ROOT = "../../"

local function readf(p)
  local f = io.open(ROOT .. p, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local doc = assert(readf("docs/architecture.md"), "docs/architecture.md exists")

-- the function's definition in a C file: at the start of a line, a type then NAME( and no ';'
-- closing the line (not a prototype)
local function defines_c(src, name)
  for line in src:gmatch("[^\n]+") do
    if line:match("^[%a_]") and line:find("[%s%*]" .. name:gsub("%p", "%%%0") .. "%(") and
       not line:match(";%s*$") then
      return true
    end
  end
  return false
end

local function defines_lua(src, name)
  local q = name:gsub("%p", "%%%0")
  if name:find("[.:]") then return src:find("function " .. q .. "%(") ~= nil end
  return src:find("function " .. q .. "%(") ~= nil
      or src:find("function [%w_]+[.:]" .. q .. "%(") ~= nil
      or src:find("[%s.]" .. q .. " = function%(") ~= nil
end

local refs, bad = 0, {}
for file, name in doc:gmatch("`([%w_/.%-]+%.[chlua]+):([%w_.:]+)`") do
  refs = refs + 1
  local src = readf(file)
  if not src then
    bad[#bad + 1] = file .. ":" .. name .. " (no such file)"
  else
    local ok
    if file:match("%.lua$") then ok = defines_lua(src, name) else ok = defines_c(src, name) end
    if not ok then bad[#bad + 1] = file .. ":" .. name .. " (no such function there)" end
  end
end
assert(refs >= 40, "the map names where things live (" .. refs .. " references found)")
assert(#bad == 0, "docs/architecture.md names what does not exist:\n  " .. table.concat(bad, "\n  "))
print("  " .. refs .. " file:function references resolve")

-- a self-check of the matcher, so the test can fail
assert(defines_c("int al_x(int a) {\n", "al_x") and not defines_c("int al_x(int a);\n", "al_x"))
assert(defines_lua("function M.f(a)\n", "f") and defines_lua("function PPO:g()\n", "PPO:g"))
assert(not defines_lua("local y = f(3)\n", "f"))

-- file sizes: the map lists the data tables allowed over 600 lines
local allowed = {}
for f in doc:match("Data tables over 600 lines:(.-)\n\n"):gmatch("`([%w_/.%-]+)`") do allowed[f] = true end
local p = assert(io.popen("cd " .. ROOT .. " && ls core/*.c core/*.h lua/*.c lua/*.h && find lua/al -name '*.lua' | sort"))
local n, big = 0, {}
for f in p:lines() do
  n = n + 1
  local _, lines = readf(f):gsub("\n", "")
  if lines > 600 and not allowed[f] then big[#big + 1] = f .. " (" .. lines .. " lines)" end
end
p:close()
assert(n > 60, "listed the sources (" .. n .. ")")
assert(#big == 0, "over 600 lines:\n  " .. table.concat(big, "\n  "))

-- core/ never includes a header of lua/ (the core knows nothing of Lua)
local c = assert(io.popen("cd " .. ROOT .. " && grep -l -E '#include [<\"](lua|lauxlib|lualib|bind)' core/* || true"))
local leaks = c:read("a")
c:close()
assert(leaks == "", "core/ includes Lua: " .. leaks)
print("OK")
