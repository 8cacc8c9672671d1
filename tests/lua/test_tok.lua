-- Tests of lua/l_tok.c: al.bpe, al.tokenizer, the al.Tokenizer methods and fields, corpora.
print("testing tok")
local al = require "al"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local fails = T.fails

local tmp = os.getenv("TMPDIR") or "/tmp"
local function tmpfile(name) return string.format("%s/al-test-tok-%d-%s", tmp, math.random(1 << 30), name) end

assert(al.bpe == al.core.bpe and al.tokenizer == al.core.tokenizer)

-- ---- BPE ----
local texts = {}
for i = 1, 200 do
  texts[#texts + 1] = string.format("the quick brown fox %d jumps over the lazy dog's back, again and again", i)
end
local tok = al.bpe.train(texts, { vocab = 300, specials = { "<|user|>", "<|end|>" } })
assert(tok:kind() == "bpe")
assert(tok:size() == 300 + 5, tok:size())
assert(#tok == tok:size())
assert(tok.bos == tok:id("<|bos|>") and tok.eos == tok:id("<|eos|>") and tok.pad == tok:id("<|pad|>"))
assert(tok.unk == nil)
assert(tok:id("<|user|>") == 300 and tok:is_special(300) and not tok:is_special(5))
assert(tok:token(tok.eos) == "<|eos|>" and tok:token(-1) == nil and tok:token(tok:size()) == nil)
assert(tok:id("no such token") == nil)
assert(#tok:merges() == 300 - 256)

-- ids are 0-based values; round trip on arbitrary bytes
local s = "the lazy fox\0\255\254 again<|end|>"
local ids = tok:encode(s)
assert(type(ids[1]) == "number" and math.type(ids[1]) == "integer")
assert(#ids < #s, "merges shorten the text")
assert(tok:decode(ids) == s)
local sids = tok:encode(s, { specials = true })
assert(sids[#sids] == tok:id("<|end|>") and tok:decode(sids) == s)
for _, id in ipairs(ids) do assert(id ~= tok:id("<|end|>")) end
local rnd = {}
math.randomseed(7)
for _ = 1, 50 do
  local b = {}
  for j = 1, math.random(0, 200) do b[j] = string.char(math.random(0, 255)) end
  local x = table.concat(b)
  assert(tok:decode(tok:encode(x)) == x)
  rnd[#rnd + 1] = x
end
fails("unknown option 'special'", tok.encode, tok, "x", { special = true })
fails("out of range", tok.decode, tok, { 1, 99999 })
fails("element 2 must be an integer", tok.decode, tok, { 1, "a" })

-- save / load / export
local p = tmpfile("bpe.json")
tok:save(p)
local tok2 = al.tokenizer.load(p)
assert(tok2:size() == tok:size() and tok2.eos == tok.eos)
for _, x in ipairs(rnd) do assert(table.concat(tok2:encode(x), ",") == table.concat(tok:encode(x), ",")) end
assert(tok2:to_json() == tok:to_json())
os.remove(p)
local hf = tmpfile("tokenizer.json")
tok:export_hf(hf)
local j = al.json.read(hf)
assert(j.model.type == "BPE" and j.pre_tokenizer.type == "ByteLevel" and j.decoder.type == "ByteLevel")
assert(#j.added_tokens == 5 and #j.model.merges == 300 - 256)
os.remove(hf)

-- from a file path
local tf = tmpfile("corpus.txt")
local f = assert(io.open(tf, "wb"))
f:write(table.concat(texts, "\n"))
f:close()
local tok3 = al.bpe.train(tf, { vocab = 280, bos = "<s>", eos = "</s>", pad = false })
assert(tok3:token(tok3.bos) == "<s>" and tok3:token(tok3.eos) == "</s>" and tok3.pad == nil)
os.remove(tf)

-- malformed files and bad options
fails("unknown option 'vocab_size'", al.bpe.train, texts, { vocab_size = 300 })
fails("vocab 100 is below the 256", al.bpe.train, texts, { vocab = 100 })
fails("texts[2] must be a string", al.bpe.train, { "a", 3 })
fails("bpe.train: /nonexistent/corpus.txt: cannot open: No such file", al.bpe.train, "/nonexistent/corpus.txt")
do -- a file path: the whole file is one text, as the same text in a list
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(texts[1] .. texts[1])
  f:close()
  local a = al.bpe.train(path, { vocab = 270 })
  local b = al.bpe.train({ texts[1] .. texts[1] }, { vocab = 270 })
  os.remove(path)
  assert(a:size() == b:size() and a:encode(texts[1])[3] == b:encode(texts[1])[3])
end
fails("duplicate special token '<x>'", al.bpe.train, texts, { vocab = 260, specials = { "<x>", "<x>" } })
fails("no merges", al.tokenizer.from_json,
  '{"format":"alignlab-tokenizer","version":1,"type":"bpe","pretokenizer":"gpt2-bytes"}')
fails("merge 0 references unknown token 400", al.tokenizer.from_json,
  '{"format":"alignlab-tokenizer","version":1,"type":"bpe","pretokenizer":"gpt2-bytes","merges":[[1,400]]}')
fails("cannot open", al.tokenizer.load, "/nonexistent/tok.json")

-- ---- words ----
local w = al.tokenizer.words({ "the", "cat", "sat" }, { specials = { "<pad>", "<eos>" }, unk = "<unk>" })
assert(w:kind() == "words" and w:size() == 7) -- 3 words, <pad>, <eos>, <|bos|>, <unk>
assert(w.pad == 3 and w.eos == 4 and w.unk == 6)
local wi = w:encode("the cat sat <eos>")
assert(table.concat(wi, ",") == "0,1,2,4")
assert(w:decode(wi) == "the cat sat <eos>")
assert(table.concat(w:encode("the dog"), ",") == "0,6")
local strict = al.tokenizer.words({ "the", "cat" })
fails("unknown word 'dog'", strict.encode, strict, "the dog")
fails("duplicate token 'the'", al.tokenizer.words, { "the", "the" })
fails("unknown option 'special'", al.tokenizer.words, { "a" }, { special = {} })
local wp = tmpfile("w.json")
w:save(wp)
local w2 = al.tokenizer.load(wp)
assert(w2:kind() == "words" and w2.unk == 6 and table.concat(w2:encode("the dog"), ",") == "0,6")
os.remove(wp)

-- ---- corpora ----
assert(al.core.corpus_path("kjv") == "/usr/lib/bible.data" or os.getenv("ALIGNLAB_CORPUS_DIR"))
fails("unknown name 'nope'", al.core.corpus, "nope")
local ok, fort = pcall(al.core.corpus, "fortunes", { max_bytes = 5000 })
if ok then
  assert(#fort > 10 and type(fort[1]) == "string")
  local ft = al.bpe.train(fort, { vocab = 300 })
  for _, d in ipairs(fort) do assert(ft:decode(ft:encode(d)) == d) end
else
  print("skipping fortunes: " .. tostring(fort))
end

print("OK")
