/* SASRec (Kang & McAuley 2018): causal self-attention over each user's time-ordered ratings,
 * trained with a full-softmax cross-entropy over every item (Klenitskiy & Vasilev 2023 found that
 * loss far better than the original sampled BCE); a sequential candidate generator. */
#ifndef MR_SASREC_H
#define MR_SASREC_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"

typedef struct sasrec_opts {
  int dim;       /* embedding dimension d (default 48) */
  int blocks;    /* self-attention blocks, single head, pre-layer-norm (default 2) */
  int max_len;   /* longest sequence attended over; longer ones are cut into windows (100) */
  int epochs;    /* passes over every window (default 40; 0 leaves the seeded initial weights) */
  int batch;     /* windows per Adam step (default 64) */
  float lr;      /* Adam learning rate (default 1e-3) */
  float dropout; /* on the embeddings, the attention output and the feed-forward output (0.2) */
  uint64_t seed; /* init, window order and dropout masks (default 42) */
  int threads;   /* OpenMP threads while fitting; 0 = the OpenMP default */
  /* optional, after each epoch: mean cross-entropy of the epoch's predictions (may be NULL) */
  void (*progress)(int epoch, double loss, void *ctx);
  void *progress_ctx;
} sasrec_opts;

void sasrec_opts_default(sasrec_opts *o);

typedef struct sasrec_model sasrec_model;

/* A model with seeded initial weights and no user sequences (for tests and as fit's start).
 * MR_EINVAL for bad options or n_items < 1. *out is the caller's (sasrec_free). */
int sasrec_create(const sasrec_opts *o, int32_t n_items, sasrec_model **out);

/* Fits on ratings r[0..n) (users < n_users, items < n_items). Each user's sequence is the user's
 * ratings in time order, ties by input order (every rating counts, whatever its value); every
 * next item of every prefix is a training target, with the last max_len items as context.
 * Deterministic (bitwise) for o->seed whatever the thread count: windows are accumulated in fixed
 * shards and the shards summed in order. Reads only r. The model keeps the sequences (items and
 * times) for sasrec_score_user_at. MR_ENUMERIC on divergence. */
int sasrec_fit(const sasrec_opts *o, const mr_rating *r, size_t n, int32_t n_users, int32_t n_items,
               sasrec_model **out);
void sasrec_free(sasrec_model *m);

int32_t sasrec_n_items(const sasrec_model *m);
int32_t sasrec_n_users(const sasrec_model *m);
int sasrec_dim(const sasrec_model *m);

/* scores[n_items] = next-item logits after items[0..n) (oldest first; the last max_len count).
 * n == 0: all scores 0 (no sequence to continue; the cold-start models own that case).
 * MR_EINVAL for an item out of range. Thread-safe. */
int sasrec_score_seq(const sasrec_model *m, const int32_t *items, int n, float *scores);

/* The same for fit user `user` over the user's fitted ratings at or before ref_ts (INT64_MAX:
 * all of them): nothing later is read. MR_ERANGE for an unknown user. */
int sasrec_score_user_at(const sasrec_model *m, int32_t user, int64_t ref_ts, float *scores);

/* Saves weights, shape and the user sequences; loads a file written by sasrec_save (copied). */
int sasrec_save(const sasrec_model *m, const char *path);
int sasrec_load(const char *path, sasrec_model **out, char *err, size_t errlen);

/* ---- internals exposed for tests ---- */

/* The flat weight vector (borrowed, writable, valid until sasrec_free) and its length. */
float *sasrec_weights(sasrec_model *m, size_t *n);

/* Mean cross-entropy of the len - 1 next-item predictions of seq[0..len) (2 <= len <= max_len
 * + 1) without dropout, and its gradient with respect to the weights into grad (overwritten). */
int sasrec_loss_grad(const sasrec_model *m, const int32_t *seq, int len, double *loss, float *grad);

#endif
