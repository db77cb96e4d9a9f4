/* The pytorch-ir importer, JSON writer, printers and npu_graph_equal. */
#include "test_support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "npu/graph.h"
#include "npu/graph_io.h"

/* ---- helpers ---------------------------------------------------------------- */

static npu_status_t import_str(const char *json, npu_graph_t **g) {
  return npu_graph_import_json_buffer(json, strlen(json), "unit.json", g);
}

static const npu_node_t *node_named(const npu_graph_t *g, const char *name) {
  npu_node_id_t id = npu_graph_find_node(g, name);
  assert_int_not_equal(id, NPU_NO_NODE);
  return npu_graph_node(g, id);
}

static void round_trip(npu_graph_t *g, const char *tag) {
  char path[1024];
  snprintf(path, sizeof path, "%s/out.json", npu_test_tmpdir(tag));
  assert_ok(npu_graph_write_json_file(g, path));
  npu_graph_t *g2 = NULL;
  assert_ok(npu_graph_import_json_file(path, &g2));
  char why[512];
  if (!npu_graph_equal(g, g2, why, sizeof why)) fail_msg("%s: round trip differs: %s", tag, why);
  npu_graph_destroy(g2);
}

#define PRELUDE                                                                   \
  "{\"model_name\": \"unit\", \"graph_inputs\": [{\"name\": \"x\", \"shape\": [2, 4], " \
  "\"dtype\": \"float32\"}], \"weights\": [], \"weight_name_mapping\": {}, "

/* ---- fixtures ------------------------------------------------------------------- */

/* Counts computed with /usr/bin/python3 (json.load of each file):
 *   tiny-resnet/model_ir.json        23 nodes,   38 weights
 *   resnet18/model_ir.json           69 nodes,  122 weights
 *   qwen-tiny/prefill_ir.json       166 nodes,   33 weights
 *   qwen-tiny/decode_ir.json        160 nodes,   29 weights
 *   qwen2.5-1.5b/prefill_ir.json   2116 nodes,  397 weights
 *   qwen2.5-1.5b/decode_ir.json    2032 nodes,  341 weights */
static const struct {
  const char *path;
  bool shared;
  int32_t nodes, weights, inputs, outputs;
} fixtures[] = {
    {"tiny-resnet/model_ir.json", false, 23, 38, 1, 1},
    {"qwen-tiny/prefill_ir.json", false, 166, 33, 4, 5},
    {"qwen-tiny/decode_ir.json", false, 160, 29, 8, 5},
    {"resnet18/model_ir.json", true, 69, 122, 1, 1},
    {"qwen2.5-1.5b/prefill_ir.json", true, 2116, 397, 4, 57},
    {"qwen2.5-1.5b/decode_ir.json", true, 2032, 341, 60, 57},
};

static void test_fixtures_import_and_round_trip(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
    const char *path = fixtures[i].shared ? npu_test_shared_fixture(fixtures[i].path)
                                          : npu_test_fixture(fixtures[i].path);
    if (!path) continue; /* ../shared absent */
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", path);
    npu_graph_t *g = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_ok(npu_graph_import_json_file(copy, &g));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("# %s: %.1f ms\n", fixtures[i].path, ms);
    int32_t nw, ni, no;
    npu_graph_weights(g, &nw);
    npu_graph_inputs(g, &ni);
    npu_graph_outputs(g, &no);
    assert_int_equal(npu_graph_node_count(g), fixtures[i].nodes);
    assert_int_equal(nw, fixtures[i].weights);
    assert_int_equal(ni, fixtures[i].inputs);
    assert_int_equal(no, fixtures[i].outputs);
    round_trip(g, "json_round_trip");
    npu_graph_destroy(g);
  }
}

