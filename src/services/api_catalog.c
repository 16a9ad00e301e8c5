/* Movie JSON and title search for the API, over the loaded data set. */
#include "services/api_catalog.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"

struct api_catalog {
  const mr_dataset *ds;
  char **lower; /* lower-cased titles, for case-insensitive search */
  /* per movie, the JSON of the fields every movie object shares ("movie_id":..,"poster_url":..)
   * written once here: escaping titles and genres per item was ~10% of an uncached request */
  api_buf common;
  size_t *common_at; /* n_movies + 1 offsets into common */
};

static void api_catalog_write_common(const api_catalog *c, api_buf *b, const mr_movie *m);

int api_catalog_create(const mr_dataset *ds, api_catalog **out) {
  *out = NULL;
  api_catalog *c = calloc(1, sizeof(*c));
  if (!c)
    return MR_ENOMEM;
  c->ds = ds;
  if (!(c->lower = calloc((size_t)ds->n_movies + 1, sizeof(char *))))
    goto fail;
  for (int32_t i = 0; i < ds->n_movies; i++) {
    const char *t = ds->movies[i].title ? ds->movies[i].title : "";
    if (!(c->lower[i] = strdup(t)))
      goto fail;
    for (char *p = c->lower[i]; *p; p++)
      *p = (char)tolower((unsigned char)*p);
  }
  if (!(c->common_at = malloc(((size_t)ds->n_movies + 1) * sizeof(size_t))))
    goto fail;
  api_buf_init(&c->common);
  for (int32_t i = 0; i < ds->n_movies; i++) {
    c->common_at[i] = c->common.len;
    api_catalog_write_common(c, &c->common, &ds->movies[i]);
  }
  c->common_at[ds->n_movies] = c->common.len;
  if (c->common.oom)
    goto fail;
  *out = c;
  return MR_OK;
fail:
  api_catalog_free(c);
  return MR_ENOMEM;
}

void api_catalog_free(api_catalog *c) {
  if (!c)
    return;
  if (c->lower)
    for (int32_t i = 0; i < c->ds->n_movies; i++)
      free(c->lower[i]);
  free(c->lower);
  free(c->common_at);
  api_buf_free(&c->common);
  free(c);
}

void api_catalog_genres(const api_catalog *c, api_buf *b, uint32_t mask) {
  api_buf_putc(b, '[');
  int first = 1;
  for (int g = 0; g < c->ds->n_genres && g < 32; g++) {
    if (!(mask & (1u << g)))
      continue;
    if (!first)
      api_buf_putc(b, ',');
    first = 0;
    api_buf_json_str(b, c->ds->genre_names[g]);
  }
  api_buf_putc(b, ']');
}

/* The fields every movie object shares. */
static void api_catalog_write_common(const api_catalog *c, api_buf *b, const mr_movie *m) {
  api_buf_printf(b, "\"movie_id\":%d,\"title\":", (int)m->id);
  api_buf_json_str(b, m->title);
  api_buf_printf(b, ",\"year\":%d,\"genres\":", m->year);
  api_catalog_genres(c, b, m->genres);
  api_buf_puts(b, ",\"poster_url\":");
  api_buf_json_str(b, m->poster_url);
}

static void api_catalog_common(const api_catalog *c, api_buf *b, const mr_movie *m) {
  size_t i = (size_t)(m - c->ds->movies);
  api_buf_put(b, c->common.p + c->common_at[i], c->common_at[i + 1] - c->common_at[i]);
}

void api_catalog_item(const api_catalog *c, api_buf *b, int32_t movie, double score) {
  api_buf_putc(b, '{');
  api_catalog_common(c, b, &c->ds->movies[movie]);
  api_buf_puts(b, ",\"score\":");
  api_buf_json_num(b, score);
  api_buf_putc(b, '}');
}

void api_catalog_item_text(const api_catalog *c, api_buf *b, int32_t movie, const char *score,
                           size_t score_len) {
  api_buf_putc(b, '{');
  api_catalog_common(c, b, &c->ds->movies[movie]);
  api_buf_puts(b, ",\"score\":");
  api_buf_put(b, score, score_len);
  api_buf_putc(b, '}');
}

static void api_catalog_strlist(api_buf *b, const mr_strlist *l, int max) {
  api_buf_putc(b, '[');
  for (int i = 0; i < l->n && i < max; i++) {
    if (i)
      api_buf_putc(b, ',');
    api_buf_json_str(b, l->items[i]);
  }
  api_buf_putc(b, ']');
}

void api_catalog_details(const api_catalog *c, api_buf *b, int32_t movie) {
  const mr_movie *m = &c->ds->movies[movie];
  api_buf_putc(b, '{');
  api_catalog_common(c, b, m);
  api_buf_puts(b, ",\"imdb_id\":");
  api_buf_json_str(b, m->imdb_id);
  api_buf_puts(b, ",\"imdb_url\":");
  api_buf_json_str(b, m->imdb_url);
  api_buf_puts(b, ",\"imdb_rating\":");
  api_buf_json_num(b, m->imdb_rating);
  api_buf_puts(b, ",\"imdb_votes\":");
  api_buf_printf(b, "%.0f", m->imdb_votes);
  api_buf_printf(b, ",\"runtime_min\":%d,\"age_rating\":", m->runtime_min);
  api_buf_json_str(b, m->age_rating);
  api_buf_puts(b, ",\"director\":");
  api_buf_json_str(b, m->directors.n ? m->directors.items[0] : "");
  api_buf_puts(b, ",\"directors\":");
  api_catalog_strlist(b, &m->directors, 10);
  api_buf_puts(b, ",\"cast\":");
  api_catalog_strlist(b, &m->cast, 10);
  api_buf_puts(b, ",\"description\":");
  api_buf_json_str(b, m->description);
  api_buf_puts(b, ",\"release_date\":");
  api_buf_json_str(b, m->release_date);
  api_buf_putc(b, '}');
}

void api_catalog_search(const api_catalog *c, api_buf *b, const char *q, int limit) {
  char lq[256];
  size_t n = strlen(q);
  if (n >= sizeof(lq))
    n = sizeof(lq) - 1;
  for (size_t i = 0; i < n; i++)
    lq[i] = (char)tolower((unsigned char)q[i]);
  lq[n] = '\0';
  api_buf_puts(b, "{\"query\":");
  api_buf_json_str(b, q);
  api_buf_puts(b, ",\"items\":[");
  int k = 0;
  for (int32_t i = 0; i < c->ds->n_movies && k < limit; i++) {
    if (n && !strstr(c->lower[i], lq))
      continue;
    if (k++)
      api_buf_putc(b, ',');
    api_buf_putc(b, '{');
    api_catalog_common(c, b, &c->ds->movies[i]);
    api_buf_putc(b, '}');
  }
  api_buf_printf(b, "],\"count\":%d}", k);
}
