// Tests of core/data.c: every record shape, the chat template and its masks, the HH split, the
// implicit prompt, truncation and drop counts, malformed lines (file:line messages, strict=0
// counts), JSONL reading, and batching (padding, masks, deterministic shuffling).
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "al_data.h"
#include "testutil.h"

#define FIX(name) AL_SOURCE_DIR "/tests/data/" name

// word tokenizer: words 0..9, then specials
static const char *WORDS[] = {"the", "cat", "sat", "on", "mat", "add", "1", "2", "3", "4"};
enum { THE, CAT, SAT, ON, MAT, ADD, ONE, TWO, THREE, FOUR };

static al_tok *words_tok(void) {
  const char *sp[] = {"<pad>", "<bos>", "<eos>", AL_DATA_CHAT_SPECIALS};
  al_tok_specials s = {sp, 7, NULL, NULL, NULL};
  al_tok *t;
  cr_assert_eq(al_tok_words(&t, WORDS, 10, &s, NULL), AL_OK, "%s", al_errmsg());
  return t;
}
#define PAD 10
#define BOS 11
#define EOS 12
#define SYS 13
#define USR 14
#define AST 15
#define END 16

static al_tok *bpe_tok(void) {
  const char *sp[] = {AL_DATA_CHAT_SPECIALS};
  const char *texts[] = {"What is the capital of France? Paris. The sky is blue. Human: "
                         "Assistant: Sure, hi! go away. I don't know. Rome is the capital."};
  al_bpe_opts o = {.vocab = 300, .sp = {sp, 4, NULL, NULL, NULL}};
  al_tok *t;
  cr_assert_eq(al_bpe_train(&t, texts, NULL, 1, &o), AL_OK, "%s", al_errmsg());
  return t;
}

static al_dataset *new_ds(al_data_kind k, const al_tok *t, const al_data_opts *o) {
  al_dataset *d;
  cr_assert_eq(al_data_new(&d, k, t, o), AL_OK, "%s", al_errmsg());
  return d;
}

static void add(al_dataset *d, const char *js) {
  cr_assert_eq(al_data_add_line(d, js, strlen(js), "rec", 1), AL_OK, "%s", al_errmsg());
}

static void assert_seq(const al_seq *s, const int *ids, const int *mask, int n) {
  cr_assert_eq(s->len, n, "len %d want %d", s->len, n);
  for (int i = 0; i < n; i++) {
    cr_assert_eq(s->ids[i], ids[i], "id %d: %d want %d", i, s->ids[i], ids[i]);
    cr_assert_eq(s->mask[i], mask[i], "mask %d: %d want %d", i, s->mask[i], mask[i]);
  }
}

static char *decode_range(const al_tok *t, const al_seq *s, int from, int to) {
  char *out;
  cr_assert_eq(al_tok_decode(t, s->ids + from, to - from, &out, NULL), AL_OK);
  return out;
}

Test(data, text_record_trains_every_token_and_ends_with_eos) {
  al_tok *t = words_tok();
  al_data_opts o = al_data_defaults();
  o.add_bos = 1;
  al_dataset *d = new_ds(AL_DATA_SFT, t, &o);
  add(d, "{\"text\": \"the cat sat\"}");
  int ids[] = {BOS, THE, CAT, SAT, EOS}, mask[] = {0, 1, 1, 1, 1};
  assert_seq(&al_data_get(d, 0)->seq, ids, mask, 5);
  cr_assert_eq(al_data_get(d, 0)->seq.prompt_len, 1);
  al_data_free(d);
  d = new_ds(AL_DATA_SFT, t, NULL); // no bos: the first token is never a target
  add(d, "{\"text\": \"the cat\", \"source\": \"ignored\"}");
  int ids2[] = {THE, CAT, EOS}, mask2[] = {0, 1, 1};
  assert_seq(&al_data_get(d, 0)->seq, ids2, mask2, 3);
  cr_assert_eq(al_data_get(d, 0)->seq.prompt_len, 0);
  al_data_free(d);
  al_tok_free(t);
}

