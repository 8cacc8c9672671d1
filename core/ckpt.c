// alignlab core: model directories (model.safetensors + config.json in Hugging Face GPT-2 form)
// and training-state files (AdamW moments, step, RNG states, free-form JSON), on top of the
// generic safetensors layer (safetensors.c). Every write is atomic; every load validates the
// config against al_gpt_config_check and the tensors against the config, by name and shape.
// Training-state layout (a safetensors file):
//   "adamw.m", "adamw.v"  F32 [n]     the moments, in the params slab's layout (when saved)
//   "adamw.step"          I64 []      updates applied
//   "rng.state"           I64 [n, 4]  xoshiro256** words, each uint64 stored bit for bit as an
//                                     I64 (two's complement), since U64 is missing from older
//                                     PyTorch builds that might read the file
//   __metadata__: "format": "pt", "alignlab.kind": "training_state", "adamw.config": JSON of
//                 the hyperparameters (informational), "alignlab": the caller's JSON object.
// Not here: the tokenizer file (tok.c), the run directory layout and logs (Lua drivers).
#include "al_ckpt.h"
#include "al_safetensors.h"
#include "al_io.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CONFIG_MAX_BYTES (1 << 20)

// ---- small helpers ----

static char *join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = malloc(a + b + 2);
  if (!p) return NULL;
  memcpy(p, dir, a);
  p[a] = '/';
  memcpy(p + a + 1, name, b + 1);
  return p;
}

// mkdir -p
static al_status make_dirs(const char *dir) {
  size_t n = strlen(dir);
  char *p = malloc(n + 1);
  if (!p) return al_seterr(AL_ENOMEM, "checkpoint %s: out of memory", dir);
  memcpy(p, dir, n + 1);
  al_status st = AL_OK;
  for (size_t i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != '\0') continue;
    char c = p[i];
    p[i] = '\0';
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
      st = al_seterr(AL_EIO, "checkpoint %s: cannot create directory %s: %s", dir, p,
                     strerror(errno));
      break;
    }
    p[i] = c;
  }
  struct stat sb;
  if (st == AL_OK && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)))
    st = al_seterr(AL_EIO, "checkpoint %s: not a directory", dir);
  free(p);
  return st;
}

// ---- model: save ----

static void add_id(cJSON *j, const char *k, int id) {
  cJSON_AddItemToObject(j, k, id >= 0 ? cJSON_CreateNumber(id) : cJSON_CreateNull());
}

