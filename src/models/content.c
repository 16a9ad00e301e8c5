/* Content model: TF-IDF over movie text fields, truncated SVD via the movie Gram matrix,
 * cosine between rating-weighted user profiles and movie embeddings ("content" kind). */
#include "models/content.h"

#include <cblas.h>
#include <ctype.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "models/embed.h"
#include "models/model_ops.h"
#include "models/modelfile.h"

struct content_model {
  int32_t n_items, n_users;
  int d;
  content_opts o;
  float *emb;      /* n_items x d, rows L2-normalized (zero rows for movies without terms) */
  float *profiles; /* n_users x d, L2-normalized (zero for users without ratings) */
  float *sigma;    /* d singular values */
};

void content_opts_default(content_opts *o) {
  o->dim = 64;
  o->cast_n = 5;
  o->min_df = 2;
  o->wmode = 1; /* r - 2.5 won on the user-temporal validation cut */
  o->w_genre = 1.0f;
  o->w_desc = 1.0f;
  o->w_dir = 1.0f;
  o->w_cast = 1.0f;
  o->w_writer = 1.0f;
  o->w_age = 0.5f;
  o->w_decade = 0.5f;
}

void content_opts_from_params(const rec_params *p, content_opts *o) {
  content_opts_default(o);
  o->dim = (int)rec_params_get(p, "dim", o->dim);
  o->cast_n = (int)rec_params_get(p, "cast_n", o->cast_n);
  o->min_df = (int)rec_params_get(p, "min_df", o->min_df);
  o->wmode = (int)rec_params_get(p, "wmode", o->wmode);
  o->w_genre = (float)rec_params_get(p, "w_genre", o->w_genre);
  o->w_desc = (float)rec_params_get(p, "w_desc", o->w_desc);
  o->w_dir = (float)rec_params_get(p, "w_dir", o->w_dir);
  o->w_cast = (float)rec_params_get(p, "w_cast", o->w_cast);
  o->w_writer = (float)rec_params_get(p, "w_writer", o->w_writer);
  o->w_age = (float)rec_params_get(p, "w_age", o->w_age);
  o->w_decade = (float)rec_params_get(p, "w_decade", o->w_decade);
}

static int content_opts_valid(const content_opts *o) {
  const float w[7] = {o->w_genre,  o->w_desc, o->w_dir,   o->w_cast,
                      o->w_writer, o->w_age,  o->w_decade};
  for (int i = 0; i < 7; i++)
    if (!(w[i] >= 0) || !isfinite(w[i]))
      return 0;
  return o->dim >= 1 && o->dim <= 4096 && o->cast_n >= 0 && o->min_df >= 1 && o->wmode >= 0 &&
         o->wmode <= 2;
}

/* ---- tokenizer ---- */

/* English stop words (a subset of scikit-learn's list, plus plot-summary filler); sorted for
 * bsearch. */
static const char *const content_stop_words[] = {
    "about",   "above",   "after",    "again",    "against", "all",     "almost",    "along",
    "already", "also",    "although", "always",   "am",      "among",   "an",        "and",
    "another", "any",     "anyone",   "anything", "are",     "around",  "as",        "at",
    "be",      "became",  "because",  "become",   "becomes", "been",    "before",    "being",
    "below",   "between", "both",     "but",      "by",      "can",     "cannot",    "could",
    "did",     "do",      "does",     "doing",    "down",    "during",  "each",      "either",
    "else",    "even",    "ever",     "every",    "few",     "for",     "from",      "further",
    "get",     "gets",    "had",      "has",      "have",    "having",  "he",        "her",
    "here",    "hers",    "herself",  "him",      "himself", "his",     "how",       "however",
    "if",      "in",      "into",     "is",       "it",      "its",     "itself",    "just",
    "last",    "least",   "less",     "many",     "may",     "me",      "might",     "more",
    "most",    "much",    "must",     "my",       "myself",  "neither", "never",     "no",
    "nor",     "not",     "now",      "of",       "off",     "often",   "on",        "once",
    "one",     "only",    "onto",     "or",       "other",   "others",  "otherwise", "our",
    "ours",    "out",     "over",     "own",      "per",     "perhaps", "rather",    "same",
    "several", "she",     "should",   "since",    "so",      "some",    "something", "still",
    "such",    "than",    "that",     "the",      "their",   "theirs",  "them",      "themselves",
    "then",    "there",   "these",    "they",     "this",    "those",   "though",    "through",
    "thus",    "to",      "together", "too",      "toward",  "towards", "under",     "until",
    "up",      "upon",    "us",       "very",     "via",     "was",     "we",        "well",
    "were",    "what",    "whatever", "when",     "where",   "whether", "which",     "while",
    "who",     "whole",   "whom",     "whose",    "why",     "will",    "with",      "within",
    "without", "would",   "yet",      "you",      "your",    "yours",   "yourself",
};
#define CONTENT_N_STOP (sizeof(content_stop_words) / sizeof(content_stop_words[0]))

