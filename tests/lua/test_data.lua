-- Tests of lua/l_data.c: al.data.sft / al.data.preferences from files and from records, get,
-- batches (padding, masks, deterministic shuffling), stats, the chat template, and errors.
print("testing data")
local al = require "al"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local fails = T.fails

local function join(t) return table.concat(t, ",") end

assert(al.data == al.core.data)
local specials = { "<pad>", "<eos>" }
for _, s in ipairs(al.data.chat_specials) do specials[#specials + 1] = s end
local tok = al.tokenizer.words({ "the", "cat", "sat", "on", "mat", "add", "1", "2", "3", "4" },
  { specials = specials })
local PAD, EOS = tok.pad, tok.eos
local USR, AST, END = tok:id("<|user|>"), tok:id("<|assistant|>"), tok:id("<|end|>")

-- ---- SFT from records: every shape ----
local sft = al.data.sft({
  { text = "the cat sat" },
  { prompt = "add 1 2", completion = "3" },
  { messages = { { role = "user", content = "add 2 2" }, { role = "assistant", content = "4" } } },
}, tok)
assert(sft:size() == 3 and #sft == 3 and sft:kind() == "sft")
local e = sft:get(1)
assert(join(e.tokens) == join({ 0, 1, 2, EOS }) and join(e.mask) == "0,1,1,1" and e.prompt_len == 0)
e = sft:get(2)
assert(join(e.tokens) == join({ 5, 6, 7, 8, EOS }) and join(e.mask) == "0,0,0,1,1" and e.prompt_len == 3)
e = sft:get(3)
assert(join(e.tokens) == join({ USR, 5, 7, 7, END, AST, 9, END }), join(e.tokens))
assert(join(e.mask) == "0,0,0,0,0,0,1,1" and e.prompt_len == 6)
fails("index 4 out of range", sft.get, sft, 4)

-- the generation prompt is the untrained prefix
local p = al.data.prompt(tok, { { role = "user", content = "add 2 2" } })
assert(join(p) == join({ USR, 5, 7, 7, END, AST }))
assert(al.data.render({ { role = "user", content = "hi" } }, { generation_prompt = true })
  == "<|user|>\nhi<|end|><|assistant|>\n")

-- ---- batches ----
local seen, nb = {}, 0
for b in sft:batches(2, { seed = 1 }) do
  nb = nb + 1
  assert(b.B == #b.tokens and #b.mask == b.B and #b.lens == b.B and #b.prompt_lens == b.B)
  for i = 1, b.B do
    assert(#b.tokens[i] == b.T and #b.mask[i] == b.T)
    for t = b.lens[i] + 1, b.T do assert(b.tokens[i][t] == PAD and b.mask[i][t] == 0) end
    local ex = sft:get(b.index[i])
    assert(b.lens[i] == ex.len and b.prompt_lens[i] == ex.prompt_len)
    for t = 1, ex.len do assert(b.tokens[i][t] == ex.tokens[t] and b.mask[i][t] == ex.mask[t]) end
    seen[b.index[i]] = true
  end
end
assert(nb == 2 and seen[1] and seen[2] and seen[3])
local function order(opts)
  local o = {}
  for b in sft:batches(1, opts) do o[#o + 1] = b.index[1] end
  return join(o)
end
assert(order({ seed = 3 }) == order({ seed = 3 }))
assert(order({ shuffle = false }) == "1,2,3")
local n = 0
for _ in sft:batches(2, { drop_last = true }) do n = n + 1 end
assert(n == 1)
for b in sft:batches(3, { pad_to = 10 }) do assert(b.T == 10) end
fails("unknown option 'shufle'", sft.batches, sft, 2, { shufle = true })
fails("longer than pad_to 2", function() for _ in sft:batches(3, { pad_to = 2 }) do end end)

-- ---- preferences from a file, with strict=false counting ----
fails("bad_prefs.jsonl:2: missing field 'chosen'", al.data.preferences, "../data/bad_prefs.jsonl", tok)
local prefs = al.data.preferences("../data/bad_prefs.jsonl", tok, { strict = false })
local st = prefs:stats()
assert(prefs:size() == 2 and st.skipped == 3 and st.lines == 5 and st.kept == 2)
assert(st.first_error:find("bad_prefs.jsonl:2: missing field 'chosen'", 1, true))
local x = prefs:get(1)
assert(join(x.chosen.tokens) == join({ 5, 6, 7, 8, EOS }) and join(x.rejected.tokens) == join({ 5, 6, 7, 9, EOS }))
assert(x.prompt_len == 3 and join(x.chosen.mask) == "0,0,0,1,1" and x.line == 1)
for b in prefs:batches(2, { shuffle = false }) do
  assert(b.B == 2 and #b.chosen.tokens == 2 and #b.rejected.tokens == 2)
  assert(#b.chosen.tokens[1] == b.T and #b.rejected.tokens[1] == b.T)
  assert(join(b.prompt_lens) == "3,3" and join(b.index) == "1,2")
end

-- records: implicit prompt and truncation/drop counts
local pr = al.data.preferences({
  { chosen = "add 1 2 3", rejected = "add 1 2 4" },
  { prompt = "add", chosen = "1 2 3 4", rejected = "1 2 3 3" },
}, tok, { max_len = 4 })
assert(pr:size() == 1)
local ps = pr:stats()
assert(ps.truncated == 1 and ps.dropped == 1, ps.dropped)
assert(pr:get(1).prompt_len == 3) -- "add 1 2" is the shared prefix up to its last space
local tr = al.data.sft({ { prompt = "add 1", completion = "2 3 4" } }, tok, { max_len = 4, too_long = "truncate" })
assert(tr:stats().truncated == 1 and tr:get(1).truncated and tr:get(1).len == 4)
fails("exceeds max_len 4", al.data.sft, { { prompt = "add 1", completion = "2 3 4" } }, tok,
  { max_len = 4, too_long = "error" })

-- errors name the record
fails("records:2: missing field 'rejected'", al.data.preferences, { { prompt = "add", chosen = "1", rejected = "2" },
  { prompt = "add", chosen = "1" } }, tok)
fails("records:1: messages[0]: role 'bot'", al.data.sft, { { messages = { { role = "bot", content = "the" } } } }, tok)
fails("records:1: records[1].text contains a NUL byte", al.data.sft, { { text = "a\0b" } }, tok)
fails("unknown word 'dog'", al.data.sft, { { text = "the dog" } }, tok)
fails("unknown option 'maxlen'", al.data.sft, {}, tok, { maxlen = 3 })
fails("too_long must be", al.data.sft, {}, tok, { too_long = "cut" })
fails("al.Tokenizer expected", al.data.sft, {}, {})
fails("cannot open", al.data.sft, "../data/nope.jsonl", tok)
local lax = al.data.sft({ { text = "the" }, { text = "the dog" }, { nope = 1 } }, tok, { strict = false })
assert(lax:size() == 1 and lax:stats().skipped == 2)

-- BPE with the chat specials: HH-RLHF raw text
local bpe = al.bpe.train({ "Human: hi Assistant: hello, what is the capital of France? Paris. Rome." },
  { vocab = 280, specials = al.data.chat_specials })
local hh = al.data.preferences("../data/hh_sample.jsonl", bpe)
assert(hh:size() == 2)
local h = hh:get(1)
local prompt = {}
for i = 1, h.prompt_len do prompt[i] = h.chosen.tokens[i] end
assert(bpe:decode(prompt):sub(-12) == "\n\nAssistant:", bpe:decode(prompt))
local resp = {}
for i = h.prompt_len + 1, h.rejected.len do resp[#resp + 1] = h.rejected.tokens[i] end
assert(bpe:decode(resp) == " I don't know.<|eos|>")
local chat = al.data.preferences("../data/prefs_chat.jsonl", bpe)
assert(chat:size() == 4)

print("OK")
