// alignlab core: datasets for SFT and preference training: JSONL records in the shapes of Hugging
// Face TRL and Anthropic HH-RLHF, turned into token sequences with loss masks by one chat template,
// and batched with right padding. Leaves to others: the tokenizer (al_tok.h) and the losses.
//
// Record shapes (one JSON object per line; other keys are ignored):
//   SFT          {"text": s}                              every token is trained
//                {"prompt": s, "completion": s}           completion tokens are trained
//                {"prompt": [msgs], "completion": [msgs]} conversational prompt-completion
//                {"messages": [msgs]}                     assistant turns are trained
//   preference   {"prompt": s, "chosen": s, "rejected": s}            explicit prompt
//                {"prompt": [msgs], "chosen": [msgs], "rejected": [msgs]}
//                {"chosen": s, "rejected": s}             implicit prompt: when both texts hold
//                    "\n\nAssistant: " (Anthropic HH-RLHF raw text) the prompt is their common
//                    prefix cut back to the last "\n\nAssistant:" in it, so each response starts
//                    with the space after that marker; otherwise the prompt is their common
//                    prefix cut back to its last space (responses then start with " word")
//                {"chosen": [msgs], "rejected": [msgs]}   implicit: the shared leading messages
//   msgs = {"role": "system" | "user" | "assistant", "content": s}
//
// Chat template (the only one; SFT, reward models, DPO and PPO all use it). A message is
//     <|role|> "\n" content <|end|>
// with no separator between messages; a generation prompt is "<|assistant|>\n". Each piece is
// tokenized on its own and the ids concatenated, so a prompt rendered with its generation prompt
// followed by the response gives exactly the ids of the whole conversation. <|system|>, <|user|>,
// <|assistant|> and <|end|> are special tokens when the tokenizer has them (train BPE with
// specials = AL_DATA_CHAT_SPECIALS), otherwise their text is tokenized like any text. Trained
// (mask 1): the content and the <|end|> of every assistant message of the completion part.
// Plain-text shapes: [bos] prompt completion [eos]; bos only with add_bos, eos with add_eos
// (default on); eos is trained. Content is tokenized with special-token matching off unless
// match_specials (so user text "<|end|>" cannot forge a turn).
//
// Masks: mask[t] = 1 when token t is a training target, i.e. the loss includes
// -log p(ids[t] | ids[0..t-1]); mask[0] is always 0 (nothing predicts the first token).
// prompt_len = number of leading tokens of the prompt part (shared by chosen and rejected).
#ifndef AL_DATA_H
#define AL_DATA_H

#include <cjson/cJSON.h>

#include "al_base.h"
#include "al_tok.h"

#define AL_DATA_CHAT_SPECIALS "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"
// The template above as a Hugging Face chat template (Jinja; tokenizer_config.json's
// "chat_template", written by al_hf_save): the same text as al_data_render for the same messages
// and add_generation_prompt (tests/lua/test_hf.lua renders it with an independent renderer). A
// role other than system, user, assistant raises, as al_data_render refuses it. On token ids:
// Hugging Face tokenizes the rendered text at once, alignlab each piece on its own; the two agree
// when the chat specials are special tokens and no content starts with two or more newlines.
#define AL_DATA_CHAT_TEMPLATE_JINJA                                                                \
  "{% for message in messages %}"                                                                  \
  "{% if message['role'] not in ['system', 'user', 'assistant'] %}"                                \
  "{{ raise_exception('alignlab chat template: role must be system, user or assistant') }}"        \
  "{% endif %}"                                                                                    \
  "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>' }}"                         \
  "{% endfor %}"                                                                                   \
  "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"

typedef enum { AL_DATA_SFT = 1, AL_DATA_PREF = 2 } al_data_kind;
typedef enum { AL_TOO_LONG_TRUNCATE = 0, AL_TOO_LONG_DROP, AL_TOO_LONG_ERROR } al_too_long;

