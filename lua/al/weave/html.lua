-- al.weave.html: the page. CSS, KaTeX inlined (fonts as data: URIs), figures and local images
-- as data: URIs, the prose's links retargeted, one run block rendered as a cell, the index page.
-- It runs nothing and writes no files (al.weave writes the pages).
local core = require "al.core"
local util = require "al.util"
local highlight = require "al.weave.highlight"
local wutil = require "al.weave.util"

local esc = highlight.escape
local join, dirname, stem, warn = wutil.join, wutil.dirname, wutil.stem, wutil.warn

local M = {}

local KATEX_DIR = "/usr/share/javascript/katex"

local CSS = [[
:root { --fg: #1d1d1f; --muted: #6b6b70; --bg: #ffffff; --code-bg: #f5f6f8; --out-bg: #fffdf5;
  --line: #e3e4e8; --accent: #2d5fa8; --err: #a4161a; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 17px/1.6 Charter, "Bitstream Charter", "Noto Serif", Georgia, "DejaVu Serif", serif; }
main, .top, footer { max-width: 46rem; margin: 0 auto; padding: 0 1rem; }
.top { font: 14px/1.5 system-ui, "DejaVu Sans", sans-serif; color: var(--muted); padding-top: .8rem;
  display: flex; flex-wrap: wrap; gap: .3rem 1rem; }
.top a, footer a { color: var(--muted); }
footer { font: 13px/1.5 system-ui, "DejaVu Sans", sans-serif; color: var(--muted);
  border-top: 1px solid var(--line); margin-top: 3rem; padding-top: .6rem; padding-bottom: 2rem; }
h1, h2, h3, h4 { font-family: system-ui, "DejaVu Sans", sans-serif; line-height: 1.25; }
h1 { font-size: 1.9rem; margin: 1.2rem 0 .6rem; }
h2 { font-size: 1.4rem; margin-top: 2.2rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
h3 { font-size: 1.15rem; margin-top: 1.6rem; }
a { color: var(--accent); }
p, li { hyphens: auto; overflow-wrap: break-word; }
code, pre { font: 14px/1.45 "DejaVu Sans Mono", Menlo, Consolas, monospace; }
:not(pre) > code { background: var(--code-bg); padding: .05em .3em; border-radius: 3px; }
pre { overflow-x: auto; padding: .7rem .9rem; margin: 0; border-radius: 6px; }
main > pre { background: var(--code-bg); margin: 1rem 0; }
table { border-collapse: collapse; margin: 1rem 0; display: block; overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid var(--line); padding: .3rem .6rem; text-align: left; }
th { background: var(--code-bg); }
blockquote { margin: 1rem 0; padding: .1rem 1rem; border-left: 4px solid var(--line); color: #444; }
img { max-width: 100%; height: auto; }
x-equation { font-family: "DejaVu Sans Mono", monospace; }
x-equation[type="display"] { display: block; text-align: center; margin: .8rem 0; overflow-x: auto;
  overflow-y: hidden; }
x-equation .katex { font-family: KaTeX_Main, "Times New Roman", serif; } /* not the TeX fallback's mono */
x-equation[type="display"] .katex-display { margin: 0; }
.cell { margin: 1.2rem 0; border: 1px solid var(--line); border-radius: 8px; overflow: hidden;
  break-inside: avoid; }
@media screen and (min-width: 56rem) { /* code cells a little wider than the prose: ~90 columns */
  .cell, main > pre { margin-left: -3rem; margin-right: -3rem; } }
.cell > pre.code { background: var(--code-bg); border-radius: 0; }
.cell-meta { font: 12px/1.4 system-ui, "DejaVu Sans", sans-serif; color: var(--muted);
  padding: .25rem .9rem; border-top: 1px solid var(--line); background: var(--code-bg);
  display: flex; justify-content: space-between; gap: 1rem; }
.cell > pre.output { background: var(--out-bg); border-top: 1px solid var(--line); border-radius: 0;
  border-left: 3px solid #e0c36a; }
.cell > figure { margin: 0; padding: .6rem; border-top: 1px solid var(--line); text-align: center;
  background: #fff; }
.cell > figure img { width: 100%; max-width: 800px; }
figcaption { font: 13px/1.4 system-ui, "DejaVu Sans", sans-serif; color: var(--muted); margin-top: .3rem; }
.cell > .error { border-top: 1px solid var(--line); background: #fff1f0; border-left: 3px solid var(--err); }
.cell > .error pre { color: var(--err); white-space: pre-wrap; }
.cell > .error .label, .cell > .note { font: 12px/1.4 system-ui, "DejaVu Sans", sans-serif; padding: .3rem .9rem 0; }
.cell > .note { color: var(--muted); padding: .3rem .9rem; border-top: 1px solid var(--line); }
.cell.failed { border-color: var(--err); }
.kw { color: #8a2a8a; font-weight: 600; } .str { color: #2a6e1e; } .com { color: #777a80; font-style: italic; }
.num { color: #a4501a; }
.index-list { list-style: none; padding: 0; }
.index-list li { border: 1px solid var(--line); border-radius: 8px; padding: .7rem 1rem; margin: .8rem 0; }
.index-list .desc, .index-list .goal { color: #444; margin: .2rem 0 0; }
.index-list .links { font: 14px/1.5 system-ui, "DejaVu Sans", sans-serif; margin: .3rem 0 0; }
.index-list .num { font: 600 14px/1 system-ui, sans-serif; color: var(--muted); }
.index-list li { display: flow-root; }
.index-list .thumb { float: right; width: 10rem; max-width: 38%; margin: 0 0 .3rem .8rem;
  border: 1px solid var(--line); }
.badge { font: 12px/1 system-ui, sans-serif; padding: .2rem .45rem; border-radius: 9px; margin-left: .4rem;
  vertical-align: middle; }
.badge.ok { background: #e5f4e7; color: #1e6b2a; } .badge.failed { background: #fde7e7; color: var(--err); }
@media (max-width: 600px) {
  body { font-size: 16px; }
  h1 { font-size: 1.5rem; }
  code, pre { font-size: 12.5px; }
  main, .top, footer { padding: 0 .7rem; }
}
@media print {
  body { font-size: 11pt; }
  .top { display: none; }
  main { max-width: none; }
  a { color: inherit; }
  pre { white-space: pre-wrap; overflow: visible; }
  .cell, figure, table { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
}
]]

-- KaTeX from Debian's libjs-katex, read once: { js =, css = } with the woff2 fonts inlined as
-- data: URIs (the page stays one file); nil when KaTeX is not installed.
local katex_cache
function M.katex()
  if katex_cache ~= nil then return katex_cache or nil end
  local dir = os.getenv("ALIGNLAB_KATEX_DIR")
  if not dir or dir == "" then dir = KATEX_DIR end
  local js = util.read_file(dir .. "/katex.min.js") or util.read_file(dir .. "/katex.js")
  local css = util.read_file(dir .. "/katex.min.css") or util.read_file(dir .. "/katex.css")
  if not js or not css then
    katex_cache = false
    return nil
  end
  css = css:gsub("src:url%(fonts/([%w_%-]+)%.woff2%) format%([\"']woff2[\"']%)[^;}]*", function(name)
    local font = util.read_file(dir .. "/fonts/" .. name .. ".woff2")
    if not font then return nil end -- keep the original rule
    return "src:url(data:font/woff2;base64," .. core.base64(font) .. ") format('woff2')"
  end)
  -- a literal "</script" or "</style" would end the inline element early
  js = js:gsub("</(script)", "<\\/%1")
  css = css:gsub("</(style)", "<\\/%1")
  katex_cache = { js = js, css = css }
  return katex_cache
end

local RENDER_JS = [[
(function () {
  var eqs = document.getElementsByTagName("x-equation"), bad = 0;
  for (var i = 0; i < eqs.length; i++) {
    var el = eqs[i];
    if (typeof katex === "undefined") break;
    try {
      katex.render(el.textContent, el, { displayMode: el.getAttribute("type") === "display",
                                         throwOnError: false });
    } catch (e) { bad++; el.className += " katex-failed"; }
  }
  document.body.setAttribute("data-math", typeof katex === "undefined" ? "unavailable" :
                             bad ? "errors" : "rendered");
  function figs() {
    var imgs = document.querySelectorAll("img"), ok = 0;
    for (var j = 0; j < imgs.length; j++) {
      var good = imgs[j].complete && imgs[j].naturalWidth > 0;
      imgs[j].setAttribute("data-loaded", good ? "yes" : "no");
      if (good) ok++;
    }
    document.body.setAttribute("data-figures", ok + "/" + imgs.length);
  }
  if (document.readyState === "complete") figs(); else window.addEventListener("load", figs);
})();
]]

local function data_uri(path)
  local body = util.read_file(path)
  if not body then return nil end
  local ext = (path:match("%.(%w+)$") or ""):lower()
  local mime = ({ svg = "image/svg+xml", png = "image/png", jpg = "image/jpeg", jpeg = "image/jpeg",
                  gif = "image/gif", webp = "image/webp" })[ext]
  if not mime then return nil end
  return "data:" .. mime .. ";base64," .. core.base64(body)
end

-- The page around `body`.
function M.page(o)
  local k = M.katex()
  local h = {}
  h[#h + 1] = '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
  h[#h + 1] = '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
  h[#h + 1] = '<meta name="generator" content="alignlab weave ' .. esc(core.version or "") .. '">\n'
  h[#h + 1] = "<title>" .. esc(o.title or "notes") .. "</title>\n"
  h[#h + 1] = "<style>\n" .. CSS .. "</style>\n"
  if k then h[#h + 1] = "<style>\n" .. k.css .. "\n</style>\n" end
  h[#h + 1] = "</head>\n<body>\n"
  if o.nav and #o.nav > 0 then
    h[#h + 1] = '<nav class="top">' .. table.concat(o.nav, " ") .. "</nav>\n"
  end
  h[#h + 1] = "<main>\n" .. o.body .. "\n</main>\n"
  if o.footer then h[#h + 1] = "<footer>" .. o.footer .. "</footer>\n" end
  if k then h[#h + 1] = "<script>\n" .. k.js .. "\n</script>\n" end
  h[#h + 1] = "<script>\n" .. RENDER_JS .. "</script>\n</body>\n</html>\n"
  return table.concat(h)
end

-- Rewrite the prose HTML: local images inlined, links to notebooks and paper notes retargeted.
function M.fix_prose(html, ctx)
  html = html:gsub('(<img src=")([^"]*)(")', function(a, src, b)
    if src:match("^%a[%w+.-]*:") or src:match("^#") or src == "" then return nil end
    local uri = data_uri(join(ctx.dir, (src:gsub("&amp;", "&"))))
    if not uri then
      warn(ctx.quiet, "%s: image %s not found; left as a link", ctx.path, src)
      return nil
    end
    return a .. uri .. b
  end)
  -- a link to a local figure file: inlined too, so the page stays self-contained
  html = html:gsub('(<a href=")([^"#]*%.%a%a%a)(")', function(a, href, b)
    if href:match("^%a[%w+.-]*:") or not (href:match("%.png$") or href:match("%.svg$")) then return nil end
    local uri = data_uri(join(ctx.dir, (href:gsub("&amp;", "&"))))
    if not uri then return nil end
    return a .. uri .. b
  end)
  html = html:gsub('(<a href=")([^"#]*%.md)(["#])', function(a, href, b)
    if href:match("^%a[%w+.-]*:") then return nil end
    local target = join(ctx.dir, href)
    local name = stem(href)
    if ctx.paper_for and ctx.paper_for(target) then
      return a .. ctx.paper_for(target) .. b
    end
    if dirname(target) == ctx.dir and util.file_exists(target) then
      return a .. name .. ".html" .. b
    end
    return nil
  end)
  return html
end

-- One run block (al.weave.run's result r) as a cell: code, timing, output, figures (numbered
-- on from nfig[1]), errors and cache notes. max_output is the run's per-block output limit.
function M.render_block(r, nfig, max_output)
  local b = r.block
  local o = b.opts
  local h = {}
  local cls = "cell" .. ((r.error and not o.error) and " failed" or "")
  h[#h + 1] = ('<div class="%s" id="block-%d">'):format(cls, b.index)
  if o.echo ~= false then
    h[#h + 1] = '<pre class="code"><code class="language-lua">' .. highlight.highlight(b.code) .. "</code></pre>"
  end
  local meta
  if r.skipped then meta = "not run (eval=false)"
  elseif r.not_run then meta = "not run: an earlier block failed"
  elseif r.cached then meta = ("from the cache (%.1f s when it ran)"):format(r.elapsed or 0)
  else meta = ("%.2f s"):format(r.elapsed or 0) end
  if o.echo ~= false or r.not_run then
    h[#h + 1] = ('<div class="cell-meta"><span>line %d</span><span>%s</span></div>'):format(b.line,
      esc(meta))
  end
  if o.output ~= false then
    for _, s in ipairs(r.segments) do
      if s.kind == "out" then
        h[#h + 1] = '<pre class="output">' .. esc(s.text:gsub("\n$", "")) .. "</pre>"
      else
        nfig[1] = nfig[1] + 1
        local uri = data_uri(s.file)
        local cap = o.caption or s.title
        local label = ("Figure %d"):format(nfig[1])
        h[#h + 1] = '<figure id="fig-' .. nfig[1] .. '">'
          .. (uri and ('<img src="' .. uri .. '" alt="' .. esc(label .. (cap and (": " .. cap) or ""))
            .. '">') or ("<p>(figure file " .. esc(s.file) .. " is missing)</p>"))
          .. "<figcaption>" .. esc(label .. (cap and (". " .. cap) or "")) .. "</figcaption></figure>"
      end
    end
    if r.truncated then
      h[#h + 1] = '<div class="note">output truncated: ' .. (r.out_bytes or max_output)
        .. " bytes printed, the first " .. max_output .. " shown</div>"
    end
  end
  if r.error then
    h[#h + 1] = '<div class="error"><div class="label">' ..
      (o.error and "error (expected: error=true)" or "error") .. "</div><pre>" .. esc(r.error) .. "</pre></div>"
  end
  if r.lost and #r.lost > 0 then
    h[#h + 1] = '<div class="note">' .. (r.cached
      and "cached block: not restored from the cache (not plain data): "
      or "cached block: these globals are not plain data and will not be restored from the cache: ")
      .. esc(table.concat(r.lost, ", ")) .. "</div>"
  end
  h[#h + 1] = "</div>"
  return table.concat(h, "\n")
end

-- The index page of a --all site: the course's introduction (o.intro, HTML rendered from
-- DIR/index.md, or a default paragraph), the syllabus (one entry per notebook, in course order:
-- { href, title, description, goal, paper = { href, name }, figure = { href, name }, ok }), then
-- the paper notes found in OUTDIR/papers/. When o.intro holds "<!--syllabus-->" the syllabus goes
-- there, else after it.
function M.index(entries, outdir, o)
  o = o or {}
  local h = { '<ol class="index-list">' }
  for i, e in ipairs(entries) do
    h[#h + 1] = ('<li id="note-%d">'):format(i)
    if e.figure then -- floated to the right of the entry
      h[#h + 1] = ('<a href="%s"><img class="thumb" src="%s" alt="figure %s"></a>')
        :format(esc(e.figure.href), esc(e.figure.href), esc(e.figure.name))
    end
    h[#h + 1] = ('<span class="num">%d</span> <a href="%s"><strong>%s</strong></a>'
      .. '<span class="badge %s">%s</span>'):format(i - 1, esc(e.href), esc(e.title),
      e.ok and "ok" or "failed", e.ok and "ok" or "failed")
    if e.goal then h[#h + 1] = '<p class="goal"><em>Goal:</em> ' .. esc(e.goal) .. "</p>"
    elseif e.description then h[#h + 1] = '<p class="desc">' .. esc(e.description) .. "</p>" end
    local links = {}
    if e.paper then
      links[#links + 1] = ('paper note: <a href="%s">%s</a>'):format(esc(e.paper.href), esc(e.paper.name))
    end
    if e.figure then
      links[#links + 1] = ('figure: <a href="%s">%s</a>'):format(esc(e.figure.href), esc(e.figure.name))
    end
    if #links > 0 then h[#h + 1] = '<p class="links">' .. table.concat(links, " · ") .. "</p>" end
    h[#h + 1] = "</li>"
  end
  h[#h + 1] = "</ol>"
  local syllabus = table.concat(h, "\n")
  local intro = o.intro or ("<h1>alignlab notes</h1>\n<p>Course notes woven from <code>notebooks/</code>: "
    .. "every number and figure below was computed by the code shown with it.</p>")
  local body
  local s, e = intro:find("<!--syllabus-->", 1, true)
  if s then body = intro:sub(1, s - 1) .. syllabus .. intro:sub(e + 1)
  else body = intro .. "\n" .. syllabus end
  local b = { body }
  local papers = util.listdir(outdir .. "/papers", "%.html$")
  if #papers > 0 then
    b[#b + 1] = "<h2>Paper notes</h2>\n<ul>"
    for _, p in ipairs(papers) do
      b[#b + 1] = ('<li><a href="papers/%s">%s</a></li>'):format(esc(p), esc(stem(p)))
    end
    b[#b + 1] = "</ul>"
  end
  return M.page{ title = o.title or "alignlab notes", body = table.concat(b, "\n"),
                 footer = "woven by alignlab weave " .. esc(core.version or "") }
end

return M
