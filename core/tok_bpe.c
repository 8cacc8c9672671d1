// alignlab core: byte-level BPE: pre-tokenisation (the rule documented in al_tok.h), training
// with incremental pair counts, and encoding of one chunk by merge rank. Layering: tok.c ->
// tok_bpe.c -> tok_table.c: this file uses the token table, maps and specials of tok_table.c and
// calls nothing in tok.c (files, encode dispatch, JSON).
//
// Training: the corpus is cut into chunks and identical chunks are counted once ("words" with a
// frequency). Every adjacent pair keeps its count and the list of words it occurs in; a max-heap
// with lazy invalidation gives the most frequent pair. A merge rewrites only the words that
// contain the pair and updates the counts of their pairs, so its cost is proportional to those
// words, not to the corpus. Ties go to the smaller (a, b).
#include <stdlib.h>
#include <string.h>

#include "tok_impl.h"

// ---- pre-tokenisation ----

enum { C_LETTER = 1, C_DIGIT, C_PUNCT, C_SPACE, C_WS };

static int cls(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80) return C_LETTER;
  if (c >= '0' && c <= '9') return C_DIGIT;
  if (c == ' ') return C_SPACE;
  if (c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') return C_WS;
  return C_PUNCT;
}

size_t al__pretok_next(const unsigned char *s, size_t n, size_t i) {
  if (s[i] == '\'' && i + 1 < n) {
    unsigned char c = s[i + 1];
    if (c == 's' || c == 'd' || c == 'm' || c == 't') return i + 2;
    if (i + 2 < n && ((c == 'l' && s[i + 2] == 'l') || (c == 'v' && s[i + 2] == 'e') ||
                      (c == 'r' && s[i + 2] == 'e')))
      return i + 3;
  }
  int c = cls(s[i]);
  size_t j = i;
  if (c == C_SPACE && i + 1 < n && cls(s[i + 1]) <= C_PUNCT) {
    j = i + 1;
    c = cls(s[j]);
  }
  if (c <= C_PUNCT) {
    while (j < n && cls(s[j]) == c) j++;
    return j;
  }
  while (j < n && cls(s[j]) >= C_SPACE) j++;
  if (j == n) return j;
  if (j - i >= 2) return j - 1; // the last whitespace goes with what follows
  return i + 1;
}

// ---- merges ----

int al__bpe_add_merge(al_tok *t, int a, int b) {
  if (t->nmerges == t->mcap) {
    int cap = t->mcap ? t->mcap * 2 : 256;
    int(*m)[3] = realloc(t->merges, (size_t)cap * sizeof *m);
    if (!m) return -1;
    t->merges = m;
    t->mcap = cap;
  }
  if (!t->rank.cap && al__u64map_init(&t->rank, 256) < 0) return -1;
  size_t la = (size_t)t->len[a], lb = (size_t)t->len[b];
  char *buf = malloc(la + lb + 1);
  if (!buf) return -1;
  memcpy(buf, t->str[a], la);
  memcpy(buf + la, t->str[b], lb);
  int id = al__strmap_find(t, buf, la + lb);
  if (id < 0) id = al__tok_push(t, buf, la + lb, 0);
  free(buf);
  if (id < 0) return -1;
  int k = t->nmerges;
  if (al__u64map_put(&t->rank, (uint64_t)a << 32 | (uint64_t)b, k) < 0) return -1;
  t->merges[k][0] = a;
  t->merges[k][1] = b;
  t->merges[k][2] = id;
  t->nmerges++;
  return id;
}

// ---- encoding one chunk ----

typedef struct {
  int rank, pos;
} hent;

static int hless(hent x, hent y) { return x.rank < y.rank || (x.rank == y.rank && x.pos < y.pos); }

static void hpush(hent *h, int *n, hent e) {
  int i = (*n)++;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (!hless(e, h[p])) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = e;
}

