/* RabbitMQ publisher thread: persistent messages with publisher confirms, pipelined (new
 * messages go out while earlier ones wait for their confirms), results through callbacks,
 * reconnect with backoff. */
#include "infra/amqp_publisher.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <unistd.h>
#include <time.h>

#include "core/mr_error.h"

#define AMQPP_DLX "movierec.dlx"
#define AMQPP_DEAD_QUEUE "movierec.ratings.dead"
#define AMQPP_CHANNEL 1
/* idle: how often the thread looks at the socket (broker gone, heartbeats) */
#define AMQPP_IDLE_POLL_MS 200

typedef struct amqpp_item {
  struct amqpp_item *next;
  amqpp_result_fn cb;
  void *arg;
  uint64_t tag; /* delivery tag once published */
  double t_pub; /* when it was published (the confirm deadline runs from here) */
  int done;
  size_t len;
  char body[];
} amqpp_item;

struct amqpp {
  amqpp_opts o;
  char *url_buf; /* amqp_parse_url points into it */
  struct amqp_connection_info info;
  char *queue;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  amqpp_item *head, *tail; /* queued, not yet published */
  size_t nqueued;
  int stop;
  int joined;
  char errstr[256]; /* guarded by mu */
  _Atomic int connected;
  _Atomic unsigned long long n_confirmed, n_failed, n_connects;
  /* publisher-thread state */
  amqp_connection_state_t conn;
  uint64_t next_tag;
  amqpp_item **batch; /* in flight: published, confirm pending, in tag order */
  int n_flight;
  int wake_fd;  /* eventfd: a message was queued or stop was asked */
  int reported; /* last state given to on_state: -1 none yet */
};

void amqpp_opts_default(amqpp_opts *o) {
  memset(o, 0, sizeof(*o));
  o->queue = "movierec.ratings";
  o->declare = 1;
  o->confirm_timeout_s = 2.0;
  o->connect_timeout_s = 2.0;
  o->backoff_min_s = 0.2;
  o->backoff_max_s = 2.0;
  o->max_batch = 256;
  o->max_queued = 100000;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void set_state(amqpp *p, int connected, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_state(amqpp *p, int connected, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  atomic_store(&p->connected, connected);
  pthread_mutex_lock(&p->mu);
  if (!connected)
    snprintf(p->errstr, sizeof(p->errstr), "%s", msg);
  pthread_mutex_unlock(&p->mu);
  /* report changes only: every failed attempt while the broker is down would be noise */
  if (p->o.on_state && p->reported != connected)
    p->o.on_state(p->o.state_user, connected, msg);
  p->reported = connected;
}

/* Describes a non-normal RPC reply into buf. */
static void reply_str(amqp_rpc_reply_t r, char *buf, size_t cap) {
  switch (r.reply_type) {
  case AMQP_RESPONSE_NORMAL:
    snprintf(buf, cap, "ok");
    break;
  case AMQP_RESPONSE_NONE:
    snprintf(buf, cap, "no reply");
    break;
  case AMQP_RESPONSE_LIBRARY_EXCEPTION:
    snprintf(buf, cap, "%s", amqp_error_string2(r.library_error));
    break;
  case AMQP_RESPONSE_SERVER_EXCEPTION:
    if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
      amqp_connection_close_t *m = r.reply.decoded;
      snprintf(buf, cap, "connection closed by the broker: %d %.*s", m->reply_code,
               (int)m->reply_text.len, (const char *)m->reply_text.bytes);
    } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
      amqp_channel_close_t *m = r.reply.decoded;
      snprintf(buf, cap, "channel closed by the broker: %d %.*s", m->reply_code,
               (int)m->reply_text.len, (const char *)m->reply_text.bytes);
    } else {
      snprintf(buf, cap, "server error (method 0x%08x)", r.reply.id);
    }
    break;
  }
}

static void drop_conn(amqpp *p) {
  if (p->conn) {
    amqp_destroy_connection(p->conn); /* closes the socket without the close handshake */
    p->conn = NULL;
  }
}

/* Declares the topology of docs/SERVICES.md, argument for argument like the consumer: a
 * queue redeclared with other arguments makes the broker close the channel. */
