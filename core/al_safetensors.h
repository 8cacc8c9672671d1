// alignlab core: a generic safetensors reader and writer (format: huggingface/safetensors
// README; checks: ../shared/ecosystem.md 1.3). A file is an 8-byte little-endian header length
// N, N bytes of JSON header (padded with spaces), then the tensor bytes.
// The reader copies the whole file into a private buffer and validates everything before it
// returns: sizes, UTF-8, JSON shape, duplicate keys, dtypes, integer fields, shapes against
// byte ranges, ranges sorted, disjoint and covering the data region exactly. It never trusts an
// offset it has not checked, and never casts a pointer into the file: tensor data is copied out
// with memcpy (al_st_read_f32 and friends) so unaligned files are fine.
// The writer emits compact JSON, `__metadata__` first, tensors sorted by dtype alignment
// (largest first) then name (so a single-dtype file is in plain name order, and every tensor is
// naturally aligned), offsets packed from 0, header padded with spaces to a multiple of 8.
// Files are written atomically (temporary file in the same directory, fsync, rename, fsync of
// the directory).
// Not here: what the tensors mean (core/ckpt.c), mmap, sharded checkpoints, big-endian hosts.
#ifndef AL_SAFETENSORS_H
#define AL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "al_base.h"

// Limits of the reader (the writer refuses to produce what the reader would refuse).
#define AL_ST_MAX_HEADER 100000000ULL // bytes of JSON header (reference MAX_HEADER_SIZE)
#define AL_ST_MAX_NAME 1024           // bytes in a tensor name or metadata key
#define AL_ST_MAX_TENSORS 1000000
#define AL_ST_MAX_DIM 16 // rank limit

// The dtypes of the format, in increasing alignment order (as the reference's Dtype enum).
typedef enum {
  AL_ST_BOOL, AL_ST_U8, AL_ST_I8, AL_ST_F8_E5M2, AL_ST_F8_E4M3, AL_ST_I16, AL_ST_U16,
  AL_ST_F16, AL_ST_BF16, AL_ST_I32, AL_ST_U32, AL_ST_F32, AL_ST_F64, AL_ST_I64, AL_ST_U64,
  AL_ST_NDTYPES
} al_st_dtype;

// "F32" etc.; NULL for an out-of-range value.
const char *al_st_dtype_name(al_st_dtype d);
// Bytes per element (1, 2, 4 or 8); 0 for an out-of-range value.
size_t al_st_dtype_size(al_st_dtype d);
// Parse a dtype name; returns AL_ST_NDTYPES when unknown.
al_st_dtype al_st_dtype_parse(const char *s);

typedef struct {
  char *name;
  al_st_dtype dtype;
  int ndim;
  uint64_t shape[AL_ST_MAX_DIM];
  uint64_t nelem;       // product of shape (1 for rank 0)
  size_t begin, end;    // byte range relative to the start of the data region
  const unsigned char *data; // file buffer + data start + begin (unaligned; read with memcpy)
} al_st_tensor;

typedef struct {
  char *path;           // for messages ("<memory>" when parsed from a buffer)
  unsigned char *buf;   // the whole file (private copy)
  size_t size;
  size_t data_start;    // 8 + N
  int ntensors;
  al_st_tensor *tensors; // sorted by name
  int nmeta;
  char **meta_keys, **meta_vals; // __metadata__, in file order
} al_st_file;

// Parse and validate a safetensors image of n bytes (copied; the caller keeps `data`). `what`
// names the source in error messages (a path; NULL gives "<memory>"). Caller owns *out
// (al_st_free). AL_EFORMAT with a message naming `what` and the problem when invalid.
al_status al_st_parse(al_st_file **out, const void *data, size_t n, const char *what);
// Read and validate the file at `path`. AL_EIO when it cannot be read, AL_EFORMAT when invalid.
al_status al_st_read(al_st_file **out, const char *path);
void al_st_free(al_st_file *f);

// The tensor called `name`, or NULL (binary search).
const al_st_tensor *al_st_find(const al_st_file *f, const char *name);
// The __metadata__ value for `key`, or NULL.
const char *al_st_meta(const al_st_file *f, const char *key);
// Copy tensor `name` into dst, which holds exactly n elements of dtype `dt`. AL_EFORMAT naming
// the file and tensor when it is missing, has another dtype, or another element count.
al_status al_st_copy(const al_st_file *f, const char *name, al_st_dtype dt, void *dst, size_t n);

// ---- writing ----
typedef struct {
  const char *name;
  al_st_dtype dtype;
  int ndim;                 // 0..AL_ST_MAX_DIM
  const uint64_t *shape;    // ndim entries (may be NULL when ndim == 0)
  const void *data;         // nelem * dtype size bytes, little-endian
} al_st_entry;

// Serialize n tensors and nmeta metadata pairs (meta[2i] key, meta[2i+1] value; nmeta 0 writes
// no __metadata__) into a malloc'd buffer (*out, *outn). AL_EINVAL for duplicate or reserved
// names, unknown dtypes, shape overflows, NULL data for a non-empty tensor.
al_status al_st_serialize(unsigned char **out, size_t *outn, const al_st_entry *ts, int n,
                          const char *const *meta, int nmeta);
// Serialize and write atomically to `path` (see al_io_write_atomic in al_io.h).
al_status al_st_write(const char *path, const al_st_entry *ts, int n, const char *const *meta,
                      int nmeta);

#endif
