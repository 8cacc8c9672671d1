// alignlab core: the tokenizer's front: the word-level tokenizer, encode/decode dispatch, our JSON
// file format and the Hugging Face export. Layering: tok.c -> tok_bpe.c -> tok_table.c (the token
// table, its maps, specials and roles); BPE training and merging live in tok_bpe.c, corpora in
// tok_corpus.c. Files go through io.c.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "al_io.h"
#include "tok_impl.h"

// ---- word-level tokenizer ----

static int is_ws(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static al_status check_word(const char *w, const char *where) {
  if (!*w) return al_seterr(AL_EINVAL, "%s: empty word", where);
  for (const char *p = w; *p; p++)
    if (is_ws((unsigned char)*p))
      return al_seterr(AL_EINVAL, "%s: word '%s' contains whitespace", where, w);
  return AL_OK;
}

al_status al_tok_words(al_tok **out, const char *const *words, int nwords,
                       const al_tok_specials *sp, const char *unk) {
  *out = NULL;
  al_status s = AL_OK;
  al_tok *t = al__tok_new(AL_TOK_WORDS);
  if (!t) return al_seterr(AL_ENOMEM, "tokenizer: out of memory");
  for (int i = 0; i < nwords; i++) {
    if ((s = check_word(words[i], "tokenizer")) != AL_OK) goto cleanup;
    if (al__strmap_find(t, words[i], strlen(words[i])) >= 0) {
      s = al_seterr(AL_EINVAL, "tokenizer: duplicate token '%s'", words[i]);
      goto cleanup;
    }
    if (al__tok_push(t, words[i], strlen(words[i]), 0) < 0) {
      s = al_seterr(AL_ENOMEM, "tokenizer: out of memory");
      goto cleanup;
    }
  }
  t->nbase = t->n;
  if ((s = al__tok_add_specials(t, sp, unk)) != AL_OK) goto cleanup;
  *out = t;
  return AL_OK;
cleanup:
  al_tok_free(t);
  return s;
}

// ---- encode / decode ----

typedef struct {
  int *a;
  int n, cap;
} ivec;

static int ivec_push(ivec *v, int x) {
  if (v->n == v->cap) {
    int cap = v->cap ? v->cap * 2 : 64;
    int *a = realloc(v->a, (size_t)cap * sizeof *a);
    if (!a) return -1;
    v->a = a;
    v->cap = cap;
  }
  v->a[v->n++] = x;
  return 0;
}

// The special token starting at s[i] (longest match), or -1.
static int special_at(const al_tok *t, const char *s, size_t n, size_t i) {
  int best = -1, bestlen = 0;
  for (int id = t->nbase; id < t->n; id++) {
    int l = t->len[id];
    if (t->special[id] && l > bestlen && (size_t)l <= n - i && t->str[id][0] == s[i] &&
        memcmp(t->str[id], s + i, (size_t)l) == 0) {
      best = id;
      bestlen = l;
    }
  }
  return best;
}

static al_status encode_words(const al_tok *t, const char *s, size_t n, ivec *v) {
  size_t i = 0;
  while (i < n) {
    while (i < n && is_ws((unsigned char)s[i])) i++;
    if (i == n) break;
    size_t j = i;
    while (j < n && !is_ws((unsigned char)s[j])) j++;
    int id = al__strmap_find(t, s + i, j - i);
    if (id < 0) {
      if (t->unk < 0)
        return al_seterr(AL_EINVAL, "tokenizer: unknown word '%.*s' at byte %zu",
                         (int)(j - i > 64 ? 64 : j - i), s + i, i);
      id = t->unk;
    }
    if (ivec_push(v, id) < 0) return al_seterr(AL_ENOMEM, "tokenizer: out of memory");
    i = j;
  }
  return AL_OK;
}

static al_status encode_bpe(const al_tok *t, const char *s, size_t n, ivec *v) {
  size_t i = 0;
  const unsigned char *u = (const unsigned char *)s;
  while (i < n) {
    size_t j = al__pretok_next(u, n, i);
    al_status st = al__bpe_encode_chunk(t, u + i, j - i, &v->a, &v->n, &v->cap);
    if (st != AL_OK) return st;
    i = j;
  }
  return AL_OK;
}

static al_status encode_plain(const al_tok *t, const char *s, size_t n, ivec *v) {
  return t->kind == AL_TOK_BPE ? encode_bpe(t, s, n, v) : encode_words(t, s, n, v);
}

al_status al_tok_encode(const al_tok *t, const char *s, size_t n, int specials, int **ids,
                        int *nids) {
  ivec v = {0};
  al_status st = AL_OK;
  *ids = NULL;
  *nids = 0;
  if (!specials || t->nbase == t->n) {
    st = encode_plain(t, s, n, &v);
  } else {
    size_t start = 0, i = 0;
    while (i < n) {
      int sp = special_at(t, s, n, i);
      if (sp < 0) {
        i++;
        continue;
      }
      if ((st = encode_plain(t, s + start, i - start, &v)) != AL_OK) goto cleanup;
      if (ivec_push(&v, sp) < 0) {
        st = al_seterr(AL_ENOMEM, "tokenizer: out of memory");
        goto cleanup;
      }
      i += (size_t)t->len[sp];
      start = i;
    }
    st = encode_plain(t, s + start, n - start, &v);
  }
cleanup:
  if (st != AL_OK) {
    free(v.a);
    return st;
  }
  *ids = v.a;
  *nids = v.n;
  return AL_OK;
}

al_status al_tok_decode(const al_tok *t, const int *ids, int nids, char **out, size_t *outn) {
  *out = NULL;
  size_t total = 0;
  for (int i = 0; i < nids; i++) {
    if (ids[i] < 0 || ids[i] >= t->n)
      return al_seterr(AL_EINVAL, "decode: id %d at position %d out of range [0, %d)", ids[i],
                       i, t->n);
    total += (size_t)t->len[ids[i]] + 1;
  }
  char *s = malloc(total + 1);
  if (!s) return al_seterr(AL_ENOMEM, "decode: out of memory");
  size_t k = 0;
  for (int i = 0; i < nids; i++) {
    if (t->kind == AL_TOK_WORDS && i > 0) s[k++] = ' ';
    memcpy(s + k, t->str[ids[i]], (size_t)t->len[ids[i]]);
    k += (size_t)t->len[ids[i]];
  }
  s[k] = '\0';
  *out = s;
  if (outn) *outn = k;
  return AL_OK;
}

// ---- our JSON format ----

static cJSON *role_json(const al_tok *t, int id) {
  return id >= 0 ? cJSON_CreateString(t->str[id]) : cJSON_CreateNull();
}

al_status al_tok_to_json(const al_tok *t, char **json) {
  *json = NULL;
  cJSON *o = cJSON_CreateObject();
  if (!o) return al_seterr(AL_ENOMEM, "tokenizer: out of memory");
  cJSON_AddStringToObject(o, "format", "alignlab-tokenizer");
  cJSON_AddNumberToObject(o, "version", 1);
  cJSON_AddStringToObject(o, "type", t->kind == AL_TOK_BPE ? "bpe" : "words");
  if (t->kind == AL_TOK_BPE) {
    cJSON_AddStringToObject(o, "pretokenizer", "gpt2-bytes");
    cJSON *m = cJSON_AddArrayToObject(o, "merges");
    for (int k = 0; m && k < t->nmerges; k++) {
      int ab[2] = {t->merges[k][0], t->merges[k][1]};
      cJSON_AddItemToArray(m, cJSON_CreateIntArray(ab, 2));
    }
  } else {
    cJSON *w = cJSON_AddArrayToObject(o, "words");
    for (int i = 0; w && i < t->nbase; i++) cJSON_AddItemToArray(w, cJSON_CreateString(t->str[i]));
  }
  cJSON *sp = cJSON_AddArrayToObject(o, "specials");
  for (int i = t->nbase; sp && i < t->n; i++) cJSON_AddItemToArray(sp, cJSON_CreateString(t->str[i]));
  cJSON_AddItemToObject(o, "bos", role_json(t, t->bos));
  cJSON_AddItemToObject(o, "eos", role_json(t, t->eos));
  cJSON_AddItemToObject(o, "pad", role_json(t, t->pad));
  cJSON_AddItemToObject(o, "unk", role_json(t, t->unk));
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!s) return al_seterr(AL_ENOMEM, "tokenizer: out of memory");
  *json = s;
  return AL_OK;
}

