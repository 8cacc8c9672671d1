-- PPO-RLHF on Ziegler et al.'s positive-sentiment task: a model pretrained on reviews learns to
-- continue review openings positively. The reward is a Lua function of the prompt and
-- completion tokens (the world's lexicon sentiment; a reward model works the same: reward = rm,
-- see examples/reward_model.lua). A per-token KL penalty to the frozen base has its coefficient
-- adapted towards a target KL (a short horizon, so that the controller acts within 60 steps).
-- Prints the batch reward and KL, first step -> last, and gold scores on held-out prompts.
--   build/alignlab examples/ppo.lua steps=200 kl_target=6
local al = require "al"
local cfg = al.args({ pt_steps = 200, steps = 60, kl_target = 3, seed = 1 }, arg)
local w = al.worlds.sentiment{ seed = cfg.seed }
local base = al.gpt{ vocab = w.vocab, ctx = 48, d = 32, heads = 4, layers = 2, seed = cfg.seed }
al.pretrain(base, w:corpus(8000), { tok = w.tok, steps = cfg.pt_steps, lr = 1e-2 })
local reward = function(prompt, completion) return w:gold(w:decode(prompt), w:decode(completion)).sent end
local policy, h = al.ppo(base:clone(), { prompts = w:prompts(256), tok = w.tok, reward = reward,
  kl = { target = cfg.kl_target, beta = 0.1, horizon = 100 }, steps = cfg.steps, lr = 1e-3,
  value_init = "policy", seed = cfg.seed })
local b, p, m = w:evaluate(base), w:evaluate(policy), h[#h]
print(("ppo: batch reward %.2f -> %.2f, KL %.2f nats (target %g, beta 0.10 -> %.2f); held-out "
  .. "P(positive) %.2f -> %.2f, fluency %.2f -> %.2f"):format(h[1].reward, m.reward, m.kl, cfg.kl_target,
  m.beta, b.p_pos, p.p_pos, b.fluent, p.fluent))
