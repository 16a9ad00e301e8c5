/* RabbitMQ consumer over rabbitmq-c: declare, qos, consume, ack/reject, reconnect. */
#include "infra/amqp_consumer.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/mr_error.h"

struct amqpc {
  char *url_buf; /* amqp_parse_url points into it */
  struct amqp_connection_info info;
  int prefetch, timeout_ms;
  amqp_connection_state_t conn;
  uint64_t published, confirmed; /* publisher handles: counts on the current connection */
  int have_envelope;
  amqp_envelope_t env;
  char errstr[256];
};

static void amqpc_seterr(amqpc *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->errstr, sizeof(c->errstr), fmt, ap);
  va_end(ap);
}

/* Describes an RPC reply; 0 when it is a normal reply. */
static int amqpc_check(amqpc *c, amqp_rpc_reply_t r, const char *what) {
  switch (r.reply_type) {
  case AMQP_RESPONSE_NORMAL:
    return 0;
  case AMQP_RESPONSE_NONE:
    amqpc_seterr(c, "RabbitMQ %s: no reply", what);
    break;
  case AMQP_RESPONSE_LIBRARY_EXCEPTION:
    amqpc_seterr(c, "RabbitMQ %s: %s", what, amqp_error_string2(r.library_error));
    break;
  case AMQP_RESPONSE_SERVER_EXCEPTION:
    if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
      amqp_connection_close_t *m = r.reply.decoded;
      amqpc_seterr(c, "RabbitMQ %s: connection closed: %d %.*s", what, m->reply_code,
                   (int)m->reply_text.len, (const char *)m->reply_text.bytes);
    } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
      amqp_channel_close_t *m = r.reply.decoded;
      amqpc_seterr(c, "RabbitMQ %s: channel closed: %d %.*s", what, m->reply_code,
                   (int)m->reply_text.len, (const char *)m->reply_text.bytes);
    } else {
      amqpc_seterr(c, "RabbitMQ %s: server error (method 0x%08x)", what, r.reply.id);
    }
    break;
  }
  return -1;
}

static void amqpc_drop(amqpc *c) {
  if (c->have_envelope) {
    amqp_destroy_envelope(&c->env);
    c->have_envelope = 0;
  }
  if (c->conn) {
    amqp_destroy_connection(c->conn);
    c->conn = NULL;
  }
}

/* Sets up the topology exactly as docs/SERVICES.md (the event service declares the same
 * queue with the same arguments; a mismatch would make the broker refuse the declare). */
static int amqpc_declare(amqpc *c) {
  amqp_connection_state_t k = c->conn;
  amqp_exchange_declare(k, 1, amqp_cstring_bytes(AMQPC_DLX), amqp_cstring_bytes("fanout"), 0, 1, 0,
                        0, amqp_empty_table);
  if (amqpc_check(c, amqp_get_rpc_reply(k), "declare " AMQPC_DLX))
    return MR_EIO;
  amqp_queue_declare(k, 1, amqp_cstring_bytes(AMQPC_DEAD_QUEUE), 0, 1, 0, 0, amqp_empty_table);
  if (amqpc_check(c, amqp_get_rpc_reply(k), "declare " AMQPC_DEAD_QUEUE))
    return MR_EIO;
  amqp_queue_bind(k, 1, amqp_cstring_bytes(AMQPC_DEAD_QUEUE), amqp_cstring_bytes(AMQPC_DLX),
                  amqp_cstring_bytes(""), amqp_empty_table);
  if (amqpc_check(c, amqp_get_rpc_reply(k), "bind " AMQPC_DEAD_QUEUE))
    return MR_EIO;
  amqp_table_entry_t arg;
  arg.key = amqp_cstring_bytes("x-dead-letter-exchange");
  arg.value.kind = AMQP_FIELD_KIND_UTF8;
  arg.value.value.bytes = amqp_cstring_bytes(AMQPC_DLX);
  amqp_table_t args = {1, &arg};
  amqp_queue_declare(k, 1, amqp_cstring_bytes(AMQPC_QUEUE), 0, 1, 0, 0, args);
  if (amqpc_check(c, amqp_get_rpc_reply(k), "declare " AMQPC_QUEUE))
    return MR_EIO;
  return MR_OK;
}

