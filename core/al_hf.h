// alignlab core: a Hugging Face model directory. al_hf_save writes, beside the model directory of
// al_ckpt_save_ids (model.safetensors, config.json with the tokenizer's bos/eos/pad ids):
//   generation_config.json   bos/eos/pad ids, max_length = n_positions, alignlab's sampling
//                            defaults (do_sample, temperature 1, top_k 0 = off, top_p 1)
//   tokenizer.json           al_tok_export_hf                               (with a tokenizer)
//   tokenizer_config.json    tokenizer_class PreTrainedTokenizerFast, model_max_length, the
//                            special tokens, added_tokens_decoder, clean_up_tokenization_spaces
//                            false (alignlab's decode is byte-exact), chat_template (with one)
//   special_tokens_map.json  bos/eos/pad/unk and additional_special_tokens  (with a tokenizer)
//   chat_template.jinja      AL_DATA_CHAT_TEMPLATE_JINJA (al_data.h)        (with a tokenizer)
//   README.md                a model card: the architecture, the tokenizer, the caller's
//                            training facts (trainer, data, metrics, ...), intended use, a toy-
//                            model warning, a licence placeholder
// Field names follow transformers' GPT2Config / GenerationConfig / PreTrainedTokenizerFast as
// documented (../shared/ecosystem.md); they are not checked against a transformers install here.
// Leaves to others: the tensors and config.json (ckpt.c), the tokenizer file (tok.c), reading the
// directory back (al_ckpt_load reads config.json and model.safetensors; other files are ignored).
#ifndef AL_HF_H
#define AL_HF_H

#include "al_ckpt.h"
#include "al_tok.h"

// Write the directory. tok may be NULL (then no tokenizer files and null token ids); it must not
// have more ids than the model's vocabulary. card_json: NULL or a JSON object whose entries
// (strings, numbers, booleans, or JSON values) become the card's "Training" rows, in order.
al_status al_hf_save(const al_gpt *m, const al_tok *tok, const char *dir, const char *card_json);

#endif
