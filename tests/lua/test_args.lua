-- al.args: key=value overrides checked against the defaults' types; unknown keys and bad
-- values are errors that list the known keys; the defaults are never modified.
print("testing al.args")
local al = require "al"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local fails = T.fails

local defaults = { seeds = { 1, 2, 3 }, betas = { 0.05, 0.1 }, steps = 300, lr = 3e-4,
                   name = "dpo", smoke = false, methods = { "DPO", "PPO" }, extra = {},
                   ppo = { kl = 0.05, epochs = 4 } }

do print("  no arguments: a copy of the defaults")
  local c = al.args(defaults, nil)
  assert(c ~= defaults and c.seeds ~= defaults.seeds and c.ppo ~= defaults.ppo)
  assert(c.steps == 300 and c.seeds[3] == 3 and c.ppo.kl == 0.05)
  local c2 = al.args(defaults, { [0] = "script.lua", [-1] = "alignlab" }) -- arg of a script
  assert(c2.steps == 300)
end

do print("  every type")
  local c = al.args(defaults, { "steps=50", "--lr=1e-3", "name=x=y", "smoke", "seeds=4, 5",
                                "betas=1,0.5", "methods=A,B,C", "extra=1,x", "ppo.kl=0.1",
                                "ppo.epochs=2" })
  assert(c.steps == 50 and math.type(c.steps) == "integer")
  assert(c.lr == 1e-3 and math.type(c.lr) == "float")
  assert(c.name == "x=y" and c.smoke == true)
  assert(#c.seeds == 2 and c.seeds[1] == 4 and c.seeds[2] == 5 and math.type(c.seeds[1]) == "integer")
  assert(c.betas[1] == 1.0 and math.type(c.betas[1]) == "float" and c.betas[2] == 0.5)
  assert(table.concat(c.methods, "|") == "A|B|C")
  assert(c.extra[1] == 1 and c.extra[2] == "x")
  assert(c.ppo.kl == 0.1 and c.ppo.epochs == 2)
  -- defaults untouched
  assert(defaults.steps == 300 and defaults.smoke == false and #defaults.seeds == 3 and defaults.ppo.kl == 0.05)
  for v, want in pairs { ["true"] = true, ["1"] = true, yes = true, on = true, ["false"] = false,
                         ["0"] = false, no = false, OFF = false } do
    assert(al.args(defaults, { "smoke=" .. v }).smoke == want, v)
  end
  assert(al.args(defaults, { "lr=1" }).lr == 1.0 and math.type(al.args(defaults, { "lr=1" }).lr) == "float")
  assert(#al.args(defaults, { "seeds=" }).seeds == 0)
  assert(al.args(defaults, { "steps=5", "steps=6" }).steps == 6) -- last wins
  assert(al.args(defaults, { "steps=1e3" }).steps == 1000)
end

do print("  errors")
  local known = "known: betas, extra, lr, methods, name, ppo.epochs, ppo.kl, seeds, smoke, steps"
  fails("al.args: unknown key 'stpes' (" .. known .. ")", al.args, defaults, { "stpes=5" })
  fails("unknown key 'ppo'", al.args, defaults, { "ppo=1" })
  fails("unknown key 'ppo.beta'", al.args, defaults, { "ppo.beta=1" })
  fails("unknown key 'name.x'", al.args, defaults, { "name.x=1" })
  fails("al.args: steps expects an integer, got '1.5'", al.args, defaults, { "steps=1.5" })
  fails("al.args: steps expects a number, got 'many'", al.args, defaults, { "steps=many" })
  fails("al.args: lr expects a number, got ''", al.args, defaults, { "lr=" })
  fails("al.args: smoke expects a boolean (true/false), got 'maybe'", al.args, defaults, { "smoke=maybe" })
  fails("al.args: seeds expects a comma-separated list of integers, got '1,2.5'", al.args, defaults, { "seeds=1,2.5" })
  fails("al.args: betas expects a comma-separated list of numbers, got 'a'", al.args, defaults, { "betas=a" })
  fails("al.args: steps needs a value (steps=...)", al.args, defaults, { "steps" })
  fails("al.args: expected key=value, got '=5'", al.args, defaults, { "=5" })
  fails("al.args: expected key=value, got 'a b=1'", al.args, defaults, { "a b=1" })
  fails("al.args: argument 1 is not a string", al.args, defaults, { 5 })
  fails("al.args: defaults must be a table", al.args, nil, {})
  fails("al.args: arguments must be a table", al.args, defaults, "steps=1")
  fails("cannot be set from the command line", al.args, { f = print }, { "f=1" })
  -- the error points at the caller's line
  local ok, err = pcall(function() local c = al.args(defaults, { "nope=1" }); return c end)
  assert(not ok and err:find("test_args.lua:%d+: al.args: unknown key"), err)
end

print("OK")
