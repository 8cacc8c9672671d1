#!/usr/bin/python3
# alignlab bench: the PyTorch reference for bench/bench_sample.c. The same GPT-2 (learned
# positions, pre-LN, fused qkv, tanh GELU, tied LM head) with its own KV cache, sampling
# B=32 sequences from 8-token prompts for 64 new tokens (temperature 1, no truncation, no eos),
# the log-prob of each sampled token kept, under torch.no_grad. The prompt is prefilled in one
# batched forward (what a PyTorch user would write), then one token per step. Threads: from
# OMP_NUM_THREADS (torch.set_num_threads), as for the C bench. Prints one JSON line per config:
# new tokens per second (wall clock), median over repeats, and the median process CPU time.
# Run: OMP_NUM_THREADS=1 /usr/bin/python3 bench/torch_sample.py [repeats]
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F


class GPT(torch.nn.Module):
    def __init__(self, V, maxT, C, NH, L):
        super().__init__()
        self.V, self.maxT, self.C, self.NH, self.L = V, maxT, C, NH, L
        g = torch.Generator().manual_seed(1)

        def w(*shape, std=0.02):
            return torch.nn.Parameter(torch.randn(*shape, generator=g) * std)

        self.wte, self.wpe = w(V, C), w(maxT, C)
        self.blocks = []
        for _ in range(L):
            b = {
                "ln1w": torch.ones(C), "ln1b": torch.zeros(C),
                "qkvw": w(C, 3 * C).data, "qkvb": torch.zeros(3 * C),
                "projw": w(C, C, std=0.02 / math.sqrt(2 * L)).data, "projb": torch.zeros(C),
                "ln2w": torch.ones(C), "ln2b": torch.zeros(C),
                "fcw": w(C, 4 * C).data, "fcb": torch.zeros(4 * C),
                "fcprojw": w(4 * C, C, std=0.02 / math.sqrt(2 * L)).data, "fcprojb": torch.zeros(C),
            }
            self.blocks.append(b)
        self.lnfw, self.lnfb = torch.ones(C), torch.zeros(C)

    def forward(self, idx, pos0, cache):
        """idx (B,T) tokens at positions pos0..pos0+T-1; cache: list of (K,V) (B,NH,maxT,HS),
        written in place. Returns logits (B,T,V)."""
        B, T = idx.shape
        C, NH = self.C, self.NH
        HS = C // NH
        x = self.wte.data[idx] + self.wpe.data[pos0:pos0 + T]
        for l, b in enumerate(self.blocks):
            h = F.layer_norm(x, (C,), b["ln1w"], b["ln1b"], 1e-5)
            qkv = torch.addmm(b["qkvb"], h.view(B * T, C), b["qkvw"]).view(B, T, 3, NH, HS)
            q = qkv[:, :, 0].transpose(1, 2)                # (B,NH,T,HS)
            K, Vc = cache[l]
            K[:, :, pos0:pos0 + T] = qkv[:, :, 1].transpose(1, 2)
            Vc[:, :, pos0:pos0 + T] = qkv[:, :, 2].transpose(1, 2)
            k, v = K[:, :, :pos0 + T], Vc[:, :, :pos0 + T]
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(HS))
            if T > 1:
                mask = torch.ones(T, pos0 + T, dtype=torch.bool).tril(pos0)
                att = att.masked_fill(~mask, float("-inf"))
            y = (F.softmax(att, dim=-1) @ v).transpose(1, 2).reshape(B * T, C)
            x = x + torch.addmm(b["projb"], y, b["projw"]).view(B, T, C)
            h = F.layer_norm(x, (C,), b["ln2w"], b["ln2b"], 1e-5)
            f = F.gelu(torch.addmm(b["fcb"], h.view(B * T, C), b["fcw"]), approximate="tanh")
            x = x + torch.addmm(b["fcprojb"], f, b["fcprojw"]).view(B, T, C)
        x = F.layer_norm(x, (C,), self.lnfw, self.lnfb, 1e-5)
        return x @ self.wte.data.t()

    @torch.no_grad()
    def generate(self, prompts, max_new, gen):
        B, P = prompts.shape
        HS = self.C // self.NH
        cache = [(torch.empty(B, self.NH, P + max_new, HS), torch.empty(B, self.NH, P + max_new, HS))
                 for _ in range(self.L)]
        logits = self.forward(prompts, 0, cache)[:, -1]
        out = torch.empty(B, max_new, dtype=torch.long)
        logp = torch.empty(B, max_new)
        for j in range(max_new):
            lp = F.log_softmax(logits, dim=-1)
            tok = torch.multinomial(lp.exp(), 1, generator=gen)   # (B,1)
            out[:, j] = tok[:, 0]
            logp[:, j] = lp.gather(1, tok)[:, 0]
            if j + 1 < max_new:
                logits = self.forward(tok, P + j, cache)[:, -1]
        return out, logp


def run(name, V, maxT, C, NH, L, reps):
    B, P, NEW = 32, 8, 64
    m = GPT(V, maxT, C, NH, L)
    prompts = torch.randint(0, V, (B, P), generator=torch.Generator().manual_seed(2))
    times, cpu = [], []
    for k in range(-1, reps):
        gen = torch.Generator().manual_seed(10 + k)
        t0, c0 = time.perf_counter(), time.process_time()
        out, _ = m.generate(prompts, NEW, gen)
        if k >= 0:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    times.sort()
    cpu.sort()
    med = times[len(times) // 2]
    print(json.dumps({"bench": "sample", "impl": "torch " + torch.__version__, "config": name,
                      "V": V, "C": C, "NH": NH, "L": L, "ctx": maxT, "B": B, "prompt": P,
                      "new": NEW, "threads": torch.get_num_threads(), "median_s": round(med, 6),
                      "tokens_per_s": round(B * NEW / med),
                      "median_cpu_s": round(cpu[len(cpu) // 2], 6)}))


if __name__ == "__main__":
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 11
    run("tiny", 256, 128, 128, 4, 2, reps)
    run("small", 512, 128, 256, 8, 4, reps)
