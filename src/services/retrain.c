/* The retraining service: trigger, snapshot, train, compare on a holdout, publish, announce. */
#include "services/retrain.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/mr_error.h"
#include "infra/store.h"
#include "pipeline/publish.h"
#include "pipeline/reco.h"
#include "pipeline/retrain.h"
#include "pipeline/snapshot.h"

static double retrain_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void retrain_sleep(int ms, volatile sig_atomic_t *stop) {
  for (int left = ms; left > 0 && !*stop; left -= 100) {
    struct timespec t = {0, (left < 100 ? left : 100) * 1000000L};
    nanosleep(&t, NULL);
  }
}

/* What one run did, for the log and mr:retrain. */
typedef struct retrain_result {
  const char *decision; /* published, rejected, skipped, failed */
  char reason[1024];
  char version[32], serving[32];
  double candidate, serving_score;
  long holdout;
  double snapshot_s, train_s, eval_s, publish_s, total_s;
  size_t live, train_live;
  long long stored;
} retrain_result;

/* Records the run in the mr:retrain hash (read by the API's /metrics); best effort. */
static void retrain_report(store *st, const retrain_result *r, int64_t started) {
  char v[12][64];
  const char *f[12] = {"last_start",    "last_duration_s",     "last_snapshot_s",
                       "last_train_s",  "last_eval_s",         "last_publish_s",
                       "last_decision", "last_candidate_ndcg", "last_serving_ndcg",
                       "last_holdout",  "last_version",        "last_stored"};
  snprintf(v[0], 64, "%lld", (long long)started);
  snprintf(v[1], 64, "%.3f", r->total_s);
  snprintf(v[2], 64, "%.3f", r->snapshot_s);
  snprintf(v[3], 64, "%.3f", r->train_s);
  snprintf(v[4], 64, "%.3f", r->eval_s);
  snprintf(v[5], 64, "%.3f", r->publish_s);
  snprintf(v[6], 64, "%s", r->decision);
  snprintf(v[7], 64, "%.6f", r->candidate);
  snprintf(v[8], 64, "%.6f", r->serving_score);
  snprintf(v[9], 64, "%ld", r->holdout);
  snprintf(v[10], 64, "%s", *r->version ? r->version : r->serving);
  snprintf(v[11], 64, "%lld", r->stored);
  const char *vals[12];
  for (int i = 0; i < 12; i++)
    vals[i] = v[i];
  char counter[64];
  snprintf(counter, sizeof(counter), "runs_%s", r->decision);
  if (store_hset(st, RETRAIN_STATUS_KEY, 12, f, vals) ||
      store_hincrby(st, RETRAIN_STATUS_KEY, counter, 1))
    fprintf(stderr, "retrain: cannot record the run in %s: %s\n", RETRAIN_STATUS_KEY,
            store_errstr(st));
}

static void retrain_set_field(store *st, const char *field, const char *value) {
  const char *f[1] = {field}, *v[1] = {value};
  store_hset(st, RETRAIN_STATUS_KEY, 1, f, v);
}

/* The serving version's manifest fields the trigger needs. */
static void retrain_serving_state(const char *root, int *version, long long *stored,
                                  int64_t *created) {
  json_t *m = NULL;
  *version = 0;
  *stored = 0;
  *created = 0;
  if (pub_current(root, version))
    return;
  if (pub_manifest_read(root, *version, &m))
    return;
  *stored = json_integer_value(json_object_get(m, "stored"));
  *created = json_integer_value(json_object_get(m, "created_at"));
  json_decref(m);
}

/* Tests only: a candidate trained on scrambled movies (each rating moved to another movie) must
 * lose the comparison. */
static void retrain_scramble(mr_dataset *ds) {
  for (size_t i = 0; i < ds->n_ratings; i++)
    ds->ratings[i].item = (int32_t)(((int64_t)ds->ratings[i].item * 7919 + 13) % ds->n_movies);
}

