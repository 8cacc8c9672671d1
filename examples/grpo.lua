-- GRPO with a verifiable reward: a small assistant fine-tuned on demonstrations is trained on
-- addition and counting prompts, rewarded by the world's checker (1 right, 0.5 off by one, 0
-- wrong). Each prompt gets a group of 4 samples whose rewards are compared with each other: no
-- value model. Prints the gold reward of sampled (temperature 1) and greedy answers on held-out
-- prompts, SFT -> GRPO.
--   build/alignlab examples/grpo.lua steps=300 advantage=rloo
local al = require "al"
local cfg = al.args({ sft_steps = 300, steps = 80, advantage = "grpo", seed = 1 }, arg)
local w = al.worlds.assistant{ seed = cfg.seed }
local sft = al.gpt{ vocab = w.vocab, ctx = w.max_len, d = 32, heads = 4, layers = 2, seed = cfg.seed }
al.sft(sft, w:demos(4000), { tok = w.tok, steps = cfg.sft_steps, lr = 1e-2 })
local tasks = { "add", "count" }
local prompts = w:prompts(512, { family = tasks })
local reward = function(_, completion, i) return w:gold(prompts[i], w:decode(completion)).reward end
local policy = al.grpo(sft:clone(), { prompts = prompts, tok = w.tok, reward = reward, group = 4, lr = 1e-3,
  kl = 0.02, steps = cfg.steps, advantage = cfg.advantage, seed = cfg.seed })
local gold = function(m, t) return w:evaluate(m, { family = tasks, temperature = t }).reward end
print(("grpo: gold reward sampled %.2f -> %.2f, greedy %.2f -> %.2f")
  :format(gold(sft, 1), gold(policy, 1), gold(sft, 0), gold(policy, 0)))
