/* Neural cross ranker: hand-derived gradients against finite differences for every parameter
 * block, determinism across thread counts, save/load round trip, a planted history signal
 * learned, bad input refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "models/modelfile.h"
#include "rank/cross.h"

/* ---- a small random problem for the gradient check ---- */

#define GI 12 /* movies */
#define GS 3  /* side features */
#define GF 4  /* ranking features */
#define GG 3  /* groups */
#define GH 7  /* history per group (max_hist 5: truncation is exercised) */
#define GC 6  /* candidates per group */

typedef struct small_problem {
  float side[GI * GS];
  int32_t hist[GG][GH];
  float hr[GG][GH];
  int32_t cands[GG][GC];
  float x[GG][GC * GF];
  float y[GG][GC];
  cross_group g[GG];
} small_problem;

static void small_make(small_problem *p) {
  mr_rng r;
  mr_rng_seed(&r, 7);
  for (int k = 0; k < GI * GS; k++)
    p->side[k] = (float)mr_rng_uniform(&r);
  for (int g = 0; g < GG; g++) {
    for (int j = 0; j < GH; j++) {
      p->hist[g][j] = (int32_t)mr_rng_below(&r, GI);
      p->hr[g][j] = (float)(1 + mr_rng_below(&r, 5));
    }
    for (int c = 0; c < GC; c++) {
      p->cands[g][c] = (int32_t)((g * 5 + c * 3) % GI); /* includes repeats of history movies */
      for (int f = 0; f < GF; f++)
        p->x[g][c * GF + f] = (c + f) % 5 == 2 ? NAN : (float)mr_rng_normal(&r);
      p->y[g][c] = (float)((c * 7 + g) % 4 == 0 ? 2 : (c + g) % 3 == 0);
    }
    p->g[g] =
        (cross_group){p->hist[g], g == 1 ? NULL : p->hr[g], GH, p->cands[g], p->x[g], p->y[g], GC};
  }
}

static void small_opts(cross_opts *o) {
  cross_opts_default(o);
  o->dim = 4;
  o->hidden = 8;
  o->max_hist = 5;
  o->seed = 3;
}

/* Central differences of the mean loss against the analytic gradient, block by block. The model
 * computes in float (losses summed in double): a step of 3e-3 keeps rounding noise small without
 * crossing ReLU kinks (1e-2 crossed one here); measured block errors are below 2e-4, worst
 * entries below 5e-3. */
static void test_gradients_match_finite_differences(void **st) {
  (void)st;
  small_problem p;
  small_make(&p);
  cross_opts o;
  small_opts(&o);
  cross_shape sh = {GI, GS, p.side, GF};
  cross_model *m = NULL;
  cross_ws *w = NULL;
  assert_int_equal(cross_create(&o, &sh, &m), MR_OK);
  assert_int_equal(cross_ws_create(m, &w), MR_OK);
  /* larger weights than the initialization so every block has gradients worth checking */
  float *th = cross_params(m);
  size_t np = cross_n_params(m);
  mr_rng r;
  mr_rng_seed(&r, 11);
  for (size_t q = 0; q < np; q++)
    th[q] = (float)(0.5 * mr_rng_normal(&r));
  cross_params_changed(m);
  float *grad = malloc(np * sizeof(float)), *dummy = malloc(np * sizeof(float));
  assert_non_null(grad);
  assert_non_null(dummy);
  double loss = 0;
  assert_int_equal(cross_loss_grad(m, w, p.g, GG, &loss, grad), MR_OK);
  assert_true(loss > 0 && isfinite(loss));
  cross_block b[8];
  int nb = cross_blocks(m, b);
  assert_int_equal(nb, 8);
  const float eps = 3e-3f;
  for (int k = 0; k < nb; k++) {
    double num = 0, den = 0, worst = 0, gnorm = 0;
    for (size_t q = b[k].offset; q < b[k].offset + b[k].size; q++) {
      float keep = th[q];
      double lp, lm;
      th[q] = keep + eps;
      cross_params_changed(m);
      assert_int_equal(cross_loss_grad(m, w, p.g, GG, &lp, dummy), MR_OK);
      th[q] = keep - eps;
      cross_params_changed(m);
      assert_int_equal(cross_loss_grad(m, w, p.g, GG, &lm, dummy), MR_OK);
      th[q] = keep;
      double fd = (lp - lm) / (2.0 * eps), an = grad[q];
      num += (fd - an) * (fd - an);
      den += (fd + an) * (fd + an);
      gnorm += an * an;
      double e = fabs(fd - an) / (1e-3 + fabs(fd) + fabs(an));
      worst = e > worst ? e : worst;
    }
    cross_params_changed(m);
    double rel = sqrt(num) / (sqrt(den) + 1e-12);
    print_message("block %-3s %5zu params  |grad| %.3e  rel err %.2e  worst entry %.2e\n",
                  b[k].name, b[k].size, sqrt(gnorm), rel, worst);
    assert_true(gnorm > 1e-8); /* a block without gradient would check nothing */
    assert_true(rel < 1e-3);
    assert_true(worst < 2e-2);
  }
  free(grad);
  free(dummy);
  cross_ws_free(w);
  cross_free(m);
}

