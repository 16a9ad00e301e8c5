/* libFuzzer target: the MovieLens and IMDb loaders (src/data/dataset.c). The first input byte
 * picks the file the rest of the input replaces (u.genre, u.occupation, u.item, u.user, u.data,
 * the IMDb CSV); the other five come from tests/fixtures/mini, so a fuzzed u.item still meets
 * real users, ratings and IMDb rows. Each file is a memfd the loader opens by path. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "core/mr_error.h"
#include "data/dataset.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_FILES 6
static const char *const rel[N_FILES] = {"mini/ml-100k/u.genre",   "mini/ml-100k/u.occupation",
                                         "mini/ml-100k/u.item.in", "mini/ml-100k/u.user.in",
                                         "mini/ml-100k/u.data.in", "mini/imdb/details.csv.in"};
static int (*const loaders[N_FILES])(mr_dataset *, const char *) = {
    ds_load_genres, ds_load_occupations, ds_load_movies,
    ds_load_users,  ds_load_ratings,     ds_load_imdb};
static char *base[N_FILES];
static size_t base_len[N_FILES];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  for (int i = 0; i < N_FILES; i++)
    base[i] = fz_fixture(rel[i], &base_len[i]);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mr_dataset *ds = NULL;
  if (size < 1)
    return 0;
  int pick = data[0] % N_FILES;
  if (ds_create_empty(&ds) != MR_OK)
    abort();
  for (int i = 0; i < N_FILES; i++) {
    char path[32];
    int fd = i == pick ? fz_memfile(data + 1, size - 1, path)
                       : fz_memfile((const uint8_t *)base[i], base_len[i], path);
    if (fd < 0)
      abort();
    int rc = loaders[i](ds, path);
    close(fd);
    if (rc == MR_ENOMEM)
      abort();
    if (rc != MR_OK)
      break; /* a refused file (e.g. the IMDb header): ds_load stops there too */
  }
  /* what the rest of the program relies on after a load */
  for (size_t k = 0; k < ds->n_ratings; k++) {
    const mr_rating *r = &ds->ratings[k];
    if (r->user < 0 || r->user >= ds->n_users || r->item < 0 || r->item >= ds->n_movies ||
        !(r->rating >= 1 && r->rating <= 5))
      abort();
  }
  for (int32_t m = 0; m < ds->n_movies; m++) {
    const mr_movie *mv = &ds->movies[m];
    if (!mv->title || !mv->description || !mv->poster_url || ds_movie_index(ds, mv->id) != m)
      abort();
    if (strlen(mv->imdb_id) >= sizeof(mv->imdb_id))
      abort();
  }
  for (int32_t u = 0; u < ds->n_users; u++)
    if (ds_user_index(ds, ds->users[u].id) != u)
      abort();
  ds_free(ds);
  return 0;
}
