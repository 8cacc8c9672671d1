-- Training on data in Hugging Face TRL's JSONL shapes: an SFT file mixing {"text"},
-- {"prompt", "completion"} and chat {"messages"} records, and a preference file mixing
-- conversational, explicit-prompt and implicit-prompt pairs (the repository's test fixtures by
-- default: point sft= and prefs= at your own files). Chat turns use alignlab's template, so the
-- BPE tokenizer gets its special tokens. SFT, then DPO against the SFT model. Prints the two
-- datasets' statistics, then the losses, first step -> last, and DPO's margin and accuracy.
--   build/alignlab examples/data.lua sft=my_sft.jsonl prefs=my_prefs.jsonl steps=500
local al = require "al"
local fixtures = (arg and arg[0] and arg[0]:match("^(.*)/") or ".") .. "/../tests/data/"
local cfg = al.args({ sft = fixtures .. "sft_mixed.jsonl", prefs = fixtures .. "prefs_chat.jsonl", steps = 60 }, arg)
local tok = al.bpe.train(al.corpus("kjv", { max_bytes = 300000 }), { vocab = 400, specials = al.data.chat_specials })
local sft_data, prefs = al.data.sft(cfg.sft, tok), al.data.preferences(cfg.prefs, tok)
print(sft_data, prefs)
local model = al.gpt{ vocab = tok:size(), ctx = 64, d = 32, heads = 4, layers = 2 }
local _, hs = al.sft(model, sft_data, { steps = cfg.steps, batch_size = 4, lr = 3e-3 })
local _, hd = al.dpo(model:clone(), prefs, { ref = model, steps = cfg.steps, batch_size = 4, lr = 1e-3 })
print(("data: SFT loss %.2f -> %.2f; DPO loss %.2f -> %.2f, margin %.2f, accuracy %.2f"):format(hs[1].loss,
  hs[#hs].loss, hd[1].loss, hd[#hd].loss, hd[#hd]["rewards/margins"], hd[#hd]["rewards/accuracies"]))
