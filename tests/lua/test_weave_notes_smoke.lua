-- The course notes woven for real at the smoke budget: every note that reads
-- ALIGNLAB_NOTES_SMOKE (its first block sets SMOKE and sizes every loop and model by it) is
-- woven with `alignlab weave --site` into a temporary site, on tiny shared models built into a
-- temporary al.cache; the weave must exit 0 with no failed block, and every relative link of the
-- page (the paper notes written beside it, the other notes' pages) must resolve. Then `--all`
-- builds a two-note copy of the course and the index is checked: the introduction of
-- notebooks/index.md, the syllabus in course order with each note's goal, paper note and figure
-- (copied into the site). The three notes that train their own models at a fixed budget
-- (00_tour, rlhf, dpo) are only checked statically (test_weave_notes.lua) and woven by
-- `make notes`. Under ALIGNLAB_SANITIZE two notes are woven, not all.
print("testing the course notes, woven at the smoke budget")

local util = require "al.util"
local core = require "al.core"
local read, exists, q = util.read_file, util.file_exists, util.shell_quote

package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local EXPECTED_MISSING = require("notes_missing").links -- coming experiments' papers, figures
local ROOT = "../.."
local exe = os.getenv("ALIGNLAB_SHELL") or core.exe()
local TMP = (os.getenv("TMPDIR") or "/tmp") .. "/alignlab-notes-" .. os.time() .. "-"
  .. math.random(1 << 30)
local OUT = TMP .. "/site"
util.mkdir_p(OUT)
local ENV = ("ALIGNLAB_NOTES_SMOKE=1 ALIGNLAB_CACHE=%s OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 ")
  :format(q(TMP .. "/cache"))

local notes = {}
for _, f in ipairs(util.listdir(ROOT .. "/notebooks", "%.md$")) do
  local text = read(ROOT .. "/notebooks/" .. f)
  if f ~= "index.md" and text:find("ALIGNLAB_NOTES_SMOKE", 1, true) then notes[#notes + 1] = f end
end
assert(#notes >= 11, ("only %d notes have a smoke mode"):format(#notes))
if os.getenv("ALIGNLAB_SANITIZE") then notes = { "goodhart.md", "oversight.md" } end

-- every href="..." / src="..." of a page that is not a URL, an anchor or a data: URI must exist
local function check_links(page, dir, name, allow_notes)
  local n = 0
  for attr, target in page:gmatch('(%a+)="([^"]*)"') do
    if (attr == "href" or attr == "src") and target ~= "" and not target:match("^#")
      and not target:match("^%a[%w+.-]*:") then
      local path = target:gsub("#.*$", "")
      local sibling = allow_notes and path:match("^([%w_]+)%.html$")
      if not (sibling and exists(ROOT .. "/notebooks/" .. sibling .. ".md"))
        and not EXPECTED_MISSING[path] then
        assert(exists(dir .. "/" .. path), ("%s: link %s does not resolve"):format(name, target))
      end
      n = n + 1
    end
  end
  return n
end

local t_all = os.time()
for _, f in ipairs(notes) do
  local stem = f:gsub("%.md$", "")
  local page_path = OUT .. "/" .. stem .. ".html"
  local cmd = ENV .. q(exe) .. " weave " .. q(ROOT .. "/notebooks/" .. f) .. " --site --quiet -o "
    .. q(page_path) .. " > " .. q(TMP .. "/" .. stem .. ".log") .. " 2>&1"
  local ok = os.execute(cmd)
  local log = read(TMP .. "/" .. stem .. ".log") or ""
  if not ok then io.stderr:write(log) end
  assert(ok, f .. ": the smoke weave failed (log above)")
  local page = assert(read(page_path), f .. ": no page written")
  assert(not page:find('class="cell failed"', 1, true), f .. ": a block failed")
  assert(not page:find('<div class="error">', 1, true), f .. ": a block raised an error")
  assert(page:find("<figure", 1, true), f .. ": no figure on the page")
  assert(page:find("<x-equation", 1, true), f .. ": no equation on the page")
  assert(page:find("<details>", 1, true), f .. ": no solutions section")
  local nlinks = check_links(page, OUT, f, true)
  print(("  %-22s woven, %d local links resolve"):format(f, nlinks))
end
print(("  %d notes in %d s"):format(#notes, os.time() - t_all))

-- --all on a two-note copy of the course: the index and its syllabus
local C = TMP .. "/course"
util.mkdir_p(C .. "/notebooks")
local pw = assert(io.popen("cd " .. q(ROOT) .. " && pwd"))
local ABS = pw:read("l")
pw:close()
assert(os.execute(("ln -s %s %s && ln -s %s %s"):format(q(ABS .. "/papers"), q(C .. "/papers"),
  q(ABS .. "/figures"), q(C .. "/figures"))))
for _, f in ipairs{ "index.md", "goodhart.md", "oversight.md" } do
  util.write_file(C .. "/notebooks/" .. f, read(ROOT .. "/notebooks/" .. f))
end
local ok = os.execute(ENV .. q(exe) .. " weave --all " .. q(C .. "/notebooks") .. " -o "
  .. q(C .. "/out") .. " > " .. q(TMP .. "/all.log") .. " 2>&1")
local log = read(TMP .. "/all.log") or ""
if not ok then io.stderr:write(log) end
assert(ok, "weave --all failed (log above)")
assert(log:find("[1/2] ", 1, true) and log:find("[2/2] ", 1, true), "no progress line per note")
local index = assert(read(C .. "/out/index.html"), "no index.html")
assert(not exists(C .. "/out/index_files") and not index:find("<!--syllabus-->", 1, true),
  "index.md is the introduction, not a note, and its marker is replaced")
assert(index:find("A course in alignment", 1, true), "the index lacks notebooks/index.md's text")
local g, o = index:find('href="goodhart.html"', 1, true), index:find('href="oversight.html"', 1, true)
assert(g and o and g < o, "the syllabus is not in course order")
assert(index:find("Goal:", 1, true), "the syllabus gives no learning goals")
assert(index:find('href="papers/hacking.html"', 1, true), "goodhart's paper note is not linked")
assert(index:find('src="figures/hacking.png"', 1, true), "goodhart's figure is not shown")
local nlinks = check_links(index, C .. "/out", "index.html", false)
print(("  --all: index with the syllabus, %d local links resolve"):format(nlinks))

os.execute("rm -rf " .. q(TMP))
print("OK")
