// alignlab core: a Hugging Face model directory (al_hf.h): the JSON side files, the chat template
// and the model card around al_ckpt_save_ids and al_tok_export_hf. Every file is written
// atomically; nothing here is read back by alignlab.
#include "al_hf.h"
#include "al_data.h"
#include "al_io.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(code, ...)                   \
  do {                                    \
    st = al_seterr(code, __VA_ARGS__);    \
    goto cleanup;                         \
  } while (0)

static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static al_status write_text(const char *dir, const char *name, const char *text) {
  char *p = join(dir, name);
  if (!p) return al_seterr(AL_ENOMEM, "%s: out of memory", dir);
  al_io_chunk ch[1] = {{text, strlen(text)}};
  al_status st = al_io_write_atomic(p, ch, 1, NULL);
  free(p);
  return st;
}

// Print j (consumed) with a final newline into dir/name.
static al_status write_json(const char *dir, const char *name, cJSON *j) {
  char *text = j ? cJSON_Print(j) : NULL;
  cJSON_Delete(j);
  if (!text) return al_seterr(AL_ENOMEM, "%s/%s: out of memory", dir, name);
  size_t n = strlen(text);
  char *t2 = realloc(text, n + 2);
  if (!t2) {
    free(text);
    return al_seterr(AL_ENOMEM, "%s/%s: out of memory", dir, name);
  }
  memcpy(t2 + n, "\n", 2);
  al_status st = write_text(dir, name, t2);
  free(t2);
  return st;
}

static void add_id(cJSON *j, const char *k, int id) {
  cJSON_AddItemToObject(j, k, id >= 0 ? cJSON_CreateNumber(id) : cJSON_CreateNull());
}

// The text of special id (NUL-terminated copy in buf), or NULL when id < 0.
static const char *tok_text(const al_tok *t, int id, char *buf, size_t n) {
  if (!t || id < 0) return NULL;
  size_t len = 0;
  const char *s = al_tok_token(t, id, &len);
  if (!s) return NULL;
  if (len >= n) len = n - 1;
  memcpy(buf, s, len);
  buf[len] = '\0';
  return buf;
}

static void add_tok(cJSON *j, const char *k, const char *text) {
  cJSON_AddItemToObject(j, k, text ? cJSON_CreateString(text) : cJSON_CreateNull());
}

static cJSON *generation_config(const al_gpt *m, const al_ckpt_ids *ids) {
  cJSON *j = cJSON_CreateObject();
  if (!j) return NULL;
  add_id(j, "bos_token_id", ids->bos);
  add_id(j, "eos_token_id", ids->eos);
  add_id(j, "pad_token_id", ids->pad);
  cJSON_AddNumberToObject(j, "max_length", m->cfg.maxT);
  // alignlab's generate defaults (lua/l_sample.c): sampling at temperature 1, no top-k, no top-p
  cJSON_AddBoolToObject(j, "do_sample", 1);
  cJSON_AddNumberToObject(j, "temperature", 1.0);
  cJSON_AddNumberToObject(j, "top_k", 0);
  cJSON_AddNumberToObject(j, "top_p", 1.0);
  cJSON_AddBoolToObject(j, "_from_model_config", 0);
  return j;
}

typedef struct {
  char bos[256], eos[256], pad[256], unk[256];
  const char *b, *e, *p, *u;
} roles;

static void get_roles(const al_tok *t, roles *r) {
  r->b = tok_text(t, al_tok_bos(t), r->bos, sizeof r->bos);
  r->e = tok_text(t, al_tok_eos(t), r->eos, sizeof r->eos);
  r->p = tok_text(t, al_tok_pad(t), r->pad, sizeof r->pad);
  r->u = tok_text(t, al_tok_unk(t), r->unk, sizeof r->unk);
}

// The specials other than bos/eos/pad/unk, as a JSON array of strings.
static cJSON *extra_specials(const al_tok *t) {
  cJSON *a = cJSON_CreateArray();
  int skip[4] = {al_tok_bos(t), al_tok_eos(t), al_tok_pad(t), al_tok_unk(t)};
  for (int id = al_tok_nbase(t); a && id < al_tok_size(t); id++) {
    int role = 0;
    for (int k = 0; k < 4; k++) role |= skip[k] == id;
    if (role || !al_tok_is_special(t, id)) continue;
    char buf[256];
    cJSON_AddItemToArray(a, cJSON_CreateString(tok_text(t, id, buf, sizeof buf)));
  }
  return a;
}