static al_status write_config(const al_gpt *m, const al_ckpt_ids *ids, const char *path) {
  const al_gpt_config *c = &m->cfg;
  al_status st = AL_OK;
  char *text = NULL;
  cJSON *j = cJSON_CreateObject(), *arch = cJSON_CreateArray(), *ext = cJSON_CreateObject();
  int ok = j && arch && ext;
  if (ok) {
    cJSON_AddItemToObject(j, "model_type", cJSON_CreateString("gpt2"));
    cJSON_AddItemToArray(arch, cJSON_CreateString("GPT2LMHeadModel"));
    cJSON_AddItemToObject(j, "architectures", arch);
    arch = NULL;
    cJSON_AddItemToObject(j, "vocab_size", cJSON_CreateNumber(c->V));
    cJSON_AddItemToObject(j, "n_positions", cJSON_CreateNumber(c->maxT));
    cJSON_AddItemToObject(j, "n_ctx", cJSON_CreateNumber(c->maxT));
    cJSON_AddItemToObject(j, "n_embd", cJSON_CreateNumber(c->C));
    cJSON_AddItemToObject(j, "n_layer", cJSON_CreateNumber(c->L));
    cJSON_AddItemToObject(j, "n_head", cJSON_CreateNumber(c->NH));
    cJSON_AddItemToObject(j, "n_inner", cJSON_CreateNull());
    cJSON_AddItemToObject(j, "layer_norm_epsilon", cJSON_CreateNumber(al_io_json_float(c->ln_eps)));
    cJSON_AddItemToObject(j, "activation_function", cJSON_CreateString("gelu_new"));
    cJSON_AddItemToObject(j, "resid_pdrop", cJSON_CreateNumber(0.0));
    cJSON_AddItemToObject(j, "embd_pdrop", cJSON_CreateNumber(0.0));
    cJSON_AddItemToObject(j, "attn_pdrop", cJSON_CreateNumber(0.0));
    cJSON_AddItemToObject(j, "initializer_range", cJSON_CreateNumber(0.02));
    cJSON_AddItemToObject(j, "tie_word_embeddings", cJSON_CreateTrue());
    cJSON_AddItemToObject(j, "torch_dtype", cJSON_CreateString("float32"));
    // null, not absent: GPT2Config's defaults (50256) lie outside a small vocabulary
    add_id(j, "bos_token_id", ids ? ids->bos : -1);
    add_id(j, "eos_token_id", ids ? ids->eos : -1);
    add_id(j, "pad_token_id", ids ? ids->pad : -1);
    cJSON_AddItemToObject(ext, "scalar_head", cJSON_CreateBool(c->scalar));
    cJSON_AddItemToObject(ext, "lm", cJSON_CreateBool(c->lm));
    cJSON_AddItemToObject(ext, "version", cJSON_CreateString(AL_VERSION));
    cJSON_AddItemToObject(j, "alignlab", ext);
    ext = NULL;
    text = cJSON_Print(j);
  }
  if (!ok || !text) {
    st = al_seterr(AL_ENOMEM, "%s: out of memory", path);
    goto cleanup;
  }
  size_t n = strlen(text);
  al_io_chunk ch[2] = {{text, n}, {"\n", 1}};
  st = al_io_write_atomic(path, ch, 2, NULL);
cleanup:
  free(text);
  cJSON_Delete(j);
  cJSON_Delete(arch);
  cJSON_Delete(ext);
  return st;
}

al_status al_ckpt_save(const al_gpt *m, const char *dir) { return al_ckpt_save_ids(m, dir, NULL); }

al_status al_ckpt_save_ids(const al_gpt *m, const char *dir, const al_ckpt_ids *ids) {
  if (!m || !dir) return al_seterr(AL_EINVAL, "al_ckpt_save: NULL argument");
  if (ids) {
    const int v[3] = {ids->bos, ids->eos, ids->pad};
    for (int i = 0; i < 3; i++)
      if (v[i] < -1 || v[i] >= m->cfg.V)
        return al_seterr(AL_EINVAL, "checkpoint %s: %s token id %d outside the vocabulary [0, %d)",
                         dir, (const char *[]){"bos", "eos", "pad"}[i], v[i], m->cfg.V);
  }
  al_status st = make_dirs(dir);
  if (st) return st;
  char *mpath = join(dir, "model.safetensors"), *cpath = join(dir, "config.json");
  int nt = al_gpt_ntensors(m);
  al_gpt_tensor *info = al_calloc((size_t)nt, sizeof *info);
  al_st_entry *es = al_calloc((size_t)nt, sizeof *es);
  uint64_t *shp = al_calloc((size_t)nt * 2, sizeof *shp);
  if (!mpath || !cpath || !info || !es || !shp) {
    st = al_seterr(AL_ENOMEM, "checkpoint %s: out of memory", dir);
    goto cleanup;
  }
  for (int i = 0; i < nt; i++) {
    if ((st = al_gpt_tensor_info(m, i, &info[i])) != AL_OK) goto cleanup;
    for (int d = 0; d < info[i].ndim; d++) shp[2 * i + d] = (uint64_t)info[i].shape[d];
    es[i] = (al_st_entry){info[i].name, AL_ST_F32, info[i].ndim, &shp[2 * i],
                          m->params + info[i].offset};
  }
  const char *meta[] = {"format", "pt"};
  if ((st = al_st_write(mpath, es, nt, meta, 1)) != AL_OK) goto cleanup;
  st = write_config(m, ids, cpath);
cleanup:
  free(mpath);
  free(cpath);
  free(info);
  free(es);
  free(shp);
  return st;
}

