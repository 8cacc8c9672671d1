// alignlab core: safetensors writer: the reference layout (compact JSON header, __metadata__
// first, tensors by dtype alignment then name, offsets packed from 0, header padded to 8 bytes)
// and its atomic write through io.c. Everything the reader (safetensors.c) checks is checked here
// before a byte is written. Layering: calls al_safetensors.h's dtype table and al_io.h only.
#include "al_io.h"
#include "al_safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EXACT 9007199254740992ULL // 2^53: the largest integer a JSON double holds exactly

// a * b into *r; 0 on overflow past 2^53
static int mul_ok(uint64_t a, uint64_t b, uint64_t *r) {
  if (a != 0 && b > MAX_EXACT / a) return 0;
  *r = a * b;
  return 1;
}

// ---- writing ----

typedef struct {
  char *p;
  size_t n, cap;
  int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) { b->oom = 1; return; }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_u64(sbuf *b, uint64_t v) {
  char tmp[32];
  int k = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
  sb_put(b, tmp, (size_t)k);
}

// JSON string literal; the bytes are valid UTF-8 (checked by the caller)
static void sb_jstr(sbuf *b, const char *s) {
  sb_put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"') sb_put(b, "\\\"", 2);
    else if (*p == '\\') sb_put(b, "\\\\", 2);
    else if (*p < 0x20) {
      char tmp[8];
      snprintf(tmp, sizeof tmp, "\\u%04x", *p);
      sb_put(b, tmp, 6);
    } else sb_put(b, (const char *)p, 1);
  }
  sb_put(b, "\"", 1);
}

// sort keys for the writer (qsort has no context pointer, so each key carries what it needs)
typedef struct {
  const char *name;
  int dtype;
  int idx;
} skey;

static int cmp_skey_name(const void *a, const void *b) {
  return strcmp(((const skey *)a)->name, ((const skey *)b)->name);
}

static int cmp_skey(const void *a, const void *b) {
  const skey *x = a, *y = b;
  if (x->dtype != y->dtype) return x->dtype > y->dtype ? -1 : 1; // larger alignment first
  return strcmp(x->name, y->name);
}

static al_status check_text(const char *s, const char *what) {
  size_t n = strlen(s);
  if (n > AL_ST_MAX_NAME)
    return al_seterr(AL_EINVAL, "safetensors writer: %s longer than %d bytes", what,
                     AL_ST_MAX_NAME);
  if (al_io_utf8_check(s, n) != n)
    return al_seterr(AL_EINVAL, "safetensors writer: %s '%.64s' is not valid UTF-8", what, s);
  return AL_OK;
}

