// Tests of core/sample.c: the KV-cached step against the full forward, sampling rules (greedy,
// seeds, top-k, top-p, eos, ragged prompts), log-probs against teacher-forced scoring, exact KL.
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "al_gpt.h"
#include "al_sample.h"
#include "testutil.h"

// A small model with every parameter drawn N(0, scale^2) (LN weights and biases too), so that
// every term of the forward matters and next-token distributions are far from uniform.
static al_gpt *model(int V, int maxT, int C, int L, int NH, uint64_t seed, float scale) {
  al_gpt_config cfg = al_gpt_config_make(V, maxT, C, L, NH);
  al_gpt *m = NULL;
  cr_assert_eq(al_gpt_new(&m, &cfg, seed), AL_OK, "%s", al_errmsg());
  tu_fill_normal(m->params, m->nparams, seed + 1000, scale);
  return m;
}

static void random_tokens(int *x, int n, int V, uint64_t seed) {
  al_rng r;
  al_rng_seed(&r, seed, 7);
  for (int i = 0; i < n; i++) x[i] = (int)al_rng_int(&r, (uint64_t)V);
}

// logits (V) of the position after tokens[0..n-1], by the full forward of that one sequence
static void full_next_logits(al_gpt *m, const int *tokens, int n, float *out) {
  cr_assert_eq(al_gpt_forward(m, tokens, 1, n), AL_OK, "%s", al_errmsg());
  memcpy(out, m->a.logits + (size_t)(n - 1) * m->cfg.V, (size_t)m->cfg.V * sizeof(float));
}

static void log_softmax_d(double *out, const float *z, int V, double invT) {
  double mx = -INFINITY, s = 0.0;
  for (int v = 0; v < V; v++) mx = fmax(mx, z[v] * invT);
  for (int v = 0; v < V; v++) s += exp(z[v] * invT - mx);
  for (int v = 0; v < V; v++) out[v] = z[v] * invT - mx - log(s);
}

// ---- the incremental forward ----

Test(sample, kv_cached_logits_equal_full_forward_at_every_step) {
  const int V = 37, maxT = 24, B = 3, T = 20;
  al_gpt *m = model(V, maxT, 32, 2, 4, 1, 0.3f);
  al_kvcache *c = NULL;
  cr_assert_eq(al_kvcache_new(&c, &m->cfg, B, 0), AL_OK, "%s", al_errmsg());
  int tokens[3 * 20], tok[3], pos[3];
  random_tokens(tokens, B * T, V, 2);
  float *logits = malloc(sizeof(float) * B * V);
  double worst = 0.0;
  for (int t = 0; t < T; t++) {
    for (int b = 0; b < B; b++) tok[b] = tokens[b * T + t], pos[b] = t;
    cr_assert_eq(al_sample_step(m, c, tok, pos, NULL, B, logits), AL_OK, "%s", al_errmsg());
    // full recomputation of all B sequences up to t
    int *pre = malloc(sizeof(int) * B * (t + 1));
    for (int b = 0; b < B; b++) memcpy(pre + b * (t + 1), tokens + b * T, sizeof(int) * (t + 1));
    cr_assert_eq(al_gpt_forward(m, pre, B, t + 1), AL_OK, "%s", al_errmsg());
    for (int b = 0; b < B; b++) {
      double e = tu_max_rel_err(logits + b * V, m->a.logits + ((size_t)b * (t + 1) + t) * V, V);
      if (e > worst) worst = e;
      cr_assert_lt(e, 1e-5, "step %d seq %d: rel err %g", t, b, e);
    }
    free(pre);
  }
  cr_log_info("kv cache vs full forward: max rel err %.3g over %d steps", worst, T);
  free(logits);
  al_kvcache_free(c);
  al_gpt_free(m);
}

