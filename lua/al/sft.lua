-- al.sft(model, data, opts): supervised fine-tuning on completion tokens only (prompt tokens
-- are context, not targets). data: records with prompt + completion (strings with a tokenizer,
-- or token arrays), records with tokens + start, or a dataset from al.data.sft.
-- opts as al.pretrain's (lr defaults to 1e-3; SFT usually wants less, e.g. 3e-4).
local lm = require "al.lm"
return function(model, data, opts)
  return lm.train("al.sft", model, data, opts, true)
end