static int content_strcmp_ptr(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int content_is_stop_word(const char *word) {
  return bsearch(&word, content_stop_words, CONTENT_N_STOP, sizeof(char *), content_strcmp_ptr) !=
         NULL;
}

#define CONTENT_WORD_MAX 64

int content_tokenize(const char *text, void (*emit)(const char *word, void *ctx), void *ctx) {
  char w[CONTENT_WORD_MAX];
  int len = 0, count = 0;
  for (const unsigned char *s = (const unsigned char *)text;; s++) {
    unsigned char c = *s;
    /* bytes >= 0x80 (UTF-8 letters) stay inside words */
    if (c && (isalnum(c) || c >= 0x80)) {
      if (len < CONTENT_WORD_MAX - 1)
        w[len++] = (char)tolower(c);
      continue;
    }
    if (len >= 2) {
      w[len] = '\0';
      if (!content_is_stop_word(w)) {
        emit(w, ctx);
        count++;
      }
    }
    len = 0;
    if (!c)
      break;
  }
  return count;
}

/* ---- string -> id hash map (open addressing, FNV-1a) ---- */

typedef struct content_map {
  char **keys;
  int32_t *ids;
  size_t cap, n;
} content_map;

static uint64_t content_hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static void content_map_free(content_map *m) {
  free(m->keys);
  free(m->ids);
  memset(m, 0, sizeof(*m));
}

static int content_map_init(content_map *m, size_t cap) {
  m->cap = 16;
  while (m->cap < cap * 2)
    m->cap *= 2;
  m->n = 0;
  m->keys = calloc(m->cap, sizeof(char *));
  m->ids = calloc(m->cap, sizeof(int32_t));
  if (!m->keys || !m->ids) {
    content_map_free(m);
    return MR_ENOMEM;
  }
  return MR_OK;
}

/* Slot of key (its own or the empty one where it would go). */
static size_t content_map_slot(const content_map *m, const char *key) {
  size_t i = (size_t)content_hash(key) & (m->cap - 1);
  while (m->keys[i] && strcmp(m->keys[i], key))
    i = (i + 1) & (m->cap - 1);
  return i;
}

static int content_map_grow(content_map *m) {
  content_map g;
  int rc = content_map_init(&g, m->cap);
  if (rc)
    return rc;
  for (size_t i = 0; i < m->cap; i++)
    if (m->keys[i]) {
      size_t j = content_map_slot(&g, m->keys[i]);
      g.keys[j] = m->keys[i];
      g.ids[j] = m->ids[i];
      g.n++;
    }
  content_map_free(m);
  *m = g;
  return MR_OK;
}

/* ---- TF-IDF ---- */

void content_tfidf_free(content_tfidf *t) {
  if (!t)
    return;
  if (t->terms)
    for (int32_t i = 0; i < t->n_terms; i++)
      free(t->terms[i]);
  free(t->terms);
  free(t->df);
  free(t->indptr);
  free(t->indices);
  free(t->values);
  free(t);
}

typedef struct content_entry {
  int32_t term;
  float w;
} content_entry;

static int content_entry_cmp(const void *a, const void *b) {
  int32_t x = ((const content_entry *)a)->term, y = ((const content_entry *)b)->term;
  return (x > y) - (x < y);
}

int content_tfidf_build(int32_t n_docs, const int64_t *tok_ptr, const char *const *tokens,
                        const float *tok_weight, int min_df, content_tfidf **out) {
  content_map map = {0};
  content_tfidf *t = NULL;
  int32_t *tok_id = NULL, *last_doc = NULL, *remap = NULL, *df = NULL;
  char **names = NULL;
  content_entry *ent = NULL;
  int64_t n_tok = n_docs > 0 ? tok_ptr[n_docs] : 0;
  int32_t n_raw = 0;
  size_t names_cap = 0;
  int rc = MR_ENOMEM;
  if (n_docs < 0 || min_df < 1)
    return MR_EINVAL;
  if ((rc = content_map_init(&map, 1024)))
    return rc;
  rc = MR_ENOMEM;
  tok_id = malloc(((size_t)n_tok + 1) * sizeof(int32_t));
  t = calloc(1, sizeof(*t));
  if (!tok_id || !t)
    goto fail;
  /* pass 1: ids in order of first appearance, document frequencies */
  for (int32_t j = 0; j < n_docs; j++)
    for (int64_t k = tok_ptr[j]; k < tok_ptr[j + 1]; k++) {
      if (map.n * 2 >= map.cap && (rc = content_map_grow(&map)))
        goto fail;
      rc = MR_ENOMEM;
      size_t s = content_map_slot(&map, tokens[k]);
      if (!map.keys[s]) {
        if ((size_t)n_raw == names_cap) {
          size_t nc = names_cap ? names_cap * 2 : 1024;
          char **nn = realloc(names, nc * sizeof(char *));
          int32_t *nl = realloc(last_doc, nc * sizeof(int32_t));
          int32_t *nd = nl ? realloc(df, nc * sizeof(int32_t)) : NULL;
          if (nn)
            names = nn;
          if (nl)
            last_doc = nl;
          if (nd)
            df = nd;
          if (!nn || !nl || !nd)
            goto fail;
          names_cap = nc;
        }
        names[n_raw] = strdup(tokens[k]);
        if (!names[n_raw])
          goto fail;
        map.keys[s] = names[n_raw];
        map.ids[s] = n_raw;
        map.n++;
        last_doc[n_raw] = -1;
        df[n_raw] = 0;
        n_raw++;
      }
      int32_t id = map.ids[s];
      tok_id[k] = id;
      if (last_doc[id] != j) {
        last_doc[id] = j;
        df[id]++;
      }
    }
  /* keep terms with df >= min_df, renumbered densely in first-appearance order */
  remap = malloc(((size_t)n_raw + 1) * sizeof(int32_t));
  if (!remap)
    goto fail;
  int32_t n_kept = 0;
  for (int32_t i = 0; i < n_raw; i++)
    remap[i] = df[i] >= min_df ? n_kept++ : -1;
  t->n_docs = n_docs;
  t->terms = calloc((size_t)n_kept + 1, sizeof(char *));
  t->df = malloc(((size_t)n_kept + 1) * sizeof(int32_t));
  t->indptr = calloc((size_t)n_docs + 1, sizeof(int64_t));
  if (!t->terms || !t->df || !t->indptr)
    goto fail;
  for (int32_t i = 0; i < n_raw; i++)
    if (remap[i] >= 0) {
      t->terms[remap[i]] = names[i];
      t->df[remap[i]] = df[i];
      names[i] = NULL;
      t->n_terms++;
    }
  /* pass 2: merge each doc's tokens into (term, summed weight), scale by idf, normalize */
  int64_t max_len = 0;
  for (int32_t j = 0; j < n_docs; j++)
    if (tok_ptr[j + 1] - tok_ptr[j] > max_len)
      max_len = tok_ptr[j + 1] - tok_ptr[j];
  ent = malloc(((size_t)max_len + 1) * sizeof(*ent));
  t->indices = malloc(((size_t)n_tok + 1) * sizeof(int32_t));
  t->values = malloc(((size_t)n_tok + 1) * sizeof(float));
  if (!ent || !t->indices || !t->values)
    goto fail;
  int64_t nnz = 0;
  for (int32_t j = 0; j < n_docs; j++) {
    int ne = 0;
    for (int64_t k = tok_ptr[j]; k < tok_ptr[j + 1]; k++) {
      int32_t id = remap[tok_id[k]];
      if (id < 0)
        continue;
      ent[ne].term = id;
      ent[ne].w = tok_weight ? tok_weight[k] : 1.0f;
      ne++;
    }
    qsort(ent, (size_t)ne, sizeof(*ent), content_entry_cmp);
    int64_t row = nnz;
    double norm = 0;
    for (int e = 0; e < ne;) {
      int32_t term = ent[e].term;
      double w = 0;
      for (; e < ne && ent[e].term == term; e++)
        w += ent[e].w;
      double idf = log((1.0 + n_docs) / (1.0 + t->df[term])) + 1.0;
      w *= idf;
      if (w == 0)
        continue; /* a zero field weight removes the term from this doc */
      t->indices[nnz] = term;
      t->values[nnz] = (float)w;
      norm += w * w;
      nnz++;
    }
    if (norm > 0) {
      float inv = (float)(1.0 / sqrt(norm));
      for (int64_t k = row; k < nnz; k++)
        t->values[k] *= inv;
    }
    t->indptr[j + 1] = nnz;
  }
  for (int32_t i = 0; i < n_raw; i++)
    free(names[i]);
  free(names);
  free(tok_id);
  free(last_doc);
  free(df);
  free(remap);
  free(ent);
  content_map_free(&map);
  *out = t;
  return MR_OK;
fail:
  for (int32_t i = 0; i < n_raw; i++)
    free(names ? names[i] : NULL);
  free(names);
  free(tok_id);
  free(last_doc);
  free(df);
  free(remap);
  free(ent);
  content_map_free(&map);
  content_tfidf_free(t);
  return rc;
}

float content_tfidf_get(const content_tfidf *t, int32_t doc, const char *term) {
  if (doc < 0 || doc >= t->n_docs)
    return 0.0f;
  for (int64_t k = t->indptr[doc]; k < t->indptr[doc + 1]; k++)
    if (!strcmp(t->terms[t->indices[k]], term))
      return t->values[k];
  return 0.0f;
}

/* ---- truncated SVD through the Gram matrix ---- */

int content_svd(int32_t n_rows, int32_t n_cols, const int64_t *indptr, const int32_t *indices,
                const float *values, int d, float *us, float *sigma) {
  float *gram = NULL, *w = NULL, *z = NULL;
  int64_t *cptr = NULL;
  int32_t *crow = NULL;
  float *cval = NULL;
  lapack_int *isuppz = NULL;
  int rc = MR_ENOMEM;
  if (n_rows <= 0 || n_cols < 0 || d < 1 || d > n_rows)
    return MR_EINVAL;
  int64_t nnz = indptr[n_rows];
  for (int64_t k = 0; k < nnz; k++)
    if (!isfinite(values[k]) || indices[k] < 0 || indices[k] >= n_cols)
      return MR_EINVAL;
  size_t n = (size_t)n_rows;
  gram = calloc(n * n, sizeof(float));
  w = malloc(n * sizeof(float));
  z = malloc(n * (size_t)d * sizeof(float));
  cptr = calloc((size_t)n_cols + 1, sizeof(int64_t));
  crow = malloc(((size_t)nnz + 1) * sizeof(int32_t));
  cval = malloc(((size_t)nnz + 1) * sizeof(float));
  isuppz = malloc(2 * n * sizeof(lapack_int));
  if (!gram || !w || !z || !cptr || !crow || !cval || !isuppz)
    goto fail;
  /* column-major copy (postings per term), rows ascending within each column */
  for (int64_t k = 0; k < nnz; k++)
    cptr[indices[k] + 1]++;
  for (int32_t c = 0; c < n_cols; c++)
    cptr[c + 1] += cptr[c];
  {
    int64_t *fill = malloc(((size_t)n_cols + 1) * sizeof(int64_t));
    if (!fill)
      goto fail;
    memcpy(fill, cptr, ((size_t)n_cols + 1) * sizeof(int64_t));
    for (int32_t r = 0; r < n_rows; r++)
      for (int64_t k = indptr[r]; k < indptr[r + 1]; k++) {
        int64_t pos = fill[indices[k]]++;
        crow[pos] = r;
        cval[pos] = values[k];
      }
    free(fill);
  }
  /* upper triangle of X X^T: row a only touches gram[a][a..], so rows parallelize and the
   * summation order (terms ascending) is fixed regardless of the thread count */
#pragma omp parallel for schedule(dynamic, 8)
  for (int32_t a = 0; a < n_rows; a++) {
    float *ga = gram + (size_t)a * n;
    for (int64_t k = indptr[a]; k < indptr[a + 1]; k++) {
      int32_t c = indices[k];
      float va = values[k];
      for (int64_t q = cptr[c + 1] - 1; q >= cptr[c] && crow[q] >= a; q--)
        ga[crow[q]] += va * cval[q];
    }
  }
  lapack_int m_found = 0;
  lapack_int info = LAPACKE_ssyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', (lapack_int)n, gram,
                                   (lapack_int)n, 0.0f, 0.0f, (lapack_int)(n - (size_t)d + 1),
                                   (lapack_int)n, 0.0f, &m_found, w, z, (lapack_int)d, isuppz);
  if (info != 0 || m_found != d) {
    rc = MR_ENUMERIC;
    goto fail;
  }
  /* eigenvalues come ascending: column d-1-j of z is the j-th largest */
  for (int j = 0; j < d; j++) {
    int src = d - 1 - j;
    float lam = w[src];
    float s = lam > 0 ? sqrtf(lam) : 0.0f;
    sigma[j] = s;
    /* fix the sign (largest-magnitude component positive) so results do not depend on LAPACK's
     * arbitrary choice */
    size_t arg = 0;
    float best = -1;
    for (size_t i = 0; i < n; i++) {
      float v = fabsf(z[i * (size_t)d + (size_t)src]);
      if (v > best) {
        best = v;
        arg = i;
      }
    }
    float sign = z[arg * (size_t)d + (size_t)src] < 0 ? -1.0f : 1.0f;
    for (size_t i = 0; i < n; i++)
      us[i * (size_t)d + (size_t)j] = sign * s * z[i * (size_t)d + (size_t)src];
  }
  rc = MR_OK;
fail:
  free(gram);
  free(w);
  free(z);
  free(cptr);
  free(crow);
  free(cval);
  free(isuppz);
  return rc;
}

