/* LightGCN: propagation against a dense A_hat, gradient against finite differences, training on
 * planted clusters, determinism across thread counts, gems penalty, history scoring, save/load. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "data/csr.h"
#include "model_check.h"
#include "models/gcn.h"
#include "models/model.h"
#include "models/model_ops.h"

/* Builds a users x items csr from (user, item, rating) triples. */
static csr *make_csr(const int (*t)[3], int n, int32_t nu, int32_t ni) {
  mr_rating *r = calloc((size_t)n, sizeof(*r));
  csr *out = NULL;
  assert_non_null(r);
  for (int k = 0; k < n; k++) {
    r[k].user = t[k][0];
    r[k].item = t[k][1];
    r[k].rating = (float)t[k][2];
    r[k].ts = k;
  }
  assert_int_equal(csr_from_ratings(r, (size_t)n, nu, ni, 0, &out), MR_OK);
  free(r);
  return out;
}

/* Planted clusters: users of cluster c rate most items of cluster c and few others; item
 * popularity also falls with the item index inside a cluster, so gems has something to do. */
static csr *make_clusters(int32_t nu, int32_t ni, int k, uint64_t seed) {
  mr_rng rng;
  mr_rng_seed(&rng, seed);
  mr_rating *r = calloc((size_t)nu * ni, sizeof(*r));
  size_t n = 0;
  csr *out = NULL;
  assert_non_null(r);
  for (int32_t u = 0; u < nu; u++)
    for (int32_t i = 0; i < ni; i++) {
      int same = u % k == i % k;
      double p = same ? 0.8 * (1.0 - (double)i / ni) + 0.1 : 0.02;
      if (mr_rng_uniform(&rng) < p) {
        r[n].user = u;
        r[n].item = i;
        r[n].rating = (float)(1 + mr_rng_below(&rng, 5));
        r[n].ts = (int64_t)n;
        n++;
      }
    }
  assert_int_equal(csr_from_ratings(r, n, nu, ni, 0, &out), MR_OK);
  free(r);
  return out;
}

static void test_propagate_matches_dense(void **state) {
  (void)state;
  /* 4 users x 3 items; the rating-2 edges are dropped at min_rating 3, user 3 becomes isolated */
  const int t[][3] = {{0, 0, 5}, {0, 1, 3}, {1, 1, 4}, {1, 2, 2},
                      {2, 0, 4}, {2, 1, 5}, {2, 2, 3}, {3, 0, 2}};
  csr *ui = make_csr(t, 8, 4, 3);
  gcn_graph *g = NULL;
  assert_int_equal(gcn_graph_create(ui, 3.0f, &g), MR_OK);
  int n = gcn_graph_n_nodes(g);
  assert_int_equal(n, 7);
  double A[7][7] = {{0}}, deg[7] = {0};
  for (int k = 0; k < 8; k++)
    if (t[k][2] >= 3) {
      A[t[k][0]][4 + t[k][1]] = A[4 + t[k][1]][t[k][0]] = 1.0;
      deg[t[k][0]] += 1;
      deg[4 + t[k][1]] += 1;
    }
  /* d = 40 spreads the columns over several threads (blocks of 16) */
  float x[7 * 40], y[7 * 40];
  const int dims[2] = {2, 40};
  for (int q = 0; q < 2; q++) {
    int d = dims[q];
    for (int k = 0; k < n * d; k++)
      x[k] = (float)(k % 5) - 1.5f + 0.1f * (float)(k % 17);
    gcn_graph_propagate(g, d, x, y);
    for (int r = 0; r < n; r++)
      for (int c = 0; c < d; c++) {
        double ref = 0.0;
        for (int s = 0; s < n; s++)
          if (A[r][s] != 0.0)
            ref += A[r][s] / sqrt(deg[r] * deg[s]) * x[s * d + c];
        assert_true(fabs(ref - y[r * d + c]) < 1e-5);
      }
    /* the isolated user propagates to zero */
    for (int c = 0; c < d; c++)
      assert_true(y[3 * d + c] == 0.0f);
  }
  gcn_graph_free(g);
  gcn_graph_free(NULL);
  csr_free(ui);
}

