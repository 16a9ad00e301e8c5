/* Helpers shared by the fuzz targets. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int fz_memfile(const uint8_t *data, size_t len, char path[32]) {
  int fd = memfd_create("fuzz", MFD_CLOEXEC);
  if (fd < 0)
    return -1;
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w <= 0) {
      close(fd);
      return -1;
    }
    off += (size_t)w;
  }
  snprintf(path, 32, "/proc/self/fd/%d", fd);
  return fd;
}

char *fz_fixture(const char *rel, size_t *len) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", MR_FIXTURES_SRC, rel);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "fuzz: missing fixture %s\n", path);
    abort();
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
    abort();
  buf[n] = '\0';
  fclose(f);
  if (len)
    *len = (size_t)n;
  return buf;
}
