/* Model versions on disk: train into a directory, publish vN atomically, switch current, list,
 * prune, roll back. */
#include "pipeline/publish.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/mr_error.h"
#include "data/csr.h"
#include "models/model.h"

/* The semantic model behind "more like this" (GET /movies/{id}/similar): the user-temporal
 * validation cut's best setting at d = 128 (d = 192 scored the same, 0.049, for twice the fit). */
#define PUB_SEMANTIC_PARAMS "window=5,min_count=2,cast_n=5,pool=1,seed=42,wmode=1,dim=128"

/* a .vN.tmp untouched this long belongs to a writer that died */
#define PUB_STALE_TMP_S 3600

static double pub_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void pub_seterr(char *err, size_t errlen, const char *fmt, const char *a, const char *b) {
  if (err && errlen)
    snprintf(err, errlen, fmt, a, b);
}

static int pub_fit_save(const char *kind, const char *params, const rec_train_data *d,
                        const char *dir, rec_model **keep, char *err, size_t errlen) {
  rec_params p;
  rec_model *m = NULL;
  char path[PUB_PATH_MAX + 64];
  int rc = rec_params_parse(params, &p);
  if (rc) {
    pub_seterr(err, errlen, "bad parameters for %s: '%s'", kind, params);
    return rc;
  }
  if ((rc = rec_fit(kind, &p, d, &m))) {
    pub_seterr(err, errlen, "fitting %s failed: %s", kind, mr_strerror(rc));
    return rc;
  }
  if (!strcmp(kind, "two_stage")) {
    rc = ts_save_parts(m, dir);
  } else {
    snprintf(path, sizeof(path), "%s/%s.bin", dir, kind);
    rc = rec_save(m, path);
  }
  if (rc)
    pub_seterr(err, errlen, "writing %s failed: %s", kind, mr_strerror(rc));
  if (!rc && keep)
    *keep = m;
  else
    rec_free(m);
  return rc;
}

static int pub_write_meta(const char *dir, const char *data_dir, const mr_dataset *ds,
                          const char *params, const pub_train_stats *st) {
  char path[PUB_PATH_MAX + 16];
  snprintf(path, sizeof(path), "%s/meta.json", dir);
  const ts_fit_stats *t = &st->ts;
  json_t *root = json_pack(
      "{s:s, s:i, s:i, s:I, s:s, s:I, s:f, s:{s:f, s:f, s:f, s:I, s:I, s:i, s:f, s:i, s:f}}",
      "data", data_dir ? data_dir : "", "users", (int)ds->n_users, "movies", (int)ds->n_movies,
      "ratings", (json_int_t)ds->n_ratings, "pipeline", params, "trained_at",
      (json_int_t)time(NULL), "train_seconds", st->seconds, "stats", "generators_seconds",
      t->generators_seconds, "features_seconds", t->features_seconds, "ranker_seconds",
      t->ranker_seconds, "ranker_groups", (json_int_t)t->train_groups, "ranker_rows",
      (json_int_t)t->train_rows, "trees", t->trees, "cross_seconds", t->cross_seconds,
      "cross_epochs", t->cross_epochs, "cross_valid_ndcg", t->cross_valid_ndcg);
  if (!root)
    return MR_ENOMEM;
  int rc = json_dump_file(root, path, JSON_INDENT(2)) ? MR_EIO : MR_OK;
  json_decref(root);
  return rc;
}

int pub_train(const mr_dataset *ds, const char *data_dir, const char *params, const char *dir,
              pub_train_stats *st, char *err, size_t errlen) {
  csr *ui = NULL, *iu = NULL;
  rec_model *pipeline = NULL;
  double t0 = pub_now();
  memset(st, 0, sizeof(*st));
  int rc = csr_from_ratings(ds->ratings, ds->n_ratings, ds->n_users, ds->n_movies, 0, &ui);
  if (!rc)
    rc = csr_transpose(ui, &iu);
  if (rc) {
    pub_seterr(err, errlen, "building the rating matrix: %s%s", mr_strerror(rc), "");
    goto done;
  }
  rec_train_data d = {
      .ds = ds, .ratings = ds->ratings, .n_ratings = ds->n_ratings, .ui = ui, .iu = iu};
  if ((rc = pub_fit_save("pop", "", &d, dir, NULL, err, errlen)) ||
      (rc = pub_fit_save("semantic", PUB_SEMANTIC_PARAMS, &d, dir, NULL, err, errlen)) ||
      (rc = pub_fit_save("two_stage", params, &d, dir, &pipeline, err, errlen)))
    goto done;
  if ((rc = ts_stats(pipeline, &st->ts)))
    goto done;
  st->seconds = pub_now() - t0;
  if ((rc = pub_write_meta(dir, data_dir, ds, params, st)))
    pub_seterr(err, errlen, "writing %s/meta.json failed%s", dir, "");
done:
  rec_free(pipeline);
  csr_free(ui);
  csr_free(iu);
  return rc;
}

