-- al.plot: figures as SVG and PNG through gnuplot, run as a child process on a generated script.
--
--   al.plot{ file = "figures/loss", kind = "line", title = "SFT loss", xlabel = "step",
--            ylabel = "loss", logy = true,
--            series = { { name = "seed 1", x = { 1, 2, 3 }, y = { 3.1, 2.5, 2.2 },
--                         sd = { 0.1, 0.1, 0.2 } }, ... } }
--   al.plot.scatter{ file = "figures/frontier", data = rows, x = "kl", y = "reward", by = "method" }
--   al.plot.bars{ file = "figures/evals", series = { { name = "SFT", x = { "helpful", "harmless" },
--                                                      y = { 0.6, 0.7 } } } }
--   -> { "figures/loss.svg", "figures/loss.png" }
--
-- Options (unknown keys are errors):
--   file (required, without extension), kind = "line" | "scatter" | "bars" (default "line"),
--   title, xlabel, ylabel, logx, logy, xrange = { lo, hi }, yrange = { lo, hi },
--   key = "top right" | "bottom left" | ... | false, width = 800, height = 500,
--   formats = { "svg", "png" }, enhanced = false (gnuplot text markup), keep_script = false
--   (also writes FILE.gp), and either
--   series = { { name, x, y, sd | lo, hi, smooth }, ... }  (x defaults to 1..#y; sd draws a
--     band for lines and error bars for scatter and bars; lo/hi draw an explicit band; smooth = w
--     in [0, 1) draws the raw line faintly under its debiased EMA), or
--   data = rows, x = "field", y = "field", by = "field" (one series per value), sd = "field".
--
-- Security: every user string (title, labels, series names, file names) is written as a
-- single-quoted gnuplot string with quotes doubled and control characters replaced, so it can
-- never end the string or the command; data are formatted numbers only. Nothing is sent to a
-- shell except the script's and gnuplot's paths, quoted.
local core = require "al.core"
local util = require "al.util"

local M = {}

local PALETTE = { "1f77b4", "ff7f0e", "2ca02c", "d62728", "9467bd", "8c564b", "e377c2",
                  "7f7f7f", "bcbd22", "17becf" }

local KNOWN = { file = 1, kind = 1, title = 1, xlabel = 1, ylabel = 1, logx = 1, logy = 1,
                series = 1, data = 1, x = 1, y = 1, by = 1, sd = 1, formats = 1, width = 1,
                height = 1, xrange = 1, yrange = 1, key = 1, enhanced = 1, keep_script = 1 }
local SERIES_KNOWN = { name = 1, x = 1, y = 1, sd = 1, lo = 1, hi = 1, smooth = 1 }
local KEY_WORDS = { top = 1, bottom = 1, left = 1, right = 1, center = 1, inside = 1,
                    outside = 1, above = 1, below = 1, box = 1, horizontal = 1, vertical = 1 }

local function fail(msg, ...)
  error("al.plot: " .. string.format(msg, ...), 0)
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = tostring(k) end
  table.sort(ks)
  return table.concat(ks, ", ")
end

local function check_keys(t, known, what)
  for k in pairs(t) do
    if not known[k] then
      fail("unknown %s '%s' (known: %s)", what, tostring(k), sorted_keys(known))
    end
  end
end

-- A gnuplot single-quoted string: no escapes are interpreted inside, '' is a quote.
local function q(s)
  s = tostring(s):gsub("%c", " "):gsub("'", "''")
  return "'" .. s .. "'"
end
M.quote = q

-- A POSIX shell single-quoted word.
local shq = util.shell_quote

local function num(v, what)
  if type(v) ~= "number" then fail("%s must be a number (got %s)", what, type(v)) end
  if v ~= v or v == math.huge or v == -math.huge then return "NaN" end
  if math.type(v) == "integer" then return string.format("%d", v) end
  return string.format("%.17g", v)
end

local function is_list(t)
  return type(t) == "table"
end

-- ---- series from the spec ------------------------------------------------------------------------

