-- experiments/weak_to_strong.lua
-- Paper:   Burns et al. 2023, "Weak-to-Strong Generalization: Eliciting Strong Capabilities With
--          Weak Supervision" (arXiv:2312.09390); papers/weak_to_strong.md.
-- Claim:   a strong model fine-tuned on a weak supervisor's labels does better than its
--          supervisor (performance gap recovered PGR > 0), and an auxiliary confidence loss
--          raises PGR; on reward modelling PGR is low.
-- Protocol (fixed before the first full run), the reward-modelling task in the assistant world:
--   Shared models (cached): the SFT policies XS (d 32, 1 layer) and S (d 64, 2 layers).
--   Per seed s, three disjoint sets of gold-labelled comparisons of two S-SFT samples (temperature
--   1, gold judge: the world's gold reward, ties dropped; world:compare_gold): `weak_pairs` to
--   train the supervisor, `transfer_pairs` for the student, `test_pairs` to measure.
--   weak     = RM from the XS SFT, trained on the weak set's gold labels;
--   ceiling  = RM from the S SFT, trained on the transfer set's gold labels;
--   naive    = RM from the S SFT, trained on the transfer set labelled by the weak RM, soft labels
--              p = sigmoid(r_weak(chosen) - r_weak(rejected));
--   conf     = as naive with Burns' auxiliary confidence loss (al.reward_model confidence =
--              0.5, alpha warmed up over the first 20% of steps).
--   Every RM: the assistant recipe's RM budget (epochs 4, batch 32, lr 3e-4), seed s.
--   Accuracy = fraction of test pairs whose gold-preferred response the RM scores higher.
--   PGR = (acc(student) - acc(weak)) / (acc(ceiling) - acc(weak)), per seed; by task family too.
-- Verdict rule (fixed before the runs; s = the larger sd over seeds of the quantities compared;
--   every RM is retrained per seed, so the spread includes all four):
--   W0 (precondition) acc(ceiling) - acc(weak) > its sd over seeds and >= 0.02, else inconclusive;
--   W1 PGR(naive) > s (sd of PGR(naive)) and > 0;
--   W2 PGR(conf) - PGR(naive) > the larger sd of the two PGRs.
--   reproduced: W1 and W2; partly: W1 only; not reproduced: not W1 (W0 holding);
--   a single seed (smoke): inconclusive. PGR by family is reported, not judged.
-- Cost: measured and stated in papers/weak_to_strong.md (target: at most ~90 s of one core with
--   the shared SFT models cached).
-- Outputs: figures/weak_to_strong.{svg,png,json}
local al = require "al"
local A = al.recipes.assistant
local util = al.util

local ex = al.experiment{
  name = "weak_to_strong",
  paper = "Burns et al. 2023, Weak-to-Strong Generalization",
  claim = "a strong RM trained on a weak RM's labels beats its supervisor (PGR > 0); the auxiliary confidence loss raises PGR",
  paper_number = "PGR often > 50% on NLP tasks, ~10% on ChatGPT reward modelling [U]; confidence loss lifts NLP PGR to ~80% [U]",
  defaults = { seeds = { 1, 2, 3 }, weak_pairs = 2000, transfer_pairs = 2000, test_pairs = 600,
               confidence = 0.5, warmup = 0.2, epochs = 4, batch = 32, lr = 3e-4 },
  smoke = { seeds = { 1 }, weak_pairs = 40, transfer_pairs = 40, test_pairs = 30, epochs = 1 },
}
local cfg, smoke = ex.cfg, ex.smoke

local w = A.world(smoke)
local sft_weak = A.sft{ smoke = smoke, size = "XS" }
local sft_strong = A.sft{ smoke = smoke, size = "S" }

local function encode(prefs)
  local recs = {}
  for i, p in ipairs(prefs) do
    recs[i] = { prompt = w:encode(p.prompt), chosen = w:encode(p.chosen), rejected = w:encode(p.rejected),
                label = p.label, family = p.family }
  end
  return recs
end

local function train_rm(init, recs, seed, extra)
  local m = init:clone()
  local o = { epochs = cfg.epochs, batch_size = cfg.batch, lr = cfg.lr, seed = seed, eval = 0, progress = false }
  for k, v in pairs(extra or {}) do o[k] = v end
  al.reward_model(m, recs, o)
  return m
end

-- accuracy overall and by family
local function accuracy(rm, test)
  local out = { all = al.reward_model.accuracy(rm, test, 64) }
  local by = {}
  for _, r in ipairs(test) do
    by[r.family] = by[r.family] or {}
    table.insert(by[r.family], r)
  end
  for f, recs in pairs(by) do out[f] = al.reward_model.accuracy(rm, recs, 64) end
  return out
end

