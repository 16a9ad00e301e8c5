/* Scale benchmark on synthetic data: ALS training time and memory, two-stage fit, model files and
 * single-thread serving latency (with its split) for one size; `report` turns several runs into
 * a markdown table and an SVG chart. */
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "data/csr.h"
#include "eval/split.h"
#include "models/als.h"
#include "models/model.h"
#include "pipeline/two_stage.h"
#include "rank/ltr.h"
#include "synth.h"
#include "bench_util.h"

/* The configuration `movierec train` serves (two_stage_ltr_als) plus `fgens`: generators fitted
 * only for their feature columns (als, genre); the others (gcn, content, itemknn, ease) do not
 * scale to 60k movies in a benchmark's time or memory (docs/SCALING.md). rank_users: the ranker
 * learns from 10,000 users' groups (all users up to 1M ratings), ~1.5M rows at most.
 * tune_gens=0: the generators take their evaluation rows' fixed parameters (ALS 64 factors), so
 * the fit time measures the pipeline at one setting, not a search over settings. */
#define SCALE_TS_PARAMS "gens=1,per_gen=150,fgens=9,rank_users=10000,tune_gens=0"
#define SCALE_TOP_N 10 /* what a GET /recommendations answer returns */

/* VmHWM / VmRSS of this process in MB (from /proc/self/status). */
static double proc_mb(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  double kb = -1;
  size_t len = strlen(field);
  if (!f)
    return -1;
  while (fgets(line, sizeof(line), f))
    if (!strncmp(line, field, len) && line[len] == ':') {
      kb = atof(line + len + 1);
      break;
    }
  fclose(f);
  return kb / 1024.0;
}

/* Starts a phase: returns freed heap to the kernel and resets the peak-RSS mark, so the VmHWM
 * read at the phase's end is that phase's own peak (data kept from earlier phases included). */
static void phase_start(void) {
  malloc_trim(0);
  FILE *f = fopen("/proc/self/clear_refs", "w");
  if (f) {
    fputs("5", f);
    fclose(f);
  }
}

static double file_mb(const char *path) {
  struct stat st;
  return stat(path, &st) ? -1.0 : (double)st.st_size / 1048576.0;
}

static void put(const char *key, double v) {
  printf("%s %.10g\n", key, v);
  fflush(stdout);
}

/* Prints key_p50 and key_p99 of v[0..n) in microseconds. */
static void put_lat(const char *key, double *v, int n) {
  char k[64];
  double p50 = bench_quantile(v, n, 0.5) * 1e6, p99 = bench_quantile(v, n, 0.99) * 1e6;
  snprintf(k, sizeof(k), "%s_p50_us", key);
  put(k, p50);
  snprintf(k, sizeof(k), "%s_p99_us", key);
  put(k, p99);
}

typedef struct iter_log {
  double t[64];
  int n;
} iter_log;

static void on_iter(int it, double seconds, void *ctx) {
  iter_log *l = ctx;
  (void)it;
  if (l->n < 64)
    l->t[l->n++] = seconds;
}

static int die(const char *what, int rc) {
  fprintf(stderr, "bench_scale: %s: %s\n", what, mr_strerror(rc));
  return 1;
}

/* Phase 1: plain ALS as in bench_als (64 factors, 3 CG steps, 15 iterations). */
static int phase_als(const csr *ui, const csr *iu, const char *dir) {
  char path[4096];
  als_opts o;
  iter_log log = {{0}, 0};
  als_model *m = NULL;
  als_opts_default(&o);
  o.factors = 64;
  o.cg_steps = 3;
  o.iterations = 15;
  o.reg = 0.05f;
  o.alpha = 2.0f;
  o.seed = 42;
  o.progress = on_iter;
  o.progress_ctx = &log;
  phase_start();
  double t0 = bench_wall_now(), c0 = bench_process_cpu_seconds();
  int rc = als_fit(&o, ui, iu, &m);
  double total = bench_wall_now() - t0;
  if (rc)
    return die("als_fit", rc);
  put("als_total_s", total);
  put("als_cpu_share", (bench_process_cpu_seconds() - c0) / (total * omp_get_max_threads()));
  put("als_s_per_iter", bench_quantile(log.t, log.n, 0.5));
  put("als_peak_rss_mb", proc_mb("VmHWM"));
  snprintf(path, sizeof(path), "%s/als_only.bin", dir);
  if ((rc = als_save(m, path)))
    return die("als_save", rc);
  put("als_file_mb", file_mb(path));
  remove(path);
  als_free(m);
  return 0;
}

