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

// lr 3e-4, betas (0.9, 0.999), eps 1e-8, weight_decay 0, clip 1.
al_adamw_config al_adamw_defaults(void);
// Create optimizer state for model `m` (moments zero, step 0). AL_EINVAL for a bad config
// (lr < 0, betas outside [0,1), eps <= 0, weight_decay < 0), AL_ENOMEM.
al_status al_adamw_new(al_adamw **out, const al_gpt *m, const al_adamw_config *cfg);
void al_adamw_free(al_adamw *o);
// The L2 norm of the whole gradient slab (double accumulation, fixed order).
double al_gpt_grad_norm(const al_gpt *m);
// One update with learning rate `lr`: checks the gradient is finite (AL_ENONFINITE, nothing
// changed), clips to cfg.clip, applies AdamW with bias correction. *gnorm gets the pre-clip norm
// (may be NULL). The update is torch.optim.AdamW's: p *= 1 - lr*wd (decay tensors only), then
// p -= lr/(1-beta1^t) * m / (sqrt(v)/sqrt(1-beta2^t) + eps). cfg.lr is not used here (the caller
// passes the scheduled lr). The gradient slab is not modified (clipping scales on the fly).
// AL_EINVAL if the model is frozen, has no gradients, the sizes differ or lr is bad.
al_status al_adamw_step(al_adamw *o, al_gpt *m, float lr, double *gnorm);

// Linear warmup over `warmup` steps, then cosine decay to min_lr at `total`; after `total` stays at
// min_lr. step counts from 0: step s < warmup gives max_lr*(s+1)/warmup (the first step is not
// wasted at lr 0, as in llm.c), step warmup gives max_lr, step (warmup+total)/2 gives
// (max_lr+min_lr)/2, step >= total gives min_lr.
double al_lr_schedule(long step, long warmup, long total, double max_lr, double min_lr);

#endif
