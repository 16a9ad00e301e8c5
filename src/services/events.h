/* The event service (`movierec events`): POST /interact validates a rating and publishes it to
 * RabbitMQ, answering 202 only after the broker confirmed it; GET /health; GET /metrics. */
#ifndef MR_EVENTS_H
#define MR_EVENTS_H

#include "data/dataset.h"
#include "infra/amqp_publisher.h"

typedef struct events_svc events_svc;

typedef struct events_opts {
  const char *listen;             /* default "127.0.0.1" */
  int port;                       /* default 8001; 0 = ephemeral */
  int threads;                    /* loop threads; <= 0 = cores */
  const char *cors_origin;        /* NULL = no CORS */
  const char *amqp_url;           /* required */
  const char *token;              /* POST /interact needs "Authorization: Bearer <token>";
                                     NULL or "" = open (copied) */
  double confirm_timeout_s;       /* broker confirm wait before a 503; default 2 */
  amqpp_state_fn on_broker_state; /* broker (dis)connections, e.g. to log them; may be NULL */
  void *state_user;
} events_opts;

void events_opts_default(events_opts *o);

/* Builds the service: copies the set of valid movie ids from ds (ds may be freed afterwards),
 * starts the publisher (it connects in the background) and binds the HTTP server. Returns 0 and
 * *out, or a negative status with a message in err. */
int events_create(const events_opts *o, const mr_dataset *ds, events_svc **out, char *err,
                  size_t errlen);

/* The bound HTTP port. */
int events_port(const events_svc *s);

/* Blocks until SIGINT or SIGTERM (the service runs on its own threads). Returns 0; then call
 * events_free, which stops gracefully (pending publishes are answered). */
int events_run(events_svc *s);

/* Stops everything and frees. Accepts NULL. */
void events_free(events_svc *s);

#endif