/* Phase 2: the two-stage fit and its files. */
static int phase_ts_fit(const rec_train_data *d, const char *dir, const char *extra) {
  rec_params p;
  rec_model *m = NULL;
  ts_fit_stats st;
  char path[4096];
  int rc;
  static const char *const parts[] = {"als", "gcn", "content", "genre", "itemknn", "ease", "gems"};
  char text[512];
  snprintf(text, sizeof(text), "%s%s%s", SCALE_TS_PARAMS, *extra ? "," : "", extra);
  if ((rc = rec_params_parse(text, &p)))
    return die("two-stage parameters", rc);
  phase_start();
  double t0 = bench_wall_now(), c0 = bench_process_cpu_seconds();
  if ((rc = rec_fit("two_stage", &p, d, &m)))
    return die("two-stage fit", rc);
  put("ts_fit_s", bench_wall_now() - t0);
  put("ts_cpu_share",
      (bench_process_cpu_seconds() - c0) / ((bench_wall_now() - t0) * omp_get_max_threads()));
  put("ts_peak_rss_mb", proc_mb("VmHWM"));
  if (!ts_stats(m, &st)) {
    put("ts_generators_s", st.generators_seconds);
    put("ts_features_s", st.features_seconds);
    put("ts_ranker_s", st.ranker_seconds);
    put("ts_train_rows", (double)st.train_rows);
    put("ts_train_groups", (double)st.train_groups);
  }
  if ((rc = ts_save_parts(m, dir)))
    return die("ts_save_parts", rc);
  double total = 0;
  for (size_t k = 0; k < sizeof(parts) / sizeof(parts[0]); k++) {
    snprintf(path, sizeof(path), "%s/%s.bin", dir, parts[k]);
    double mb = file_mb(path);
    if (mb >= 0) {
      char key[64];
      snprintf(key, sizeof(key), "file_%s_mb", parts[k]);
      put(key, mb);
      total += mb;
    }
  }
  snprintf(path, sizeof(path), "%s/ranker.bin", dir);
  put("file_ranker_mb", file_mb(path));
  total += file_mb(path);
  put("files_total_mb", total);
  rec_free(m);
  return 0;
}

/* Phase 3: serving, one thread, as the API does it: load the parts against the history, then per
 * request score every movie with the pipeline and take the top 10 (rec_score_user for a user
 * without live ratings, rec_score_history with ALS fold-in after a live rating). The split comes
 * from the pipeline itself (ts_score_split: candidates, features, ranker); stage 1's brute force
 * is timed on its own too (ALS scores of every movie, then the top 150), for the index question. */
