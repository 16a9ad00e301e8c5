/* Stage 1 at a large catalogue: brute-force ALS scoring + top 150 against a Faiss HNSW index
 * (inner product) over the same item factors: time per query (one thread) and recall@150. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "data/csr.h"
#include "models/als.h"
#include "models/model.h"
#include "synth.h"
#include "bench_util.h"

void *ann_hnsw_build(const float *y, long n, int d, int m, int efc);
int ann_hnsw_search(void *ix, const float *x, int k, int ef, float *dist, long *lab);
void *ann_ivf_build(const float *y, long n, int d, int nlist);
int ann_ivf_search(void *ix, const float *x, int k, int nprobe, float *dist, long *lab);
void ann_free(void *ix);

typedef int (*ann_search_fn)(void *ix, const float *x, int k, int param, float *dist, long *lab);

#define K 150

/* Times nq index queries for the top K and their recall against the exact top K. */
static int run_queries(const als_model *m, void *ix, ann_search_fn search, const char *label,
                       int param, const int32_t *users, int nq, double *ta) {
  int32_t ni = als_n_items(m);
  float *scores = malloc((size_t)ni * sizeof(float)), dist[K];
  uint8_t *in_exact = calloc((size_t)ni, 1);
  int32_t top[K];
  long lab[K];
  double hits = 0;
  if (!scores || !in_exact)
    return MR_ENOMEM;
  for (int q = 0; q < nq; q++) {
    const float *xu = als_user_factors(m) + (size_t)users[q] * 64;
    als_score_user(m, users[q], scores);
    int got = rec_top_n(scores, ni, NULL, K, top, NULL);
    for (int k = 0; k < got; k++)
      in_exact[top[k]] = 1;
    double a = bench_wall_now();
    if (search(ix, xu, K, param, dist, lab)) {
      fprintf(stderr, "ann_faiss: search failed\n");
      return MR_EINVAL;
    }
    ta[q] = bench_wall_now() - a;
    for (int k = 0; k < K; k++)
      hits += lab[k] >= 0 && in_exact[lab[k]];
    for (int k = 0; k < got; k++)
      in_exact[top[k]] = 0;
  }
  printf("%s %d: p50 %.0f us p99 %.0f us, recall@%d %.3f\n", label, param,
         bench_quantile(ta, nq, 0.5) * 1e6, bench_quantile(ta, nq, 0.99) * 1e6, K,
         hits / ((double)nq * K));
  fflush(stdout);
  free(scores);
  free(in_exact);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s USERS MOVIES RATINGS [QUERIES=2000]\n", argv[0]);
    return 2;
  }
  int32_t nu = atoi(argv[1]), ni = atoi(argv[2]);
  size_t want = strtoull(argv[3], NULL, 10);
  int nq = argc > 4 ? atoi(argv[4]) : 2000;
  mr_rating *r = NULL;
  size_t n = 0;
  csr *ui = NULL, *iu = NULL;
  als_model *m = NULL;
  als_opts o;
  if (nu <= 0 || ni <= K || want == 0 || nq < 1 || synth_generate(nu, ni, want, 1, &r, &n) ||
      csr_from_ratings(r, n, nu, ni, 0, &ui) || csr_transpose(ui, &iu)) {
    fprintf(stderr, "ann_faiss: bad arguments or out of memory\n");
    return 1;
  }
  free(r);
  als_opts_default(&o);
  o.factors = 64;
  o.iterations = 15;
  double t0 = bench_wall_now();
  if (als_fit(&o, ui, iu, &m)) {
    fprintf(stderr, "ann_faiss: als_fit failed\n");
    return 1;
  }
  printf("ratings %zu users %d movies %d als_fit_s %.1f\n", n, nu, ni, bench_wall_now() - t0);
  const float *y = als_item_factors(m);
  t0 = bench_wall_now();
  void *ix = ann_hnsw_build(y, ni, 64, 32, 200);
  if (!ix) {
    fprintf(stderr, "ann_faiss: HNSW build failed\n");
    return 1;
  }
  printf("hnsw_build_s %.1f (M 32, efConstruction 200, %d threads)\n", bench_wall_now() - t0,
         omp_get_max_threads());
  omp_set_num_threads(1);
  float *scores = malloc((size_t)ni * sizeof(float));
  int32_t top[K];
  double *tb = malloc((size_t)nq * sizeof(double)), *ta = malloc((size_t)nq * sizeof(double));
  int32_t *users = malloc((size_t)nq * sizeof(int32_t));
  mr_rng rng;
  mr_rng_seed(&rng, 7);
  for (int q = 0; q < nq; q++)
    users[q] = (int32_t)mr_rng_below(&rng, (uint64_t)nu);
  /* exact top 150 of every movie (no exclusion on either side: recall of the raw top 150) */
  for (int q = 0; q < nq; q++) {
    double a = bench_wall_now();
    als_score_user(m, users[q], scores);
    rec_top_n(scores, ni, NULL, K, top, NULL);
    tb[q] = bench_wall_now() - a;
  }
  printf("brute force (scores + top %d): p50 %.0f us p99 %.0f us\n", K,
         bench_quantile(tb, nq, 0.5) * 1e6, bench_quantile(tb, nq, 0.99) * 1e6);
  static const int efs[] = {150, 300};
  for (int e = 0; e < 2; e++)
    if (run_queries(m, ix, ann_hnsw_search, "hnsw efSearch", efs[e], users, nq, ta))
      return 1;
  ann_free(ix);
  /* inverted lists: nlist ~ 4 sqrt(n) cells, a few of them probed */
  int nlist = (int)(4.0 * sqrt((double)ni));
  t0 = bench_wall_now();
  omp_set_num_threads(2);
  if (!(ix = ann_ivf_build(y, ni, 64, nlist))) {
    fprintf(stderr, "ann_faiss: IVF build failed\n");
    return 1;
  }
  omp_set_num_threads(1);
  printf("ivf_build_s %.1f (nlist %d)\n", bench_wall_now() - t0, nlist);
  static const int probes[] = {8, 32, 64};
  for (int e = 0; e < 3; e++)
    if (run_queries(m, ix, ann_ivf_search, "ivf nprobe", probes[e], users, nq, ta))
      return 1;
  ann_free(ix);
  als_free(m);
  csr_free(ui);
  csr_free(iu);
  free(scores);
  free(tb);
  free(ta);
  free(users);
  return 0;
}
