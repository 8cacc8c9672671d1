-- A small deterministic training + sampling run, as a child script for
-- tests/lua/test_blas_kernels.lua: pretraining steps and SFT steps on a model wide enough that
-- OpenBLAS's sgemm kernels (not only its small-matrix paths) do the products, then sampling.
-- Prints "kernel=<OpenBLAS core> weights=<hash> samples=<hash>".
local al = require "al"
local core = require "al.core"
local m = al.gpt{ vocab = 96, ctx = 32, d = 96, heads = 4, layers = 2, seed = 5 }
local rng = al.rng(7)
local seqs, sft = {}, {}
for i = 1, 64 do
  local s = {}
  for k = 1, 32 do s[k] = (i * 7 + k * 3 + rng:int(5)) % 96 end
  seqs[i] = s
  sft[i] = { prompt = { i % 96, (i * 5) % 96 }, completion = { (i * 11) % 96, 95 } }
end
al.pretrain(m, seqs, { steps = 4, batch_size = 16, lr = 3e-3, progress = false })
al.sft(m, sft, { steps = 3, batch_size = 16, lr = 3e-3, progress = false })
local dir = os.tmpname()
os.remove(dir)
m:save(dir)
local f = assert(io.open(dir .. "/model.safetensors", "rb"))
local w = f:read("a")
f:close()
os.execute("rm -rf '" .. dir .. "'")
local prompts = {}
for i = 1, 8 do prompts[i] = { i, 2 * i } end
local c = m:generate(prompts, { max_new = 16, seed = 3 })
local parts = {}
for i, s in ipairs(c) do parts[i] = table.concat(s, ",") end
print(string.format("kernel=%s weights=%s samples=%s", core.blas().core, core.hash(w), core.hash(table.concat(parts, ";"))))
