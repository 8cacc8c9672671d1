-- Tests of al.kto (lua/al/kto.lua): the first step's loss in closed form (policy = reference:
-- r = 0, so each example costs w (1 - sigmoid(0)) = w / 2), the loss falling on a toy task, the
-- KL reference point (detached, clamped at 0), exact resume, and the JSONL loader (TRL's unpaired
-- shape) refusing bad lines with file:line.
print("testing kto")
local al = require "al"
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "lib/?.lua;" .. package.path
local T = require "testlib"
local fails, with = T.fails, T.merge

local function tiny(seed) return al.gpt{ vocab = 12, ctx = 8, d = 16, heads = 2, layers = 1, seed = seed } end
local data = {}
for i = 1, 24 do
  local good = i % 3 ~= 0 -- 16 desirable, 8 undesirable
  data[i] = { prompt = { 1, i % 4 + 2 }, completion = good and { 6, 7 } or { 9, 10 }, label = good }
end
local base = { steps = 12, batch_size = 8, lr = 1e-2, beta = 0.5, progress = false }

do print("  closed-form first step, weights")
  local _, h = al.kto(tiny(1), data, with(base, { steps = 1 }))
  assert(h[1].loss == 0.5, h[1].loss)
  assert(h[1]["rewards/chosen"] == 0 and h[1]["rewards/rejected"] == 0 and h[1].kl == 0)
  local nc, nr = h[1]["count/chosen"], h[1]["count/rejected"]
  assert(nc + nr == 8 and nc > 0 and nr > 0)
  local _, h2 = al.kto(tiny(1), data, with(base, { steps = 1, desirable_weight = 2, undesirable_weight = 0.5 }))
  local want = (2 * 0.5 * nc + 0.5 * 0.5 * nr) / 8
  assert(math.abs(h2[1].loss - want) < 1e-15, h2[1].loss .. " vs " .. want)
end

do print("  the loss falls; desirable rewards rise above undesirable ones")
  local m, h = al.kto(tiny(1), data, base)
  assert(h[#h].loss < 0.6 * h[1].loss, h[1].loss .. " -> " .. h[#h].loss)
  assert(h[#h]["rewards/margins"] > 0.3, h[#h]["rewards/margins"])
  assert(h[#h]["logps/chosen"] > h[1]["logps/chosen"])
  for _, r in ipairs(h) do assert(r.kl >= 0 and r.lr and r.grad_norm and r.epoch) end
  -- all desirable: every completion's log-ratio rises, so the mismatched-pair estimate z0 does
  local pos = {}
  for i = 1, 24 do pos[i] = { prompt = { 1, i % 4 + 2 }, completion = { 6, 7 }, label = true } end
  local _, hp = al.kto(tiny(1), pos, base)
  assert(hp[1].kl == 0 and hp[#hp].kl > 1 and hp[#hp].kl > hp[2].kl, hp[#hp].kl)
  assert(hp[#hp]["rewards/rejected"] == nil and hp[#hp]["count/rejected"] == 0)
  -- kl = "none": z0 = 0 at every step
  local _, hn = al.kto(tiny(1), data, with(base, { kl = "none" }))
  for _, r in ipairs(hn) do assert(r.kl == 0) end
  m:free()
end

do print("  exact resume: killed in step 9, resumed from step 8")
  local a = al.kto(tiny(2), data, base)
  local dir = T.tmpdir("kto")
  local b = tiny(2)
  local ok, err = T.kill_at_backward(b, 9, al.kto, b, data, with(base, { ckpt = dir, save_every = 4 }))
  assert(not ok and tostring(err):find("killed"), tostring(err))
  local c, hc = al.kto(tiny(2), data, with(base, { resume = dir }))
  assert(hc[1].step == 9 and #hc == 4, "resumed at step 9")
  assert(T.param_bytes(a) == T.param_bytes(c), "resumed run is bit-identical")
  T.rmrf(dir)
end

do print("  JSONL loader: TRL's unpaired shape, errors name file:line")
  local tok = al.bpe.train({ "the cat sat on the mat", "a dog ran", "good bad answer" }, { vocab = 270,
    specials = { "<|system|>", "<|user|>", "<|assistant|>", "<|end|>" } })
  local p = T.tmpdir("kto.jsonl")
  T.write_file(p, table.concat({
    '{"prompt": "the cat", "completion": " sat", "label": true}',
    '{"prompt": [{"role": "user", "content": "a dog"}], "completion": [{"role": "assistant", "content": "ran"}], "label": false}',
    '{"prompt": "good", "completion": " answer", "label": true, "extra": 1}',
  }, "\n") .. "\n")
  local recs = al.kto.load(p)
  assert(#recs == 3 and recs[1].label == true and recs[2].label == false and type(recs[2].prompt) == "table")
  local m = al.gpt{ vocab = tok:size(), ctx = 32, d = 16, heads = 2, layers = 1, seed = 1 }
  local _, h = al.kto(m, p, { tok = tok, steps = 2, batch_size = 3, progress = false })
  assert(#h == 2 and h[1].loss == 0.5)
  local cases = {
    { '{"prompt": "a", "completion": "b", "label": 1}', ":2: field 'label' must be true (desirable) or false (undesirable), got 1" },
    { '{"prompt": "a", "label": true}', ":2: missing field 'completion'" },
    { '{"prompt": "a", "completion": "b", "label": true', ":2: not valid JSON" },
    { '', ":2: empty line" },
    { '[1, 2]', ":2: missing field 'prompt'" },
    { '{"prompt": [{"role": "user"}], "completion": "b", "label": true}', ":2: prompt[0]: a message needs string 'role' and 'content'" },
    { '{"prompt": "a", "completion": [{"role": "user", "content": "x"}], "label": true}', ":2: field 'completion' as messages must be one assistant message" },
    { '{"prompt": [{"role": "user", "content": "x"}], "completion": "b", "label": true}', ":2: 'prompt' and 'completion' must both be strings or both messages" },
  }
  for _, c in ipairs(cases) do
    T.write_file(p, '{"prompt": "a", "completion": "b", "label": true}\n' .. c[1] .. "\n")
    fails(p .. c[2], al.kto.load, p)
  end
  fails("al.kto: cannot read", al.kto.load, p .. ".missing")
  T.rmrf(p)
end

do print("  bad options and data")
  fails("al.kto: unknown option 'beat'", al.kto, tiny(1), data, { beat = 1 })
  fails("al.kto: desirable_weight must be >= 0", al.kto, tiny(1), data, with(base, { desirable_weight = -1 }))
  fails("al.kto: kl must be 'batch' or 'none'", al.kto, tiny(1), data, with(base, { kl = "mean" }))
  fails("al.kto: example 1: label must be true or false", al.kto, tiny(1), { { prompt = { 1 }, completion = { 2 } } }, base)
  fails("al.kto: example 1 is text: pass opts.tok", al.kto, tiny(1), { { prompt = "a", completion = "b", label = true } }, base)
  fails("token 12 outside the vocabulary", al.kto, tiny(1), { { prompt = { 1 }, completion = { 12 }, label = true } }, base)
end
print("OK")
