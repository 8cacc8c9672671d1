#!/usr/bin/python3
# Cross-check (manual, not part of the test suite): a model trained and saved by alignlab loads
# into an independent PyTorch GPT-2 and gives the same logits (and scalar-head values).
# The PyTorch side is Hugging Face's GPT2LMHeadModel when `import transformers` works, else a
# hand-written GPT-2 that follows modeling_gpt2.py (Conv1D in-by-out weights, fused qkv, causal
# softmax(QK^T / sqrt(HS)), gelu_new, pre-LN, final LN, LM head tied to wte).
# The safetensors file is read by hand (8-byte length, JSON header, raw little-endian data), so
# the check also covers the file format. With transformers, the directory written with a tokenizer
# (m:save(dir, { tok = tok })) is also loaded by AutoTokenizer, AutoConfig and GenerationConfig:
# the token ids, encode/decode on non-ASCII text and the chat template (apply_chat_template, with
# and without the generation prompt) must equal alignlab's; without transformers those checks are
# skipped with a message (tests/lua/test_hf.lua checks the files against the documented fields).
# Needs Debian's python3-torch; run:
#   /usr/bin/python3 tests/python/check_hf.py [--alignlab build/alignlab]
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = blob[8 + n:]
    out = {}
    for name, e in header.items():
        assert e["dtype"] == "F32", (name, e["dtype"])
        b, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:end]), dtype=torch.float32)
        out[name] = t.reshape(e["shape"]).clone()
    return out, meta


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def gpt2_forward(w, cfg, ids):
    """Hand-written GPT-2 forward. ids (T,) -> hidden (T, C) after ln_f."""
    C, NH, L, eps = cfg["n_embd"], cfg["n_head"], cfg["n_layer"], cfg["layer_norm_epsilon"]
    HS = C // NH
    T = ids.shape[0]
    x = w["wte.weight"][ids] + w["wpe.weight"][torch.arange(T)]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    ln = torch.nn.functional.layer_norm
    for i in range(L):
        p = lambda k: w["h.%d.%s" % (i, k)]
        h = ln(x, (C,), p("ln_1.weight"), p("ln_1.bias"), eps)
        qkv = h @ p("attn.c_attn.weight") + p("attn.c_attn.bias")  # Conv1D: in-by-out
        q, k, v = qkv.split(C, dim=-1)
        q = q.view(T, NH, HS).transpose(0, 1)
        k = k.view(T, NH, HS).transpose(0, 1)
        v = v.view(T, NH, HS).transpose(0, 1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(HS)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(0, 1).reshape(T, C)
        x = x + y @ p("attn.c_proj.weight") + p("attn.c_proj.bias")
        h = ln(x, (C,), p("ln_2.weight"), p("ln_2.bias"), eps)
        h = gelu_new(h @ p("mlp.c_fc.weight") + p("mlp.c_fc.bias"))
        x = x + h @ p("mlp.c_proj.weight") + p("mlp.c_proj.bias")
    return ln(x, (C,), w["ln_f.weight"], w["ln_f.bias"], eps)


TOK_LUA = r"""
local al = require "al"
local dir = arg[1]
local texts = {}
for i = 1, 100 do texts[i] = ("the cat sat on mat %d, héllo wörld ✓ and the dog"):format(i) end
local tok = al.bpe.train(texts, { vocab = 280, specials = { "<|system|>", "<|user|>", "<|assistant|>", "<|end|>" } })
local m = al.gpt{ vocab = tok:size(), ctx = 32, d = 16, heads = 2, layers = 1, seed = 2 }
m:save(dir, { tok = tok, card = { trainer = "check_hf" } })
local convs = {
  { { role = "user", content = "hi" } },
  { { role = "system", content = "Be brief." }, { role = "user", content = "What is 2+2?" },
    { role = "assistant", content = "4." }, { role = "user", content = "héllo wörld ✓" } },
}
local corpus = { "the cat sat", "héllo wörld ✓ 123", "  spaces\n\nand newlines\t", "日本語のテキスト" }
local out = { bos = tok.bos, eos = tok.eos, pad = tok.pad, convs = convs, encodings = {}, renders = {}, prompts = {} }
for i, t in ipairs(corpus) do out.encodings[i] = { text = t, ids = tok:encode(t) } end
for i, c in ipairs(convs) do
  out.renders[i] = { al.data.render(c), al.data.render(c, { generation_prompt = true }) }
  out.prompts[i] = al.data.prompt(tok, c)
end
print(al.json.encode(out))
"""


def check_tokenizer(exe, use_hf):
    """The tokenizer files through transformers (skipped without it). Returns a list of failures."""
    if not use_hf:
        print("transformers is not installed: skipping AutoTokenizer / chat template / GenerationConfig checks")
        return []
    import transformers
    bad = []
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "tok.lua")
        with open(script, "w") as f:
            f.write(TOK_LUA)
        d = os.path.join(tmp, "model")
        res = subprocess.run([exe, script, d], capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit("alignlab failed:\n" + res.stdout + res.stderr)
        ours = json.loads(res.stdout.strip().splitlines()[-1])
        tok = transformers.AutoTokenizer.from_pretrained(d)
        cfg = transformers.AutoConfig.from_pretrained(d)
        gen = transformers.GenerationConfig.from_pretrained(d)
        for k in ("bos", "eos", "pad"):
            for name, obj in (("config", cfg), ("generation_config", gen)):
                if getattr(obj, k + "_token_id") != ours[k]:
                    bad.append("%s.%s_token_id = %r, alignlab %r" % (name, k, getattr(obj, k + "_token_id"), ours[k]))
            if getattr(tok, k + "_token_id") != ours[k]:
                bad.append("tokenizer.%s_token_id = %r, alignlab %r" % (k, getattr(tok, k + "_token_id"), ours[k]))
        for e in ours["encodings"]:
            ids = tok.encode(e["text"], add_special_tokens=False)
            if ids != e["ids"]:
                bad.append("encode(%r): %r vs alignlab %r" % (e["text"], ids, e["ids"]))
            if tok.decode(e["ids"]) != e["text"]:
                bad.append("decode(%r) = %r" % (e["text"], tok.decode(e["ids"])))
        for c, (r0, r1), p in zip(ours["convs"], ours["renders"], ours["prompts"]):
            if tok.apply_chat_template(c, tokenize=False) != r0:
                bad.append("chat template (no generation prompt) differs for %r" % c)
            if tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) != r1:
                bad.append("chat template (generation prompt) differs for %r" % c)
            ids = tok.apply_chat_template(c, tokenize=True, add_generation_prompt=True)
            if list(ids) != p:
                bad.append("chat template ids %r vs alignlab %r" % (list(ids), p))
    print("tokenizer, chat template, generation config through transformers: %d problem(s)" % len(bad))
    for b in bad:
        print("  " + b)
    return bad


