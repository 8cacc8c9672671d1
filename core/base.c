// alignlab core: error messages (thread-local), checked allocation, xoshiro256** RNG.
#include "al_base.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char errbuf[1024];

al_status al_seterr(al_status s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, sizeof errbuf, fmt, ap);
  va_end(ap);
  return s;
}

const char *al_errmsg(void) { return errbuf; }
void al_clearerr(void) { errbuf[0] = '\0'; }

const char *al_status_name(al_status s) {
  switch (s) {
  case AL_OK: return "AL_OK";
  case AL_ENOMEM: return "AL_ENOMEM";
  case AL_EIO: return "AL_EIO";
  case AL_EFORMAT: return "AL_EFORMAT";
  case AL_ESHAPE: return "AL_ESHAPE";
  case AL_EINVAL: return "AL_EINVAL";
  case AL_ENONFINITE: return "AL_ENONFINITE";
  case AL_EINTR: return "AL_EINTR";
  }
  return "AL_E?";
}

void *al_calloc(size_t n, size_t size) {
  if (n == 0 || size == 0) n = size = 1;
  return calloc(n, size);
}

void *al_malloc(size_t n, size_t size) {
  if (n == 0 || size == 0) n = size = 1;
  if (n > SIZE_MAX / size) return NULL;
  return malloc(n * size);
}

float *al_falloc(size_t n) {
  if (n == 0) n = 1;
  if (n > (SIZE_MAX - 64) / sizeof(float)) return NULL;
  size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
  float *p = aligned_alloc(64, bytes);
  if (p) memset(p, 0, bytes);
  return p;
}

void al_ffree(float *p) { free(p); }

// ---- RNG ----

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void al_rng_seed(al_rng *r, uint64_t seed, uint64_t stream) {
  // mix the stream number into the seed through a second splitmix chain
  uint64_t x = seed;
  uint64_t y = stream * 0xd1342543de82ef95ULL + 0x632be59bd9b4e019ULL;
  uint64_t k = splitmix64(&y);
  x ^= k;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
  if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1;
}

uint64_t al_rng_u64(al_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

uint64_t al_rng_int(al_rng *r, uint64_t n) {
  if (n <= 1) return 0;
  // Lemire's rejection on the top bits: unbiased
  uint64_t lim = (uint64_t)(-n) % n;
  for (;;) {
    uint64_t x = al_rng_u64(r);
    if (x >= lim) return x % n;
  }
}

double al_rng_uniform(al_rng *r) { return (double)(al_rng_u64(r) >> 11) * 0x1.0p-53; }

double al_rng_normal(al_rng *r) {
  double u1 = al_rng_uniform(r), u2 = al_rng_uniform(r);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void al_rng_shuffle(al_rng *r, int *a, int n) {
  for (int i = n - 1; i > 0; i--) {
    int j = (int)al_rng_int(r, (uint64_t)i + 1);
    int t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}
