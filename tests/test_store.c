/* Tests for the Redis store (store.c) and the trending computation against a private
 * redis-server started with tests/harness/redis.sh (skipped when redis-server is missing). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/mr_error.h"
#include "infra/store.h"
#include "services/trending.h"

#define HARNESS MR_TESTS_DIR "/harness/redis.sh"

static char tmpdir[256], url[128];
static int port;
static redisContext *raw; /* the test's own connection for inspecting keys */

static int run_harness(const char *cmd) {
  char line[1024], owner[64] = "";
  /* the server goes away with this process even when a timeout kills it */
  if (!strcmp(cmd, "start"))
    snprintf(owner, sizeof(owner), " --owner %d", (int)getpid());
  snprintf(line, sizeof(line), "bash '%s' %s '%s/redis'%s 2>&1", HARNESS, cmd, tmpdir, owner);
  FILE *p = popen(line, "r");
  if (!p)
    return -1;
  int got = 0;
  char out[256];
  while (fgets(out, sizeof(out), p))
    if (sscanf(out, "%d", &got) == 1)
      port = got;
  return pclose(p);
}

static int group_setup(void **state) {
  (void)state;
  if (system("command -v redis-server >/dev/null 2>&1")) {
    fprintf(stderr, "SKIP: no redis-server\n");
    return 0;
  }
  snprintf(tmpdir, sizeof(tmpdir), "/tmp/mr_test_store.XXXXXX");
  if (!mkdtemp(tmpdir) || run_harness("start") || !port)
    return -1;
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
  raw = redisConnect("127.0.0.1", port);
  return raw && !raw->err ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  if (raw)
    redisFree(raw);
  if (*tmpdir) {
    run_harness("stop");
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd))
      return -1;
  }
  return 0;
}

/* Each test starts from an empty server (and skips without one). */
static int flush(void **state) {
  (void)state;
  if (!port)
    return 0;
  redisReply *r = redisCommand(raw, "FLUSHALL");
  if (!r)
    return -1;
  freeReplyObject(r);
  return 0;
}

#define NEED_REDIS()                                                                               \
  do {                                                                                             \
    if (!port)                                                                                     \
      skip();                                                                                      \
  } while (0)

static long long raw_int(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(raw, fmt, ap);
  va_end(ap);
  assert_non_null(r);
  long long v = r->type == REDIS_REPLY_INTEGER  ? r->integer
                : r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10)
                                                : -1;
  freeReplyObject(r);
  return v;
}

static void raw_str(char *out, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(raw, fmt, ap);
  va_end(ap);
  assert_non_null(r);
  snprintf(out, cap, "%s", r->type == REDIS_REPLY_STRING ? r->str : "(nil)");
  freeReplyObject(r);
}

static mr_event mk(int64_t uid, int64_t mid, int rating, int64_t ts) {
  mr_event ev = {.user_id = uid, .movie_id = mid, .rating = rating, .ts = ts};
  assert_int_equal(event_new_id(ev.event_id), MR_OK);
  return ev;
}

static store *open_store(void) {
  store *st = NULL;
  char err[256];
  assert_int_equal(store_connect(url, 2000, &st, err, sizeof(err)), MR_OK);
  assert_non_null(st);
  assert_true(store_connected(st));
  return st;
}

static void test_url_and_connect_errors(void **state) {
  (void)state;
  store *st = (store *)1;
  char err[256];
  const char *bad[] = {"http://x",      "redis://",        "redis://:6379",
                       "redis://h:0",   "redis://h:70000", "redis://h:12x",
                       "redis://h/abc", "redis://u:p@h",   "redis://h:1/2/3"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(store_connect(bad[i], 100, &st, err, sizeof(err)), MR_EINVAL);
    assert_null(st);
    assert_non_null(strstr(err, "Redis URL"));
  }
  /* nothing listens on port 1: a handle with the error, usable for a later reconnect */
  assert_int_equal(store_connect("redis://127.0.0.1:1", 500, &st, err, sizeof(err)), MR_EIO);
  assert_non_null(st);
  assert_false(store_connected(st));
  assert_non_null(strstr(store_errstr(st), "127.0.0.1:1"));
  mr_event ev = mk(1, 1, 1, 1);
  assert_int_equal(store_put_rating(st, &ev, NULL), MR_EIO);
  assert_int_equal(store_reconnect(st), MR_EIO);
  store_free(st);
  store_free(NULL);
}

