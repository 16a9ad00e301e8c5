/* Profiles, cosine scores and nearest movies over normalized embeddings (content, semantic). */
#include "models/embed.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "models/model.h"

void embed_normalize(float *x, int d) {
  double s = 0;
  for (int j = 0; j < d; j++)
    s += (double)x[j] * x[j];
  if (s > 0) {
    float inv = (float)(1.0 / sqrt(s));
    for (int j = 0; j < d; j++)
      x[j] *= inv;
  }
}

void embed_profile(const float *emb, int32_t n_items, int d, embed_wmode wmode,
                   const int32_t *items, const float *ratings, int n, float *prof) {
  double mean = 0;
  int used = 0;
  memset(prof, 0, (size_t)d * sizeof(float));
  for (int j = 0; j < n; j++)
    if (items[j] >= 0 && items[j] < n_items) {
      mean += ratings[j];
      used++;
    }
  if (!used)
    return;
  mean /= used;
  for (int pass = 0; pass < 2; pass++) {
    for (int j = 0; j < n; j++) {
      if (items[j] < 0 || items[j] >= n_items)
        continue;
      float w = 1.0f;
      if (pass == 0 && wmode == EMBED_CENTERED)
        w = (float)(ratings[j] - mean);
      else if (pass == 0 && wmode == EMBED_SHIFTED)
        w = ratings[j] - 2.5f;
      else if (pass == 0 && wmode == EMBED_LIKED)
        w = ratings[j] >= 4.0f ? 1.0f : 0.0f;
      cblas_saxpy(d, w, emb + (size_t)items[j] * d, 1, prof, 1);
    }
    double norm = 0;
    for (int k = 0; k < d; k++)
      norm += (double)prof[k] * prof[k];
    /* a user who rated everything alike has no weighted signal: fall back to the plain sum */
    if (norm > 1e-12)
      break;
    memset(prof, 0, (size_t)d * sizeof(float));
  }
  embed_normalize(prof, d);
}

void embed_scores(const float *emb, int32_t n_items, int d, const float *v, float *scores) {
  /* one dot per row rather than sgemv: the candidates-only scorer must match it bit for bit,
   * and at d = 64 the plain loop is as fast single-threaded */
  for (int32_t i = 0; i < n_items; i++)
    scores[i] = embed_dot(v, emb + (size_t)i * d, d);
}

int embed_items_in_range(const int32_t *items, int n, int32_t n_items) {
  for (int k = 0; k < n; k++)
    if (items[k] < 0 || items[k] >= n_items)
      return MR_ERANGE;
  return MR_OK;
}

void embed_scores_at(const float *emb, int d, const float *v, const int32_t *items, int n,
                     float *out) {
  for (int k = 0; k < n; k++)
    out[k] = embed_dot(v, emb + (size_t)items[k] * d, d);
}

int embed_similar(const float *emb, int32_t n_items, int d, int32_t item, int n, int32_t *out_items,
                  float *out_scores) {
  if (item < 0 || item >= n_items || n < 0 || (n > 0 && !out_items))
    return MR_EINVAL;
  if (n == 0)
    return 0;
  float *scores = malloc((size_t)n_items * sizeof(float));
  float *ts = out_scores ? out_scores : malloc((size_t)n * sizeof(float));
  uint8_t *ex = calloc((size_t)n_items, 1);
  int count = MR_ENOMEM;
  if (scores && ts && ex) {
    embed_scores(emb, n_items, d, emb + (size_t)item * d, scores);
    ex[item] = 1;
    count = rec_top_n(scores, n_items, ex, n, out_items, ts);
  }
  free(scores);
  free(ex);
  if (ts != out_scores)
    free(ts);
  return count;
}