static void test_weight_mapping(void **state) {
  (void)state;
  npu_graph_t *g = NULL;
  assert_ok(npu_graph_import_json_file(npu_test_fixture("tiny-resnet/model_ir.json"), &g));
  npu_tensor_id_t w = npu_graph_find_tensor(g, "p_conv1_weight");
  assert_int_not_equal(w, NPU_NO_TENSOR);
  const npu_tensor_t *t = npu_graph_tensor(g, w);
  assert_string_equal(t->weight_key, "conv1.weight");
  assert_int_equal(t->role, NPU_ROLE_WEIGHT);
  /* File order is kept: the first weight of the file is first. */
  int32_t nw;
  const npu_tensor_id_t *ws = npu_graph_weights(g, &nw);
  assert_string_equal(npu_graph_tensor(g, ws[0])->weight_key, "conv1.weight");
  /* The first conv reads the graph input and the placeholder. */
  const npu_node_t *conv = node_named(g, "conv2d");
  assert_int_equal(conv->num_inputs, 2);
  assert_string_equal(npu_graph_tensor(g, conv->inputs[0])->name, "x");
  assert_int_equal(conv->inputs[1], w);
  npu_graph_destroy(g);
}

static void test_getitem(void **state) {
  (void)state;
  npu_graph_t *g = NULL;
  assert_ok(npu_graph_import_json_file(npu_test_fixture("qwen-tiny/prefill_ir.json"), &g));
  int found = 0;
  for (npu_node_id_t n = npu_graph_first_node(g); n != NPU_NO_NODE; n = npu_graph_next_node(g, n)) {
    const npu_node_t *node = npu_graph_node(g, n);
    if (strcmp(node->op, "<built-in function getitem>") != 0) continue;
    found++;
    int64_t index;
    assert_true(npu_node_attr_int(node, "index", &index));
    assert_true(index >= 0 && index < node->num_inputs);
    /* All inputs are outputs of one producer, in order. */
    npu_node_id_t p = npu_graph_tensor(g, node->inputs[0])->producer;
    assert_int_not_equal(p, NPU_NO_NODE);
    for (int32_t i = 0; i < node->num_inputs; i++) {
      assert_int_equal(npu_graph_tensor(g, node->inputs[i])->producer, p);
      assert_int_equal(npu_graph_tensor(g, node->inputs[i])->producer_output, i);
    }
  }
  assert_true(found > 0);
  npu_graph_destroy(g);
}

/* ---- exact numbers ---------------------------------------------------------------- */

static void test_infinity_and_int64_max(void **state) {
  (void)state;
  const char *json = PRELUDE
      "\"graph_outputs\": [{\"name\": \"slice_1\", \"shape\": [2, 3], \"dtype\": \"float32\"}],\n"
      "\"nodes\": [\n"
      "{\"name\": \"full\", \"op_type\": \"aten.full.default\", \"inputs\": [], \"outputs\": "
      "[{\"name\": \"full\", \"shape\": [2, 4], \"dtype\": \"float32\"}], \"attrs\": {\"size\": [2, 4], "
      "\"fill_value\": -Infinity, \"dtype\": \"torch.float32\", \"pos\": Infinity, \"nan\": NaN}},\n"
      "{\"name\": \"slice_1\", \"op_type\": \"aten.slice.Tensor\", \"inputs\": [{\"name\": \"x\", "
      "\"shape\": [2, 4], \"dtype\": \"float32\", \"producer_node\": \"x\", \"producer_output_idx\": 0}], "
      "\"outputs\": [{\"name\": \"slice_1\", \"shape\": [2, 3], \"dtype\": \"float32\"}], "
      "\"attrs\": {\"dim\": 1, \"start\": 1, \"end\": 9223372036854775807}}]}";
  npu_graph_t *g = NULL;
  assert_ok(import_str(json, &g));
  const npu_node_t *full = node_named(g, "full");
  const npu_attr_value_t *fv = npu_node_attr(full, "fill_value");
  assert_non_null(fv);
  assert_int_equal(fv->kind, NPU_ATTR_FLOAT);
  assert_true(isinf(fv->u.f) && fv->u.f < 0);
  assert_true(isinf(npu_node_attr(full, "pos")->u.f) && npu_node_attr(full, "pos")->u.f > 0);
  assert_true(isnan(npu_node_attr(full, "nan")->u.f));
  assert_int_equal(npu_node_attr(full, "dtype")->kind, NPU_ATTR_DTYPE);
  const npu_node_t *sl = node_named(g, "slice_1");
  const npu_attr_value_t *end = npu_node_attr(sl, "end");
  assert_int_equal(end->kind, NPU_ATTR_INT);
  assert_true(end->u.i == INT64_MAX);
  round_trip(g, "json_exact");
  npu_graph_destroy(g);
}