static int declare(amqpp *p, char *err, size_t cap) {
  amqp_connection_state_t k = p->conn;
  char why[200];
  amqp_exchange_declare(k, AMQPP_CHANNEL, amqp_cstring_bytes(AMQPP_DLX),
                        amqp_cstring_bytes("fanout"), 0, 1, 0, 0, amqp_empty_table);
  amqp_rpc_reply_t r = amqp_get_rpc_reply(k);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    reply_str(r, why, sizeof(why));
    snprintf(err, cap, "declare exchange " AMQPP_DLX ": %s", why);
    return MR_EIO;
  }
  amqp_queue_declare(k, AMQPP_CHANNEL, amqp_cstring_bytes(AMQPP_DEAD_QUEUE), 0, 1, 0, 0,
                     amqp_empty_table);
  r = amqp_get_rpc_reply(k);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    reply_str(r, why, sizeof(why));
    snprintf(err, cap, "declare queue " AMQPP_DEAD_QUEUE ": %s", why);
    return MR_EIO;
  }
  amqp_queue_bind(k, AMQPP_CHANNEL, amqp_cstring_bytes(AMQPP_DEAD_QUEUE),
                  amqp_cstring_bytes(AMQPP_DLX), amqp_cstring_bytes(""), amqp_empty_table);
  r = amqp_get_rpc_reply(k);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    reply_str(r, why, sizeof(why));
    snprintf(err, cap, "bind " AMQPP_DEAD_QUEUE ": %s", why);
    return MR_EIO;
  }
  amqp_table_entry_t arg;
  arg.key = amqp_cstring_bytes("x-dead-letter-exchange");
  arg.value.kind = AMQP_FIELD_KIND_UTF8;
  arg.value.value.bytes = amqp_cstring_bytes(AMQPP_DLX);
  amqp_table_t args = {1, &arg};
  amqp_queue_declare(k, AMQPP_CHANNEL, amqp_cstring_bytes(p->queue), 0, 1, 0, 0, args);
  r = amqp_get_rpc_reply(k);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    reply_str(r, why, sizeof(why));
    snprintf(err, cap, "declare queue %s: %s", p->queue, why);
    return MR_EIO;
  }
  return 0;
}

static int do_connect(amqpp *p, char *err, size_t cap) {
  char why[200];
  double t = p->o.connect_timeout_s;
  struct timeval tv = {(time_t)t, (suseconds_t)((t - (double)(time_t)t) * 1e6)};
  if (!(p->conn = amqp_new_connection())) {
    snprintf(err, cap, "out of memory");
    return MR_ENOMEM;
  }
  amqp_socket_t *sock = amqp_tcp_socket_new(p->conn);
  if (!sock) {
    snprintf(err, cap, "cannot create a socket");
    goto fail;
  }
  int rc = amqp_socket_open_noblock(sock, p->info.host, p->info.port, &tv);
  if (rc != AMQP_STATUS_OK) {
    snprintf(err, cap, "%s:%d: %s", p->info.host, p->info.port, amqp_error_string2(rc));
    goto fail;
  }
  /* bound the handshake and every RPC, so a hung broker cannot stall the thread forever */
  amqp_set_handshake_timeout(p->conn, &tv);
  amqp_set_rpc_timeout(p->conn, &tv);
  amqp_rpc_reply_t r = amqp_login(p->conn, p->info.vhost, 0, 131072, 10, AMQP_SASL_METHOD_PLAIN,
                                  p->info.user, p->info.password);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    reply_str(r, why, sizeof(why));
    snprintf(err, cap, "login to %s:%d: %s", p->info.host, p->info.port, why);
    goto fail;
  }
  amqp_channel_open(p->conn, AMQPP_CHANNEL);
  r = amqp_get_rpc_reply(p->conn);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    reply_str(r, why, sizeof(why));
    snprintf(err, cap, "channel.open: %s", why);
    goto fail;
  }
  amqp_confirm_select(p->conn, AMQPP_CHANNEL);
  r = amqp_get_rpc_reply(p->conn);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    reply_str(r, why, sizeof(why));
    snprintf(err, cap, "confirm.select: %s", why);
    goto fail;
  }
  if (p->o.declare && declare(p, err, cap) != 0)
    goto fail;
  p->next_tag = 1; /* confirms number the channel's publishes from 1 */
  return 0;
fail:
  drop_conn(p);
  return MR_EIO;
}

/* Resolves the in-flight messages up to/equal to `tag` with `status` and drops them from the
 * in-flight list. */
static void resolve(amqpp *p, uint64_t tag, int multiple, int status) {
  int k = 0;
  for (int i = 0; i < p->n_flight; i++) {
    amqpp_item *it = p->batch[i];
    if (it->tag == tag || (multiple && it->tag <= tag)) {
      it->cb(it->arg, status);
      atomic_fetch_add(status == 0 ? &p->n_confirmed : &p->n_failed, 1);
      free(it);
    } else {
      p->batch[k++] = it;
    }
  }
  p->n_flight = k;
}

