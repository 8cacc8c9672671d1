// Shared helpers for the Criterion tests of core/.
#ifndef AL_TESTUTIL_H
#define AL_TESTUTIL_H
#include <stddef.h>
#include <stdint.h>

// Fill with N(0, scale^2) values from a seeded stream.
void tu_fill_normal(float *x, size_t n, uint64_t seed, float scale);
void tu_fill_normal_d(double *x, size_t n, uint64_t seed, double scale);
// max |a-b| / max(1, |b|) over n elements
double tu_max_rel_err(const float *a, const float *b, size_t n);
double tu_max_rel_err_fd(const float *a, const double *b, size_t n);
// Zeroed arrays of n floats / doubles (at least one element); a failed allocation fails the
// running Criterion test. Caller frees.
float *tu_fnew(size_t n);
double *tu_dnew(size_t n);
// tu_fnew(n) filled by tu_fill_normal(x, n, seed, scale). Caller frees.
float *tu_frand(size_t n, uint64_t seed, float scale);
// Path to a fresh temporary directory under the build tree (created); caller frees.
char *tu_tmpdir(const char *tag);
#endif
