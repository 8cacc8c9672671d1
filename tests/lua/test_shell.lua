-- The alignlab executable: REPL on a pipe, scripts, -e, -i, -l, --version, --help, subcommands,
-- exit statuses, Ctrl-C in a script. (The REPL on a terminal is tested by tests/lua_runner.c.)
print("testing the shell")
local core = require "al.core"
local SHELL = os.getenv("ALIGNLAB_SHELL") or core.exe()
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local shq, read_file, write_file = T.shell_quote, T.read_file, T.write_file

-- run the shell with arguments and stdin text; returns stdout, stderr, exit status
local function run(args, input, env)
  local inf, outf, errf = os.tmpname(), os.tmpname(), os.tmpname()
  write_file(inf, input or "")
  local ok, how, code = os.execute((env or "") .. " " .. shq(SHELL) .. " " .. args .. " <" ..
    shq(inf) .. " >" .. shq(outf) .. " 2>" .. shq(errf))
  local out, err = read_file(outf), read_file(errf)
  os.remove(inf); os.remove(outf); os.remove(errf)
  assert(how == "exit", "killed by a signal: " .. tostring(code))
  return out, err, code
end

local tmp = os.tmpname()
os.remove(tmp)
core.mkdir_p(tmp)

do print("  REPL on a pipe")
  local out, err, code = run("", table.concat({
    "x = 20",
    "x + 1",                      -- expression printed
    "=x * 2",                     -- old-style =expr
    "error('boom')",              -- an error line ...
    "print('after error')",       -- ... then a good line
    "for i = 1, 3 do",            -- a multi-line chunk
    "  io.write(i, ' ')",
    "end",
    "print()",
    "local t = { b = 2, a = { 1, 2 }, ['c d'] = true }; return t",
    "return 1, 'two', nil",
    "al.core.rng(1) ~= nil",      -- `al` is a global in the REPL
    "x = = 1",                    -- a syntax error
    "'str'",
  }, "\n") .. "\n")
  assert(code == 0, "REPL exit status " .. tostring(code))
  local expect = "21\n40\nafter error\n1 2 3 \n{ a = { 1, 2 }, b = 2, [\"c d\"] = true }\n1\ttwo\tnil\ntrue\nstr\n"
  assert(out == expect, "REPL stdout was:\n" .. out)
  assert(err:find("stdin:1: boom", 1, true), err)
  assert(err:find("unexpected symbol near '='", 1, true), err)
  assert(not out:find("> ", 1, true), "no prompts on a pipe")
end

do print("  REPL: an unfinished chunk at EOF is a syntax error, exit status still 0")
  local out, err, code = run("", "for i = 1, 2 do\nprint(i)\n")
  assert(code == 0 and out == "", out)
  assert(err:find("'end' expected", 1, true), err)
end

do print("  REPL: deep and cyclic tables, userdata through __tostring")
  local out, _, code = run("", "t = { 1 }; t.self = t; return t\n" ..
    "{ a = { b = { c = { d = { e = { f = 1 } } } } } }\n" ..
    "setmetatable({}, { __tostring = function() return 'custom!' end })\n" ..
    "al.core.rng(1)\n")
  assert(code == 0)
  local lines = {}
  for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
  assert(lines[1] == "{ 1, self = <cycle> }", lines[1])
  assert(lines[2] == "{ a = { b = { c = { d = {...} } } } }", lines[2])
  assert(lines[3] == "custom!", lines[3])
  assert(lines[4]:match("^al%.Rng%(state %x+%.%.%.%)$"), lines[4])
end

do print("  scripts: arg, varargs, exit statuses, tracebacks")
  local s = tmp .. "/s.lua"
  write_file(s, "print(arg[0] == ..., #arg, arg[1], arg[2], select('#', ...))\n")
  local out, _, code = run(shq(s) .. " a b")
  assert(code == 0)
  -- `...` is the script's arguments: arg[0] ~= "a"
  assert(out == "false\t2\ta\tb\t2\n", out)

  write_file(s, "local function f() error('bad thing') end\nf()\n")
  local out2, err2, code2 = run(shq(s))
  assert(code2 == 1, "a failing script exits 1, got " .. tostring(code2))
  assert(out2 == "")
  assert(err2:find("s.lua:1: bad thing", 1, true), err2)
  assert(err2:find("stack traceback", 1, true), err2)
  assert(err2:find("in local 'f'", 1, true) or err2:find("in function 'f'", 1, true) or
         err2:find("in upvalue 'f'", 1, true), err2)

  write_file(s, "os.exit(3)\n")
  local _, _, code3 = run(shq(s))
  assert(code3 == 3)

  write_file(s, "error(setmetatable({}, { __tostring = function() return 'an object' end }))\n")
  local _, err4, code4 = run(shq(s))
  assert(code4 == 1 and err4:find("an object", 1, true), err4)

  write_file(s, "error({})\n")
  local _, err5, code5 = run(shq(s))
  assert(code5 == 1 and err5:find("error object is a table value", 1, true), err5)

  write_file(s, "x = = 1\n")
  local _, err6, code6 = run(shq(s))
  assert(code6 == 1 and err6:find("unexpected symbol", 1, true), err6)

  local _, err7, code7 = run(shq(tmp .. "/missing.lua"))
  assert(code7 == 1 and err7:find("cannot open", 1, true), err7)

  -- scripts find the al modules from any directory
  write_file(s, "local al = require 'al'; print(al.version, type(al.plot), al.core.hash('a'))\n")
  local out8, err8, code8 = run(shq(s))
  assert(code8 == 0, err8)
  assert(out8:match("^%d+%.%d+%.%d+\ttable\taf63dc4c8601ec8c\n$"), out8)
