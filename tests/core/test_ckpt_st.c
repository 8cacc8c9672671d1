// Tests of core/safetensors.c: golden byte layouts re-derived from the format, round trips, every
// malformed input refused with its message, and the atomic writer's failure behaviour.
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "al_safetensors.h"
#include "testutil.h"

// A file image: 8-byte length of hdr, hdr, then `data` zero bytes.
static unsigned char *mk(const char *hdr, size_t data, size_t *n) {
  size_t N = strlen(hdr);
  *n = 8 + N + data;
  unsigned char *b = calloc(1, *n);
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(((uint64_t)N >> (8 * i)) & 0xFF);
  memcpy(b + 8, hdr, N);
  return b;
}

// Parse hdr+data and expect failure with status st and a message containing `msg`.
static void refuse(const char *hdr, size_t data, al_status st, const char *msg) {
  size_t n;
  unsigned char *b = mk(hdr, data, &n);
  al_st_file *f = (al_st_file *)1;
  al_status got = al_st_parse(&f, b, n, "bad.safetensors");
  free(b);
  cr_assert_eq(got, st, "header %s: got %s (%s)", hdr, al_status_name(got), al_errmsg());
  cr_assert_null(f);
  cr_assert(strstr(al_errmsg(), msg), "header %s: message '%s' lacks '%s'", hdr, al_errmsg(), msg);
  cr_assert(strstr(al_errmsg(), "bad.safetensors"), "message '%s' does not name the file",
            al_errmsg());
}

static uint64_t le64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

Test(ckpt_st, empty_dict_is_sixteen_bytes_with_padded_header) {
  unsigned char *b;
  size_t n;
  cr_assert_eq(al_st_serialize(&b, &n, NULL, 0, NULL, 0), AL_OK);
  cr_assert_eq(n, 16);
  cr_assert_eq(le64(b), 8);
  cr_assert(memcmp(b + 8, "{}      ", 8) == 0);
  al_st_file *f;
  cr_assert_eq(al_st_parse(&f, b, n, NULL), AL_OK, "%s", al_errmsg());
  cr_assert_eq(f->ntensors, 0);
  cr_assert_eq(f->nmeta, 0);
  al_st_free(f);
  free(b);
}

Test(ckpt_st, metadata_only_header_is_forty_bytes) {
  const char *meta[] = {"framework", "pt"};
  unsigned char *b;
  size_t n;
  cr_assert_eq(al_st_serialize(&b, &n, NULL, 0, meta, 1), AL_OK);
  cr_assert_eq(le64(b), 40);
  cr_assert(memcmp(b + 8, "{\"__metadata__\":{\"framework\":\"pt\"}}     ", 40) == 0);
  al_st_file *f;
  cr_assert_eq(al_st_parse(&f, b, n, NULL), AL_OK, "%s", al_errmsg());
  cr_assert_str_eq(al_st_meta(f, "framework"), "pt");
  cr_assert_null(al_st_meta(f, "format"));
  al_st_free(f);
  free(b);
}

Test(ckpt_st, one_f32_tensor_has_unpadded_64_byte_header_and_little_endian_data) {
  float x[6] = {0, 1, 2, 3, 4, 5};
  uint64_t shape[3] = {1, 2, 3};
  al_st_entry e = {"attn.0", AL_ST_F32, 3, shape, x};
  unsigned char *b;
  size_t n;
  cr_assert_eq(al_st_serialize(&b, &n, &e, 1, NULL, 0), AL_OK);
  cr_assert_eq(le64(b), 64);
  cr_assert_eq(n, 8 + 64 + 24);
  const char *want = "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";
  cr_assert(memcmp(b + 8, want, 64) == 0);
  const unsigned char one[4] = {0x00, 0x00, 0x80, 0x3F};
  cr_assert(memcmp(b + 72, "\0\0\0\0", 4) == 0);
  cr_assert(memcmp(b + 76, one, 4) == 0);
  free(b);
  uint64_t shape4[4] = {1, 1, 2, 3};
  al_st_entry e4 = {"attn0", AL_ST_F32, 4, shape4, x};
  cr_assert_eq(al_st_serialize(&b, &n, &e4, 1, NULL, 0), AL_OK);
  cr_assert_eq(le64(b), 72); // 65 bytes of JSON + 7 spaces
  cr_assert(memcmp(b + 8 + 65, "       ", 7) == 0);
  free(b);
}

