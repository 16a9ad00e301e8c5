/* Hot swap of the served model version: watcher thread, reference-counted versions. */
#include "services/api_models.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/mr_error.h"
#include "pipeline/snapshot.h"
#include "services/api_redis.h"

#define APIM_CHANNEL "mr:models"
#define APIM_RETRY_S 30 /* a version that failed to load is tried again after this long */

struct apim_model {
  reco *r;
  mr_dataset *ds;    /* NULL for the initial version (borrowed) */
  _Atomic long refs; /* requests holding it, + 1 while it is current */
  apim_model *next;  /* retired list (watcher thread only) */
};

struct apim {
  pthread_mutex_t mu;
  apim_model *cur;
  apim_model *retired;
  char *models_dir, *data_dir, *redis_url;
  pthread_t thread;
  int started;
  _Atomic int stop;
  _Atomic uint64_t swaps, failures;
  _Atomic int64_t last_swap_at;
  _Atomic uint64_t last_load_us;
  redisContext *sub;
  int64_t next_sub_try;
};

static double apim_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void apim_model_free(apim_model *mm) {
  if (!mm)
    return;
  if (mm->ds) {
    reco_free(mm->r);
    ds_free(mm->ds);
  }
  free(mm);
}

int apim_create(reco *initial, const char *models_dir, const char *data_dir, const char *redis_url,
                apim **out) {
  *out = NULL;
  apim *m = calloc(1, sizeof(*m));
  apim_model *mm = calloc(1, sizeof(*mm));
  if (!m || !mm)
    goto fail;
  pthread_mutex_init(&m->mu, NULL);
  mm->r = initial;
  atomic_init(&mm->refs, 1);
  m->cur = mm;
  if ((models_dir && !(m->models_dir = strdup(models_dir))) ||
      (data_dir && !(m->data_dir = strdup(data_dir))) ||
      (redis_url && !(m->redis_url = strdup(redis_url)))) {
    apim_free(m);
    return MR_ENOMEM;
  }
  *out = m;
  return MR_OK;
fail:
  free(m);
  free(mm);
  return MR_ENOMEM;
}

apim_model *apim_get(apim *m) {
  pthread_mutex_lock(&m->mu);
  apim_model *mm = m->cur;
  atomic_fetch_add_explicit(&mm->refs, 1, memory_order_relaxed);
  pthread_mutex_unlock(&m->mu);
  return mm;
}

void apim_put(apim_model *mm) {
  if (mm)
    atomic_fetch_sub_explicit(&mm->refs, 1, memory_order_release);
}

reco *apim_reco(const apim_model *mm) {
  return mm->r;
}

void apim_stats_get(apim *m, apim_stats *out) {
  out->swaps = atomic_load(&m->swaps);
  out->failures = atomic_load(&m->failures);
  out->last_load_s = (double)atomic_load(&m->last_load_us) * 1e-6;
  out->last_swap_at = atomic_load(&m->last_swap_at);
}

/* Frees retired versions nobody holds any more. */
static void apim_reap(apim *m, int all) {
  apim_model **pp = &m->retired;
  while (*pp) {
    apim_model *mm = *pp;
    if (all || atomic_load_explicit(&mm->refs, memory_order_acquire) == 0) {
      *pp = mm->next;
      apim_model_free(mm);
    } else {
      pp = &mm->next;
    }
  }
}

/* The name current points at ("v3"), or "" when it cannot be read. */
static void apim_target(const apim *m, char *name, size_t cap) {
  char link[PATH_MAX], real[PATH_MAX];
  snprintf(link, sizeof(link), "%s/current", m->models_dir);
  name[0] = '\0';
  if (realpath(link, real))
    snprintf(name, cap, "%s", basename(real));
}