static void test_int_vs_float_and_dtype(void **state) {
  (void)state;
  const char *json = PRELUDE
      "\"graph_outputs\": [{\"name\": \"to\", \"shape\": [2, 4], \"dtype\": \"bfloat16\"}],\n"
      "\"nodes\": [\n"
      "{\"name\": \"pow_1\", \"op_type\": \"aten.pow.Tensor_Scalar\", \"inputs\": [{\"name\": \"x\", "
      "\"shape\": [2, 4], \"dtype\": \"float32\", \"producer_node\": \"x\", \"producer_output_idx\": 0}], "
      "\"outputs\": [{\"name\": \"pow_1\", \"shape\": [2, 4], \"dtype\": \"float32\"}], "
      "\"attrs\": {\"exponent\": 2}},\n"
      "{\"name\": \"mul\", \"op_type\": \"aten.mul.Tensor\", \"inputs\": [{\"name\": \"pow_1\", "
      "\"shape\": [2, 4], \"dtype\": \"float32\", \"producer_node\": \"pow_1\", \"producer_output_idx\": 0}], "
      "\"outputs\": [{\"name\": \"mul\", \"shape\": [2, 4], \"dtype\": \"float32\"}], "
      "\"attrs\": {\"other\": 2.0, \"extra\": [1, 2.5, 1e-06, true, null, \"s\"]}},\n"
      "{\"name\": \"to\", \"op_type\": \"aten.to.dtype\", \"inputs\": [{\"name\": \"mul\", "
      "\"shape\": [2, 4], \"dtype\": \"float32\", \"producer_node\": \"mul\", \"producer_output_idx\": 0}], "
      "\"outputs\": [{\"name\": \"to\", \"shape\": [2, 4], \"dtype\": \"bfloat16\"}], "
      "\"attrs\": {\"dtype\": \"torch.bfloat16\"}}]}";
  npu_graph_t *g = NULL;
  assert_ok(import_str(json, &g));
  const npu_attr_value_t *e = npu_node_attr(node_named(g, "pow_1"), "exponent");
  assert_int_equal(e->kind, NPU_ATTR_INT);
  assert_int_equal(e->u.i, 2);
  const npu_attr_value_t *o = npu_node_attr(node_named(g, "mul"), "other");
  assert_int_equal(o->kind, NPU_ATTR_FLOAT);
  assert_true(o->u.f == 2.0);
  const npu_attr_value_t *x = npu_node_attr(node_named(g, "mul"), "extra");
  assert_int_equal(x->kind, NPU_ATTR_LIST);
  assert_int_equal(x->u.list.count, 6);
  assert_int_equal(x->u.list.items[0].kind, NPU_ATTR_INT);
  assert_int_equal(x->u.list.items[1].kind, NPU_ATTR_FLOAT);
  assert_true(x->u.list.items[2].u.f == 1e-06);
  assert_int_equal(x->u.list.items[3].kind, NPU_ATTR_BOOL);
  assert_int_equal(x->u.list.items[4].kind, NPU_ATTR_NULL);
  assert_int_equal(x->u.list.items[5].kind, NPU_ATTR_STRING);
  npu_dtype_t dt;
  assert_true(npu_node_attr_dtype(node_named(g, "to"), "dtype", &dt));
  assert_int_equal(dt, NPU_DTYPE_BFLOAT16);
  round_trip(g, "json_kinds");
  npu_graph_destroy(g);
}

