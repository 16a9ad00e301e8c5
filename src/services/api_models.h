/* The model version the API serves, swapped at run time without a restart: a watcher thread
 * (never an event loop) follows ROOT/current, woken by announcements on the Redis channel
 * mr:models and polling the link every second as a fallback; it loads a new version off the
 * loops, swaps the pointer, and frees the old version once the last request using it is done
 * (reference counts). */
#ifndef MR_API_MODELS_H
#define MR_API_MODELS_H

#include <stdint.h>

#include "pipeline/reco.h"

typedef struct apim apim;

/* One loaded version; valid between apim_get and apim_put. */
typedef struct apim_model apim_model;

/* Serves initial (borrowed: outlives the apim, never freed by it) until a new version appears
 * under models_dir/current. data_dir: the base data a new version is opened against.
 * redis_url: where announcements come from (NULL: polling only). models_dir NULL: no swapping. */
int apim_create(reco *initial, const char *models_dir, const char *data_dir, const char *redis_url,
                apim **out);

/* Starts the watcher thread (no-op without models_dir). */
int apim_start(apim *m);

/* Stops the watcher and frees every version it loaded (none may be in use). NULL is fine. */
void apim_free(apim *m);

/* The current version, held until apim_put (any thread; a mutex held for two instructions). */
apim_model *apim_get(apim *m);
void apim_put(apim_model *mm);

reco *apim_reco(const apim_model *mm);

typedef struct apim_stats {
  uint64_t swaps, failures;
  double last_load_s;
  int64_t last_swap_at; /* Unix time, 0: never */
} apim_stats;

void apim_stats_get(apim *m, apim_stats *out);

#endif
