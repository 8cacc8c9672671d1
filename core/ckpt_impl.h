// alignlab core: helpers shared by core/safetensors.c and core/ckpt.c (not a public header).
#ifndef AL_CKPT_IMPL_H
#define AL_CKPT_IMPL_H

#include <cjson/cJSON.h>

// The first duplicated key of JSON object `o` (cJSON keeps both and GetObjectItem returns the
// first), or NULL when none. *nomem is set to 1 on allocation failure (then NULL is returned).
// Defined in safetensors.c.
const char *al_st_json_dup_key(const cJSON *o, int *nomem);

#endif