static hent hpop(hent *h, int *n) {
  hent top = h[0], e = h[--(*n)];
  int i = 0;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && hless(h[c + 1], h[c])) c++;
    if (!hless(h[c], e)) break;
    h[i] = h[c];
    i = c;
  }
  if (*n > 0) h[i] = e;
  return top;
}

static int rank_of(const al_tok *t, int a, int b) {
  int *r = al__u64map_get(&t->rank, (uint64_t)a << 32 | (uint64_t)b);
  return r ? *r : -1;
}

al_status al__bpe_encode_chunk(const al_tok *t, const unsigned char *s, size_t n, int **ids,
                               int *nids, int *cap) {
  if (n == 0) return AL_OK;
  if (n > 0x7fffffff / 4) return al_seterr(AL_EINVAL, "encode: chunk too long");
  int N = (int)n;
  // symbols as a linked list over positions; heap of candidate merges (rank, left position)
  enum { SMALL = 64 };
  int sid[SMALL], snx[SMALL], spv[SMALL];
  hent sh[3 * SMALL];
  int *id = sid, *nx = snx, *pv = spv;
  hent *h = sh;
  if (N > SMALL) {
    id = malloc((size_t)N * sizeof *id);
    nx = malloc((size_t)N * sizeof *nx);
    pv = malloc((size_t)N * sizeof *pv);
    h = malloc((size_t)3 * (size_t)N * sizeof *h);
  }
  al_status st = AL_OK;
  if (!id || !nx || !pv || !h) {
    st = al_seterr(AL_ENOMEM, "encode: out of memory");
    goto cleanup;
  }
  int hn = 0;
  for (int i = 0; i < N; i++) {
    id[i] = s[i];
    nx[i] = i + 1 < N ? i + 1 : -1;
    pv[i] = i - 1;
  }
  if (t->nmerges > 0) {
    for (int i = 0; i + 1 < N; i++) {
      int r = rank_of(t, id[i], id[i + 1]);
      if (r >= 0) hpush(h, &hn, (hent){r, i});
    }
    while (hn > 0) {
      hent e = hpop(h, &hn);
      int i = e.pos, j = nx[i];
      if (id[i] < 0 || j < 0 || rank_of(t, id[i], id[j]) != e.rank) continue; // stale
      id[i] = t->merges[e.rank][2];
      nx[i] = nx[j];
      if (nx[j] >= 0) pv[nx[j]] = i;
      id[j] = -1;
      // at most 2 pushes per merge and N-1 merges: the heap never exceeds 3N
      if (pv[i] >= 0) {
        int r = rank_of(t, id[pv[i]], id[i]);
        if (r >= 0) hpush(h, &hn, (hent){r, pv[i]});
      }
      if (nx[i] >= 0) {
        int r = rank_of(t, id[i], id[nx[i]]);
        if (r >= 0) hpush(h, &hn, (hent){r, i});
      }
    }
  }
  for (int i = 0; i >= 0; i = nx[i]) {
    if (*nids == *cap) {
      int c = *cap ? *cap * 2 : 64;
      int *a = realloc(*ids, (size_t)c * sizeof *a);
      if (!a) {
        st = al_seterr(AL_ENOMEM, "encode: out of memory");
        goto cleanup;
      }
      *ids = a;
      *cap = c;
    }
    (*ids)[(*nids)++] = id[i];
  }
cleanup:
  if (N > SMALL) {
    free(id);
    free(nx);
    free(pv);
    free(h);
  }
  return st;
}

// ---- training ----

typedef struct {
  int *sym;
  int len;
  long long freq;
} bword;

typedef struct {
  long long cnt;
  int a, b;
  int *w; // words containing the pair (may hold stale entries and repeats)
  int nw, cw;
  int touched; // stamp of the last merge that changed the count
} pstat;

typedef struct {
  long long cnt;
  uint64_t key;
} pent;

