/* .npy reading and writing (npu/npy.h). */
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npu/npy.h"

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  if (n) assert_int_equal(fwrite(data, 1, n, f), n);
  fclose(f);
}

static void test_read_fixture(void **state) {
  (void)state;
  npu_npy_t a;
  assert_ok(npu_npy_read(npu_test_fixture("tiny-resnet/golden/input.npy"), &a));
  assert_int_equal(a.dtype, NPU_DTYPE_FLOAT32);
  assert_int_equal(a.shape.rank, 4);
  assert_int_equal(a.shape.dims[0], 1);
  assert_int_equal(a.shape.dims[1], 3);
  assert_int_equal(a.shape.dims[2], 32);
  assert_int_equal(a.shape.dims[3], 32);
  assert_int_equal(a.size, 3 * 32 * 32 * 4);
  assert_non_null(a.data);
  npu_npy_free(&a);
  assert_null(a.data);
  npu_npy_free(&a); /* idempotent */
  npu_npy_free(NULL);
  assert_ok(npu_npy_read(npu_test_fixture("tiny-resnet/golden/output.npy"), &a));
  assert_int_equal(a.dtype, NPU_DTYPE_FLOAT32);
  npu_npy_free(&a);
}

static void roundtrip(npu_dtype_t dt, const npu_shape_t *shape, const void *data, size_t bytes) {
  const char *dir = npu_test_tmpdir("npy");
  char path[4096];
  snprintf(path, sizeof path, "%s/a.npy", dir);
  assert_ok(npu_npy_write(path, dt, shape, data));
  /* Header is padded to 64 bytes. */
  size_t n;
  char *raw = npu_test_read_file(path, &n);
  assert_non_null(raw);
  assert_int_equal((n - bytes) % 64, 0);
  assert_int_equal(raw[n - bytes - 1], '\n');
  free(raw);
  npu_npy_t a;
  assert_ok(npu_npy_read(path, &a));
  assert_int_equal(a.dtype, dt);
  assert_int_equal(a.shape.rank, shape->rank);
  for (int i = 0; i < shape->rank; i++) assert_int_equal(a.shape.dims[i], shape->dims[i]);
  assert_int_equal(a.size, bytes);
  if (bytes) assert_memory_equal(a.data, data, bytes);
  npu_npy_free(&a);
}

static void test_roundtrip(void **state) {
  (void)state;
  float f[6] = {1, -2, 3.5f, 0, 1e-30f, 7};
  roundtrip(NPU_DTYPE_FLOAT32, &(npu_shape_t){2, {2, 3}}, f, sizeof f);
  double d[3] = {1.25, -8, 3e300};
  roundtrip(NPU_DTYPE_FLOAT64, &(npu_shape_t){1, {3}}, d, sizeof d);
  int64_t i64[4] = {1, -1, INT64_MAX, INT64_MIN};
  roundtrip(NPU_DTYPE_INT64, &(npu_shape_t){3, {1, 4, 1}}, i64, sizeof i64);
  int32_t i32[2] = {5, -7};
  roundtrip(NPU_DTYPE_INT32, &(npu_shape_t){1, {2}}, i32, sizeof i32);
  uint16_t h[2] = {0x3c00, 0xc000};
  roundtrip(NPU_DTYPE_FLOAT16, &(npu_shape_t){1, {2}}, h, sizeof h);
  uint8_t b[3] = {1, 0, 1};
  roundtrip(NPU_DTYPE_BOOL, &(npu_shape_t){1, {3}}, b, sizeof b);
  roundtrip(NPU_DTYPE_UINT8, &(npu_shape_t){1, {3}}, b, sizeof b);
  roundtrip(NPU_DTYPE_FLOAT32, &(npu_shape_t){0, {0}}, f, 4);        /* scalar */
  roundtrip(NPU_DTYPE_FLOAT32, &(npu_shape_t){2, {0, 5}}, NULL, 0);  /* empty */

  /* bf16 is written as float32. */
  const char *dir = npu_test_tmpdir("npy-bf16");
  char path[4096];
  snprintf(path, sizeof path, "%s/b.npy", dir);
  uint16_t bf[2] = {0x3f80, 0xc040}; /* 1.0, -3.0 */
  assert_ok(npu_npy_write(path, NPU_DTYPE_BFLOAT16, &(npu_shape_t){1, {2}}, bf));
  npu_npy_t a;
  assert_ok(npu_npy_read(path, &a));
  assert_int_equal(a.dtype, NPU_DTYPE_FLOAT32);
  assert_true(((float *)a.data)[0] == 1.0f && ((float *)a.data)[1] == -3.0f);
  npu_npy_free(&a);

  assert_error_contains(npu_npy_write(path, NPU_DTYPE_COMPLEX64, &(npu_shape_t){1, {1}}, f),
                        "complex64");
  assert_error_contains(npu_npy_write(path, NPU_DTYPE_FLOAT32, &(npu_shape_t){1, {-1}}, f),
                        "negative");
}

