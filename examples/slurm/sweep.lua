-- A sweep for examples/slurm/sweep.sbatch (or `alignlab sweep examples/slurm/sweep.lua OUT`):
-- pretraining of a tiny model for 3 seeds x 2 learning rates; each point's result is its final
-- loss. Edit the grid and run() for your experiment.
local al = require "al"
local out = ... or "runs/slurm-sweep"

return {
  grid = { seed = { 1, 2, 3 }, lr = { 3e-3, 1e-3 } },
  out = out,
  run = function(p, dir)
    local m = al.gpt{ vocab = 16, ctx = 8, d = 16, heads = 2, layers = 1, seed = p.seed }
    local opt = al.adamw(m, { lr = p.lr })
    local rng = al.rng(p.seed)
    local loss
    for _ = 1, 50 do
      local seqs = {}
      for b = 1, 4 do
        local s = {}
        for t = 1, 8 do s[t] = (b + t + rng:int(2)) % 16 end
        seqs[b] = s
      end
      m:zero_grad()
      local res = m:forward(seqs, { per_token = false })
      local d, sum = {}, 0
      for b = 1, #seqs do d[b] = -1 / (#seqs * res.count[b]); sum = sum + res.sum[b] / res.count[b] end
      m:backward{ dsum = d }
      opt:step(m)
      loss = -sum / #seqs
    end
    m:save(dir .. "/model")
    return { loss = loss }
  end,
}
