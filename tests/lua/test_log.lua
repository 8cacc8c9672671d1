-- al.log (JSONL run logs) and al.progress (a progress bar only on terminals).
print("testing al.log and al.progress")
local al = require "al"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local fails, read_file = T.fails, T.read_file

local dir = os.tmpname()
os.remove(dir)

do print("  log: one flushed JSON object per line, appends, closes")
  local p = dir .. "/runs/a.jsonl"
  local log = al.log(p)
  assert(log:write{ step = 1, loss = 0.5 } == log)
  -- flushed: readable before close
  assert(read_file(p) == '{"loss":0.5,"step":1}\n', read_file(p))
  log:write{ step = 2, tags = { "a" }, ok = true }
  assert(tostring(log):find("2 records", 1, true))
  log:close()
  log:close() -- twice is fine
  fails("is closed", log.write, log, { step = 3 })
  do
    local l2 <close> = al.log(p) -- appends by default
    l2:write{ step = 3 }
  end
  local steps = {}
  for r in al.jsonl.lines(p, { strict = true }) do steps[#steps + 1] = r.step end
  assert(table.concat(steps, ",") == "1,2,3")
  local l3 = al.log(p, { append = false })
  l3:write{ step = 9 }
  l3:close()
  assert(read_file(p) == '{"step":9}\n')
end

do print("  log: errors leave the file intact")
  local p = dir .. "/b.jsonl"
  local log = al.log(p)
  log:write{ a = 1 }
  fails("cannot encode NaN at $.x", log.write, log, { x = 0 / 0 })
  fails("write expects a table (got number)", log.write, log, 5)
  fails("a record must be a JSON object", log.write, log, { 1, 2 })
  log:close()
  assert(read_file(p) == '{"a":1}\n')
  fails("al.log: path must be a non-empty string", al.log, "")
  fails("unknown option 'apend'", al.log, p, { apend = true })
  fails("al.log: ", al.log, dir .. "/b.jsonl/x.jsonl")
end

do print("  progress: silent when stderr is not a terminal; format; forced output")
  local p = al.progress(10, "quiet")
  assert(p.on == false) -- the runner's stderr is a file
  for i = 1, 10 do p:update(i, { loss = 1 / i }) end
  p:done()
  local f = al.progress.format
  local s = f(100, "train", 25, 5, { loss = 0.123456, kl = 2 }, false, 80)
  assert(s == "train  25% [#######--------------------]" ..
    " 25/100 5 it/s ETA 0:15 kl=2 loss=0.1235" or s:match("^train  25%% %[#+%-+%] 25/100 5 it/s ETA 0:15 kl=2 loss=0%.1235$"), s)
  assert(#s <= 80)
  assert(f(100, nil, 100, 3725, nil, true, 80):match("100%% %[#+%] 100/100 0%.0268 it/s in 1:02:05$"),
    f(100, nil, 100, 3725, nil, true, 80))
  assert(f(nil, "gen", 42, 2, nil, false, 80) == "gen 42 21 it/s")
  assert(f(nil, "gen", 42, 2, nil, true, 80) == "gen 42 21 it/s in 0:02")
  assert(f(10, "x", 0, 0, nil, false, 80):find("ETA ?", 1, true))
  local out = os.tmpname()
  local fh = assert(io.open(out, "w"))
  local q = al.progress(3, "forced", { stream = fh, force = true, width = 60 })
  q:update(1)
  q:update()      -- +1
  q:update(3, { r = 0.5 })
  q:done()
  q:update(5)     -- after done: ignored
  fh:close()
  local text = read_file(out)
  os.remove(out)
  assert(text:find("forced 100% [", 1, true) and text:find("3/3", 1, true) and text:find("r=0.5", 1, true))
  assert(text:sub(-1) == "\n" and text:find("\r", 1, true) and text:find("\27[K", 1, true))
  for line in text:gmatch("\r([^\r\n]*)") do assert(#line:gsub("\27%[K", "") <= 59, line) end
  fails("al.progress: total must be a non-negative number or nil", al.progress, "x")
  fails("unknown option 'forse'", al.progress, 1, "x", { forse = true })
end

os.execute("rm -rf '" .. dir .. "'")
print("OK")