static int phase_serve(const rec_train_data *d, const char *dir, int n_req) {
  char path[4096], err[512] = "";
  rec_model *ts = NULL, *als = NULL;
  int rc;
  int32_t n_items = d->ui->n_cols, n_users = d->ui->n_rows;
  const int per_gen = 150;
  omp_set_num_threads(1);
  phase_start();
  double rss0 = proc_mb("VmRSS");
  double t0 = bench_wall_now();
  if ((rc = ts_load_parts(dir, d, &ts, err, sizeof(err)))) {
    fprintf(stderr, "%s\n", err);
    return die("ts_load_parts", rc);
  }
  put("serve_load_s", bench_wall_now() - t0);
  put("serve_model_rss_mb", proc_mb("VmRSS") - rss0);
  put("serve_rss_mb", proc_mb("VmRSS"));

  float *scores = malloc((size_t)n_items * sizeof(float));
  uint8_t *flag = calloc((size_t)n_items, 1);
  int32_t *cands = malloc((size_t)per_gen * sizeof(int32_t));
  int32_t *top = malloc(SCALE_TOP_N * sizeof(int32_t));
  int32_t *users = malloc((size_t)n_req * sizeof(int32_t));
  double *lat[7];
  for (int k = 0; k < 7; k++)
    lat[k] = malloc((size_t)n_req * sizeof(double));
  if (!scores || !flag || !cands || !top || !users || !lat[0] || !lat[1] || !lat[2] || !lat[3] ||
      !lat[4] || !lat[5] || !lat[6])
    return die("serve buffers", MR_ENOMEM);
  mr_rng rng;
  mr_rng_seed(&rng, 7);
  for (int q = 0; q < n_req; q++)
    users[q] = (int32_t)mr_rng_below(&rng, (uint64_t)n_users);

  /* end to end, a user without live ratings */
  double hist_sum = 0, w0 = bench_wall_now(), c0 = bench_process_cpu_seconds();
  for (int q = 0; q < n_req; q++) {
    int32_t u = users[q];
    const int32_t *h = d->ui->indices + d->ui->indptr[u];
    int64_t nh = d->ui->indptr[u + 1] - d->ui->indptr[u];
    hist_sum += (double)nh;
    double a = bench_wall_now();
    if ((rc = rec_score_user(ts, u, scores)))
      return die("rec_score_user(two_stage)", rc);
    for (int64_t k = 0; k < nh; k++)
      flag[h[k]] = 1;
    rec_top_n(scores, n_items, flag, SCALE_TOP_N, top, NULL);
    for (int64_t k = 0; k < nh; k++)
      flag[h[k]] = 0;
    lat[0][q] = bench_wall_now() - a;
  }
  put("serve_cpu_share", (bench_process_cpu_seconds() - c0) / (bench_wall_now() - w0));
  put("serve_requests", n_req);
  put("serve_mean_history", hist_sum / n_req);
  put_lat("lat_total", lat[0], n_req);

  /* end to end after a live rating: fold-in from the history (ratings from the CSR) */
  for (int q = 0; q < n_req; q++) {
    int32_t u = users[q];
    const int32_t *h = d->ui->indices + d->ui->indptr[u];
    const float *hr = d->ui->values + d->ui->indptr[u];
    int nh = (int)(d->ui->indptr[u + 1] - d->ui->indptr[u]);
    double a = bench_wall_now();
    if ((rc = rec_score_history(ts, h, hr, nh, scores)))
      return die("rec_score_history(two_stage)", rc);
    for (int k = 0; k < nh; k++)
      flag[h[k]] = 1;
    rec_top_n(scores, n_items, flag, SCALE_TOP_N, top, NULL);
    for (int k = 0; k < nh; k++)
      flag[h[k]] = 0;
    lat[1][q] = bench_wall_now() - a;
  }
  put_lat("lat_foldin_total", lat[1], n_req);

  /* the pipeline's own split */
  double cand_sum = 0;
  for (int q = 0; q < n_req; q++) {
    ts_serve_split sp;
    memset(&sp, 0, sizeof(sp));
    if ((rc = ts_score_split(ts, users[q], NULL, NULL, 0, scores, &sp)))
      return die("ts_score_split", rc);
    lat[2][q] = sp.candidates_us * 1e-6;
    lat[3][q] = sp.features_us * 1e-6;
    lat[4][q] = sp.ranker_us * 1e-6;
    cand_sum += (double)sp.candidates;
  }
  put("serve_mean_candidates", cand_sum / n_req);
  put_lat("lat_candidates", lat[2], n_req);
  put_lat("lat_features", lat[3], n_req);
  put_lat("lat_ranker", lat[4], n_req);

  /* stage 1 brute force on its own: ALS scores of every movie, top 150 of them */
  snprintf(path, sizeof(path), "%s/als.bin", dir);
  if ((rc = rec_load(path, &als, err, sizeof(err))))
    return die(err, rc);
  for (int q = 0; q < n_req; q++) {
    int32_t u = users[q];
    const int32_t *h = d->ui->indices + d->ui->indptr[u];
    int64_t nh = d->ui->indptr[u + 1] - d->ui->indptr[u];
    double a = bench_wall_now();
    rec_score_user(als, u, scores);
    double b = bench_wall_now();
    for (int64_t k = 0; k < nh; k++)
      flag[h[k]] = 1;
    rec_top_n(scores, n_items, flag, per_gen, cands, NULL);
    for (int64_t k = 0; k < nh; k++)
      flag[h[k]] = 0;
    lat[5][q] = b - a;
    lat[6][q] = bench_wall_now() - b;
  }
  put_lat("lat_als_score_all", lat[5], n_req);
  put_lat("lat_topk", lat[6], n_req);

  rec_free(als);
  rec_free(ts);
  for (int k = 0; k < 7; k++)
    free(lat[k]);
  free(users);
  free(top);
  free(cands);
  free(flag);
  free(scores);
  return 0;
}

