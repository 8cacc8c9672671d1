// alignlab core: helpers shared by core/ops*.c (not a public header): the fixed-order 8-lane
// reductions. Lane j takes the elements i = j mod 8 and the lanes are combined by a fixed tree, so
// a sum has the same bits whether or not the compiler vectorises it, and whatever the thread count.
#ifndef AL_OPS_IMPL_H
#define AL_OPS_IMPL_H

// sum of x[0..n)
static inline float sum8(const float *x, int n) {
  float acc[8] = {0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) acc[j] += x[i + j];
  for (int j = 0; i < n; i++, j++) acc[j] += x[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

// dot product of x[0..n) and y[0..n)
static inline float dot8(const float *x, const float *y, int n) {
  float acc[8] = {0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) acc[j] += x[i + j] * y[i + j];
  for (int j = 0; i < n; i++, j++) acc[j] += x[i] * y[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

#endif
