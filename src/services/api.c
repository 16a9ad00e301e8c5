/* `movierec api`: recommendations, sections, movies, user ratings, health, metrics and the UI,
 * over the serving core, with Redis (live ratings, response cache, trending) reached through
 * one asynchronous connection per loop thread; when Redis is down the API answers degraded. */
#include "services/api.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/mr_error.h"
#include "services/api_buf.h"
#include "services/api_catalog.h"
#include "services/api_models.h"
#include "services/api_redis.h"
#include "services/http.h"

#define API_SECTION_N 10
#define API_MAX_N 100
#define API_MAX_Q 200
#define API_MAX_LIVE 100000
/* every computed body starts with this, so a cached copy is relabelled by swapping the prefix */
#define API_COMPUTED "{\"source\":\"computed\","
#define API_CACHED "{\"source\":\"cache\","
/* A cached recommendation list is stored compact, "C1:" then "movie_index,score_text;" per item
 * (~1.2 KB for 100 items instead of ~10 KB of JSON), and rendered again from the catalogue on a
 * hit: storing the JSON bodies grew Redis by ~70 MB/s under the uncached benchmark, and zeroing
 * those fresh pages plus copying the bodies cost more than rendering 10-100 items. Sections are
 * stored as their JSON body. */
#define API_COMPACT "C1:"

/* Per loop thread: its Redis connection and lock-free counters (summed by /metrics). */
typedef struct api_loop {
  api *a;
  api_redis *redis;
  _Atomic uint64_t cache_hits, cache_misses, degraded, live_skipped;
} api_loop;

struct api {
  http_server *srv;
  apim *models;         /* the served version, swapped at run time */
  const mr_dataset *ds; /* the first version's: the catalogue (movies never change) */
  api_catalog *cat;
  char *redis_url;
  unsigned redis_timeout_ms;
  char *web_dir;
  char *config_js;
  int ttl;
  /* MOVIEREC_TEST_CACHE_WRITE_DELAY_MS (tests only): hold each cache write back this long, so a
   * test can store a rating between a request's read and its write */
  int test_cache_delay_ms;
  int pool_recs; /* 1: single lists go to the thread pool too */
  int n_loops;
  api_loop *loops;
};

typedef enum api_kind { API_RECS, API_SECTIONS, API_RATINGS, API_HEALTH } api_kind;

/* One request waiting on Redis; freed right after its response is sent. */
typedef struct api_ctx {
  http_req *req;
  api *a;
  apim_model *mm; /* the version this request is computed with, held until it is freed */
  api_loop *L;
  api_kind kind;
  int32_t uid;
  int n;
  uint32_t mask;
  reco_ranker ranker; /* ?ranker=: the personalized list's stage-2 ranker */
  int pending;        /* Redis replies still expected (+1 while commands are being queued) */
  int answered;       /* a cache hit was sent: the other replies are only waited for */
  int degraded;
  char key[64];    /* mr:u:{UID}:cache */
  char field[512]; /* the cache field: model version + request variant */
  reco_rating *live;
  int n_live;
  /* what the ratings hash held when read (field count, newest TS): the computed body is cached
   * only if the hash still holds that, so a rating stored while we computed is not hidden
   * behind a stale cache entry */
  long long seen_fields, seen_max_ts;
  char *trending;
  size_t trending_len;
  uv_work_t work; /* computing on the thread pool */
  api_buf body;
  api_buf compact; /* the list in the cache's compact form (API_COMPACT), for API_RECS */
  int rc;
} api_ctx;

/* ---- small helpers ------------------------------------------------------------------- */

/* Logs at most once per second per message class (a dead Redis must not flood stderr). */
static void api_log_limited(_Atomic int64_t *last, const char *fmt, const char *arg) {
  int64_t now = (int64_t)time(NULL);
  int64_t prev = atomic_load_explicit(last, memory_order_relaxed);
  if (now == prev || !atomic_compare_exchange_strong(last, &prev, now))
    return;
  fprintf(stderr, fmt, arg);
}
static _Atomic int64_t api_last_degraded_log, api_last_live_log;

static void api_count(_Atomic uint64_t *c) {
  atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* Strict positive 32-bit id: digits only, 1..2^31-1. */
static int api_parse_id(const char *s, int32_t *out) {
  if (!s || !*s)
    return MR_EINVAL;
  long long v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9' || p - s >= 10)
      return MR_EINVAL;
    v = v * 10 + (*p - '0');
  }
  if (v < 1 || v > 2147483647LL)
    return MR_EINVAL;
  *out = (int32_t)v;
  return MR_OK;
}

/* Optional integer query parameter in [lo, hi] (absent -> dflt). */
static int api_query_int(http_req *req, const char *name, int lo, int hi, int dflt, int *out) {
  const char *s = http_req_query(req, name);
  if (!s) {
    *out = dflt;
    return MR_OK;
  }
  int32_t v;
  if (api_parse_id(s, &v) || v < lo || v > hi)
    return MR_EINVAL;
  *out = v;
  return MR_OK;
}

static api_loop *api_req_loop(http_req *req) {
  return http_loop_data(http_req_loop(req));
}

static void api_ctx_free(api_ctx *c) {
  if (!c)
    return;
  apim_put(c->mm);
  free(c->live);
  free(c->trending);
  api_buf_free(&c->body);
  api_buf_free(&c->compact);
  free(c);
}

static void api_send_buf(http_req *req, api_buf *b) {
  if (b->oom)
    http_send_error(req, 500, "out of memory");
  else
    http_send(req, 200, "application/json", b->p, b->len);
}

static void api_note_degraded(api_ctx *c) {
  if (c->degraded)
    return;
  c->degraded = 1;
  api_count(&c->L->degraded);
  api_log_limited(&api_last_degraded_log,
                  "api: redis unavailable: answering without cache/live ratings (degraded)%s\n",
                  "");
}

/* ---- building responses -------------------------------------------------------------- */

static void api_items(api *a, api_buf *b, const reco_item *it, int n) {
  api_buf_putc(b, '[');
  for (int i = 0; i < n; i++) {
    if (i)
      api_buf_putc(b, ',');
    api_catalog_item(a->cat, b, it[i].movie, it[i].score);
  }
  api_buf_putc(b, ']');
}

static void api_head(api_ctx *c, api_buf *b, int cached) {
  api_buf_puts(b, cached ? API_CACHED : API_COMPUTED);
  if (c->degraded)
    api_buf_puts(b, "\"degraded\":true,");
  api_buf_printf(b, "\"user_id\":%d,\"model_version\":", (int)c->uid);
  api_buf_json_str(b, reco_version(apim_reco(c->mm)));
  if (c->ranker != RECO_RANKER_DEFAULT)
    api_buf_puts(b,
                 c->ranker == RECO_RANKER_CROSS ? ",\"ranker\":\"cross\"" : ",\"ranker\":\"ltr\"");
}