Test(data, prompt_completion_masks_only_the_completion) {
  al_tok *t = words_tok();
  al_dataset *d = new_ds(AL_DATA_SFT, t, NULL);
  add(d, "{\"prompt\": \"add 1 2\", \"completion\": \"3\"}");
  int ids[] = {ADD, ONE, TWO, THREE, EOS}, mask[] = {0, 0, 0, 1, 1};
  assert_seq(&al_data_get(d, 0)->seq, ids, mask, 5);
  cr_assert_eq(al_data_get(d, 0)->seq.prompt_len, 3);
  al_data_free(d);
  al_tok_free(t);
}

Test(data, messages_follow_the_chat_template_and_train_assistant_turns) {
  al_tok *t = words_tok();
  al_dataset *d = new_ds(AL_DATA_SFT, t, NULL);
  add(d, "{\"messages\": [{\"role\": \"system\", \"content\": \"the\"},"
         "{\"role\": \"user\", \"content\": \"add 1 2\"}, {\"role\": \"assistant\", \"content\": \"3\"},"
         "{\"role\": \"user\", \"content\": \"add 2 2\"}, {\"role\": \"assistant\", \"content\": \"4\"}]}");
  int ids[] = {SYS, THE, END, USR, ADD, ONE, TWO, END, AST, THREE, END,
               USR, ADD, TWO, TWO, END, AST, FOUR, END};
  int mask[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1};
  assert_seq(&al_data_get(d, 0)->seq, ids, mask, 19);
  cr_assert_eq(al_data_get(d, 0)->seq.prompt_len, 9);
  al_data_free(d);
  al_tok_free(t);
  // with BPE, the sequence decodes to the rendered template, trained part = content + <|end|>
  t = bpe_tok();
  d = new_ds(AL_DATA_SFT, t, NULL);
  const char *js = "{\"messages\": [{\"role\": \"user\", \"content\": \"Capital of France?\"},"
                   "{\"role\": \"assistant\", \"content\": \"Paris.\"}]}";
  add(d, js);
  const al_seq *s = &al_data_get(d, 0)->seq;
  char *all = decode_range(t, s, 0, s->len);
  cr_assert_str_eq(all, "<|user|>\nCapital of France?<|end|><|assistant|>\nParis.<|end|>");
  cJSON *rec = cJSON_Parse(js);
  char *r;
  cr_assert_eq(al_data_render(cJSON_GetObjectItem(rec, "messages"), 0, &r), AL_OK);
  cr_assert_str_eq(r, all);
  char *tr = decode_range(t, s, s->prompt_len, s->len);
  cr_assert_str_eq(tr, "Paris.<|end|>");
  for (int i = s->prompt_len; i < s->len; i++) cr_assert_eq(s->mask[i], 1);
  // the prompt with its generation prompt is exactly the untrained prefix
  cJSON *pm = cJSON_CreateArray();
  cJSON_AddItemReferenceToArray(pm, cJSON_GetArrayItem(cJSON_GetObjectItem(rec, "messages"), 0));
  int *pids, np;
  cr_assert_eq(al_data_prompt_ids(t, pm, NULL, &pids, &np), AL_OK, "%s", al_errmsg());
  cr_assert_eq(np, s->prompt_len);
  cr_assert(memcmp(pids, s->ids, sizeof(int) * (size_t)np) == 0);
  free(pids);
  cJSON_Delete(pm);
  cJSON_Delete(rec);
  free(all);
  free(r);
  free(tr);
  al_data_free(d);
  al_tok_free(t);
}

Test(data, conversational_prompt_completion_equals_the_whole_conversation) {
  al_tok *t = words_tok();
  al_dataset *d = new_ds(AL_DATA_SFT, t, NULL);
  add(d, "{\"prompt\": [{\"role\": \"user\", \"content\": \"add 1 2\"}],"
         " \"completion\": [{\"role\": \"assistant\", \"content\": \"3\"}]}");
  add(d, "{\"messages\": [{\"role\": \"user\", \"content\": \"add 1 2\"},"
         " {\"role\": \"assistant\", \"content\": \"3\"}]}");
  const al_seq *a = &al_data_get(d, 0)->seq, *b = &al_data_get(d, 1)->seq;
  cr_assert_eq(a->len, b->len);
  cr_assert(memcmp(a->ids, b->ids, sizeof(int) * (size_t)a->len) == 0);
  cr_assert(memcmp(a->mask, b->mask, (size_t)a->len) == 0);
  cr_assert_eq(a->prompt_len, 6);
  al_data_free(d);
  al_tok_free(t);
}

