/* External 64-bit ids <-> dense 0-based internal indexes: the one owner of that mapping for
 * users and movies (ids of any size and sparsity, e.g. MovieLens' movie 193609). */
#ifndef MR_IDMAP_H
#define MR_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct idmap idmap;

/* Creates an empty map with room for about `hint` ids (0 is fine). Free with idmap_free. */
int idmap_create(size_t hint, idmap **out);

/* Releases a map. NULL is fine. */
void idmap_free(idmap *m);

/* Index of ext, adding it as index idmap_size() when absent. *idx gets the index and *added
 * (may be NULL) 1 when it was new. MR_ENOMEM on allocation failure (the map is unchanged);
 * MR_ERANGE when the map already holds INT32_MAX ids. */
int idmap_add(idmap *m, int64_t ext, int32_t *idx, int *added);

/* Index of ext, or -1 when absent (or m is NULL). */
int32_t idmap_find(const idmap *m, int64_t ext);

/* External id of index idx (0 <= idx < idmap_size); -1 when out of range. */
int64_t idmap_ext(const idmap *m, int32_t idx);

/* Number of ids held (0 for NULL). */
int32_t idmap_size(const idmap *m);

#endif