static void test_gradient_matches_finite_differences(void **state) {
  (void)state;
  const int t[][3] = {{0, 0, 5}, {0, 1, 4}, {1, 1, 3}, {1, 2, 5}, {2, 2, 4}, {2, 3, 1},
                      {3, 3, 5}, {3, 4, 2}, {4, 0, 3}, {4, 4, 4}, {5, 1, 5}, {5, 3, 3}};
  csr *ui = make_csr(t, 12, 6, 5);
  gcn_graph *g = NULL;
  assert_int_equal(gcn_graph_create(ui, 0.0f, &g), MR_OK);
  int n = gcn_graph_n_nodes(g), d = 3, layers = 3;
  size_t len = (size_t)n * d;
  float *e0 = malloc(len * sizeof(float)), *grad = malloc(len * sizeof(float));
  float *scratch = malloc(len * sizeof(float));
  assert_non_null(e0);
  assert_non_null(grad);
  assert_non_null(scratch);
  mr_rng rng;
  mr_rng_seed(&rng, 7);
  for (size_t k = 0; k < len; k++)
    e0[k] = (float)(mr_rng_normal(&rng) * 0.7);
  /* user 0 appears twice and item 1 both as positive and negative: the gather must sum them */
  const int32_t us[5] = {0, 0, 2, 3, 5}, ps[5] = {0, 1, 2, 3, 1}, ns[5] = {2, 3, 1, 0, 4};
  const float reg = 0.05f;
  double loss;
  assert_int_equal(gcn_loss_and_grad(g, d, layers, reg, e0, us, ps, ns, 5, &loss, grad), MR_OK);
  assert_true(loss > 0.0 && isfinite(loss));
  double gmax = 0.0, errmax = 0.0;
  for (size_t k = 0; k < len; k++)
    gmax = fmax(gmax, fabs(grad[k]));
  assert_true(gmax > 1e-3);
  const float h = 1e-2f;
  for (size_t k = 0; k < len; k++) {
    double lp, lm;
    float keep = e0[k];
    e0[k] = keep + h;
    assert_int_equal(gcn_loss_and_grad(g, d, layers, reg, e0, us, ps, ns, 5, &lp, scratch), 0);
    e0[k] = keep - h;
    assert_int_equal(gcn_loss_and_grad(g, d, layers, reg, e0, us, ps, ns, 5, &lm, scratch), 0);
    e0[k] = keep;
    double fd = (lp - lm) / (2.0 * (double)h);
    double err = fabs(fd - grad[k]) / fmax(fabs(fd), 0.05 * gmax);
    errmax = fmax(errmax, err);
  }
  assert_true(errmax < 1e-3);
  /* bad triples are refused */
  const int32_t bad[1] = {5};
  assert_int_equal(gcn_loss_and_grad(g, d, layers, reg, e0, us, bad, ns, 1, &loss, grad),
                   MR_EINVAL);
  free(scratch);
  free(grad);
  free(e0);
  gcn_graph_free(g);
  csr_free(ui);
}

typedef struct loss_log {
  int n;
  double loss[64];
} loss_log;

static void record_loss(int epoch, double loss, void *ctx) {
  loss_log *l = ctx;
  if (epoch < 64)
    l->loss[l->n++] = loss;
}

static void small_opts(gcn_opts *o) {
  gcn_opts_default(o);
  o->dim = 16;
  o->epochs = 25;
  o->batch_size = 256;
  o->lr = 0.02f;
}

static void test_loss_falls_and_clusters_emerge(void **state) {
  (void)state;
  csr *ui = make_clusters(60, 45, 3, 11);
  gcn_opts o;
  loss_log log = {0};
  gcn_model *m = NULL;
  small_opts(&o);
  o.progress = record_loss;
  o.progress_ctx = &log;
  assert_int_equal(gcn_fit(&o, ui, &m), MR_OK);
  assert_int_equal(log.n, 25);
  assert_true(log.loss[0] > 0.6);                /* starts near log 2 */
  assert_true(log.loss[24] < 0.6 * log.loss[0]); /* and learns */
  assert_true(log.loss[24] < log.loss[12]);
  /* unrated in-cluster items outrank unrated out-of-cluster items (pairwise AUC) */
  float scores[45];
  long good = 0, total = 0;
  for (int32_t u = 0; u < 60; u++) {
    assert_int_equal(gcn_score_user(m, u, scores), MR_OK);
    for (int32_t i = 0; i < 45; i++)
      for (int32_t j = 0; j < 45; j++) {
        if (i % 3 != u % 3 || j % 3 == u % 3 || csr_get(ui, u, i) != 0 || csr_get(ui, u, j) != 0)
          continue;
        good += scores[i] > scores[j];
        total++;
      }
  }
  assert_true(total > 100);
  assert_true((double)good / (double)total > 0.85);
  gcn_free(m);
  gcn_free(NULL);
  csr_free(ui);
}

