/* RabbitMQ publisher with publisher confirms on its own thread (rabbitmq-c blocks): callers on
 * any thread queue messages; each message's outcome (broker ack, nack, timeout, connection
 * lost) is reported through a callback; the thread reconnects with backoff by itself. */
#ifndef MR_AMQP_PUBLISHER_H
#define MR_AMQP_PUBLISHER_H

#include <stddef.h>

typedef struct amqpp amqpp;

/* Outcome of one message, called ON THE PUBLISHER THREAD: status 0 when the broker confirmed
 * it (basic.ack: the message is in the durable queue), MR_EIO otherwise (nack, no confirm
 * within confirm_timeout_s, connection lost, publisher stopping). Must not block; hand the
 * result to the owning thread (e.g. http_loop_post) and return. */
typedef void (*amqpp_result_fn)(void *arg, int status);

/* Connection state changes (called on the publisher thread, e.g. to log them). connected is 1
 * after a successful (re)connect, 0 after a failure or a loss; msg says why. */
typedef void (*amqpp_state_fn)(void *user, int connected, const char *msg);

typedef struct amqpp_opts {
  const char *url;          /* amqp://user:pass@host:port/vhost; "/"-less or empty vhost = "/" */
  const char *queue;        /* routing key on the default exchange; default "movierec.ratings" */
  int declare;              /* declare the queue + dead-letter topology of SERVICES.md; default 1 */
  double confirm_timeout_s; /* default 2 */
  double connect_timeout_s; /* TCP connect, handshake and RPCs; default 2 */
  double backoff_min_s;     /* reconnect delay doubles from this ... default 0.2 */
  double backoff_max_s;     /* ... up to this; default 2 */
  int max_batch;            /* messages in flight (published, confirm pending); default 256 */
  size_t max_queued;        /* queued messages beyond this are refused; default 100000 */
  amqpp_state_fn on_state;  /* may be NULL */
  void *state_user;
} amqpp_opts;

/* Fills o with the defaults (url NULL: the caller must set it). */
void amqpp_opts_default(amqpp_opts *o);

/* Checks the URL, copies the options and starts the publisher thread, which connects in the
 * background (amqpp_connected says when). Returns 0 and *out, MR_EINVAL (bad URL or option) or
 * MR_ENOMEM. */
int amqpp_create(const amqpp_opts *o, amqpp **out);

/* Queues a persistent message (content_type application/json, delivery_mode 2) with `len`
 * bytes of `body` (copied). Thread-safe. Returns 0 when queued (then `cb(arg, status)` will be
 * called exactly once on the publisher thread), or MR_EIO at once when the publisher is not
 * connected, is stopping or its queue is full (cb is then NOT called). MR_ENOMEM likewise. */
int amqpp_publish(amqpp *p, const void *body, size_t len, amqpp_result_fn cb, void *arg);

/* 1 when connected to the broker with confirms enabled (a relaxed snapshot). Thread-safe. */
int amqpp_connected(const amqpp *p);

/* Copies the last connection error (or "" if none) into buf. Thread-safe. */
void amqpp_last_error(amqpp *p, char *buf, size_t cap);

/* Counters (thread-safe snapshots): messages confirmed, failed, reconnects. */
void amqpp_stats(const amqpp *p, unsigned long long *confirmed, unsigned long long *failed,
                 unsigned long long *connects);

/* Stops the thread: the batch being confirmed is finished, queued messages get MR_EIO through
 * their callbacks, the connection is closed; later amqpp_publish calls return MR_EIO. Blocks
 * until the thread ended (at most about connect_timeout_s + confirm_timeout_s). Idempotent. */
void amqpp_stop(amqpp *p);

/* Stops (if needed) and frees everything. Accepts NULL. */
void amqpp_free(amqpp *p);

#endif
