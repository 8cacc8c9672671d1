// Tests of core/tok*.c: byte-level BPE (pre-tokenisation, training, encoding, files, HF export),
// the word-level tokenizer, and the Debian corpora.
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "al_tok.h"
#include "testutil.h"
#include "tok_impl.h"

static const char *SAMPLE =
    "The quick brown fox jumps over the lazy dog. The dog didn't care; the fox's jump was 42 "
    "feet!!  Then the fox ran away\n\nand the dog slept. 1234 foxes, 5678 dogs.\tTabs too.\n";

static al_tok *train_text(const char *s, int vocab) {
  const char *texts[1] = {s};
  al_bpe_opts o = {.vocab = vocab};
  al_tok *t = NULL;
  cr_assert_eq(al_bpe_train(&t, texts, NULL, 1, &o), AL_OK, "%s", al_errmsg());
  return t;
}

// a corpus made of SAMPLE repeated with variations
static char *synthetic_corpus(void) {
  size_t cap = 200000, n = 0;
  char *s = malloc(cap);
  al_rng r;
  al_rng_seed(&r, 3, 0);
  static const char *words[] = {"the", "fox", "dog", "jumps", "over", "lazy", "quick", "brown",
                                "didn't", "care", "42", "7", "!", ", ", ".\n", "  "};
  while (n + 64 < cap) {
    const char *w = words[al_rng_int(&r, 16)];
    n += (size_t)sprintf(s + n, "%s%s", al_rng_int(&r, 3) ? " " : "", w);
  }
  s[n] = '\0';
  return s;
}

static void assert_roundtrip(const al_tok *t, const char *s, size_t n, int specials) {
  int *ids, nids;
  cr_assert_eq(al_tok_encode(t, s, n, specials, &ids, &nids), AL_OK, "%s", al_errmsg());
  char *d;
  size_t dn;
  cr_assert_eq(al_tok_decode(t, ids, nids, &d, &dn), AL_OK);
  cr_assert_eq(dn, n);
  cr_assert(memcmp(d, s, n) == 0, "round trip differs");
  free(d);
  free(ids);
}

Test(tok, pretokenizer_splits_like_gpt2) {
  const char *s = "Hello world's  x 12ab!! ?\n\nhi \n z";
  const char *want[] = {"Hello", " world", "'s", " ", " x", " 12", "ab", "!!", " ?",
                        "\n", "\n", "hi", " \n", " z", NULL};
  size_t n = strlen(s), i = 0;
  int k = 0;
  while (i < n) {
    size_t j = al__pretok_next((const unsigned char *)s, n, i);
    cr_assert_not_null(want[k], "extra chunk '%.*s'", (int)(j - i), s + i);
    cr_assert(strlen(want[k]) == j - i && memcmp(want[k], s + i, j - i) == 0,
              "chunk %d: got '%.*s' want '%s'", k, (int)(j - i), s + i, want[k]);
    k++;
    i = j;
  }
  cr_assert_null(want[k]);
}

Test(tok, bpe_round_trips_random_byte_strings) {
  char *corpus = synthetic_corpus();
  al_tok *t = train_text(corpus, 400);
  cr_assert_gt(al_tok_nmerges(t), 50);
  al_rng r;
  al_rng_seed(&r, 11, 0);
  char buf[600];
  for (int it = 0; it < 400; it++) {
    size_t n = al_rng_int(&r, sizeof buf);
    for (size_t i = 0; i < n; i++) {
      // mix of arbitrary bytes (NUL, invalid UTF-8) and corpus text
      buf[i] = al_rng_int(&r, 3) ? corpus[al_rng_int(&r, 5000)] : (char)al_rng_int(&r, 256);
    }
    assert_roundtrip(t, buf, n, 0);
    assert_roundtrip(t, buf, n, 1);
  }
  static const char nul[] = "a\0b\0\0\xff\xfe\xc3\x28 \xe2\x82 <|eos|> \x80";
  assert_roundtrip(t, nul, sizeof nul - 1, 0);
  assert_roundtrip(t, nul, sizeof nul - 1, 1);
  assert_roundtrip(t, "", 0, 0);
  al_tok_free(t);
  free(corpus);
}