// ---- model: load ----

// An exact integer in [lo, hi] from key `k` of j; *present 0 when absent (then *v untouched).
static al_status cfg_int(const cJSON *j, const char *k, int required, long lo, long hi, int *v,
                         const char *path) {
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, k);
  if (!x) {
    if (required) return al_seterr(AL_EFORMAT, "%s: missing \"%s\"", path, k);
    return AL_OK;
  }
  double d = cJSON_IsNumber(x) ? x->valuedouble : NAN;
  if (!(d >= (double)lo && d <= (double)hi) || d != floor(d))
    return al_seterr(AL_EFORMAT, "%s: \"%s\" must be an integer in [%ld, %ld]", path, k, lo, hi);
  *v = (int)d;
  return AL_OK;
}

// A boolean key that, when present, must have the value `want` (an architecture we implement).
static al_status cfg_flag(const cJSON *j, const char *k, int want, const char *path) {
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, k);
  if (!x) return AL_OK;
  if (!cJSON_IsBool(x)) return al_seterr(AL_EFORMAT, "%s: \"%s\" must be a boolean", path, k);
  if (cJSON_IsTrue(x) != want)
    return al_seterr(AL_EFORMAT, "%s: \"%s\" = %s is not supported (alignlab implements %s)", path,
                     k, want ? "false" : "true", want ? "true" : "false");
  return AL_OK;
}

static al_status parse_config(al_gpt_config *c, const cJSON *j, const char *path) {
  al_status st;
  const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
  if (!cJSON_IsString(mt) || strcmp(mt->valuestring, "gpt2") != 0)
    return al_seterr(AL_EFORMAT, "%s: \"model_type\" must be \"gpt2\"", path);
  *c = al_gpt_config_make(0, 0, 0, 0, 0);
  if ((st = cfg_int(j, "vocab_size", 1, 1, INT_MAX, &c->V, path))) return st;
  if ((st = cfg_int(j, "n_positions", 1, 1, INT_MAX, &c->maxT, path))) return st;
  if ((st = cfg_int(j, "n_embd", 1, 1, INT_MAX, &c->C, path))) return st;
  if ((st = cfg_int(j, "n_layer", 1, 1, INT_MAX, &c->L, path))) return st;
  if ((st = cfg_int(j, "n_head", 1, 1, INT_MAX, &c->NH, path))) return st;
  int nctx = c->maxT;
  if ((st = cfg_int(j, "n_ctx", 0, 1, INT_MAX, &nctx, path))) return st;
  if (nctx != c->maxT)
    return al_seterr(AL_EFORMAT, "%s: \"n_ctx\" = %d differs from \"n_positions\" = %d", path,
                     nctx, c->maxT);
  const cJSON *ni = cJSON_GetObjectItemCaseSensitive(j, "n_inner");
  if (ni && !cJSON_IsNull(ni)) {
    int inner = 0;
    if ((st = cfg_int(j, "n_inner", 1, 1, INT_MAX, &inner, path))) return st;
    if ((long)inner != 4L * c->C)
      return al_seterr(AL_EFORMAT, "%s: \"n_inner\" = %d is not supported (only 4 * n_embd)",
                       path, inner);
  }
  const cJSON *eps = cJSON_GetObjectItemCaseSensitive(j, "layer_norm_epsilon");
  if (eps) {
    if (!cJSON_IsNumber(eps) || !isfinite(eps->valuedouble))
      return al_seterr(AL_EFORMAT, "%s: \"layer_norm_epsilon\" must be a number", path);
    c->ln_eps = (float)eps->valuedouble;
  }
  const cJSON *act = cJSON_GetObjectItemCaseSensitive(j, "activation_function");
  if (act && (!cJSON_IsString(act) || (strcmp(act->valuestring, "gelu_new") != 0 &&
                                       strcmp(act->valuestring, "gelu_pytorch_tanh") != 0)))
    return al_seterr(AL_EFORMAT,
                     "%s: \"activation_function\" must be \"gelu_new\" (the tanh GELU)", path);
  for (int i = 0; i < 3; i++) { // optional; null = none (other tools may write a list for eos)
    const char *k = (const char *[]){"bos_token_id", "eos_token_id", "pad_token_id"}[i];
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, k);
    int id = 0;
    if (!x || cJSON_IsNull(x)) continue;
    if (cJSON_IsArray(x)) {
      for (const cJSON *e = x->child; e; e = e->next)
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= c->V ||
            e->valuedouble != floor(e->valuedouble))
          return al_seterr(AL_EFORMAT, "%s: \"%s\" must hold token ids in [0, %d)", path, k, c->V);
      continue;
    }
    if ((st = cfg_int(j, k, 1, 0, c->V > 0 ? c->V - 1 : 0, &id, path))) return st;
  }
  if ((st = cfg_flag(j, "tie_word_embeddings", 1, path))) return st;
  if ((st = cfg_flag(j, "scale_attn_weights", 1, path))) return st;
  if ((st = cfg_flag(j, "scale_attn_by_inverse_layer_idx", 0, path))) return st;
  if ((st = cfg_flag(j, "add_cross_attention", 0, path))) return st;
  const cJSON *ext = cJSON_GetObjectItemCaseSensitive(j, "alignlab");
  if (ext) {
    if (!cJSON_IsObject(ext)) return al_seterr(AL_EFORMAT, "%s: \"alignlab\" must be an object", path);
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(ext, "scalar_head");
    const cJSON *lm = cJSON_GetObjectItemCaseSensitive(ext, "lm");
    if (sh && !cJSON_IsBool(sh))
      return al_seterr(AL_EFORMAT, "%s: \"alignlab.scalar_head\" must be a boolean", path);
    if (lm && !cJSON_IsBool(lm))
      return al_seterr(AL_EFORMAT, "%s: \"alignlab.lm\" must be a boolean", path);
    if (sh) c->scalar = cJSON_IsTrue(sh);
    if (lm) c->lm = cJSON_IsTrue(lm);
  }
  if ((st = al_gpt_config_check(c)) != AL_OK) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", al_errmsg());
    return al_seterr(AL_EFORMAT, "%s: %s", path, msg);
  }
  return AL_OK;
}

