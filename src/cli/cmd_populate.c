/* `movierec populate`: post sample ratings of new users to the event service (/interact). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_cmds.h"
#include "cli/cli_opts.h"
#include "core/mr_error.h"
#include "core/mr_rng.h"
#include "infra/http_client.h"

enum {
  O_URL,
  O_COUNT,
  O_USERS,
  O_FIRST_USER,
  O_SEED,
  O_DATA,
  O_DATASET,
  O_FORMAT,
  O_TIMEOUT,
  O_TOKEN,
  O_N
};
static const cli_opt populate_opts[O_N] = {
    [O_URL] = {"url", CLI_STR, "http://127.0.0.1:8001", "MOVIEREC_EVENTS_URL",
               "event service base URL"},
    [O_COUNT] = {"count", CLI_INT, "200", NULL, "ratings to send (1-1000000)"},
    [O_USERS] = {"users", CLI_INT, "3", NULL, "distinct users, ids FIRST_USER.. (1-100000)"},
    [O_FIRST_USER] = {"first-user", CLI_INT, "0", NULL,
                      "first user id (default 0: one above the data's largest, i.e. new users)"},
    [O_SEED] = {"seed", CLI_INT, "42", NULL, "random seed (movies and ratings)"},
    [O_DATA] = {"data", CLI_STR, NULL, "MOVIEREC_DATA", "data directory (movies to pick from)"},
    [O_DATASET] = CLI_OPT_DATASET,
    [O_FORMAT] = CLI_OPT_FORMAT,
    [O_TIMEOUT] = {"timeout", CLI_INT, "5000", NULL, "per-request timeout in ms"},
    [O_TOKEN] = {"token", CLI_STR, NULL, "MOVIEREC_TOKEN",
                 "the event service's write token (sent as Authorization: Bearer)"},
};

#define POPULATE_TRIES 8
#define POPULATE_MIN_RATINGS 20

static void populate_sleep_ms(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

/* POSTs one rating, retrying on 503 and connection errors (docs/SERVICES.md tells clients to);
 * returns the final HTTP status, or 0 when the service never answered. */
static int populate_post(const char *url, const char *auth, const char *body, int timeout_ms,
                         long *retries, char *err, size_t errlen) {
  int backoff = 100;
  for (int attempt = 0; attempt < POPULATE_TRIES; attempt++) {
    httpc_response r;
    int rc = httpc_request_hdr("POST", url, auth, "application/json", body, strlen(body),
                               timeout_ms, &r, err, errlen);
    int status = rc ? 0 : r.status;
    if (!rc && status != 503 && status != 202)
      snprintf(err, errlen, "HTTP %d: %.200s", status, r.body);
    else if (!rc && status == 503)
      snprintf(err, errlen, "HTTP 503: %.200s", r.body);
    if (!rc)
      httpc_response_free(&r);
    if (status && status != 503)
      return status;
    if (attempt + 1 < POPULATE_TRIES) {
      (*retries)++;
      populate_sleep_ms(backoff);
      backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
    }
  }
  return 0;
}

/* A set of (user, movie) pairs already sent, open addressing over 2x the ratings; key 0 is
 * free (keys are user << 32 | movie + 1). */
static uint64_t populate_key(uint64_t u, int32_t m) {
  return (u << 32) | (uint64_t)(m + 1);
}

static int populate_seen(const uint64_t *set, size_t cap, uint64_t u, int32_t m) {
  uint64_t k = populate_key(u, m);
  for (size_t j = (size_t)((k * 0x9e3779b97f4a7c15ULL) >> 20) % cap; set[j]; j = (j + 1) % cap)
    if (set[j] == k)
      return 1;
  return 0;
}

static void populate_mark(uint64_t *set, size_t cap, uint64_t u, int32_t m) {
  uint64_t k = populate_key(u, m);
  size_t j = (size_t)((k * 0x9e3779b97f4a7c15ULL) >> 20) % cap;
  while (set[j] && set[j] != k)
    j = (j + 1) % cap;
  set[j] = k;
}

