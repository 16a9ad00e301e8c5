/* Online serving core: one model version opened from its directory, answering per-section top-n
 * for a user's history (base data + live ratings). */
#include "pipeline/reco.h"

#include <ctype.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/mr_error.h"
#include "data/csr.h"
#include "models/genre.h"
#include "models/model.h"
#include "models/model_ops.h"
#include "models/semantic.h"
#include "pipeline/two_stage.h"

struct reco {
  const mr_dataset *ds;
  char version[64];
  rec_model *personal; /* two-stage */
  rec_model *gems, *genre, *pop;
  rec_model *semantic; /* optional: NULL for versions trained without it */
  csr *ui, *iu;
  /* base history per user in time order */
  int64_t *h_ptr;
  int32_t *h_movie;
  float *h_rating;
  int64_t *h_ts;
};

void reco_free(reco *r) {
  if (!r)
    return;
  rec_free(r->personal);
  rec_free(r->gems);
  rec_free(r->genre);
  rec_free(r->pop);
  rec_free(r->semantic);
  csr_free(r->ui);
  csr_free(r->iu);
  free(r->h_ptr);
  free(r->h_movie);
  free(r->h_rating);
  free(r->h_ts);
  free(r);
}

const char *reco_version(const reco *r) {
  return r->version;
}
const mr_dataset *reco_dataset(const reco *r) {
  return r->ds;
}
const rec_model *reco_personal_model(const reco *r) {
  return r->personal;
}

static int reco_index_history(reco *r) {
  const mr_dataset *ds = r->ds;
  size_t n = ds->n_ratings;
  r->h_ptr = calloc((size_t)ds->n_users + 1, sizeof(int64_t));
  r->h_movie = malloc((n + 1) * sizeof(int32_t));
  r->h_rating = malloc((n + 1) * sizeof(float));
  r->h_ts = malloc((n + 1) * sizeof(int64_t));
  int64_t *fill = malloc(((size_t)ds->n_users + 1) * sizeof(int64_t));
  if (!r->h_ptr || !r->h_movie || !r->h_rating || !r->h_ts || !fill) {
    free(fill);
    return MR_ENOMEM;
  }
  for (size_t i = 0; i < n; i++)
    r->h_ptr[ds->ratings[i].user + 1]++;
  for (int32_t u = 0; u < ds->n_users; u++)
    r->h_ptr[u + 1] += r->h_ptr[u];
  memcpy(fill, r->h_ptr, (size_t)ds->n_users * sizeof(int64_t));
  for (size_t i = 0; i < n; i++) {
    int64_t p = fill[ds->ratings[i].user]++;
    r->h_movie[p] = ds->ratings[i].item;
    r->h_rating[p] = ds->ratings[i].rating;
    r->h_ts[p] = ds->ratings[i].ts;
  }
  free(fill);
  /* time order within each user (insertion sort: slices are short) */
  for (int32_t u = 0; u < ds->n_users; u++)
    for (int64_t i = r->h_ptr[u] + 1; i < r->h_ptr[u + 1]; i++) {
      int32_t m = r->h_movie[i];
      float rt = r->h_rating[i];
      int64_t t = r->h_ts[i], j = i - 1;
      while (j >= r->h_ptr[u] && r->h_ts[j] > t) {
        r->h_movie[j + 1] = r->h_movie[j];
        r->h_rating[j + 1] = r->h_rating[j];
        r->h_ts[j + 1] = r->h_ts[j];
        j--;
      }
      r->h_movie[j + 1] = m;
      r->h_rating[j + 1] = rt;
      r->h_ts[j + 1] = t;
    }
  return MR_OK;
}

static int reco_load_one(const char *dir, const char *kind, int32_t n_items, rec_model **out,
                         char *err, size_t errlen) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s.bin", dir, kind);
  int rc = rec_load(path, out, err, errlen);
  if (rc)
    return rc;
  if (rec_n_items(*out) != n_items) {
    rec_set_err(err, errlen, "%s: %d movies, the data has %d", path, rec_n_items(*out), n_items);
    rec_free(*out);
    *out = NULL;
    return MR_EFORMAT;
  }
  return MR_OK;
}