// Naive reference: recount every pair after every merge; returns merges as byte strings.
static int naive_train(const char *s, int nmerges, char ***left, char ***right) {
  size_t n = strlen(s), i = 0;
  int nw = 0, cw = 1024;
  int **w = malloc(sizeof(int *) * (size_t)cw), *wl = malloc(sizeof(int) * (size_t)cw);
  char **tok = malloc(sizeof(char *) * (256 + (size_t)nmerges));
  for (int b = 0; b < 256; b++) {
    tok[b] = calloc(2, 1);
    tok[b][0] = (char)b;
  }
  while (i < n) {
    size_t j = al__pretok_next((const unsigned char *)s, n, i);
    if (nw == cw) {
      cw *= 2;
      w = realloc(w, sizeof(int *) * (size_t)cw);
      wl = realloc(wl, sizeof(int) * (size_t)cw);
    }
    w[nw] = malloc(sizeof(int) * (j - i));
    for (size_t k = i; k < j; k++) w[nw][k - i] = (unsigned char)s[k];
    wl[nw++] = (int)(j - i);
    i = j;
  }
  *left = malloc(sizeof(char *) * (size_t)nmerges);
  *right = malloc(sizeof(char *) * (size_t)nmerges);
  int ntok = 256, m = 0;
  for (; m < nmerges; m++) {
    // count with a dense table over (a, b)
    int V = ntok;
    long *cnt = calloc((size_t)V * V, sizeof(long));
    for (int x = 0; x < nw; x++)
      for (int k = 0; k + 1 < wl[x]; k++) cnt[(size_t)w[x][k] * V + w[x][k + 1]]++;
    long best = 1;
    int ba = -1, bb = -1;
    for (int a = 0; a < V; a++)
      for (int b = 0; b < V; b++)
        if (cnt[(size_t)a * V + b] > best) {
          best = cnt[(size_t)a * V + b];
          ba = a;
          bb = b;
        }
    free(cnt);
    if (ba < 0) break;
    (*left)[m] = strdup(tok[ba]);
    (*right)[m] = strdup(tok[bb]);
    char *cat = malloc(strlen(tok[ba]) + strlen(tok[bb]) + 1);
    sprintf(cat, "%s%s", tok[ba], tok[bb]);
    int nid = -1;
    for (int q = 0; q < ntok; q++)
      if (strcmp(tok[q], cat) == 0) nid = q;
    if (nid < 0) {
      tok[ntok] = cat;
      nid = ntok++;
    } else {
      free(cat);
    }
    for (int x = 0; x < nw; x++) {
      int o = 0;
      for (int k = 0; k < wl[x]; k++) {
        if (k + 1 < wl[x] && w[x][k] == ba && w[x][k + 1] == bb) {
          w[x][o++] = nid;
          k++;
        } else {
          w[x][o++] = w[x][k];
        }
      }
      wl[x] = o;
    }
  }
  for (int x = 0; x < nw; x++) free(w[x]);
  free(w);
  free(wl);
  for (int q = 0; q < ntok; q++) free(tok[q]);
  free(tok);
  return m;
}

Test(tok, bpe_training_matches_naive_recount) {
  char *corpus = synthetic_corpus();
  corpus[30000] = '\0'; // keep the naive reference fast
  al_tok *t = train_text(corpus, 256 + 60);
  char **l, **r;
  int m = naive_train(corpus, al_tok_nmerges(t), &l, &r);
  cr_assert_eq(m, al_tok_nmerges(t));
  for (int k = 0; k < m; k++) {
    int a, b, out;
    al_tok_merge(t, k, &a, &b, &out);
    cr_assert_str_eq(al_tok_token(t, a, NULL), l[k], "merge %d left", k);
    cr_assert_str_eq(al_tok_token(t, b, NULL), r[k], "merge %d right", k);
    free(l[k]);
    free(r[k]);
  }
  free(l);
  free(r);
  al_tok_free(t);
  free(corpus);
}