static int run(int argc, char **argv) {
  int32_t nu = atoi(argv[1]), ni = atoi(argv[2]);
  size_t want = strtoull(argv[3], NULL, 10);
  const char *dir = argv[4];
  const char *phases = argc > 5 ? argv[5] : "als,ts,serve";
  int n_req = argc > 6 ? atoi(argv[6]) : 2000;
  const char *extra = argc > 7 ? argv[7] : ""; /* e.g. "trees=20" for a quick test */
  mr_rating *r = NULL;
  mr_dataset *ds = NULL;
  size_t n = 0;
  int rc;
  if (nu <= 0 || ni <= 0 || want == 0 || n_req < 1)
    return die("arguments", MR_EINVAL);
  if (mkdir(dir, 0755) && errno != EEXIST)
    return die(dir, MR_EIO);
  put("threads", omp_get_max_threads());
  phase_start();
  double t0 = bench_wall_now();
  if ((rc = synth_generate(nu, ni, want, 1, &r, &n)))
    return die("synth", rc);
  put("synth_s", bench_wall_now() - t0);
  if ((rc = synth_dataset(nu, ni, r, n, 1, &ds)))
    return die("synth_dataset", rc);
  csr *ui = NULL, *iu = NULL;
  t0 = bench_wall_now();
  if ((rc = csr_from_ratings(ds->ratings, ds->n_ratings, nu, ni, 0, &ui)) ||
      (rc = csr_transpose(ui, &iu)))
    return die("csr", rc);
  put("csr_s", bench_wall_now() - t0);
  put("users", nu);
  put("items", ni);
  put("ratings", (double)ds->n_ratings);
  put("data_rss_mb", proc_mb("VmRSS"));
  rec_train_data d = {.ds = ds,
                      .ratings = ds->ratings,
                      .n_ratings = ds->n_ratings,
                      .ui = ui,
                      .iu = iu,
                      .cache = NULL,
                      .protocol = SPLIT_USER_TEMPORAL};
  if (strstr(phases, "als") && phase_als(ui, iu, dir))
    return 1;
  if (strstr(phases, "ts") && phase_ts_fit(&d, dir, extra))
    return 1;
  if (strstr(phases, "serve") && phase_serve(&d, dir, n_req))
    return 1;
  csr_free(ui);
  csr_free(iu);
  ds_free(ds);
  return 0;
}

int report(int argc, char **argv);