/* N of "vN" (prefix "v") or ".vN.tmp" (prefix ".v", suffix ".tmp"); 0 when name is neither. */
static int pub_parse_name(const char *name, const char *prefix, const char *suffix) {
  size_t pl = strlen(prefix), sl = strlen(suffix), nl = strlen(name);
  if (nl <= pl + sl || strncmp(name, prefix, pl) || strcmp(name + nl - sl, suffix))
    return 0;
  long v = 0;
  for (size_t i = pl; i < nl - sl; i++) {
    if (name[i] < '0' || name[i] > '9' || v > 100000000)
      return 0;
    v = v * 10 + (name[i] - '0');
  }
  return v > 0 && (name[pl] != '0') ? (int)v : 0;
}

static int pub_fsync_path(const char *path, int dir) {
  int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return mr_from_errno(errno);
  int rc = fsync(fd) ? mr_from_errno(errno) : MR_OK;
  close(fd);
  return rc;
}

int pub_begin(const char *root, int *version, char *tmpdir) {
  if (mkdir(root, 0755) && errno != EEXIST)
    return mr_from_errno(errno);
  DIR *d = opendir(root);
  if (!d)
    return mr_from_errno(errno);
  int best = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    int v = pub_parse_name(e->d_name, "v", "");
    int t = pub_parse_name(e->d_name, ".v", ".tmp");
    if (v > best)
      best = v;
    if (t > best)
      best = t;
  }
  closedir(d);
  for (int n = best + 1; n < best + 100; n++) {
    snprintf(tmpdir, PUB_PATH_MAX, "%s/.v%d.tmp", root, n);
    if (!mkdir(tmpdir, 0755)) {
      *version = n;
      return MR_OK;
    }
    if (errno != EEXIST) /* EEXIST: a concurrent writer took n; try the next */
      return mr_from_errno(errno);
  }
  return MR_EIO;
}

static int pub_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int pub_rmtree(const char *path) {
  return nftw(path, pub_rm_one, 16, FTW_DEPTH | FTW_PHYS) ? mr_from_errno(errno) : MR_OK;
}

void pub_abort(const char *tmpdir) {
  if (tmpdir && *tmpdir)
    pub_rmtree(tmpdir);
}

int pub_commit(const char *root, const char *tmpdir, int version, json_t *manifest) {
  char path[PUB_PATH_MAX + 300], final[PUB_PATH_MAX + 32], vname[32];
  snprintf(vname, sizeof(vname), "v%d", version);
  json_t *files = json_object();
  if (!files)
    return MR_ENOMEM;
  int rc = MR_OK;
  DIR *d = opendir(tmpdir);
  if (!d) {
    json_decref(files);
    return mr_from_errno(errno);
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || !strcmp(e->d_name, PUB_MANIFEST))
      continue;
    struct stat sb;
    snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
    if (stat(path, &sb) || !S_ISREG(sb.st_mode))
      continue;
    if ((rc = pub_fsync_path(path, 0)))
      break;
    json_object_set_new(files, e->d_name, json_integer((json_int_t)sb.st_size));
  }
  closedir(d);
  if (rc) {
    json_decref(files);
    return rc;
  }
  json_object_set_new(manifest, "files", files);
  if (!json_object_get(manifest, "version"))
    json_object_set_new(manifest, "version", json_string(vname));
  if (!json_object_get(manifest, "created_at"))
    json_object_set_new(manifest, "created_at", json_integer((json_int_t)time(NULL)));
  snprintf(path, sizeof(path), "%s/%s", tmpdir, PUB_MANIFEST);
  if (json_dump_file(manifest, path, JSON_INDENT(2)))
    return MR_EIO;
  if ((rc = pub_fsync_path(path, 0)) || (rc = pub_fsync_path(tmpdir, 1)))
    return rc;
  snprintf(final, sizeof(final), "%s/%s", root, vname);
  if (rename(tmpdir, final))
    return mr_from_errno(errno);
  return pub_fsync_path(root, 1);
}

int pub_verify(const char *root, int version, char *err, size_t errlen) {
  char dir[PUB_PATH_MAX + 32], path[PUB_PATH_MAX + 300];
  snprintf(dir, sizeof(dir), "%s/v%d", root, version);
  struct stat sb;
  if (stat(dir, &sb) || !S_ISDIR(sb.st_mode)) {
    pub_seterr(err, errlen, "%s: no such version%s", dir, "");
    return MR_ENOTFOUND;
  }
  snprintf(path, sizeof(path), "%s/%s", dir, PUB_MANIFEST);
  json_error_t jerr;
  json_t *m = json_load_file(path, 0, &jerr);
  json_t *files = m ? json_object_get(m, "files") : NULL;
  if (!m) {
    /* written by `movierec train` before manifests: meta.json came after every model file */
    snprintf(path, sizeof(path), "%s/meta.json", dir);
    if (!stat(path, &sb))
      return MR_OK;
  }
  if (!json_is_object(files)) {
    pub_seterr(err, errlen, "%s: incomplete version (no valid %s)", dir, PUB_MANIFEST);
    json_decref(m);
    return MR_ECORRUPT;
  }
  int rc = MR_OK;
  const char *name;
  json_t *size;
  json_object_foreach(files, name, size) {
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (strchr(name, '/') || stat(path, &sb) || !json_is_integer(size) ||
        (json_int_t)sb.st_size != json_integer_value(size)) {
      pub_seterr(err, errlen, "%s: incomplete version (%s missing or truncated)", dir, name);
      rc = MR_ECORRUPT;
      break;
    }
  }
  json_decref(m);
  return rc;
}

