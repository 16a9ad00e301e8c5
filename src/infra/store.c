/* Redis store over hiredis: URL parsing, reconnects, the atomic put-rating script, reads. */
#include "infra/store.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"

#define STORE_EVENTS_KEY "mr:events"
#define STORE_COUNTS_KEY "mr:movie:counts"
#define STORE_STORED_KEY "mr:stats:stored"
#define STORE_TRENDING_KEY "mr:trending"
#define STORE_PAGE 5000

/* KEYS: ev, user ratings, movie counts, events, stored counter, user cache.
 * ARGV: event_id user_id movie_id rating ts. Returns 1 when stored, 0 for a duplicate. */
static const char store_put_script[] =
    "if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', 604800) then return 0 end\n"
    "redis.call('HSET', KEYS[2], ARGV[3], ARGV[4] .. ':' .. ARGV[5])\n"
    "redis.call('HINCRBY', KEYS[3], ARGV[3], 1)\n"
    "redis.call('XADD', KEYS[4], 'MAXLEN', '~', '1000000', '*', 'event_id', ARGV[1],\n"
    "           'user_id', ARGV[2], 'movie_id', ARGV[3], 'rating', ARGV[4], 'ts', ARGV[5])\n"
    "redis.call('INCR', KEYS[5])\n"
    "redis.call('DEL', KEYS[6])\n"
    "return 1\n";

struct store {
  redisContext *c;
  char host[256];
  int port, db, timeout_ms;
  char sha[41]; /* SCRIPT LOAD's digest, "" until loaded */
  char errstr[256];
};

static void store_seterr(store *st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(st->errstr, sizeof(st->errstr), fmt, ap);
  va_end(ap);
}

/* Parses redis://host[:port][/db]. */
static int store_parse_url(const char *url, store *st, char *err, size_t errlen) {
  const char *p = url;
  if (strncmp(p, "redis://", 8)) {
    snprintf(err, errlen, "Redis URL must start with redis://: '%s'", url);
    return MR_EINVAL;
  }
  p += 8;
  const char *at = strchr(p, '@');
  if (at) {
    snprintf(err, errlen, "Redis URL with a password is not supported: '%s'", url);
    return MR_EINVAL;
  }
  size_t hl = strcspn(p, ":/");
  if (hl == 0 || hl >= sizeof(st->host)) {
    snprintf(err, errlen, "Redis URL has no host: '%s'", url);
    return MR_EINVAL;
  }
  memcpy(st->host, p, hl);
  st->host[hl] = 0;
  p += hl;
  st->port = 6379;
  st->db = 0;
  char *end;
  if (*p == ':') {
    errno = 0;
    long port = strtol(p + 1, &end, 10);
    if (end == p + 1 || errno || port < 1 || port > 65535 || (*end && *end != '/')) {
      snprintf(err, errlen, "Redis URL has a bad port: '%s'", url);
      return MR_EINVAL;
    }
    st->port = (int)port;
    p = end;
  }
  if (*p == '/' && p[1]) {
    errno = 0;
    long db = strtol(p + 1, &end, 10);
    if (end == p + 1 || errno || db < 0 || db > 1000000 || *end) {
      snprintf(err, errlen, "Redis URL has a bad database number: '%s'", url);
      return MR_EINVAL;
    }
    st->db = (int)db;
  } else if (*p && strcmp(p, "/")) {
    snprintf(err, errlen, "Redis URL has trailing text: '%s'", url);
    return MR_EINVAL;
  }
  return MR_OK;
}

/* Marks the connection unusable after an I/O error (hiredis contexts are dead after one). */
static void store_drop(store *st) {
  if (st->c) {
    redisFree(st->c);
    st->c = NULL;
  }
}

/* Runs a command; on an I/O error drops the connection, on an error reply frees it. Returns
 * the reply (caller frees) or NULL with errstr set. */
