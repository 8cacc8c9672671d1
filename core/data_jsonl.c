// alignlab core: datasets from JSONL: one line is checked (UTF-8, \u0000, strict JSON, duplicate
// keys at any depth) and handed to al_data_add (data.c) under the strict / skip policy.
// Layering: calls data.c through al_data.h and io.c; data.c never calls this file.
#include "al_io.h"
#include "data_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// 1 when a JSON string escape \u0000 occurs (cJSON would cut the string there).
static int has_nul_escape(const char *s, size_t n) {
  for (size_t i = 0; i + 1 < n; i++) {
    if (s[i] != '\\') continue;
    if (s[i + 1] == 'u' && i + 5 < n && memcmp(s + i + 2, "0000", 4) == 0) return 1;
    i++; // skip the escaped character
  }
  return 0;
}

// A line refused for `why`: counted, then an error (strict) or skipped with the first message kept.
static al_status bad_line(al_dataset *d, const char *src, long line, const char *why) {
  d->st.lines++;
  al_status st = al_seterr(AL_EFORMAT, "%s:%ld: %s", src, line, why);
  if (d->o.strict) return st;
  if (!d->st.first_error[0]) snprintf(d->st.first_error, sizeof d->st.first_error, "%s", al_errmsg());
  d->st.skipped++;
  return AL_OK;
}

al_status al_data_add_line(al_dataset *d, const char *s, size_t n, const char *src, long line) {
  const char *why = NULL;
  char whybuf[128];
  size_t deep;
  size_t k = 0;
  while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r')) k++;
  size_t bad = al_io_utf8_check(s, n);
  if (k == n) why = "empty line";
  else if (bad < n) {
    snprintf(whybuf, sizeof whybuf, "invalid UTF-8 at byte %zu", bad + 1);
    why = whybuf;
  } else if (has_nul_escape(s, n))
    why = "\\u0000 in a string is not supported";
  else if ((deep = al_io_json_too_deep(s, n, AL_IO_JSON_DEPTH)) < n) {
    snprintf(whybuf, sizeof whybuf, "JSON nested deeper than %d levels at byte %zu", AL_IO_JSON_DEPTH,
             deep + 1);
    why = whybuf;
  }
  if (why) return bad_line(d, src, line, why);
  char *buf = malloc(n + 1);
  if (!buf) return al_seterr(AL_ENOMEM, "%s:%ld: out of memory", src, line);
  memcpy(buf, s, n);
  buf[n] = '\0';
  const char *end = NULL;
  cJSON *o = cJSON_ParseWithLengthOpts(buf, n, &end, 0);
  if (!o) why = "invalid JSON";
  else {
    for (const char *p = end; p && p < buf + n && !why; p++)
      if (*p != ' ' && *p != '\t' && *p != '\r') why = "trailing data after the JSON value";
    int nomem = 0;
    const char *dk = why ? NULL : al_io_json_dup_key(o, 1, &nomem);
    if (nomem) {
      cJSON_Delete(o);
      free(buf);
      return al_seterr(AL_ENOMEM, "%s:%ld: out of memory", src, line);
    }
    if (dk) {
      snprintf(whybuf, sizeof whybuf, "duplicate key '%.64s'", dk);
      why = whybuf;
    }
  }
  al_status st = why ? bad_line(d, src, line, why) : al_data_add(d, o, src, line);
  cJSON_Delete(o);
  free(buf);
  return st;
}

al_status al_data_add_jsonl(al_dataset *d, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return al_seterr(AL_EIO, "%s: cannot open: %s", path, strerror(errno));
  char *line = NULL;
  size_t cap = 0;
  long no = 0;
  al_status st = AL_OK;
  int r;
  size_t n = 0;
  while ((r = al_io_getline(f, AL_IO_LINE_MAX, &line, &cap, &n)) > 0) {
    no++;
    if (n > 0 && line[n - 1] == '\n') n--;
    if (n > 0 && line[n - 1] == '\r') n--;
    if ((st = al_data_add_line(d, line, n, path, no)) != AL_OK) break;
  }
  if (st == AL_OK && r == -1)
    st = al_seterr(AL_EFORMAT, "%s:%ld: line longer than %zu bytes (refused before reading it all)",
                   path, no + 1, AL_IO_LINE_MAX);
  else if (st == AL_OK && r == -2)
    st = al_seterr(AL_EIO, "%s: read error or out of memory after line %ld", path, no);
  free(line);
  fclose(f);
  return st;
}
