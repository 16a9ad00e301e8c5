/* Test tool: a load client for POST /interact that retries the way docs/SERVICES.md tells
 * clients to (send), and the Redis-side audit of what it sent (check), for tests/test_fault_*.sh.
 *
 *   mr_rating_client send --url http://127.0.0.1:PORT --count N --out FILE [...]
 *   mr_rating_client check --redis redis://127.0.0.1:PORT --in FILE
 *
 * send: N ratings, each a distinct (user, movie) pair (users FIRST.., movies from the real
 * catalogue), over C keep-alive connections (one thread each). A rating is retried on 503, on
 * connection errors and on timeouts with jittered exponential backoff until it gets a 202 or
 * a final 4xx, or the deadline passes. Unless --no-key, every rating carries its own event_id
 * (128 random bits), reused on every retry, so a retry whose first attempt did reach the
 * broker cannot be stored twice. Writes one line per rating to FILE
 * (`user movie rating event_id status attempts`; status 0 = never answered) and prints
 * `sent N accepted A retries R ...`; with --progress, the same counters every 100 ms.
 *
 * check: reads FILE and the mr:events stream and the users' rating hashes, and prints
 * `sent N accepted A stored S duplicates D missing M unexpected U`; exits 1 on any accepted
 * rating missing, any pair stored twice, any stored pair that was never sent, a stored rating
 * or event id that differs from the one sent, or mr:stats:stored disagreeing with the stream. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "data/dataset.h"
#include "infra/event.h"
#include "infra/store.h"

#define RC_MAX_CONNS 64
#define RC_BACKOFF_MIN_MS 50
#define RC_BACKOFF_MAX_MS 1000
#define RC_BUF 8192

/* One rating: what was sent and how it ended. */
typedef struct rc_item {
  int32_t user, movie;
  int rating;
  int status;   /* final HTTP status; 0 = not sent or never answered */
  int attempts; /* requests made for it */
  char event_id[EVENT_ID_LEN + 1];
} rc_item;

typedef struct rc_send {
  /* options */
  char host[256], port[16];
  long count, users, first_user, conns, deadline_s;
  double rate; /* ratings/s started at most; 0 = no limit */
  int timeout_ms, use_key;
  uint64_t seed;
  const char *progress;
  /* the work */
  rc_item *items;
  int32_t *movies; /* catalogue ids, shuffled by seed */
  int32_t n_movies;
  double t0, deadline;
  atomic_long next, sent, accepted, failed, retries, http503, conn_errors;
} rc_send;

static double rc_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void rc_sleep(double s) {
  if (s <= 0)
    return;
  struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&t, &t) && errno == EINTR)
    ;
}

/* ---- one keep-alive connection ---------------------------------------------------------- */

typedef struct rc_conn {
  int fd;
  char buf[RC_BUF];
} rc_conn;

static void rc_close(rc_conn *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
}

static int rc_connect(rc_conn *c, const rc_send *s) {
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(s->host, s->port, &hints, &ai) || !ai)
    return -1;
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    /* SO_SNDTIMEO bounds connect() too on Linux */
    struct timeval tv = {s->timeout_ms / 1000, (s->timeout_ms % 1000) * 1000};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, ai->ai_addr, ai->ai_addrlen)) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(ai);
  c->fd = fd;
  return fd >= 0 ? 0 : -1;
}

/* Sends req and reads one response (Content-Length framed, as the services answer). 0 with
 * *status and the NUL-terminated body in *body (inside c->buf), -1 on any I/O or framing error
 * (the connection is then closed). *keep is 0 when the server asked to close. */