static void fmt_shape(char *buf, size_t n, int ndim, const uint64_t *s) {
  size_t k = (size_t)snprintf(buf, n, "[");
  for (int d = 0; d < ndim && k < n; d++)
    k += (size_t)snprintf(buf + k, n - k, d ? ", %llu" : "%llu", (unsigned long long)s[d]);
  if (k < n) snprintf(buf + k, n - k, "]");
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(((const al_gpt_tensor *)a)->name, ((const al_gpt_tensor *)b)->name);
}

// Append name to a ", "-separated list in buf (truncating with "...").
static void list_add(char *buf, size_t n, const char *name) {
  size_t k = strlen(buf);
  if (k + strlen(name) + 8 >= n) {
    if (k + 4 < n && (k < 3 || strcmp(buf + k - 3, "...") != 0)) strcat(buf, "...");
    return;
  }
  if (k) strcat(buf, ", ");
  strcat(buf, name);
}

// Check that file f holds exactly model m's tensors, as F32 with m's shapes, then copy them in.
static al_status load_tensors(al_gpt *m, const al_st_file *f, const char *path) {
  al_status st = AL_OK;
  int nt = al_gpt_ntensors(m);
  al_gpt_tensor *info = al_calloc((size_t)nt, sizeof *info);
  if (!info) return al_seterr(AL_ENOMEM, "%s: out of memory", path);
  char missing[512] = "", extra[512] = "";
  int nmissing = 0, nextra = 0;
  for (int i = 0; i < nt; i++) {
    if ((st = al_gpt_tensor_info(m, i, &info[i])) != AL_OK) goto cleanup;
    const al_st_tensor *t = al_st_find(f, info[i].name);
    if (!t) {
      nmissing++;
      list_add(missing, sizeof missing, info[i].name);
      continue;
    }
    if (t->dtype != AL_ST_F32) {
      st = al_seterr(AL_EFORMAT, "%s: tensor '%s' has dtype %s, alignlab needs F32", path,
                     t->name, al_st_dtype_name(t->dtype));
      goto cleanup;
    }
    uint64_t want[2] = {(uint64_t)info[i].shape[0], (uint64_t)info[i].shape[1]};
    int same = t->ndim == info[i].ndim;
    for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == want[d];
    if (!same) {
      char got[256], exp[64];
      fmt_shape(got, sizeof got, t->ndim, t->shape);
      fmt_shape(exp, sizeof exp, info[i].ndim, want);
      st = al_seterr(AL_ESHAPE, "%s: tensor '%s' has shape %s but config.json implies %s", path,
                     t->name, got, exp);
      goto cleanup;
    }
  }
  qsort(info, (size_t)nt, sizeof *info, cmp_name);
  for (int i = 0; i < f->ntensors; i++) {
    al_gpt_tensor key;
    snprintf(key.name, sizeof key.name, "%s", f->tensors[i].name);
    if (strlen(f->tensors[i].name) >= sizeof key.name ||
        !bsearch(&key, info, (size_t)nt, sizeof *info, cmp_name)) {
      nextra++;
      list_add(extra, sizeof extra, f->tensors[i].name);
    }
  }
  if (nmissing) {
    st = al_seterr(AL_EFORMAT, "%s: %d tensor(s) missing for this config: %s", path, nmissing,
                   missing);
    goto cleanup;
  }
  if (nextra) {
    st = al_seterr(AL_EFORMAT, "%s: %d unexpected tensor(s): %s", path, nextra, extra);
    goto cleanup;
  }
  for (int i = 0; i < nt; i++)
    if ((st = al_st_copy(f, info[i].name, AL_ST_F32, m->params + info[i].offset, info[i].size)))
      goto cleanup;
cleanup:
  free(info);
  return st;
}

