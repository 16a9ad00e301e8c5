/* The event service: strict validation of POST /interact, publish with confirms, 202 after
 * the broker's ack, 503 while it is unreachable. */
#include "services/events.h"

#include "infra/event.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "services/http.h"

struct events_svc {
  http_server *http;
  amqpp *pub;
  int64_t *movie_ids; /* the catalogue's ids, sorted: ids of any size, no table by id */
  size_t n_movies;
  char *token; /* NULL: POST /interact is open */
};

/* One POST waiting for the broker's confirm; travels loop -> publisher -> loop. */
typedef struct events_pending {
  http_req *req;
  http_loop *loop;
  int status;
  char event_id[33];
} events_pending;

void events_opts_default(events_opts *o) {
  memset(o, 0, sizeof(*o));
  o->listen = "127.0.0.1";
  o->port = 8001;
  o->confirm_timeout_s = 2.0;
}

/* Event ids: 128 random bits from a per-thread generator seeded once from getrandom(), so
 * the request path makes no system call. */
static _Thread_local mr_rng ev_rng;
static _Thread_local int ev_rng_ready;

static int new_event_id(char out[33]) {
  if (!ev_rng_ready) {
    uint64_t seed[4];
    if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
      return MR_EIO;
    for (int i = 0; i < 4; i++) /* splitmix of each word: never the all-zero state */
      ev_rng.s[i] = mr_splitmix64(&seed[i]);
    ev_rng_ready = 1;
  }
  uint64_t a = mr_rng_next(&ev_rng), b = mr_rng_next(&ev_rng);
  snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, a, b);
  return 0;
}

static void finish_publish(void *arg) {
  events_pending *pd = arg;
  if (pd->status == 0) {
    char body[96];
    snprintf(body, sizeof(body), "{\"status\":\"accepted\",\"event_id\":\"%s\"}", pd->event_id);
    http_send_json(pd->req, 202, body);
  } else {
    http_add_header(pd->req, "Retry-After", "1");
    http_send_error(pd->req, 503, "message broker unavailable");
  }
  free(pd);
}

/* Publisher thread: hand the outcome back to the loop that owns the request. */
static void on_published(void *arg, int status) {
  events_pending *pd = arg;
  pd->status = status;
  if (http_loop_post(pd->loop, finish_publish, pd) != 0)
    free(pd); /* the loop is gone (shutdown past its grace): nobody can answer any more */
}

static void h_interact(http_req *r, void *user) {
  events_svc *s = user;
  char msg[256];
  size_t n;
  if (!http_req_bearer_ok(r, s->token)) {
    http_add_header(r, "WWW-Authenticate", "Bearer");
    http_send_error(r, 401, "missing or wrong bearer token (Authorization: Bearer <token>)");
    return;
  }
  const char *body = http_req_body(r, &n);
  mr_event ev;
  int rc = event_parse_request(body, n, s->movie_ids, s->n_movies, &ev, msg, sizeof(msg));
  if (rc != MR_OK) {
    http_send_error(r, rc == MR_EFORMAT ? 400 : 422, "%s", msg);
    return;
  }
  long long uid = ev.user_id, mid = ev.movie_id, rating = ev.rating, ts = ev.ts;
  /* a client-chosen event id makes retries of the same rating idempotent downstream */
  int has_id = ev.event_id[0] != '\0';
  if (ts == 0)
    ts = (long long)time(NULL);
  if (!amqpp_connected(s->pub)) { /* fail fast while the broker is away */
    http_add_header(r, "Retry-After", "1");
    http_send_error(r, 503, "message broker unavailable");
    return;
  }
  events_pending *pd = malloc(sizeof(*pd));
  if (pd && has_id)
    memcpy(pd->event_id, ev.event_id, sizeof(pd->event_id));
  if (!pd || (!has_id && new_event_id(pd->event_id) != 0)) {
    free(pd);
    http_send_error(r, 500, "cannot create an event id");
    return;
  }
  pd->req = r;
  pd->loop = http_req_loop(r);
  pd->status = MR_EIO;
  char m[192];
  int len = snprintf(m, sizeof(m),
                     "{\"event_id\":\"%s\",\"user_id\":%lld,\"movie_id\":%lld,\"rating\":%lld,"
                     "\"ts\":%lld}",
                     pd->event_id, uid, mid, rating, ts);
  if (amqpp_publish(s->pub, m, (size_t)len, on_published, pd) != 0) {
    free(pd);
    http_add_header(r, "Retry-After", "1");
    http_send_error(r, 503, "message broker unavailable");
  }
  return; /* answered by finish_publish on this loop */
}

static void h_health(http_req *r, void *user) {
  events_svc *s = user;
  if (amqpp_connected(s->pub)) {
    http_send_json(r, 200, "{\"status\":\"ok\",\"broker\":\"ok\"}");
    return;
  }
  char err[256];
  amqpp_last_error(s->pub, err, sizeof(err));
  json_t *j = json_pack("{s:s, s:s, s:s}", "status", "unavailable", "broker", "down", "error", err);
  http_send_jansson(r, 503, j);
  json_decref(j);
}

