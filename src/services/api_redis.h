/* One asynchronous Redis connection per event loop (hiredis async API on libuv): commands never
 * block the loop, overdue replies are timed out, and a lost connection reconnects with backoff. */
#ifndef MR_API_REDIS_H
#define MR_API_REDIS_H

#include <hiredis/hiredis.h>
#include <stdint.h>
#include <uv.h>

typedef struct api_redis api_redis;

/* Called once per command: reply is borrowed for the duration of the call; NULL when Redis is
 * down, the connection was lost, or the reply is overdue (timeout). An error reply
 * (REDIS_REPLY_ERROR) is passed through. */
typedef void (*api_redis_cb)(redisReply *reply, void *arg);

/* Process-wide counters (all loops), for /metrics. */
typedef struct api_redis_stats {
  uint64_t errors;     /* commands answered with NULL (down, lost, timed out) or refused */
  uint64_t timeouts;   /* connections dropped because a reply was overdue */
  uint64_t reconnects; /* successful (re)connections */
} api_redis_stats;

/* Parses "redis://host:port[/db]" or "host:port" (missing parts: 127.0.0.1, 6379, db 0). host
 * gets at most hostlen-1 bytes. Returns MR_EINVAL on a malformed URL. */
int api_redis_parse_url(const char *url, char *host, size_t hostlen, int *port, int *db);

/* Creates the connection object for loop and starts connecting (never blocks). timeout_ms is the
 * longest a reply may be overdue before the connection is declared dead and re-made. The handle
 * lives on loop's thread only. Free with api_redis_free (before the loop is closed). */
int api_redis_create(uv_loop_t *loop, const char *url, unsigned timeout_ms, api_redis **out);

/* Closes the connection: pending callbacks run with NULL; handles are closed on the loop (run
 * the loop once more to release them). NULL is fine. */
void api_redis_free(api_redis *r);

/* 1 when the connection is established. */
int api_redis_up(const api_redis *r);

/* Sends a command (argv form, binary safe). cb may be NULL (fire and forget). Returns 0 when
 * queued (cb will be called exactly once), MR_EIO when Redis is down (cb is not called). */
int api_redis_cmd(api_redis *r, api_redis_cb cb, void *arg, int argc, const char **argv,
                  const size_t *argvlen);

/* Snapshot of the process-wide counters. */
void api_redis_stats_get(api_redis_stats *out);

#endif