al_status al_ckpt_parse_config(al_gpt_config *cfg, const char *text, size_t n, const char *path) {
  if (!cfg || (!text && n) || !path) return al_seterr(AL_EINVAL, "al_ckpt_parse_config: NULL argument");
  cJSON *j = NULL;
  al_status st = al_io_json_object(&j, text ? text : "", n, path);
  if (st == AL_OK) st = parse_config(cfg, j, path);
  cJSON_Delete(j);
  return st;
}

al_status al_ckpt_load(al_gpt **out, const char *dir) {
  if (!out || !dir) return al_seterr(AL_EINVAL, "al_ckpt_load: NULL argument");
  *out = NULL;
  al_status st = AL_OK;
  char *mpath = join(dir, "model.safetensors"), *cpath = join(dir, "config.json");
  char *text = NULL;
  cJSON *j = NULL;
  al_st_file *f = NULL;
  al_gpt *m = NULL;
  size_t n = 0;
  if (!mpath || !cpath) { st = al_seterr(AL_ENOMEM, "checkpoint %s: out of memory", dir); goto cleanup; }
  if ((st = al_io_read_file(cpath, CONFIG_MAX_BYTES, NULL, &text, &n))) goto cleanup;
  if ((st = al_io_json_object(&j, text, n, cpath))) goto cleanup;
  al_gpt_config cfg;
  if ((st = parse_config(&cfg, j, cpath))) goto cleanup;
  if ((st = al_st_read(&f, mpath))) goto cleanup;
  if ((st = al_gpt_new(&m, &cfg, 0))) goto cleanup;
  if ((st = load_tensors(m, f, mpath))) goto cleanup;
  *out = m;
  m = NULL;
cleanup:
  al_gpt_free(m);
  al_st_free(f);
  cJSON_Delete(j);
  free(text);
  free(mpath);
  free(cpath);
  return st;
}

// ---- training state ----