/* ---- movie documents ---- */

typedef struct content_tokbuf {
  char **tok;
  float *w;
  int64_t n, cap;
  const char *prefix;
  float weight;
  int rc;
} content_tokbuf;

static void content_tok_push(content_tokbuf *b, const char *text) {
  if (b->rc || b->weight <= 0)
    return;
  if (b->n == b->cap) {
    int64_t nc = b->cap ? b->cap * 2 : 4096;
    char **nt = realloc(b->tok, (size_t)nc * sizeof(char *));
    float *nw = nt ? realloc(b->w, (size_t)nc * sizeof(float)) : NULL;
    if (nt)
      b->tok = nt;
    if (!nt || !nw) {
      b->rc = MR_ENOMEM;
      return;
    }
    b->w = nw;
    b->cap = nc;
  }
  size_t lp = strlen(b->prefix), lt = strlen(text);
  char *s = malloc(lp + lt + 1);
  if (!s) {
    b->rc = MR_ENOMEM;
    return;
  }
  memcpy(s, b->prefix, lp);
  memcpy(s + lp, text, lt + 1);
  b->tok[b->n] = s;
  b->w[b->n] = b->weight;
  b->n++;
}

static void content_tok_emit(const char *word, void *ctx) {
  content_tok_push(ctx, word);
}

