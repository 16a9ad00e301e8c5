// C wrapper over Faiss' HNSW index for bench/ann_faiss.c: Debian 12's libfaiss-dev ships the C API
// headers but not the library behind them (libfaiss.a has only the C++ API).
#include <faiss/IndexHNSW.h>
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
void ann_free(void *ix) { delete static_cast<faiss::Index *>(ix); }
}