end

do print("  a script from stdin with -")
  local out, _, code = run("- x y", "print(arg[1], arg[2], ...)\n")
  assert(code == 0 and out == "x\ty\tx\ty\n", out)
end

do print("  -e, -l, -i, --version, --help, unknown options")
  local out, _, code = run("-e " .. shq("print(1 + 1)") .. " -e " .. shq("print(al ~= nil)"))
  assert(code == 0 and out == "2\ntrue\n", out)
  local _, err, code2 = run("-e " .. shq("error('in e')"))
  assert(code2 == 1 and err:find("in e", 1, true), err)
  local out3, _, code3 = run("-l al.core -e " .. shq("print(type(al.core.hash))"))
  assert(code3 == 0 and out3 == "function\n", out3)
  local out4, _, code4 = run("-e " .. shq("y = 5") .. " -i", "y * 2\n")
  assert(code4 == 0 and out4 == "10\n", out4)
  local out5, _, code5 = run("--version")
  assert(code5 == 0 and out5:match("^alignlab %d+%.%d+%.%d+ %(Lua 5%.4"), out5)
  local out6, _, code6 = run("-v")
  assert(code6 == 0 and out6 == out5)
  local out7, _, code7 = run("--help")
  assert(code7 == 0 and out7:find("usage: alignlab", 1, true) and out7:find("reproduce", 1, true))
  local _, err8, code8 = run("--frobnicate")
  assert(code8 == 1 and err8:find("unknown option '--frobnicate'", 1, true), err8)
  local _, err9, code9 = run("-e")
  assert(code9 == 1 and err9:find("needs an argument", 1, true), err9)
end

do print("  subcommands dispatch to al.<name>.main(args)")
  core.mkdir_p(tmp .. "/mods/al")
  write_file(tmp .. "/mods/al/bench.lua", [[
local M = {}
function M.main(args)
  print("bench", #args, args[1], args[2], arg[0])
  return tonumber(args[2] or 0)
end
return M
]])
  write_file(tmp .. "/mods/al/weave.lua", "return { main = function() error('weave broke') end }\n")
  local lua_dir = core.exe():match("^(.*)/[^/]*$") -- not needed: the template adds the real dir
  local real = package.searchpath("al", package.path):gsub("/al/init%.lua$", "")
  local env = "ALIGNLAB_LUA_PATH=" .. shq(tmp .. "/mods/?.lua;" .. real .. "/?.lua;" .. real .. "/?/init.lua")
  local out, err, code = run("bench x 4", "", env)
  assert(code == 4, "main's number is the exit status: " .. tostring(code) .. err)
  assert(out == "bench\t2\tx\t4\tbench\n", out)
  local _, err2, code2 = run("weave notes.md", "", env)
  assert(code2 == 1 and err2:find("weave broke", 1, true), err2)
  local _, err3, code3 = run("reproduce", "", "ALIGNLAB_LUA_PATH=" .. shq(tmp .. "/nowhere/?.lua"))
  assert(code3 == 1 and err3:find("subcommand 'reproduce' is not available", 1, true), err3)
  assert(lua_dir)
end

do print("  Ctrl-C in a script: exit status 130 with a message")
  local s, mark = tmp .. "/loop.lua", tmp .. "/started"
  write_file(s, ("local f = io.open(%q, 'w'); f:close(); local x = 0; while true do x = x + 1 end\n"):format(mark))
  local cmd = ("%s %s >/dev/null 2>%s & p=$!; i=0; while [ ! -e %s ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; "
    .. "kill -INT $p; wait $p; echo $? > %s"):format(shq(SHELL), shq(s), shq(tmp .. "/err"), shq(mark), shq(tmp .. "/rc"))
  os.execute(cmd)
  local rc = tonumber(read_file(tmp .. "/rc"))
  assert(rc == 130, "status after Ctrl-C: " .. tostring(rc))
  assert(read_file(tmp .. "/err"):find("alignlab: interrupted", 1, true), read_file(tmp .. "/err"))
end

do print("  Ctrl-C can be caught by pcall in a script")
  local s, mark = tmp .. "/catch.lua", tmp .. "/started2"
  write_file(s, ([[
local f = io.open(%q, 'w'); f:close()
local ok, err = pcall(function() while true do end end)
print(ok, (tostring(err):gsub('^.-:%%d+: ', '')))
]]):format(mark))
  local cmd = ("%s %s >%s 2>&1 & p=$!; i=0; while [ ! -e %s ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; "
    .. "sleep 0.1; kill -INT $p; wait $p; echo $? > %s"):format(shq(SHELL), shq(s), shq(tmp .. "/out"), shq(mark), shq(tmp .. "/rc"))
  os.execute(cmd)
  assert(read_file(tmp .. "/out") == "false\tinterrupted\n", read_file(tmp .. "/out"))
  assert(tonumber(read_file(tmp .. "/rc")) == 0)
end

os.execute("rm -rf " .. shq(tmp))
print("OK")
