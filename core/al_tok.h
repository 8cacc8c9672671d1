// alignlab core: tokenizers. Two kinds share one interface (al_tok):
//  - byte-level BPE: 256 byte tokens, then the tokens made by merges, then special tokens;
//    trained here (al_bpe_train) with incremental pair counts; decode(encode(s)) == s for any
//    byte string (invalid UTF-8 and NUL included).
//  - word-level: a fixed list of words separated by whitespace, then special tokens; unknown words
//    map to an unk id or are an error (the toy worlds use it).
// Files: our own JSON format (al_tok_save / al_tok_load, documented below) and an export to
// Hugging Face's tokenizer.json (al_tok_export_hf). Also the offline corpora from Debian packages
// (al_corpus_*). Leaves to others: chat templates and datasets (al_data.h).
//
// Pre-tokenisation of BPE (GPT-2's rule on bytes). Byte classes: letter = A-Z a-z and every byte
// >= 0x80 (so UTF-8 letters of any script, but also non-ASCII punctuation, count as letters);
// digit = 0-9; whitespace = ' ' \t \n \r \v \f; punctuation = every other byte (NUL included).
// A chunk is, tried in order at the current position:
//   1. a contraction: ' followed by s, d, m, t, ll, ve or re (lowercase);
//   2. an optional single ' ' then a run of letters, or of digits, or of punctuation;
//   3. a run of whitespace; when non-whitespace follows, the run's last character is left out
//      (a ' ' then prefixes the next word; any other character becomes a chunk of its own).
// On ASCII text this equals GPT-2's regex  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
// ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ . Merges never cross chunks.
//
// Own file format (JSON object, one per file; unknown keys are refused):
//   {"format": "alignlab-tokenizer", "version": 1, "type": "bpe" | "words",
//    "pretokenizer": "gpt2-bytes",                 (bpe only; the rule above)
//    "merges": [[a, b], ...],                       (bpe only, in rank order; token ids a, b
//                                                    must exist before the merge; a merge makes
//                                                    the next id unless its bytes already exist)
//    "words": ["the", "cat", ...],                  (words only; ids 0..n-1)
//    "specials": ["<|bos|>", ...],                  (ids follow the ordinary tokens, in order)
//    "bos": "<|bos|>" | null, "eos": ..., "pad": ..., "unk": ... (names of specials; unk words only)}
#ifndef AL_TOK_H
#define AL_TOK_H

#include <stddef.h>

#include "al_base.h"

typedef enum { AL_TOK_BPE = 1, AL_TOK_WORDS = 2 } al_tok_kind;

typedef struct al_tok al_tok;

// Special-token roles. A role is given by the text of a special token: NULL means the default
// (bos "<|bos|>", eos "<|eos|>", pad "<|pad|>", each added when not in specials; for a word
// tokenizer a conventional name already among the specials, e.g. "<bos>", "<s>", "<pad>", is used
// instead), "" means none (role id -1).
typedef struct {
  const char *const *specials; // user-defined special tokens, in id order (may be NULL)
  int nspecials;
  const char *bos, *eos, *pad;
} al_tok_specials;

typedef struct {
  int vocab;     // target number of ordinary tokens (256 bytes + merged tokens), >= 256
  int min_count; // stop early when the best pair occurs fewer times (default 2 when 0)
  al_tok_specials sp;
} al_bpe_opts;

// Train a byte-level BPE on n texts (lens[i] bytes each; lens NULL = NUL-terminated strings).
// The result has min(vocab, what the corpus supports) ordinary tokens plus the specials.
al_status al_bpe_train(al_tok **out, const char *const *texts, const size_t *lens, int n,
                       const al_bpe_opts *o);

// A word-level tokenizer over nwords distinct words (ids 0..nwords-1), then the specials.
// unk: the unknown-word token (added as a special when not present), or NULL: unknown words are
// an error.
al_status al_tok_words(al_tok **out, const char *const *words, int nwords,
                       const al_tok_specials *sp, const char *unk);

void al_tok_free(al_tok *t);
al_tok_kind al_tok_kind_of(const al_tok *t);
// Number of ids (ordinary tokens + specials).
int al_tok_size(const al_tok *t);
// Number of ordinary tokens (ids below are not special).
int al_tok_nbase(const al_tok *t);
// Role ids, -1 when the tokenizer has none.
int al_tok_bos(const al_tok *t);
int al_tok_eos(const al_tok *t);
int al_tok_pad(const al_tok *t);
int al_tok_unk(const al_tok *t);
// The id of the token whose text is s[0..n), or -1.
int al_tok_id(const al_tok *t, const char *s, size_t n);
// The bytes of id (length in *n), or NULL when id is out of range.
const char *al_tok_token(const al_tok *t, int id, size_t *n);
int al_tok_is_special(const al_tok *t, int id);
// Number of merges (BPE) and merge k as (a, b) -> out.
int al_tok_nmerges(const al_tok *t);
void al_tok_merge(const al_tok *t, int k, int *a, int *b, int *out);

// Encode s[0..n) into *ids (malloc'd, *nids entries; caller frees, NULL when empty).
// specials: 1 = occurrences of special-token texts in s become their ids; 0 = they are plain text
// (for a word tokenizer a whole word equal to a special is always that special).
// Fails (AL_EINVAL) on an unknown word when a word tokenizer has no unk.
al_status al_tok_encode(const al_tok *t, const char *s, size_t n, int specials, int **ids,
                        int *nids);
// Decode ids into *s (malloc'd, NUL-terminated, length *n). BPE: the concatenation of token
// bytes; words: tokens joined by single spaces. An id out of range is AL_EINVAL.
al_status al_tok_decode(const al_tok *t, const int *ids, int nids, char **s, size_t *n);

// Save in our JSON format / load it (validated: see the format above). Writes atomically.
al_status al_tok_save(const al_tok *t, const char *path);
al_status al_tok_load(al_tok **out, const char *path);
// Parse our format from a buffer; `name` names the source in messages.
al_status al_tok_from_json(al_tok **out, const char *json, size_t n, const char *name);
// Serialise to our format (malloc'd NUL-terminated string).
al_status al_tok_to_json(const al_tok *t, char **json);
// Export a BPE to Hugging Face tokenizer.json (model BPE, ByteLevel pre-tokenizer and decoder,
// specials as added_tokens). Word tokenizers export as a WordLevel model with a
// WhitespaceSplit pre-tokenizer.
al_status al_tok_export_hf(const al_tok *t, const char *path);

// ---- corpora from Debian packages ----
// Names and where they are read from:
//   "kjv"          /usr/lib/bible.data (package bible-kjv-text; LZW-compressed blocks, decoded
//                  here): one document per verse, the reference ("Ge1:1 ") stripped.
//   "fortunes", "literature", "riddles"   /usr/share/games/fortunes/<name> (package
//                  fortunes-min): one document per fortune (the '%' lines separate them).
//   "fortunes-min" all three fortune files.
// The environment variable ALIGNLAB_CORPUS_DIR, when set, replaces both directories.
typedef struct {
  int n;
  char **docs;  // NUL-terminated
  size_t *lens;
  size_t bytes; // total
} al_corpus;

// Load a corpus; max_bytes > 0 stops after that many bytes of documents. AL_EIO with a message
// naming the file and the package when it is missing.
al_status al_corpus_load(al_corpus **out, const char *name, size_t max_bytes);
void al_corpus_free(al_corpus *c);
// The file a corpus name reads (first file for "fortunes-min"); NULL for an unknown name.
const char *al_corpus_path(const char *name, char *buf, size_t bufsize);

#endif
