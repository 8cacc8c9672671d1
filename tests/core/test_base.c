// Tests of core/base.c: error messages and the RNG.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include "al_base.h"

Test(base, seterr_formats_message_and_returns_status) {
  al_status s = al_seterr(AL_EFORMAT, "file %s line %d", "x.jsonl", 3);
  cr_assert_eq(s, AL_EFORMAT);
  cr_assert_str_eq(al_errmsg(), "file x.jsonl line 3");
  al_clearerr();
  cr_assert_str_eq(al_errmsg(), "");
}

Test(base, rng_same_seed_same_stream_gives_same_sequence) {
  al_rng a, b;
  al_rng_seed(&a, 42, 0);
  al_rng_seed(&b, 42, 0);
  for (int i = 0; i < 1000; i++) cr_assert_eq(al_rng_u64(&a), al_rng_u64(&b));
}

Test(base, rng_streams_differ) {
  al_rng a, b;
  al_rng_seed(&a, 42, 0);
  al_rng_seed(&b, 42, 1);
  int same = 0;
  for (int i = 0; i < 1000; i++) same += al_rng_u64(&a) == al_rng_u64(&b);
  cr_assert_eq(same, 0);
}

Test(base, rng_state_saves_and_restores) {
  al_rng a;
  al_rng_seed(&a, 7, 3);
  for (int i = 0; i < 10; i++) al_rng_u64(&a);
  al_rng saved = a;
  uint64_t x[5];
  for (int i = 0; i < 5; i++) x[i] = al_rng_u64(&a);
  a = saved;
  for (int i = 0; i < 5; i++) cr_assert_eq(al_rng_u64(&a), x[i]);
}

Test(base, rng_int_is_in_range_and_roughly_uniform) {
  al_rng a;
  al_rng_seed(&a, 1, 0);
  int count[7] = {0};
  for (int i = 0; i < 70000; i++) {
    uint64_t k = al_rng_int(&a, 7);
    cr_assert_lt(k, 7);
    count[k]++;
  }
  for (int k = 0; k < 7; k++) cr_assert(count[k] > 9500 && count[k] < 10500, "bucket %d: %d", k, count[k]);
}

Test(base, rng_normal_has_unit_moments) {
  al_rng a;
  al_rng_seed(&a, 5, 0);
  double s = 0, s2 = 0;
  int n = 200000;
  for (int i = 0; i < n; i++) {
    double x = al_rng_normal(&a);
    s += x;
    s2 += x * x;
  }
  cr_assert_lt(fabs(s / n), 0.01);
  cr_assert_lt(fabs(s2 / n - 1.0), 0.02);
}

Test(base, rng_shuffle_is_a_permutation) {
  al_rng a;
  al_rng_seed(&a, 9, 0);
  int v[50], seen[50] = {0};
  for (int i = 0; i < 50; i++) v[i] = i;
  al_rng_shuffle(&a, v, 50);
  int moved = 0;
  for (int i = 0; i < 50; i++) {
    seen[v[i]]++;
    moved += v[i] != i;
  }
  for (int i = 0; i < 50; i++) cr_assert_eq(seen[i], 1);
  cr_assert_gt(moved, 30);
}
