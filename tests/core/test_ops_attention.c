// Tests of core/ops_attention.c: causal multi-head attention on a fused qkv, against a
// straightforward double-precision implementation written here (GPT-2 / Hugging Face layout:
// row = [q | k | v], head h = channels h*HS..(h+1)*HS-1 of each part, scale 1/sqrt(HS)).
//
// Gradient tolerance: as in test_ops.c, L = sum(out * R) with R ~ N(0,1); the reference gradient
// is a central difference (h = 1e-5) of the DOUBLE forward, exact to ~1e-9; the float kernel's
// gradient carries ~1e-6 relative rounding (sums of <= T*HS terms, T*HS <= 320 here, each
// rounding at 6e-8, errors growing like sqrt(terms)). We require
// |g - g_fd| / (|g_fd| + 0.01 max|g_fd|) <= 1e-3: far above that noise, far below any real
// error in a derivative term (O(1)).
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "al_ops.h"
#include "testutil.h"

#define GTOL 1e-3


// double reference: out (B,T,C), att (B,NH,T,T) from qkv (B,T,3C)
static void ref_attention(double *out, double *att, const double *qkv, int B, int T, int C, int NH) {
  int HS = C / NH;
  double scale = 1.0 / sqrt((double)HS);
  double *sc = malloc(sizeof(double) * (size_t)(T > 0 ? T : 1));
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int t = 0; t < T; t++) {
        const double *q = qkv + ((size_t)b * T + t) * 3 * C + h * HS;
        double mx = -INFINITY, sum = 0;
        for (int s = 0; s <= t; s++) {
          const double *k = qkv + ((size_t)b * T + s) * 3 * C + C + h * HS;
          double d = 0;
          for (int i = 0; i < HS; i++) d += q[i] * k[i];
          sc[s] = d * scale;
          mx = fmax(mx, sc[s]);
        }
        for (int s = 0; s <= t; s++) sum += (sc[s] = exp(sc[s] - mx));
        double *o = out + ((size_t)b * T + t) * C + h * HS;
        for (int i = 0; i < HS; i++) o[i] = 0;
        for (int s = 0; s < T; s++) {
          double p = s <= t ? sc[s] / sum : 0;
          if (att) att[(((size_t)b * NH + h) * T + t) * T + s] = p;
          const double *v = qkv + ((size_t)b * T + s) * 3 * C + 2 * C + h * HS;
          for (int i = 0; i < HS && s <= t; i++) o[i] += p * v[i];
        }
      }
  free(sc);
}

// relative per element, floored at 1% of the largest reference component; NaN entries of b
// (coordinates not sampled) are skipped
static double gerr(const float *a, const double *b, size_t n) {
  double scale = 0, m = 0;
  for (size_t i = 0; i < n; i++)
    if (!isnan(b[i])) scale = fmax(scale, fabs(b[i]));
  for (size_t i = 0; i < n; i++) {
    if (isnan(b[i])) continue;
    double d = fabs((double)a[i] - b[i]) / (fabs(b[i]) + 0.01 * scale + 1e-12);
    if (!(d <= m)) m = d;
  }
  return m;
}

static void check_forward(int B, int T, int C, int NH, uint64_t seed) {
  size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
  float *qkv = tu_frand(nq, seed, 1.5f), *out = tu_fnew(no), *att = tu_fnew(na);
  memset(att, 0x7f, na * sizeof(float)); // every entry must be written
  al_attention_forward(out, att, qkv, B, T, C, NH);
  double *dq = tu_dnew(nq), *ro = tu_dnew(no), *ra = tu_dnew(na);
  for (size_t i = 0; i < nq; i++) dq[i] = qkv[i];
  ref_attention(ro, ra, dq, B, T, C, NH);
  // scores are HS-term float dot products of O(1.5^2) entries: a few 1e-6 of rounding at HS=128
  cr_expect_lt(tu_max_rel_err_fd(out, ro, no), 1e-5, "B=%d T=%d C=%d NH=%d out err %g", B, T, C, NH,
               tu_max_rel_err_fd(out, ro, no));
  cr_expect_lt(tu_max_rel_err_fd(att, ra, na), 1e-5, "att err %g", tu_max_rel_err_fd(att, ra, na));
  for (int bh = 0; bh < B * NH; bh++)
    for (int t = 0; t < T; t++)
      for (int s = t + 1; s < T; s++) cr_expect_eq(att[((size_t)bh * T + t) * T + s], 0.0f);
  free(qkv), free(out), free(att), free(dq), free(ro), free(ra);
}