// Write data and a final newline to path atomically (al_io_write_atomic).
static al_status write_atomic(const char *path, const char *data, size_t n, const char *what) {
  al_io_chunk ch[2] = {{data, n}, {"\n", 1}};
  return al_io_write_atomic(path, ch, 2, what);
}

al_status al_tok_save(const al_tok *t, const char *path) {
  char *js;
  al_status s = al_tok_to_json(t, &js);
  if (s != AL_OK) return s;
  s = write_atomic(path, js, strlen(js), "tokenizer");
  free(js);
  return s;
}

static int is_json_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// x is an integer in [lo, hi] (|lo|, |hi| <= 1e15, so the conversion is exact): 1 and *v set.
static int json_ll(const cJSON *x, double lo, double hi, long long *v) {
  if (!cJSON_IsNumber(x)) return 0;
  double d = x->valuedouble;
  if (!(d >= lo && d <= hi) || d != (double)(long long)d) return 0;
  *v = (long long)d;
  return 1;
}

#define FAIL(code, ...)                    \
  do {                                     \
    st = al_seterr(code, __VA_ARGS__);     \
    goto cleanup;                          \
  } while (0)

static al_status role_from_json(al_tok *t, const cJSON *o, const char *key, int *out,
                                const char *name) {
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, key);
  *out = -1;
  if (!r || cJSON_IsNull(r)) return AL_OK;
  if (!cJSON_IsString(r))
    return al_seterr(AL_EFORMAT, "tokenizer %s: '%s' must be a string or null", name, key);
  int id = al__strmap_find(t, r->valuestring, strlen(r->valuestring));
  if (id < 0 || !t->special[id])
    return al_seterr(AL_EFORMAT, "tokenizer %s: %s '%s' is not a special token", name, key,
                     r->valuestring);
  *out = id;
  return AL_OK;
}