Test(sample, kv_cache_serves_rows_in_any_slot_order_at_different_positions) {
  // sequence b starts b steps late, rows are fed in reverse slot order, slots are not row ids
  const int V = 29, maxT = 16, B = 3, T = 10;
  al_gpt *m = model(V, maxT, 24, 2, 3, 3, 0.3f);
  al_kvcache *c = NULL;
  cr_assert_eq(al_kvcache_new(&c, &m->cfg, 5, 0), AL_OK, "%s", al_errmsg());
  int tokens[3 * 10];
  random_tokens(tokens, B * T, V, 4);
  const int slot_of[3] = {4, 0, 2};
  float logits[3 * 29], ref[29];
  for (int s = 0; s < T + B - 1; s++) {
    int tok[3], pos[3], slots[3], seqs[3], N = 0;
    for (int b = B - 1; b >= 0; b--) {
      int t = s - b;
      if (t < 0 || t >= T) continue;
      tok[N] = tokens[b * T + t], pos[N] = t, slots[N] = slot_of[b], seqs[N] = b;
      N++;
    }
    cr_assert_eq(al_sample_step(m, c, tok, pos, slots, N, logits), AL_OK, "%s", al_errmsg());
    for (int i = 0; i < N; i++) {
      full_next_logits(m, tokens + seqs[i] * T, pos[i] + 1, ref);
      double e = tu_max_rel_err(logits + i * V, ref, V);
      cr_assert_lt(e, 1e-5, "step %d seq %d pos %d: rel err %g", s, seqs[i], pos[i], e);
    }
  }
  al_kvcache_free(c);
  al_gpt_free(m);
}

Test(sample, step_refuses_bad_rows) {
  al_gpt *m = model(11, 8, 16, 1, 2, 5, 0.1f);
  al_kvcache *c = NULL;
  cr_assert_eq(al_kvcache_new(&c, &m->cfg, 2, 0), AL_OK, "%s", al_errmsg());
  int tok[3] = {1, 2, 3}, pos[3] = {0, 0, 0}, badpos[2] = {0, 8}, badtok[2] = {0, 11};
  cr_assert_eq(al_sample_step(m, c, tok, pos, NULL, 3, NULL), AL_ESHAPE);
  cr_assert_eq(al_sample_step(m, c, tok, badpos, NULL, 2, NULL), AL_ESHAPE);
  cr_assert(strstr(al_errmsg(), "position 8"), "%s", al_errmsg());
  cr_assert_eq(al_sample_step(m, c, badtok, pos, NULL, 2, NULL), AL_EINVAL);
  cr_assert(strstr(al_errmsg(), "token 11"), "%s", al_errmsg());
  al_gpt *other = model(11, 8, 24, 1, 2, 5, 0.1f);
  cr_assert_eq(al_sample_step(other, c, tok, pos, NULL, 2, NULL), AL_ESHAPE);
  al_gpt_free(other);
  al_kvcache_free(c);
  al_gpt_free(m);
}

// ---- generation ----

typedef struct {
  int B, Tp, max_new;
  int *prompts, *plen, *out, *len;
  float *lp, *lpp;
} gen_t;

static gen_t gen_alloc(int B, int Tp, int max_new, int V, uint64_t seed, int minlen) {
  gen_t g = {B, Tp, max_new, NULL, NULL, NULL, NULL, NULL, NULL};
  g.prompts = calloc((size_t)B * Tp, sizeof(int));
  g.plen = calloc(B, sizeof(int));
  g.out = calloc((size_t)B * max_new, sizeof(int));
  g.len = calloc(B, sizeof(int));
  g.lp = calloc((size_t)B * max_new, sizeof(float));
  g.lpp = calloc((size_t)B * max_new, sizeof(float));
  random_tokens(g.prompts, B * Tp, V, seed);
  for (int b = 0; b < B; b++) g.plen[b] = minlen + (b * 7 + 3) % (Tp - minlen + 1);
  return g;
}

static void gen_free(gen_t *g) {
  free(g->prompts), free(g->plen), free(g->out), free(g->len), free(g->lp), free(g->lpp);
}

static al_status gen_run(const al_gpt *m, al_kvcache **c, gen_t *g, const al_sample_opts *o) {
  return al_sample_generate(m, c, g->prompts, g->plen, g->B, g->Tp, o, g->out, g->len, g->lp,
                            g->lpp);
}

// full context of sequence b up to (not including) completion token j
static int context(const gen_t *g, int b, int j, int *buf) {
  int n = 0;
  for (int t = 0; t < g->plen[b]; t++) buf[n++] = g->prompts[b * g->Tp + t];
  for (int t = 0; t < j; t++) buf[n++] = g->out[b * g->max_new + t];
  return n;
}

