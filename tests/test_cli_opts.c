/* Table-driven option parsing: defaults, env, --name VALUE and --name=VALUE, errors, help. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_cmds.h"
#include "cli/cli_opts.h"

enum { O_DATA, O_N_RECS, O_FLAG, O_N };
static const cli_opt opts[O_N] = {
    [O_DATA] = {"data", CLI_STR, "data", "MR_TEST_DATA_ENV", "data dir"},
    [O_N_RECS] = {"n", CLI_INT, "10", NULL, "count"},
    [O_FLAG] = {"quiet", CLI_FLAG, NULL, NULL, "quiet"},
};

static void test_defaults_and_env(void **state) {
  (void)state;
  cli_values v;
  unsetenv("MR_TEST_DATA_ENV");
  assert_int_equal(cli_parse("t", "s", opts, O_N, 0, NULL, &v), 0);
  assert_string_equal(v.str[O_DATA], "data");
  assert_int_equal(v.num[O_N_RECS], 10);
  assert_int_equal(v.num[O_FLAG], 0);
  assert_int_equal(v.set[O_DATA], 0);
  setenv("MR_TEST_DATA_ENV", "/from/env", 1);
  assert_int_equal(cli_parse("t", "s", opts, O_N, 0, NULL, &v), 0);
  assert_string_equal(v.str[O_DATA], "/from/env");
  unsetenv("MR_TEST_DATA_ENV");
}

static void test_values(void **state) {
  (void)state;
  cli_values v;
  char *argv[] = {"--data", "/x", "--n=25", "--quiet"};
  assert_int_equal(cli_parse("t", "s", opts, O_N, 4, argv, &v), 0);
  assert_string_equal(v.str[O_DATA], "/x");
  assert_int_equal(v.num[O_N_RECS], 25);
  assert_int_equal(v.num[O_FLAG], 1);
  assert_int_equal(v.set[O_DATA], 1);
  assert_int_equal(v.set[O_N_RECS], 1);
}

static void test_errors(void **state) {
  (void)state;
  cli_values v;
  char *bad_int[] = {"--n", "12x"};
  char *unknown[] = {"--nope"};
  char *missing[] = {"--data"};
  char *positional[] = {"extra"};
  char *flag_value[] = {"--quiet=1"};
  assert_int_equal(cli_parse("t", "s", opts, O_N, 2, bad_int, &v), -1);
  assert_int_equal(cli_parse("t", "s", opts, O_N, 1, unknown, &v), -1);
  assert_int_equal(cli_parse("t", "s", opts, O_N, 1, missing, &v), -1);
  assert_int_equal(cli_parse("t", "s", opts, O_N, 1, positional, &v), -1);
  assert_int_equal(cli_parse("t", "s", opts, O_N, 1, flag_value, &v), -1);
}

static void test_help(void **state) {
  (void)state;
  cli_values v;
  char *argv[] = {"--help"};
  char buf[2048] = "";
  FILE *saved = stdout;
  FILE *mem = fmemopen(buf, sizeof(buf) - 1, "w");
  assert_non_null(mem);
  stdout = mem;
  int rc = cli_parse("t", "summary", opts, O_N, 1, argv, &v);
  fflush(mem);
  stdout = saved;
  fclose(mem);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(buf, "--n N"));
  assert_non_null(strstr(buf, "(default: 10)"));
  assert_non_null(strstr(buf, "[env MR_TEST_DATA_ENV]"));
}

/* --dataset / --format reach every loader through the environment; an unknown format is refused
 * before anything is set; the release aliases and auto are accepted. */
static void test_data_select(void **state) {
  (void)state;
  unsetenv("MOVIEREC_DATASET");
  unsetenv("MOVIEREC_FORMAT");
  assert_int_equal(cli_data_select(NULL, NULL), 0);
  assert_null(getenv("MOVIEREC_DATASET"));
  assert_null(getenv("MOVIEREC_FORMAT"));
  assert_int_equal(cli_data_select("ml-latest-small", "ml-latest-small"), 0);
  assert_string_equal(getenv("MOVIEREC_DATASET"), "ml-latest-small");
  assert_string_equal(getenv("MOVIEREC_FORMAT"), "ml-latest-small");
  assert_int_equal(cli_data_select(NULL, "auto"), 0);
  assert_string_equal(getenv("MOVIEREC_FORMAT"), "auto");
  assert_int_equal(cli_data_select("other", "ml-7m"), -1);
  assert_string_equal(getenv("MOVIEREC_DATASET"), "ml-latest-small");
  assert_string_equal(getenv("MOVIEREC_FORMAT"), "auto");
  unsetenv("MOVIEREC_DATASET");
  unsetenv("MOVIEREC_FORMAT");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults_and_env), cmocka_unit_test(test_values),
      cmocka_unit_test(test_errors),           cmocka_unit_test(test_help),
      cmocka_unit_test(test_data_select),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
