// Tests of core/ckpt.c: model directories round trip bit-exactly in Hugging Face GPT-2 form,
// every malformed directory is refused with its message, training state round trips and a
// resumed run equals an uninterrupted one bit for bit.
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "al_ckpt.h"
#include "al_safetensors.h"
#include "testutil.h"

static al_gpt *tiny(int scalar, uint64_t seed) {
  al_gpt_config c = al_gpt_config_make(11, 8, 8, 2, 2);
  c.scalar = scalar;
  al_gpt *m;
  cr_assert_eq(al_gpt_new(&m, &c, seed), AL_OK, "%s", al_errmsg());
  // make the biases and LN parameters non-trivial so the round trip checks every byte
  for (size_t i = 0; i < m->nparams; i++) m->params[i] += 1e-3f * (float)((i * 7919) % 13);
  return m;
}

static char *path_in(const char *dir, const char *name) {
  char *p = malloc(strlen(dir) + strlen(name) + 2);
  sprintf(p, "%s/%s", dir, name);
  return p;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
  b[n] = 0;
  fclose(f);
  return b;
}

static void spit(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

static int count_tmp(const char *dir) {
  DIR *d = opendir(dir);
  int k = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strstr(e->d_name, ".tmp.")) k++;
  closedir(d);
  return k;
}

static const int toks[2 * 6] = {1, 5, 9, 2, 0, 10, 3, 3, 7, 4, 8, 6};

Test(ckpt, save_then_load_is_bit_exact_in_params_and_logits) {
  char *dir = tu_tmpdir("ckpt-rt");
  al_gpt *m = tiny(0, 42), *r;
  cr_assert_eq(al_ckpt_save(m, dir), AL_OK, "%s", al_errmsg());
  cr_assert_eq(al_ckpt_load(&r, dir), AL_OK, "%s", al_errmsg());
  cr_assert_eq(memcmp(&r->cfg, &m->cfg, sizeof m->cfg), 0);
  cr_assert_eq(r->nparams, m->nparams);
  cr_assert_eq(memcmp(r->params, m->params, m->nparams * sizeof(float)), 0);
  cr_assert_eq(al_gpt_forward(m, toks, 2, 6), AL_OK);
  cr_assert_eq(al_gpt_forward(r, toks, 2, 6), AL_OK);
  cr_assert_eq(memcmp(m->a.logits, r->a.logits, 2 * 6 * 11 * sizeof(float)), 0);
  cr_assert_eq(count_tmp(dir), 0);
  // saving over an existing checkpoint replaces it
  al_gpt *m2 = tiny(0, 43);
  cr_assert_eq(al_ckpt_save(m2, dir), AL_OK, "%s", al_errmsg());
  al_gpt_free(r);
  cr_assert_eq(al_ckpt_load(&r, dir), AL_OK, "%s", al_errmsg());
  cr_assert_eq(memcmp(r->params, m2->params, m2->nparams * sizeof(float)), 0);
  al_gpt_free(r);
  al_gpt_free(m);
  al_gpt_free(m2);
  free(dir);
}

Test(ckpt, scalar_head_round_trips_as_score_weight_1_by_C) {
  char *dir = tu_tmpdir("ckpt-scalar");
  al_gpt *m = tiny(1, 7), *r;
  cr_assert_eq(al_ckpt_save(m, dir), AL_OK, "%s", al_errmsg());
  char *mp = path_in(dir, "model.safetensors");
  al_st_file *f;
  cr_assert_eq(al_st_read(&f, mp), AL_OK, "%s", al_errmsg());
  const al_st_tensor *t = al_st_find(f, "score.weight");
  cr_assert_not_null(t);
  cr_assert_eq(t->ndim, 2);
  cr_assert_eq(t->shape[0], 1);
  cr_assert_eq(t->shape[1], 8);
  al_st_free(f);
  cr_assert_eq(al_ckpt_load(&r, dir), AL_OK, "%s", al_errmsg());
  cr_assert_eq(r->cfg.scalar, 1);
  cr_assert_eq(memcmp(r->params, m->params, m->nparams * sizeof(float)), 0);
  cr_assert_eq(al_gpt_forward(m, toks, 2, 6), AL_OK);
  cr_assert_eq(al_gpt_forward(r, toks, 2, 6), AL_OK);
  cr_assert_eq(memcmp(m->a.values, r->a.values, 12 * sizeof(float)), 0);
  al_gpt_free(r);
  al_gpt_free(m);
  free(mp);
  free(dir);
}