/* ---- a planted problem: relevance is "same hidden cluster as the user's history" ---- */

#define PI 120 /* movies */
#define PK 6   /* hidden clusters (movie i is in cluster i % PK) */
#define PG 240 /* groups */
#define PH 12
#define PC 24
#define PF 2

typedef struct planted {
  float side[PI];
  int32_t hist[PG][PH];
  float hr[PG][PH];
  int32_t cands[PG][PC];
  float x[PG][PC * PF];
  float y[PG][PC];
  cross_group g[PG];
} planted;

static void planted_make(planted *p) {
  mr_rng r;
  mr_rng_seed(&r, 99);
  for (int i = 0; i < PI; i++)
    p->side[i] = (float)mr_rng_uniform(&r); /* uninformative side feature */
  for (int g = 0; g < PG; g++) {
    int k = (int)mr_rng_below(&r, PK);
    for (int j = 0; j < PH; j++) {
      p->hist[g][j] = (int32_t)(k + PK * (int)mr_rng_below(&r, PI / PK));
      p->hr[g][j] = 4;
    }
    for (int c = 0; c < PC; c++) {
      p->cands[g][c] = (int32_t)mr_rng_below(&r, PI);
      p->y[g][c] = p->cands[g][c] % PK == k;
      p->x[g][c * PF] = (float)mr_rng_normal(&r); /* noise */
      p->x[g][c * PF + 1] = c % 4 == 0 ? NAN : (float)mr_rng_uniform(&r);
    }
    p->g[g] = (cross_group){p->hist[g], p->hr[g], PH, p->cands[g], p->x[g], p->y[g], PC};
  }
}

static void planted_opts(cross_opts *o, int threads) {
  cross_opts_default(o);
  o->dim = 16;
  o->hidden = 16;
  o->max_hist = 10;
  o->epochs = 12;
  o->lr = 1e-2f;
  o->batch = 8;
  o->threads = threads;
  o->seed = 5;
}

static double mean_ndcg10(const cross_model *m, const cross_group *g, int n) {
  cross_ws *w = NULL;
  assert_int_equal(cross_ws_create(m, &w), MR_OK);
  double sum = 0;
  float s[PC];
  for (int k = 0; k < n; k++) {
    assert_int_equal(cross_predict(m, w, &g[k], s), MR_OK);
    int taken[PC] = {0};
    double dcg = 0, idcg = 0;
    int npos = 0;
    for (int c = 0; c < g[k].n_cands; c++)
      npos += g[k].y[c] > 0;
    for (int rk = 0; rk < 10; rk++) {
      int best = -1;
      for (int c = 0; c < g[k].n_cands; c++)
        if (!taken[c] && (best < 0 || s[c] > s[best]))
          best = c;
      taken[best] = 1;
      dcg += g[k].y[best] / log2(rk + 2.0);
      if (rk < npos)
        idcg += 1.0 / log2(rk + 2.0);
    }
    sum += idcg > 0 ? dcg / idcg : 0;
  }
  cross_ws_free(w);
  return sum / n;
}

static cross_model *planted_fit(const planted *p, int threads, cross_fit_info *info) {
  cross_opts o;
  planted_opts(&o, threads);
  cross_shape sh = {PI, 1, p->side, PF};
  cross_model *m = NULL;
  assert_int_equal(cross_create(&o, &sh, &m), MR_OK);
  assert_int_equal(cross_fit(m, p->g, PG - 40, p->g + PG - 40, 40, info), MR_OK);
  return m;
}

static void test_learns_planted_history_signal(void **st) {
  (void)st;
  planted *p = malloc(sizeof(*p));
  assert_non_null(p);
  planted_make(p);
  cross_opts o;
  planted_opts(&o, 0);
  cross_shape sh = {PI, 1, p->side, PF};
  cross_model *m0 = NULL;
  assert_int_equal(cross_create(&o, &sh, &m0), MR_OK);
  double before = mean_ndcg10(m0, p->g + PG - 40, 40);
  cross_fit_info info;
  cross_model *m = planted_fit(p, 0, &info);
  double after = mean_ndcg10(m, p->g + PG - 40, 40);
  print_message("held-out nDCG@10 before %.3f after %.3f (epochs %d, best %d, %.2f s)\n", before,
                after, info.epochs_run, info.best_epoch, info.seconds);
  /* a random order scores about 0.2 here; only the history tells the clusters apart */
  assert_true(before < 0.45);
  assert_true(after > 0.85);
  assert_true(info.best_epoch >= 1 && info.best_epoch <= info.epochs_run);
  assert_true(fabs(info.best_valid_ndcg - after) < 0.05);
  cross_free(m0);
  cross_free(m);
  free(p);
}

