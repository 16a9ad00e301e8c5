/* libFuzzer target: the release loaders of src/data/formats.c (ml-1m / ml-10m "::" files, the
 * MovieLens CSV releases, the generic format). The first input byte picks the loader the rest of
 * the input is fed to; loaders that read ratings, tags or links first get a small valid movies
 * file of their format, so fuzzed rows meet known movies. After the load, the data set must hold
 * what the rest of the program relies on, and the scale and duplicate passes must accept it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "core/mr_error.h"
#include "data/dataset.h"
#include "data/formats.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char dat_movies[] = "1::Toy Story (1995)::Animation|Children's|Comedy\n"
                                 "2::Jumanji (1995)::Adventure|Children's|Fantasy\n"
                                 "193609::Andrew Dice Clay: Dice Rules (1991)::Comedy\n";
static const char csv_movies[] = "movieId,title,genres\r\n"
                                 "1,Toy Story (1995),Adventure|Animation\r\n"
                                 "2,\"City of Lost Children, The (1995)\",(no genres listed)\r\n"
                                 "193609,Andrew Dice Clay: Dice Rules (1991),Comedy\r\n";
static const char items[] = "item_id,title,year,genres\n"
                            "10,A,1999,Drama|Comedy\n"
                            "9007199254740993,B,2001,\n";

static int ratings_new_users(mr_dataset *ds, const char *path) {
  return fmt_load_dat_ratings(ds, path, 1);
}

typedef struct fz_loader {
  int (*load)(mr_dataset *, const char *);
  const char *movies; /* loaded first (NULL: none) */
  int (*load_movies)(mr_dataset *, const char *);
} fz_loader;

static const fz_loader loaders[] = {
    {fmt_load_dat_movies, NULL, NULL},
    {fmt_load_dat_users, NULL, NULL},
    {ratings_new_users, dat_movies, fmt_load_dat_movies},
    {fmt_load_dat_tags, dat_movies, fmt_load_dat_movies},
    {fmt_load_csv_movies, NULL, NULL},
    {fmt_load_csv_ratings, csv_movies, fmt_load_csv_movies},
    {fmt_load_csv_tags, csv_movies, fmt_load_csv_movies},
    {fmt_load_csv_links, csv_movies, fmt_load_csv_movies},
    {fmt_load_items, NULL, NULL},
    {fmt_load_csv_users, NULL, NULL},
    {fmt_load_csv_ratings, items, fmt_load_items},
};
#define N_LOADERS ((int)(sizeof(loaders) / sizeof(loaders[0])))

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

static int load_text(mr_dataset *ds, int (*load)(mr_dataset *, const char *), const uint8_t *data,
                     size_t len) {
  char path[32];
  int fd = fz_memfile(data, len, path);
  if (fd < 0)
    abort();
  int rc = load(ds, path);
  close(fd);
  if (rc == MR_ENOMEM)
    abort();
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mr_dataset *ds = NULL;
  if (size < 1)
    return 0;
  const fz_loader *l = &loaders[data[0] % N_LOADERS];
  if (ds_create_empty(&ds) != MR_OK)
    abort();
  if (l->movies &&
      load_text(ds, l->load_movies, (const uint8_t *)l->movies, strlen(l->movies)) != MR_OK)
    abort(); /* the fixed movies file is valid */
  int rc = load_text(ds, l->load, data + 1, size - 1);
  if (rc == MR_OK) {
    if (ds_dedupe_ratings(ds) != MR_OK)
      abort();
    ds_scale_from_data(ds);
  }
  /* what the rest of the program relies on after a load */
  for (size_t k = 0; k < ds->n_ratings; k++) {
    const mr_rating *r = &ds->ratings[k];
    if (r->user < 0 || r->user >= ds->n_users || r->item < 0 || r->item >= ds->n_movies ||
        r->rating != r->rating)
      abort();
    if (rc == MR_OK && !ds_scale_allows(&ds->scale, r->rating))
      abort(); /* the scale read from the data admits every rating in it */
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
  char buf[128];
  ds_scale_describe(&ds->scale, buf, sizeof(buf));
  if (!memchr(buf, '\0', sizeof(buf)))
    abort();
  ds_free(ds);
  return 0;
}
