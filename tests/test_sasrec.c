/* SASRec: gradient against finite differences, learning a deterministic next-item task,
 * determinism across thread counts (fixed seed), save/load, and scoring as of a reference time
 * that never reads a later rating. */
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
#include "data/csr.h"
#include "model_check.h"
#include "models/model.h"
#include "models/sasrec.h"

#define TOY_ITEMS 20
#define TOY_USERS 40
#define TOY_LEN 16

/* The toy task: item after i is (7 i + 3) mod 20, from a user-specific start; times are the
 * positions, listed newest first so the fit has to sort them. */
static mr_rating *toy_ratings(size_t *n) {
  mr_rating *r = calloc(TOY_USERS * TOY_LEN, sizeof(*r));
  assert_non_null(r);
  size_t k = 0;
  for (int u = 0; u < TOY_USERS; u++) {
    int32_t seq[TOY_LEN];
    seq[0] = (u * 3) % TOY_ITEMS;
    for (int t = 1; t < TOY_LEN; t++)
      seq[t] = (7 * seq[t - 1] + 3) % TOY_ITEMS;
    for (int t = TOY_LEN - 1; t >= 0; t--)
      r[k++] = (mr_rating){.user = u, .item = seq[t], .rating = 4.0f, .ts = 1000 + t};
  }
  *n = k;
  return r;
}

static void toy_opts(sasrec_opts *o) {
  sasrec_opts_default(o);
  o->dim = 16;
  o->blocks = 1;
  o->max_len = 20;
  o->epochs = 40;
  o->batch = 8;
  o->lr = 5e-3f;
  o->dropout = 0.1f;
  o->seed = 7;
  o->threads = 2;
}

static void test_gradient_matches_finite_differences(void **state) {
  (void)state;
  sasrec_opts o;
  sasrec_opts_default(&o);
  o.dim = 4;
  o.blocks = 2;
  o.max_len = 6;
  sasrec_model *m = NULL;
  assert_int_equal(sasrec_create(&o, 7, &m), MR_OK);
  size_t nw = 0;
  float *w = sasrec_weights(m, &nw);
  /* move the layer-norm gains and biases off 1 and 0 so their gradients are checked too */
  mr_rng rng;
  mr_rng_seed(&rng, 11);
  for (size_t i = 0; i < nw; i++)
    w[i] += 0.3f * (float)mr_rng_normal(&rng);
  const int32_t seq[7] = {3, 1, 4, 1, 5, 6, 2};
  float *g = malloc(nw * sizeof(float));
  assert_non_null(g);
  double loss = 0, lp, lm;
  assert_int_equal(sasrec_loss_grad(m, seq, 7, &loss, g), MR_OK);
  assert_true(isfinite(loss) && loss > 0);
  float *scratch = malloc(nw * sizeof(float));
  assert_non_null(scratch);
  double worst = 0, gmax = 0;
  const float eps = 2e-3f;
  for (size_t i = 0; i < nw; i++) {
    float keep = w[i];
    w[i] = keep + eps;
    assert_int_equal(sasrec_loss_grad(m, seq, 7, &lp, scratch), MR_OK);
    w[i] = keep - eps;
    assert_int_equal(sasrec_loss_grad(m, seq, 7, &lm, scratch), MR_OK);
    w[i] = keep;
    double num = (lp - lm) / (2.0 * eps), err = fabs(num - g[i]) / (1e-2 + fabs(num));
    worst = err > worst ? err : worst;
    gmax = fabs(g[i]) > gmax ? fabs(g[i]) : gmax;
  }
  assert_true(gmax > 1e-2); /* a zero gradient would pass trivially */
  assert_true(worst < 0.05);
  /* a sequence longer than max_len + 1 or an unknown item is refused */
  int32_t bad[7] = {3, 1, 4, 1, 5, 6, 7};
  assert_int_equal(sasrec_loss_grad(m, bad, 7, &loss, g), MR_EINVAL);
  int32_t longer[8] = {0};
  assert_int_equal(sasrec_loss_grad(m, longer, 8, &loss, g), MR_EINVAL);
  free(scratch);
  free(g);
  sasrec_free(m);
}

typedef struct losses {
  double first, last;
  int n;
} losses;

static void on_epoch(int epoch, double loss, void *ctx) {
  losses *l = ctx;
  if (epoch == 0)
    l->first = loss;
  l->last = loss;
  l->n++;
}