/* Marks every movie the user rated (base and live) in seen[n_movies]. */
static void api_mark_rated(api_ctx *c, uint8_t *seen) {
  const int32_t *mv;
  const float *rt;
  const int64_t *ts;
  int n = 0;
  const reco *r = apim_reco(c->mm);
  reco_base_history(r, ds_user_index(reco_dataset(r), c->uid), &mv, &rt, &ts, &n);
  for (int i = 0; i < n; i++)
    if (mv[i] >= 0 && mv[i] < c->a->ds->n_movies)
      seen[mv[i]] = 1;
  for (int i = 0; i < c->n_live; i++)
    seen[c->live[i].movie] = 1;
}

/* The trending section from mr:trending's JSON, minus movies the user rated. */
static int api_trending(api_ctx *c, reco_item *out, int max) {
  if (!c->trending)
    return 0;
  const mr_dataset *ds = c->a->ds;
  json_error_t jerr;
  json_t *root = json_loadb(c->trending, c->trending_len, 0, &jerr);
  json_t *items = root ? json_object_get(root, "items") : NULL;
  uint8_t *seen = calloc((size_t)ds->n_movies, 1);
  int k = 0;
  if (!json_is_array(items) || !seen) {
    if (!root)
      api_log_limited(&api_last_live_log, "api: mr:trending is not valid JSON: %s\n", jerr.text);
    goto done;
  }
  api_mark_rated(c, seen);
  size_t i;
  json_t *it;
  json_array_foreach(items, i, it) {
    if (k >= max)
      break;
    json_t *mid = json_object_get(it, "movie_id");
    if (!json_is_integer(mid))
      continue;
    json_int_t id = json_integer_value(mid);
    int32_t m = id > 0 && id <= INT32_MAX ? ds_movie_index(ds, (int32_t)id) : -1;
    if (m < 0 || seen[m])
      continue;
    seen[m] = 1;
    out[k].movie = m;
    out[k].score = (float)json_number_value(json_object_get(it, "score"));
    k++;
  }
done:
  free(seen);
  json_decref(root);
  return k;
}

static void api_section(api_ctx *c, api_buf *b, const char *name, const char *title,
                        reco_section sec, int first) {
  reco_item it[API_SECTION_N];
  int n = 0;
  if (!first)
    api_buf_putc(b, ',');
  api_buf_puts(b, "{\"name\":");
  api_buf_json_str(b, name);
  api_buf_puts(b, ",\"title\":");
  api_buf_json_str(b, title);
  if (!strcmp(name, "trending")) {
    n = api_trending(c, it, API_SECTION_N);
  } else {
    uint32_t mask = sec == RECO_GENRE ? c->mask : 0;
    int rc = reco_recommend_ranked(apim_reco(c->mm), c->uid, c->live, c->n_live, sec, mask,
                                   c->ranker, API_SECTION_N, it, &n);
    if (rc) {
      fprintf(stderr, "api: user %d: section %s failed: %s\n", (int)c->uid, name, mr_strerror(rc));
      n = 0;
    }
  }
  if (sec == RECO_GENRE && c->mask) {
    api_buf_puts(b, ",\"genres\":");
    api_catalog_genres(c->a->cat, b, c->mask);
  }
  api_buf_puts(b, ",\"items\":");
  api_items(c->a, b, it, n);
  api_buf_putc(b, '}');
}

/* Run after the HSET inside the cache write's MULTI/EXEC: takes the body back out unless the
 * ratings hash still has the field count (ARGV[2]) and newest timestamp (ARGV[3]) the request
 * read. The body itself never enters Lua: Redis' Lua hashes every byte of a string argument,
 * which for 10 KB bodies was ~4% of the machine under the uncached benchmark. (The consumer's DEL
 * of the cache may come while a body is computed: storing it then would pin a body without the
 * new rating for the whole TTL.) */
static const char api_cache_lua[] = "if redis.call('HLEN', KEYS[2]) == tonumber(ARGV[2]) then\n"
                                    "  local mx = 0\n"
                                    "  for _, v in ipairs(redis.call('HVALS', KEYS[2])) do\n"
                                    "    local t = tonumber(string.match(v, ':(%d+)$')) or 0\n"
                                    "    if t > mx then mx = t end\n"
                                    "  end\n"
                                    "  if mx == tonumber(ARGV[3]) then return 1 end\n"
                                    "end\n"
                                    "redis.call('HDEL', KEYS[1], ARGV[1])\n"
                                    "return 0\n";

/* The newest "RATING:TS" timestamp, as the Lua above reads it (0 when absent). */
static long long api_live_ts(const char *v, size_t len) {
  size_t i = len;
  while (i > 0 && v[i - 1] >= '0' && v[i - 1] <= '9')
    i--;
  if (i == len || i == 0 || v[i - 1] != ':' || len - i > 18)
    return 0;
  long long t = 0;
  for (size_t k = i; k < len; k++)
    t = t * 10 + (v[k] - '0');
  return t;
}

/* Stores a computed body in the user's cache hash (fire and forget): MULTI, HSET, EXPIRE, the
 * check above, EXEC. The transaction makes store-and-check atomic, so no reader ever sees a body
 * computed from ratings older than the hash's; the five commands are queued in one go on this
 * loop's connection, so no other request's command lands inside the transaction. nf and mx are
 * the field count and newest timestamp the request read from the ratings hash. */
static void api_cache_write(api_redis *r, int ttl_s, int32_t uid, const char *key,
                            const char *field, const char *body, size_t len, long long nf_read,
                            long long mx_read) {
  if (!api_redis_up(r))
    return;
  char ttl[32], rkey[64], nf[32], mx[32];
  snprintf(ttl, sizeof(ttl), "%d", ttl_s);
  snprintf(rkey, sizeof(rkey), "mr:u:{%d}:ratings", (int)uid);
  snprintf(nf, sizeof(nf), "%lld", nf_read);
  snprintf(mx, sizeof(mx), "%lld", mx_read);
  const char *multi[] = {"MULTI"}, *exec[] = {"EXEC"}, *discard[] = {"DISCARD"};
  size_t multi_len[] = {5}, exec_len[] = {4}, discard_len[] = {7};
  const char *hset[] = {"HSET", key, field, body};
  size_t hset_len[] = {4, strlen(key), strlen(field), len};
  const char *expire[] = {"EXPIRE", key, ttl};
  size_t expire_len[] = {6, strlen(key), strlen(ttl)};
  const char *check[] = {"EVAL", api_cache_lua, "2", key, rkey, field, nf, mx};
  size_t check_len[] = {
      4,         sizeof(api_cache_lua) - 1, 1, strlen(key), strlen(rkey), strlen(field), strlen(nf),
      strlen(mx)};
  if (api_redis_cmd(r, NULL, NULL, 1, multi, multi_len))
    return;
  if (api_redis_cmd(r, NULL, NULL, 4, hset, hset_len) ||
      api_redis_cmd(r, NULL, NULL, 3, expire, expire_len) ||
      api_redis_cmd(r, NULL, NULL, 8, check, check_len)) {
    api_redis_cmd(r, NULL, NULL, 1, discard, discard_len);
    return;
  }
  api_redis_cmd(r, NULL, NULL, 1, exec, exec_len);
}