Test(ckpt_st, mixed_dtypes_round_trip_bit_exactly) {
  double d[3] = {1.5, -2.25, 1e300};
  int64_t i64[2] = {-1, INT64_MAX};
  uint16_t h[4] = {0x3C00, 0x0001, 0xFFFF, 0};
  uint8_t u8[5] = {1, 2, 3, 4, 5};
  float f1 = 3.25f;
  uint64_t s_d[1] = {3}, s_i[2] = {2, 1}, s_h[2] = {2, 2}, s_u[1] = {5}, s_z[2] = {0, 7};
  al_st_entry es[] = {
      {"dbl", AL_ST_F64, 1, s_d, d},     {"ints", AL_ST_I64, 2, s_i, i64},
      {"half", AL_ST_BF16, 2, s_h, h},   {"bytes", AL_ST_U8, 1, s_u, u8},
      {"scalar", AL_ST_F32, 0, NULL, &f1}, {"empty", AL_ST_F32, 2, s_z, NULL},
      {"we\"ird\\name \xc3\xa9", AL_ST_F16, 2, s_h, h},
  };
  const char *meta[] = {"format", "pt", "note", "a \"quoted\"\n value"};
  unsigned char *b;
  size_t n;
  cr_assert_eq(al_st_serialize(&b, &n, es, 7, meta, 2), AL_OK, "%s", al_errmsg());
  cr_assert_eq(le64(b) % 8, 0);
  al_st_file *f;
  cr_assert_eq(al_st_parse(&f, b, n, "mixed"), AL_OK, "%s", al_errmsg());
  cr_assert_eq(f->ntensors, 7);
  cr_assert_str_eq(al_st_meta(f, "note"), "a \"quoted\"\n value");
  // larger alignment first: the 8-byte dtypes start at offset 0 and 8-aligned in the file
  const al_st_tensor *t = al_st_find(f, "dbl");
  cr_assert_not_null(t);
  cr_assert_eq((f->data_start + t->begin) % 8, 0);
  for (int i = 0; i < 7; i++) {
    const al_st_tensor *g = al_st_find(f, es[i].name);
    cr_assert_not_null(g, "%s", es[i].name);
    cr_assert_eq(g->dtype, es[i].dtype);
    cr_assert_eq(g->ndim, es[i].ndim);
    for (int k = 0; k < g->ndim; k++) cr_assert_eq(g->shape[k], es[i].shape[k]);
    size_t bytes = (size_t)g->nelem * al_st_dtype_size(g->dtype);
    cr_assert_eq(g->end - g->begin, bytes);
    if (bytes) cr_assert(memcmp(g->data, es[i].data, bytes) == 0);
  }
  double back[3];
  cr_assert_eq(al_st_copy(f, "dbl", AL_ST_F64, back, 3), AL_OK);
  cr_assert(memcmp(back, d, sizeof d) == 0);
  cr_assert_eq(al_st_copy(f, "dbl", AL_ST_F32, back, 3), AL_EFORMAT);
  cr_assert(strstr(al_errmsg(), "has dtype F64, expected F32"), "%s", al_errmsg());
  cr_assert_eq(al_st_copy(f, "dbl", AL_ST_F64, back, 2), AL_EFORMAT);
  cr_assert(strstr(al_errmsg(), "has 3 elements, expected 2"), "%s", al_errmsg());
  cr_assert_eq(al_st_copy(f, "nope", AL_ST_F64, back, 2), AL_EFORMAT);
  cr_assert(strstr(al_errmsg(), "mixed: missing tensor 'nope'"), "%s", al_errmsg());
  al_st_free(f);
  free(b);
}