static int rc_exchange(rc_conn *c, const char *req, size_t len, int *status, const char **body,
                       int *keep) {
  for (size_t off = 0; off < len;) {
    ssize_t w = send(c->fd, req + off, len - off, MSG_NOSIGNAL);
    if (w <= 0) {
      if (w < 0 && errno == EINTR)
        continue;
      goto fail;
    }
    off += (size_t)w;
  }
  size_t have = 0;
  char *end = NULL;
  long clen = -1;
  for (;;) {
    if (have == sizeof(c->buf) - 1)
      goto fail; /* our responses are small: anything this big is not one of them */
    ssize_t r = recv(c->fd, c->buf + have, sizeof(c->buf) - 1 - have, 0);
    if (r <= 0) {
      if (r < 0 && errno == EINTR)
        continue;
      goto fail; /* closed, reset or timed out */
    }
    have += (size_t)r;
    c->buf[have] = 0;
    if (!end) {
      end = strstr(c->buf, "\r\n\r\n");
      if (!end)
        continue;
      if (strncmp(c->buf, "HTTP/1.", 7) || sscanf(c->buf + 8, " %d", status) != 1)
        goto fail;
      *keep = strncmp(c->buf, "HTTP/1.1", 8) == 0;
      for (char *h = strstr(c->buf, "\r\n") + 2; h < end;) {
        char *eol = strstr(h, "\r\n");
        if (!strncasecmp(h, "Content-Length:", 15))
          clen = strtol(h + 15, NULL, 10);
        else if (!strncasecmp(h, "Connection:", 11) && memmem(h, (size_t)(eol - h), "close", 5))
          *keep = 0;
        h = eol + 2;
      }
      if (clen < 0)
        goto fail;
    }
    size_t hdr = (size_t)(end + 4 - c->buf);
    if (have > hdr + (size_t)clen)
      goto fail; /* bytes beyond the response: we never pipeline */
    if (have == hdr + (size_t)clen) {
      *body = end + 4;
      return 0;
    }
  }
fail:
  rc_close(c);
  return -1;
}

/* ---- send ------------------------------------------------------------------------------- */

/* Posts item i until it is accepted, refused for good, or the deadline passed. */
static void rc_post(rc_send *s, rc_conn *c, mr_rng *rng, rc_item *it) {
  char body[256], req[512];
  int blen;
  if (s->use_key)
    blen = snprintf(body, sizeof(body),
                    "{\"user_id\":%d,\"movie_id\":%d,\"rating\":%d,\"event_id\":\"%s\"}", it->user,
                    it->movie, it->rating, it->event_id);
  else
    blen = snprintf(body, sizeof(body), "{\"user_id\":%d,\"movie_id\":%d,\"rating\":%d}", it->user,
                    it->movie, it->rating);
  int rlen = snprintf(req, sizeof(req),
                      "POST /interact HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n%s",
                      s->host, s->port, blen, body);
  int backoff = RC_BACKOFF_MIN_MS;
  atomic_fetch_add(&s->sent, 1);
  for (;;) {
    int status = 0, keep = 1;
    const char *resp = NULL;
    it->attempts++;
    if ((c->fd >= 0 || rc_connect(c, s) == 0) &&
        rc_exchange(c, req, (size_t)rlen, &status, &resp, &keep) == 0) {
      if (!keep)
        rc_close(c);
      it->status = status;
      if (status == 202) {
        const char *p = strstr(resp, "\"event_id\":\"");
        char got[EVENT_ID_LEN + 1] = "";
        if (p)
          snprintf(got, sizeof(got), "%.32s", p + 12);
        if (s->use_key && strcmp(got, it->event_id)) {
          fprintf(stderr, "mr_rating_client: 202 with event id %s, sent %s\n", got, it->event_id);
          it->status = 0; /* a broken contract: count it as not accepted */
          atomic_fetch_add(&s->failed, 1);
          return;
        }
        memcpy(it->event_id, got, sizeof(got));
        atomic_fetch_add(&s->accepted, 1);
        return;
      }
      if (status != 503) {
        if (atomic_load(&s->failed) < 5)
          fprintf(stderr, "mr_rating_client: %s -> HTTP %d %.200s\n", body, status, resp);
        atomic_fetch_add(&s->failed, 1);
        return;
      }
      atomic_fetch_add(&s->http503, 1);
    } else {
      it->status = 0;
      atomic_fetch_add(&s->conn_errors, 1);
    }
    if (rc_now() >= s->deadline) {
      atomic_fetch_add(&s->failed, 1);
      return;
    }
    atomic_fetch_add(&s->retries, 1);
    /* jitter: connections that failed together do not come back together */
    rc_sleep((double)(backoff / 2 + (int)mr_rng_below(rng, (uint64_t)backoff / 2 + 1)) / 1000.0);
    backoff = backoff * 2 > RC_BACKOFF_MAX_MS ? RC_BACKOFF_MAX_MS : backoff * 2;
  }
}

typedef struct rc_worker {
  rc_send *s;
  int index;
} rc_worker;

