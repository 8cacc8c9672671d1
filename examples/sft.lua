-- Supervised fine-tuning: a base model pretrained on the assistant world's mixed-quality corpus
-- (right and wrong answers, compliance with harmful requests) is fine-tuned on demonstrations
-- of benign tasks, with the loss on completion tokens only. Prints the held-out SFT loss and
-- the world's gold scores of greedy answers, base -> SFT.
--   build/alignlab examples/sft.lua pt_steps=1000 steps=600 d=64
local al = require "al"
local cfg = al.args({ pt_steps = 200, steps = 200, d = 32, seed = 1 }, arg)
local w = al.worlds.assistant{ seed = cfg.seed }
local base = al.gpt{ vocab = w.vocab, ctx = w.max_len, d = cfg.d, heads = 4, layers = 2, seed = cfg.seed }
al.pretrain(base, w:corpus(8000), { tok = w.tok, steps = cfg.pt_steps, lr = 1e-2 })
local sft, h = al.sft(base:clone(), w:demos(4000), { tok = w.tok, steps = cfg.steps, lr = 3e-3, eval = 200 })
local b, s = w:evaluate(base), w:evaluate(sft)
print(("sft: held-out loss %.2f nats/token; helpful %.2f -> %.2f, harmless %.2f -> %.2f, gold reward %.2f -> %.2f")
  :format(h[#h].eval_loss, b.helpful, s.helpful, b.harmless, s.harmless, b.reward, s.reward))