static cJSON *tokenizer_config(const al_gpt *m, const al_tok *t) {
  roles r;
  get_roles(t, &r);
  cJSON *j = cJSON_CreateObject();
  if (!j) return NULL;
  cJSON_AddStringToObject(j, "tokenizer_class", "PreTrainedTokenizerFast");
  cJSON_AddNumberToObject(j, "model_max_length", m->cfg.maxT);
  add_tok(j, "bos_token", r.b);
  add_tok(j, "eos_token", r.e);
  add_tok(j, "pad_token", r.p);
  add_tok(j, "unk_token", r.u);
  cJSON_AddItemToObject(j, "additional_special_tokens", extra_specials(t));
  cJSON_AddBoolToObject(j, "add_bos_token", 0);
  cJSON_AddBoolToObject(j, "add_eos_token", 0);
  cJSON_AddBoolToObject(j, "add_prefix_space", 0);
  cJSON_AddBoolToObject(j, "clean_up_tokenization_spaces", 0);
  cJSON_AddStringToObject(j, "padding_side", "right");
  cJSON *dec = cJSON_AddObjectToObject(j, "added_tokens_decoder");
  for (int id = al_tok_nbase(t); dec && id < al_tok_size(t); id++) {
    char key[16], buf[256];
    snprintf(key, sizeof key, "%d", id);
    cJSON *a = cJSON_AddObjectToObject(dec, key);
    cJSON_AddStringToObject(a, "content", tok_text(t, id, buf, sizeof buf));
    cJSON_AddBoolToObject(a, "lstrip", 0);
    cJSON_AddBoolToObject(a, "normalized", 0);
    cJSON_AddBoolToObject(a, "rstrip", 0);
    cJSON_AddBoolToObject(a, "single_word", 0);
    cJSON_AddBoolToObject(a, "special", 1);
  }
  cJSON_AddStringToObject(j, "chat_template", AL_DATA_CHAT_TEMPLATE_JINJA);
  return j;
}

static cJSON *special_tokens_map(const al_tok *t) {
  roles r;
  get_roles(t, &r);
  cJSON *j = cJSON_CreateObject();
  if (!j) return NULL;
  if (r.b) cJSON_AddStringToObject(j, "bos_token", r.b);
  if (r.e) cJSON_AddStringToObject(j, "eos_token", r.e);
  if (r.p) cJSON_AddStringToObject(j, "pad_token", r.p);
  if (r.u) cJSON_AddStringToObject(j, "unk_token", r.u);
  cJSON_AddItemToObject(j, "additional_special_tokens", extra_specials(t));
  return j;
}

// ---- the model card ----

typedef struct {
  char *s;
  size_t n, cap;
  int oom;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (k < 0) {
      b->oom = 1;
      return;
    }
    if ((size_t)k < b->cap - b->n) {
      b->n += (size_t)k;
      return;
    }
    size_t cap = (b->cap + (size_t)k) * 2 + 64;
    char *s = realloc(b->s, cap);
    if (!s) {
      b->oom = 1;
      return;
    }
    b->s = s;
    b->cap = cap;
  }
}

// A table cell: '|' escaped, newlines as spaces.
static void put_cell(buf *b, const char *s) {
  for (; *s; s++) {
    if (*s == '|') put(b, "\\|");
    else if (*s == '\n' || *s == '\r') put(b, " ");
    else put(b, "%c", *s);
  }
}

static int by_key(const void *a, const void *b) {
  const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
  return strcmp(x->string ? x->string : "", y->string ? y->string : "");
}

static const char *const CARD_HEAD =
    "---\n"
    "license: other  # a placeholder: choose a licence before publishing this model\n"
    "library_name: transformers\n"
    "pipeline_tag: text-generation\n"
    "tags:\n  - alignlab\n  - gpt2\n  - toy-model\n"
    "---\n\n"
    "# A toy GPT-2 trained with alignlab\n\n"
    "> **Warning: this is a toy model.** It was trained on a CPU in minutes, on small or synthetic\n"
    "> data, to study training methods (SFT, reward models, DPO, KTO, PPO, GRPO, ...). It knows\n"
    "> nothing useful and says nothing reliable; do not deploy it or use its outputs for anything\n"
    "> but experiments about training.\n\n";

