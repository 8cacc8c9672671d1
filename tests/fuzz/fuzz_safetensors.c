// Fuzz target for the safetensors reader (core/safetensors.c). Properties checked on every input:
// the parser never crashes or leaks; when it accepts a file, every tensor's byte range lies inside
// the buffer, the ranges tile the data region exactly, and writing the parsed tensors back and
// parsing again gives the same tensors and metadata (parse(write(parse(x))) == parse(x)).
// Built by CMake as a standalone replayer of a corpus (replay_main.c); see README.md for libFuzzer.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "al_safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static int by_begin(const void *a, const void *b) {
  const al_st_tensor *x = *(const al_st_tensor *const *)a, *y = *(const al_st_tensor *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;
}

static void same_files(const al_st_file *a, const al_st_file *b) {
  CHECK(a->ntensors == b->ntensors);
  for (int i = 0; i < a->ntensors; i++) {
    const al_st_tensor *x = &a->tensors[i], *y = al_st_find(b, x->name);
    CHECK(y);
    CHECK(x->dtype == y->dtype && x->ndim == y->ndim && x->nelem == y->nelem);
    for (int d = 0; d < x->ndim; d++) CHECK(x->shape[d] == y->shape[d]);
    CHECK(x->end - x->begin == y->end - y->begin);
    CHECK(memcmp(x->data, y->data, x->end - x->begin) == 0);
  }
  CHECK(a->nmeta == b->nmeta);
  for (int i = 0; i < a->nmeta; i++) {
    const char *v = al_st_meta(b, a->meta_keys[i]);
    CHECK(v && strcmp(v, a->meta_vals[i]) == 0);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  al_st_file *f = NULL;
  if (al_st_parse(&f, data, size, "fuzz") != AL_OK) {
    CHECK(f == NULL);
    return 0;
  }
  // accepted: ranges inside the buffer and tiling [0, size - data_start)
  size_t dsize = size - f->data_start;
  CHECK(f->data_start >= 8 && f->data_start <= size);
  const al_st_tensor **r = malloc(((size_t)f->ntensors + 1) * sizeof *r);
  CHECK(r);
  for (int i = 0; i < f->ntensors; i++) {
    const al_st_tensor *t = &f->tensors[i];
    CHECK(t->begin <= t->end && t->end <= dsize);
    CHECK(t->data == f->buf + f->data_start + t->begin);
    CHECK((uint64_t)(t->end - t->begin) == t->nelem * al_st_dtype_size(t->dtype));
    if (i) CHECK(strcmp(f->tensors[i - 1].name, t->name) < 0); // sorted, unique
    r[i] = t;
  }
  qsort(r, (size_t)f->ntensors, sizeof *r, by_begin);
  size_t pos = 0;
  for (int i = 0; i < f->ntensors; i++) {
    CHECK(r[i]->begin == pos);
    pos = r[i]->end;
  }
  CHECK(pos == dsize);
  free(r);
  // round trip through the writer
  al_st_entry *es = malloc(((size_t)f->ntensors + 1) * sizeof *es);
  const char **meta = malloc(((size_t)f->nmeta * 2 + 1) * sizeof *meta);
  CHECK(es && meta);
  for (int i = 0; i < f->ntensors; i++) {
    const al_st_tensor *t = &f->tensors[i];
    es[i] = (al_st_entry){t->name, t->dtype, t->ndim, t->shape, t->data};
  }
  for (int i = 0; i < f->nmeta; i++) {
    meta[2 * i] = f->meta_keys[i];
    meta[2 * i + 1] = f->meta_vals[i];
  }
  unsigned char *out = NULL;
  size_t outn = 0;
  al_status st = al_st_serialize(&out, &outn, es, f->ntensors, meta, f->nmeta);
  // the writer may only refuse what exceeds its header limit (escaping can grow the header)
  if (st == AL_OK) {
    al_st_file *g = NULL;
    CHECK(al_st_parse(&g, out, outn, "fuzz-rt") == AL_OK);
    same_files(f, g);
    al_st_free(g);
    free(out);
  }
  free(es);
  free(meta);
  al_st_free(f);
  return 0;
}
