-- al.json and al.jsonl (C, through cJSON for parsing): round trips, exact integers, sorted keys,
-- arrays vs objects, null, every error path with its position, atomic writes, JSONL line numbers.
print("testing json")
local al = require "al"
local json, jsonl = al.json, al.jsonl
assert(json == al.core.json and jsonl == al.core.jsonl)
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local fails, read_file, write_file = T.fails, T.read_file, T.write_file

local function deep_eq(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then
    return a == b -- (integral floats come back as integers: 1.0 == 1)
  end
  for k, v in pairs(a) do if not deep_eq(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

do print("  encode: scalars, exact integers, shortest floats, strings")
  assert(json.encode(1) == "1")
  assert(json.encode(-0) == "0")
  assert(json.encode(math.maxinteger) == "9223372036854775807")
  assert(json.encode(math.mininteger) == "-9223372036854775808")
  assert(json.encode(0.1) == "0.1")
  assert(json.encode(1 / 3) == "0.3333333333333333")
  assert(json.encode(2.5e-300) == "2.5e-300")
  assert(json.encode(true) == "true" and json.encode(false) == "false")
  assert(json.encode(nil) == "null" and json.encode(json.null) == "null")
  assert(json.encode("a\"b\\c\n\r\t\1\127é") == '"a\\"b\\\\c\\n\\r\\t\\u0001\\u007fé"')
  for _, x in ipairs { 0.1, 1 / 3, 1e300, -2.5e-8, 123456.789, 2 ^ 60 + 0.0, 5e-324 } do
    local y = json.decode(json.encode(x))
    assert(y == x, ("float %.17g came back as %.17g"):format(x, y))
  end
end

do print("  encode: arrays, objects with sorted keys, empty tables, indentation")
  assert(json.encode({ 1, 2, 3 }) == "[1,2,3]")
  assert(json.encode({ b = 1, a = 2, c = { z = 1, y = 2 } }) == '{"a":2,"b":1,"c":{"y":2,"z":1}}')
  assert(json.encode({}) == "{}")
  assert(json.encode(json.array()) == "[]")
  assert(json.encode(json.array({})) == "[]")
  local t = json.array({ 1 })
  assert(json.encode(t) == "[1]")
  assert(json.encode({ ["1"] = 1 }) == '{"1":1}')
  assert(json.encode({ 1, json.null, 3 }) == "[1,null,3]")
  local pretty = json.encode({ a = { 1, 2 }, b = { { x = 1 } } }, { indent = true })
  assert(pretty == '{\n  "a": [1, 2],\n  "b": [\n    {\n      "x": 1\n    }\n  ]\n}', pretty)
  assert(json.encode({ a = 1 }, { indent = 4 }) == '{\n    "a": 1\n}')
  assert(json.encode({ a = 1 }, { indent = false }) == '{"a":1}')
end

do print("  encode: errors name the place")
  fails("cannot encode NaN at $.a[2]", json.encode, { a = { 1, 0 / 0 } })
  fails("cannot encode an infinite number at $", json.encode, math.huge)
  fails("cannot encode an infinite number at $.x", json.encode, { x = -math.huge })
  fails("cannot encode a function at $.f", json.encode, { f = print })
  fails("cannot encode a userdata at $", json.encode, io.stdout)
  fails("cannot encode a sparse array", json.encode, { 1, nil, 3 })
  fails("cannot encode a sparse array", json.encode, { [2] = 1, [3] = 2, [5] = 3 })
  fails("a number key (1)", json.encode, { 1, a = 2 })
  fails("a boolean key (true)", json.encode, { [true] = 1 })
  local cyc = {}
  cyc.me = cyc
  fails("nesting deeper than 200 levels (a cycle?) at $[...].me", json.encode, cyc)
  fails("unknown option 'indnet'", json.encode, {}, { indnet = true })
  fails("option 'indent' must be", json.encode, {}, { indent = "yes" })
end

do print("  decode: values, null, integers, empty arrays round trip")
  local v = json.decode('{"a": [1, 2.5, "x", true, false, null], "b": {"c": {}}, "d": [], "e": -7}')
  assert(v.a[1] == 1 and math.type(v.a[1]) == "integer")
  assert(v.a[2] == 2.5 and v.a[3] == "x" and v.a[4] == true and v.a[5] == false)
  assert(v.a[6] == json.null and #v.a == 6)
  assert(next(v.b.c) == nil and json.encode(v.b.c) == "{}")
  assert(next(v.d) == nil and json.encode(v.d) == "[]")
  assert(v.e == -7 and math.type(v.e) == "integer")
  assert(json.decode("1e3") == 1000 and math.type(json.decode("1e3")) == "integer")
  assert(math.type(json.decode("0.5")) == "float")
  assert(json.decode('"\\u00e9\\n\\"q\\""') == 'é\n"q"')
  assert(json.decode("  [1]  \n") [1] == 1)
  local orig = { name = "run", seeds = { 1, 2, 3 }, cfg = { lr = 3e-4, beta = 0.1, tags = { "a", "b" } },
                 ok = true, big = 2 ^ 53 | 0, neg = -12 }
  assert(deep_eq(json.decode(json.encode(orig)), orig))
  assert(deep_eq(json.decode(json.encode(orig, { indent = true })), orig))
end

do print("  decode: malformed input names line and column")
  fails("json.decode: syntax error at line 1, column 6 (byte 6) near '1}'", json.decode, '{"a" 1}')
  fails("syntax error at line 3, column", json.decode, '{\n"a": 1,\n  x\n}')
  fails("syntax error at line 1, column 5 (byte 5) near 'x'", json.decode, "[1] x")
  fails("unexpected end of input", json.decode, "")
  fails("unexpected end of input", json.decode, "   ")
  fails("json.decode", json.decode, "[1,2")
  fails("json.decode", json.decode, "{'a': 1}")
  fails("json.decode", json.decode, "NaN")
  fails("bad argument #1", json.decode, nil)
end

local dir = os.tmpname()
os.remove(dir)
al.core.mkdir_p(dir)
local function listdir(d)
  local p = io.popen("ls -A " .. d)
  local s = p:read("a")
  p:close()
  return s
end

do print("  json.read / json.write (atomic, indented, errors)")
  local p = dir .. "/r.json"
  local v = { steps = 300, loss = { 3.2, 2.1 }, name = "sft" }
  json.write(p, v)
  assert(read_file(p) == json.encode(v, { indent = true }) .. "\n")
  assert(deep_eq(json.read(p), v))
  json.write(p, v, { indent = false })
  assert(read_file(p) == json.encode(v) .. "\n")
  assert(listdir(dir) == "r.json\n", "no temporary files left: " .. listdir(dir))
  -- a failed encode leaves the old file intact
  fails("cannot encode NaN", json.write, p, { x = 0 / 0 })
  assert(read_file(p) == json.encode(v) .. "\n")
  assert(listdir(dir) == "r.json\n")
  fails("json.write: " .. dir .. "/nope/x.json: cannot create temporary file " .. dir .. "/nope/x.json.tmp.", json.write, dir .. "/nope/x.json", {})
  fails("json.read: " .. dir .. "/missing.json: cannot open: No such file", json.read, dir .. "/missing.json")
  write_file(dir .. "/bad.json", '{\n  "a": 1,\n  "b": ]\n}\n')
  fails("json.read: " .. dir .. "/bad.json: syntax error at line 3, column 8", json.read, dir .. "/bad.json")
  os.remove(dir .. "/bad.json")
end

do print("  jsonl.write / jsonl.lines round trip")
  local p = dir .. "/d.jsonl"
  local recs = {}
  for i = 1, 50 do recs[i] = { id = i, text = "line " .. i .. "\nwith newline", score = i / 7 } end
  jsonl.write(p, recs)
  local n, it, stats = 0, jsonl.lines(p)
  for r in it do
    n = n + 1
    assert(deep_eq(r, recs[n]))
  end
  assert(n == 50 and stats.records == 50 and stats.skipped == 0 and stats.lines == 50)
  assert(select(2, read_file(p):gsub("\n", "")) == 50)
  -- break out early: the file is closed by the generic for (to-be-closed value)
  for r in jsonl.lines(p) do if r.id == 3 then break end end
  jsonl.write(p, {})
  assert(read_file(p) == "")
  local count = 0
  for _ in jsonl.lines(p) do count = count + 1 end
  assert(count == 0)
  fails("jsonl.lines: cannot open", jsonl.lines, dir .. "/none.jsonl")
  fails("unknown option 'strikt'", jsonl.lines, p, { strikt = true })
  fails("option 'strict' must be a boolean", jsonl.lines, p, { strict = 1 })
  fails("cannot encode NaN at $[2].x", jsonl.write, p, { {}, { x = 0 / 0 } })
  fails("jsonl.write: records must be a list", jsonl.write, p, { a = 1 })
end

do print("  jsonl: malformed lines (strict raises path:LINE, default skips and counts)")
  local p = dir .. "/bad.jsonl"
  write_file(p, '{"a": 1}\r\n\n   \n{"a": 2}\n{"a": oops}\n{"a": 4}\n[5\n{"a": 6}')
  local ok, err = pcall(function()
    for _ in jsonl.lines(p, { strict = true }) do end
  end)
  assert(not ok and err:find(p .. ":5: syntax error at line 1, column 7", 1, true), err)
  local got, it, stats = {}, jsonl.lines(p)
  for r in it do got[#got + 1] = r.a end
  assert(table.concat(got, ",") == "1,2,4,6", table.concat(got, ","))
  assert(stats.records == 4 and stats.skipped == 2 and stats.lines == 8)
  assert(stats.first_error:find("^line 5: syntax error"), stats.first_error)
end

os.execute("rm -rf '" .. dir .. "'")
print("OK")
