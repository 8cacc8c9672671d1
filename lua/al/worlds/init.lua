-- al.worlds: the worlds that generate data and hold the gold truth (DESIGN.md "Worlds").
-- `al.worlds.NAME{ seed = s, ... }` builds a world; each member module is required on first
-- use. A new world is a new file lua/al/worlds/NAME.lua plus its name in the list below.
local common = require "al.worlds.common"

return common.lazy("al.worlds.", { "assistant", "sentiment", "arithmetic", "common" })
