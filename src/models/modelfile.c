/* Binary model files: fixed little-endian header, section table, 64-byte aligned arrays, CRC-32. */
#include "models/modelfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/mr_error.h"

/* On-disk layout (all integers little-endian, which is the only byte order we build for):
 *   0  magic[8] | 8 u32 version | 12 kind[16] | 28 u32 n_sections | 32 u64 payload size
 *   40 u32 crc32 of bytes [64, 64 + payload) | 44 reserved zeros up to 64
 *   64 section table: n_sections entries of MF_ENTRY_SIZE bytes
 *   then the section data, each section starting at a multiple of 64 (offsets are absolute). */
#define MF_HEADER_SIZE 64u
#define MF_KIND_MAX 16u
#define MF_ENTRY_SIZE 72u /* name[32] u32 dtype u32 pad u64 rows cols offset bytes */
#define MF_ALIGN 64u

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "modelfile.c assumes a little-endian host"
#endif

typedef struct mf_entry {
  char name[MF_NAME_MAX];
  uint32_t dtype;
  uint64_t rows, cols, offset, bytes;
} mf_entry;

struct mf_file {
  void *map;
  size_t size;
  int heap; /* map is a heap copy (fuzzing builds), not an mmap */
  char kind[MF_KIND_MAX + 1];
  uint32_t n_sections;
  mf_entry *entries;
};

static size_t mf_dtype_size(uint32_t dtype) {
  switch (dtype) {
  case MF_F32:
  case MF_I32:
    return 4;
  case MF_F64:
    return 8;
  case MF_U8:
    return 1;
  default:
    return 0;
  }
}

static uint64_t mf_align_up(uint64_t x) {
  return (x + MF_ALIGN - 1) & ~(uint64_t)(MF_ALIGN - 1);
}

/* zlib's crc32 takes a uInt length, so large payloads are fed in chunks. */
static uint32_t mf_crc(const unsigned char *p, uint64_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  while (n > 0) {
    uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
    c = crc32(c, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return (uint32_t)c;
}

static void mf_put32(unsigned char *p, uint32_t v) {
  memcpy(p, &v, 4);
}
static void mf_put64(unsigned char *p, uint64_t v) {
  memcpy(p, &v, 8);
}
static uint32_t mf_get32(const unsigned char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static uint64_t mf_get64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static int mf_write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return mr_from_errno(errno);
    }
    p += w;
    n -= (size_t)w;
  }
  return MR_OK;
}

int mf_write(const char *path, const char *kind, const mf_section *sections, int n_sections) {
  unsigned char *buf = NULL;
  char *tmp = NULL;
  int fd = -1, rc;
  if (!path || !kind || strlen(kind) >= MF_KIND_MAX || n_sections < 0 ||
      (n_sections > 0 && !sections))
    return MR_EINVAL;

  /* Lay the whole file out in memory first: model files are factor matrices of tens of MB at
   * most, and one buffer makes the CRC and the single write trivial. */
  uint64_t table_end = MF_HEADER_SIZE + (uint64_t)n_sections * MF_ENTRY_SIZE;
  uint64_t total = mf_align_up(table_end);
  for (int s = 0; s < n_sections; s++) {
    const mf_section *sec = &sections[s];
    size_t es = mf_dtype_size((uint32_t)sec->dtype);
    if (!sec->name || strlen(sec->name) >= MF_NAME_MAX || es == 0)
      return MR_EINVAL;
    if (sec->cols != 0 && sec->rows > UINT64_MAX / sec->cols / es)
      return MR_ERANGE;
    uint64_t bytes = sec->rows * sec->cols * es;
    if (bytes > 0 && !sec->data)
      return MR_EINVAL;
    total = mf_align_up(total + bytes);
  }
  if (total > SIZE_MAX)
    return MR_ERANGE;
  buf = calloc(1, (size_t)total);
  tmp = malloc(strlen(path) + 5);
  if (!buf || !tmp) {
    rc = MR_ENOMEM;
    goto fail;
  }
  memcpy(buf, MF_MAGIC, 8);
  mf_put32(buf + 8, MF_VERSION);
  memcpy(buf + 12, kind, strlen(kind));
  mf_put32(buf + 28, (uint32_t)n_sections);
  mf_put64(buf + 32, total - MF_HEADER_SIZE);
  uint64_t off = mf_align_up(table_end);
  for (int s = 0; s < n_sections; s++) {
    const mf_section *sec = &sections[s];
    unsigned char *e = buf + MF_HEADER_SIZE + (uint64_t)s * MF_ENTRY_SIZE;
    uint64_t bytes = sec->rows * sec->cols * mf_dtype_size((uint32_t)sec->dtype);
    memcpy(e, sec->name, strlen(sec->name));
    mf_put32(e + 32, (uint32_t)sec->dtype);
    mf_put64(e + 40, sec->rows);
    mf_put64(e + 48, sec->cols);
    mf_put64(e + 56, off);
    mf_put64(e + 64, bytes);
    if (bytes > 0)
      memcpy(buf + off, sec->data, (size_t)bytes);
    off = mf_align_up(off + bytes);
  }
  mf_put32(buf + 40, mf_crc(buf + MF_HEADER_SIZE, total - MF_HEADER_SIZE));

  sprintf(tmp, "%s.tmp", path);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    rc = mr_from_errno(errno);
    goto fail;
  }
  rc = mf_write_all(fd, buf, (size_t)total);
  if (rc == MR_OK && fsync(fd) != 0)
    rc = mr_from_errno(errno);
  if (close(fd) != 0 && rc == MR_OK)
    rc = mr_from_errno(errno);
  fd = -1;
  if (rc != MR_OK)
    goto fail_unlink;
  if (rename(tmp, path) != 0) {
    rc = mr_from_errno(errno);
    goto fail_unlink;
  }
  free(tmp);
  free(buf);
  return MR_OK;

