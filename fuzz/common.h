/* Helpers shared by the fuzz targets: fuzz input as a file path (memfd), fixtures as strings. */
#ifndef MR_FUZZ_COMMON_H
#define MR_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* A memory file holding data[0..len): *path is "/proc/self/fd/N" (usable by fopen, open,
 * mmap). Returns the fd (close it when done) or -1. path needs 32 bytes. */
int fz_memfile(const uint8_t *data, size_t len, char path[32]);

/* Reads MR_FIXTURES_SRC/rel into a malloc'ed NUL-terminated buffer (aborts when missing: the
 * fuzzer is misconfigured). */
char *fz_fixture(const char *rel, size_t *len);

#endif
