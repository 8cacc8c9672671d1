-- al.sft(model, data, opts): supervised fine-tuning on completion tokens only (prompt tokens
-- are context, not targets; completion_only = false trains on them too). data: records with
-- prompt + completion (strings with opts.tok, or token arrays), records with tokens + start
-- (+ mask), or a dataset. Options as al.pretrain's (al/lm.lua; lr defaults to 1e-3, SFT usually
-- wants less, e.g. 3e-4). Returns the model (trained in place) and the per-step metrics.
local lm = require "al.lm"
return function(model, data, opts)
  return lm.train("al.sft", model, data, opts, true)
end