Test(ckpt_st, foreign_layout_unpadded_and_unsorted_is_accepted) {
  // offsets not in name order, no padding, tab/newline whitespace: all legal
  const char *h = "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\n"
                  "\t\"a\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[4,7],\"extra\":1}}";
  size_t n;
  unsigned char *b = mk(h, 7, &n);
  b[8 + strlen(h) + 4] = 9;
  al_st_file *f;
  cr_assert_eq(al_st_parse(&f, b, n, NULL), AL_OK, "%s", al_errmsg());
  cr_assert_str_eq(f->tensors[0].name, "a"); // sorted by name for al_st_find
  int8_t a[3];
  cr_assert_eq(al_st_copy(f, "a", AL_ST_I8, a, 3), AL_OK);
  cr_assert_eq(a[0], 9);
  al_st_free(f);
  free(b);
}

Test(ckpt_st, truncated_file_is_refused) {
  unsigned char b[5] = {8, 0, 0, 0, 0};
  al_st_file *f;
  cr_assert_eq(al_st_parse(&f, b, 5, "short.safetensors"), AL_EFORMAT);
  cr_assert(strstr(al_errmsg(), "short.safetensors: file too small"), "%s", al_errmsg());
  // a valid file cut short in its data
  float x[4] = {1, 2, 3, 4};
  uint64_t s[1] = {4};
  al_st_entry e = {"x", AL_ST_F32, 1, s, x};
  unsigned char *g;
  size_t n;
  cr_assert_eq(al_st_serialize(&g, &n, &e, 1, NULL, 0), AL_OK);
  cr_assert_eq(al_st_parse(&f, g, n - 3, "cut"), AL_EFORMAT);
  cr_assert(strstr(al_errmsg(), "cut: tensor 'x': data_offsets [0, 16] out of bounds"), "%s",
            al_errmsg());
  // cut inside the header
  cr_assert_eq(al_st_parse(&f, g, 20, "cut"), AL_EFORMAT);
  cr_assert(strstr(al_errmsg(), "goes beyond the end of the file"), "%s", al_errmsg());
  free(g);
}

Test(ckpt_st, header_length_beyond_file_or_huge_is_refused) {
  size_t n;
  unsigned char *b = mk("{}", 0, &n);
  b[0] = 200; // N = 200 > 2 bytes available
  al_st_file *f;
  cr_assert_eq(al_st_parse(&f, b, n, "x.st"), AL_EFORMAT);
  cr_assert(strstr(al_errmsg(), "x.st: header length 200 goes beyond the end of the file (10 bytes)"),
            "%s", al_errmsg());
  memset(b, 0xFF, 8); // N = 2^64 - 1: must not overflow 8 + N
  cr_assert_eq(al_st_parse(&f, b, n, "x.st"), AL_EFORMAT);
  cr_assert(strstr(al_errmsg(), "exceeds the limit"), "%s", al_errmsg());
  memset(b, 0, 8);
  b[3] = 0x10; // 268 MB
  cr_assert_eq(al_st_parse(&f, b, n, "x.st"), AL_EFORMAT);
  cr_assert(strstr(al_errmsg(), "exceeds the limit of 100000000 bytes"), "%s", al_errmsg());
  free(b);
}

Test(ckpt_st, invalid_json_headers_are_refused) {
  refuse("{\"a\":", 0, AL_EFORMAT, "header is not valid JSON");
  refuse("{\"a\" 1}", 0, AL_EFORMAT, "header is not valid JSON");
  refuse("{}  x", 0, AL_EFORMAT, "trailing bytes after the object");
  refuse("{}{}", 0, AL_EFORMAT, "trailing bytes");
  refuse("[1,2]   ", 0, AL_EFORMAT, "does not start with '{'");
  refuse("  {}    ", 0, AL_EFORMAT, "does not start with '{'");
  refuse("{\"\xc0\xaf\":1}", 0, AL_EFORMAT, "not valid UTF-8");       // overlong '/'
  refuse("{\"\xed\xa0\x80\":1}", 0, AL_EFORMAT, "not valid UTF-8");   // surrogate
  refuse("{\"a\x01\":1}", 0, AL_EFORMAT, "control character");
  refuse("{\"x\\u0000y\":{}}", 0, AL_EFORMAT, "escaped NUL");
  // a raw NUL must not hide the rest of the header from the checks
  size_t n;
  unsigned char *b = mk("{}xx", 0, &n);
  b[10] = 0;
  al_st_file *f;
  cr_assert_eq(al_st_parse(&f, b, n, "nul"), AL_EFORMAT);
  cr_assert(strstr(al_errmsg(), "control character"), "%s", al_errmsg());
  free(b);
}

