-- Reward modelling: 2,000 pairs of review continuations from an SFT-like policy, labelled by
-- simulated human labelers (noisy: two of them agree on ~73% of pairs), train a Bradley-Terry
-- reward model. Prints its held-out accuracy and its rewards for three continuations of "the
-- movie"; the third games the proxy: the world's gold reward punishes repetition, which the
-- labelled pairs almost never show.
--   build/alignlab examples/reward_model.lua n=8000 epochs=4 d=64
local al = require "al"
local cfg = al.args({ n = 2000, epochs = 3, d = 32, seed = 1 }, arg)
local w = al.worlds.sentiment{ seed = cfg.seed }
local prefs = w:compare(w:scripted_policy(), al.labelers.hh{ seed = cfg.seed }, cfg.n)
local rm = al.gpt{ vocab = w.vocab, ctx = 48, d = cfg.d, heads = 4, layers = 2, seed = cfg.seed }
local _, h = al.reward_model(rm, prefs, { tok = w.tok, epochs = cfg.epochs, lr = 3e-3, eval = 0.1 })
local p, R = "<bos> the movie", { "was great and the plot was fun . <eos>",
  "was horrible and the plot was boring . <eos>", "great great great great great great <eos>" }
local P = w:encode(p)
local r = al.reward_model.rewards(rm, { P, P, P }, { w:encode(R[1]), w:encode(R[2]), w:encode(R[3]) })
print(("reward_model: held-out accuracy %.2f; r(great review) = %.2f, r(horrible review) = %.2f, "
  .. "r(great x6) = %.2f (gold %.2f)"):format(h.eval_accuracy, r[1], r[2], r[3], w:gold(p, R[3]).reward))
