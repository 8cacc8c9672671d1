-- Static checks of the course notes (notebooks/*.md), fast enough for every test run: running
-- them takes minutes (`make notes`; tests/lua/test_weave_notes_smoke.lua weaves them at a tiny
-- budget), so here each note is parsed by the weaver, every block must compile, every relative
-- link must point at a file that exists (links to the paper notes and figures of experiments
-- still being written are listed in tests/lua/lib/notes_missing.lua, the one place for them), code lines must
-- fit the page's code column (90 characters), and each note must keep the course's contract:
-- front matter (title, description, goal, order, a paper note and a committed figure),
-- equations, at least one live figure, a cached block, a link into papers/, and 2-4 exercises
-- with their solutions in a collapsed <details> section. notebooks/index.md (the syllabus's
-- introduction) must hold the <!--syllabus--> marker and no code.
print("testing the notes in notebooks/")

local weave = require "al.weave"
local util = require "al.util"
local read, exists = util.read_file, util.file_exists

local ROOT = "../.."
local MAX_COLS = 90

-- links to the paper notes and figures of experiments still being written (tests/lua/lib)
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local EXPECTED_MISSING = require("notes_missing").links

-- the course: every notebook but the index, in `order:`
local NOTES = {}
for _, f in ipairs(util.listdir(ROOT .. "/notebooks", "%.md$")) do
  if f ~= "index.md" then NOTES[#NOTES + 1] = f end
end
assert(#NOTES >= 14, ("the course has %d notes, the issue asks for 14"):format(#NOTES))

local orders, still_missing = {}, {}
for _, name in ipairs(NOTES) do
  local path = ROOT .. "/notebooks/" .. name
  local text = assert(read(path), "missing note " .. path)
  local nb = weave.parse(text, path)
  local fr = nb.front
  assert(fr.title and fr.title ~= "", name .. ": no title")
  assert(fr.description and #fr.description > 20, name .. ": no description")
  assert(fr.goal and #fr.goal > 20, name .. ": no learning goal (front matter goal:)")
  local order = assert(tonumber(fr.order), name .. ": no order: (its place in the syllabus)")
  assert(not orders[order], ("%s and %s share order %d"):format(name, tostring(orders[order]), order))
  orders[order] = name
  assert(fr.paper and exists(ROOT .. "/papers/" .. fr.paper:match("[^,%s]+") .. ".md"),
    name .. ": front matter paper: names no papers/ note")
  assert(fr.figure and exists(ROOT .. "/figures/" .. fr.figure .. ".png"),
    name .. ": front matter figure: names no figures/NAME.png")
  assert(#nb.blocks >= 4, name .. ": fewer than 4 code blocks")

  local plots, cached = 0, 0
  for _, b in ipairs(nb.blocks) do
    local chunk, err = load(b.code, "=" .. name .. ":" .. b.line, "t")
    assert(chunk, ("%s: block at line %d does not compile: %s"):format(name, b.line, tostring(err)))
    local ln = 0
    for line in (b.code .. "\n"):gmatch("(.-)\n") do
      ln = ln + 1
      assert(utf8.len(line) <= MAX_COLS, ("%s:%d: code line of %d characters (at most %d fit the page)")
        :format(name, b.line + ln, utf8.len(line), MAX_COLS))
    end
    if b.code:find("al.plot", 1, true) then plots = plots + 1 end
    if b.opts.cache then cached = cached + 1 end
  end
  assert(plots >= 1, name .. ": no figure (al.plot)")
  assert(cached >= 1, name .. ": no cached block")

  local prose = {}
  for _, p in ipairs(nb.pieces) do
    if p.kind == "md" then prose[#prose + 1] = p.text end
  end
  prose = table.concat(prose, "\n")
  assert(prose:find("$$", 1, true), name .. ": no display equation")

  -- relative links and images: [text](target) must exist (or be expected-missing)
  local papers, figures = 0, 0
  for target in prose:gmatch("%]%(([^)%s#]+)[^)]*%)") do
    if not target:match("^%a[%w+.-]*:") then -- not a URL
      local file = ROOT .. "/notebooks/" .. target
      if EXPECTED_MISSING[target] then
        if exists(file) then still_missing[target] = true end
      else
        assert(exists(file), ("%s: link to %s, which does not exist"):format(name, target))
        if target:match("^%.%./papers/") then papers = papers + 1 end
        if target:match("^%.%./figures/") then figures = figures + 1 end
      end
    end
  end
  assert(papers >= 1, name .. ": no link to a paper note in ../papers/")
  assert(figures >= 1, name .. ": no committed figure from ../figures/")

  -- exercises: a section, 2-4 numbered items, solutions collapsed
  local ex = prose:match("\n## Exercises\n(.*)$")
  assert(ex, name .. ": no '## Exercises' section")
  local before = ex:match("^(.-)<details>")
  assert(before, name .. ": exercises without a <details> section of solutions")
  local n = 0
  for _ in ("\n" .. before):gmatch("\n%d+%. ") do n = n + 1 end
  assert(n >= 2 and n <= 4, ("%s: %d exercises (2-4)"):format(name, n))
  assert(ex:find("<summary>Solutions</summary>", 1, true) and ex:find("</details>", 1, true),
    name .. ": the solutions' <details> section is not closed")
  assert(before:find("*Observe:*", 1, true), name .. ": exercises give no hint of what to observe")
  print(("  %-22s order %2d  %2d blocks (%d cached), %d with figures, %d exercises: ok")
    :format(name, order, #nb.blocks, cached, plots, n))
end

-- the syllabus's introduction
local index = assert(read(ROOT .. "/notebooks/index.md"), "no notebooks/index.md")
local idx = weave.parse(index, "notebooks/index.md")
assert(#idx.blocks == 0, "notebooks/index.md: the index is prose only (its blocks are not run)")
assert(index:find("<!--syllabus-->", 1, true), "notebooks/index.md: no <!--syllabus--> marker")

for t in pairs(still_missing) do
  print("  note: " .. t .. " exists now; drop it from EXPECTED_MISSING in this test")
end
print("OK")