Test(ckpt_st, bad_entries_are_refused) {
  refuse("{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, AL_EFORMAT,
         "tensor 'a': unknown dtype 'F33'");
  refuse("{\"a\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, AL_EFORMAT,
         "dtype is not a string");
  refuse("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, AL_EFORMAT, "missing dtype");
  refuse("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, AL_EFORMAT, "missing shape");
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, AL_EFORMAT, "missing data_offsets");
  refuse("{\"a\":[1]}", 4, AL_EFORMAT, "tensor 'a': entry is not an object");
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, AL_EFORMAT,
         "shape[0] is not a non-negative integer");
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, AL_EFORMAT,
         "shape[0] is not a non-negative integer");
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, AL_EFORMAT,
         "shape[0] is not a non-negative integer");
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[9007199254740993],\"data_offsets\":[0,4]}}", 4,
         AL_EFORMAT, "shape[0] is not a non-negative integer");
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4, AL_EFORMAT,
         "shape is not an array");
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[67108864,67108864,67108864],"
         "\"data_offsets\":[0,4]}}",
         4, AL_EFORMAT, "shape overflows");
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, AL_EFORMAT,
         "data_offsets is not an array of 2 integers");
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, AL_EFORMAT,
         "data_offsets are not non-negative integers");
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, AL_EFORMAT,
         "data_offsets end 0 < begin 4");
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"dtype\":\"F32\",\"data_offsets\":[0,4]}}",
         4, AL_EFORMAT, "tensor 'a': duplicate key 'dtype'");
  // 3000000000 is a valid integer (cJSON's valueint would clamp it); the mismatch is reported
  refuse("{\"a\":{\"dtype\":\"U8\",\"shape\":[3000000000],\"data_offsets\":[0,4]}}", 4,
         AL_EFORMAT, "give 3000000000 bytes but data_offsets [0, 4] hold 4");
}

Test(ckpt_st, shape_offset_mismatch_is_refused) {
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, AL_EFORMAT,
         "tensor 'a': shape and dtype give 8 bytes but data_offsets [0, 4] hold 4");
  refuse("{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16, AL_EFORMAT,
         "give 8 bytes");
}

Test(ckpt_st, overlapping_ranges_are_refused) {
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, AL_EFORMAT, "tensor 'b' [4, 12] overlaps tensor 'a' [0, 8]");
  // aliasing: two names for the same bytes
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
         8, AL_EFORMAT, "overlaps");
}

Test(ckpt_st, gaps_in_the_data_region_are_refused) {
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
         12, AL_EFORMAT, "gap in the data region: bytes [4, 8) before tensor 'b'");
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, AL_EFORMAT,
         "bytes [0, 4) before tensor 'a'");
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, AL_EFORMAT,
         "bytes [4, 8) after the last tensor");
  refuse("{}", 3, AL_EFORMAT, "bytes [0, 3) after the last tensor");
}

Test(ckpt_st, out_of_bounds_offsets_are_refused) {
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, AL_EFORMAT,
         "tensor 'a': data_offsets [0, 8] out of bounds (data region is 4 bytes)");
  refuse("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[9,9]}}", 0, AL_EFORMAT,
         "out of bounds");
}

Test(ckpt_st, duplicate_names_are_refused) {
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, AL_EFORMAT, "duplicate tensor name 'a'");
  // an escape spelling of the same name is the same name
  refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"\\u0061\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, AL_EFORMAT, "duplicate tensor name 'a'");
  refuse("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, AL_EFORMAT,
         "__metadata__: duplicate key 'k'");
}

