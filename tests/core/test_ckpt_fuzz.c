// Replays the committed seed corpus of the safetensors fuzz target (tests/fuzz/corpus/safetensors)
// through the target's own properties, and checks that each seed named ok_* is accepted and each
// named bad_* is refused. A property violation traps, which Criterion reports as a crash.
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/fuzz_safetensors.c"

#define CORPUS AL_SOURCE_DIR "/tests/fuzz/corpus/safetensors"

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(*n ? *n : 1);
  cr_assert_eq(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

Test(ckpt_fuzz, seed_corpus_runs_clean_and_classifies_as_named) {
  DIR *d = opendir(CORPUS);
  cr_assert_not_null(d, "no corpus at %s", CORPUS);
  struct dirent *e;
  int ok = 0, bad = 0;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", CORPUS, e->d_name);
    size_t n;
    unsigned char *b = slurp(path, &n);
    LLVMFuzzerTestOneInput(b, n);
    al_st_file *f = NULL;
    al_status st = al_st_parse(&f, b, n, e->d_name);
    if (strncmp(e->d_name, "ok_", 3) == 0) {
      cr_assert_eq(st, AL_OK, "%s refused: %s", e->d_name, al_errmsg());
      ok++;
    } else if (strncmp(e->d_name, "bad_", 4) == 0) {
      cr_assert_neq(st, AL_OK, "%s accepted", e->d_name);
      cr_assert(strstr(al_errmsg(), e->d_name), "message does not name the input: %s", al_errmsg());
      bad++;
    }
    al_st_free(f);
    free(b);
  }
  closedir(d);
  cr_assert_geq(ok, 5);
  cr_assert_geq(bad, 20);
}
