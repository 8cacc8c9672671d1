-- experiments/debate.lua
-- Paper:   Irving, Christiano, Amodei 2018, "AI safety via debate" (arXiv:1805.00899); Khan et al.
--          2024, "Debating with More Persuasive LLMs Leads to More Truthful Answers"
--          (arXiv:2402.06782); papers/debate.md.
-- Claim:   a judge too weak to compute an answer judges far better when two debaters argue for
--          the two answers by revealing evidence it can check, than with no debate or with a
--          single consultant; debaters made more persuasive (optimised for the judge's
--          approval, never for the truth) make the judge more accurate, not less.
-- Protocol (fixed before the first full run; a simulation: judge and debaters are scripted, no
--   model is trained):
--   Questions: arithmetic-world chains, digits = 1, mod 10, `steps` steps, ops + - *, one-digit
--   operands. Two answers: the right one and the answer of the liar's chain.
--   Judge: can check one claimed step "x op k = y" per piece of evidence and cannot compute a
--   chain. Its one-step knowledge is flawed: for a fraction `blind` of the 300 facts (x, op, k)
--   (drawn per seed) it believes one specific wrong result. A check "agrees" when the claimed y
--   equals what the judge believes.
--   Honest side: writes the true chain. Liar: writes a chain to a wrong answer with one wrong
--   step (a wrong digit at one step, later steps computed from it); with strength N it draws N
--   candidate lies and keeps the one the judge approves most (most steps the judge agrees with;
--   ties: the first), so it learns to hide its lie in the judge's blind spots.
--   Protocols, each on the same questions, judge and liar:
--   naive: the judge sees the two answers and no evidence: it guesses (1/2);
--   consultancy: one consultant, honest with probability 1/2, shows its chain; the judge checks
--     one step drawn uniformly and accepts the consultant's answer iff it agrees;
--   debate: both show chains; each side challenges one step of the other's chain, choosing by
--     best-of-N under the judge's approval (draw N steps of the opponent's chain, keep the first
--     one the judge disagrees with, else the last drawn); the judge checks both challenged
--     steps; a side whose challenged step the judge rejects loses; both or neither: a coin flip.
--   Debater strength N = 1, 2, 4, ..., `nmax` for both sides alike; also honest strength 1 with
--   liar strength nmax and the reverse. `questions` questions per seed; seeds 1, 2, 3 (each its
--   own judge blind spots, questions and draws).
-- Verdict rule (fixed before the runs; s = the larger sd over seeds of the two quantities
--   compared; Nmax = nmax):
--   D1 acc(debate, N = 1) - acc(naive) > s and > 0.10;
--   D2 acc(debate, N) - acc(consultancy, N) > s at N = 1 and at N = Nmax;
--   D3 acc(debate, Nmax) >= acc(debate, 1) (Khan: more persuasive debaters, more truthful judge);
--   D4 the liar's win rate in debate falls from N = 1 to N = Nmax by more than s.
--   reproduced: D1-D4; partly: D1 and D2 but not D3 or D4; not reproduced: D1 or D2 fails;
--   a single seed (smoke): inconclusive.
-- Cost: about a second of one core (no models); stated in papers/debate.md.
-- Outputs: figures/debate.{svg,png,json}
local al = require "al"
local util = al.util

local ex = al.experiment{
  name = "debate",
  paper = "Irving, Christiano, Amodei 2018 (AI safety via debate); Khan et al. 2024",
  claim = "a judge that can check one fact but not compute the answer is far more accurate with debate than with no debate or a consultant; more persuasive debaters make it more accurate",
  paper_number = "Irving: sparse MNIST judge 59.4% -> 88.9% (6 pixels); Khan: judges 48%/60% -> 76%/88% with debate",
  defaults = { seeds = { 1, 2, 3 }, questions = 2000, steps = 6, blind = 0.15, nmax = 32 },
  smoke = { seeds = { 1 }, questions = 40, nmax = 4 },
}
local cfg = ex.cfg

local world = al.worlds.arithmetic{ seed = 1, digits = 1, steps = cfg.steps, mod = 10, operand_digits = 1 }
local OPS = { "+", "-", "*" }

