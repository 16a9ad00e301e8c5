/* Tests for the CSV reader and the IMDb field parsers (csv.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/mr_error.h"
#include "data/csv.h"

/* Reads the next record and checks it has exactly the expected fields. */
static void expect_record(csv_reader *r, int n, const char *const *want) {
  const csv_field *f;
  size_t nf;
  assert_int_equal(csv_next_record(r, &f, &nf), 1);
  assert_int_equal(nf, n);
  for (int i = 0; i < n; i++) {
    assert_string_equal(f[i].s, want[i]);
    assert_int_equal(f[i].len, strlen(want[i]));
  }
}

static void expect_end(csv_reader *r) {
  const csv_field *f;
  size_t nf;
  assert_int_equal(csv_next_record(r, &f, &nf), 0);
  assert_int_equal(csv_next_record(r, &f, &nf), 0);
}

static void test_plain_and_quoted(void **state) {
  (void)state;
  const char *buf = "a,b,c\n"
                    "\"x,y\",\"say \"\"hi\"\"\",\n"
                    "\"multi\nline\",2\r\n"
                    "\r\n"
                    ",,\r\n"
                    "last";
  csv_reader *r = NULL;
  assert_int_equal(csv_reader_create(buf, strlen(buf), &r), MR_OK);
  expect_record(r, 3, (const char *[]){"a", "b", "c"});
  assert_int_equal(csv_record_line(r), 1);
  expect_record(r, 3, (const char *[]){"x,y", "say \"hi\"", ""});
  expect_record(r, 2, (const char *[]){"multi\nline", "2"});
  assert_int_equal(csv_record_line(r), 3);
  expect_record(r, 3, (const char *[]){"", "", ""});
  assert_int_equal(csv_record_line(r), 6);
  expect_record(r, 1, (const char *[]){"last"});
  expect_end(r);
  csv_reader_free(r);
}

static void test_crlf_inside_quotes_kept(void **state) {
  (void)state;
  const char *buf = "\"a\r\nb\",c\r\n";
  csv_reader *r = NULL;
  assert_int_equal(csv_reader_create(buf, strlen(buf), &r), MR_OK);
  expect_record(r, 2, (const char *[]){"a\r\nb", "c"});
  expect_end(r);
  csv_reader_free(r);
}

static void test_long_fields_grow_buffers(void **state) {
  (void)state;
  char buf[4000];
  size_t n = 0;
  for (int i = 0; i < 40; i++) { /* 40 fields of 60 bytes: forces both buffers to grow */
    if (i)
      buf[n++] = ',';
    memset(buf + n, 'a' + (i % 26), 60);
    n += 60;
  }
  csv_reader *r = NULL;
  const csv_field *f;
  size_t nf;
  assert_int_equal(csv_reader_create(buf, n, &r), MR_OK);
  assert_int_equal(csv_next_record(r, &f, &nf), 1);
  assert_int_equal(nf, 40);
  assert_int_equal(f[39].len, 60);
  assert_int_equal(f[39].s[0], 'a' + 13);
  assert_int_equal(f[0].s[59], 'a');
  assert_int_equal(f[0].s[60], '\0');
  csv_reader_free(r);
}

static void test_unterminated_quote_resyncs(void **state) {
  (void)state;
  const char *buf = "1,\"oops\n2,ok\n3,fine\n";
  csv_reader *r = NULL;
  const csv_field *f;
  size_t nf;
  assert_int_equal(csv_reader_create(buf, strlen(buf), &r), MR_OK);
  assert_int_equal(csv_next_record(r, &f, &nf), MR_EFORMAT);
  assert_int_equal(csv_record_line(r), 1);
  expect_record(r, 2, (const char *[]){"2", "ok"});
  assert_int_equal(csv_record_line(r), 2);
  expect_record(r, 2, (const char *[]){"3", "fine"});
  expect_end(r);
  csv_reader_free(r);
}

static void test_unterminated_quote_at_eof(void **state) {
  (void)state;
  const char *buf = "x,y\n\"abc";
  csv_reader *r = NULL;
  const csv_field *f;
  size_t nf;
  assert_int_equal(csv_reader_create(buf, strlen(buf), &r), MR_OK);
  expect_record(r, 2, (const char *[]){"x", "y"});
  assert_int_equal(csv_next_record(r, &f, &nf), MR_EFORMAT);
  expect_end(r);
  csv_reader_free(r);
}

static void test_reader_args(void **state) {
  (void)state;
  csv_reader *r = NULL;
  assert_int_equal(csv_reader_create(NULL, 3, &r), MR_EINVAL);
  assert_int_equal(csv_reader_create("", 0, &r), MR_OK);
  expect_end(r);
  csv_reader_free(r);
  csv_reader_free(NULL);
}

