// Fuzz target for the tokenizer.json loader (core/tok.c al_tok_from_json). Properties: no crash
// or leak; a refused file has a message naming it; an accepted tokenizer encodes a fixed text
// and a slice of the input itself (or refuses with a message), and every id it returns is in
// [0, size), and decoding those ids succeeds.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "al_tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static void encode_check(const al_tok *t, const char *s, size_t n) {
  int *ids = NULL, nids = 0;
  if (al_tok_encode(t, s, n, 1, &ids, &nids) != AL_OK) {
    CHECK(ids == NULL);
    return;
  }
  int V = al_tok_size(t);
  for (int i = 0; i < nids; i++) CHECK(ids[i] >= 0 && ids[i] < V);
  char *out = NULL;
  size_t on = 0;
  if (al_tok_decode(t, ids, nids, &out, &on) == AL_OK) free(out);
  free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  al_tok *t = NULL;
  if (al_tok_from_json(&t, (const char *)data, size, "fuzz.json") != AL_OK) {
    CHECK(t == NULL);
    CHECK(strstr(al_errmsg(), "fuzz.json") != NULL);
    return 0;
  }
  static const char text[] = "the cat sat on the mat 123 <|endoftext|> \xc3\xa9t\xc3\xa9";
  encode_check(t, text, sizeof text - 1);
  encode_check(t, (const char *)data, size < 256 ? size : 256);
  al_tok_free(t);
  return 0;
}
