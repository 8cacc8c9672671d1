#include "testutil.h"
#include "al_base.h"
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void tu_fill_normal(float *x, size_t n, uint64_t seed, float scale) {
  al_rng r;
  al_rng_seed(&r, seed, 99);
  for (size_t i = 0; i < n; i++) x[i] = (float)(al_rng_normal(&r) * scale);
}

void tu_fill_normal_d(double *x, size_t n, uint64_t seed, double scale) {
  al_rng r;
  al_rng_seed(&r, seed, 99);
  for (size_t i = 0; i < n; i++) x[i] = al_rng_normal(&r) * scale;
}

float *tu_fnew(size_t n) {
  float *p = calloc(n ? n : 1, sizeof(float));
  cr_assert(p);
  return p;
}

double *tu_dnew(size_t n) {
  double *p = calloc(n ? n : 1, sizeof(double));
  cr_assert(p);
  return p;
}

float *tu_frand(size_t n, uint64_t seed, float scale) {
  float *p = tu_fnew(n);
  tu_fill_normal(p, n, seed, scale);
  return p;
}

double tu_max_rel_err(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]) / fmax(1.0, fabs((double)b[i]));
    if (!(d <= m)) m = d; // NaN propagates as a failure
  }
  return m;
}

double tu_max_rel_err_fd(const float *a, const double *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]) / fmax(1.0, fabs(b[i]));
    if (!(d <= m)) m = d;
  }
  return m;
}

char *tu_tmpdir(const char *tag) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s/tmp-tests", AL_BINARY_DIR);
  mkdir(buf, 0755);
  snprintf(buf, sizeof buf, "%s/tmp-tests/%s-%ld", AL_BINARY_DIR, tag, (long)getpid());
  mkdir(buf, 0755);
  return strdup(buf);
}