Test(data, explicit_preferences_share_the_prompt) {
  al_tok *t = words_tok();
  al_dataset *d = new_ds(AL_DATA_PREF, t, NULL);
  add(d, "{\"prompt\": \"add 1 2\", \"chosen\": \"3\", \"rejected\": \"4 4\"}");
  const al_example *e = al_data_get(d, 0);
  int c[] = {ADD, ONE, TWO, THREE, EOS}, cm[] = {0, 0, 0, 1, 1};
  int r[] = {ADD, ONE, TWO, FOUR, FOUR, EOS}, rm[] = {0, 0, 0, 1, 1, 1};
  assert_seq(&e->seq, c, cm, 5);
  assert_seq(&e->rejected, r, rm, 6);
  cr_assert_eq(e->seq.prompt_len, 3);
  cr_assert_eq(e->rejected.prompt_len, 3);
  al_data_free(d);
  al_tok_free(t);
}

Test(data, implicit_prompt_is_the_shared_prefix) {
  al_tok *t = bpe_tok();
  al_dataset *d = new_ds(AL_DATA_PREF, t, NULL);
  cr_assert_eq(al_data_add_jsonl(d, FIX("prefs_chat.jsonl")), AL_OK, "%s", al_errmsg());
  cr_assert_eq(al_data_size(d), 4);
  // 0: explicit conversational
  const al_example *e = al_data_get(d, 0);
  char *p = decode_range(t, &e->seq, 0, e->seq.prompt_len);
  cr_assert_str_eq(p, "<|system|>\nBe brief.<|end|><|user|>\nCapital of France?<|end|><|assistant|>\n");
  free(p);
  p = decode_range(t, &e->rejected, e->rejected.prompt_len, e->rejected.len);
  cr_assert_str_eq(p, "Lyon.<|end|>");
  free(p);
  // 1: implicit conversational: the shared user turn is the prompt
  e = al_data_get(d, 1);
  p = decode_range(t, &e->seq, 0, e->seq.prompt_len);
  cr_assert_str_eq(p, "<|user|>\nHi<|end|><|assistant|>\n");
  free(p);
  p = decode_range(t, &e->seq, e->seq.prompt_len, e->seq.len);
  cr_assert_str_eq(p, "Hello!<|end|>");
  free(p);
  // 2 (explicit) and 3 (implicit, cut back to the last space) give the same sequences
  const al_example *x = al_data_get(d, 2), *y = al_data_get(d, 3);
  cr_assert_eq(x->seq.len, y->seq.len);
  cr_assert(memcmp(x->seq.ids, y->seq.ids, sizeof(int) * (size_t)x->seq.len) == 0);
  cr_assert(memcmp(x->rejected.ids, y->rejected.ids, sizeof(int) * (size_t)x->rejected.len) == 0);
  cr_assert_eq(x->seq.prompt_len, y->seq.prompt_len);
  p = decode_range(t, &y->seq, 0, y->seq.prompt_len);
  cr_assert_str_eq(p, "The sky is");
  free(p);
  p = decode_range(t, &y->rejected, y->rejected.prompt_len, y->rejected.len);
  cr_assert_str_eq(p, " green.<|eos|>");
  free(p);
  al_data_free(d);
  al_tok_free(t);
}

Test(data, hh_rlhf_splits_at_the_last_assistant_turn) {
  al_tok *t = bpe_tok();
  al_dataset *d = new_ds(AL_DATA_PREF, t, NULL);
  cr_assert_eq(al_data_add_jsonl(d, FIX("hh_sample.jsonl")), AL_OK, "%s", al_errmsg());
  cr_assert_eq(al_data_size(d), 2);
  const al_example *e = al_data_get(d, 0);
  char *p = decode_range(t, &e->seq, 0, e->seq.prompt_len);
  cr_assert_str_eq(p, "\n\nHuman: What is the capital of France?\n\nAssistant: Paris.\n\nHuman: And "
                      "of Italy?\n\nAssistant:");
  free(p);
  p = decode_range(t, &e->seq, e->seq.prompt_len, e->seq.len);
  cr_assert_str_eq(p, " Rome is the capital of Italy.<|eos|>");
  free(p);
  p = decode_range(t, &e->rejected, e->rejected.prompt_len, e->rejected.len);
  cr_assert_str_eq(p, " I don't know.<|eos|>");
  free(p);
  // the shared "Sure," inside the answers stays with the responses
  e = al_data_get(d, 1);
  p = decode_range(t, &e->rejected, e->rejected.prompt_len, e->rejected.len);
  cr_assert_str_eq(p, " Sure, go away.<|eos|>");
  free(p);
  al_data_free(d);
  al_tok_free(t);
}

