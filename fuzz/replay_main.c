/* Replays a fuzz corpus directory through a fuzz target without libFuzzer,
 * so every build runs the committed corpus as an ordinary test. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  struct stat st;
  if (fstat(fileno(f), &st) != 0) {
    fclose(f);
    return -1;
  }
  size_t n = (size_t)st.st_size;
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf || fread(buf, 1, n, f) != n) {
    free(buf);
    fclose(f);
    return -1;
  }
  fclose(f);
  (void)LLVMFuzzerTestOneInput(buf, n);
  free(buf);
  return 0;
}

int main(int argc, char **argv) {
  int files = 0;
  for (int i = 1; i < argc; i++) {
    DIR *d = opendir(argv[i]);
    if (!d) {
      if (run_file(argv[i]) == 0) files++;
      continue;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.') continue;
      char path[4096];
      int w = snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
      if (w < 0 || (size_t)w >= sizeof path) continue;
      if (run_file(path) == 0) files++;
    }
    closedir(d);
  }
  /* Always also run the empty input. */
  (void)LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
  printf("replayed %d corpus files\n", files);
  if (files == 0) {
    fprintf(stderr, "no corpus files found\n");
    return 1;
  }
  return 0;
}