static void fail_items(amqpp *p, amqpp_item *it) {
  while (it) {
    amqpp_item *next = it->next;
    it->cb(it->arg, MR_EIO);
    atomic_fetch_add(&p->n_failed, 1);
    free(it);
    it = next;
  }
}

/* Fails every in-flight message (the connection is being dropped). */
static void fail_flight(amqpp *p) {
  for (int i = 0; i < p->n_flight; i++) {
    p->batch[i]->cb(p->batch[i]->arg, MR_EIO);
    atomic_fetch_add(&p->n_failed, 1);
    free(p->batch[i]);
  }
  p->n_flight = 0;
}

/* Publishes the chain `it` (taken off the queue) and adds it to the in-flight list. Returns 0,
 * or MR_EIO (the items not published have been failed). */
static int publish_items(amqpp *p, amqpp_item *it, char *err, size_t cap) {
  amqp_basic_properties_t props;
  memset(&props, 0, sizeof(props));
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.content_type = amqp_cstring_bytes("application/json");
  props.delivery_mode = 2; /* persistent */
  double now = now_s();
  while (it) {
    amqpp_item *next = it->next;
    amqp_bytes_t body = {it->len, it->body};
    int st = amqp_basic_publish(p->conn, AMQPP_CHANNEL, amqp_cstring_bytes(""),
                                amqp_cstring_bytes(p->queue), 0, 0, &props, body);
    if (st != AMQP_STATUS_OK) {
      snprintf(err, cap, "basic.publish: %s", amqp_error_string2(st));
      fail_items(p, it);
      return MR_EIO;
    }
    it->next = NULL;
    it->tag = p->next_tag++;
    it->t_pub = now;
    p->batch[p->n_flight++] = it;
    it = next;
  }
  return 0;
}

/* Reads every frame already available (none blocks): confirms resolve in-flight messages.
 * Returns 0, or MR_EIO when the connection is gone or closed by the broker. */
static int read_frames(amqpp *p, char *err, size_t cap) {
  for (;;) {
    struct timeval tv = {0, 0};
    amqp_frame_t f;
    int st = amqp_simple_wait_frame_noblock(p->conn, &f, &tv);
    if (st == AMQP_STATUS_TIMEOUT)
      return 0;
    if (st != AMQP_STATUS_OK) {
      snprintf(err, cap, "connection lost: %s", amqp_error_string2(st));
      return MR_EIO;
    }
    if (f.frame_type != AMQP_FRAME_METHOD)
      continue;
    switch (f.payload.method.id) {
    case AMQP_BASIC_ACK_METHOD: {
      amqp_basic_ack_t *a = f.payload.method.decoded;
      resolve(p, a->delivery_tag, a->multiple, 0);
      break;
    }
    case AMQP_BASIC_NACK_METHOD: {
      amqp_basic_nack_t *a = f.payload.method.decoded;
      resolve(p, a->delivery_tag, a->multiple, MR_EIO);
      break;
    }
    case AMQP_CHANNEL_CLOSE_METHOD: {
      amqp_channel_close_t *m = f.payload.method.decoded;
      snprintf(err, cap, "channel closed by the broker: %d %.*s", m->reply_code,
               (int)m->reply_text.len, (const char *)m->reply_text.bytes);
      return MR_EIO;
    }
    case AMQP_CONNECTION_CLOSE_METHOD: {
      amqp_connection_close_t *m = f.payload.method.decoded;
      snprintf(err, cap, "connection closed by the broker: %d %.*s", m->reply_code,
               (int)m->reply_text.len, (const char *)m->reply_text.bytes);
      return MR_EIO;
    }
    default:
      break;
    }
  }
}

/* Sleeps until the broker sent something, a message was queued (or stop asked), or timeout_ms
 * passed. */
static void wait_io(amqpp *p, int timeout_ms) {
  if (amqp_frames_enqueued(p->conn) || amqp_data_in_buffer(p->conn))
    return;
  struct pollfd fds[2] = {{amqp_get_sockfd(p->conn), POLLIN, 0}, {p->wake_fd, POLLIN, 0}};
  if (poll(fds, 2, timeout_ms) > 0 && (fds[1].revents & POLLIN)) {
    uint64_t v;
    ssize_t got = read(p->wake_fd, &v, sizeof(v)); /* resets the eventfd */
    (void)got;
  }
}