static void *rc_worker_main(void *arg) {
  rc_worker *w = arg;
  rc_send *s = w->s;
  rc_conn c = {.fd = -1};
  mr_rng rng;
  mr_rng_seed(&rng, s->seed * 1000003u + (uint64_t)w->index);
  for (;;) {
    long i = atomic_fetch_add(&s->next, 1);
    if (i >= s->count)
      break;
    if (s->rate > 0)
      rc_sleep(s->t0 + (double)i / s->rate - rc_now());
    if (rc_now() >= s->deadline) { /* never sent: status stays 0 */
      atomic_fetch_add(&s->failed, 1);
      continue;
    }
    rc_post(s, &c, &rng, &s->items[i]);
  }
  rc_close(&c);
  return NULL;
}

static void rc_counters(rc_send *s, char *buf, size_t cap) {
  snprintf(buf, cap, "sent %ld accepted %ld retries %ld failed %ld http503 %ld conn_errors %ld",
           atomic_load(&s->sent), atomic_load(&s->accepted), atomic_load(&s->retries),
           atomic_load(&s->failed), atomic_load(&s->http503), atomic_load(&s->conn_errors));
}

static void rc_write_progress(rc_send *s) {
  char tmp[4096 + 8], line[256];
  snprintf(tmp, sizeof(tmp), "%s.tmp", s->progress);
  FILE *f = fopen(tmp, "w");
  if (!f)
    return;
  rc_counters(s, line, sizeof(line));
  fprintf(f, "%s\n", line);
  if (fclose(f) == 0)
    rename(tmp, s->progress); /* readers see the old line or the new one, never half */
}

static int rc_parse_url(const char *url, rc_send *s) {
  if (strncmp(url, "http://", 7))
    return -1;
  const char *h = url + 7, *colon = strchr(h, ':');
  if (!colon || colon == h || (size_t)(colon - h) >= sizeof(s->host))
    return -1;
  snprintf(s->host, sizeof(s->host), "%.*s", (int)(colon - h), h);
  size_t plen = strcspn(colon + 1, "/");
  if (plen == 0 || plen >= sizeof(s->port))
    return -1;
  snprintf(s->port, sizeof(s->port), "%.*s", (int)plen, colon + 1);
  return 0;
}

static int rc_usage(void) {
  fprintf(stderr,
          "usage: mr_rating_client send --url http://HOST:PORT --out FILE [--count 20000]\n"
          "         [--conns 8] [--users 100] [--first-user 900001] [--rate 0 (per s, 0: no "
          "limit)]\n"
          "         [--deadline 120 (s)] [--timeout-ms 5000] [--seed 1] [--data DIR]\n"
          "         [--progress FILE] [--no-key]\n"
          "       mr_rating_client check --redis redis://HOST:PORT --in FILE\n");
  return 2;
}

