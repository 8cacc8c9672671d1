// alignlab core: AdamW with decoupled weight decay on matrices only, global-norm gradient
// clipping, a non-finite guard, and the warmup + cosine learning-rate schedule.
#ifndef AL_OPTIM_H
#define AL_OPTIM_H

#include "al_gpt.h"

typedef struct {
  float lr;           // peak learning rate (the schedule scales it per step)
  float beta1, beta2; // 0.9, 0.999
  float eps;          // 1e-8
  float weight_decay; // 0.0 by default; applied to tensors with decay=1 only
  float clip;         // global-norm clip, <= 0 disables
} al_adamw_config;

typedef struct al_adamw {
  al_adamw_config cfg;
  size_t n;        // floats, equals the model's nparams
  float *m, *v;    // first and second moments, same layout as the params slab
  long step;       // number of updates applied
  unsigned char *decay; // per-float mask built from the tensor table (n bytes)
} al_adamw;

al_adamw_config al_adamw_defaults(void);
// Create optimizer state for model `m` (moments zero, step 0).
al_status al_adamw_new(al_adamw **out, const al_gpt *m, const al_adamw_config *cfg);
void al_adamw_free(al_adamw *o);
// The L2 norm of the whole gradient slab (double accumulation, fixed order).
double al_gpt_grad_norm(const al_gpt *m);
// One update with learning rate `lr`: checks the gradient is finite (AL_ENONFINITE, nothing
// changed), clips to cfg.clip, applies AdamW with bias correction. *gnorm gets the pre-clip norm
// (may be NULL). AL_EINVAL if the model is frozen or the sizes differ.
al_status al_adamw_step(al_adamw *o, al_gpt *m, float lr, double *gnorm);

// Linear warmup from 0 to max_lr over `warmup` steps, then cosine decay to min_lr at `total`;
// after `total` stays at min_lr. step counts from 0.
double al_lr_schedule(long step, long warmup, long total, double max_lr, double min_lr);

#endif