int pub_switch(const char *root, int version, char *err, size_t errlen) {
  int rc = pub_verify(root, version, err, errlen);
  if (rc)
    return rc;
  char tmp[PUB_PATH_MAX + 32], cur[PUB_PATH_MAX + 32], target[32];
  snprintf(target, sizeof(target), "v%d", version);
  snprintf(tmp, sizeof(tmp), "%s/.current.tmp", root);
  snprintf(cur, sizeof(cur), "%s/current", root);
  unlink(tmp);
  if (symlink(target, tmp) || rename(tmp, cur)) {
    rc = mr_from_errno(errno);
    pub_seterr(err, errlen, "cannot point %s at %s", cur, target);
    unlink(tmp);
    return rc;
  }
  return pub_fsync_path(root, 1);
}

int pub_current(const char *root, int *version) {
  char cur[PUB_PATH_MAX + 32], target[PATH_MAX];
  snprintf(cur, sizeof(cur), "%s/current", root);
  ssize_t n = readlink(cur, target, sizeof(target) - 1);
  if (n <= 0)
    return MR_ENOTFOUND;
  target[n] = '\0';
  const char *base = strrchr(target, '/');
  base = base ? base + 1 : target;
  int v = pub_parse_name(base, "v", "");
  if (!v)
    return MR_ENOTFOUND;
  *version = v;
  return MR_OK;
}

int pub_manifest_read(const char *root, int version, json_t **out) {
  char path[PUB_PATH_MAX + 64];
  json_error_t jerr;
  *out = NULL;
  snprintf(path, sizeof(path), "%s/v%d/%s", root, version, PUB_MANIFEST);
  json_t *m = json_load_file(path, 0, &jerr);
  if (json_is_object(m)) {
    *out = m;
    return MR_OK;
  }
  json_decref(m);
  /* a version written before manifests existed: what meta.json knows */
  snprintf(path, sizeof(path), "%s/v%d/meta.json", root, version);
  json_t *meta = json_load_file(path, 0, &jerr);
  if (!json_is_object(meta)) {
    json_decref(meta);
    return MR_ENOTFOUND;
  }
  char vname[32];
  snprintf(vname, sizeof(vname), "v%d", version);
  m = json_pack("{s:s, s:O?, s:O?, s:b}", "version", vname, "created_at",
                json_object_get(meta, "trained_at"), "ratings", json_object_get(meta, "ratings"),
                "legacy", 1);
  json_decref(meta);
  if (!m)
    return MR_ENOMEM;
  *out = m;
  return MR_OK;
}

static int pub_int_cmp(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

int pub_list(const char *root, int **out, int *n) {
  *out = NULL;
  *n = 0;
  DIR *d = opendir(root);
  if (!d)
    return errno == ENOENT ? MR_OK : mr_from_errno(errno);
  int *v = NULL, cap = 0, k = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    int x = pub_parse_name(e->d_name, "v", "");
    if (!x)
      continue;
    if (k == cap) {
      int *nv = realloc(v, (size_t)(cap ? cap * 2 : 16) * sizeof(int));
      if (!nv) {
        free(v);
        closedir(d);
        return MR_ENOMEM;
      }
      v = nv;
      cap = cap ? cap * 2 : 16;
    }
    v[k++] = x;
  }
  closedir(d);
  if (k)
    qsort(v, (size_t)k, sizeof(int), pub_int_cmp);
  *out = v;
  *n = k;
  return MR_OK;
}

int pub_prune(const char *root, int keep, int protect, int *removed) {
  int *v = NULL, n = 0, cur = 0, gone = 0;
  char path[PUB_PATH_MAX + 300];
  if (removed)
    *removed = 0;
  if (keep < 1)
    return MR_EINVAL;
  int rc = pub_list(root, &v, &n);
  if (rc)
    return rc;
  pub_current(root, &cur);
  /* newest first: the first keep survive, then only current and protect */
  for (int i = n - 1 - keep; i >= 0; i--) {
    if (v[i] == cur || v[i] == protect)
      continue;
    snprintf(path, sizeof(path), "%s/v%d", root, v[i]);
    if (!pub_rmtree(path))
      gone++;
  }
  free(v);
  DIR *d = opendir(root);
  if (d) {
    struct dirent *e;
    time_t now = time(NULL);
    while ((e = readdir(d))) {
      struct stat sb;
      if (!pub_parse_name(e->d_name, ".v", ".tmp"))
        continue;
      snprintf(path, sizeof(path), "%s/%s", root, e->d_name);
      if (!lstat(path, &sb) && now - sb.st_mtime > PUB_STALE_TMP_S)
        pub_rmtree(path);
    }
    closedir(d);
  }
  if (removed)
    *removed = gone;
  return MR_OK;
}