Test(sample, same_seed_same_samples_different_seeds_differ) {
  const int V = 31;
  al_gpt *m = model(V, 32, 32, 2, 4, 11, 0.3f);
  gen_t a = gen_alloc(6, 5, 12, V, 12, 1), b = gen_alloc(6, 5, 12, V, 12, 1);
  al_sample_opts o = al_sample_opts_default();
  o.max_new = 12;
  o.seed = 99;
  al_kvcache *c = NULL;
  cr_assert_eq(gen_run(m, &c, &a, &o), AL_OK, "%s", al_errmsg());
  cr_assert_eq(gen_run(m, NULL, &b, &o), AL_OK, "%s", al_errmsg()); // temporary cache
  cr_assert_eq(memcmp(a.out, b.out, sizeof(int) * 6 * 12), 0);
  cr_assert_eq(memcmp(a.lp, b.lp, sizeof(float) * 6 * 12), 0);
  // an explicit rng seeded like the seed option gives the same draws, and is advanced
  al_rng r;
  al_rng_seed(&r, 99, AL_SAMPLE_STREAM);
  al_sample_opts orng = o;
  orng.seed = 12345; // ignored
  orng.rng = &r;
  cr_assert_eq(gen_run(m, &c, &b, &orng), AL_OK, "%s", al_errmsg());
  cr_assert_eq(memcmp(a.out, b.out, sizeof(int) * 6 * 12), 0);
  al_rng fresh;
  al_rng_seed(&fresh, 99, AL_SAMPLE_STREAM);
  cr_assert_neq(memcmp(&r, &fresh, sizeof r), 0, "the rng was not advanced");
  int differ = 0;
  for (int s = 100; s < 103; s++) {
    o.seed = (uint64_t)s;
    cr_assert_eq(gen_run(m, &c, &b, &o), AL_OK, "%s", al_errmsg());
    differ += memcmp(a.out, b.out, sizeof(int) * 6 * 12) != 0;
  }
  cr_assert_eq(differ, 3, "only %d of 3 other seeds gave different samples", differ);
  gen_free(&a), gen_free(&b);
  al_kvcache_free(c);
  al_gpt_free(m);
}

Test(sample, a_reused_cache_grows_and_gives_the_same_samples) {
  const int V = 19;
  al_gpt *m = model(V, 30, 16, 1, 2, 15, 0.3f);
  al_kvcache *c = NULL;
  cr_assert_eq(al_kvcache_new(&c, &m->cfg, 2, 6), AL_OK, "%s", al_errmsg());
  gen_t a = gen_alloc(5, 6, 9, V, 16, 2), b = gen_alloc(5, 6, 9, V, 16, 2);
  al_sample_opts o = al_sample_opts_default();
  o.max_new = 9;
  o.seed = 3;
  cr_assert_eq(gen_run(m, &c, &a, &o), AL_OK, "%s", al_errmsg());
  cr_assert_geq(c->B, 5);
  cr_assert_geq(c->maxT, 6 + 9);
  cr_assert_lt(c->maxT, 30, "the cache should only hold the positions it needs");
  cr_assert_eq(gen_run(m, NULL, &b, &o), AL_OK, "%s", al_errmsg());
  cr_assert_eq(memcmp(a.out, b.out, sizeof(int) * 5 * 9), 0);
  al_kvcache *before = c;
  int B0 = c->B;
  a.B = 3; // a smaller batch keeps the cache
  cr_assert_eq(gen_run(m, &c, &a, &o), AL_OK, "%s", al_errmsg());
  cr_assert_eq(c, before);
  cr_assert_eq(c->B, B0);
  gen_free(&a), gen_free(&b);
  al_kvcache_free(c);
  al_gpt_free(m);
}

