-- Tests of the model bindings (lua/l_gpt.c, l_optim.c, l_train.c): every function and method, their error paths,
-- save/load identity, and a training step that lowers the loss.
print("testing gpt")
local al = require "al"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local fails, tmpdir, rmrf, same = T.fails, T.tmpdir, T.rmrf, T.same

-- a luaL_check* error: "bad argument #n to 'f' (what expected, got ...)"
local function badarg(n, what, f, ...)
  fails("bad argument #" .. n .. " to '", f, ...)
  fails("(" .. what .. " expected", f, ...)
end

local function close(a, b, tol)
  if #a ~= #b then return false end
  for i = 1, #a do
    if math.abs(a[i] - b[i]) > tol then return false end
  end
  return true
end

-- ---- construction ----
local m = al.gpt{ vocab = 13, ctx = 10, d = 16, heads = 2, layers = 2, seed = 7 }
assert(tostring(m):find("^al.GPT%(vocab=13, ctx=10, d=16, heads=2, layers=2, head=lm, "),
       tostring(m))
local c = m:config()
assert(c.vocab == 13 and c.ctx == 10 and c.d == 16 and c.heads == 2 and c.layers == 2)
assert(c.head == "lm" and c.lm == true and c.scalar == false and c.frozen == false)
assert(math.abs(c.ln_eps - 1e-5) < 1e-12)
-- nparams: wte + wpe + L * (12 C^2 + 13 C) + 2 C
local C, V, T, L = 16, 13, 10, 2
assert(m:nparams() == V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C, m:nparams())

-- params: HF names and shapes
local p = m:params()
assert(same(p["wte.weight"], { V, C }))
assert(same(p["wpe.weight"], { T, C }))
assert(same(p["h.1.attn.c_attn.weight"], { C, 3 * C }))
assert(same(p["h.0.mlp.c_proj.weight"], { 4 * C, C }))
assert(same(p["ln_f.bias"], { C }))
assert(p["score.weight"] == nil and p["lm_head.weight"] == nil)
local count = 0
for _ in pairs(p) do count = count + 1 end
assert(count == 4 + 12 * L)

-- defaults: only vocab is required; the same seed gives the same model
local d = al.gpt{ vocab = 5 }
assert(d:config().ctx == 64 and d:config().d == 128 and d:config().heads == 4)
assert(same(al.gpt{ vocab = 5, d = 8, heads = 2, seed = 3 }:logits({ 1, 2 }),
            al.gpt{ vocab = 5, d = 8, heads = 2, seed = 3 }:logits({ 1, 2 })))
assert(not same(al.gpt{ vocab = 5, d = 8, heads = 2, seed = 3 }:logits({ 1, 2 }),
                al.gpt{ vocab = 5, d = 8, heads = 2, seed = 4 }:logits({ 1, 2 })))

-- construction errors
fails("unknown option 'layer'", al.gpt, { vocab = 5, layer = 2 })
fails("option 'vocab' is required", al.gpt, { d = 8 })
fails("option 'd' must be an integer", al.gpt, { vocab = 5, d = 8.5 })
fails("option 'head' must be \"lm\", \"scalar\" or \"both\"", al.gpt, { vocab = 5, head = "x" })
fails("not a multiple of NH", al.gpt, { vocab = 5, d = 10, heads = 3 })
fails("V (vocab_size) = 1", al.gpt, { vocab = 1 })
fails("out of range", al.gpt, { vocab = 5, layers = 0 })
badarg(1, "table", al.gpt, 5)