static al_tok *from_json(const char *js) {
  al_tok *t = NULL;
  cr_assert_eq(al_tok_from_json(&t, js, strlen(js), "test"), AL_OK, "%s", al_errmsg());
  return t;
}

static void assert_ids(const al_tok *t, const char *s, int specials, const int *want, int nwant) {
  int *ids, n;
  cr_assert_eq(al_tok_encode(t, s, strlen(s), specials, &ids, &n), AL_OK, "%s", al_errmsg());
  cr_assert_eq(n, nwant, "'%s': %d ids, want %d", s, n, nwant);
  for (int i = 0; i < n; i++) cr_assert_eq(ids[i], want[i], "'%s': id %d", s, i);
  free(ids);
}

Test(tok, merges_are_applied_in_rank_order) {
  // 97 a, 98 b, 99 c. (b,c) first: "abc" -> a + bc; (a,b) first: ab + c.
  al_tok *t = from_json("{\"format\":\"alignlab-tokenizer\",\"version\":1,\"type\":\"bpe\","
                        "\"pretokenizer\":\"gpt2-bytes\",\"merges\":[[98,99],[97,98]],\"specials\":[]}");
  int w1[] = {97, 256};
  assert_ids(t, "abc", 0, w1, 2);
  int w1b[] = {257};
  assert_ids(t, "ab", 0, w1b, 1);
  al_tok_free(t);
  t = from_json("{\"format\":\"alignlab-tokenizer\",\"version\":1,\"type\":\"bpe\","
                "\"pretokenizer\":\"gpt2-bytes\",\"merges\":[[97,98],[98,99]],\"specials\":[]}");
  int w2[] = {256, 99};
  assert_ids(t, "abc", 0, w2, 2);
  // equal ranks go left to right: "aaa" with (a,a) -> aa + a
  al_tok_free(t);
  t = from_json("{\"format\":\"alignlab-tokenizer\",\"version\":1,\"type\":\"bpe\","
                "\"pretokenizer\":\"gpt2-bytes\",\"merges\":[[97,97],[256,256]]}");
  int w3[] = {256, 97};
  assert_ids(t, "aaa", 0, w3, 2);
  int w4[] = {257};
  assert_ids(t, "aaaa", 0, w4, 1);
  int w5[] = {257, 97};
  assert_ids(t, "aaaaa", 0, w5, 2);
  al_tok_free(t);
}

Test(tok, specials_are_extra_ids_matched_only_when_asked) {
  const char *sp[] = {"<|user|>", "<|end|>"};
  const char *texts[] = {SAMPLE};
  al_bpe_opts o = {.vocab = 300, .sp = {sp, 2, NULL, NULL, NULL}};
  al_tok *t;
  cr_assert_eq(al_bpe_train(&t, texts, NULL, 1, &o), AL_OK);
  int nb = al_tok_nbase(t);
  cr_assert_eq(al_tok_size(t), nb + 5);
  cr_assert_eq(al_tok_id(t, "<|user|>", 8), nb);
  cr_assert_eq(al_tok_id(t, "<|end|>", 7), nb + 1);
  cr_assert_str_eq(al_tok_token(t, al_tok_bos(t), NULL), "<|bos|>");
  cr_assert_str_eq(al_tok_token(t, al_tok_eos(t), NULL), "<|eos|>");
  cr_assert_str_eq(al_tok_token(t, al_tok_pad(t), NULL), "<|pad|>");
  cr_assert_eq(al_tok_unk(t), -1);
  int *ids, n;
  const char *s = "hi<|end|>x<|eos|>";
  cr_assert_eq(al_tok_encode(t, s, strlen(s), 1, &ids, &n), AL_OK);
  int found = 0;
  for (int i = 0; i < n; i++) found += ids[i] == nb + 1 || ids[i] == al_tok_eos(t);
  cr_assert_eq(found, 2);
  free(ids);
  cr_assert_eq(al_tok_encode(t, s, strlen(s), 0, &ids, &n), AL_OK);
  for (int i = 0; i < n; i++) cr_assert_lt(ids[i], nb);
  free(ids);
  al_tok_free(t);
  // a duplicate special is refused
  const char *dup[] = {"<x>", "<x>"};
  al_bpe_opts o2 = {.vocab = 260, .sp = {dup, 2, NULL, NULL, NULL}};
  cr_assert_eq(al_bpe_train(&t, texts, NULL, 1, &o2), AL_EINVAL);
  cr_assert(strstr(al_errmsg(), "duplicate special token '<x>'"), "%s", al_errmsg());
}