/* A v1 file with the given header dict (padded) and data bytes. */
static size_t make_npy(uint8_t *buf, int version, const char *dict, size_t data_bytes) {
  size_t pre = version == 1 ? 10 : 12;
  size_t n = strlen(dict);
  memcpy(buf, "\x93NUMPY", 6);
  buf[6] = (uint8_t)version;
  buf[7] = 0;
  size_t hlen = n + 1;
  if (version == 1) {
    buf[8] = (uint8_t)hlen;
    buf[9] = (uint8_t)(hlen >> 8);
  } else {
    buf[8] = (uint8_t)hlen;
    buf[9] = (uint8_t)(hlen >> 8);
    buf[10] = buf[11] = 0;
  }
  memcpy(buf + pre, dict, n);
  buf[pre + n] = '\n';
  memset(buf + pre + hlen, 0, data_bytes);
  return pre + hlen + data_bytes;
}

static void expect_bad(const void *buf, size_t n, const char *needle) {
  npu_npy_t a;
  npu_status_t s = npu_npy_read_buffer(buf, n, "bad.npy", &a);
  if (!s) {
    npu_npy_free(&a);
    fail_msg("bad npy accepted; wanted \"%s\"", needle);
  }
  assert_null(a.data);
  assert_error_contains(s, needle);
  /* And via a file. */
  const char *dir = npu_test_tmpdir("npy-bad");
  char path[4096];
  snprintf(path, sizeof path, "%s/bad.npy", dir);
  write_bytes(path, buf, n);
  s = npu_npy_read(path, &a);
  assert_non_null(s);
  npu_status_free(s);
}

static void test_garbage(void **state) {
  (void)state;
  static uint8_t buf[4096];
  size_t n = make_npy(buf, 2, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", 16);
  npu_npy_t a;
  assert_ok(npu_npy_read_buffer(buf, n, "v2", &a));
  assert_int_equal(a.dtype, NPU_DTYPE_INT64);
  npu_npy_free(&a);
  n = make_npy(buf, 1, "{\"shape\": (2, 2), \"descr\": \"|u1\", \"fortran_order\": False}", 4);
  assert_ok(npu_npy_read_buffer(buf, n, "v1", &a));
  assert_int_equal(a.shape.rank, 2);
  npu_npy_free(&a);

  expect_bad("", 0, "bad magic");
  expect_bad("\x93NUMPY", 6, "bad magic");
  expect_bad("PK\x03\x04xxxxxxxx", 12, "bad magic");
  expect_bad("\x93NUMPY\x03\x00\x10\x00", 10, "version");
  expect_bad("\x93NUMPY\x01\x00\xff\xff{", 11, "truncated");
  expect_bad("\x93NUMPY\x02\x00\xff\xff\xff\x7f", 12, "too large");

  struct {
    const char *dict;
    size_t data;
    const char *needle;
  } cases[] = {
      {"{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8, "fortran_order"},
      {"{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8, "'>f4'"},
      {"{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16, "'<c8'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 7, "needs 8"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 9, "needs 8"},
      {"{'descr': '<f4', 'fortran_order': False, }", 8, "lacks"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8, "'x'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8, "'descr'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", 8, "malformed"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", 8, "malformed"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}", 4, "malformed"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", 4,
       "malformed"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296)}",
       4, "overflow"},
      {"{'descr': '<f4', 'fortran_order': maybe, 'shape': (2,)}", 8, "malformed"},
      {"{'descr': '<f4 , 'fortran_order': False, 'shape': (2,)}", 8, "malformed"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} trailing", 8, "malformed"},
      {"['descr']", 8, "malformed"},
      {"{", 0, "malformed"},
      {"", 0, "malformed"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    n = make_npy(buf, 1, cases[i].dict, cases[i].data);
    expect_bad(buf, n, cases[i].needle);
  }

  /* Deterministic mutations of a valid file must never crash. */
  size_t good_n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }",
                           24);
  uint8_t mutated[4096];
  uint32_t seed = 12345;
  for (int iter = 0; iter < 2000; iter++) {
    memcpy(mutated, buf, good_n);
    size_t len = good_n;
    for (int k = 0; k < 3; k++) {
      seed = seed * 1664525u + 1013904223u;
      mutated[(seed >> 8) % good_n] = (uint8_t)(seed >> 24);
    }
    seed = seed * 1664525u + 1013904223u;
    if (seed & 1) len = (seed >> 8) % (good_n + 1);
    npu_status_t s = npu_npy_read_buffer(mutated, len, "mut", &a);
    if (s) npu_status_free(s);
    else npu_npy_free(&a);
  }
  assert_error_contains(npu_npy_read("/nonexistent/x.npy", &a), "/nonexistent/x.npy");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_read_fixture),
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_garbage),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
