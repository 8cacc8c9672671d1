// alignlab core: atomic writes, whole-file reads, UTF-8 validation and the JSON duplicate-key
// check (contracts in al_io.h). Layering: calls al_base.h and libc/cJSON only; the file-format
// modules (safetensors*.c, ckpt.c, tok*.c, data*.c) call it, never the other way round.
#include "al_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// "<what> <path>" or "<path>" in messages
#define WHO(what) (what) ? (what) : "", (what) ? " " : ""

// ---- atomic write ----

static atomic_uint tmp_counter;

// The fault hook (al_io_fail_after): bytes the writer may still write before it fails with
// fail_errno; -1 when disarmed (the default: the writer then never consults it).
static long long fail_budget = -1;
static int fail_errno = 0;

void al_io_fail_after(long long bytes, int err) {
  fail_budget = bytes < 0 ? -1 : bytes;
  fail_errno = err ? err : ENOSPC;
}

// fwrite n bytes, or fewer when the fault hook's budget runs out (then errno is its errno and
// the return is short, as a real full disk makes it)
static size_t write_some(const void *data, size_t n, FILE *fp) {
  if (fail_budget < 0) return fwrite(data, 1, n, fp);
  size_t allow = (unsigned long long)fail_budget < n ? (size_t)fail_budget : n;
  size_t w = allow ? fwrite(data, 1, allow, fp) : 0;
  fail_budget -= (long long)w;
  if (w < n) errno = fail_errno;
  return w;
}

al_status al_io_write_atomic(const char *path, const al_io_chunk *chunks, int nchunks,
                             const char *what) {
  al_status st = AL_OK;
  char *tmp = NULL, *dir = NULL;
  FILE *fp = NULL;
  int created = 0;
  size_t plen = strlen(path);
  tmp = malloc(plen + 64);
  dir = malloc(plen + 2);
  if (!tmp || !dir) { st = al_seterr(AL_ENOMEM, "%s%s%s: out of memory", WHO(what), path); goto cleanup; }
  snprintf(tmp, plen + 64, "%s.tmp.%ld.%u", path, (long)getpid(),
           atomic_fetch_add(&tmp_counter, 1u));
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    st = al_seterr(AL_EIO, "%s%s%s: cannot create temporary file %s: %s", WHO(what), path, tmp,
                   strerror(errno));
    goto cleanup;
  }
  created = 1;
  fp = fdopen(fd, "wb");
  if (!fp) {
    close(fd);
    st = al_seterr(AL_EIO, "%s%s%s: fdopen failed: %s", WHO(what), path, strerror(errno));
    goto cleanup;
  }
  for (int i = 0; i < nchunks; i++)
    if (chunks[i].n) {
      size_t w = write_some(chunks[i].data, chunks[i].n, fp);
      if (w != chunks[i].n) {
        st = al_seterr(AL_EIO, "%s%s%s: write failed after %zu of %zu bytes: %s", WHO(what), path,
                       w, chunks[i].n, strerror(errno));
        goto cleanup;
      }
    }
  if (fflush(fp) != 0) {
    st = al_seterr(AL_EIO, "%s%s%s: write failed: %s", WHO(what), path, strerror(errno));
    goto cleanup;
  }
  if (fsync(fileno(fp)) != 0) {
    st = al_seterr(AL_EIO, "%s%s%s: fsync failed: %s", WHO(what), path, strerror(errno));
    goto cleanup;
  }
  int rc = fclose(fp);
  fp = NULL;
  if (rc != 0) {
    st = al_seterr(AL_EIO, "%s%s%s: close failed: %s", WHO(what), path, strerror(errno));
    goto cleanup;
  }
  if (rename(tmp, path) != 0) {
    st = al_seterr(AL_EIO, "%s%s%s: rename from %s failed: %s", WHO(what), path, tmp,
                   strerror(errno));
    goto cleanup;
  }
  created = 0;
  // make the rename durable: fsync the directory (some filesystems refuse; that is not fatal)
  memcpy(dir, path, plen + 1);
  char *slash = strrchr(dir, '/');
  if (!slash) strcpy(dir, ".");
  else if (slash == dir) dir[1] = '\0';
  else *slash = '\0';
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    if (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS)
      st = al_seterr(AL_EIO, "%s%s%s: fsync of directory %s failed: %s", WHO(what), path, dir,
                     strerror(errno));
    close(dfd);
  }