int reco_open(const char *dir, const mr_dataset *ds, reco **out, char *err, size_t errlen) {
  char real[PATH_MAX];
  reco *r = calloc(1, sizeof(*r));
  int rc = MR_ENOMEM;
  if (!r)
    return rc;
  r->ds = ds;
  /* resolve "models/current" once: the version is the directory the link points at */
  if (!realpath(dir, real)) {
    rec_set_err(err, errlen, "%s: no such model directory (run `movierec train`)", dir);
    rc = MR_ENOTFOUND;
    goto fail;
  }
  snprintf(r->version, sizeof(r->version), "%s", basename(real));
  if ((rc = csr_from_ratings(ds->ratings, ds->n_ratings, ds->n_users, ds->n_movies, 0, &r->ui)) ||
      (rc = csr_transpose(r->ui, &r->iu)) || (rc = reco_index_history(r)))
    goto fail;
  if ((rc = reco_load_one(real, "pop", ds->n_movies, &r->pop, err, errlen)) ||
      (rc = reco_load_one(real, "gems", ds->n_movies, &r->gems, err, errlen)) ||
      (rc = reco_load_one(real, "genre", ds->n_movies, &r->genre, err, errlen)))
    goto fail;
  /* semantic.bin is optional (older versions lack it: "more like this" answers unsupported);
   * one that exists must load */
  char sem_path[PATH_MAX + 16];
  snprintf(sem_path, sizeof(sem_path), "%s/semantic.bin", real);
  if (access(sem_path, F_OK) == 0 &&
      (rc = reco_load_one(real, "semantic", ds->n_movies, &r->semantic, err, errlen)))
    goto fail;
  rec_train_data hist = {
      .ds = ds, .ratings = ds->ratings, .n_ratings = ds->n_ratings, .ui = r->ui, .iu = r->iu};
  if ((rc = ts_load_parts(real, &hist, &r->personal, err, errlen)))
    goto fail;
  *out = r;
  return MR_OK;
fail:
  reco_free(r);
  return rc;
}

void reco_base_history(const reco *r, int32_t user, const int32_t **movies, const float **ratings,
                       const int64_t **ts, int *n) {
  if (user < 0 || user >= r->ds->n_users) {
    *movies = NULL;
    *ratings = NULL;
    *ts = NULL;
    *n = 0;
    return;
  }
  int64_t b = r->h_ptr[user];
  *movies = r->h_movie + b;
  *ratings = r->h_rating + b;
  *ts = r->h_ts + b;
  *n = (int)(r->h_ptr[user + 1] - b);
}

int reco_parse_genres(const reco *r, const char *list, uint32_t *mask, char *err, size_t errlen) {
  *mask = 0;
  const char *s = list;
  while (s && *s) {
    const char *comma = strchr(s, ',');
    size_t len = comma ? (size_t)(comma - s) : strlen(s);
    while (len && isspace((unsigned char)*s)) {
      s++;
      len--;
    }
    while (len && isspace((unsigned char)s[len - 1]))
      len--;
    if (len) {
      int found = -1;
      for (int g = 0; g < r->ds->n_genres; g++)
        if (strlen(r->ds->genre_names[g]) == len && !strncasecmp(r->ds->genre_names[g], s, len))
          found = g;
      if (found < 0) {
        rec_set_err(err, errlen, "unknown genre '%.*s'", (int)(len > 64 ? 64 : len), s);
        return MR_EINVAL;
      }
      *mask |= 1u << found;
    }
    if (!comma)
      break;
    s = comma + 1;
  }
  return MR_OK;
}

int reco_has_ranker(const reco *r, reco_ranker ranker) {
  if (ranker == RECO_RANKER_DEFAULT)
    return 1;
  return ts_has_ranker(r->personal, ranker == RECO_RANKER_CROSS ? TS_RANKER_CROSS : TS_RANKER_LTR);
}

int reco_recommend(const reco *r, int32_t user_id, const reco_rating *live, int n_live,
                   reco_section section, uint32_t genre_mask, int n, reco_item *out, int *n_out) {
  return reco_recommend_ranked(r, user_id, live, n_live, section, genre_mask, RECO_RANKER_DEFAULT,
                               n, out, n_out);
}