int main(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[1], "report"))
    return report(argc, argv);
  if (argc < 5) {
    fprintf(stderr,
            "usage: %s USERS MOVIES RATINGS DIR [PHASES=als,ts,serve] [REQUESTS=2000] "
            "[MORE_TWO_STAGE_PARAMS]\n"
            "       %s report OUT.svg RESULT_FILE...   (markdown table on stdout)\n",
            argv[0], argv[0]);
    return 2;
  }
  return run(argc, argv);
}

/* ---- report: markdown table and SVG chart over several result files ---- */

#define REPORT_MAX_KEYS 96
#define REPORT_MAX_RUNS 16

typedef struct run_result {
  char keys[REPORT_MAX_KEYS][48];
  double vals[REPORT_MAX_KEYS];
  int n;
} run_result;

static double get(const run_result *r, const char *key) {
  for (int k = 0; k < r->n; k++)
    if (!strcmp(r->keys[k], key))
      return r->vals[k];
  return NAN;
}

static int load_result(const char *path, run_result *r) {
  FILE *f = fopen(path, "r");
  char key[48];
  double v;
  if (!f)
    return MR_ENOTFOUND;
  r->n = 0;
  while (r->n < REPORT_MAX_KEYS && fscanf(f, "%47s %lf", key, &v) == 2) {
    snprintf(r->keys[r->n], sizeof(r->keys[0]), "%s", key);
    r->vals[r->n++] = v;
  }
  fclose(f);
  return r->n ? MR_OK : MR_EFORMAT;
}

/* A cell: "-" for a missing value, else the number with `digits` decimals. */
static void cell(double v, int digits) {
  if (v != v)
    printf(" - |");
  else
    printf(" %.*f |", digits, v);
}

typedef struct series {
  const char *key, *label, *color;
} series;

typedef struct panel {
  const char *title, *unit;
  series s[4];
  int n;
} panel;

/* One log-log panel at (px, py): every series against the ratings (millions), and a dashed grey
 * line proportional to the ratings through the first series' first point (linear growth). */