LUA = r"""
local al = require "al"
local dir, head = arg[1], arg[2]
local m = al.gpt{ vocab = 37, ctx = 24, d = 32, heads = 4, layers = 3, seed = 5, head = head }
if head ~= "scalar" then
  -- train a little so that biases and LayerNorms move away from their initial values
  local opt = al.adamw(m, { lr = 3e-3, weight_decay = 0.1 })
  local batch = {}
  local rng = al.rng(3)
  for b = 1, 8 do
    local s = {}
    for t = 1, 20 do s[t] = rng:int(0, 36) end
    batch[b] = s
  end
  for _ = 1, 20 do m:train_step(batch, opt) end
end
m:save(dir)
local toks = { 3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6, 2, 6, 4 }
local out = { tokens = toks }
if head ~= "scalar" then out.logits = m:logits(toks, { all = true }) end
if head ~= "lm" then out.values = m:values(toks) end
print(al.json.encode(out))
"""


def find_alignlab():
    for b in ("build", "build-ckpt", "build-release"):
        p = os.path.join(ROOT, b, "alignlab")
        if os.path.exists(p):
            return p
    sys.exit("alignlab executable not found; pass --alignlab")


def check(exe, head, use_hf):
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "emit.lua")
        with open(script, "w") as f:
            f.write(LUA)
        d = os.path.join(tmp, "model")
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        res = subprocess.run([exe, script, d, head], capture_output=True, text=True, env=env)
        if res.returncode != 0:
            sys.exit("alignlab failed:\n" + res.stdout + res.stderr)
        ours = json.loads(res.stdout.strip().splitlines()[-1])
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        w, meta = read_safetensors(os.path.join(d, "model.safetensors"))
        assert meta.get("format") == "pt", meta
        assert "lm_head.weight" not in w
        ids = torch.tensor(ours["tokens"])
        report = {}
        with torch.no_grad():
            hidden = gpt2_forward(w, cfg, ids)
            if "logits" in ours:
                mine = torch.tensor(ours["logits"])
                ref = hidden @ w["wte.weight"].T
                report["logits max |diff| (hand-written torch)"] = (ref - mine).abs().max().item()
                if use_hf:
                    import transformers
                    hf = transformers.GPT2LMHeadModel.from_pretrained(d).eval()
                    hl = hf(ids[None]).logits[0]
                    report["logits max |diff| (transformers)"] = (hl - mine).abs().max().item()
            if "values" in ours:
                mine = torch.tensor(ours["values"])
                ref = (hidden @ w["score.weight"].T)[:, 0]
                report["values max |diff| (hand-written torch)"] = (ref - mine).abs().max().item()
        return report


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--alignlab", default=None)
    args = ap.parse_args()
    exe = args.alignlab or find_alignlab()
    try:
        import transformers  # noqa: F401
        use_hf = True
    except ImportError:
        use_hf = False
        print("transformers is not installed: using the hand-written PyTorch GPT-2 only")
    worst = 0.0
    for head in ("lm", "scalar", "both"):
        rep = check(exe, head, use_hf)
        for k, v in rep.items():
            print("head=%-6s %s = %.3g" % (head, k, v))
            worst = max(worst, v)
    bad = check_tokenizer(exe, use_hf)
    ok = worst < 1e-4 and not bad
    print("PASS" if ok else "FAIL", "(worst %.3g, tolerance 1e-4)" % worst)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