static void test_put_rating_once(void **state) {
  (void)state;
  NEED_REDIS();
  store *st = open_store();
  assert_int_equal(raw_int("HSET mr:u:{42}:cache n=10 {}"), 1);
  mr_event ev = mk(42, 50, 4, 1764070000);
  int was_new = -1;
  assert_int_equal(store_put_rating(st, &ev, &was_new), MR_OK);
  assert_int_equal(was_new, 1);
  /* the same event again (a redelivery): a no-op */
  assert_int_equal(store_put_rating(st, &ev, &was_new), MR_OK);
  assert_int_equal(was_new, 0);
  long long stored;
  assert_int_equal(store_stats_stored(st, &stored), MR_OK);
  assert_int_equal(stored, 1);
  assert_int_equal(raw_int("HGET mr:movie:counts 50"), 1);
  assert_int_equal(raw_int("XLEN mr:events"), 1);
  assert_int_equal(raw_int("EXISTS mr:u:{42}:cache"), 0);
  char s[128];
  raw_str(s, sizeof(s), "HGET mr:u:{42}:ratings 50");
  assert_string_equal(s, "4:1764070000");
  long long ttl = raw_int("TTL mr:ev:{%s}", ev.event_id);
  assert_true(ttl > 604700 && ttl <= 604800);
  /* the stream entry carries the event's fields */
  redisReply *r = redisCommand(raw, "XRANGE mr:events - +");
  assert_non_null(r);
  assert_int_equal(r->elements, 1);
  redisReply *kv = r->element[0]->element[1];
  assert_int_equal(kv->elements, 10);
  assert_string_equal(kv->element[0]->str, "event_id");
  assert_string_equal(kv->element[1]->str, ev.event_id);
  assert_string_equal(kv->element[7]->str, "4");
  freeReplyObject(r);
  /* an invalid event is refused before Redis */
  mr_event bad = ev;
  bad.rating = 9;
  assert_int_equal(store_put_rating(st, &bad, &was_new), MR_EINVAL);
  store_free(st);
}

static void test_user_ratings(void **state) {
  (void)state;
  NEED_REDIS();
  store *st = open_store();
  mr_event a = mk(7, 10, 3, 100), b = mk(7, 20, 5, 300), c = mk(7, 10, 1, 200),
           d = mk(8, 10, 2, 50);
  assert_int_equal(store_put_rating(st, &a, NULL), MR_OK);
  assert_int_equal(store_put_rating(st, &b, NULL), MR_OK);
  assert_int_equal(store_put_rating(st, &c, NULL), MR_OK); /* re-rates movie 10 */
  assert_int_equal(store_put_rating(st, &d, NULL), MR_OK);
  store_rating *v = NULL;
  size_t n = 0;
  assert_int_equal(store_user_ratings(st, 7, &v, &n), MR_OK);
  assert_int_equal(n, 2);
  assert_int_equal(v[0].movie_id, 20); /* newest first */
  assert_int_equal(v[0].rating, 5);
  assert_int_equal(v[1].movie_id, 10);
  assert_int_equal(v[1].rating, 1); /* the latest rating of movie 10 */
  assert_int_equal(v[1].ts, 200);
  free(v);
  assert_int_equal(raw_int("HGET mr:movie:counts 10"), 3); /* every live rating counts */
  assert_int_equal(store_user_ratings(st, 999, &v, &n), MR_OK);
  assert_int_equal(n, 0);
  assert_null(v);
  store_free(st);
}

static int count_cb(const mr_event *ev, void *ud) {
  long *n = ud;
  (*n)++;
  assert_int_equal(ev->user_id, 5);
  return 0;
}

static int stop_cb(const mr_event *ev, void *ud) {
  (void)ev;
  long *n = ud;
  return ++*n == 3 ? 77 : 0;
}

static void test_events_since_pages(void **state) {
  (void)state;
  NEED_REDIS();
  store *st = open_store();
  /* more than one XRANGE page (5000) */
  for (int i = 0; i < 6100; i++) {
    mr_event ev = mk(5, 1 + i % 100, 1 + i % 5, 1000 + i);
    assert_int_equal(store_put_rating(st, &ev, NULL), MR_OK);
  }
  long n = 0;
  int64_t now = (int64_t)time(NULL);
  assert_int_equal(store_events_since(st, now - 60, count_cb, &n), MR_OK);
  assert_int_equal(n, 6100);
  n = 0;
  assert_int_equal(store_events_since(st, now + 3600, count_cb, &n), MR_OK);
  assert_int_equal(n, 0);
  n = 0;
  assert_int_equal(store_events_since(st, 0, stop_cb, &n), 77);
  assert_int_equal(n, 3);
  store_free(st);
}

