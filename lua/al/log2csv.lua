-- alignlab log2csv: a trainer's JSONL log as CSV (RFC 4180), for spreadsheets, pandas and gnuplot.
--   alignlab log2csv RUN.jsonl [OUT.csv]        (default OUT: RUN.csv beside the log)
-- Columns: the union of the records' keys, in the order they first appear; the "step" and
-- "time" columns first when present. A record without a key leaves its cell empty; numbers are
-- written with 17 significant digits (so the CSV reads back to the same doubles), booleans as
-- true/false, strings quoted when they hold a comma, a quote or a newline; nested tables as
-- their JSON. Also the library: M.convert(jsonl_path, csv_path) -> number of rows, M.csv(records)
-- -> the text. al.log(path, { csv = true }) calls M.convert when the log is closed.
local core = require "al.core"
local util = require "al.util"

local M = {}

local function cell(v)
  if v == nil then return "" end
  local t = type(v)
  local s
  if t == "number" then
    s = math.type(v) == "integer" and tostring(v) or string.format("%.17g", v)
  elseif t == "boolean" then s = tostring(v)
  elseif t == "string" then s = v
  else s = core.json.encode(v) end
  if s:find('[,"\r\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

-- The CSV text of a list of flat records (tables).
function M.csv(records)
  local cols, seen = {}, {}
  for _, k in ipairs { "step", "time" } do
    for _, r in ipairs(records) do
      if r[k] ~= nil then cols[#cols + 1], seen[k] = k, true break end
    end
  end
  for _, r in ipairs(records) do
    local keys = {}
    for k in pairs(r) do if not seen[k] then keys[#keys + 1] = k end end
    table.sort(keys) -- a record's own order is lost in a Lua table: new keys of one record sorted
    for _, k in ipairs(keys) do cols[#cols + 1], seen[k] = k, true end
  end
  local lines = {}
  local head = {}
  for i, k in ipairs(cols) do head[i] = cell(k) end
  lines[1] = table.concat(head, ",")
  for _, r in ipairs(records) do
    local row = {}
    for i, k in ipairs(cols) do row[i] = cell(r[k]) end
    lines[#lines + 1] = table.concat(row, ",")
  end
  return table.concat(lines, "\r\n") .. "\r\n"
end

-- Convert the JSONL log at src into CSV at dst (atomic write); every line must be a JSON object
-- (errors name src:line).
function M.convert(src, dst)
  local text, err = util.read_file(src)
  if not text then error("log2csv: cannot read " .. tostring(src) .. ": " .. tostring(err), 0) end
  local recs, line = {}, 0
  for l in text:gmatch("([^\n]*)\n?") do
    line = line + 1
    if l:find("%S") then
      local ok, r = pcall(core.json.decode, l)
      if not ok then error(string.format("log2csv: %s:%d: %s", src, line, tostring(r)), 0) end
      if type(r) ~= "table" or r[1] ~= nil then error(string.format("log2csv: %s:%d: not a JSON object", src, line), 0) end
      recs[#recs + 1] = r
    end
  end
  util.write_file(dst, M.csv(recs))
  return #recs
end

function M.main(args)
  local src, dst = args[1], args[2]
  if not src or src == "-h" or src == "--help" or #args > 2 then
    io.stderr:write("usage: alignlab log2csv RUN.jsonl [OUT.csv]\n")
    return src and (src == "-h" or src == "--help") and 0 or 2
  end
  dst = dst or (src:gsub("%.jsonl$", "") .. ".csv")
  local n = M.convert(src, dst)
  print(string.format("log2csv: %d rows -> %s", n, dst))
  return 0
end

return M
