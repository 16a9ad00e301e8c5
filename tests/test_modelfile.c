/* Model file format: round trip, corruption, truncation, magic, version, lookups. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "core/mr_error.h"
#include "models/modelfile.h"

static void tmp_path(char *buf, size_t n, const char *tag) {
  snprintf(buf, n, "/tmp/mr_test_modelfile_%ld_%s.bin", (long)getpid(), tag);
}

static float fa[7 * 5];
static int32_t ia[3 * 11];
static double da[2];
static uint8_t ua[13];

static void write_sample(const char *path) {
  for (int i = 0; i < 35; i++)
    fa[i] = (float)i * 0.37f - 3.0f;
  fa[3] = -0.0f;
  fa[4] = 1e-40f; /* denormal: must survive bit-exact */
  for (int i = 0; i < 33; i++)
    ia[i] = i * 1000003 - 7;
  da[0] = 3.141592653589793;
  da[1] = -1e300;
  for (int i = 0; i < 13; i++)
    ua[i] = (uint8_t)(i * 19);
  mf_section s[4] = {
      {"floats", MF_F32, 7, 5, fa},
      {"ints", MF_I32, 3, 11, ia},
      {"doubles", MF_F64, 1, 2, da},
      {"bytes", MF_U8, 13, 1, ua},
  };
  assert_int_equal(mf_write(path, "test", s, 4), MR_OK);
}

static long file_size(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fclose(f);
  return n;
}

static void patch_byte(const char *path, long off, unsigned char xor_mask) {
  FILE *f = fopen(path, "r+b");
  assert_non_null(f);
  fseek(f, off, SEEK_SET);
  int c = fgetc(f);
  fseek(f, off, SEEK_SET);
  fputc(c ^ xor_mask, f);
  fclose(f);
}

static void test_round_trip(void **state) {
  (void)state;
  char path[256];
  tmp_path(path, sizeof(path), "rt");
  write_sample(path);
  mf_file *f = NULL;
  char err[256];
  assert_int_equal(mf_open(path, &f, err, sizeof(err)), MR_OK);
  assert_string_equal(mf_kind(f), "test");
  const void *p;
  uint64_t r, c;
  assert_int_equal(mf_get(f, "floats", MF_F32, &p, &r, &c), MR_OK);
  assert_int_equal(r, 7);
  assert_int_equal(c, 5);
  assert_int_equal((uintptr_t)p % 64, 0);
  assert_memory_equal(p, fa, sizeof(fa));
  assert_int_equal(mf_get(f, "ints", MF_I32, &p, &r, &c), MR_OK);
  assert_int_equal(r * c, 33);
  assert_int_equal((uintptr_t)p % 64, 0);
  assert_memory_equal(p, ia, sizeof(ia));
  assert_int_equal(mf_get(f, "doubles", MF_F64, &p, &r, &c), MR_OK);
  assert_memory_equal(p, da, sizeof(da));
  assert_int_equal(mf_get(f, "bytes", MF_U8, &p, &r, &c), MR_OK);
  assert_int_equal(r, 13);
  assert_memory_equal(p, ua, sizeof(ua));
  /* lookups by wrong dtype / unknown name */
  assert_int_equal(mf_get(f, "floats", MF_F64, &p, &r, &c), MR_EFORMAT);
  assert_int_equal(mf_get(f, "nope", MF_F32, &p, &r, &c), MR_ENOTFOUND);
  mf_close(f);
  /* no leftover temporary file */
  char tmp[300];
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  assert_int_not_equal(access(tmp, F_OK), 0);
  unlink(path);
}

static void test_corrupt_payload(void **state) {
  (void)state;
  char path[256], err[256];
  tmp_path(path, sizeof(path), "crc");
  write_sample(path);
  patch_byte(path, file_size(path) - 100, 0x01);
  mf_file *f = NULL;
  assert_int_equal(mf_open(path, &f, err, sizeof(err)), MR_ECORRUPT);
  assert_null(f);
  assert_non_null(strstr(err, path));
  assert_non_null(strstr(err, "checksum"));
  unlink(path);
}

static void test_truncated(void **state) {
  (void)state;
  char path[256], err[256];
  tmp_path(path, sizeof(path), "trunc");
  write_sample(path);
  long full = file_size(path);
  long cuts[] = {full - 1, full / 2, 70, 64, 63, 10, 0};
  for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
    assert_int_equal(truncate(path, cuts[i]), 0);
    mf_file *f = NULL;
    int rc = mf_open(path, &f, err, sizeof(err));
    assert_true(rc == MR_ECORRUPT || rc == MR_EFORMAT);
    assert_null(f);
    assert_non_null(strstr(err, path));
  }
  unlink(path);
}

/* Rewrites a u64 field of the first section-table entry (at 64 + field_off) and re-seals the
 * CRC, so only the bounds checks stand between the reader and a bad access. */
