// alignlab core: file and text primitives every file-format module shares: atomic writes, whole-
// file reads, UTF-8 validation and the JSON duplicate-key check. Built on al_base.h only; what a
// file means (safetensors, checkpoints, tokenizers, datasets) is the caller's business.
#ifndef AL_IO_H
#define AL_IO_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

#include "al_base.h"

// One piece of a file to write: n bytes at data (data may be NULL when n is 0).
typedef struct {
  const void *data;
  size_t n;
} al_io_chunk;

// Write the chunks, in order, to `path` atomically: a new temporary file in the same directory
// ("<path>.tmp.<pid>.<counter>", O_EXCL), fwrite, fflush, fsync, close, rename over `path`, then
// fsync of the directory (EINVAL/EROFS from that last fsync are ignored). On any failure the
// temporary file is removed, `path` is untouched and an AL_ENOMEM or AL_EIO message is set that
// starts "<what> <path>: " (or "<path>: " when what is NULL) and says which step failed
// ("cannot create temporary file <tmp>: ...", "write failed after <w> of <n> bytes: ...",
// "fsync failed: ...", "close failed: ...", "rename from <tmp> failed: ...", "fsync of directory <dir> failed: ...").
al_status al_io_write_atomic(const char *path, const al_io_chunk *chunks, int nchunks,
                             const char *what);

// Fault injection, for tests (inert until called): from now on al_io_write_atomic may write
// `bytes` more bytes in total, over all its calls; the write that would cross that budget writes
// what is left of it (a short write) and fails with errno `err` (0 means ENOSPC), as a full disk
// does, and so does every write after it. bytes < 0 disarms the hook. Not thread-safe.
void al_io_fail_after(long long bytes, int err);

// Read the whole file at `path` into *out (malloc'd, owned by the caller, with a NUL byte after
// the *n bytes read, which the data may also contain). At most `cap` bytes are accepted (SIZE_MAX
// for no limit). On failure *out is NULL and the message starts "<what> <path>: " (or
// "<path>: "): AL_EIO "cannot open: <strerror>", "not a regular file" (a directory), "read error";
// AL_EFORMAT "larger than <cap> bytes"; AL_ENOMEM "out of memory". errno is kept from the failed
// open, so a caller may add a hint.
al_status al_io_read_file(const char *path, size_t cap, const char *what, char **out, size_t *n);

// The longest line the JSONL readers accept (16 MiB): a longer one is refused before more of it
// is stored, with an error naming the file and line.
#define AL_IO_LINE_MAX ((size_t)1 << 24)
// The deepest nesting of arrays and objects the JSON readers accept (cJSON's own limit).
#define AL_IO_JSON_DEPTH 1000

// Read one line of f (its '\n' kept) into *line, grown as needed (caller frees; *cap is its
// size, as for getline(3)). Returns 1 with *n bytes read, 0 at the end of the file, -1 when the
// line is longer than `max` bytes (at most max + 1 bytes were stored; the rest is not read),
// -2 when out of memory or on a read error.
int al_io_getline(FILE *f, size_t max, char **line, size_t *cap, size_t *n);

// The offset of the bracket where JSON text s[0..n) first nests deeper than `limit` arrays and
// objects (brackets inside strings do not count), or n when it never does. Parsers call it
// first so that JSON nested 100,000 deep gets a message saying so.
size_t al_io_json_too_deep(const char *s, size_t n, int limit);

// The offset of the first byte of s[0..n) that does not start a valid UTF-8 sequence (RFC 3629:
// no overlong forms, no surrogates U+D800..U+DFFF, nothing above U+10FFFF, no sequence cut by
// the end), or n when all of it is valid. NUL bytes are valid.
size_t al_io_utf8_check(const void *s, size_t n);

// The first duplicated key of JSON object or array `o` (cJSON keeps both copies and
// GetObjectItem returns the first), or NULL when none. Keys are compared byte for byte. Children
// are visited in document order; a key is reported at its first occurrence. With nested != 0 the
// search also descends into every object and array value, depth first, a child's inside before
// the child's own key. *nomem is set to 1 on allocation failure (then NULL is returned), else 0.
const char *al_io_json_dup_key(const cJSON *o, int nested, int *nomem);

// The shortest decimal that reads back as the same float, as a double (1e-5f -> 1e-05, not
// 9.99999974737875e-06), so a JSON file written from floats looks like Hugging Face's.
double al_io_json_float(float x);

// Parse a whole JSON text (n bytes) as one object, strictly: no NUL byte, nesting within
// AL_IO_JSON_DEPTH, nothing but whitespace after the value, no duplicate top-level key. *out is
// the object (the caller deletes it) or NULL on failure, with a message starting "<what>: ".
al_status al_io_json_object(cJSON **out, const char *text, size_t n, const char *what);

#endif
