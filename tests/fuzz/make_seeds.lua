-- Regenerate the seed corpora of fuzz_config, fuzz_tokenizer, fuzz_jsonl and the Lua harness
-- (tests/fuzz/corpus/{config,tokenizer,jsonl,args,notebook}/) from the project's own fixtures:
-- a saved tiny model's config.json and mutants of it, word and BPE tokenizers' JSON, the JSONL
-- files of tests/data, command lines of the alignlab shell, and the notebooks' Markdown.
-- Usage: build/alignlab tests/fuzz/make_seeds.lua
local al = require "al"
local util = require "al.util"
local root = util.root() .. "/tests/fuzz/corpus/"
local function put(dir, name, s)
  util.mkdir_p(root .. dir)
  local f = assert(io.open(root .. dir .. "/" .. name, "wb"))
  f:write(s)
  f:close()
end
local function read(p) local f = assert(io.open(p, "rb")) local s = f:read("a") f:close() return s end

-- config.json: a real one, the scalar-head variant, and one mutant per check
local d = os.tmpname()
os.remove(d)
al.gpt{ vocab = 16, ctx = 8, d = 16, heads = 2, layers = 1 }:save(d)
local cfg = read(d .. "/config.json")
os.execute("rm -rf '" .. d .. "'")
put("config", "ok_tiny.json", cfg)
local sub = {
  bad_embd_1e9 = { '"n_embd":%s*%d+', '"n_embd": 1000000000' },
  bad_layers = { '"n_layer":%s*%d+', '"n_layer": 0' },
  bad_heads = { '"n_head":%s*%d+', '"n_head": 3' },
  bad_ctx = { '"n_ctx":%s*%d+', '"n_ctx": 9' },
  bad_type = { '"gpt2"', '"llama"' },
  bad_float = { '"vocab_size":%s*%d+', '"vocab_size": 16.5' },
}
for name, r in pairs(sub) do put("config", name .. ".json", (cfg:gsub(r[1], r[2], 1))) end
put("config", "bad_trailing.json", cfg .. " x")
put("config", "bad_dup.json", (cfg:gsub("{", '{"n_embd": 8, ', 1)))
put("config", "bad_deep.json", '{"model_type":"gpt2","x":' .. string.rep("[", 1200) .. string.rep("]", 1200) .. "}")

-- tokenizer.json: words and BPE
local words = al.tokenizer.words({ "the", "cat", "sat", "on", "mat" }, { specials = { "<|endoftext|>" } })
put("tokenizer", "ok_words.json", words:to_json())
local bpe = al.bpe.train({ "the cat sat on the mat", "the mat sat on the cat 123", "\xc3\xa9t\xc3\xa9 \xe2\x82\xac" },
  { vocab = 300 })
put("tokenizer", "ok_bpe.json", bpe:to_json())
put("tokenizer", "bad_truncated.json", bpe:to_json():sub(1, 200))
put("tokenizer", "bad_not_object.json", "[1,2,3]")

-- JSONL: the fixtures of tests/data, and some hostile lines
for _, f in ipairs(util.listdir(util.root() .. "/tests/data", "%.jsonl$")) do
  put("jsonl", f, read(util.root() .. "/tests/data/" .. f))
end
put("jsonl", "bad_mixed.jsonl", '{"prompt":"a","completion":"b"}\n\n{"prompt":1}\n{"chosen":"x","rejected":"y"}\n' ..
  '{"a":"\\u0000"}\n{"prompt":"a","prompt":"b","completion":"c"}\n\xff\xfe\n' .. string.rep("x", 600) .. "\n")

-- command lines (one argument per line) and notebooks
put("args", "ok_overrides.txt", "steps=10\nlr=1e-3\nname=x\nflag=true\nseeds=1,2,3")
put("args", "bad_values.txt", "steps=ten\n=3\nlr==1\nseeds=1,,2\n--smoke\nx")
for _, f in ipairs(util.listdir(util.root() .. "/notebooks", "%.md$")) do
  put("notebook", f, read(util.root() .. "/notebooks/" .. f))
end
put("notebook", "bad_fences.md", "# t\n\n```lua {cache=x}\nprint(1)\n\n```\n```lua\n~~~\n```{.lua}\n")
print("seeds written under " .. root)
