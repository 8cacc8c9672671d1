// alignlab core: what gpt.c shares with gpt_pass.c (not a public header).
#ifndef AL_GPT_IMPL_H
#define AL_GPT_IMPL_H

#include "al_gpt.h"

// Free the activation and backward scratch slabs and forget the last forward (defined in gpt.c).
void al__gpt_free_acts(al_gpt *m);

#endif
