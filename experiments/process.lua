-- experiments/process.lua
-- Paper:   Lightman et al. 2023, "Let's Verify Step by Step" (arXiv:2305.20050); Uesato et al.
--          2022 (arXiv:2211.14275); papers/process.md.
-- Claim:   as best-of-N verifiers, a process reward model (trained on per-step labels) solves
--          more problems than an outcome reward model (trained on final-answer labels, same
--          solutions), the gap widens with N, both beat majority voting, and the PRM's picks
--          reach right answers by wrong steps less often.
-- Protocol (fixed before the first full run):
--   World: arithmetic, digits = 1, steps = 4, mod = 10, ops + - *, one-digit operands
--   ("start 7 ; + 3 ; * 4 ; - 2 ; =" -> "7 + 3 = 0 ; 0 * 4 = 0 ; ... ; ans 8"); mod 10 makes a
--   wrong chain land on the right answer at times (a "*" by an even k or 5 collapses values).
--   Generator: a scripted policy (no model): each problem has a difficulty h ~ U(0, 1) and a
--   per-step error rate q = q_lo + (q_hi - q_lo) h; a wrong step writes the problem's own
--   "misconception" value for that step with probability `systematic` (fixed per problem and
--   step, so wrong answers can outvote the right one) or else a uniformly random wrong digit;
--   later steps continue from the written (wrong) value with probability 0.7 (the world's
--   propagate), else from the right one (right answer, wrong steps).
--   Labels (same budget: `train` policy solutions of distinct training problems, per seed):
--   ORM: one label, final answer right (world:outcome_gold), read at the last token (<eos>);
--   PRM: one label per step up to and including the first wrong step (world:process_gold),
--   read at the ';' that ends the step. Both: the same transformer (d 64, 2 layers, 4 heads),
--   trained from the same seeded init (no pretraining) by al.reward_model.classifier (binary
--   cross-entropy), the same steps, batch and learning rate.
--   Test: `problems` test problems x a pool of `pool` policy solutions each. Scores: ORM =
--   P(correct); PRM = product of P(step correct) over all steps (Lightman), and the minimum as a
--   secondary curve. Best-of-N solve rate for N = 1, 2, 4, ..., pool by the unbiased pool
--   estimator (al.core.bon, ties broken uniformly); majority voting over N samples' final
--   answers (ties broken uniformly) by `votes` random subsets per problem and N; trace error =
--   P(some step wrong | final answer right) among each selector's picks.
--   Seeds 1, 2, 3: each seed draws its own training solutions, test problems, pools and RM inits.
--   Diagnostics (added after the first full run, not judged; they draw from their own random
--   stream, so the judged numbers are unchanged): the label base rates next to the RMs' held-out
--   accuracies, and two verifiers with no signal through the same estimator: i.i.d. uniform
--   scores per sample (a check of the estimator: flat at pass@1) and a random function of the
--   solution text (one uniform score per distinct text, as a deterministic RM that knows
--   nothing would give: copies of one text share its score).
-- Verdict rule (fixed before the runs; s = the larger sd over seeds of the quantities compared,
--   so it includes both RMs every verdict depends on; Nmax = pool):
--   P1 solve(PRM) - solve(ORM) at Nmax > s and >= 0.03;
--   P2 solve(ORM) >= solve(majority) - 0.01 at Nmax (mean over seeds);
--   P3 the PRM - ORM gap rises with N: Spearman(gap, log N) >= 0.7 on the seed means;
--   P4 trace error among right-answer picks at Nmax: PRM <= 0.5 x ORM (mean over seeds).
--   reproduced: P1-P4; partly: P1 or P4 holds but not all four; not reproduced: neither P1 nor
--   P4; a single seed (smoke): inconclusive.
-- Cost: measured and stated in papers/process.md (target: at most ~90 s of one core).
-- Outputs: figures/process.{svg,png,json}
local al = require "al"
local util = al.util

