// alignlab core: the tokenizer struct and helpers shared by core/tok*.c (not a public header).
// Layering: tok.c -> tok_bpe.c -> tok_table.c; each group below says which file defines it.
#ifndef AL_TOK_IMPL_H
#define AL_TOK_IMPL_H

#include <stdint.h>

#include "al_tok.h"

// open-addressing map from byte strings to ids (the strings live in the tokenizer)
typedef struct {
  int *slot; // -1 empty, else id
  size_t cap; // power of two
} strmap;

// open-addressing map from uint64 keys to ints
typedef struct {
  uint64_t *key;
  int *val;
  unsigned char *used;
  size_t cap, n;
} u64map;

struct al_tok {
  al_tok_kind kind;
  int n, cap;           // ids in use, allocated
  char **str;           // bytes of each id, NUL-terminated copy
  int *len;
  unsigned char *special;
  int nbase;            // ids < nbase are ordinary tokens
  int bos, eos, pad, unk;
  strmap map;           // bytes -> id, over all ids
  // bpe
  int nmerges, mcap;
  int (*merges)[3];     // a, b, out in rank order
  u64map rank;          // (a << 32 | b) -> rank
};

// ---- tok_table.c ----
uint64_t al__hash_bytes(const char *s, size_t n);
int al__strmap_find(const al_tok *t, const char *s, size_t n);
// Append token bytes as a new id (ordinary or special); returns the id or -1 on ENOMEM.
int al__tok_push(al_tok *t, const char *s, size_t n, int special);
al_tok *al__tok_new(al_tok_kind kind);
// Add the specials and resolve roles (defaults in al_tok.h); unk may be NULL.
al_status al__tok_add_specials(al_tok *t, const al_tok_specials *sp, const char *unk);

int al__u64map_init(u64map *m, size_t cap);
void al__u64map_free(u64map *m);
int *al__u64map_get(const u64map *m, uint64_t k);
int al__u64map_put(u64map *m, uint64_t k, int v); // 0 ok, -1 ENOMEM

// ---- tok_bpe.c ----
// BPE: add merge (a, b) in rank order, making or reusing the token of their bytes; -1 on ENOMEM.
int al__bpe_add_merge(al_tok *t, int a, int b);
// End of the pre-tokenisation chunk that starts at i (i < n).
size_t al__pretok_next(const unsigned char *s, size_t n, size_t i);
al_status al__bpe_encode_chunk(const al_tok *t, const unsigned char *s, size_t n, int **ids,
                               int *nids, int *cap);

#endif