static void draw_panel(FILE *f, const panel *p, const run_result *runs, int n_runs, double px,
                       double py) {
  const double W = 400, H = 260, L = 60, R = 15, T = 30, B = 40;
  double pw = W - L - R, ph = H - T - B;
  double xmin = INFINITY, xmax = 0, ymin = INFINITY, ymax = 0;
  for (int i = 0; i < n_runs; i++) {
    double x = get(&runs[i], "ratings") / 1e6;
    xmin = fmin(xmin, x);
    xmax = fmax(xmax, x);
    for (int s = 0; s < p->n; s++) {
      double y = get(&runs[i], p->s[s].key);
      if (y > 0) {
        ymin = fmin(ymin, y);
        ymax = fmax(ymax, y);
      }
    }
  }
  if (!(ymax > 0) || !(xmax > xmin))
    return;
  /* decades that cover the data */
  /* (synth lands a hair under the requested count: 999,228 for 1M is still "1") */
  double lx0 = floor(log10(xmin) + 0.01), lx1 = ceil(log10(xmax) - 0.01);
  double ly0 = floor(log10(ymin)), ly1 = ceil(log10(ymax));
  if (ly1 <= ly0)
    ly1 = ly0 + 1;
#define XP(v) (px + L + pw * (log10(v) - lx0) / (lx1 - lx0))
#define YP(v) (py + T + ph - ph * (log10(v) - ly0) / (ly1 - ly0))
  fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"13\" font-weight=\"bold\">%s</text>\n",
          px + L, py + 18, p->title);
  for (double e = lx0; e <= lx1; e++)
    for (int m = 1; m < 10; m++) {
      double v = m * pow(10, e);
      if (v > pow(10, lx1) + 1e-9)
        break;
      fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", XP(v),
              py + T, XP(v), py + T + ph, m == 1 ? "#ccc" : "#f0f0f0");
      if (m == 1 || m == 2 || m == 5)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", XP(v),
                py + T + ph + 15, v);
    }
  for (double e = ly0; e <= ly1; e++)
    for (int m = 1; m < 10; m++) {
      double v = m * pow(10, e);
      if (v > pow(10, ly1) + 1e-9)
        break;
      fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", px + L,
              YP(v), px + L + pw, YP(v), m == 1 ? "#ccc" : "#f0f0f0");
      if (m == 1 || (ly1 - ly0 <= 2 && (m == 2 || m == 5)))
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", px + L - 4,
                YP(v) + 4, v);
    }
  fprintf(f,
          "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
          "stroke=\"#333\"/>\n"
          "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">ratings (millions)</text>\n"
          "<text x=\"%.0f\" y=\"%.0f\" transform=\"rotate(-90 %.0f %.0f)\" "
          "text-anchor=\"middle\">%s</text>\n",
          px + L, py + T, pw, ph, px + L + pw / 2, py + H - 8, px + 14, py + T + ph / 2, px + 14,
          py + T + ph / 2, p->unit);
  /* linear reference through the first point of the first series */
  double x0 = get(&runs[0], "ratings") / 1e6, y0 = get(&runs[0], p->s[0].key);
  if (y0 > 0) {
    double xe = xmax, ye = y0 * xe / x0;
    if (ye > pow(10, ly1)) {
      ye = pow(10, ly1);
      xe = x0 * ye / y0;
    }
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" "
            "stroke-dasharray=\"4 3\"/>\n",
            XP(x0), YP(y0), XP(xe), YP(ye));
  }
  for (int s = 0; s < p->n; s++) {
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", p->s[s].color);
    for (int i = 0; i < n_runs; i++) {
      double x = get(&runs[i], "ratings") / 1e6, y = get(&runs[i], p->s[s].key);
      if (y > 0)
        fprintf(f, "%.1f,%.1f ", XP(x), YP(y));
    }
    fprintf(f, "\"/>\n");
    for (int i = 0; i < n_runs; i++) {
      double x = get(&runs[i], "ratings") / 1e6, y = get(&runs[i], p->s[s].key);
      if (y > 0)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", XP(x), YP(y),
                p->s[s].color);
    }
    fprintf(f,
            "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" "
            "stroke-width=\"2\"/><text x=\"%.0f\" y=\"%.0f\" font-size=\"11\">%s</text>\n",
            px + L + 8, py + T + 12 + 14 * s, px + L + 26, py + T + 12 + 14 * s, p->s[s].color,
            px + L + 30, py + T + 16 + 14 * s, p->s[s].label);
  }
#undef XP
#undef YP
}

