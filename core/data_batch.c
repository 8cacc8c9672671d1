// alignlab core: batches from a dataset: epoch order and padded (B, T) token / mask arrays.
// Layering: reads the stored sequences of data.c (data_impl.h); nothing here tokenizes.
#include "data_impl.h"

#include <stdlib.h>
#include <string.h>

void al_data_order(int n, int shuffle, al_rng *rng, int *perm) {
  for (int i = 0; i < n; i++) perm[i] = i;
  if (shuffle) al_rng_shuffle(rng, perm, n);
}

void al_batch_free(al_batch *b) {
  if (!b) return;
  free(b->tokens);
  free(b->mask);
  free(b->lens);
  free(b->prompt_lens);
  memset(b, 0, sizeof *b);
}

al_status al_data_batch(const al_dataset *d, const int *idx, int B, int which, int pad_to,
                        al_batch *b) {
  memset(b, 0, sizeof *b);
  if (B <= 0) return al_seterr(AL_EINVAL, "batch: size %d must be positive", B);
  if (which == 1 && d->kind != AL_DATA_PREF)
    return al_seterr(AL_EINVAL, "batch: an SFT dataset has no rejected sequences");
  int T = 0;
  for (int i = 0; i < B; i++) {
    if (idx[i] < 0 || idx[i] >= d->n)
      return al_seterr(AL_EINVAL, "batch: index %d out of range [0, %d)", idx[i], d->n);
    const al_example *e = &d->ex[idx[i]];
    if (e->seq.len > T) T = e->seq.len;
    if (d->kind == AL_DATA_PREF && e->rejected.len > T) T = e->rejected.len;
  }
  if (pad_to > 0) {
    if (T > pad_to)
      return al_seterr(AL_ESHAPE, "batch: a sequence of %d tokens is longer than pad_to %d", T,
                       pad_to);
    T = pad_to;
  }
  if (T == 0) T = 1;
  b->B = B;
  b->T = T;
  b->tokens = al_malloc((size_t)B * (size_t)T, sizeof(int));
  b->mask = al_calloc((size_t)B * (size_t)T, sizeof(float));
  b->lens = al_malloc((size_t)B, sizeof(int));
  b->prompt_lens = al_malloc((size_t)B, sizeof(int));
  if (!b->tokens || !b->mask || !b->lens || !b->prompt_lens) {
    al_batch_free(b);
    return al_seterr(AL_ENOMEM, "batch: out of memory");
  }
  int pad = al_tok_pad(d->tok);
  if (pad < 0) pad = 0;
  for (int i = 0; i < B; i++) {
    const al_example *e = &d->ex[idx[i]];
    const al_seq *s = which == 1 ? &e->rejected : &e->seq;
    for (int t = 0; t < T; t++) {
      b->tokens[(size_t)i * T + t] = t < s->len ? s->ids[t] : pad;
      b->mask[(size_t)i * T + t] = t < s->len ? (float)s->mask[t] : 0.0f;
    }
    b->lens[i] = s->len;
    b->prompt_lens[i] = s->prompt_len;
  }
  return AL_OK;
}