static void test_defaults_filled(void **state) {
  (void)state;
  const char *json =
      "{\"graph_inputs\": [{\"name\": \"x\", \"shape\": [1, 3, 8, 8], \"dtype\": \"float32\"}],"
      "\"weights\": [{\"name\": \"conv.weight\", \"shape\": [4, 3, 1, 1], \"dtype\": \"float32\"}],"
      "\"weight_name_mapping\": {\"p_conv_weight\": \"conv.weight\"},"
      "\"graph_outputs\": [{\"name\": \"conv2d\", \"shape\": [1, 4, 8, 8], \"dtype\": \"float32\"}],"
      "\"nodes\": [{\"name\": \"conv2d\", \"op_type\": \"aten.conv2d.default\", \"inputs\": ["
      "{\"name\": \"x\", \"shape\": [1, 3, 8, 8], \"dtype\": \"float32\", \"producer_node\": \"x\", "
      "\"producer_output_idx\": 0}, {\"name\": \"p_conv_weight\", \"shape\": [4, 3, 1, 1], "
      "\"dtype\": \"float32\"}], \"outputs\": [{\"name\": \"conv2d\", \"shape\": [1, 4, 8, 8], "
      "\"dtype\": \"float32\"}], \"attrs\": {}}]}";
  npu_graph_t *g = NULL;
  assert_ok(import_str(json, &g));
  const npu_node_t *conv = node_named(g, "conv2d");
  int64_t v[8];
  int32_t n;
  assert_true(npu_node_attr_ints(conv, "stride", v, 8, &n));
  assert_int_equal(n, 2);
  assert_int_equal(v[0], 1);
  assert_int_equal(v[1], 1);
  assert_true(npu_node_attr_ints(conv, "padding", v, 8, &n));
  assert_int_equal(v[0], 0);
  int64_t groups;
  assert_true(npu_node_attr_int(conv, "groups", &groups));
  assert_int_equal(groups, 1);
  npu_graph_destroy(g);
}

/* ---- errors -------------------------------------------------------------------------- */

static void test_syntax_error_location(void **state) {
  (void)state;
  npu_graph_t *g = NULL;
  assert_error_contains(import_str("{\n  \"graph_inputs\": @\n}", &g), "unit.json:2:19");
  assert_null(g);
  assert_error_contains(import_str("{\"a\": [1, 2", &g), "unexpected end of input");
  assert_error_contains(import_str("{\"a\": 01}", &g), "invalid number '01'");
  assert_error_contains(import_str("", &g), "unit.json");
  /* Malformed types anywhere: never a crash, always an error. */
  assert_error_contains(import_str(PRELUDE "\"graph_outputs\": [], \"nodes\": [1]}", &g),
                        "must be an object");
  assert_error_contains(import_str(PRELUDE "\"graph_outputs\": [], \"nodes\": [{\"name\": 3}]}", &g),
                        "'name' must be a string");
  assert_error_contains(import_str(PRELUDE "\"graph_outputs\": [7], \"nodes\": []}", &g),
                        "graph output must be an object");
  assert_error_contains(
      import_str("{\"graph_inputs\": [{\"name\": \"x\", \"shape\": [1,1,1,1,1,1,1,1,1], \"dtype\": "
                 "\"float32\"}], \"graph_outputs\": [], \"weights\": [], \"nodes\": []}", &g),
      "rank is more than 8");
  assert_error_contains(
      import_str("{\"graph_inputs\": [{\"name\": \"x\", \"shape\": [1.5], \"dtype\": \"float32\"}], "
                 "\"graph_outputs\": [], \"weights\": [], \"nodes\": []}", &g),
      "must be an integer");
  assert_error_contains(
      import_str("{\"graph_inputs\": [], \"graph_outputs\": [], \"weights\": [{\"name\": \"w\", "
                 "\"shape\": [], \"dtype\": \"float32\"}], \"nodes\": []}", &g),
      "weight_name_mapping");
}