// The 8-byte length + padded header (*hdr, *hlen) and the write order (*order, n entries) with
// byte sizes (*sizes). Everything the reader checks is checked here first.
static al_status build_header(unsigned char **hdr, size_t *hlen, int **order, uint64_t **sizes,
                              const al_st_entry *ts, int n, const char *const *meta, int nmeta) {
  al_status st = AL_OK;
  sbuf b = {0};
  int *ord = NULL;
  uint64_t *sz = NULL;
  skey *keys = NULL;
  *hdr = NULL;
  if (n < 0 || n > AL_ST_MAX_TENSORS || nmeta < 0)
    return al_seterr(AL_EINVAL, "safetensors writer: bad tensor count %d", n);
  ord = al_malloc((size_t)n, sizeof *ord);
  sz = al_malloc((size_t)n, sizeof *sz);
  if (!ord || !sz) { st = al_seterr(AL_ENOMEM, "safetensors writer: out of memory"); goto cleanup; }
  for (int i = 0; i < n; i++) {
    const al_st_entry *e = &ts[i];
    ord[i] = i;
    if (!e->name) { st = al_seterr(AL_EINVAL, "safetensors writer: tensor %d has no name", i); goto cleanup; }
    if ((st = check_text(e->name, "tensor name")) != AL_OK) goto cleanup;
    if (strcmp(e->name, "__metadata__") == 0) {
      st = al_seterr(AL_EINVAL, "safetensors writer: '__metadata__' is reserved");
      goto cleanup;
    }
    if ((unsigned)e->dtype >= AL_ST_NDTYPES) {
      st = al_seterr(AL_EINVAL, "safetensors writer: tensor '%s': unknown dtype %d", e->name,
                     (int)e->dtype);
      goto cleanup;
    }
    if (e->ndim < 0 || e->ndim > AL_ST_MAX_DIM || (e->ndim > 0 && !e->shape)) {
      st = al_seterr(AL_EINVAL, "safetensors writer: tensor '%s': bad rank %d", e->name, e->ndim);
      goto cleanup;
    }
    uint64_t ne = 1;
    for (int d = 0; d < e->ndim; d++)
      if (e->shape[d] >= MAX_EXACT || !mul_ok(ne, e->shape[d], &ne)) {
        st = al_seterr(AL_EINVAL, "safetensors writer: tensor '%s': shape overflows", e->name);
        goto cleanup;
      }
    if (!mul_ok(ne, al_st_dtype_size(e->dtype), &sz[i]) || (sz[i] > 0 && !e->data)) {
      st = al_seterr(AL_EINVAL, "safetensors writer: tensor '%s': too large or no data", e->name);
      goto cleanup;
    }
  }
  keys = al_malloc((size_t)n, sizeof *keys);
  if (!keys) { st = al_seterr(AL_ENOMEM, "safetensors writer: out of memory"); goto cleanup; }
  for (int i = 0; i < n; i++) keys[i] = (skey){ts[i].name, (int)ts[i].dtype, i};
  qsort(keys, (size_t)n, sizeof *keys, cmp_skey_name);
  for (int i = 1; i < n; i++)
    if (strcmp(keys[i - 1].name, keys[i].name) == 0) {
      st = al_seterr(AL_EINVAL, "safetensors writer: duplicate tensor name '%s'", keys[i].name);
      goto cleanup;
    }
  qsort(keys, (size_t)n, sizeof *keys, cmp_skey);
  for (int i = 0; i < n; i++) ord[i] = keys[i].idx;
  for (int i = 0; i < nmeta; i++) {
    if (!meta[2 * i] || !meta[2 * i + 1]) {
      st = al_seterr(AL_EINVAL, "safetensors writer: metadata pair %d has a NULL", i);
      goto cleanup;
    }
    if ((st = check_text(meta[2 * i], "metadata key")) != AL_OK) goto cleanup;
    size_t vn = strlen(meta[2 * i + 1]);
    if (al_io_utf8_check(meta[2 * i + 1], vn) != vn) {
      st = al_seterr(AL_EINVAL, "safetensors writer: metadata '%s' is not valid UTF-8",
                     meta[2 * i]);
      goto cleanup;
    }
    for (int j = 0; j < i; j++)
      if (strcmp(meta[2 * j], meta[2 * i]) == 0) {
        st = al_seterr(AL_EINVAL, "safetensors writer: duplicate metadata key '%s'", meta[2 * i]);
        goto cleanup;
      }
  }
  sb_put(&b, "\0\0\0\0\0\0\0\0", 8);
  sb_puts(&b, "{");
  if (nmeta > 0) {
    sb_puts(&b, "\"__metadata__\":{");
    for (int i = 0; i < nmeta; i++) {
      if (i) sb_puts(&b, ",");
      sb_jstr(&b, meta[2 * i]);
      sb_puts(&b, ":");
      sb_jstr(&b, meta[2 * i + 1]);
    }
    sb_puts(&b, "}");
  }
  uint64_t off = 0;
  for (int k = 0; k < n; k++) {
    const al_st_entry *e = &ts[ord[k]];
    if (k || nmeta > 0) sb_puts(&b, ",");
    sb_jstr(&b, e->name);
    sb_puts(&b, ":{\"dtype\":");
    sb_jstr(&b, al_st_dtype_name(e->dtype));
    sb_puts(&b, ",\"shape\":[");
    for (int d = 0; d < e->ndim; d++) {
      if (d) sb_puts(&b, ",");
      sb_u64(&b, e->shape[d]);
    }
    sb_puts(&b, "],\"data_offsets\":[");
    sb_u64(&b, off);
    sb_puts(&b, ",");
    if (off + sz[ord[k]] >= MAX_EXACT) {
      st = al_seterr(AL_EINVAL, "safetensors writer: data larger than 2^53 bytes");
      goto cleanup;
    }
    off += sz[ord[k]];
    sb_u64(&b, off);
    sb_puts(&b, "]}");
  }
  sb_puts(&b, "}");
  while ((b.n - 8) % 8) sb_puts(&b, " ");
  if (b.oom) { st = al_seterr(AL_ENOMEM, "safetensors writer: out of memory"); goto cleanup; }
  uint64_t N = b.n - 8;
  if (N > AL_ST_MAX_HEADER) {
    st = al_seterr(AL_EINVAL, "safetensors writer: header of %llu bytes exceeds the limit",
                   (unsigned long long)N);
    goto cleanup;
  }
  for (int i = 0; i < 8; i++) b.p[i] = (char)((N >> (8 * i)) & 0xFF);
  *hdr = (unsigned char *)b.p;
  *hlen = b.n;
  b.p = NULL;
  *order = ord;
  *sizes = sz;
  ord = NULL;
  sz = NULL;
cleanup:
  free(keys);
  free(b.p);
  free(ord);
  free(sz);
  return st;
}