int amqpc_reconnect(amqpc *c) {
  amqpc_drop(c);
  c->errstr[0] = 0;
  struct timeval tv = {c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000};
  if (!(c->conn = amqp_new_connection())) {
    amqpc_seterr(c, "RabbitMQ: out of memory");
    return MR_ENOMEM;
  }
  amqp_socket_t *sock = amqp_tcp_socket_new(c->conn);
  if (!sock) {
    amqpc_seterr(c, "RabbitMQ: cannot create a socket");
    goto fail;
  }
  int rc = amqp_socket_open_noblock(sock, c->info.host, c->info.port, &tv);
  if (rc != AMQP_STATUS_OK) {
    amqpc_seterr(c, "RabbitMQ %s:%d: %s", c->info.host, c->info.port, amqp_error_string2(rc));
    goto fail;
  }
  /* bounds every later blocking RPC (declare, qos, consume) so a hung broker is noticed */
  amqp_set_rpc_timeout(c->conn, &tv);
  if (amqpc_check(c,
                  amqp_login(c->conn, c->info.vhost, 0, 131072, 30, AMQP_SASL_METHOD_PLAIN,
                             c->info.user, c->info.password),
                  "login"))
    goto fail;
  amqp_channel_open(c->conn, 1);
  if (amqpc_check(c, amqp_get_rpc_reply(c->conn), "channel.open"))
    goto fail;
  if (amqpc_declare(c))
    goto fail;
  c->published = c->confirmed = 0;
  if (c->prefetch == 0) {
    amqp_confirm_select(c->conn, 1);
    if (amqpc_check(c, amqp_get_rpc_reply(c->conn), "confirm.select"))
      goto fail;
  } else {
    amqp_basic_qos(c->conn, 1, 0, (uint16_t)c->prefetch, 0);
    if (amqpc_check(c, amqp_get_rpc_reply(c->conn), "basic.qos"))
      goto fail;
    amqp_basic_consume(c->conn, 1, amqp_cstring_bytes(AMQPC_QUEUE), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    if (amqpc_check(c, amqp_get_rpc_reply(c->conn), "basic.consume"))
      goto fail;
  }
  return MR_OK;
fail:
  amqpc_drop(c);
  return MR_EIO;
}

int amqpc_connect(const char *url, int prefetch, int timeout_ms, amqpc **out, char *err,
                  size_t errlen) {
  char dummy[8];
  if (!err) {
    err = dummy;
    errlen = sizeof(dummy);
  }
  *out = NULL;
  if (prefetch < 0 || prefetch > 65535) {
    snprintf(err, errlen, "prefetch must be 0..65535, got %d", prefetch);
    return MR_EINVAL;
  }
  amqpc *c = calloc(1, sizeof(*c));
  if (!c || !(c->url_buf = strdup(url))) {
    free(c);
    snprintf(err, errlen, "out of memory");
    return MR_ENOMEM;
  }
  amqp_default_connection_info(&c->info);
  if (amqp_parse_url(c->url_buf, &c->info) != AMQP_STATUS_OK) {
    snprintf(err, errlen, "bad AMQP URL '%s' (expected amqp://user:pass@host:port/vhost)", url);
    free(c->url_buf);
    free(c);
    return MR_EINVAL;
  }
  /* amqp://host:port/ parses to the empty vhost; like most clients, take it as the default
   * vhost "/" (docs/SERVICES.md's default URL ends with a slash) */
  if (!c->info.vhost || !*c->info.vhost)
    c->info.vhost = "/";
  c->prefetch = prefetch;
  c->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
  *out = c;
  int rc = amqpc_reconnect(c);
  if (rc)
    snprintf(err, errlen, "%s", c->errstr);
  return rc;
}

void amqpc_free(amqpc *c) {
  if (!c)
    return;
  if (c->conn) {
    amqp_channel_close(c->conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(c->conn, AMQP_REPLY_SUCCESS);
  }
  amqpc_drop(c);
  free(c->url_buf);
  free(c);
}

const char *amqpc_errstr(const amqpc *c) {
  return c->errstr;
}

int amqpc_next(amqpc *c, int timeout_ms, amqpc_msg *msg) {
  if (!c->conn) {
    if (!c->errstr[0])
      amqpc_seterr(c, "not connected to RabbitMQ");
    return MR_EIO;
  }
  if (c->have_envelope) {
    amqp_destroy_envelope(&c->env);
    c->have_envelope = 0;
  }
  amqp_maybe_release_buffers(c->conn);
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  amqp_rpc_reply_t r = amqp_consume_message(c->conn, &c->env, &tv, 0);
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
    return MR_ENOTFOUND;
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
      /* a frame other than a delivery: a heartbeat is handled inside rabbitmq-c; anything else
       * here (channel.close, basic.cancel after a queue deletion) ends this consumer */
      amqp_frame_t frame;
      struct timeval zero = {0, 0};
      if (amqp_simple_wait_frame_noblock(c->conn, &frame, &zero) == AMQP_STATUS_OK &&
          frame.frame_type == AMQP_FRAME_METHOD)
        amqpc_seterr(c, "RabbitMQ: unexpected method 0x%08x while consuming",
                     frame.payload.method.id);
      else
        amqpc_seterr(c, "RabbitMQ: unexpected frame while consuming");
    } else {
      amqpc_check(c, r, "consume");
    }
    amqpc_drop(c);
    return MR_EIO;
  }
  c->have_envelope = 1;
  msg->body = c->env.message.body.bytes;
  msg->len = c->env.message.body.len;
  msg->delivery_tag = c->env.delivery_tag;
  msg->redelivered = c->env.redelivered;
  return MR_OK;
}

