/* Model registry: maps a kind name to its fit/score/save/load functions. */
#include "models/model.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "core/mr_sort.h"
#include "eval/split.h"
#include "models/model_ops.h"
#include "models/modelfile.h"
#include <stdarg.h>

struct rec_model {
  const rec_ops *ops;
  void *state;
};

/* ---- parameters ---- */

int rec_params_set(rec_params *p, const char *name, double value) {
  for (int i = 0; i < p->n; i++)
    if (!strcmp(p->kv[i].name, name)) {
      p->kv[i].value = value;
      return MR_OK;
    }
  if (p->n >= REC_PARAMS_MAX || strlen(name) >= sizeof(p->kv[0].name))
    return MR_ERANGE;
  snprintf(p->kv[p->n].name, sizeof(p->kv[p->n].name), "%s", name);
  p->kv[p->n].value = value;
  p->n++;
  return MR_OK;
}

double rec_params_get(const rec_params *p, const char *name, double dflt) {
  if (!p)
    return dflt;
  for (int i = 0; i < p->n; i++)
    if (!strcmp(p->kv[i].name, name))
      return p->kv[i].value;
  return dflt;
}

int rec_params_parse(const char *text, rec_params *out) {
  memset(out, 0, sizeof(*out));
  if (!text)
    return MR_OK;
  const char *s = text;
  while (*s) {
    char name[24];
    size_t len = 0;
    while (*s == ',' || isspace((unsigned char)*s))
      s++;
    if (!*s)
      break;
    while (*s && *s != '=' && *s != ',') {
      if (len + 1 >= sizeof(name))
        return MR_EINVAL;
      name[len++] = *s++;
    }
    name[len] = '\0';
    if (*s != '=' || len == 0)
      return MR_EINVAL;
    s++;
    char *end;
    double v = strtod(s, &end);
    if (end == s)
      return MR_EINVAL;
    s = end;
    if (*s && *s != ',')
      return MR_EINVAL;
    int rc = rec_params_set(out, name, v);
    if (rc)
      return rc;
  }
  return MR_OK;
}

void rec_params_format(const rec_params *p, char *buf, size_t len) {
  size_t off = 0;
  if (len)
    buf[0] = '\0';
  for (int i = 0; i < p->n && off < len; i++) {
    int w = snprintf(buf + off, len - off, "%s%s=%g", i ? "," : "", p->kv[i].name, p->kv[i].value);
    if (w < 0)
      break;
    off += (size_t)w;
  }
}

/* ---- shared helpers ---- */

void rec_set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

int rec_top_n(const float *scores, int32_t n_items, const uint8_t *exclude, int n, int32_t *top,
              float *top_scores) {
  /* packed (score, index) keys: select the n smallest, then sort just those */
  uint64_t stack[4096];
  uint64_t *keys =
      (size_t)n_items * 2 <= 4096 ? stack : malloc((size_t)n_items * 2 * sizeof(uint64_t));
  if (!keys || n <= 0)
    return 0;
  size_t m = 0;
  for (int32_t i = 0; i < n_items; i++) { /* branch-free: write every key, keep the wanted */
    float s = scores[i];
    keys[m] = mr_rank_key(s, (uint32_t)i);
    m += !((exclude && exclude[i]) || s != s); /* NaN never ranks */
  }
  size_t k = (size_t)n < m ? (size_t)n : m;
  mr_select_rank_keys(keys, m, k);
  mr_sort_rank_keys(keys, k, keys + n_items);
  for (size_t j = 0; j < k; j++) {
    top[j] = (int32_t)mr_rank_key_index(keys[j]);
    if (top_scores)
      top_scores[j] = scores[top[j]];
  }
  if (keys != stack)
    free(keys);
  return (int)k;
}

/* ---- registry ---- */

/* One line per model kind: add the extern and the table entry. */
extern const rec_ops rec_pop_ops;
extern const rec_ops rec_als_ops;
extern const rec_ops rec_gcn_ops;
extern const rec_ops rec_gems_ops;
extern const rec_ops rec_two_stage_ops;
extern const rec_ops rec_genre_ops;
extern const rec_ops rec_content_ops;
extern const rec_ops rec_ease_ops;
extern const rec_ops rec_itemknn_ops;
extern const rec_ops rec_semantic_ops;
extern const rec_ops rec_sasrec_ops;

/* clang-format off */
static const rec_ops *const rec_registry[] = {
    &rec_pop_ops,
    &rec_als_ops,
    &rec_gcn_ops,
    &rec_gems_ops,
    &rec_two_stage_ops,
    &rec_genre_ops,
    &rec_content_ops,
    &rec_ease_ops,
    &rec_itemknn_ops,
    &rec_semantic_ops,
    &rec_sasrec_ops,
};
/* clang-format on */
#define REC_N_KINDS (sizeof(rec_registry) / sizeof(rec_registry[0]))