local ARMS = { "weak", "ceiling", "naive", "conf" }
local per_seed = {}
for _, seed in ipairs(cfg.seeds) do
  local function pairs_of(n, k)
    return w:compare_gold(sft_strong, n, { seed = seed * 10 + k, prompt_seed = seed * 10 + k })
  end
  local weak_set = encode(pairs_of(cfg.weak_pairs, 1))
  local transfer = encode(pairs_of(cfg.transfer_pairs, 2))
  local test = encode(pairs_of(cfg.test_pairs, 3))
  local weak = train_rm(sft_weak, weak_set, seed)
  -- the weak supervisor's soft labels on the transfer set
  local P, C, R = {}, {}, {}
  for i, r in ipairs(transfer) do P[i], C[i], R[i] = r.prompt, r.chosen, r.rejected end
  local rc = al.reward_model.rewards(weak, P, C)
  local rr = al.reward_model.rewards(weak, P, R)
  local weak_labelled, agree = {}, 0
  for i, r in ipairs(transfer) do
    local p = 1 / (1 + math.exp(-(rc[i] - rr[i])))
    weak_labelled[i] = { prompt = r.prompt, chosen = r.chosen, rejected = r.rejected, label = p }
    if p > 0.5 then agree = agree + 1 elseif p == 0.5 then agree = agree + 0.5 end
  end
  local models = {
    weak = weak,
    ceiling = train_rm(sft_strong, transfer, seed),
    naive = train_rm(sft_strong, weak_labelled, seed),
    conf = train_rm(sft_strong, weak_labelled, seed, { confidence = cfg.confidence, confidence_warmup = cfg.warmup }),
  }
  local e = { seed = seed, weak_label_accuracy = agree / #transfer, acc = {}, pgr = {} }
  for _, k in ipairs(ARMS) do e.acc[k] = accuracy(models[k], test) end
  for _, k in ipairs({ "naive", "conf" }) do
    e.pgr[k] = {}
    for f, a in pairs(e.acc[k]) do
      local gap = e.acc.ceiling[f] - e.acc.weak[f]
      e.pgr[k][f] = math.abs(gap) > 1e-9 and (a - e.acc.weak[f]) / gap or 0
    end
  end
  ex:say("seed %d: weak labels %.3f right; acc weak %.3f ceiling %.3f naive %.3f conf %.3f", seed,
    e.weak_label_accuracy, e.acc.weak.all, e.acc.ceiling.all, e.acc.naive.all, e.acc.conf.all)
  for _, m in pairs(models) do if m.free then m:free() end end
  collectgarbage()
  per_seed[#per_seed + 1] = e
end

-- ---- summary and verdict --------------------------------------------------------------------

local function over(f)
  local v = {}
  for i, e in ipairs(per_seed) do
    local x = f(e)
    if x ~= nil then v[#v + 1] = x end
  end
  return { mean = #v > 0 and util.mean(v) or 0, sd = #v > 1 and util.sd(v) or 0, values = v }
end
local acc = {}
for _, k in ipairs(ARMS) do acc[k] = over(function(e) return e.acc[k].all end) end
local gap = over(function(e) return e.acc.ceiling.all - e.acc.weak.all end)
local pgr_naive = over(function(e) return e.pgr.naive.all end)
local pgr_conf = over(function(e) return e.pgr.conf.all end)
local families = {}
for f in pairs(per_seed[1].acc.weak) do if f ~= "all" then families[#families + 1] = f end end
table.sort(families)
local by_family = {}
for _, f in ipairs(families) do
  by_family[f] = { naive = over(function(e) return e.pgr.naive[f] end), conf = over(function(e) return e.pgr.conf[f] end),
                   weak = over(function(e) return e.acc.weak[f] end), ceiling = over(function(e) return e.acc.ceiling[f] end) }
end

local W0 = gap.mean > gap.sd and gap.mean >= 0.02
local W1 = pgr_naive.mean > pgr_naive.sd and pgr_naive.mean > 0
local W2 = pgr_conf.mean - pgr_naive.mean > math.max(pgr_conf.sd, pgr_naive.sd)
local verdict
if #cfg.seeds < 2 or not W0 then verdict = "inconclusive"
elseif W1 and W2 then verdict = "reproduced"
elseif W1 then verdict = "partly"
else verdict = "not reproduced" end

-- ---- figure: accuracy by arm, overall and per family ----------------------------------------

local NAMES = { weak = "weak supervisor (XS, gold)", ceiling = "strong ceiling (S, gold)",
                naive = "strong on weak labels", conf = "strong on weak labels + confidence loss" }
local cats = { "all" }
for _, f in ipairs(families) do cats[#cats + 1] = f end
local series = {}
for _, k in ipairs(ARMS) do
  local s = { name = NAMES[k], x = cats, y = {}, sd = {} }
  for j, f in ipairs(cats) do
    local st = over(function(e) return e.acc[k][f] end)
    s.y[j], s.sd[j] = st.mean, st.sd
  end
  series[#series + 1] = s
end
ex:plot{ kind = "bars", title = string.format("Weak-to-strong reward models: PGR naive %.2f, with confidence loss %.2f",
           pgr_naive.mean, pgr_conf.mean),
         ylabel = "accuracy on gold test pairs (mean +- sd, seeds)", series = series, key = "below",
         yrange = { 0.4, 1.0 } }

local ours = string.format("acc weak %.3f, ceiling %.3f, naive %.3f, conf %.3f; PGR naive %.2f +- %.2f, conf %.2f +- %.2f",
  acc.weak.mean, acc.ceiling.mean, acc.naive.mean, acc.conf.mean, pgr_naive.mean, pgr_naive.sd, pgr_conf.mean, pgr_conf.sd)
ex:finish{
  verdict = verdict, ours = ours,
  rule = "W0 ceiling - weak > its sd and >= 0.02 (else inconclusive); W1 PGR(naive) > its sd and > 0; W2 PGR(conf) - PGR(naive) > larger sd; reproduced: W1 and W2, partly: W1, else not reproduced",
  judged = { accuracy = acc, gap = gap, pgr_naive = pgr_naive, pgr_conf = pgr_conf, W0 = W0, W1 = W1, W2 = W2 },
  per_seed = per_seed,
  data = { by_family = by_family },
  notes = "reward-modelling task only (Burns' hardest); one supervisor/student size pair (XS -> S)",
}