/* People, ratings and genre names as one token: lowercase, runs of other characters -> '_'. */
static void content_tok_name(content_tokbuf *b, const char *name) {
  char buf[128];
  size_t len = 0;
  int under = 0;
  for (const unsigned char *s = (const unsigned char *)name; *s && len < sizeof(buf) - 2; s++) {
    if (isalnum(*s) || *s >= 0x80 || *s == '-') {
      buf[len++] = (char)tolower(*s);
      under = 0;
    } else if (!under && len) {
      buf[len++] = '_';
      under = 1;
    }
  }
  while (len && buf[len - 1] == '_')
    len--;
  buf[len] = '\0';
  if (len)
    content_tok_push(b, buf);
}

static void content_tok_field(content_tokbuf *b, const char *prefix, float weight) {
  b->prefix = prefix;
  b->weight = weight;
}

static void content_tokbuf_free(content_tokbuf *b) {
  for (int64_t i = 0; i < b->n; i++)
    free(b->tok[i]);
  free(b->tok);
  free(b->w);
}

static int content_movie_tokens(const mr_dataset *ds, const content_opts *o, content_tokbuf *b,
                                int64_t *tok_ptr) {
  for (int32_t i = 0; i < ds->n_movies; i++) {
    const mr_movie *mv = &ds->movies[i];
    tok_ptr[i] = b->n;
    content_tok_field(b, "g:", o->w_genre);
    for (int g = 0; g < MR_MAX_GENRES; g++)
      if (mv->genres >> g & 1u) {
        char gname[64];
        if (g < ds->n_genres && ds->genre_names[g])
          snprintf(gname, sizeof(gname), "%s", ds->genre_names[g]);
        else
          snprintf(gname, sizeof(gname), "genre%d", g);
        content_tok_name(b, gname);
      }
    int year = mv->year ? mv->year : mv->imdb_year;
    if (year > 0) {
      char dec[16];
      snprintf(dec, sizeof(dec), "%d", year / 10 * 10);
      content_tok_field(b, "dec:", o->w_decade);
      content_tok_push(b, dec);
    }
    if (mv->has_imdb) {
      if (mv->description) {
        content_tok_field(b, "w:", o->w_desc);
        content_tokenize(mv->description, content_tok_emit, b);
      }
      content_tok_field(b, "dir:", o->w_dir);
      for (int k = 0; k < mv->directors.n; k++)
        content_tok_name(b, mv->directors.items[k]);
      content_tok_field(b, "cast:", o->w_cast);
      for (int k = 0; k < mv->cast.n && k < o->cast_n; k++)
        content_tok_name(b, mv->cast.items[k]);
      content_tok_field(b, "wri:", o->w_writer);
      for (int k = 0; k < mv->writers.n; k++)
        content_tok_name(b, mv->writers.items[k]);
      if (mv->age_rating && *mv->age_rating) {
        content_tok_field(b, "age:", o->w_age);
        content_tok_name(b, mv->age_rating);
      }
    }
    if (b->rc)
      return b->rc;
  }
  tok_ptr[ds->n_movies] = b->n;
  return MR_OK;
}

