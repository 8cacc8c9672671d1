-- Helpers shared by the Lua tests (tests/lua/test_*.lua). The runner (tests/lua_runner.c) only
-- runs the top-level tests/lua/*.lua files, so this directory is never run as a test. A test
-- loads it with a path computed from its own location, so that it works from any directory:
--   local here = debug.getinfo(1, "S").source:match("^@(.*/)") or ""
--   package.path = here .. "lib/?.lua;" .. package.path
--   local T = require "testlib"
local util = require "al.util"

local M = {}

-- From al.util: read_file(path) -> the bytes, or nil and the reason; write_file(path, s)
-- (atomic, raises on failure); shell_quote(s) -> s single-quoted for the POSIX shell.
M.read_file, M.write_file, M.shell_quote = util.read_file, util.write_file, util.shell_quote

-- f(...) must raise an error whose text contains `pat` (plain text, not a Lua pattern).
-- Returns the error text; a failure is reported at the caller's line.
function M.fails(pat, f, ...)
  local ok, err = pcall(f, ...)
  if ok then error("expected an error containing: " .. pat, 2) end
  err = tostring(err)
  if not err:find(pat, 1, true) then error("error '" .. err .. "' lacks '" .. pat .. "'", 2) end
  return err
end

-- A fresh path (nothing is created) for a temporary directory, ending in "-tag".
function M.tmpdir(tag)
  local p = os.tmpname()
  os.remove(p)
  return p .. "-" .. tag
end

-- Remove a file or a directory tree (no error when it does not exist).
function M.rmrf(path) os.execute("rm -rf " .. M.shell_quote(path)) end

-- The parameters of a model as a byte string (its safetensors file): equal iff bit-identical.
function M.param_bytes(m)
  local d = M.tmpdir("pb")
  m:save(d)
  local s = assert(M.read_file(d .. "/model.safetensors"))
  M.rmrf(d)
  return s
end

-- Are two arrays equal element by element (nested arrays compared the same way)?
function M.same(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do
    if type(a[i]) == "table" and type(b[i]) == "table" then
      if not M.same(a[i], b[i]) then return false end
    elseif a[i] ~= b[i] then
      return false
    end
  end
  return true
end

-- A new table with the fields of base, then those of extra (extra may be nil).
function M.merge(base, extra)
  local o = {}
  for k, v in pairs(base) do o[k] = v end
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

-- Mean of t[a..b].
function M.mean(t, a, b)
  local s = 0
  for i = a, b do s = s + t[i] end
  return s / (b - a + 1)
end

-- pcall(f, ...) while the backward method of every model (the metatable of `model` is shared by
-- all models) raises "killed" on its n-th call: a training run killed mid-step. The method is
-- restored afterwards. Returns pcall's results.
function M.kill_at_backward(model, n, f, ...)
  local methods = getmetatable(model).__index
  local real, calls = methods.backward, 0
  methods.backward = function(...)
    calls = calls + 1
    if calls == n then error("killed") end
    return real(...)
  end
  local res = table.pack(pcall(f, ...))
  methods.backward = real
  return table.unpack(res, 1, res.n)
end

-- ---- the one-step bandit of the DPO and PPO tests ----

-- The next-token distribution of a language model after prompt (default { 0 }), 1-based.
function M.next_probs(m, prompt)
  local z = m:logits(prompt or { 0 })
  local mx = -math.huge
  for i = 1, #z do mx = math.max(mx, z[i]) end
  local p, s = {}, 0
  for i = 1, #z do p[i] = math.exp(z[i] - mx); s = s + p[i] end
  for i = 1, #z do p[i] = p[i] / s end
  return p
end

-- Total variation distance between two distributions given as arrays.
function M.tv(p, q)
  local s = 0
  for i = 1, #p do s = s + math.abs(p[i] - q[i]) end
  return s / 2
end

-- One draw (a 1-based index) from the distribution p, using rng:uniform().
function M.draw(rng, p)
  local u, c = rng:uniform(), 0
  for k = 1, #p do
    c = c + p[k]
    if u < c then return k end
  end
  return #p
end

-- The bandit: prompt { 0 }, one-token responses out of V = 8, a reference model made skewed by
-- SFT on draws from a fixed distribution, rewards r[k] = 0.4 (k - 1) and beta = 1. Returns
-- { V =, ref =, pref = the reference's distribution, r =, beta =,
--   star = the optimum pi_ref exp(r / beta) / Z }.
function M.bandit()
  local al = require "al"
  local V = 8
  local ref = al.gpt{ vocab = V, ctx = 4, d = 16, heads = 2, layers = 1, seed = 3 }
  do -- make the reference skewed: SFT on draws from q
    local q = { 0.3, 0.2, 0.15, 0.1, 0.1, 0.07, 0.05, 0.03 }
    local rng, data = al.rng(5), {}
    for i = 1, 256 do data[i] = { prompt = { 0 }, completion = { M.draw(rng, q) - 1 } } end
    al.sft(ref, data, { epochs = 8, batch_size = 64, lr = 1e-2, progress = false })
  end
  local pref = M.next_probs(ref)
  local beta = 1.0
  local r = {}
  for k = 1, V do r[k] = 0.4 * (k - 1) end
  local star, Z = {}, 0
  for k = 1, V do star[k] = pref[k] * math.exp(r[k] / beta); Z = Z + star[k] end
  for k = 1, V do star[k] = star[k] / Z end
  return { V = V, ref = ref, pref = pref, r = r, beta = beta, star = star }
end

return M