/* A cache write held back by the test hook. */
typedef struct api_delayed_write {
  uv_timer_t timer;
  api_redis *redis;
  int ttl;
  int32_t uid;
  long long nf, mx;
  char key[64], field[512];
  size_t len;
  char body[];
} api_delayed_write;

static void api_delayed_free(uv_handle_t *h) {
  free(h->data);
}

static void api_delayed_fire(uv_timer_t *t) {
  api_delayed_write *w = t->data;
  api_cache_write(w->redis, w->ttl, w->uid, w->key, w->field, w->body, w->len, w->nf, w->mx);
  uv_close((uv_handle_t *)&w->timer, api_delayed_free);
}

static void api_cache_store(api_ctx *c, const api_buf *b) {
  if (c->degraded)
    return;
  if (c->a->test_cache_delay_ms <= 0) {
    api_cache_write(c->L->redis, c->a->ttl, c->uid, c->key, c->field, b->p, b->len, c->seen_fields,
                    c->seen_max_ts);
    return;
  }
  api_delayed_write *w = malloc(sizeof(*w) + b->len + 1);
  if (!w)
    return;
  w->redis = c->L->redis;
  w->ttl = c->a->ttl;
  w->uid = c->uid;
  w->nf = c->seen_fields;
  w->mx = c->seen_max_ts;
  snprintf(w->key, sizeof(w->key), "%s", c->key);
  snprintf(w->field, sizeof(w->field), "%s", c->field);
  w->len = b->len;
  memcpy(w->body, b->p, b->len);
  w->body[b->len] = '\0';
  w->timer.data = w;
  uv_loop_t *loop = http_loop_uv(http_req_loop(c->req));
  if (uv_timer_init(loop, &w->timer)) {
    free(w);
    return;
  }
  uv_timer_start(&w->timer, api_delayed_fire, (uint64_t)c->a->test_cache_delay_ms, 0);
}

/* Builds the body of c into c->body and its compact cache form into c->compact (worker thread:
 * touches neither the request nor Redis). */
static void api_build_recs(api_ctx *c) {
  reco_item it[API_MAX_N];
  int n = 0;
  c->rc = reco_recommend_ranked(apim_reco(c->mm), c->uid, c->live, c->n_live, RECO_PERSONALIZED, 0,
                                c->ranker, c->n, it, &n);
  if (c->rc)
    return;
  api_buf_grow(&c->body, 512 + (size_t)n * 256); /* movie objects run ~150-250 bytes */
  api_buf_grow(&c->compact, 16 + (size_t)n * 24);
  api_head(c, &c->body, 0);
  api_buf_puts(&c->body, ",\"items\":[");
  api_buf_puts(&c->compact, API_COMPACT);
  for (int i = 0; i < n; i++) {
    char num[API_NUM_TEXT]; /* one score's text, written once for both forms */
    size_t len = api_json_num_text(it[i].score, num);
    if (i)
      api_buf_putc(&c->body, ',');
    api_catalog_item_text(c->a->cat, &c->body, it[i].movie, num, len);
    api_buf_int(&c->compact, it[i].movie);
    api_buf_putc(&c->compact, ',');
    api_buf_put(&c->compact, num, len);
    api_buf_putc(&c->compact, ';');
  }
  api_buf_puts(&c->body, "]}");
}

/* Renders a compact cached list (after API_COMPACT) as the response body; -1 when the value is
 * malformed (then it is treated as a miss and recomputed). */
static int api_render_compact(api_ctx *c, const char *v, size_t len, api_buf *b) {
  const int32_t n_movies = c->a->ds->n_movies;
  api_head(c, b, 1);
  api_buf_puts(b, ",\"items\":[");
  size_t i = 0;
  int k = 0;
  while (i < len) {
    long m = 0;
    size_t s = i;
    while (i < len && v[i] >= '0' && v[i] <= '9' && i - s < 9)
      m = m * 10 + (v[i++] - '0');
    if (i == s || i >= len || v[i] != ',' || m >= n_movies)
      return -1;
    size_t st = ++i;
    while (i < len && v[i] != ';')
      i++;
    if (i >= len || i == st || i - st > 32)
      return -1;
    if (k++)
      api_buf_putc(b, ',');
    api_catalog_item_text(c->a->cat, b, (int32_t)m, v + st, i - st);
    i++;
  }
  api_buf_puts(b, "]}");
  return b->oom ? -1 : 0;
}

static void api_build_sections(api_ctx *c) {
  api_buf *b = &c->body;
  api_head(c, b, 0);
  api_buf_puts(b, ",\"sections\":[");
  api_section(c, b, "personalized", "Recommended for you", RECO_PERSONALIZED, 1);
  api_section(c, b, "trending", "Trending now", RECO_POPULAR, 0);
  api_section(c, b, "hidden_gems", "Hidden gems", RECO_HIDDEN_GEMS, 0);
  api_section(c, b, "genre", c->mask ? "Top picks in your genres" : "Because you like these genres",
              RECO_GENRE, 0);
  api_buf_puts(b, "]}");
}

/* The model's work for a sections page (four lists) runs on libuv's thread pool, so it does not
 * stall the loop's other requests (cache hits, health); a single list runs on the loop unless
 * pool_recs says otherwise. */
static void api_work(uv_work_t *w) {
  api_ctx *c = w->data;
  if (c->kind == API_RECS)
    api_build_recs(c);
  else
    api_build_sections(c);
}

/* Back on the loop thread: cache the body, answer, free the request's state. */
static void api_after_work(uv_work_t *w, int status) {
  api_ctx *c = w->data;
  if (status || c->rc) {
    int rc = status ? MR_EIO : c->rc;
    fprintf(stderr, "api: user %d: recommend failed: %s\n", (int)c->uid, mr_strerror(rc));
    http_send_error(c->req, 500, "recommendation failed: %s", mr_strerror(rc));
  } else {
    const api_buf *cached = c->kind == API_RECS ? &c->compact : &c->body;
    if (!c->body.oom && !cached->oom && cached->len)
      api_cache_store(c, cached);
    api_send_buf(c->req, &c->body);
  }
  api_ctx_free(c);
}

static void api_compute(api_ctx *c) {
  c->work.data = c;
  if (c->kind == API_RECS && !c->a->pool_recs && c->ranker != RECO_RANKER_CROSS) {
    /* one list costs ~0.1-0.3 ms: cheaper on the loop than two thread hand-offs (the cross
     * ranker's ~0.4 ms goes to the pool, bench/RESULTS.md) */
    api_work(&c->work);
    api_after_work(&c->work, 0);
    return;
  }
  uv_loop_t *loop = http_loop_uv(http_req_loop(c->req));
  if (uv_queue_work(loop, &c->work, api_work, api_after_work)) {
    api_work(&c->work); /* cannot happen with a valid loop; answer anyway */
    api_after_work(&c->work, 0);
  }
}

typedef struct api_rated {
  int32_t movie;
  float rating;
  int64_t ts;
  int live;
} api_rated;