static void test_learns_deterministic_next_item(void **state) {
  (void)state;
  size_t n = 0;
  mr_rating *r = toy_ratings(&n);
  sasrec_opts o;
  toy_opts(&o);
  losses l = {0};
  o.progress = on_epoch;
  o.progress_ctx = &l;
  sasrec_model *m = NULL;
  assert_int_equal(sasrec_fit(&o, r, n, TOY_USERS, TOY_ITEMS, &m), MR_OK);
  assert_int_equal(l.n, o.epochs);
  assert_true(l.first > 2.0);           /* about log(20) at the start */
  assert_true(l.last < 0.25 * l.first); /* and it learns */
  /* every prefix of every user: the top item is the true next one */
  int hit = 0, total = 0;
  float scores[TOY_ITEMS];
  for (int u = 0; u < TOY_USERS; u++)
    for (int t = 1; t < TOY_LEN; t++) {
      int32_t seq[TOY_LEN];
      seq[0] = (u * 3) % TOY_ITEMS;
      for (int j = 1; j <= t; j++)
        seq[j] = (7 * seq[j - 1] + 3) % TOY_ITEMS;
      assert_int_equal(sasrec_score_seq(m, seq, t, scores), MR_OK);
      int best = 0;
      for (int i = 1; i < TOY_ITEMS; i++)
        best = scores[i] > scores[best] ? i : best;
      hit += best == seq[t];
      total++;
    }
  assert_true(hit >= 0.9 * total);
  sasrec_free(m);
  free(r);
}

static void test_deterministic_across_threads(void **state) {
  (void)state;
  size_t n = 0;
  mr_rating *r = toy_ratings(&n);
  sasrec_opts o;
  toy_opts(&o);
  o.epochs = 3;
  sasrec_model *a = NULL, *b = NULL, *c = NULL;
  o.threads = 1;
  assert_int_equal(sasrec_fit(&o, r, n, TOY_USERS, TOY_ITEMS, &a), MR_OK);
  o.threads = 2;
  assert_int_equal(sasrec_fit(&o, r, n, TOY_USERS, TOY_ITEMS, &b), MR_OK);
  o.seed = 8;
  assert_int_equal(sasrec_fit(&o, r, n, TOY_USERS, TOY_ITEMS, &c), MR_OK);
  size_t na, nb, nc;
  const float *wa = sasrec_weights(a, &na), *wb = sasrec_weights(b, &nb),
              *wc = sasrec_weights(c, &nc);
  assert_int_equal(na, nb);
  assert_memory_equal(wa, wb, na * sizeof(float));
  assert_memory_not_equal(wa, wc, na * sizeof(float)); /* the seed matters */
  sasrec_free(a);
  sasrec_free(b);
  sasrec_free(c);
  free(r);
}

static void test_save_load_roundtrip(void **state) {
  (void)state;
  size_t n = 0;
  mr_rating *r = toy_ratings(&n);
  sasrec_opts o;
  toy_opts(&o);
  o.epochs = 2;
  sasrec_model *m = NULL, *l = NULL;
  assert_int_equal(sasrec_fit(&o, r, n, TOY_USERS, TOY_ITEMS, &m), MR_OK);
  char path[] = "/tmp/test_sasrec_XXXXXX", err[256];
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(sasrec_save(m, path), MR_OK);
  assert_int_equal(sasrec_load(path, &l, err, sizeof(err)), MR_OK);
  assert_int_equal(sasrec_n_users(l), TOY_USERS);
  float a[TOY_ITEMS], b[TOY_ITEMS];
  for (int u = 0; u < TOY_USERS; u++) {
    assert_int_equal(sasrec_score_user_at(m, u, INT64_MAX, a), MR_OK);
    assert_int_equal(sasrec_score_user_at(l, u, INT64_MAX, b), MR_OK);
    assert_memory_equal(a, b, sizeof(a));
    assert_int_equal(sasrec_score_user_at(m, u, 1005, a), MR_OK);
    assert_int_equal(sasrec_score_user_at(l, u, 1005, b), MR_OK);
    assert_memory_equal(a, b, sizeof(a));
  }
  /* through the registry: the file's kind picks sasrec */
  rec_model *rm = NULL;
  assert_int_equal(rec_load(path, &rm, err, sizeof(err)), MR_OK);
  assert_string_equal(rec_kind(rm), "sasrec");
  const int32_t hist[3] = {5, 9, 2};
  const float hr[3] = {4, 4, 4};
  assert_int_equal(rec_score_history(rm, hist, hr, 3, a), MR_OK);
  assert_int_equal(sasrec_score_seq(m, hist, 3, b), MR_OK);
  assert_memory_equal(a, b, sizeof(a));
  check_score_items(rm, TOY_USERS, hist, hr, 3);
  rec_free(rm);
  /* a damaged file is refused, not loaded */
  FILE *f = fopen(path, "r+b");
  assert_non_null(f);
  assert_int_equal(fseek(f, -8, SEEK_END), 0);
  fputc('x', f);
  fclose(f);
  sasrec_model *bad = NULL;
  assert_int_not_equal(sasrec_load(path, &bad, err, sizeof(err)), MR_OK);
  assert_null(bad);
  unlink(path);
  sasrec_free(l);
  sasrec_free(m);
  free(r);
}

/* Scoring user 0 as of t reads only user 0's ratings at or before t: rewriting everything the
 * user rated after t changes nothing there, and changes the score at the end of the data. The
 * models are not trained (epochs = 0: the same seeded weights), so only the scorer's reading of
 * the sequence can differ. */