Test(sample, samples_do_not_depend_on_the_attention_thread_count) {
  // big enough for the parallel attention loop (rows x heads x positions x HS > 65536)
  const int V = 50, B = 32, max_new = 36;
  al_gpt *m = model(V, 48, 64, 1, 4, 17, 0.2f);
  gen_t a = gen_alloc(B, 8, max_new, V, 18, 8), b = gen_alloc(B, 8, max_new, V, 18, 8);
  al_sample_opts o = al_sample_opts_default();
  o.max_new = max_new;
  o.seed = 4;
  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  cr_assert_eq(gen_run(m, NULL, &a, &o), AL_OK, "%s", al_errmsg());
  omp_set_num_threads(2);
  cr_assert_eq(gen_run(m, NULL, &b, &o), AL_OK, "%s", al_errmsg());
  omp_set_num_threads(saved);
  cr_assert_eq(memcmp(a.out, b.out, sizeof(int) * B * max_new), 0);
  cr_assert_eq(memcmp(a.lp, b.lp, sizeof(float) * B * max_new), 0);
  gen_free(&a), gen_free(&b);
  al_gpt_free(m);
}

Test(sample, temperature_zero_follows_the_argmax_path_of_the_full_model) {
  const int V = 41;
  al_gpt *m = model(V, 32, 32, 2, 4, 21, 0.4f);
  gen_t g = gen_alloc(5, 6, 14, V, 22, 1);
  al_sample_opts o = al_sample_opts_default();
  o.max_new = 14;
  o.temperature = 0.0f;
  cr_assert_eq(gen_run(m, NULL, &g, &o), AL_OK, "%s", al_errmsg());
  int buf[64];
  float ref[41];
  for (int b = 0; b < g.B; b++) {
    cr_assert_eq(g.len[b], 14);
    for (int j = 0; j < g.len[b]; j++) {
      int n = context(&g, b, j, buf);
      full_next_logits(m, buf, n, ref);
      int am = 0;
      for (int v = 1; v < V; v++)
        if (ref[v] > ref[am]) am = v;
      cr_assert_eq(g.out[b * 14 + j], am, "seq %d token %d: %d, argmax %d", b, j,
                   g.out[b * 14 + j], am);
      // greedy reports the temperature-1 log-prob
      double ls[41];
      log_softmax_d(ls, ref, V, 1.0);
      cr_assert_float_eq(g.lp[b * 14 + j], ls[am], 1e-5);
      cr_assert_float_eq(g.lpp[b * 14 + j], ls[am], 1e-5);
    }
  }
  gen_free(&g);
  al_gpt_free(m);
}

Test(sample, sampler_logprobs_equal_teacher_forced_scores) {
  const int V = 33, B = 7, max_new = 10;
  al_gpt *m = model(V, 24, 32, 2, 4, 31, 0.3f);
  gen_t g = gen_alloc(B, 6, max_new, V, 32, 1);
  al_sample_opts o = al_sample_opts_default();
  o.max_new = max_new;
  o.seed = 5;
  o.eos = 3; // some sequences end early: scoring must follow the ragged lengths
  cr_assert_eq(gen_run(m, NULL, &g, &o), AL_OK, "%s", al_errmsg());
  float *sc = calloc(B * max_new, sizeof(float)), sum[7];
  cr_assert_eq(al_sample_score(m, g.prompts, g.plen, g.Tp, g.out, g.len, max_new, B, sc, sum,
                               NULL), AL_OK, "%s", al_errmsg());
  double worst = 0.0;
  for (int b = 0; b < B; b++) {
    double s = 0.0;
    for (int j = 0; j < g.len[b]; j++) {
      float a = g.lp[b * max_new + j], p = g.lpp[b * max_new + j], r = sc[b * max_new + j];
      cr_assert_float_eq(a, p, 1e-6, "T=1 untruncated: sampled-from and plain log-probs differ");
      worst = fmax(worst, fabs(a - r));
      cr_assert_float_eq(a, r, 1e-5, "seq %d token %d: sampler %g score %g", b, j, a, r);
      s += r;
    }
    for (int j = g.len[b]; j < max_new; j++) cr_assert_eq(sc[b * max_new + j], 0.0f);
    cr_assert_float_eq(sum[b], s, 1e-4);
  }
  cr_log_info("sampler vs scoring log-probs: max abs diff %.3g", worst);
  free(sc);
  gen_free(&g);
  al_gpt_free(m);
}