fail_unlink:
  unlink(tmp);
fail:
  free(tmp);
  free(buf);
  return rc;
}

static int mf_fail(int rc, char *err, size_t errlen, const char *path, const char *fmt, ...) {
  if (err && errlen > 0) {
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s: %s", path, what);
  }
  return rc;
}

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
static int mf_read_heap(int fd, mf_file *f) {
  void *p = NULL;
  if (posix_memalign(&p, 4096, f->size) != 0)
    return MR_ENOMEM;
  for (size_t off = 0; off < f->size;) {
    ssize_t got = pread(fd, (char *)p + off, f->size - off, (off_t)off);
    if (got <= 0) {
      free(p);
      return MR_EIO;
    }
    off += (size_t)got;
  }
  f->map = p;
  f->heap = 1;
  return MR_OK;
}
#endif

int mf_open(const char *path, mf_file **out, char *err, size_t errlen) {
  mf_file *f = NULL;
  int fd = -1, rc;
  struct stat st;
  if (err && errlen > 0)
    err[0] = '\0';
  if (!path || !out)
    return MR_EINVAL;
  *out = NULL;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    rc = mr_from_errno(errno);
    return mf_fail(rc, err, errlen, path, "cannot open (%s)", strerror(errno));
  }
  if (fstat(fd, &st) != 0) {
    rc = mf_fail(mr_from_errno(errno), err, errlen, path, "cannot stat (%s)", strerror(errno));
    goto fail;
  }
  if ((uint64_t)st.st_size < MF_HEADER_SIZE) {
    rc = mf_fail(MR_EFORMAT, err, errlen, path, "too small to be a model file (%lld bytes)",
                 (long long)st.st_size);
    goto fail;
  }
  f = calloc(1, sizeof(*f));
  if (!f) {
    rc = MR_ENOMEM;
    goto fail;
  }
  f->size = (size_t)st.st_size;
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  /* a heap copy of exactly the file's size: AddressSanitizer then reports any read past it,
   * which inside the last page of a mapping would go unnoticed */
  if ((rc = mf_read_heap(fd, f)) != MR_OK) {
    rc = mf_fail(rc, err, errlen, path, "cannot read (%s)", mr_strerror(rc));
    goto fail;
  }
#else
  f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (f->map == MAP_FAILED) {
    f->map = NULL;
    rc = mf_fail(mr_from_errno(errno), err, errlen, path, "cannot map (%s)", strerror(errno));
    goto fail;
  }
