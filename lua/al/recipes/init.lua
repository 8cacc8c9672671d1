-- alignlab: recipes, the shared models experiments build on (base and SFT per world), built once
-- and cached by a hash of their recipe (al.cache). al.recipes.NAME loads lua/al/recipes/NAME.lua.
return setmetatable({}, {
  __index = function(t, k)
    local ok, mod = pcall(require, "al.recipes." .. k)
    if not ok then error("al.recipes." .. tostring(k) .. ": " .. tostring(mod), 2) end
    rawset(t, k, mod)
    return mod
  end,
})