local ex = al.experiment{
  name = "process",
  paper = "Lightman et al. 2023, Let's Verify Step by Step; Uesato et al. 2022",
  claim = "best-of-N with a process RM solves more than with an outcome RM trained on the same solutions, and more than majority voting; the gap widens with N",
  paper_number = "best-of-1860 on MATH: PRM 78.2%, ORM 72.4%, majority 69.6%",
  defaults = { seeds = { 1, 2, 3 }, train = 4000, steps = 400, batch = 32, lr = 1e-3,
               problems = 100, pool = 128, votes = 64, q_lo = 0.03, q_hi = 0.45, systematic = 0.6,
               d = 64, layers = 2, heads = 4 },
  smoke = { seeds = { 1 }, train = 64, steps = 4, problems = 6, pool = 8, votes = 4, d = 16, layers = 1,
            heads = 2 },
}
local cfg, smoke = ex.cfg, ex.smoke

local world = al.worlds.arithmetic{ seed = 1, digits = 1, steps = 4, mod = 10, operand_digits = 1 }
local PROPAGATE = world.options.propagate
local SEMI = world:encode(";")[1]

-- ---- the scripted generator -----------------------------------------------------------------

-- A problem's hidden traits: its per-step error rate and its misconception value per step.
local function traits(rng, p)
  local h = rng:uniform()
  local t = { q = cfg.q_lo + (cfg.q_hi - cfg.q_lo) * h, wrong = {} }
  for i = 1, #p.ops do t.wrong[i] = (p.values[i + 1] + rng:int(1, 9)) % world.mod end
  return t
end