#endif
  close(fd);
  fd = -1;

  const unsigned char *b = f->map;
  if (memcmp(b, MF_MAGIC, 8) != 0) {
    rc = mf_fail(MR_EFORMAT, err, errlen, path, "not a movierec model file (bad magic)");
    goto fail;
  }
  uint32_t version = mf_get32(b + 8);
  if (version != MF_VERSION) {
    rc = mf_fail(MR_EVERSION, err, errlen, path, "unsupported version %u (expected %u)", version,
                 MF_VERSION);
    goto fail;
  }
  memcpy(f->kind, b + 12, MF_KIND_MAX);
  f->kind[MF_KIND_MAX] = '\0';
  uint64_t payload = mf_get64(b + 32);
  if (payload != f->size - MF_HEADER_SIZE) {
    rc = mf_fail(MR_ECORRUPT, err, errlen, path,
                 "size mismatch: header says %llu payload bytes, file has %llu (truncated?)",
                 (unsigned long long)payload, (unsigned long long)(f->size - MF_HEADER_SIZE));
    goto fail;
  }
  if (mf_crc(b + MF_HEADER_SIZE, payload) != mf_get32(b + 40)) {
    rc = mf_fail(MR_ECORRUPT, err, errlen, path, "checksum mismatch (file corrupt)");
    goto fail;
  }
  f->n_sections = mf_get32(b + 28);
  if (f->n_sections > payload / MF_ENTRY_SIZE) {
    rc = mf_fail(MR_EFORMAT, err, errlen, path, "section table (%u entries) exceeds the file",
                 f->n_sections);
    goto fail;
  }
  f->entries = calloc(f->n_sections ? f->n_sections : 1, sizeof(*f->entries));
  if (!f->entries) {
    rc = MR_ENOMEM;
    goto fail;
  }
  for (uint32_t s = 0; s < f->n_sections; s++) {
    const unsigned char *e = b + MF_HEADER_SIZE + (uint64_t)s * MF_ENTRY_SIZE;
    mf_entry *me = &f->entries[s];
    memcpy(me->name, e, MF_NAME_MAX);
    me->name[MF_NAME_MAX - 1] = '\0';
    me->dtype = mf_get32(e + 32);
    me->rows = mf_get64(e + 40);
    me->cols = mf_get64(e + 48);
    me->offset = mf_get64(e + 56);
    me->bytes = mf_get64(e + 64);
    size_t es = mf_dtype_size(me->dtype);
    if (es == 0) {
      rc = mf_fail(MR_EFORMAT, err, errlen, path, "section '%s': unknown dtype %u", me->name,
                   me->dtype);
      goto fail;
    }
    /* rows * cols * es == bytes, checked without overflow */
    if ((me->cols != 0 && me->rows > UINT64_MAX / me->cols / es) ||
        me->rows * me->cols * es != me->bytes) {
      rc = mf_fail(MR_EFORMAT, err, errlen, path, "section '%s': shape does not match size",
                   me->name);
      goto fail;
    }
    if (me->offset % MF_ALIGN != 0 || me->offset > f->size || me->bytes > f->size - me->offset) {
      rc = mf_fail(MR_EFORMAT, err, errlen, path, "section '%s': out of file bounds", me->name);
      goto fail;
    }
  }
  *out = f;
  return MR_OK;

fail:
  if (fd >= 0)
    close(fd);
  mf_close(f);
  return rc;
}

void mf_close(mf_file *f) {
  if (!f)
    return;
  if (f->map && f->heap)
    free(f->map);
  else if (f->map)
    munmap(f->map, f->size);
  free(f->entries);
  free(f);
}

const char *mf_kind(const mf_file *f) {
  return f ? f->kind : "";
}

int mf_in_range(double v, double lo, double hi) {
  return v >= lo && v <= hi; /* false for NaN too */
}

uint32_t mf_n_sections(const mf_file *f) {
  return f ? f->n_sections : 0;
}

int mf_section_at(const mf_file *f, uint32_t i, const char **name, mf_dtype *dtype,
                  const void **data, uint64_t *rows, uint64_t *cols) {
  if (!f || i >= f->n_sections)
    return MR_EINVAL;
  const mf_entry *e = &f->entries[i];
  if (name)
    *name = e->name;
  if (dtype)
    *dtype = (mf_dtype)e->dtype;
  if (data)
    *data = (const unsigned char *)f->map + e->offset;
  if (rows)
    *rows = e->rows;
  if (cols)
    *cols = e->cols;
  return MR_OK;
}

int mf_get(const mf_file *f, const char *name, mf_dtype dtype, const void **data, uint64_t *rows,
           uint64_t *cols) {
  if (!f || !name)
    return MR_EINVAL;
  for (uint32_t s = 0; s < f->n_sections; s++) {
    const mf_entry *e = &f->entries[s];
    if (strcmp(e->name, name) != 0)
      continue;
    if (e->dtype != (uint32_t)dtype)
      return MR_EFORMAT;
    if (data)
      *data = (const unsigned char *)f->map + e->offset;
    if (rows)
      *rows = e->rows;
    if (cols)
      *cols = e->cols;
    return MR_OK;
  }
  return MR_ENOTFOUND;
}
