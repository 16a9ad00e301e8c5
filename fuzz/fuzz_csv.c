/* libFuzzer target: the RFC 4180 reader (src/data/csv.c) over arbitrary bytes, and the IMDb field
 * parsers (Python list literals, vote counts, runtimes) over every field it returns. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"
#include "data/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  csv_reader *r = NULL;
  const csv_field *f;
  size_t n;
  long last_line = 0;
  /* the reader must not read past len: the buffer is exactly the input, no NUL after it */
  if (csv_reader_create((const char *)data, size, &r) != MR_OK)
    abort();
  for (int rc; (rc = csv_next_record(r, &f, &n)) != 0;) {
    if (rc == MR_EFORMAT)
      continue; /* an unterminated quote: the reader resyncs */
    if (rc != 1)
      abort();
    if (n == 0 || csv_record_line(r) < last_line)
      abort(); /* a record has at least one field; lines only go forward */
    last_line = csv_record_line(r);
    for (size_t i = 0; i < n; i++) {
      if (f[i].s[f[i].len] != '\0' || strlen(f[i].s) > f[i].len)
        abort();
      mr_strlist l;
      double votes;
      int minutes;
      if (csv_parse_pylist(f[i].s, &l) == MR_OK) {
        for (int k = 0; k < l.n; k++)
          if (!l.items[k])
            abort();
        csv_strlist_free(&l);
      } else if (l.n != 0 || l.items) {
        abort(); /* the contract: the list is left empty on error */
      }
      if (csv_parse_votes(f[i].s, &votes) == MR_OK && !(votes >= 0))
        abort();
      if (csv_parse_runtime(f[i].s, &minutes) == MR_OK && minutes < 0)
        abort();
    }
  }
  csv_reader_free(r);
  return 0;
}