static void test_deterministic_across_threads(void **state) {
  (void)state;
  csr *ui = make_clusters(80, 50, 4, 3);
  gcn_opts o;
  gcn_model *a = NULL, *b = NULL, *c = NULL, *d = NULL;
  small_opts(&o);
  o.epochs = 5;
  o.dim = 40; /* three column blocks (16, 16, 8): 2 and 3 threads split them unevenly */
  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  assert_int_equal(gcn_fit(&o, ui, &a), MR_OK);
  omp_set_num_threads(2);
  assert_int_equal(gcn_fit(&o, ui, &b), MR_OK);
  omp_set_num_threads(saved);
  o.threads = 3;
  assert_int_equal(gcn_fit(&o, ui, &c), MR_OK);
  size_t nu = (size_t)gcn_n_users(a) * 40, ni = (size_t)gcn_n_items(a) * 40;
  assert_memory_equal(gcn_user_emb(a), gcn_user_emb(b), nu * sizeof(float));
  assert_memory_equal(gcn_item_emb(a), gcn_item_emb(b), ni * sizeof(float));
  assert_memory_equal(gcn_user_emb(a), gcn_user_emb(c), nu * sizeof(float));
  assert_memory_equal(gcn_item_emb(a), gcn_item_emb(c), ni * sizeof(float));
  o.seed = 43;
  assert_int_equal(gcn_fit(&o, ui, &d), MR_OK);
  assert_memory_not_equal(gcn_item_emb(a), gcn_item_emb(d), ni * sizeof(float));
  gcn_free(a);
  gcn_free(b);
  gcn_free(c);
  gcn_free(d);
  csr_free(ui);
}

/* Mean popz of the top-k items by score. */
static double top_popz(const gcn_model *m, const float *scores, int k) {
  int32_t ni = gcn_n_items(m);
  uint8_t used[64] = {0};
  double s = 0.0;
  for (int r = 0; r < k; r++) {
    int32_t best = -1;
    for (int32_t i = 0; i < ni; i++)
      if (!used[i] && (best < 0 || scores[i] > scores[best]))
        best = i;
    used[best] = 1;
    s += gcn_item_popz(m)[best];
  }
  return s / k;
}

static void test_gems_lowers_popular_items(void **state) {
  (void)state;
  csr *ui = make_clusters(60, 45, 3, 5);
  gcn_opts o;
  gcn_model *m = NULL;
  small_opts(&o);
  assert_int_equal(gcn_fit(&o, ui, &m), MR_OK);
  float plain[45], g0[45], g2[45];
  double plain_pop = 0.0, gems_pop = 0.0;
  for (int32_t u = 0; u < 60; u++) {
    assert_int_equal(gcn_score_user(m, u, plain), MR_OK);
    assert_int_equal(gcn_score_gems(m, u, 0.0f, g0), MR_OK);
    assert_int_equal(gcn_score_gems(m, u, 2.0f, g2), MR_OK);
    for (int32_t i = 0; i < 45; i++) {
      /* beta = 0 is an increasing map of the plain scores; beta shifts by -beta * popz */
      assert_true(fabs((g0[i] - g2[i]) - 2.0f * gcn_item_popz(m)[i]) < 1e-4);
      for (int32_t j = 0; j < 45; j++)
        if (plain[i] > plain[j])
          assert_true(g0[i] >= g0[j]);
    }
    plain_pop += top_popz(m, plain, 5);
    gems_pop += top_popz(m, g2, 5);
  }
  /* popular items drop: the gems top-5 is clearly less popular than the plain top-5 */
  assert_true(gems_pop < plain_pop - 0.5 * 60);
  gcn_free(m);
  csr_free(ui);
}

