-- The arithmetic world (DESIGN.md "Other worlds"; papers.md sections 6 and 9): multi-step
-- arithmetic written step by step, every step checkable.
--   prompt    "<bos> start 0 7 ; + 3 ; * 4 ; - 2 ; ="
--   solution  "0 7 + 3 = 1 0 ; 1 0 * 4 = 4 0 ; 4 0 - 2 = 3 8 ; ans 3 8 <eos>"
-- Numbers are written digit by digit at a fixed width (zero-padded; least significant digit
-- first with lsd_first = true), results are taken modulo `mod` (default 10^digits, so a wrong
-- chain still hits the right answer 1/mod of the time: the "right answer, wrong reasoning"
-- case outcome supervision rewards). Difficulty knobs: digits, steps, operand_digits, ops.
-- With mod = false, ops = { "+" }, steps = 1 and operand_digits = digits it is plain n-digit
-- addition (the emergence task; answers are digits + 1 wide).
-- Gold: process_gold (per-step correctness), outcome_gold (final answer), metrics (exact match,
-- per-digit accuracy, token edit distance), target_logprobs (log p of the reference solution).
local tokenizer = require("al.core").tokenizer
local common = require "al.worlds.common"

local M = {}
local World = {}
World.__index = World

local DEFAULTS = {
  seed = 1, digits = 2, steps = 3, operand_digits = 1, ops = { "+", "-", "*" },
  mod = common.NONE, lsd_first = false, error_rate = 0.25, propagate = 0.7,
  label_difficulty = 1,
}