int report(int argc, char **argv) {
  static run_result runs[REPORT_MAX_RUNS];
  int n = 0;
  for (int a = 3; a < argc && n < REPORT_MAX_RUNS; a++) {
    if (load_result(argv[a], &runs[n])) {
      fprintf(stderr, "bench_scale: cannot read %s\n", argv[a]);
      return 1;
    }
    n++;
  }
  if (!n)
    return die("report: no result files", MR_EINVAL);
  printf("| ratings | users x movies | ALS s/iter | ALS CPU s/iter | ALS 15 it. s | ALS peak RSS "
         "MB | two-stage fit s | fit CPU s | fit peak RSS MB | model files MB (als.bin) | serving "
         "RSS MB | "
         "request p50 / p99 us | after a live rating p50 / p99 us | CPU share ALS / fit / "
         "serving |\n");
  printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
         "---: | ---: |\n");
  for (int i = 0; i < n; i++) {
    const run_result *r = &runs[i];
    printf("| %.0f | %.0f x %.0f |", get(r, "ratings"), get(r, "users"), get(r, "items"));
    /* CPU seconds (wall x share x threads) depend far less on other jobs than wall time */
    double thr = get(r, "threads");
    cell(get(r, "als_s_per_iter"), 3);
    cell(get(r, "als_s_per_iter") * get(r, "als_cpu_share") * thr, 3);
    cell(get(r, "als_total_s"), 1);
    cell(get(r, "als_peak_rss_mb"), 0);
    cell(get(r, "ts_fit_s"), 1);
    cell(get(r, "ts_fit_s") * get(r, "ts_cpu_share") * thr, 0);
    cell(get(r, "ts_peak_rss_mb"), 0);
    printf(" %.1f (%.1f) |", get(r, "files_total_mb"), get(r, "file_als_mb"));
    cell(get(r, "serve_rss_mb"), 0);
    printf(" %.0f / %.0f | %.0f / %.0f |", get(r, "lat_total_p50_us"), get(r, "lat_total_p99_us"),
           get(r, "lat_foldin_total_p50_us"), get(r, "lat_foldin_total_p99_us"));
    printf(" %.0f%% / %.0f%% / %.0f%% |\n", 100 * get(r, "als_cpu_share"),
           100 * get(r, "ts_cpu_share"), 100 * get(r, "serve_cpu_share"));
  }
  printf("\nServing split (one thread, us, p50 / p99):\n\n");
  printf("| ratings | movies | candidates (ALS scores + top 150) | features (incl. genre scores "
         "of the candidates) | ranker (150 rows) | whole request (+ top 10 of every movie) | "
         "stage 1 alone: ALS scores of every movie | stage 1 alone: top 150 |\n");
  printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  static const char *const steps[] = {"lat_candidates", "lat_features",      "lat_ranker",
                                      "lat_total",      "lat_als_score_all", "lat_topk"};
  for (int i = 0; i < n; i++) {
    const run_result *r = &runs[i];
    printf("| %.0f | %.0f |", get(r, "ratings"), get(r, "items"));
    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
      char k50[64], k99[64];
      snprintf(k50, sizeof(k50), "%s_p50_us", steps[s]);
      snprintf(k99, sizeof(k99), "%s_p99_us", steps[s]);
      printf(" %.0f / %.0f |", get(r, k50), get(r, k99));
    }
    printf("\n");
  }

  FILE *f = fopen(argv[2], "w");
  if (!f)
    return die(argv[2], MR_EIO);
  static const panel panels[4] = {
      {"Training time",
       "seconds",
       {{"ts_fit_s", "two-stage fit (2 ALS fits, features, ranker)", "#c0392b"},
        {"als_total_s", "ALS, 15 iterations", "#2471a3"}},
       2},
      {"Peak memory (RSS)",
       "MB",
       {{"ts_peak_rss_mb", "two-stage fit", "#c0392b"},
        {"als_peak_rss_mb", "ALS fit (data + CSR + factors)", "#2471a3"},
        {"serve_rss_mb", "serving (data + history + models)", "#27ae60"}},
       3},
      {"Model files",
       "MB",
       {{"files_total_mb", "all parts", "#c0392b"},
        {"file_als_mb", "als.bin", "#2471a3"},
        {"file_ranker_mb", "ranker.bin", "#7d3c98"}},
       3},
      {"Serving latency, one thread",
       "microseconds",
       {{"lat_total_p50_us", "request p50", "#e67e22"},
        {"lat_total_p99_us", "request p99 (preemptions on the shared machine)", "#c0392b"},
        {"lat_candidates_p50_us", "candidates (stage 1) p50", "#2471a3"},
        {"lat_ranker_p50_us", "ranker p50", "#7d3c98"}},
       4},
  };
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"820\" height=\"580\" "
             "font-family=\"sans-serif\" font-size=\"10\">\n"
             "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
             "<text x=\"20\" y=\"22\" font-size=\"15\">movierec on synthetic data, 1 machine "
             "(2 cores): growth from 1M to 25M ratings (log-log; dashed: linear growth)</text>\n");
  for (int p = 0; p < 4; p++)
    draw_panel(f, &panels[p], runs, n, 10 + 405.0 * (p % 2), 30 + 275.0 * (p / 2));
  fprintf(f, "</svg>\n");
  return fclose(f) ? die(argv[2], MR_EIO) : 0;
}