-- ---- inference ----
local toks = { 1, 4, 2, 12, 0, 3 }
local last = m:logits(toks)
assert(#last == V)
local all = m:logits(toks, { all = true })
assert(#all == #toks and #all[1] == V)
assert(same(all[#toks], last))
-- causal: the first positions do not depend on later tokens
local prefix = m:logits({ 1, 4, 2 })
assert(close(all[3], prefix, 1e-5)) -- sgemm blocking may differ with T: not bit-exact
fails("unknown option 'al'", m.logits, m, toks, { al = true })
fails("empty token sequence", m.logits, m, {})
fails("more than the model's ctx = 10", m.logits, m, { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 })
fails("token 2 must be a non-negative integer", m.logits, m, { 1, "x" })
fails("token 2 must be a non-negative integer", m.logits, m, { 1, -3 })
fails("out of [0", m.logits, m, { 1, 13 })
badarg(2, "table", m.logits, m, 3)
badarg(1, "al.GPT", m.logits, {}, { 1 })

-- logprob: sum of log-softmax of the completion tokens, checked against the logits
local function logsoftmax(x, k)
  local mx = -math.huge
  for i = 1, #x do mx = math.max(mx, x[i]) end
  local s = 0
  for i = 1, #x do s = s + math.exp(x[i] - mx) end
  return x[k + 1] - mx - math.log(s)
end
local prompt, completion = { 1, 4, 2 }, { 12, 0, 3 }
local want = 0
for i = 1, #completion do want = want + logsoftmax(all[#prompt + i - 1], completion[i]) end
local lp = m:logprob(prompt, completion)
assert(math.abs(lp - want) < 1e-4, lp .. " vs " .. want)
assert(lp < 0)
assert(m:logprob(prompt, {}) == 0)
fails("empty token sequence", m.logprob, m, {}, { 1 })
fails("prompt + completion = 11 tokens", m.logprob, m, { 1, 2, 3, 4, 5, 6 }, { 1, 2, 3, 4, 5 })

-- scalar heads
fails("the model has no scalar head", m.values, m, toks)
fails("the model has no scalar head", m.reward, m, toks)
local rm = al.gpt{ vocab = 13, ctx = 10, d = 16, heads = 2, layers = 1, head = "scalar", seed = 2 }
assert(rm:config().head == "scalar" and rm:config().lm == false)
assert(same(rm:params()["score.weight"], { 1, 16 }))
local vals = rm:values(toks)
assert(#vals == #toks)
assert(rm:reward(toks) == vals[#toks])
assert(math.abs(rm:values({ 1, 4, 2 })[3] - vals[3]) < 1e-5)
fails("the model has no lm head", rm.logits, rm, toks)
fails("the model has no lm head", rm.logprob, rm, toks, toks)
local both = al.gpt{ vocab = 13, ctx = 10, d = 16, heads = 2, layers = 1, head = "both" }
assert(#both:logits(toks) == 13 and #both:values(toks) == #toks)
assert(tostring(both):find("head=both"))

-- set_head: add a scalar head to an LM, switch logits off, and back
local h = m:clone()
h:set_head{ scalar = true, lm = false, seed = 5 }
assert(h:config().head == "scalar")
assert(#h:values(toks) == #toks)
h:set_head{ lm = true }
assert(h:config().head == "both")
assert(same(h:logits(toks), last)) -- the trunk is unchanged
h:set_head{ scalar = false }
assert(h:config().head == "lm" and h:nparams() == m:nparams())
fails("needs the lm head or the scalar head", h.set_head, h, { scalar = false, lm = false })
fails("unknown option 'scaler'", h.set_head, h, { scaler = true })

-- ---- clone, freeze, copy_params, free ----
local k = m:clone()
assert(same(k:logits(toks), last))
assert(not k:config().frozen)
assert(k:freeze() == k and k:frozen() and k:config().frozen)
assert(tostring(k):find(", frozen%)$"))
k:freeze(false)
assert(not k:frozen())
local other = al.gpt{ vocab = 13, ctx = 10, d = 16, heads = 2, layers = 2, seed = 99 }
assert(not same(other:logits(toks), last))
other:copy_params(m)
assert(same(other:logits(toks), last))
fails("copy_params: the models differ in shape", other.copy_params, other, rm)
other:free()
assert(tostring(other) == "al.GPT (freed)")
fails("the al.GPT has been freed", other.logits, other, toks)
other:free() -- twice is harmless
do
  local scoped <close> = m:clone()
  assert(#scoped:logits(toks) == V)
end

-- ---- gradients and optimizer ----
badarg(1, "al.GPT", al.adamw, 3)
fails("unknown option 'beta'", al.adamw, m, { beta = 0.9 })
fails("option 'betas' must be a table {b1, b2}", al.adamw, m, { betas = 0.9 })
fails("option 'lr' must be a number", al.adamw, m, { lr = "big" })
fails("adamw: beta1 = 1", al.adamw, m, { betas = { 1.0, 0.9 } })
local opt = al.adamw(m, { lr = 1e-2, weight_decay = 0.0, betas = { 0.9, 0.95 }, eps = 1e-8, clip = 1 })
assert(tostring(opt):find("^al.AdamW%("))
local oc = opt:config()
assert(math.abs(oc.betas[2] - 0.95) < 1e-7 and math.abs(oc.lr - 1e-2) < 1e-9)
assert(opt:nsteps() == 0)
assert(m:grad_norm() == 0)
m:zero_grad()
assert(m:grad_norm() == 0)

local batch = { { 1, 2, 3, 4, 5, 6, 7 }, { 3, 1, 4, 1, 5 }, { 2, 7, 1, 8, 2, 8, 1, 8, 2 } }
local first, gn = m:train_step(batch, opt)
assert(first > 0 and gn > 0)
assert(m:grad_norm() > 0)
assert(opt:nsteps() == 1)
local loss = first
for _ = 1, 30 do loss = m:train_step(batch, opt) end
assert(loss < 0.5 * first, "loss " .. first .. " -> " .. loss)
assert(opt:nsteps() == 31)

-- the loss is the mean next-token cross-entropy over the counted targets
local fresh = al.gpt{ vocab = 13, ctx = 10, d = 16, heads = 2, layers = 1, seed = 11 }
local sgd = al.adamw(fresh, { lr = 0 })
local want_loss, n = 0, 0
for _, s in ipairs(batch) do
  local lg = fresh:logits(s, { all = true })
  for i = 2, #s do
    want_loss = want_loss - logsoftmax(lg[i - 1], s[i])
    n = n + 1
  end
end
local got = fresh:train_step(batch, sgd)
assert(math.abs(got - want_loss / n) < 1e-4, got .. " vs " .. want_loss / n)
-- with a mask only the completion tokens count
local mbatch = { { 1, 2, 3, 4 }, { 5, 6, 7 }, mask = { { 0, 0, 1, 1 }, { 0, 1, 0 } } }
local lg1, lg2 = fresh:logits({ 1, 2, 3, 4 }, { all = true }), fresh:logits({ 5, 6, 7 }, { all = true })
local want_m = -(logsoftmax(lg1[2], 3) + logsoftmax(lg1[3], 4) + logsoftmax(lg2[1], 6)) / 3
got = fresh:train_step(mbatch, sgd)
assert(math.abs(got - want_m) < 1e-4, got .. " vs " .. want_m)

fails("train_step: empty batch", m.train_step, m, {}, opt)
badarg(3, "al.AdamW", m.train_step, m, batch, 5)
fails("unknown option 'rate'", m.train_step, m, batch, opt, { rate = 1 })
fails("batch[2] must be a token array", m.train_step, m, { { 1, 2 }, 5 }, opt)
fails("batch[1][2] must be a token id in [0, 13)", m.train_step, m, { { 1, 13 } }, opt)
fails("more than the model's ctx = 10", m.train_step, m, { { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 } }, opt)
fails("shorter than 2 tokens", m.train_step, m, { { 1 } }, opt)
fails("batch.mask[1] has 1 entries for 2 tokens", m.train_step, m, { { 1, 2 }, mask = { { 1 } } }, opt)
fails("no target tokens", m.train_step, m, { { 1, 2 }, mask = { { 1, 0 } } }, opt)
fails("the model is frozen", k:freeze().train_step, k, batch, opt)
fails("the model has no lm head", rm.train_step, rm, batch, opt)
-- an optimizer for another model is refused by the core
local small_opt = al.adamw(fresh)
fails("adamw", m.train_step, m, batch, small_opt)

-- opt:step directly, with an explicit lr
m:zero_grad()
fails("step: the model has no gradients", opt.step, opt, al.gpt{ vocab = 3, d = 4, heads = 1 })
assert(opt:step(m, 0.0) == 0) -- zero gradient: norm 0
badarg(2, "al.GPT", opt.step, opt, 3)

-- ---- schedule ----
local sch = al.schedule{ warmup = 10, total = 100, lr = 1e-3, min_lr = 1e-4 }
assert(tostring(sch):find("^al.Schedule%("))
-- warmup as in llm.c: lr * (step + 1) / warmup, so step 0 already moves
assert(math.abs(sch:lr(0) - 1e-4) < 1e-12)
assert(math.abs(sch:lr(4) - 5e-4) < 1e-12)
assert(math.abs(sch:lr(10) - 1e-3) < 1e-12)
assert(math.abs(sch:lr(100) - 1e-4) < 1e-12 and math.abs(sch:lr(1000) - 1e-4) < 1e-12)
assert(sch:lr(50) < 1e-3 and sch:lr(50) > 1e-4)
fails("unknown option 'warm'", al.schedule, { warm = 1, total = 10, lr = 1 })
fails("option 'total' (>= 1) is required", al.schedule, { lr = 1 })
fails("option 'lr' (>= 0) is required", al.schedule, { total = 10 })
fails("warmup = 20 must be in [0, total = 10]", al.schedule, { warmup = 20, total = 10, lr = 1 })
fails("min_lr must be in [0, lr]", al.schedule, { total = 10, lr = 1, min_lr = 2 })
fails("step must be >= 0", sch.lr, sch, -1)
fails("schedule must be cosine, linear or constant (got 'step')", al.schedule, { kind = "step", total = 10, lr = 1 })
assert(al.schedule{ kind = "linear", total = 10, lr = 1 }:lr(5) == 0.5)
-- al.lr_at is every trainer's schedule; it gives the bits of the Lua formula the figures were
-- made with (the trainers' schedule before it moved to the core), for every kind and warmup form
local function old_lr_at(o, step, total)
  local warm = o.warmup or 0
  if warm > 0 and warm < 1 then warm = math.max(1, math.floor(warm * total)) end
  local min_lr = o.min_lr or 0
  if step < warm then return o.lr * (step + 1) / warm end
  if o.schedule == "constant" then return o.lr end
  local p = total > warm and (step - warm) / (total - warm) or 1
  if p > 1 then p = 1 end
  if o.schedule == "linear" then return o.lr + (min_lr - o.lr) * p end
  return min_lr + 0.5 * (o.lr - min_lr) * (1 + math.cos(math.pi * p))
end
local n = 0
for _, kind in ipairs{ "cosine", "linear", "constant" } do
  for _, warm in ipairs{ 0, 0.05, 0.1, 3, 17 } do
    for _, total in ipairs{ 1, 7, 60, 1234 } do
      for _, lr in ipairs{ 1e-3, 3e-4, 5e-5 } do
        local o = { schedule = kind, warmup = warm, lr = lr, min_lr = lr / 10 }
        for step = 0, total + 2 do
          assert(al.lr_at(kind, step, total, lr, lr / 10, warm) == old_lr_at(o, step, total),
                 string.format("%s warm %g total %d lr %g step %d", kind, warm, total, lr, step))
          n = n + 1
        end
      end
    end
  end
end
assert(n > 10000)
fails("lr_at' (schedule must be cosine, linear or constant (got 'cos'))", al.lr_at, "cos", 1, 10, 1)

-- ---- save and load ----
local dir = tmpdir("gpt")
m:save(dir)
local r = al.load(dir)
assert(r:config().vocab == 13 and r:nparams() == m:nparams())
for _, s in ipairs(batch) do
  local a, b = m:logits(s, { all = true }), r:logits(s, { all = true })
  for t = 1, #s do assert(same(a[t], b[t]), "logits differ after load") end
end
-- a scalar model keeps its head through save/load
local rdir = tmpdir("rm")
rm:save(rdir)
local rm2 = al.load(rdir)
assert(rm2:config().head == "scalar" and same(rm2:values(toks), rm:values(toks)))
rmrf(rdir)
-- training state: save with the model, restore into a new optimizer, continue identically
local rng = al.rng(42)
rng:uniform()
m:save(dir, { state = opt, rngs = { rng }, meta = { step = 31, name = "run", ok = true } })
local r2 = al.load(dir)
local opt2 = al.adamw(r2, { lr = 1e-2, weight_decay = 0.0, betas = { 0.9, 0.95 }, eps = 1e-8, clip = 1 })
local rng2 = al.rng(1)
local meta = opt2:load(dir, { rng2 })
assert(meta.step == 31 and meta.name == "run" and meta.ok == true)
assert(opt2:nsteps() == opt:nsteps() and opt:nsteps() == 32) -- 31 train steps + one opt:step
assert(rng2:uniform() == rng:uniform())
local l1 = m:train_step(batch, opt)
local l2 = r2:train_step(batch, opt2)
assert(l1 == l2, l1 .. " vs " .. l2)
assert(same(m:logits(toks), r2:logits(toks)))
-- opt:save / opt:load with an explicit path
local sp = dir .. "/opt.safetensors"
opt:save(sp, { note = "x" })
assert(opt2:load(sp).note == "x")
os.remove(sp)
fails("unknown option 'states'", m.save, m, dir, { states = opt })
fails("meta: value of 'f' must be a string, number or boolean", m.save, m, dir, { meta = { f = {} } })
fails("optimizer state holds", small_opt.load, small_opt, dir)
fails("holds 1 RNG state(s), 0 expected", opt2.load, opt2, dir)
fails("/nope: cannot open", opt.load, opt, dir .. "/nope")
rmrf(dir)
fails("config.json: cannot open", al.load, dir)
badarg(1, "string", al.load, {})

-- a corrupt checkpoint is a Lua error naming the problem, not a crash
local bad = tmpdir("bad")
m:save(bad)
local f = io.open(bad .. "/config.json", "w")
f:write('{"model_type": "gpt2", "vocab_size": 13, "n_positions": 10, "n_embd": 16, "n_layer": 2, "n_head": 3}')
f:close()
fails("config.json: gpt config: C (n_embd) = 16 is not a multiple of NH (n_head) = 3", al.load, bad)
f = io.open(bad .. "/config.json", "w")
f:write('{"model_type": "gpt2", "vocab_size": 14, "n_positions": 10, "n_embd": 16, "n_layer": 2, "n_head": 2}')
f:close()
fails("tensor 'wte.weight' has shape [13, 16] but config.json implies [14, 16]", al.load, bad)
f = io.open(bad .. "/model.safetensors", "w")
f:write("\255\255\255\255\255\255\255\255{}")
f:close()
fails("model.safetensors: header length", al.load, bad)
rmrf(bad)

collectgarbage()
print("OK")