Test(sample, ragged_prompts_give_the_completions_of_each_prompt_alone) {
  const int V = 37, max_new = 9;
  al_gpt *m = model(V, 32, 32, 2, 4, 41, 0.4f);
  gen_t g = gen_alloc(5, 8, max_new, V, 42, 1);
  cr_assert_neq(g.plen[0], g.plen[1]);
  al_sample_opts o = al_sample_opts_default();
  o.max_new = max_new;
  o.temperature = 0.0f;
  al_kvcache *c = NULL;
  cr_assert_eq(gen_run(m, &c, &g, &o), AL_OK, "%s", al_errmsg());
  for (int b = 0; b < g.B; b++) {
    int out[9], len;
    float lp[9];
    cr_assert_eq(al_sample_generate(m, &c, g.prompts + b * g.Tp, g.plen + b, 1, g.Tp, &o, out,
                                    &len, lp, NULL), AL_OK, "%s", al_errmsg());
    cr_assert_eq(len, g.len[b]);
    for (int j = 0; j < len; j++) {
      cr_assert_eq(out[j], g.out[b * max_new + j], "seq %d (prompt %d) token %d", b, g.plen[b], j);
      cr_assert_float_eq(lp[j], g.lp[b * max_new + j], 1e-5);
    }
  }
  al_kvcache_free(c);
  gen_free(&g);
  al_gpt_free(m);
}

Test(sample, eos_stops_a_sequence_and_is_counted) {
  // greedy, so that each sequence's path does not depend on when the others stop
  const int V = 23, max_new = 12;
  al_gpt *m = model(V, 24, 24, 2, 4, 51, 0.3f);
  gen_t g = gen_alloc(6, 4, max_new, V, 52, 1);
  al_sample_opts o = al_sample_opts_default();
  o.max_new = max_new;
  o.temperature = 0.0f;
  cr_assert_eq(gen_run(m, NULL, &g, &o), AL_OK, "%s", al_errmsg());
  int *ref = malloc(sizeof(int) * 6 * max_new);
  memcpy(ref, g.out, sizeof(int) * 6 * max_new);
  o.eos = ref[4]; // a token sequence 0 emits at step 4 (maybe earlier too)
  cr_assert_eq(gen_run(m, NULL, &g, &o), AL_OK, "%s", al_errmsg());
  int stopped = 0;
  for (int b = 0; b < g.B; b++) {
    int expect = 0;
    while (expect < max_new && ref[b * max_new + expect] != o.eos) expect++;
    expect = expect < max_new ? expect + 1 : max_new;
    cr_assert_eq(g.len[b], expect, "seq %d: length %d, expected %d", b, g.len[b], expect);
    for (int j = 0; j < expect; j++) cr_assert_eq(g.out[b * max_new + j], ref[b * max_new + j]);
    if (expect < max_new || ref[b * max_new + max_new - 1] == o.eos) stopped++;
    for (int j = expect; j < max_new; j++) {
      cr_assert_eq(g.out[b * max_new + j], -1);
      cr_assert_eq(g.lp[b * max_new + j], 0.0f);
    }
  }
  cr_assert_geq(stopped, 1);
  cr_assert_leq(g.len[0], 5);
  cr_assert_eq(g.out[g.len[0] - 1], o.eos);
  free(ref);
  gen_free(&g);
  al_gpt_free(m);
}

// ---- truncation rules (one logits row, many draws) ----

