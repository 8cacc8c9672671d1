-- alignlab benchmark: per-step time of the Lua trainers (SFT, RM, DPO, PPO split into sampling,
-- scoring and update) on the tiny preset (V=256, ctx 64, d=128, heads 4, layers 2, batch 32),
-- and the peak memory (VmHWM) of PPO (policy, reference, reward and value models) against DPO
-- (policy and reference log-probs), each measured in a separate process.
--   build/alignlab bench/bench_trainers.lua [steps]         (run by bench/run.sh)
--   build/alignlab bench/bench_trainers.lua mem ppo|dpo|base (one memory probe; prints VmHWM kB)
-- Timings are medians over steps after the first (warm-up); on a shared machine they are noisy.
local al = require "al"

local CFG = { vocab = 256, ctx = 64, d = 128, heads = 4, layers = 2 }
local B, P, C = 32, 16, 48 -- batch, prompt tokens, completion tokens (P + C = ctx)

local function model(seed, head)
  local o = { seed = seed, head = head }
  for k, v in pairs(CFG) do o[k] = v end
  return al.gpt(o)
end

local rng = al.rng(1)
local function ids(n)
  local t = {}
  for i = 1, n do t[i] = rng:int(CFG.vocab) - 1 end
  return t
end
local function sft_data(n)
  local d = {}
  for i = 1, n do d[i] = { prompt = ids(P), completion = ids(C) } end
  return d
end
local function prefs(n)
  local d = {}
  for i = 1, n do d[i] = { prompt = ids(P), chosen = ids(C), rejected = ids(C) } end
  return d
end
local function prompts(n)
  local d = {}
  for i = 1, n do d[i] = ids(P) end
  return d
end

local function hwm()
  local f = io.open("/proc/self/status")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmHWM:%s*(%d+)"))
end

local function median(t)
  table.sort(t)
  local n = #t
  if n == 0 then return 0 / 0 end
  return n % 2 == 1 and t[(n + 1) // 2] or (t[n // 2] + t[n // 2 + 1]) / 2
end

local function med(hist, key)
  local v = {}
  for i = 2, #hist do v[#v + 1] = hist[i][key] end
  return median(v)
end

-- ---- memory probes (separate processes) ----
if arg[1] == "mem" then
  local what = arg[2]
  if what == "dpo" then
    al.dpo(model(1), prefs(64), { steps = 2, batch_size = B, progress = false })
  elseif what == "ppo" then
    local rm = model(2, "scalar")
    al.ppo(model(1), { reward = rm, prompts = prompts(64), max_new = C, steps = 2, batch_size = B, progress = false })
  elseif what == "base" then
    local m = model(1)
    m:forward({ ids(8) })
  else
    error("bench_trainers: mem ppo|dpo|base")
  end
  print(hwm())
  return
end

local steps = tonumber(arg[1]) or 6
print(string.format("bench_trainers: V=%d ctx=%d d=%d heads=%d layers=%d, batch %d (prompt %d + completion %d tokens), %d steps, threads %s",
  CFG.vocab, CFG.ctx, CFG.d, CFG.heads, CFG.layers, B, P, C, steps, table.concat({ al.core.nthreads() }, "/")))

local out = {}
local function row(name, ms, extra)
  out[#out + 1] = { name = name, ms = ms }
  print(string.format("  %-34s %9.1f ms/step%s", name, ms, extra or ""))
end

do -- SFT: the Lua trainer against the C train_step on the same batches
  local m = model(1)
  local _, h = al.sft(m, sft_data(B * steps), { steps = steps, batch_size = B, progress = false })
  local ms = med(h, "time") * 1e3
  row("sft (al.sft)", ms, string.format("  %.0f trained tokens/s", B * C / (ms / 1e3)))
  local seqs, masks = {}, {}
  for b = 1, B do
    seqs[b] = ids(P + C)
    local mk = {}
    for i = 1, P + C do mk[i] = i > P and 1 or 0 end
    masks[b] = mk
  end
  seqs.mask = masks
  local opt = al.adamw(m)
  local t = {}
  for i = 1, steps do
    local t0 = al.core.time()
    m:train_step(seqs, opt)
    t[i] = al.core.time() - t0
  end
  table.remove(t, 1)
  row("sft step in C (m:train_step)", median(t) * 1e3, "  (the Lua trainer's overhead is the difference)")
end

do -- RM: batch of 32 pairs = 64 sequences
  local _, h = al.reward_model(model(1), prefs(B * steps), { steps = steps, batch_size = B, eval = 0, progress = false })
  row("reward_model (32 pairs)", med(h, "time") * 1e3)
end

do -- DPO: 32 pairs; reference log-probs once, before the steps
  local t0 = al.core.time()
  local _, h = al.dpo(model(1), prefs(B * steps), { steps = steps, batch_size = B, progress = false })
  local total = al.core.time() - t0
  local st = 0
  for _, m in ipairs(h) do st = st + m.time end
  row("dpo (32 pairs)", med(h, "time") * 1e3, string.format("  (+ %.0f ms once for the reference log-probs)", (total - st) * 1e3))
end

do -- PPO: 32 prompts, 48 new tokens, an RM, value model from the RM, 2 epochs x 2 minibatches
  local rm = model(2, "scalar")
  local _, h = al.ppo(model(1), { reward = rm, prompts = prompts(B * steps), max_new = C, steps = steps,
    batch_size = B, progress = false })
  local s, sc, u = med(h, "time_rollout"), med(h, "time_score"), med(h, "time_update")
  row("ppo (32 prompts x 48 new tokens)", med(h, "time") * 1e3,
    string.format("  = sampling %.0f + scoring %.0f + update %.0f ms", s * 1e3, sc * 1e3, u * 1e3))
  local _, hx = al.ppo(model(1), { reward = rm, prompts = prompts(B * steps), max_new = C, steps = steps,
    batch_size = B, progress = false, exact_kl = false })
  row("ppo without the exact KL", med(hx, "time") * 1e3, string.format("  scoring %.0f ms", med(hx, "time_score") * 1e3))
end

-- peak memory, each method in its own process
local exe = arg[-1] or "alignlab"
local script = arg[0]
local function probe(what)
  local p = io.popen(string.format("'%s' '%s' mem %s 2>/dev/null", exe, script, what))
  local s = p and p:read("a") or ""
  if p then p:close() end
  return tonumber(s:match("(%d+)"))
end
local base, dpo, ppo = probe("base"), probe("dpo"), probe("ppo")
if base and dpo and ppo then
  print(string.format("  peak RSS (VmHWM): one model %.1f MB; dpo %.1f MB; ppo %.1f MB (ppo/dpo %.2f)",
    base / 1024, dpo / 1024, ppo / 1024, ppo / dpo))
else
  print("  peak RSS: probe failed (no /proc?)")
end