al_status al_tok_from_json(al_tok **out, const char *json, size_t n, const char *name) {
  *out = NULL;
  al_status st = AL_OK;
  al_tok *t = NULL;
  cJSON *o = NULL;
  char *buf = malloc(n + 1);
  if (!buf) return al_seterr(AL_ENOMEM, "tokenizer %s: out of memory", name);
  memcpy(buf, json, n);
  buf[n] = '\0';
  size_t deep = al_io_json_too_deep(buf, n, AL_IO_JSON_DEPTH);
  if (deep < n)
    FAIL(AL_EFORMAT, "tokenizer %s: JSON nested deeper than %d levels at byte %zu", name,
         AL_IO_JSON_DEPTH, deep);
  const char *end = NULL;
  o = cJSON_ParseWithLengthOpts(buf, n, &end, 0);
  if (!o) FAIL(AL_EFORMAT, "tokenizer %s: invalid JSON near byte %ld", name,
               (long)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - buf : 0));
  for (const char *p = end; p && p < buf + n; p++)
    if (!is_json_ws(*p)) FAIL(AL_EFORMAT, "tokenizer %s: trailing data after the JSON object", name);
  if (!cJSON_IsObject(o)) FAIL(AL_EFORMAT, "tokenizer %s: not a JSON object", name);
  int nomem;
  const char *d = al_io_json_dup_key(o, 0, &nomem);
  if (nomem) FAIL(AL_ENOMEM, "tokenizer %s: out of memory", name);
  if (d) FAIL(AL_EFORMAT, "tokenizer %s: duplicate field '%s'", name, d);
  static const char *const known[] = {"format", "version", "type", "pretokenizer", "merges",
                                      "words", "specials", "bos", "eos", "pad", "unk", NULL};
  for (const cJSON *c = o->child; c; c = c->next) {
    int ok = 0;
    for (int k = 0; known[k]; k++) ok |= strcmp(c->string, known[k]) == 0;
    if (!ok) FAIL(AL_EFORMAT, "tokenizer %s: unknown field '%s'", name, c->string);
  }
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
  if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "alignlab-tokenizer") != 0)
    FAIL(AL_EFORMAT, "tokenizer %s: 'format' must be \"alignlab-tokenizer\"", name);
  long long ver;
  if (!json_ll(cJSON_GetObjectItemCaseSensitive(o, "version"), 1, 1, &ver))
    FAIL(AL_EFORMAT, "tokenizer %s: unsupported or missing 'version' (expected 1)", name);
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
  if (!cJSON_IsString(type)) FAIL(AL_EFORMAT, "tokenizer %s: missing 'type'", name);
  const cJSON *merges = cJSON_GetObjectItemCaseSensitive(o, "merges");
  const cJSON *words = cJSON_GetObjectItemCaseSensitive(o, "words");
  if (strcmp(type->valuestring, "bpe") == 0) {
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(o, "pretokenizer");
    if (!cJSON_IsString(pt) || strcmp(pt->valuestring, "gpt2-bytes") != 0)
      FAIL(AL_EFORMAT, "tokenizer %s: 'pretokenizer' must be \"gpt2-bytes\"", name);
    if (words) FAIL(AL_EFORMAT, "tokenizer %s: a bpe tokenizer has no 'words'", name);
    if (!merges) FAIL(AL_EFORMAT, "tokenizer %s: no merges (field 'merges' missing)", name);
    if (!cJSON_IsArray(merges)) FAIL(AL_EFORMAT, "tokenizer %s: 'merges' must be an array", name);
    t = al__tok_new(AL_TOK_BPE);
    if (!t) FAIL(AL_ENOMEM, "tokenizer %s: out of memory", name);
    for (int b = 0; b < 256; b++) {
      char c = (char)b;
      if (al__tok_push(t, &c, 1, 0) < 0) FAIL(AL_ENOMEM, "tokenizer %s: out of memory", name);
    }
    int k = 0;
    for (const cJSON *m = merges->child; m; m = m->next, k++) {
      long long la, lb; // ids are checked against the vocabulary before they become ints
      if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) != 2)
        FAIL(AL_EFORMAT, "tokenizer %s: merge %d is not a pair [a, b] of token ids", name, k);
      if (!json_ll(m->child, -1e15, 1e15, &la) || !json_ll(m->child->next, -1e15, 1e15, &lb))
        FAIL(AL_EFORMAT, "tokenizer %s: merge %d: token ids must be integers", name, k);
      if (la < 0 || la >= t->n) FAIL(AL_EFORMAT, "tokenizer %s: merge %d references unknown token %lld", name, k, la);
      if (lb < 0 || lb >= t->n) FAIL(AL_EFORMAT, "tokenizer %s: merge %d references unknown token %lld", name, k, lb);
      int a = (int)la, b = (int)lb;
      if (al__u64map_get(&t->rank, (uint64_t)a << 32 | (uint64_t)b))
        FAIL(AL_EFORMAT, "tokenizer %s: duplicate merge %d (%d, %d)", name, k, a, b);
      if (al__bpe_add_merge(t, a, b) < 0) FAIL(AL_ENOMEM, "tokenizer %s: out of memory", name);
    }
    if (k == 0 && cJSON_GetArraySize(merges) != 0)
      FAIL(AL_EFORMAT, "tokenizer %s: no merges could be read", name);
  } else if (strcmp(type->valuestring, "words") == 0) {
    if (merges) FAIL(AL_EFORMAT, "tokenizer %s: a words tokenizer has no 'merges'", name);
    if (cJSON_GetObjectItemCaseSensitive(o, "pretokenizer"))
      FAIL(AL_EFORMAT, "tokenizer %s: a words tokenizer has no 'pretokenizer'", name);
    if (!cJSON_IsArray(words)) FAIL(AL_EFORMAT, "tokenizer %s: 'words' must be an array", name);
    t = al__tok_new(AL_TOK_WORDS);
    if (!t) FAIL(AL_ENOMEM, "tokenizer %s: out of memory", name);
    int k = 0;
    for (const cJSON *w = words->child; w; w = w->next, k++) {
      if (!cJSON_IsString(w)) FAIL(AL_EFORMAT, "tokenizer %s: word %d is not a string", name, k);
      char where[64];
      snprintf(where, sizeof where, "word %d", k);
      if (check_word(w->valuestring, where) != AL_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", al_errmsg());
        FAIL(AL_EFORMAT, "tokenizer %s: %s", name, why);
      }
      if (al__strmap_find(t, w->valuestring, strlen(w->valuestring)) >= 0)
        FAIL(AL_EFORMAT, "tokenizer %s: duplicate token '%s'", name, w->valuestring);
      if (al__tok_push(t, w->valuestring, strlen(w->valuestring), 0) < 0)
        FAIL(AL_ENOMEM, "tokenizer %s: out of memory", name);
    }
  } else {
    FAIL(AL_EFORMAT, "tokenizer %s: unknown type '%s' (expected bpe or words)", name,
         type->valuestring);
  }
  t->nbase = t->n;
  const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "specials");
  if (sp && !cJSON_IsArray(sp)) FAIL(AL_EFORMAT, "tokenizer %s: 'specials' must be an array", name);
  int k = 0;
  for (const cJSON *c = sp ? sp->child : NULL; c; c = c->next, k++) {
    if (!cJSON_IsString(c) || !*c->valuestring)
      FAIL(AL_EFORMAT, "tokenizer %s: special %d must be a non-empty string", name, k);
    if (al__strmap_find(t, c->valuestring, strlen(c->valuestring)) >= 0)
      FAIL(AL_EFORMAT, "tokenizer %s: duplicate token '%s'", name, c->valuestring);
    if (al__tok_push(t, c->valuestring, strlen(c->valuestring), 1) < 0)
      FAIL(AL_ENOMEM, "tokenizer %s: out of memory", name);
  }
  if ((st = role_from_json(t, o, "bos", &t->bos, name)) != AL_OK) goto cleanup;
  if ((st = role_from_json(t, o, "eos", &t->eos, name)) != AL_OK) goto cleanup;
  if ((st = role_from_json(t, o, "pad", &t->pad, name)) != AL_OK) goto cleanup;
  if ((st = role_from_json(t, o, "unk", &t->unk, name)) != AL_OK) goto cleanup;
  if (t->kind == AL_TOK_BPE && t->unk >= 0)
    FAIL(AL_EFORMAT, "tokenizer %s: a bpe tokenizer has no unk (every byte is a token)", name);
  *out = t;
  t = NULL;
