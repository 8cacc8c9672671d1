-- alignlab: sweeps. al.sweep{ grid = {...} | points = {...}, run = function(point, dir) ... end,
-- out = DIR, jobs = N } runs each point of a grid (or list) once, each in its own directory
-- OUT/NNN-name/ with a JSONL log (log.jsonl) and a completion marker (done.json, written
-- atomically last), and gathers OUT/summary.json and OUT/summary.md. `alignlab sweep FILE.lua
-- [args]` runs FILE (which calls al.sweep, or returns the options table) the same way.
--
-- Order: grid keys sorted by name, the first key varying slowest; points = {...} as given.
-- Split: under MPI (al.mpi.size() > 1) point i (1-based) runs on rank (i-1) % size; else under a
-- Slurm job array on task (i-1) % SLURM_ARRAY_TASK_COUNT; else locally, `jobs` at a time as child
-- processes (the same command line with ALIGNLAB_SWEEP_POINT=i, one BLAS thread each).
-- Resume: a point whose done.json exists is skipped. A failing point is recorded (error.json, the
-- log, the summary) and the others go on; the sweep then fails: `alignlab sweep` exits 1 and
-- al.sweep raises, naming the failed points. run's return value (a table of numbers or strings)
-- is the point's result in the summary. Writing is per point: every rank writes only its
-- points' directories; rank 0 writes the summary after a barrier. Leaves what a point does (and
-- a plot of the summary) to the caller.
local core = require "al.core"
local mpi = require "al.mpi"
local util = require "al.util"

local M = {}
local json = core.json
local command -- the command line that reruns this sweep (set by main; else from `arg`)

-- ---- points ----