static int api_rated_cmp(const void *x, const void *y) {
  const api_rated *a = x, *b = y;
  if (a->ts != b->ts)
    return a->ts > b->ts ? -1 : 1;
  return (a->movie > b->movie) - (a->movie < b->movie);
}

/* Base history + live ratings (live wins for the same movie), newest first. */
static void api_respond_ratings(api_ctx *c) {
  const mr_dataset *ds = c->a->ds;
  const int32_t *mv;
  const float *rt;
  const int64_t *ts;
  int nb = 0;
  const reco *r = apim_reco(c->mm);
  reco_base_history(r, ds_user_index(reco_dataset(r), c->uid), &mv, &rt, &ts, &nb);
  api_rated *all = malloc(((size_t)nb + (size_t)c->n_live + 1) * sizeof(*all));
  uint8_t *live = calloc((size_t)ds->n_movies, 1);
  if (!all || !live) {
    free(all);
    free(live);
    http_send_error(c->req, 500, "out of memory");
    return;
  }
  int k = 0;
  for (int i = 0; i < c->n_live; i++) {
    live[c->live[i].movie] = 1;
    all[k++] = (api_rated){c->live[i].movie, c->live[i].rating, c->live[i].ts, 1};
  }
  for (int i = 0; i < nb; i++)
    if (mv[i] >= 0 && mv[i] < ds->n_movies && !live[mv[i]])
      all[k++] = (api_rated){mv[i], rt[i], ts[i], 0};
  qsort(all, (size_t)k, sizeof(*all), api_rated_cmp);
  api_buf b;
  api_buf_init(&b);
  api_buf_printf(&b, "{\"user_id\":%d,", (int)c->uid);
  if (c->degraded)
    api_buf_puts(&b, "\"degraded\":true,");
  api_buf_printf(&b, "\"count\":%d,\"items\":[", k);
  for (int i = 0; i < k; i++) {
    const mr_movie *m = &ds->movies[all[i].movie];
    api_buf_printf(&b, "%s{\"movie_id\":%d,\"title\":", i ? "," : "", (int)m->id);
    api_buf_json_str(&b, m->title);
    api_buf_printf(&b, ",\"year\":%d,\"rating\":", m->year);
    api_buf_json_num(&b, all[i].rating);
    api_buf_printf(&b, ",\"ts\":%lld,\"source\":\"%s\"}", (long long)all[i].ts,
                   all[i].live ? "live" : "base");
  }
  api_buf_puts(&b, "]}");
  api_send_buf(c->req, &b);
  api_buf_free(&b);
  free(all);
  free(live);
}

/* Computes and sends the response of c, then frees c. */
static void api_finish(api_ctx *c) {
  switch (c->kind) {
  case API_RECS:
  case API_SECTIONS:
    api_compute(c); /* frees c when done */
    return;
  case API_RATINGS:
    api_respond_ratings(c);
    break;
  case API_HEALTH:
    break;
  }
  api_ctx_free(c);
}

static void api_settle(api_ctx *c) {
  if (--c->pending)
    return;
  if (c->answered)
    api_ctx_free(c);
  else
    api_finish(c);
}

/* ---- Redis steps --------------------------------------------------------------------- */

/* Parses "RATING:TS" strictly. */
static int api_parse_live(const char *v, size_t len, float *rating, int64_t *ts) {
  char tmp[64];
  if (len == 0 || len >= sizeof(tmp))
    return MR_EINVAL;
  memcpy(tmp, v, len);
  tmp[len] = '\0';
  char *end;
  double r = strtod(tmp, &end);
  if (end == tmp || *end != ':' || !(r >= 0.5 && r <= 5.0))
    return MR_EINVAL;
  char *t = end + 1, *tend;
  long long s = strtoll(t, &tend, 10);
  if (tend == t || *tend || s < 0)
    return MR_EINVAL;
  *rating = (float)r;
  *ts = s;
  return MR_OK;
}

static void api_on_ratings(redisReply *rep, void *arg) {
  api_ctx *c = arg;
  if (c->answered) { /* read together with the cache, which hit */
    api_settle(c);
    return;
  }
  if (!rep || rep->type != REDIS_REPLY_ARRAY) {
    api_note_degraded(c);
    api_settle(c);
    return;
  }
  size_t pairs = rep->elements / 2;
  c->seen_fields = (long long)pairs;
  for (size_t i = 0; i < pairs; i++) {
    redisReply *v = rep->element[2 * i + 1];
    long long t = v->type == REDIS_REPLY_STRING ? api_live_ts(v->str, v->len) : 0;
    c->seen_max_ts = t > c->seen_max_ts ? t : c->seen_max_ts;
  }
  if (pairs > API_MAX_LIVE)
    pairs = API_MAX_LIVE;
  if (pairs && !(c->live = malloc(pairs * sizeof(*c->live)))) {
    api_note_degraded(c);
    api_settle(c);
    return;
  }
  for (size_t i = 0; i < pairs; i++) {
    redisReply *f = rep->element[2 * i], *v = rep->element[2 * i + 1];
    int32_t id;
    float r;
    int64_t ts;
    int32_t m = -1;
    if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING && f->len < 16 &&
        !api_parse_id(f->str, &id) && !api_parse_live(v->str, v->len, &r, &ts))
      m = ds_movie_index(c->a->ds, id);
    if (m < 0) {
      api_count(&c->L->live_skipped);
      char uid[16];
      snprintf(uid, sizeof(uid), "%d", (int)c->uid);
      api_log_limited(&api_last_live_log,
                      "api: skipping a malformed live rating (or unknown movie) of user %s\n", uid);
      continue;
    }
    c->live[c->n_live++] = (reco_rating){m, r, ts};
  }
  api_settle(c);
}

static void api_on_trending(redisReply *rep, void *arg) {
  api_ctx *c = arg;
  if (c->answered)
    ;
  else if (!rep)
    api_note_degraded(c);
  else if (rep->type == REDIS_REPLY_STRING && (c->trending = malloc(rep->len + 1))) {
    memcpy(c->trending, rep->str, rep->len);
    c->trending[rep->len] = '\0';
    c->trending_len = rep->len;
  }
  api_settle(c);
}

/* Queues the reads of the live ratings (and trending for sections), one pending reply each. */
static void api_queue_reads(api_ctx *c) {
  char key[64];
  snprintf(key, sizeof(key), "mr:u:{%d}:ratings", (int)c->uid);
  if (!c->degraded) {
    const char *argv[] = {"HGETALL", key};
    size_t len[] = {7, strlen(key)};
    if (api_redis_cmd(c->L->redis, api_on_ratings, c, 2, argv, len))
      api_note_degraded(c);
    else
      c->pending++;
  }
  if (c->kind == API_SECTIONS && !c->degraded) {
    const char *argv[] = {"GET", "mr:trending"};
    size_t len[] = {3, 11};
    if (api_redis_cmd(c->L->redis, api_on_trending, c, 2, argv, len))
      api_note_degraded(c);
    else
      c->pending++;
  }
}

/* Fetches the live ratings (and trending for sections), then finishes. */
static void api_fetch(api_ctx *c) {
  c->pending = 1;
  api_queue_reads(c);
  api_settle(c);
}