int content_docs_build(const mr_dataset *ds, const content_opts *o, content_docs **out) {
  content_tokbuf b = {0};
  content_docs *d = NULL;
  int rc = MR_ENOMEM;
  if (!ds || !o || ds->n_movies < 0)
    return MR_EINVAL;
  if (!(d = calloc(1, sizeof(*d))) ||
      !(d->ptr = malloc(((size_t)ds->n_movies + 1) * sizeof(int64_t))))
    goto fail;
  d->ptr[0] = 0;
  if ((rc = content_movie_tokens(ds, o, &b, d->ptr)))
    goto fail;
  d->n_docs = ds->n_movies;
  d->tok = b.tok;
  d->w = b.w;
  *out = d;
  return MR_OK;
fail:
  content_tokbuf_free(&b);
  content_docs_free(d);
  return rc;
}

void content_docs_free(content_docs *d) {
  if (!d)
    return;
  if (d->tok)
    for (int64_t k = 0; k < d->ptr[d->n_docs]; k++)
      free(d->tok[k]);
  free(d->tok);
  free(d->w);
  free(d->ptr);
  free(d);
}

/* ---- model ---- */

static int content_alloc(int32_t n_items, int32_t n_users, int d, content_model **out) {
  content_model *m = calloc(1, sizeof(*m));
  if (!m)
    return MR_ENOMEM;
  m->n_items = n_items;
  m->n_users = n_users;
  m->d = d;
  m->emb = calloc((size_t)n_items * (size_t)d + 1, sizeof(float));
  m->profiles = calloc((size_t)n_users * (size_t)d + 1, sizeof(float));
  m->sigma = calloc((size_t)d + 1, sizeof(float));
  if (!m->emb || !m->profiles || !m->sigma) {
    content_free(m);
    return MR_ENOMEM;
  }
  *out = m;
  return MR_OK;
}

