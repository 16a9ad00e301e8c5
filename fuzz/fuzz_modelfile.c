/* libFuzzer target: model files (src/models/modelfile.c) and every loader behind them. The input
 * is a model file whose header gets the right payload size and CRC-32 written in before use
 * (random bytes would almost never pass the checksum, and the point is what comes after it):
 * mf_open, a read of every byte of every section, rec_load (the kind in the header picks the
 * model's loader) followed by scoring a user and a short history, and ltr_load (the ranker,
 * whose trees are rebuilt from XGBoost JSON). Loaders that accept a file must leave a model that
 * scores without reading out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "common.h"
#include "core/mr_error.h"
#include "models/model.h"
#include "models/modelfile.h"
#include "rank/ltr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink;

static void read_sections(const char *path) {
  mf_file *f = NULL;
  char err[256];
  if (mf_open(path, &f, err, sizeof(err)) != MR_OK) {
    if (!err[0])
      abort(); /* a refusal names its reason */
    return;
  }
  unsigned acc = 0;
  for (uint32_t i = 0; i < mf_n_sections(f); i++) {
    const char *name;
    mf_dtype dt;
    const void *p;
    uint64_t rows, cols;
    if (mf_section_at(f, i, &name, &dt, &p, &rows, &cols) != MR_OK)
      abort();
    size_t es = dt == MF_F64 ? 8 : dt == MF_U8 ? 1 : 4;
    const unsigned char *b = p;
    for (uint64_t k = 0; k < rows * cols * es; k++)
      acc += b[k];
    const void *q;
    int rc = mf_get(f, name, dt, &q, NULL, NULL);
    if (rc != MR_OK && rc != MR_EFORMAT) /* EFORMAT: an earlier section of that name has
                                             another dtype (mf_get finds the first) */
      abort();
  }
  sink = acc;
  mf_close(f);
}

static void load_and_score(const char *path) {
  rec_model *m = NULL;
  char err[256];
  if (rec_load(path, &m, err, sizeof(err)) == MR_OK) {
    int32_t n = rec_n_items(m);
    if (n <= 0 || n > (1 << 24))
      abort(); /* a loader accepted a model that cannot score anything */
    float *scores = malloc((size_t)n * sizeof(float));
    if (!scores)
      abort();
    int32_t items[3] = {0, n - 1, n / 2};
    float ratings[3] = {5, 1, 3};
    (void)rec_score_user(m, 0, scores);
    (void)rec_score_history(m, items, ratings, 3, scores);
    (void)rec_score_history(m, NULL, NULL, 0, scores);
    const float *emb;
    int dim;
    if (rec_item_embeddings(m, &emb, &dim) == MR_OK) {
      float acc = 0;
      for (int64_t k = 0; k < (int64_t)n * dim; k++)
        acc += emb[k];
      sink = (unsigned)(acc != acc);
    }
    free(scores);
    rec_free(m);
  }
  ltr_model *r = NULL;
  if (ltr_load(path, &r, err, sizeof(err)) == MR_OK) {
    int nf = ltr_n_features(r);
    float *x = calloc((size_t)nf * 2, sizeof(float)), out[2];
    if (!x)
      abort();
    for (int k = 0; k < nf; k++)
      x[nf + k] = (float)k - 3.5f;
    ltr_predict(r, x, 2, out);
    free(x);
    ltr_free(r);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[32];
  unsigned char *buf = malloc(size ? size : 1);
  if (!buf)
    abort();
  memcpy(buf, data, size);
  if (size >= 64) { /* payload size and CRC, where mf_write puts them */
    uint64_t payload = size - 64;
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf + 64, (uInt)payload);
    memcpy(buf + 32, &payload, 8);
    memcpy(buf + 40, &crc, 4);
  }
  int fd = fz_memfile(buf, size, path);
  free(buf);
  if (fd < 0)
    abort();
  read_sections(path);
  load_and_score(path);
  close(fd);
  return 0;
}