static void test_evalsha_fallback(void **state) {
  (void)state;
  NEED_REDIS();
  store *st = open_store();
  mr_event a = mk(1, 1, 5, 10), b = mk(1, 2, 5, 11), c = mk(1, 3, 5, 12);
  assert_int_equal(store_put_rating(st, &a, NULL), MR_OK);
  redisReply *r = redisCommand(raw, "SCRIPT FLUSH");
  assert_non_null(r);
  freeReplyObject(r);
  int was_new = 0;
  assert_int_equal(store_put_rating(st, &b, &was_new), MR_OK); /* NOSCRIPT -> EVAL */
  assert_int_equal(was_new, 1);
  /* EVAL cached the script again: SCRIPT EXISTS of any cached script is now 1 */
  r = redisCommand(raw, "INFO memory");
  assert_non_null(r);
  assert_non_null(strstr(r->str, "number_of_cached_scripts:1"));
  freeReplyObject(r);
  assert_int_equal(store_put_rating(st, &c, &was_new), MR_OK);
  assert_int_equal(store_put_rating(st, &c, &was_new), MR_OK);
  assert_int_equal(was_new, 0);
  long long stored;
  assert_int_equal(store_stats_stored(st, &stored), MR_OK);
  assert_int_equal(stored, 3);
  store_free(st);
}

static void test_put_ratings_batch(void **state) {
  (void)state;
  NEED_REDIS();
  store *st = open_store();
  mr_event evs[6];
  for (int i = 0; i < 5; i++)
    evs[i] = mk(11, 100 + i, 1 + i, 500 + i);
  evs[5] = evs[2]; /* a duplicate inside the batch: stored once */
  int was_new[6];
  assert_int_equal(store_put_ratings(st, evs, 6, was_new), MR_OK);
  const int want[6] = {1, 1, 1, 1, 1, 0};
  assert_memory_equal(was_new, want, sizeof(want));
  /* the same batch again after the script cache was flushed: all NOSCRIPT, redone, no-ops */
  redisReply *r = redisCommand(raw, "SCRIPT FLUSH");
  assert_non_null(r);
  freeReplyObject(r);
  evs[5] = mk(11, 200, 5, 600); /* one new event among them */
  assert_int_equal(store_put_ratings(st, evs, 6, was_new), MR_OK);
  const int want2[6] = {0, 0, 0, 0, 0, 1};
  assert_memory_equal(was_new, want2, sizeof(want2));
  assert_int_equal(store_put_ratings(st, evs, 6, NULL), MR_OK);
  long long stored;
  assert_int_equal(store_stats_stored(st, &stored), MR_OK);
  assert_int_equal(stored, 6);
  assert_int_equal(raw_int("HLEN mr:u:{11}:ratings"), 6);
  assert_int_equal(raw_int("XLEN mr:events"), 6);
  assert_int_equal(store_put_ratings(st, evs, 0, NULL), MR_OK);
  evs[1].rating = 0; /* an invalid event refuses the whole batch before Redis */
  assert_int_equal(store_put_ratings(st, evs, 6, was_new), MR_EINVAL);
  assert_non_null(strstr(store_errstr(st), "invalid event 1"));
  store_free(st);
}

static void test_reconnect_after_restart(void **state) {
  (void)state;
  NEED_REDIS();
  store *st = open_store();
  mr_event a = mk(3, 1, 2, 10), b = mk(3, 2, 2, 11);
  assert_int_equal(store_put_rating(st, &a, NULL), MR_OK);
  redisFree(raw);
  raw = NULL;
  assert_int_equal(run_harness("restart"), 0); /* same port, empty (no AOF), no scripts */
  raw = redisConnect("127.0.0.1", port);
  assert_non_null(raw);
  assert_int_equal(store_put_rating(st, &b, NULL), MR_EIO);
  assert_true(strlen(store_errstr(st)) > 0);
  assert_false(store_connected(st));
  assert_int_equal(store_reconnect(st), MR_OK);
  int was_new = 0;
  assert_int_equal(store_put_rating(st, &b, &was_new), MR_OK);
  assert_int_equal(was_new, 1);
  long long stored;
  assert_int_equal(store_stats_stored(st, &stored), MR_OK);
  assert_int_equal(stored, 1);
  store_free(st);
}