static void test_history_scoring(void **state) {
  (void)state;
  csr *ui = make_clusters(30, 21, 3, 9);
  gcn_opts o;
  gcn_model *m = NULL;
  small_opts(&o);
  o.epochs = 3;
  o.min_rating = 3.0f;
  assert_int_equal(gcn_fit(&o, ui, &m), MR_OK);
  int d = gcn_dim(m);
  float x[16], scores[21];
  /* one item: the user embedding is that item's; a below-threshold rating is ignored */
  const int32_t items[2] = {4, 7};
  const float ratings[2] = {5.0f, 1.0f};
  assert_int_equal(gcn_user_from_history(m, items, ratings, 2, x), MR_OK);
  for (int c = 0; c < d; c++)
    assert_true(fabs(x[c] - gcn_item_emb(m)[4 * d + c]) < 1e-6);
  /* weights are rating / sqrt(item degree), the degrees counted over edges >= min_rating */
  const float r2[2] = {3.0f, 5.0f};
  int deg4 = 0, deg7 = 0;
  for (int64_t k = 0; k < ui->nnz; k++) {
    deg4 += ui->indices[k] == 4 && ui->values[k] >= 3.0f;
    deg7 += ui->indices[k] == 7 && ui->values[k] >= 3.0f;
  }
  assert_true(deg4 > 0 && deg7 > 0 && deg4 != deg7);
  assert_true(fabs(gcn_item_inv_sqrt_deg(m)[4] - 1.0 / sqrt(deg4)) < 1e-6);
  double w4 = 3.0 / sqrt(deg4), w7 = 5.0 / sqrt(deg7);
  assert_int_equal(gcn_user_from_history(m, items, r2, 2, x), MR_OK);
  for (int c = 0; c < d; c++)
    assert_true(fabs(x[c] - (w4 * gcn_item_emb(m)[4 * d + c] + w7 * gcn_item_emb(m)[7 * d + c]) /
                                (w4 + w7)) < 1e-6);
  assert_int_equal(gcn_score_vector(m, x, scores), MR_OK);
  float dot = 0.0f;
  for (int c = 0; c < d; c++)
    dot += x[c] * gcn_item_emb(m)[2 * d + c];
  assert_true(fabs(scores[2] - dot) < 1e-5);
  assert_int_equal(gcn_user_from_history(m, items, ratings + 1, 1, x), MR_EEMPTY);
  assert_int_equal(gcn_user_from_history(m, NULL, NULL, 0, x), MR_EEMPTY);
  const int32_t bad[1] = {21};
  assert_int_equal(gcn_user_from_history(m, bad, ratings, 1, x), MR_EINVAL);
  assert_int_equal(gcn_score_user(m, 30, scores), MR_EINVAL);
  gcn_free(m);
  csr_free(ui);
}

static void test_invalid_options(void **state) {
  (void)state;
  csr *ui = make_clusters(10, 8, 2, 1);
  gcn_opts o;
  gcn_model *m = NULL;
  gcn_opts_default(&o);
  o.dim = 0;
  assert_int_equal(gcn_fit(&o, ui, &m), MR_EINVAL);
  gcn_opts_default(&o);
  o.lr = 0.0f;
  assert_int_equal(gcn_fit(&o, ui, &m), MR_EINVAL);
  gcn_opts_default(&o);
  o.min_rating = 6.0f; /* no edge left */
  assert_int_equal(gcn_fit(&o, ui, &m), MR_EEMPTY);
  assert_null(m);
  /* divergence stops every thread and is reported, not returned as a model */
  gcn_opts_default(&o);
  o.dim = 40;
  o.batch_size = 8;
  o.lr = 1e30f;
  o.threads = 3;
  assert_int_equal(gcn_fit(&o, ui, &m), MR_ENUMERIC);
  assert_null(m);
  csr_free(ui);
}

static void test_save_load_roundtrip(void **state) {
  (void)state;
  csr *ui = make_clusters(30, 21, 3, 2);
  gcn_opts o;
  gcn_model *m = NULL, *l = NULL;
  char path[] = "/tmp/test_gcn_XXXXXX", err[256] = "";
  small_opts(&o);
  o.epochs = 3;
  o.gems_beta = 0.75f;
  o.min_rating = 2.0f;
  assert_int_equal(gcn_fit(&o, ui, &m), MR_OK);
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(gcn_save(m, path, "gems"), MR_OK);
  assert_int_equal(gcn_load(path, &l, err, sizeof(err)), MR_OK);
  assert_int_equal(gcn_n_users(l), 30);
  assert_int_equal(gcn_n_items(l), 21);
  assert_int_equal(gcn_dim(l), 16);
  assert_true(gcn_gems_beta(l) == 0.75f);
  assert_memory_equal(gcn_user_emb(m), gcn_user_emb(l), 30 * 16 * sizeof(float));
  assert_memory_equal(gcn_item_emb(m), gcn_item_emb(l), 21 * 16 * sizeof(float));
  assert_memory_equal(gcn_item_popz(m), gcn_item_popz(l), 21 * sizeof(float));
  assert_memory_equal(gcn_item_inv_sqrt_deg(m), gcn_item_inv_sqrt_deg(l), 21 * sizeof(float));
  float a[21], b[21], x[16];
  assert_int_equal(gcn_score_gems(m, 4, 0.75f, a), MR_OK);
  assert_int_equal(gcn_score_gems(l, 4, gcn_gems_beta(l), b), MR_OK);
  assert_memory_equal(a, b, sizeof(a));
  /* min_rating survives: a rating of 1 still does not count after the round trip */
  const int32_t it[1] = {3};
  const float r[1] = {1.0f};
  assert_int_equal(gcn_user_from_history(l, it, r, 1, x), MR_EEMPTY);
  /* a truncated file is refused with a message */
  assert_int_equal(truncate(path, 100), 0);
  gcn_model *bad = NULL;
  assert_true(gcn_load(path, &bad, err, sizeof(err)) < 0);
  assert_null(bad);
  assert_true(err[0] != '\0');
  unlink(path);
  gcn_free(m);
  gcn_free(l);
  csr_free(ui);
}

