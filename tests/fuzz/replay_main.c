// Standalone driver for the fuzz targets tests/fuzz/fuzz_*.c when libFuzzer is not used: runs
// LLVMFuzzerTestOneInput on every file named on the command line, and on every regular file of
// every directory named (in sorted order, not recursing). Exit 0 when all inputs ran (a failed
// property traps, so a crash is the failure signal); 2 on usage or I/O errors.
// Usage: fuzz_NAME [-q] PATH...
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int quiet = 0;

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    return 2;
  }
  size_t cap = 4096, n = 0, k;
  uint8_t *buf = malloc(cap);
  while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
    n += k;
    if (n == cap) {
      uint8_t *nb = realloc(buf, cap * 2);
      if (!nb) { free(buf); buf = NULL; break; }
      buf = nb;
      cap *= 2;
    }
  }
  fclose(f);
  if (!buf) {
    fprintf(stderr, "replay: out of memory reading %s\n", path);
    return 2;
  }
  if (!quiet) fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
  // an exact-size copy so ASan sees reads past the end of the input
  uint8_t *exact = malloc(n ? n : 1);
  if (n) memcpy(exact, buf, n);
  free(buf);
  LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  return 0;
}

static int cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, int *count) {
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "replay: cannot open directory %s\n", dir);
    return 2;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **nn = realloc(names, cap * sizeof *nn);
      if (!nn) { rc = 2; break; }
      names = nn;
    }
    size_t len = strlen(dir) + strlen(e->d_name) + 2;
    names[n] = malloc(len);
    snprintf(names[n], len, "%s/%s", dir, e->d_name);
    n++;
  }
  closedir(d);
  if (n) qsort(names, n, sizeof *names, cmp);
  for (size_t i = 0; i < n; i++) {
    struct stat sb;
    if (rc == 0 && stat(names[i], &sb) == 0 && S_ISREG(sb.st_mode)) {
      rc = run_file(names[i]);
      (*count)++;
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  int count = 0, rc = 0, paths = 0;
  for (int i = 1; i < argc && rc == 0; i++) {
    if (strcmp(argv[i], "-q") == 0) { quiet = 1; continue; }
    if (argv[i][0] == '-') continue; // libFuzzer-style flags are ignored
    paths++;
    struct stat sb;
    if (stat(argv[i], &sb) != 0) {
      fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
      rc = 2;
    } else if (S_ISDIR(sb.st_mode)) {
      rc = run_dir(argv[i], &count);
    } else {
      rc = run_file(argv[i]);
      count++;
    }
  }
  if (!paths) {
    fprintf(stderr, "usage: %s [-q] FILE|DIR...\n", argv[0]);
    return 2;
  }
  if (rc == 0) printf("replay: %d input(s) ran without a crash\n", count);
  return rc;
}
