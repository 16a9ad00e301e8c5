/* The recommendation API service (`movierec api`): HTTP routes over the serving core (reco.h),
 * with the user's live ratings, the response cache and trending from Redis (docs/SERVICES.md). */
#ifndef MR_API_H
#define MR_API_H

#include "data/dataset.h"
#include "pipeline/reco.h"

typedef struct api_opts {
  const char *listen;        /* address to bind, "127.0.0.1" */
  int port;                  /* 8000; 0 = ephemeral */
  int threads;               /* loop threads; <= 0 = online cores */
  const char *redis_url;     /* "redis://127.0.0.1:6379" */
  unsigned redis_timeout_ms; /* a reply overdue by this long drops the connection (0: 250) */
  const char *web_dir;       /* the UI's files ("web") */
  const char *events_url;    /* the event service for /config.js */
  const char *ui_token;      /* the event service's bearer token, handed to the UI in /config.js
                                (NULL or "": none; then the UI cannot rate while a token is set) */
  int cache_ttl_s;           /* TTL of mr:u:{UID}:cache (300) */
  const char *models_dir;    /* model root: ROOT/current is followed (NULL: never swap) */
  const char *data_dir;      /* base data a swapped-in version is opened against */
  int pool_recs;             /* 1: compute single lists on the thread pool, not on the loop */
} api_opts;

typedef struct api api;

/* Creates the service over a loaded reco (and its data set), both borrowed: they must outlive
 * the api. Strings in o are copied. Nothing is bound until api_run. With o->models_dir, api_run
 * also follows ROOT/current and swaps to a new version without a restart (api_models.h); the
 * first version's data set stays the catalogue. */
int api_create(const api_opts *o, reco *r, api **out);

/* Binds, serves until SIGINT/SIGTERM, then stops gracefully. Returns 0 or the start error
 * (the message is on stderr). */
int api_run(api *a);

void api_free(api *a);

#endif