local function expand(grid)
  local keys = {}
  for k, v in pairs(grid) do
    if type(v) ~= "table" or #v == 0 then
      error(("al.sweep: grid.%s must be a non-empty array of values"):format(tostring(k)), 0)
    end
    keys[#keys + 1] = k
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local points = { {} }
  for _, k in ipairs(keys) do
    local nxt = {}
    for _, p in ipairs(points) do
      for _, v in ipairs(grid[k]) do
        local q = util.copy(p)
        q[k] = v
        nxt[#nxt + 1] = q
      end
    end
    points = nxt
  end
  return points
end

-- "lr=0.01,seed=2" for a table point (keys sorted), tostring otherwise
local function label(point)
  if type(point) ~= "table" then return tostring(point) end
  local keys = {}
  for k in pairs(point) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. tostring(point[k]) end
  return table.concat(parts, ",")
end

local function dirname(i, point)
  local slug = label(point):gsub("[^%w%.%-_=,]", "_"):sub(1, 60)
  return string.format("%03d-%s", i, slug)
end

-- ---- running one point ----

local function write_json(path, v) util.write_file(path, json.encode(v) .. "\n") end

local function read_json(path)
  local s = util.read_file(path)
  if not s then return nil end
  local ok, v = pcall(json.decode, s)
  return ok and v or nil
end

local function log(dir, rec)
  local f = assert(io.open(dir .. "/log.jsonl", "a"))
  f:write(json.encode(rec), "\n")
  f:close()
end

-- Run point i in this process; returns true, or false and the message.
local function run_point(spec, i, point, dir)
  util.mkdir_p(dir)
  os.remove(dir .. "/error.json")
  log(dir, { event = "start", index = i, point = point, rank = mpi.rank(), time = os.time() })
  local t0 = core.time and core.time() or os.clock()
  local ok, res = xpcall(spec.run, function(e) return tostring(e) end, point, dir)
  local secs = (core.time and core.time() or os.clock()) - t0
  if ok then
    if res ~= nil and not pcall(json.encode, res) then res = tostring(res) end
    log(dir, { event = "done", index = i, seconds = secs, result = res })
    write_json(dir .. "/done.json", { index = i, point = point, result = res }) -- the marker, last
    return true
  end
  if res:find("interrupted", 1, true) then error(res, 0) end -- Ctrl-C stops the sweep
  local msg = ("point %d (%s): %s"):format(i, label(point), res)
  log(dir, { event = "error", index = i, seconds = secs, error = msg })
  write_json(dir .. "/error.json", { index = i, point = point, error = msg })
  io.stderr:write("al.sweep: ", msg, "\n")
  return false, msg
end

-- The command line that reruns this sweep, or nil when there is none (-e, REPL).
local function rerun_command()
  if command then return command end
  if type(arg) ~= "table" or not arg[0] then return nil end
  local parts = { util.shell_quote(core.exe()), util.shell_quote(arg[0]) }
  for i = 1, #arg do parts[#parts + 1] = util.shell_quote(arg[i]) end
  return table.concat(parts, " ")
end

-- Run the indices `todo` as child processes, jobs at a time.
local function run_children(todo, jobs, threads)
  local cmd = rerun_command()
  local list = os.tmpname()
  local f = assert(io.open(list, "w"))
  for _, i in ipairs(todo) do f:write(i, "\n") end
  f:close()
  local runner = ('ALIGNLAB_SWEEP_POINT="$1" OPENBLAS_NUM_THREADS=%d %s'):format(threads, cmd)
  os.execute(("xargs -P %d -I{} sh -c %s sh {} < %s"):format(jobs, util.shell_quote(runner),
                                                             util.shell_quote(list)))
  os.remove(list)
end

-- ---- the summary ----

local function cell(v)
  return (tostring(v == nil and "" or v):gsub("|", "\\|"):gsub("\n", " "))
end

local function summarise(spec, points)
  local rows, failed, rkeys, seen = {}, {}, {}, {}
  for i, p in ipairs(points) do
    local dir = spec.out .. "/" .. dirname(i, p)
    local done, err = read_json(dir .. "/done.json"), read_json(dir .. "/error.json")
    local row = { index = i, name = dirname(i, p), point = p }
    if done then
      row.status, row.result = "done", done.result
      if type(done.result) == "table" then
        for k in pairs(done.result) do
          if not seen[k] then seen[k] = true; rkeys[#rkeys + 1] = k end
        end
      end
    elseif err then
      row.status, row.error = "error", err.error
      failed[#failed + 1] = err.error
    else
      row.status = "pending"
    end
    rows[#rows + 1] = row
  end
  table.sort(rkeys, function(a, b) return tostring(a) < tostring(b) end)
  local md = { "| # | point | status | " .. table.concat(util.map(rkeys, cell), " | ") .. " |",
               "|---|---|---|" .. string.rep("---|", #rkeys) }
  for _, r in ipairs(rows) do
    local cells = { r.index, label(r.point), r.status }
    for _, k in ipairs(rkeys) do
      cells[#cells + 1] = type(r.result) == "table" and r.result[k] or ""
    end
    md[#md + 1] = "| " .. table.concat(util.map(cells, cell), " | ") .. " |"
  end
  for _, r in ipairs(rows) do
    if r.error then md[#md + 1] = "\n- " .. cell(r.error) end
  end
  write_json(spec.out .. "/summary.json", { points = rows, failed = #failed })
  util.write_file(spec.out .. "/summary.md", table.concat(md, "\n") .. "\n")
  return rows, failed
end

-- ---- al.sweep ----

local defaults = { grid = false, points = false, run = util.REQUIRED, out = util.REQUIRED,
                   jobs = 1, threads = 1 }

-- Run the sweep; returns the summary rows (see summary.json) and the number of failed points,
-- or raises after the summary when a point failed (opts.check ~= false).
function M.sweep(opts)
  local check = true
  if type(opts) == "table" and opts.check ~= nil then
    check = opts.check
    opts = util.copy(opts)
    opts.check = nil
  end
  local spec = util.opts("al.sweep", opts, defaults)
  if type(spec.run) ~= "function" then error("al.sweep: run must be a function(point, dir)", 2) end
  if not spec.grid == not spec.points then error("al.sweep: give grid or points (one of them)", 2) end
  local points = spec.points or expand(spec.grid)
  util.mkdir_p(spec.out)

  -- a child process started by run_children: one point, then exit
  local only = tonumber(os.getenv("ALIGNLAB_SWEEP_POINT") or "")
  if only then
    local p = points[only] or error("al.sweep: no point " .. only, 0)
    local ok = run_point(spec, only, p, spec.out .. "/" .. dirname(only, p))
    os.exit(ok and 0 or 1, true)
  end

  -- which points are ours
  local size, rank = mpi.size(), mpi.rank()
  local tid, tcount = tonumber(os.getenv("SLURM_ARRAY_TASK_ID") or ""),
                      tonumber(os.getenv("SLURM_ARRAY_TASK_COUNT") or "")
  if size == 1 and tid and tcount then
    rank = tid - (tonumber(os.getenv("SLURM_ARRAY_TASK_MIN") or "") or 0)
    size = tcount
  end
  local todo = {}
  for i, p in ipairs(points) do
    local dir = spec.out .. "/" .. dirname(i, p)
    if (i - 1) % size == rank and not util.file_exists(dir .. "/done.json") then
      todo[#todo + 1] = i
    end
  end

  local jobs = math.max(1, math.floor(spec.jobs))
  if jobs > 1 and #todo > 1 and mpi.size() == 1 and rerun_command() then
    run_children(todo, jobs, spec.threads)
  else
    for _, i in ipairs(todo) do
      run_point(spec, i, points[i], spec.out .. "/" .. dirname(i, points[i]))
    end
  end

  if mpi.size() > 1 then mpi.barrier() end
  local rows, failed
  if mpi.is_root() then rows, failed = summarise(spec, points) end
  if mpi.size() > 1 then rows, failed = mpi.bcast(rows, 0), mpi.bcast(failed, 0) end
  if check and #failed > 0 then
    error(("al.sweep: %d of %d points failed:\n  %s"):format(#failed, #points,
                                                              table.concat(failed, "\n  ")), 0)
  end
  return rows, #failed
end

-- `alignlab sweep FILE.lua [args]`: FILE calls al.sweep{...} or returns its options table.
function M.main(args)
  local file = args[1]
  if not file or file == "-h" or file == "--help" then
    print("usage: alignlab sweep FILE.lua [args]\n" ..
          "  FILE calls al.sweep{ grid = {...} | points = {...}, run = function(point, dir), out = DIR,\n" ..
          "  jobs = N } or returns that table. Under mpirun the points are split over ranks, under a\n" ..
          "  Slurm job array over tasks; finished points are skipped on rerun.")
    return file and 0 or 2
  end
  local parts = { util.shell_quote(core.exe()), "sweep" }
  for i = 1, #args do parts[#parts + 1] = util.shell_quote(args[i]) end
  command = table.concat(parts, " ")
  local rest = table.move(args, 2, #args, 1, {})
  _G.arg = table.move(args, 1, #args, 0, {}) -- arg[0] = FILE, as for a script
  local function fail(msg)
    if mpi.size() > 1 then mpi.abort(msg) end -- one rank's error stops every rank
    io.stderr:write("alignlab sweep: ", tostring(msg), "\n")
    return 1
  end
  local chunk, lerr = loadfile(file)
  if not chunk then return fail(lerr) end
  local ok, spec = xpcall(chunk, debug.traceback, table.unpack(rest))
  if not ok then return fail(spec) end
  if type(spec) ~= "table" then return 0 end -- FILE ran al.sweep itself
  spec = util.copy(spec)
  spec.check = false
  local ok2, _, nfailed = xpcall(M.sweep, debug.traceback, spec)
  if not ok2 then return fail(_) end
  if nfailed > 0 then
    if mpi.is_root() then io.stderr:write(("alignlab sweep: %d point(s) failed (see %s/summary.md)\n"):format(nfailed, spec.out)) end
    return 1
  end
  return 0
end

return setmetatable(M, { __call = function(_, opts) return M.sweep(opts) end })
