-- Static checks of the course notes (notebooks/*.md), fast enough for every test run: running
-- them takes minutes (`make notes`), so here each note is parsed by the weaver, every block must
-- compile, every relative link must point at a file that exists, code lines must fit the page's
-- code column (90 characters), and each note must keep the issue's contract: equations,
-- at least one figure, a cached block, and a link to a paper note in papers/.
print("testing the notes in notebooks/")

local weave = require "al.weave"

local ROOT = "../.."
local NOTES = { "00_tour.md", "rlhf.md", "dpo.md" }
local MAX_COLS = 90

local util = require "al.util"
local read, exists = util.read_file, util.file_exists

for _, name in ipairs(NOTES) do
  local path = ROOT .. "/notebooks/" .. name
  local text = assert(read(path), "missing note " .. path)
  local nb = weave.parse(text, path)
  assert(nb.front.title and nb.front.title ~= "", name .. ": no title")
  assert(nb.front.description and #nb.front.description > 20, name .. ": no description")
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

  -- relative links: [text](target.md) and [text](../papers/x.md) must exist
  local papers = 0
  for target in prose:gmatch("%]%(([^)%s#]+)[^)]*%)") do
    if not target:match("^%a[%w+.-]*:") then -- not a URL
      local file = ROOT .. "/notebooks/" .. target
      assert(exists(file), ("%s: link to %s, which does not exist"):format(name, target))
      if target:match("^%.%./papers/") then papers = papers + 1 end
    end
  end
  if nb.front.paper then
    assert(exists(ROOT .. "/papers/" .. nb.front.paper .. ".md"),
      name .. ": front matter paper: " .. nb.front.paper .. " has no papers/ note")
  end
  assert(papers >= 1, name .. ": no link to a paper note in ../papers/")
  print(("  %-10s %2d blocks (%d cached), %d with figures, %d paper links: ok")
    :format(name, #nb.blocks, cached, plots, papers))
end
print("OK")
