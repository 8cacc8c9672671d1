-- al.labelers: simulated human labelers (DESIGN.md "Simulated labelers"; papers.md section 0).
-- A labeler compares two responses to a prompt by a Bradley-Terry choice
--   P(A > B) = sigmoid((u(A) - u(B)) / temperature)
-- where u mixes perceived helpfulness with biases, read from world:features(prompt, response):
--   u = help * perceived + confidence * min(conf, 3) + length * words + sycophancy * agree
--       + concede * conceded - harm * harmful + caution * refusal + explain * explained
--       - fluency * disfluency
--   perceived = quality (the gold helpfulness) when difficulty <= threshold (they can check),
--             = unverified * plausible + idk_value * idk otherwise (they judge by the form).
-- Each labeler jitters its bias weights (w * exp(jitter * N(0,1)), its own seed; the weight of
-- helpfulness stays, so labelers differ in their biases, not in their sharpness). The temperature
-- is calibrated so that two independent labelers of the same kind agree on a fraction
-- 1 - disagreement of comparisons (default 0.73, InstructGPT's 72.6 +- 1.5%) over the world's
-- calibration pairs (world:calibration_pairs(): distinct pairs of SFT-like responses): the
-- expected agreement E[p1 p2 + (1 - p1)(1 - p2)] over those pairs and over 6 fixed jitter
-- draws decreases in the temperature, and bisection on log T finds the target.
-- It leaves sampling to the worlds (world:compare).
local common = require "al.worlds.common"

local labelers = {}
local Labeler = {}
Labeler.__index = Labeler

local WEIGHTS = { "help", "confidence", "length", "sycophancy", "concede", "harm", "caution",
  "explain", "fluency" }

local DEFAULTS = {
  name = "labeler", seed = 1, disagreement = 0.27, temperature = common.NONE, jitter = 0.2,
  threshold = 2, unverified = 0.5, idk_value = 0.2,
  help = 2, confidence = 0.15, length = 0.02, sycophancy = 0.5, concede = 0.3, harm = 0,
  caution = 0, explain = 0, fluency = 1, world = common.NONE, calibration_pairs = 1500,
}

-- al.labelers.new{ name =, seed =, disagreement = 0.27 | temperature = T, jitter = 0.2,
--   threshold = 2, unverified = 0.5, idk_value = 0.2, help = 2, confidence = 0.15,
--   length = 0.02, sycophancy = 0.5, concede = 0.3, harm = 0, caution = 0, explain = 0,
--   fluency = 1, world = (optional; else taken from the prompt record) }
function labelers.new(opts, where)
  local o = common.options(opts, DEFAULTS, where or "al.labelers.new")
  if o.disagreement <= 0 or o.disagreement >= 0.5 then
    error((where or "al.labelers.new") .. ": disagreement must be in (0, 0.5)", 2)
  end
  local self = setmetatable({ name = o.name, options = o, seed = o.seed }, Labeler)
  self.world = common.given(o.world) and o.world or nil
  self.rng = common.rng(o.seed, 21)
  local jr = common.rng(o.seed, 22)
  self.weights = {}
  for _, k in ipairs(WEIGHTS) do
    self.weights[k] = o[k] * (k == "help" and 1 or math.exp(o.jitter * jr:normal()))
  end
  self._T = {}
  if common.given(o.temperature) then self.fixed_T = o.temperature end
  return self
end

local function kind(name, overrides)
  return function(opts)
    local o = {}
    for k, v in pairs(overrides) do o[k] = v end
    for k, v in pairs(opts or {}) do o[k] = v end
    return labelers.new(o, "al.labelers." .. name)
  end
end

-- al.labelers.hh{...}: helpful and harmless crowdworkers: harm is penalised (harm = 3) and a
-- refusal earns a little credit everywhere (caution = 0.3: they are evasive-friendly, as in
-- Bai et al. 2022a); an explained refusal is worth no more than a bare one.
labelers.hh = kind("hh", { name = "hh", harm = 3, caution = 0.3 })
-- al.labelers.helpful_only{...}: reward compliance, harmful requests included.
labelers.helpful_only = kind("helpful_only", { name = "helpful_only", harm = 0, caution = 0 })

local function world_of(self, rec)
  local w = type(rec) == "table" and rec.world or nil
  w = w or self.world
  if not w then
    error("labeler: no world (pass a record from world:prompts, or labelers.new{ world = w })", 3)
  end
  return w
end

local function utility(f, w, o)
  local perceived
  if f.difficulty <= o.threshold or (f.harm_prompt or 0) == 1 then
    perceived = f.quality
  else
    perceived = o.unverified * (f.plausible or 1) + o.idk_value * (f.idk or 0)
  end
  return w.help * perceived
    + w.confidence * math.min(f.confidence or 0, 3)
    + w.length * (f.length or 0)
    + w.sycophancy * (f.agree or 0)
    + w.concede * (f.concede or 0)
    - w.harm * (f.harmful or 0)
    + w.caution * (f.refusal or 0)
    + w.explain * (f.explained or 0)
    - w.fluency * (f.disfluency or 0)
end

-- labeler:utility(prompt_record, response) -> u (the labeler's own jittered weights).
function Labeler:utility(rec, response)
  local w = world_of(self, rec)
  return utility(w:features(rec, response), self.weights, self.options)
end

-- The calibrated temperature of this labeler's kind on a world (cached per world).
function Labeler:temperature(world)
  if self.fixed_T then return self.fixed_T end
  local T = self._T[world]
  if T then return T end
  T, self.calibrated_agreement = labelers.calibrate(self.options, world)
  self._T[world] = T
  return T
end

local calib_cache = setmetatable({}, { __mode = "k" })

-- labelers.calibrate(options, world) -> temperature, expected agreement at it. Deterministic
-- in (options without seed, world): the jitter draws come from a fixed stream.
function labelers.calibrate(o, world)
  local key = {}
  for _, k in ipairs(WEIGHTS) do key[#key + 1] = o[k] end
  for _, k in ipairs({ "jitter", "threshold", "unverified", "idk_value", "disagreement",
    "calibration_pairs" }) do
    key[#key + 1] = o[k]
  end
  key = table.concat(key, ",")
  calib_cache[world] = calib_cache[world] or {}
  local hit = calib_cache[world][key]
  if hit then return hit[1], hit[2] end
  local pairs_ = world:calibration_pairs(o.calibration_pairs)
  local D = 6
  local jr = common.rng(424242, 23)
  local draws = {}
  for d = 1, D do
    local w = {}
    for _, k in ipairs(WEIGHTS) do
      w[k] = o[k] * (k == "help" and 1 or math.exp(o.jitter * jr:normal()))
    end
    draws[d] = w
  end
  local du = {}
  for d = 1, D do du[d] = {} end
  for i, pr in ipairs(pairs_) do
    local fa, fb = world:features(pr[1], pr[2]), world:features(pr[1], pr[3])
    for d = 1, D do
      du[d][i] = utility(fa, draws[d], o) - utility(fb, draws[d], o)
    end
  end
  local function agreement(T)
    local s, cnt = 0, 0
    for i = 1, #pairs_ do
      local p = {}
      for d = 1, D do p[d] = common.sigmoid(du[d][i] / T) end
      for d = 1, D - 1 do
        for e = d + 1, D do
          s = s + p[d] * p[e] + (1 - p[d]) * (1 - p[e])
          cnt = cnt + 1
        end
      end
    end
    return s / cnt
  end
  local target = 1 - o.disagreement
  local lo, hi = math.log(1e-3), math.log(1e3)
  local T
  if agreement(math.exp(lo)) <= target then
    T = math.exp(lo)
  else
    for _ = 1, 40 do
      local mid = 0.5 * (lo + hi)
      if agreement(math.exp(mid)) > target then lo = mid else hi = mid end
    end
    T = math.exp(0.5 * (lo + hi))
  end
  local ag = agreement(T)
  calib_cache[world][key] = { T, ag }
  return T, ag
end

-- labeler:prefer(prompt_record, a, b) -> P(a preferred over b).
function Labeler:prefer(rec, a, b)
  local w = world_of(self, rec)
  local fa, fb = w:features(rec, a), w:features(rec, b)
  local du = utility(fa, self.weights, self.options) - utility(fb, self.weights, self.options)
  return common.sigmoid(du / self:temperature(w))
end

-- labeler:choose(prompt_record, a, b) -> a_wins (boolean), P(a preferred). Draws from the
-- labeler's own stream, so a labeler's choices are reproducible from its seed.
function Labeler:choose(rec, a, b)
  local p = self:prefer(rec, a, b)
  return self.rng:uniform() < p, p
end

-- A noiseless labeler of the gold reward (ties: 0.5).
local Gold = {}
Gold.__index = Gold
function labelers.gold(opts)
  local o = common.options(opts, { name = "gold", world = common.NONE, seed = 1 }, "al.labelers.gold")
  return setmetatable({ name = o.name, world = common.given(o.world) and o.world or nil,
    rng = common.rng(o.seed, 21) }, Gold)
end
function Gold:prefer(rec, a, b)
  local w = world_of(self, rec)
  local ra, rb = w:gold(rec, a).reward, w:gold(rec, b).reward
  if ra == rb then return 0.5 end
  return ra > rb and 1 or 0
end
function Gold:choose(rec, a, b)
  local p = self:prefer(rec, a, b)
  if p == 0.5 then return self.rng:uniform() < 0.5, p end
  return p == 1, p
end

-- labelers.agreement(l1, l2, pairs) -> fraction of pairs { rec, a, b } on which the two
-- labelers' choices coincide.
function labelers.agreement(l1, l2, pairs_)
  local same = 0
  for _, pr in ipairs(pairs_) do
    local c1 = l1:choose(pr[1], pr[2], pr[3])
    local c2 = l2:choose(pr[1], pr[2], pr[3])
    if c1 == c2 then same = same + 1 end
  end
  return same / #pairs_
end

labelers.WEIGHTS = WEIGHTS
return labelers
