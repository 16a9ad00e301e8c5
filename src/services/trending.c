/* Trending: decayed counts per movie over the stream's recent events, top-N to Redis. */
#include "services/trending.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mr_error.h"

/* Open-addressing map movie id -> score; ids are >= 1, so 0 marks an empty slot. */
typedef struct trending_acc {
  trending_item *slots;
  size_t cap, used;
  int64_t now, from;
  double half_life;
  long events;
  int oom;
} trending_acc;

static size_t trending_hash(int64_t id, size_t cap) {
  uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ULL;
  return (size_t)(h >> 32) & (cap - 1);
}

static int trending_grow(trending_acc *a) {
  size_t cap = a->cap ? a->cap * 2 : 1024;
  trending_item *s = calloc(cap, sizeof(*s));
  if (!s)
    return MR_ENOMEM;
  for (size_t i = 0; i < a->cap; i++)
    if (a->slots[i].movie_id) {
      size_t j = trending_hash(a->slots[i].movie_id, cap);
      while (s[j].movie_id)
        j = (j + 1) & (cap - 1);
      s[j] = a->slots[i];
    }
  free(a->slots);
  a->slots = s;
  a->cap = cap;
  return MR_OK;
}

static int trending_add(const mr_event *ev, void *ud) {
  trending_acc *a = ud;
  if (ev->ts < a->from)
    return 0;
  double age = ev->ts > a->now ? 0.0 : (double)(a->now - ev->ts);
  double w = exp2(-age / a->half_life);
  if ((a->used + 1) * 2 > a->cap && trending_grow(a)) {
    a->oom = 1;
    return MR_ENOMEM;
  }
  size_t j = trending_hash(ev->movie_id, a->cap);
  while (a->slots[j].movie_id && a->slots[j].movie_id != ev->movie_id)
    j = (j + 1) & (a->cap - 1);
  if (!a->slots[j].movie_id) {
    a->slots[j].movie_id = ev->movie_id;
    a->used++;
  }
  a->slots[j].score += w;
  a->events++;
  return 0;
}

static int trending_cmp(const void *x, const void *y) {
  const trending_item *a = x, *b = y;
  if (a->score != b->score)
    return a->score > b->score ? -1 : 1;
  return (a->movie_id > b->movie_id) - (a->movie_id < b->movie_id);
}

int trending_compute(store *st, int64_t now, int64_t window_s, double half_life_s, int top,
                     trending_item **items, size_t *n, long *n_events) {
  *items = NULL;
  *n = 0;
  *n_events = 0;
  if (window_s < 1 || !(half_life_s > 0) || top < 1)
    return MR_EINVAL;
  trending_acc a = {.now = now, .from = now - window_s, .half_life = half_life_s};
  if (trending_grow(&a))
    return MR_ENOMEM;
  /* The stream id is the storage time; an event is stored after it happened, so every event
   * with ts >= from was stored at or after from (the ts filter is in trending_add). */
  int rc = store_events_since(st, a.from, trending_add, &a);
  if (rc) {
    free(a.slots);
    return a.oom ? MR_ENOMEM : MR_EIO;
  }
  size_t k = 0;
  for (size_t i = 0; i < a.cap; i++)
    if (a.slots[i].movie_id)
      a.slots[k++] = a.slots[i];
  qsort(a.slots, k, sizeof(*a.slots), trending_cmp);
  if (k > (size_t)top)
    k = (size_t)top;
  *n_events = a.events;
  *n = k;
  if (!k) {
    free(a.slots);
    return MR_OK;
  }
  *items = a.slots;
  return MR_OK;
}

int trending_format(const trending_item *items, size_t n, int64_t now, int64_t window_s,
                    double half_life_s, char **json) {
  *json = NULL;
  json_t *arr = json_array();
  json_t *root = json_pack("{s:I, s:I, s:f, s:o}", "updated_at", (json_int_t)now, "window_s",
                           (json_int_t)window_s, "half_life_s", half_life_s, "items", arr);
  if (!root)
    return MR_ENOMEM;
  for (size_t i = 0; i < n; i++)
    if (json_array_append_new(arr,
                              json_pack("{s:I, s:f}", "movie_id", (json_int_t)items[i].movie_id,
                                        "score", items[i].score))) {
      json_decref(root);
      return MR_ENOMEM;
    }
  *json = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(10));
  json_decref(root);
  return *json ? MR_OK : MR_ENOMEM;
}

static void trending_sleep(int ms, volatile sig_atomic_t *stop) {
  while (ms > 0 && !*stop) {
    int step = ms < 100 ? ms : 100;
    struct timespec t = {0, (long)step * 1000000L};
    nanosleep(&t, NULL);
    ms -= step;
  }
}

__attribute__((format(printf, 1, 2))) static void trending_log(const char *fmt, ...) {
  char ts[32];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
  fprintf(stderr, "%s trending: ", ts);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* One computation and write; MR_OK or the error (logged). */
static int trending_once(store *st, const trending_config *cfg) {
  int64_t now = cfg->now ? cfg->now : (int64_t)time(NULL);
  trending_item *items = NULL;
  size_t n = 0;
  long events = 0;
  char *json = NULL;
  if (!store_connected(st) && store_reconnect(st)) {
    trending_log("Redis unavailable: %s", store_errstr(st));
    return MR_EIO;
  }
  int rc =
      trending_compute(st, now, cfg->window_s, cfg->half_life_s, cfg->top, &items, &n, &events);
  if (!rc)
    rc = trending_format(items, n, now, cfg->window_s, cfg->half_life_s, &json);
  if (!rc && store_set_trending(st, json))
    rc = MR_EIO;
  if (rc) {
    trending_log("run failed: %s", rc == MR_EIO ? store_errstr(st) : mr_strerror(rc));
  } else {
    char top3[256] = "";
    size_t off = 0;
    for (size_t i = 0; i < n && i < 3; i++)
      off += (size_t)snprintf(top3 + off, sizeof(top3) - off, "%s%lld (%.3f)", i ? ", " : "",
                              (long long)items[i].movie_id, items[i].score);
    trending_log("%ld events in the last %llds, %zu movies written; top: %s", events,
                 (long long)cfg->window_s, n, n ? top3 : "none");
  }
  free(items);
  free(json);
  return rc;
}

int trending_run(const trending_config *cfg, volatile sig_atomic_t *stop) {
  if (cfg->window_s < 1 || !(cfg->half_life_s > 0) || cfg->top < 1 || cfg->interval_s < 1)
    return MR_EINVAL;
  store *st = NULL;
  char err[256];
  int rc = store_connect(cfg->redis_url, 5000, &st, err, sizeof(err));
  if (rc == MR_EINVAL || rc == MR_ENOMEM) {
    trending_log("%s", err);
    return rc;
  }
  if (rc)
    trending_log("Redis unavailable: %s (retrying)", err);
  if (cfg->once) {
    int backoff = 200;
    for (int attempt = 0; attempt < 5 && !*stop; attempt++) {
      if (!(rc = trending_once(st, cfg)))
        break;
      trending_sleep(backoff, stop);
      backoff *= 2;
      store_reconnect(st);
    }
    store_free(st);
    return rc ? MR_EIO : MR_OK;
  }
  while (!*stop) {
    if (trending_once(st, cfg))
      store_reconnect(st); /* a failed run drops the connection; the next run starts fresh */
    trending_sleep(cfg->interval_s * 1000, stop);
  }
  store_free(st);
  return MR_OK;
}
