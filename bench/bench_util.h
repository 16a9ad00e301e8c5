/* Clocks and quantiles shared by the benchmark programs (header-only: each bench is one file). */
#ifndef MR_BENCH_UTIL_H
#define MR_BENCH_UTIL_H

#include <math.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

/* Wall-clock seconds (monotonic). */
static inline double bench_wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of the calling thread: steadier than wall time on a shared machine. */
static inline double bench_thread_cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* User + system CPU seconds of the whole process (all threads). */
static inline double bench_process_cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
         (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static inline int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Sorts v[0..n) ascending. */
static inline void bench_sort(double *v, size_t n) {
  qsort(v, n, sizeof(double), bench_cmp_double);
}

/* Sorts v[0..n) and returns its q-quantile (nearest rank). */
static inline double bench_quantile(double *v, int n, double q) {
  bench_sort(v, (size_t)n);
  int k = (int)ceil(q * n) - 1;
  return v[k < 0 ? 0 : (k >= n ? n - 1 : k)];
}

#endif