static redisReply *store_cmd(store *st, int argc, const char **argv, const size_t *lens) {
  if (!st->c) {
    if (!*st->errstr)
      store_seterr(st, "not connected to Redis %s:%d", st->host, st->port);
    return NULL;
  }
  redisReply *r = redisCommandArgv(st->c, argc, argv, lens);
  if (!r) {
    store_seterr(st, "Redis %s:%d: %s", st->host, st->port,
                 st->c->errstr[0] ? st->c->errstr : "connection lost");
    store_drop(st);
    return NULL;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    store_seterr(st, "Redis %s: %.*s", argv[0], (int)r->len, r->str);
    freeReplyObject(r);
    return NULL;
  }
  return r;
}

int store_reconnect(store *st) {
  store_drop(st);
  st->errstr[0] = 0;
  struct timeval tv = {st->timeout_ms / 1000, (st->timeout_ms % 1000) * 1000};
  redisContext *c = redisConnectWithTimeout(st->host, st->port, tv);
  if (!c) {
    store_seterr(st, "Redis %s:%d: out of memory", st->host, st->port);
    return MR_ENOMEM;
  }
  if (c->err) {
    store_seterr(st, "Redis %s:%d: %s", st->host, st->port, c->errstr);
    redisFree(c);
    return MR_EIO;
  }
  if (redisSetTimeout(c, tv) != REDIS_OK) {
    store_seterr(st, "Redis %s:%d: cannot set the timeout", st->host, st->port);
    redisFree(c);
    return MR_EIO;
  }
  st->c = c;
  if (st->db) {
    char db[16];
    snprintf(db, sizeof(db), "%d", st->db);
    const char *argv[] = {"SELECT", db};
    redisReply *r = store_cmd(st, 2, argv, NULL);
    if (!r) {
      store_drop(st);
      return MR_EIO;
    }
    freeReplyObject(r);
  }
  return MR_OK;
}

int store_connect(const char *url, int timeout_ms, store **out, char *err, size_t errlen) {
  char dummy[8];
  if (!err) {
    err = dummy;
    errlen = sizeof(dummy);
  }
  *out = NULL;
  store *st = calloc(1, sizeof(*st));
  if (!st) {
    snprintf(err, errlen, "out of memory");
    return MR_ENOMEM;
  }
  int rc = store_parse_url(url, st, err, errlen);
  if (rc) {
    free(st);
    return rc;
  }
  st->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
  *out = st;
  rc = store_reconnect(st);
  if (rc)
    snprintf(err, errlen, "%s", st->errstr);
  return rc;
}

void store_free(store *st) {
  if (!st)
    return;
  store_drop(st);
  free(st);
}

const char *store_errstr(const store *st) {
  return st->errstr;
}

int store_connected(const store *st) {
  return st->c != NULL;
}

int store_ping(store *st) {
  const char *argv[] = {"PING"};
  redisReply *r = store_cmd(st, 1, argv, NULL);
  if (!r)
    return MR_EIO;
  freeReplyObject(r);
  return MR_OK;
}

void store_key_user_ratings(int64_t uid, char *buf, size_t cap) {
  snprintf(buf, cap, "mr:u:{%" PRId64 "}:ratings", uid);
}

void store_key_user_cache(int64_t uid, char *buf, size_t cap) {
  snprintf(buf, cap, "mr:u:{%" PRId64 "}:cache", uid);
}

void store_key_event(const char *event_id, char *buf, size_t cap) {
  snprintf(buf, cap, "mr:ev:{%s}", event_id);
}

static int store_load_script(store *st) {
  const char *argv[] = {"SCRIPT", "LOAD", store_put_script};
  redisReply *r = store_cmd(st, 3, argv, NULL);
  if (!r)
    return MR_EIO;
  int ok = r->type == REDIS_REPLY_STRING && r->len == 40;
  if (ok)
    memcpy(st->sha, r->str, 41);
  else
    store_seterr(st, "Redis SCRIPT LOAD: unexpected reply");
  freeReplyObject(r);
  return ok ? MR_OK : MR_EIO;
}

