// alignlab core: offline corpora from Debian packages (names and paths in al_tok.h).
// bible-kjv-text ships the King James Bible as /usr/lib/bible.data: a header "EC02Compressed Data
// File", at byte 0x54 the block size (65536) and the block count, then count+1 big-endian offsets;
// each block is a compress(1) LZW stream (16-bit codes, block mode; its 3-byte 1f 9d 90 header
// appears once, before the first block) that decodes to one 64 KiB piece of the text. The text is
// one verse per line, "Ge1:1 In the beginning ...", after a title line. fortunes-min ships plain
// text files whose entries are separated by lines holding a single '%'.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "al_io.h"
#include "al_tok.h"

static const char *corpus_dir(const char *def) {
  const char *e = getenv("ALIGNLAB_CORPUS_DIR");
  return e && *e ? e : def;
}

const char *al_corpus_path(const char *name, char *buf, size_t bufsize) {
  if (strcmp(name, "kjv") == 0)
    snprintf(buf, bufsize, "%s/bible.data", corpus_dir("/usr/lib"));
  else if (!strcmp(name, "fortunes") || !strcmp(name, "literature") || !strcmp(name, "riddles"))
    snprintf(buf, bufsize, "%s/%s", corpus_dir("/usr/share/games/fortunes"), name);
  else if (strcmp(name, "fortunes-min") == 0)
    snprintf(buf, bufsize, "%s/fortunes", corpus_dir("/usr/share/games/fortunes"));
  else
    return NULL;
  return buf;
}

// The whole file at path, NUL-terminated; a missing file names the package that ships it.
static al_status read_file(const char *path, const char *pkg, unsigned char **out, size_t *n) {
  char *buf;
  *out = NULL;
  al_status st = al_io_read_file(path, SIZE_MAX, "corpus", &buf, n);
  if (st == AL_EIO && strstr(al_errmsg(), ": cannot open: ")) {
    char why[512];
    snprintf(why, sizeof why, "%s", al_errmsg());
    return al_seterr(AL_EIO, "%s (install package %s: scripts/deps.sh)", why, pkg);
  }
  if (st != AL_OK) return st;
  *out = (unsigned char *)buf;
  return AL_OK;
}