void amqpc_msg_done(amqpc *c, amqpc_msg *msg) {
  if (c->have_envelope) {
    amqp_destroy_envelope(&c->env);
    c->have_envelope = 0;
  }
  memset(msg, 0, sizeof(*msg));
}

int amqpc_ack(amqpc *c, uint64_t delivery_tag, int multiple) {
  if (!c->conn)
    return MR_EIO;
  int rc = amqp_basic_ack(c->conn, 1, delivery_tag, multiple ? 1 : 0);
  if (rc != AMQP_STATUS_OK) {
    amqpc_seterr(c, "RabbitMQ basic.ack: %s", amqp_error_string2(rc));
    amqpc_drop(c);
    return MR_EIO;
  }
  return MR_OK;
}

int amqpc_reject(amqpc *c, uint64_t delivery_tag) {
  if (!c->conn)
    return MR_EIO;
  int rc = amqp_basic_reject(c->conn, 1, delivery_tag, 0);
  if (rc != AMQP_STATUS_OK) {
    amqpc_seterr(c, "RabbitMQ basic.reject: %s", amqp_error_string2(rc));
    amqpc_drop(c);
    return MR_EIO;
  }
  return MR_OK;
}

int amqpc_publish(amqpc *c, const char *body, size_t len) {
  if (!c->conn)
    return MR_EIO;
  amqp_basic_properties_t props;
  memset(&props, 0, sizeof(props));
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.content_type = amqp_cstring_bytes("application/json");
  props.delivery_mode = 2;
  amqp_bytes_t b = {len, (void *)body};
  int rc = amqp_basic_publish(c->conn, 1, amqp_cstring_bytes(""), amqp_cstring_bytes(AMQPC_QUEUE),
                              0, 0, &props, b);
  if (rc != AMQP_STATUS_OK) {
    amqpc_seterr(c, "RabbitMQ basic.publish: %s", amqp_error_string2(rc));
    amqpc_drop(c);
    return MR_EIO;
  }
  c->published++;
  return MR_OK;
}

int amqpc_wait_confirms(amqpc *c, int timeout_ms) {
  struct timeval t0;
  gettimeofday(&t0, NULL);
  while (c->confirmed < c->published) {
    if (!c->conn) {
      amqpc_seterr(c, "not connected to RabbitMQ");
      return MR_EIO;
    }
    struct timeval now;
    gettimeofday(&now, NULL);
    long left = timeout_ms - ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_usec - t0.tv_usec) / 1000);
    if (left <= 0) {
      amqpc_seterr(c, "RabbitMQ: %llu of %llu messages confirmed before the timeout",
                   (unsigned long long)c->confirmed, (unsigned long long)c->published);
      return MR_EIO;
    }
    struct timeval tv = {left / 1000, (left % 1000) * 1000};
    amqp_maybe_release_buffers(c->conn); /* the frames of earlier confirms are done with */
    amqp_frame_t f;
    int rc = amqp_simple_wait_frame_noblock(c->conn, &f, &tv);
    if (rc == AMQP_STATUS_TIMEOUT)
      continue;
    if (rc != AMQP_STATUS_OK) {
      amqpc_seterr(c, "RabbitMQ waiting for confirms: %s", amqp_error_string2(rc));
      amqpc_drop(c);
      return MR_EIO;
    }
    if (f.frame_type != AMQP_FRAME_METHOD)
      continue;
    if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
      amqp_basic_ack_t *a = f.payload.method.decoded;
      if (a->delivery_tag > c->confirmed) /* multiple or single: tags arrive in order */
        c->confirmed = a->delivery_tag;
    } else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
      amqpc_seterr(
          c, "RabbitMQ refused (nack) message %llu",
          (unsigned long long)((amqp_basic_nack_t *)f.payload.method.decoded)->delivery_tag);
      return MR_EIO;
    } else if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
               f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
      amqpc_seterr(c, "RabbitMQ closed the channel while confirming");
      amqpc_drop(c);
      return MR_EIO;
    }
  }
  return MR_OK;
}
