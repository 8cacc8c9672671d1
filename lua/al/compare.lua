-- alignlab reproduce --compare [DIR]: diff a fresh run's results against the committed ones.
-- Reads every NAME.json in the reference directory (figures/, or DIR) and in the fresh run's
-- directory ($ALIGNLAB_OUT, or build/compare), and prints per experiment: whether the verdict
-- changed, whether the machine differs (CPU, ISA, OpenBLAS kernel, threads, jobs), and which judged
-- numbers moved, by how much and by how many seed spreads. It reruns nothing: make the fresh run
-- with `ALIGNLAB_OUT=build/compare alignlab reproduce`. The spread of a judged number is the `sd`
-- or `spread` stored next to it, or else the standard deviation over seeds of the number with the
-- same key in per_seed; numbers without either are reported by their change alone.
local util = require "al.util"
local core = require "al.core"

local M = {}

-- leaves of a JSON value: { path = "a.b[2]", value = v, parent = table, key = k }
local function leaves(v, path, parent, key, out)
  if type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b)
      if type(a) == type(b) then return a < b end
      return type(a) == "number"
    end)
    for _, k in ipairs(keys) do
      local p = type(k) == "number" and string.format("%s[%d]", path, k) or (path == "" and k or path .. "." .. k)
      leaves(v[k], p, v, k, out)
    end
  else
    out[#out + 1] = { path = path, value = v, parent = parent, key = key }
  end
  return out
end

local function sd(xs)
  if #xs < 2 then return nil end
  local m = 0
  for _, x in ipairs(xs) do m = m + x end
  m = m / #xs
  local s = 0
  for _, x in ipairs(xs) do s = s + (x - m) ^ 2 end
  return math.sqrt(s / (#xs - 1))
end

-- the value at a dotted path inside t (nil when absent)
local function at(t, path)
  for part in path:gmatch("[^.]+") do
    if type(t) ~= "table" then return nil end
    t = t[part]
  end
  return t
end

-- The spread over seeds of judged number `lf` in result r (nil when unknown).
local function spread_of(lf, r)
  local p = lf.parent
  if type(p) == "table" then
    if type(lf.key) == "number" and type(p) == "table" then return nil end -- inside an array: see below
    if lf.key ~= "sd" and lf.key ~= "spread" then
      if type(p.sd) == "number" then return p.sd end
      if type(p.spread) == "number" then return p.spread end
    end
  end
  if type(r.per_seed) == "table" and #r.per_seed >= 2 then
    -- the same path inside each per-seed record, or the same last key at its top level
    local xs = {}
    for _, s in ipairs(r.per_seed) do
      local x = type(s) == "table" and (at(s, lf.path) or s[lf.key]) or nil
      if type(x) == "number" then xs[#xs + 1] = x end
    end
    if #xs == #r.per_seed then return sd(xs) end
  end
  return nil
end

local function machine_line(m)
  if type(m) ~= "table" then return "not recorded" end
  return string.format("%s, %s, OpenBLAS %s, %s BLAS thread(s), %s job(s)", tostring(m.cpu), tostring(m.isa),
    tostring(m.blas_core), tostring(m.blas_threads), tostring(m.jobs or "?"))
end

local function num(x)
  if math.type(x) == "integer" then return tostring(x) end
  return string.format("%.4g", x)
end

-- Compare one experiment; returns its report lines and whether its verdict changed.
function M.one(name, ref, new)
  local lines = {}
  local changed = ref.verdict ~= new.verdict
  lines[#lines + 1] = string.format("== %s: verdict %s%s", name,
    changed and (tostring(ref.verdict) .. " -> " .. tostring(new.verdict) .. "  ** CHANGED **") or
    (tostring(new.verdict) .. " (unchanged)"), (ref.smoke or new.smoke) and
    string.format("  [smoke: committed %s, fresh %s]", tostring(ref.smoke), tostring(new.smoke)) or "")
  local mr, mn = machine_line(ref.machine), machine_line(new.machine)
  if mr == mn then
    lines[#lines + 1] = "   machine: the same (" .. mn .. ")"
  else
    lines[#lines + 1] = "   machine DIFFERS: committed " .. mr
    lines[#lines + 1] = "                    fresh     " .. mn
  end
  local old = {}
  for _, lf in ipairs(leaves(ref.judged or {}, "", nil, nil, {})) do old[lf.path] = lf end
  local moved, total, seen = 0, 0, {}
  for _, lf in ipairs(leaves(new.judged or {}, "", nil, nil, {})) do
    seen[lf.path] = true
    total = total + 1
    local o = old[lf.path]
    if not o then
      lines[#lines + 1] = string.format("   new       %s = %s", lf.path, tostring(lf.value))
    elseif o.value ~= lf.value then
      moved = moved + 1
      if type(o.value) == "number" and type(lf.value) == "number" then
        local d = lf.value - o.value
        local s = spread_of(o, ref)
        lines[#lines + 1] = string.format("   moved     %s: %s -> %s (%s%s%s)", lf.path, num(o.value), num(lf.value),
          d >= 0 and "+" or "", num(d), s and s > 0 and string.format(", %.2f x its spread over seeds %s", math.abs(d) / s,
          num(s)) or ", no spread over seeds recorded")
      else
        lines[#lines + 1] = string.format("   changed   %s: %s -> %s", lf.path, tostring(o.value), tostring(lf.value))
      end
    end
  end
  for p, o in pairs(old) do
    if not seen[p] then lines[#lines + 1] = string.format("   gone      %s (was %s)", p, tostring(o.value)) end
  end
  lines[#lines + 1] = string.format("   %d of %d judged numbers moved", moved, total)
  return lines, changed
end

-- Compare every experiment of ref_dir with new_dir; prints the report. Returns the number of
-- experiments compared and of verdicts changed.
function M.dirs(ref_dir, new_dir, print_fn)
  print_fn = print_fn or print
  local names = {}
  for _, f in ipairs(util.listdir(ref_dir, "%.json$")) do names[#names + 1] = (f:gsub("%.json$", "")) end
  table.sort(names)
  local compared, changed, missing = 0, 0, {}
  print_fn(string.format("comparing %s (committed) with %s (fresh)", ref_dir, new_dir))
  for _, n in ipairs(names) do
    local ok, ref = pcall(core.json.read, ref_dir .. "/" .. n .. ".json")
    if ok and type(ref) == "table" and ref.verdict then
      local path = new_dir .. "/" .. n .. ".json"
      if util.file_exists(path) then
        local new = core.json.read(path)
        local lines, c = M.one(n, ref, new)
        for _, l in ipairs(lines) do print_fn(l) end
        compared = compared + 1
        if c then changed = changed + 1 end
      else
        missing[#missing + 1] = n
      end
    end
  end
  if #missing > 0 then print_fn("not in the fresh run: " .. table.concat(missing, ", ")) end
  print_fn(string.format("compare: %d experiment(s) compared, %d verdict(s) changed", compared, changed))
  return compared, changed
end

return M
