// alignlab core: datasets (record shapes, chat template and masks are documented in al_data.h).
// A record is validated and tokenized once, when added; batches are assembled from the stored
// sequences. Record errors are built without a location and prefixed with "src:line: " by
// al_data_add, which also applies the strict / skip policy.
#include "data_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

al_data_opts al_data_defaults(void) {
  al_data_opts o = {0};
  o.too_long = AL_TOO_LONG_TRUNCATE;
  o.strict = 1;
  o.add_eos = 1;
  return o;
}

// ---- sequence builder ----

typedef struct {
  int *ids;
  unsigned char *mask;
  int n, cap;
} sb;

static void sb_free(sb *b) {
  free(b->ids);
  free(b->mask);
  memset(b, 0, sizeof *b);
}

static al_status sb_ids(sb *b, const int *ids, int n, int trained) {
  if (b->n + n > b->cap) {
    int cap = b->cap ? b->cap : 64;
    while (cap < b->n + n) cap *= 2;
    int *i = realloc(b->ids, (size_t)cap * sizeof *i);
    if (!i) return al_seterr(AL_ENOMEM, "out of memory");
    b->ids = i;
    unsigned char *m = realloc(b->mask, (size_t)cap);
    if (!m) return al_seterr(AL_ENOMEM, "out of memory");
    b->mask = m;
    b->cap = cap;
  }
  for (int k = 0; k < n; k++) {
    b->ids[b->n + k] = ids[k];
    b->mask[b->n + k] = (unsigned char)(trained != 0);
  }
  b->n += n;
  return AL_OK;
}

static al_status sb_text(sb *b, const al_tok *t, const char *s, int trained, int specials) {
  int *ids, n;
  al_status st = al_tok_encode(t, s, strlen(s), specials, &ids, &n);
  if (st != AL_OK) return st;
  st = sb_ids(b, ids, n, trained);
  free(ids);
  return st;
}

static al_status sb_role(sb *b, int role, int trained) {
  if (role < 0) return AL_OK;
  return sb_ids(b, &role, 1, trained);
}

// ---- messages and the template ----

typedef struct {
  const char *role, *content;
} msg;

static al_status get_msgs(const cJSON *a, const char *field, msg **out, int *n) {
  *out = NULL;
  *n = 0;
  if (!cJSON_IsArray(a)) return al_seterr(AL_EFORMAT, "field '%s' must be a string or a list of messages", field);
  int k = cJSON_GetArraySize(a);
  msg *m = al_calloc((size_t)k, sizeof *m);
  if (!m) return al_seterr(AL_ENOMEM, "out of memory");
  int i = 0;
  for (const cJSON *e = a->child; e; e = e->next, i++) {
    if (!cJSON_IsObject(e)) {
      free(m);
      return al_seterr(AL_EFORMAT, "%s[%d]: a message must be an object", field, i);
    }
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "role");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
    const char *why = NULL;
    if (!r) why = "missing field 'role'";
    else if (!c) why = "missing field 'content'";
    else if (!cJSON_IsString(r)) why = "'role' must be a string";
    else if (!cJSON_IsString(c)) why = "'content' must be a string";
    else if (strcmp(r->valuestring, "system") && strcmp(r->valuestring, "user") &&
             strcmp(r->valuestring, "assistant")) {
      free(m);
      return al_seterr(AL_EFORMAT, "%s[%d]: role '%s' is not system, user or assistant", field, i,
                       r->valuestring);
    }
    if (why) {
      free(m);
      return al_seterr(AL_EFORMAT, "%s[%d]: %s", field, i, why);
    }
    m[i].role = r->valuestring;
    m[i].content = c->valuestring;
  }
  *out = m;
  *n = k;
  return AL_OK;
}

static al_status sb_tag(sb *b, const al_tok *t, const char *role) {
  char tag[32];
  snprintf(tag, sizeof tag, "<|%s|>\n", role);
  return sb_text(b, t, tag, 0, 1);
}

// One message; assistant messages are trained when `train`.
static al_status sb_msg(sb *b, const al_tok *t, const msg *m, int train, const al_data_opts *o) {
  int tr = train && strcmp(m->role, "assistant") == 0;
  al_status st = sb_tag(b, t, m->role);
  if (st == AL_OK) st = sb_text(b, t, m->content, tr, o->match_specials);
  if (st == AL_OK) st = sb_text(b, t, "<|end|>", tr, 1);
  return st;
}

