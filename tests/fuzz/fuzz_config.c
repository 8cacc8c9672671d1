// Fuzz target for the config.json loader (core/ckpt.c al_ckpt_parse_config: what al_ckpt_load
// reads before any tensor). Properties: no crash or leak; an accepted config passes
// al_gpt_config_check (every size inside the caps, so a model of it can be allocated); a refused
// one has a message naming the file.
#include <stdint.h>
#include <string.h>

#include "al_ckpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  al_gpt_config c;
  if (al_ckpt_parse_config(&c, (const char *)data, size, "fuzz/config.json") != AL_OK) {
    CHECK(strstr(al_errmsg(), "fuzz/config.json") != NULL);
    return 0;
  }
  CHECK(al_gpt_config_check(&c) == AL_OK);
  CHECK(c.V >= 2 && c.C >= 1 && c.L >= 1 && c.NH >= 1 && c.C % c.NH == 0 && c.maxT >= 1);
  return 0;
}