const char *const *rec_kinds(void) {
  static const char *names[REC_N_KINDS + 1];
  for (size_t i = 0; i < REC_N_KINDS; i++)
    names[i] = rec_registry[i]->kind;
  names[REC_N_KINDS] = NULL;
  return names;
}

static const rec_ops *rec_find(const char *kind) {
  for (size_t i = 0; i < REC_N_KINDS; i++)
    if (!strcmp(rec_registry[i]->kind, kind))
      return rec_registry[i];
  return NULL;
}

static int rec_wrap(const rec_ops *ops, void *state, rec_model **out) {
  rec_model *m = calloc(1, sizeof(*m));
  if (!m) {
    ops->free(state);
    return MR_ENOMEM;
  }
  m->ops = ops;
  m->state = state;
  *out = m;
  return MR_OK;
}

int rec_wrap_state(const rec_ops *ops, void *state, rec_model **out) {
  return rec_wrap(ops, state, out);
}

int rec_fit(const char *kind, const rec_params *p, const rec_train_data *d, rec_model **out) {
  const rec_ops *ops = rec_find(kind);
  void *state = NULL;
  if (!ops)
    return MR_ENOTFOUND;
  int rc = ops->fit(p, d, &state);
  if (rc)
    return rc;
  return rec_wrap(ops, state, out);
}

void rec_free(rec_model *m) {
  if (!m)
    return;
  m->ops->free(m->state);
  free(m);
}

void *rec_state_of(const rec_model *m, const char *kind) {
  return m && !strcmp(m->ops->kind, kind) ? m->state : NULL;
}

const char *rec_kind(const rec_model *m) {
  return m->ops->kind;
}
int32_t rec_n_items(const rec_model *m) {
  return m->ops->n_items(m->state);
}

int rec_score_user(const rec_model *m, int32_t user, float *scores) {
  return m->ops->score_user(m->state, user, scores);
}

int rec_score_history(const rec_model *m, const int32_t *items, const float *ratings, int n,
                      float *scores) {
  if (n < 0 || (n > 0 && (!items || !ratings)))
    return MR_EINVAL;
  return m->ops->score_history(m->state, items, ratings, n, scores);
}

int rec_score_history_at(const rec_model *m, const int32_t *items, const float *ratings, int n,
                         int64_t ref_ts, float *scores) {
  if (n < 0 || (n > 0 && (!items || !ratings)))
    return MR_EINVAL;
  if (m->ops->score_history_at)
    return m->ops->score_history_at(m->state, items, ratings, n, ref_ts, scores);
  return m->ops->score_history(m->state, items, ratings, n, scores);
}

int rec_ref_per_user(const rec_train_data *d) {
  return d && d->protocol == SPLIT_USER_TEMPORAL;
}

int rec_score_items(const rec_model *m, int32_t user, const int32_t *h_items,
                    const float *h_ratings, int n_h, int64_t ref_ts, const int32_t *items, int n,
                    float *out, float *scratch) {
  int32_t ni = m->ops->n_items(m->state);
  if (n < 0 || (n > 0 && (!items || !out)) || n_h < 0 || (user < 0 && n_h > 0 && !h_items))
    return MR_EINVAL;
  for (int k = 0; k < n; k++)
    if (items[k] < 0 || items[k] >= ni)
      return MR_ERANGE;
  if (!scratch)
    return MR_EINVAL;
  if (m->ops->score_items)
    return m->ops->score_items(m->state, user, h_items, h_ratings, n_h, ref_ts, items, n, out,
                               scratch);
  int rc = user >= 0 ? rec_score_user(m, user, scratch)
                     : rec_score_history_at(m, h_items, h_ratings, n_h, ref_ts, scratch);
  if (rc)
    return rc;
  for (int k = 0; k < n; k++)
    out[k] = scratch[items[k]];
  return MR_OK;
}

int rec_save(const rec_model *m, const char *path) {
  if (!m->ops->save)
    return MR_EUNSUPPORTED;
  return m->ops->save(m->state, path);
}

int rec_load(const char *path, rec_model **out, char *err, size_t errlen) {
  mf_file *f = NULL;
  int rc = mf_open(path, &f, err, errlen);
  if (rc)
    return rc;
  const rec_ops *ops = rec_find(mf_kind(f));
  if (!ops) {
    rec_set_err(err, errlen, "%s: unknown model kind '%s'", path, mf_kind(f));
    mf_close(f);
    return MR_EFORMAT;
  }
  mf_close(f);
  if (!ops->load) {
    rec_set_err(err, errlen, "%s: '%s' models are not loaded from one file", path, ops->kind);
    return MR_EUNSUPPORTED;
  }
  void *state = NULL;
  rc = ops->load(path, &state, err, errlen);
  if (rc)
    return rc;
  return rec_wrap(ops, state, out);
}