static al_status sb_msgs(sb *b, const al_tok *t, const msg *m, int n, int train,
                         const al_data_opts *o) {
  al_status st = AL_OK;
  for (int i = 0; i < n && st == AL_OK; i++) st = sb_msg(b, t, &m[i], train, o);
  return st;
}

// A completion continuing a generation prompt: a leading assistant message's tag is already there.
static al_status sb_completion_msgs(sb *b, const al_tok *t, const msg *m, int n,
                                    const al_data_opts *o) {
  al_status st = AL_OK;
  for (int i = 0; i < n && st == AL_OK; i++) {
    if (i == 0 && strcmp(m[0].role, "assistant") == 0) {
      st = sb_text(b, t, m[0].content, 1, o->match_specials);
      if (st == AL_OK) st = sb_text(b, t, "<|end|>", 1, 1);
    } else {
      st = sb_msg(b, t, &m[i], 1, o);
    }
  }
  return st;
}

al_status al_data_render(const cJSON *messages, int generation_prompt, char **text) {
  *text = NULL;
  msg *m;
  int n;
  al_status st = get_msgs(messages, "messages", &m, &n);
  if (st != AL_OK) return st;
  size_t total = 32;
  for (int i = 0; i < n; i++) total += strlen(m[i].content) + 32;
  char *s = malloc(total);
  if (!s) {
    free(m);
    return al_seterr(AL_ENOMEM, "out of memory");
  }
  size_t k = 0;
  for (int i = 0; i < n; i++)
    k += (size_t)sprintf(s + k, "<|%s|>\n%s<|end|>", m[i].role, m[i].content);
  if (generation_prompt) k += (size_t)sprintf(s + k, "<|assistant|>\n");
  s[k] = '\0';
  free(m);
  *text = s;
  return AL_OK;
}

// ---- records ----

static const cJSON *field(const cJSON *rec, const char *k) {
  return cJSON_GetObjectItemCaseSensitive(rec, k);
}

static al_status need_string(const cJSON *x, const char *name) {
  if (!cJSON_IsString(x)) return al_seterr(AL_EFORMAT, "field '%s' must be a string", name);
  return AL_OK;
}

// Finish a sequence: prompt_len = first trained token, mask[0] = 0; checks it trains something.
static void sb_finish(sb *b, al_seq *s) {
  int p = 0;
  while (p < b->n && !b->mask[p]) p++;
  if (b->n > 0) b->mask[0] = 0;
  s->ids = b->ids;
  s->mask = b->mask;
  s->len = b->n;
  s->prompt_len = p;
  memset(b, 0, sizeof *b);
}

static int has_target(const al_seq *s) {
  for (int t = 1; t < s->len; t++)
    if (s->mask[t]) return 1;
  return 0;
}