Test(ckpt_st, non_string_metadata_is_refused) {
  refuse("{\"__metadata__\":{\"step\":3}}", 0, AL_EFORMAT,
         "__metadata__ value of 'step' is not a string");
  refuse("{\"__metadata__\":{\"o\":{\"x\":\"y\"}}}", 0, AL_EFORMAT, "is not a string");
  refuse("{\"__metadata__\":[\"a\"]}", 0, AL_EFORMAT, "__metadata__ is not an object");
}

Test(ckpt_st, huge_names_are_refused) {
  char *h = malloc(3000);
  strcpy(h, "{\"");
  memset(h + 2, 'n', 2000);
  strcpy(h + 2002, "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}");
  refuse(h, 0, AL_EFORMAT, "tensor name longer than 1024 bytes");
  free(h);
}

Test(ckpt_st, writer_refuses_what_the_reader_would_refuse) {
  float x = 1;
  uint64_t s[1] = {1};
  al_st_entry dup[2] = {{"a", AL_ST_F32, 1, s, &x}, {"a", AL_ST_F32, 1, s, &x}};
  unsigned char *b;
  size_t n;
  cr_assert_eq(al_st_serialize(&b, &n, dup, 2, NULL, 0), AL_EINVAL);
  cr_assert(strstr(al_errmsg(), "duplicate tensor name 'a'"), "%s", al_errmsg());
  al_st_entry res = {"__metadata__", AL_ST_F32, 1, s, &x};
  cr_assert_eq(al_st_serialize(&b, &n, &res, 1, NULL, 0), AL_EINVAL);
  cr_assert(strstr(al_errmsg(), "reserved"), "%s", al_errmsg());
  al_st_entry bad = {"a", (al_st_dtype)99, 1, s, &x};
  cr_assert_eq(al_st_serialize(&b, &n, &bad, 1, NULL, 0), AL_EINVAL);
  al_st_entry nodata = {"a", AL_ST_F32, 1, s, NULL};
  cr_assert_eq(al_st_serialize(&b, &n, &nodata, 1, NULL, 0), AL_EINVAL);
  al_st_entry badutf = {"\xff", AL_ST_F32, 1, s, &x};
  cr_assert_eq(al_st_serialize(&b, &n, &badutf, 1, NULL, 0), AL_EINVAL);
  const char *meta[] = {"k", "1", "k", "2"};
  cr_assert_eq(al_st_serialize(&b, &n, NULL, 0, meta, 2), AL_EINVAL);
  cr_assert(strstr(al_errmsg(), "duplicate metadata key 'k'"), "%s", al_errmsg());
}

Test(ckpt_st, dtype_table_knows_sizes) {
  cr_assert_eq(al_st_dtype_size(al_st_dtype_parse("F32")), 4);
  cr_assert_eq(al_st_dtype_size(al_st_dtype_parse("BF16")), 2);
  cr_assert_eq(al_st_dtype_size(al_st_dtype_parse("F16")), 2);
  cr_assert_eq(al_st_dtype_size(al_st_dtype_parse("F64")), 8);
  cr_assert_eq(al_st_dtype_size(al_st_dtype_parse("I64")), 8);
  cr_assert_eq(al_st_dtype_size(al_st_dtype_parse("I32")), 4);
  cr_assert_eq(al_st_dtype_size(al_st_dtype_parse("BOOL")), 1);
  cr_assert_eq(al_st_dtype_size(al_st_dtype_parse("F8_E4M3")), 1);
  cr_assert_eq(al_st_dtype_parse("f32"), AL_ST_NDTYPES);
  cr_assert_str_eq(al_st_dtype_name(AL_ST_U64), "U64");
  cr_assert_null(al_st_dtype_name(AL_ST_NDTYPES));
}

// ---- files ----

