/* RFC 4180 CSV reader over a memory buffer, plus the small field parsers the IMDb loader needs. */
#ifndef MR_CSV_H
#define MR_CSV_H

#include <stddef.h>

#include "data/dataset.h"

/* One field of the current record: s is NUL-terminated (quotes removed, "" unescaped) and
 * len excludes the NUL. Owned by the reader; valid until the next csv_next_record or
 * csv_reader_free. */
typedef struct csv_field {
  const char *s;
  size_t len;
} csv_field;

typedef struct csv_reader csv_reader;

/* Creates a reader over buf[0..len) (comma-separated, CRLF or LF line ends). buf is borrowed
 * and must outlive the reader. Free with csv_reader_free. */
int csv_reader_create(const char *buf, size_t len, csv_reader **out);

/* Releases a reader. NULL is fine. */
void csv_reader_free(csv_reader *r);

/* Reads the next record. Returns 1 and sets *fields / *n_fields (borrowed, valid until the next
 * call), 0 at the end of the buffer, or a negative status. MR_EFORMAT means the record had a
 * quoted field that never closed: that record is lost, and reading resumes on the line after
 * the opening quote so the following records are still read. Blank lines are skipped. */
int csv_next_record(csv_reader *r, const csv_field **fields, size_t *n_fields);

/* 1-based line number where the record last returned (or rejected) started. */
long csv_record_line(const csv_reader *r);

/* Parses a Python-style list literal of strings: [], ['A', 'B'], ["O'Brien", 'X'], with
 * backslash escapes inside items. On success *out holds malloc'ed copies (free with
 * csv_strlist_free); on error *out is left empty and MR_EFORMAT or MR_ENOMEM is returned. */
int csv_parse_pylist(const char *s, mr_strlist *out);

/* Frees the items of a list and resets it to empty. NULL is fine. */
void csv_strlist_free(mr_strlist *l);

/* Parses an IMDb vote count: "951" -> 951, "1.4K" -> 1400, "2.1M" -> 2100000.
 * Returns MR_EFORMAT on anything else (including ""). */
int csv_parse_votes(const char *s, double *out);

/* Parses an IMDb runtime: "1h 24min" -> 84, "2h" -> 120, "45min" -> 45.
 * Returns MR_EFORMAT on anything else (including ""). */
int csv_parse_runtime(const char *s, int *out_minutes);

#endif