/* Loads the version current points at and makes it the served one. */
static void apim_load(apim *m, const char *want) {
  char link[PATH_MAX], err[512] = "";
  mr_dataset *ds = NULL;
  reco *r = NULL;
  snprintf(link, sizeof(link), "%s/current", m->models_dir);
  double t0 = apim_now();
  fprintf(stderr, "api: loading model %s (announced or seen at %s)\n", want, link);
  int rc = snap_open_version(m->data_dir, link, &ds, &r, err, sizeof(err));
  apim_model *mm = rc ? NULL : calloc(1, sizeof(*mm));
  if (!mm) {
    atomic_fetch_add(&m->failures, 1);
    fprintf(stderr, "api: cannot load model %s: %s (still serving the previous one)\n", want,
            *err ? err : mr_strerror(rc ? rc : MR_ENOMEM));
    reco_free(r);
    ds_free(ds);
    return;
  }
  mm->r = r;
  mm->ds = ds;
  atomic_init(&mm->refs, 1);
  pthread_mutex_lock(&m->mu);
  apim_model *old = m->cur;
  m->cur = mm;
  pthread_mutex_unlock(&m->mu);
  /* the "current" reference of the old version; requests still holding it finish on it */
  atomic_fetch_sub_explicit(&old->refs, 1, memory_order_release);
  old->next = m->retired;
  m->retired = old;
  double dt = apim_now() - t0;
  atomic_store(&m->last_load_us, (uint64_t)(dt * 1e6));
  atomic_store(&m->last_swap_at, (int64_t)time(NULL));
  atomic_fetch_add(&m->swaps, 1);
  fprintf(stderr, "api: now serving model %s (was %s; loaded in %.2f s)\n", reco_version(r),
          reco_version(old->r), dt);
}

/* (Re)subscribes to the announcement channel; failures only delay the next try (polling goes
 * on). */
static void apim_subscribe(apim *m) {
  if (m->sub || !m->redis_url)
    return;
  int64_t now = (int64_t)time(NULL);
  if (now < m->next_sub_try)
    return;
  m->next_sub_try = now + 5;
  char host[256];
  int port, db;
  if (api_redis_parse_url(m->redis_url, host, sizeof(host), &port, &db))
    return;
  struct timeval tv = {1, 0};
  redisContext *c = redisConnectWithTimeout(host, port, tv);
  if (!c || c->err) {
    if (c)
      redisFree(c);
    return;
  }
  redisSetTimeout(c, tv);
  redisReply *r = redisCommand(c, "SUBSCRIBE %s", APIM_CHANNEL);
  if (!r) {
    redisFree(c);
    return;
  }
  freeReplyObject(r);
  m->sub = c;
}

/* Waits up to ms for an announcement; 1 when one arrived. */
static int apim_wait_announce(apim *m, int ms) {
  if (!m->sub) {
    usleep((useconds_t)ms * 1000);
    return 0;
  }
  struct pollfd p = {.fd = m->sub->fd, .events = POLLIN};
  int got = 0;
  if (poll(&p, 1, ms) <= 0)
    return 0;
  redisReply *r = NULL;
  if (redisGetReply(m->sub, (void **)&r) != REDIS_OK || !r) {
    redisFree(m->sub); /* lost: resubscribe later, poll meanwhile */
    m->sub = NULL;
    return 0;
  }
  if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
      r->element[0]->type == REDIS_REPLY_STRING && !strcmp(r->element[0]->str, "message"))
    got = 1;
  freeReplyObject(r);
  return got;
}

static void *apim_main(void *arg) {
  apim *m = arg;
  char serving[64], target[64], failed[64] = "";
  int64_t failed_at = 0;
  snprintf(serving, sizeof(serving), "%s", reco_version(m->cur->r));
  while (!atomic_load(&m->stop)) {
    apim_subscribe(m);
    apim_wait_announce(m, 1000);
    apim_reap(m, 0);
    apim_target(m, target, sizeof(target));
    if (!*target || !strcmp(target, serving))
      continue;
    int64_t now = (int64_t)time(NULL);
    if (!strcmp(target, failed) && now - failed_at < APIM_RETRY_S)
      continue;
    uint64_t before = atomic_load(&m->failures);
    apim_load(m, target);
    if (atomic_load(&m->failures) != before) {
      snprintf(failed, sizeof(failed), "%s", target);
      failed_at = now;
    } else {
      snprintf(serving, sizeof(serving), "%s", reco_version(m->cur->r));
    }
  }
  return NULL;
}

int apim_start(apim *m) {
  if (!m->models_dir || m->started)
    return MR_OK;
  if (pthread_create(&m->thread, NULL, apim_main, m))
    return MR_EIO;
  m->started = 1;
  return MR_OK;
}

void apim_free(apim *m) {
  if (!m)
    return;
  if (m->started) {
    atomic_store(&m->stop, 1);
    pthread_join(m->thread, NULL);
  }
  if (m->sub)
    redisFree(m->sub);
  apim_reap(m, 1);
  apim_model_free(m->cur);
  pthread_mutex_destroy(&m->mu);
  free(m->models_dir);
  free(m->data_dir);
  free(m->redis_url);
  free(m);
}