-- One policy solution of problem p with traits t, written step by step: each step is computed
-- from the value the policy carries and errs with probability t.q.
local function solve_text(rng, p, t)
  local parts, cur = {}, p.start
  for i, s in ipairs(p.ops) do
    local y = world:apply(cur, s[1], s[2])
    local w = y
    if rng:uniform() < t.q then
      if rng:uniform() < cfg.systematic and t.wrong[i] ~= y then w = t.wrong[i]
      else w = (y + rng:int(1, 9)) % world.mod end
    end
    parts[i] = world:num(cur) .. " " .. s[1] .. " " .. world:num(s[2], 1) .. " = " .. world:num(w)
    if w ~= y and rng:uniform() >= PROPAGATE then cur = y else cur = w end
  end
  parts[#parts + 1] = "ans " .. world:num(cur)
  return table.concat(parts, " ; ")
end

-- A labelled sample: token ids of prompt .. solution <eos>, the step separators' positions, the
-- gold process and outcome labels.
local function sample(rec, text)
  local p = world:parse(rec)
  local pids = rec.ids
  local cids = world:encode(text .. " <eos>")
  local ids = table.move(cids, 1, #cids, #pids + 1, table.move(pids, 1, #pids, 1, {}))
  local seps = {}
  for j, t in ipairs(cids) do
    if t == SEMI and #seps < #p.ops then seps[#seps + 1] = #pids + j end
  end
  local pg, og = world:process_gold(p, text), world:outcome_gold(p, text)
  return { ids = ids, seps = seps, steps = pg.steps, first_error = pg.first_error,
           all_steps = pg.all_correct, correct = og.correct, answer = og.answer }
end

-- ---- one seed -------------------------------------------------------------------------------

local NS = {}
do
  local n = 1
  while n <= cfg.pool do NS[#NS + 1] = n; n = n * 2 end
end

local function logsig(z) return z >= 0 and -math.log(1 + math.exp(-z)) or z - math.log(1 + math.exp(z)) end

local function majority(rng, answers, correct_answer, n)
  -- expected solve rate of a majority vote over n of the pool (without replacement)
  local M = #answers
  local reps = n == M and 1 or cfg.votes
  local hits = 0
  local idx = {}
  for r = 1, reps do
    for i = 1, M do idx[i] = i end
    local count = {}
    for i = 1, n do
      local j = rng:int(i, M)
      idx[i], idx[j] = idx[j], idx[i]
      local a = answers[idx[i]]
      if a ~= nil then count[a] = (count[a] or 0) + 1 end
    end
    local best, tied = -1, 0
    for _, c in pairs(count) do
      if c > best then best, tied = c, 1 elseif c == best then tied = tied + 1 end
    end
    if count[correct_answer] == best then hits = hits + 1 / tied end
  end
  return hits / reps
end

local function run_seed(seed)
  local rng = al.rng(seed, 7001)
  -- training solutions: one per distinct training problem
  local trecs = world:prompts(cfg.train, { seed = seed, split = "train" })
  local orm_recs, prm_recs = {}, {}
  local n_trace, orm_pos, prm_pos, prm_n = 0, 0, 0, 0
  for i, rec in ipairs(trecs) do
    local p = world:parse(rec)
    local s = sample(rec, solve_text(rng, p, traits(rng, p)))
    orm_recs[i] = { ids = s.ids, positions = { #s.ids }, labels = { s.correct and 1 or 0 } }
    local pos, lab = {}, {}
    for k = 1, #s.seps do
      pos[k], lab[k] = s.seps[k], s.steps[k] and 1 or 0
      if not s.steps[k] then break end
    end
    prm_recs[i] = { ids = s.ids, positions = pos, labels = lab }
    orm_pos = orm_pos + orm_recs[i].labels[1]
    for _, l in ipairs(lab) do prm_pos, prm_n = prm_pos + l, prm_n + 1 end
    if s.correct and not s.all_steps then n_trace = n_trace + 1 end
  end
  local function new_model()
    local m = al.gpt{ vocab = world.vocab, ctx = 64, d = cfg.d, heads = cfg.heads, layers = cfg.layers,
                      seed = 100 + seed }
    m:set_head{ scalar = true, lm = false, seed = 200 + seed }
    return m
  end
  local ropts = { steps = cfg.steps, batch_size = cfg.batch, lr = cfg.lr, seed = seed, eval = 0.1,
                  progress = false, warmup = 0.05 }
  local orm, oh = al.reward_model.classifier(new_model(), orm_recs, ropts)
  local prm, ph = al.reward_model.classifier(new_model(), prm_recs, ropts)
  ex:say("seed %d: ORM held-out acc %.3f, PRM held-out step acc %.3f", seed, oh.eval_accuracy, ph.eval_accuracy)

  -- test pools
  local tests = world:prompts(cfg.problems, { seed = seed, split = "test" })
  local noise = al.rng(seed, 7002) -- the no-signal verifiers' own streams
  local noise_text = al.rng(seed, 7003)
  local sums = { prm = {}, prm_min = {}, orm = {}, major = {}, oracle = {}, random = {}, random_text = {} }
  local trace = { prm = { 0, 0 }, orm = { 0, 0 }, prm_min = { 0, 0 } } -- at Nmax: E[trace], E[correct]
  for k in pairs(sums) do for j = 1, #NS do sums[k][j] = 0 end end
  local pass1 = 0
  for _, rec in ipairs(tests) do
    local p = world:parse(rec)
    local tr = traits(rng, p)
    local pool, seqs, seps = {}, {}, {}
    for i = 1, cfg.pool do
      pool[i] = sample(rec, solve_text(rng, p, tr))
      seqs[i], seps[i] = pool[i].ids, pool[i].seps
    end
    local last = {}
    for i = 1, cfg.pool do last[i] = { #seqs[i] } end
    local zo = al.reward_model.position_scores(orm, seqs, last)
    local zp = al.reward_model.position_scores(prm, seqs, seps)
    local score = { orm = {}, prm = {}, prm_min = {}, random = {}, random_text = {} }
    local by_text = {}
    local gold, tre, answers = {}, {}, {}
    for i, s in ipairs(pool) do
      score.orm[i] = zo[i][1]
      local lp, mn = 0, math.huge
      for _, z in ipairs(zp[i]) do
        local l = logsig(z)
        lp = lp + l
        if l < mn then mn = l end
      end
      score.prm[i], score.prm_min[i] = lp, mn
      score.random[i] = noise:uniform()
      local key = table.concat(s.ids, ",")
      by_text[key] = by_text[key] or noise_text:uniform()
      score.random_text[i] = by_text[key]
      gold[i] = s.correct and 1 or 0
      tre[i] = (s.correct and not s.all_steps) and 1 or 0
      answers[i] = s.answer
      pass1 = pass1 + gold[i] / cfg.pool
    end
    for _, k in ipairs({ "prm", "prm_min", "orm" }) do
      local b = al.core.obj.bon{ proxy = score[k], gold = gold, n = NS }
      for j = 1, #NS do sums[k][j] = sums[k][j] + b.gold[j] end
      local bt = al.core.obj.bon{ proxy = score[k], gold = tre, n = { cfg.pool } }
      trace[k][1] = trace[k][1] + bt.gold[1]
      trace[k][2] = trace[k][2] + b.gold[#NS]
    end
    local br = al.core.obj.bon{ proxy = score.random, gold = gold, n = NS }
    local bx = al.core.obj.bon{ proxy = score.random_text, gold = gold, n = NS }
    for j = 1, #NS do
      sums.random[j] = sums.random[j] + br.gold[j]
      sums.random_text[j] = sums.random_text[j] + bx.gold[j]
    end
    local bo = al.core.obj.bon{ proxy = gold, gold = gold, n = NS }
    for j = 1, #NS do
      sums.oracle[j] = sums.oracle[j] + bo.gold[j]
      sums.major[j] = sums.major[j] + majority(rng, answers, p.answer, NS[j])
    end
  end
  local out = { seed = seed, orm_eval_accuracy = oh.eval_accuracy, prm_eval_accuracy = ph.eval_accuracy,
                train_trace_rate = n_trace / cfg.train, orm_base_rate = orm_pos / cfg.train,
                prm_base_rate = prm_pos / prm_n, pass1 = pass1 / cfg.problems, solve = {}, trace_error = {} }
  for k, v in pairs(sums) do
    out.solve[k] = {}
    for j = 1, #NS do out.solve[k][j] = v[j] / cfg.problems end
  end
  for k, v in pairs(trace) do out.trace_error[k] = v[2] > 0 and v[1] / v[2] or 0 end
  if orm.free then orm:free() end
  if prm.free then prm:free() end
  collectgarbage()
  return out
end

local per_seed = {}
for _, seed in ipairs(cfg.seeds) do per_seed[#per_seed + 1] = run_seed(seed) end

-- ---- summary and verdict --------------------------------------------------------------------

local function over(f)
  local v = {}
  for i, e in ipairs(per_seed) do v[i] = f(e) end
  return { mean = util.mean(v), sd = #v > 1 and util.sd(v) or 0, values = v }
end
local J = #NS
local curves = {}
for _, k in ipairs({ "prm", "prm_min", "orm", "major", "oracle", "random", "random_text" }) do
  curves[k] = {}
  for j = 1, J do curves[k][j] = over(function(e) return e.solve[k][j] end) end
end
local gap = {}
for j = 1, J do gap[j] = over(function(e) return e.solve.prm[j] - e.solve.orm[j] end) end

local function ranks(v)
  local idx = {}
  for i = 1, #v do idx[i] = i end
  table.sort(idx, function(a, b) return v[a] < v[b] end)
  local r, i = {}, 1
  while i <= #idx do
    local j = i
    while j < #idx and v[idx[j + 1]] == v[idx[i]] do j = j + 1 end
    for k = i, j do r[idx[k]] = (i + j) / 2 end
    i = j + 1
  end
  return r
end
local function spearman(x, y)
  local rx, ry = ranks(x), ranks(y)
  local mx, my = util.mean(rx), util.mean(ry)
  local sxy, sxx, syy = 0, 0, 0
  for i = 1, #rx do
    sxy = sxy + (rx[i] - mx) * (ry[i] - my)
    sxx, syy = sxx + (rx[i] - mx) ^ 2, syy + (ry[i] - my) ^ 2
  end
  if sxx == 0 or syy == 0 then return 0 end
  return sxy / math.sqrt(sxx * syy)
end

local prmN, ormN, majN = curves.prm[J], curves.orm[J], curves.major[J]
local s1 = math.max(prmN.sd, ormN.sd, gap[J].sd)
local gm, logn = {}, {}
for j = 1, J do gm[j], logn[j] = gap[j].mean, math.log(NS[j]) end
local rho = spearman(logn, gm)
local tr_prm = over(function(e) return e.trace_error.prm end)
local tr_orm = over(function(e) return e.trace_error.orm end)
local P1 = gap[J].mean > s1 and gap[J].mean >= 0.03
local P2 = ormN.mean >= majN.mean - 0.01
local P3 = rho >= 0.7
local P4 = tr_prm.mean <= 0.5 * tr_orm.mean
local verdict
if #cfg.seeds < 2 then verdict = "inconclusive"
elseif P1 and P2 and P3 and P4 then verdict = "reproduced"
elseif P1 or P4 then verdict = "partly"
else verdict = "not reproduced" end

-- ---- figure ---------------------------------------------------------------------------------

local NAMES = { prm = "PRM (product of steps)", prm_min = "PRM (min of steps)", orm = "ORM",
                major = "majority vote", oracle = "pass@N (oracle)", random = "i.i.d. random scores (diagnostic)",
                random_text = "random function of the text (diagnostic)" }
local series = {}
for _, k in ipairs({ "prm", "prm_min", "orm", "major", "oracle", "random", "random_text" }) do
  local s = { name = NAMES[k], x = {}, y = {}, sd = {} }
  for j = 1, J do s.x[j], s.y[j], s.sd[j] = NS[j], 100 * curves[k][j].mean, 100 * curves[k][j].sd end
  series[#series + 1] = s
end
ex:plot{ kind = "line", logx = true, title = "Best-of-N verifiers on 4-step mod-10 chains (mean +- sd, 3 seeds)",
         xlabel = "N = solutions per problem", ylabel = "% problems solved", series = series, key = "bottom right" }

local ours = string.format("at N=%d: PRM %.1f%%, ORM %.1f%%, majority %.1f%% (pass@1 %.1f%%); trace error of picks PRM %.1f%% vs ORM %.1f%%; gap-vs-logN Spearman %.2f",
  NS[J], 100 * prmN.mean, 100 * ormN.mean, 100 * majN.mean, 100 * curves.prm[1].mean, 100 * tr_prm.mean,
  100 * tr_orm.mean, rho)
ex:finish{
  verdict = verdict, ours = ours,
  rule = "P1 PRM-ORM at Nmax > s and >= 0.03; P2 ORM >= majority - 0.01 at Nmax; P3 Spearman(gap, log N) >= 0.7; P4 trace error of right-answer picks PRM <= 0.5 x ORM; reproduced: all, partly: P1 or P4, else not reproduced; s = larger sd over seeds of PRM, ORM and their difference",
  judged = { N = NS, prm = prmN, orm = ormN, majority = majN, gap = gap[J], s = s1, spearman = rho,
             trace_prm = tr_prm, trace_orm = tr_orm, P1 = P1, P2 = P2, P3 = P3, P4 = P4 },
  per_seed = per_seed,
  data = { N = NS, curves = curves, gap = gap },
  notes = "scripted generator (no generator model); RMs trained from scratch; pool estimator over a pool of " .. cfg.pool,
}
