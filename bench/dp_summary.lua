-- `alignlab bench/dp_summary.lua bench-dp.txt`: medians of bench/dp.sh's lines, speed-ups and
-- efficiencies. Strong scaling: speed-up S = t(np 1) / t(np 2), efficiency S / 2. Weak scaling
-- (the work per rank fixed): efficiency t(np 1) / t(np 2), throughput ratio 2 x that.
local json = require("al.core").json
local path = arg[1] or error("usage: dp_summary.lua FILE", 0)
local function median(t)
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) // 2] or (t[n // 2] + t[n // 2 + 1]) / 2
end
local train, sweep = {}, {}
for line in io.lines(path) do
  local kind, np, js = line:match("^train (%a+) np=(%d) (.*)$")
  if kind then
    local r = json.decode(js)
    local k = kind .. np
    train[k] = train[k] or { step = {}, red = {}, r = r }
    table.insert(train[k].step, r.ms_step)
    table.insert(train[k].red, r.ms_reduce)
  end
  local sk, snp, sec = line:match("^sweep (%a+) np=(%d) points=%d+ seconds=([%d.]+)")
  if sk then
    local k = sk .. snp
    sweep[k] = sweep[k] or {}
    table.insert(sweep[k], tonumber(sec))
  end
end
local function m(t, k) return t[k] and median(t[k]) end
local s1, s2, w2 = m(train.strong1 or {}, "step"), m(train.strong2 or {}, "step"), m(train.weak2 or {}, "step")
print(("runs: %d"):format(train.strong1 and #train.strong1.step or 0))
if s1 and s2 then
  print(("train strong (global batch 16): np1 %.0f ms/step, np2 %.0f ms/step: speed-up %.2f, efficiency %.0f%%"):format(
    s1, s2, s1 / s2, 50 * s1 / s2))
  print(("  np2 reduction %.1f ms/step (%.1f%% of the step), %.1f MB sent + %.1f MB received per rank per step"):format(
    median(train.strong2.red), 100 * median(train.strong2.red) / s2, train.strong2.r.bytes_sent / 1e6,
    train.strong2.r.bytes_received / 1e6))
end
if s1 and w2 then
  print(("train weak (16 per rank): np1 %.0f ms/step, np2 (batch 32) %.0f ms/step: efficiency %.0f%%, throughput x%.2f"):format(
    s1, w2, 100 * s1 / w2, 2 * s1 / w2))
  print(("  np2 reduction %.1f ms/step (%.1f%% of the step)"):format(median(train.weak2.red), 100 * median(train.weak2.red) / w2))
end
local a, b, c, d = m(sweep, "strong1"), m(sweep, "strong2"), m(sweep, "weak1"), m(sweep, "weak2")
if a and b then print(("sweep strong (4 points): np1 %.2f s, np2 %.2f s: speed-up %.2f, efficiency %.0f%%"):format(a, b, a / b, 50 * a / b)) end
if c and d then print(("sweep weak (2 points per rank): np1 %.2f s, np2 %.2f s: efficiency %.0f%%"):format(c, d, 100 * c / d)) end