static int cmd_send(int argc, char **argv) {
  rc_send s;
  memset(&s, 0, sizeof(s));
  const char *url = NULL, *out = NULL, *data = NULL;
  s.count = 20000;
  s.conns = 8;
  s.users = 100;
  s.first_user = 900001;
  s.deadline_s = 120;
  s.timeout_ms = 5000;
  s.use_key = 1;
  s.seed = 1;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--no-key")) {
      s.use_key = 0;
      continue;
    }
    if (!v)
      return rc_usage();
    i++;
    if (!strcmp(a, "--url"))
      url = v;
    else if (!strcmp(a, "--out"))
      out = v;
    else if (!strcmp(a, "--progress"))
      s.progress = v;
    else if (!strcmp(a, "--data"))
      data = v;
    else if (!strcmp(a, "--count"))
      s.count = atol(v);
    else if (!strcmp(a, "--conns"))
      s.conns = atol(v);
    else if (!strcmp(a, "--users"))
      s.users = atol(v);
    else if (!strcmp(a, "--first-user"))
      s.first_user = atol(v);
    else if (!strcmp(a, "--rate"))
      s.rate = atof(v);
    else if (!strcmp(a, "--deadline"))
      s.deadline_s = atol(v);
    else if (!strcmp(a, "--timeout-ms"))
      s.timeout_ms = atoi(v);
    else if (!strcmp(a, "--seed"))
      s.seed = (uint64_t)atoll(v);
    else
      return rc_usage();
  }
  if (!url || !out || rc_parse_url(url, &s) || s.count < 1 || s.count > 10000000 || s.conns < 1 ||
      s.conns > RC_MAX_CONNS || s.users < 1 || s.first_user < 1 ||
      s.first_user + s.users - 1 > INT32_MAX || s.deadline_s < 1 || s.timeout_ms < 1 || s.rate < 0)
    return rc_usage();

  int status = 1;
  mr_dataset *ds = NULL;
  char err[512] = "";
  int rc = ds_load(ds_resolve_dir(data), &ds, err, sizeof(err));
  if (rc) {
    fprintf(stderr, "mr_rating_client: cannot load the catalogue: %s\n", *err ? err : "error");
    return 1;
  }
  s.n_movies = ds->n_movies;
  s.movies = malloc((size_t)s.n_movies * sizeof(*s.movies));
  s.items = calloc((size_t)s.count, sizeof(*s.items));
  FILE *f = NULL;
  if (!s.movies || !s.items) {
    fprintf(stderr, "mr_rating_client: out of memory\n");
    goto done;
  }
  if ((double)s.count > (double)s.users * s.n_movies) {
    fprintf(stderr, "mr_rating_client: %ld ratings need more than %ld users x %d movies\n", s.count,
            s.users, s.n_movies);
    goto done;
  }
  mr_rng rng;
  mr_rng_seed(&rng, s.seed);
  for (int32_t m = 0; m < s.n_movies; m++)
    s.movies[m] = ds->movies[m].id;
  for (int32_t m = s.n_movies - 1; m > 0; m--) { /* each user rates movies in a seeded order */
    int32_t j = (int32_t)mr_rng_below(&rng, (uint64_t)m + 1), t = s.movies[m];
    s.movies[m] = s.movies[j];
    s.movies[j] = t;
  }
  /* rating i: user FIRST + i % users, that user's (i / users)-th movie: distinct pairs */
  for (long i = 0; i < s.count; i++) {
    rc_item *it = &s.items[i];
    it->user = (int32_t)(s.first_user + i % s.users);
    it->movie = s.movies[(i / s.users) % s.n_movies];
    it->rating = 1 + (int)mr_rng_below(&rng, 5);
    if (s.use_key && event_new_id(it->event_id)) {
      fprintf(stderr, "mr_rating_client: cannot create event ids\n");
      goto done;
    }
  }
  pthread_t th[RC_MAX_CONNS];
  rc_worker w[RC_MAX_CONNS];
  s.t0 = rc_now();
  s.deadline = s.t0 + (double)s.deadline_s;
  long started = 0;
  for (long t = 0; t < s.conns; t++) {
    w[t].s = &s;
    w[t].index = (int)t;
    if (pthread_create(&th[t], NULL, rc_worker_main, &w[t]))
      break;
    started++;
  }
  if (started == 0) {
    fprintf(stderr, "mr_rating_client: cannot start threads\n");
    goto done;
  }
  /* progress until every rating is sent and answered (or given up) */
  while (atomic_load(&s.accepted) + atomic_load(&s.failed) < s.count) {
    if (s.progress)
      rc_write_progress(&s);
    rc_sleep(0.1);
  }
  for (long t = 0; t < started; t++)
    pthread_join(th[t], NULL);
  double secs = rc_now() - s.t0;
  if (s.progress)
    rc_write_progress(&s);
  if (!(f = fopen(out, "w"))) {
    perror(out);
    goto done;
  }
  for (long i = 0; i < s.count; i++) {
    const rc_item *it = &s.items[i];
    fprintf(f, "%d %d %d %s %d %d\n", it->user, it->movie, it->rating,
            it->event_id[0] ? it->event_id : "-", it->status, it->attempts);
  }
  if (fclose(f)) {
    f = NULL;
    perror(out);
    goto done;
  }
  f = NULL;
  char line[256];
  rc_counters(&s, line, sizeof(line));
  printf("%s seconds %.1f rate %.0f/s\n", line, secs, (double)atomic_load(&s.accepted) / secs);
  status = atomic_load(&s.accepted) == s.count ? 0 : 1;
done:
  if (f)
    fclose(f);
  free(s.items);
  free(s.movies);
  ds_free(ds);
  return status;
}

/* ---- check ------------------------------------------------------------------------------ */