static void h_metrics(http_req *r, void *user) {
  events_svc *s = user;
  char *txt = NULL;
  size_t n = 0;
  if (http_metrics_render(s->http, &txt, &n) != 0) {
    http_send_error(r, 500, "out of memory");
    return;
  }
  unsigned long long ok, failed, connects;
  amqpp_stats(s->pub, &ok, &failed, &connects);
  char extra[512];
  int m = snprintf(extra, sizeof(extra),
                   "# TYPE events_published_total counter\nevents_published_total %llu\n"
                   "# TYPE events_publish_failed_total counter\nevents_publish_failed_total %llu\n"
                   "# TYPE events_broker_connects_total counter\n"
                   "events_broker_connects_total %llu\n"
                   "# TYPE events_broker_up gauge\nevents_broker_up %d\n",
                   ok, failed, connects, amqpp_connected(s->pub));
  char *all = realloc(txt, n + (size_t)m + 1);
  if (!all) {
    free(txt);
    http_send_error(r, 500, "out of memory");
    return;
  }
  memcpy(all + n, extra, (size_t)m + 1);
  http_send(r, 200, "text/plain; version=0.0.4", all, n + (size_t)m);
  free(all);
}

static int events_id_cmp(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

int events_create(const events_opts *o, const mr_dataset *ds, events_svc **out, char *err,
                  size_t errlen) {
  *out = NULL;
  if (!o->amqp_url || !ds) {
    snprintf(err, errlen, "an AMQP URL and a data set are required");
    return MR_EINVAL;
  }
  int rc = MR_ENOMEM;
  events_svc *s = calloc(1, sizeof(*s));
  if (!s)
    goto fail;
  if (!(s->movie_ids = malloc(((size_t)ds->n_movies + 1) * sizeof(*s->movie_ids))))
    goto fail;
  for (int32_t i = 0; i < ds->n_movies; i++)
    s->movie_ids[s->n_movies++] = ds->movies[i].id;
  qsort(s->movie_ids, s->n_movies, sizeof(*s->movie_ids), events_id_cmp);
  if (o->token && *o->token && !(s->token = strdup(o->token)))
    goto fail;

  amqpp_opts po;
  amqpp_opts_default(&po);
  po.url = o->amqp_url;
  if (o->confirm_timeout_s > 0)
    po.confirm_timeout_s = o->confirm_timeout_s;
  po.on_state = o->on_broker_state;
  po.state_user = o->state_user;
  if ((rc = amqpp_create(&po, &s->pub)) != 0) {
    snprintf(err, errlen, "%s",
             rc == MR_EINVAL ? "bad AMQP URL (expected amqp://user:pass@host:port/vhost)"
                             : mr_strerror(rc));
    goto fail;
  }

  http_opts ho;
  http_opts_default(&ho);
  ho.listen = o->listen;
  ho.port = o->port;
  ho.threads = o->threads;
  ho.cors_origin = o->cors_origin;
  ho.stop_grace_s = po.confirm_timeout_s + 1.0; /* let pending publishes be answered */
  if ((rc = http_server_create(&ho, &s->http)) != 0) {
    snprintf(err, errlen, "bad HTTP options: %s", mr_strerror(rc));
    goto fail;
  }
  if ((rc = http_route(s->http, "POST", "/interact", h_interact, s)) ||
      (rc = http_route(s->http, "GET", "/health", h_health, s)) ||
      (rc = http_route(s->http, "GET", "/metrics", h_metrics, s))) {
    snprintf(err, errlen, "routes: %s", mr_strerror(rc));
    goto fail;
  }
  if ((rc = http_server_start(s->http)) != 0) {
    snprintf(err, errlen, "%s", http_server_errstr(s->http));
    goto fail;
  }
  *out = s;
  return 0;
fail:
  if (rc == MR_ENOMEM && err && !*err)
    snprintf(err, errlen, "out of memory");
  events_free(s);
  return rc;
}

int events_port(const events_svc *s) {
  return http_server_port(s->http);
}

int events_run(events_svc *s) {
  (void)s;
  sigset_t set, old;
  int sig = 0;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  sigwait(&set, &sig);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return 0; /* events_free does the orderly stop */
}

void events_free(events_svc *s) {
  if (!s)
    return;
  /* Order matters: loops stop accepting but wait for their pending requests; the publisher
   * then answers (confirmed or MR_EIO) everything it holds, to loops that are still alive;
   * only then do the loops end and the memory go. */
  http_server_stop(s->http);
  if (s->pub)
    amqpp_stop(s->pub);
  http_server_free(s->http);
  amqpp_free(s->pub);
  free(s->movie_ids);
  free(s->token);
  free(s);
}
