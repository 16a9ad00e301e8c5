/* RabbitMQ consumer of movierec.ratings (rabbitmq-c, blocking): topology, deliveries, acks. */
#ifndef MR_AMQP_CONSUMER_H
#define MR_AMQP_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#define AMQPC_QUEUE "movierec.ratings"
#define AMQPC_DLX "movierec.dlx"
#define AMQPC_DEAD_QUEUE "movierec.ratings.dead"

typedef struct amqpc amqpc;

/* One delivery. body/len borrow from the handle and stay valid until amqpc_msg_done or the
 * next amqpc_next on the same handle. */
typedef struct amqpc_msg {
  const char *body;
  size_t len;
  uint64_t delivery_tag;
  int redelivered;
} amqpc_msg;

/* Connects to url `amqp://user:pass@host:port/vhost`, declares the topology of
 * docs/SERVICES.md (durable queue movierec.ratings with x-dead-letter-exchange movierec.dlx;
 * durable fanout movierec.dlx bound to the durable queue movierec.ratings.dead), sets
 * basic.qos prefetch and starts consuming with manual acks. Like store_connect, a handle is
 * returned even when the broker cannot be reached (MR_EIO, amqpc_errstr says why; call
 * amqpc_reconnect later); a bad URL gives MR_EINVAL with *out NULL. prefetch 0 means no
 * consumer: a publisher-only handle (tests). Free with amqpc_free. */
int amqpc_connect(const char *url, int prefetch, int timeout_ms, amqpc **out, char *err,
                  size_t errlen);

/* Closes the connection (if any) and connects, declares and consumes again. Unacked
 * deliveries of the old connection are redelivered by the broker. */
int amqpc_reconnect(amqpc *c);

/* Closes the connection cleanly and releases the handle. NULL is fine. */
void amqpc_free(amqpc *c);

/* The last error ("" when none), valid until the next call on the handle. */
const char *amqpc_errstr(const amqpc *c);

/* Waits up to timeout_ms for the next delivery. MR_OK with *msg filled; MR_ENOTFOUND when the
 * time passed without one; MR_EIO on a broker or connection error (reconnect). */
int amqpc_next(amqpc *c, int timeout_ms, amqpc_msg *msg);

/* Releases the delivery's memory (after the ack or reject). */
void amqpc_msg_done(amqpc *c, amqpc_msg *msg);

/* basic.ack of one delivery, or with multiple = 1 of every unacked delivery up to and
 * including delivery_tag; MR_EIO on a connection error. */
int amqpc_ack(amqpc *c, uint64_t delivery_tag, int multiple);

/* basic.reject without requeue: the broker dead-letters it to movierec.ratings.dead. */
int amqpc_reject(amqpc *c, uint64_t delivery_tag);

/* Publishes body as a persistent application/json message to movierec.ratings on the default
 * exchange, on a publisher handle (prefetch 0: the channel is in confirm mode). For tests and
 * tools: call amqpc_wait_confirms before amqpc_free, or messages the broker has not read yet
 * can be lost when the connection closes. */
int amqpc_publish(amqpc *c, const char *body, size_t len);

/* Waits up to timeout_ms until the broker confirmed every message published on this handle.
 * MR_OK; MR_EIO on a nack, a connection error or the timeout (amqpc_errstr says which). */
int amqpc_wait_confirms(amqpc *c, int timeout_ms);

#endif
