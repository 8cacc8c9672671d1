-- Pretraining: a byte-level BPE tokenizer and a small GPT-2, both trained here from scratch on
-- the King James Bible (Debian's bible-kjv-text, 31,102 verses), packed into windows of ctx
-- tokens. Prints a sampled continuation of "And God said" and the loss, first step -> last
-- step and on 64 held-out windows.
--   build/alignlab examples/pretrain.lua steps=3000 d=128 layers=4
local al = require "al"
local cfg = al.args({ steps = 300, d = 64, layers = 2, ctx = 64, vocab = 512, seed = 1 }, arg)
local bible = al.corpus("kjv")
local tok = al.bpe.train(bible, { vocab = cfg.vocab })
local ids, windows = tok:encode(table.concat(bible, "\n")), {}
for i = 1, #ids - cfg.ctx, cfg.ctx do windows[#windows + 1] = table.move(ids, i, i + cfg.ctx - 1, 1, {}) end
local model = al.gpt{ vocab = tok:size(), ctx = cfg.ctx, d = cfg.d, heads = 4, layers = cfg.layers, seed = cfg.seed }
local _, h = al.pretrain(model, windows, { steps = cfg.steps, lr = 3e-3, eval = 64, seed = cfg.seed })
local sample = model:generate({ tok:encode("And God said") }, { max_new = 24, temperature = 0.8, seed = cfg.seed })
print("And God said" .. tok:decode(sample[1]))
print(("pretrain: %d tokens, loss %.2f -> %.2f nats/token, held-out %.2f")
  :format(#ids, h[1].loss, h[#h].loss, h[#h].eval_loss))
