/* ALS training speed: median seconds per iteration over several fits, and peak RSS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <omp.h>

#include "core/mr_error.h"
#include "data/csr.h"
#include "models/als.h"
#include "synth.h"
#include "bench_util.h"

/* Minimal u.data reader (user \t item \t rating \t ts, 1-based ids) so the bench does not
 * depend on the full data-set loader. */
static int read_udata(const char *path, mr_rating **out, size_t *n, int32_t *nu, int32_t *ni) {
  FILE *f = fopen(path, "r");
  if (!f)
    return MR_ENOTFOUND;
  size_t cap = 1 << 17, len = 0;
  mr_rating *r = malloc(cap * sizeof(*r));
  long u, i, ts;
  double v;
  *nu = *ni = 0;
  while (r && fscanf(f, "%ld\t%ld\t%lf\t%ld", &u, &i, &v, &ts) == 4) {
    if (u < 1 || i < 1)
      continue;
    if (len == cap) {
      mr_rating *t = realloc(r, 2 * cap * sizeof(*r));
      if (!t) {
        free(r);
        r = NULL;
        break;
      }
      r = t;
      cap *= 2;
    }
    r[len++] = (mr_rating){(int32_t)(u - 1), (int32_t)(i - 1), (float)v, ts};
    if (u > *nu)
      *nu = (int32_t)u;
    if (i > *ni)
      *ni = (int32_t)i;
  }
  fclose(f);
  if (!r)
    return MR_ENOMEM;
  *out = r;
  *n = len;
  return MR_OK;
}

typedef struct iter_log {
  double sum;
  int n;
} iter_log;

static void on_iter(int it, double seconds, void *ctx) {
  iter_log *l = ctx;
  (void)it;
  l->sum += seconds;
  l->n++;
}

int main(int argc, char **argv) {
  mr_rating *r = NULL;
  size_t n = 0;
  int32_t nu = 0, ni = 0;
  int fits = 3, rc;
  const char *label;
  char label_buf[64];
  double ref;
  if (argc >= 3 && strcmp(argv[1], "ml100k") == 0) {
    label = "MovieLens 100k";
    ref = 0.014;
    rc = read_udata(argv[2], &r, &n, &nu, &ni);
    if (argc >= 4)
      fits = atoi(argv[3]);
  } else if (argc >= 5 && strcmp(argv[1], "synth") == 0) {
    nu = atoi(argv[2]);
    ni = atoi(argv[3]);
    size_t want = strtoull(argv[4], NULL, 10);
    snprintf(label_buf, sizeof(label_buf), "synthetic %.0fM", (double)want / 1e6);
    label = label_buf;
    /* implicit 0.7.2 reference figures exist for the 1M and 10M configurations only */
    ref = want == 1000000 ? 0.094 : (want == 10000000 ? 1.17 : 0.0);
    double t0 = bench_wall_now();
    rc = synth_generate(nu, ni, want, 1, &r, &n);
    fprintf(stderr, "synth: %zu ratings in %.2f s\n", n, bench_wall_now() - t0);
    if (argc >= 6)
      fits = atoi(argv[5]);
  } else {
    fprintf(stderr, "usage: %s ml100k u.data [fits] | synth users items ratings [fits]\n", argv[0]);
    return 2;
  }
  if (rc) {
    fprintf(stderr, "cannot load data: %s\n", mr_strerror(rc));
    return 1;
  }
  csr *ui = NULL, *iu = NULL;
  if ((rc = csr_from_ratings(r, n, nu, ni, 0, &ui)) ||
      (rc = csr_from_ratings(r, n, nu, ni, 1, &iu))) {
    fprintf(stderr, "csr: %s\n", mr_strerror(rc));
    return 1;
  }
  free(r);
  if (fits < 1)
    fits = 1;
  double *per_iter = calloc((size_t)fits, sizeof(double));
  als_opts o;
  als_opts_default(&o);
  o.factors = 64;
  o.cg_steps = 3;
  o.iterations = 15;
  o.reg = 0.05f;
  o.alpha = 2.0f;
  /* share of the machine's cores this process actually got while fitting: other jobs on a
   * shared machine show up here rather than silently in the timings */
  double cpu0 = bench_process_cpu_seconds(), wall = 0.0;
  for (int f = 0; f < fits; f++) {
    iter_log log = {0.0, 0};
    o.progress = on_iter;
    o.progress_ctx = &log;
    o.seed = 42 + (uint64_t)f;
    als_model *m = NULL;
    double t0 = bench_wall_now();
    rc = als_fit(&o, ui, iu, &m);
    double total = bench_wall_now() - t0;
    wall += total;
    if (rc) {
      fprintf(stderr, "als_fit: %s\n", mr_strerror(rc));
      return 1;
    }
    per_iter[f] = log.sum / log.n;
    fprintf(stderr, "%s fit %d: %.4f s/iter (%.3f s total)\n", label, f + 1, per_iter[f], total);
    als_free(m);
  }
  double share = (bench_process_cpu_seconds() - cpu0) / (wall * omp_get_max_threads());
  qsort(per_iter, (size_t)fits, sizeof(double), bench_cmp_double);
  double med = fits % 2 ? per_iter[fits / 2] : 0.5 * (per_iter[fits / 2 - 1] + per_iter[fits / 2]);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  if (ref > 0.0)
    printf("| %s | %d x %d | %lld | %.4f | %.4f | %.3f | %.2fx |", label, nu, ni,
           (long long)ui->nnz, med, per_iter[0], ref, ref / med);
  else
    printf("| %s | %d x %d | %lld | %.4f | %.4f | - | - |", label, nu, ni, (long long)ui->nnz, med,
           per_iter[0]);
  printf(" %.0f | %.0f%% |\n", (double)ru.ru_maxrss / 1024.0, 100.0 * share);
  free(per_iter);
  csr_free(ui);
  csr_free(iu);
  return 0;
}