Test(attention, forward_matches_double_reference) {
  check_forward(2, 3, 8, 2, 1);     // the small FD shape
  check_forward(2, 7, 10, 2, 2);    // HS = 5: the channel tail of the rank-4 updates
  check_forward(3, 17, 48, 3, 3);   // HS = 16
  check_forward(2, 64, 128, 4, 4);  // HS = 32, T = 64: one key tile
  check_forward(1, 80, 128, 1, 5);  // HS = 128: tiles of 32 keys, three of them
  check_forward(1, 200, 64, 1, 6);  // HS = 64: tiles of 64 keys, a partial last tile
}

Test(attention, degenerate_shapes_B1_T1) {
  check_forward(1, 1, 8, 2, 7);
  // T = 1: P = 1, out = v, dq = dk = 0, dv = dout
  const int C = 8, NH = 2;
  float *qkv = tu_frand(3 * C, 8, 1), *out = tu_fnew(C), *att = tu_fnew(NH), *g = tu_frand(C, 9, 1);
  float *dqkv = tu_fnew(3 * C), *datt = tu_fnew(NH);
  al_attention_forward(out, att, qkv, 1, 1, C, NH);
  al_attention_backward(dqkv, datt, g, qkv, att, 1, 1, C, NH);
  for (int h = 0; h < NH; h++) cr_expect_eq(att[h], 1.0f);
  for (int i = 0; i < C; i++) {
    cr_expect_eq(out[i], qkv[2 * C + i]);
    cr_expect_eq(dqkv[i], 0.0f);
    cr_expect_eq(dqkv[C + i], 0.0f);
    cr_expect_eq(dqkv[2 * C + i], g[i]);
  }
  free(qkv), free(out), free(att), free(g), free(dqkv), free(datt);
}

// analytic dqkv vs central differences of the double reference, every `step`-th coordinate
static void check_backward(int B, int T, int C, int NH, int step, uint64_t seed) {
  size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
  float *qkv = tu_frand(nq, seed, 1.5f), *out = tu_fnew(no), *att = tu_fnew(na), *R = tu_frand(no, seed + 1, 1);
  float *dqkv = tu_fnew(nq), *datt = tu_fnew(na);
  al_attention_forward(out, att, qkv, B, T, C, NH);
  memset(datt, 0x7f, na * sizeof(float)); // scratch: garbage in must not matter
  al_attention_backward(dqkv, datt, R, qkv, att, B, T, C, NH);
  double *dq = tu_dnew(nq), *fg = tu_dnew(nq), *o = tu_dnew(no);
  for (size_t i = 0; i < nq; i++) dq[i] = qkv[i], fg[i] = NAN;
  const double h = 1e-5;
  for (size_t i = seed % step; i < nq; i += step) {
    double save = dq[i], lp = 0, lm = 0;
    dq[i] = save + h;
    ref_attention(o, NULL, dq, B, T, C, NH);
    for (size_t j = 0; j < no; j++) lp += o[j] * R[j];
    dq[i] = save - h;
    ref_attention(o, NULL, dq, B, T, C, NH);
    for (size_t j = 0; j < no; j++) lm += o[j] * R[j];
    dq[i] = save;
    fg[i] = (lp - lm) / (2 * h);
  }
  // judge q, k and v parts separately (their scales differ)
  for (int part = 0; part < 3; part++) {
    float *a = tu_fnew(no);
    double *b = tu_dnew(no);
    for (size_t row = 0; row < (size_t)B * T; row++)
      for (int i = 0; i < C; i++) {
        a[row * C + i] = dqkv[row * 3 * C + part * C + i];
        b[row * C + i] = fg[row * 3 * C + part * C + i];
      }
    double e = gerr(a, b, no);
    cr_expect_lt(e, GTOL, "B=%d T=%d C=%d NH=%d part %d err %g", B, T, C, NH, part, e);
    free(a), free(b);
  }
  free(qkv), free(out), free(att), free(R), free(dqkv), free(datt), free(dq), free(fg), free(o);
}

