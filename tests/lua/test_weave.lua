-- Tests of the notebook weaver (lua/al/weave/, lua/l_weave.c), run inside the alignlab shell
-- from tests/lua by tests/lua_runner.c. Fixtures: tests/weave/*.md. Each `alignlab weave` run is
-- a child process (exit codes are part of the contract).
print("testing weave")

local al = require "al"
local core = al.core
local weave = require "al.weave"

local SHELL = os.getenv("ALIGNLAB_SHELL") or core.exe()
local FIX = "../weave"

local util = require "al.util"
local q, read = util.shell_quote, util.read_file

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local TMP = os.tmpname()
os.remove(TMP)
assert(os.execute("mkdir -p " .. q(TMP)))

-- Run `alignlab weave ARGS` (with env assignments); returns exit code, stderr text.
local function run(args, env)
  local err = TMP .. "/stderr.txt"
  local cmd = (env or "") .. " " .. q(SHELL) .. " weave " .. args .. " >" .. q(TMP .. "/stdout.txt")
    .. " 2>" .. q(err)
  local ok, how, code = os.execute(cmd)
  assert(how == "exit", "killed by a signal: " .. cmd)
  return ok and 0 or code, read(err) or ""
end

local function count(s, pat)
  local n = 0
  for _ in s:gmatch(pat) do n = n + 1 end
  return n
end

-- Balanced-tag check of an HTML page: every non-void element closed in order (script and style
-- bodies and comments skipped). Returns true or false, message.
local VOID = { area = 1, base = 1, br = 1, col = 1, embed = 1, hr = 1, img = 1, input = 1,
               link = 1, meta = 1, source = 1, track = 1, wbr = 1 }
local function balanced(html)
  html = html:gsub("<!%-%-.-%-%->", "")
  html = html:gsub("(<script[^>]*>).-(</script>)", "%1%2"):gsub("(<style[^>]*>).-(</style>)", "%1%2")
  local stack = {}
  for close, name, rest in html:gmatch("<(/?)([%a][%w%-]*)([^>]*)>") do
    name = name:lower()
    if close == "/" then
      local top = stack[#stack]
      if top ~= name then
        return false, ("</%s> closes <%s>"):format(name, tostring(top))
      end
      stack[#stack] = nil
    elseif not VOID[name] and not rest:match("/%s*$") then
      stack[#stack + 1] = name
    end
  end
  if #stack > 0 then return false, "unclosed <" .. stack[#stack] .. ">" end
  return true
end

local function body(page)
  return page:match("<main>(.*)</main>")
end

-- ---- al.core.markdown, base64, capture ------------------------------------------------------------

do
  local h = core.markdown("# T\n\nx $a_1 < b$ and $$\\frac{1}{2}$$\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    .. "~~gone~~ https://example.org <span class=\"raw\">r</span>\n")
  assert(h:find("<h1>T</h1>", 1, true))
  assert(h:find("<x-equation>a_1 &lt; b</x-equation>", 1, true), h)
  assert(h:find('<x-equation type="display">\\frac{1}{2}</x-equation>', 1, true), h)
  assert(h:find("<table>", 1, true) and h:find("<td>2</td>", 1, true))
  assert(h:find("<del>gone</del>", 1, true))
  assert(h:find('<a href="https://example.org">', 1, true))
  assert(h:find('<span class="raw">r</span>', 1, true))
  -- options switch the extensions off
  local h2 = core.markdown("$x$ <b>raw</b> | a |\n|---|\n| 1 |\n", { math = false, html = false, tables = false })
  assert(not h2:find("x-equation", 1, true) and not h2:find("<b>", 1, true) and not h2:find("<table>", 1, true), h2)
  local ok, err = pcall(core.markdown, "x", { maths = true })
  assert(not ok and err:find("unknown option 'maths'", 1, true), err)
  assert(not pcall(core.markdown, nil))
end

do
  assert(core.base64("") == "")
  assert(core.base64("f") == "Zg==")
  assert(core.base64("fo") == "Zm8=")
  assert(core.base64("foo") == "Zm9v")
  assert(core.base64("foobar") == "Zm9vYmFy")
  assert(core.base64("\0\255\128") == "AP+A")
end

do
  local cap = core.capture_stdout()
  local ok, err = pcall(core.capture_stdout)
  print("captured line")
  io.write("and io.write\n")
  os.execute("echo from a child")
  local text, total = cap:finish()
  assert(not ok and err:find("already active", 1, true), err)
  assert(text:find("captured line\n", 1, true) and text:find("and io.write", 1, true)
    and text:find("from a child", 1, true), text)
  assert(total == #text)
  assert(not pcall(cap.finish, cap), "a second finish must fail")
  local cap2 = core.capture_stdout()
  io.write(("x"):rep(100))
  local t2, n2 = cap2:finish(10)
  assert(#t2 == 10 and n2 == 100)
end

-- ---- parsing --------------------------------------------------------------------------------------

do
  local o = weave.parse_options('{echo=false, cache=true caption="a, b \\"c\\""}')
  assert(o.echo == false and o.cache == true and o.caption == 'a, b "c"')
  assert(next(weave.parse_options("")) == nil)
  local ok, err = pcall(weave.parse_options, "{chache=true}", "x.md:3")
  assert(not ok and err:find("x.md:3", 1, true) and err:find("unknown option 'chache'", 1, true), err)
  ok, err = pcall(weave.parse_options, "{echo=3}")
  assert(not ok and err:find("'echo' must be a boolean", 1, true), err)
  ok, err = pcall(weave.parse_options, "{echo=false, echo=true}")
  assert(not ok and err:find("given twice", 1, true), err)
  assert(not pcall(weave.parse_options, "{os.exit(1)}"))
  assert(not pcall(weave.parse_options, "echo=false"))

  local doc = weave.parse(read(FIX .. "/basic.md"), "basic.md")
  assert(doc.front.title == "Weave fixture: basic")
  assert(#doc.blocks == 7, #doc.blocks)          -- the ```lua inside ````markdown is not a block
  assert(doc.blocks[1].line == 14, doc.blocks[1].line)
  assert(doc.blocks[2].opts.caption == "FIG-CAPTION")
  assert(doc.blocks[5].opts.eval == false)
  local text = ""
  for _, p in ipairs(doc.pieces) do if p.kind == "md" then text = text .. p.text end end
  assert(text:find('print("NOT-A-BLOCK")', 1, true))
  local ok2, err2 = pcall(weave.parse, "---\ntitel: x\n---\n", "fm.md")
  assert(not ok2 and err2:find("unknown key 'titel'", 1, true), err2)

  -- keys chain: editing a block changes its key and every later key, not earlier ones
  local function keys(src)
    local d = weave.parse(src, "k.md")
    weave.keys(d.blocks)
    local ks = {}
    for i, b in ipairs(d.blocks) do ks[i] = b.key end
    return ks
  end
  local k1 = keys("```lua\na=1\n```\ntext\n```lua {cache=true}\nb=2\n```\n```lua\nc=3\n```\n")
  local k2 = keys("```lua\na=1\n```\nother text\n```lua {cache=true, echo=false}\nb=2\n```\n```lua\nc=3\n```\n")
  local k3 = keys("```lua\na=1\n```\ntext\n```lua {cache=true}\nb=20\n```\n```lua\nc=3\n```\n")
  assert(k1[1] == k2[1] and k1[2] == k2[2] and k1[3] == k2[3], "prose and echo must not change keys")
  assert(k1[1] == k3[1] and k1[2] ~= k3[2] and k1[3] ~= k3[3], "an edit changes its key and later keys")
  local h = weave.highlight('local s = "<a>" -- c & d\nreturn 1e-3')
  assert(h:find('<span class="kw">local</span>', 1, true) and h:find("&lt;a&gt;", 1, true)
    and h:find('<span class="com">-- c &amp; d</span>', 1, true)
    and h:find('<span class="num">1e-3</span>', 1, true), h)
end

-- ---- weaving the basic fixture ----------------------------------------------------------------

do
  local out = TMP .. "/basic/basic.html"
  local code, err = run(q(FIX .. "/basic.md") .. " -o " .. q(out))
  assert(code == 0, "basic.md must weave cleanly: " .. err)
  local page = assert(read(out), "no page written")
  local ok, msg = balanced(page)
  assert(ok, "unbalanced HTML: " .. tostring(msg))
  assert(page:find("<title>Weave fixture: basic</title>", 1, true))
  local b = body(page)
  -- outputs in order, under their blocks, between the right pieces of prose
  local order = { "PROSE%-ONE", "<x%-equation>", "OUT%-ONE\t42", "OUT%-TWO &lt;&amp;&gt;", "PROSE%-TWO",
                  "BEFORE%-FIG\t42", "<img src=\"data:image/svg%+xml;base64,", "AFTER%-FIG",
                  "ECHO%-HIDDEN%-OUTPUT", "EXPECTED%-ERROR", "LAST\ttrue\tnotebook%-global" }
  local pos = 1
  for _, pat in ipairs(order) do
    local s, e = b:find(pat, pos)
    assert(s, "missing or out of order: " .. pat)
    pos = e + 1
  end
  assert(b:find("FIG-CAPTION", 1, true), "figure caption")
  assert(count(b, "<figure") == 1, "one figure")
  -- options honoured
  assert(not b:find('print(<span class="str">&quot;ECHO-HIDDEN-OUTPUT', 1, true), "echo=false shows code")
  assert(b:find("secret_code_marker", 1, true) and not b:find(">OUTPUT-HIDDEN", 1, true), "output=false")
  assert(b:find("NEVER-RUN", 1, true) and b:find("not run (eval=false)", 1, true), "eval=false shown")
  assert(b:find("error (expected: error=true)", 1, true))
  assert(b:find('<a href="cache.html">', 1, true), "links to sibling notebooks are retargeted")
  assert(b:find("NOT-A-BLOCK", 1, true))
  -- notebook globals did not leak into the weaver's globals (checked inside: _G.leak_probe)
  -- self-contained: KaTeX inline, nothing fetched
  assert(page:find("katex", 1, true), "KaTeX must be inlined")
  assert(not page:find('src="http', 1, true) and not page:find('href="http', 1, true)
    and not page:find("<link", 1, true), "nothing may be fetched")
  assert(page:find("data:font/woff2;base64,", 1, true), "KaTeX fonts inlined")
  assert(page:find("@media print", 1, true) and page:find('name="viewport"', 1, true))
  -- the figure file landed in the notebook's figure dir
  assert(read(TMP .. "/basic/basic_files/block2-fig1.svg"), "figure file in basic_files/")
  -- --check writes nothing and succeeds
  local out2 = TMP .. "/check/basic.html"
  code = run(q(FIX .. "/basic.md") .. " --check -o " .. q(out2))
  assert(code == 0 and not read(out2), "--check must not write")
end

-- ---- a failing block ---------------------------------------------------------------------------

do
  local out = TMP .. "/fail/fail.html"
  local code, err = run(q(FIX .. "/fail.md") .. " -o " .. q(out))
  assert(code == 1, "a failing block must exit 1, got " .. tostring(code))
  assert(err:find("failed", 1, true))
  local page = assert(read(out), "the page is written even when a block fails")
  assert(balanced(page))
  local b = body(page)
  assert(b:find("FIRST-RUNS", 1, true))
  -- the error in place, with a traceback naming the notebook's own line numbers
  local s = b:find('<div class="cell failed" id="block-2">', 1, true)
  assert(s, "the failed block is marked")
  local e = b:find("</div>\n</div>", s, true)
  local cell = b:sub(s, e)
  assert(cell:find("fail.md:8: FAIL-HERE", 1, true), cell)
  assert(cell:find("stack traceback:", 1, true) and cell:find("fail.md:9: in main chunk", 1, true), cell)
  assert(not cell:find("al/weave/", 1, true), "the weaver's frames are trimmed")
  assert(not b:find("AFTER-FAILURE</pre>", 1, true) and b:find("not run: an earlier block failed", 1, true))
  -- --keep-going runs the rest; --check fails without writing
  code = run(q(FIX .. "/fail.md") .. " --keep-going -o " .. q(out))
  assert(code == 1 and body(read(out)):find("<pre class=\"output\">AFTER-FAILURE</pre>", 1, true))
  code = run(q(FIX .. "/fail.md") .. " --check")
  assert(code == 1)
  -- usage errors
  assert(run("") == 2 and run("--bogus x.md") == 2 and run(q(TMP .. "/nope.md")) == 2)
  assert(run("--all " .. q(FIX)) == 2, "--all needs -o")
end

-- ---- the cache -------------------------------------------------------------------------------------

do
  local dir = TMP .. "/cache"
  assert(os.execute("mkdir -p " .. q(dir)))
  local src0 = read(FIX .. "/cache.md")
  local nb, out, counter = dir .. "/cache.md", dir .. "/out/cache.html", dir .. "/counter.txt"
  local env = "WEAVE_COUNTER=" .. q(counter)
  local function weave_once(src)
    write(nb, src)
    write(counter, "")
    local code, err = run(q(nb) .. " -o " .. q(out), env)
    assert(code == 0, "cache.md failed: " .. err .. "\n" .. (read(out) or ""))
    local runs = (read(counter) or ""):gsub("\n", "")
    local b = body(read(out))
    return runs, b
  end
  -- the output line starting with tag (the code listing has the same tag followed by a format)
  local function dline(b, tag) return b:match(tag .. " %-?%d[^<\n]*") end

  local runs, b1 = weave_once(src0)
  assert(runs == "UABC", "first run runs everything, got " .. runs)
  assert(b1:find("not restored from the cache", 1, true) == nil, "fresh runs restore nothing")
  assert(b1:find("will not be restored from the cache: not_data (function)", 1, true), "fresh runs warn")
  assert(dline(b1, "D%-OUT") == "D-OUT 14 18 0.30000000000000004 true true 4", dline(b1, "D%-OUT"))
  local model_line = dline(b1, "D%-MODEL")
  assert(model_line)

  -- nothing changed: the cached blocks are restored, outputs and state identical
  local runs2, b2 = weave_once(src0)
  assert(runs2 == "U", "second run must only run the uncached block, got " .. runs2)
  assert(b2:find("A-OUT\t7", 1, true) and b2:find("B-OUT\t14", 1, true) and b2:find("C-OUT\t18", 1, true))
  assert(dline(b2, "D%-OUT") == dline(b1, "D%-OUT"), "restored data: " .. tostring(dline(b2, "D%-OUT")))
  assert(dline(b2, "D%-MODEL") == model_line, "restored models (in place and new): "
    .. tostring(dline(b2, "D%-MODEL")) .. " vs " .. model_line)
  assert(count(b2, "from the cache %(%d") == 3)
  assert(count(b2, "<figure") == 1 and b2:find("data:image/svg+xml;base64,", 1, true), "cached figure")
  assert(b2:find("D-FUNC\tnil", 1, true), "functions are not restored")
  assert(b2:find("not restored from the cache (not plain data): not_data (function)", 1, true))

  -- prose edited: nothing re-runs
  local runs3 = weave_once((src0:gsub("PROSE%-MARKER", "PROSE-MARKER edited, at length")))
  assert(runs3 == "U", "a prose edit must not re-run cached blocks, got " .. runs3)

  -- block B edited: B and the cached blocks after it re-run, A does not
  local src4 = src0:gsub("b = a%.n %* 2", "b = a.n * 3")
  local runs4, b4 = weave_once(src4)
  assert(runs4 == "UBC", "editing B re-runs B and C, got " .. runs4)
  assert(dline(b4, "D%-OUT") == "D-OUT 21 25 0.30000000000000004 true true 4", dline(b4, "D%-OUT"))

  -- and then everything is cached again
  local runs5 = weave_once(src4)
  assert(runs5 == "U", runs5)
  -- stale entries are pruned: one entry per cached block
  local p = io.popen("ls " .. q(dir .. "/out/.cache/weave/cache"))
  local n = 0
  for _ in p:lines() do n = n + 1 end
  p:close()
  assert(n == 3, "cache entries: " .. n)

  -- --force re-runs everything; --check reads the cache and writes nothing
  write(counter, "")
  assert(run(q(nb) .. " --force -o " .. q(out), env) == 0)
  assert(read(counter):gsub("\n", "") == "UABC")
  write(counter, "")
  os.remove(out)
  assert(run(q(nb) .. " --check -o " .. q(out), env) == 0)
  assert(read(counter):gsub("\n", "") == "U" and not read(out))
end

-- ---- --all: pages, index, paper notes --------------------------------------------------------------

do
  local root = TMP .. "/site"
  assert(os.execute("mkdir -p " .. q(root .. "/notebooks") .. " " .. q(root .. "/papers")))
  write(root .. "/notebooks/alpha.md", "---\ntitle: Alpha note\norder: 2\npaper: alpha\n---\n\n"
    .. "First paragraph of alpha.\n\n"
    .. "```lua\nprint('ALPHA')\n```\n\nSee [the paper](../papers/alpha.md) and [beta](beta.md).\n")
  write(root .. "/notebooks/beta.md", "---\norder: 1\n---\n# Beta note\n\n```lua\nerror('BETA-FAILS')\n```\n")
  write(root .. "/papers/alpha.md", "# Alpha (2023)\n\nThe claim: $x = 1$.\n")
  local code = run("--all " .. q(root .. "/notebooks") .. " -o " .. q(root .. "/out"))
  assert(code == 1, "one failing notebook makes --all exit 1")
  local index = assert(read(root .. "/out/index.html"))
  assert(balanced(index))
  assert(index:find('href="alpha.html"', 1, true) and index:find("Alpha note", 1, true)
    and index:find("First paragraph of alpha.", 1, true))
  assert(index:find('href="beta.html"', 1, true) and index:find('class="badge failed"', 1, true))
  assert(index:find('href="papers/alpha.html"', 1, true))
  assert(index:find('href="beta.html"', 1, true) < index:find('href="alpha.html"', 1, true),
    "the index follows the front matter's order, not the file names")
  local a = assert(read(root .. "/out/alpha.html"))
  assert(a:find('href="papers/alpha.html"', 1, true) and a:find('href="index.html"', 1, true))
  assert(a:find('<a href="beta.html">', 1, true))
  local paper = assert(read(root .. "/out/papers/alpha.html"), "the paper note is rendered")
  assert(paper:find("<x-equation>x = 1</x-equation>", 1, true) and balanced(paper))
  assert(read(root .. "/out/beta.html"):find("BETA-FAILS", 1, true))
end

os.execute("rm -rf " .. q(TMP))
print("OK")
