-- Data-parallel pretraining for examples/slurm/train_dp.sbatch (or `mpirun -np N alignlab
-- examples/slurm/train_dp.lua OUT`): the small config (3.3M params) on a synthetic corpus, global
-- batch 64 split over the ranks (al.dp: each rank forwards and back-propagates its slice, the
-- gradients are summed in rank order, every rank takes the same AdamW step). Only rank 0 writes
-- OUT/log.jsonl, the checkpoints (OUT/ckpt, every 50 steps: resubmit the job to resume) and the
-- final model OUT/model. The result equals, bit for bit, one process run with micro_batches = N
-- (same global batch). Replace the corpus with yours (al.data, a JSONL file, a tokenizer).
local al = require "al"
local out, steps = ...
out = out or "runs/dp"
steps = math.tointeger(tonumber(steps or "200")) -- a second argument: fewer steps, to try it
local mpi = al.mpi
local m = al.gpt{ vocab = 512, ctx = 128, d = 256, heads = 8, layers = 4, seed = 1 }
local rng = al.core.rng(1, 0)
local corpus = {}
for i = 1, 4096 do
  local s, x = {}, rng:int(0, 511)
  for t = 1, 128 do x = (x * 7 + rng:int(0, 3)) % 512; s[t] = x end
  corpus[i] = s
end
al.pretrain(m, corpus, {
  batch_size = 64, steps = steps, lr = 1e-3, warmup = 20,
  log = out .. "/log.jsonl", ckpt = out .. "/ckpt", save_every = 50, resume = out .. "/ckpt",
})
if mpi.is_root() then
  m:save(out .. "/model")
  print(("trained on %d rank(s); model in %s/model"):format(mpi.size(), out))
end