/* ---- printers ------------------------------------------------------------------------------ */

static char *capture(npu_status_t (*fn)(const npu_graph_t *, FILE *), const npu_graph_t *g) {
  char *buf = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&buf, &size);
  assert_non_null(f);
  assert_ok(fn(g, f));
  fclose(f);
  return buf;
}

static void test_printers(void **state) {
  (void)state;
  npu_graph_t *g = NULL;
  assert_ok(npu_graph_import_json_file(npu_test_fixture("tiny-resnet/model_ir.json"), &g));
  char *text = capture(npu_graph_print_text, g);
  assert_non_null(strstr(text, "%conv2d = aten.conv2d.default(%x, %p_conv1_weight)"));
  assert_non_null(strstr(text, "stride=[1, 1]"));
  assert_non_null(strstr(text, ": float32[1, 8, 32, 32]"));
  assert_non_null(strstr(text, "weights: 38"));
  assert_non_null(strstr(text, "return %"));
  free(text);
  char *dot = capture(npu_graph_print_dot, g);
  assert_non_null(strstr(dot, "digraph"));
  assert_non_null(strstr(dot, "shape=box"));
  assert_non_null(strstr(dot, "->"));
  assert_non_null(strstr(dot, "float32[1, 8, 32, 32]"));
  size_t len = strlen(dot);
  assert_true(len > 2 && dot[len - 2] == '}');
  free(dot);
  npu_graph_destroy(g);
}

static void test_equal_detects_difference(void **state) {
  (void)state;
  npu_graph_t *a = NULL, *b = NULL;
  assert_ok(npu_graph_import_json_file(npu_test_fixture("tiny-resnet/model_ir.json"), &a));
  assert_ok(npu_graph_import_json_file(npu_test_fixture("tiny-resnet/model_ir.json"), &b));
  char why[256];
  assert_true(npu_graph_equal(a, b, why, sizeof why));
  assert_ok(npu_graph_set_node_attr(b, npu_graph_find_node(b, "conv2d"), "stride",
                                    npu_attr_list((npu_attr_value_t[]){npu_attr_int(2), npu_attr_int(2)}, 2)));
  assert_false(npu_graph_equal(a, b, why, sizeof why));
  assert_non_null(strstr(why, "stride"));
  npu_graph_destroy(a);
  npu_graph_destroy(b);
}

static void test_weight_transform_round_trip(void **state) {
  (void)state;
  npu_graph_t *g = NULL;
  assert_ok(npu_graph_import_json_file(npu_test_fixture("tiny-resnet/model_ir.json"), &g));
  npu_tensor_id_t src = npu_graph_find_tensor(g, "p_conv1_weight");
  npu_tensor_id_t out;
  const npu_tensor_t *s = npu_graph_tensor(g, src);
  assert_ok(npu_graph_add_tensor(g, &(npu_tensor_desc_t){.name = "conv1_folded", .dtype = s->dtype,
                                 .shape = s->shape, .role = NPU_ROLE_WEIGHT}, &out));
  npu_attr_t attr = {.name = "eps", .value = npu_attr_float(1e-5)};
  assert_ok(npu_graph_add_weight_transform(g, "bn_fold_weight", out, &src, 1, &attr, 1));
  round_trip(g, "json_transform");
  npu_graph_destroy(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixtures_import_and_round_trip),
      cmocka_unit_test(test_weight_mapping),
      cmocka_unit_test(test_getitem),
      cmocka_unit_test(test_infinity_and_int64_max),
      cmocka_unit_test(test_int_vs_float_and_dtype),
      cmocka_unit_test(test_defaults_filled),
      cmocka_unit_test(test_syntax_error_location),
      cmocka_unit_test(test_printers),
      cmocka_unit_test(test_equal_detects_difference),
      cmocka_unit_test(test_weight_transform_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
