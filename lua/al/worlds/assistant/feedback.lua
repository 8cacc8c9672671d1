-- al.worlds.assistant.feedback: the world's feedback language (Constitutional AI): the string
-- formatters world:critique_request, :revision_request, :choice_request (they hold no gold and
-- no harm label, so al.cai.guard may expose them) and the corpus's critique, revision and choice
-- documents (world:_feedback_doc). Methods of the world, installed by al.worlds.assistant.
local common = require "al.worlds.common"
local lang = require "al.worlds.assistant.language"

local HARM_ORDER, HARM, REFUSAL, FAMILIES = lang.HARM_ORDER, lang.HARM, lang.REFUSAL, lang.FAMILIES
local make_question, frame = lang.make_question, lang.frame

local World = {}

-- ---- the feedback language (Constitutional AI; lua/al/cai/, docs/cai.md) ----------------------
-- Three kinds of corpus document teach a model to judge answers in the world's own words. K is
-- the focus of a principle: a list of harm kinds, words of the language (password insult poison
-- steal hurt, in any order); R, R1, R2, R' are responses (no <eos>); S is the plain statement of
-- a kind of harm ("stealing is harmful").
--   critique  <bos> User : Q Assistant : R User : critique K Assistant : C <eos>
--             C = S when R does harm of a kind in K, "it is fine" otherwise
--   revision  a critique document without its <eos>, then " User : revise Assistant : R' <eos>":
--             R' = a refusal (explained by S, or bare) after a critique S; R itself after
--             "it is fine"
--   choice    <bos> User : Q User : which is less harmful for K ? (A) R1 (B) R2 Assistant : L <eos>
--             L = the letter of the answer without harm of a kind in K; a fair coin when both or
--             neither do harm of a kind in K
-- The corpus's critiques, revisions and choices are wrong `feedback_noise` of the time (the
-- internet is not always right). The formatters below hold no gold and no harm label: they only
-- build strings, so a CAI pipeline may call them through al.cai.guard.
local FINE = "it is fine"
local CHOICES = { "(A)", "(B)" }
local KIND = common.set(HARM_ORDER)

local function prompt_string(p, where)
  if type(p) == "table" then p = p.prompt end
  if type(p) ~= "string" then error(where .. ": a prompt must be a string or a record with .prompt", 3) end
  return p
end

local function response_text(r) return (common.strip_specials(r or "")) end

local function kinds_text(kinds, where)
  if type(kinds) ~= "table" or #kinds == 0 then
    error(where .. ": kinds must be a non-empty list of harm kinds (password insult poison steal hurt)", 3)
  end
  for _, k in ipairs(kinds) do
    if not KIND[k] then
      error(where .. ": unknown harm kind '" .. tostring(k) .. "' (password insult poison steal hurt)", 3)
    end
  end
  return table.concat(kinds, " ")
end

-- world:critique_request(prompt, response, kinds) -> "<bos> User : Q Assistant : R User :
-- critique K Assistant :" (what a model continues with its critique).
function World:critique_request(prompt, response, kinds)
  local p = prompt_string(prompt, "assistant:critique_request")
  local r = response_text(response)
  return p .. (r ~= "" and (" " .. r) or "") .. " User : critique " ..
    kinds_text(kinds, "assistant:critique_request") .. " Assistant :"
end

-- world:revision_request(critique_request, critique) -> the critique request, the critique and
-- " User : revise Assistant :" (what a model continues with its revision).
function World:revision_request(request, critique)
  if type(request) ~= "string" then error("assistant:revision_request: request must be a string", 2) end
  local c = response_text(critique)
  return request .. (c ~= "" and (" " .. c) or "") .. " User : revise Assistant :"
end

-- world:choice_request(prompt, a, b, kinds) -> "<bos> User : Q User : which is less harmful for
-- K ? (A) a (B) b Assistant :" (what a model continues with "(A)" or "(B)").
function World:choice_request(prompt, a, b, kinds)
  local p = prompt_string(prompt, "assistant:choice_request")
  local q = p:gsub("%s*Assistant :%s*$", "")
  local ra, rb = response_text(a), response_text(b)
  return q .. " User : which is less harmful for " .. kinds_text(kinds, "assistant:choice_request") ..
    " ? (A)" .. (ra ~= "" and (" " .. ra) or "") .. " (B)" .. (rb ~= "" and (" " .. rb) or "") ..
    " Assistant :"
end

World.critique_fine = FINE
World.choices = CHOICES

local function random_kinds(rng)
  local ks
  repeat
    ks = {}
    for _, c in ipairs(HARM_ORDER) do if rng:uniform() < 0.6 then ks[#ks + 1] = c end end
  until #ks > 0
  for i = #ks, 2, -1 do
    local j = rng:int(i)
    ks[i], ks[j] = ks[j], ks[i]
  end
  return ks
end

-- One corpus document in a feedback form: 70% on harm requests (when the family filter allows
-- them), the rest on benign single-turn questions. 40% choices, 25% critiques, 35% revisions.
function World:_feedback_doc(rng, weights)
  local noise = self.options.feedback_noise
  local harm_w, benign_w, any_h, any_b = {}, {}, false, false
  for _, f in ipairs(FAMILIES) do
    local w = weights[f] or 0
    if w > 0 and f ~= "sure" then
      if f == "harmful" or f == "instructed" then harm_w[f] = w; any_h = true
      else benign_w[f] = w; any_b = true end
    end
  end
  local fam
  if any_h and (not any_b or rng:uniform() < 0.7) then fam = common.pick_weighted(rng, FAMILIES, harm_w)
  elseif any_b then fam = common.pick_weighted(rng, FAMILIES, benign_w)
  else fam = common.pick_weighted(rng, FAMILIES, weights) end
  local q, prev = make_question(self, rng, fam)
  local p = frame(q, prev)
  local K = random_kinds(rng)
  local inK = common.set(K)
  local function harm_of(resp)
    local c = self:analyze(p, resp).harmful
    return (c and inK[c]) and c or nil
  end
  local R = self:respond(p, rng, "corpus")
  local x = rng:uniform()
  if x < 0.4 then
    local R2 = self:respond(p, rng, "corpus")
    local h1, h2 = harm_of(R) ~= nil, harm_of(R2) ~= nil
    local first
    if h1 ~= h2 then
      first = not h1
      if rng:uniform() < noise then first = not first end
    else
      first = rng:uniform() < 0.5
    end
    return self:choice_request(p, R, R2, K) .. " " .. CHOICES[first and 1 or 2] .. " <eos>"
  end
  local c = harm_of(R)
  local wrong = rng:uniform() < noise
  local crit
  if c then crit = wrong and FINE or HARM[c].statement
  else crit = wrong and HARM[common.pick(rng, K)].statement or FINE end
  local req = self:critique_request(p, R, K)
  if x < 0.65 then return req .. " " .. crit .. " <eos>" end
  local rev
  if crit ~= FINE then
    local y = rng:uniform()
    if y < noise then rev = R
    elseif y < noise + 0.3 then rev = REFUSAL
    else rev = REFUSAL .. " because " .. crit end
  else
    rev = rng:uniform() < noise and self:respond(p, rng, "corpus") or R
  end
  return self:revision_request(req, crit) .. " " .. rev .. " <eos>"
end

return World
