/* Implicit-feedback ALS (Hu, Koren, Volinsky 2008) with a conjugate-gradient solver
 * (Takacs et al. 2011), multithreaded with OpenMP over users/items, OpenBLAS for Gram matrices. */
#ifndef MR_ALS_H
#define MR_ALS_H

#include <stddef.h>
#include <stdint.h>

#include "data/csr.h"

typedef struct als_opts {
  int factors;    /* latent dimension k (default 64) */
  int iterations; /* full sweeps (default 15) */
  int cg_steps;   /* CG steps per solve, warm-started; 0 = exact Cholesky solve (default 3) */
  float reg;      /* L2 regularization lambda (default 0.05) */
  float alpha;    /* confidence c = 1 + alpha * rating (default 2.0) */
  uint64_t seed;  /* factor initialization (default 42) */
  int threads;    /* 0 = all cores */
  /* optional progress callback after each iteration (may be NULL) */
  void (*progress)(int iteration, double seconds, void *ctx);
  void *progress_ctx;
} als_opts;

void als_opts_default(als_opts *o);

typedef struct als_model als_model;

/* Fits on ui (users x items, values = ratings) and its transpose iu. Each iteration solves the
 * item factors, then the user factors, so user factors are solved against the final item
 * factors (fold-in of a training user reproduces its vector). *out is owned by the caller. */
int als_fit(const als_opts *o, const csr *ui, const csr *iu, als_model **out);
void als_free(als_model *m);

int32_t als_n_users(const als_model *m);
int32_t als_n_items(const als_model *m);
int als_factors(const als_model *m);
/* Row-major factor matrices, valid until als_free. */
const float *als_user_factors(const als_model *m);
const float *als_item_factors(const als_model *m);

/* scores[i] = <x_u, y_i> for every item (n_items floats). */
int als_score_user(const als_model *m, int32_t user, float *scores);
/* scores[i] = <x, y_i> for a given user vector x (factors floats). */
int als_score_vector(const als_model *m, const float *x, float *scores);

/* Real-time fold-in: solves one user's vector exactly (Cholesky) from that user's ratings
 * against the fixed item factors: (Y^T Y + Y^T (C_u - I) Y + reg I) x = Y^T C_u p_u.
 * Uses the cached Y^T Y; x_out has factors floats. Works for n = 0 (returns zeros). */
int als_fold_in(const als_model *m, const int32_t *items, const float *ratings, int n,
                float *x_out);

/* The implicit objective sum c_ui (p_ui - x_u.y_i)^2 + reg (|X|^2 + |Y|^2) over all pairs,
 * computed efficiently; for tests and progress logs. */
double als_loss(const als_model *m, const csr *ui);

/* Saves through modelfile ("als" kind: f32 sections user_factors (n_users x k) and item_factors
 * (n_items x k), and an f64 section meta = [k, iterations, cg_steps, reg, alpha, seed low 32
 * bits, seed high 32 bits, 0]). */
int als_save(const als_model *m, const char *path);
/* Loads and verifies; factors are read from the mapping (no copy): the file stays mapped until
 * als_free. Y^T Y is recomputed for fold-in. err gets a message on failure. */
int als_load(const char *path, als_model **out, char *err, size_t errlen);

#endif