// SFT record -> seq
static al_status sft_record(const al_dataset *d, const cJSON *rec, al_seq *out) {
  const al_tok *t = d->tok;
  const al_data_opts *o = &d->o;
  const cJSON *text = field(rec, "text"), *msgs = field(rec, "messages"),
              *prompt = field(rec, "prompt"), *comp = field(rec, "completion");
  int nshapes = (text != NULL) + (msgs != NULL) + (prompt != NULL);
  sb b = {0};
  msg *pm = NULL, *cm = NULL;
  int np = 0, nc = 0;
  al_status st = AL_OK;
  if (nshapes == 0) {
    if (comp) return al_seterr(AL_EFORMAT, "missing field 'prompt'");
    return al_seterr(AL_EFORMAT, "missing field 'text', 'prompt' or 'messages'");
  }
  if (nshapes > 1)
    return al_seterr(AL_EFORMAT, "record has more than one of 'text', 'prompt', 'messages'");
  if (text) {
    if ((st = need_string(text, "text")) != AL_OK) return st;
    if (o->add_bos) st = sb_role(&b, al_tok_bos(t), 0);
    if (st == AL_OK) st = sb_text(&b, t, text->valuestring, 1, o->match_specials);
    if (st == AL_OK && o->add_eos) st = sb_role(&b, al_tok_eos(t), 1);
  } else if (msgs) {
    if ((st = get_msgs(msgs, "messages", &pm, &np)) != AL_OK) return st;
    int any = 0;
    for (int i = 0; i < np; i++) any |= strcmp(pm[i].role, "assistant") == 0;
    if (!any) st = al_seterr(AL_EFORMAT, "messages: no assistant message to train on");
    if (st == AL_OK) st = sb_msgs(&b, t, pm, np, 1, o);
  } else {
    if (!comp) return al_seterr(AL_EFORMAT, "missing field 'completion'");
    if (cJSON_IsString(prompt)) {
      if ((st = need_string(comp, "completion")) != AL_OK) return st;
      if (o->add_bos) st = sb_role(&b, al_tok_bos(t), 0);
      if (st == AL_OK) st = sb_text(&b, t, prompt->valuestring, 0, o->match_specials);
      if (st == AL_OK) st = sb_text(&b, t, comp->valuestring, 1, o->match_specials);
      if (st == AL_OK && o->add_eos) st = sb_role(&b, al_tok_eos(t), 1);
    } else {
      if ((st = get_msgs(prompt, "prompt", &pm, &np)) != AL_OK) return st;
      if ((st = get_msgs(comp, "completion", &cm, &nc)) != AL_OK) goto cleanup;
      if (nc == 0) st = al_seterr(AL_EFORMAT, "completion: empty message list");
      if (st == AL_OK) st = sb_msgs(&b, t, pm, np, 0, o);
      if (st == AL_OK && strcmp(cm[0].role, "assistant") == 0) st = sb_tag(&b, t, "assistant");
      if (st == AL_OK) st = sb_completion_msgs(&b, t, cm, nc, o);
    }
  }
cleanup:
  free(pm);
  free(cm);
  if (st != AL_OK) {
    sb_free(&b);
    return st;
  }
  sb_finish(&b, out);
  return AL_OK;
}

static int msg_eq(const msg *a, const msg *b) {
  return strcmp(a->role, b->role) == 0 && strcmp(a->content, b->content) == 0;
}

#define HH_MARK "\n\nAssistant: "