al_status al_st_serialize(unsigned char **out, size_t *outn, const al_st_entry *ts, int n,
                          const char *const *meta, int nmeta) {
  unsigned char *hdr = NULL;
  size_t hlen = 0;
  int *ord = NULL;
  uint64_t *sz = NULL;
  *out = NULL;
  *outn = 0;
  al_status st = build_header(&hdr, &hlen, &ord, &sz, ts, n, meta, nmeta);
  if (st != AL_OK) return st;
  size_t total = hlen;
  for (int i = 0; i < n; i++) total += (size_t)sz[i];
  unsigned char *buf = realloc(hdr, total);
  if (!buf) {
    st = al_seterr(AL_ENOMEM, "safetensors writer: out of memory (%zu bytes)", total);
    goto cleanup;
  }
  hdr = NULL;
  size_t pos = hlen;
  for (int k = 0; k < n; k++) {
    if (sz[ord[k]]) memcpy(buf + pos, ts[ord[k]].data, (size_t)sz[ord[k]]);
    pos += (size_t)sz[ord[k]];
  }
  *out = buf;
  *outn = total;
cleanup:
  free(hdr);
  free(ord);
  free(sz);
  return st;
}

al_status al_st_write(const char *path, const al_st_entry *ts, int n, const char *const *meta,
                      int nmeta) {
  unsigned char *hdr = NULL;
  size_t hlen = 0;
  int *ord = NULL;
  uint64_t *sz = NULL;
  al_io_chunk *ch = NULL;
  al_status st = build_header(&hdr, &hlen, &ord, &sz, ts, n, meta, nmeta);
  if (st != AL_OK) return st;
  ch = al_malloc((size_t)n + 1, sizeof *ch);
  if (!ch) {
    st = al_seterr(AL_ENOMEM, "%s: out of memory", path);
    goto cleanup;
  }
  ch[0].data = hdr;
  ch[0].n = hlen;
  for (int k = 0; k < n; k++) {
    ch[k + 1].data = ts[ord[k]].data;
    ch[k + 1].n = (size_t)sz[ord[k]];
  }
  st = al_io_write_atomic(path, ch, n + 1, NULL);
cleanup:
  free(ch);
  free(hdr);
  free(ord);
  free(sz);
  return st;
}
