/* Model versions on disk: training a version into a directory, publishing it as ROOT/vN (written
 * completely under a temporary name, fsynced, renamed), switching ROOT/current atomically
 * (a temporary symlink renamed over the old one), listing versions with their manifest, pruning
 * old ones and rolling back. Layout:
 *   ROOT/vN/            model files, meta.json, live_ratings.tsv (optional), manifest.json (last)
 *   ROOT/.vN.tmp/       a version being written (never served, removed by pub_prune)
 *   ROOT/current -> vN
 * A version directory is complete when manifest.json exists and every file it lists has the
 * listed size (pub_verify). */
#ifndef MR_PUBLISH_H
#define MR_PUBLISH_H

#include <jansson.h>
#include <stddef.h>

#include "data/dataset.h"
#include "pipeline/two_stage.h"

#define PUB_MANIFEST "manifest.json"
#define PUB_PATH_MAX 4096

/* The serving pipeline (`movierec train` and `movierec retrain`): LambdaMART over ALS candidates
 * with every generator's scores as features (the generators tuned on its own validation cut),
 * the neural cross ranker beside it (served on request, ?ranker=cross) and the cold-start ranker
 * for histories of at most 5 ratings (docs/EVALUATION.md). */
#define PUB_PIPELINE_PARAMS "gens=1,per_gen=150,ranker=2,cold=1"

/* What training a version took (seconds) and produced. */
typedef struct pub_train_stats {
  double seconds;
  ts_fit_stats ts;
} pub_train_stats;

/* Fits every served model (pop, semantic and the two-stage pipeline with params, e.g.
 * "gens=1,per_gen=150") on ds's ratings and writes their files and meta.json into the existing
 * directory dir. data_dir is recorded in meta.json. err gets a one-line reason on failure. */
int pub_train(const mr_dataset *ds, const char *data_dir, const char *params, const char *dir,
              pub_train_stats *st, char *err, size_t errlen);

/* Creates ROOT (if missing) and a fresh temporary directory ROOT/.vN.tmp for the next free
 * version number N (higher than every vN and .vN.tmp present); *version = N, tmpdir gets the
 * path (PUB_PATH_MAX bytes). */
int pub_begin(const char *root, int *version, char *tmpdir);

/* Completes a version begun with pub_begin: adds the list of files (name -> size) to manifest
 * (borrowed; "version" and "created_at" are set when absent), writes it as manifest.json last,
 * fsyncs every file and the directory, renames tmpdir to ROOT/vN and fsyncs ROOT. Does not
 * switch current. */
int pub_commit(const char *root, const char *tmpdir, int version, json_t *manifest);

/* Removes a temporary directory left by a failed version (best effort). */
void pub_abort(const char *tmpdir);

/* MR_OK when ROOT/vN is complete (manifest present, every listed file with its size; a legacy
 * version without a manifest counts when its meta.json, written last, exists), else
 * MR_ENOTFOUND (no such version) or MR_ECORRUPT (incomplete), with the reason in err. */
int pub_verify(const char *root, int version, char *err, size_t errlen);

/* Points ROOT/current at vN atomically (symlink ROOT/.current.tmp, rename over current, fsync
 * ROOT). Refuses an incomplete version (pub_verify's code and reason). */
int pub_switch(const char *root, int version, char *err, size_t errlen);

/* The version ROOT/current points at (*version = N), MR_ENOTFOUND when there is none. */
int pub_current(const char *root, int *version);

/* Reads ROOT/vN/manifest.json (*out: new reference, caller json_decref). A version written by
 * an older `movierec train` without a manifest gets one built from meta.json (marked
 * "legacy": true); MR_ENOTFOUND when neither exists. */
int pub_manifest_read(const char *root, int version, json_t **out);

/* The version numbers under ROOT (complete or not), ascending; *out malloc'd (caller frees,
 * NULL when *n == 0). */
int pub_list(const char *root, int **out, int *n);

/* Keeps the newest keep (>= 1) versions: removes older vN directories except the current one
 * and protect (another version to keep, 0: none), and every .vN.tmp of a version not being
 * written (those below the newest vN). *removed (may be NULL) counts removed versions. */
int pub_prune(const char *root, int keep, int protect, int *removed);

#endif
