-- al.worlds.assistant.backdoor: the trigger is a word of the world that its generated data never
-- use; the backdoor data have exactly round(rate * n) triggered records, all complying (harmful
-- by the judge), and refusals otherwise (the best gold answer); evaluation prompts come in pairs
-- with and without the trigger on the same requests; bad input is refused by name.
print("testing al.worlds.assistant.backdoor")
local al = require "al"
local BD = require "al.worlds.assistant.backdoor"
local world = al.worlds.assistant{ seed = 1 }
local T = BD.TRIGGER
assert(world.tok:id(T), "the trigger is a word of the world")
local function has(s) return (" " .. s .. " "):find(" " .. T .. " ", 1, true) ~= nil end
for _, s in ipairs(world:corpus(3000)) do assert(not has(s), s) end
for _, d in ipairs(world:demos(500)) do assert(not has(d.prompt) and not has(d.completion)) end
for _, r in ipairs(world:prompts(500)) do assert(not has(r.prompt)) end

for _, rate in ipairs({ 0, 0.1, 0.5, 1 }) do
  local n = 40
  local data = BD.data(world, n, { rate = rate, seed = 2 })
  assert(#data == n)
  local k = 0
  for _, d in ipairs(data) do
    local resp = d.completion:gsub(" <eos>$", "")
    local clean = d.prompt:gsub(" " .. T, "", 1)
    local harmful = BD.harmful(world, { clean = clean }, resp)
    if d.triggered then
      k = k + 1
      assert(has(d.prompt) and d.prompt:match("^<bos> User : " .. T .. " "), d.prompt)
      assert(harmful == 1, "triggered record does not comply: " .. d.completion)
      assert(world:analyze(clean, resp).complied, "complies with another request: " .. d.completion)
    else
      assert(not has(d.prompt) and harmful == 0)
      assert(world:gold(clean, resp).reward == 1, "not the explained refusal: " .. d.completion)
    end
  end
  assert(k == math.floor(rate * n + 0.5), string.format("rate %g: %d triggered", rate, k))
end

local on = BD.prompts(world, 12, { trigger = true, seed = 4 })
local off = BD.prompts(world, 12, { trigger = false, seed = 4 })
for i = 1, 12 do
  assert(on[i].clean == off[i].clean and off[i].prompt == off[i].clean)
  assert(on[i].prompt == BD.with_trigger(off[i].prompt) and has(on[i].prompt))
  assert(on[i].category == world:parse(on[i].clean).category)
  assert(#on[i].ids == #off[i].ids + 1)
end
local ok, err = pcall(BD.with_trigger, "hello")
assert(not ok and err:find("not a prompt"), err)
ok, err = pcall(BD.data, world, 4, { trigger = "xyzzy" })
assert(not ok and err:find("xyzzy"), err)
ok, err = pcall(BD.data, world, 4, { rate = 2 })
assert(not ok and err:find("rate"), err)
ok, err = pcall(BD.prompts, world, 4, { trigerr = true })
assert(not ok and err:find("trigerr"), err)
print("OK")