Test(tok, save_then_load_gives_identical_encodings) {
  char *corpus = synthetic_corpus();
  al_tok *t = train_text(corpus, 500);
  char *dir = tu_tmpdir("tok");
  char path[4200];
  snprintf(path, sizeof path, "%s/bpe.json", dir);
  cr_assert_eq(al_tok_save(t, path), AL_OK, "%s", al_errmsg());
  al_tok *u;
  cr_assert_eq(al_tok_load(&u, path), AL_OK, "%s", al_errmsg());
  cr_assert_eq(al_tok_size(u), al_tok_size(t));
  cr_assert_eq(al_tok_bos(u), al_tok_bos(t));
  cr_assert_eq(al_tok_pad(u), al_tok_pad(t));
  for (int id = 0; id < al_tok_size(t); id++) {
    size_t a, b;
    const char *x = al_tok_token(t, id, &a), *y = al_tok_token(u, id, &b);
    cr_assert(a == b && memcmp(x, y, a) == 0, "token %d differs", id);
  }
  int *i1, *i2, n1, n2;
  cr_assert_eq(al_tok_encode(t, corpus, 20000, 0, &i1, &n1), AL_OK);
  cr_assert_eq(al_tok_encode(u, corpus, 20000, 0, &i2, &n2), AL_OK);
  cr_assert_eq(n1, n2);
  cr_assert(memcmp(i1, i2, sizeof(int) * (size_t)n1) == 0);
  char *j1, *j2;
  al_tok_to_json(t, &j1);
  al_tok_to_json(u, &j2);
  cr_assert_str_eq(j1, j2);
  free(j1);
  free(j2);
  free(i1);
  free(i2);
  al_tok_free(u);
  al_tok_free(t);
  remove(path);
  rmdir(dir);
  free(dir);
  free(corpus);
}

Test(tok, hf_export_is_valid_json_with_the_expected_keys) {
  char *corpus = synthetic_corpus();
  al_tok *t = train_text(corpus, 300);
  char *dir = tu_tmpdir("tokhf");
  char path[4200];
  snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  cr_assert_eq(al_tok_export_hf(t, path), AL_OK, "%s", al_errmsg());
  FILE *f = fopen(path, "rb");
  char *buf = malloc(1 << 20);
  size_t n = fread(buf, 1, (1 << 20) - 1, f);
  buf[n] = '\0';
  fclose(f);
  cJSON *o = cJSON_Parse(buf);
  cr_assert_not_null(o, "invalid JSON");
  const char *keys[] = {"version", "truncation", "padding", "added_tokens", "normalizer",
                        "pre_tokenizer", "post_processor", "decoder", "model"};
  for (int k = 0; k < 9; k++) cr_assert(cJSON_HasObjectItem(o, keys[k]), "missing %s", keys[k]);
  cJSON *model = cJSON_GetObjectItem(o, "model");
  cr_assert_str_eq(cJSON_GetObjectItem(model, "type")->valuestring, "BPE");
  cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "pre_tokenizer"), "type")->valuestring,
                   "ByteLevel");
  cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "decoder"), "type")->valuestring,
                   "ByteLevel");
  cJSON *vocab = cJSON_GetObjectItem(model, "vocab");
  cr_assert_eq(cJSON_GetArraySize(vocab), al_tok_nbase(t));
  cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(model, "merges")), al_tok_nmerges(t));
  cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "added_tokens")),
               al_tok_size(t) - al_tok_nbase(t));
  // byte-to-unicode: space is U+0120 'Ġ', newline U+010A 'Ċ', 'a' itself
  cr_assert_eq(cJSON_GetObjectItemCaseSensitive(vocab, "\xC4\xA0")->valuedouble, ' ');
  cr_assert_eq(cJSON_GetObjectItemCaseSensitive(vocab, "\xC4\x8A")->valuedouble, '\n');
  cr_assert_eq(cJSON_GetObjectItemCaseSensitive(vocab, "a")->valuedouble, 'a');
  // every merge "x y" names two vocab entries whose concatenation is a vocab entry
  cJSON *m;
  cJSON_ArrayForEach(m, cJSON_GetObjectItem(model, "merges")) {
    char *sp = strchr(m->valuestring, ' ');
    cr_assert_not_null(sp);
    *sp = '\0';
    cr_assert(cJSON_GetObjectItemCaseSensitive(vocab, m->valuestring));
    cr_assert(cJSON_GetObjectItemCaseSensitive(vocab, sp + 1));
    char cat[256];
    snprintf(cat, sizeof cat, "%s%s", m->valuestring, sp + 1);
    cr_assert(cJSON_GetObjectItemCaseSensitive(vocab, cat), "merge result %s not in vocab", cat);
  }
  cJSON_Delete(o);
  free(buf);
  remove(path);
  rmdir(dir);
  free(dir);
  al_tok_free(t);
  free(corpus);
}

