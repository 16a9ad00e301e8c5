/* Model files: a header (magic, version, model kind, shape, CRC-32 of the payload) followed by
 * named, 64-byte aligned arrays. Readers mmap the file and verify it before any use. */
#ifndef MR_MODELFILE_H
#define MR_MODELFILE_H

#include <stddef.h>
#include <stdint.h>

#define MF_MAGIC "MRMODEL1"
#define MF_VERSION 1u
#define MF_NAME_MAX 32

typedef enum mf_dtype { MF_F32 = 1, MF_I32 = 2, MF_F64 = 3, MF_U8 = 4 } mf_dtype;

/* One array to write: rows x cols elements of dtype, row-major. */
typedef struct mf_section {
  const char *name; /* < MF_NAME_MAX bytes */
  mf_dtype dtype;
  uint64_t rows, cols;
  const void *data;
} mf_section;

/* Writes kind (a short model name, e.g. "als") with its sections to path atomically
 * (path.tmp + fsync + rename). */
int mf_write(const char *path, const char *kind, const mf_section *sections, int n_sections);

typedef struct mf_file mf_file;

/* Maps and verifies path: magic, version, header sanity, section bounds, CRC. On failure returns
 * MR_ENOTFOUND / MR_EFORMAT / MR_EVERSION / MR_ECORRUPT and a message in err. */
int mf_open(const char *path, mf_file **out, char *err, size_t errlen);
void mf_close(mf_file *f);

const char *mf_kind(const mf_file *f);
/* Finds a section by name and expected dtype; the pointer lives until mf_close. Returns
 * MR_ENOTFOUND or MR_EFORMAT (dtype mismatch). */
int mf_get(const mf_file *f, const char *name, mf_dtype dtype, const void **data, uint64_t *rows,
           uint64_t *cols);

/* 1 when v, a number read from a model file, is finite and within [lo, hi]. Loaders check this
 * before converting a stored double to an integer type: an out-of-range conversion is undefined
 * behaviour, and a CRC proves a file intact, not sane. */
int mf_in_range(double v, double lo, double hi);

/* The number of sections, and section i (0-based, file order) the way mf_get gives it plus its
 * name and dtype; borrowed until mf_close. For tools that walk a whole file. MR_EINVAL when i is
 * out of range. */
uint32_t mf_n_sections(const mf_file *f);
int mf_section_at(const mf_file *f, uint32_t i, const char **name, mf_dtype *dtype,
                  const void **data, uint64_t *rows, uint64_t *cols);

#endif
