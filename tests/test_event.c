/* Tests for the rating event codec (event.c): valid bodies and every invalid form. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/mr_error.h"
#include "infra/event.h"

#define ID "0123456789abcdef0123456789abcdef"

static void test_valid(void **state) {
  (void)state;
  const char *b = "{\"event_id\": \"" ID "\", \"user_id\": 42, \"movie_id\": 50, \"rating\": 4, "
                  "\"ts\": 1764070000}";
  mr_event ev;
  char err[256] = "";
  assert_int_equal(event_parse(b, strlen(b), &ev, err, sizeof(err)), MR_OK);
  assert_string_equal(ev.event_id, ID);
  assert_int_equal(ev.user_id, 42);
  assert_int_equal(ev.movie_id, 50);
  assert_int_equal(ev.rating, 4);
  assert_int_equal(ev.ts, 1764070000);
  assert_int_equal(event_validate(&ev, err, sizeof(err)), MR_OK);
}

static void test_uppercase_id_and_extra_fields(void **state) {
  (void)state;
  const char *b = "{\"ts\": 1, \"rating\": 5, \"movie_id\": 2147483647, \"user_id\": 1, "
                  "\"source\": \"ui\", \"event_id\": \"0123456789ABCDEF0123456789ABCDEF\"}";
  mr_event ev;
  assert_int_equal(event_parse(b, strlen(b), &ev, NULL, 0), MR_OK);
  assert_string_equal(ev.event_id, ID); /* lowercased: one idempotency key per event */
  assert_int_equal(ev.movie_id, 2147483647);
  assert_int_equal(ev.rating, 5);
}

static void test_format_roundtrip(void **state) {
  (void)state;
  mr_event ev = {.user_id = 7, .movie_id = 1682, .rating = 1, .ts = 1700000000};
  assert_int_equal(event_new_id(ev.event_id), MR_OK);
  assert_int_equal(strlen(ev.event_id), 32);
  assert_int_equal(strspn(ev.event_id, "0123456789abcdef"), 32);
  char buf[128], small[16];
  size_t len = 0;
  assert_int_equal(event_format(&ev, buf, sizeof(buf), &len), MR_OK);
  assert_int_equal(len, strlen(buf));
  mr_event back;
  assert_int_equal(event_parse(buf, len, &back, NULL, 0), MR_OK);
  assert_memory_equal(&ev, &back, sizeof(ev));
  assert_int_equal(event_format(&ev, small, sizeof(small), &len), MR_ERANGE);
  ev.rating = 6;
  assert_int_equal(event_format(&ev, buf, sizeof(buf), &len), MR_EINVAL);
  /* two fresh ids differ */
  char a[33], b[33];
  assert_int_equal(event_new_id(a), MR_OK);
  assert_int_equal(event_new_id(b), MR_OK);
  assert_string_not_equal(a, b);
}

typedef struct bad_case {
  const char *body;
  const char *want; /* substring of the error text */
} bad_case;

