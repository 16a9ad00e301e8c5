/* The retraining service (`movierec retrain`): when enough new ratings arrived in Redis (or a
 * period passed), snapshot base data + every live rating, train a candidate version, compare it
 * with the serving version on a holdout of the newest ratings, publish it only if it is not
 * worse, announce it on Redis pub/sub and record progress and timings in Redis for /metrics
 * (docs/SERVICES.md, "Retraining"). */
#ifndef MR_RETRAIN_SVC_H
#define MR_RETRAIN_SVC_H

#include <signal.h>

#define RETRAIN_CHANNEL "mr:models"
#define RETRAIN_STATUS_KEY "mr:retrain"

typedef struct retrain_config {
  const char *redis_url;
  const char *data_dir; /* base data (ds_load) */
  const char *models;   /* model root: ROOT/vN, ROOT/current */
  const char *params;   /* two-stage pipeline parameters */
  long min_new;         /* retrain when at least this many ratings were stored since */
  long period_s;        /* ... or when this long passed and at least one was */
  int keep;             /* versions kept on disk (>= 1) */
  int k;                /* nDCG@k on the holdout (10) */
  double epsilon;       /* publish when candidate >= serving - epsilon */
  int once;             /* check the trigger once (and retrain if due), then return */
  int force;            /* retrain now regardless of the trigger (with once) */
  int sabotage;         /* tests only: train the candidate on scrambled movies */
} retrain_config;

/* Runs until *stop (or once). Returns MR_OK, or the error of the last run with once. Logs every
 * step with its timing on stderr. */
int retrain_run(const retrain_config *cfg, volatile sig_atomic_t *stop);

#endif