-- al.worlds.arithmetic{ seed = 1, digits = 2, steps = 3, operand_digits = 1,
--   ops = { "+", "-", "*" }, mod = 10^digits | false, lsd_first = false,
--   error_rate = 0.25 (corpus solutions with one wrong step), propagate = 0.7 (later steps
--   continue from the wrong value rather than silently from the right one),
--   label_difficulty = 1 (the difficulty labelers see: above their threshold they cannot
--   check the answer and judge by form) }
function M.new(opts)
  local o = common.options(opts, DEFAULTS, "al.worlds.arithmetic")
  if o.digits < 1 or o.digits > 6 or o.steps < 1 or o.steps > 8 then
    error("al.worlds.arithmetic: need 1 <= digits <= 6 and 1 <= steps <= 8", 2)
  end
  local self = setmetatable({ name = "arithmetic", seed = o.seed, options = o }, World)
  if o.mod == false then
    for _, op in ipairs(o.ops) do
      if op ~= "+" then error("al.worlds.arithmetic: mod = false needs ops = { '+' }", 2) end
    end
    if o.steps ~= 1 then error("al.worlds.arithmetic: mod = false needs steps = 1", 2) end
    self.mod = nil
    self.width = math.max(o.digits, o.operand_digits) + 1
  else
    self.mod = common.given(o.mod) and o.mod or math.tointeger(10 ^ o.digits)
    self.width = #tostring(self.mod - 1)
  end
  for _, op in ipairs(o.ops) do
    if op ~= "+" and op ~= "-" and op ~= "*" then error("al.worlds.arithmetic: unknown op " .. op, 2) end
  end
  self.start_max = math.tointeger(10 ^ o.digits) - 1
  if self.mod then self.start_max = math.min(self.start_max, self.mod - 1) end
  local list = { "start", ";", "=", "ans", "+", "-", "*" }
  for d = 0, 9 do list[#list + 1] = tostring(d) end
  self.words = list
  self.tok = tokenizer.words(list, { specials = { "<pad>", "<bos>", "<eos>" },
    unk = "<unk>" })
  self.vocab = self.tok:size()
  self.difficulty = o.digits * o.steps
  self.families = { "chain" }
  return self
end

setmetatable(M, { __call = function(_, opts) return M.new(opts) end })

function World:encode(s) return common.encode(self.tok, s) end
function World:decode(ids) return self.tok:decode(ids) end

-- ---- numbers --------------------------------------------------------------------------------

-- Digits of v at width w (zero-padded), in writing order.
function World:num(v, w)
  w = w or self.width
  local s = string.format("%0" .. w .. "d", v)
  local t = {}
  for i = 1, #s do t[i] = s:sub(i, i) end
  if self.options.lsd_first then
    local r = {}
    for i = #t, 1, -1 do r[#r + 1] = t[i] end
    t = r
  end
  return table.concat(t, " ")
end

-- Value of a list of digit words in writing order, or nil.
function World:value(ws)
  if #ws == 0 then return nil end
  local digits = {}
  for i, w in ipairs(ws) do
    if not w:match("^%d$") then return nil end
    digits[i] = w
  end
  if self.options.lsd_first then
    local r = {}
    for i = #digits, 1, -1 do r[#r + 1] = digits[i] end
    digits = r
  end
  return tonumber(table.concat(digits))
end

function World:apply(x, op, k)
  local y
  if op == "+" then y = x + k elseif op == "-" then y = x - k else y = x * k end
  if self.mod then y = y % self.mod end
  return y
end

-- ---- problems -------------------------------------------------------------------------------

local STREAM = { corpus = 41, demos = 42, train = 43, test = 44, calibration = 45, scripted = 46 }

function World:_problem(rng)
  local o = self.options
  local p = { start = rng:int(0, self.start_max), ops = {} }
  local kmax = math.tointeger(10 ^ o.operand_digits) - 1
  for i = 1, o.steps do
    local op = common.pick(rng, o.ops)
    p.ops[i] = { op, rng:int(1, kmax) }
  end
  p.values = { p.start }
  for i = 1, o.steps do p.values[i + 1] = self:apply(p.values[i], p.ops[i][1], p.ops[i][2]) end
  p.answer = p.values[o.steps + 1]
  return p
end

function World:_prompt_text(p)
  local parts = { "<bos> start " .. self:num(p.start) }
  for _, s in ipairs(p.ops) do
    parts[#parts + 1] = s[1] .. " " .. self:num(s[2], self.options.operand_digits)
  end
  return table.concat(parts, " ; ") .. " ; ="
end

-- world:parse(prompt) -> problem { start, ops = { { op, k } }, values, answer }.
function World:parse(prompt)
  if type(prompt) == "table" then
    if prompt.ops then return prompt end
    prompt = prompt.prompt
  end
  self._parsed = self._parsed or {}
  if self._parsed[prompt] then return self._parsed[prompt] end
  local body = common.strip_specials(prompt)
  local segs = {}
  for seg in (body .. " ;"):gmatch("%s*(.-)%s+;") do segs[#segs + 1] = seg end
  local first = segs[1] and segs[1]:match("^start (.+)$")
  if not first or segs[#segs] ~= "=" then error("arithmetic world: not a problem: " .. prompt, 2) end
  local p = { start = self:value(common.words(first)), ops = {} }
  for i = 2, #segs - 1 do
    local op, k = segs[i]:match("^([%+%-%*]) (.+)$")
    if not op then error("arithmetic world: bad step '" .. segs[i] .. "' in " .. prompt, 2) end
    p.ops[#p.ops + 1] = { op, self:value(common.words(k)) }
  end
  p.values = { p.start }
  for i = 1, #p.ops do p.values[i + 1] = self:apply(p.values[i], p.ops[i][1], p.ops[i][2]) end
  p.answer = p.values[#p.ops + 1]
  self._parsed[prompt] = p
  return p
end

-- The solution text of a problem; `errors` (step -> wrong result) inject mistakes, and
-- `propagate` says whether later steps continue from the wrong value.
function World:solution(p, errors, propagate)
  errors = errors or {}
  local parts, x = {}, p.start
  for i, s in ipairs(p.ops) do
    local y = self:apply(x, s[1], s[2])
    local written = errors[i] or y
    parts[#parts + 1] = self:num(x) .. " " .. s[1] .. " " .. self:num(s[2], self.options.operand_digits)
      .. " = " .. self:num(written)
    if errors[i] and not propagate then
      x = y
    else
      x = written
    end
  end
  parts[#parts + 1] = "ans " .. self:num(x)
  return table.concat(parts, " ; ")
end

local function wrong_value(self, rng, y)
  local top = self.mod and self.mod - 1 or (math.tointeger(10 ^ self.width) - 1)
  local v
  repeat
    -- change one digit
    local s = string.format("%0" .. self.width .. "d", y)
    local i = rng:int(#s)
    local d = (tonumber(s:sub(i, i)) + rng:int(1, 9)) % 10
    v = tonumber(s:sub(1, i - 1) .. d .. s:sub(i + 1))
  until v ~= y and v <= top
  return v
end

-- A solution with probability error_rate of one wrong step.
function World:_noisy_solution(rng, p, error_rate, propagate_p)
  if rng:uniform() >= error_rate then return self:solution(p) end
  local i = rng:int(#p.ops)
  -- the step's true result given the (correct) values before it
  local y = p.values[i + 1]
  return self:solution(p, { [i] = wrong_value(self, rng, y) }, rng:uniform() < propagate_p)
end

local function make_record(self, p)
  local text = self:_prompt_text(p)
  self._parsed = self._parsed or {}
  self._parsed[text] = p
  self._meta = self._meta or { __index = { world = self } }
  return setmetatable({ prompt = text, ids = self:encode(text), family = "chain",
    difficulty = self.difficulty }, self._meta)
end

-- world:prompts(n, { seed = 0, split = "train" | "test" }) -> records { prompt, ids, family,
-- difficulty }.
function World:prompts(n, opts)
  local o = common.options(opts, { seed = 0, split = "train" }, "arithmetic:prompts")
  if o.split ~= "train" and o.split ~= "test" then error("arithmetic:prompts: bad split", 2) end
  local rng = common.rng(self.seed, STREAM[o.split] * 1000 + o.seed)
  local out = {}
  for i = 1, n do out[i] = make_record(self, self:_problem(rng)) end
  return out
end

-- world:corpus(n, { seed = 0 }) -> strings "<bos> problem solution <eos>"; a fraction
-- error_rate of the solutions has one wrong step.
function World:corpus(n, opts)
  local o = common.options(opts, { seed = 0 }, "arithmetic:corpus")
  local rng = common.rng(self.seed, STREAM.corpus * 1000 + o.seed)
  local out = {}
  for i = 1, n do
    local p = self:_problem(rng)
    out[i] = self:_prompt_text(p) .. " " ..
      self:_noisy_solution(rng, p, self.options.error_rate, self.options.propagate) .. " <eos>"
  end
  return out
end

-- world:demos(n, { seed = 0, error_rate = 0 }) -> SFT records { prompt, completion, family }.
function World:demos(n, opts)
  local o = common.options(opts, { seed = 0, error_rate = 0 }, "arithmetic:demos")
  local rng = common.rng(self.seed, STREAM.demos * 1000 + o.seed)
  local out = {}
  for i = 1, n do
    local p = self:_problem(rng)
    out[i] = { prompt = self:_prompt_text(p),
      completion = self:_noisy_solution(rng, p, o.error_rate, self.options.propagate) .. " <eos>",
      family = "chain" }
  end
  return out
end

-- ---- gold -----------------------------------------------------------------------------------

-- Split a solution into its written steps { x, op, k, y } and final answer.
function World:_read(solution)
  local text = common.strip_specials(solution or "")
  local steps, ans, bad = {}, nil, false
  for seg in (text .. " ;"):gmatch("%s*(.-)%s+;") do
    local a = seg:match("^ans (.+)$")
    if a then
      ans = self:value(common.words(a))
      if ans == nil then bad = true end
    elseif seg ~= "" then
      local x, op, k, y = seg:match("^([%d ]-) ([%+%-%*]) ([%d ]-) = ([%d ]+)$")
      if x then
        steps[#steps + 1] = { self:value(common.words(x)), op, self:value(common.words(k)),
          self:value(common.words(y)) }
      else
        steps[#steps + 1] = { bad = true }
      end
    end
  end
  return steps, ans, bad
end

-- world:process_gold(problem, solution) -> { steps = { true/false per problem step },
--   prefix = number of leading correct steps, all_correct, first_error (nil if none) }.
-- Step i is correct when it is written as "x op k = y" with x the previous step's written
-- result (the start for i = 1), op and k the problem's i-th operation, and y = x op k (mod).
function World:process_gold(problem, solution)
  local p = self:parse(problem)
  local steps = self:_read(solution)
  local out, prev, prefix, first = {}, p.start, 0, nil
  for i, s in ipairs(p.ops) do
    local w = steps[i]
    local ok = w ~= nil and not w.bad and w[1] == prev and w[2] == s[1] and w[3] == s[2]
      and w[4] == self:apply(w[1], s[1], s[2])
    out[i] = ok
    if ok and not first then prefix = prefix + 1 end
    if not ok and not first then first = i end
    prev = w and not w.bad and w[4] or nil
  end
  if #steps > #p.ops and not first then first = #p.ops + 1 end
  return { steps = out, prefix = prefix, all_correct = first == nil, first_error = first }
end

-- world:outcome_gold(problem, solution) -> { correct = final answer right, answer = its value }.
function World:outcome_gold(problem, solution)
  local p = self:parse(problem)
  local _, ans = self:_read(solution)
  return { correct = ans ~= nil and ans == p.answer, answer = ans }
end

-- Levenshtein distance between two word lists.
local function edit_distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local c = a[i] == b[j] and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + c)
    end
    prev = cur
  end
  return prev[#b]
end

-- world:metrics(problem, solution) -> { exact (whole solution equals the reference),
--   answer (final answer right), per_digit (fraction of the answer's digit positions right),
--   digits (per-position booleans, writing order), edit (token edit distance to the reference
--   solution) } — all on the same sample (Schaeffer et al.'s comparison).
function World:metrics(problem, solution)
  local p = self:parse(problem)
  local ref = self:solution(p)
  local text = common.strip_specials(solution or "")
  local ws, rs = common.words(text), common.words(ref)
  local want = common.words(self:num(p.answer))
  local got = {}
  local a = text:match("ans ([%d ]+)$") or text:match("ans ([%d ]+)")
  if a then got = common.words(a) end
  local right, digits = 0, {}
  for i = 1, #want do
    digits[i] = got[i] == want[i]
    if digits[i] then right = right + 1 end
  end
  return { exact = text == ref, answer = self:outcome_gold(p, solution).correct,
    per_digit = right / #want, digits = digits, edit = edit_distance(ws, rs) }
end

-- world:target_logprobs(model, records, { batch = 64 }) -> sums, counts: per record the summed
-- log-probability the model gives the reference solution and its <eos> after the prompt
-- (teacher-forced; the continuous metric "mean log p(target)" of Schaeffer et al.), and the
-- number of tokens scored.
function World:target_logprobs(model, records, opts)
  local o = common.options(opts, { batch = 64 }, "arithmetic:target_logprobs")
  local sums, counts = {}, {}
  for first = 1, #records, o.batch do
    local seqs, starts = {}, {}
    for i = first, math.min(#records, first + o.batch - 1) do
      local p = self:parse(records[i])
      local prompt = self:encode(self:_prompt_text(p))
      local seq = table.move(prompt, 1, #prompt, 1, {})
      for _, id in ipairs(self:encode(self:solution(p) .. " <eos>")) do seq[#seq + 1] = id end
      seqs[#seqs + 1], starts[#starts + 1] = seq, #prompt
    end
    local res = model:forward(seqs, { start = starts, per_token = false })
    for b = 1, #seqs do
      sums[#sums + 1], counts[#counts + 1] = res.sum[b], res.count[b]
    end
  end
  return sums, counts
end

-- world:gold(prompt, response) -> { outcome (0/1), process (fraction of steps right, up to the
-- first error), trace_error (right answer, wrong step), length, reward = outcome }.
function World:gold(prompt, response)
  local p = self:parse(prompt)
  local pg = self:process_gold(p, response)
  local og = self:outcome_gold(p, response)
  local outcome = og.correct and 1 or 0
  return { outcome = outcome, process = pg.prefix / #p.ops, all_steps = pg.all_correct and 1 or 0,
    trace_error = (og.correct and not pg.all_correct) and 1 or 0,
    length = #common.words(common.strip_specials(response or "")), reward = outcome }
end

-- world:features(prompt, response) for al.labelers: quality = outcome; difficulty = the
-- label_difficulty option (labelers with a lower threshold judge by form).
function World:features(prompt, response)
  local g = self:gold(prompt, response)
  local _, ans = self:_read(response)
  return { quality = g.outcome, difficulty = self.options.label_difficulty, plausible = ans and 1 or 0,
    length = g.length, confidence = 0 }
end

-- ---- scripted policy, pairs, evaluation -----------------------------------------------------

-- world:scripted_policy{ error_rate = 0.3 } -> :generate(prompts, opts) writing solutions
-- with one wrong step at that rate (no model needed).
function World:scripted_policy(opts)
  local o = common.options(opts, { error_rate = 0.3 }, "arithmetic:scripted_policy")
  return common.scripted_policy(self, STREAM.scripted, function(rng, p)
    return self:_noisy_solution(rng, self:parse(p), o.error_rate, self.options.propagate)
  end, { error_rate = o.error_rate })
end

function World:calibration_pairs(n)
  n = n or 1500
  return common.calibration_pairs(self, n, STREAM.calibration, function(rng, rec)
    local p = self:parse(rec)
    return self:_noisy_solution(rng, p, 0.5, 0.7) .. " <eos>", self:_noisy_solution(rng, p, 0.5, 0.7) .. " <eos>"
  end)
end

local CMP_OPTS = { temperature = 1, max_new = 48, seed = 1, batch = 64, top_k = common.NONE,
  top_p = common.NONE, prompt_seed = 0, ties = false }

-- world:compare(model, labeler, n, opts) / world:compare_gold(model, n, opts): preference
-- records as in common.compare (gold = final-answer correctness).
common.install_compare(World, CMP_OPTS, "arithmetic:compare", function(o, round)
  return { seed = o.prompt_seed * 100 + round }
end)

-- world:evaluate(model, { n = 256, temperature = 0, max_new = 64, seed = 1 }) -> means of
-- outcome, process, all_steps, trace_error, exact, per_digit, edit, length.
function World:evaluate(model, opts)
  local o = common.options(opts, { n = 256, temperature = 0, max_new = 64, seed = 1, batch = 64,
    prompts = common.NONE }, "arithmetic:evaluate")
  local recs = common.given(o.prompts) and o.prompts or self:prompts(o.n, { split = "test" })
  local resp = common.sample(model, self, recs,
    common.gen_options({ max_new = o.max_new, temperature = o.temperature, seed = o.seed }), o.batch)
  local acc = {}
  for i, rec in ipairs(recs) do
    local g = self:gold(rec, resp[i])
    local m = self:metrics(rec, resp[i])
    for _, k in ipairs({ "outcome", "process", "all_steps", "trace_error", "length" }) do
      common.accumulate(acc, k, g[k])
    end
    common.accumulate(acc, "exact", m.exact and 1 or 0)
    common.accumulate(acc, "per_digit", m.per_digit)
    common.accumulate(acc, "edit", m.edit)
  end
  local out = common.means(acc)
  out.n = #recs
  return out
end

return M