/* One turn of the connected publisher (called without the mutex): publishes what is queued
 * while there is room in flight, reads confirms, and waits for more. Returns MR_EIO when the
 * connection must be dropped (the in-flight messages are failed by the caller). */
static int publish_turn(amqpp *p, char *err, size_t cap) {
  pthread_mutex_lock(&p->mu);
  amqpp_item *chain = NULL, **link = &chain;
  int room = p->o.max_batch - p->n_flight, took = 0;
  while (p->head && took < room) {
    amqpp_item *it = p->head;
    p->head = it->next;
    *link = it;
    link = &it->next;
    it->next = NULL;
    took++;
    p->nqueued--;
  }
  if (!p->head)
    p->tail = NULL;
  int more = p->head != NULL, stop = p->stop;
  pthread_mutex_unlock(&p->mu);
  if (chain && publish_items(p, chain, err, cap))
    return MR_EIO;
  if (read_frames(p, err, cap))
    return MR_EIO;
  if (p->n_flight && now_s() - p->batch[0]->t_pub > p->o.confirm_timeout_s) {
    snprintf(err, cap, "no publisher confirm within %.1f s", p->o.confirm_timeout_s);
    return MR_EIO; /* the tags of a late ack would be ambiguous: start a fresh channel */
  }
  if (stop || (more && p->n_flight < p->o.max_batch))
    return 0;
  /* confirms pending: wake on the broker or on new messages; idle: heartbeats every 200 ms */
  int ms = AMQPP_IDLE_POLL_MS;
  if (p->n_flight) {
    double left = p->batch[0]->t_pub + p->o.confirm_timeout_s - now_s();
    ms = left <= 0 ? 0 : (int)(left * 1e3) + 1;
  }
  wait_io(p, ms);
  amqp_maybe_release_buffers(p->conn);
  return 0;
}

static void timed_wait(amqpp *p, double seconds) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  double t = (double)ts.tv_nsec * 1e-9 + seconds;
  ts.tv_sec += (time_t)t;
  ts.tv_nsec = (long)((t - (double)(time_t)t) * 1e9);
  pthread_cond_timedwait(&p->cv, &p->mu, &ts);
}

static void *publisher_main(void *arg) {
  amqpp *p = arg;
  char err[256];
  double backoff = p->o.backoff_min_s;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL); /* process signals belong to the main thread */
  pthread_mutex_lock(&p->mu);
  while (!p->stop) {
    if (!p->conn) {
      pthread_mutex_unlock(&p->mu);
      int rc = do_connect(p, err, sizeof(err));
      if (rc == 0) {
        atomic_fetch_add(&p->n_connects, 1);
        set_state(p, 1, "connected to %s:%d", p->info.host, p->info.port);
        backoff = p->o.backoff_min_s;
      } else {
        set_state(p, 0, "%s", err);
      }
      pthread_mutex_lock(&p->mu);
      if (rc != 0) {
        /* messages queued just before the loss fail now: their clients get a quick 503 */
        amqpp_item *it = p->head;
        p->head = p->tail = NULL;
        p->nqueued = 0;
        pthread_mutex_unlock(&p->mu);
        fail_items(p, it);
        pthread_mutex_lock(&p->mu);
        if (!p->stop)
          timed_wait(p, backoff);
        backoff = backoff * 2 > p->o.backoff_max_s ? p->o.backoff_max_s : backoff * 2;
      }
      continue;
    }
    pthread_mutex_unlock(&p->mu);
    if (publish_turn(p, err, sizeof(err)) != 0) {
      fail_flight(p);
      drop_conn(p);
      set_state(p, 0, "%s", err);
    }
    pthread_mutex_lock(&p->mu);
  }
  /* stopping: what is in flight gets its confirms for up to confirm_timeout_s */
  pthread_mutex_unlock(&p->mu);
  double until = now_s() + p->o.confirm_timeout_s;
  while (p->conn && p->n_flight && now_s() < until) {
    if (read_frames(p, err, sizeof(err)))
      break;
    if (p->n_flight)
      wait_io(p, 10);
  }
  fail_flight(p);
  pthread_mutex_lock(&p->mu);
  amqpp_item *it = p->head;
  p->head = p->tail = NULL;
  p->nqueued = 0;
  pthread_mutex_unlock(&p->mu);
  fail_items(p, it);
  if (p->conn) {
    amqp_channel_close(p->conn, AMQPP_CHANNEL, AMQP_REPLY_SUCCESS);
    amqp_connection_close(p->conn, AMQP_REPLY_SUCCESS);
    drop_conn(p);
  }
  atomic_store(&p->connected, 0);
  return NULL;
}