typedef struct {
  bword *w;
  int nw, cw;
  pstat *p;
  int np, cp;
  u64map pidx;
  pent *h;
  int nh, ch;
  int *seen; // per word: stamp of the last merge that rewrote it
} trainer;

static int pbetter(pent x, pent y) { return x.cnt > y.cnt || (x.cnt == y.cnt && x.key < y.key); }

static int heap_push(trainer *tr, long long cnt, uint64_t key) {
  if (tr->nh == tr->ch) {
    int c = tr->ch ? tr->ch * 2 : 1024;
    pent *h = realloc(tr->h, (size_t)c * sizeof *h);
    if (!h) return -1;
    tr->h = h;
    tr->ch = c;
  }
  pent e = {cnt, key};
  int i = tr->nh++;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (!pbetter(e, tr->h[p])) break;
    tr->h[i] = tr->h[p];
    i = p;
  }
  tr->h[i] = e;
  return 0;
}

static pent heap_pop(trainer *tr) {
  pent top = tr->h[0], e = tr->h[--tr->nh];
  int i = 0, n = tr->nh;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && pbetter(tr->h[c + 1], tr->h[c])) c++;
    if (!pbetter(tr->h[c], e)) break;
    tr->h[i] = tr->h[c];
    i = c;
  }
  if (n > 0) tr->h[i] = e;
  return top;
}

// Index of pair (a, b), created with count 0 when absent; -1 on ENOMEM.
static int pair_get(trainer *tr, int a, int b) {
  uint64_t key = (uint64_t)a << 32 | (uint64_t)b;
  int *v = al__u64map_get(&tr->pidx, key);
  if (v) return *v;
  if (tr->np == tr->cp) {
    int c = tr->cp ? tr->cp * 2 : 4096;
    pstat *p = realloc(tr->p, (size_t)c * sizeof *p);
    if (!p) return -1;
    tr->p = p;
    tr->cp = c;
  }
  int k = tr->np++;
  tr->p[k] = (pstat){0, a, b, NULL, 0, 0, 0};
  if (al__u64map_put(&tr->pidx, key, k) < 0) return -1;
  return k;
}

static int pair_add_word(pstat *p, int w) {
  if (p->nw > 0 && p->w[p->nw - 1] == w) return 0;
  if (p->nw == p->cw) {
    int c = p->cw ? p->cw * 2 : 4;
    int *a = realloc(p->w, (size_t)c * sizeof *a);
    if (!a) return -1;
    p->w = a;
    p->cw = c;
  }
  p->w[p->nw++] = w;
  return 0;
}

// Add (sign +1) or remove (-1) the pairs of word w to the counts; new pairs note w and the stamp.
static int word_pairs(trainer *tr, int w, int sign, int stamp, int **touched, int *nt, int *ct) {
  bword *wd = &tr->w[w];
  for (int i = 0; i + 1 < wd->len; i++) {
    int k = pair_get(tr, wd->sym[i], wd->sym[i + 1]);
    if (k < 0) return -1;
    pstat *p = &tr->p[k];
    p->cnt += sign * wd->freq;
    if (sign > 0) {
      if (pair_add_word(p, w) < 0) return -1;
      if (touched && p->touched != stamp) {
        p->touched = stamp;
        if (*nt == *ct) {
          int c = *ct ? *ct * 2 : 256;
          int *a = realloc(*touched, (size_t)c * sizeof *a);
          if (!a) return -1;
          *touched = a;
          *ct = c;
        }
        (*touched)[(*nt)++] = k;
      }
    }
  }
  return 0;
}