/* One retraining: snapshot, holdout, candidate, comparison, publication. */
static int retrain_once(const retrain_config *cfg, store *st, retrain_result *res,
                        volatile sig_atomic_t *stop) {
  char tmp[PUB_PATH_MAX] = "", err[512] = "", path[PUB_PATH_MAX + 64];
  store_live_rating *lr = NULL;
  snap_rating *live = NULL, *serving_live = NULL;
  size_t n_live = 0, n_serving_live = 0;
  mr_dataset *base = NULL, *cand_ds = NULL, *serv_ds = NULL;
  reco *cand = NULL, *serv = NULL;
  rt_holdout h = {0};
  json_t *manifest = NULL;
  store_snapshot_info info;
  int version = 0, serving = 0, rc;
  double t = retrain_now(), t0 = t;
  res->decision = "failed";

  /* 1. snapshot: every live rating as of one stream id, and the base data */
  retrain_set_field(st, "state", "snapshot");
  if ((rc = store_snapshot(st, &lr, &n_live, &info))) {
    snprintf(res->reason, sizeof(res->reason), "snapshot: %s", store_errstr(st));
    goto done;
  }
  res->stored = info.stored;
  if (n_live && !(live = malloc(n_live * sizeof(*live)))) {
    rc = MR_ENOMEM;
    goto done;
  }
  size_t k = 0;
  for (size_t i = 0; i < n_live; i++)
    if (lr[i].user_id <= INT32_MAX && lr[i].movie_id <= INT32_MAX)
      live[k++] = (snap_rating){(int32_t)lr[i].user_id, (int32_t)lr[i].movie_id,
                                (float)lr[i].rating, lr[i].ts};
  n_live = k;
  res->live = n_live;
  if ((rc = ds_load(cfg->data_dir, &base, err, sizeof(err)))) {
    snprintf(res->reason, sizeof(res->reason), "base data: %s", err);
    goto done;
  }
  pub_current(cfg->models, &serving);
  if (serving) {
    snprintf(res->serving, sizeof(res->serving), "v%d", serving);
    snprintf(path, sizeof(path), "%s/v%d/%s", cfg->models, serving, SNAP_LIVE_FILE);
    if ((rc = snap_read_tsv(path, &serving_live, &n_serving_live, err, sizeof(err)))) {
      snprintf(res->reason, sizeof(res->reason), "%s", err);
      goto done;
    }
  }
  if ((rc = rt_split_holdout(base, live, n_live, serving_live, n_serving_live, &h)))
    goto done;
  res->train_live = h.n_train;
  res->snapshot_s = retrain_now() - t;
  fprintf(stderr,
          "retrain: snapshot at stream id %s (stored %lld): %zu live ratings of %zu users, "
          "holdout %zu (the newest unseen rating per user), %zu base ratings, %.2f s\n",
          info.stream_id, info.stored, n_live, info.users, h.n_held, base->n_ratings,
          res->snapshot_s);

  /* 2. the candidate: base + live minus holdout */
  t = retrain_now();
  retrain_set_field(st, "state", "train");
  size_t skipped = 0;
  if ((rc = ds_load(cfg->data_dir, &cand_ds, err, sizeof(err))) ||
      (rc = snap_apply(cand_ds, h.train, h.n_train, &skipped))) {
    snprintf(res->reason, sizeof(res->reason), "candidate data: %s", *err ? err : mr_strerror(rc));
    goto done;
  }
  if (skipped)
    fprintf(stderr, "retrain: %zu live ratings skipped (unknown movie or user id over 4194303)\n",
            skipped);
  if (cfg->sabotage) {
    fprintf(stderr, "retrain: --sabotage: the candidate learns scrambled movies (tests only)\n");
    retrain_scramble(cand_ds);
  }
  if ((rc = pub_begin(cfg->models, &version, tmp))) {
    snprintf(res->reason, sizeof(res->reason), "cannot create a version under %s", cfg->models);
    goto done;
  }
  fprintf(stderr, "retrain: training v%d on %zu ratings (%d users) in %s\n", version,
          cand_ds->n_ratings, cand_ds->n_users, tmp);
  pub_train_stats ts;
  if ((rc = pub_train(cand_ds, cfg->data_dir, cfg->params, tmp, &ts, err, sizeof(err)))) {
    snprintf(res->reason, sizeof(res->reason), "training: %s", err);
    goto done;
  }
  snprintf(path, sizeof(path), "%s/%s", tmp, SNAP_LIVE_FILE);
  if ((rc = snap_write_tsv(path, h.train, h.n_train))) {
    snprintf(res->reason, sizeof(res->reason), "writing %.900s", path);
    goto done;
  }
  res->train_s = retrain_now() - t;
  fprintf(stderr, "retrain: trained v%d in %.2f s (generators %.2f, features %.2f, ranker %.2f)\n",
          version, res->train_s, ts.ts.generators_seconds, ts.ts.features_seconds,
          ts.ts.ranker_seconds);

  /* 3. candidate vs serving on the same holdout, through the serving code path */
  t = retrain_now();
  retrain_set_field(st, "state", "evaluate");
  long users = 0;
  if ((rc = reco_open(tmp, cand_ds, &cand, err, sizeof(err))) ||
      (rc = rt_score(cand, &h, cfg->k, &res->candidate, &users))) {
    snprintf(res->reason, sizeof(res->reason), "scoring the candidate: %s",
             *err ? err : mr_strerror(rc));
    goto done;
  }
  res->holdout = users;
  int publish = 1;
  if (serving) {
    snprintf(path, sizeof(path), "%s/v%d", cfg->models, serving);
    if ((rc = snap_open_version(cfg->data_dir, path, &serv_ds, &serv, err, sizeof(err))) ||
        (rc = rt_score(serv, &h, cfg->k, &res->serving_score, &users))) {
      snprintf(res->reason, sizeof(res->reason), "scoring the serving version %s: %s", res->serving,
               *err ? err : mr_strerror(rc));
      goto done;
    }
    if (h.n_held == 0) {
      publish = 0;
      res->decision = "skipped";
      snprintf(res->reason, sizeof(res->reason),
               "empty holdout: no new rating to compare the versions on");
    } else if (!(res->candidate >= res->serving_score - cfg->epsilon)) {
      publish = 0;
      res->decision = "rejected";
      snprintf(res->reason, sizeof(res->reason), "candidate worse than %s", res->serving);
    }
  }
  res->eval_s = retrain_now() - t;
  fprintf(stderr,
          "retrain: holdout of %ld ratings: candidate v%d nDCG@%d %.4f, serving %s %.4f, "
          "epsilon %.4f -> %s (%.2f s)\n",
          res->holdout, version, cfg->k, res->candidate, serving ? res->serving : "(none)",
          res->serving_score, cfg->epsilon, publish ? "publish" : res->decision, res->eval_s);
  reco_free(cand);
  cand = NULL;
  reco_free(serv);
  serv = NULL;
  if (!publish) {
    rc = MR_OK;
    goto done;
  }
  if (*stop) {
    /* asked to stop while training: do not publish half-way through a shutdown */
    snprintf(res->reason, sizeof(res->reason), "stopped before publishing");
    rc = MR_EIO;
    goto done;
  }

  /* 4. publish: vN complete on disk, current switched, announced, old versions pruned */
  t = retrain_now();
  retrain_set_field(st, "state", "publish");
  manifest = json_pack("{s:s, s:I, s:I, s:I, s:s, s:I, s:s, s:{s:i, s:f, s:f, s:I}, s:f}",
                       "trigger", "retrain", "ratings", (json_int_t)cand_ds->n_ratings,
                       "live_ratings", (json_int_t)h.n_train, "users", (json_int_t)cand_ds->n_users,
                       "stream_id", info.stream_id, "stored", (json_int_t)info.stored, "pipeline",
                       cfg->params, "holdout", "k", cfg->k, "candidate_ndcg", res->candidate,
                       "serving_ndcg", res->serving_score, "ratings", (json_int_t)res->holdout,
                       "train_seconds", res->train_s);
  if (!manifest) {
    rc = MR_ENOMEM;
    goto done;
  }
  if (serving)
    json_object_set_new(manifest, "parent", json_string(res->serving));
  if (cfg->sabotage)
    json_object_set_new(manifest, "sabotaged", json_true());
  if ((rc = pub_commit(cfg->models, tmp, version, manifest))) {
    snprintf(res->reason, sizeof(res->reason), "completing v%d: %s", version, mr_strerror(rc));
    goto done;
  }
  *tmp = '\0';
  if ((rc = pub_switch(cfg->models, version, err, sizeof(err)))) {
    snprintf(res->reason, sizeof(res->reason), "%s", err);
    goto done;
  }
  snprintf(res->version, sizeof(res->version), "v%d", version);
  long long receivers = 0;
  if (store_publish(st, RETRAIN_CHANNEL, res->version, &receivers))
    fprintf(stderr, "retrain: announcing %s on %s failed (the API also polls): %s\n", res->version,
            RETRAIN_CHANNEL, store_errstr(st));
  int removed = 0;
  pub_prune(cfg->models, cfg->keep, 0, &removed);
  res->publish_s = retrain_now() - t;
  res->decision = "published";
  fprintf(stderr,
          "retrain: published %s as %s/current, announced on %s (%lld subscribers), pruned %d "
          "old versions (keep %d), %.2f s\n",
          res->version, cfg->models, RETRAIN_CHANNEL, receivers, removed, cfg->keep,
          res->publish_s);
  rc = MR_OK;
done:
  res->total_s = retrain_now() - t0;
  if (*tmp)
    pub_abort(tmp);
  json_decref(manifest);
  reco_free(cand);
  reco_free(serv);
  ds_free(serv_ds);
  ds_free(cand_ds);
  ds_free(base);
  rt_holdout_free(&h);
  free(serving_live);
  free(live);
  free(lr);
  if (rc && !*res->reason)
    snprintf(res->reason, sizeof(res->reason), "%s", mr_strerror(rc));
  return rc;
}