/* Both kinds through the registry: one file format, the kind in the file picks the scorer. */
static void test_registry_kinds(void **state) {
  (void)state;
  csr *ui = make_clusters(30, 21, 3, 4), *iu = NULL;
  assert_int_equal(csr_transpose(ui, &iu), MR_OK);
  rec_train_data d = {0};
  d.ui = ui;
  d.iu = iu;
  rec_params p;
  assert_int_equal(rec_params_parse("dim=8,epochs=3,batch=128,beta=0.5,seed=3", &p), MR_OK);
  rec_model *gems = NULL, *gcn = NULL, *l = NULL;
  assert_int_equal(rec_fit("gems", &p, &d, &gems), MR_OK);
  assert_int_equal(rec_fit("gcn", &p, &d, &gcn), MR_OK);
  assert_int_equal(rec_n_items(gems), 21);
  float a[21], b[21], c[21];
  assert_int_equal(rec_score_user(gcn, 2, a), MR_OK);
  assert_int_equal(rec_score_user(gems, 2, b), MR_OK);
  /* same seed, same model: gems is the gcn score standardized minus 0.5 popz */
  const gcn_model *gm = gcn_of(gems);
  assert_non_null(gm);
  assert_int_equal(gcn_score_gems(gm, 2, 0.5f, c), MR_OK);
  assert_memory_equal(b, c, sizeof(b));
  assert_memory_not_equal(a, b, sizeof(a));
  char path[] = "/tmp/test_gcn_reg_XXXXXX", err[256];
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(rec_save(gems, path), MR_OK);
  assert_int_equal(rec_load(path, &l, err, sizeof(err)), MR_OK);
  assert_string_equal(rec_kind(l), "gems");
  assert_int_equal(rec_score_user(l, 2, c), MR_OK);
  assert_memory_equal(b, c, sizeof(b));
  rec_free(l);
  assert_int_equal(rec_save(gcn, path), MR_OK);
  assert_int_equal(rec_load(path, &l, err, sizeof(err)), MR_OK);
  assert_string_equal(rec_kind(l), "gcn");
  /* an empty history falls back to popularity order */
  assert_int_equal(rec_score_history(l, NULL, NULL, 0, c), MR_OK);
  assert_memory_equal(c, gcn_item_popz(gcn_of(l)), sizeof(c));
  /* a real history scores like gcn_score_vector of the history embedding */
  const int32_t it[2] = {1, 5};
  const float r[2] = {5.0f, 4.0f};
  float x[8];
  assert_int_equal(rec_score_history(l, it, r, 2, c), MR_OK);
  assert_int_equal(gcn_user_from_history(gcn_of(l), it, r, 2, x), MR_OK);
  assert_int_equal(gcn_score_vector(gcn_of(l), x, a), MR_OK);
  assert_memory_equal(a, c, sizeof(a));
  /* the candidates-only scorer agrees with both (an empty history: popularity) */
  check_score_items(l, 30, it, r, 2);
  check_score_items(l, 30, NULL, NULL, 0);
  unlink(path);
  rec_free(l);
  rec_free(gcn);
  rec_free(gems);
  csr_free(iu);
  csr_free(ui);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_propagate_matches_dense),
      cmocka_unit_test(test_gradient_matches_finite_differences),
      cmocka_unit_test(test_loss_falls_and_clusters_emerge),
      cmocka_unit_test(test_deterministic_across_threads),
      cmocka_unit_test(test_gems_lowers_popular_items),
      cmocka_unit_test(test_history_scoring),
      cmocka_unit_test(test_invalid_options),
      cmocka_unit_test(test_save_load_roundtrip),
      cmocka_unit_test(test_registry_kinds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
