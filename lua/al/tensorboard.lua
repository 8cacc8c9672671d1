-- al.tensorboard: a TensorBoard event-file writer for scalars, without a protobuf library.
-- The file is a sequence of TFRecord records (tensorflow/core/lib/io/record_writer.cc):
--   uint64 length (little-endian) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
-- with masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2^32), CRC-32C = Castagnoli's
-- polynomial (reflected 0x82F63B78; check value crc32c("123456789") = 0xE3069283). Each data is a
-- serialized tensorflow.Event (event.proto): wall_time = 1 (double), step = 2 (int64),
-- file_version = 3 (string; the first record says "brain.Event:2"), summary = 5 (Summary:
-- repeated Value value = 1; Value: tag = 1 (string), simple_value = 2 (float)). One Event per
-- logged step holds every numeric field of the record except step itself.
-- File name: events.out.tfevents.<seconds>.<host>.alignlab (TensorBoard reads any file whose name
-- holds "tfevents"). Leaves to others: reading (tests/lua/test_log_formats.lua has a reader).
--   local tb <close> = al.tensorboard("runs/tb") ; tb:write{ step = 3, loss = 0.5 } ; tb:close()
local core = require "al.core"

local M = {}

local CRC = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do
    if c & 1 == 1 then c = (c >> 1) ~ 0x82F63B78 else c = c >> 1 end
  end
  CRC[i] = c
end

function M.crc32c(s)
  local c = 0xFFFFFFFF
  for i = 1, #s do c = CRC[(c ~ s:byte(i)) & 0xFF] ~ (c >> 8) end
  return c ~ 0xFFFFFFFF
end

function M.masked_crc(s)
  local c = M.crc32c(s)
  return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xa282ead8) & 0xFFFFFFFF
end

-- TFRecord framing of data.
function M.record(data)
  local len = string.pack("<I8", #data)
  return len .. string.pack("<I4", M.masked_crc(len)) .. data .. string.pack("<I4", M.masked_crc(data))
end

-- ---- protobuf wire format (the few encodings an Event needs) ----
local function varint(n) -- n >= 0, or a negative int64 as its two's complement (10 bytes)
  local out = {}
  repeat
    local b = n & 0x7F
    n = n >> 7 -- logical shift: a negative n ends after 10 bytes
    out[#out + 1] = string.char(n ~= 0 and (b | 0x80) or b)
  until n == 0
  return table.concat(out)
end
local function key(field, wire) return varint((field << 3) | wire) end
local function bytes_field(field, s) return key(field, 2) .. varint(#s) .. s end

-- A serialized Event: wall_time, step, and either file_version or scalars { {tag, value}, ... }.
function M.event(wall_time, step, scalars, file_version)
  local parts = { key(1, 1) .. string.pack("<d", wall_time) }
  if step then parts[#parts + 1] = key(2, 0) .. varint(step) end
  if file_version then parts[#parts + 1] = bytes_field(3, file_version) end
  if scalars then
    local vals = {}
    for _, kv in ipairs(scalars) do
      vals[#vals + 1] = bytes_field(1, bytes_field(1, kv[1]) .. key(2, 5) .. string.pack("<f", kv[2]))
    end
    parts[#parts + 1] = bytes_field(5, table.concat(vals))
  end
  return table.concat(parts)
end

local W = {}
W.__index = W
W.__name = "al.TensorBoard"

-- M.open(dir) -> a writer of a new event file in dir (created).
function M.open(dir)
  if type(dir) ~= "string" or dir == "" then error("al.tensorboard: dir must be a non-empty string", 2) end
  core.mkdir_p(dir)
  local host = (os.getenv("HOSTNAME") or "localhost"):gsub("[^%w%-_.]", "_")
  local now = os.time()
  local path = string.format("%s/events.out.tfevents.%d.%s.alignlab", dir, now, host)
  local k = 0
  while io.open(path, "rb") do -- another run of the same second: never append to its file
    k = k + 1
    path = string.format("%s/events.out.tfevents.%d.%s.alignlab.%d", dir, now, host, k)
  end
  local f, err = io.open(path, "wb")
  if not f then error("al.tensorboard: " .. tostring(err), 2) end
  f:write(M.record(M.event(os.time(), 0, nil, "brain.Event:2")))
  f:flush()
  return setmetatable({ path = path, f = f, n = 0 }, W)
end

-- w:write(record): one Event at record.step (0 when absent) with every finite numeric field.
function W:write(t)
  if not self.f then error("al.tensorboard: " .. self.path .. " is closed", 2) end
  local keys = {}
  for k, v in pairs(t) do
    if k ~= "step" and type(k) == "string" and type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys)
  local sc = {}
  for i, k in ipairs(keys) do sc[i] = { k, t[k] } end
  local step = math.tointeger(t.step) or 0
  self.f:write(M.record(M.event(os.time(), step, sc)))
  self.f:flush()
  self.n = self.n + 1
  return self
end

function W:close()
  if self.f then self.f:close() self.f = nil end
end
W.__close = W.close
W.__gc = W.close

return setmetatable(M, { __call = function(_, ...) return M.open(...) end })