// ---- compress(1) LZW, as ncompress and gzip decode it ----
// Codes are LSB-first; widths grow from 9 bits to maxbits; code 256 clears the table. Whenever
// the width changes or the table is cleared, the reader skips to the end of the current group of
// 8 codes (compress wrote codes in such groups), counted from where the previous group began.
static long lzw_decode(const unsigned char *in, size_t n, int maxbits, unsigned char *out,
                       size_t outcap) {
  enum { FIRST = 257, CLEAR = 256 };
  int maxmax = 1 << maxbits;
  unsigned short *prefix = malloc((size_t)maxmax * sizeof *prefix);
  unsigned char *suffix = malloc((size_t)maxmax);
  unsigned char *stack = malloc((size_t)maxmax + 1);
  long outn = -1;
  if (!prefix || !suffix || !stack) goto cleanup;
  for (int c = 0; c < 256; c++) {
    prefix[c] = 0;
    suffix[c] = (unsigned char)c;
  }
  int nbits = 9, maxcode = (1 << nbits) - 1, freeent = FIRST, oldcode = -1, finchar = 0;
  size_t pos = 0, base = 0, total = n * 8, o = 0;
#define ALIGN_GROUP() \
  (pos = base + ((pos - base + (size_t)nbits * 8 - 1) / ((size_t)nbits * 8)) * ((size_t)nbits * 8), base = pos)
  for (;;) {
    if (freeent > maxcode && nbits < maxbits) {
      ALIGN_GROUP();
      nbits++;
      maxcode = nbits == maxbits ? maxmax : (1 << nbits) - 1;
    }
    if (pos + (size_t)nbits > total) break;
    int code = 0;
    for (int k = 0; k < nbits; k++, pos++) code |= ((in[pos >> 3] >> (pos & 7)) & 1) << k;
    if (oldcode == -1) {
      if (code >= 256) goto cleanup;
      finchar = oldcode = code;
      if (o >= outcap) goto cleanup;
      out[o++] = (unsigned char)code;
      continue;
    }
    if (code == CLEAR) {
      freeent = FIRST - 1;
      ALIGN_GROUP();
      nbits = 9;
      maxcode = (1 << nbits) - 1;
      continue;
    }
    int incode = code, sp = 0;
    if (code >= freeent) {
      if (code > freeent) goto cleanup;
      stack[sp++] = (unsigned char)finchar;
      code = oldcode;
    }
    while (code >= 256) {
      if (sp >= maxmax) goto cleanup;
      stack[sp++] = suffix[code];
      code = prefix[code];
    }
    finchar = suffix[code];
    stack[sp++] = (unsigned char)finchar;
    if (o + (size_t)sp > outcap) goto cleanup;
    while (sp > 0) out[o++] = stack[--sp];
    if (freeent < maxmax) {
      prefix[freeent] = (unsigned short)oldcode;
      suffix[freeent] = (unsigned char)finchar;
      freeent++;
    }
    oldcode = incode;
  }
#undef ALIGN_GROUP
  outn = (long)o;
cleanup:
  free(prefix);
  free(suffix);
  free(stack);
  return outn;
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

// The whole KJV text (malloc'd, NUL-terminated).
static al_status kjv_text(const char *path, char **out, size_t *outn) {
  unsigned char *d;
  size_t n;
  al_status st = read_file(path, "bible-kjv-text", &d, &n);
  if (st != AL_OK) return st;
  char *text = NULL;
  if (n < 0x60 || memcmp(d, "EC02", 4) != 0) {
    st = al_seterr(AL_EFORMAT, "corpus %s: not an EC02 compressed data file", path);
    goto cleanup;
  }
  uint32_t bsize = be32(d + 0x54), nblocks = be32(d + 0x58);
  if (bsize == 0 || bsize > (1u << 24) || nblocks == 0 || nblocks > 4096 ||
      0x5c + 4 * ((size_t)nblocks + 1) > n) {
    st = al_seterr(AL_EFORMAT, "corpus %s: bad block table", path);
    goto cleanup;
  }
  text = malloc((size_t)bsize * nblocks + 1);
  if (!text) {
    st = al_seterr(AL_ENOMEM, "corpus %s: out of memory", path);
    goto cleanup;
  }
  size_t tn = 0;
  for (uint32_t b = 0; b < nblocks; b++) {
    uint32_t lo = be32(d + 0x5c + 4 * b), hi = be32(d + 0x5c + 4 * (b + 1));
    if (lo > hi || hi > n) {
      st = al_seterr(AL_EFORMAT, "corpus %s: block %u out of bounds", path, b);
      goto cleanup;
    }
    long r = lzw_decode(d + lo, hi - lo, 16, (unsigned char *)text + tn, bsize);
    if (r < 0 || (r != (long)bsize && b + 1 < nblocks)) {
      st = al_seterr(AL_EFORMAT, "corpus %s: block %u does not decode", path, b);
      goto cleanup;
    }
    tn += (size_t)r;
  }
  text[tn] = '\0';
  *out = text;
  *outn = tn;
  text = NULL;
cleanup:
  free(text);
  free(d);
  return st;
}

static int corpus_push(al_corpus *c, const char *s, size_t n, int *cap) {
  if (c->n == *cap) {
    int nc = *cap ? *cap * 2 : 1024;
    char **d = realloc(c->docs, (size_t)nc * sizeof *d);
    if (!d) return -1;
    c->docs = d;
    size_t *l = realloc(c->lens, (size_t)nc * sizeof *l);
    if (!l) return -1;
    c->lens = l;
    *cap = nc;
  }
  char *x = malloc(n + 1);
  if (!x) return -1;
  memcpy(x, s, n);
  x[n] = '\0';
  c->docs[c->n] = x;
  c->lens[c->n] = n;
  c->n++;
  c->bytes += n;
  return 0;
}

void al_corpus_free(al_corpus *c) {
  if (!c) return;
  for (int i = 0; i < c->n; i++) free(c->docs[i]);
  free(c->docs);
  free(c->lens);
  free(c);
}

static int push_trimmed(al_corpus *c, const char *s, size_t a, size_t b, int *cap) {
  while (b > a && (s[b - 1] == '\n' || s[b - 1] == '\r')) b--;
  return b > a ? corpus_push(c, s + a, b - a, cap) : 0;
}

static al_status add_fortunes(al_corpus *c, const char *path, size_t max_bytes, int *cap) {
  unsigned char *d;
  size_t n;
  al_status st = read_file(path, "fortunes-min", &d, &n);
  if (st != AL_OK) return st;
  const char *s = (const char *)d;
  size_t i = 0, start = 0;
  while (i < n && !(max_bytes && c->bytes >= max_bytes)) {
    size_t e = i;
    while (e < n && s[e] != '\n') e++;
    if (e - i == 1 && s[i] == '%') { // a separator line ends the current fortune
      if (push_trimmed(c, s, start, i, cap) < 0) goto nomem;
      start = e + 1;
    }
    i = e + 1;
  }
  if (!(max_bytes && c->bytes >= max_bytes) && start < n && push_trimmed(c, s, start, n, cap) < 0)
    goto nomem;
  free(d);
  return AL_OK;
nomem:
  free(d);
  return al_seterr(AL_ENOMEM, "corpus: out of memory");
}

al_status al_corpus_load(al_corpus **out, const char *name, size_t max_bytes) {
  *out = NULL;
  char path[4096];
  if (!al_corpus_path(name, path, sizeof path))
    return al_seterr(AL_EINVAL,
                     "corpus: unknown name '%s' (known: kjv, fortunes, literature, riddles, "
                     "fortunes-min)", name);
  al_corpus *c = al_calloc(1, sizeof *c);
  if (!c) return al_seterr(AL_ENOMEM, "corpus: out of memory");
  int cap = 0;
  al_status st = AL_OK;
  if (strcmp(name, "kjv") == 0) {
    char *text = NULL;
    size_t n = 0;
    if ((st = kjv_text(path, &text, &n)) != AL_OK) goto cleanup;
    size_t i = 0;
    int first = 1;
    while (i < n && !(max_bytes && c->bytes >= max_bytes)) {
      size_t e = i;
      while (e < n && text[e] != '\n') e++;
      size_t b = i;
      if (!first) { // strip the reference "Book1:1 "
        while (b < e && text[b] != ' ') b++;
        if (b < e) b++;
      }
      first = 0;
      if (e > b && i > 0 && corpus_push(c, text + b, e - b, &cap) < 0) {
        st = al_seterr(AL_ENOMEM, "corpus: out of memory");
        break;
      }
      i = e + 1;
    }
    free(text);
  } else if (strcmp(name, "fortunes-min") == 0) {
    static const char *const parts[] = {"fortunes", "literature", "riddles"};
    for (int k = 0; k < 3 && st == AL_OK; k++)
      st = add_fortunes(c, al_corpus_path(parts[k], path, sizeof path), max_bytes, &cap);
  } else {
    st = add_fortunes(c, path, max_bytes, &cap);
  }
cleanup:
  if (st != AL_OK) {
    al_corpus_free(c);
    return st;
  }
  *out = c;
  return AL_OK;
}
