-- Tests of the RL loss-aggregation variants and REINFORCE++ (lua/al/ppo.lua M.policy_loss,
-- PPO:advantages; al.grpo's scale_rewards; al.reinforce_pp): each aggregation against a hand
-- computation, REINFORCE++'s returns-to-go and global whitening by hand, Dr. GRPO's unscaled
-- group advantages, and short runs of every variant with exact resume of REINFORCE++.
print("testing loss aggregation, reinforce++")
local al = require "al"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local fails, with = T.fails, T.merge
local ppo = require "al.ppo"

local function close(a, b, what) assert(math.abs(a - b) < 1e-12, ("%s: %.17g vs %.17g"):format(what, a, b)) end

do print("  aggregation by hand: ratio 1, so token loss = -A")
  -- sequence 1: 2 tokens, A = {1, 3}; sequence 2: 4 tokens, A = {1, 1, 1, 1}; max_new = 5
  local old = { { -1.0, -2.0 }, { -0.5, -0.5, -1.5, -0.25 } }
  local new = { { -1.0, -2.0 }, { -0.5, -0.5, -1.5, -0.25 } }
  local adv = { { 1, 3 }, { 1, 1, 1, 1 } }
  -- loss, and the gradient's normaliser per sequence (d loss / d logp_it = -A_it / norm_i)
  local want = {
    token_mean = { -8 / 6, { 6, 6 } },                -- sum / tokens
    seq_mean = { -((1 + 3) / 2 + 4 / 4) / 2, { 4, 8 } }, -- mean_i (sum_t / |o_i|): 1/(2 |o_i|)
    seq_sum = { -(4 + 4) / 2, { 2, 2 } },             -- mean_i sum_t
    constant = { -8 / (2 * 5), { 10, 10 } },          -- sum / (sequences * max_new)
  }
  for agg, w in pairs(want) do
    local l = ppo.policy_loss(new, old, adv, 0.2, agg, 5)
    close(l.loss, w[1], agg .. " loss")
    for i = 1, 2 do
      for t = 1, #adv[i] do close(l.dlogp[i][t], -adv[i][t] / w[2][i], agg .. " dlogp") end
    end
  end
  -- the gradient is the loss's: a finite difference on one log-prob (ratio away from 1, unclipped)
  for _, agg in ipairs { "token_mean", "seq_mean", "seq_sum", "constant" } do
    local n2 = { { -1.0, -2.0 }, { -0.5, -0.45, -1.5, -0.25 } }
    local g = ppo.policy_loss(n2, old, adv, 0.2, agg, 5).dlogp[2][2]
    local h = 1e-6
    n2[2][2] = -0.45 + h
    local lp = ppo.policy_loss(n2, old, adv, 0.2, agg, 5).loss
    n2[2][2] = -0.45 - h
    local lm = ppo.policy_loss(n2, old, adv, 0.2, agg, 5).loss
    assert(math.abs((lp - lm) / (2 * h) - g) < 1e-7, agg .. " finite difference")
  end
end

local function tiny(seed) return al.gpt{ vocab = 12, ctx = 12, d = 16, heads = 2, layers = 1, seed = seed } end
local prompts = {}
for i = 1, 8 do prompts[i] = { i % 12, (i * 5) % 12 } end
local function count3(_, c)
  local n = 0
  for _, t in ipairs(c) do if t == 3 then n = n + 1 end end
  return n
end

do print("  REINFORCE++ advantages by hand: returns-to-go, then global whitening")
  local p = ppo.new(tiny(1), { reward = count3, prompts = prompts, advantage = "reinforce++", kl = 0.5, max_new = 6,
    whiten_advantages = false, progress = false })
  local b = { seqs = { {}, {} }, completions = { { 1, 2 }, { 1, 2, 3 } },
    old_logp = { { -1, -2 }, { -1, -1, -1 } }, ref_logp = { { -1.5, -2 }, { -1, -2, -1 } }, scores = { 2, -1 } }
  p:advantages(b)
  -- r = -0.5 (logp - ref) + score at the last token: row 1 {-0.25, 2}, row 2 {0, -0.5, -1}
  local want = { { 1.75, 2 }, { -1.5, -1.5, -1 } }
  for i = 1, 2 do for t = 1, #want[i] do close(b.adv[i][t], want[i][t], "return-to-go") end end
  p.o.whiten_advantages = true
  p:advantages(b)
  local all, s = {}, 0
  for i = 1, 2 do for t = 1, #want[i] do all[#all + 1] = want[i][t]; s = s + want[i][t] end end
  local mean, var = s / #all, 0
  for _, x in ipairs(all) do var = var + (x - mean) ^ 2 end
  var = var / (#all - 1) + 1e-8 -- TRL's masked_whiten: the unbiased variance (al_whiten)
  assert(math.abs(b.adv[1][1] - (1.75 - mean) / math.sqrt(var)) < 1e-12, "whitened over the whole batch")
  assert(math.abs(b.adv[2][3] - (-1 - mean) / math.sqrt(var)) < 1e-12)
end

do print("  Dr. GRPO: scale_rewards = false centres without dividing by the std")
  local p = ppo.new(tiny(1), { reward = count3, prompts = prompts, advantage = "grpo", group = 2, kl = 0, max_new = 6,
    scale_rewards = false, progress = false })
  local b = { seqs = { {}, {}, {}, {} }, completions = { { 1 }, { 1 }, { 1 }, { 1 } },
    old_logp = { { -1 }, { -1 }, { -1 }, { -1 } }, ref_logp = { { -1 }, { -1 }, { -1 }, { -1 } }, scores = { 3, 1, 5, 5 } }
  p:advantages(b)
  close(b.adv[1][1], 1, "3 - 2") close(b.adv[2][1], -1, "1 - 2") close(b.adv[3][1], 0, "5 - 5")
  p.o.scale_rewards = true
  p:advantages(b)
  assert(math.abs(b.adv[1][1]) > 0.5 and math.abs(b.adv[1][1] + b.adv[2][1]) < 1e-12)
end

do print("  every variant trains; REINFORCE++ resumes exactly")
  local base = { reward = count3, prompts = prompts, max_new = 6, steps = 4, batch_size = 8, group = 4,
    lr = 1e-2, progress = false }
  for _, agg in ipairs { "token_mean", "seq_mean", "seq_sum", "constant" } do
    local _, h = al.grpo(tiny(3), with(base, { loss_agg = agg }))
    assert(#h == 4 and h[4].reward == h[4].reward, agg)
  end
  local _, h = al.grpo(tiny(3), with(base, { loss_agg = "constant", scale_rewards = false }))
  assert(#h == 4)
  local rb = with(base, { steps = 5 })
  rb.group = nil
  local a = al.reinforce_pp(tiny(4), rb)
  local dir = T.tmpdir("rpp")
  local b = tiny(4)
  local ok, err = T.kill_at_backward(b, 7, al.reinforce_pp, b, with(rb, { ckpt = dir, save_every = 2, epochs = 1 }))
  assert(not ok and tostring(err):find("killed"), tostring(err))
  local a1 = al.reinforce_pp(tiny(4), with(rb, { epochs = 1 }))
  local c, hc = al.reinforce_pp(tiny(4), with(rb, { resume = dir, epochs = 1 }))
  assert(T.param_bytes(a1) == T.param_bytes(c), "resumed REINFORCE++ is bit-identical")
  assert(hc[#hc].step == 5)
  a:free()
  T.rmrf(dir)
  fails("loss_agg must be token_mean, seq_mean, seq_sum or constant", al.grpo, tiny(1), with(base, { loss_agg = "mean" }))
  fails("advantage must be gae, grpo, rloo or reinforce++", al.ppo, tiny(1), with(base, { advantage = "ppo" }))
  fails("al.reinforce_pp: advantage is reinforce++", al.reinforce_pp, tiny(1), with(base, { advantage = "grpo" }))
end
print("OK")
