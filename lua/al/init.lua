-- alignlab: the `al` module, the user's facade only: scripts, experiments and the REPL write
-- al.NAME; no library module requires "al" (each requires the modules it uses, "al.core" for
-- the C bindings; tests/lua/test_layering.lua checks it). `al.NAME` is core.NAME (the C
-- bindings), else the pure-Lua submodule "al.NAME" (lua/al/NAME.lua), loaded on first use. So a
-- new feature is a new file, and this file rarely changes.
local core = require "al.core"

local al = {}
al.core = core
al.version = core.version or "0.1.0"

-- `al.NAME` -> core.NAME, else require("al.NAME"), cached in al.
setmetatable(al, {
  __index = function(t, k)
    if type(k) ~= "string" then return nil end
    local v = core[k]
    if v == nil then
      local ok, mod = pcall(require, "al." .. k)
      if not ok then
        if type(mod) == "string" and mod:find("module 'al." .. k .. "' not found", 1, true) then
          error("al." .. k .. " does not exist", 2)
        end
        error(mod, 0)
      end
      v = mod
    end
    rawset(t, k, v)
    return v
  end,
})

return al
