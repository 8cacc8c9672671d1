-- Browser test of a woven page (tests/browser/run.sh): headless Chromium renders the basic fixture
-- from file://; KaTeX markup, loaded figures, no console errors and a real screenshot are
-- checked there. Skips cleanly (with a message, still "OK") when chromium is not installed.
print("testing weave in a browser")

local shell = os.getenv("ALIGNLAB_SHELL") or require("al.core").exe()
local q = function(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local p = assert(io.popen("sh ../browser/run.sh " .. q(shell) .. " 2>&1; echo \"exit=$?\""))
local text = p:read("a")
p:close()
io.write(text)
local code = tonumber(text:match("exit=(%d+)%s*$"))
if code == 77 then
  print("SKIP: chromium not installed; the browser test did not run")
else
  assert(code == 0, "the browser test failed (exit " .. tostring(code) .. ")")
  assert(text:find("PASS: browser test", 1, true))
end
print("OK")
