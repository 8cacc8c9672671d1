// alignlab core: status codes, error messages, allocation helpers and the RNG.
// Everything else in core/ builds on this file. No Lua, no exit(), no longjmp.
#ifndef AL_BASE_H
#define AL_BASE_H

#include <stddef.h>
#include <stdint.h>

#define AL_VERSION "0.1.0"

typedef enum {
  AL_OK = 0,
  AL_ENOMEM,     // allocation failed
  AL_EIO,        // file could not be opened, read, written or renamed
  AL_EFORMAT,    // a file or string is malformed
  AL_ESHAPE,     // dimensions do not agree
  AL_EINVAL,     // an argument is out of its domain
  AL_ENONFINITE, // a loss or gradient is NaN or Inf
  AL_EINTR       // interrupted by the user
} al_status;

// Record an error message (printf-style) for the calling thread and return `s`.
// Boundary functions do `return al_seterr(AL_EIO, "checkpoint %s: %s", path, why);`.
al_status al_seterr(al_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
// The last message set on this thread ("" when none).
const char *al_errmsg(void);
void al_clearerr(void);
// A short name for a status ("AL_EFORMAT").
const char *al_status_name(al_status s);

// malloc/calloc with overflow-checked counts; NULL on failure (the caller sets the error).
void *al_calloc(size_t n, size_t size);
void *al_malloc(size_t n, size_t size);
// 64-byte aligned float array of n zeros, freed with al_free_aligned; NULL on failure.
float *al_falloc(size_t n);
void al_ffree(float *p);

// ---- RNG: xoshiro256** seeded through splitmix64 ----
// One generator per stream (init, data order, sampling, ...). Two generators seeded with the same
// seed and different `stream` numbers are independent. The whole state is `s`: copying the struct
// saves it, assigning it back restores it; checkpoints store s[0..3].
typedef struct {
  uint64_t s[4];
} al_rng;

void al_rng_seed(al_rng *r, uint64_t seed, uint64_t stream);
uint64_t al_rng_u64(al_rng *r);
// Uniform integer in [0, n), unbiased (n >= 1).
uint64_t al_rng_int(al_rng *r, uint64_t n);
// Uniform double in [0, 1) with 53 random bits.
double al_rng_uniform(al_rng *r);
// Standard normal (Box-Muller; draws two uniforms, no cached second value so the state is s only).
double al_rng_normal(al_rng *r);
// Fisher-Yates shuffle of n ints.
void al_rng_shuffle(al_rng *r, int *a, int n);

#endif
