/* Spool size: a bounded, symlink-free walk summing the files' disk usage. */
#include "server/spoolscan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void walk(int dfd, int depth, size_t *budget, uint64_t *sum) {
  DIR *d = fdopendir(dfd);
  if (!d) {
    (void)close(dfd);
    return;
  }
  struct dirent *e;
  while (*budget > 0 && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    (*budget)--;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
    if (S_ISREG(st.st_mode)) {
      *sum += (uint64_t)st.st_blocks * 512u;
    } else if (S_ISDIR(st.st_mode) && depth < NP_SPOOL_SCAN_MAX_DEPTH) {
      int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) walk(sub, depth + 1, budget, sum);
    }
  }
  (void)closedir(d);
}

int np_spool_scan_bytes(const char *dir, size_t max_entries, uint64_t *ret_bytes) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  uint64_t sum = 0;
  size_t budget = max_entries;
  walk(fd, 1, &budget, &sum);
  *ret_bytes = sum;
  return 0;
}