static int count_tmp_files(const char *dir) {
  DIR *d = opendir(dir);
  cr_assert_not_null(d);
  int k = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strstr(e->d_name, ".tmp.")) k++;
  closedir(d);
  return k;
}

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc(*n + 1);
  cr_assert_eq(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

Test(ckpt_st, file_write_then_read_round_trips) {
  char *dir = tu_tmpdir("st-rw");
  char path[4200];
  snprintf(path, sizeof path, "%s/t.safetensors", dir);
  float x[5] = {1, -2, 3.5f, 1e-30f, -0.0f};
  uint64_t s[1] = {5};
  al_st_entry e = {"x", AL_ST_F32, 1, s, x};
  const char *meta[] = {"format", "pt"};
  cr_assert_eq(al_st_write(path, &e, 1, meta, 1), AL_OK, "%s", al_errmsg());
  al_st_file *f;
  cr_assert_eq(al_st_read(&f, path), AL_OK, "%s", al_errmsg());
  float y[5];
  cr_assert_eq(al_st_copy(f, "x", AL_ST_F32, y, 5), AL_OK);
  cr_assert(memcmp(x, y, sizeof x) == 0);
  cr_assert_str_eq(al_st_meta(f, "format"), "pt");
  al_st_free(f);
  cr_assert_eq(count_tmp_files(dir), 0);
  free(dir);
}

Test(ckpt_st, reading_a_missing_file_names_it) {
  al_st_file *f;
  cr_assert_eq(al_st_read(&f, "/nonexistent/dir/m.safetensors"), AL_EIO);
  cr_assert(strstr(al_errmsg(), "/nonexistent/dir/m.safetensors: cannot open"), "%s",
            al_errmsg());
  cr_assert_null(f);
}

Test(ckpt_st, failed_write_leaves_old_file_intact_and_no_temporary) {
  char *dir = tu_tmpdir("st-fail");
  char path[4200];
  snprintf(path, sizeof path, "%s/t.safetensors", dir);
  float small[2] = {7, 8};
  uint64_t s2[1] = {2};
  al_st_entry e = {"x", AL_ST_F32, 1, s2, small};
  cr_assert_eq(al_st_write(path, &e, 1, NULL, 0), AL_OK, "%s", al_errmsg());
  size_t n0;
  char *before = slurp(path, &n0);
  // the filesystem refuses to grow any file past 4 KB: the new, bigger file cannot be written
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit rl = {4096, 4096};
  cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
  float *big = calloc(100000, sizeof(float));
  uint64_t sb[1] = {100000};
  al_st_entry eb = {"x", AL_ST_F32, 1, sb, big};
  al_status st = al_st_write(path, &eb, 1, NULL, 0);
  cr_assert_eq(st, AL_EIO);
  cr_assert(strstr(al_errmsg(), "write failed"), "%s", al_errmsg());
  cr_assert(strstr(al_errmsg(), path), "%s", al_errmsg());
  size_t n1;
  char *after = slurp(path, &n1);
  cr_assert_eq(n0, n1);
  cr_assert(memcmp(before, after, n0) == 0);
  cr_assert_eq(count_tmp_files(dir), 0);
  free(before);
  free(after);
  free(big);
  free(dir);
}

Test(ckpt_st, failed_rename_leaves_no_temporary) {
  char *dir = tu_tmpdir("st-ren");
  char path[4200], inner[4300];
  snprintf(path, sizeof path, "%s/occupied", dir);
  mkdir(path, 0755); // the target is a non-empty directory: rename must fail
  snprintf(inner, sizeof inner, "%s/keep", path);
  FILE *k = fopen(inner, "w");
  fputs("x", k);
  fclose(k);
  float x = 1;
  uint64_t s[1] = {1};
  al_st_entry e = {"x", AL_ST_F32, 1, s, &x};
  cr_assert_eq(al_st_write(path, &e, 1, NULL, 0), AL_EIO);
  cr_assert(strstr(al_errmsg(), "rename"), "%s", al_errmsg());
  cr_assert_eq(count_tmp_files(dir), 0);
  struct stat sb;
  cr_assert_eq(stat(inner, &sb), 0);
  // and a directory that does not exist cannot hold the temporary file
  snprintf(path, sizeof path, "%s/no/such/dir/t.safetensors", dir);
  cr_assert_eq(al_st_write(path, &e, 1, NULL, 0), AL_EIO);
  cr_assert(strstr(al_errmsg(), "cannot create temporary file"), "%s", al_errmsg());
  free(dir);
}