static void api_on_cache(redisReply *rep, void *arg) {
  api_ctx *c = arg;
  size_t plen = strlen(API_COMPUTED), cplen = strlen(API_COMPACT);
  if (rep && rep->type == REDIS_REPLY_STRING && c->kind == API_RECS && rep->len >= cplen &&
      !memcmp(rep->str, API_COMPACT, cplen)) {
    api_buf b;
    api_buf_init(&b);
    if (!api_render_compact(c, rep->str + cplen, rep->len - cplen, &b)) {
      api_count(&c->L->cache_hits);
      http_send(c->req, 200, "application/json", b.p, b.len);
      api_buf_free(&b);
      c->answered = 1;
      api_settle(c);
      return;
    }
    api_buf_free(&b); /* malformed: recompute (and overwrite it) */
  }
  if (rep && rep->type == REDIS_REPLY_STRING && rep->len > plen &&
      !memcmp(rep->str, API_COMPUTED, plen)) {
    api_count(&c->L->cache_hits);
    size_t clen = strlen(API_CACHED);
    char small[8192];
    size_t total = clen + rep->len - plen;
    char *out = total <= sizeof(small) ? small : malloc(total);
    if (!out) {
      http_send_error(c->req, 500, "out of memory");
    } else {
      memcpy(out, API_CACHED, clen);
      memcpy(out + clen, rep->str + plen, rep->len - plen);
      http_send(c->req, 200, "application/json", out, total);
      if (out != small)
        free(out);
    }
    c->answered = 1;
    api_settle(c);
    return;
  }
  if (!rep)
    api_note_degraded(c);
  else
    api_count(&c->L->cache_misses);
  api_settle(c);
}

/* Starts a cached request: cache lookup, else live ratings, else degraded computation. */
static void api_begin(api_ctx *c) {
  snprintf(c->key, sizeof(c->key), "mr:u:{%d}:cache", (int)c->uid);
  if (!api_redis_up(c->L->redis)) {
    api_note_degraded(c);
    api_fetch(c);
    return;
  }
  if (c->kind == API_RATINGS) {
    api_fetch(c);
    return;
  }
  /* the cache and the live ratings in one round trip: a miss (the case that costs) needs both,
   * a hit only pays for reading a small hash it does not use */
  const char *argv[] = {"HGET", c->key, c->field};
  size_t len[] = {4, strlen(c->key), strlen(c->field)};
  c->pending = 1;
  if (api_redis_cmd(c->L->redis, api_on_cache, c, 3, argv, len))
    api_note_degraded(c);
  else
    c->pending++;
  api_queue_reads(c);
  api_settle(c);
}

static api_ctx *api_ctx_new(http_req *req, void *user, api_kind kind) {
  api_ctx *c = calloc(1, sizeof(*c));
  if (!c) {
    http_send_error(req, 500, "out of memory");
    return NULL;
  }
  c->req = req;
  c->a = user;
  c->mm = apim_get(c->a->models);
  c->L = api_req_loop(req);
  c->kind = kind;
  return c;
}

/* ---- handlers ------------------------------------------------------------------------ */

static int api_user_param(http_req *req, const char *name, int32_t *uid) {
  if (api_parse_id(http_req_param(req, name), uid)) {
    http_send_error(req, 400, "user id must be an integer between 1 and 2147483647");
    return -1;
  }
  return 0;
}

/* ?ranker=ltr|cross (absent: the version's default). Sends 400 for another value and 503 when
 * the loaded version lacks that ranker. */
static int api_ranker_param(http_req *req, const reco *r, reco_ranker *out) {
  const char *s = http_req_query(req, "ranker");
  *out = RECO_RANKER_DEFAULT;
  if (!s)
    return 0;
  if (!strcmp(s, "ltr"))
    *out = RECO_RANKER_LTR;
  else if (!strcmp(s, "cross"))
    *out = RECO_RANKER_CROSS;
  else {
    http_send_error(req, 400, "ranker must be ltr or cross");
    return -1;
  }
  if (!reco_has_ranker(r, *out)) {
    http_send_error(req, 503, "model version %s has no %s ranker (retrain with movierec train)",
                    reco_version(r), s);
    return -1;
  }
  return 0;
}

/* The cache field suffix of a ranker choice ("" for the default, so old entries stay valid). */
static const char *api_ranker_field(reco_ranker r) {
  return r == RECO_RANKER_CROSS ? ":r=cross" : r == RECO_RANKER_LTR ? ":r=ltr" : "";
}

static void api_h_recs(http_req *req, void *user) {
  int32_t uid;
  int n;
  reco_ranker ranker;
  if (api_user_param(req, "user_id", &uid))
    return;
  if (api_query_int(req, "n", 1, API_MAX_N, 10, &n)) {
    http_send_error(req, 400, "n must be an integer between 1 and %d", API_MAX_N);
    return;
  }
  api_ctx *c = api_ctx_new(req, user, API_RECS);
  if (!c)
    return;
  if (api_ranker_param(req, apim_reco(c->mm), &ranker)) {
    api_ctx_free(c);
    return;
  }
  c->uid = uid;
  c->n = n;
  c->ranker = ranker;
  /* the version is part of the field: a swap never serves another version's cached body */
  snprintf(c->field, sizeof(c->field), "%s|n=%d%s", reco_version(apim_reco(c->mm)), n,
           api_ranker_field(ranker));
  api_begin(c);
}

static void api_h_sections(http_req *req, void *user) {
  api *a = user;
  int32_t uid;
  uint32_t mask = 0;
  if (api_user_param(req, "user_id", &uid))
    return;
  const char *g = http_req_query(req, "genres");
  if (g && strlen(g) > 512) {
    http_send_error(req, 400, "genres: list too long");
    return;
  }
  api_ctx *c = api_ctx_new(req, user, API_SECTIONS);
  if (!c)
    return;
  if (g && *g) {
    char err[256] = "";
    if (reco_parse_genres(apim_reco(c->mm), g, &mask, err, sizeof(err))) {
      http_send_error(req, 400, "genres: %s", *err ? err : "unknown genre");
      api_ctx_free(c);
      return;
    }
  }
  reco_ranker ranker;
  if (api_ranker_param(req, apim_reco(c->mm), &ranker)) {
    api_ctx_free(c);
    return;
  }
  c->uid = uid;
  c->mask = mask;
  c->ranker = ranker;
  /* canonical genre order, so "comedy,action" and "Action,Comedy" share one cache entry; the
   * version first, so a swap never serves another version's cached body */
  size_t off = (size_t)snprintf(c->field, sizeof(c->field), "%s|sections%s",
                                reco_version(apim_reco(c->mm)), api_ranker_field(ranker));
  for (int i = 0, first = 1; mask && i < a->ds->n_genres && i < 32; i++)
    if (mask & (1u << i)) {
      off += (size_t)snprintf(c->field + off, sizeof(c->field) - off, "%s%s", first ? ":g=" : ",",
                              a->ds->genre_names[i]);
      first = 0;
      if (off >= sizeof(c->field))
        break;
    }
  api_begin(c);
}

