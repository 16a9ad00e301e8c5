/* The trending service: time-decayed counts of recent rating events -> mr:trending. */
#ifndef MR_TRENDING_H
#define MR_TRENDING_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "infra/store.h"

typedef struct trending_item {
  int64_t movie_id;
  double score;
} trending_item;

typedef struct trending_config {
  const char *redis_url;
  int64_t window_s;   /* events of the last window_s seconds count */
  double half_life_s; /* an event's weight halves every half_life_s seconds of age */
  int top;            /* list length, >= 1 */
  int64_t now;        /* "now" in Unix seconds; 0: the clock at each run */
  int interval_s;     /* seconds between runs */
  int once;           /* 1: one run, then return */
} trending_config;

/* Scores the events of mr:events with ts in [now - window_s, now]: each adds
 * 0.5^(age / half_life_s), age = now - ts (an event stamped after now, e.g. clock skew, counts
 * with age 0). *items (malloc'd, caller frees) holds the top `top` movies by score (ties: lower
 * movie id first), *n their count and *n_events the events counted. MR_EIO on a Redis error. */
int trending_compute(store *st, int64_t now, int64_t window_s, double half_life_s, int top,
                     trending_item **items, size_t *n, long *n_events);

/* The mr:trending JSON of docs/SERVICES.md: {"updated_at", "window_s", "half_life_s",
 * "items": [{"movie_id", "score"}]}; *json is malloc'd, the caller frees it. */
int trending_format(const trending_item *items, size_t n, int64_t now, int64_t window_s,
                    double half_life_s, char **json);

/* Computes and writes mr:trending every interval_s seconds until *stop (or once), logging the
 * event count and the top 3 to stderr; Redis errors are logged and retried with a reconnect at
 * the next run (with --once: after a short backoff, up to 5 tries). MR_OK, MR_EINVAL for a bad
 * config, MR_EIO when a --once run could not be written. */
int trending_run(const trending_config *cfg, volatile sig_atomic_t *stop);

#endif