void content_free(content_model *m) {
  if (!m)
    return;
  free(m->emb);
  free(m->profiles);
  free(m->sigma);
  free(m);
}

int content_fit(const content_opts *o, const rec_train_data *d, content_model **out) {
  const mr_dataset *ds = d->ds;
  content_docs *docs = NULL;
  content_tfidf *t = NULL;
  content_model *m = NULL;
  int rc;
  if (!o || !content_opts_valid(o) || !ds || !d->ui || d->ui->n_cols != ds->n_movies ||
      ds->n_movies <= 0)
    return MR_EINVAL;
  int dim = o->dim < ds->n_movies ? o->dim : ds->n_movies;
  if ((rc = content_docs_build(ds, o, &docs)))
    goto fail;
  if ((rc = content_tfidf_build(docs->n_docs, docs->ptr, (const char *const *)docs->tok, docs->w,
                                o->min_df, &t)))
    goto fail;
  content_docs_free(docs);
  docs = NULL;
  if ((rc = content_alloc(ds->n_movies, d->ui->n_rows, dim, &m)))
    goto fail;
  m->o = *o;
  m->o.dim = dim;
  if ((rc = content_svd(t->n_docs, t->n_terms, t->indptr, t->indices, t->values, dim, m->emb,
                        m->sigma)))
    goto fail;
  for (int32_t i = 0; i < m->n_items; i++)
    embed_normalize(m->emb + (size_t)i * dim, dim);
#pragma omp parallel for schedule(dynamic, 32)
  for (int32_t u = 0; u < m->n_users; u++) {
    int64_t s = d->ui->indptr[u], e = d->ui->indptr[u + 1];
    embed_profile(m->emb, m->n_items, dim, (embed_wmode)m->o.wmode, d->ui->indices + s,
                  d->ui->values + s, (int)(e - s), m->profiles + (size_t)u * dim);
  }
  content_tfidf_free(t);
  *out = m;
  return MR_OK;
fail:
  content_docs_free(docs);
  content_tfidf_free(t);
  content_free(m);
  return rc;
}

