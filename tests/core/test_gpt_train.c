// Training tests of core/gpt.c + core/optim.c together: the model overfits one batch, training
// is bit-reproducible for a seed (one thread), and pretraining on a structured synthetic corpus
// learns the structure (held-out loss near the corpus entropy, greedy accuracy).
#include <cblas.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "al_gpt.h"
#include "al_ops.h"
#include "al_optim.h"

static al_gpt *make(int V, int maxT, int C, int L, int NH, uint64_t seed) {
  al_gpt_config c = al_gpt_config_make(V, maxT, C, L, NH);
  al_gpt *m = NULL;
  cr_assert_eq(al_gpt_new(&m, &c, seed), AL_OK, "%s", al_errmsg());
  return m;
}

// next-token loss on tokens (B,T) (targets t+1, the last position unscored); with backward when
// train != 0. Returns the mean nll.
static float lm_step(al_gpt *m, const int *tok, int B, int T, int train, float *logp, float *dlogp,
                     int *tgt) {
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) tgt[b * T + t] = t + 1 < T ? tok[b * T + t + 1] : -1;
  cr_assert_eq(al_gpt_forward(m, tok, B, T), AL_OK, "%s", al_errmsg());
  cr_assert_eq(al_gpt_logprobs(m, tgt, logp), AL_OK);
  float *mask = malloc((size_t)B * T * sizeof(float));
  for (int i = 0; i < B * T; i++) mask[i] = tgt[i] >= 0;
  float loss = al_masked_nll(dlogp, logp, mask, B * T);
  free(mask);
  if (train) {
    cr_assert_eq(al_gpt_zero_grad(m), AL_OK);
    cr_assert_eq(al_gpt_backward(m, dlogp, NULL), AL_OK, "%s", al_errmsg());
  }
  return loss;
}

Test(gpt_train, overfits_one_batch) {
  int V = 16, T = 16, B = 4;
  al_gpt *m = make(V, T, 32, 2, 4, 1);
  int tok[64], tgt[64];
  float logp[64], dlogp[64];
  al_rng r;
  al_rng_seed(&r, 2, 0);
  for (int i = 0; i < B * T; i++) tok[i] = (int)al_rng_int(&r, V);
  al_adamw_config cfg = al_adamw_defaults();
  al_adamw *o = NULL;
  cr_assert_eq(al_adamw_new(&o, m, &cfg), AL_OK);
  float first = lm_step(m, tok, B, T, 0, logp, dlogp, tgt), loss = first;
  cr_assert(fabsf(first - logf((float)V)) < 0.2f, "initial loss %g should be near ln V", first);
  for (int step = 0; step < 200; step++) {
    loss = lm_step(m, tok, B, T, 1, logp, dlogp, tgt);
    cr_assert_eq(al_adamw_step(o, m, 1e-2f, NULL), AL_OK, "%s", al_errmsg());
  }
  loss = lm_step(m, tok, B, T, 0, logp, dlogp, tgt);
  cr_log_info("overfit: loss %g -> %g", first, loss);
  if (getenv("AL_VERBOSE")) fprintf(stderr, "overfit: loss %g -> %g\n", first, loss);
  cr_assert(loss < 0.05f, "loss after 200 steps: %g (from %g)", loss, first);
  al_adamw_free(o);
  al_gpt_free(m);
}

// a few AdamW steps on random batches drawn from `data_seed`; returns the model (caller frees)
static al_gpt *short_run(uint64_t seed, uint64_t data_seed, al_adamw **opt) {
  int V = 23, T = 12, B = 3;
  al_gpt_config c = al_gpt_config_make(V, T, 16, 2, 2);
  c.scalar = 1;
  al_gpt *m = NULL;
  cr_assert_eq(al_gpt_new(&m, &c, seed), AL_OK);
  al_adamw_config cfg = al_adamw_defaults();
  cfg.weight_decay = 0.1f;
  cfg.clip = 0.5f;
  cr_assert_eq(al_adamw_new(opt, m, &cfg), AL_OK);
  al_rng r;
  al_rng_seed(&r, data_seed, 2);
  int tok[36], tgt[36];
  float logp[36], dlogp[36], dv[36];
  for (int step = 0; step < 6; step++) {
    for (int i = 0; i < B * T; i++) tok[i] = (int)al_rng_int(&r, V);
    for (int i = 0; i < B * T; i++) dv[i] = (float)al_rng_normal(&r);
    lm_step(m, tok, B, T, 1, logp, dlogp, tgt);
    cr_assert_eq(al_gpt_backward(m, NULL, dv), AL_OK); // the value head too
    al_lr_schedule sch = {AL_LR_COSINE, 1e-2, 1e-3, 2, 6};
    float lr = (float)al_lr_at(&sch, step);
    cr_assert_eq(al_adamw_step(*opt, m, lr, NULL), AL_OK, "%s", al_errmsg());
  }
  return m;
}