int amqpp_create(const amqpp_opts *o, amqpp **out) {
  *out = NULL;
  if (!o || !o->url || !o->queue || !*o->queue || o->max_batch < 1 || o->confirm_timeout_s <= 0 ||
      o->connect_timeout_s <= 0 || o->backoff_min_s <= 0 || o->backoff_max_s < o->backoff_min_s)
    return MR_EINVAL;
  amqpp *p = calloc(1, sizeof(*p));
  if (!p)
    return MR_ENOMEM;
  p->o = *o;
  if (p->o.max_queued == 0)
    p->o.max_queued = 100000;
  p->url_buf = strdup(o->url);
  p->queue = strdup(o->queue);
  p->batch = calloc((size_t)o->max_batch, sizeof(*p->batch));
  p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (!p->url_buf || !p->queue || !p->batch || p->wake_fd < 0)
    goto fail_nomem;
  amqp_default_connection_info(&p->info);
  if (amqp_parse_url(p->url_buf, &p->info) != AMQP_STATUS_OK)
    goto fail_inval;
  /* amqp://host:port/ parses to the empty vhost: take it as the default vhost "/", as most
   * clients do (the default URL of docs/SERVICES.md ends with a slash) */
  if (!p->info.vhost || !*p->info.vhost)
    p->info.vhost = "/";
  p->o.url = NULL;
  p->o.queue = NULL;
  p->reported = -1;
  snprintf(p->errstr, sizeof(p->errstr), "not connected yet");
  pthread_mutex_init(&p->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_cond_init(&p->cv, &ca);
  pthread_condattr_destroy(&ca);
  if (pthread_create(&p->thread, NULL, publisher_main, p) != 0) {
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    goto fail_nomem;
  }
  *out = p;
  return 0;
fail_inval:
  close(p->wake_fd);
  free(p->batch);
  free(p->queue);
  free(p->url_buf);
  free(p);
  return MR_EINVAL;
fail_nomem:
  if (p->wake_fd >= 0)
    close(p->wake_fd);
  free(p->batch);
  free(p->queue);
  free(p->url_buf);
  free(p);
  return MR_ENOMEM;
}

int amqpp_publish(amqpp *p, const void *body, size_t len, amqpp_result_fn cb, void *arg) {
  if (!atomic_load_explicit(&p->connected, memory_order_relaxed))
    return MR_EIO;
  amqpp_item *it = malloc(sizeof(*it) + len);
  if (!it)
    return MR_ENOMEM;
  it->next = NULL;
  it->cb = cb;
  it->arg = arg;
  it->tag = 0;
  it->done = 0;
  it->len = len;
  memcpy(it->body, body, len);
  pthread_mutex_lock(&p->mu);
  if (p->stop || p->nqueued >= p->o.max_queued) {
    pthread_mutex_unlock(&p->mu);
    free(it);
    return MR_EIO;
  }
  if (p->tail)
    p->tail->next = it;
  else
    p->head = it;
  p->tail = it;
  p->nqueued++;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  uint64_t one = 1;
  ssize_t put = write(p->wake_fd, &one, sizeof(one)); /* the thread may sit in poll() */
  (void)put;
  return 0;
}

int amqpp_connected(const amqpp *p) {
  return atomic_load_explicit(&((amqpp *)p)->connected, memory_order_relaxed);
}

void amqpp_last_error(amqpp *p, char *buf, size_t cap) {
  pthread_mutex_lock(&p->mu);
  snprintf(buf, cap, "%s", atomic_load(&p->connected) ? "" : p->errstr);
  pthread_mutex_unlock(&p->mu);
}

void amqpp_stats(const amqpp *p, unsigned long long *confirmed, unsigned long long *failed,
                 unsigned long long *connects) {
  amqpp *q = (amqpp *)p;
  *confirmed = atomic_load(&q->n_confirmed);
  *failed = atomic_load(&q->n_failed);
  *connects = atomic_load(&q->n_connects);
}

void amqpp_stop(amqpp *p) {
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  int join = !p->joined;
  p->joined = 1;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  uint64_t one = 1;
  ssize_t put = write(p->wake_fd, &one, sizeof(one));
  (void)put;
  if (join)
    pthread_join(p->thread, NULL);
}

void amqpp_free(amqpp *p) {
  if (!p)
    return;
  amqpp_stop(p);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  close(p->wake_fd);
  free(p->batch);
  free(p->queue);
  free(p->url_buf);
  free(p);
}