// Preference record -> chosen and rejected sequences.
static al_status pref_record(const al_dataset *d, const cJSON *rec, al_seq *ch, al_seq *rj) {
  const al_tok *t = d->tok;
  const al_data_opts *o = &d->o;
  const cJSON *prompt = field(rec, "prompt"), *c = field(rec, "chosen"), *r = field(rec, "rejected");
  if (!c) return al_seterr(AL_EFORMAT, "missing field 'chosen'");
  if (!r) return al_seterr(AL_EFORMAT, "missing field 'rejected'");
  sb bc = {0}, br = {0};
  msg *pm = NULL, *cm = NULL, *rm = NULL;
  int np = 0, nc = 0, nr = 0;
  char *ptext = NULL;
  al_status st = AL_OK;
  int conv = !cJSON_IsString(c);
  if (cJSON_IsString(c) != cJSON_IsString(r) || (prompt && cJSON_IsString(prompt) == conv))
    return al_seterr(AL_EFORMAT, "'prompt', 'chosen' and 'rejected' must all be strings or all "
                                 "message lists");
  if (!conv) {
    const char *cs = c->valuestring, *rs = r->valuestring, *pc, *pr;
    const char *ps = prompt ? prompt->valuestring : NULL;
    if (!prompt) { // implicit prompt
      size_t l = 0;
      while (cs[l] && cs[l] == rs[l]) l++;
      size_t cut = 0;
      if (strstr(cs, HH_MARK) && strstr(rs, HH_MARK)) {
        const char *p = cs, *last = NULL;
        while ((p = strstr(p, HH_MARK)) && (size_t)(p - cs) + strlen(HH_MARK) <= l) last = p++;
        if (!last) return al_seterr(AL_EFORMAT, "chosen and rejected share no '\\n\\nAssistant: ' turn");
        cut = (size_t)(last - cs) + strlen(HH_MARK) - 1; // responses keep the space
      } else {
        for (size_t k = 0; k < l; k++)
          if (cs[k] == ' ') cut = k;
      }
      ptext = malloc(cut + 1);
      if (!ptext) return al_seterr(AL_ENOMEM, "out of memory");
      memcpy(ptext, cs, cut);
      ptext[cut] = '\0';
      ps = ptext;
      pc = cs + cut;
      pr = rs + cut;
    } else {
      pc = cs;
      pr = rs;
    }
    sb *bs[2] = {&bc, &br};
    const char *resp[2] = {pc, pr};
    for (int k = 0; k < 2 && st == AL_OK; k++) {
      if (o->add_bos) st = sb_role(bs[k], al_tok_bos(t), 0);
      if (st == AL_OK) st = sb_text(bs[k], t, ps, 0, o->match_specials);
      if (st == AL_OK) st = sb_text(bs[k], t, resp[k], 1, o->match_specials);
      if (st == AL_OK && o->add_eos) st = sb_role(bs[k], al_tok_eos(t), 1);
    }
  } else {
    if ((st = get_msgs(c, "chosen", &cm, &nc)) != AL_OK) goto cleanup;
    if ((st = get_msgs(r, "rejected", &rm, &nr)) != AL_OK) goto cleanup;
    const msg *mc = cm, *mr = rm;
    if (prompt) {
      if ((st = get_msgs(prompt, "prompt", &pm, &np)) != AL_OK) goto cleanup;
    } else { // implicit: the shared leading messages
      while (np < nc && np < nr && msg_eq(&cm[np], &rm[np])) np++;
      mc = cm + np;
      mr = rm + np;
      nc -= np;
      nr -= np;
    }
    if (nc == 0 || nr == 0) {
      st = al_seterr(AL_EFORMAT, "%s has no message after the prompt", nc == 0 ? "chosen" : "rejected");
      goto cleanup;
    }
    const msg *pp = prompt ? pm : cm;
    sb *bs[2] = {&bc, &br};
    const msg *resp[2] = {mc, mr};
    int nresp[2] = {nc, nr};
    for (int k = 0; k < 2 && st == AL_OK; k++) {
      st = sb_msgs(bs[k], t, pp, np, 0, o);
      if (st == AL_OK && strcmp(resp[k][0].role, "assistant") == 0) st = sb_tag(bs[k], t, "assistant");
      if (st == AL_OK) st = sb_completion_msgs(bs[k], t, resp[k], nresp[k], o);
    }
  }
cleanup:
  free(pm);
  free(cm);
  free(rm);
  free(ptext);
  if (st == AL_OK && bc.n == br.n && memcmp(bc.ids, br.ids, (size_t)bc.n * sizeof(int)) == 0)
    st = al_seterr(AL_EFORMAT, "chosen and rejected are identical");
  if (st != AL_OK) {
    sb_free(&bc);
    sb_free(&br);
    return st;
  }
  sb_finish(&bc, ch);
  sb_finish(&br, rj);
  // the prompt part is what both share before the first trained token
  int p = ch->prompt_len < rj->prompt_len ? ch->prompt_len : rj->prompt_len;
  ch->prompt_len = rj->prompt_len = p;
  return AL_OK;
}

// ---- the dataset ----

al_status al_data_new(al_dataset **out, al_data_kind kind, const al_tok *tok,
                      const al_data_opts *o) {
  *out = NULL;
  if (kind != AL_DATA_SFT && kind != AL_DATA_PREF) return al_seterr(AL_EINVAL, "data: bad kind");
  if (!tok) return al_seterr(AL_EINVAL, "data: no tokenizer");
  al_data_opts def = al_data_defaults();
  if (!o) o = &def;
  if (o->max_len < 0) return al_seterr(AL_EINVAL, "data: max_len %d < 0", o->max_len);
  if (o->too_long < AL_TOO_LONG_TRUNCATE || o->too_long > AL_TOO_LONG_ERROR)
    return al_seterr(AL_EINVAL, "data: bad too_long policy");
  al_dataset *d = al_calloc(1, sizeof *d);
  if (!d) return al_seterr(AL_ENOMEM, "data: out of memory");
  d->kind = kind;
  d->tok = tok;
  d->o = *o;
  *out = d;
  return AL_OK;
}

static void seq_free(al_seq *s) {
  free(s->ids);
  free(s->mask);
  memset(s, 0, sizeof *s);
}

void al_data_free(al_dataset *d) {
  if (!d) return;
  for (int i = 0; i < d->n; i++) {
    seq_free(&d->ex[i].seq);
    seq_free(&d->ex[i].rejected);
  }
  free(d->ex);
  free(d);
}

