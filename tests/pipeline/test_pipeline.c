/* The YAML pipeline loader and the pass manager. */
#include <stdlib.h>
#include <string.h>

#include "npu/graph.h"
#include "npu/pipeline.h"
#include "test_support.h"

#define PLUGINS NPU_TEST_PLUGIN_ROOT

static npu_status_t parse(const char *text, npu_pipeline_t **out) {
  return npu_pipeline_parse(text, strlen(text), "p.yaml", "base", out);
}

static void expect_error(const char *text, const char *needle) {
  npu_pipeline_t *p = NULL;
  assert_error_contains(parse(text, &p), needle);
  assert_null(p);
}

static void test_parse_ok(void **state) {
  (void)state;
  npu_pipeline_t *p = NULL;
  assert_ok(parse("input: ../m.json\n"
                  "plugin_path: [extra, /abs/dir]\n"
                  "passes:\n"
                  "  - canonicalize\n"
                  "  - bn-fold: {}\n"
                  "  - test-opts:\n"
                  "      count: 4\n"
                  "  - dce:\n"
                  "backend:\n"
                  "  name: test-null\n"
                  "  options: {banner: hi}\n"
                  "output: out.bin\n",
                  &p));
  assert_string_equal(npu_pipeline_input(p), "base/../m.json");
  assert_int_equal(npu_pipeline_plugin_path_count(p), 2);
  assert_string_equal(npu_pipeline_plugin_path(p, 0), "base/extra");
  assert_string_equal(npu_pipeline_plugin_path(p, 1), "/abs/dir");
  assert_int_equal(npu_pipeline_pass_count(p), 4);
  assert_string_equal(npu_pipeline_pass_name(p, 0), "canonicalize");
  assert_string_equal(npu_pipeline_pass_name(p, 2), "test-opts");
  assert_string_equal(npu_pipeline_pass_name(p, 3), "dce");
  assert_string_equal(npu_pipeline_backend_name(p), "test-null");
  assert_string_equal(npu_pipeline_output(p), "out.bin");
  npu_pipeline_destroy(p);

  assert_ok(parse("input: m.json\npasses: []\nbackend: ir-json\n", &p));
  assert_string_equal(npu_pipeline_backend_name(p), "ir-json");
  assert_null(npu_pipeline_output(p));
  npu_pipeline_destroy(p);
  assert_ok(parse("input: m.json\n", &p));
  assert_string_equal(npu_pipeline_backend_name(p), "ir-json");
  assert_int_equal(npu_pipeline_pass_count(p), 0);
  npu_pipeline_destroy(p);
}

static void test_parse_errors(void **state) {
  (void)state;
  expect_error("input: a\npasses: [x\n", "p.yaml:3:1: YAML syntax error: did not find expected ',' or ']'");
  expect_error("input: a\n  bad: indent\n", "p.yaml:2:6: YAML syntax error: mapping values are not allowed");
  expect_error("input: a\ninptu: b\n", "p.yaml:2:1: unknown key 'inptu' (expected input, plugin_path, passes, backend, output)");
  expect_error("input: a\npasses: dce\n", "p.yaml:2:9: 'passes' must be a sequence (a list of passes), not a scalar");
  expect_error("input: a\npasses:\n  x: 1\n", "p.yaml:3:3: 'passes' must be a sequence");
  expect_error("input: a\npasses:\n", "p.yaml:2:8: 'passes' must be a sequence (a list of passes), not empty");
  expect_error("input: a\ninput: b\n", "p.yaml:2:1: duplicate key 'input' in the pipeline (first at line 1, column 1)");
  expect_error("input: a\npasses:\n  - t: {n: 1, n: 2}\n", "p.yaml:3:15: duplicate key 'n' in options");
  expect_error("input: a\npasses:\n  - t: {n: {m: 1}}\n", "p.yaml:3:12: option 'n' of pass 't' must be a scalar value, not a mapping");
  expect_error("input: a\npasses:\n  - t: {n: [1]}\n", "p.yaml:3:12: option 'n' of pass 't' must be a scalar value, not a sequence");
  expect_error("input: a\npasses:\n  - t: {n: }\n", "option 'n' of pass 't' has no value");
  expect_error("input: a\npasses:\n  - t: [1]\n", "p.yaml:3:8: options of pass 't' must be a mapping (name: value), not a sequence");
  expect_error("input: a\npasses:\n  - t: {}\n    u: {}\n", "p.yaml:3:5: a pass entry must be NAME or NAME: {options}; this mapping has 2 keys");
  expect_error("input: a\npasses:\n  - [t]\n", "p.yaml:3:5: a pass entry must be NAME or NAME: {options}, not a sequence");
  expect_error("input: a\npasses:\n  - ~\n", "p.yaml:3:5: a pass must be named by a string");
  expect_error("input: [a]\n", "p.yaml:1:8: 'input' must be a path (a string), not a sequence");
  expect_error("input: a\nbackend: {options: {}}\n", "p.yaml:2:10: 'backend' needs a 'name'");
  expect_error("input: a\nbackend: {name: x, nme: y}\n", "p.yaml:2:20: unknown key 'nme' in 'backend' (expected name, options)");
  expect_error("input: a\nbackend: [x]\n", "p.yaml:2:10: 'backend' must be a name or a mapping");
  expect_error("input: a\nplugin_path: {a: b}\n", "p.yaml:2:14: 'plugin_path' must be a sequence of directories");
  expect_error("- a\n- b\n", "p.yaml:1:1: a pipeline must be a mapping");
  expect_error("", "p.yaml: empty pipeline");
  expect_error("# just a comment\n", "p.yaml: empty pipeline");
  expect_error("input: a\n---\ninput: b\n", "p.yaml:3:1: a pipeline file holds one YAML document");
  expect_error("input: a\n? [x]\n: y\n", "p.yaml:2:3: keys of the pipeline must be plain names, not a sequence");
  expect_error("input: a\npasses: [\"\\x\"]\n", "YAML syntax error");
}

