// C wrapper over Faiss' HNSW index for bench/ann_faiss.c: Debian 12's libfaiss-dev ships the C API
// headers but not the library behind them (libfaiss.a has only the C++ API).
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
extern "C" {
void *ann_hnsw_build(const float *y, long n, int d, int m, int efc) {
  try {
    auto *ix = new faiss::IndexHNSWFlat(d, m, faiss::METRIC_INNER_PRODUCT);
    ix->hnsw.efConstruction = efc;
    ix->add(n, y);
    return ix;
  } catch (...) { return nullptr; }
}
int ann_hnsw_search(void *ix, const float *x, int k, int ef, float *dist, long *lab) {
  try {
    auto *h = static_cast<faiss::IndexHNSWFlat *>(ix);
    h->hnsw.efSearch = ef; /* 1.7.3's search ignores SearchParametersHNSW; one thread here */
    h->search(1, x, k, dist, lab);
    return 0;
  } catch (...) { return -1; }
}
/* Inverted lists over nlist k-means cells (trained on the item factors themselves). */
void *ann_ivf_build(const float *y, long n, int d, int nlist) {
  try {
    auto *q = new faiss::IndexFlatIP(d);
    auto *ix = new faiss::IndexIVFFlat(q, d, nlist, faiss::METRIC_INNER_PRODUCT);
    ix->own_fields = true;
    ix->train(n, y);
    ix->add(n, y);
    return ix;
  } catch (...) { return nullptr; }
}
int ann_ivf_search(void *ix, const float *x, int k, int nprobe, float *dist, long *lab) {
  try {
    auto *v = static_cast<faiss::IndexIVFFlat *>(ix);
    v->nprobe = nprobe;
    v->search(1, x, k, dist, lab);
    return 0;
  } catch (...) { return -1; }
}
void ann_free(void *ix) { delete static_cast<faiss::Index *>(ix); }
}
