-- al.pretrain(model, data, opts): next-token pretraining on every token of every sequence.
-- data: a list of token arrays, strings (with opts.tok), records with `text` or `tokens`, or a
-- dataset (:size(), :get(i)). Options, logged metrics, checkpoints and resume: al/lm.lua and
-- al/train.lua. Returns the model (trained in place) and the per-step metrics.
local lm = require "al.lm"
return function(model, data, opts)
  return lm.train("al.pretrain", model, data, opts, false)
end