static void test_deterministic_across_threads(void **st) {
  (void)st;
  planted *p = malloc(sizeof(*p));
  assert_non_null(p);
  planted_make(p);
  cross_model *a = planted_fit(p, 1, NULL), *b = planted_fit(p, 2, NULL),
              *c = planted_fit(p, 2, NULL);
  assert_int_equal(cross_n_params(a), cross_n_params(b));
  assert_memory_equal(cross_params(a), cross_params(b), cross_n_params(a) * sizeof(float));
  assert_memory_equal(cross_params(b), cross_params(c), cross_n_params(b) * sizeof(float));
  cross_ws *w = NULL;
  assert_int_equal(cross_ws_create(a, &w), MR_OK);
  float sa[PC], sb[PC];
  for (int k = 0; k < 10; k++) {
    assert_int_equal(cross_predict(a, w, &p->g[k], sa), MR_OK);
    assert_int_equal(cross_predict(b, w, &p->g[k], sb), MR_OK);
    assert_memory_equal(sa, sb, sizeof(sa));
  }
  /* a different seed gives a different model */
  cross_opts o;
  planted_opts(&o, 2);
  o.seed = 6;
  cross_shape sh = {PI, 1, p->side, PF};
  cross_model *d = NULL;
  assert_int_equal(cross_create(&o, &sh, &d), MR_OK);
  assert_int_equal(cross_fit(d, p->g, PG - 40, p->g + PG - 40, 40, NULL), MR_OK);
  assert_true(memcmp(cross_params(a), cross_params(d), cross_n_params(a) * sizeof(float)) != 0);
  cross_ws_free(w);
  cross_free(a);
  cross_free(b);
  cross_free(c);
  cross_free(d);
  free(p);
}

static void test_save_load_round_trip(void **st) {
  (void)st;
  planted *p = malloc(sizeof(*p));
  assert_non_null(p);
  planted_make(p);
  cross_model *m = planted_fit(p, 0, NULL), *l = NULL;
  char path[] = "/tmp/test_cross_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(cross_save(m, path), MR_OK);
  char err[256] = "";
  assert_int_equal(cross_load(path, &l, err, sizeof(err)), MR_OK);
  assert_int_equal(cross_n_items(l), PI);
  assert_int_equal(cross_n_feat(l), PF);
  cross_ws *w = NULL;
  assert_int_equal(cross_ws_create(m, &w), MR_OK);
  float sa[PC], sb[PC];
  for (int k = 0; k < PG; k += 17) {
    assert_int_equal(cross_predict(m, w, &p->g[k], sa), MR_OK);
    assert_int_equal(cross_predict(l, w, &p->g[k], sb), MR_OK);
    assert_memory_equal(sa, sb, sizeof(sa));
  }
  /* a flipped byte is caught by the file checksum */
  FILE *f = fopen(path, "r+b");
  assert_non_null(f);
  fseek(f, -8, SEEK_END);
  int ch = fgetc(f);
  fseek(f, -8, SEEK_END);
  fputc(ch ^ 0x40, f);
  fclose(f);
  cross_model *bad = NULL;
  assert_int_not_equal(cross_load(path, &bad, err, sizeof(err)), MR_OK);
  assert_null(bad);
  unlink(path);
  assert_int_equal(cross_load("/nonexistent/cross.bin", &bad, err, sizeof(err)), MR_ENOTFOUND);
  cross_ws_free(w);
  cross_free(m);
  cross_free(l);
  free(p);
}