static npu_plugin_registry_t *test_registry(void) {
  npu_plugin_registry_t *reg = NULL;
  assert_ok(npu_plugin_registry_create(NPU_PLUGIN_REGISTRY_NO_ENV, &reg));
  assert_ok(npu_plugin_registry_add_path(reg, PLUGINS "/good"));
  assert_ok(npu_plugin_registry_load(reg));
  return reg;
}

static npu_status_t parse_resolve(const char *text, npu_plugin_registry_t *reg, npu_pipeline_t **out) {
  char *full = NULL;
  size_t n = strlen(text) + 512;
  full = malloc(n);
  snprintf(full, n, "input: %s\n%s", npu_test_fixture("tiny-resnet/model_ir.json"), text);
  npu_status_t s = npu_pipeline_parse(full, strlen(full), "r.yaml", ".", out);
  free(full);
  if (s) return s;
  s = npu_pipeline_resolve(*out, reg);
  if (s) {
    npu_pipeline_destroy(*out);
    *out = NULL;
  }
  return s;
}

static void test_resolve_errors(void **state) {
  (void)state;
  npu_plugin_registry_t *reg = test_registry();
  npu_pipeline_t *p = NULL;
  assert_error_contains(parse_resolve("passes: [test-opts, nope]\n", reg, &p), "r.yaml:2:21: unknown pass 'nope'");
  assert_error_contains(parse_resolve("passes:\n  - test-opts: {colour: red}\n", reg, &p), "r.yaml:3:17: pass 'test-opts' has no option 'colour'");
  assert_error_contains(parse_resolve("passes:\n  - test-opts: {count: 1.5}\n", reg, &p), "r.yaml:3:24: option 'count' of pass 'test-opts' expects an int (a 64-bit integer), got '1.5'");
  assert_error_contains(parse_resolve("passes:\n  - test-opts: {flag: \"yes\"}\n", reg, &p), "r.yaml:3:23: option 'flag' of pass 'test-opts' expects a bool");
  assert_error_contains(parse_resolve("passes:\n  - test-opts: {scale: x}\n", reg, &p), "r.yaml:3:24: option 'scale' of pass 'test-opts' expects a float, got 'x'");
  assert_error_contains(parse_resolve("passes:\n  - test-opts: {mode: turbo}\n", reg, &p), "allowed: fast, exact");
  assert_error_contains(parse_resolve("backend: nope\n", reg, &p), "r.yaml:2:10: unknown backend 'nope'");
  assert_error_contains(parse_resolve("backend: {name: test-null, options: {size: 1}}\n", reg, &p), "r.yaml:2:38: backend 'test-null' has no option 'size'");
  /* A backend from the command line has no line in the file. */
  npu_pipeline_t *q = NULL;
  assert_ok(npu_pipeline_parse("input: x\nbackend: test-null\n", 28, "b.yaml", ".", &q));
  assert_ok(npu_pipeline_set_backend(q, "cli-backend"));
  assert_error_contains(npu_pipeline_resolve(q, reg), "b.yaml: unknown backend 'cli-backend'");
  npu_pipeline_destroy(q);
  assert_ok(npu_pipeline_parse("input: missing.json\nbackend: test-null\n", 39, "m.yaml", "dir", &q));
  assert_error_contains(npu_pipeline_resolve(q, reg), "m.yaml:1:8: input file 'dir/missing.json' not found");
  assert_ok(npu_pipeline_set_input(q, "also-missing.json"));
  assert_error_contains(npu_pipeline_resolve(q, reg), "also-missing.json: input file 'also-missing.json' not found");
  npu_pipeline_destroy(q);
  assert_ok(npu_pipeline_parse("backend: test-null\n", 19, "m.yaml", "dir", &q));
  assert_error_contains(npu_pipeline_resolve(q, reg), "m.yaml: the pipeline names no 'input'");
  npu_pipeline_destroy(q);
  npu_plugin_registry_destroy(reg);
}

