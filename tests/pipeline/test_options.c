/* Typed options: defaults, parsing of each type, errors with locations. */
#include <stdlib.h>
#include <string.h>

#include "npu/pipeline.h"
#include "test_support.h"

static const char *const modes[] = {"fast", "exact", NULL};
static const npu_option_spec_t specs[] = {
    {.name = "flag", .type = NPU_OPTION_BOOL, .default_value = "true"},
    {.name = "count", .type = NPU_OPTION_INT, .default_value = "-7"},
    {.name = "scale", .type = NPU_OPTION_FLOAT, .default_value = "0.25"},
    {.name = "mode", .type = NPU_OPTION_STRING, .default_value = "fast", .choices = modes},
    {.name = "label", .type = NPU_OPTION_STRING, .default_value = "x"},
};
#define NSPECS 5

static npu_status_t make1(const char *name, const char *value, npu_options_t **out) {
  npu_option_setting_t s = {.name = name, .value = value, .location = "p.yaml:3:9",
                            .name_location = "p.yaml:3:3"};
  return npu_options_create(specs, NSPECS, &s, 1, "pass 'x'", out);
}

static void test_defaults(void **state) {
  (void)state;
  npu_options_t *o = NULL;
  assert_ok(npu_options_create(specs, NSPECS, NULL, 0, "pass 'x'", &o));
  assert_true(npu_options_get_bool(o, "flag"));
  assert_int_equal(npu_options_get_int(o, "count"), -7);
  assert_true(npu_options_get_float(o, "scale") == 0.25);
  assert_string_equal(npu_options_get_string(o, "mode"), "fast");
  assert_false(npu_options_is_set(o, "count"));
  /* Undeclared names and wrong types read as zero. */
  assert_false(npu_options_get_bool(o, "nope"));
  assert_int_equal(npu_options_get_int(o, "flag"), 0);
  assert_null(npu_options_get_string(o, "count"));
  assert_true(npu_options_get_float(o, "mode") == 0.0);
  assert_string_equal(npu_options_get_text(o, "count"), "-7");
  npu_options_destroy(o);
}

static void test_set_values(void **state) {
  (void)state;
  npu_option_setting_t s[] = {
      {.name = "flag", .value = "false"},
      {.name = "count", .value = "9223372036854775807"},
      {.name = "scale", .value = "1e-3"},
      {.name = "mode", .value = "exact"},
      {.name = "label", .value = "hello world"},
  };
  npu_options_t *o = NULL;
  assert_ok(npu_options_create(specs, NSPECS, s, 5, "pass 'x'", &o));
  assert_false(npu_options_get_bool(o, "flag"));
  assert_true(npu_options_get_int(o, "count") == INT64_MAX);
  assert_true(npu_options_get_float(o, "scale") == 1e-3);
  assert_string_equal(npu_options_get_string(o, "mode"), "exact");
  assert_string_equal(npu_options_get_string(o, "label"), "hello world");
  assert_true(npu_options_is_set(o, "count"));
  npu_options_destroy(o);
}

static void test_type_errors(void **state) {
  (void)state;
  npu_options_t *o = NULL;
  assert_error_contains(make1("flag", "yes", &o), "p.yaml:3:9: option 'flag' of pass 'x' expects a bool (true or false), got 'yes'");
  assert_error_contains(make1("flag", "1", &o), "expects a bool");
  assert_error_contains(make1("count", "1.5", &o), "p.yaml:3:9: option 'count' of pass 'x' expects an int");
  assert_error_contains(make1("count", "9223372036854775808", &o), "expects an int");
  assert_error_contains(make1("count", "0x10", &o), "expects an int");
  assert_error_contains(make1("count", "", &o), "expects an int");
  assert_error_contains(make1("scale", "abc", &o), "expects a float");
  assert_error_contains(make1("scale", "nan", &o), "expects a float");
  assert_error_contains(make1("scale", "1e999", &o), "expects a float");
  assert_error_contains(make1("mode", "turbo", &o), "got 'turbo' (allowed: fast, exact)");
  assert_error_contains(make1("colour", "red", &o),
                        "p.yaml:3:3: pass 'x' has no option 'colour' (options: flag, count");
  assert_null(o);
  /* Ints are accepted as floats, signs are fine. */
  assert_ok(make1("scale", "-2", &o));
  assert_true(npu_options_get_float(o, "scale") == -2.0);
  npu_options_destroy(o);
  assert_ok(make1("count", "+12", &o));
  assert_int_equal(npu_options_get_int(o, "count"), 12);
  npu_options_destroy(o);
}

static void test_duplicate_and_bad_default(void **state) {
  (void)state;
  npu_option_setting_t s[] = {{.name = "count", .value = "1", .location = "a:1:1"},
                              {.name = "count", .value = "2", .location = "a:2:1"}};
  npu_options_t *o = NULL;
  assert_error_contains(npu_options_create(specs, NSPECS, s, 2, "pass 'x'", &o), "a:2:1: option 'count' of pass 'x' is set twice");
  static const npu_option_spec_t bad[] = {{.name = "n", .type = NPU_OPTION_INT, .default_value = "lots"}};
  assert_error_contains(npu_options_create(bad, 1, NULL, 0, "pass 'y'", &o), "pass 'y': default 'lots' of option 'n'");
  assert_ok(npu_options_create(specs, NSPECS, s, 1, "backend 'z'", &o));
  assert_int_equal(npu_options_get_int(o, "count"), 1);
  npu_options_destroy(o);
}

static void test_no_options(void **state) {
  (void)state;
  npu_option_setting_t s = {.name = "x", .value = "1", .location = "f:1:2"};
  npu_options_t *o = NULL;
  assert_error_contains(npu_options_create(NULL, 0, &s, 1, "pass 'dce'", &o), "f:1:2: pass 'dce' has no option 'x' (it takes no options)");
  assert_ok(npu_options_create(NULL, 0, NULL, 0, "pass 'dce'", &o));
  assert_null(npu_options_get_string(o, "x"));
  npu_options_destroy(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_set_values),
      cmocka_unit_test(test_type_errors),
      cmocka_unit_test(test_duplicate_and_bad_default),
      cmocka_unit_test(test_no_options),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