al_data_kind al_data_kind_of(const al_dataset *d) { return d->kind; }
int al_data_size(const al_dataset *d) { return d->n; }
const al_example *al_data_get(const al_dataset *d, int i) {
  return i >= 0 && i < d->n ? &d->ex[i] : NULL;
}
const al_data_stats *al_data_get_stats(const al_dataset *d) { return &d->st; }

static void cut(al_seq *s, int T) {
  if (s->len > T) s->len = T;
  if (s->prompt_len > s->len) s->prompt_len = s->len;
}

al_status al_data_add(al_dataset *d, const cJSON *rec, const char *src, long line) {
  al_example e = {0};
  e.line = line;
  d->st.lines++;
  al_status st;
  if (!cJSON_IsObject(rec))
    st = al_seterr(AL_EFORMAT, "a record must be a JSON object");
  else if (d->kind == AL_DATA_SFT)
    st = sft_record(d, rec, &e.seq);
  else
    st = pref_record(d, rec, &e.seq, &e.rejected);
  if (st != AL_OK) {
    char msg[768];
    snprintf(msg, sizeof msg, "%s:%ld: %s", src, line, al_errmsg());
    al_seterr(st, "%s", msg);
    if (st == AL_ENOMEM || d->o.strict) return st;
    if (!d->st.first_error[0]) {
      size_t l = strlen(msg) < sizeof d->st.first_error ? strlen(msg) : sizeof d->st.first_error - 1;
      memcpy(d->st.first_error, msg, l);
      d->st.first_error[l] = '\0';
    }
    d->st.skipped++;
    return AL_OK;
  }
  int T = d->o.max_len;
  int longest = e.seq.len > e.rejected.len ? e.seq.len : e.rejected.len;
  if (T > 0 && longest > T) {
    if (d->o.too_long == AL_TOO_LONG_ERROR) {
      seq_free(&e.seq);
      seq_free(&e.rejected);
      return al_seterr(AL_EINVAL, "%s:%ld: sequence of %d tokens exceeds max_len %d", src, line,
                       longest, T);
    }
    int keep = 0;
    if (d->o.too_long == AL_TOO_LONG_TRUNCATE) {
      cut(&e.seq, T);
      keep = has_target(&e.seq);
      if (d->kind == AL_DATA_PREF) {
        cut(&e.rejected, T);
        keep = keep && has_target(&e.rejected) &&
               !(e.seq.len == e.rejected.len &&
                 memcmp(e.seq.ids, e.rejected.ids, (size_t)e.seq.len * sizeof(int)) == 0);
      }
    }
    if (!keep) {
      seq_free(&e.seq);
      seq_free(&e.rejected);
      d->st.dropped++;
      return AL_OK;
    }
    e.truncated = 1;
    d->st.truncated++;
  }
  if (d->n == d->cap) {
    int cap = d->cap ? d->cap * 2 : 256;
    al_example *x = realloc(d->ex, (size_t)cap * sizeof *x);
    if (!x) {
      seq_free(&e.seq);
      seq_free(&e.rejected);
      return al_seterr(AL_ENOMEM, "%s:%ld: out of memory", src, line);
    }
    d->ex = x;
    d->cap = cap;
  }
  d->ex[d->n++] = e;
  d->st.kept++;
  return AL_OK;
}

al_status al_data_prompt_ids(const al_tok *tok, const cJSON *prompt, const al_data_opts *o,
                             int **ids, int *n) {
  al_data_opts def = al_data_defaults();
  if (!o) o = &def;
  *ids = NULL;
  *n = 0;
  sb b = {0};
  al_status st = AL_OK;
  if (cJSON_IsString(prompt)) {
    if (o->add_bos) st = sb_role(&b, al_tok_bos(tok), 0);
    if (st == AL_OK) st = sb_text(&b, tok, prompt->valuestring, 0, o->match_specials);
  } else {
    msg *m;
    int k;
    if ((st = get_msgs(prompt, "prompt", &m, &k)) != AL_OK) return st;
    st = sb_msgs(&b, tok, m, k, 0, o);
    if (st == AL_OK) st = sb_tag(&b, tok, "assistant");
    free(m);
  }
  if (st != AL_OK) {
    sb_free(&b);
    return st;
  }
  free(b.mask);
  *ids = b.ids;
  *n = b.n;
  return AL_OK;
}