Test(ckpt, files_follow_hugging_face_gpt2_names_and_config) {
  char *dir = tu_tmpdir("ckpt-hf");
  al_gpt *m = tiny(0, 1);
  cr_assert_eq(al_ckpt_save(m, dir), AL_OK, "%s", al_errmsg());
  char *mp = path_in(dir, "model.safetensors"), *cp = path_in(dir, "config.json");
  al_st_file *f;
  cr_assert_eq(al_st_read(&f, mp), AL_OK, "%s", al_errmsg());
  cr_assert_str_eq(al_st_meta(f, "format"), "pt");
  cr_assert_eq(f->ntensors, 4 + 12 * 2); // wte wpe ln_f.{w,b} + 12 per layer; no lm_head
  cr_assert_null(al_st_find(f, "lm_head.weight"));
  const al_st_tensor *t = al_st_find(f, "h.1.attn.c_attn.weight");
  cr_assert_not_null(t);
  cr_assert_eq(t->shape[0], 8);
  cr_assert_eq(t->shape[1], 24); // in-by-out (Conv1D)
  t = al_st_find(f, "h.0.mlp.c_proj.weight");
  cr_assert_eq(t->shape[0], 32);
  cr_assert_eq(t->shape[1], 8);
  t = al_st_find(f, "wte.weight");
  cr_assert_eq(t->shape[0], 11);
  cr_assert_eq((f->data_start) % 8, 0);
  float w[11 * 8];
  cr_assert_eq(al_st_copy(f, "wte.weight", AL_ST_F32, w, 88), AL_OK);
  cr_assert_eq(memcmp(w, m->p.wte, sizeof w), 0);
  al_st_free(f);
  char *text = slurp(cp);
  cJSON *j = cJSON_Parse(text);
  cr_assert_not_null(j);
  cr_assert_str_eq(cJSON_GetObjectItem(j, "model_type")->valuestring, "gpt2");
  cr_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "architectures"), 0)->valuestring,
                   "GPT2LMHeadModel");
  cr_assert_eq(cJSON_GetObjectItem(j, "vocab_size")->valuedouble, 11);
  cr_assert_eq(cJSON_GetObjectItem(j, "n_positions")->valuedouble, 8);
  cr_assert_eq(cJSON_GetObjectItem(j, "n_ctx")->valuedouble, 8);
  cr_assert_eq(cJSON_GetObjectItem(j, "n_embd")->valuedouble, 8);
  cr_assert_eq(cJSON_GetObjectItem(j, "n_layer")->valuedouble, 2);
  cr_assert_eq(cJSON_GetObjectItem(j, "n_head")->valuedouble, 2);
  cr_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "n_inner")));
  cr_assert_eq(cJSON_GetObjectItem(j, "layer_norm_epsilon")->valuedouble, 1e-5);
  cr_assert(strstr(text, "1e-05"), "epsilon printed as %s", text);
  cr_assert_str_eq(cJSON_GetObjectItem(j, "activation_function")->valuestring, "gelu_new");
  cr_assert_eq(cJSON_GetObjectItem(j, "resid_pdrop")->valuedouble, 0.0);
  cr_assert_eq(cJSON_GetObjectItem(j, "initializer_range")->valuedouble, 0.02);
  // no tokenizer: null ids (GPT2Config's default 50256 would lie outside the vocabulary)
  cr_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "bos_token_id")));
  cr_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "eos_token_id")));
  cr_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "pad_token_id")));
  cJSON *ext = cJSON_GetObjectItem(j, "alignlab");
  cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(ext, "scalar_head")));
  cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(ext, "lm")));
  cr_assert_str_eq(cJSON_GetObjectItem(ext, "version")->valuestring, AL_VERSION);
  cJSON_Delete(j);
  free(text);
  free(mp);
  free(cp);
  al_gpt_free(m);
  free(dir);
}

// ---- malformed directories ----

// Save a good tiny model into a fresh dir; return the dir.
static char *good_dir(const char *tag, int scalar) {
  char *dir = tu_tmpdir(tag);
  al_gpt *m = tiny(scalar, 5);
  cr_assert_eq(al_ckpt_save(m, dir), AL_OK, "%s", al_errmsg());
  al_gpt_free(m);
  return dir;
}