Test(data, too_long_examples_are_truncated_or_dropped_and_counted) {
  al_tok *t = words_tok();
  al_data_opts o = al_data_defaults();
  o.max_len = 4;
  al_dataset *d = new_ds(AL_DATA_SFT, t, &o);
  add(d, "{\"prompt\": \"add 1\", \"completion\": \"2 3 4\"}"); // 6 tokens -> cut to 4
  add(d, "{\"prompt\": \"add 1 2 3\", \"completion\": \"4\"}"); // prompt fills max_len -> dropped
  add(d, "{\"prompt\": \"add\", \"completion\": \"1\"}");       // fits
  const al_data_stats *s = al_data_get_stats(d);
  cr_assert_eq(al_data_size(d), 2);
  cr_assert_eq(s->lines, 3);
  cr_assert_eq(s->truncated, 1);
  cr_assert_eq(s->dropped, 1);
  int ids[] = {ADD, ONE, TWO, THREE}, mask[] = {0, 0, 1, 1};
  assert_seq(&al_data_get(d, 0)->seq, ids, mask, 4);
  cr_assert(al_data_get(d, 0)->truncated);
  al_data_free(d);
  o.too_long = AL_TOO_LONG_DROP;
  d = new_ds(AL_DATA_SFT, t, &o);
  add(d, "{\"prompt\": \"add 1\", \"completion\": \"2 3 4\"}");
  add(d, "{\"prompt\": \"add\", \"completion\": \"1\"}");
  cr_assert_eq(al_data_size(d), 1);
  cr_assert_eq(al_data_get_stats(d)->dropped, 1);
  cr_assert_eq(al_data_get_stats(d)->truncated, 0);
  al_data_free(d);
  o.too_long = AL_TOO_LONG_ERROR;
  d = new_ds(AL_DATA_SFT, t, &o);
  const char *js = "{\"prompt\": \"add 1\", \"completion\": \"2 3 4\"}";
  cr_assert_neq(al_data_add_line(d, js, strlen(js), "x.jsonl", 9), AL_OK);
  cr_assert(strstr(al_errmsg(), "x.jsonl:9: sequence of 6 tokens exceeds max_len 4"), "%s", al_errmsg());
  al_data_free(d);
  // preferences truncated until chosen == rejected are dropped
  o.too_long = AL_TOO_LONG_TRUNCATE;
  o.max_len = 3;
  d = new_ds(AL_DATA_PREF, t, &o);
  add(d, "{\"prompt\": \"add\", \"chosen\": \"1 2 3\", \"rejected\": \"1 2 4\"}");
  add(d, "{\"prompt\": \"add\", \"chosen\": \"1 2 3\", \"rejected\": \"2 2 4\"}");
  cr_assert_eq(al_data_size(d), 1);
  cr_assert_eq(al_data_get_stats(d)->dropped, 1);
  cr_assert_eq(al_data_get_stats(d)->truncated, 1);
  al_data_free(d);
  al_tok_free(t);
}

