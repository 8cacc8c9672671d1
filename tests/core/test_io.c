// Tests of core/io.c: atomic write, whole-file read, UTF-8 validation, JSON duplicate keys.
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "al_io.h"
#include "testutil.h"

static char *path_in(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  cr_assert(p);
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static void write_raw(const char *path, const char *s) {
  FILE *f = fopen(path, "wb");
  cr_assert(f);
  fputs(s, f);
  fclose(f);
}

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  cr_assert(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n;
}

Test(io, atomic_write_replaces_content_and_leaves_no_temporary) {
  char *dir = tu_tmpdir("io_atomic");
  char *p = path_in(dir, "f.txt");
  write_raw(p, "old content that is longer");
  al_io_chunk ch[3] = {{"hello", 5}, {NULL, 0}, {", world\n", 8}};
  cr_assert_eq(al_io_write_atomic(p, ch, 3, "test"), AL_OK, "%s", al_errmsg());
  char *buf;
  size_t n;
  cr_assert_eq(al_io_read_file(p, SIZE_MAX, NULL, &buf, &n), AL_OK, "%s", al_errmsg());
  cr_assert_eq(n, 13);
  cr_assert_str_eq(buf, "hello, world\n");
  cr_assert_eq(count_entries(dir), 1, "a temporary file was left behind");
  free(buf);
  free(p);
  free(dir);
}

Test(io, atomic_write_into_missing_directory_names_the_path) {
  al_io_chunk ch[1] = {{"x", 1}};
  const char *p = "/nonexistent-alignlab-dir/sub/f.json";
  cr_assert_eq(al_io_write_atomic(p, ch, 1, "tokenizer"), AL_EIO);
  cr_assert(strstr(al_errmsg(), "tokenizer /nonexistent-alignlab-dir/sub/f.json: "), "%s",
            al_errmsg());
  cr_assert(strstr(al_errmsg(), "cannot create temporary file"), "%s", al_errmsg());
  cr_assert_eq(al_io_write_atomic(p, ch, 1, NULL), AL_EIO);
  cr_assert(!strncmp(al_errmsg(), "/nonexistent-alignlab-dir/sub/f.json: ", 38), "%s", al_errmsg());
}

Test(io, read_missing_file_fails_with_cannot_open) {
  char *buf = (char *)1;
  size_t n = 7;
  cr_assert_eq(al_io_read_file("/nonexistent-alignlab/f", SIZE_MAX, "corpus", &buf, &n), AL_EIO);
  cr_assert_null(buf);
  cr_assert_eq(errno, ENOENT);
  cr_assert(strstr(al_errmsg(), "corpus /nonexistent-alignlab/f: cannot open: "), "%s", al_errmsg());
}

Test(io, read_over_cap_and_at_cap) {
  char *dir = tu_tmpdir("io_cap");
  char *p = path_in(dir, "big");
  write_raw(p, "0123456789");
  char *buf;
  size_t n;
  cr_assert_eq(al_io_read_file(p, 9, NULL, &buf, &n), AL_EFORMAT);
  cr_assert_null(buf);
  cr_assert(strstr(al_errmsg(), "big: larger than 9 bytes"), "%s", al_errmsg());
  cr_assert_eq(al_io_read_file(p, 10, NULL, &buf, &n), AL_OK, "%s", al_errmsg());
  cr_assert_eq(n, 10);
  cr_assert_eq(buf[10], '\0');
  free(buf);
  cr_assert_eq(al_io_read_file(dir, SIZE_MAX, NULL, &buf, &n), AL_EIO);
  cr_assert(strstr(al_errmsg(), "not a regular file"), "%s", al_errmsg());
  free(p);
  free(dir);
}

Test(io, read_empty_file) {
  char *dir = tu_tmpdir("io_empty");
  char *p = path_in(dir, "e");
  write_raw(p, "");
  char *buf;
  size_t n = 5;
  cr_assert_eq(al_io_read_file(p, 0, NULL, &buf, &n), AL_OK, "%s", al_errmsg());
  cr_assert_eq(n, 0);
  cr_assert_eq(buf[0], '\0');
  free(buf);
  free(p);
  free(dir);
}

static size_t u8(const char *s) { return al_io_utf8_check(s, strlen(s)); }

Test(io, utf8_accepts_valid_multibyte) {
  const char *ok[] = {"", "plain ascii", "caf\xc3\xa9", "\xe2\x82\xac euro", "\xed\x9f\xbf",
                      "\xee\x80\x80", "\xf0\x9f\x98\x80 emoji", "\xf4\x8f\xbf\xbf", "\xc2\x80"};
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
    cr_assert_eq(u8(ok[i]), strlen(ok[i]), "case %zu", i);
  cr_assert_eq(al_io_utf8_check("a\0b", 3), 3, "NUL bytes are valid");
}

Test(io, utf8_rejects_overlong_surrogate_truncated_and_out_of_range) {
  cr_assert_eq(u8("ab\xc0\xaf"), 2);          // overlong '/'
  cr_assert_eq(u8("\xc1\xbf"), 0);            // overlong
  cr_assert_eq(u8("x\xe0\x80\xaf"), 1);       // overlong 3-byte
  cr_assert_eq(u8("\xf0\x80\x80\xaf"), 0);    // overlong 4-byte
  cr_assert_eq(u8("ok\xed\xa0\x80"), 2);      // U+D800 surrogate
  cr_assert_eq(u8("\xed\xbf\xbf"), 0);        // U+DFFF surrogate
  cr_assert_eq(u8("\xf4\x90\x80\x80"), 0);    // above U+10FFFF
  cr_assert_eq(u8("\xf5\x80\x80\x80"), 0);    // never a lead byte
  cr_assert_eq(u8("abc\xe2\x82"), 3);         // truncated at the end
  cr_assert_eq(u8("\xf0\x9f\x98"), 0);        // truncated 4-byte
  cr_assert_eq(u8("\xc3(x"), 0);              // bad continuation
  cr_assert_eq(u8("\x80"), 0);                // lone continuation
}

static const char *dup_of(const char *json, int nested) {
  static char out[64];
  cJSON *o = cJSON_Parse(json);
  cr_assert(o, "%s", json);
  int nomem = 1;
  const char *d = al_io_json_dup_key(o, nested, &nomem);
  cr_assert_eq(nomem, 0);
  if (d) snprintf(out, sizeof out, "%s", d);
  cJSON_Delete(o);
  return d ? out : NULL;
}

Test(io, json_dup_key_top_level_in_document_order) {
  cr_assert_null(dup_of("{}", 0));
  cr_assert_null(dup_of("{\"a\":1,\"b\":2,\"A\":3}", 0));
  cr_assert_str_eq(dup_of("{\"a\":1,\"b\":2,\"a\":3}", 0), "a");
  // the key whose first occurrence comes first, not the smallest name
  cr_assert_str_eq(dup_of("{\"z\":1,\"b\":2,\"z\":3,\"b\":4}", 0), "z");
  // top level only: a nested duplicate is not looked at
  cr_assert_null(dup_of("{\"x\":{\"k\":1,\"k\":2}}", 0));
  cr_assert_null(dup_of("[{\"k\":1,\"k\":2}]", 0));
}

Test(io, json_dup_key_nested_depth_first) {
  cr_assert_str_eq(dup_of("{\"x\":{\"k\":1,\"k\":2}}", 1), "k");
  cr_assert_str_eq(dup_of("[1,{\"y\":[{\"q\":1,\"q\":1}]}]", 1), "q");
  // a child's inside is searched before the child's own key
  cr_assert_str_eq(dup_of("{\"a\":{\"in\":1,\"in\":2},\"a\":3}", 1), "in");
  cr_assert_str_eq(dup_of("{\"a\":1,\"b\":{\"in\":1,\"in\":2},\"a\":3}", 1), "a");
  cr_assert_null(dup_of("{\"a\":{\"a\":1},\"b\":[{\"a\":2},{\"a\":3}]}", 1));
  cr_assert_null(dup_of("\"scalar\"", 1));
}

// ---- fault injection: a full disk or a short write during an atomic write ----

static void faulted_write_keeps_old(long long budget, int err, const char *want) {
  char *dir = tu_tmpdir("io_fault");
  char *p = path_in(dir, "model.safetensors");
  write_raw(p, "previous checkpoint");
  static char big[70000];
  memset(big, 'x', sizeof big);
  al_io_chunk ch[2] = {{"header", 6}, {big, sizeof big}};
  al_io_fail_after(budget, err);
  al_status st = al_io_write_atomic(p, ch, 2, "checkpoint");
  al_io_fail_after(-1, 0);
  cr_assert_eq(st, AL_EIO, "budget %lld: the write must fail", budget);
  cr_assert(strstr(al_errmsg(), "checkpoint ") && strstr(al_errmsg(), p), "names the file: %s",
            al_errmsg());
  cr_assert(strstr(al_errmsg(), want), "says why (%s): %s", want, al_errmsg());
  char *buf;
  size_t n;
  cr_assert_eq(al_io_read_file(p, SIZE_MAX, NULL, &buf, &n), AL_OK, "%s", al_errmsg());
  cr_assert_str_eq(buf, "previous checkpoint", "the previous file is intact");
  cr_assert_eq(count_entries(dir), 1, "the temporary file was removed");
  free(buf);
  // disarmed: the same write now succeeds
  cr_assert_eq(al_io_write_atomic(p, ch, 2, "checkpoint"), AL_OK, "%s", al_errmsg());
  cr_assert_eq(al_io_read_file(p, SIZE_MAX, NULL, &buf, &n), AL_OK, "%s", al_errmsg());
  cr_assert_eq(n, 6 + sizeof big);
  free(buf);
  free(p);
  free(dir);
}

Test(io, enospc_at_the_first_byte_keeps_the_previous_file) {
  faulted_write_keeps_old(0, ENOSPC, "write failed after 0 of 6 bytes: No space left on device");
}

Test(io, short_write_in_the_middle_keeps_the_previous_file) {
  faulted_write_keeps_old(6 + 1234, EIO, "write failed after 1234 of 70000 bytes: Input/output error");
}

Test(io, enospc_on_the_last_byte_keeps_the_previous_file) {
  faulted_write_keeps_old(6 + 69999, 0, "after 69999 of 70000 bytes: No space left on device");
}

Test(io, fault_budget_spans_several_writes) {
  char *dir = tu_tmpdir("io_fault2");
  char *a = path_in(dir, "a"), *b = path_in(dir, "b");
  al_io_chunk ch[1] = {{"0123456789", 10}};
  al_io_fail_after(15, ENOSPC);
  cr_assert_eq(al_io_write_atomic(a, ch, 1, NULL), AL_OK, "%s", al_errmsg());
  cr_assert_eq(al_io_write_atomic(b, ch, 1, NULL), AL_EIO, "the second write crosses the budget");
  cr_assert(strstr(al_errmsg(), "after 5 of 10 bytes"), "%s", al_errmsg());
  cr_assert_eq(al_io_write_atomic(b, ch, 1, NULL), AL_EIO, "and so does every later one");
  al_io_fail_after(-1, 0);
  cr_assert_eq(count_entries(dir), 1, "only a exists");
  free(a);
  free(b);
  free(dir);
}

// ---- bounded lines and JSON depth ----

Test(io, getline_refuses_a_line_over_the_cap_without_storing_it) {
  static const char text[] = "short\nexactly8\n0123456789abcdef\nlast";
  FILE *f = fmemopen((void *)text, sizeof text - 1, "rb");
  cr_assert(f);
  char *line = NULL;
  size_t cap = 0, n = 0;
  cr_assert_eq(al_io_getline(f, 9, &line, &cap, &n), 1);
  cr_assert_eq(n, 6);
  cr_assert_str_eq(line, "short\n");
  cr_assert_eq(al_io_getline(f, 9, &line, &cap, &n), 1, "9 bytes with the newline: at the cap");
  cr_assert_str_eq(line, "exactly8\n");
  cr_assert_eq(al_io_getline(f, 9, &line, &cap, &n), -1, "17 bytes: refused");
  cr_assert_leq(cap, 11, "no more than cap + 2 bytes were allocated (%zu)", cap);
  fclose(f);
  f = fmemopen((void *)text, sizeof text - 1, "rb");
  int r, k = 0;
  while ((r = al_io_getline(f, 100, &line, &cap, &n)) > 0) k++;
  cr_assert_eq(r, 0);
  cr_assert_eq(k, 4);
  cr_assert_str_eq(line, "last", "the last line has no newline");
  fclose(f);
  free(line);
}

Test(io, json_depth_scan_ignores_brackets_in_strings) {
  const char *a = "{\"a\":[[1]],\"s\":\"[[[[\\\"[[\"}";
  cr_assert_eq(al_io_json_too_deep(a, strlen(a), 3), strlen(a));
  cr_assert_eq(al_io_json_too_deep(a, strlen(a), 2), 6, "the third bracket is at byte 6");
  char deep[2001];
  memset(deep, '[', 1000);
  memset(deep + 1000, ']', 1000);
  deep[2000] = '\0';
  cr_assert_eq(al_io_json_too_deep(deep, 2000, 1000), 2000);
  cr_assert_eq(al_io_json_too_deep(deep, 2000, 999), 999);
}