static void test_pylist(void **state) {
  (void)state;
  mr_strlist l = {NULL, 0};
  assert_int_equal(csv_parse_pylist("['A', 'B']", &l), MR_OK);
  assert_int_equal(l.n, 2);
  assert_string_equal(l.items[0], "A");
  assert_string_equal(l.items[1], "B");
  csv_strlist_free(&l);
  assert_null(l.items);

  assert_int_equal(csv_parse_pylist("[\"O'Brien\", 'X']", &l), MR_OK);
  assert_int_equal(l.n, 2);
  assert_string_equal(l.items[0], "O'Brien");
  assert_string_equal(l.items[1], "X");
  csv_strlist_free(&l);

  assert_int_equal(csv_parse_pylist("['Ren\xc3\xa9"
                                    "e Taylor']",
                                    &l),
                   MR_OK);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.items[0], "Ren\xc3\xa9"
                                  "e Taylor");
  csv_strlist_free(&l);

  assert_int_equal(csv_parse_pylist("['It\\'s', \"a \\\"b\\\"\", 'c\\\\d', 'e\\qf']", &l), MR_OK);
  assert_int_equal(l.n, 4);
  assert_string_equal(l.items[0], "It's");
  assert_string_equal(l.items[1], "a \"b\"");
  assert_string_equal(l.items[2], "c\\d");
  assert_string_equal(l.items[3], "e\\qf");
  csv_strlist_free(&l);

  assert_int_equal(csv_parse_pylist(" [ ] ", &l), MR_OK);
  assert_int_equal(l.n, 0);
  assert_int_equal(csv_parse_pylist("[]", &l), MR_OK);
  assert_int_equal(l.n, 0);
  csv_strlist_free(&l);
}

static void test_pylist_errors(void **state) {
  (void)state;
  const char *bad[] = {"",        "'A'",   "['A'", "['A' 'B']", "[A]",
                       "['A'] x", "['a\\", "['a",  "[,]",       "x"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    mr_strlist l = {NULL, 7};
    assert_int_equal(csv_parse_pylist(bad[i], &l), MR_EFORMAT);
    assert_int_equal(l.n, 0);
    assert_null(l.items);
  }
}

static void test_votes(void **state) {
  (void)state;
  double v = -1;
  assert_int_equal(csv_parse_votes("951", &v), MR_OK);
  assert_true(v == 951.0);
  assert_int_equal(csv_parse_votes("1.4K", &v), MR_OK);
  assert_true(v == 1400.0);
  assert_int_equal(csv_parse_votes("930K", &v), MR_OK);
  assert_true(v == 930000.0);
  assert_int_equal(csv_parse_votes("2.1M", &v), MR_OK);
  assert_true(v == 2100000.0);
  assert_int_equal(csv_parse_votes("0", &v), MR_OK);
  assert_true(v == 0.0);
  /* found by fuzz_csv: 13..15 digits with an M overflowed int64 (undefined behaviour) */
  assert_int_equal(csv_parse_votes("999999999999M", &v), MR_OK);
  assert_true(v == 999999999999e6);
  assert_int_equal(csv_parse_votes("33333333333331M", &v), MR_EFORMAT);
  const char *bad[] = {"",    "K",  "1.2.3", "12X", "1.",
                       ".5K", "-5", "1KK",   "1 2", "9999999999999999"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    v = 42;
    assert_int_equal(csv_parse_votes(bad[i], &v), MR_EFORMAT);
    assert_true(v == 42); /* untouched on error */
  }
}

static void test_runtime(void **state) {
  (void)state;
  int m = -1;
  assert_int_equal(csv_parse_runtime("1h 24min", &m), MR_OK);
  assert_int_equal(m, 84);
  assert_int_equal(csv_parse_runtime("2h", &m), MR_OK);
  assert_int_equal(m, 120);
  assert_int_equal(csv_parse_runtime("45min", &m), MR_OK);
  assert_int_equal(m, 45);
  assert_int_equal(csv_parse_runtime("1h5min", &m), MR_OK);
  assert_int_equal(m, 65);
  const char *bad[] = {"",  "90",   "1h 24",           "abc", "2h 10min extra", "min",
                       "h", "1988", "2018\xe2\x80\x93"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    m = 7;
    assert_int_equal(csv_parse_runtime(bad[i], &m), MR_EFORMAT);
    assert_int_equal(m, 7);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_and_quoted),
      cmocka_unit_test(test_crlf_inside_quotes_kept),
      cmocka_unit_test(test_long_fields_grow_buffers),
      cmocka_unit_test(test_unterminated_quote_resyncs),
      cmocka_unit_test(test_unterminated_quote_at_eof),
      cmocka_unit_test(test_reader_args),
      cmocka_unit_test(test_pylist),
      cmocka_unit_test(test_pylist_errors),
      cmocka_unit_test(test_votes),
      cmocka_unit_test(test_runtime),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
