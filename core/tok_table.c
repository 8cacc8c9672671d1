// alignlab core: the token table under both tokenizer kinds: the byte-string hash, the
// string -> id map and the uint64 -> int map, creating and growing the table, special tokens and
// their roles, and the public accessors. Layering: tok.c -> tok_bpe.c -> tok_table.c; nothing
// here calls tok_bpe.c or tok.c (struct and internal contracts in tok_impl.h).
#include <stdlib.h>
#include <string.h>

#include "tok_impl.h"

// ---- maps ----

uint64_t al__hash_bytes(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL; // FNV-1a
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
  return h ^ (h >> 29);
}

int al__strmap_find(const al_tok *t, const char *s, size_t n) {
  if (!t->map.cap) return -1;
  size_t mask = t->map.cap - 1, i = al__hash_bytes(s, n) & mask;
  for (;;) {
    int id = t->map.slot[i];
    if (id < 0) return -1;
    if ((size_t)t->len[id] == n && memcmp(t->str[id], s, n) == 0) return id;
    i = (i + 1) & mask;
  }
}

static void strmap_insert(strmap *m, const al_tok *t, int id) {
  size_t mask = m->cap - 1, i = al__hash_bytes(t->str[id], (size_t)t->len[id]) & mask;
  while (m->slot[i] >= 0) i = (i + 1) & mask;
  m->slot[i] = id;
}

static int strmap_grow(al_tok *t, size_t need) {
  if (need * 2 <= t->map.cap) return 0;
  size_t cap = t->map.cap ? t->map.cap : 512;
  while (need * 2 > cap) cap *= 2;
  strmap m = {al_malloc(cap, sizeof(int)), cap};
  if (!m.slot) return -1;
  for (size_t i = 0; i < cap; i++) m.slot[i] = -1;
  for (int id = 0; id < t->n; id++) strmap_insert(&m, t, id);
  free(t->map.slot);
  t->map = m;
  return 0;
}

int al__u64map_init(u64map *m, size_t cap) {
  size_t c = 64;
  while (c < cap * 2) c *= 2;
  m->key = al_malloc(c, sizeof(uint64_t));
  m->val = al_malloc(c, sizeof(int));
  m->used = al_calloc(c, 1);
  m->cap = c;
  m->n = 0;
  if (!m->key || !m->val || !m->used) {
    al__u64map_free(m);
    return -1;
  }
  return 0;
}

void al__u64map_free(u64map *m) {
  free(m->key);
  free(m->val);
  free(m->used);
  memset(m, 0, sizeof *m);
}

static size_t u64hash(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  return (size_t)k;
}

int *al__u64map_get(const u64map *m, uint64_t k) {
  if (!m->cap) return NULL;
  size_t mask = m->cap - 1, i = u64hash(k) & mask;
  while (m->used[i]) {
    if (m->key[i] == k) return &m->val[i];
    i = (i + 1) & mask;
  }
  return NULL;
}

int al__u64map_put(u64map *m, uint64_t k, int v) {
  int *p = al__u64map_get(m, k);
  if (p) {
    *p = v;
    return 0;
  }
  if ((m->n + 1) * 2 > m->cap) {
    u64map b;
    if (al__u64map_init(&b, m->cap) < 0) return -1;
    for (size_t i = 0; i < m->cap; i++)
      if (m->used[i]) al__u64map_put(&b, m->key[i], m->val[i]);
    al__u64map_free(m);
    *m = b;
  }
  size_t mask = m->cap - 1, i = u64hash(k) & mask;
  while (m->used[i]) i = (i + 1) & mask;
  m->used[i] = 1;
  m->key[i] = k;
  m->val[i] = v;
  m->n++;
  return 0;
}

// ---- the token table ----

al_tok *al__tok_new(al_tok_kind kind) {
  al_tok *t = al_calloc(1, sizeof *t);
  if (!t) return NULL;
  t->kind = kind;
  t->bos = t->eos = t->pad = t->unk = -1;
  return t;
}

int al__tok_push(al_tok *t, const char *s, size_t n, int special) {
  if (n > 0x7fffffff) return -1;
  if (t->n == t->cap) {
    int cap = t->cap ? t->cap * 2 : 512;
    char **str = realloc(t->str, (size_t)cap * sizeof *str);
    if (!str) return -1;
    t->str = str;
    int *len = realloc(t->len, (size_t)cap * sizeof *len);
    if (!len) return -1;
    t->len = len;
    unsigned char *sp = realloc(t->special, (size_t)cap);
    if (!sp) return -1;
    t->special = sp;
    t->cap = cap;
  }
  if (strmap_grow(t, (size_t)t->n + 1) < 0) return -1;
  char *c = malloc(n + 1);
  if (!c) return -1;
  memcpy(c, s, n);
  c[n] = '\0';
  int id = t->n++;
  t->str[id] = c;
  t->len[id] = (int)n;
  t->special[id] = (unsigned char)(special != 0);
  strmap_insert(&t->map, t, id);
  return id;
}

