-- Kahneman-Tversky Optimization on unpaired data: the DPO example's labelled pairs are split into
-- single (prompt, completion, label) examples, TRL's unpaired shape (what a thumbs-up/down log
-- gives), and KTO trains on them against the frozen base. Prints KTO's last-batch reward margin
-- and the gold sentiment and P(positive) of sampled continuations of held-out prompts, base -> KTO.
--   build/alignlab examples/kto.lua n=2000 beta=0.2 undesirable_weight=1.5
local al = require "al"
local cfg = al.args({ pt_steps = 200, n = 1000, epochs = 2, beta = 0.1, desirable_weight = 1.0,
                      undesirable_weight = 1.0, seed = 1 }, arg)
local w = al.worlds.sentiment{ seed = cfg.seed }
local base = al.gpt{ vocab = w.vocab, ctx = 48, d = 32, heads = 4, layers = 2, seed = cfg.seed }
al.pretrain(base, w:corpus(8000), { tok = w.tok, steps = cfg.pt_steps, lr = 1e-2 })
local data = {}
for _, p in ipairs(w:compare(base, al.labelers.hh{ seed = cfg.seed }, cfg.n)) do
  data[#data + 1] = { prompt = p.prompt, completion = p.chosen, label = true }
  data[#data + 1] = { prompt = p.prompt, completion = p.rejected, label = false }
end
local kto, h = al.kto(base:clone(), data, { tok = w.tok, ref = base, beta = cfg.beta, epochs = cfg.epochs, lr = 1e-3,
  desirable_weight = cfg.desirable_weight, undesirable_weight = cfg.undesirable_weight })
local b, k, m = w:evaluate(base), w:evaluate(kto), h[#h]
print(("kto: %d examples, last batch margin %.2f, kl %.3f; sentiment %.2f -> %.2f, P(positive) %.2f -> %.2f")
  :format(#data, m["rewards/margins"] or 0, m.kl, b.sent, k.sent, b.p_pos, k.p_pos))