typedef struct rc_check {
  rc_item *items;
  long n;
  uint64_t *keys; /* open addressing: (user << 32 | movie) + 1 -> slot; 0 = free */
  long *slot_item;
  size_t cap;
  int *stored;  /* times each item's pair is in the stream */
  int *in_hash; /* the pair is in the user's rating hash with the right rating */
  long stream, unexpected, wrong_id, wrong_rating;
} rc_check;

static uint64_t rc_key(int64_t user, int64_t movie) {
  return (((uint64_t)user << 32) | (uint64_t)(uint32_t)movie) + 1;
}

static size_t rc_slot(const rc_check *c, uint64_t k) {
  size_t j = (size_t)((k * 0x9e3779b97f4a7c15ULL) >> 17) % c->cap;
  while (c->keys[j] && c->keys[j] != k)
    j = (j + 1) % c->cap;
  return j;
}

static long rc_find(const rc_check *c, int64_t user, int64_t movie) {
  if (user < 1 || user > INT32_MAX || movie < 1 || movie > INT32_MAX)
    return -1;
  size_t j = rc_slot(c, rc_key(user, movie));
  return c->keys[j] ? c->slot_item[j] : -1;
}

static int rc_on_event(const mr_event *ev, void *ud) {
  rc_check *c = ud;
  c->stream++;
  long i = rc_find(c, ev->user_id, ev->movie_id);
  if (i < 0) {
    if (c->unexpected++ < 5)
      fprintf(stderr, "check: stored but never sent: user %lld movie %lld (event %s)\n",
              (long long)ev->user_id, (long long)ev->movie_id, ev->event_id);
    return 0;
  }
  const rc_item *it = &c->items[i];
  if (c->stored[i]++ == 1)
    fprintf(stderr, "check: stored twice: user %d movie %d (events %s and %s)\n", it->user,
            it->movie, it->event_id, ev->event_id);
  if (ev->rating != it->rating && c->wrong_rating++ < 5)
    fprintf(stderr, "check: user %d movie %d stored rating %d, sent %d\n", it->user, it->movie,
            ev->rating, it->rating);
  /* with a client key the stored id must be the one sent (and returned in the 202) */
  if (it->event_id[0] != '-' && it->event_id[0] && strcmp(ev->event_id, it->event_id) &&
      c->wrong_id++ < 5)
    fprintf(stderr, "check: user %d movie %d stored as event %s, sent %s\n", it->user, it->movie,
            ev->event_id, it->event_id);
  return 0;
}