void al_tok_free(al_tok *t) {
  if (!t) return;
  for (int i = 0; i < t->n; i++) free(t->str[i]);
  free(t->str);
  free(t->len);
  free(t->special);
  free(t->map.slot);
  free(t->merges);
  al__u64map_free(&t->rank);
  free(t);
}

al_tok_kind al_tok_kind_of(const al_tok *t) { return t->kind; }
int al_tok_size(const al_tok *t) { return t->n; }
int al_tok_nbase(const al_tok *t) { return t->nbase; }
int al_tok_bos(const al_tok *t) { return t->bos; }
int al_tok_eos(const al_tok *t) { return t->eos; }
int al_tok_pad(const al_tok *t) { return t->pad; }
int al_tok_unk(const al_tok *t) { return t->unk; }
int al_tok_id(const al_tok *t, const char *s, size_t n) { return al__strmap_find(t, s, n); }
int al_tok_is_special(const al_tok *t, int id) { return id >= 0 && id < t->n && t->special[id]; }
int al_tok_nmerges(const al_tok *t) { return t->nmerges; }

void al_tok_merge(const al_tok *t, int k, int *a, int *b, int *out) {
  *a = t->merges[k][0];
  *b = t->merges[k][1];
  *out = t->merges[k][2];
}

const char *al_tok_token(const al_tok *t, int id, size_t *n) {
  if (id < 0 || id >= t->n) return NULL;
  if (n) *n = (size_t)t->len[id];
  return t->str[id];
}

static const char *const conv_bos[] = {"<|bos|>", "<bos>", "<s>", "<|endoftext|>", NULL};
static const char *const conv_eos[] = {"<|eos|>", "<eos>", "</s>", "<|endoftext|>", NULL};
static const char *const conv_pad[] = {"<|pad|>", "<pad>", NULL};

// Resolve one role: NULL = conventional name among specials or add conv[0]; "" = none.
static al_status resolve_role(al_tok *t, const char *role, const char *given,
                              const char *const *conv, int *out) {
  *out = -1;
  if (given && !*given) return AL_OK;
  if (!given) {
    for (int k = 0; conv && conv[k]; k++) {
      int id = al__strmap_find(t, conv[k], strlen(conv[k]));
      if (id >= 0 && t->special[id]) {
        *out = id;
        return AL_OK;
      }
    }
    given = conv[0];
  }
  int id = al__strmap_find(t, given, strlen(given));
  if (id >= 0 && !t->special[id])
    return al_seterr(AL_EINVAL, "tokenizer: %s token '%s' is an ordinary token, not a special",
                     role, given);
  if (id < 0) id = al__tok_push(t, given, strlen(given), 1);
  if (id < 0) return al_seterr(AL_ENOMEM, "tokenizer: out of memory");
  *out = id;
  return AL_OK;
}

static al_status add_special(al_tok *t, const char *s) {
  size_t n = strlen(s);
  if (n == 0) return al_seterr(AL_EINVAL, "tokenizer: empty special token");
  int id = al__strmap_find(t, s, n);
  if (id >= 0 && t->special[id])
    return al_seterr(AL_EINVAL, "tokenizer: duplicate special token '%s'", s);
  if (id >= 0)
    return al_seterr(AL_EINVAL, "tokenizer: special token '%s' is also an ordinary token", s);
  if (al__tok_push(t, s, n, 1) < 0) return al_seterr(AL_ENOMEM, "tokenizer: out of memory");
  return AL_OK;
}

al_status al__tok_add_specials(al_tok *t, const al_tok_specials *sp, const char *unk) {
  al_tok_specials none = {0};
  if (!sp) sp = &none;
  al_status s;
  for (int i = 0; i < sp->nspecials; i++)
    if ((s = add_special(t, sp->specials[i])) != AL_OK) return s;
  if ((s = resolve_role(t, "bos", sp->bos, conv_bos, &t->bos)) != AL_OK) return s;
  if ((s = resolve_role(t, "eos", sp->eos, conv_eos, &t->eos)) != AL_OK) return s;
  if ((s = resolve_role(t, "pad", sp->pad, conv_pad, &t->pad)) != AL_OK) return s;
  if (unk && (s = resolve_role(t, "unk", unk, NULL, &t->unk)) != AL_OK) return s;
  return AL_OK;
}
