-- al.core's generic part (l_base.c; al.Rng in l_rng.c, pretty in l_pretty.c): al.Rng, hash, time,
-- isatty, mkdir_p, threads, pretty, and the bind.h helpers (l_util.c) every binding uses
-- (options tables, integer arrays, error messages).
print("testing al.core")
local al = require "al"
local core = al.core
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local fails = T.fails

do print("  version")
  assert(type(core.version) == "string" and core.version:match("^%d+%.%d+%.%d+$"))
  assert(al.version == core.version)
end

do print("  rng: determinism, streams, ranges")
  local a, b, c = core.rng(42), core.rng(42), core.rng(42, 1)
  local same, differ = true, false
  for _ = 1, 100 do
    local x, y, z = a:uniform(), b:uniform(), c:uniform()
    same = same and x == y
    differ = differ or x ~= z
    assert(x >= 0 and x < 1)
  end
  assert(same and differ)
  local r = core.rng(7)
  local seen = {}
  for _ = 1, 2000 do
    local k = r:int(6)
    assert(math.type(k) == "integer" and k >= 1 and k <= 6)
    seen[k] = true
    local j = r:int(-3, 3)
    assert(j >= -3 and j <= 3)
    seen["j" .. j] = true
  end
  for k = 1, 6 do assert(seen[k], "int(6) never gave " .. k) end
  for j = -3, 3 do assert(seen["j" .. j]) end
  assert(r:int(5, 5) == 5 and r:int(1) == 1)
  local w = r:int(math.mininteger, math.maxinteger) -- the whole 64-bit range
  assert(math.type(w) == "integer")
  local u = r:uniform(10, 20)
  assert(u >= 10 and u < 20)
  fails("n must be >= 1", r.int, r, 0)
  fails("interval is empty", r.int, r, 3, 2)
  fails("number has no integer representation", r.int, r, 1.5)
  fails("al.Rng expected", r.int, {}, 3)
  fails("number expected", core.rng, "x")
end