static void probs_sorted(const float *z, int V, double invT, double *p, int *order) {
  double ls[64];
  log_softmax_d(ls, z, V, invT);
  for (int v = 0; v < V; v++) p[v] = exp(ls[v]), order[v] = v;
  for (int i = 0; i < V; i++) // selection sort: prob desc, ties by id
    for (int j = i + 1; j < V; j++)
      if (z[order[j]] > z[order[i]] || (z[order[j]] == z[order[i]] && order[j] < order[i])) {
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
}

Test(sample, top_k_never_emits_outside_the_top_k_and_renormalises) {
  const int V = 20, K = 4, N = 20000;
  float z[20];
  tu_fill_normal(z, V, 61, 1.5f);
  double p[20];
  int order[20];
  al_sample_opts o = al_sample_opts_default();
  o.top_k = K;
  o.temperature = 0.8f;
  probs_sorted(z, V, 1.0 / 0.8, p, order);
  double Z = 0.0;
  for (int i = 0; i < K; i++) Z += p[order[i]];
  int count[20] = {0}, intop[20] = {0};
  for (int i = 0; i < K; i++) intop[order[i]] = 1;
  al_rng r;
  al_rng_seed(&r, 62, 0);
  for (int n = 0; n < N; n++) {
    int tok;
    float lp, lpp;
    cr_assert_eq(al_sample_token(z, V, &o, &r, NULL, NULL, &tok, &lp, &lpp), AL_OK);
    cr_assert(intop[tok], "token %d is outside the top %d", tok, K);
    cr_assert_float_eq(lp, log(p[tok] / Z), 1e-5);
    count[tok]++;
  }
  for (int i = 0; i < K; i++) {
    int v = order[i];
    double f = (double)count[v] / N, e = p[v] / Z, sd = sqrt(e * (1 - e) / N);
    cr_assert_lt(fabs(f - e), 5 * sd + 1e-3, "token %d: frequency %g, expected %g", v, f, e);
  }
}

Test(sample, top_p_never_emits_outside_the_nucleus_and_renormalises) {
  const int V = 24, N = 20000;
  const float P = 0.6f;
  float z[24];
  tu_fill_normal(z, V, 71, 1.2f);
  double p[24];
  int order[24];
  probs_sorted(z, V, 1.0, p, order);
  int in[24] = {0}, size = 0;
  double cum = 0.0;
  while (cum < P) cum += p[order[size]], in[order[size]] = 1, size++;
  cr_assert_gt(size, 1);
  cr_assert_lt(size, V);
  al_sample_opts o = al_sample_opts_default();
  o.top_p = P;
  al_rng r;
  al_rng_seed(&r, 72, 0);
  int count[24] = {0};
  for (int n = 0; n < N; n++) {
    int tok;
    float lp;
    cr_assert_eq(al_sample_token(z, V, &o, &r, NULL, NULL, &tok, &lp, NULL), AL_OK);
    cr_assert(in[tok], "token %d is outside the nucleus of %d tokens", tok, size);
    cr_assert_float_eq(lp, log(p[tok] / cum), 1e-5);
    count[tok]++;
  }
  for (int v = 0; v < V; v++) {
    if (!in[v]) continue;
    double f = (double)count[v] / N, e = p[v] / cum, sd = sqrt(e * (1 - e) / N);
    cr_assert_lt(fabs(f - e), 5 * sd + 1e-3, "token %d: frequency %g, expected %g", v, f, e);
  }
}

Test(sample, untruncated_draws_follow_the_tempered_softmax) {
  const int V = 10, N = 30000;
  float z[10];
  tu_fill_normal(z, V, 81, 1.0f);
  double ls[10];
  log_softmax_d(ls, z, V, 1.0 / 1.7);
  al_sample_opts o = al_sample_opts_default();
  o.temperature = 1.7f;
  al_rng r;
  al_rng_seed(&r, 82, 0);
  int count[10] = {0};
  for (int n = 0; n < N; n++) {
    int tok;
    float lp;
    cr_assert_eq(al_sample_token(z, V, &o, &r, NULL, NULL, &tok, &lp, NULL), AL_OK);
    cr_assert_float_eq(lp, ls[tok], 1e-5);
    count[tok]++;
  }
  for (int v = 0; v < V; v++) {
    double f = (double)count[v] / N, e = exp(ls[v]), sd = sqrt(e * (1 - e) / N);
    cr_assert_lt(fabs(f - e), 5 * sd + 1e-3, "token %d: frequency %g, expected %g", v, f, e);
  }
}

Test(sample, generated_tokens_respect_top_k_and_top_p_of_the_full_model) {
  const int V = 29, B = 8, max_new = 8;
  al_gpt *m = model(V, 24, 32, 2, 4, 91, 0.5f);
  int buf[64];
  float ref[29];
  double p[29];
  int order[29];
  for (int mode = 0; mode < 2; mode++) {
    gen_t g = gen_alloc(B, 5, max_new, V, 92 + mode, 1);
    al_sample_opts o = al_sample_opts_default();
    o.max_new = max_new;
    o.seed = 93;
    if (mode == 0) o.top_k = 3;
    else o.top_p = 0.5f;
    cr_assert_eq(gen_run(m, NULL, &g, &o), AL_OK, "%s", al_errmsg());
    for (int b = 0; b < B; b++)
      for (int j = 0; j < g.len[b]; j++) {
        full_next_logits(m, buf, context(&g, b, j, buf), ref);
        probs_sorted(ref, V, 1.0, p, order);
        int tok = g.out[b * max_new + j], rank = 0;
        while (order[rank] != tok) rank++;
        if (mode == 0) {
          cr_assert_lt(rank, 3, "seq %d token %d has rank %d", b, j, rank);
        } else {
          double before = 0.0; // mass of the tokens ranked before tok
          for (int i = 0; i < rank; i++) before += p[order[i]];
          cr_assert_lt(before, 0.5 + 1e-4, "seq %d token %d outside the nucleus", b, j);
        }
      }
    gen_free(&g);
  }
  al_gpt_free(m);
}

Test(sample, generate_refuses_bad_arguments) {
  const int V = 17;
  al_gpt *m = model(V, 10, 16, 1, 2, 101, 0.1f);
  int prompts[2 * 4] = {1, 2, 3, 4, 5, 6, 7, 8}, plen[2] = {4, 2}, out[2 * 7], len[2];
  al_sample_opts o = al_sample_opts_default();
  o.max_new = 7; // 4 + 7 > 10
  cr_assert_eq(al_sample_generate(m, NULL, prompts, plen, 2, 4, &o, out, len, NULL, NULL), AL_ESHAPE);
  cr_assert(strstr(al_errmsg(), "prompt 0"), "%s", al_errmsg());
  o.max_new = 6;
  cr_assert_eq(al_sample_generate(m, NULL, prompts, plen, 2, 4, &o, out, len, NULL, NULL), AL_OK,
               "%s", al_errmsg());
  o.temperature = -1.0f;
  cr_assert_eq(al_sample_generate(m, NULL, prompts, plen, 2, 4, &o, out, len, NULL, NULL), AL_EINVAL);
  o.temperature = 1.0f;
  o.top_p = 0.0f;
  cr_assert_eq(al_sample_generate(m, NULL, prompts, plen, 2, 4, &o, out, len, NULL, NULL), AL_EINVAL);
  o.top_p = 1.0f;
  o.eos = V;
  cr_assert_eq(al_sample_generate(m, NULL, prompts, plen, 2, 4, &o, out, len, NULL, NULL), AL_EINVAL);
  o.eos = -1;
  prompts[5] = V;
  cr_assert_eq(al_sample_generate(m, NULL, prompts, plen, 2, 4, &o, out, len, NULL, NULL), AL_EINVAL);
  cr_assert(strstr(al_errmsg(), "prompt 1 token 1"), "%s", al_errmsg());
  prompts[5] = 0;
  plen[1] = 0;
  cr_assert_eq(al_sample_generate(m, NULL, prompts, plen, 2, 4, &o, out, len, NULL, NULL), AL_EINVAL);
  al_gpt_free(m);
}

// ---- scoring and KL ----

// Direct per-position reference: one sequence at a time, log-softmax in double.
static void direct_kl(al_gpt *p, al_gpt *q, const gen_t *g, int b, double *kl, double *ent,
                      double *lpsum) {
  int buf[64], V = p->cfg.V;
  float zp[64], zq[64];
  double lp[64], lq[64];
  *kl = *ent = *lpsum = 0.0;
  for (int j = 0; j < g->len[b]; j++) {
    int n = context(g, b, j, buf);
    full_next_logits(p, buf, n, zp);
    full_next_logits(q, buf, n, zq);
    log_softmax_d(lp, zp, V, 1.0);
    log_softmax_d(lq, zq, V, 1.0);
    for (int v = 0; v < V; v++) {
      *kl += exp(lp[v]) * (lp[v] - lq[v]);
      *ent -= exp(lp[v]) * lp[v];
    }
    *lpsum += lp[g->out[b * g->max_new + j]];
  }
}

Test(sample, kl_of_a_model_to_itself_is_zero) {
  const int V = 27, B = 5, max_new = 6;
  al_gpt *m = model(V, 20, 24, 2, 4, 111, 0.4f), *clone = NULL;
  cr_assert_eq(al_gpt_clone(&clone, m), AL_OK, "%s", al_errmsg());
  gen_t g = gen_alloc(B, 5, max_new, V, 112, 1);
  al_sample_opts o = al_sample_opts_default();
  o.max_new = max_new;
  cr_assert_eq(gen_run(m, NULL, &g, &o), AL_OK, "%s", al_errmsg());
  float kl[5], tok[5 * 6], ent[5];
  cr_assert_eq(al_sample_kl(m, m, g.prompts, g.plen, g.Tp, g.out, g.len, max_new, B, kl, tok, ent),
               AL_OK, "%s", al_errmsg());
  for (int b = 0; b < B; b++) cr_assert_eq(kl[b], 0.0f, "seq %d: KL to itself %g", b, kl[b]);
  cr_assert_eq(al_sample_kl(m, clone, g.prompts, g.plen, g.Tp, g.out, g.len, max_new, B, kl, tok,
                            NULL), AL_OK, "%s", al_errmsg());
  for (int b = 0; b < B; b++) cr_assert_eq(kl[b], 0.0f, "seq %d: KL to a clone %g", b, kl[b]);
  for (int b = 0; b < B; b++) cr_assert_gt(ent[b], 0.0f);
  gen_free(&g);
  al_gpt_free(clone);
  al_gpt_free(m);
}

Test(sample, kl_is_positive_for_a_different_model_and_matches_a_direct_computation) {
  const int V = 27, B = 37, max_new = 5; // B > 32: crosses a scoring chunk boundary
  al_gpt *p = model(V, 20, 24, 2, 4, 121, 0.4f), *q = model(V, 20, 24, 2, 4, 122, 0.4f);
  gen_t g = gen_alloc(B, 5, max_new, V, 123, 1);
  al_sample_opts o = al_sample_opts_default();
  o.max_new = max_new;
  o.eos = 2;
  cr_assert_eq(gen_run(p, NULL, &g, &o), AL_OK, "%s", al_errmsg());
  float kl[37], tok[37 * 5], ent[37], lp[37 * 5], sum[37], tent[37 * 5];
  cr_assert_eq(al_sample_kl(p, q, g.prompts, g.plen, g.Tp, g.out, g.len, max_new, B, kl, tok, ent),
               AL_OK, "%s", al_errmsg());
  cr_assert_eq(al_sample_score(p, g.prompts, g.plen, g.Tp, g.out, g.len, max_new, B, lp, sum, tent),
               AL_OK, "%s", al_errmsg());
  for (int b = 0; b < B; b++) {
    double dkl, dent, dlp;
    direct_kl(p, q, &g, b, &dkl, &dent, &dlp);
    cr_assert_gt(kl[b], 0.0f);
    cr_assert_float_eq(kl[b], dkl, 1e-5 * fmax(1.0, dkl), "seq %d: KL %g direct %g", b, kl[b], dkl);
    cr_assert_float_eq(ent[b], dent, 1e-4, "seq %d: entropy %g direct %g", b, ent[b], dent);
    cr_assert_float_eq(sum[b], dlp, 1e-4, "seq %d: score %g direct %g", b, sum[b], dlp);
    double s = 0.0, e = 0.0;
    for (int j = 0; j < max_new; j++) s += tok[b * max_new + j], e += tent[b * max_new + j];
    cr_assert_float_eq(s, kl[b], 1e-5);
    cr_assert_float_eq(e, dent, 1e-4, "seq %d: score entropy %g direct %g", b, e, dent);
  }
  gen_free(&g);
  al_gpt_free(p);
  al_gpt_free(q);
}

Test(sample, score_refuses_sequences_longer_than_the_context) {
  al_gpt *m = model(13, 6, 16, 1, 2, 131, 0.1f);
  int prompts[4] = {1, 2, 3, 4}, plen[1] = {4}, comp[4] = {5, 6, 7, 8}, clen[1] = {4};
  float lp[4];
  cr_assert_eq(al_sample_score(m, prompts, plen, 4, comp, clen, 4, 1, lp, NULL, NULL), AL_ESHAPE);
  clen[0] = 3; // 4 + 3 - 1 = 6 inputs fit
  cr_assert_eq(al_sample_score(m, prompts, plen, 4, comp, clen, 4, 1, lp, NULL, NULL), AL_OK, "%s",
               al_errmsg());
  al_gpt_free(m);
}