/* Appends one put-rating script call to the output buffer: EVALSHA, or EVAL with the body
 * when eval is set. 0, or -1 when hiredis could not buffer it (out of memory). */
static int store_put_append(store *st, const mr_event *ev, int eval) {
  char kev[64], kratings[64], kcache[64], uid[24], mid[24], rating[8], ts[24];
  store_key_event(ev->event_id, kev, sizeof(kev));
  store_key_user_ratings(ev->user_id, kratings, sizeof(kratings));
  store_key_user_cache(ev->user_id, kcache, sizeof(kcache));
  snprintf(uid, sizeof(uid), "%" PRId64, ev->user_id);
  snprintf(mid, sizeof(mid), "%" PRId64, ev->movie_id);
  snprintf(rating, sizeof(rating), "%d", ev->rating);
  snprintf(ts, sizeof(ts), "%" PRId64, ev->ts);
  const char *argv[] = {eval ? "EVAL" : "EVALSHA",
                        eval ? store_put_script : st->sha,
                        "6",
                        kev,
                        kratings,
                        STORE_COUNTS_KEY,
                        STORE_EVENTS_KEY,
                        STORE_STORED_KEY,
                        kcache,
                        ev->event_id,
                        uid,
                        mid,
                        rating,
                        ts};
  /* hiredis formats the command into its buffer now: the stack strings may go */
  return redisAppendCommandArgv(st->c, (int)(sizeof(argv) / sizeof(argv[0])), argv, NULL) ==
                 REDIS_OK
             ? 0
             : -1;
}

/* Reads one reply; NULL after an I/O error (the connection is dropped, errstr set). */
static redisReply *store_get_reply(store *st) {
  void *r = NULL;
  if (redisGetReply(st->c, &r) != REDIS_OK || !r) {
    store_seterr(st, "Redis %s:%d: %s", st->host, st->port,
                 st->c->errstr[0] ? st->c->errstr : "connection lost");
    store_drop(st);
    return NULL;
  }
  return r;
}

static int store_is_noscript(const redisReply *r) {
  return r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8);
}

