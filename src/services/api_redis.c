/* Per-loop asynchronous Redis connection with timeouts and reconnection (hiredis + libuv). */
#include "services/api_redis.h"

#include <hiredis/async.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
/* The adapter defines static functions; it is included in this file only. */
#include <hiredis/adapters/libuv.h>

#define API_REDIS_BACKOFF_MIN_MS 50
#define API_REDIS_BACKOFF_MAX_MS 2000
#define API_REDIS_TICK_MS 20

/* One pending command; Redis answers in order, so the list is oldest first. */
typedef struct api_redis_op {
  struct api_redis_op *prev, *next;
  api_redis *r;
  api_redis_cb cb;
  void *arg;
  uint64_t deadline_ms;
} api_redis_op;

struct api_redis {
  uv_loop_t *loop;
  redisAsyncContext *ac;
  int connected;
  int connect_failing; /* logged once until the next successful connect */
  int closing;
  char host[256];
  int port, db;
  unsigned timeout_ms;
  unsigned backoff_ms;
  uv_timer_t reconnect; /* fires the next connection attempt */
  uv_timer_t watchdog;  /* checks the oldest pending reply's deadline */
  int handles_open;
  uint64_t connect_started_ms;
  api_redis_op head; /* sentinel of the pending list */
};

static _Atomic uint64_t api_redis_n_errors, api_redis_n_timeouts, api_redis_n_reconnects;

void api_redis_stats_get(api_redis_stats *out) {
  out->errors = atomic_load(&api_redis_n_errors);
  out->timeouts = atomic_load(&api_redis_n_timeouts);
  out->reconnects = atomic_load(&api_redis_n_reconnects);
}

int api_redis_parse_url(const char *url, char *host, size_t hostlen, int *port, int *db) {
  *port = 6379;
  *db = 0;
  if (!url || hostlen < 2)
    return MR_EINVAL;
  if (!strncmp(url, "redis://", 8))
    url += 8;
  const char *at = strchr(url, '@'); /* credentials are not supported: skip them */
  if (at)
    url = at + 1;
  size_t hl = strcspn(url, ":/");
  if (hl == 0)
    snprintf(host, hostlen, "127.0.0.1");
  else if (hl >= hostlen)
    return MR_EINVAL;
  else {
    memcpy(host, url, hl);
    host[hl] = '\0';
  }
  const char *p = url + hl;
  if (*p == ':') {
    char *end;
    long v = strtol(p + 1, &end, 10);
    if (end == p + 1 || v < 1 || v > 65535)
      return MR_EINVAL;
    *port = (int)v;
    p = end;
  }
  if (*p == '/' && p[1]) {
    char *end;
    long v = strtol(p + 1, &end, 10);
    if (end == p + 1 || *end || v < 0 || v > 1000)
      return MR_EINVAL;
    *db = (int)v;
  } else if (*p && strcmp(p, "/"))
    return MR_EINVAL;
  return MR_OK;
}

static uint64_t api_redis_now(api_redis *r) {
  return uv_now(r->loop);
}

static void api_redis_on_reconnect_timer(uv_timer_t *t);

static void api_redis_schedule(api_redis *r) {
  if (r->closing)
    return;
  uv_timer_start(&r->reconnect, api_redis_on_reconnect_timer, r->backoff_ms, 0);
  r->backoff_ms *= 2;
  if (r->backoff_ms > API_REDIS_BACKOFF_MAX_MS)
    r->backoff_ms = API_REDIS_BACKOFF_MAX_MS;
}

static void api_redis_on_connect(const redisAsyncContext *ac, int status) {
  api_redis *r = ac->data;
  if (!r || r->ac != ac)
    return;
  if (status != REDIS_OK) {
    /* hiredis frees the context after this callback */
    if (!r->connect_failing)
      fprintf(stderr, "api: redis %s:%d: connect failed: %s\n", r->host, r->port, ac->errstr);
    r->connect_failing = 1;
    r->ac = NULL;
    r->connected = 0;
    api_redis_schedule(r);
    return;
  }
  r->connected = 1;
  if (r->connect_failing)
    fprintf(stderr, "api: redis %s:%d: connected again\n", r->host, r->port);
  r->connect_failing = 0;
  r->backoff_ms = API_REDIS_BACKOFF_MIN_MS;
  atomic_fetch_add(&api_redis_n_reconnects, 1);
  if (r->db)
    redisAsyncCommand(r->ac, NULL, NULL, "SELECT %d", r->db);
}

static void api_redis_on_disconnect(const redisAsyncContext *ac, int status) {
  api_redis *r = ac->data;
  if (!r || r->ac != ac)
    return;
  if (status != REDIS_OK && !r->closing)
    fprintf(stderr, "api: redis %s:%d: connection lost: %s\n", r->host, r->port, ac->errstr);
  r->ac = NULL;
  r->connected = 0;
  api_redis_schedule(r);
}

static void api_redis_connect(api_redis *r) {
  redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
  if (!ac) {
    api_redis_schedule(r);
    return;
  }
  if (ac->err) {
    fprintf(stderr, "api: redis %s:%d: %s\n", r->host, r->port, ac->errstr);
    redisAsyncFree(ac);
    api_redis_schedule(r);
    return;
  }
  ac->data = r;
  if (redisLibuvAttach(ac, r->loop) != REDIS_OK) {
    redisAsyncFree(ac);
    api_redis_schedule(r);
    return;
  }
  r->ac = ac;
  r->connect_started_ms = api_redis_now(r);
  redisAsyncSetConnectCallback(ac, api_redis_on_connect);
  redisAsyncSetDisconnectCallback(ac, api_redis_on_disconnect);
}

