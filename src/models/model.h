/* One interface for every recommender model: fit on train ratings, score a user; every
 * single-file model (each generator) also saves and loads here. The two-stage pipeline, whose
 * features read its training history, is saved and loaded as parts (ts_save_parts /
 * ts_load_parts in pipeline/two_stage.h); rec_save / rec_load answer MR_EUNSUPPORTED for it.
 * New models register in model.c's table without touching callers. */
#ifndef MR_MODEL_H
#define MR_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "data/csr.h"
#include "data/dataset.h"

typedef struct rec_cache rec_cache;

/* What a model may read when fitting: train ratings only (ds gives movie/user metadata; its own
 * ratings array may include test data and must not be used by fit). Everything is borrowed for
 * the duration of the fit call only. */
typedef struct rec_train_data {
  const mr_dataset *ds;
  const mr_rating *ratings;
  size_t n_ratings;
  const csr *ui;    /* users x items over ratings */
  const csr *iu;    /* items x users */
  rec_cache *cache; /* optional memo for composite models (NULL: fit everything afresh) */
  int protocol;     /* split_kind in force; models that cut their own validation set mirror it */
} rec_train_data;

/* Reference time ("now") of a scored user: every popularity-derived signal (pop, the genre boost,
 * the gems penalty, the ranker's popularity features) counts only ratings at or before it, so a
 * user never sees what became popular later. Models fitted under the user-temporal protocol use
 * each user's latest rating in the fit data (rec_ref_per_user); every other protocol, and a
 * loaded model, uses the end of the fit data for everyone. REC_REF_END names that end. */
#define REC_REF_END INT64_MAX

/* 1 when models fitted on d take per-user reference times (user-temporal), else 0. */
int rec_ref_per_user(const rec_train_data *d);

/* Named numeric hyper-parameters, parsed from "factors=64,alpha=2". */
#define REC_PARAMS_MAX 64
typedef struct rec_params {
  int n;
  struct {
    char name[24];
    double value;
  } kv[REC_PARAMS_MAX];
} rec_params;

int rec_params_parse(const char *text, rec_params *out);
double rec_params_get(const rec_params *p, const char *name, double dflt);
int rec_params_set(rec_params *p, const char *name, double value);
/* "factors=64,alpha=2" form, for logs and tables. */
void rec_params_format(const rec_params *p, char *buf, size_t len);

typedef struct rec_model rec_model;

/* Fits model `kind` ("pop", "als", ...). Returns MR_ENOTFOUND for an unknown kind. */
int rec_fit(const char *kind, const rec_params *p, const rec_train_data *d, rec_model **out);
void rec_free(rec_model *m);
const char *rec_kind(const rec_model *m);
int32_t rec_n_items(const rec_model *m);

/* Scores every item for a training user (dense index); scores has n_items floats. */
int rec_score_user(const rec_model *m, int32_t user, float *scores);
/* Scores every item for a user given only a rating history (new users, real-time updates).
 * n may be 0. As of the end of the fit data (REC_REF_END). */
int rec_score_history(const rec_model *m, const int32_t *items, const float *ratings, int n,
                      float *scores);
/* The same as of reference time ref_ts (REC_REF_END: the end of the fit data). Kinds without
 * popularity-derived signals ignore ref_ts; a kind that has them and was loaded from a file (it
 * keeps only end-of-data counts) refuses an earlier time with MR_EUNSUPPORTED. */
int rec_score_history_at(const rec_model *m, const int32_t *items, const float *ratings, int n,
                         int64_t ref_ts, float *scores);

/* Scores of items[0..n) only, as rec_score_user (user >= 0) or rec_score_history_at (user < 0:
 * h_items/h_ratings/n_h as of ref_ts) would give them at those items: kinds that can score a
 * few items cheaply do so; the others score every item into scratch (n_items floats, the
 * caller's) and pick. For features of a few candidates. */
int rec_score_items(const rec_model *m, int32_t user, const int32_t *h_items,
                    const float *h_ratings, int n_h, int64_t ref_ts, const int32_t *items, int n,
                    float *out, float *scratch);

/* Saves to path / loads from path (the kind is read from the file). MR_EUNSUPPORTED for a kind
 * without a single-file form (two_stage). */
int rec_save(const rec_model *m, const char *path);
int rec_load(const char *path, rec_model **out, char *err, size_t errlen);

/* Item embeddings of a model that has them (content models): *emb borrows n_items x *dim floats,
 * L2-normalized, valid while m lives. MR_EUNSUPPORTED otherwise. */
int rec_item_embeddings(const rec_model *m, const float **emb, int *dim);

/* A memo of fitted models keyed by kind, parameters and a fingerprint of the training ratings, so
 * composite models (the two-stage pipeline) fitted in one evaluation share their generators. */
int rec_cache_create(rec_cache **out);
void rec_cache_free(rec_cache *c);
/* Fits kind on d or returns the memoized model (owned by the cache: do not free; valid until
 * rec_cache_free). With c == NULL this is rec_fit and the caller owns *out. */
int rec_fit_cached(rec_cache *c, const char *kind, const rec_params *p, const rec_train_data *d,
                   rec_model **out);

/* A memo of small byte strings by key beside the models (tuning results): put copies blob in
 * (replacing an entry of that key); get copies it out, MR_ENOTFOUND when absent or of another
 * length. */
int rec_cache_put(rec_cache *c, const char *key, const void *blob, size_t len);
int rec_cache_get(const rec_cache *c, const char *key, void *blob, size_t len);

/* FNV-1a over ratings (users, items, times, values): the same data gives the same value. */
uint64_t rec_ratings_fingerprint(const mr_rating *r, size_t n);

/* Names of registered kinds, NULL-terminated. */
const char *const *rec_kinds(void);

/* Top-n of scores, skipping items where exclude (may be NULL) is nonzero; ties by lower index.
 * Writes up to n indexes into top (and their scores into top_scores if non-NULL); returns the
 * count written. */
int rec_top_n(const float *scores, int32_t n_items, const uint8_t *exclude, int n, int32_t *top,
              float *top_scores);

#endif
