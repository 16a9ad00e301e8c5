/* Serving cost of the personalized section: microseconds per reco_recommend call over every
 * user of the data (base history, and base history + one live rating, which takes the fold-in
 * path), single thread, medians and p99 of repeated passes.
 * Usage: bench_reco [DATA [MODELS [PASSES [CASE]]]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mr_error.h"
#include "data/dataset.h"
#include "models/model.h"
#include "pipeline/reco.h"
#include "pipeline/two_stage.h"
#include "bench_util.h"

/* One pass over every user; fills us[] with per-call microseconds. */
static int bench_pass(const reco *r, const mr_dataset *ds, int live, reco_section sec, double *us,
                      double *cpu_us) {
  reco_item out[10];
  int n_out;
  for (int32_t u = 0; u < ds->n_users; u++) {
    reco_rating lr = {(int32_t)((u * 7919) % ds->n_movies), 5.0f, 0};
    double t0 = bench_wall_now(), c0 = bench_thread_cpu_now();
    int rc = reco_recommend(r, ds->users[u].id, live ? &lr : NULL, live, sec, 0, 10, out, &n_out);
    us[u] = (bench_wall_now() - t0) * 1e6;
    cpu_us[u] = (bench_thread_cpu_now() - c0) * 1e6;
    if (rc)
      return rc;
  }
  return MR_OK;
}

int main(int argc, char **argv) {
  const char *data = argc > 1 ? argv[1] : "../shared/data";
  const char *models = argc > 2 ? argv[2] : "models/current";
  int passes = argc > 3 ? atoi(argv[3]) : 3;
  int only = argc > 4 ? atoi(argv[4]) : -1; /* one case (0-2), for profiles */
  char err[512];
  mr_dataset *ds = NULL;
  reco *r = NULL;
  if (ds_load(data, &ds, err, sizeof(err)) || reco_open(models, ds, &r, err, sizeof(err))) {
    fprintf(stderr, "bench_reco: %s\n", err);
    return 1;
  }
  double *us = malloc((size_t)ds->n_users * (size_t)passes * sizeof(double));
  double *cpu = malloc((size_t)ds->n_users * (size_t)passes * sizeof(double));
  if (!us || !cpu)
    return 1;
  const char *names[] = {"personalized, base history", "personalized, + 1 live rating",
                         "hidden gems, + 1 live rating"};
  reco_section secs[] = {RECO_PERSONALIZED, RECO_PERSONALIZED, RECO_HIDDEN_GEMS};
  int lives[] = {0, 1, 1};
  printf("| case | calls | median us | p99 us | mean us | median CPU us |\n"
         "|---|---|---|---|---|---|\n");
  for (int c = 0; c < 3; c++) {
    if (only >= 0 && c != only)
      continue;
    for (int p = 0; p < passes; p++)
      if (bench_pass(r, ds, lives[c], secs[c], us + (size_t)p * ds->n_users,
                     cpu + (size_t)p * ds->n_users)) {
        fprintf(stderr, "bench_reco: reco_recommend failed\n");
        return 1;
      }
    size_t n = (size_t)ds->n_users * (size_t)passes;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
      sum += us[i];
    qsort(us, n, sizeof(double), bench_cmp_double);
    qsort(cpu, n, sizeof(double), bench_cmp_double);
    printf("| %s | %zu | %.1f | %.1f | %.1f | %.1f |\n", names[c], n, us[n / 2], us[n * 99 / 100],
           sum / (double)n, cpu[n / 2]);
  }
  /* where the time of the base-history case goes */
  if (only < 0 || only == 0) {
    ts_serve_split sp = {0};
    float *scores = malloc((size_t)ds->n_movies * sizeof(float));
    long calls = 0;
    for (int p = 0; scores && p < passes; p++)
      for (int32_t u = 0; u < ds->n_users; u++)
        if (ts_score_split(reco_personal_model(r), u, NULL, NULL, 0, scores, &sp) == MR_OK)
          calls++;
    if (calls)
      printf("\ntime split per request (base history, %ld calls, %.0f candidates each): "
             "candidates %.1f us, features %.1f us, ranker %.1f us\n",
             calls, (double)sp.candidates / (double)calls, sp.candidates_us / (double)calls,
             sp.features_us / (double)calls, sp.ranker_us / (double)calls);
    free(scores);
  }
  free(us);
  free(cpu);
  reco_free(r);
  ds_free(ds);
  return 0;
}
