/* The consume service: RabbitMQ movierec.ratings -> Redis, ack only after Redis stored. */
#ifndef MR_CONSUME_H
#define MR_CONSUME_H

#include <signal.h>

typedef struct consume_stats {
  long stored;     /* ratings newly stored */
  long duplicates; /* redeliveries that were already stored (acked, no-op) */
  long rejected;   /* malformed messages dead-lettered */
  long redis_errors, broker_errors;
} consume_stats;

typedef struct consume_config {
  const char *amqp_url;
  const char *redis_url;
  int prefetch;
} consume_config;

/* Runs until *stop becomes non-zero (set it from a SIGTERM/SIGINT handler): the message being
 * handled is finished (stored and acked, or left unacked when Redis is down) before returning.
 * Broker and Redis errors never end the loop: it reconnects with backoff (100 ms doubling to
 * 5 s) and a message is acked only after Redis confirmed it, so none is lost. Logs to stderr.
 * Returns MR_OK on a stop, MR_EINVAL for a bad URL or prefetch; fills *stats when not NULL. */
int consume_run(const consume_config *cfg, volatile sig_atomic_t *stop, consume_stats *stats);

#endif
