/* The consume loop: parse, store idempotently, then ack; reject malformed; retry on errors. */
#include "services/consume.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mr_error.h"
#include "infra/amqp_consumer.h"
#include "infra/event.h"
#include "infra/store.h"

#define CONSUME_BACKOFF_MIN_MS 100
#define CONSUME_BACKOFF_MAX_MS 5000
#define CONSUME_TIMEOUT_MS 2000
#define CONSUME_LOG_EVERY 1000

static double consume_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

__attribute__((format(printf, 1, 2))) static void consume_log(const char *fmt, ...) {
  char ts[32];
  va_list ap;
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
  fprintf(stderr, "%s consume: ", ts);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* Sleeps ms in short slices so a stop request is seen within 50 ms. */
static void consume_sleep(int ms, volatile sig_atomic_t *stop) {
  while (ms > 0 && !*stop) {
    int step = ms < 50 ? ms : 50;
    struct timespec t = {0, (long)step * 1000000L};
    nanosleep(&t, NULL);
    ms -= step;
  }
}

static int consume_next_backoff(int ms) {
  ms *= 2;
  return ms > CONSUME_BACKOFF_MAX_MS ? CONSUME_BACKOFF_MAX_MS : ms;
}

/* Reconnects Redis with backoff until it answers PING or a stop is requested; 0 when up. */
static int consume_redis_up(store *st, volatile sig_atomic_t *stop, consume_stats *s) {
  int backoff = CONSUME_BACKOFF_MIN_MS;
  while (!*stop) {
    if (store_connected(st) && !store_ping(st))
      return 0;
    s->redis_errors++;
    consume_log("Redis unavailable (%s), retrying in %d ms", store_errstr(st), backoff);
    consume_sleep(backoff, stop);
    backoff = consume_next_backoff(backoff);
    if (!*stop && !store_reconnect(st) && !store_ping(st)) {
      consume_log("Redis reconnected");
      return 0;
    }
  }
  return -1;
}

static int consume_broker_up(amqpc *q, volatile sig_atomic_t *stop, consume_stats *s) {
  int backoff = CONSUME_BACKOFF_MIN_MS;
  while (!*stop) {
    s->broker_errors++;
    consume_log("RabbitMQ unavailable (%s), retrying in %d ms", amqpc_errstr(q), backoff);
    consume_sleep(backoff, stop);
    backoff = consume_next_backoff(backoff);
    if (!*stop && !amqpc_reconnect(q)) {
      consume_log("RabbitMQ reconnected, consuming %s", AMQPC_QUEUE);
      return 0;
    }
  }
  return -1;
}

/* Stores a batch, retrying through Redis outages; 0 when every event is stored (or already
 * was), -1 when a stop came first (the batch stays unacked and the broker redelivers it). */
static int consume_store(store *st, const mr_event *evs, int *was_new, size_t n,
                         volatile sig_atomic_t *stop, consume_stats *s) {
  int backoff = CONSUME_BACKOFF_MIN_MS;
  for (;;) {
    int rc = store_put_ratings(st, evs, n, was_new);
    if (!rc) {
      for (size_t i = 0; i < n; i++) {
        if (was_new[i])
          s->stored++;
        else
          s->duplicates++;
      }
      return 0;
    }
    if (rc == MR_EINVAL) /* cannot happen after event_parse; never loop on it */
      return 0;
    s->redis_errors++;
    consume_log("storing %zu events failed (%s), retrying in %d ms", n, store_errstr(st), backoff);
    consume_sleep(backoff, stop);
    if (*stop)
      return -1;
    backoff = consume_next_backoff(backoff);
    /* a fresh connection for every retry: after an I/O error the old one is dead, and after an
     * error reply (loading, OOM, failover) reconnecting costs nothing */
    store_reconnect(st);
  }
}

int consume_run(const consume_config *cfg, volatile sig_atomic_t *stop, consume_stats *stats) {
  consume_stats s;
  memset(&s, 0, sizeof(s));
  store *st = NULL;
  amqpc *q = NULL;
  char err[256];
  int rc = store_connect(cfg->redis_url, CONSUME_TIMEOUT_MS, &st, err, sizeof(err));
  if (rc == MR_EINVAL || rc == MR_ENOMEM) {
    consume_log("%s", err);
    goto done;
  }
  rc = amqpc_connect(cfg->amqp_url, cfg->prefetch, CONSUME_TIMEOUT_MS * 2, &q, err, sizeof(err));
  if (rc == MR_EINVAL || rc == MR_ENOMEM) {
    consume_log("%s", err);
    goto done;
  }
  rc = MR_OK;
  if (consume_redis_up(st, stop, &s))
    goto done;
  if (amqpc_errstr(q)[0] && consume_broker_up(q, stop, &s))
    goto done;
  consume_log("consuming %s (prefetch %d)", AMQPC_QUEUE, cfg->prefetch);
  double t_mark = consume_now();
  long stored_mark = 0;
  /* Deliveries already waiting are taken as one batch (at most the prefetch count) and stored
   * with one pipelined round trip; the batch is acked after Redis confirmed all of it. */
  size_t cap = (size_t)cfg->prefetch, n = 0;
  mr_event *evs = malloc(cap * sizeof(*evs));
  int *was_new = malloc(cap * sizeof(*was_new));
  if (!evs || !was_new) {
    consume_log("out of memory");
    rc = MR_ENOMEM;
    free(evs);
    free(was_new);
    goto done;
  }
  while (!*stop) {
    amqpc_msg m;
    uint64_t last_tag = 0;
    int broker_down = 0;
    n = 0;
    while (n < cap) {
      int r = amqpc_next(q, n ? 0 : 200, &m);
      if (r == MR_ENOTFOUND)
        break;
      if (r) {
        broker_down = 1;
        break;
      }
      if (event_parse(m.body, m.len, &evs[n], err, sizeof(err))) {
        consume_log("malformed message (delivery %llu) dead-lettered: %s",
                    (unsigned long long)m.delivery_tag, err);
        r = amqpc_reject(q, m.delivery_tag);
        amqpc_msg_done(q, &m);
        if (r) {
          broker_down = 1;
          break;
        }
        s.rejected++;
        continue;
      }
      last_tag = m.delivery_tag;
      amqpc_msg_done(q, &m);
      n++;
    }
    if (broker_down) {
      /* the batch's delivery tags died with the channel: the broker redelivers them */
      if (consume_broker_up(q, stop, &s))
        break;
      continue;
    }
    if (!n)
      continue;
    if (consume_store(st, evs, was_new, n, stop, &s))
      break;
    /* every earlier delivery on this channel is acked or rejected already: one ack covers the
     * batch */
    if (amqpc_ack(q, last_tag, 1) && consume_broker_up(q, stop, &s))
      break;
    if (s.stored - stored_mark >= CONSUME_LOG_EVERY) {
      double t = consume_now();
      consume_log("stored %ld ratings (%.0f/s)", s.stored,
                  (double)(s.stored - stored_mark) / (t - t_mark));
      t_mark = t;
      stored_mark = s.stored;
    }
  }
  free(evs);
  free(was_new);
  consume_log("stopping: stored %ld, duplicates %ld, dead-lettered %ld", s.stored, s.duplicates,
              s.rejected);
done:
  amqpc_free(q);
  store_free(st);
  if (stats)
    *stats = s;
  return rc;
}
