-- Direct Preference Optimization, the DPO paper's sentiment experiment in miniature: a model
-- pretrained on reviews writes continuations, simulated labelers who like positive, fluent text
-- pick the better of each of 1,000 pairs, and DPO trains on the pairs against the frozen base.
-- Prints DPO's accuracy and margin on its last batch, then the gold sentiment, P(positive) and
-- fluency of sampled continuations of held-out prompts, base -> DPO.
--   build/alignlab examples/dpo.lua n=4000 beta=0.05
-- Variants: loss=ipo | hinge | cdpo (label smoothing 0.1) | simpo (no reference), e.g.
--   build/alignlab examples/dpo.lua loss=ipo
local al = require "al"
local cfg = al.args({ pt_steps = 200, n = 1000, epochs = 2, loss = "sigmoid", beta = 0.1, seed = 1 },
                    arg)
local w = al.worlds.sentiment{ seed = cfg.seed }
local base = al.gpt{ vocab = w.vocab, ctx = 48, d = 32, heads = 4, layers = 2, seed = cfg.seed }
al.pretrain(base, w:corpus(8000), { tok = w.tok, steps = cfg.pt_steps, lr = 1e-2 })
local prefs = w:compare(base, al.labelers.hh{ seed = cfg.seed }, cfg.n)
local dpo, h = al.dpo(base:clone(), prefs, { tok = w.tok, ref = base, loss = cfg.loss, beta = cfg.beta,
                                            epochs = cfg.epochs, lr = 1e-3 })
local b, d, m = w:evaluate(base), w:evaluate(dpo), h[#h]
print(("dpo (%s): last batch accuracy %.2f, margin %.2f; sentiment %.2f -> %.2f, P(positive) %.2f -> %.2f, "
  .. "fluency %.2f -> %.2f"):format(cfg.loss, m["rewards/accuracies"], m["rewards/margins"], b.sent, d.sent,
  b.p_pos, d.p_pos, b.fluent, d.fluent))