local function series_from_rows(spec)
  local rows, xf, yf, by, sdf = spec.data, spec.x, spec.y, spec.by, spec.sd
  if type(rows) ~= "table" then fail("data must be a list of rows") end
  if type(xf) ~= "string" or type(yf) ~= "string" then
    fail("with data = rows, x and y must name fields (strings)")
  end
  if by ~= nil and type(by) ~= "string" then fail("by must name a field (string)") end
  if sdf ~= nil and type(sdf) ~= "string" then fail("sd must name a field (string)") end
  local order, groups = {}, {}
  for i, r in ipairs(rows) do
    if type(r) ~= "table" then fail("data[%d] is not a table", i) end
    local g = by and tostring(r[by]) or yf
    if not groups[g] then
      groups[g] = { name = g, x = {}, y = {}, sd = sdf and {} or nil }
      order[#order + 1] = g
    end
    local s = groups[g]
    if r[xf] == nil or r[yf] == nil then fail("data[%d] has no field '%s' or '%s'", i, xf, yf) end
    s.x[#s.x + 1] = r[xf]
    s.y[#s.y + 1] = r[yf]
    if sdf then s.sd[#s.sd + 1] = r[sdf] or 0 end
  end
  local out = {}
  for _, g in ipairs(order) do
    local s = groups[g]
    if spec.kind == "line" and type(s.x[1]) == "number" then -- lines go left to right
      local idx = {}
      for i = 1, #s.x do idx[i] = i end
      table.sort(idx, function(a, b) return s.x[a] < s.x[b] end)
      local function perm(t)
        if not t then return nil end
        local r = {}
        for i, j in ipairs(idx) do r[i] = t[j] end
        return r
      end
      s = { name = s.name, x = perm(s.x), y = perm(s.y), sd = perm(s.sd) }
    end
    out[#out + 1] = s
  end
  return out
end

local function check_series(list, kind)
  if type(list) ~= "table" or #list == 0 then fail("series must be a non-empty list") end
  for i, s in ipairs(list) do
    if type(s) ~= "table" then fail("series[%d] must be a table", i) end
    check_keys(s, SERIES_KNOWN, "series field")
    local label = s.name and ("'" .. tostring(s.name) .. "'") or tostring(i)
    if not is_list(s.y) or #s.y == 0 then fail("series %s has no y values", label) end
    if s.x ~= nil and (not is_list(s.x) or #s.x ~= #s.y) then
      fail("series %s: x has %s values, y has %d", label, is_list(s.x) and #s.x or "no", #s.y)
    end
    for _, f in ipairs { "sd", "lo", "hi" } do
      if s[f] ~= nil and (not is_list(s[f]) or #s[f] ~= #s.y) then
        fail("series %s: %s must have as many values as y (%d)", label, f, #s.y)
      end
    end
    if (s.lo == nil) ~= (s.hi == nil) then fail("series %s: lo and hi go together", label) end
    if s.smooth ~= nil and (type(s.smooth) ~= "number" or s.smooth < 0 or s.smooth >= 1) then
      fail("series %s: smooth must be a number in [0, 1)", label)
    end
    if kind ~= "bars" and s.x then
      for j, v in ipairs(s.x) do num(v, ("series %s x[%d]"):format(label, j)) end
    end
  end
end

-- TensorBoard-style debiased EMA: s_t = w s_{t-1} + (1-w) x_t, shown as s_t / (1 - w^t).
local function ema(y, w)
  local out, s, t = {}, 0, 0
  for i, v in ipairs(y) do
    if v == v and v ~= math.huge and v ~= -math.huge then
      t = t + 1
      s = w * s + (1 - w) * v
      out[i] = s / (1 - w ^ t)
    else
      out[i] = v
    end
  end
  return out
end

-- ---- the gnuplot script ------------------------------------------------------------------------------

local function datablock(lines, name, cols)
  lines[#lines + 1] = name .. " << EOD"
  local n = #cols[1]
  for i = 1, n do
    local row = {}
    for c = 1, #cols do row[c] = cols[c][i] end
    lines[#lines + 1] = table.concat(row, " ")
  end
  lines[#lines + 1] = "EOD"
end

local function colour(i, alpha)
  return ("lc rgb '#%s%s'"):format(alpha or "", PALETTE[(i - 1) % #PALETTE + 1])
end

-- Lines and scatter: one datablock per series; returns the plot clauses.
local function xy_plot(lines, series, kind)
  local clauses = {}
  for i, s in ipairs(series) do
    local label = s.name and ("series '" .. tostring(s.name) .. "'") or ("series " .. i)
    local cols = { {}, {} }
    for j = 1, #s.y do
      cols[1][j] = s.x and num(s.x[j], label .. " x") or tostring(j)
      cols[2][j] = num(s.y[j], ("%s y[%d]"):format(label, j))
    end
    local c_sd, c_lo, c_hi, c_sm
    if s.sd then
      cols[#cols + 1] = {}
      c_sd = #cols
      for j = 1, #s.y do cols[c_sd][j] = num(s.sd[j], ("%s sd[%d]"):format(label, j)) end
    end
    if s.lo then
      cols[#cols + 1], cols[#cols + 2] = {}, {}
      c_lo, c_hi = #cols - 1, #cols
      for j = 1, #s.y do
        cols[c_lo][j] = num(s.lo[j], ("%s lo[%d]"):format(label, j))
        cols[c_hi][j] = num(s.hi[j], ("%s hi[%d]"):format(label, j))
      end
    end
    if s.smooth and kind == "line" then
      cols[#cols + 1] = {}
      c_sm = #cols
      for j, v in ipairs(ema(s.y, s.smooth)) do cols[c_sm][j] = num(v, label) end
    end
    local d = "$d" .. i
    datablock(lines, d, cols)
    local title = s.name ~= nil and ("title " .. q(s.name)) or "notitle"
    if kind == "line" then
      if c_sd then
        clauses[#clauses + 1] = ("%s using 1:($2-$%d):($2+$%d) with filledcurves "
          .. "fs transparent solid 0.2 noborder %s notitle"):format(d, c_sd, c_sd, colour(i))
      elseif c_lo then
        clauses[#clauses + 1] = ("%s using 1:%d:%d with filledcurves fs transparent solid 0.2 "
          .. "noborder %s notitle"):format(d, c_lo, c_hi, colour(i))
      end
      if c_sm then
        clauses[#clauses + 1] = ("%s using 1:2 with lines lw 1 %s notitle"):format(d, colour(i, "a0"))
        clauses[#clauses + 1] = ("%s using 1:%d with lines lw 2 %s %s"):format(d, c_sm, colour(i), title)
      else
        clauses[#clauses + 1] = ("%s using 1:2 with lines lw 2 %s %s"):format(d, colour(i), title)
      end
    else
      if c_sd then
        clauses[#clauses + 1] = ("%s using 1:2:%d with yerrorbars pt 7 ps 1.2 %s %s")
          :format(d, c_sd, colour(i), title)
      elseif c_lo then
        clauses[#clauses + 1] = ("%s using 1:2:%d:%d with yerrorbars pt 7 ps 1.2 %s %s")
          :format(d, c_lo, c_hi, colour(i), title)
      else
        clauses[#clauses + 1] = ("%s using 1:2 with points pt 7 ps 1.2 %s %s")
          :format(d, colour(i), title)
      end
    end
  end
  return clauses
end

-- Bars: categories (the x values, as labels) on the x axis, one bar per series in each.
local function bar_plot(lines, series)
  local cats, index = {}, {}
  for _, s in ipairs(series) do
    for j = 1, #s.y do
      local c = s.x and tostring(s.x[j]) or tostring(j)
      if not index[c] then
        cats[#cats + 1] = c
        index[c] = #cats
      end
    end
  end
  local any_sd = false
  for _, s in ipairs(series) do if s.sd then any_sd = true end end
  local cols = { {} }
  for k = 1, #cats do cols[1][k] = tostring(k - 1) end
  for i, s in ipairs(series) do
    local label = s.name and ("series '" .. tostring(s.name) .. "'") or ("series " .. i)
    local y, sd = {}, {}
    for k = 1, #cats do y[k], sd[k] = "NaN", "0" end
    for j = 1, #s.y do
      local k = index[s.x and tostring(s.x[j]) or tostring(j)]
      y[k] = num(s.y[j], ("%s y[%d]"):format(label, j))
      if s.sd then sd[k] = num(s.sd[j], ("%s sd[%d]"):format(label, j)) end
    end
    cols[#cols + 1] = y
    if any_sd then cols[#cols + 1] = sd end
  end
  datablock(lines, "$bars", cols)
  lines[#lines + 1] = "set style data histogram"
  lines[#lines + 1] = any_sd and "set style histogram errorbars gap 1 lw 1"
    or "set style histogram clustered gap 1"
  lines[#lines + 1] = "set style fill solid 0.85 border -1"
  local tics = {}
  for k, c in ipairs(cats) do tics[k] = ("%s %d"):format(q(c), k - 1) end
  lines[#lines + 1] = "set xtics (" .. table.concat(tics, ", ") .. ")"
  local clauses = {}
  for i, s in ipairs(series) do
    local title = s.name ~= nil and ("title " .. q(s.name)) or "notitle"
    local using = any_sd and ("%d:%d"):format(2 * i, 2 * i + 1) or tostring(i + 1)
    clauses[i] = ("%s using %s %s %s"):format(i == 1 and "$bars" or "''", using, colour(i), title)
  end
  return clauses
end

local function range(r, what)
  if r == nil then return nil end
  if type(r) ~= "table" or #r ~= 2 then fail("%s must be { lo, hi }", what) end
  local lo = r[1] == "*" and "*" or num(r[1], what)
  local hi = r[2] == "*" and "*" or num(r[2], what)
  return ("[%s:%s]"):format(lo, hi)
end

-- The gnuplot script for spec (validated), writing to base.<format> for each format.
local function script(spec, series, base, formats)
  local lines = { "reset" }
  local clauses = spec.kind == "bars" and bar_plot(lines, series) or xy_plot(lines, series, spec.kind)
  if spec.title ~= nil then lines[#lines + 1] = "set title " .. q(spec.title) end
  if spec.xlabel ~= nil then lines[#lines + 1] = "set xlabel " .. q(spec.xlabel) end
  if spec.ylabel ~= nil then lines[#lines + 1] = "set ylabel " .. q(spec.ylabel) end
  if spec.logx then lines[#lines + 1] = "set logscale x" end
  if spec.logy then lines[#lines + 1] = "set logscale y" end
  local xr, yr = range(spec.xrange, "xrange"), range(spec.yrange, "yrange")
  if xr then lines[#lines + 1] = "set xrange " .. xr end
  if yr then
    lines[#lines + 1] = "set yrange " .. yr
  elseif spec.kind == "bars" and not spec.logy then -- bars start at zero
    local neg = false
    for _, s in ipairs(series) do
      for _, v in ipairs(s.y) do if type(v) == "number" and v < 0 then neg = true end end
    end
    lines[#lines + 1] = neg and "set yrange [*:*]" or "set yrange [0:*]"
  end
  if spec.key == false then
    lines[#lines + 1] = "set key off"
  elseif spec.key ~= nil then
    if type(spec.key) ~= "string" then fail("key must be a string of positions or false") end
    for w in spec.key:gmatch("%S+") do
      if not KEY_WORDS[w] then fail("key: unknown position '%s' (known: %s)", w, sorted_keys(KEY_WORDS)) end
    end
    lines[#lines + 1] = "set key " .. spec.key
  else
    lines[#lines + 1] = "set key top right"
  end
  if spec.kind == "scatter" and not xr and not yr then -- keep points off the border
    lines[#lines + 1] = "set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05"
  end
  lines[#lines + 1] = "set grid back lc rgb '#dddddd'"
  lines[#lines + 1] = "set border lc rgb '#555555'"
  local w, h = spec.width or 800, spec.height or 500
  if math.type(w) ~= "integer" or math.type(h) ~= "integer" or w < 50 or h < 50 or w > 10000
      or h > 10000 then
    fail("width and height must be integers in [50, 10000]")
  end
  local enh = spec.enhanced and "enhanced" or "noenhanced"
  local plot = "plot " .. table.concat(clauses, ", \\\n     ")
  for _, f in ipairs(formats) do
    if f == "svg" then
      lines[#lines + 1] = ("set terminal svg size %d,%d dynamic %s background rgb 'white' "
        .. "font 'sans,11'"):format(w, h, enh)
    else
      lines[#lines + 1] = ("set terminal pngcairo size %d,%d %s background rgb 'white' "
        .. "font 'sans,10'"):format(w, h, enh)
    end
    lines[#lines + 1] = "set output " .. q(base .. "." .. f)
    lines[#lines + 1] = plot
    lines[#lines + 1] = "unset output"
  end
  return table.concat(lines, "\n") .. "\n"
end

-- ---- running gnuplot -----------------------------------------------------------------------------------

local function gnuplot_binary()
  local gp = os.getenv("ALIGNLAB_GNUPLOT")
  if gp == nil or gp == "" then gp = "gnuplot" end
  local ok = os.execute("command -v " .. shq(gp) .. " >/dev/null 2>&1")
  if not ok then
    fail("gnuplot not found (looked for %s on PATH); install the Debian package gnuplot-nox "
      .. "(make deps) or set ALIGNLAB_GNUPLOT", gp)
  end
  return gp
end

local function write_all(path, s)
  local f, err = io.open(path, "wb")
  if not f then fail("cannot write %s: %s", path, err) end
  f:write(s)
  f:close()
end

-- Draw spec; returns the list of files written.
function M.draw(spec)
  if type(spec) ~= "table" then fail("expects a table of options") end
  check_keys(spec, KNOWN, "option")
  if type(spec.file) ~= "string" or spec.file == "" then fail("file (a path without extension) is required") end
  if spec.file:find("%c") then fail("file must not contain control characters") end
  local kind = spec.kind or "line"
  if kind ~= "line" and kind ~= "scatter" and kind ~= "bars" then
    fail("kind must be 'line', 'scatter' or 'bars' (got %s)", tostring(kind))
  end
  local formats = spec.formats or { "svg", "png" }
  if type(formats) ~= "table" or #formats == 0 then fail("formats must be a list of 'svg' / 'png'") end
  for _, f in ipairs(formats) do
    if f ~= "svg" and f ~= "png" then fail("unknown format '%s' (known: png, svg)", tostring(f)) end
  end
  local s2 = {}
  for k, v in pairs(spec) do s2[k] = v end
  s2.kind = kind
  local series
  if spec.data ~= nil then
    if spec.series ~= nil then fail("give either series or data, not both") end
    series = series_from_rows(s2)
  else
    if spec.x ~= nil or spec.y ~= nil or spec.by ~= nil or spec.sd ~= nil then
      fail("x, y, by and sd name fields of data rows; put arrays inside series")
    end
    series = spec.series
  end
  check_series(series, kind)

  -- A relative name cannot start with '|' (gnuplot would run it as a command).
  local base = spec.file
  if base:sub(1, 1) ~= "/" then base = "./" .. base end
  local dir = base:match("^(.*)/[^/]*$")
  if dir and dir ~= "" and dir ~= "." then core.mkdir_p(dir) end

  local text = script(s2, series, base, formats)
  local gp = gnuplot_binary()
  local files = {}
  for i, f in ipairs(formats) do
    files[i] = spec.file .. "." .. f
    os.remove(base .. "." .. f) -- a failed run must not leave an old figure behind
  end
  if spec.keep_script then write_all(base .. ".gp", text) end
  local sfile, efile = os.tmpname(), os.tmpname()
  write_all(sfile, text)
  local ok, how, code = os.execute(shq(gp) .. " " .. shq(sfile) .. " 2>" .. shq(efile))
  local errtext = util.read_file(efile) or ""
  os.remove(sfile)
  os.remove(efile)
  if not ok then
    for _, f in ipairs(formats) do os.remove(base .. "." .. f) end -- partial (empty) outputs
    fail("gnuplot failed (%s %s): %s", tostring(how), tostring(code),
      errtext:gsub("%s+$", ""):sub(1, 2000))
  end
  for i, f in ipairs(formats) do
    local body = util.read_file(base .. "." .. f)
    if not body or #body == 0 then
      for _, g in ipairs(formats) do os.remove(base .. "." .. g) end
      fail("gnuplot wrote no %s output to %s: %s", f, files[i], errtext:gsub("%s+$", ""):sub(1, 2000))
    end
  end
  if errtext:find("%S") then -- warnings (e.g. no valid points on a log axis)
    io.stderr:write("al.plot: gnuplot: ", errtext:gsub("%s+$", ""), "\n")
  end
  return files
end

local function with_kind(kind)
  return function(spec)
    if type(spec) ~= "table" then fail("expects a table of options") end
    local s = {}
    for k, v in pairs(spec) do s[k] = v end
    s.kind = kind
    return M.draw(s)
  end
end

M.line = with_kind("line")
M.scatter = with_kind("scatter")
M.bars = with_kind("bars")
M.script = function(spec) -- the gnuplot script al.plot would run (for inspection and tests)
  local s = {}
  for k, v in pairs(spec) do s[k] = v end
  s.kind = s.kind or "line"
  local series = s.data ~= nil and series_from_rows(s) or s.series
  check_series(series, s.kind)
  return script(s, series, "./" .. (s.file or "plot"), s.formats or { "svg", "png" })
end

return setmetatable(M, { __call = function(_, spec) return M.draw(spec) end })
