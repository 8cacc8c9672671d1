-- The layering of the pure-Lua library (lua/al/**/*.lua): no library file requires "al" (the
-- user's facade, lua/al/init.lua: library modules require the modules they use, "al.core" for
-- the C bindings), and the graph of static requires (require "al.X" / require("al.X") with a
-- literal name) has no cycle. A module name maps to lua/al/X.lua or lua/al/X/init.lua.
print("testing the require graph of lua/al")
local ROOT = "../../lua/"

-- Files that may require "al": the notebook runner hands the user's facade to notebook code
-- (it is user code's `al`, not a dependency of the library).
local ALLOW_AL = {
  ["al/weave/run.lua"] = true,
}

local function sh(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function readf(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- every .lua file under lua/al, as paths relative to lua/ (e.g. "al/worlds/common.lua")
local files = {}
local p = assert(io.popen("cd " .. sh(ROOT) .. " && find al -name '*.lua' | sort"))
for line in p:lines() do files[#files + 1] = line end
p:close()
assert(#files > 20, "found the library files (" .. #files .. ")")

local function module_of(path)
  local m = path:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
  return m
end

local mods, edges, bad = {}, {}, {}
for _, f in ipairs(files) do mods[module_of(f)] = f end
for _, f in ipairs(files) do
  local m = module_of(f)
  edges[m] = {}
  local src = readf(ROOT .. f)
  -- strip comments (a line's tail after --, long comments) so that documentation may mention requires
  src = src:gsub("%-%-%[(=*)%[.-%]%1%]", ""):gsub("%-%-[^\n]*", "")
  for name, after in src:gmatch("require%s*%(?%s*[\"'](al[%w_.]*)[\"']%s*(%.?%.?)") do
    if after == ".." then -- a computed name (e.g. "al.recipes." .. k): not a static edge
    elseif name == "al" then
      if m ~= "al" and not ALLOW_AL[f] then bad[#bad + 1] = f .. ' requires "al"' end
    elseif name ~= "al.core" then
      if not mods[name] then bad[#bad + 1] = f .. " requires " .. name .. ", which is not a file" end
      edges[m][#edges[m] + 1] = name
    end
  end
end

-- cycles: depth-first search over the static requires
local state, stack = {}, {}
local function visit(m)
  if state[m] == "done" then return end
  if state[m] == "open" then
    local i = #stack
    while stack[i] ~= m do i = i - 1 end
    bad[#bad + 1] = "require cycle: " .. table.concat(stack, " -> ", i) .. " -> " .. m
    return
  end
  state[m] = "open"
  stack[#stack + 1] = m
  for _, n in ipairs(edges[m] or {}) do visit(n) end
  stack[#stack] = nil
  state[m] = "done"
end
local names = {}
for m in pairs(edges) do names[#names + 1] = m end
table.sort(names)
for _, m in ipairs(names) do visit(m) end

-- the checker itself: a cycle and a require of "al" are found
do
  local saved = { state = state, edges = edges, bad = bad }
  edges, state, bad = { a = { "b" }, b = { "c" }, c = { "a" } }, {}, {}
  visit("a")
  assert(#bad == 1 and bad[1] == "require cycle: a -> b -> c -> a", tostring(bad[1]))
  edges, state, bad = saved.edges, saved.state, saved.bad
end

-- the facade says what it is in its first lines
assert(readf(ROOT .. "al/init.lua"):sub(1, 400):find("facade", 1, true), "init.lua says it is the user's facade")

if #bad > 0 then error("layering of lua/al:\n  " .. table.concat(bad, "\n  "), 0) end
print(string.format("  %d files, no require of \"al\" in the library, no cycle", #files))
print("OK")