static void test_db_number(void **state) {
  (void)state;
  NEED_REDIS();
  char u[160];
  snprintf(u, sizeof(u), "redis://127.0.0.1:%d/3", port);
  store *st = NULL;
  assert_int_equal(store_connect(u, 2000, &st, NULL, 0), MR_OK);
  assert_int_equal(store_set_trending(st, "{\"x\":1}"), MR_OK);
  char *j = NULL;
  assert_int_equal(store_get_trending(st, &j), MR_OK);
  assert_string_equal(j, "{\"x\":1}");
  free(j);
  assert_int_equal(raw_int("EXISTS mr:trending"), 0); /* db 0 untouched */
  store_free(st);
  st = open_store();
  assert_int_equal(store_get_trending(st, &j), MR_ENOTFOUND);
  assert_null(j);
  store_free(st);
}

static void test_trending_scores(void **state) {
  (void)state;
  NEED_REDIS();
  store *st = open_store();
  const int64_t now = 1000000;
  const double hl = 100;
  struct {
    int64_t movie, age;
  } evs[] = {
      {1, 0},    {1, 100}, {2, 200}, {2, 200}, {2, 200}, /* 1: 1 + 0.5; 2: 3 * 0.25 */
      {3, 1001},                                         /* outside the 1000 s window */
      {4, -50},                                          /* after now (skew): age 0 -> 1 */
      {5, 100},  {6, 100},                               /* a tie at 0.5: lower id first */
      {7, 1000},                                         /* at the window's edge: counted */
  };
  for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
    mr_event ev = mk(9, evs[i].movie, 3, now - evs[i].age);
    assert_int_equal(store_put_rating(st, &ev, NULL), MR_OK);
  }
  trending_item *items = NULL;
  size_t n = 0;
  long events = 0;
  assert_int_equal(trending_compute(st, now, 1000, hl, 5, &items, &n, &events), MR_OK);
  assert_int_equal(events, 9);
  assert_int_equal(n, 5);
  const struct {
    int64_t movie;
    double score;
  } want[] = {{1, 1.5}, {4, 1.0}, {2, 0.75}, {5, 0.5}, {6, 0.5}};
  for (size_t i = 0; i < 5; i++) {
    assert_int_equal(items[i].movie_id, want[i].movie);
    assert_true(fabs(items[i].score - want[i].score) < 1e-12);
  }
  char *json = NULL;
  assert_int_equal(trending_format(items, n, now, 1000, hl, &json), MR_OK);
  json_error_t jerr;
  json_t *root = json_loads(json, 0, &jerr);
  assert_non_null(root);
  assert_int_equal(json_integer_value(json_object_get(root, "updated_at")), now);
  assert_int_equal(json_integer_value(json_object_get(root, "window_s")), 1000);
  assert_true(json_real_value(json_object_get(root, "half_life_s")) == 100.0);
  json_t *arr = json_object_get(root, "items");
  assert_int_equal(json_array_size(arr), 5);
  assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 2), "movie_id")), 2);
  assert_true(fabs(json_real_value(json_object_get(json_array_get(arr, 2), "score")) - 0.75) <
              1e-9);
  json_decref(root);
  free(json);
  free(items);
  /* the 7th movie (weight 2^-10) is in the full list */
  assert_int_equal(trending_compute(st, now, 1000, hl, 50, &items, &n, &events), MR_OK);
  assert_int_equal(n, 6);
  assert_int_equal(items[5].movie_id, 7);
  assert_true(fabs(items[5].score - 1.0 / 1024) < 1e-15);
  free(items);
  assert_int_equal(trending_compute(st, now, 0, hl, 5, &items, &n, &events), MR_EINVAL);
  store_free(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_url_and_connect_errors),
      cmocka_unit_test_setup(test_put_rating_once, flush),
      cmocka_unit_test_setup(test_user_ratings, flush),
      cmocka_unit_test_setup(test_events_since_pages, flush),
      cmocka_unit_test_setup(test_evalsha_fallback, flush),
      cmocka_unit_test_setup(test_put_ratings_batch, flush),
      cmocka_unit_test_setup(test_db_number, flush),
      cmocka_unit_test_setup(test_trending_scores, flush),
      cmocka_unit_test_setup(test_reconnect_after_restart, flush),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
