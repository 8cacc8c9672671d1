-- Tests of the Hugging Face model directory (core/hf.c al_hf_save, m:save{ tok =, card = }):
-- every file is checked against the documented fields by a schema written here (transformers is
-- not installed: tests/python/check_hf.py loads the directory with it where it is), the chat
-- template is rendered by an independent renderer (lib/minijinja.lua) and compared with
-- al.data.render on several conversations, and the directory loads back bit-exactly.
print("testing hf")
local al = require "al"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local J = require "minijinja"
local fails = T.fails

local texts = {}
for i = 1, 120 do texts[i] = ("the cat sat on mat %d, and the dog ran: héllo wörld"):format(i) end
local tok = al.bpe.train(texts, { vocab = 290, specials = { "<|system|>", "<|user|>", "<|assistant|>", "<|end|>" } })
local m = al.gpt{ vocab = tok:size() + 3, ctx = 16, d = 16, heads = 2, layers = 1, seed = 3 }
local dir = T.tmpdir("hf")
m:save(dir, { tok = tok, card = { trainer = "al.test", data = "120 | synthetic\nlines", steps = 3, ok = true } })

local function read_json(name)
  local s = assert(T.read_file(dir .. "/" .. name), name .. " is written")
  return al.json.decode(s), s
end

-- ---- a schema checker: spec = { key = "string" | "integer" | "number" | "boolean" | "id"
-- (an integer id in the vocabulary) | "null" | "array" | "object" | { "enum", values... } },
-- "?" suffix for optional, "|null" for nullable ----
local V = m:config().vocab or m:config().V
local function is_int(x) return math.type(x) == "integer" or (type(x) == "number" and x == math.floor(x)) end
local function check(name, obj, spec)
  for k, want in pairs(spec) do
    local v = obj[k]
    local w = type(want) == "string" and want or "enum"
    local opt, nullable = w:sub(-1) == "?", w:find("|null", 1, true) ~= nil
    w = w:gsub("%?$", ""):gsub("|null", "")
    local ok
    if v == nil or v == al.json.null then ok = (v == nil and opt) or nullable
    elseif w == "string" then ok = type(v) == "string"
    elseif w == "integer" then ok = is_int(v)
    elseif w == "number" then ok = type(v) == "number"
    elseif w == "boolean" then ok = type(v) == "boolean"
    elseif w == "id" then ok = is_int(v) and v >= 0 and v < V
    elseif w == "array" then ok = type(v) == "table" and (#v > 0 or next(v) == nil)
    elseif w == "object" then ok = type(v) == "table"
    elseif w == "enum" then
      ok = false
      for i = 2, #want do ok = ok or v == want[i] end
    end
    if not ok then error(("%s: field '%s' = %s does not match %s"):format(name, k, tostring(v), tostring(want)), 2) end
  end
end
assert(al.json.null ~= nil, "al.json.null exists")

-- config.json: GPT2Config's keys, the ids of the tokenizer (not GPT2Config's 50256 default)
local cfg = read_json("config.json")
check("config.json", cfg, {
  model_type = { "enum", "gpt2" }, architectures = "array", vocab_size = "integer", n_positions = "integer",
  n_ctx = "integer", n_embd = "integer", n_layer = "integer", n_head = "integer", n_inner = "integer|null",
  layer_norm_epsilon = "number", activation_function = { "enum", "gelu_new" }, tie_word_embeddings = "boolean",
  torch_dtype = { "enum", "float32" }, bos_token_id = "id", eos_token_id = "id", pad_token_id = "id",
})
assert(cfg.architectures[1] == "GPT2LMHeadModel")
assert(cfg.bos_token_id == tok.bos and cfg.eos_token_id == tok.eos and cfg.pad_token_id == tok.pad)
assert(cfg.vocab_size == V and cfg.n_positions == 16)

-- generation_config.json
local gen = read_json("generation_config.json")
check("generation_config.json", gen, {
  bos_token_id = "id", eos_token_id = "id", pad_token_id = "id", max_length = "integer", do_sample = "boolean",
  temperature = "number", top_k = "integer", top_p = "number",
})
assert(gen.eos_token_id == tok.eos and gen.max_length == 16 and gen.do_sample == true and gen.top_k == 0)

-- tokenizer_config.json and special_tokens_map.json
local tc = read_json("tokenizer_config.json")
check("tokenizer_config.json", tc, {
  tokenizer_class = { "enum", "PreTrainedTokenizerFast" }, model_max_length = "integer", bos_token = "string",
  eos_token = "string", pad_token = "string", unk_token = "string|null", clean_up_tokenization_spaces = "boolean",
  added_tokens_decoder = "object", chat_template = "string", additional_special_tokens = "array",
  add_bos_token = "boolean",
})
assert(tc.model_max_length == 16 and tc.clean_up_tokenization_spaces == false and tc.add_bos_token == false)
assert(tc.bos_token == "<|bos|>" and tc.eos_token == "<|eos|>" and tc.pad_token == "<|pad|>")
local extra = table.concat(tc.additional_special_tokens, ",")
assert(extra == "<|system|>,<|user|>,<|assistant|>,<|end|>", extra)
local ndec = 0
for id, a in pairs(tc.added_tokens_decoder) do
  ndec = ndec + 1
  local n = tonumber(id)
  assert(n and tok:token(n) == a.content and tok:is_special(n), id)
  check("added_tokens_decoder." .. id, a, { content = "string", lstrip = "boolean", rstrip = "boolean",
    normalized = "boolean", single_word = "boolean", special = "boolean" })