Test(gpt_train, same_seed_gives_identical_bits_with_one_thread) {
  openblas_set_num_threads(1);
  al_adamw *oa, *ob, *oc;
  al_gpt *a = short_run(5, 6, &oa), *b = short_run(5, 6, &ob), *c = short_run(5, 7, &oc);
  size_t n = a->nparams;
  cr_assert_eq(memcmp(a->params, b->params, n * sizeof(float)), 0);
  cr_assert_eq(memcmp(oa->m, ob->m, n * sizeof(float)), 0);
  cr_assert_eq(memcmp(oa->v, ob->v, n * sizeof(float)), 0);
  // not vacuous: other data gives other bits, and training moved the parameters
  cr_assert_neq(memcmp(a->params, c->params, n * sizeof(float)), 0);
  al_gpt *init = make(23, 12, 16, 2, 2, 5);
  cr_assert_neq(memcmp(a->params, init->params, init->nparams * sizeof(float)), 0);
  al_gpt_free(init);
  al_adamw_free(oa);
  al_adamw_free(ob);
  al_adamw_free(oc);
  al_gpt_free(a);
  al_gpt_free(b);
  al_gpt_free(c);
}

// Corpus: each sequence starts at a random token and follows next = (3*prev + 1) mod V with
// probability 0.9, else a uniform token. The entropy of the next token given the previous one is
// H = -(q ln q + (V-1) r ln r) with q = 0.9 + 0.1/V, r = 0.1/V: 0.651 nats for V = 32, against
// ln 32 = 3.47 for a model that learned nothing.
static void corpus(int *tok, int nseq, int T, int V, uint64_t seed) {
  al_rng r;
  al_rng_seed(&r, seed, 4);
  for (int s = 0; s < nseq; s++) {
    int x = (int)al_rng_int(&r, V);
    for (int t = 0; t < T; t++) {
      tok[s * T + t] = x;
      x = al_rng_uniform(&r) < 0.9 ? (3 * x + 1) % V : (int)al_rng_int(&r, V);
    }
  }
}

Test(gpt_train, pretraining_on_a_structured_corpus_learns_the_structure) {
  const int V = 32, T = 32, C = 32, B = 16, NTRAIN = 512, NTEST = 64, STEPS = 300;
  al_gpt *m = make(V, T, C, 2, 4, 3);
  int *train = malloc((size_t)NTRAIN * T * sizeof(int)), *test = malloc((size_t)NTEST * T * sizeof(int));
  corpus(train, NTRAIN, T, V, 1);
  corpus(test, NTEST, T, V, 2);
  int N = NTEST * T;
  int *tgt = malloc(N * sizeof(int));
  float *logp = malloc(N * sizeof(float)), *dlogp = malloc(N * sizeof(float));
  float before = lm_step(m, test, NTEST, T, 0, logp, dlogp, tgt);
  al_adamw_config cfg = al_adamw_defaults();
  cfg.weight_decay = 0.01f;
  al_adamw *o = NULL;
  cr_assert_eq(al_adamw_new(&o, m, &cfg), AL_OK);
  al_rng r;
  al_rng_seed(&r, 9, 1);
  int *order = malloc(NTRAIN * sizeof(int));
  for (int i = 0; i < NTRAIN; i++) order[i] = i;
  int *batch = malloc((size_t)B * T * sizeof(int)), pos = NTRAIN;
  for (int step = 0; step < STEPS; step++) {
    for (int b = 0; b < B; b++) {
      if (pos == NTRAIN) {
        al_rng_shuffle(&r, order, NTRAIN);
        pos = 0;
      }
      memcpy(batch + b * T, train + (size_t)order[pos++] * T, T * sizeof(int));
    }
    lm_step(m, batch, B, T, 1, logp, dlogp, tgt);
    al_lr_schedule sch = {AL_LR_COSINE, 3e-3, 3e-4, 20, STEPS};
    float lr = (float)al_lr_at(&sch, step);
    cr_assert_eq(al_adamw_step(o, m, lr, NULL), AL_OK, "%s", al_errmsg());
  }
  float after = lm_step(m, test, NTEST, T, 0, logp, dlogp, tgt);
  // greedy accuracy where the rule applied
  int hit = 0, total = 0;
  for (int s = 0; s < NTEST; s++)
    for (int t = 0; t + 1 < T; t++) {
      int x = test[s * T + t];
      if (test[s * T + t + 1] != (3 * x + 1) % V) continue;
      const float *lg = m->a.logits + ((size_t)s * T + t) * V;
      int best = 0;
      for (int v = 1; v < V; v++)
        if (lg[v] > lg[best]) best = v;
      hit += best == (3 * x + 1) % V;
      total++;
    }
  double acc = (double)hit / total;
  cr_log_info("pretraining: held-out loss %g -> %g (entropy 0.651), greedy accuracy %.3f", before,
              after, acc);
  if (getenv("AL_VERBOSE"))
    fprintf(stderr, "pretraining: held-out loss %g -> %g (entropy 0.651), greedy accuracy %.3f\n",
            before, after, acc);
  cr_assert(before > 3.0f, "initial loss %g", before);
  cr_assert(after < 0.85f, "held-out loss %g after %d steps (entropy floor 0.651)", after, STEPS);
  cr_assert(acc > 0.95, "greedy accuracy %g", acc);
  free(train);
  free(test);
  free(tgt);
  free(logp);
  free(dlogp);
  free(order);
  free(batch);
  al_adamw_free(o);
  al_gpt_free(m);
}