/* Checks one script reply: MR_OK with *was_new set, or MR_EIO with errstr. */
static int store_put_result(store *st, const redisReply *r, int *was_new) {
  if (r->type == REDIS_REPLY_INTEGER) {
    if (was_new)
      *was_new = r->integer == 1;
    return MR_OK;
  }
  store_seterr(st, "Redis put rating: %.*s", r->type == REDIS_REPLY_ERROR ? (int)r->len : 16,
               r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
  return MR_EIO;
}

static int store_put_ready(store *st, const mr_event *evs, size_t n) {
  char err[128];
  for (size_t i = 0; i < n; i++)
    if (event_validate(&evs[i], err, sizeof(err))) {
      store_seterr(st, "invalid event %zu: %s", i, err);
      return MR_EINVAL;
    }
  if (!st->c) {
    store_seterr(st, "not connected to Redis %s:%d", st->host, st->port);
    return MR_EIO;
  }
  if (!st->sha[0] && store_load_script(st))
    return MR_EIO;
  return MR_OK;
}

int store_put_rating(store *st, const mr_event *ev, int *was_new) {
  int rc = store_put_ready(st, ev, 1);
  if (rc)
    return rc;
  if (store_put_append(st, ev, 0))
    return MR_ENOMEM;
  redisReply *r = store_get_reply(st);
  if (r && store_is_noscript(r)) {
    /* The server lost its script cache (restart, SCRIPT FLUSH): EVAL sends the body and
     * caches it again, so the next EVALSHA works. */
    freeReplyObject(r);
    if (store_put_append(st, ev, 1))
      return MR_ENOMEM;
    r = store_get_reply(st);
  }
  if (!r)
    return MR_EIO;
  rc = store_put_result(st, r, was_new);
  freeReplyObject(r);
  return rc;
}

int store_put_ratings(store *st, const mr_event *evs, size_t n, int *was_new) {
  int rc = store_put_ready(st, evs, n);
  if (rc || !n)
    return rc;
  for (size_t i = 0; i < n; i++)
    if (store_put_append(st, &evs[i], 0)) {
      /* the buffer may hold part of a command: this connection cannot be trusted any more */
      store_drop(st);
      store_seterr(st, "out of memory buffering Redis commands");
      return MR_ENOMEM;
    }
  size_t first_noscript = n;
  for (size_t i = 0; i < n; i++) {
    redisReply *r = store_get_reply(st);
    if (!r)
      return MR_EIO;
    if (store_is_noscript(r)) {
      /* not stored; redone one by one below (the first EVAL re-caches the script) */
      if (first_noscript == n)
        first_noscript = i;
      if (was_new)
        was_new[i] = -1;
    } else if (store_put_result(st, r, was_new ? &was_new[i] : NULL)) {
      rc = MR_EIO; /* keep reading: every reply must be consumed to stay in sync */
    }
    freeReplyObject(r);
  }
  if (rc)
    return rc;
  for (size_t i = first_noscript; i < n; i++)
    if (!was_new || was_new[i] == -1) {
      /* without was_new the NOSCRIPT ones are unknown: redoing a stored one is a no-op */
      int wn = 0;
      if ((rc = store_put_rating(st, &evs[i], &wn)))
        return rc;
      if (was_new)
        was_new[i] = wn;
    }
  return MR_OK;
}

static int store_rating_cmp(const void *a, const void *b) {
  const store_rating *x = a, *y = b;
  if (x->ts != y->ts)
    return x->ts > y->ts ? -1 : 1;
  return (x->movie_id > y->movie_id) - (x->movie_id < y->movie_id);
}

int store_user_ratings(store *st, int64_t uid, store_rating **out, size_t *n) {
  char key[64];
  *out = NULL;
  *n = 0;
  store_key_user_ratings(uid, key, sizeof(key));
  const char *argv[] = {"HGETALL", key};
  redisReply *r = store_cmd(st, 2, argv, NULL);
  if (!r)
    return MR_EIO;
  if (r->type != REDIS_REPLY_ARRAY) {
    store_seterr(st, "Redis HGETALL: unexpected reply");
    freeReplyObject(r);
    return MR_EIO;
  }
  store_rating *v = r->elements ? malloc(r->elements / 2 * sizeof(*v)) : NULL;
  if (r->elements && !v) {
    freeReplyObject(r);
    return MR_ENOMEM;
  }
  size_t k = 0;
  for (size_t i = 0; i + 1 < r->elements; i += 2) {
    redisReply *f = r->element[i], *val = r->element[i + 1];
    if (f->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
      continue;
    long long mid, ts;
    int rating, used = 0;
    if (sscanf(f->str, "%lld%n", &mid, &used) != 1 || (size_t)used != f->len)
      continue;
    if (sscanf(val->str, "%d:%lld%n", &rating, &ts, &used) != 2 || (size_t)used != val->len)
      continue;
    v[k++] = (store_rating){mid, rating, ts};
  }
  freeReplyObject(r);
  if (k) {
    qsort(v, k, sizeof(*v), store_rating_cmp);
  } else {
    free(v);
    v = NULL;
  }
  *out = v;
  *n = k;
  return MR_OK;
}

/* Fills ev from one XRANGE entry [id, [field, value, ...]]; 0 when complete and valid. */
static int store_entry_event(const redisReply *e, mr_event *ev) {
  if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[1]->type != REDIS_REPLY_ARRAY)
    return -1;
  const redisReply *kv = e->element[1];
  int have = 0;
  memset(ev, 0, sizeof(*ev));
  for (size_t i = 0; i + 1 < kv->elements; i += 2) {
    const redisReply *f = kv->element[i], *v = kv->element[i + 1];
    if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
      continue;
    if (!strcmp(f->str, "event_id") && v->len == EVENT_ID_LEN) {
      memcpy(ev->event_id, v->str, EVENT_ID_LEN + 1);
      have |= 1;
    } else if (!strcmp(f->str, "user_id")) {
      ev->user_id = strtoll(v->str, NULL, 10);
      have |= 2;
    } else if (!strcmp(f->str, "movie_id")) {
      ev->movie_id = strtoll(v->str, NULL, 10);
      have |= 4;
    } else if (!strcmp(f->str, "rating")) {
      ev->rating = (int)strtol(v->str, NULL, 10);
      have |= 8;
    } else if (!strcmp(f->str, "ts")) {
      ev->ts = strtoll(v->str, NULL, 10);
      have |= 16;
    }
  }
  return have == 31 && !event_validate(ev, NULL, 0) ? 0 : -1;
}

int store_events_since(store *st, int64_t ts, int (*cb)(const mr_event *ev, void *ud), void *ud) {
  char start[64], count[16];
  if (ts > 0)
    snprintf(start, sizeof(start), "%" PRId64 "-0", ts * 1000);
  else
    snprintf(start, sizeof(start), "-");
  snprintf(count, sizeof(count), "%d", STORE_PAGE);
  for (;;) {
    const char *argv[] = {"XRANGE", STORE_EVENTS_KEY, start, "+", "COUNT", count};
    redisReply *r = store_cmd(st, 6, argv, NULL);
    if (!r)
      return MR_EIO;
    if (r->type != REDIS_REPLY_ARRAY) {
      store_seterr(st, "Redis XRANGE: unexpected reply");
      freeReplyObject(r);
      return MR_EIO;
    }
    size_t n = r->elements;
    for (size_t i = 0; i < n; i++) {
      mr_event ev;
      if (store_entry_event(r->element[i], &ev))
        continue;
      int stop = cb(&ev, ud);
      if (stop) {
        freeReplyObject(r);
        return stop;
      }
    }
    if (n) {
      /* the next page starts after the last id seen ("(" = exclusive, Redis >= 6.2) */
      const redisReply *last = r->element[n - 1];
      if (last->type == REDIS_REPLY_ARRAY && last->elements >= 1 &&
          last->element[0]->type == REDIS_REPLY_STRING)
        snprintf(start, sizeof(start), "(%s", last->element[0]->str);
      else
        n = 0;
    }
    freeReplyObject(r);
    if (n < STORE_PAGE)
      return MR_OK;
  }
}

int store_set_trending(store *st, const char *json) {
  const char *argv[] = {"SET", STORE_TRENDING_KEY, json};
  redisReply *r = store_cmd(st, 3, argv, NULL);
  if (!r)
    return MR_EIO;
  freeReplyObject(r);
  return MR_OK;
}

int store_get_trending(store *st, char **json) {
  *json = NULL;
  const char *argv[] = {"GET", STORE_TRENDING_KEY};
  redisReply *r = store_cmd(st, 2, argv, NULL);
  if (!r)
    return MR_EIO;
  int rc = MR_OK;
  if (r->type == REDIS_REPLY_NIL)
    rc = MR_ENOTFOUND;
  else if (r->type != REDIS_REPLY_STRING)
    rc = MR_EIO;
  else if (!(*json = strndup(r->str, r->len)))
    rc = MR_ENOMEM;
  freeReplyObject(r);
  return rc;
}

int store_stats_stored(store *st, long long *out) {
  *out = 0;
  const char *argv[] = {"GET", STORE_STORED_KEY};
  redisReply *r = store_cmd(st, 2, argv, NULL);
  if (!r)
    return MR_EIO;
  if (r->type == REDIS_REPLY_STRING)
    *out = strtoll(r->str, NULL, 10);
  freeReplyObject(r);
  return MR_OK;
}

/* ---- snapshot of every live rating ------------------------------------------------------ */

typedef struct store_live_vec {
  store_live_rating *v;
  size_t n, cap;
} store_live_vec;

static int store_live_push(store_live_vec *a, store_live_rating r) {
  if (a->n == a->cap) {
    size_t nc = a->cap ? a->cap * 2 : 4096;
    store_live_rating *nv = realloc(a->v, nc * sizeof(*nv));
    if (!nv)
      return MR_ENOMEM;
    a->v = nv;
    a->cap = nc;
  }
  a->v[a->n++] = r;
  return MR_OK;
}

/* The id of the newest entry of an XREVRANGE ... COUNT 1 reply ("0-0" when empty). */
static void store_last_id(const redisReply *r, char *id, size_t cap) {
  snprintf(id, cap, "0-0");
  if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
      r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements >= 1 &&
      r->element[0]->element[0]->type == REDIS_REPLY_STRING)
    snprintf(id, cap, "%s", r->element[0]->element[0]->str);
}

