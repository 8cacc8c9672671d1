-- Best-of-n sampling: the policy is not trained; for each prompt, draw n continuations and keep
-- the one the scorer likes best (a Lua function here, the lexicon sentiment; a reward model
-- works the same). The KL of best-of-n to the sampling policy is at most log n - (n - 1)/n
-- nats, compare examples/ppo.lua. Prints the mean score of all samples and of the picks.
--   build/alignlab examples/best_of_n.lua n=64 prompts=256
local al = require "al"
local cfg = al.args({ pt_steps = 200, n = 16, prompts = 64, seed = 1 }, arg)
local w = al.worlds.sentiment{ seed = cfg.seed }
local base = al.gpt{ vocab = w.vocab, ctx = 48, d = 32, heads = 4, layers = 2, seed = cfg.seed }
al.pretrain(base, w:corpus(8000), { tok = w.tok, steps = cfg.pt_steps, lr = 1e-2 })
local score = function(prompt, completion) return w:gold(w:decode(prompt), w:decode(completion)).sent end
local prompts = w:prompts(cfg.prompts, { split = "test" })
local _, best, samples = al.best_of_n(base, prompts, score, cfg.n, { tok = w.tok, seed = cfg.seed })
local all, picked = 0, 0
for i, s in ipairs(samples) do picked = picked + best[i]; for _, x in ipairs(s) do all = all + x.score end end
print(("best_of_n: sentiment %.2f (all %d samples) -> %.2f (best of %d); KL <= %.2f nats")
  :format(all / (#prompts * cfg.n), #prompts * cfg.n, picked / #prompts, cfg.n, al.best_of_n.kl(cfg.n)))