al_status al_ckpt_save_state(const char *path, const al_adamw *opt, const al_rng *rngs,
                             int nrngs, const char *meta_json) {
  if (!path || nrngs < 0 || (nrngs > 0 && !rngs))
    return al_seterr(AL_EINVAL, "al_ckpt_save_state: bad arguments");
  al_status st = AL_OK;
  cJSON *mj = NULL, *oc = NULL;
  char *octext = NULL;
  int64_t step = opt ? (int64_t)opt->step : 0;
  int64_t *words = al_malloc((size_t)nrngs * 4, sizeof *words);
  if (!words) return al_seterr(AL_ENOMEM, "%s: out of memory", path);
  for (int i = 0; i < nrngs; i++)
    for (int k = 0; k < 4; k++) memcpy(&words[4 * i + k], &rngs[i].s[k], 8);
  if (meta_json && (st = al_io_json_object(&mj, meta_json, strlen(meta_json), "training state metadata"))) {
    st = AL_EINVAL;
    goto cleanup;
  }
  const char *meta[8];
  int nmeta = 0;
  meta[2 * nmeta] = "format", meta[2 * nmeta + 1] = "pt", nmeta++;
  meta[2 * nmeta] = "alignlab.kind", meta[2 * nmeta + 1] = "training_state", nmeta++;
  if (opt) {
    oc = cJSON_CreateObject();
    if (oc) {
      cJSON_AddNumberToObject(oc, "lr", al_io_json_float(opt->cfg.lr));
      cJSON_AddNumberToObject(oc, "beta1", al_io_json_float(opt->cfg.beta1));
      cJSON_AddNumberToObject(oc, "beta2", al_io_json_float(opt->cfg.beta2));
      cJSON_AddNumberToObject(oc, "eps", al_io_json_float(opt->cfg.eps));
      cJSON_AddNumberToObject(oc, "weight_decay", al_io_json_float(opt->cfg.weight_decay));
      cJSON_AddNumberToObject(oc, "clip", al_io_json_float(opt->cfg.clip));
      octext = cJSON_PrintUnformatted(oc);
    }
    if (!octext) { st = al_seterr(AL_ENOMEM, "%s: out of memory", path); goto cleanup; }
    meta[2 * nmeta] = "adamw.config", meta[2 * nmeta + 1] = octext, nmeta++;
  }
  if (meta_json) meta[2 * nmeta] = "alignlab", meta[2 * nmeta + 1] = meta_json, nmeta++;
  uint64_t nshape[1] = {opt ? (uint64_t)opt->n : 0}, rshape[2] = {(uint64_t)nrngs, 4};
  al_st_entry es[4];
  int ne = 0;
  if (opt) {
    es[ne++] = (al_st_entry){"adamw.m", AL_ST_F32, 1, nshape, opt->m};
    es[ne++] = (al_st_entry){"adamw.v", AL_ST_F32, 1, nshape, opt->v};
    es[ne++] = (al_st_entry){"adamw.step", AL_ST_I64, 0, NULL, &step};
  }
  if (nrngs > 0) es[ne++] = (al_st_entry){"rng.state", AL_ST_I64, 2, rshape, words};
  st = al_st_write(path, es, ne, meta, nmeta);
cleanup:
  cJSON_Delete(mj);
  cJSON_Delete(oc);
  free(octext);
  free(words);
  return st;
}

// All n floats at p (unaligned) finite, and non-negative when nonneg.
static int floats_ok(const unsigned char *p, size_t n, int nonneg, size_t *bad) {
  for (size_t i = 0; i < n; i++) {
    float x;
    memcpy(&x, p + 4 * i, 4);
    if (!isfinite(x) || (nonneg && x < 0)) { *bad = i; return 0; }
  }
  return 1;
}