/* UID of "mr:u:{UID}:ratings", or -1. */
static int64_t store_key_uid(const char *key) {
  long long uid;
  int used = 0;
  if (sscanf(key, "mr:u:{%lld}:ratings%n", &uid, &used) != 1 || key[used] || uid <= 0)
    return -1;
  return uid;
}

static int store_i64_cmp(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

typedef struct store_seq_rating {
  store_live_rating r;
  size_t seq;
} store_seq_rating;

static int store_seq_cmp(const void *a, const void *b) {
  const store_seq_rating *x = a, *y = b;
  if (x->r.user_id != y->r.user_id)
    return x->r.user_id < y->r.user_id ? -1 : 1;
  if (x->r.movie_id != y->r.movie_id)
    return x->r.movie_id < y->r.movie_id ? -1 : 1;
  return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Adds the ratings of one HGETALL reply of user uid. */
static int store_add_hash(store_live_vec *a, int64_t uid, const redisReply *r) {
  if (r->type != REDIS_REPLY_ARRAY)
    return MR_OK;
  for (size_t i = 0; i + 1 < r->elements; i += 2) {
    const redisReply *f = r->element[i], *val = r->element[i + 1];
    long long mid, ts;
    int rating, used = 0;
    if (f->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
      continue;
    if (sscanf(f->str, "%lld%n", &mid, &used) != 1 || (size_t)used != f->len || mid <= 0)
      continue;
    if (sscanf(val->str, "%d:%lld%n", &rating, &ts, &used) != 2 || (size_t)used != val->len ||
        rating < 1 || rating > 5)
      continue;
    int rc = store_live_push(a, (store_live_rating){uid, mid, rating, ts});
    if (rc)
      return rc;
  }
  return MR_OK;
}

/* Stream ids compare as (ms, seq) pairs. */
static int store_id_le(const char *a, const char *b) {
  unsigned long long am = 0, as = 0, bm = 0, bs = 0;
  sscanf(a, "%llu-%llu", &am, &as);
  sscanf(b, "%llu-%llu", &bm, &bs);
  return am < bm || (am == bm && as <= bs);
}

int store_snapshot(store *st, store_live_rating **out, size_t *n, store_snapshot_info *info) {
  char h0[48], cursor[32] = "0";
  char **keys = NULL;
  int64_t *uids = NULL;
  size_t nk = 0, capk = 0;
  store_live_vec a = {0};
  store_seq_rating *seq = NULL;
  redisReply *r = NULL;
  int rc = MR_EIO;
  *out = NULL;
  *n = 0;
  memset(info, 0, sizeof(*info));
  /* H0 before the SCAN */
  const char *rev[] = {"XREVRANGE", STORE_EVENTS_KEY, "+", "-", "COUNT", "1"};
  if (!(r = store_cmd(st, 6, rev, NULL)))
    return MR_EIO;
  store_last_id(r, h0, sizeof(h0));
  freeReplyObject(r);
  r = NULL;
  do {
    const char *scan[] = {"SCAN", cursor, "MATCH", "mr:u:*:ratings", "COUNT", "1000"};
    if (!(r = store_cmd(st, 6, scan, NULL)))
      goto fail;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
      store_seterr(st, "Redis SCAN: unexpected reply");
      goto fail;
    }
    snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
    const redisReply *ks = r->element[1];
    for (size_t i = 0; i < ks->elements; i++) {
      if (ks->element[i]->type != REDIS_REPLY_STRING || store_key_uid(ks->element[i]->str) < 0)
        continue;
      if (nk == capk) {
        size_t nc = capk ? capk * 2 : 1024;
        char **nv = realloc(keys, nc * sizeof(*nv));
        if (!nv) {
          rc = MR_ENOMEM;
          goto fail;
        }
        keys = nv;
        capk = nc;
      }
      if (!(keys[nk] = strdup(ks->element[i]->str))) {
        rc = MR_ENOMEM;
        goto fail;
      }
      nk++;
    }
    freeReplyObject(r);
    r = NULL;
  } while (strcmp(cursor, "0"));
  /* SCAN may return a key twice: dedupe by uid */
  if (nk && !(uids = malloc(nk * sizeof(*uids)))) {
    rc = MR_ENOMEM;
    goto fail;
  }
  for (size_t i = 0; i < nk; i++)
    uids[i] = store_key_uid(keys[i]);
  if (nk)
    qsort(uids, nk, sizeof(*uids), store_i64_cmp);
  size_t nu = 0;
  for (size_t i = 0; i < nk; i++)
    if (!nu || uids[nu - 1] != uids[i])
      uids[nu++] = uids[i];
  /* one atomic read: H, the stored counter and every hash */
  if (!st->c) {
    store_seterr(st, "not connected to Redis %s:%d", st->host, st->port);
    goto fail;
  }
  redisAppendCommand(st->c, "MULTI");
  redisAppendCommand(st->c, "XREVRANGE %s + - COUNT 1", STORE_EVENTS_KEY);
  redisAppendCommand(st->c, "GET %s", STORE_STORED_KEY);
  char key[64];
  for (size_t i = 0; i < nu; i++) {
    store_key_user_ratings(uids[i], key, sizeof(key));
    redisAppendCommand(st->c, "HGETALL %s", key);
  }
  redisAppendCommand(st->c, "EXEC");
  for (size_t i = 0; i < nu + 4; i++) {
    redisReply *x = NULL;
    if (redisGetReply(st->c, (void **)&x) != REDIS_OK || !x) {
      store_seterr(st, "Redis %s:%d: %s", st->host, st->port,
                   st->c->errstr[0] ? st->c->errstr : "connection lost");
      store_drop(st);
      goto fail;
    }
    if (i == nu + 3)
      r = x;
    else if (x->type == REDIS_REPLY_ERROR) {
      store_seterr(st, "Redis snapshot: %.*s", (int)x->len, x->str);
      freeReplyObject(x);
      /* drain the rest so the connection stays in sync */
      for (size_t j = i + 1; j < nu + 4; j++) {
        redisReply *y = NULL;
        if (redisGetReply(st->c, (void **)&y) != REDIS_OK)
          break;
        freeReplyObject(y);
      }
      goto fail;
    } else
      freeReplyObject(x);
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements != nu + 2) {
    store_seterr(st, "Redis EXEC: unexpected reply");
    goto fail;
  }
  store_last_id(r->element[0], info->stream_id, sizeof(info->stream_id));
  if (r->element[1]->type == REDIS_REPLY_STRING)
    info->stored = strtoll(r->element[1]->str, NULL, 10);
  for (size_t i = 0; i < nu; i++)
    if ((rc = store_add_hash(&a, uids[i], r->element[2 + i])))
      goto fail;
  freeReplyObject(r);
  r = NULL;
  /* users first seen after the SCAN began: their ratings are stream entries in (H0, H] */
  if (strcmp(info->stream_id, h0)) {
    char start[64], count[16];
    if (!strcmp(h0, "0-0"))
      snprintf(start, sizeof(start), "-");
    else
      snprintf(start, sizeof(start), "(%s", h0);
    snprintf(count, sizeof(count), "%d", STORE_PAGE);
    for (int done = 0; !done;) {
      const char *xr[] = {"XRANGE", STORE_EVENTS_KEY, start, info->stream_id, "COUNT", count};
      if (!(r = store_cmd(st, 6, xr, NULL)))
        goto fail;
      if (r->type != REDIS_REPLY_ARRAY) {
        store_seterr(st, "Redis XRANGE: unexpected reply");
        goto fail;
      }
      for (size_t i = 0; i < r->elements; i++) {
        mr_event ev;
        if (store_entry_event(r->element[i], &ev))
          continue;
        if (nu && bsearch(&ev.user_id, uids, nu, sizeof(*uids), store_i64_cmp))
          continue;
        if ((rc = store_live_push(&a,
                                  (store_live_rating){ev.user_id, ev.movie_id, ev.rating, ev.ts})))
          goto fail;
      }
      done = r->elements < STORE_PAGE;
      if (!done) {
        const redisReply *last = r->element[r->elements - 1];
        if (last->type == REDIS_REPLY_ARRAY && last->elements >= 1 &&
            last->element[0]->type == REDIS_REPLY_STRING &&
            store_id_le(last->element[0]->str, info->stream_id))
          snprintf(start, sizeof(start), "(%s", last->element[0]->str);
        else
          done = 1;
      }
      freeReplyObject(r);
      r = NULL;
    }
  }
  /* one entry per (user, movie); among stream entries the later one wins */
  if (a.n) {
    if (!(seq = malloc(a.n * sizeof(*seq)))) {
      rc = MR_ENOMEM;
      goto fail;
    }
    for (size_t i = 0; i < a.n; i++)
      seq[i] = (store_seq_rating){a.v[i], i};
    qsort(seq, a.n, sizeof(*seq), store_seq_cmp);
    size_t k = 0;
    for (size_t i = 0; i < a.n; i++) {
      if (i + 1 < a.n && seq[i + 1].r.user_id == seq[i].r.user_id &&
          seq[i + 1].r.movie_id == seq[i].r.movie_id)
        continue;
      a.v[k++] = seq[i].r;
    }
    a.n = k;
  }
  size_t users = 0;
  for (size_t i = 0; i < a.n; i++)
    if (!i || a.v[i].user_id != a.v[i - 1].user_id)
      users++;
  info->users = users;
  free(seq);
  free(uids);
  for (size_t i = 0; i < nk; i++)
    free(keys[i]);
  free(keys);
  if (!a.n) {
    free(a.v);
    a.v = NULL;
  }
  *out = a.v;
  *n = a.n;
  return MR_OK;
fail:
  if (r)
    freeReplyObject(r);
  free(seq);
  free(uids);
  for (size_t i = 0; i < nk; i++)
    free(keys[i]);
  free(keys);
  free(a.v);
  return rc ? rc : MR_EIO;
}

int store_publish(store *st, const char *channel, const char *message, long long *receivers) {
  const char *argv[] = {"PUBLISH", channel, message};
  redisReply *r = store_cmd(st, 3, argv, NULL);
  if (!r)
    return MR_EIO;
  if (receivers)
    *receivers = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
  freeReplyObject(r);
  return MR_OK;
}

int store_hset(store *st, const char *key, int n, const char **fields, const char **values) {
  const char *argv[2 + 2 * 32];
  if (n < 1 || n > 32)
    return MR_EINVAL;
  argv[0] = "HSET";
  argv[1] = key;
  for (int i = 0; i < n; i++) {
    argv[2 + 2 * i] = fields[i];
    argv[3 + 2 * i] = values[i];
  }
  redisReply *r = store_cmd(st, 2 + 2 * n, argv, NULL);
  if (!r)
    return MR_EIO;
  freeReplyObject(r);
  return MR_OK;
}

int store_hincrby(store *st, const char *key, const char *field, long long by) {
  char num[32];
  snprintf(num, sizeof(num), "%lld", by);
  const char *argv[] = {"HINCRBY", key, field, num};
  redisReply *r = store_cmd(st, 4, argv, NULL);
  if (!r)
    return MR_EIO;
  freeReplyObject(r);
  return MR_OK;
}