static void api_h_user_ratings(http_req *req, void *user) {
  int32_t uid;
  if (api_user_param(req, "user_id", &uid))
    return;
  api_ctx *c = api_ctx_new(req, user, API_RATINGS);
  if (!c)
    return;
  c->uid = uid;
  api_begin(c);
}

static void api_h_movies(http_req *req, void *user) {
  api *a = user;
  int limit;
  const char *q = http_req_query(req, "q");
  if (!q)
    q = "";
  if (strlen(q) > API_MAX_Q) {
    http_send_error(req, 400, "q must be at most %d bytes", API_MAX_Q);
    return;
  }
  if (api_query_int(req, "limit", 1, 100, 20, &limit)) {
    http_send_error(req, 400, "limit must be an integer between 1 and 100");
    return;
  }
  api_buf b;
  api_buf_init(&b);
  api_catalog_search(a->cat, &b, q, limit);
  api_send_buf(req, &b);
  api_buf_free(&b);
}

static void api_h_movie(http_req *req, void *user) {
  api *a = user;
  int32_t id;
  if (api_parse_id(http_req_param(req, "movie_id"), &id)) {
    http_send_error(req, 400, "movie id must be an integer between 1 and 2147483647");
    return;
  }
  int32_t m = ds_movie_index(a->ds, id);
  if (m < 0) {
    http_send_error(req, 404, "movie %d not found", (int)id);
    return;
  }
  api_buf b;
  api_buf_init(&b);
  api_catalog_details(a->cat, &b, m);
  api_send_buf(req, &b);
  api_buf_free(&b);
}

/* "More like this" from the semantic model: a few microseconds of dot products, so it runs on
 * the loop thread like the other catalogue answers. */
static void api_h_similar(http_req *req, void *user) {
  api *a = user;
  int32_t id;
  int n, got = 0;
  if (api_parse_id(http_req_param(req, "movie_id"), &id)) {
    http_send_error(req, 400, "movie id must be an integer between 1 and 2147483647");
    return;
  }
  if (api_query_int(req, "n", 1, API_MAX_N, 10, &n)) {
    http_send_error(req, 400, "n must be an integer between 1 and %d", API_MAX_N);
    return;
  }
  int32_t m = ds_movie_index(a->ds, id);
  if (m < 0) {
    http_send_error(req, 404, "movie %d not found", (int)id);
    return;
  }
  reco_item it[API_MAX_N];
  apim_model *mm = apim_get(a->models); /* held for this answer: a swap may happen meanwhile */
  const reco *r = apim_reco(mm);
  int rc = reco_similar(r, m, n, it, &got);
  if (rc == MR_EUNSUPPORTED) {
    http_send_error(req, 503,
                    "model version %s has no semantic model (semantic.bin): similar movies need a "
                    "version trained by this release of `movierec train`",
                    reco_version(r));
  } else if (rc) {
    http_send_error(req, 500, "similar movies failed: %s", mr_strerror(rc));
  } else {
    api_buf b;
    api_buf_init(&b);
    api_buf_printf(&b, "{\"movie_id\":%d,\"model_version\":", (int)id);
    api_buf_json_str(&b, reco_version(r));
    api_buf_puts(&b, ",\"items\":");
    api_items(a, &b, it, got);
    api_buf_putc(&b, '}');
    api_send_buf(req, &b);
    api_buf_free(&b);
  }
  apim_put(mm);
}

static void api_health_send(api_ctx *c, int ok) {
  api_buf b;
  api_buf_init(&b);
  api_buf_printf(&b,
                 "{\"status\":\"%s\",\"redis\":\"%s\",\"model_version\":", ok ? "ok" : "degraded",
                 ok ? "ok" : "down");
  api_buf_json_str(&b, reco_version(apim_reco(c->mm)));
  api_buf_putc(&b, '}');
  if (b.oom)
    http_send_error(c->req, 500, "out of memory");
  else
    http_send(c->req, ok ? 200 : 503, "application/json", b.p, b.len);
  api_buf_free(&b);
  api_ctx_free(c);
}

static void api_on_ping(redisReply *rep, void *arg) {
  int ok = rep && (rep->type == REDIS_REPLY_STATUS || rep->type == REDIS_REPLY_STRING) &&
           !strcmp(rep->str, "PONG");
  api_health_send(arg, ok);
}

static void api_h_health(http_req *req, void *user) {
  api_ctx *c = api_ctx_new(req, user, API_HEALTH);
  if (!c)
    return;
  const char *argv[] = {"PING"};
  size_t len[] = {4};
  /* an unanswered PING is bounded by the connection's reply timeout (watchdog) */
  if (api_redis_cmd(c->L->redis, api_on_ping, c, 1, argv, len))
    api_health_send(c, 0);
}

/* The retraining service's progress (mr:retrain, written by `movierec retrain`), in /metrics. */
#define API_RETRAIN_KEY "mr:retrain"

typedef struct api_metrics_ctx {
  http_req *req;
  api_buf b;
} api_metrics_ctx;

static void api_metrics_send(http_req *req, api_buf *b) {
  if (b->oom)
    http_send_error(req, 500, "out of memory");
  else
    http_send(req, 200, "text/plain; version=0.0.4", b->p, b->len);
  api_buf_free(b);
}

/* A numeric field of the mr:retrain reply ("0" when absent or not a number). */
static const char *api_retrain_num(const redisReply *rep, const char *field) {
  for (size_t i = 0; i + 1 < rep->elements; i += 2) {
    const redisReply *f = rep->element[i], *v = rep->element[i + 1];
    if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING && !strcmp(f->str, field)) {
      char *end;
      strtod(v->str, &end);
      return v->len && v->len < 32 && !*end ? v->str : "0";
    }
  }
  return "0";
}

/* A label value of the mr:retrain reply: [A-Za-z0-9_] only ("" when absent). */
static void api_retrain_label(const redisReply *rep, const char *field, char *out, size_t cap) {
  out[0] = '\0';
  for (size_t i = 0; i + 1 < rep->elements; i += 2) {
    const redisReply *f = rep->element[i], *v = rep->element[i + 1];
    if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING && !strcmp(f->str, field)) {
      size_t k = 0;
      for (size_t j = 0; j < v->len && k + 1 < cap; j++) {
        char ch = v->str[j];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '_')
          out[k++] = ch;
      }
      out[k] = '\0';
    }
  }
}

