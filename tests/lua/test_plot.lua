-- al.plot: SVG and PNG files through gnuplot (line, scatter, bars, bands, rows), validation
-- errors, gnuplot failures surfaced, a missing gnuplot, and strings that try to inject commands.
print("testing al.plot")
local al = require "al"
local plot = al.plot
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local fails, read_file = T.fails, T.read_file

local dir = os.tmpname()
os.remove(dir)

-- a file is a valid SVG: XML prolog or <svg, ends with </svg>
local function check_svg(p)
  local s = assert(read_file(p), "missing " .. p)
  assert(s:match("^%s*<%?xml") or s:match("^%s*<svg"), p .. " does not start like SVG")
  assert(s:match("</svg>%s*$"), p .. " does not end with </svg>")
  assert(s:find("<svg", 1, true))
  return s
end
local function check_png(p)
  local s = assert(read_file(p), "missing " .. p)
  assert(s:sub(1, 8) == "\137PNG\r\n\26\n", p .. " lacks the PNG signature")
  assert(s:sub(13, 16) == "IHDR")
  local w = s:byte(17) * 2 ^ 24 + s:byte(18) * 2 ^ 16 + s:byte(19) * 2 ^ 8 + s:byte(20)
  return s, w
end

local x, y, sd = {}, {}, {}
for i = 1, 40 do x[i], y[i], sd[i] = i, 2 * math.exp(-i / 15) + 0.05, 0.05 end