static void test_invalid_forms(void **state) {
  (void)state;
  static const bad_case cases[] = {
      {"", "invalid JSON"},
      {"{", "invalid JSON"},
      {"not json", "invalid JSON"},
      {"{\"event_id\": \"" ID "\", \"user_id\": 1,}", "invalid JSON"},
      {"[1, 2]", "must be a JSON object, got an array"},
      {"42", "must be a JSON object, got an integer"},
      {"null", "must be a JSON object"},
      {"{}", "missing field 'event_id'"},
      /* duplicate keys are rejected, not last-one-wins */
      {"{\"event_id\": \"" ID "\", \"user_id\": 1, \"user_id\": 2, \"movie_id\": 1, "
       "\"rating\": 1, \"ts\": 1}",
       "duplicate"},
      /* event_id */
      {"{\"event_id\": 12, \"user_id\": 1, \"movie_id\": 1, \"rating\": 1, \"ts\": 1}",
       "'event_id' must be a string, got an integer"},
      {"{\"event_id\": null, \"user_id\": 1, \"movie_id\": 1, \"rating\": 1, \"ts\": 1}",
       "'event_id' must be a string, got null"},
      {"{\"event_id\": \"abc\", \"user_id\": 1, \"movie_id\": 1, \"rating\": 1, \"ts\": 1}",
       "'event_id' must be 32 hex"},
      {"{\"event_id\": \"" ID "0\", \"user_id\": 1, \"movie_id\": 1, \"rating\": 1, \"ts\": 1}",
       "'event_id' must be 32 hex"},
      {"{\"event_id\": \"0123456789abcdef0123456789abcdeg\", \"user_id\": 1, \"movie_id\": 1, "
       "\"rating\": 1, \"ts\": 1}",
       "'event_id' must be 32"},
      /* missing fields */
      {"{\"event_id\": \"" ID "\", \"movie_id\": 1, \"rating\": 1, \"ts\": 1}",
       "missing field 'user_id'"},
      {"{\"event_id\": \"" ID "\", \"user_id\": 1, \"rating\": 1, \"ts\": 1}",
       "missing field 'movie_id'"},
      {"{\"event_id\": \"" ID "\", \"user_id\": 1, \"movie_id\": 1, \"ts\": 1}",
       "missing field 'rating'"},
      {"{\"event_id\": \"" ID "\", \"user_id\": 1, \"movie_id\": 1, \"rating\": 1}",
       "missing field 'ts'"},
      /* strict types */
      {"{\"event_id\": \"" ID "\", \"user_id\": \"1\", \"movie_id\": 1, \"rating\": 1, \"ts\": 1}",
       "'user_id' must be an integer, got a string"},
      {"{\"event_id\": \"" ID "\", \"user_id\": 1, \"movie_id\": 1.0, \"rating\": 1, \"ts\": 1}",
       "'movie_id' must be an integer, got a real number"},
      {"{\"event_id\": \"" ID "\", \"user_id\": 1, \"movie_id\": 1, \"rating\": 4.5, \"ts\": 1}",
       "'rating' must be an integer, got a real number"},
      {"{\"event_id\": \"" ID "\", \"user_id\": 1, \"movie_id\": 1, \"rating\": true, \"ts\": 1}",
       "'rating' must be an integer, got a boolean"},
      {"{\"event_id\": \"" ID "\", \"user_id\": 1, \"movie_id\": 1, \"rating\": 1, \"ts\": null}",
       "'ts' must be an integer, got null"},
      {"{\"event_id\": \"" ID "\", \"user_id\": [1], \"movie_id\": 1, \"rating\": 1, \"ts\": 1}",
       "'user_id' must be an integer, got an array"},
      {"{\"event_id\": \"" ID "\", \"user_id\": {}, \"movie_id\": 1, \"rating\": 1, \"ts\": 1}",
       "'user_id' must be an integer, got an object"},
      /* ranges */
      {"{\"event_id\": \"" ID "\", \"user_id\": 0, \"movie_id\": 1, \"rating\": 1, \"ts\": 1}",
       "'user_id' must be 1..2147483647, got 0"},
      {"{\"event_id\": \"" ID "\", \"user_id\": -5, \"movie_id\": 1, \"rating\": 1, \"ts\": 1}",
       "'user_id' must be 1..2147483647, got -5"},
      {"{\"event_id\": \"" ID "\", \"user_id\": 2147483648, \"movie_id\": 1, \"rating\": 1, "
       "\"ts\": 1}",
       "'user_id' must be 1..2147483647, got 2147483648"},
      {"{\"event_id\": \"" ID "\", \"user_id\": 1, \"movie_id\": 0, \"rating\": 1, \"ts\": 1}",
       "'movie_id' must be 1..2147483647, got 0"},
      {"{\"event_id\": \"" ID "\", \"user_id\": 1, \"movie_id\": 1, \"rating\": 0, \"ts\": 1}",
       "'rating' must be 1..5, got 0"},
      {"{\"event_id\": \"" ID "\", \"user_id\": 1, \"movie_id\": 1, \"rating\": 6, \"ts\": 1}",
       "'rating' must be 1..5, got 6"},
      {"{\"event_id\": \"" ID "\", \"user_id\": 1, \"movie_id\": 1, \"rating\": 4294967297, "
       "\"ts\": 1}",
       "'rating' must be 1..5, got 4294967297"},
      {"{\"event_id\": \"" ID "\", \"user_id\": 1, \"movie_id\": 1, \"rating\": 1, \"ts\": 0}",
       "'ts' must be 1.."},
      {"{\"event_id\": \"" ID "\", \"user_id\": 1, \"movie_id\": 1, \"rating\": 1, "
       "\"ts\": 99999999999999}",
       "'ts' must be 1.."},
      {"{\"event_id\": \"" ID "\", \"user_id\": 1, \"movie_id\": 1, \"rating\": 1, "
       "\"ts\": 99999999999999999999999}",
       "invalid JSON"}, /* integer overflow is a parse error in jansson */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    mr_event ev;
    char err[256] = "";
    int rc = event_parse(cases[i].body, strlen(cases[i].body), &ev, err, sizeof(err));
    if (rc != MR_EFORMAT || !strstr(err, cases[i].want))
      fail_msg("case %zu: body %s: rc %d, error '%s', want '%s'", i, cases[i].body, rc, err,
               cases[i].want);
    /* and the same with no error buffer: still rejected, no crash */
    assert_int_equal(event_parse(cases[i].body, strlen(cases[i].body), &ev, NULL, 0), MR_EFORMAT);
  }
}

static void test_embedded_nul(void **state) {
  (void)state;
  /* the length is authoritative: a NUL inside the body is malformed, not a shorter body */
  const char b[] = "{\"event_id\": \"" ID "\", \"user_id\": 1, \"movie_id\": 1, \"rating\": 1, "
                   "\"ts\": 1}\0garbage";
  mr_event ev;
  char err[256];
  assert_int_equal(event_parse(b, sizeof(b) - 1, &ev, err, sizeof(err)), MR_EFORMAT);
  assert_int_equal(event_parse(b, strlen(b), &ev, err, sizeof(err)), MR_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid),
      cmocka_unit_test(test_uppercase_id_and_extra_fields),
      cmocka_unit_test(test_format_roundtrip),
      cmocka_unit_test(test_invalid_forms),
      cmocka_unit_test(test_embedded_nul),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