int32_t content_n_items(const content_model *m) {
  return m->n_items;
}

const float *content_item_embeddings(const content_model *m, int *d) {
  if (d)
    *d = m->d;
  return m->emb;
}

int content_score_user(const content_model *m, int32_t user, float *scores) {
  if (user < 0 || user >= m->n_users)
    return MR_ERANGE;
  embed_scores(m->emb, m->n_items, m->d, m->profiles + (size_t)user * m->d, scores);
  return MR_OK;
}

int content_score_history(const content_model *m, const int32_t *items, const float *ratings, int n,
                          float *scores) {
  if (n < 0 || (n > 0 && (!items || !ratings)))
    return MR_EINVAL;
  float *prof = malloc((size_t)m->d * sizeof(float));
  if (!prof)
    return MR_ENOMEM;
  embed_profile(m->emb, m->n_items, m->d, (embed_wmode)m->o.wmode, items, ratings, n, prof);
  embed_scores(m->emb, m->n_items, m->d, prof, scores);
  free(prof);
  return MR_OK;
}

int content_score_items(const content_model *m, int32_t user, const int32_t *h_items,
                        const float *h_ratings, int n_h, const int32_t *items, int n, float *out) {
  if (n < 0 || (n > 0 && (!items || !out)) || user >= m->n_users ||
      (user < 0 && (n_h < 0 || (n_h > 0 && (!h_items || !h_ratings)))))
    return MR_EINVAL;
  if (embed_items_in_range(items, n, m->n_items))
    return MR_ERANGE;
  if (user >= 0) {
    embed_scores_at(m->emb, m->d, m->profiles + (size_t)user * m->d, items, n, out);
    return MR_OK;
  }
  float *prof = malloc((size_t)m->d * sizeof(float));
  if (!prof)
    return MR_ENOMEM;
  embed_profile(m->emb, m->n_items, m->d, (embed_wmode)m->o.wmode, h_items, h_ratings, n_h, prof);
  embed_scores_at(m->emb, m->d, prof, items, n, out);
  free(prof);
  return MR_OK;
}

int content_similar(const content_model *m, int32_t item, int n, int32_t *out_items,
                    float *out_scores) {
  return embed_similar(m->emb, m->n_items, m->d, item, n, out_items, out_scores);
}

int content_save(const content_model *m, const char *path) {
  double params[12] = {m->o.dim,      m->o.cast_n, m->o.min_df,   m->o.wmode,
                       m->o.w_genre,  m->o.w_desc, m->o.w_dir,    m->o.w_cast,
                       m->o.w_writer, m->o.w_age,  m->o.w_decade, 0};
  mf_section sec[4] = {
      {"embeddings", MF_F32, (uint64_t)m->n_items, (uint64_t)m->d, m->emb},
      {"profiles", MF_F32, (uint64_t)m->n_users, (uint64_t)m->d, m->profiles},
      {"sigma", MF_F32, 1, (uint64_t)m->d, m->sigma},
      {"params", MF_F64, 1, 12, params},
  };
  return mf_write(path, "content", sec, 4);
}