do print("  rng: normal moments, shuffle, state, clone")
  local r = core.rng(1)
  local n, s, ss = 20000, 0, 0
  for _ = 1, n do
    local x = r:normal()
    s, ss = s + x, ss + x * x
  end
  local mean, var = s / n, ss / n - (s / n) ^ 2
  assert(math.abs(mean) < 0.05 and math.abs(var - 1) < 0.05, ("mean %g var %g"):format(mean, var))
  local y = r:normal(10, 0.001)
  assert(math.abs(y - 10) < 0.01)
  local t = {}
  for i = 1, 100 do t[i] = i end
  assert(r:shuffle(t) == t)
  local sum, moved, present = 0, 0, {}
  for i, v in ipairs(t) do
    sum = sum + v
    present[v] = true
    if v ~= i then moved = moved + 1 end
  end
  assert(#t == 100 and sum == 5050 and moved > 50)
  for i = 1, 100 do assert(present[i]) end
  local t1, t2 = { 1, 2, 3, 4, 5, 6, 7, 8 }, { 1, 2, 3, 4, 5, 6, 7, 8 }
  core.rng(3):shuffle(t1)
  core.rng(3):shuffle(t2)
  assert(table.concat(t1) == table.concat(t2))
  assert(#core.rng(3):shuffle({}) == 0)

  local st = r:state()
  assert(#st == 64 and st:match("^%x+$"))
  local first = { r:uniform(), r:int(1000), r:normal() }
  assert(r:set_state(st) == r)
  assert(r:uniform() == first[1] and r:int(1000) == first[2] and r:normal() == first[3])
  local c = r:clone()
  assert(c:state() == r:state())
  local x1 = c:uniform()
  assert(r:uniform() == x1)         -- same stream ...
  c:uniform()
  assert(c:state() ~= r:state())    -- ... but independent objects
  fails("64 hex digits", r.set_state, r, "abc")
  fails("64 hex digits", r.set_state, r, string.rep("g", 64))
  fails("all-zero state", r.set_state, r, string.rep("0", 64))
  assert(tostring(r):match("^al%.Rng%(state %x+%.%.%.%)$"))
end

do print("  hash: 64-bit FNV-1a, known vectors")
  assert(core.hash("") == "cbf29ce484222325")
  assert(core.hash("a") == "af63dc4c8601ec8c")
  assert(core.hash("foobar") == "85944171f73967e8")
  assert(core.hash("a\0b") ~= core.hash("a"))
  assert(core.hash(string.rep("x", 100000)):match("^%x+$") and #core.hash("q") == 16)
  fails("string expected", core.hash, {})
end

do print("  time, isatty, threads")
  local t0 = core.time()
  local t1 = core.time()
  assert(type(t0) == "number" and t1 >= t0)
  assert(core.isatty(0) == false) -- the runner gives /dev/null as stdin
  assert(type(core.isatty("stderr")) == "boolean")
  fails("invalid option 'stdfoo'", core.isatty, "stdfoo")
  local nb, no = core.nthreads()
  assert(math.type(nb) == "integer" and nb >= 1 and no >= 1)
  core.set_threads(1)
  local b1, o1 = core.nthreads()
  assert(b1 == 1 and o1 == 1)
  fails("thread count must be in [1, 4096]", core.set_threads, 0)
  core.set_threads(nb)
end

do print("  mkdir_p")
  local base = os.tmpname()
  os.remove(base)
  assert(core.mkdir_p(base .. "/a/b/c") == true)
  assert(core.mkdir_p(base .. "/a/b/c/") == true) -- existing: fine
  local f = assert(io.open(base .. "/a/b/c/x.txt", "w"))
  f:close()
  fails("exists and is not a directory", core.mkdir_p, base .. "/a/b/c/x.txt")
  fails("cannot create", core.mkdir_p, base .. "/a/b/c/x.txt/d")
  fails("empty path", core.mkdir_p, "")
  os.execute("rm -rf '" .. base .. "'")
end

do print("  pretty")
  local p = core.pretty
  assert(p(1) == "1" and p(1.5) == "1.5" and p(true) == "true" and p(nil) == "nil")
  assert(p("a\"b\n") == '"a\\"b\\n"')
  assert(p({}) == "{}")
  assert(p({ 3, 2, 1 }) == "{ 3, 2, 1 }")
  assert(p({ b = 1, a = 2, [1] = "x", [10] = 0, ["k-1"] = 1, ["end"] = 2 }) ==
    '{ "x", [10] = 0, a = 2, b = 1, ["end"] = 2, ["k-1"] = 1 }', p({ b = 1, a = 2, [1] = "x", [10] = 0, ["k-1"] = 1, ["end"] = 2 }))
  local t = { x = 1 }
  t.self = t
  assert(p(t) == "{ self = <cycle>, x = 1 }")
  local shared = { 1 }
  assert(p({ a = shared, b = shared }) == "{ a = { 1 }, b = { 1 } }") -- shared is not a cycle
  assert(p({ a = { b = { c = 1 } } }, { depth = 2 }) == "{ a = { b = {...} } }")
  local long = {}
  for i = 1, 100 do long[i] = i end
  local s = p(long, { items = 5 })
  assert(s == "{ 1, 2, 3, 4, 5, ... (95 more) }", s)
  local wide = p(long)
  assert(wide:find("\n") and wide:find("... (60 more)", 1, true))
  for line in wide:gmatch("[^\n]+") do assert(#line <= 80, line) end
  local rows = {}
  for i = 1, 3 do rows[i] = { name = ("row %d"):format(i), values = { i, i * 2, i * 3 }, ok = true } end
  local r = p(rows, { width = 60 })
  assert(r == [[{
  { name = "row 1", ok = true, values = { 1, 2, 3 } },
  { name = "row 2", ok = true, values = { 2, 4, 6 } },
  { name = "row 3", ok = true, values = { 3, 6, 9 } },
}]], r)
  local ud = setmetatable({}, { __tostring = function() return "<thing>" end })
  assert(p({ ud }) == "{ <thing> }")
  assert(p(core.rng(1)):match("^al%.Rng"))
  assert(p({ [p] = 1 }):match("^{ %[function: "))
  assert(p(string.rep("z", 500), {}):len() == 502)                     -- top level: whole
  assert(p({ string.rep("z", 500) }):find("...(500 bytes)", 1, true)) -- nested: cut
  fails("unknown option 'dept'", p, 1, { dept = 2 })
  fails("option 'depth' must be an integer", p, 1, { depth = 1.5 })
end

do print("  bind.h helpers: options, integer arrays, errors")
  local n, i, b, s = core._probe_opts()
  assert(n == 1.5 and i == 7 and b == false and s == "def")
  n, i, b, s = core._probe_opts({ n = 2, i = 3.0, b = true, s = "x" })
  assert(n == 2 and i == 3 and math.type(i) == "integer" and b == true and s == "x")
  fails("probe: unknown option 'q' (known: n, i, b, s)", core._probe_opts, { q = 1 })
  fails("probe: unknown option '1' (known: n, i, b, s)", core._probe_opts, { 5 })
  fails("option 'n' must be a number (got string)", core._probe_opts, { n = "2" })
  fails("option 'i' must be an integer (got number)", core._probe_opts, { i = 2.5 })
  fails("option 'b' must be a boolean (got number)", core._probe_opts, { b = 1 })
  fails("option 's' must be a string (got boolean)", core._probe_opts, { s = true })
  fails("table expected", core._probe_opts, 5)
  local ints, floats = core._probe_ints({ 3, -1, 2147483647 })
  assert(#ints == 3 and ints[1] == 3 and ints[2] == -1 and ints[3] == 2147483647)
  assert(floats[1] == 3.0 and math.type(floats[1]) == "float")
  local e1, e2 = core._probe_ints({})
  assert(#e1 == 0 and #e2 == 0)
  fails("probe: element 2 must be an integer (got string)", core._probe_ints, { 1, "x" })
  fails("probe: element 1 must be an integer (got number)", core._probe_ints, { 0.5 })
  fails("probe: element 1 must be an integer (got an integer out of range)", core._probe_ints, { 2 ^ 40 | 0 })
  fails("probe: a message from the core", core._probe_fail, "a message from the core")
end

print("OK")
