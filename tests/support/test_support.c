#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void npu_test_assert_error(npu_status_t s, const char *needle, const char *expr,
                           const char *file, int line) {
  if (!s) {
    _fail(file, line);
    return;
  }
  char buf[4096];
  snprintf(buf, sizeof buf, "%s%s%s", npu_status_location(s) ? npu_status_location(s) : "",
           npu_status_location(s) ? ": " : "", npu_status_message(s));
  npu_status_free(s);
  if (!strstr(buf, needle)) {
    print_error("%s: error \"%s\" does not contain \"%s\"\n", expr, buf, needle);
    _fail(file, line);
  }
}

const char *npu_test_fixture(const char *relative) {
  static char buf[4][4096];
  static int next;
  char *b = buf[next++ % 4];
  snprintf(b, sizeof buf[0], "%s/%s", NPU_TEST_FIXTURES, relative);
  return b;
}

const char *npu_test_shared_fixture(const char *relative) {
  static char buf[4][4096];
  static int next;
  struct stat st;
  if (stat(NPU_SHARED_FIXTURES, &st) != 0) return NULL;
  char *b = buf[next++ % 4];
  snprintf(b, sizeof buf[0], "%s/%s", NPU_SHARED_FIXTURES, relative);
  return b;
}

char *npu_test_read_file(const char *path, size_t *out_size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *data = malloc((size_t)n + 1);
  if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
    free(data);
    data = NULL;
  }
  fclose(f);
  if (data) {
    data[n] = '\0';
    if (out_size) *out_size = (size_t)n;
  }
  return data;
}

const char *npu_test_tmpdir(const char *tag) {
  static char buf[4096];
  static int counter;
  mkdir(NPU_BINARY_DIR "/Testing", 0755);
  mkdir(NPU_BINARY_DIR "/Testing/tmp", 0755);
  snprintf(buf, sizeof buf, "%s/Testing/tmp/%s-%d-%d", NPU_BINARY_DIR, tag, (int)getpid(), counter++);
  mkdir(buf, 0755);
  return buf;
}