typedef struct {
  int max_len;          // 0: no limit; else sequences longer than this are handled by too_long
  al_too_long too_long; // truncate: keep the first max_len tokens (an example left with no
                        // target token, or whose chosen and rejected become equal, is dropped);
                        // drop: drop it; error: fail
  int strict;           // 1: a malformed record is an error; 0: skip it and count it
  int add_bos, add_eos; // for the plain-text shapes
  int match_specials;   // special-token text inside content becomes special ids
} al_data_opts;

// Defaults: no max_len, truncate, strict, no bos, eos, no special matching.
al_data_opts al_data_defaults(void);

typedef struct {
  int *ids;
  unsigned char *mask; // 1 = trained
  int len;
  int prompt_len;
} al_seq;

typedef struct {
  al_seq seq;              // SFT: the sequence; preferences: the chosen sequence
  al_seq rejected;         // preferences only
  long line;               // source line (1-based) or record index
  int truncated;           // 1 when cut to max_len
} al_example;

typedef struct {
  long lines;     // records seen (lines read or records given)
  long kept;      // examples in the dataset
  long skipped;   // malformed records skipped (strict = 0)
  long truncated; // examples cut to max_len (and kept)
  long dropped;   // examples dropped for length
  char first_error[512]; // message of the first skipped record ("" when none)
} al_data_stats;

typedef struct al_dataset al_dataset;

// A new empty dataset; tok is borrowed and must outlive it.
al_status al_data_new(al_dataset **out, al_data_kind kind, const al_tok *tok,
                      const al_data_opts *o);
void al_data_free(al_dataset *d);
// Add one record (a parsed JSON object). src and line name it in messages ("src:line: reason").
// A malformed record is AL_EFORMAT when strict, else it is counted as skipped and AL_OK returned.
al_status al_data_add(al_dataset *d, const cJSON *rec, const char *src, long line);
// Parse one JSONL line (n bytes, no newline needed) and add it; checks UTF-8, duplicate keys,
// \u0000 in strings and trailing garbage.
al_status al_data_add_line(al_dataset *d, const char *s, size_t n, const char *src, long line);
// Read a JSONL file line by line (a line longer than AL_IO_LINE_MAX is refused before it is
// read whole; "\r\n" accepted; an empty line is malformed).
al_status al_data_add_jsonl(al_dataset *d, const char *path);

al_data_kind al_data_kind_of(const al_dataset *d);
int al_data_size(const al_dataset *d);
const al_example *al_data_get(const al_dataset *d, int i);
const al_data_stats *al_data_get_stats(const al_dataset *d);

// Tokens of a prompt ready for generation: a string gives [bos] prompt (no eos); a message list
// gives its rendering followed by the generation prompt "<|assistant|>\n".
al_status al_data_prompt_ids(const al_tok *tok, const cJSON *prompt, const al_data_opts *o,
                             int **ids, int *n);
// The template as text (malloc'd): messages rendered, plus the generation prompt when asked.
al_status al_data_render(const cJSON *messages, int generation_prompt, char **text);

// ---- batching ----
// Order of one epoch: a permutation of 0..n-1, shuffled with rng when shuffle (else identity).
void al_data_order(int n, int shuffle, al_rng *rng, int *perm);

typedef struct {
  int B, T;
  int *tokens;      // (B,T) right-padded with the pad id (0 when the tokenizer has none)
  float *mask;      // (B,T) 1 on trained tokens, 0 on prompt and padding
  int *lens;        // (B)
  int *prompt_lens; // (B)
} al_batch;

// Batch of examples idx[0..B): which = 0 the SFT / chosen sequences, 1 the rejected ones.
// T = pad_to when > 0 (AL_ESHAPE if a sequence is longer), else the longest sequence; for
// preferences the longest over chosen and rejected, so both batches share T.
al_status al_data_batch(const al_dataset *d, const int *idx, int B, int which, int pad_to,
                        al_batch *b);
void al_batch_free(al_batch *b);

#endif