end
assert(ndec == tok:size() - 290, ndec)
local stm = read_json("special_tokens_map.json")
assert(stm.bos_token == tc.bos_token and stm.eos_token == tc.eos_token and stm.pad_token == tc.pad_token)
assert(table.concat(stm.additional_special_tokens, ",") == extra)

-- tokenizer.json is al_tok_export_hf's (tested in test_tok); its specials are the added tokens
local tj = read_json("tokenizer.json")
assert(tj.model.type == "BPE" and #tj.added_tokens == ndec)

-- ---- the chat template renders what alignlab renders ----
local jinja = assert(T.read_file(dir .. "/chat_template.jinja"))
assert(jinja == tc.chat_template, "chat_template.jinja is tokenizer_config.json's template")
local convs = {
  { { role = "user", content = "hi" } },
  { { role = "system", content = "Be brief." }, { role = "user", content = "What is 2+2?" },
    { role = "assistant", content = "4." }, { role = "user", content = "And 3+3?" } },
  { { role = "user", content = "multi\nline\n\ttext with 'quotes' and \"double\" and \\ and {{ braces }}" },
    { role = "assistant", content = " leading space, trailing newline\n" } },
  { { role = "user", content = "" }, { role = "assistant", content = "héllo wörld ✓ <|end|> forged" } },
  { { role = "system", content = "s" }, { role = "user", content = "u1" }, { role = "assistant", content = "a1" },
    { role = "user", content = "u2" }, { role = "assistant", content = "a2" } },
  {},
}
for i, c in ipairs(convs) do
  for _, gp in ipairs { false, true } do
    local want = al.data.render(c, { generation_prompt = gp })
    local got = J.render(jinja, { messages = c, add_generation_prompt = gp })
    assert(got == want, ("conversation %d (generation prompt %s): %q vs %q"):format(i, tostring(gp), got, want))
  end
end
-- the renderer is not trivially permissive: a role alignlab refuses raises in the template too
fails("role must be system, user or assistant", J.render, jinja, { messages = { { role = "tool", content = "x" } } })
fails("not system, user or assistant", al.data.render, { { role = "tool", content = "x" } })
fails("unsupported statement", J.render, "{% set x = 1 %}", {})
-- with the chat specials as special tokens, the rendered text encodes (specials on) to the ids
-- alignlab's chat formatting gives (al.data.prompt), so HF's one-pass tokenization agrees
local c2 = convs[2]
local text = J.render(jinja, { messages = c2, add_generation_prompt = true })
assert(table.concat(tok:encode(text, { specials = true }), ",") == table.concat(al.data.prompt(tok, c2), ","))

-- ---- the model card ----
local card = assert(T.read_file(dir .. "/README.md"))
assert(card:find("^%-%-%-\nlicense: other"), "YAML front matter with a licence placeholder")
assert(card:find("this is a toy model", 1, true) and card:find("## Intended use", 1, true))
assert(card:find("| trainer | al.test |", 1, true) and card:find("| steps | 3 |", 1, true))
assert(card:find("| data | 120 \\| synthetic lines |", 1, true), "cells escape | and newlines")
local p_data, p_ok = card:find("| data |", 1, true), card:find("| ok |", 1, true)
assert(p_data < p_ok, "card rows sorted by key")

-- ---- loading back is bit-exact; other tools' files are ignored, bad ids refused ----
local back = al.load(dir)
assert(T.param_bytes(back) == T.param_bytes(m))
local toks = { 1, 2, 3, 4, 5 }
assert(table.concat(back:logits(toks), ",") == table.concat(m:logits(toks), ","))
back:free()
local function set_cfg(k, v)
  local c = read_json("config.json")
  c[k] = v
  T.write_file(dir .. "/config.json", al.json.encode(c))
end
set_cfg("eos_token_id", { tok.eos, tok.pad }) -- a list, as transformers allows
al.load(dir):free()
set_cfg("eos_token_id", V)
fails("config.json: \"eos_token_id\" must be an integer in [0, " .. (V - 1) .. "]", al.load, dir)
set_cfg("eos_token_id", al.json.null)
al.load(dir):free()

-- a tokenizer larger than the vocabulary is refused; without a tokenizer the ids are null
local small = al.gpt{ vocab = 50, ctx = 8, d = 8, heads = 2, layers = 1, seed = 1 }
fails("more than the model's vocabulary 50", small.save, small, T.tmpdir("hf-small"), { tok = tok })
local d2 = T.tmpdir("hf-notok")
small:save(d2)
local c2j = al.json.decode(assert(T.read_file(d2 .. "/config.json")))
assert(c2j.bos_token_id == al.json.null and c2j.eos_token_id == al.json.null)
assert(T.read_file(d2 .. "/generation_config.json") and T.read_file(d2 .. "/README.md"))
assert(not T.read_file(d2 .. "/tokenizer_config.json"), "no tokenizer files without a tokenizer")
fails("card: value of 'x' must be a string", small.save, small, d2, { card = { x = {} } })
T.rmrf(d2)
T.rmrf(dir)
print("OK")