static void api_redis_on_reconnect_timer(uv_timer_t *t) {
  api_redis *r = t->data;
  if (!r->closing && !r->ac)
    api_redis_connect(r);
}

/* Drops the connection (pending callbacks run with NULL) and schedules a new one. */
static void api_redis_drop(api_redis *r) {
  redisAsyncContext *ac = r->ac;
  if (!ac)
    return;
  redisAsyncFree(ac); /* runs the pending callbacks and the disconnect callback */
  if (r->ac == ac) {  /* not connected yet: no disconnect callback */
    r->ac = NULL;
    r->connected = 0;
    api_redis_schedule(r);
  }
}

static void api_redis_on_watchdog(uv_timer_t *t) {
  api_redis *r = t->data;
  api_redis_op *oldest = r->head.next;
  if (oldest != &r->head && api_redis_now(r) > oldest->deadline_ms) {
    fprintf(stderr, "api: redis %s:%d: no reply within %u ms: reconnecting\n", r->host, r->port,
            r->timeout_ms);
    atomic_fetch_add(&api_redis_n_timeouts, 1);
    api_redis_drop(r);
  } else if (r->ac && !r->connected &&
             api_redis_now(r) > r->connect_started_ms + 2 * (uint64_t)r->timeout_ms) {
    /* hiredis 0.14's async connect has no timeout of its own, and its libuv adapter drops
     * poll errors (a refused connection ends up here too) */
    if (!r->connect_failing)
      fprintf(stderr, "api: redis %s:%d: cannot connect (refused or no answer); retrying\n",
              r->host, r->port);
    r->connect_failing = 1;
    api_redis_drop(r);
  }
}

static void api_redis_on_reply(redisAsyncContext *ac, void *reply, void *priv) {
  (void)ac;
  api_redis_op *op = priv;
  op->prev->next = op->next;
  op->next->prev = op->prev;
  if (!reply)
    atomic_fetch_add(&api_redis_n_errors, 1);
  if (op->cb)
    op->cb(reply, op->arg);
  free(op);
}

int api_redis_create(uv_loop_t *loop, const char *url, unsigned timeout_ms, api_redis **out) {
  *out = NULL;
  api_redis *r = calloc(1, sizeof(*r));
  if (!r)
    return MR_ENOMEM;
  if (api_redis_parse_url(url, r->host, sizeof(r->host), &r->port, &r->db)) {
    free(r);
    return MR_EINVAL;
  }
  r->loop = loop;
  r->timeout_ms = timeout_ms ? timeout_ms : 500;
  r->backoff_ms = API_REDIS_BACKOFF_MIN_MS;
  r->head.next = r->head.prev = &r->head;
  uv_timer_init(loop, &r->reconnect);
  uv_timer_init(loop, &r->watchdog);
  r->reconnect.data = r->watchdog.data = r;
  r->handles_open = 2;
  uv_timer_start(&r->reconnect, api_redis_on_reconnect_timer, 0, 0);
  uv_timer_start(&r->watchdog, api_redis_on_watchdog, API_REDIS_TICK_MS, API_REDIS_TICK_MS);
  uv_unref((uv_handle_t *)&r->watchdog); /* the watchdog alone does not keep a loop alive */
  *out = r;
  return MR_OK;
}

static void api_redis_on_handle_closed(uv_handle_t *h) {
  api_redis *r = h->data;
  if (--r->handles_open == 0)
    free(r);
}

void api_redis_free(api_redis *r) {
  if (!r)
    return;
  r->closing = 1;
  if (r->ac) {
    redisAsyncContext *ac = r->ac;
    r->ac = NULL;
    ac->data = NULL;
    redisAsyncFree(ac);
  }
  r->connected = 0;
  uv_close((uv_handle_t *)&r->reconnect, api_redis_on_handle_closed);
  uv_close((uv_handle_t *)&r->watchdog, api_redis_on_handle_closed);
}

int api_redis_up(const api_redis *r) {
  return r && r->connected && r->ac;
}

int api_redis_cmd(api_redis *r, api_redis_cb cb, void *arg, int argc, const char **argv,
                  const size_t *argvlen) {
  if (!api_redis_up(r)) {
    atomic_fetch_add(&api_redis_n_errors, 1);
    return MR_EIO;
  }
  api_redis_op *op = malloc(sizeof(*op));
  if (!op)
    return MR_ENOMEM;
  op->r = r;
  op->cb = cb;
  op->arg = arg;
  op->deadline_ms = api_redis_now(r) + r->timeout_ms;
  op->prev = r->head.prev;
  op->next = &r->head;
  r->head.prev->next = op;
  r->head.prev = op;
  if (redisAsyncCommandArgv(r->ac, api_redis_on_reply, op, argc, argv, argvlen) != REDIS_OK) {
    op->prev->next = op->next;
    op->next->prev = op->prev;
    free(op);
    atomic_fetch_add(&api_redis_n_errors, 1);
    return MR_EIO;
  }
  return MR_OK;
}