int cmd_populate(int argc, char **argv) {
  cli_values v;
  mr_dataset *ds = NULL;
  int32_t *cand = NULL, *count = NULL;
  double *sum = NULL;
  uint64_t *seen = NULL;
  int status = 1;
  int rc = cli_parse("populate", "Post sample ratings of new users to the event service.",
                     populate_opts, O_N, argc, argv, &v);
  if (rc)
    return rc > 0 ? 0 : 2;
  if (cli_data_select(v.str[O_DATASET], v.str[O_FORMAT]))
    return 2;
  long n = v.num[O_COUNT], users = v.num[O_USERS], first = v.num[O_FIRST_USER];
  if (n < 1 || n > 1000000 || users < 1 || users > 100000 || first < 0 || v.num[O_TIMEOUT] < 1) {
    fprintf(stderr, "movierec populate: --count 1..1000000, --users 1..100000, --first-user >= 0 "
                    "and --timeout >= 1 expected\n");
    return 2;
  }
  if (cli_load_dataset(v.str[O_DATA], &ds))
    return 1;
  if (first == 0) /* new users: above every id of the data, whatever the release */
    for (int32_t u = 0; u < ds->n_users; u++)
      if (ds->users[u].id >= first)
        first = (long)ds->users[u].id + 1;
  if (first < 1 || first + users - 1 > 2147483647L) {
    fprintf(stderr, "movierec populate: user ids %ld..%ld are out of range 1..2147483647\n", first,
            first + users - 1);
    goto done;
  }
  count = calloc((size_t)ds->n_movies, sizeof(*count));
  sum = calloc((size_t)ds->n_movies, sizeof(*sum));
  cand = malloc((size_t)ds->n_movies * sizeof(*cand));
  size_t seen_cap = 2 * (size_t)n + 1;
  seen = calloc(seen_cap, sizeof(*seen));
  if (!count || !sum || !cand || !seen) {
    fprintf(stderr, "movierec populate: out of memory\n");
    goto done;
  }
  for (size_t i = 0; i < ds->n_ratings; i++) {
    count[ds->ratings[i].item]++;
    sum[ds->ratings[i].item] += ds->ratings[i].rating;
  }
  /* movies with enough ratings, so the picks look like what people watch */
  int32_t n_cand = 0;
  for (int32_t m = 0; m < ds->n_movies; m++)
    if (count[m] >= POPULATE_MIN_RATINGS)
      cand[n_cand++] = m;
  if (n_cand < 10) /* a small data set (tests): any rated movie */
    for (int32_t m = n_cand = 0; m < ds->n_movies; m++)
      if (count[m] > 0)
        cand[n_cand++] = m;
  if (n_cand == 0) {
    fprintf(stderr, "movierec populate: the data has no rated movies\n");
    goto done;
  }
  mr_rng rng;
  mr_rng_seed(&rng, (uint64_t)v.num[O_SEED]);
  /* each user has a favourite genre: 70% of their ratings are high ratings of that genre, so
   * their recommendations visibly turn from cold start to personal */
  char url[1024], auth[600] = "";
  snprintf(url, sizeof(url), "%s/interact", v.str[O_URL]);
  if (v.str[O_TOKEN] && *v.str[O_TOKEN]) {
    const char *t = v.str[O_TOKEN];
    if (strpbrk(t, "\r\n") || strlen(t) > 512) {
      fprintf(stderr, "movierec populate: --token: at most 512 bytes, no line breaks\n");
      goto done;
    }
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", t);
  }
  long accepted = 0, failed = 0, retries = 0;
  for (long k = 0; k < n; k++) {
    long u = k % users;
    uint64_t useed = (uint64_t)v.num[O_SEED] * 1000003u + (uint64_t)u;
    int genre = (int)(mr_splitmix64(&useed) % (uint64_t)(ds->n_genres > 1 ? ds->n_genres - 1 : 1)) +
                (ds->n_genres > 1); /* skip genre 0 ("unknown") */
    int fav = mr_rng_uniform(&rng) < 0.7;
    int32_t m = cand[mr_rng_below(&rng, (uint64_t)n_cand)];
    /* a movie this user has not rated yet, of the favourite genre when fav (any genre after 50
     * tries: the genre may have few movies); after 250 tries take what came (small data) */
    for (int t = 0; t < 250; t++) {
      int ok_genre = !fav || t >= 50 || (ds->movies[m].genres & (1u << genre));
      if (ok_genre && !populate_seen(seen, seen_cap, (uint64_t)u, m))
        break;
      m = cand[mr_rng_below(&rng, (uint64_t)n_cand)];
    }
    populate_mark(seen, seen_cap, (uint64_t)u, m);
    double mean = sum[m] / count[m];
    long rating = fav && (ds->movies[m].genres & (1u << genre))
                      ? 4 + (long)mr_rng_below(&rng, 2)
                      : lround(mean + 0.8 * mr_rng_normal(&rng));
    rating = rating < 1 ? 1 : rating > 5 ? 5 : rating;
    char body[128], err[512] = "";
    snprintf(body, sizeof(body), "{\"user_id\": %ld, \"movie_id\": %lld, \"rating\": %ld}",
             first + u, (long long)ds->movies[m].id, rating);
    int st = populate_post(url, *auth ? auth : NULL, body, (int)v.num[O_TIMEOUT], &retries, err,
                           sizeof(err));
    if (st == 202) {
      accepted++;
    } else {
      if (failed < 5)
        fprintf(stderr, "populate: %s -> %s\n", body, *err ? err : "no answer");
      failed++;
    }
  }
  printf("populate: sent %ld, accepted %ld, failed %ld (retries %ld), users %ld..%ld\n", n,
         accepted, failed, retries, first, first + users - 1);
  status = failed ? 1 : 0;
done:
  free(seen);
  free(cand);
  free(count);
  free(sum);
  ds_free(ds);
  return status;
}
