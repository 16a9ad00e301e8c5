/* Serving cost of the two stage-2 rankers side by side: microseconds per personalized
 * reco_recommend_ranked call with LambdaMART and with the neural cross ranker, over every user of
 * the data (base history), single thread, interleaved passes so both see the same machine load.
 * The candidates and features are the same for both, so the difference of the medians is the
 * difference in ranking cost.
 * Usage: bench_rankers [DATA [MODELS [PASSES]]] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mr_error.h"
#include "data/dataset.h"
#include "pipeline/reco.h"
#include "bench_util.h"

int main(int argc, char **argv) {
  const char *data = argc > 1 ? argv[1] : "../shared/data";
  const char *models = argc > 2 ? argv[2] : "models/current";
  int passes = argc > 3 ? atoi(argv[3]) : 3;
  char err[512] = "";
  mr_dataset *ds = NULL;
  openblas_set_num_threads(1); /* as in the services (src/cli/cli.c): one request, one thread */
  reco *r = NULL;
  if (passes < 1 || ds_load(data, &ds, err, sizeof(err)) ||
      reco_open(models, ds, &r, err, sizeof(err))) {
    fprintf(stderr, "bench_rankers: %s\n", err);
    return 1;
  }
  if (!reco_has_ranker(r, RECO_RANKER_CROSS)) {
    fprintf(stderr, "bench_rankers: %s has no cross.bin (train with ranker=2)\n", models);
    return 1;
  }
  const reco_ranker rk[2] = {RECO_RANKER_LTR, RECO_RANKER_CROSS};
  const char *names[2] = {"LambdaMART", "cross"};
  size_t n = (size_t)ds->n_users * (size_t)passes;
  double *cpu[2], *wall[2];
  for (int k = 0; k < 2; k++) {
    cpu[k] = malloc(n * sizeof(double));
    wall[k] = malloc(n * sizeof(double));
    if (!cpu[k] || !wall[k])
      return 1;
  }
  reco_item out[10];
  int n_out;
  for (int p = 0; p < passes; p++)
    for (int k = 0; k < 2; k++)
      for (int32_t u = 0; u < ds->n_users; u++) {
        double c0 = bench_thread_cpu_now(), w0 = bench_wall_now();
        int rc = reco_recommend_ranked(r, ds->users[u].id, NULL, 0, RECO_PERSONALIZED, 0, rk[k], 10,
                                       out, &n_out);
        cpu[k][(size_t)p * ds->n_users + u] = (bench_thread_cpu_now() - c0) * 1e6;
        wall[k][(size_t)p * ds->n_users + u] = (bench_wall_now() - w0) * 1e6;
        if (rc) {
          fprintf(stderr, "bench_rankers: user %lld: %s\n", (long long)ds->users[u].id,
                  mr_strerror(rc));
          return 1;
        }
      }
  printf("| ranker | calls | median CPU us | p99 CPU us | median wall us |\n"
         "|---|---|---|---|---|\n");
  double med[2];
  for (int k = 0; k < 2; k++) {
    qsort(cpu[k], n, sizeof(double), bench_cmp_double);
    qsort(wall[k], n, sizeof(double), bench_cmp_double);
    med[k] = cpu[k][n / 2];
    printf("| %s | %zu | %.1f | %.1f | %.1f |\n", names[k], n, med[k], cpu[k][n * 99 / 100],
           wall[k][n / 2]);
  }
  printf("\ncross minus LambdaMART, median CPU: %.1f us per request\n", med[1] - med[0]);
  for (int k = 0; k < 2; k++) {
    free(cpu[k]);
    free(wall[k]);
  }
  reco_free(r);
  ds_free(ds);
  return 0;
}