// Count identical chunks of the corpus into tr->w.
static al_status count_chunks(trainer *tr, const char *const *texts, const size_t *lens, int n) {
  // chunk map: open addressing over word indices, keyed by the chunk's bytes (kept as bytes in sym)
  size_t cap = 1 << 16;
  int *slot = malloc(cap * sizeof *slot);
  unsigned char **bytes = NULL; // chunk bytes per word, freed at the end
  int cb = 0;
  al_status st = AL_OK;
  if (!slot) return al_seterr(AL_ENOMEM, "bpe: out of memory");
  for (size_t i = 0; i < cap; i++) slot[i] = -1;
  for (int d = 0; d < n; d++) {
    const unsigned char *s = (const unsigned char *)texts[d];
    size_t len = lens ? lens[d] : strlen(texts[d]);
    size_t i = 0;
    while (i < len) {
      size_t j = al__pretok_next(s, len, i), cl = j - i;
      size_t h = al__hash_bytes((const char *)s + i, cl) & (cap - 1);
      int w;
      while ((w = slot[h]) >= 0 &&
             !((size_t)tr->w[w].len == cl && memcmp(bytes[w], s + i, cl) == 0))
        h = (h + 1) & (cap - 1);
      if (w >= 0) {
        tr->w[w].freq++;
      } else {
        if (cl > 0x7fffffff) {
          st = al_seterr(AL_EINVAL, "bpe: chunk too long");
          goto cleanup;
        }
        if (tr->nw == tr->cw) {
          int c = tr->cw ? tr->cw * 2 : 4096;
          bword *a = realloc(tr->w, (size_t)c * sizeof *a);
          unsigned char **b = a ? realloc(bytes, (size_t)c * sizeof *b) : NULL;
          if (a) tr->w = a;
          if (!b) {
            st = al_seterr(AL_ENOMEM, "bpe: out of memory");
            goto cleanup;
          }
          bytes = b;
          tr->cw = c;
          cb = c;
        }
        w = tr->nw;
        bytes[w] = malloc(cl);
        tr->w[w].sym = malloc(cl * sizeof(int));
        tr->w[w].len = (int)cl;
        tr->w[w].freq = 1;
        tr->nw++;
        if (!bytes[w] || !tr->w[w].sym) {
          st = al_seterr(AL_ENOMEM, "bpe: out of memory");
          goto cleanup;
        }
        memcpy(bytes[w], s + i, cl);
        for (size_t k = 0; k < cl; k++) tr->w[w].sym[k] = s[i + k];
        slot[h] = w;
        if ((size_t)tr->nw * 2 > cap) { // grow and rehash
          size_t nc = cap * 2;
          int *ns = malloc(nc * sizeof *ns);
          if (!ns) {
            st = al_seterr(AL_ENOMEM, "bpe: out of memory");
            goto cleanup;
          }
          for (size_t k = 0; k < nc; k++) ns[k] = -1;
          for (int x = 0; x < tr->nw; x++) {
            size_t hh = al__hash_bytes((const char *)bytes[x], (size_t)tr->w[x].len) & (nc - 1);
            while (ns[hh] >= 0) hh = (hh + 1) & (nc - 1);
            ns[hh] = x;
          }
          free(slot);
          slot = ns;
          cap = nc;
        }
      }
      i = j;
    }
  }
cleanup:
  (void)cb;
  for (int w = 0; bytes && w < tr->nw; w++) free(bytes[w]);
  free(bytes);
  free(slot);
  return st;
}