Test(attention, backward_matches_finite_differences) {
  check_backward(2, 3, 8, 2, 1, 11);  // every coordinate
  check_backward(2, 5, 10, 2, 1, 12); // HS = 5 (channel tail), every coordinate
  check_backward(1, 1, 8, 2, 1, 13);  // B = 1, T = 1
}

Test(attention, backward_matches_finite_differences_across_key_tiles) {
  check_backward(1, 40, 128, 1, 37, 14); // HS = 128: 32-key tiles; every 37th coordinate
}

Test(attention, backward_accumulates) {
  const int B = 2, T = 5, C = 12, NH = 3;
  size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
  float *qkv = tu_frand(nq, 1, 1), *out = tu_fnew(no), *att = tu_fnew(na), *g = tu_frand(no, 2, 1);
  float *once = tu_fnew(nq), *twice = tu_fnew(nq), *datt = tu_fnew(na);
  al_attention_forward(out, att, qkv, B, T, C, NH);
  al_attention_backward(once, datt, g, qkv, att, B, T, C, NH);
  al_attention_backward(twice, datt, g, qkv, att, B, T, C, NH);
  al_attention_backward(twice, datt, g, qkv, att, B, T, C, NH);
  double scale = 0, m = 0;
  for (size_t i = 0; i < nq; i++) scale = fmax(scale, fabs(once[i]));
  for (size_t i = 0; i < nq; i++) m = fmax(m, fabs(twice[i] - 2.0 * once[i]) / scale);
  cr_expect_lt(m, 1e-6, "err %g", m);
  free(qkv), free(out), free(att), free(g), free(once), free(twice), free(datt);
}

Test(attention, output_at_t_does_not_depend_on_later_tokens) {
  const int B = 2, T = 9, C = 16, NH = 2;
  size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
  float *qkv = tu_frand(nq, 1, 1), *qkv2 = tu_fnew(nq), *o1 = tu_fnew(no), *o2 = tu_fnew(no), *att = tu_fnew(na);
  al_attention_forward(o1, att, qkv, B, T, C, NH);
  for (int t = 0; t < T - 1; t++) {
    memcpy(qkv2, qkv, nq * sizeof(float));
    for (int b = 0; b < B; b++) // change q, k and v of every position after t
      for (int s = t + 1; s < T; s++)
        for (int i = 0; i < 3 * C; i++) qkv2[((size_t)b * T + s) * 3 * C + i] += 1.0f + 0.1f * i;
    al_attention_forward(o2, att, qkv2, B, T, C, NH);
    for (int b = 0; b < B; b++) {
      const float *r1 = o1 + (size_t)b * T * C, *r2 = o2 + (size_t)b * T * C;
      cr_expect_eq(memcmp(r1, r2, sizeof(float) * (size_t)(t + 1) * C), 0, "t=%d b=%d", t, b);
      cr_expect_neq(memcmp(r1, r2, sizeof(float) * (size_t)T * C), 0); // and later ones do change
    }
  }
  free(qkv), free(qkv2), free(o1), free(o2), free(att);
}