do print("  line with a band and a smoothed series: files, sizes, titles")
  local files = plot{ file = dir .. "/sub/loss", title = "SFT loss", xlabel = "step", ylabel = "loss",
    logy = true, width = 640, height = 400,
    series = { { name = "mean of 3 seeds", x = x, y = y, sd = sd },
               { name = "raw", y = y, smooth = 0.8 } } }
  assert(#files == 2 and files[1] == dir .. "/sub/loss.svg" and files[2] == dir .. "/sub/loss.png")
  local svg = check_svg(files[1])
  assert(svg:find("SFT loss", 1, true) and svg:find("mean of 3 seeds", 1, true))
  local _, w = check_png(files[2])
  assert(w == 640, "png width " .. w)
end

do print("  scatter from data rows grouped by a field; bars with error bars")
  local rows = {}
  for i = 1, 12 do
    rows[i] = { kl = i * 0.5, reward = math.log(i + 1), method = i % 2 == 0 and "DPO" or "PPO" }
  end
  local files = plot.scatter{ file = dir .. "/frontier", data = rows, x = "kl", y = "reward",
                              by = "method", xlabel = "KL", ylabel = "reward", key = "bottom right" }
  local svg = check_svg(files[1])
  assert(svg:find("DPO", 1, true) and svg:find("PPO", 1, true))
  check_png(files[2])
  local b = plot.bars{ file = dir .. "/evals", formats = { "png" }, series = {
    { name = "SFT", x = { "helpful", "harmless", "honest" }, y = { 0.6, 0.7, 0.5 }, sd = { 0.05, 0.1, 0.02 } },
    { name = "PPO", x = { "helpful", "harmless" }, y = { 0.8, 0.5 } } } }
  assert(#b == 1 and b[1] == dir .. "/evals.png")
  check_png(b[1])
  assert(read_file(dir .. "/evals.svg") == nil)
  local l = plot.line{ file = dir .. "/rows", data = { { s = 3, v = 1 }, { s = 1, v = 2 }, { s = 2, v = 3 } },
                       x = "s", y = "v", formats = { "svg" }, keep_script = true }
  check_svg(l[1])
  local gp = assert(read_file(dir .. "/rows.gp"))
  assert(gp:find("1 2\n2 3\n3 1\n", 1, true), "line rows are sorted by x:\n" .. gp)
end

do print("  user strings cannot inject gnuplot commands")
  local evil = "x'\nset output '|touch " .. dir .. "/pwned1'\nplot sin(x) #"
  local evil2 = "`touch " .. dir .. "/pwned2`\" ; system('touch " .. dir .. "/pwned3') ; '"
  local files = plot{ file = dir .. "/evil", title = evil, xlabel = evil2, ylabel = "@evil",
                      series = { { name = evil2, y = { 1, 2, 3 } }, { name = evil, y = { 3, 2, 1 } } } }
  check_svg(files[1])
  check_png(files[2])
  for i = 1, 3 do assert(read_file(dir .. "/pwned" .. i) == nil, "injection " .. i .. " ran") end
  local s = plot.script{ title = "a'b\nc", series = { { name = "it's", y = { 1 } } } }
  assert(s:find("set title 'a''b c'", 1, true), s)
  assert(s:find("title 'it''s'", 1, true))
  assert(plot.quote("x'y\r\n\0z") == "'x''y   z'")
  -- a file name starting with '|' is a file, not a pipe
  local cwd_files = plot.script{ file = "|touch pwned", series = { { y = { 1 } } } }
  assert(cwd_files:find("set output './|touch pwned.svg'", 1, true))
end

do print("  validation errors")
  local s1 = { { y = { 1, 2 } } }
  fails("al.plot: file (a path without extension) is required", plot, { series = s1 })
  fails("al.plot: unknown option 'titel' (known:", plot, { file = dir .. "/e", titel = "x", series = s1 })
  fails("kind must be 'line', 'scatter' or 'bars'", plot, { file = dir .. "/e", kind = "pie", series = s1 })
  fails("series must be a non-empty list", plot, { file = dir .. "/e", series = {} })
  fails("series 1 has no y values", plot, { file = dir .. "/e", series = { { x = { 1 } } } })
  fails("series 'a': x has 3 values, y has 2", plot, { file = dir .. "/e", series = { { name = "a", x = { 1, 2, 3 }, y = { 1, 2 } } } })
  fails("unknown series field 'colour'", plot, { file = dir .. "/e", series = { { y = { 1 }, colour = "red" } } })
  fails("sd must have as many values as y", plot, { file = dir .. "/e", series = { { y = { 1, 2 }, sd = { 1 } } } })
  fails("lo and hi go together", plot, { file = dir .. "/e", series = { { y = { 1 }, lo = { 0 } } } })
  fails("smooth must be a number in [0, 1)", plot, { file = dir .. "/e", series = { { y = { 1 }, smooth = 1 } } })
  fails("series 1 y[2] must be a number (got string)", plot, { file = dir .. "/e", series = { { y = { 1, "x" } } } })
  fails("unknown format 'pdf'", plot, { file = dir .. "/e", formats = { "pdf" }, series = s1 })
  fails("give either series or data", plot, { file = dir .. "/e", series = s1, data = {} })
  fails("x, y, by and sd name fields of data rows", plot, { file = dir .. "/e", x = { 1 }, series = s1 })
  fails("data[2] has no field 'a' or 'b'", plot, { file = dir .. "/e", data = { { a = 1, b = 2 }, { a = 1 } }, x = "a", y = "b" })
  fails("key: unknown position 'middle'", plot, { file = dir .. "/e", key = "top middle", series = s1 })
  fails("width and height must be integers", plot, { file = dir .. "/e", width = 10, series = s1 })
  fails("xrange must be { lo, hi }", plot, { file = dir .. "/e", xrange = { 1 }, series = s1 })
  fails("expects a table of options", plot, "loss")
end

do print("  gnuplot errors are surfaced; no stale figure is left")
  local f = dir .. "/allneg"
  plot{ file = f, series = { { y = { 1, 2 } } } }
  check_svg(f .. ".svg")
  -- a log axis over negative data: gnuplot fails, and the old figure is gone
  local ok, err = pcall(plot, { file = f, logy = true, yrange = { -5, -1 }, series = { { y = { -1, -2 } } } })
  assert(not ok and err:find("al.plot: gnuplot", 1, true), tostring(err))
  assert(read_file(f .. ".svg") == nil)
end

do print("  a missing gnuplot is a clear error")
  local shell = os.getenv("ALIGNLAB_SHELL") or al.core.exe()
  local out = os.tmpname()
  os.execute(("ALIGNLAB_GNUPLOT=/nonexistent/gnuplot '%s' -e \"al.plot{ file = '%s/m', series = { { y = { 1 } } } }\" 2>'%s'")
    :format(shell, dir, out))
  local err = read_file(out)
  os.remove(out)
  assert(err:find("al.plot: gnuplot not found", 1, true) and err:find("gnuplot-nox", 1, true), err)
  assert(read_file(dir .. "/m.svg") == nil)
end

os.execute("rm -rf '" .. dir .. "'")
print("OK")