/* Without held-out groups every epoch runs and the last parameters are kept; the loss falls. */
static void test_fixed_epochs_without_heldout(void **st) {
  (void)st;
  small_problem p;
  small_make(&p);
  cross_opts o;
  small_opts(&o);
  o.epochs = 40;
  o.lr = 1e-2f;
  o.batch = 2;
  cross_shape sh = {GI, GS, p.side, GF};
  cross_model *m = NULL;
  cross_ws *w = NULL;
  assert_int_equal(cross_create(&o, &sh, &m), MR_OK);
  assert_int_equal(cross_ws_create(m, &w), MR_OK);
  float *grad = malloc(cross_n_params(m) * sizeof(float));
  assert_non_null(grad);
  double before, after;
  cross_fit_info info;
  assert_int_equal(cross_fit(m, p.g, GG, NULL, 0, &info), MR_OK);
  assert_int_equal(info.epochs_run, 40);
  assert_int_equal(info.best_epoch, 0);
  /* cross_loss_grad reads the fitted feature scaling too, so compare losses after the fit with
   * a fresh model fitted for 0 epochs (scaling only) */
  cross_model *m0 = NULL;
  o.epochs = 0;
  assert_int_equal(cross_create(&o, &sh, &m0), MR_OK);
  assert_int_equal(cross_fit(m0, p.g, GG, NULL, 0, NULL), MR_OK);
  assert_int_equal(cross_loss_grad(m0, w, p.g, GG, &before, grad), MR_OK);
  assert_int_equal(cross_loss_grad(m, w, p.g, GG, &after, grad), MR_OK);
  print_message("train loss %.4f -> %.4f after 40 epochs\n", before, after);
  assert_true(after < 0.8 * before);
  free(grad);
  cross_ws_free(w);
  cross_free(m);
  cross_free(m0);
}

static void test_bad_input_refused(void **st) {
  (void)st;
  small_problem p;
  small_make(&p);
  cross_opts o;
  small_opts(&o);
  cross_shape sh = {GI, GS, p.side, GF};
  cross_model *m = NULL;
  cross_opts bad = o;
  bad.dim = 0;
  assert_int_equal(cross_create(&bad, &sh, &m), MR_EINVAL);
  bad = o;
  bad.lr = -1;
  assert_int_equal(cross_create(&bad, &sh, &m), MR_EINVAL);
  cross_shape bsh = {0, GS, p.side, GF};
  assert_int_equal(cross_create(&o, &bsh, &m), MR_EINVAL);
  bsh = (cross_shape){GI, GS, NULL, GF};
  assert_int_equal(cross_create(&o, &bsh, &m), MR_EINVAL);
  assert_null(m);
  assert_int_equal(cross_create(&o, &sh, &m), MR_OK);
  cross_ws *w = NULL;
  assert_int_equal(cross_ws_create(m, &w), MR_OK);
  float s[GC];
  cross_group g = p.g[0];
  int32_t cands[GC];
  memcpy(cands, p.cands[0], sizeof(cands));
  cands[2] = GI; /* out of range */
  g.cands = cands;
  assert_int_equal(cross_predict(m, w, &g, s), MR_ERANGE);
  assert_int_equal(cross_fit(m, &g, 1, NULL, 0, NULL), MR_ERANGE);
  g = p.g[0];
  int32_t hist[GH];
  memcpy(hist, p.hist[0], sizeof(hist));
  hist[0] = -1;
  g.hist = hist;
  assert_int_equal(cross_predict(m, w, &g, s), MR_ERANGE);
  g = p.g[0];
  float y[GC];
  memcpy(y, p.y[0], sizeof(y));
  y[1] = -1;
  g.y = y;
  assert_int_equal(cross_fit(m, &g, 1, NULL, 0, NULL), MR_EINVAL);
  y[1] = NAN;
  assert_int_equal(cross_fit(m, &g, 1, NULL, 0, NULL), MR_EINVAL);
  memset(y, 0, sizeof(y)); /* no relevant candidate anywhere: nothing to learn */
  assert_int_equal(cross_fit(m, &g, 1, NULL, 0, NULL), MR_EEMPTY);
  g = p.g[0];
  g.n_cands = -1;
  assert_int_equal(cross_predict(m, w, &g, s), MR_EINVAL);
  /* an empty history still scores (the attention pools nothing) */
  g = p.g[0];
  g.n_hist = 0;
  assert_int_equal(cross_predict(m, w, &g, s), MR_OK);
  for (int c = 0; c < GC; c++)
    assert_true(isfinite(s[c]));
  /* a file of another kind is refused */
  char path[] = "/tmp/test_cross_kind_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  float one = 1;
  mf_section sec = {"theta", MF_F32, 1, 1, &one};
  assert_int_equal(mf_write(path, "ltr", &sec, 1), MR_OK);
  cross_model *l = NULL;
  char err[256] = "";
  assert_int_equal(cross_load(path, &l, err, sizeof(err)), MR_EFORMAT);
  assert_null(l);
  assert_non_null(strstr(err, "not a cross ranker"));
  unlink(path);
  cross_ws_free(w);
  cross_free(m);
  cross_free(NULL);
  cross_ws_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gradients_match_finite_differences),
      cmocka_unit_test(test_learns_planted_history_signal),
      cmocka_unit_test(test_deterministic_across_threads),
      cmocka_unit_test(test_save_load_round_trip),
      cmocka_unit_test(test_fixed_epochs_without_heldout),
      cmocka_unit_test(test_bad_input_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