Test(attention, heads_read_the_hugging_face_channel_split) {
  // perturbing channel c of the k part changes only head c / HS
  const int B = 1, T = 4, C = 12, NH = 3, HS = C / NH;
  size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
  float *qkv = tu_frand(nq, 3, 1), *o1 = tu_fnew(no), *o2 = tu_fnew(no), *att = tu_fnew(na);
  al_attention_forward(o1, att, qkv, B, T, C, NH);
  for (int c = 0; c < C; c++) {
    float *q2 = tu_fnew(nq);
    memcpy(q2, qkv, nq * sizeof(float));
    q2[0 * 3 * C + C + c] += 1.0f; // key of position 0, channel c
    al_attention_forward(o2, att, q2, B, T, C, NH);
    for (int t = 1; t < T; t++)
      for (int i = 0; i < C; i++) {
        int same = o1[t * C + i] == o2[t * C + i];
        if (i / HS == c / HS)
          cr_expect(!same, "c=%d t=%d i=%d unchanged", c, t, i);
        else
          cr_expect(same, "c=%d t=%d i=%d changed", c, t, i);
      }
    free(q2);
  }
  free(qkv), free(o1), free(o2), free(att);
}

Test(attention, results_do_not_depend_on_thread_count) {
  const int B = 4, T = 33, C = 64, NH = 4;
  size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
  float *qkv = tu_frand(nq, 1, 1), *g = tu_frand(no, 2, 1);
  float *o[2], *a[2], *d[2], *da = tu_fnew(na);
  for (int k = 0; k < 2; k++) {
    omp_set_num_threads(k + 1);
    o[k] = tu_fnew(no), a[k] = tu_fnew(na), d[k] = tu_fnew(nq);
    al_attention_forward(o[k], a[k], qkv, B, T, C, NH);
    al_attention_backward(d[k], da, g, qkv, a[k], B, T, C, NH);
  }
  omp_set_num_threads(1);
  cr_expect_eq(memcmp(o[0], o[1], no * sizeof(float)), 0);
  cr_expect_eq(memcmp(a[0], a[1], na * sizeof(float)), 0);
  cr_expect_eq(memcmp(d[0], d[1], nq * sizeof(float)), 0);
  for (int k = 0; k < 2; k++) free(o[k]), free(a[k]), free(d[k]);
  free(qkv), free(g), free(da);
}

// Timing of forward + backward at B=32, T=64, C=128, NH=4 on the current thread count; printed,
// never asserted. Process CPU time (equal to wall time on one thread, but robust to other jobs
// sharing the machine) and wall time.
Test(attention, timing_is_reported) {
  const int B = 32, T = 64, C = 128, NH = 4;
  size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
  float *qkv = tu_frand(nq, 1, 1), *g = tu_frand(no, 2, 1), *out = tu_fnew(no), *att = tu_fnew(na),
        *dq = tu_fnew(nq), *da = tu_fnew(na);
#ifdef NDEBUG
  const int reps = 10;
#else
  const int reps = 1; // sanitizer / debug builds: just exercise it
#endif
  double tf = 0, tb = 0, wall = 0;
  for (int r = 0; r <= reps; r++) { // first round warms up
    struct timespec t0, t1, t2, w0, w1;
    clock_gettime(CLOCK_MONOTONIC, &w0);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    al_attention_forward(out, att, qkv, B, T, C, NH);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    al_attention_backward(dq, da, g, qkv, att, B, T, C, NH);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t2);
    clock_gettime(CLOCK_MONOTONIC, &w1);
    if (r > 0) {
      tf += (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
      tb += (t2.tv_sec - t1.tv_sec) + 1e-9 * (t2.tv_nsec - t1.tv_nsec);
      wall += (w1.tv_sec - w0.tv_sec) + 1e-9 * (w1.tv_nsec - w0.tv_nsec);
    }
  }
  fprintf(stderr,
          "attention B=%d T=%d C=%d NH=%d threads=%d: forward %.3f ms, backward %.3f ms CPU; "
          "forward+backward %.3f ms wall\n",
          B, T, C, NH, omp_get_max_threads(), 1e3 * tf / reps, 1e3 * tb / reps, 1e3 * wall / reps);
  free(qkv), free(g), free(out), free(att), free(dq), free(da);
}