al_status al_ckpt_load_state(const char *path, al_adamw *opt, al_rng *rngs, int nrngs,
                             char **meta_json) {
  if (meta_json) *meta_json = NULL;
  if (!path || nrngs < 0 || (nrngs > 0 && !rngs))
    return al_seterr(AL_EINVAL, "al_ckpt_load_state: bad arguments");
  al_st_file *f = NULL;
  char *mcopy = NULL;
  al_status st = al_st_read(&f, path);
  if (st) return st;
  const char *kind = al_st_meta(f, "alignlab.kind");
  if (!kind || strcmp(kind, "training_state") != 0) {
    st = al_seterr(AL_EFORMAT, "%s: not an alignlab training-state file (no __metadata__ "
                               "\"alignlab.kind\": \"training_state\")", path);
    goto cleanup;
  }
  // validate everything before touching opt or rngs
  const al_st_tensor *tm = al_st_find(f, "adamw.m"), *tv = al_st_find(f, "adamw.v");
  const al_st_tensor *ts = al_st_find(f, "adamw.step"), *tr = al_st_find(f, "rng.state");
  int64_t step = 0;
  if (opt) {
    if (!tm || !tv || !ts) {
      st = al_seterr(AL_EFORMAT, "%s: no optimizer state (adamw.m, adamw.v, adamw.step)", path);
      goto cleanup;
    }
    if (tm->dtype != AL_ST_F32 || tv->dtype != AL_ST_F32 || tm->ndim != 1 || tv->ndim != 1) {
      st = al_seterr(AL_EFORMAT, "%s: adamw.m and adamw.v must be F32 vectors", path);
      goto cleanup;
    }
    if (tm->nelem != opt->n || tv->nelem != opt->n) {
      st = al_seterr(AL_ESHAPE, "%s: optimizer state holds %llu floats, the model has %zu", path,
                     (unsigned long long)tm->nelem, opt->n);
      goto cleanup;
    }
    if (ts->dtype != AL_ST_I64 || ts->nelem != 1) {
      st = al_seterr(AL_EFORMAT, "%s: adamw.step must be one I64", path);
      goto cleanup;
    }
    memcpy(&step, ts->data, 8);
    if (step < 0) {
      st = al_seterr(AL_EFORMAT, "%s: adamw.step = %lld is negative", path, (long long)step);
      goto cleanup;
    }
    size_t bad;
    if (!floats_ok(tm->data, opt->n, 0, &bad)) {
      st = al_seterr(AL_EFORMAT, "%s: adamw.m[%zu] is not finite", path, bad);
      goto cleanup;
    }
    if (!floats_ok(tv->data, opt->n, 1, &bad)) {
      st = al_seterr(AL_EFORMAT, "%s: adamw.v[%zu] is negative or not finite", path, bad);
      goto cleanup;
    }
  }
  uint64_t have = tr ? tr->shape[0] : 0;
  if (tr && (tr->dtype != AL_ST_I64 || tr->ndim != 2 || tr->shape[1] != 4)) {
    st = al_seterr(AL_EFORMAT, "%s: rng.state must be I64 [n, 4]", path);
    goto cleanup;
  }
  if (have != (uint64_t)nrngs) {
    st = al_seterr(AL_ESHAPE, "%s: holds %llu RNG state(s), %d expected", path,
                   (unsigned long long)have, nrngs);
    goto cleanup;
  }
  for (int i = 0; i < nrngs; i++) {
    uint64_t w[4];
    memcpy(w, tr->data + 32 * (size_t)i, 32);
    if (!(w[0] | w[1] | w[2] | w[3])) {
      st = al_seterr(AL_EFORMAT, "%s: RNG state %d is all zero (invalid for xoshiro256**)", path, i);
      goto cleanup;
    }
  }
  const char *mj = al_st_meta(f, "alignlab");
  if (meta_json && mj && !(mcopy = malloc(strlen(mj) + 1))) {
    st = al_seterr(AL_ENOMEM, "%s: out of memory", path);
    goto cleanup;
  }
  // commit
  if (opt) {
    memcpy(opt->m, tm->data, opt->n * sizeof(float));
    memcpy(opt->v, tv->data, opt->n * sizeof(float));
    opt->step = (long)step;
  }
  for (int i = 0; i < nrngs; i++) memcpy(rngs[i].s, tr->data + 32 * (size_t)i, 32);
  if (meta_json && mj) {
    strcpy(mcopy, mj);
    *meta_json = mcopy;
    mcopy = NULL;
  }
cleanup:
  free(mcopy);
  al_st_free(f);
  return st;
}