static char *read_stream(FILE *f) {
  fflush(f);
  long n = ftell(f);
  rewind(f);
  char *buf = calloc(1, (size_t)n + 1);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  return buf;
}

static void test_run_passes(void **state) {
  (void)state;
  npu_plugin_registry_t *reg = test_registry();
  npu_pipeline_t *p = NULL;
  assert_ok(parse_resolve("passes:\n"
                          "  - test-opts: {flag: true, count: 42, scale: 0.25, mode: exact, label: hi}\n"
                          "  - test-opts\n"
                          "backend: {name: test-null, options: {banner: hello}}\n",
                          reg, &p));
  assert_string_equal(npu_pipeline_output(p), "r.txt");
  npu_graph_t *g = NULL;
  assert_ok(npu_graph_create(&g));
  FILE *log = tmpfile();
  npu_pass_manager_options_t o = {.stats = true, .time_passes = true, .verbose = true, .log_stream = log};
  assert_ok(npu_pipeline_run_passes(p, g, &o));
  char *text = read_stream(log);
  assert_non_null(strstr(text, "test-opts: 1 flag\ntest-opts: 42 count\ntest-opts: 25 scale-x100\ntest-opts: 1 exact\ntest-opts: 1 count-set\n"));
  assert_non_null(strstr(text, "test-opts: 0 flag\ntest-opts: 3 count\ntest-opts: 50 scale-x100\ntest-opts: 0 exact\ntest-opts: 0 count-set\n"));
  assert_non_null(strstr(text, "test-opts: remark: label=hi"));
  assert_non_null(strstr(text, "total"));
  free(text);
  fclose(log);

  /* stop-after stops after the FIRST pass of that name; bad names are refused. */
  log = tmpfile();
  npu_pass_manager_options_t o2 = {.stats = true, .stop_after = "test-opts", .log_stream = log};
  assert_ok(npu_pipeline_run_passes(p, g, &o2));
  text = read_stream(log);
  assert_null(strstr(text, "test-opts: 3 count"));
  free(text);
  fclose(log);
  npu_pass_manager_options_t o3 = {.print_ir_after = "nope"};
  assert_error_contains(npu_pipeline_run_passes(p, g, &o3), "--print-ir-after=nope");

  /* The backend writes its output. */
  const char *dir = npu_test_tmpdir("pm");
  char out[4096];
  snprintf(out, sizeof out, "%s/x.txt", dir);
  assert_ok(npu_pipeline_set_output(p, out));
  assert_ok(npu_pipeline_emit(p, g, NULL));
  char *written = npu_test_read_file(out, NULL);
  assert_non_null(written);
  assert_string_equal(written, "hello\nnodes 0\n");
  free(written);
  npu_graph_destroy(g);
  npu_pipeline_destroy(p);

  /* A failing pass names itself. */
  assert_ok(parse_resolve("passes: [test-fail]\nbackend: test-null\n", reg, &p));
  assert_ok(npu_graph_create(&g));
  assert_error_contains(npu_pipeline_run_passes(p, g, NULL), "pass 'test-fail' failed: test-fail always fails");
  npu_graph_destroy(g);
  npu_pipeline_destroy(p);
  npu_plugin_registry_destroy(reg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_ok),
      cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_resolve_errors),
      cmocka_unit_test(test_run_passes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