static int cmd_check(int argc, char **argv) {
  const char *redis = NULL, *in = NULL;
  for (int i = 0; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--redis"))
      redis = argv[i + 1];
    else if (!strcmp(argv[i], "--in"))
      in = argv[i + 1];
    else
      return rc_usage();
  }
  if (!redis || !in || argc % 2)
    return rc_usage();
  rc_check c;
  memset(&c, 0, sizeof(c));
  store *st = NULL;
  int status = 1;
  FILE *f = fopen(in, "r");
  if (!f) {
    perror(in);
    return 1;
  }
  size_t cap_items = 1024;
  c.items = malloc(cap_items * sizeof(*c.items));
  char idbuf[EVENT_ID_LEN + 1];
  rc_item it;
  memset(&it, 0, sizeof(it));
  while (c.items && fscanf(f, "%d %d %d %32s %d %d", &it.user, &it.movie, &it.rating, idbuf,
                           &it.status, &it.attempts) == 6) {
    snprintf(it.event_id, sizeof(it.event_id), "%.32s", idbuf);
    if ((size_t)c.n == cap_items) {
      rc_item *p = realloc(c.items, 2 * cap_items * sizeof(*c.items));
      if (!p) {
        free(c.items);
        c.items = NULL;
        break;
      }
      c.items = p;
      cap_items *= 2;
    }
    c.items[c.n++] = it;
  }
  int bad_file = !feof(f);
  fclose(f);
  if (!c.items || bad_file || c.n == 0) {
    fprintf(stderr, "check: %s: %s\n", in, c.items ? "unreadable line or empty" : "out of memory");
    goto done;
  }
  c.cap = 2 * (size_t)c.n + 1;
  c.keys = calloc(c.cap, sizeof(*c.keys));
  c.slot_item = calloc(c.cap, sizeof(*c.slot_item));
  c.stored = calloc((size_t)c.n, sizeof(*c.stored));
  c.in_hash = calloc((size_t)c.n, sizeof(*c.in_hash));
  if (!c.keys || !c.slot_item || !c.stored || !c.in_hash) {
    fprintf(stderr, "check: out of memory\n");
    goto done;
  }
  long sent = 0, accepted = 0;
  for (long i = 0; i < c.n; i++) {
    size_t j = rc_slot(&c, rc_key(c.items[i].user, c.items[i].movie));
    if (c.keys[j]) {
      fprintf(stderr, "check: %s sends user %d movie %d twice\n", in, c.items[i].user,
              c.items[i].movie);
      goto done;
    }
    c.keys[j] = rc_key(c.items[i].user, c.items[i].movie);
    c.slot_item[j] = i;
    sent += c.items[i].attempts > 0;
    accepted += c.items[i].status == 202;
  }
  char err[256] = "";
  if (store_connect(redis, 10000, &st, err, sizeof(err))) {
    fprintf(stderr, "check: Redis: %s\n", st ? store_errstr(st) : err);
    goto done;
  }
  if (store_events_since(st, 0, rc_on_event, &c)) {
    fprintf(stderr, "check: reading mr:events: %s\n", store_errstr(st));
    goto done;
  }
  /* the per-user rating hashes: what the API serves */
  long hash_wrong = 0;
  for (long i = 0; i < c.n; i++) {
    if (i > 0 && c.items[i].user <= c.items[i - 1].user)
      break; /* every user seen once (items cycle through the users) */
    store_rating *r = NULL;
    size_t nr = 0;
    if (store_user_ratings(st, c.items[i].user, &r, &nr)) {
      fprintf(stderr, "check: reading user %d's ratings: %s\n", c.items[i].user, store_errstr(st));
      goto done;
    }
    for (size_t k = 0; k < nr; k++) {
      long x = rc_find(&c, c.items[i].user, r[k].movie_id);
      if (x >= 0 && r[k].rating == c.items[x].rating)
        c.in_hash[x] = 1;
      else if (hash_wrong++ < 5)
        fprintf(stderr, "check: user %d's hash has movie %lld rated %d: %s\n", c.items[i].user,
                (long long)r[k].movie_id, r[k].rating,
                x >= 0 ? "not the rating sent" : "never sent");
    }
    free(r);
  }
  long long stats = 0;
  if (store_stats_stored(st, &stats)) {
    fprintf(stderr, "check: GET mr:stats:stored: %s\n", store_errstr(st));
    goto done;
  }
  long stored = 0, duplicates = 0, missing = 0, not_in_hash = 0, stored_unaccepted = 0;
  for (long i = 0; i < c.n; i++) {
    stored += c.stored[i] > 0;
    duplicates += c.stored[i] > 1 ? c.stored[i] - 1 : 0;
    if (c.items[i].status == 202 && !c.stored[i] && missing++ < 5)
      fprintf(stderr, "check: accepted but not stored: user %d movie %d event %s\n",
              c.items[i].user, c.items[i].movie, c.items[i].event_id);
    if (c.items[i].status == 202 && !c.in_hash[i])
      not_in_hash++;
    stored_unaccepted += c.items[i].status != 202 && c.stored[i];
  }
  printf("sent %ld accepted %ld stored %ld duplicates %ld missing %ld unexpected %ld\n", sent,
         accepted, stored, duplicates, missing, c.unexpected);
  printf("detail: stream %ld mr:stats:stored %lld wrong_rating %ld wrong_event_id %ld "
         "not_in_user_hash %ld bad_hash_entries %ld stored_without_202 %ld\n",
         c.stream, stats, c.wrong_rating, c.wrong_id, not_in_hash, hash_wrong, stored_unaccepted);
  status = missing || duplicates || c.unexpected || c.wrong_rating || c.wrong_id || not_in_hash ||
                   hash_wrong || stats != c.stream
               ? 1
               : 0;
done:
  store_free(st);
  free(c.items);
  free(c.keys);
  free(c.slot_item);
  free(c.stored);
  free(c.in_hash);
  return status;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "send"))
    return cmd_send(argc - 2, argv + 2);
  if (argc >= 2 && !strcmp(argv[1], "check"))
    return cmd_check(argc - 2, argv + 2);
  return rc_usage();
}