static void api_on_retrain(redisReply *rep, void *arg) {
  api_metrics_ctx *mc = arg;
  api_buf *b = &mc->b;
  if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2) {
    static const char *decisions[] = {"published", "rejected", "skipped", "failed"};
    api_buf_puts(b, "# HELP movierec_retrain_runs_total Retraining runs by decision.\n"
                    "# TYPE movierec_retrain_runs_total counter\n");
    for (int i = 0; i < 4; i++) {
      char f[32];
      snprintf(f, sizeof(f), "runs_%s", decisions[i]);
      api_buf_printf(b, "movierec_retrain_runs_total{decision=\"%s\"} %s\n", decisions[i],
                     api_retrain_num(rep, f));
    }
    static const struct {
      const char *phase, *field;
    } phases[] = {{"total", "last_duration_s"},
                  {"snapshot", "last_snapshot_s"},
                  {"train", "last_train_s"},
                  {"evaluate", "last_eval_s"},
                  {"publish", "last_publish_s"}};
    api_buf_puts(b, "# HELP movierec_retrain_last_seconds Duration of the last run, by phase.\n"
                    "# TYPE movierec_retrain_last_seconds gauge\n");
    for (int i = 0; i < 5; i++)
      api_buf_printf(b, "movierec_retrain_last_seconds{phase=\"%s\"} %s\n", phases[i].phase,
                     api_retrain_num(rep, phases[i].field));
    char decision[32], version[32], state[32];
    api_retrain_label(rep, "last_decision", decision, sizeof(decision));
    api_retrain_label(rep, "last_version", version, sizeof(version));
    api_retrain_label(rep, "state", state, sizeof(state));
    api_buf_printf(
        b,
        "# HELP movierec_retrain_last_start_timestamp_seconds When the last run started.\n"
        "# TYPE movierec_retrain_last_start_timestamp_seconds gauge\n"
        "movierec_retrain_last_start_timestamp_seconds %s\n"
        "# HELP movierec_retrain_last_ndcg nDCG@10 on the holdout in the last run.\n"
        "# TYPE movierec_retrain_last_ndcg gauge\n"
        "movierec_retrain_last_ndcg{model=\"candidate\"} %s\n"
        "movierec_retrain_last_ndcg{model=\"serving\"} %s\n"
        "# HELP movierec_retrain_last_holdout_ratings Holdout size of the last run.\n"
        "# TYPE movierec_retrain_last_holdout_ratings gauge\n"
        "movierec_retrain_last_holdout_ratings %s\n"
        "# HELP movierec_retrain_pending_ratings Ratings stored since the serving version.\n"
        "# TYPE movierec_retrain_pending_ratings gauge\n"
        "movierec_retrain_pending_ratings %s\n"
        "# HELP movierec_retrain_running_since_timestamp_seconds Start of the run in progress "
        "(0: idle).\n"
        "# TYPE movierec_retrain_running_since_timestamp_seconds gauge\n"
        "movierec_retrain_running_since_timestamp_seconds %s\n"
        "# HELP movierec_retrain_last_info The last run's decision, version and the service's "
        "state.\n"
        "# TYPE movierec_retrain_last_info gauge\n"
        "movierec_retrain_last_info{decision=\"%s\",version=\"%s\",state=\"%s\"} 1\n",
        api_retrain_num(rep, "last_start"), api_retrain_num(rep, "last_candidate_ndcg"),
        api_retrain_num(rep, "last_serving_ndcg"), api_retrain_num(rep, "last_holdout"),
        api_retrain_num(rep, "pending"), api_retrain_num(rep, "running_since"), decision, version,
        state);
  }
  api_metrics_send(mc->req, b);
  free(mc);
}

static void api_h_metrics(http_req *req, void *user) {
  api *a = user;
  char *text = NULL;
  size_t len = 0;
  if (http_metrics_render(a->srv, &text, &len)) {
    http_send_error(req, 500, "out of memory");
    return;
  }
  uint64_t hits = 0, misses = 0, degraded = 0, skipped = 0;
  for (int i = 0; i < a->n_loops; i++) {
    hits += atomic_load_explicit(&a->loops[i].cache_hits, memory_order_relaxed);
    misses += atomic_load_explicit(&a->loops[i].cache_misses, memory_order_relaxed);
    degraded += atomic_load_explicit(&a->loops[i].degraded, memory_order_relaxed);
    skipped += atomic_load_explicit(&a->loops[i].live_skipped, memory_order_relaxed);
  }
  api_redis_stats st;
  api_redis_stats_get(&st);
  api_buf b;
  api_buf_init(&b);
  api_buf_put(&b, text, len);
  free(text);
  api_buf_printf(
      &b,
      "# HELP movierec_api_cache_hits_total Responses served from the Redis cache.\n"
      "# TYPE movierec_api_cache_hits_total counter\n"
      "movierec_api_cache_hits_total %llu\n"
      "# HELP movierec_api_cache_misses_total Cache lookups that found nothing.\n"
      "# TYPE movierec_api_cache_misses_total counter\n"
      "movierec_api_cache_misses_total %llu\n"
      "# HELP movierec_api_degraded_total Responses computed without Redis.\n"
      "# TYPE movierec_api_degraded_total counter\n"
      "movierec_api_degraded_total %llu\n"
      "# HELP movierec_api_live_ratings_skipped_total Malformed live ratings.\n"
      "# TYPE movierec_api_live_ratings_skipped_total counter\n"
      "movierec_api_live_ratings_skipped_total %llu\n"
      "# HELP movierec_api_redis_errors_total Redis commands that failed.\n"
      "# TYPE movierec_api_redis_errors_total counter\n"
      "movierec_api_redis_errors_total %llu\n"
      "# HELP movierec_api_redis_timeouts_total Connections dropped for overdue replies.\n"
      "# TYPE movierec_api_redis_timeouts_total counter\n"
      "movierec_api_redis_timeouts_total %llu\n"
      "# HELP movierec_api_redis_connects_total Successful Redis (re)connections.\n"
      "# TYPE movierec_api_redis_connects_total counter\n"
      "movierec_api_redis_connects_total %llu\n"
      "# HELP movierec_model_info The model version being served.\n"
      "# TYPE movierec_model_info gauge\n"
      "movierec_model_info{version=",
      (unsigned long long)hits, (unsigned long long)misses, (unsigned long long)degraded,
      (unsigned long long)skipped, (unsigned long long)st.errors, (unsigned long long)st.timeouts,
      (unsigned long long)st.reconnects);
  apim_model *mm = apim_get(a->models);
  api_buf_json_str(&b, reco_version(apim_reco(mm)));
  apim_put(mm);
  api_buf_puts(&b, "} 1\n");
  apim_stats ms;
  apim_stats_get(a->models, &ms);
  api_buf_printf(&b,
                 "# HELP movierec_api_model_swaps_total Model versions swapped in without a "
                 "restart.\n"
                 "# TYPE movierec_api_model_swaps_total counter\n"
                 "movierec_api_model_swaps_total %llu\n"
                 "# HELP movierec_api_model_load_failures_total New versions that failed to load.\n"
                 "# TYPE movierec_api_model_load_failures_total counter\n"
                 "movierec_api_model_load_failures_total %llu\n"
                 "# HELP movierec_api_model_load_seconds Time the last swapped-in version took to "
                 "load.\n"
                 "# TYPE movierec_api_model_load_seconds gauge\n"
                 "movierec_api_model_load_seconds %.3f\n",
                 (unsigned long long)ms.swaps, (unsigned long long)ms.failures, ms.last_load_s);
  api_metrics_ctx *mc = calloc(1, sizeof(*mc));
  if (!mc || b.oom) {
    free(mc);
    api_metrics_send(req, &b);
    return;
  }
  mc->req = req;
  mc->b = b;
  const char *argv[] = {"HGETALL", API_RETRAIN_KEY};
  size_t alen[] = {7, strlen(API_RETRAIN_KEY)};
  if (api_redis_cmd(api_req_loop(req)->redis, api_on_retrain, mc, 2, argv, alen)) {
    api_metrics_send(req, &mc->b);
    free(mc);
  }
}