int reco_recommend_ranked(const reco *r, int32_t user_id, const reco_rating *live, int n_live,
                          reco_section section, uint32_t genre_mask, reco_ranker ranker, int n,
                          reco_item *out, int *n_out) {
  const mr_dataset *ds = r->ds;
  int32_t n_items = ds->n_movies;
  int32_t user = ds_user_index(ds, user_id);
  const int32_t *bm;
  const float *br;
  const int64_t *bt;
  int nb;
  int rc = MR_ENOMEM;
  if (n < 1 || n > 500 || n_live < 0 || (n_live && !live) || ranker < RECO_RANKER_DEFAULT ||
      ranker > RECO_RANKER_CROSS)
    return MR_EINVAL;
  if (section == RECO_PERSONALIZED && !reco_has_ranker(r, ranker))
    return MR_ENOTFOUND;
  for (int k = 0; k < n_live; k++)
    if (live[k].movie < 0 || live[k].movie >= n_items || !(live[k].rating >= 1) ||
        !(live[k].rating <= 5))
      return MR_ERANGE;
  if (user >= r->ui->n_rows)
    user = -1; /* a user added to the data after this version was trained */
  reco_base_history(r, user, &bm, &br, &bt, &nb);
  float *scores = malloc((size_t)n_items * sizeof(float));
  uint8_t *rated = calloc((size_t)n_items, 1);
  int32_t *h_items = malloc(((size_t)nb + (size_t)n_live + 1) * sizeof(int32_t));
  float *h_ratings = malloc(((size_t)nb + (size_t)n_live + 1) * sizeof(float));
  int32_t *top = malloc((size_t)n * sizeof(int32_t));
  float *top_s = malloc((size_t)n * sizeof(float));
  if (!scores || !rated || !h_items || !h_ratings || !top || !top_s)
    goto done;
  /* merged history: live ratings win over base ratings of the same movie */
  int nh = 0;
  for (int k = 0; k < n_live; k++)
    rated[live[k].movie] = 2;
  for (int k = 0; k < nb; k++)
    if (rated[bm[k]] != 2) {
      rated[bm[k]] = 1;
      h_items[nh] = bm[k];
      h_ratings[nh++] = br[k];
    }
  for (int k = 0; k < n_live; k++)
    if (rated[live[k].movie] == 2) {
      rated[live[k].movie] = 1; /* a movie rated twice live keeps its first (newest) entry */
      h_items[nh] = live[k].movie;
      h_ratings[nh++] = live[k].rating;
    }
  /* the precomputed user vectors are exact only for an unchanged history */
  int use_user = user >= 0 && n_live == 0;
  const rec_model *m = NULL;
  switch (section) {
  case RECO_PERSONALIZED:
    /* a new user: the pipeline's cold-start ranker when it has one (and the user did not pick
     * genres), else the popular list below */
    m = nh || (!genre_mask && ranker != RECO_RANKER_CROSS &&
               ts_has_ranker(r->personal, TS_RANKER_COLD))
            ? r->personal
            : NULL;
    break;
  case RECO_HIDDEN_GEMS:
    m = nh ? r->gems : NULL;
    break;
  case RECO_GENRE:
    m = r->genre;
    break;
  case RECO_POPULAR:
    m = r->pop;
    break;
  default:
    rc = MR_EINVAL;
    goto done;
  }
  int got = -1;
  if (m && m == r->personal && rec_state_of(m, "two_stage")) {
    /* the two-stage model ranks its candidates and picks the top n among them */
    int which = ranker == RECO_RANKER_CROSS ? TS_RANKER_CROSS
                : ranker == RECO_RANKER_LTR ? TS_RANKER_LTR
                                            : 0;
    got = use_user ? ts_top_n(m, which, user, NULL, NULL, 0, rated, n, scores, top, top_s)
                   : ts_top_n(m, which, -1, h_items, h_ratings, nh, rated, n, scores, top, top_s);
    if (got < 0) {
      rc = got;
      goto done;
    }
    rc = MR_OK;
  } else if (!m && genre_mask) {
    /* a new user who told us their genres */
    const genre_model *g = rec_state_of(r->genre, "genre");
    rc = g ? genre_score_genres(g, genre_mask, scores) : MR_EINVAL;
  } else if (!m) {
    rc = rec_score_history(r->pop, NULL, NULL, 0, scores);
  } else if (section == RECO_GENRE && nh == 0 && genre_mask) {
    const genre_model *g = rec_state_of(r->genre, "genre");
    rc = g ? genre_score_genres(g, genre_mask, scores) : MR_EINVAL;
  } else if (m == r->personal && ranker != RECO_RANKER_DEFAULT) {
    int which = ranker == RECO_RANKER_CROSS ? TS_RANKER_CROSS : TS_RANKER_LTR;
    rc = use_user ? ts_score_with(m, which, user, NULL, NULL, 0, scores)
                  : ts_score_with(m, which, -1, h_items, h_ratings, nh, scores);
  } else if (use_user) {
    rc = rec_score_user(m, user, scores);
  } else {
    rc = rec_score_history(m, h_items, h_ratings, nh, scores);
  }
  if (rc)
    goto done;
  if (got < 0)
    got = rec_top_n(scores, n_items, rated, n, top, top_s);
  for (int k = 0; k < got; k++) {
    out[k].movie = top[k];
    out[k].score = top_s[k];
  }
  *n_out = got;
  rc = MR_OK;
done:
  free(scores);
  free(rated);
  free(h_items);
  free(h_ratings);
  free(top);
  free(top_s);
  return rc;
}

int reco_similar(const reco *r, int32_t movie, int n, reco_item *out, int *n_out) {
  const semantic_model *sm = semantic_of(r->semantic);
  if (n < 1 || n > 500 || movie < 0 || movie >= r->ds->n_movies || !out || !n_out)
    return MR_EINVAL;
  if (!sm)
    return MR_EUNSUPPORTED;
  int32_t top[500];
  float ts[500];
  int got = semantic_similar(sm, movie, n, top, ts);
  if (got < 0)
    return got;
  for (int k = 0; k < got; k++) {
    out[k].movie = top[k];
    out[k].score = ts[k];
  }
  *n_out = got;
  return MR_OK;
}