al_status al_bpe_train(al_tok **out, const char *const *texts, const size_t *lens, int n,
                       const al_bpe_opts *o) {
  *out = NULL;
  if (o->vocab < 256)
    return al_seterr(AL_EINVAL, "bpe.train: vocab %d is below the 256 byte tokens", o->vocab);
  if (n < 0) return al_seterr(AL_EINVAL, "bpe.train: negative number of texts");
  long long min_count = o->min_count > 0 ? o->min_count : 2;
  al_status st = AL_OK;
  trainer tr = {0};
  int *touched = NULL, nt = 0, ct = 0;
  al_tok *t = al__tok_new(AL_TOK_BPE);
  if (!t) return al_seterr(AL_ENOMEM, "bpe.train: out of memory");
  for (int b = 0; b < 256; b++) {
    char c = (char)b;
    if (al__tok_push(t, &c, 1, 0) < 0) {
      st = al_seterr(AL_ENOMEM, "bpe.train: out of memory");
      goto cleanup;
    }
  }
  if ((st = count_chunks(&tr, texts, lens, n)) != AL_OK) goto cleanup;
  if (al__u64map_init(&tr.pidx, 1 << 16) < 0 || !(tr.seen = calloc((size_t)tr.nw + 1, sizeof(int)))) {
    st = al_seterr(AL_ENOMEM, "bpe.train: out of memory");
    goto cleanup;
  }
  for (int w = 0; w < tr.nw; w++)
    if (word_pairs(&tr, w, +1, 0, NULL, NULL, NULL) < 0) {
      st = al_seterr(AL_ENOMEM, "bpe.train: out of memory");
      goto cleanup;
    }
  for (int k = 0; k < tr.np; k++)
    if (heap_push(&tr, tr.p[k].cnt, (uint64_t)tr.p[k].a << 32 | (uint64_t)tr.p[k].b) < 0) {
      st = al_seterr(AL_ENOMEM, "bpe.train: out of memory");
      goto cleanup;
    }
  int stamp = 0;
  while (t->n < o->vocab && tr.nh > 0) {
    pent e = heap_pop(&tr);
    int k = *al__u64map_get(&tr.pidx, e.key);
    long long cur = tr.p[k].cnt;
    if (cur != e.cnt) { // stale: a smaller count is re-queued, a larger one is already queued
      if (cur < e.cnt && cur > 0 && heap_push(&tr, cur, e.key) < 0) goto nomem;
      continue;
    }
    if (cur < min_count) break;
    int a = tr.p[k].a, b = tr.p[k].b;
    int nid = al__bpe_add_merge(t, a, b);
    if (nid < 0) goto nomem;
    stamp++;
    nt = 0;
    for (int x = 0; x < tr.p[k].nw; x++) {
      int w = tr.p[k].w[x];
      if (tr.seen[w] == stamp) continue;
      tr.seen[w] = stamp;
      bword *wd = &tr.w[w];
      int has = 0;
      for (int i = 0; i + 1 < wd->len && !has; i++) has = wd->sym[i] == a && wd->sym[i + 1] == b;
      if (!has) continue;
      if (word_pairs(&tr, w, -1, stamp, NULL, NULL, NULL) < 0) goto nomem;
      int j = 0;
      for (int i = 0; i < wd->len; i++) {
        if (i + 1 < wd->len && wd->sym[i] == a && wd->sym[i + 1] == b) {
          wd->sym[j++] = nid;
          i++;
        } else {
          wd->sym[j++] = wd->sym[i];
        }
      }
      wd->len = j;
      if (word_pairs(&tr, w, +1, stamp, &touched, &nt, &ct) < 0) goto nomem;
    }
    free(tr.p[k].w);
    tr.p[k].w = NULL;
    tr.p[k].nw = tr.p[k].cw = 0;
    for (int x = 0; x < nt; x++) {
      pstat *p = &tr.p[touched[x]];
      if (p->cnt > 0 && heap_push(&tr, p->cnt, (uint64_t)p->a << 32 | (uint64_t)p->b) < 0)
        goto nomem;
    }
  }
  t->nbase = t->n;
  if ((st = al__tok_add_specials(t, &o->sp, NULL)) != AL_OK) goto cleanup;
  *out = t;
  t = NULL;
  goto cleanup;
nomem:
  st = al_seterr(AL_ENOMEM, "bpe.train: out of memory");
cleanup:
  for (int w = 0; w < tr.nw; w++) free(tr.w[w].sym);
  free(tr.w);
  for (int k = 0; k < tr.np; k++) free(tr.p[k].w);
  free(tr.p);
  al__u64map_free(&tr.pidx);
  free(tr.h);
  free(tr.seen);
  free(touched);
  al_tok_free(t);
  return st;
}
