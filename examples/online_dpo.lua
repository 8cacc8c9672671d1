-- Online (iterative) DPO: each round the current policy writes two continuations of each of 64
-- review openings, the world's lexicon sentiment (a reward model works the same: reward = rm)
-- picks the better one, and DPO trains on the round's pairs against the frozen base. Prints the
-- mean reward of the samples, first round -> last, and the gold sentiment and P(positive) of
-- held-out continuations, base -> online DPO.
--   build/alignlab examples/online_dpo.lua rounds=10 pairs=128
local al = require "al"
local cfg = al.args({ pt_steps = 200, rounds = 6, pairs = 64, beta = 0.1, seed = 1 }, arg)
local w = al.worlds.sentiment{ seed = cfg.seed }
local base = al.gpt{ vocab = w.vocab, ctx = 48, d = 32, heads = 4, layers = 2, seed = cfg.seed }
al.pretrain(base, w:corpus(8000), { tok = w.tok, steps = cfg.pt_steps, lr = 1e-2 })
local reward = function(prompt, completion) return w:gold(w:decode(prompt), w:decode(completion)).sent end
local policy, h = al.online_dpo(base:clone(), { prompts = w:prompts(256), tok = w.tok, reward = reward, ref = base,
  rounds = cfg.rounds, pairs = cfg.pairs, beta = cfg.beta, lr = 1e-3, epochs = 2, seed = cfg.seed })
local b, d = w:evaluate(base), w:evaluate(policy)
print(("online_dpo: %d rounds, sample reward %.2f -> %.2f; sentiment %.2f -> %.2f, P(positive) %.2f -> %.2f")
  :format(#h, h[1].reward, h[#h].reward, b.sent, d.sent, b.p_pos, d.p_pos))
