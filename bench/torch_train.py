#!/usr/bin/python3
# alignlab bench peer: the same GPT-2 model and training step as bench/bench_train.c, in PyTorch
# (Debian's python3-torch, CPU, float32): forward + log-probs + mean NLL + backward + AdamW with
# global-norm clipping 1.0 and weight decay 0.1 on matrices. Same configs, same measurement (median
# over 20 steps after 3 warm-up steps, split forward / backward / optimizer), same table columns.
# cpu_ms is the process CPU time per step (all threads), robust to other load on the machine.
# Threads: torch.set_num_threads from OMP_NUM_THREADS (or OPENBLAS_NUM_THREADS), default 1.
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F

WARMUP, STEPS = 3, 20


class Block(torch.nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.NH = NH
        self.ln_1 = torch.nn.LayerNorm(C, eps=1e-5)
        self.c_attn = torch.nn.Linear(C, 3 * C)
        self.c_proj = torch.nn.Linear(C, C)
        self.ln_2 = torch.nn.LayerNorm(C, eps=1e-5)
        self.c_fc = torch.nn.Linear(C, 4 * C)
        self.mlp_proj = torch.nn.Linear(4 * C, C)

    def forward(self, x, mask):
        B, T, C = x.shape
        HS = C // self.NH
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q = q.view(B, T, self.NH, HS).transpose(1, 2)
        k = k.view(B, T, self.NH, HS).transpose(1, 2)
        v = v.view(B, T, self.NH, HS).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(HS))
        att = att.masked_fill(mask[:T, :T], float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.c_proj(y)
        x = x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        return x


class GPT(torch.nn.Module):
    def __init__(self, V, maxT, C, NH, L):
        super().__init__()
        self.wte = torch.nn.Embedding(V, C)
        self.wpe = torch.nn.Embedding(maxT, C)
        self.h = torch.nn.ModuleList([Block(C, NH) for _ in range(L)])
        self.ln_f = torch.nn.LayerNorm(C, eps=1e-5)
        self.register_buffer("mask", torch.triu(torch.ones(maxT, maxT, dtype=torch.bool), 1))
        for n, p in self.named_parameters():
            if p.dim() == 2:
                sd = 0.02 / math.sqrt(2 * L) if n.endswith("c_proj.weight") or "mlp_proj" in n else 0.02
                torch.nn.init.normal_(p, 0.0, sd)
            elif "ln" in n and n.endswith("weight"):
                torch.nn.init.ones_(p)
            else:
                torch.nn.init.zeros_(p)

    def forward(self, idx):
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for blk in self.h:
            x = blk(x, self.mask)
        return self.ln_f(x) @ self.wte.weight.t()  # tied LM head


def sgemm_peak(n=512):
    a, b = torch.rand(n, n), torch.rand(n, n)
    t = []
    for k in range(12):
        t0 = time.perf_counter()
        a @ b
        if k >= 2:
            t.append(time.perf_counter() - t0)
    return 2.0 * n ** 3 / statistics.median(t) * 1e-9


def run(name, V, T, C, NH, L, B, peak):
    torch.manual_seed(1)
    m = GPT(V, T, C, NH, L)
    decay = [p for p in m.parameters() if p.dim() == 2]
    other = [p for p in m.parameters() if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": other, "weight_decay": 0.0}], lr=1e-4, betas=(0.9, 0.999),
                            eps=1e-8)
    tok = torch.randint(0, V, (B, T))
    tgt = torch.cat([tok[:, 1:], torch.full((B, 1), -1)], dim=1)
    tf, tb, to, ts, tc = [], [], [], [], []
    for k in range(-WARMUP, STEPS):
        c0, t0 = time.process_time(), time.perf_counter()
        logits = m(tok)
        logp = F.log_softmax(logits, dim=-1)
        sel = tgt >= 0
        loss = -logp[sel].gather(1, tgt[sel].unsqueeze(1)).mean()
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        t3, c3 = time.perf_counter(), time.process_time()
        if k >= 0:
            tc.append(c3 - c0)
            tf.append(t1 - t0)
            tb.append(t2 - t1)
            to.append(t3 - t2)
            ts.append(t3 - t0)
    N = B * T
    step = statistics.median(ts)
    nparams = sum(p.numel() for p in m.parameters())
    mm = L * 12 * C * C + V * C
    flops = 6.0 * mm * N + 12.0 * L * C * T * T * B
    print("%-6s %9d %6d %9.2f %8.2f %8.2f %8.2f %8.2f %10.0f %8.1f %8.1f %6.0f%%  (loss %.3f)" % (
        name, nparams, N, step * 1e3, statistics.median(tc) * 1e3, statistics.median(tf) * 1e3, statistics.median(tb) * 1e3,
        statistics.median(to) * 1e3, N / step, flops / step * 1e-9, peak,
        100.0 * flops / step * 1e-9 / peak, loss.item()))


def main():
    th = int(os.environ.get("OMP_NUM_THREADS") or os.environ.get("OPENBLAS_NUM_THREADS") or 1)
    torch.set_num_threads(th)
    print("pytorch %s train step: threads=%d" % (torch.__version__, torch.get_num_threads()))
    peak = sgemm_peak()
    print("%-6s %9s %6s %9s %8s %8s %8s %8s %10s %8s %8s %7s" % (
        "config", "params", "tok", "step_ms", "cpu_ms", "fwd_ms", "bwd_ms", "opt_ms", "tok/s", "GFLOP/s",
        "peak", "%peak"))
    run("tiny", 256, 64, 128, 4, 2, 32, peak)
    run("small", 512, 128, 256, 8, 4, 16, peak)


if __name__ == "__main__":
    main()