static void test_no_read_past_ref_ts(void **state) {
  (void)state;
  size_t n = 0;
  mr_rating *r = toy_ratings(&n), *r2 = malloc(n * sizeof(*r2));
  assert_non_null(r2);
  memcpy(r2, r, n * sizeof(*r));
  const int64_t t_ref = 1007;
  for (size_t k = 0; k < n; k++)
    if (r2[k].user == 0 && r2[k].ts > t_ref)
      r2[k].item = (r2[k].item + 5) % TOY_ITEMS;
  sasrec_opts o;
  toy_opts(&o);
  o.epochs = 0;
  sasrec_model *a = NULL, *b = NULL;
  assert_int_equal(sasrec_fit(&o, r, n, TOY_USERS, TOY_ITEMS, &a), MR_OK);
  assert_int_equal(sasrec_fit(&o, r2, n, TOY_USERS, TOY_ITEMS, &b), MR_OK);
  float sa[TOY_ITEMS], sb[TOY_ITEMS];
  assert_int_equal(sasrec_score_user_at(a, 0, t_ref, sa), MR_OK);
  assert_int_equal(sasrec_score_user_at(b, 0, t_ref, sb), MR_OK);
  assert_memory_equal(sa, sb, sizeof(sa));
  assert_int_equal(sasrec_score_user_at(a, 0, INT64_MAX, sa), MR_OK);
  assert_int_equal(sasrec_score_user_at(b, 0, INT64_MAX, sb), MR_OK);
  assert_memory_not_equal(sa, sb, sizeof(sa));
  /* as of t it is the sequence of the ratings up to t, in time order */
  int32_t prefix[TOY_LEN];
  int np = 0;
  prefix[np++] = 0;
  for (int64_t t = 1001; t <= t_ref; t++)
    prefix[np] = (7 * prefix[np - 1] + 3) % TOY_ITEMS, np++;
  assert_int_equal(sasrec_score_seq(a, prefix, np, sb), MR_OK);
  assert_int_equal(sasrec_score_user_at(a, 0, t_ref, sa), MR_OK);
  assert_memory_equal(sa, sb, sizeof(sa));
  /* before the user's first rating there is nothing to continue */
  assert_int_equal(sasrec_score_user_at(a, 0, 999, sa), MR_OK);
  for (int i = 0; i < TOY_ITEMS; i++)
    assert_true(sa[i] == 0.0f);
  assert_int_equal(sasrec_score_user_at(a, TOY_USERS, INT64_MAX, sa), MR_ERANGE);
  sasrec_free(a);
  sasrec_free(b);
  free(r2);
  free(r);
}

/* The registry entry: parameters by name, rec_score_items as of a time for a training user. */
static void test_registry(void **state) {
  (void)state;
  size_t n = 0;
  mr_rating *r = toy_ratings(&n);
  csr *ui = NULL, *iu = NULL;
  assert_int_equal(csr_from_ratings(r, n, TOY_USERS, TOY_ITEMS, 0, &ui), MR_OK);
  assert_int_equal(csr_transpose(ui, &iu), MR_OK);
  rec_train_data d = {.ratings = r, .n_ratings = n, .ui = ui, .iu = iu};
  rec_params p;
  assert_int_equal(rec_params_parse("dim=8,blocks=1,max_len=10,epochs=2,batch=8,seed=3", &p),
                   MR_OK);
  rec_model *m = NULL;
  assert_int_equal(rec_fit("sasrec", &p, &d, &m), MR_OK);
  assert_int_equal(rec_n_items(m), TOY_ITEMS);
  const int32_t hist[2] = {1, 10};
  const float hr[2] = {3, 5};
  check_score_items(m, TOY_USERS, hist, hr, 2);
  check_score_items(m, TOY_USERS, NULL, NULL, 0);
  int32_t items[TOY_ITEMS];
  float got[TOY_ITEMS], scratch[TOY_ITEMS], want[TOY_ITEMS];
  for (int i = 0; i < TOY_ITEMS; i++)
    items[i] = i;
  assert_int_equal(rec_score_items(m, 3, NULL, NULL, 0, 1004, items, TOY_ITEMS, got, scratch),
                   MR_OK);
  int32_t prefix[5];
  prefix[0] = 9;
  for (int t = 1; t < 5; t++)
    prefix[t] = (7 * prefix[t - 1] + 3) % TOY_ITEMS;
  assert_int_equal(rec_score_history(m, prefix, hr, 5, want), MR_OK);
  assert_memory_equal(got, want, sizeof(got));
  assert_int_equal(rec_params_parse("dim=0", &p), MR_OK);
  rec_model *bad = NULL;
  assert_int_equal(rec_fit("sasrec", &p, &d, &bad), MR_EINVAL);
  rec_free(m);
  csr_free(iu);
  csr_free(ui);
  free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gradient_matches_finite_differences),
      cmocka_unit_test(test_learns_deterministic_next_item),
      cmocka_unit_test(test_deterministic_across_threads),
      cmocka_unit_test(test_save_load_roundtrip),
      cmocka_unit_test(test_no_read_past_ref_ts),
      cmocka_unit_test(test_registry),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
