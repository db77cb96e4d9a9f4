/* The bad-input corpus tests/corpus/yaml: each file must fail with the
 * message listed in EXPECTED.txt ("FILE<TAB>substring"), matched against
 * "LOCATION: error: MESSAGE" as npuc prints it. */
#include <stdlib.h>
#include <string.h>

#include "npu/pipeline.h"
#include "test_support.h"

#define CORPUS NPU_SOURCE_DIR "/tests/corpus/yaml"

static void test_corpus(void **state) {
  (void)state;
  npu_plugin_registry_t *reg = NULL;
  assert_ok(npu_plugin_registry_create(NPU_PLUGIN_REGISTRY_NO_ENV, &reg));
  assert_ok(npu_plugin_registry_add_path(reg, NPU_TEST_PLUGIN_ROOT "/good"));
  assert_ok(npu_plugin_registry_load(reg));
  char *expected = npu_test_read_file(CORPUS "/EXPECTED.txt", NULL);
  assert_non_null(expected);
  int checked = 0, failed = 0;
  for (char *line = strtok(expected, "\n"); line; line = strtok(NULL, "\n")) {
    if (line[0] == '#' || !line[0]) continue;
    char *tab = strchr(line, '\t');
    assert_non_null(tab);
    *tab = '\0';
    const char *needle = tab + 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", CORPUS, line);
    npu_pipeline_t *p = NULL;
    npu_status_t s = npu_pipeline_parse_file(path, &p);
    if (!s) s = npu_pipeline_resolve(p, reg);
    npu_pipeline_destroy(p);
    char buf[8192] = "(no error)";
    if (s) {
      const char *loc = npu_status_location(s);
      snprintf(buf, sizeof buf, "%s%s%s", loc ? loc : "", loc ? ": error: " : "error: ",
               npu_status_message(s));
      npu_status_free(s);
    }
    if (!strstr(buf, needle)) {
      print_error("%s: got \"%s\", expected \"%s\"\n", line, buf, needle);
      failed++;
    }
    checked++;
  }
  free(expected);
  npu_plugin_registry_destroy(reg);
  print_message("%d corpus files checked\n", checked);
  assert_true(checked >= 8);
  assert_int_equal(failed, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_corpus)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
