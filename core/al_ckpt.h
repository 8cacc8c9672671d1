// alignlab core: checkpoints. A model directory holds
//   model.safetensors  Hugging Face GPT-2 tensor names and layouts, __metadata__ {"format":"pt"},
//                      the tied embedding stored once (wte.weight), score.weight (1,C) if scalar
//   config.json        Hugging Face GPT-2 keys (model_type "gpt2", vocab_size, n_positions,
//                      n_embd, n_layer, n_head, layer_norm_epsilon, activation_function
//                      "gelu_new", architectures, ...), plus "alignlab" extras
// and, for a resumable run, a training-state file (safetensors too): AdamW moments m and v,
// the step, and RNG states, with free-form JSON metadata.
// Writes are atomic: temporary file in the same directory, fsync, rename, fsync of the directory.
// Loads validate everything (see ../shared/ecosystem.md 1.3) and refuse a bad file with a message
// naming the file and the problem.
#ifndef AL_CKPT_H
#define AL_CKPT_H

#include "al_gpt.h"
#include "al_optim.h"

// Save model (params only) into directory `dir` (created if missing). config.json's
// bos_token_id / eos_token_id / pad_token_id are null (the model has no tokenizer).
al_status al_ckpt_save(const al_gpt *m, const char *dir);
// The token ids config.json names (-1 = none, written as null); each must be in [0, V).
typedef struct {
  int bos, eos, pad;
} al_ckpt_ids;
// al_ckpt_save with the ids (NULL: none). A Hugging Face directory with the tokenizer files,
// generation config and model card is al_hf_save's (al_hf.h).
al_status al_ckpt_save_ids(const al_gpt *m, const char *dir, const al_ckpt_ids *ids);
// Load a model from `dir` (config.json + model.safetensors). Caller owns *out.
al_status al_ckpt_load(al_gpt **out, const char *dir);

// Parse and check the config.json text text[0..n) (what al_ckpt_load does before it reads any
// tensor); errors start "<path>: ". For the fuzz harness and tools that inspect a checkpoint.
al_status al_ckpt_parse_config(al_gpt_config *cfg, const char *text, size_t n, const char *path);

// Training state: optimizer (may be NULL), rng states (n of them), and a JSON object string
// `meta_json` (may be NULL) stored in __metadata__ under "alignlab". Written to `path`.
al_status al_ckpt_save_state(const char *path, const al_adamw *opt, const al_rng *rngs,
                             int nrngs, const char *meta_json);
// Load it back into an existing optimizer (sizes must match) and rngs array (count must match).
// *meta_json (may be NULL) receives a malloc'd copy of the metadata string (caller frees).
al_status al_ckpt_load_state(const char *path, al_adamw *opt, al_rng *rngs, int nrngs,
                             char **meta_json);

#endif