cleanup:
  if (fp) fclose(fp);
  if (created) unlink(tmp);
  free(tmp);
  free(dir);
  return st;
}

// ---- whole-file read ----

al_status al_io_read_file(const char *path, size_t cap, const char *what, char **out, size_t *n) {
  *out = NULL;
  *n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    al_status st = al_seterr(AL_EIO, "%s%s%s: cannot open: %s", WHO(what), path, strerror(e));
    errno = e;
    return st;
  }
  al_status st = AL_OK;
  char *buf = NULL;
  size_t len = 0, bcap = 65536;
  struct stat sb;
  if (fstat(fileno(f), &sb) == 0) {
    if (S_ISDIR(sb.st_mode)) {
      st = al_seterr(AL_EIO, "%s%s%s: not a regular file", WHO(what), path);
      goto cleanup;
    }
    // a regular file: one allocation of its size (+1 to see the end, +1 for the NUL)
    if (S_ISREG(sb.st_mode) && sb.st_size >= 0 && (uintmax_t)sb.st_size < SIZE_MAX - 2)
      bcap = (size_t)sb.st_size + 1;
  }
  for (;;) {
    if (len == bcap || !buf) {
      if (buf) bcap = bcap > SIZE_MAX / 2 ? SIZE_MAX - 1 : bcap * 2;
      char *b = realloc(buf, bcap + 1);
      if (!b) { st = al_seterr(AL_ENOMEM, "%s%s%s: out of memory", WHO(what), path); goto cleanup; }
      buf = b;
    }
    size_t r = fread(buf + len, 1, bcap - len, f);
    len += r;
    if (len > cap) {
      st = al_seterr(AL_EFORMAT, "%s%s%s: larger than %zu bytes", WHO(what), path, cap);
      goto cleanup;
    }
    if (r == 0) break;
  }
  if (ferror(f)) { st = al_seterr(AL_EIO, "%s%s%s: read error", WHO(what), path); goto cleanup; }
  buf[len] = '\0';
  *out = buf;
  *n = len;
  buf = NULL;
cleanup:
  free(buf);
  fclose(f);
  return st;
}

// ---- bounded lines, JSON depth ----

int al_io_getline(FILE *f, size_t max, char **line, size_t *cap, size_t *n) {
  size_t k = 0;
  int c = EOF;
  for (;;) {
    c = getc(f);
    if (c == EOF) break;
    if (k + 2 > *cap) {
      size_t nc = *cap ? *cap * 2 : 256;
      if (nc > max + 2) nc = max + 2;
      if (nc < k + 2) return -1;
      char *b = realloc(*line, nc);
      if (!b) return -2;
      *line = b;
      *cap = nc;
    }
    (*line)[k++] = (char)c;
    if (c == '\n') break;
    if (k > max) return -1;
  }
  if (c == EOF && ferror(f)) return -2;
  if (k == 0 && c == EOF) return 0;
  if (k > max) return -1;
  (*line)[k] = '\0';
  *n = k;
  return 1;
}

size_t al_io_json_too_deep(const char *s, size_t n, int limit) {
  int depth = 0, in_str = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (in_str) {
      if (c == '\\') i++;
      else if (c == '"') in_str = 0;
    } else if (c == '"') in_str = 1;
    else if (c == '[' || c == '{') {
      if (++depth > limit) return i;
    } else if (c == ']' || c == '}') depth--;
  }
  return n;
}

// ---- UTF-8 ----

size_t al_io_utf8_check(const void *p, size_t n) {
  const unsigned char *s = p;
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) { i++; continue; }
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) len = 3;
    else if (c == 0xED) { len = 3; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) len = 3;
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) { len = 4; hi = 0x8F; }
    else return i;
    if (n - i < len) return i;
    if (s[i + 1] < lo || s[i + 1] > hi) return i;
    for (size_t k = 2; k < len; k++)
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
    i += len;
  }
  return n;
}

// ---- JSON duplicate keys ----

typedef struct {
  const char *key;
  size_t idx;
} kent;

