/* Shared helpers for the cmocka tests. cmocka needs these includes first. */
#ifndef NPU_TEST_SUPPORT_H
#define NPU_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "npu/status.h"

/* Fails the test with the status message if s is an error. */
#define assert_ok(expr)                                                        \
  do {                                                                         \
    npu_status_t s_ = (expr);                                                  \
    if (s_) {                                                                  \
      fail_msg("%s failed: %s%s%s", #expr,                                     \
               npu_status_location(s_) ? npu_status_location(s_) : "",         \
               npu_status_location(s_) ? ": " : "", npu_status_message(s_));   \
    }                                                                          \
  } while (0)

/* Asserts `expr` fails, that its "location: message" contains `needle`, and
 * frees the status. */
#define assert_error_contains(expr, needle) \
  npu_test_assert_error((expr), (needle), #expr, __FILE__, __LINE__)
void npu_test_assert_error(npu_status_t s, const char *needle, const char *expr,
                           const char *file, int line);

/* "<fixtures>/<relative>" in a static buffer (tests/fixtures). */
const char *npu_test_fixture(const char *relative);
/* "<../shared/fixtures>/<relative>", or NULL if ../shared is absent. */
const char *npu_test_shared_fixture(const char *relative);
/* Reads a whole file; the caller frees. NULL on failure. */
char *npu_test_read_file(const char *path, size_t *out_size);
/* A fresh directory under the build tree's Testing/tmp, unique per call. */
const char *npu_test_tmpdir(const char *tag);

#endif