-- the judge's one-step beliefs: belief[x][op][k] = the result it thinks x op k has
local function make_judge(rng)
  local belief, n_blind = {}, 0
  for x = 0, 9 do
    belief[x] = {}
    for _, op in ipairs(OPS) do
      belief[x][op] = {}
      for k = 1, 9 do
        local y = world:apply(x, op, k)
        if rng:uniform() < cfg.blind then
          y = (y + rng:int(1, 9)) % 10
          n_blind = n_blind + 1
        end
        belief[x][op][k] = y
      end
    end
  end
  return { belief = belief, blind_rate = n_blind / 270 }
end

local function agrees(judge, step) return judge.belief[step.x][step.op][step.k] == step.y end

-- a chain: steps { x, op, k, y } and its answer; wrong = { [i] = value } replaces step i's result
local function chain(p, wrong_at, wrong_value)
  local steps, x = {}, p.start
  for i, s in ipairs(p.ops) do
    local y = world:apply(x, s[1], s[2])
    if i == wrong_at then y = wrong_value end
    steps[i] = { x = x, op = s[1], k = s[2], y = y }
    x = y
  end
  return { steps = steps, answer = x }
end

local function approval(judge, c)
  local a = 0
  for _, st in ipairs(c.steps) do if agrees(judge, st) then a = a + 1 end end
  return a
end

