-- Hostile sizes are refused before anything of their size is allocated, with a clear error naming
-- the file: a config.json asking for 10^9-wide layers, a safetensors header claiming terabytes
-- (as its length and as a tensor's shape), a 100 MB JSONL line, JSON nested 100,000 deep (in
-- config.json, tokenizer.json, a JSONL record, a safetensors header and al.json). Each case runs
-- in a child process limited to 1 GB of address space (ulimit -v), so a loader that allocated
-- what the file asks for would die of "out of memory" instead of printing the expected refusal.
-- (Not under the sanitizer build: ASan reserves terabytes of shadow memory, which ulimit -v forbids.)
print("testing hostile sizes")
local core = require "al.core"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local exe = T.shell_quote(os.getenv("ALIGNLAB_SHELL") or core.exe())

local dir = T.tmpdir("hostile")
core.mkdir_p(dir)
local function put(name, s) T.write_file(dir .. "/" .. name, s) return dir .. "/" .. name end

local function w_escape(s) return (s:gsub("%p", "%%%0")) end

-- run `code` in a child under ulimit -v 1 GB; it must fail with an error containing every string of want
local function refused(what, code, want)
  local script = put("case.lua", "local al = require 'al'\nlocal D = " .. string.format("%q", dir) .. "\n" .. code)
  local limit = (os.getenv("ALIGNLAB_SANITIZE") or "") == "" and "ulimit -v 1048576; " or ""
  local h = io.popen(string.format("%s%s %s 2>&1; echo rc=$?", limit, exe, T.shell_quote(script)))
  local out = h:read("a")
  h:close()
  assert(not out:find("rc=0", 1, true), what .. ": accepted\n" .. out)
  for _, w in ipairs(want) do assert(out:find(w, 1, true), what .. ": the error lacks '" .. w .. "':\n" .. out) end
  assert(not out:lower():find("out of memory", 1, true) and not out:find("not enough memory", 1, true),
    what .. ": it tried to allocate\n" .. out)
  print(string.format("  %-44s %s", what, (out:match("([^\n]*" .. w_escape(want[#want]) .. "[^\n]*)") or ""):sub(1, 150)))
end

local function config(extra)
  local c = { model_type = "gpt2", vocab_size = 16, n_positions = 8, n_embd = 16, n_layer = 1, n_head = 2 }
  for k, v in pairs(extra or {}) do c[k] = v end
  return core.json.encode(c)
end

-- config.json asking for 10^9-wide layers / 10^9 layers
core.mkdir_p(dir .. "/wide")
T.write_file(dir .. "/wide/config.json", config{ n_embd = 1000000000, n_head = 1 })
refused("config.json n_embd = 10^9", "al.load(D .. '/wide')", { dir .. "/wide/config.json", "n_embd", "16384" })
T.write_file(dir .. "/wide/config.json", config{ n_layer = 1000000000 })
refused("config.json n_layer = 10^9", "al.load(D .. '/wide')", { dir .. "/wide/config.json", "n_layer" })
-- a model at the caps of every dimension is still refused by its parameter count
T.write_file(dir .. "/wide/config.json", config{ n_embd = 16384, n_layer = 1024, n_head = 16, vocab_size = 1048576 })
refused("config.json 16384 x 1024 layers", "al.load(D .. '/wide')", { dir .. "/wide/config.json", "parameters" })

-- safetensors: a header length of 2^40 bytes; a tensor of shape [10^6, 10^6, 10^6]
local function u64(n)
  local b = {}
  for i = 1, 8 do b[i] = string.char(n % 256) n = n // 256 end
  return table.concat(b)
end
core.mkdir_p(dir .. "/st")
T.write_file(dir .. "/st/config.json", config())
T.write_file(dir .. "/st/model.safetensors", u64(1 << 40) .. "{}      ")
refused("safetensors header length 2^40", "al.load(D .. '/st')", { dir .. "/st/model.safetensors", "header" })
local hdr = '{"wte.weight":{"dtype":"F32","shape":[1000000,1000000,1000000],"data_offsets":[0,4000000000000000000]}}'
T.write_file(dir .. "/st/model.safetensors", u64(#hdr) .. hdr .. "\0\0\0\0")
refused("safetensors tensor of 4 * 10^18 bytes", "al.load(D .. '/st')", { dir .. "/st/model.safetensors" })

-- a 100 MB JSONL line (written in 1 MB pieces), through al.data and al.jsonl
do
  local f = assert(io.open(dir .. "/big.jsonl", "wb"))
  f:write('{"prompt":"a","completion":"b"}\n{"prompt":"')
  local mb = string.rep("x", 1 << 20)
  for _ = 1, 100 do f:write(mb) end
  f:write('","completion":"c"}\n')
  f:close()
end
local tok = "local tok = al.tokenizer.words({ 'a', 'b', 'c' }, {})\n"
refused("JSONL line of 100 MB (al.data.sft)", tok .. "al.data.sft(D .. '/big.jsonl', tok)",
  { dir .. "/big.jsonl:2", "longer than 16777216 bytes" })
refused("JSONL line of 100 MB (al.jsonl.lines)", "for _ in al.jsonl.lines(D .. '/big.jsonl') do end",
  { dir .. "/big.jsonl:2", "longer than 16777216 bytes" })
os.remove(dir .. "/big.jsonl")

-- JSON nested 100,000 deep
local deep = string.rep("[", 100000) .. string.rep("]", 100000)
core.mkdir_p(dir .. "/deep")
T.write_file(dir .. "/deep/config.json", '{"model_type":"gpt2","x":' .. deep .. '}')
refused("config.json nested 100,000 deep", "al.load(D .. '/deep')", { dir .. "/deep/config.json", "nested deeper than 1000" })
put("deep.tokenizer.json", '{"format":' .. deep .. '}')
refused("tokenizer.json nested 100,000 deep", "al.tokenizer.load(D .. '/deep.tokenizer.json')",
  { dir .. "/deep.tokenizer.json", "nested deeper than 1000" })
put("deep.jsonl", '{"prompt":"a","completion":' .. deep .. '}\n')
refused("JSONL record nested 100,000 deep", tok .. "al.data.sft(D .. '/deep.jsonl', tok)",
  { dir .. "/deep.jsonl:1", "nested deeper than 1000" })
refused("al.jsonl.lines record nested 100,000 deep", "for _ in al.jsonl.lines(D .. '/deep.jsonl', { strict = true }) do end",
  { dir .. "/deep.jsonl:1", "nested deeper than 1000" })
refused("al.json.decode nested 100,000 deep", "al.json.decode(" .. string.format("%q", deep) .. ")",
  { "nested deeper than 1000" })
local sh = '{"a":' .. string.rep("[", 50000) .. string.rep("]", 50000) .. '}'
T.write_file(dir .. "/st/model.safetensors", u64(#sh) .. sh)
refused("safetensors header nested 50,000 deep", "al.load(D .. '/st')", { dir .. "/st/model.safetensors", "nested deeper than 1000" })
T.rmrf(dir)
print("OK")
