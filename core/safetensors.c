// alignlab core: safetensors dtypes and reader (full validation, ../shared/ecosystem.md 1.3
// checks 1-17). The writer is safetensors_write.c; files are read through io.c; what the tensors
// mean is core/ckpt.c's business.
#include "al_safetensors.h"
#include "al_io.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "alignlab's safetensors code assumes a little-endian host"
#endif

#define MAX_EXACT 9007199254740992ULL // 2^53: the largest integer a JSON double holds exactly

// ---- dtypes ----

static const struct {
  const char *name;
  size_t size;
} dtypes[AL_ST_NDTYPES] = {
    [AL_ST_BOOL] = {"BOOL", 1}, [AL_ST_U8] = {"U8", 1},   [AL_ST_I8] = {"I8", 1},
    [AL_ST_F8_E5M2] = {"F8_E5M2", 1}, [AL_ST_F8_E4M3] = {"F8_E4M3", 1},
    [AL_ST_I16] = {"I16", 2},   [AL_ST_U16] = {"U16", 2}, [AL_ST_F16] = {"F16", 2},
    [AL_ST_BF16] = {"BF16", 2}, [AL_ST_I32] = {"I32", 4}, [AL_ST_U32] = {"U32", 4},
    [AL_ST_F32] = {"F32", 4},   [AL_ST_F64] = {"F64", 8}, [AL_ST_I64] = {"I64", 8},
    [AL_ST_U64] = {"U64", 8},
};

const char *al_st_dtype_name(al_st_dtype d) {
  return (unsigned)d < AL_ST_NDTYPES ? dtypes[d].name : NULL;
}

size_t al_st_dtype_size(al_st_dtype d) { return (unsigned)d < AL_ST_NDTYPES ? dtypes[d].size : 0; }

al_st_dtype al_st_dtype_parse(const char *s) {
  for (int i = 0; i < AL_ST_NDTYPES; i++)
    if (strcmp(s, dtypes[i].name) == 0) return (al_st_dtype)i;
  return AL_ST_NDTYPES;
}

// ---- small helpers ----

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Raw scan of the header text: control bytes other than JSON whitespace are refused anywhere
// (cJSON would truncate a string at a raw NUL), and so is the escape \u0000 inside strings
// (cJSON decodes it to NUL and truncates the name: "x\u0000y" would alias "x").
// Returns NULL when clean, else a static description and *at the byte offset.
static const char *raw_scan(const unsigned char *s, size_t n, size_t *at) {
  int instr = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = s[i];
    if (c < 0x20 && !is_ws(c)) { *at = i; return "control character"; }
    if (!instr) { if (c == '"') instr = 1; continue; }
    if (c == '"') { instr = 0; continue; }
    if (c == '\\' && i + 1 < n) {
      if (s[i + 1] == 'u' && i + 5 < n) {
        int v = 0, ok = 1;
        for (int k = 0; k < 4; k++) {
          int h = hexval(s[i + 2 + k]);
          if (h < 0) ok = 0;
          else v = v * 16 + h;
        }
        if (ok && v == 0) { *at = i; return "escaped NUL (\\u0000) in a string"; }
      }
      i++; // skip the escaped character
    }
  }
  return NULL;
}

// An exact non-negative integer < 2^53 (cJSON keeps only a double: never use valueint).
static int get_uint(const cJSON *x, uint64_t *v) {
  if (!cJSON_IsNumber(x)) return 0;
  double d = x->valuedouble;
  // also refuses NaN, and 2^53 itself, which 2^53+1 rounds to
  if (!(d >= 0.0 && d < (double)MAX_EXACT)) return 0;
  uint64_t u = (uint64_t)d;
  if ((double)u != d) return 0;
  *v = u;
  return 1;
}

// a * b into *r; 0 on overflow past 2^53
static int mul_ok(uint64_t a, uint64_t b, uint64_t *r) {
  if (a != 0 && b > MAX_EXACT / a) return 0;
  *r = a * b;
  return 1;
}

