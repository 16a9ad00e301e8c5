/* The API's view of the movie catalogue: JSON for movie items and details, title search. */
#ifndef MR_API_CATALOG_H
#define MR_API_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "services/api_buf.h"

typedef struct api_catalog api_catalog;

/* Builds the lookup tables (lower-cased titles) over ds, which must outlive the catalogue.
 * Free with api_catalog_free (NULL is fine). */
int api_catalog_create(const mr_dataset *ds, api_catalog **out);
void api_catalog_free(api_catalog *c);

/* Writes one recommendation item {"movie_id","title","year","genres","score","poster_url"} for
 * the dense movie index (the caller checked the range). */
void api_catalog_item(const api_catalog *c, api_buf *b, int32_t movie, double score);
/* The same with the score already written as JSON number text (score_len bytes). */
void api_catalog_item_text(const api_catalog *c, api_buf *b, int32_t movie, const char *score,
                           size_t score_len);

/* Writes the details object of a movie (dense index): title, year, genres, IMDb rating and
 * votes, runtime, directors, cast (first 10), description, poster and IMDb ids. */
void api_catalog_details(const api_catalog *c, api_buf *b, int32_t movie);

/* Writes {"query": q, "count": k, "items": [...]} with the first `limit` movies (catalogue
 * order) whose title contains q, ASCII case-insensitively (q "" matches every movie). */
void api_catalog_search(const api_catalog *c, api_buf *b, const char *q, int limit);

/* Writes the genre names of mask as a JSON array. */
void api_catalog_genres(const api_catalog *c, api_buf *b, uint32_t mask);

#endif
