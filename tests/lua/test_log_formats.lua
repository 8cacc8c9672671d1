-- Tests of the log formats: CSV (lua/al/log2csv.lua: the converter, `alignlab log2csv`, al.log's
-- csv option) and TensorBoard event files (lua/al/tensorboard.lua): CRC-32C against published
-- check values, and a trainer's event file read back by an independent TFRecord + protobuf
-- reader written here (framing, both masked CRCs, Event fields by number).
print("testing log formats")
local al = require "al"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local fails = T.fails
local tb = require "al.tensorboard"
local log2csv = require "al.log2csv"

-- ---- CRC-32C (RFC 3720 B.4 and the usual check value) ----
assert(tb.crc32c("123456789") == 0xE3069283)
assert(tb.crc32c(string.rep("\0", 32)) == 0x8A9136AA)
assert(tb.crc32c(string.rep("\255", 32)) == 0x62A8AB43)
local inc = {}
for i = 0, 31 do inc[#inc + 1] = string.char(i) end
assert(tb.crc32c(table.concat(inc)) == 0x46DD794E)
assert(tb.crc32c("") == 0)
-- the mask: rotate right by 15, add 0xa282ead8 (mod 2^32)
local c = 0xE3069283
local rot = ((c >> 15) | (c << 17)) & 0xFFFFFFFF
assert(tb.masked_crc("123456789") == (rot + 0xa282ead8) % 2 ^ 32 // 1)

-- ---- an independent reader ----
local function read_varint(s, i)
  local n, shift = 0, 0
  while true do
    local b = s:byte(i)
    assert(b, "truncated varint")
    n = n | ((b & 0x7F) << shift)
    i, shift = i + 1, shift + 7
    if b < 0x80 then return n, i end
  end
end
-- fields of a message: list of { field, wire, value }
local function fields(s)
  local out, i = {}, 1
  while i <= #s do
    local k
    k, i = read_varint(s, i)
    local f, w = k >> 3, k & 7
    local v
    if w == 0 then v, i = read_varint(s, i)
    elseif w == 1 then v, i = string.unpack("<d", s, i)
    elseif w == 5 then v, i = string.unpack("<f", s, i)
    elseif w == 2 then
      local n
      n, i = read_varint(s, i)
      v, i = s:sub(i, i + n - 1), i + n
    else error("wire type " .. w) end
    out[#out + 1] = { f, w, v }
  end
  return out
end
local function records(blob)
  local out, i = {}, 1
  while i <= #blob do
    local lenb = blob:sub(i, i + 7)
    local len = string.unpack("<I8", lenb)
    local lcrc = string.unpack("<I4", blob, i + 8)
    assert(lcrc == tb.masked_crc(lenb), "length CRC")
    local data = blob:sub(i + 12, i + 11 + len)
    assert(#data == len, "truncated record")
    assert(string.unpack("<I4", blob, i + 12 + len) == tb.masked_crc(data), "data CRC")
    out[#out + 1] = data
    i = i + 16 + len
  end
  return out
end
local function event(data)
  local e = { scalars = {} }
  for _, f in ipairs(fields(data)) do
    if f[1] == 1 then assert(f[2] == 1) e.wall_time = f[3]
    elseif f[1] == 2 then assert(f[2] == 0) e.step = f[3]
    elseif f[1] == 3 then e.file_version = f[3]
    elseif f[1] == 5 then
      for _, v in ipairs(fields(f[3])) do
        assert(v[1] == 1 and v[2] == 2, "Summary.value")
        local tag, val
        for _, x in ipairs(fields(v[3])) do
          if x[1] == 1 then tag = x[3] elseif x[1] == 2 then assert(x[2] == 5) val = x[3] end
        end
        e.scalars[tag] = val
      end
    end
  end
  return e
end
-- the varint encoder on edge values, read back
for _, n in ipairs { 0, 1, 127, 128, 300, 1 << 35 } do
  local d = tb.event(0.5, n, nil, nil)
  assert(event(d).step == n and event(d).wall_time == 0.5)
end

-- ---- a trainer writes JSONL, CSV and an event file ----
local dir = T.tmpdir("logs")
local data = {}
for i = 1, 8 do data[i] = { prompt = { 1, 2 }, completion = { i % 3 + 3 }, label = i % 2 == 0 } end
local m = al.gpt{ vocab = 8, ctx = 6, d = 8, heads = 2, layers = 1, seed = 1 }
local _, hist = al.kto(m, data, { steps = 3, batch_size = 4, progress = false,
  log = { path = dir .. "/run.jsonl", csv = true, tensorboard = dir .. "/tb" } })
local jl = {}
for r in al.jsonl.lines(dir .. "/run.jsonl") do jl[#jl + 1] = r end
assert(#jl == 3)
local files = al.core.listdir and al.core.listdir(dir .. "/tb") or require("al.util").listdir(dir .. "/tb")
assert(#files == 1 and files[1]:find("^events%.out%.tfevents%."), files[1])
local recs = records(assert(T.read_file(dir .. "/tb/" .. files[1])))
assert(#recs == 4, #recs)
assert(event(recs[1]).file_version == "brain.Event:2")
for k = 1, 3 do
  local e = event(recs[k + 1])
  assert(e.step == k and e.wall_time > 1e9)
  for key, v in pairs(jl[k]) do
    if key ~= "step" and type(v) == "number" then
      assert(e.scalars[key] == string.unpack("<f", string.pack("<f", v)), key)
    end
  end
  assert(e.scalars.loss and e.scalars["rewards/chosen"] and e.scalars.step == nil)
end
-- CSV: header, one row per step, numbers that read back to the same doubles
local csv = assert(T.read_file(dir .. "/run.csv"))
local rows = {}
for line in csv:gmatch("([^\r\n]+)\r\n") do rows[#rows + 1] = line end
assert(#rows == 4)
local head = {}
for h in rows[1]:gmatch("[^,]+") do head[#head + 1] = h end
assert(head[1] == "step" and head[2] == "time")
for k = 1, 3 do
  local vals, j = {}, 0
  for v in (rows[k + 1] .. ","):gmatch("([^,]*),") do j = j + 1 vals[head[j]] = v end
  for key, v in pairs(jl[k]) do
    if type(v) == "number" then assert(tonumber(vals[key]) == v, key .. " " .. tostring(vals[key])) end
  end
  assert(tonumber(vals.step) == k and hist[k].loss == tonumber(vals.loss))
end

-- the converter: quoting, missing cells, file:line errors; the subcommand
assert(log2csv.csv({ { step = 1, a = "x,y", b = true }, { step = 2, c = 'say "hi"' } })
  == 'step,a,b,c\r\n1,"x,y",true,\r\n2,,,"say ""hi"""\r\n')
T.write_file(dir .. "/bad.jsonl", '{"step": 1}\n{"step": 2\n')
fails("log2csv: " .. dir .. "/bad.jsonl:2:", log2csv.convert, dir .. "/bad.jsonl", dir .. "/bad.csv")
T.write_file(dir .. "/bad.jsonl", '{"step": 1}\n[1]\n')
fails("bad.jsonl:2: not a JSON object", log2csv.convert, dir .. "/bad.jsonl", dir .. "/bad.csv")
local exe = os.getenv("ALIGNLAB_SHELL") or al.core.exe()
local p = io.popen(T.shell_quote(exe) .. " log2csv " .. T.shell_quote(dir .. "/run.jsonl") .. " " ..
  T.shell_quote(dir .. "/again.csv") .. " 2>&1")
local out = p:read("a")
assert(p:close(), out)
assert(out:find("log2csv: 3 rows", 1, true), out)
assert(T.read_file(dir .. "/again.csv") == csv, "the subcommand writes what al.log's csv option wrote")
fails("unknown key 'cvs'", al.kto, m, data, { steps = 1, progress = false, log = { path = dir .. "/x.jsonl", cvs = true } })
fails("al.log: option 'tensorboard' must be a directory name", al.log, dir .. "/y.jsonl", { tensorboard = 3 })
T.rmrf(dir)
print("OK")