static int cmp_kent(const void *a, const void *b) {
  const kent *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  if (c) return c;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

// later[i] = 1 when child i of object o has a later sibling with the same key. 0 ok, -1 ENOMEM.
static int mark_later(const cJSON *o, size_t n, unsigned char *later) {
  kent *k = al_malloc(n, sizeof *k);
  if (!k) return -1;
  size_t i = 0;
  for (const cJSON *c = o->child; c; c = c->next, i++) k[i] = (kent){c->string ? c->string : "", i};
  qsort(k, n, sizeof *k, cmp_kent);
  for (i = 0; i + 1 < n; i++)
    if (strcmp(k[i].key, k[i + 1].key) == 0) later[k[i].idx] = 1;
  free(k);
  return 0;
}

const char *al_io_json_dup_key(const cJSON *o, int nested, int *nomem) {
  *nomem = 0;
  size_t n = 0;
  for (const cJSON *c = o->child; c; c = c->next) n++;
  unsigned char *later = NULL;
  if (cJSON_IsObject(o) && n >= 2) {
    later = al_calloc(n, 1);
    if (!later || mark_later(o, n, later) < 0) {
      free(later);
      *nomem = 1;
      return NULL;
    }
  }
  const char *dup = NULL;
  size_t i = 0;
  for (const cJSON *c = o->child; c && !dup && !*nomem; c = c->next, i++) {
    if (nested && (cJSON_IsObject(c) || cJSON_IsArray(c))) dup = al_io_json_dup_key(c, 1, nomem);
    if (!dup && !*nomem && later && later[i]) dup = c->string ? c->string : "";
  }
  free(later);
  return *nomem ? NULL : dup;
}

// ---- JSON documents (config.json, training-state metadata) ----

// The shortest decimal that reads back as the same float, as a double (1e-5f -> 1e-05, not
// 9.99999974737875e-06), so config.json looks like Hugging Face's.
double al_io_json_float(float x) {
  char buf[64];
  for (int prec = 1; prec <= 9; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, (double)x);
    if (strtof(buf, NULL) == x) break;
  }
  return strtod(buf, NULL);
}

// Parse a whole JSON text (n bytes) strictly: NUL-terminated copy, nothing but whitespace after
// the value, top-level duplicate keys refused. *out NULL on failure (message names `what`).
al_status al_io_json_object(cJSON **out, const char *text, size_t n, const char *what) {
  *out = NULL;
  char *buf = malloc(n + 1);
  if (!buf) return al_seterr(AL_ENOMEM, "%s: out of memory", what);
  memcpy(buf, text, n);
  buf[n] = '\0';
  if (strlen(buf) != n) {
    free(buf);
    return al_seterr(AL_EFORMAT, "%s: contains a NUL byte", what);
  }
  size_t deep = al_io_json_too_deep(buf, n, AL_IO_JSON_DEPTH);
  if (deep < n) {
    free(buf);
    return al_seterr(AL_EFORMAT, "%s: JSON nested deeper than %d levels at byte %zu", what,
                     AL_IO_JSON_DEPTH, deep);
  }
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithLengthOpts(buf, n, &end, 0);
  al_status st = AL_OK;
  if (!j) {
    size_t at = (end && end >= buf && end <= buf + n) ? (size_t)(end - buf) : 0;
    st = al_seterr(AL_EFORMAT, "%s: not valid JSON (near byte %zu)", what, at);
    goto cleanup;
  }
  for (const char *p = end; p < buf + n; p++)
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
      st = al_seterr(AL_EFORMAT, "%s: not valid JSON: trailing bytes at byte %zu", what,
                     (size_t)(p - buf));
      goto cleanup;
    }
  if (!cJSON_IsObject(j)) {
    st = al_seterr(AL_EFORMAT, "%s: not a JSON object", what);
    goto cleanup;
  }
  int nomem;
  const char *d = al_io_json_dup_key(j, 0, &nomem);
  if (nomem) { st = al_seterr(AL_ENOMEM, "%s: out of memory", what); goto cleanup; }
  if (d) { st = al_seterr(AL_EFORMAT, "%s: duplicate key '%s'", what, d); goto cleanup; }
  *out = j;
  j = NULL;
cleanup:
  cJSON_Delete(j);
  free(buf);
  return st;
}
