// alignlab core: AdamW with decoupled weight decay on matrices only, global-norm gradient
// clipping, a non-finite guard, and the learning-rate schedule every trainer uses.
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

// ---- the learning-rate schedule (every trainer's: lua/al/train.lua calls it) ----
typedef enum { AL_LR_COSINE = 0, AL_LR_LINEAR, AL_LR_CONSTANT } al_lr_kind;

typedef struct {
  al_lr_kind kind;
  double lr;     // peak learning rate
  double min_lr; // the rate at the end (cosine, linear); constant ignores it
  double warmup; // warmup steps; a value in (0, 1) is a fraction of total (at least one step)
  long total;    // steps of the whole run
} al_lr_schedule;

// The learning rate at `step` (from 0). Linear warmup first: step s < W gives lr*(s+1)/W (the
// first step is not wasted at lr 0, as in llm.c), with W = warmup, or max(1, floor(warmup*total))
// when warmup is a fraction. Then, with p = (s - W)/(total - W) capped at 1 (p = 1 when
// total <= W): constant gives lr; linear lr + (min_lr - lr)*p; cosine
// min_lr + (lr - min_lr)/2 * (1 + cos(pi p)). So step W gives lr and step >= total gives min_lr.
// The arithmetic is in double in this exact order: the figures were made with it.
double al_lr_at(const al_lr_schedule *s, long step);

// The kind named "cosine" | "linear" | "constant"; AL_EINVAL (message naming it) otherwise.
al_status al_lr_kind_from_name(al_lr_kind *kind, const char *name);

#endif
