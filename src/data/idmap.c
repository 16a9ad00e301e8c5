/* External id -> dense index: open addressing with linear probing over a power-of-two table
 * (load <= 1/2), plus the index -> id array. */
#include "data/idmap.h"

#include <stdlib.h>

#include "core/mr_error.h"

struct idmap {
  int64_t *ext;   /* index -> external id */
  int32_t n, cap; /* ids held, capacity of ext */
  int32_t *slot;  /* hash slot -> index, -1 empty */
  size_t mask;    /* slots - 1 */
};

/* splitmix64's finalizer: sequential and strided ids spread over the slots */
static size_t idmap_hash(int64_t x) {
  uint64_t z = (uint64_t)x + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return (size_t)(z ^ (z >> 31));
}

static int idmap_rehash(idmap *m, size_t slots) {
  int32_t *s = malloc(slots * sizeof(*s));
  if (!s)
    return MR_ENOMEM;
  for (size_t i = 0; i < slots; i++)
    s[i] = -1;
  for (int32_t i = 0; i < m->n; i++) {
    size_t h = idmap_hash(m->ext[i]) & (slots - 1);
    while (s[h] >= 0)
      h = (h + 1) & (slots - 1);
    s[h] = i;
  }
  free(m->slot);
  m->slot = s;
  m->mask = slots - 1;
  return MR_OK;
}

int idmap_create(size_t hint, idmap **out) {
  if (!out)
    return MR_EINVAL;
  idmap *m = calloc(1, sizeof(*m));
  if (!m)
    return MR_ENOMEM;
  size_t slots = 64;
  while (slots < hint * 2 && slots < ((size_t)1 << 32))
    slots *= 2;
  if (idmap_rehash(m, slots) != MR_OK) {
    free(m);
    return MR_ENOMEM;
  }
  *out = m;
  return MR_OK;
}

void idmap_free(idmap *m) {
  if (!m)
    return;
  free(m->ext);
  free(m->slot);
  free(m);
}

int32_t idmap_find(const idmap *m, int64_t ext) {
  if (!m)
    return -1;
  for (size_t h = idmap_hash(ext) & m->mask;; h = (h + 1) & m->mask) {
    int32_t i = m->slot[h];
    if (i < 0)
      return -1;
    if (m->ext[i] == ext)
      return i;
  }
}

int idmap_add(idmap *m, int64_t ext, int32_t *idx, int *added) {
  if (!m || !idx)
    return MR_EINVAL;
  if (added)
    *added = 0;
  int32_t i = idmap_find(m, ext);
  if (i >= 0) {
    *idx = i;
    return MR_OK;
  }
  if (m->n == INT32_MAX)
    return MR_ERANGE;
  if (m->n == m->cap) {
    int32_t nc = m->cap ? (m->cap > INT32_MAX / 2 ? INT32_MAX : m->cap * 2) : 64;
    int64_t *p = realloc(m->ext, (size_t)nc * sizeof(*p));
    if (!p)
      return MR_ENOMEM;
    m->ext = p;
    m->cap = nc;
  }
  if ((size_t)(m->n + 1) * 2 > m->mask + 1) {
    int rc = idmap_rehash(m, (m->mask + 1) * 2);
    if (rc != MR_OK)
      return rc;
  }
  size_t h = idmap_hash(ext) & m->mask;
  while (m->slot[h] >= 0)
    h = (h + 1) & m->mask;
  m->slot[h] = m->n;
  m->ext[m->n] = ext;
  *idx = m->n++;
  if (added)
    *added = 1;
  return MR_OK;
}

int64_t idmap_ext(const idmap *m, int32_t idx) {
  if (!m || idx < 0 || idx >= m->n)
    return -1;
  return m->ext[idx];
}

int32_t idmap_size(const idmap *m) {
  return m ? m->n : 0;
}
