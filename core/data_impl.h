// alignlab core: the dataset struct shared by core/data*.c (not a public header).
// Layering: data_jsonl.c and data_batch.c -> data.c (records, al_data_add) -> al_tok.h.
#ifndef AL_DATA_IMPL_H
#define AL_DATA_IMPL_H

#include "al_data.h"

struct al_dataset {
  al_data_kind kind;
  const al_tok *tok;
  al_data_opts o;
  al_example *ex;
  int n, cap;
  al_data_stats st;
};

#endif