static void api_h_index(http_req *req, void *user) {
  api *a = user;
  char path[4096];
  snprintf(path, sizeof(path), "%s/index.html", a->web_dir);
  http_send_file(req, path);
}

/* Relative path under web/: no "..", no absolute paths, no backslashes or control bytes. */
static int api_safe_relpath(const char *p) {
  if (!p || !*p || *p == '/' || strlen(p) > 1024)
    return 0;
  for (const char *s = p; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == '\\')
      return 0;
  for (const char *s = p; *s;) {
    size_t n = strcspn(s, "/");
    if ((n == 2 && s[0] == '.' && s[1] == '.') || (n == 1 && s[0] == '.') || n == 0)
      return 0;
    s += n;
    if (*s == '/')
      s++;
  }
  return 1;
}

static void api_h_static(http_req *req, void *user) {
  api *a = user;
  const char *rel = http_req_param(req, "*");
  if (!api_safe_relpath(rel)) {
    http_send_error(req, 400, "bad static path");
    return;
  }
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", a->web_dir, rel);
  http_send_file(req, path);
}

static void api_h_config(http_req *req, void *user) {
  api *a = user;
  http_add_header(req, "cache-control", "no-cache");
  http_send(req, 200, "application/javascript", a->config_js, strlen(a->config_js));
}

/* ---- lifecycle ----------------------------------------------------------------------- */

static int api_loop_init(http_loop *l, void *user) {
  api *a = user;
  int i = http_loop_index(l);
  if (i < 0 || i >= a->n_loops)
    return MR_ERANGE;
  api_loop *L = &a->loops[i];
  int rc = api_redis_create(http_loop_uv(l), a->redis_url, a->redis_timeout_ms, &L->redis);
  if (rc)
    return rc;
  http_loop_set_data(l, L);
  return MR_OK;
}

static void api_loop_fini(http_loop *l, void *user) {
  api_loop *L = http_loop_data(l);
  (void)user;
  if (L) {
    api_redis_free(L->redis);
    L->redis = NULL;
  }
}

int api_create(const api_opts *o, reco *r, api **out) {
  *out = NULL;
  int rc = MR_ENOMEM;
  api *a = calloc(1, sizeof(*a));
  if (!a)
    return MR_ENOMEM;
  a->ds = reco_dataset(r);
  if ((rc = apim_create(r, o->models_dir, o->data_dir, o->redis_url, &a->models)))
    goto fail;
  a->ttl = o->cache_ttl_s > 0 ? o->cache_ttl_s : 300;
  const char *delay = getenv("MOVIEREC_TEST_CACHE_WRITE_DELAY_MS");
  a->test_cache_delay_ms = delay ? atoi(delay) : 0;
  if (a->test_cache_delay_ms > 0)
    fprintf(stderr, "api: test hook: cache writes delayed by %d ms\n", a->test_cache_delay_ms);
  a->pool_recs = o->pool_recs;
  a->redis_timeout_ms = o->redis_timeout_ms ? o->redis_timeout_ms : 250;
  a->n_loops = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (a->n_loops < 1)
    a->n_loops = 1;
  char host[256];
  int port, db;
  if (api_redis_parse_url(o->redis_url, host, sizeof(host), &port, &db)) {
    fprintf(stderr, "api: bad Redis URL '%s'\n", o->redis_url ? o->redis_url : "");
    rc = MR_EINVAL;
    goto fail;
  }
  if (!(a->redis_url = strdup(o->redis_url)) ||
      !(a->web_dir = strdup(o->web_dir ? o->web_dir : "web")))
    goto fail;
  if (!(a->loops = calloc((size_t)a->n_loops, sizeof(*a->loops))))
    goto fail;
  for (int i = 0; i < a->n_loops; i++)
    a->loops[i].a = a;
  api_buf js;
  api_buf_init(&js);
  api_buf_puts(&js, "window.MOVIEREC = {events: ");
  api_buf_json_str(&js, o->events_url ? o->events_url : "http://127.0.0.1:8001");
  if (o->ui_token && *o->ui_token) { /* the operator chose to publish it to the UI's users */
    api_buf_puts(&js, ", token: ");
    api_buf_json_str(&js, o->ui_token);
  }
  api_buf_puts(&js, "};\n");
  if (js.oom)
    goto fail;
  a->config_js = js.p;
  if ((rc = api_catalog_create(a->ds, &a->cat)))
    goto fail;

  http_opts ho;
  http_opts_default(&ho);
  ho.listen = o->listen;
  ho.port = o->port;
  ho.threads = a->n_loops;
  ho.loop_init = api_loop_init;
  ho.loop_fini = api_loop_fini;
  ho.loop_user = a;
  if ((rc = http_server_create(&ho, &a->srv)))
    goto fail;
  static const struct {
    const char *method, *pattern;
    http_handler_fn fn;
  } routes[] = {
      {"GET", "/health", api_h_health},
      {"GET", "/metrics", api_h_metrics},
      {"GET", "/recommendations/{user_id}", api_h_recs},
      {"GET", "/recommendations/{user_id}/sections", api_h_sections},
      {"GET", "/movies", api_h_movies},
      {"GET", "/movies/{movie_id}", api_h_movie},
      {"GET", "/movies/{movie_id}/similar", api_h_similar},
      {"GET", "/users/{user_id}/ratings", api_h_user_ratings},
      {"GET", "/config.js", api_h_config},
      {"GET", "/", api_h_index},
      {"GET", "/static/*", api_h_static},
  };
  for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
    if ((rc = http_route(a->srv, routes[i].method, routes[i].pattern, routes[i].fn, a)))
      goto fail;
  *out = a;
  return MR_OK;
fail:
  api_free(a);
  return rc;
}

int api_run(api *a) {
  int rc = http_server_start(a->srv);
  if (rc) {
    fprintf(stderr, "api: cannot start: %s\n", http_server_errstr(a->srv));
    return rc;
  }
  apim_model *m0 = apim_get(a->models);
  const reco *r0 = apim_reco(m0);
  fprintf(stderr, "api: listening on port %d with model %s (%d loop threads)\n",
          http_server_port(a->srv), reco_version(r0), a->n_loops);
  apim_put(m0);
  if ((rc = apim_start(a->models)))
    fprintf(stderr, "api: cannot start the model watcher: model swaps are off\n");
  return http_server_run(a->srv);
}

void api_free(api *a) {
  if (!a)
    return;
  http_server_free(a->srv);
  apim_free(a->models);
  api_catalog_free(a->cat);
  free(a->loops);
  free(a->redis_url);
  free(a->web_dir);
  free(a->config_js);
  free(a);
}