void al_st_free(al_st_file *f) {
  if (!f) return;
  for (int i = 0; i < f->ntensors; i++) free(f->tensors[i].name);
  free(f->tensors);
  for (int i = 0; i < f->nmeta; i++) {
    free(f->meta_keys[i]);
    free(f->meta_vals[i]);
  }
  free(f->meta_keys);
  free(f->meta_vals);
  free(f->buf);
  free(f->path);
  free(f);
}

static int cmp_tensor_name(const void *a, const void *b) {
  return strcmp(((const al_st_tensor *)a)->name, ((const al_st_tensor *)b)->name);
}

static int cmp_tensor_range(const void *a, const void *b) {
  const al_st_tensor *x = *(const al_st_tensor *const *)a, *y = *(const al_st_tensor *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

static char *dupstr(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

// ---- reading ----

// Validate one tensor entry `e` named t->name; fill t. dsize is the data region's size.
static al_status parse_entry(al_st_tensor *t, const cJSON *e, size_t dsize, const char *what) {
  const char *nm = t->name;
  if (!cJSON_IsObject(e))
    return al_seterr(AL_EFORMAT, "%s: tensor '%s': entry is not an object", what, nm);
  int nomem;
  const char *dup = al_io_json_dup_key(e, 0, &nomem);
  if (nomem) return al_seterr(AL_ENOMEM, "%s: out of memory", what);
  if (dup) return al_seterr(AL_EFORMAT, "%s: tensor '%s': duplicate key '%s'", what, nm, dup);
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
  const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
  const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
  if (!dt) return al_seterr(AL_EFORMAT, "%s: tensor '%s': missing dtype", what, nm);
  if (!sh) return al_seterr(AL_EFORMAT, "%s: tensor '%s': missing shape", what, nm);
  if (!of) return al_seterr(AL_EFORMAT, "%s: tensor '%s': missing data_offsets", what, nm);
  if (!cJSON_IsString(dt))
    return al_seterr(AL_EFORMAT, "%s: tensor '%s': dtype is not a string", what, nm);
  t->dtype = al_st_dtype_parse(dt->valuestring);
  if (t->dtype == AL_ST_NDTYPES)
    return al_seterr(AL_EFORMAT, "%s: tensor '%s': unknown dtype '%.32s'", what, nm,
                     dt->valuestring);
  if (!cJSON_IsArray(sh))
    return al_seterr(AL_EFORMAT, "%s: tensor '%s': shape is not an array", what, nm);
  int nd = cJSON_GetArraySize(sh);
  if (nd > AL_ST_MAX_DIM)
    return al_seterr(AL_EFORMAT, "%s: tensor '%s': rank %d exceeds %d", what, nm, nd,
                     AL_ST_MAX_DIM);
  t->ndim = nd;
  uint64_t nelem = 1;
  int i = 0;
  for (const cJSON *d = sh->child; d; d = d->next, i++) {
    if (!get_uint(d, &t->shape[i]))
      return al_seterr(AL_EFORMAT,
                       "%s: tensor '%s': shape[%d] is not a non-negative integer < 2^53", what,
                       nm, i);
    if (!mul_ok(nelem, t->shape[i], &nelem))
      return al_seterr(AL_EFORMAT, "%s: tensor '%s': shape overflows (element count > 2^53)",
                       what, nm);
  }
  t->nelem = nelem;
  uint64_t nbytes;
  if (!mul_ok(nelem, dtypes[t->dtype].size, &nbytes))
    return al_seterr(AL_EFORMAT, "%s: tensor '%s': shape overflows (byte count > 2^53)", what,
                     nm);
  if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2)
    return al_seterr(AL_EFORMAT, "%s: tensor '%s': data_offsets is not an array of 2 integers",
                     what, nm);
  uint64_t b, en;
  if (!get_uint(of->child, &b) || !get_uint(of->child->next, &en))
    return al_seterr(AL_EFORMAT,
                     "%s: tensor '%s': data_offsets are not non-negative integers < 2^53", what,
                     nm);
  if (en < b)
    return al_seterr(AL_EFORMAT, "%s: tensor '%s': data_offsets end %llu < begin %llu", what,
                     nm, (unsigned long long)en, (unsigned long long)b);
  if (en - b != nbytes)
    return al_seterr(AL_EFORMAT,
                     "%s: tensor '%s': shape and dtype give %llu bytes but data_offsets [%llu, "
                     "%llu] hold %llu",
                     what, nm, (unsigned long long)nbytes, (unsigned long long)b,
                     (unsigned long long)en, (unsigned long long)(en - b));
  if (en > dsize)
    return al_seterr(AL_EFORMAT,
                     "%s: tensor '%s': data_offsets [%llu, %llu] out of bounds (data region "
                     "is %zu bytes)",
                     what, nm, (unsigned long long)b, (unsigned long long)en, dsize);
  t->begin = (size_t)b;
  t->end = (size_t)en;
  return AL_OK;
}

static al_status parse_meta(al_st_file *f, const cJSON *m, const char *what) {
  if (!cJSON_IsObject(m))
    return al_seterr(AL_EFORMAT, "%s: __metadata__ is not an object", what);
  int nomem;
  const char *dup = al_io_json_dup_key(m, 0, &nomem);
  if (nomem) return al_seterr(AL_ENOMEM, "%s: out of memory", what);
  if (dup) return al_seterr(AL_EFORMAT, "%s: __metadata__: duplicate key '%s'", what, dup);
  int n = cJSON_GetArraySize(m);
  f->meta_keys = al_calloc((size_t)n, sizeof(char *));
  f->meta_vals = al_calloc((size_t)n, sizeof(char *));
  if (!f->meta_keys || !f->meta_vals) return al_seterr(AL_ENOMEM, "%s: out of memory", what);
  for (const cJSON *c = m->child; c; c = c->next) {
    if (!cJSON_IsString(c))
      return al_seterr(AL_EFORMAT, "%s: __metadata__ value of '%s' is not a string", what,
                       c->string);
    if (strlen(c->string) > AL_ST_MAX_NAME)
      return al_seterr(AL_EFORMAT, "%s: __metadata__ key longer than %d bytes", what,
                       AL_ST_MAX_NAME);
    f->meta_keys[f->nmeta] = dupstr(c->string);
    f->meta_vals[f->nmeta] = dupstr(c->valuestring);
    f->nmeta++; // counted before the check so al_st_free frees a half-made pair
    if (!f->meta_keys[f->nmeta - 1] || !f->meta_vals[f->nmeta - 1])
      return al_seterr(AL_ENOMEM, "%s: out of memory", what);
  }
  return AL_OK;
}

// Validate buf (n bytes, owned: freed on failure) into *out.
static al_status parse_owned(al_st_file **out, unsigned char *buf, size_t n, const char *what) {
  al_status st = AL_OK;
  cJSON *root = NULL;
  char *hdr = NULL;
  al_st_tensor **byrange = NULL;
  *out = NULL;
  al_st_file *f = calloc(1, sizeof *f);
  if (!f || !(f->path = dupstr(what))) {
    free(buf);
    free(f);
    return al_seterr(AL_ENOMEM, "%s: out of memory", what);
  }
  f->buf = buf;
  f->size = n;
  if (n < 8) {
    st = al_seterr(AL_EFORMAT, "%s: file too small (%zu bytes; a safetensors file has at least 8)",
                   what, n);
    goto cleanup;
  }
  uint64_t N = 0;
  for (int i = 7; i >= 0; i--) N = (N << 8) | buf[i];
  if (N > AL_ST_MAX_HEADER) {
    st = al_seterr(AL_EFORMAT, "%s: header length %llu exceeds the limit of %llu bytes", what,
                   (unsigned long long)N, (unsigned long long)AL_ST_MAX_HEADER);
    goto cleanup;
  }
  if (N > n - 8) {
    st = al_seterr(AL_EFORMAT, "%s: header length %llu goes beyond the end of the file (%zu bytes)",
                   what, (unsigned long long)N, n);
    goto cleanup;
  }
  if (N < 2 || buf[8] != '{') {
    st = al_seterr(AL_EFORMAT, "%s: header does not start with '{'", what);
    goto cleanup;
  }
  const unsigned char *h = buf + 8;
  size_t bad = al_io_utf8_check(h, (size_t)N);
  if (bad != N) {
    st = al_seterr(AL_EFORMAT, "%s: header is not valid UTF-8 (byte %zu)", what, bad);
    goto cleanup;
  }
  const char *why = raw_scan(h, (size_t)N, &bad);
  if (why) {
    st = al_seterr(AL_EFORMAT, "%s: header is not valid JSON: %s at byte %zu", what, why, bad);
    goto cleanup;
  }
  // defence in depth: a NUL-terminated private copy for cJSON
  hdr = malloc((size_t)N + 1);
  if (!hdr) {
    st = al_seterr(AL_ENOMEM, "%s: out of memory for a %llu-byte header", what,
                   (unsigned long long)N);
    goto cleanup;
  }
  memcpy(hdr, h, (size_t)N);
  hdr[N] = '\0';
  // unknown fields may nest, but not beyond cJSON's limit: say so before cJSON recurses
  size_t deep = al_io_json_too_deep(hdr, (size_t)N, AL_IO_JSON_DEPTH);
  if (deep < (size_t)N) {
    st = al_seterr(AL_EFORMAT, "%s: header JSON nested deeper than %d levels at byte %zu", what,
                   AL_IO_JSON_DEPTH, deep);
    goto cleanup;
  }
  const char *end = NULL;
  root = cJSON_ParseWithLengthOpts(hdr, (size_t)N, &end, 0);
  if (!root) {
    size_t at = (end && end >= hdr && end <= hdr + N) ? (size_t)(end - hdr) : 0;
    st = al_seterr(AL_EFORMAT, "%s: header is not valid JSON (near byte %zu)", what, at);
    goto cleanup;
  }
  for (const char *p = end; p < hdr + N; p++)
    if (!is_ws((unsigned char)*p)) {
      st = al_seterr(AL_EFORMAT, "%s: header is not valid JSON: trailing bytes after the object "
                                 "(byte %zu)", what, (size_t)(p - hdr));
      goto cleanup;
    }
  if (!cJSON_IsObject(root)) {
    st = al_seterr(AL_EFORMAT, "%s: header is not a JSON object", what);
    goto cleanup;
  }
  int nomem;
  const char *dup = al_io_json_dup_key(root, 0, &nomem);
  if (nomem) { st = al_seterr(AL_ENOMEM, "%s: out of memory", what); goto cleanup; }
  if (dup) {
    st = al_seterr(AL_EFORMAT, "%s: duplicate tensor name '%s'", what, dup);
    goto cleanup;
  }
  size_t count = 0;
  for (const cJSON *c = root->child; c; c = c->next) count++;
  if (count > AL_ST_MAX_TENSORS + 1) {
    st = al_seterr(AL_EFORMAT, "%s: more than %d tensors", what, AL_ST_MAX_TENSORS);
    goto cleanup;
  }
  f->data_start = 8 + (size_t)N;
  size_t dsize = n - f->data_start;
  f->tensors = al_calloc(count, sizeof *f->tensors);
  if (!f->tensors) { st = al_seterr(AL_ENOMEM, "%s: out of memory", what); goto cleanup; }
  for (const cJSON *c = root->child; c; c = c->next) {
    if (strcmp(c->string, "__metadata__") == 0) {
      if ((st = parse_meta(f, c, what)) != AL_OK) goto cleanup;
      continue;
    }
    if (strlen(c->string) > AL_ST_MAX_NAME) {
      st = al_seterr(AL_EFORMAT, "%s: tensor name longer than %d bytes", what, AL_ST_MAX_NAME);
      goto cleanup;
    }
    al_st_tensor *t = &f->tensors[f->ntensors];
    if (!(t->name = dupstr(c->string))) {
      st = al_seterr(AL_ENOMEM, "%s: out of memory", what);
      goto cleanup;
    }
    f->ntensors++;
    if ((st = parse_entry(t, c, dsize, what)) != AL_OK) goto cleanup;
    t->data = buf + f->data_start + t->begin;
  }
  // ranges: sorted by offset they must tile [0, dsize) exactly
  if (f->ntensors > 0) {
    byrange = al_malloc((size_t)f->ntensors, sizeof *byrange);
    if (!byrange) { st = al_seterr(AL_ENOMEM, "%s: out of memory", what); goto cleanup; }
    for (int i = 0; i < f->ntensors; i++) byrange[i] = &f->tensors[i];
    qsort(byrange, (size_t)f->ntensors, sizeof *byrange, cmp_tensor_range);
  }
  size_t pos = 0;
  for (int i = 0; i < f->ntensors; i++) {
    const al_st_tensor *t = byrange[i];
    if (t->begin < pos) {
      st = al_seterr(AL_EFORMAT, "%s: tensor '%s' [%zu, %zu] overlaps tensor '%s' [%zu, %zu]",
                     what, t->name, t->begin, t->end, byrange[i - 1]->name,
                     byrange[i - 1]->begin, byrange[i - 1]->end);
      goto cleanup;
    }
    if (t->begin > pos) {
      st = al_seterr(AL_EFORMAT, "%s: gap in the data region: bytes [%zu, %zu) before tensor "
                                 "'%s' belong to no tensor", what, pos, t->begin, t->name);
      goto cleanup;
    }
    pos = t->end;
  }
  if (pos != dsize) {
    st = al_seterr(AL_EFORMAT, "%s: gap in the data region: bytes [%zu, %zu) after the last "
                               "tensor belong to no tensor", what, pos, dsize);
    goto cleanup;
  }
  if (f->ntensors > 1) qsort(f->tensors, (size_t)f->ntensors, sizeof *f->tensors, cmp_tensor_name);
  *out = f;
  f = NULL;
cleanup:
  free(byrange);
  cJSON_Delete(root);
  free(hdr);
  al_st_free(f);
  return st;
}

al_status al_st_parse(al_st_file **out, const void *data, size_t n, const char *what) {
  *out = NULL;
  if (!what) what = "<memory>";
  unsigned char *buf = al_malloc(n, 1);
  if (!buf) return al_seterr(AL_ENOMEM, "%s: out of memory (%zu bytes)", what, n);
  if (n) memcpy(buf, data, n);
  return parse_owned(out, buf, n, what);
}

al_status al_st_read(al_st_file **out, const char *path) {
  *out = NULL;
  char *buf;
  size_t n;
  al_status st = al_io_read_file(path, SIZE_MAX, NULL, &buf, &n);
  if (st != AL_OK) return st;
  return parse_owned(out, (unsigned char *)buf, n, path); // parse_owned owns buf
}

const al_st_tensor *al_st_find(const al_st_file *f, const char *name) {
  int lo = 0, hi = f->ntensors - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    int c = strcmp(name, f->tensors[mid].name);
    if (c == 0) return &f->tensors[mid];
    if (c < 0) hi = mid - 1;
    else lo = mid + 1;
  }
  return NULL;
}

const char *al_st_meta(const al_st_file *f, const char *key) {
  for (int i = 0; i < f->nmeta; i++)
    if (strcmp(f->meta_keys[i], key) == 0) return f->meta_vals[i];
  return NULL;
}

al_status al_st_copy(const al_st_file *f, const char *name, al_st_dtype dt, void *dst, size_t n) {
  const al_st_tensor *t = al_st_find(f, name);
  if (!t) return al_seterr(AL_EFORMAT, "%s: missing tensor '%s'", f->path, name);
  if (t->dtype != dt)
    return al_seterr(AL_EFORMAT, "%s: tensor '%s' has dtype %s, expected %s", f->path, name,
                     dtypes[t->dtype].name, al_st_dtype_name(dt) ? al_st_dtype_name(dt) : "?");
  if (t->nelem != n)
    return al_seterr(AL_EFORMAT, "%s: tensor '%s' has %llu elements, expected %zu", f->path,
                     name, (unsigned long long)t->nelem, n);
  if (t->end > t->begin) memcpy(dst, t->data, t->end - t->begin);
  return AL_OK;
}