cleanup:
  al_tok_free(t);
  cJSON_Delete(o);
  free(buf);
  return st;
}

al_status al_tok_load(al_tok **out, const char *path) {
  *out = NULL;
  char *buf;
  size_t n;
  al_status s = al_io_read_file(path, SIZE_MAX, "tokenizer", &buf, &n);
  if (s != AL_OK) return s;
  s = al_tok_from_json(out, buf, n, path);
  free(buf);
  return s;
}

// ---- Hugging Face export ----

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the other 68 to U+0100 upward.
static int byte_to_cp(int b) {
  if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return b;
  int k = 0;
  for (int c = 0; c < b; c++)
    if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255))) k++;
  return 256 + k;
}

static char *hf_string(const char *s, int n) {
  char *o = malloc((size_t)n * 2 + 1);
  if (!o) return NULL;
  int k = 0;
  for (int i = 0; i < n; i++) {
    int cp = byte_to_cp((unsigned char)s[i]);
    if (cp < 0x80) {
      o[k++] = (char)cp;
    } else {
      o[k++] = (char)(0xC0 | (cp >> 6));
      o[k++] = (char)(0x80 | (cp & 0x3F));
    }
  }
  o[k] = '\0';
  return o;
}

al_status al_tok_export_hf(const al_tok *t, const char *path) {
  al_status st = AL_OK;
  char *js = NULL;
  cJSON *o = cJSON_CreateObject();
  if (!o) return al_seterr(AL_ENOMEM, "export_hf: out of memory");
  cJSON_AddStringToObject(o, "version", "1.0");
  cJSON_AddNullToObject(o, "truncation");
  cJSON_AddNullToObject(o, "padding");
  cJSON *added = cJSON_AddArrayToObject(o, "added_tokens");
  for (int id = t->nbase; id < t->n; id++) {
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "id", id);
    cJSON_AddStringToObject(a, "content", t->str[id]);
    cJSON_AddBoolToObject(a, "single_word", 0);
    cJSON_AddBoolToObject(a, "lstrip", 0);
    cJSON_AddBoolToObject(a, "rstrip", 0);
    cJSON_AddBoolToObject(a, "normalized", 0);
    cJSON_AddBoolToObject(a, "special", 1);
    cJSON_AddItemToArray(added, a);
  }
  cJSON_AddNullToObject(o, "normalizer");
  cJSON *model = cJSON_CreateObject();
  cJSON *vocab = cJSON_CreateObject();
  if (t->kind == AL_TOK_BPE) {
    cJSON *pre = cJSON_AddObjectToObject(o, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "ByteLevel");
    cJSON_AddBoolToObject(pre, "add_prefix_space", 0);
    cJSON_AddBoolToObject(pre, "trim_offsets", 1);
    cJSON_AddBoolToObject(pre, "use_regex", 1);
    cJSON_AddNullToObject(o, "post_processor");
    cJSON *dec = cJSON_AddObjectToObject(o, "decoder");
    cJSON_AddStringToObject(dec, "type", "ByteLevel");
    cJSON_AddBoolToObject(dec, "add_prefix_space", 1);
    cJSON_AddBoolToObject(dec, "trim_offsets", 1);
    cJSON_AddBoolToObject(dec, "use_regex", 1);
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddBoolToObject(model, "fuse_unk", 0);
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    cJSON_AddItemToObject(model, "vocab", vocab);
    for (int id = 0; id < t->nbase; id++) {
      char *k = hf_string(t->str[id], t->len[id]);
      if (!k) FAIL(AL_ENOMEM, "export_hf: out of memory");
      cJSON_AddItemToObject(vocab, k, cJSON_CreateNumber(id));
      free(k);
    }
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    for (int m = 0; m < t->nmerges; m++) {
      int a = t->merges[m][0], b = t->merges[m][1];
      char *x = hf_string(t->str[a], t->len[a]), *y = hf_string(t->str[b], t->len[b]);
      char *line = (x && y) ? malloc(strlen(x) + strlen(y) + 2) : NULL;
      if (line) sprintf(line, "%s %s", x, y);
      free(x);
      free(y);
      if (!line) FAIL(AL_ENOMEM, "export_hf: out of memory");
      cJSON_AddItemToArray(merges, cJSON_CreateString(line));
      free(line);
    }
  } else {
    cJSON *pre = cJSON_AddObjectToObject(o, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "WhitespaceSplit");
    cJSON_AddNullToObject(o, "post_processor");
    cJSON_AddNullToObject(o, "decoder");
    cJSON_AddStringToObject(model, "type", "WordLevel");
    cJSON_AddItemToObject(model, "vocab", vocab);
    for (int id = 0; id < t->n; id++) cJSON_AddNumberToObject(vocab, t->str[id], id);
    if (t->unk >= 0) cJSON_AddStringToObject(model, "unk_token", t->str[t->unk]);
    else cJSON_AddNullToObject(model, "unk_token");
  }
  cJSON_AddItemToObject(o, "model", model);
  js = cJSON_Print(o);
  if (!js) FAIL(AL_ENOMEM, "export_hf: out of memory");
  st = write_atomic(path, js, strlen(js), "export_hf");
cleanup:
  if (!cJSON_GetObjectItem(o, "model")) cJSON_Delete(model); // not yet attached
  free(js);
  cJSON_Delete(o);
  return st;
}
