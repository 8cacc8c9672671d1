-- al.weave: literate notebooks. A notebook is Markdown with ```lua blocks; weaving runs the
-- blocks in order in one Lua environment, captures what each prints and the figures it draws
-- with al.plot, and writes one self-contained HTML page (CSS, KaTeX, fonts and figures inline;
-- nothing is fetched, the page works from file://). Expensive blocks are cached.
--
--   alignlab weave NOTEBOOK.md [-o OUT.html] [--check] [--force] [--keep-going] [--quiet]
--   alignlab weave --all DIR -o OUTDIR [--check] [--force] [--keep-going] [--quiet]
--
-- Block options, in the fence line: ```lua {echo=false, output=false, cache=true, eval=false,
-- error=true, caption="..."}: hide the code, hide the output, cache the block, do not run it,
-- allow it to fail (the error is shown, the weave still succeeds), a caption for its figures.
--
-- Environment: one table per notebook, __index = _G, with `al` preloaded and `show(...)`
-- (pretty-prints values). Globals persist from block to block; locals live in their block.
-- _G inside a notebook is the notebook's table, so nothing leaks into the weaver.
--
-- Cache (knitr's rule): block i has key_i = hash(version, key_{i-1}, code_i); blocks with
-- eval=false are not in the chain, and the presentation options (echo, output, caption, cache)
-- are not in the key, so toggling them re-renders without re-running. A cached block whose key
-- has an entry in OUTDIR/.cache/weave/NAME/KEY/ is not run: its output segments, figures and
-- the globals it created or changed are restored. Globals are stored when they are plain data
-- (numbers, strings, booleans, tables of those, shared references and cycles kept) or al.GPT
-- models (m:save / al.load; a model the block trained in place is copied back into the same
-- object). Anything else (functions, worlds and other objects with metatables) is not restored:
-- the page says so under the block, and a later block that needs it must recompute it (define
-- such things in uncached blocks). Side effects (files written, RNG streams advanced inside
-- objects) are not replayed either. --force ignores the cache; --check reads it but writes
-- nothing (no page, no cache, figures in a temporary directory).
--
-- The C helpers (al.core.markdown through md4c, base64, stdout capture) are in lua/l_weave.c.
-- This file is the public entry: the CLI, weaving one notebook or a folder, and the functions of
-- the parts re-exported. The parts, one concern each (arrows point one way, no circle):
--   init -> parse      the notebook's text -> front matter, prose and blocks
--   init -> run        runs the blocks in one environment; run -> cache (keys, store, restore)
--   init -> html       the page, cells, index; html -> highlight (escaping, Lua highlighting)
--   every part -> al.weave.util (paths, files, warnings)
local core = require "al.core"
local util = require "al.util"
local parse = require "al.weave.parse"
local highlight = require "al.weave.highlight"
local cache = require "al.weave.cache"
local Run = require "al.weave.run"
local render = require "al.weave.html"
local wutil = require "al.weave.util"

local esc = highlight.escape
local dirname, basename, stem, join = wutil.dirname, wutil.basename, wutil.stem, wutil.join
local now, rm_rf, is_dir, warn, slurp = wutil.now, wutil.rm_rf, wutil.is_dir, wutil.warn, wutil.slurp

local M = {}

-- the parts' public functions and constants, as al.weave has always offered them
M.parse_options, M.parse = parse.parse_options, parse.parse
M.escape, M.highlight = highlight.escape, highlight.highlight
M.CACHE_VERSION, M.is_model, M.keys = cache.CACHE_VERSION, cache.is_model, cache.keys
M.MAX_OUTPUT = Run.MAX_OUTPUT
M.katex, M.page, M.fix_prose, M.index = render.katex, render.page, render.fix_prose, render.index

-- ---- weaving one notebook ----------------------------------------------------------------------

-- Resolve a paper reference ("dpo", "papers/dpo.md", "../papers/dpo.md") to a source path.
local function paper_source(ref, nbdir)
  local cands = {}
  if ref:match("%.md$") then
    cands[#cands + 1] = join(nbdir, ref)
    cands[#cands + 1] = ref
  else
    cands[#cands + 1] = join(nbdir, "../papers/" .. ref .. ".md")
    cands[#cands + 1] = "papers/" .. ref .. ".md"
  end
  for _, c in ipairs(cands) do
    if util.file_exists(c) then return c end
  end
  return nil
end

-- Render a paper note (plain Markdown, nothing executed) into OUTDIR/papers/NAME.html.
local function write_paper(src, outdir, site)
  local text = slurp(src)
  local doc = M.parse(text, src)
  local body = {}
  for _, p in ipairs(doc.pieces) do
    if p.kind == "md" then body[#body + 1] = core.markdown(p.text)
    else
      body[#body + 1] = '<pre><code class="language-lua">' .. M.highlight(p.code) .. "</code></pre>"
    end
  end
  local nav = {}
  if site then nav[#nav + 1] = '<a href="../index.html">alignlab notes</a>' end
  nav[#nav + 1] = "<span>paper note " .. esc(src:match("papers/.*$") or src) .. "</span>"
  local html = M.page{ title = doc.front.title or stem(src), body = table.concat(body, "\n"), nav = nav,
                       footer = "rendered by alignlab weave from " .. esc(src:match("papers/.*$") or src) }
  core.mkdir_p(outdir .. "/papers")
  util.write_file(outdir .. "/papers/" .. stem(src) .. ".html", html)
end

-- Weave one notebook. opts: out (page path; nil with check), check, force, keep_going, quiet,
-- site (part of a --all site: link to index.html). Returns a summary table:
-- { ok, errors, blocks, ran, cached, title, out, html }.
function M.weave(path, opts)
  opts = opts or {}
  local text = slurp(path)
  local doc = M.parse(text, path)
  M.keys(doc.blocks)
  local name = stem(path)
  local out = opts.out
  local outdir = out and dirname(out) or "."
  local run = Run.new{
    path = path, name = name, env = Run.env(path), check = opts.check, force = opts.force,
    keep_going = opts.keep_going, quiet = opts.quiet,
    cachedir = join(outdir, ".cache/weave/" .. name),
  }
  local tmpfig
  if opts.check or not out then
    tmpfig = os.tmpname()
    os.remove(tmpfig)
    run.figdir = tmpfig
  else
    run.figdir = join(outdir, name .. "_files")
  end
  if not opts.check and out then
    rm_rf(run.figdir) -- figures of this run only
  end
  local t0 = now()
  run:hook_plot()
  local results = {}
  local ok, err = pcall(function()
    for i, b in ipairs(doc.blocks) do
      if not opts.quiet then
        io.stderr:write(("weave: %s: block %d/%d (line %d)"):format(path, i, #doc.blocks, b.line))
        io.stderr:flush()
      end
      local r = run:run_block(b)
      results[b] = r
      if not opts.quiet then
        io.stderr:write(r.skipped and " eval=false\n" or r.not_run and " not run\n" or
          r.cached and " cached\n" or r.error and (" failed" .. (b.opts.error and " (allowed)\n" or "\n"))
          or (" %.2f s\n"):format(r.elapsed or 0))
      end
      if r.lost and #r.lost > 0 and not r.cached then
        warn(opts.quiet, "%s:%d: not restorable from the cache (not plain data): %s", path, b.line,
          table.concat(r.lost, ", "))
      end
    end
  end)
  if run.cap then run:capture_stop() end
  run:unhook_plot()
  if not ok then
    if tmpfig then rm_rf(tmpfig) end
    error(err, 0)
  end
  -- papers: the front matter's, else papers/NAME.md when it exists
  local nbdir = dirname(path)
  local papers, paper_href = {}, {}
  local function paper_for(src)
    local real = src:gsub("/%./", "/")
    if not real:match("papers/[^/]+%.md$") or not util.file_exists(real) then return nil end
    if not paper_href[real] then
      papers[#papers + 1] = real
      paper_href[real] = "papers/" .. stem(real) .. ".html"
    end
    return paper_href[real]
  end
  local declared = {}
  if doc.front.paper then
    for ref in doc.front.paper:gmatch("[^,%s]+") do
      local src = paper_source(ref, nbdir)
      if src then declared[#declared + 1] = src; paper_for(src)
      else warn(opts.quiet, "%s: paper note '%s' not found", path, ref) end
    end
  else
    local src = paper_source(name, nbdir)
    if src then declared[#declared + 1] = src; paper_for(src) end
  end
  -- the body: the prose rendered once with placeholders for the blocks
  local md, marks = {}, {}
  for _, p in ipairs(doc.pieces) do
    if p.kind == "md" then md[#md + 1] = p.text
    else
      local mark = ("<!--al-weave-block-%d-->"):format(p.index)
      marks[p.index] = mark
      md[#md + 1] = "\n" .. mark .. "\n\n"
    end
  end
  local ctx = { dir = nbdir, path = path, quiet = opts.quiet, paper_for = paper_for }
  local html = M.fix_prose(core.markdown(table.concat(md)), ctx)
  local nfig = { 0 }
  for _, b in ipairs(doc.blocks) do
    local piece = render.render_block(results[b], nfig, Run.MAX_OUTPUT)
    local s, e = html:find(marks[b.index], 1, true)
    if s then html = html:sub(1, s - 1) .. piece .. html:sub(e + 1) end
  end
  local nav = {}
  if opts.site then nav[#nav + 1] = '<a href="index.html">alignlab notes</a>' end
  nav[#nav + 1] = "<span>notebook " .. esc(path:match("notebooks/.*$") or basename(path)) .. "</span>"
  for _, src in ipairs(declared) do
    nav[#nav + 1] = '<a class="paper" href="' .. esc(paper_href[src]) .. '">paper note: '
      .. esc(stem(src)) .. "</a>"
  end
  local elapsed = now() - t0
  local footer = ("woven by alignlab weave %s: %d blocks, %d run, %d from the cache, %d failed; %.1f s")
    :format(esc(core.version or ""), #doc.blocks, run.nrun, run.ncached, run.nerrors, elapsed)
  local page = M.page{ title = doc.front.title or name, body = html, nav = nav, footer = footer }
  if out and not opts.check then
    core.mkdir_p(outdir)
    util.write_file(out, page)
    for _, src in ipairs(papers) do write_paper(src, outdir, opts.site) end
    -- drop cache entries this notebook no longer uses
    local used = {}
    for _, b in ipairs(doc.blocks) do if b.key then used[b.key] = true end end
    if is_dir(run.cachedir) then
      for _, f in ipairs(util.listdir(run.cachedir)) do
        if not used[f] then rm_rf(join(run.cachedir, f)) end
      end
    end
  end
  if tmpfig then rm_rf(tmpfig) end
  return { ok = run.nerrors == 0, errors = run.nerrors, blocks = #doc.blocks, ran = run.nrun,
           cached = run.ncached, title = doc.front.title or name,
           description = doc.front.description, out = out, html = page, elapsed = elapsed }
end

-- ---- --all ------------------------------------------------------------------------------------------

-- The syllabus links of a note: its paper note (the first of front matter `paper:`) and its
-- figure (front matter `figure:`, figures/NAME.png of the repository, copied to OUTDIR/figures/).
local function syllabus_links(dir, front, outdir, check)
  local paper, figure
  local ref = front.paper and front.paper:match("[^,%s]+")
  if ref then
    local src = paper_source(ref, dir)
    if src then paper = { href = "papers/" .. stem(src) .. ".html", name = stem(src) } end
  end
  if front.figure then
    local src = join(dir, "../figures/" .. front.figure .. ".png")
    if util.file_exists(src) then
      figure = { href = "figures/" .. front.figure .. ".png", name = front.figure }
      if not check then
        core.mkdir_p(join(outdir, "figures"))
        wutil.copy_file(src, join(outdir, figure.href))
      end
    end
  end
  return paper, figure
end

-- DIR/index.md, when present, is the course's introduction (prose only: its code blocks are not
-- run), rendered above the syllabus or at its "<!--syllabus-->" marker; it is not a note.
local function index_intro(dir, quiet)
  local src = join(dir, "index.md")
  if not util.file_exists(src) then return nil end
  local doc = M.parse(slurp(src), src)
  local md = {}
  for _, p in ipairs(doc.pieces) do if p.kind == "md" then md[#md + 1] = p.text end end
  local html = M.fix_prose(core.markdown(table.concat(md)), { dir = dir, path = src, quiet = quiet })
  return html, doc.front.title
end

local function weave_all(dir, o)
  local files = {}
  for _, f in ipairs(util.listdir(dir, "%.md$")) do
    if f ~= "index.md" then files[#files + 1] = f end
  end
  if #files == 0 then
    io.stderr:write("weave: no notebooks (*.md) in " .. dir .. "\n")
    return 2
  end
  -- course order: front matter `order:` (a number) first, then the file name
  local fronts = {}
  for _, f in ipairs(files) do
    local src = join(dir, f)
    local pok, doc = pcall(M.parse, util.read_file(src) or "", src)
    fronts[f] = pok and doc.front or {}
  end
  local function rank(f) return tonumber(fronts[f].order) or math.huge end
  table.sort(files, function(a, b)
    if rank(a) ~= rank(b) then return rank(a) < rank(b) end
    return a < b
  end)
  local entries, failed = {}, 0
  local exe = core.exe()
  local t_all = now()
  for i, f in ipairs(files) do
    local src = join(dir, f)
    local out = join(o.out or ".", stem(f) .. ".html")
    local cmd = { util.shell_quote(exe), "weave", util.shell_quote(src), "--site" }
    if o.check then cmd[#cmd + 1] = "--check" else cmd[#cmd + 1] = "-o " .. util.shell_quote(out) end
    if o.force then cmd[#cmd + 1] = "--force" end
    if o.keep_going then cmd[#cmd + 1] = "--keep-going" end
    cmd[#cmd + 1] = "--quiet" -- one progress line per note below instead
    local t0 = now()
    local ok = os.execute(table.concat(cmd, " "))
    if not ok then failed = failed + 1 end
    if not o.quiet then
      io.stderr:write(("weave: [%d/%d] %s %s (%.1f s)\n"):format(i, #files, src,
        ok and "ok" or "FAILED", now() - t0))
    end
    local front = fronts[f]
    local paper, figure = syllabus_links(dir, front, o.out or ".", o.check)
    entries[#entries + 1] = { href = stem(f) .. ".html", title = front.title or stem(f),
                              description = front.description, goal = front.goal, paper = paper,
                              figure = figure, ok = ok and true or false }
  end
  if not o.check then
    core.mkdir_p(o.out)
    local intro, title = index_intro(dir, o.quiet)
    util.write_file(join(o.out, "index.html"), M.index(entries, o.out, { intro = intro, title = title }))
    if not o.quiet then
      io.stderr:write(("weave: wrote %s (%d notebooks, %d failed, %.1f s)\n"):format(
        join(o.out, "index.html"), #entries, failed, now() - t_all))
    end
  end
  return failed > 0 and 1 or 0
end

local USAGE = [[
usage: alignlab weave NOTEBOOK.md [-o OUT.html] [--check] [--force] [--keep-going] [--quiet]
       alignlab weave --all DIR -o OUTDIR [--check] [--force] [--keep-going] [--quiet]
Runs the ```lua blocks of a Markdown notebook in order and writes one self-contained HTML page
(default: NAME.html in the current directory); --all weaves every DIR/*.md into OUTDIR/NAME.html
and writes OUTDIR/index.html. Cached blocks ({cache=true}) live in OUTDIR/.cache/weave/NAME/.
  -o PATH        the page (or, with --all, the output directory)
  --check        run without writing anything (CI); exit status 1 when a block fails
  --force        ignore the cache (cached blocks run again and are re-stored)
  --keep-going   run the blocks after a failed one (default: they are shown, not run)
  --quiet        no progress on stderr
Exit status: 0 all blocks ran, 1 a block failed (the page is still written), 2 usage error.
]]

-- `alignlab weave ...`: returns the exit status.
function M.main(args)
  local o, input, all = {}, nil, nil
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "-o" or a == "--output" then
      i = i + 1
      o.out = args[i]
      if not o.out then io.stderr:write("weave: -o needs a path\n", USAGE) return 2 end
    elseif a == "--all" then
      i = i + 1
      all = args[i]
      if not all then io.stderr:write("weave: --all needs a directory\n", USAGE) return 2 end
    elseif a == "--check" then o.check = true
    elseif a == "--force" then o.force = true
    elseif a == "--keep-going" then o.keep_going = true
    elseif a == "--quiet" or a == "-q" then o.quiet = true
    elseif a == "--site" then o.site = true
    elseif a == "-h" or a == "--help" then io.stdout:write(USAGE) return 0
    elseif a:sub(1, 1) == "-" then
      io.stderr:write("weave: unknown option '" .. a .. "'\n", USAGE)
      return 2
    elseif input then
      io.stderr:write("weave: one notebook at a time (or --all DIR)\n", USAGE)
      return 2
    else
      input = a
    end
    i = i + 1
  end
  if all then
    if input then io.stderr:write("weave: give either a notebook or --all DIR\n", USAGE) return 2 end
    if not o.out and not o.check then io.stderr:write("weave: --all needs -o OUTDIR\n", USAGE) return 2 end
    return weave_all(all, o)
  end
  if not input then io.stderr:write(USAGE) return 2 end
  if not util.file_exists(input) then
    io.stderr:write("weave: cannot read " .. input .. "\n")
    return 2
  end
  if not o.out and not o.check then o.out = stem(input) .. ".html" end
  local ok, res = pcall(M.weave, input, o)
  if not ok then
    io.stderr:write("weave: ", tostring(res), "\n")
    return 1
  end
  if not o.quiet then
    io.stderr:write(("weave: %s: %d blocks, %d run, %d from the cache, %d failed%s\n"):format(
      input, res.blocks, res.ran, res.cached, res.errors,
      (o.out and not o.check) and (" -> " .. o.out) or " (check: nothing written)"))
  end
  return res.ok and 0 or 1
end

return M
