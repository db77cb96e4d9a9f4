/* The plugin registry: ABI mismatch, missing entry symbol, conflicts,
 * shadowing, lookups. The test plugins live in their own build dirs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npu/plugin_registry.h"
#include "test_support.h"

#define PLUGINS NPU_TEST_PLUGIN_ROOT

static npu_plugin_registry_t *make(const char *dir1, const char *dir2) {
  npu_plugin_registry_t *reg = NULL;
  assert_ok(npu_plugin_registry_create(NPU_PLUGIN_REGISTRY_NO_ENV | NPU_PLUGIN_REGISTRY_NO_DEFAULT_DIRS, &reg));
  if (dir1) assert_ok(npu_plugin_registry_add_path(reg, dir1));
  if (dir2) assert_ok(npu_plugin_registry_add_path(reg, dir2));
  return reg;
}

static void test_abi_mismatch(void **state) {
  (void)state;
  npu_plugin_registry_t *reg = make(PLUGINS "/abi999", NULL);
  char want[256];
  snprintf(want, sizeof want, "plugin npu-test-abi999.so was built for plugin ABI 999, this npuc has ABI %u",
           (unsigned)NPU_PLUGIN_ABI_VERSION);
  assert_error_contains(npu_plugin_registry_load(reg), want);
  assert_int_equal(npu_plugin_registry_count(reg), 0);
  npu_plugin_registry_destroy(reg);
  reg = make(NULL, NULL);
  npu_status_t s = npu_plugin_registry_load_file(reg, PLUGINS "/abi999/npu-test-abi999.so");
  assert_int_equal(npu_status_code(s), NPU_STATUS_ABI_MISMATCH);
  npu_status_free(s);
  npu_plugin_registry_destroy(reg);
}

static void test_missing_entry(void **state) {
  (void)state;
  npu_plugin_registry_t *reg = make(PLUGINS "/noentry", NULL);
  assert_error_contains(npu_plugin_registry_load(reg), "npu-test-noentry.so does not export the entry symbol 'npu_plugin_entry'");
  npu_plugin_registry_destroy(reg);
}

static void test_dlopen_failure(void **state) {
  (void)state;
  const char *dir = npu_test_tmpdir("badso");
  char path[4096];
  snprintf(path, sizeof path, "%s/npu-garbage.so", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("not an ELF file\n", f);
  fclose(f);
  npu_plugin_registry_t *reg = make(dir, NULL);
  assert_error_contains(npu_plugin_registry_load(reg), "npu-garbage.so: cannot load plugin: ");
  npu_plugin_registry_destroy(reg);
}

static void test_duplicate_pass(void **state) {
  (void)state;
  npu_plugin_registry_t *reg = make(PLUGINS "/good", PLUGINS "/dup");
  npu_status_t s = npu_plugin_registry_load(reg);
  assert_non_null(s);
  const char *m = npu_status_message(s);
  assert_non_null(strstr(m, "pass 'test-opts' is provided by two plugins"));
  assert_non_null(strstr(m, "good/npu-test-opts.so"));
  assert_non_null(strstr(m, "dup/npu-test-dup.so"));
  npu_status_free(s);
  npu_plugin_registry_destroy(reg);
}

static void test_lookup(void **state) {
  (void)state;
  npu_plugin_registry_t *reg = make(PLUGINS "/good", PLUGINS "/does-not-exist");
  assert_ok(npu_plugin_registry_load(reg));
  assert_int_equal(npu_plugin_registry_count(reg), 1);
  const npu_plugin_record_t *rec = NULL;
  const npu_pass_info_t *p = npu_plugin_registry_find_pass(reg, "test-opts", &rec);
  assert_non_null(p);
  assert_int_equal(p->num_options, 5);
  assert_non_null(rec);
  assert_non_null(strstr(rec->path, "good/npu-test-opts.so"));
  assert_string_equal(rec->descriptor->version, "1.0");
  assert_null(npu_plugin_registry_find_pass(reg, "nope", NULL));
  assert_non_null(npu_plugin_registry_find_backend(reg, "test-null", NULL));
  assert_null(npu_plugin_registry_find_backend(reg, "test-opts", NULL));
  /* Loading again is a no-op. */
  assert_ok(npu_plugin_registry_load(reg));
  assert_int_equal(npu_plugin_registry_count(reg), 1);
  npu_plugin_registry_destroy(reg);
}

static void test_shadowing(void **state) {
  (void)state;
  /* shadow/npu-test-opts.so comes first: good/npu-test-opts.so is skipped. */
  npu_plugin_registry_t *reg = make(PLUGINS "/shadow", PLUGINS "/good");
  assert_ok(npu_plugin_registry_load(reg));
  assert_int_equal(npu_plugin_registry_count(reg), 1);
  const npu_plugin_record_t *rec = NULL;
  assert_non_null(npu_plugin_registry_find_pass(reg, "test-opts", &rec));
  assert_string_equal(rec->descriptor->name, "test-shadow");
  assert_null(npu_plugin_registry_find_backend(reg, "test-null", NULL));
  npu_plugin_registry_destroy(reg);
}

static void test_search_path_order(void **state) {
  (void)state;
  setenv("NPU_PLUGIN_PATH", "/env/a::/env/b", 1);
  npu_plugin_registry_t *reg = NULL;
  assert_ok(npu_plugin_registry_create(0, &reg));
  assert_ok(npu_plugin_registry_add_path(reg, "/explicit"));
  /* explicit, two from NPU_PLUGIN_PATH, then the bundled plugins: this test's
   * libnpuc lives in the build tree, so that is the build tree's plugin dir
   * and not the install prefix's. */
  assert_int_equal(npu_plugin_registry_search_path_count(reg), 4);
  assert_string_equal(npu_plugin_registry_search_path(reg, 0), "/explicit");
  assert_string_equal(npu_plugin_registry_search_path(reg, 1), "/env/a");
  assert_string_equal(npu_plugin_registry_search_path(reg, 2), "/env/b");
  int32_t n = npu_plugin_registry_search_path_count(reg);
  assert_string_equal(npu_plugin_registry_search_path(reg, n - 1), NPU_BUILD_PLUGIN_DIR);
  npu_plugin_registry_destroy(reg);
  unsetenv("NPU_PLUGIN_PATH");
  /* The default dirs hold the ir-json backend. */
  assert_ok(npu_plugin_registry_create(NPU_PLUGIN_REGISTRY_NO_ENV, &reg));
  assert_ok(npu_plugin_registry_load(reg));
  const npu_backend_info_t *b = npu_plugin_registry_find_backend(reg, "ir-json", NULL);
  assert_non_null(b);
  assert_string_equal(b->output_extension, ".json");
  npu_plugin_registry_destroy(reg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_abi_mismatch),   cmocka_unit_test(test_missing_entry),
      cmocka_unit_test(test_dlopen_failure), cmocka_unit_test(test_duplicate_pass),
      cmocka_unit_test(test_lookup),         cmocka_unit_test(test_shadowing),
      cmocka_unit_test(test_search_path_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