static void patch_entry_u64(const char *path, long field_off, uint64_t value) {
  long n = file_size(path);
  unsigned char *buf = malloc((size_t)n);
  FILE *f = fopen(path, "r+b");
  assert_non_null(f);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  memcpy(buf + 64 + field_off, &value, 8);
  uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf + 64, (uInt)(n - 64));
  memcpy(buf + 40, &crc, 4);
  fseek(f, 0, SEEK_SET);
  assert_int_equal(fwrite(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  free(buf);
}

static void test_section_bounds(void **state) {
  (void)state;
  char path[256], err[256];
  mf_file *f = NULL;
  tmp_path(path, sizeof(path), "bounds");
  /* entry layout: name[32] dtype u32 pad u32 rows@40 cols@48 offset@56 bytes@64 */
  struct {
    long off;
    uint64_t value;
  } cases[] = {
      {40, UINT64_MAX / 2}, /* rows * cols * 4 overflows */
      {40, 8},              /* rows * cols * 4 != bytes */
      {56, 1u << 30},       /* offset past the end */
      {56, 65},             /* misaligned */
      {64, UINT64_MAX - 8}, /* bytes huge (and != shape) */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    write_sample(path);
    patch_entry_u64(path, cases[i].off, cases[i].value);
    assert_int_equal(mf_open(path, &f, err, sizeof(err)), MR_EFORMAT);
    assert_null(f);
    assert_non_null(strstr(err, "floats"));
  }
  /* a section whose shape and size agree but run past the end of the file */
  write_sample(path);
  patch_entry_u64(path, 40, 7u << 20);
  patch_entry_u64(path, 64, (uint64_t)(7u << 20) * 5 * 4);
  assert_int_equal(mf_open(path, &f, err, sizeof(err)), MR_EFORMAT);
  assert_non_null(strstr(err, "bounds"));
  unlink(path);
}

static void test_bad_magic_and_version(void **state) {
  (void)state;
  char path[256], err[256];
  mf_file *f = NULL;
  tmp_path(path, sizeof(path), "magic");
  write_sample(path);
  patch_byte(path, 0, 0x20);
  assert_int_equal(mf_open(path, &f, err, sizeof(err)), MR_EFORMAT);
  assert_non_null(strstr(err, "magic"));
  write_sample(path);
  patch_byte(path, 8, 0x02); /* version 1 -> 3 */
  assert_int_equal(mf_open(path, &f, err, sizeof(err)), MR_EVERSION);
  assert_non_null(strstr(err, "version"));
  assert_null(f);
  unlink(path);
}

static void test_garbage_and_missing(void **state) {
  (void)state;
  char path[256], err[256];
  mf_file *f = NULL;
  tmp_path(path, sizeof(path), "garbage");
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  srand(7);
  for (int i = 0; i < 4096; i++)
    fputc(rand() & 0xff, fp);
  fclose(fp);
  assert_int_equal(mf_open(path, &f, err, sizeof(err)), MR_EFORMAT);
  /* correct magic and version but garbage after it */
  fp = fopen(path, "r+b");
  fwrite("MRMODEL1\x01\x00\x00\x00", 1, 12, fp);
  fclose(fp);
  int rc = mf_open(path, &f, err, sizeof(err));
  assert_true(rc == MR_ECORRUPT || rc == MR_EFORMAT);
  unlink(path);
  assert_int_equal(mf_open("/tmp/definitely/not/here.bin", &f, err, sizeof(err)), MR_ENOTFOUND);
  assert_null(f);
  assert_non_null(strstr(err, "/tmp/definitely/not/here.bin"));
  mf_close(NULL);
}

static void test_bad_args(void **state) {
  (void)state;
  char path[256];
  tmp_path(path, sizeof(path), "args");
  float v = 1.0f;
  mf_section bad_dtype = {"x", (mf_dtype)9, 1, 1, &v};
  assert_int_equal(mf_write(path, "t", &bad_dtype, 1), MR_EINVAL);
  mf_section long_name = {"a_name_that_is_far_too_long_for_the_table", MF_F32, 1, 1, &v};
  assert_int_equal(mf_write(path, "t", &long_name, 1), MR_EINVAL);
  assert_int_equal(mf_write(path, "a_kind_that_is_too_long", NULL, 0), MR_EINVAL);
  /* zero sections is a valid (empty) file */
  assert_int_equal(mf_write(path, "empty", NULL, 0), MR_OK);
  mf_file *f = NULL;
  assert_int_equal(mf_open(path, &f, NULL, 0), MR_OK);
  assert_string_equal(mf_kind(f), "empty");
  assert_int_equal(mf_get(f, "x", MF_F32, NULL, NULL, NULL), MR_ENOTFOUND);
  mf_close(f);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_corrupt_payload),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_section_bounds),
      cmocka_unit_test(test_bad_magic_and_version),
      cmocka_unit_test(test_garbage_and_missing),
      cmocka_unit_test(test_bad_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
