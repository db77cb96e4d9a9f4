/* Imports every shared fixture IR: the importer runs the verifier, which runs
 * every op's infer against the shapes and dtypes the file records. */
#include "test_support.h"

#include <stdio.h>

#include "npu/graph.h"
#include "npu/graph_io.h"
#include "npu/ops.h"

static void import_one(const char *relative, int32_t want_nodes) {
  const char *path = npu_test_shared_fixture(relative);
  if (!path) {
    print_message("skipping %s: ../shared/fixtures is absent\n", relative);
    skip();
    return;
  }
  npu_graph_t *g = NULL;
  assert_ok(npu_graph_import_json_file(path, &g));
  assert_non_null(g);
  assert_int_equal(npu_graph_node_count(g), want_nodes);
  assert_ok(npu_graph_verify(g));
  /* Every node's op is a builtin with a summary. */
  for (npu_node_id_t n = npu_graph_first_node(g); n != NPU_NO_NODE; n = npu_graph_next_node(g, n))
    assert_non_null(npu_graph_node(g, n)->schema->summary);
  npu_graph_destroy(g);
}

static void test_resnet18(void **state) { (void)state; import_one("resnet18/model_ir.json", 69); }
static void test_tiny_resnet(void **state) { (void)state; import_one("tiny-resnet/model_ir.json", 23); }
static void test_qwen_tiny_prefill(void **state) { (void)state; import_one("qwen-tiny/prefill_ir.json", 166); }
static void test_qwen_tiny_decode(void **state) { (void)state; import_one("qwen-tiny/decode_ir.json", 160); }
static void test_qwen15_prefill(void **state) { (void)state; import_one("qwen2.5-1.5b/prefill_ir.json", 2116); }
static void test_qwen15_decode(void **state) { (void)state; import_one("qwen2.5-1.5b/decode_ir.json", 2032); }

/* The copies in tests/fixtures work without ../shared. */
static void test_local_copies(void **state) {
  (void)state;
  const char *files[] = {"tiny-resnet/model_ir.json", "qwen-tiny/prefill_ir.json", "qwen-tiny/decode_ir.json"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    npu_graph_t *g = NULL;
    assert_ok(npu_graph_import_json_file(npu_test_fixture(files[i]), &g));
    npu_graph_destroy(g);
  }
}

static int setup(void **state) {
  (void)state;
  assert_ok(npu_ops_register_builtins());
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_resnet18),          cmocka_unit_test(test_tiny_resnet),
      cmocka_unit_test(test_qwen_tiny_prefill), cmocka_unit_test(test_qwen_tiny_decode),
      cmocka_unit_test(test_qwen15_prefill),    cmocka_unit_test(test_qwen15_decode),
      cmocka_unit_test(test_local_copies),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