Test(tok, malformed_files_are_refused_with_a_message) {
#define H "\"format\":\"alignlab-tokenizer\",\"version\":1,"
  struct {
    const char *js, *msg;
  } cases[] = {
      {"{" H "\"type\":\"bpe\",\"pretokenizer\":\"gpt2-bytes\"}", "no merges"},
      {"{" H "\"type\":\"bpe\",\"pretokenizer\":\"gpt2-bytes\",\"merges\":[],\"color\":1}",
       "unknown field 'color'"},
      {"{" H "\"type\":\"bpe\",\"pretokenizer\":\"gpt2-bytes\",\"merges\":[[97,900]]}",
       "merge 0 references unknown token 900"},
      {"{" H "\"type\":\"bpe\",\"pretokenizer\":\"gpt2-bytes\",\"merges\":[[97,98],[256,300]]}",
       "merge 1 references unknown token 300"},
      {"{" H "\"type\":\"bpe\",\"pretokenizer\":\"gpt2-bytes\",\"merges\":[[97,-1]]}",
       "references unknown token -1"},
      // found by fuzz_tokenizer: an id beyond int was converted to int before the range check
      {"{" H "\"type\":\"bpe\",\"pretokenizer\":\"gpt2-bytes\",\"merges\":[[102,25999999999]]}",
       "references unknown token 25999999999"},
      {"{" H "\"type\":\"bpe\",\"pretokenizer\":\"gpt2-bytes\",\"merges\":[[-4294967296,98]]}",
       "references unknown token -4294967296"},
      {"{" H "\"type\":\"bpe\",\"pretokenizer\":\"gpt2-bytes\",\"merges\":[[97,98],[97,98]]}",
       "duplicate merge"},
      {"{" H "\"type\":\"bpe\",\"pretokenizer\":\"gpt2-bytes\",\"merges\":[[97.5,98]]}",
       "must be integers"},
      {"{" H "\"type\":\"bpe\",\"pretokenizer\":\"gpt2-bytes\",\"merges\":[\"a b\"]}",
       "not a pair"},
      {"{" H "\"type\":\"bpe\",\"pretokenizer\":\"gpt2-bytes\",\"merges\":[],\"specials\":[\"<a>\",\"<a>\"]}",
       "duplicate token '<a>'"},
      {"{" H "\"type\":\"words\",\"words\":[\"x\",\"y\",\"x\"]}", "duplicate token 'x'"},
      {"{" H "\"type\":\"words\",\"words\":[\"x\"],\"specials\":[\"x\"]}", "duplicate token 'x'"},
      {"{" H "\"type\":\"words\",\"words\":[\"x y\"]}", "contains whitespace"},
      {"{" H "\"type\":\"words\",\"words\":[\"x\"],\"bos\":\"<s>\"}", "bos '<s>' is not a special"},
      {"{" H "\"type\":\"bpe\",\"type\":\"words\",\"merges\":[]}", "duplicate field 'type'"},
      {"{" H "\"type\":\"bpe\",\"pretokenizer\":\"gpt2-bytes\",\"merges\":[]} x", "trailing data"},
      {"{\"format\":\"other\",\"version\":1,\"type\":\"bpe\",\"merges\":[]}", "'format' must be"},
      {"{" H "\"type\":\"bpe\",\"pretokenizer\":\"gpt2-bytes\",\"merges\":[", "invalid JSON"},
      {"[1,2]", "not a JSON object"},
      {"{\"format\":\"alignlab-tokenizer\",\"version\":2,\"type\":\"bpe\"}", "version"},
      {"{" H "\"type\":\"sentencepiece\"}", "unknown type 'sentencepiece'"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    al_tok *t = (al_tok *)1;
    al_status s = al_tok_from_json(&t, cases[k].js, strlen(cases[k].js), "bad.json");
    cr_assert_neq(s, AL_OK, "case %zu accepted", k);
    cr_assert_null(t);
    cr_assert(strstr(al_errmsg(), cases[k].msg) && strstr(al_errmsg(), "bad.json"),
              "case %zu: message '%s' lacks '%s'", k, al_errmsg(), cases[k].msg);
  }
  al_tok *t;
  cr_assert_eq(al_tok_load(&t, "/nonexistent/tok.json"), AL_EIO);
  cr_assert(strstr(al_errmsg(), "/nonexistent/tok.json"));
}

Test(tok, words_tokenizer_encodes_decodes_and_handles_unknown_words) {
  const char *words[] = {"the", "cat", "sat", "on", "mat"};
  const char *sp[] = {"<pad>", "<eos>"};
  al_tok_specials s = {sp, 2, NULL, NULL, NULL};
  al_tok *t;
  cr_assert_eq(al_tok_words(&t, words, 5, &s, NULL), AL_OK, "%s", al_errmsg());
  cr_assert_eq(al_tok_kind_of(t), AL_TOK_WORDS);
  cr_assert_eq(al_tok_pad(t), 5);
  cr_assert_eq(al_tok_eos(t), 6);
  cr_assert_eq(al_tok_bos(t), 7); // "<|bos|>" added
  cr_assert_eq(al_tok_size(t), 8);
  int want[] = {0, 1, 2, 3, 0, 4, 6};
  assert_ids(t, "the cat  sat\non the mat <eos>", 0, want, 7);
  int want2[] = {4, 6, 1};
  assert_ids(t, "mat<eos>cat", 1, want2, 3); // glued specials split only when asked
  int *ids, n;
  cr_assert_eq(al_tok_encode(t, "the dog", 7, 0, &ids, &n), AL_EINVAL);
  cr_assert(strstr(al_errmsg(), "unknown word 'dog'"), "%s", al_errmsg());
  char *d;
  cr_assert_eq(al_tok_decode(t, want, 7, &d, NULL), AL_OK);
  cr_assert_str_eq(d, "the cat sat on the mat <eos>");
  free(d);
  int bad[] = {1, 99};
  cr_assert_eq(al_tok_decode(t, bad, 2, &d, NULL), AL_EINVAL);
  al_tok_free(t);
  // with unk
  cr_assert_eq(al_tok_words(&t, words, 5, &s, "<unk>"), AL_OK);
  int want3[] = {0, al_tok_unk(t)};
  assert_ids(t, "the dog", 0, want3, 2);
  // save / load
  char *dir = tu_tmpdir("tokw");
  char path[4200];
  snprintf(path, sizeof path, "%s/w.json", dir);
  cr_assert_eq(al_tok_save(t, path), AL_OK);
  al_tok *u;
  cr_assert_eq(al_tok_load(&u, path), AL_OK, "%s", al_errmsg());
  cr_assert_eq(al_tok_size(u), al_tok_size(t));
  cr_assert_eq(al_tok_unk(u), al_tok_unk(t));
  assert_ids(u, "the dog", 0, want3, 2);
  remove(path);
  rmdir(dir);
  free(dir);
  al_tok_free(u);
  al_tok_free(t);
  const char *dup[] = {"a", "b", "a"};
  cr_assert_eq(al_tok_words(&t, dup, 3, NULL, NULL), AL_EINVAL);
  cr_assert(strstr(al_errmsg(), "duplicate token 'a'"));
}

Test(tok, bpe_training_compresses_the_bible_and_fortunes) {
  al_corpus *c;
  if (al_corpus_load(&c, "kjv", 0) != AL_OK) cr_skip("%s", al_errmsg());
  cr_assert_eq(c->n, 31102); // verses of the KJV
  cr_assert_str_eq(c->docs[0], "In the beginning God created the heaven and the earth.");
  cr_assert_str_eq(c->docs[c->n - 1], "The grace of our Lord Jesus Christ be with you all. Amen.");
  // train on ~1 MB from the start, measure on the last 5000 verses (held out)
  int ntrain = 0;
  size_t bytes = 0;
  while (bytes < 1000000) bytes += c->lens[ntrain++];
  al_bpe_opts o = {.vocab = 1000};
  al_tok *t;
  cr_assert_eq(al_bpe_train(&t, (const char *const *)c->docs, c->lens, ntrain, &o), AL_OK);
  cr_assert_eq(al_tok_nbase(t), 1000);
  long toks = 0;
  size_t held = 0;
  for (int i = c->n - 5000; i < c->n; i++) {
    int *ids, n;
    cr_assert_eq(al_tok_encode(t, c->docs[i], c->lens[i], 0, &ids, &n), AL_OK);
    toks += n;
    held += c->lens[i];
    free(ids);
  }
  double ratio = (double)toks / (double)held;
  cr_assert_lt(ratio, 0.4, "tokens per byte %.3f", ratio);
  al_tok_free(t);
  al_corpus_free(c);
  if (al_corpus_load(&c, "fortunes-min", 0) != AL_OK) cr_skip("%s", al_errmsg());
  cr_assert_gt(c->n, 500);
  o.vocab = 600;
  cr_assert_eq(al_bpe_train(&t, (const char *const *)c->docs, c->lens, c->n, &o), AL_OK);
  long before = 0, after = 0;
  for (int i = 0; i < c->n; i++) {
    int *ids, n;
    al_tok_encode(t, c->docs[i], c->lens[i], 0, &ids, &n);
    before += (long)c->lens[i];
    after += n;
    free(ids);
  }
  cr_assert_lt(after, before / 2);
  al_tok_free(t);
  al_corpus_free(c);
}

Test(tok, kjv_decoder_matches_gzip) {
  if (access("/usr/lib/bible.data", R_OK) != 0) cr_skip("bible-kjv-text not installed");
  if (system("command -v gzip >/dev/null 2>&1") != 0) cr_skip("gzip not installed");
  // decode the first block with gzip (it reads compress(1) streams) and compare to our verses
  FILE *p = popen("(printf '\\037\\235\\220'; tail -c +372 /usr/lib/bible.data | head -c 25714) "
                  "| gzip -dc 2>/dev/null | head -c 4000", "r");
  char ref[4001];
  size_t n = fread(ref, 1, 4000, p);
  pclose(p);
  ref[n] = '\0';
  cr_assert_gt(n, 1000);
  al_corpus *c;
  cr_assert_eq(al_corpus_load(&c, "kjv", 20000), AL_OK);
  // the reference holds "Ge1:1 <verse>\n": every verse we give must follow its reference
  int checked = 0;
  for (int i = 0; i < 20 && i < c->n; i++) {
    char *at = strstr(ref, c->docs[i]);
    cr_assert_not_null(at, "verse %d not in gzip's output", i);
    checked++;
  }
  cr_assert_eq(checked, 20);
  al_corpus_free(c);
  cr_assert_eq(al_corpus_load(&c, "nosuch", 0), AL_EINVAL);
}