int rec_item_embeddings(const rec_model *m, const float **emb, int *dim) {
  if (!m->ops->item_embeddings)
    return MR_EUNSUPPORTED;
  return m->ops->item_embeddings(m->state, emb, dim);
}

/* ---- fitted-model memo ---- */

typedef struct rec_cache_entry {
  char key[1280];
  rec_model *model; /* NULL for a blob entry */
  void *blob;
  size_t len;
} rec_cache_entry;

struct rec_cache {
  rec_cache_entry *entries;
  int n, cap;
};

int rec_cache_create(rec_cache **out) {
  rec_cache *c = calloc(1, sizeof(*c));
  if (!c)
    return MR_ENOMEM;
  *out = c;
  return MR_OK;
}

void rec_cache_free(rec_cache *c) {
  if (!c)
    return;
  for (int i = 0; i < c->n; i++) {
    rec_free(c->entries[i].model);
    free(c->entries[i].blob);
  }
  free(c->entries);
  free(c);
}

uint64_t rec_ratings_fingerprint(const mr_rating *r, size_t n) {
  uint64_t h = 1469598103934665603ULL ^ n;
  for (size_t i = 0; i < n; i++) {
    uint64_t v[3] = {((uint64_t)(uint32_t)r[i].user << 32) | (uint32_t)r[i].item, (uint64_t)r[i].ts,
                     0};
    memcpy(&v[2], &r[i].rating, sizeof(float));
    for (int k = 0; k < 3; k++)
      h = (h ^ v[k]) * 1099511628211ULL;
  }
  return h;
}

static rec_cache_entry *rec_cache_find(const rec_cache *c, const char *key) {
  for (int i = 0; i < c->n; i++)
    if (!strcmp(c->entries[i].key, key))
      return &c->entries[i];
  return NULL;
}

static rec_cache_entry *rec_cache_add(rec_cache *c) {
  if (c->n == c->cap) {
    int cap = c->cap ? 2 * c->cap : 16;
    rec_cache_entry *grown = realloc(c->entries, (size_t)cap * sizeof(*grown));
    if (!grown)
      return NULL;
    c->entries = grown;
    c->cap = cap;
  }
  rec_cache_entry *e = &c->entries[c->n];
  memset(e, 0, sizeof(*e));
  return e;
}

int rec_cache_put(rec_cache *c, const char *key, const void *blob, size_t len) {
  if (!c || !key || strlen(key) >= sizeof(c->entries[0].key) || (len && !blob))
    return MR_EINVAL;
  void *copy = malloc(len + 1);
  if (!copy)
    return MR_ENOMEM;
  memcpy(copy, blob, len);
  rec_cache_entry *e = rec_cache_find(c, key);
  if (e && e->model) {
    free(copy);
    return MR_EINVAL; /* a model's key */
  }
  if (!e) {
    if (!(e = rec_cache_add(c))) {
      free(copy);
      return MR_ENOMEM;
    }
    snprintf(e->key, sizeof(e->key), "%s", key);
    c->n++;
  }
  free(e->blob);
  e->blob = copy;
  e->len = len;
  return MR_OK;
}

int rec_cache_get(const rec_cache *c, const char *key, void *blob, size_t len) {
  const rec_cache_entry *e = c && key ? rec_cache_find(c, key) : NULL;
  if (!e || e->model || e->len != len)
    return MR_ENOTFOUND;
  memcpy(blob, e->blob, len);
  return MR_OK;
}

int rec_fit_cached(rec_cache *c, const char *kind, const rec_params *p, const rec_train_data *d,
                   rec_model **out) {
  if (!c)
    return rec_fit(kind, p, d, out);
  char params[1024], key[sizeof(((rec_cache_entry *)0)->key)];
  rec_params_format(p, params, sizeof(params));
  /* the protocol is part of the key: it sets the reference times of the as-of signals */
  snprintf(key, sizeof(key), "%s|%s|%016llx|%zu|p%d", kind, params,
           (unsigned long long)rec_ratings_fingerprint(d->ratings, d->n_ratings), d->n_ratings,
           d->protocol);
  const rec_cache_entry *hit = rec_cache_find(c, key);
  if (hit && hit->model) {
    *out = hit->model;
    return MR_OK;
  }
  rec_model *m = NULL;
  int rc = rec_fit(kind, p, d, &m);
  if (rc)
    return rc;
  rec_cache_entry *e = rec_cache_add(c);
  if (!e) {
    rec_free(m);
    return MR_ENOMEM;
  }
  snprintf(e->key, sizeof(e->key), "%s", key);
  e->model = m;
  c->n++;
  *out = m;
  return MR_OK;
}
