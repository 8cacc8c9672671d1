-- al.calibration: does a model know what it knows? (Kadavath et al. 2022; papers/calibration.md)
--   M.answers(model, world, prompts)   each prompt's greedy response, the model's own
--       probability of the answer it gave (the product of its next-token probabilities over the
--       answer's tokens: style phrases and "the answer is" excluded), and whether it was right
--       (gold: exact answer on tasks; "i do not know" on unknown questions)
--   M.reliability(p, y, bins)          ECE, Brier, reliability curve (al.core.obj.calibration)
--   M.pik(model, prompts, labels, opts) a P(IK) head: a clone of the model with a scalar head
--       read at the prompt's last token, trained with the logistic loss (al.core.obj.
--       logistic_loss) to predict "my greedy answer comes out right" from the prompt alone
--   M.pik_scores(head, prompts)         its predicted probabilities
-- The numerics (bins, AUROC, the loss and its gradient) are core/obj_stats.c's and
-- core/obj_pref.c's; the protocols and verdicts are experiments/calibration.lua's.
local core = require "al.core"
local util = require "al.util"
local train = require "al.train"
local common = require "al.worlds.common"
local lang = require "al.worlds.assistant.language"

local M = {}

local STYLE_SEQ = {}
for _, s in ipairs(lang.STYLE) do STYLE_SEQ[#STYLE_SEQ + 1] = common.words(s) end
local LEAD = common.words("the answer is")

-- 1-based positions (within ws) of the answer's words: every word that is not part of a style
-- phrase, after a leading "the answer is".
local function answer_positions(ws)
  local pos, i, first = {}, 1, true
  while i <= #ws do
    local skip = 0
    for _, seq in ipairs(STYLE_SEQ) do
      local ok = true
      for j = 1, #seq do if ws[i + j - 1] ~= seq[j] then ok = false break end end
      if ok then skip = #seq break end
    end
    if skip == 0 and first then
      local ok = true
      for j = 1, #LEAD do if ws[i + j - 1] ~= LEAD[j] then ok = false break end end
      if ok then skip = #LEAD end
    end
    if skip > 0 then
      i = i + skip
    else
      first = false
      pos[#pos + 1] = i
      i = i + 1
    end
  end
  return pos
end
M.answer_positions = answer_positions

-- M.answers(model, world, prompts, { batch = 64, max_new = 24 }) -> list (one per prompt) of
-- { family, difficulty, response, conf, correct (0/1), n_answer (answer tokens) }; a response
-- with no answer words gets conf = nil (callers drop it and may count it).
function M.answers(model, world, prompts, opts)
  local o = util.opts("al.calibration.answers", opts, { batch = 64, max_new = 24 })
  local g = common.gen_options({ max_new = o.max_new, temperature = 0, seed = 1 })
  local resp = common.sample(model, world, prompts, g, o.batch)
  local out = {}
  for first = 1, #prompts, o.batch do
    local seqs, starts, pos = {}, {}, {}
    for i = first, math.min(#prompts, first + o.batch - 1) do
      local p = world:encode(prompts[i].prompt)
      local ws = common.words(resp[i])
      local seq = { table.unpack(p) }
      for _, w in ipairs(ws) do seq[#seq + 1] = world.tok:id(w) end
      seq[#seq + 1] = world.tok.eos -- scored too, so every sequence has >= 1 scored token
      seqs[#seqs + 1], starts[#starts + 1] = seq, #p
      pos[#pos + 1] = answer_positions(ws)
    end
    local res = model:forward(seqs, { start = starts, logp = true, per_token = true })
    for b = 1, #seqs do
      local i = first + b - 1
      local rec = prompts[i]
      local gold = world:gold(rec, resp[i])
      local correct
      if rec.family == "unknown" then correct = gold.honest == 1 and 1 or 0
      else correct = gold.correct == 1 and 1 or 0 end
      local lp = 0
      -- res.logp[b][t] = log p(x_t | x_<t) (x 0-based); answer word k is x_{#prompt + k - 1}
      for _, k in ipairs(pos[b]) do lp = lp + res.logp[b][starts[b] + k - 1] end
      out[i] = { family = rec.family, difficulty = rec.difficulty, response = resp[i],
                 conf = #pos[b] > 0 and math.exp(lp) or nil, correct = correct, n_answer = #pos[b] }
    end
  end
  return out
end

-- M.reliability(p, y, bins = 10) -> { ece, brier, count, conf, acc, n } (al.core.obj.calibration)
function M.reliability(p, y, bins)
  local r = core.obj.calibration{ p = p, y = y, bins = bins or 10 }
  r.n = #p
  return r
end

-- M.auroc(scores, labels) -> AUROC, or nil when a class is missing
function M.auroc(s, y)
  local np = 0
  for _, v in ipairs(y) do np = np + v end
  if np == 0 or np == #y then return nil end
  return core.obj.auroc(s, y)
end

local PIK = train.options{
  epochs = 3, batch_size = 32, lr = 3e-4, warmup = 0.05, progress = false,
}

-- M.pik(model, prompts, labels, opts) -> a new model (a clone; the input is untouched) whose
-- scalar head, read at the last prompt token, is the logit of P(IK); trained with the logistic
-- loss on token-array prompts (or records with .ids) and 0/1 labels. Returns head, history.
function M.pik(model, prompts, labels, opts)
  local fname = "al.calibration.pik"
  local o = util.opts(fname, opts, PIK)
  train.check_common(fname, o)
  if #prompts ~= #labels or #prompts == 0 then
    error(fname .. ": need as many labels as prompts (>= 1)", 2)
  end
  local seqs = {}
  for i, p in ipairs(prompts) do seqs[i] = type(p) == "table" and p.ids or p end
  local m = model:clone()
  m:set_head{ scalar = true, lm = false, seed = o.seed }
  local steps = o.steps > 0 and o.steps or train.steps_for(#seqs, o.batch_size, o.epochs)
  local opt = core.adamw(m, { lr = o.lr, weight_decay = o.weight_decay, clip = o.clip })
  local bs = math.min(o.batch_size, #seqs)
  local hist = train.run{
    name = fname, steps = steps, sched = o, progress = o.progress, log = o.log,
    step = function(step, ctx)
      local idx = train.batch_indices(#seqs, bs, step, o.seed, seqs)
      local batch, y = {}, {}
      for k, i in ipairs(idx) do batch[k], y[k] = seqs[i], labels[i] end
      local res = m:forward(batch, { last = true, logp = false, per_token = false })
      local l = core.obj.logistic_loss{ logits = res.last, targets = y }
      local mt = ctx:update(m, opt, { dlast = l.d_logits }, l.loss)
      mt.accuracy = l.accuracy
      return mt
    end,
  }
  return m, hist
end

-- M.pik_scores(head, prompts) -> P(IK) of each prompt (sigmoid of the head at its last token)
function M.pik_scores(head, prompts)
  local P, C = {}, {}
  for i, p in ipairs(prompts) do P[i], C[i] = type(p) == "table" and p.ids or p, {} end
  local z = train.scores(head, P, C, 64, "al.calibration.pik_scores")
  local out = {}
  for i, v in ipairs(z) do out[i] = 1 / (1 + math.exp(-v)) end
  return out
end

return M
