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