int content_load(const char *path, content_model **out, char *err, size_t errlen) {
  mf_file *f = NULL;
  content_model *m = NULL;
  const void *e, *pr, *sg, *pa;
  uint64_t er, ec, pr_r, pr_c, sr, sc, par, pac;
  int rc = mf_open(path, &f, err, errlen);
  if (rc)
    return rc;
  if (mf_get(f, "embeddings", MF_F32, &e, &er, &ec) ||
      mf_get(f, "profiles", MF_F32, &pr, &pr_r, &pr_c) ||
      mf_get(f, "sigma", MF_F32, &sg, &sr, &sc) || mf_get(f, "params", MF_F64, &pa, &par, &pac) ||
      er == 0 || er > INT32_MAX || ec == 0 || ec > 4096 || pr_c != ec || pr_r > INT32_MAX ||
      sr != 1 || sc != ec || par != 1 || pac != 12) {
    rec_set_err(err, errlen, "%s: missing or malformed content model sections", path);
    rc = MR_EFORMAT;
    goto fail;
  }
  const double *p = pa;
  for (int k = 0; k < 4; k++) /* dim, cast_n, min_df, wmode: integers */
    if (!mf_in_range(p[k], INT32_MIN, INT32_MAX)) {
      rec_set_err(err, errlen, "%s: invalid content model parameters", path);
      rc = MR_EFORMAT;
      goto fail;
    }
  if ((rc = content_alloc((int32_t)er, (int32_t)pr_r, (int)ec, &m)))
    goto fail;
  m->o.dim = (int)p[0];
  m->o.cast_n = (int)p[1];
  m->o.min_df = (int)p[2];
  m->o.wmode = (int)p[3];
  m->o.w_genre = (float)p[4];
  m->o.w_desc = (float)p[5];
  m->o.w_dir = (float)p[6];
  m->o.w_cast = (float)p[7];
  m->o.w_writer = (float)p[8];
  m->o.w_age = (float)p[9];
  m->o.w_decade = (float)p[10];
  if (!content_opts_valid(&m->o) || m->o.dim != (int)ec) {
    rec_set_err(err, errlen, "%s: invalid content model parameters", path);
    rc = MR_EFORMAT;
    goto fail;
  }
  memcpy(m->emb, e, er * ec * sizeof(float));
  memcpy(m->profiles, pr, pr_r * ec * sizeof(float));
  memcpy(m->sigma, sg, sc * sizeof(float));
  for (uint64_t k = 0; k < er * ec; k++)
    if (!isfinite(m->emb[k])) {
      rec_set_err(err, errlen, "%s: non-finite embedding", path);
      rc = MR_EFORMAT;
      goto fail;
    }
  mf_close(f);
  *out = m;
  return MR_OK;
fail:
  content_free(m);
  mf_close(f);
  return rc;
}

/* ---- registry adapter ---- */

static int content_reg_fit(const rec_params *p, const rec_train_data *d, void **state) {
  content_opts o;
  content_model *m = NULL;
  content_opts_from_params(p, &o);
  int rc = content_fit(&o, d, &m);
  if (rc)
    return rc;
  *state = m;
  return MR_OK;
}
static int content_reg_score_user(const void *state, int32_t user, float *scores) {
  return content_score_user(state, user, scores);
}
static int content_reg_score_history(const void *state, const int32_t *items, const float *ratings,
                                     int n, float *scores) {
  return content_score_history(state, items, ratings, n, scores);
}
static int content_reg_score_items(const void *state, int32_t user, const int32_t *h_items,
                                   const float *h_ratings, int n_h, int64_t ref_ts,
                                   const int32_t *items, int n, float *out, float *scratch) {
  (void)scratch;
  (void)ref_ts; /* no popularity-derived signal */
  return content_score_items(state, user, h_items, h_ratings, n_h, items, n, out);
}
static int content_reg_save(const void *state, const char *path) {
  return content_save(state, path);
}
static int content_reg_load(const char *path, void **state, char *err, size_t errlen) {
  content_model *m = NULL;
  int rc = content_load(path, &m, err, errlen);
  if (rc)
    return rc;
  *state = m;
  return MR_OK;
}
static int32_t content_reg_n_items(const void *state) {
  return content_n_items(state);
}
static void content_reg_free(void *state) {
  content_free(state);
}

static int content_reg_item_embeddings(const void *state, const float **emb, int *dim) {
  *emb = content_item_embeddings(state, dim);
  return MR_OK;
}

const rec_ops rec_content_ops = {
    .kind = "content",
    .fit = content_reg_fit,
    .score_user = content_reg_score_user,
    .score_history = content_reg_score_history,
    .score_items = content_reg_score_items,
    .save = content_reg_save,
    .load = content_reg_load,
    .n_items = content_reg_n_items,
    .free = content_reg_free,
    .item_embeddings = content_reg_item_embeddings,
};