Test(data, malformed_lines_name_file_and_line) {
  al_tok *t = words_tok();
  al_dataset *d = new_ds(AL_DATA_PREF, t, NULL);
  cr_assert_eq(al_data_add_jsonl(d, FIX("bad_prefs.jsonl")), AL_EFORMAT);
  cr_assert(strstr(al_errmsg(), "tests/data/bad_prefs.jsonl:2: missing field 'chosen'"), "%s",
            al_errmsg());
  al_data_free(d);
  al_data_opts o = al_data_defaults();
  o.strict = 0;
  d = new_ds(AL_DATA_PREF, t, &o);
  cr_assert_eq(al_data_add_jsonl(d, FIX("bad_prefs.jsonl")), AL_OK, "%s", al_errmsg());
  const al_data_stats *s = al_data_get_stats(d);
  cr_assert_eq(al_data_size(d), 2);
  cr_assert_eq(s->lines, 5);
  cr_assert_eq(s->skipped, 3);
  cr_assert_eq(s->kept, 2);
  cr_assert(strstr(s->first_error, "bad_prefs.jsonl:2: missing field 'chosen'"), "%s", s->first_error);
  cr_assert_eq(al_data_get(d, 1)->line, 5);
  al_data_free(d);
  struct {
    al_data_kind k;
    const char *js, *msg;
  } cases[] = {
      {AL_DATA_PREF, "{\"prompt\": \"add\", \"chosen\": \"1\"}", "missing field 'rejected'"},
      {AL_DATA_PREF, "{\"prompt\": \"add\", \"chosen\": \"1\", \"rejected\": \"1\"}", "identical"},
      {AL_DATA_PREF, "{\"prompt\": \"add\", \"chosen\": 1, \"rejected\": \"1\"}", "all be strings"},
      {AL_DATA_SFT, "{\"text\": \"the\", \"text\": \"cat\"}", "duplicate key 'text'"},
      {AL_DATA_SFT, "{\"text\": \"the\"} x", "trailing data"},
      {AL_DATA_SFT, "{\"text\": \"the\"", "invalid JSON"},
      {AL_DATA_SFT, "[1]", "must be a JSON object"},
      {AL_DATA_SFT, "   ", "empty line"},
      {AL_DATA_SFT, "{\"text\": \"\xff\"}", "invalid UTF-8"},
      {AL_DATA_SFT, "{\"text\": \"\xed\xa0\x80\"}", "invalid UTF-8"},
      {AL_DATA_SFT, "{\"text\": \"a\\u0000b\"}", "\\u0000"},
      {AL_DATA_SFT, "{\"completion\": \"the\"}", "missing field 'prompt'"},
      {AL_DATA_SFT, "{\"prompt\": \"the\"}", "missing field 'completion'"},
      {AL_DATA_SFT, "{\"id\": 3}", "missing field 'text', 'prompt' or 'messages'"},
      {AL_DATA_SFT, "{\"text\": \"the\", \"messages\": []}", "more than one"},
      {AL_DATA_SFT, "{\"text\": 5}", "'text' must be a string"},
      {AL_DATA_SFT, "{\"text\": \"the dog\"}", "unknown word 'dog'"},
      {AL_DATA_SFT, "{\"messages\": [{\"role\": \"bot\", \"content\": \"the\"}]}",
       "messages[0]: role 'bot' is not system, user or assistant"},
      {AL_DATA_SFT, "{\"messages\": [{\"role\": \"user\"}]}", "messages[0]: missing field 'content'"},
      {AL_DATA_SFT, "{\"messages\": [{\"role\": \"user\", \"content\": \"the\"}]}", "no assistant message"},
      {AL_DATA_SFT, "{\"messages\": \"the\"}", "list of messages"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    d = new_ds(cases[k].k, t, NULL);
    al_status st = al_data_add_line(d, cases[k].js, strlen(cases[k].js), "f.jsonl", 17);
    cr_assert_neq(st, AL_OK, "case %zu accepted", k);
    cr_assert(strstr(al_errmsg(), "f.jsonl:17: ") && strstr(al_errmsg(), cases[k].msg),
              "case %zu: '%s' lacks '%s'", k, al_errmsg(), cases[k].msg);
    cr_assert_eq(al_data_size(d), 0);
    al_data_free(d);
  }
  al_tok_free(t);
}

Test(data, jsonl_reads_crlf_and_lines_of_any_length) {
  al_tok *t = words_tok();
  al_dataset *d = new_ds(AL_DATA_SFT, t, NULL);
  cr_assert_eq(al_data_add_jsonl(d, FIX("sft_mixed.jsonl")), AL_OK, "%s", al_errmsg());
  cr_assert_eq(al_data_size(d), 3);
  al_data_free(d);
  // a 3 MB line
  char *dir = tu_tmpdir("data");
  char path[4200];
  snprintf(path, sizeof path, "%s/long.jsonl", dir);
  FILE *f = fopen(path, "wb");
  fputs("{\"text\": \"", f);
  for (int i = 0; i < 400000; i++) fputs("the cat ", f);
  fputs("\"}\n{\"text\": \"mat\"}\n", f);
  fclose(f);
  d = new_ds(AL_DATA_SFT, t, NULL);
  cr_assert_eq(al_data_add_jsonl(d, path), AL_OK, "%s", al_errmsg());
  cr_assert_eq(al_data_size(d), 2);
  cr_assert_eq(al_data_get(d, 0)->seq.len, 800001);
  al_data_free(d);
  remove(path);
  rmdir(dir);
  free(dir);
  d = new_ds(AL_DATA_SFT, t, NULL);
  cr_assert_eq(al_data_add_jsonl(d, "/nonexistent.jsonl"), AL_EIO);
  cr_assert(strstr(al_errmsg(), "/nonexistent.jsonl"));
  al_data_free(d);
  al_tok_free(t);
}

Test(data, batches_are_right_padded_with_masks_and_lengths) {
  al_tok *t = words_tok();
  al_dataset *d = new_ds(AL_DATA_PREF, t, NULL);
  add(d, "{\"prompt\": \"add 1 2\", \"chosen\": \"3\", \"rejected\": \"4 4\"}");
  add(d, "{\"prompt\": \"add\", \"chosen\": \"1\", \"rejected\": \"2\"}");
  int idx[] = {1, 0};
  al_batch c, r;
  cr_assert_eq(al_data_batch(d, idx, 2, 0, 0, &c), AL_OK);
  cr_assert_eq(al_data_batch(d, idx, 2, 1, 0, &r), AL_OK);
  cr_assert_eq(c.T, 6); // longest over chosen and rejected
  cr_assert_eq(r.T, 6);
  int want_c0[] = {ADD, ONE, EOS, PAD, PAD, PAD};
  float want_m0[] = {0, 1, 1, 0, 0, 0};
  for (int i = 0; i < 6; i++) {
    cr_assert_eq(c.tokens[i], want_c0[i]);
    cr_assert_eq(c.mask[i], want_m0[i]);
  }
  cr_assert_eq(c.lens[0], 3);
  cr_assert_eq(c.lens[1], 5);
  cr_assert_eq(r.lens[1], 6);
  cr_assert_eq(c.prompt_lens[1], 3);
  cr_assert_eq(r.prompt_lens[1], 3);
  for (int i = 0; i < 2; i++)
    for (int k = c.lens[i]; k < c.T; k++) cr_assert_eq(c.mask[i * c.T + k], 0);
  al_batch_free(&c);
  al_batch_free(&r);
  cr_assert_eq(al_data_batch(d, idx, 2, 0, 4, &c), AL_ESHAPE);
  cr_assert_eq(al_data_batch(d, idx, 2, 0, 8, &c), AL_OK);
  cr_assert_eq(c.T, 8);
  al_batch_free(&c);
  int bad[] = {2};
  cr_assert_eq(al_data_batch(d, bad, 1, 0, 0, &c), AL_EINVAL);
  al_data_free(d);
  al_tok_free(t);
}

Test(data, shuffling_is_deterministic_from_the_seed) {
  int a[100], b[100], c[100], seen[100] = {0};
  al_rng r;
  al_rng_seed(&r, 5, 1);
  al_data_order(100, 1, &r, a);
  al_rng_seed(&r, 5, 1);
  al_data_order(100, 1, &r, b);
  al_rng_seed(&r, 6, 1);
  al_data_order(100, 1, &r, c);
  int diff = 0;
  for (int i = 0; i < 100; i++) {
    cr_assert_eq(a[i], b[i]);
    diff += a[i] != c[i];
    seen[a[i]]++;
  }
  for (int i = 0; i < 100; i++) cr_assert_eq(seen[i], 1);
  cr_assert_gt(diff, 50);
  al_data_order(100, 0, &r, a);
  for (int i = 0; i < 100; i++) cr_assert_eq(a[i], i);
}
