/* Tests for the API's JSON writers (api_buf.c) and Redis URL parsing (api_redis.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/mr_error.h"
#include "services/api_buf.h"
#include "services/api_redis.h"

/* Writes s as a JSON string and checks the exact output and that jansson parses it back. */
static void expect_json_str(const char *s, size_t n, const char *want) {
  api_buf b;
  api_buf_init(&b);
  api_buf_json_strn(&b, s, n);
  assert_false(b.oom);
  assert_string_equal(b.p, want);
  json_error_t err;
  json_t *j = json_loadb(b.p, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
  assert_non_null(j);
  assert_true(json_is_string(j));
  json_decref(j);
  api_buf_free(&b);
}

static void test_json_escapes(void **state) {
  (void)state;
  expect_json_str("plain", 5, "\"plain\"");
  expect_json_str("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
  expect_json_str("l1\nl2\t\r", 7, "\"l1\\nl2\\t\\r\"");
  expect_json_str("\x01x", 2, "\"\\u0001x\"");
  expect_json_str("caf\xc3\xa9", 5, "\"caf\xc3\xa9\"");   /* valid UTF-8 kept */
  expect_json_str("bad\xe9!", 5, "\"bad\xef\xbf\xbd!\""); /* Latin-1 byte replaced */
  expect_json_str("\xc3", 1, "\"\xef\xbf\xbd\"");         /* truncated sequence */
  expect_json_str("\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* surrogate */
  expect_json_str("a\0b", 3, "\"a\\u0000b\"");
}

static void test_buf_growth_and_numbers(void **state) {
  (void)state;
  api_buf b;
  api_buf_init(&b);
  for (int i = 0; i < 10000; i++)
    api_buf_printf(&b, "%d,", i);
  assert_false(b.oom);
  assert_int_equal(b.len, strlen(b.p));
  assert_memory_equal(b.p, "0,1,2,", 6);
  api_buf_free(&b);
  api_buf_free(&b); /* twice is fine */
  api_buf_free(NULL);
  api_buf_init(&b);
  api_buf_json_num(&b, 1.5);
  api_buf_putc(&b, ' ');
  api_buf_json_num(&b, NAN);
  api_buf_putc(&b, ' ');
  api_buf_json_num(&b, INFINITY);
  assert_string_equal(b.p, "1.5 0 0");
  api_buf_putc(&b, ' ');
  api_buf_int(&b, 0);
  api_buf_putc(&b, ' ');
  api_buf_int(&b, -42);
  api_buf_putc(&b, ' ');
  api_buf_int(&b, INT64_MIN);
  api_buf_putc(&b, ' ');
  api_buf_int(&b, 1682);
  assert_string_equal(b.p, "1.5 0 0 0 -42 -9223372036854775808 1682");
  api_buf_free(&b);
  api_buf_init(&b);
  char big[1000];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  api_buf_printf(&b, "<%s>", big); /* longer than the small printf buffer */
  assert_int_equal(b.len, 1001);
  api_buf_free(&b);
}

/* The printf-free number writer against "%.6g": the same text for hand-picked edges (powers of
 * ten, round-ups, both range ends, magnitudes printf keeps), and for 200,000 log-uniform values
 * the same text except for at most 0.05% whose sixth digit rounds the other way at a tie,
 * which must still parse to within one unit of that digit. */
static void test_number_writer(void **state) {
  (void)state;
  static const double edges[] = {1,          -1,        0.1,       1e-4,     9.99999e-5, 999999.4,
                                 999999.6,   1e6,       123456.5,  0.5,      -2.25,      9.999996,
                                 0.00099999, 0.0012345, 1234567.0, 1e-7,     3.14159265, -0.03125,
                                 42,         100,       1.0000005, 65.43219, 1e15,       -1e-300};
  char want[64];
  api_buf b;
  for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
    api_buf_init(&b);
    api_buf_json_num(&b, edges[i]);
    snprintf(want, sizeof(want), "%.6g", edges[i]);
    assert_string_equal(b.p, want);
    api_buf_free(&b);
  }
  uint64_t s = 88172645463325252ULL;
  int differ = 0, n = 200000;
  for (int i = 0; i < n; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    double u = (double)(s >> 11) / 9007199254740992.0;
    double x = pow(10.0, -6.0 + 14.0 * u) * ((s & 1) ? -1 : 1);
    api_buf_init(&b);
    api_buf_json_num(&b, x);
    snprintf(want, sizeof(want), "%.6g", x);
    if (strcmp(b.p, want)) {
      differ++;
      double got = strtod(b.p, NULL), ref = strtod(want, NULL);
      assert_true(fabs(got - ref) <= 1.0001e-5 * fabs(ref));
    }
    api_buf_free(&b);
  }
  assert_true(differ <= n / 2000);
}

static void test_redis_url(void **state) {
  (void)state;
  char host[64];
  int port, db;
  assert_int_equal(api_redis_parse_url("redis://127.0.0.1:6380", host, sizeof(host), &port, &db),
                   0);
  assert_string_equal(host, "127.0.0.1");
  assert_int_equal(port, 6380);
  assert_int_equal(db, 0);
  assert_int_equal(api_redis_parse_url("redis://cache.local/3", host, sizeof(host), &port, &db), 0);
  assert_string_equal(host, "cache.local");
  assert_int_equal(port, 6379);
  assert_int_equal(db, 3);
  assert_int_equal(api_redis_parse_url("localhost:7000/", host, sizeof(host), &port, &db), 0);
  assert_int_equal(port, 7000);
  assert_int_equal(api_redis_parse_url("redis://:pw@h:1", host, sizeof(host), &port, &db), 0);
  assert_string_equal(host, "h");
  assert_int_equal(api_redis_parse_url("redis://", host, sizeof(host), &port, &db), 0);
  assert_string_equal(host, "127.0.0.1");
  assert_int_equal(api_redis_parse_url("redis://h:0", host, sizeof(host), &port, &db), MR_EINVAL);
  assert_int_equal(api_redis_parse_url("redis://h:99999", host, sizeof(host), &port, &db),
                   MR_EINVAL);
  assert_int_equal(api_redis_parse_url("redis://h:12x", host, sizeof(host), &port, &db), MR_EINVAL);
  assert_int_equal(api_redis_parse_url("redis://h/abc", host, sizeof(host), &port, &db), MR_EINVAL);
  assert_int_equal(api_redis_parse_url(NULL, host, sizeof(host), &port, &db), MR_EINVAL);
  char tiny[4];
  assert_int_equal(api_redis_parse_url("redis://longhost:1", tiny, sizeof(tiny), &port, &db),
                   MR_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_escapes),
      cmocka_unit_test(test_buf_growth_and_numbers),
      cmocka_unit_test(test_number_writer),
      cmocka_unit_test(test_redis_url),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