static al_status card(const al_gpt *m, const al_tok *t, const cJSON *facts, char **out) {
  const al_gpt_config *c = &m->cfg;
  buf b = {0};
  put(&b, "%s", CARD_HEAD);
  put(&b, "## Model\n\n| field | value |\n|---|---|\n");
  put(&b, "| architecture | GPT2LMHeadModel (pre-LN, tanh GELU, tied embeddings) |\n");
  put(&b, "| n_layer / n_head / n_embd | %d / %d / %d |\n", c->L, c->NH, c->C);
  put(&b, "| n_positions (context) | %d |\n| vocab_size | %d |\n", c->maxT, c->V);
  put(&b, "| parameters | %zu |\n| heads | %s%s |\n", m->nparams, c->lm ? "LM" : "",
      c->scalar ? (c->lm ? " + scalar (score.weight)" : "scalar (score.weight)") : "");
  put(&b, "| dtype | float32 |\n| written by | alignlab %s |\n\n", AL_VERSION);
  if (c->scalar)
    put(&b, "The scalar head (`score.weight`, a reward or value head) is not part of\n"
            "GPT2LMHeadModel: transformers ignores it; alignlab reads it back.\n\n");
  put(&b, "## Tokenizer\n\n");
  if (t) {
    put(&b, "%s tokenizer, %d ids (%d ordinary, %d special). `tokenizer.json` is the exported\n"
            "tokenizer; decoding is byte-exact (`clean_up_tokenization_spaces` is false).\n\n",
        al_tok_kind_of(t) == AL_TOK_BPE ? "Byte-level BPE" : "Word-level", al_tok_size(t),
        al_tok_nbase(t), al_tok_size(t) - al_tok_nbase(t));
    put(&b, "## Chat format\n\nalignlab's one chat template (also `chat_template` in\n"
            "`tokenizer_config.json`, and `chat_template.jinja`): each message is\n"
            "`<|role|>` newline content `<|end|>`, with nothing between messages; the generation\n"
            "prompt is `<|assistant|>` and a newline.\n\n");
  } else {
    put(&b, "None was saved with this model (save it with `model:save(dir, { tok = tok })`).\n\n");
  }
  put(&b, "## Training\n\n");
  int nf = cJSON_GetArraySize(facts);
  const cJSON **fs = nf ? calloc((size_t)nf, sizeof *fs) : NULL;
  if (nf && !fs) b.oom = 1;
  if (fs) {
    int k = 0;
    for (const cJSON *e = facts->child; e; e = e->next) fs[k++] = e;
    qsort(fs, (size_t)nf, sizeof *fs, by_key); // a Lua table has no order: the card's is sorted
    put(&b, "| field | value |\n|---|---|\n");
    for (int i = 0; i < nf; i++) {
      const cJSON *e = fs[i];
      put(&b, "| ");
      put_cell(&b, e->string ? e->string : "");
      put(&b, " | ");
      if (cJSON_IsString(e)) {
        put_cell(&b, e->valuestring);
      } else {
        char *v = cJSON_PrintUnformatted(e);
        if (!v) b.oom = 1;
        else put_cell(&b, v);
        free(v);
      }
      put(&b, " |\n");
    }
    put(&b, "\n");
    free(fs);
  } else if (!b.oom) {
    put(&b, "Not recorded (pass `card = { ... }` to `model:save`).\n\n");
  }
  put(&b, "## Intended use\n\nTeaching and research on alignment methods at toy scale; tests of\n"
          "tools that read Hugging Face model directories. Not for production or for any use\n"
          "whose outputs matter.\n\n");
  put(&b, "## Loading\n\n```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
          "model = AutoModelForCausalLM.from_pretrained(\"DIR\")\n");
  if (t) put(&b, "tokenizer = AutoTokenizer.from_pretrained(\"DIR\")\n");
  put(&b, "```\n\nIn alignlab: `al.load(\"DIR\")` (and `al.tokenizer.load` for alignlab's own\n"
          "tokenizer file, when saved).\n\n## Licence\n\nNot chosen yet (placeholder `other`).\n");
  if (b.oom) {
    free(b.s);
    return al_seterr(AL_ENOMEM, "model card: out of memory");
  }
  *out = b.s;
  return AL_OK;
}

al_status al_hf_save(const al_gpt *m, const al_tok *t, const char *dir, const char *card_json) {
  if (!m || !dir) return al_seterr(AL_EINVAL, "al_hf_save: NULL argument");
  al_status st = AL_OK;
  cJSON *facts = NULL;
  char *text = NULL, *tpath = NULL;
  if (t && al_tok_size(t) > m->cfg.V)
    return al_seterr(AL_EINVAL, "save %s: the tokenizer has %d ids, more than the model's vocabulary %d",
                     dir, al_tok_size(t), m->cfg.V);
  if (card_json) {
    facts = cJSON_Parse(card_json);
    if (!cJSON_IsObject(facts)) FAIL(AL_EINVAL, "save %s: the card must be a JSON object", dir);
  }
  al_ckpt_ids ids = {-1, -1, -1};
  if (t) ids = (al_ckpt_ids){al_tok_bos(t), al_tok_eos(t), al_tok_pad(t)};
  if ((st = al_ckpt_save_ids(m, dir, &ids)) != AL_OK) goto cleanup;
  if ((st = write_json(dir, "generation_config.json", generation_config(m, &ids))) != AL_OK)
    goto cleanup;
  if (t) {
    if (!(tpath = join(dir, "tokenizer.json"))) FAIL(AL_ENOMEM, "%s: out of memory", dir);
    if ((st = al_tok_export_hf(t, tpath)) != AL_OK) goto cleanup;
    if ((st = write_json(dir, "tokenizer_config.json", tokenizer_config(m, t))) != AL_OK) goto cleanup;
    if ((st = write_json(dir, "special_tokens_map.json", special_tokens_map(t))) != AL_OK)
      goto cleanup;
    if ((st = write_text(dir, "chat_template.jinja", AL_DATA_CHAT_TEMPLATE_JINJA)) != AL_OK)
      goto cleanup;
  }
  if ((st = card(m, t, facts, &text)) != AL_OK) goto cleanup;
  st = write_text(dir, "README.md", text);
cleanup:
  cJSON_Delete(facts);
  free(text);
  free(tpath);
  return st;
}