int retrain_run(const retrain_config *cfg, volatile sig_atomic_t *stop) {
  char err[256] = "";
  store *st = NULL;
  if (cfg->keep < 1 || cfg->min_new < 1 || cfg->period_s < 1 || cfg->k < 1 || cfg->k > 100)
    return MR_EINVAL;
  int rc = store_connect(cfg->redis_url, 5000, &st, err, sizeof(err));
  if (!st) {
    fprintf(stderr, "retrain: %s\n", err);
    return rc;
  }
  fprintf(stderr,
          "retrain: models %s, data %s, retrain after %ld new ratings or %ld s, keep %d, "
          "nDCG@%d, epsilon %.4f%s\n",
          cfg->models, cfg->data_dir, cfg->min_new, cfg->period_s, cfg->keep, cfg->k, cfg->epsilon,
          cfg->once ? ", once" : "");
  /* the baseline of "new": what the serving version saw, or the last attempt */
  long long last_stored = -1;
  int64_t last_time = 0;
  int last_rc = MR_OK;
  int64_t last_log = 0;
  while (!*stop) {
    if (!store_connected(st) && store_reconnect(st)) {
      fprintf(stderr, "retrain: Redis: %s (retrying)\n", store_errstr(st));
      last_rc = MR_EIO;
      if (cfg->once)
        break;
      retrain_sleep(5000, stop);
      continue;
    }
    int serving;
    long long serving_stored;
    int64_t created;
    retrain_serving_state(cfg->models, &serving, &serving_stored, &created);
    long long base =
        last_stored >= 0 && last_stored > serving_stored ? last_stored : serving_stored;
    int64_t since = last_time > created ? last_time : created;
    long long stored = 0;
    if (store_stats_stored(st, &stored)) {
      fprintf(stderr, "retrain: Redis: %s\n", store_errstr(st));
      last_rc = MR_EIO;
      if (cfg->once)
        break;
      retrain_sleep(5000, stop);
      continue;
    }
    long long fresh = stored >= base ? stored - base : stored; /* a reset Redis counts anew */
    int64_t now = (int64_t)time(NULL);
    char pending[32];
    snprintf(pending, sizeof(pending), "%lld", fresh);
    retrain_set_field(st, "pending", pending);
    int due = cfg->force || fresh >= cfg->min_new || (fresh > 0 && now - since >= cfg->period_s);
    if (!due) {
      if (cfg->once || now - last_log >= 600) {
        fprintf(stderr, "retrain: %lld new ratings since %s (need %ld, or %ld s): waiting\n", fresh,
                serving ? "the serving version" : "the start", cfg->min_new, cfg->period_s);
        last_log = now;
      }
      if (cfg->once)
        break;
      retrain_sleep(cfg->period_s < 5 ? (int)cfg->period_s * 1000 : 5000, stop);
      continue;
    }
    fprintf(stderr, "retrain: starting: %lld new ratings since %s\n", fresh,
            serving ? "the serving version" : "the start");
    retrain_result res;
    memset(&res, 0, sizeof(res));
    int64_t started = (int64_t)time(NULL);
    char startbuf[32];
    snprintf(startbuf, sizeof(startbuf), "%lld", (long long)started);
    retrain_set_field(st, "running_since", startbuf);
    last_rc = retrain_once(cfg, st, &res, stop);
    if (last_rc && !store_connected(st))
      store_reconnect(st);
    fprintf(stderr,
            "retrain: run %s%s%s in %.2f s (snapshot %.2f, train %.2f, evaluate %.2f, publish "
            "%.2f)\n",
            res.decision, *res.reason ? ": " : "", res.reason, res.total_s, res.snapshot_s,
            res.train_s, res.eval_s, res.publish_s);
    retrain_report(st, &res, started);
    retrain_set_field(st, "state", "idle");
    retrain_set_field(st, "running_since", "0");
    last_stored = res.stored > 0 ? res.stored : stored;
    long long now_stored = 0;
    if (!strcmp(res.decision, "published") && !store_stats_stored(st, &now_stored)) {
      snprintf(pending, sizeof(pending), "%lld",
               now_stored >= last_stored ? now_stored - last_stored : now_stored);
      retrain_set_field(st, "pending", pending);
    }
    last_time = (int64_t)time(NULL);
    if (cfg->once)
      break;
    if (last_rc)
      retrain_sleep(30000, stop); /* a failed run: do not spin on the same error */
  }
  store_free(st);
  return last_rc;
}