-- the liar of strength n: n candidate lies (one wrong step each, wrong final answer), the one
-- the judge approves most
local function liar(rng, judge, p, n)
  local best, best_a, valid = nil, -1, 0
  for _ = 1, 100 * n do
    local i = rng:int(1, #p.ops)
    local c = chain(p, i, (p.values[i + 1] + rng:int(1, 9)) % 10)
    if c.answer ~= p.answer then
      valid = valid + 1
      local a = approval(judge, c)
      if a > best_a then best, best_a = c, a end
      if valid >= n then break end
    end
  end
  -- a wrong last step always changes the answer
  return best or chain(p, #p.ops, (p.answer + 1) % 10)
end

-- a challenge of strength n against chain c: the first of n drawn steps the judge rejects, else
-- the last drawn; returns whether the judge rejects the challenged step
local function challenge(rng, judge, c, n)
  local rejected = false
  for _ = 1, n do
    local st = c.steps[rng:int(1, #c.steps)]
    if not agrees(judge, st) then rejected = true break end
  end
  return rejected
end

local function debate(rng, judge, honest, lie, nh, nl)
  local honest_rejected = challenge(rng, judge, honest, nl) -- the liar challenges the honest chain
  local lie_rejected = challenge(rng, judge, lie, nh)       -- the honest side challenges the lie
  if lie_rejected and not honest_rejected then return 1, 0 end
  if honest_rejected and not lie_rejected then return 0, 1 end
  return 0.5, 0.5
end

local function consultancy(rng, judge, honest, lie)
  local honest_turn = rng:uniform() < 0.5
  local c = honest_turn and honest or lie
  local ok = agrees(judge, c.steps[rng:int(1, #c.steps)])
  if honest_turn then return ok and 1 or 0 end
  return ok and 0 or 1
end

local NS = {}
do
  local n = 1
  while n <= cfg.nmax do NS[#NS + 1] = n; n = n * 2 end
end
local J = #NS

local per_seed = {}
for _, seed in ipairs(cfg.seeds) do
  local rng = al.rng(seed, 8101)
  local judge = make_judge(rng)
  local qs = world:prompts(cfg.questions, { seed = seed, split = "test" })
  local e = { seed = seed, judge_blind_rate = judge.blind_rate, naive = 0.5, debate = {}, consultancy = {},
              liar_wins = {}, honest_only_strong = 0, liar_only_strong = 0, blind_on_path = 0 }
  for j = 1, J do e.debate[j], e.consultancy[j], e.liar_wins[j] = 0, 0, 0 end
  for _, rec in ipairs(qs) do
    local p = world:parse(rec)
    local honest = chain(p)
    if approval(judge, honest) < #p.ops then e.blind_on_path = e.blind_on_path + 1 / #qs end
    for j, n in ipairs(NS) do
      local lie = liar(rng, judge, p, n)
      local h, l = debate(rng, judge, honest, lie, n, n)
      e.debate[j] = e.debate[j] + h / #qs
      e.liar_wins[j] = e.liar_wins[j] + l / #qs
      e.consultancy[j] = e.consultancy[j] + consultancy(rng, judge, honest, lie) / #qs
      if j == J then
        local lie1 = liar(rng, judge, p, 1)
        e.honest_only_strong = e.honest_only_strong + debate(rng, judge, honest, lie1, n, 1) / #qs
        e.liar_only_strong = e.liar_only_strong + debate(rng, judge, honest, lie, 1, n) / #qs
      end
    end
  end
  ex:say("seed %d: judge blind on %.1f%% of facts; debate %.3f (N=1) %.3f (N=%d); consultancy %.3f / %.3f",
    seed, 100 * judge.blind_rate, e.debate[1], e.debate[J], NS[J], e.consultancy[1], e.consultancy[J])
  per_seed[#per_seed + 1] = e
end

-- ---- summary and verdict --------------------------------------------------------------------

local function over(f)
  local v = {}
  for i, e in ipairs(per_seed) do v[i] = f(e) end
  return { mean = util.mean(v), sd = #v > 1 and util.sd(v) or 0, values = v }
end
local curves = { debate = {}, consultancy = {}, liar_wins = {} }
for k in pairs(curves) do
  for j = 1, J do curves[k][j] = over(function(e) return e[k][j] end) end
end
local naive = over(function(e) return e.naive end)
local d1, dN = curves.debate[1], curves.debate[J]
local c1, cN = curves.consultancy[1], curves.consultancy[J]
local l1, lN = curves.liar_wins[1], curves.liar_wins[J]
local D1 = d1.mean - naive.mean > math.max(d1.sd, naive.sd) and d1.mean - naive.mean > 0.10
local D2 = d1.mean - c1.mean > math.max(d1.sd, c1.sd) and dN.mean - cN.mean > math.max(dN.sd, cN.sd)
local D3 = dN.mean >= d1.mean
local D4 = l1.mean - lN.mean > math.max(l1.sd, lN.sd)
local verdict
if #cfg.seeds < 2 then verdict = "inconclusive"
elseif D1 and D2 and D3 and D4 then verdict = "reproduced"
elseif D1 and D2 then verdict = "partly"
else verdict = "not reproduced" end

local series = {
  { name = "debate (both sides strength N)", x = NS, y = {}, sd = {} },
  { name = "consultancy (liar strength N)", x = NS, y = {}, sd = {} },
  { name = "liar wins in debate", x = NS, y = {}, sd = {} },
  { name = "no debate (guess)", x = NS, y = {}, sd = {} },
}
for j = 1, J do
  series[1].y[j], series[1].sd[j] = curves.debate[j].mean, curves.debate[j].sd
  series[2].y[j], series[2].sd[j] = curves.consultancy[j].mean, curves.consultancy[j].sd
  series[3].y[j], series[3].sd[j] = curves.liar_wins[j].mean, curves.liar_wins[j].sd
  series[4].y[j], series[4].sd[j] = 0.5, 0
end
ex:plot{ kind = "line", logx = true, yrange = { 0, 1 }, key = "top left",
         title = string.format("A one-fact judge (blind on %.0f%% of facts), %d-step chains: accuracy vs debater strength",
           100 * cfg.blind, cfg.steps),
         xlabel = "debater strength N (best-of-N under the judge's approval)", ylabel = "judge accuracy (mean +- sd, 3 seeds)",
         series = series }

local hs = over(function(e) return e.honest_only_strong end)
local ls = over(function(e) return e.liar_only_strong end)
local ours = string.format("judge accuracy: naive 0.50, consultancy %.2f (N=1) / %.2f (N=%d), debate %.2f (N=1) / %.2f (N=%d); liar wins %.2f -> %.2f; honest-only strong %.2f, liar-only strong %.2f",
  c1.mean, cN.mean, NS[J], d1.mean, dN.mean, NS[J], l1.mean, lN.mean, hs.mean, ls.mean)
ex:finish{
  verdict = verdict, ours = ours,
  rule = "D1 debate(N=1) - naive > s and > 0.10; D2 debate - consultancy > s at N=1 and Nmax; D3 debate(Nmax) >= debate(1); D4 liar win rate falls from N=1 to Nmax by > s; reproduced: all, partly: D1 and D2, else not reproduced",
  judged = { naive = naive, debate_1 = d1, debate_max = dN, consultancy_1 = c1, consultancy_max = cN,
             liar_wins_1 = l1, liar_wins_max = lN, honest_only_strong = hs, liar_only_strong = ls,
             D1 = D1, D2 = D2, D3 = D3, D4 = D4 },
  per_seed = per_seed, data = { N = NS, curves = curves },
  notes = "a simulation: scripted judge with a flawed one-step fact table, scripted debaters; no model trained",
}
