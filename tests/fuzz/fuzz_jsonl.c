// Fuzz target for the JSONL readers (core/data_jsonl.c al_data_add_line, core/io.c
// al_io_getline): the input is split into lines by al_io_getline with a small line cap (so long
// lines take the refusal path) and every line is added to an SFT and a preference dataset.
// Properties: no crash or leak; a refused line's message names the source and line; the dataset
// grows by at most one record per line; al_io_getline never returns more than cap bytes.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "al_data.h"
#include "al_io.h"
#include "al_tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static al_tok *tok;

static void init(void) {
  if (tok) return;
  static const char *const words[] = {"a", "b", "c", "hello", "world", "Human:", "Assistant:"};
  CHECK(al_tok_words(&tok, words, 7, NULL, "<unk>") == AL_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init();
  al_dataset *sft = NULL, *pref = NULL;
  al_data_opts o = al_data_defaults();
  CHECK(al_data_new(&sft, AL_DATA_SFT, tok, &o) == AL_OK);
  CHECK(al_data_new(&pref, AL_DATA_PREF, tok, &o) == AL_OK);
  FILE *f = fmemopen((void *)(size ? data : (const uint8_t *)""), size ? size : 1, "rb");
  CHECK(f);
  char *line = NULL;
  size_t cap = 0, n = 0;
  long no = 0;
  int r;
  const size_t max = 512;
  while ((r = al_io_getline(f, max, &line, &cap, &n)) > 0) {
    CHECK(n <= max);
    no++;
    if (n && line[n - 1] == '\n') n--;
    char src[] = "fuzz.jsonl";
    for (int k = 0; k < 2; k++) {
      al_dataset *d = k ? pref : sft;
      int before = al_data_size(d);
      if (al_data_add_line(d, line, n, src, no) != AL_OK) CHECK(strstr(al_errmsg(), "fuzz.jsonl:") != NULL);
      CHECK(al_data_size(d) - before <= 1);
    }
  }
  CHECK(r != -2);
  free(line);
  fclose(f);
  al_data_free(sft);
  al_data_free(pref);
  return 0;
}