// Rewrite dir/config.json with key set to the JSON value `val` (NULL removes the key).
static void set_config(const char *dir, const char *key, const char *val) {
  char *cp = path_in(dir, "config.json");
  char *text = slurp(cp);
  cJSON *j = cJSON_Parse(text);
  cJSON_DeleteItemFromObject(j, key);
  if (val) cJSON_AddItemToObject(j, key, cJSON_Parse(val));
  char *out = cJSON_Print(j);
  spit(cp, out);
  free(out);
  cJSON_Delete(j);
  free(text);
  free(cp);
}

static void expect_load_fails(const char *dir, al_status st, const char *msg) {
  al_gpt *r = (al_gpt *)1;
  al_status got = al_ckpt_load(&r, dir);
  cr_assert_eq(got, st, "got %s: %s", al_status_name(got), al_errmsg());
  cr_assert_null(r);
  cr_assert(strstr(al_errmsg(), msg), "message '%s' lacks '%s'", al_errmsg(), msg);
}

Test(ckpt, config_with_bad_values_is_refused) {
  struct {
    const char *key, *val, *msg;
  } cases[] = {
      {"n_head", "3", "config.json: gpt config: C (n_embd) = 8 is not a multiple of NH (n_head) = 3"},
      {"vocab_size", "-5", "\"vocab_size\" must be an integer"},
      {"vocab_size", "1", "V (vocab_size) = 1"},
      {"n_layer", "2.5", "\"n_layer\" must be an integer"},
      {"n_layer", "\"2\"", "\"n_layer\" must be an integer"},
      {"n_embd", "3000000000", "\"n_embd\" must be an integer in [1, 2147483647]"},
      {"n_embd", NULL, "config.json: missing \"n_embd\""},
      {"model_type", "\"llama\"", "\"model_type\" must be \"gpt2\""},
      {"activation_function", "\"relu\"", "\"activation_function\" must be \"gelu_new\""},
      {"n_inner", "7", "\"n_inner\" = 7 is not supported"},
      {"n_ctx", "4", "\"n_ctx\" = 4 differs from \"n_positions\" = 8"},
      {"layer_norm_epsilon", "0", "ln_eps (layer_norm_epsilon)"},
      {"layer_norm_epsilon", "\"x\"", "\"layer_norm_epsilon\" must be a number"},
      {"tie_word_embeddings", "false", "\"tie_word_embeddings\" = false is not supported"},
      {"alignlab", "{\"scalar_head\":1}", "\"alignlab.scalar_head\" must be a boolean"},
      {"eos_token_id", "11", "\"eos_token_id\" must be an integer in [0, 10]"},
      {"bos_token_id", "-1", "\"bos_token_id\" must be an integer in [0, 10]"},
      {"pad_token_id", "[1, 11]", "\"pad_token_id\" must hold token ids in [0, 11)"},
      {"alignlab", "{\"scalar_head\":false,\"lm\":false}", "no output head"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char tag[32];
    snprintf(tag, sizeof tag, "ckpt-cfg%zu", i);
    char *dir = good_dir(tag, 0);
    set_config(dir, cases[i].key, cases[i].val);
    expect_load_fails(dir, AL_EFORMAT, cases[i].msg);
    free(dir);
  }
}

Test(ckpt, config_that_is_not_clean_json_is_refused) {
  char *dir = good_dir("ckpt-json", 0);
  char *cp = path_in(dir, "config.json");
  spit(cp, "{\"model_type\": \"gpt2\",");
  expect_load_fails(dir, AL_EFORMAT, "config.json: not valid JSON");
  spit(cp, "{\"model_type\": \"gpt2\"} {}");
  expect_load_fails(dir, AL_EFORMAT, "trailing bytes");
  spit(cp, "[1]");
  expect_load_fails(dir, AL_EFORMAT, "not a JSON object");
  spit(cp, "{\"model_type\":\"gpt2\",\"n_layer\":2,\"n_layer\":3}");
  expect_load_fails(dir, AL_EFORMAT, "duplicate key 'n_layer'");
  remove(cp);
  expect_load_fails(dir, AL_EIO, "config.json: cannot open");
  free(cp);
  free(dir);
}

// Write dir/model.safetensors from the good file with tensor `drop` removed and `add` (a 1-D F32
// of n floats) added.
static void rewrite_tensors(const char *dir, const char *drop, const char *add, uint64_t n,
                            al_st_dtype dt) {
  char *mp = path_in(dir, "model.safetensors");
  al_st_file *f;
  cr_assert_eq(al_st_read(&f, mp), AL_OK, "%s", al_errmsg());
  al_st_entry *es = calloc((size_t)f->ntensors + 1, sizeof *es);
  int k = 0;
  for (int i = 0; i < f->ntensors; i++) {
    const al_st_tensor *t = &f->tensors[i];
    if (drop && strcmp(t->name, drop) == 0) continue;
    es[k++] = (al_st_entry){t->name, t->dtype, t->ndim, t->shape, t->data};
  }
  double *zeros = calloc(n + 1, sizeof(double));
  uint64_t shape[1] = {n};
  if (add) es[k++] = (al_st_entry){add, dt, 1, shape, zeros};
  const char *meta[] = {"format", "pt"};
  cr_assert_eq(al_st_write(mp, es, k, meta, 1), AL_OK, "%s", al_errmsg());
  al_st_free(f);
  free(es);
  free(zeros);
  free(mp);
}

Test(ckpt, missing_tensor_is_refused_by_name) {
  char *dir = good_dir("ckpt-miss", 0);
  rewrite_tensors(dir, "h.1.mlp.c_fc.bias", NULL, 0, AL_ST_F32);
  expect_load_fails(dir, AL_EFORMAT, "model.safetensors: 1 tensor(s) missing for this config: "
                                     "h.1.mlp.c_fc.bias");
  free(dir);
  // a scalar config with an LM-only file: score.weight is missing
  dir = good_dir("ckpt-miss2", 0);
  set_config(dir, "alignlab", "{\"scalar_head\":true,\"lm\":true}");
  expect_load_fails(dir, AL_EFORMAT, "missing for this config: score.weight");
  free(dir);
}

Test(ckpt, unexpected_tensor_is_refused_by_name) {
  char *dir = good_dir("ckpt-extra", 0);
  rewrite_tensors(dir, NULL, "lm_head.weight", 88, AL_ST_F32);
  expect_load_fails(dir, AL_EFORMAT, "1 unexpected tensor(s): lm_head.weight");
  free(dir);
}

Test(ckpt, wrong_shape_or_dtype_against_config_is_refused) {
  char *dir = good_dir("ckpt-shape", 0);
  set_config(dir, "vocab_size", "12");
  expect_load_fails(dir, AL_ESHAPE, "tensor 'wte.weight' has shape [11, 8] but config.json "
                                    "implies [12, 8]");
  free(dir);
  dir = good_dir("ckpt-shape2", 0);
  rewrite_tensors(dir, "ln_f.bias", "ln_f.bias", 9, AL_ST_F32);
  expect_load_fails(dir, AL_ESHAPE, "tensor 'ln_f.bias' has shape [9] but config.json implies [8]");
  free(dir);
  dir = good_dir("ckpt-dtype", 0);
  rewrite_tensors(dir, "ln_f.bias", "ln_f.bias", 8, AL_ST_F64);
  expect_load_fails(dir, AL_EFORMAT, "tensor 'ln_f.bias' has dtype F64, alignlab needs F32");
  free(dir);
}

Test(ckpt, corrupt_model_file_is_refused_with_its_path) {
  char *dir = good_dir("ckpt-corrupt", 0);
  char *mp = path_in(dir, "model.safetensors");
  FILE *f = fopen(mp, "r+b");
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fclose(f);
  cr_assert_eq(truncate(mp, n - 5), 0);
  expect_load_fails(dir, AL_EFORMAT, "model.safetensors: tensor");
  cr_assert(strstr(al_errmsg(), "out of bounds"), "%s", al_errmsg());
  remove(mp);
  expect_load_fails(dir, AL_EIO, "model.safetensors: cannot open");
  free(mp);
  free(dir);
}

// ---- training state ----

// One next-token training step on the fixed batch; returns the loss.
static float train_step(al_gpt *m, al_adamw *o) {
  int targets[12];
  for (int b = 0; b < 2; b++)
    for (int t = 0; t < 6; t++) targets[b * 6 + t] = t + 1 < 6 ? toks[b * 6 + t + 1] : -1;
  float logp[12], dlogp[12];
  cr_assert_eq(al_gpt_forward(m, toks, 2, 6), AL_OK, "%s", al_errmsg());
  cr_assert_eq(al_gpt_logprobs(m, targets, logp), AL_OK, "%s", al_errmsg());
  double loss = 0;
  for (int i = 0; i < 12; i++) {
    dlogp[i] = targets[i] >= 0 ? -1.0f / 10 : 0;
    loss -= targets[i] >= 0 ? logp[i] / 10 : 0;
  }
  cr_assert_eq(al_gpt_zero_grad(m), AL_OK);
  cr_assert_eq(al_gpt_backward(m, dlogp, NULL), AL_OK, "%s", al_errmsg());
  cr_assert_eq(al_adamw_step(o, m, 1e-2f, NULL), AL_OK, "%s", al_errmsg());
  return (float)loss;
}

Test(ckpt, training_state_round_trips) {
  char *dir = tu_tmpdir("ckpt-state");
  char *sp = path_in(dir, "state.safetensors");
  al_gpt *m = tiny(0, 3);
  al_adamw_config oc = al_adamw_defaults();
  oc.weight_decay = 0.1f;
  al_adamw *o, *o2;
  cr_assert_eq(al_adamw_new(&o, m, &oc), AL_OK);
  for (int i = 0; i < 3; i++) train_step(m, o);
  al_rng r[2], r2[2];
  al_rng_seed(&r[0], 1, 0);
  al_rng_seed(&r[1], 1, 1);
  for (int i = 0; i < 5; i++) al_rng_u64(&r[1]);
  r[1].s[3] = 0xFFFFFFFFFFFFFFFFULL; // a word with the top bit set survives the I64 storage
  const char *meta = "{\"step\": 3, \"data_cursor\": 17, \"name\": \"run \\\"a\\\"\"}";
  cr_assert_eq(al_ckpt_save_state(sp, o, r, 2, meta), AL_OK, "%s", al_errmsg());
  cr_assert_eq(al_adamw_new(&o2, m, &oc), AL_OK);
  char *back = NULL;
  cr_assert_eq(al_ckpt_load_state(sp, o2, r2, 2, &back), AL_OK, "%s", al_errmsg());
  cr_assert_eq(o2->step, 3);
  cr_assert_eq(memcmp(o2->m, o->m, o->n * sizeof(float)), 0);
  cr_assert_eq(memcmp(o2->v, o->v, o->n * sizeof(float)), 0);
  cr_assert_eq(memcmp(r2, r, sizeof r), 0);
  cr_assert_str_eq(back, meta);
  free(back);
  // the metadata and rngs are optional
  cr_assert_eq(al_ckpt_save_state(sp, o, NULL, 0, NULL), AL_OK, "%s", al_errmsg());
  back = (char *)1;
  cr_assert_eq(al_ckpt_load_state(sp, o2, NULL, 0, &back), AL_OK, "%s", al_errmsg());
  cr_assert_null(back);
  cr_assert_eq(count_tmp(dir), 0);
  al_adamw_free(o);
  al_adamw_free(o2);
  al_gpt_free(m);
  free(sp);
  free(dir);
}

Test(ckpt, resumed_training_equals_uninterrupted_training_bit_for_bit) {
  char *dir = tu_tmpdir("ckpt-resume");
  char *sp = path_in(dir, "state.safetensors");
  al_adamw_config oc = al_adamw_defaults();
  // straight: 6 steps
  al_gpt *a = tiny(0, 9);
  al_adamw *oa;
  cr_assert_eq(al_adamw_new(&oa, a, &oc), AL_OK);
  float la[6];
  for (int i = 0; i < 6; i++) la[i] = train_step(a, oa);
  cr_assert_lt(la[5], la[0]);
  // interrupted: 3 steps, save, drop everything, load, 3 more
  al_gpt *b = tiny(0, 9);
  al_adamw *ob;
  cr_assert_eq(al_adamw_new(&ob, b, &oc), AL_OK);
  for (int i = 0; i < 3; i++) train_step(b, ob);
  cr_assert_eq(al_ckpt_save(b, dir), AL_OK, "%s", al_errmsg());
  cr_assert_eq(al_ckpt_save_state(sp, ob, NULL, 0, "{}"), AL_OK, "%s", al_errmsg());
  al_gpt_free(b);
  al_adamw_free(ob);
  cr_assert_eq(al_ckpt_load(&b, dir), AL_OK, "%s", al_errmsg());
  cr_assert_eq(al_adamw_new(&ob, b, &oc), AL_OK);
  cr_assert_eq(al_ckpt_load_state(sp, ob, NULL, 0, NULL), AL_OK, "%s", al_errmsg());
  for (int i = 3; i < 6; i++) {
    float l = train_step(b, ob);
    cr_assert_eq(memcmp(&l, &la[i], sizeof l), 0, "step %d: %g vs %g", i, l, la[i]);
  }
  cr_assert_eq(memcmp(a->params, b->params, a->nparams * sizeof(float)), 0);
  cr_assert_eq(memcmp(oa->m, ob->m, oa->n * sizeof(float)), 0);
  cr_assert_eq(oa->step, ob->step);
  al_gpt_free(a);
  al_gpt_free(b);
  al_adamw_free(oa);
  al_adamw_free(ob);
  free(sp);
  free(dir);
}

Test(ckpt, bad_training_state_is_refused_and_changes_nothing) {
  char *dir = tu_tmpdir("ckpt-badstate");
  char *sp = path_in(dir, "state.safetensors");
  al_adamw_config oc = al_adamw_defaults();
  al_gpt *m = tiny(0, 3), *big;
  al_gpt_config bc = al_gpt_config_make(11, 8, 16, 2, 2);
  cr_assert_eq(al_gpt_new(&big, &bc, 1), AL_OK);
  al_adamw *o, *ob;
  cr_assert_eq(al_adamw_new(&o, m, &oc), AL_OK);
  cr_assert_eq(al_adamw_new(&ob, big, &oc), AL_OK);
  train_step(m, o);
  al_rng r[1];
  al_rng_seed(&r[0], 5, 0);
  cr_assert_eq(al_ckpt_save_state(sp, o, r, 1, "{\"a\":1}"), AL_OK, "%s", al_errmsg());
  // optimizer of another model
  cr_assert_eq(al_ckpt_load_state(sp, ob, r, 1, NULL), AL_ESHAPE);
  cr_assert(strstr(al_errmsg(), "optimizer state holds"), "%s", al_errmsg());
  cr_assert_eq(ob->step, 0);
  // rng count
  al_rng r3[3];
  cr_assert_eq(al_ckpt_load_state(sp, o, r3, 3, NULL), AL_ESHAPE);
  cr_assert(strstr(al_errmsg(), "holds 1 RNG state(s), 3 expected"), "%s", al_errmsg());
  // a model file is not a training state
  cr_assert_eq(al_ckpt_save(m, dir), AL_OK);
  char *mp = path_in(dir, "model.safetensors");
  cr_assert_eq(al_ckpt_load_state(mp, o, NULL, 0, NULL), AL_EFORMAT);
  cr_assert(strstr(al_errmsg(), "not an alignlab training-state file"), "%s", al_errmsg());
  // non-finite moments
  al_adamw *oz;
  cr_assert_eq(al_adamw_new(&oz, m, &oc), AL_OK);
  oz->v[10] = NAN;
  cr_assert_eq(al_ckpt_save_state(sp, oz, NULL, 0, NULL), AL_OK);
  float keep = o->v[10];
  cr_assert_eq(al_ckpt_load_state(sp, o, NULL, 0, NULL), AL_EFORMAT);
  cr_assert(strstr(al_errmsg(), "adamw.v[10] is negative or not finite"), "%s", al_errmsg());
  cr_assert_eq(o->v[10], keep);
  // metadata must be a JSON object
  cr_assert_eq(al_ckpt_save_state(sp, o, NULL, 0, "[1,2]"), AL_EINVAL);
  cr_assert(strstr(al_errmsg(), "not a JSON object"), "%s", al_errmsg());
  cr_assert_eq(al_ckpt_save_state(sp, o, NULL, 0, "{\"a\":"), AL_EINVAL);
  // a state without an optimizer cannot fill one
  cr_assert_eq(al_ckpt_save_state(sp, NULL, r, 1, NULL), AL_OK);
  cr_assert_eq(al_ckpt_load_state(sp, o, r, 1, NULL), AL_EFORMAT);
  cr_assert(strstr(al_errmsg(), "no optimizer state"), "%s", al_errmsg());
  cr_assert_eq(al_ckpt_load_state(sp, NULL, r, 1, NULL), AL_OK, "%s", al_errmsg());
  al_adamw_free(o);
  al_adamw_free(ob);
  al_adamw_free(oz);
  al_gpt_free(m);
  al_gpt_free(big);
  free(mp);
  free(sp);
  free(dir);
}
