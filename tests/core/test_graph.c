/* Unit tests of the graph API (core/graph.c): tensors, node order, mutation,
 * attrs, names, weights, transforms and the verifier. */
#include "test_support.h"

#include <string.h>

#include "npu/graph.h"
#include "npu/ops.h"

#define SH(...) make_shape((const int64_t[]){__VA_ARGS__}, \
                           (int32_t)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
static npu_shape_t make_shape(const int64_t *dims, int32_t rank) {
  npu_shape_t s = {.rank = rank};
  for (int32_t i = 0; i < rank; i++) s.dims[i] = dims[i];
  return s;
}

static npu_tensor_id_t tensor(npu_graph_t *g, const char *name, npu_tensor_role_t role,
                              npu_shape_t shape) {
  npu_tensor_id_t id;
  assert_ok(npu_graph_add_tensor(g, &(npu_tensor_desc_t){.name = name, .dtype = NPU_DTYPE_FLOAT32,
                                                         .shape = shape, .role = role},
                                 &id));
  return id;
}

static npu_node_id_t node1(npu_graph_t *g, const char *name, const char *op, npu_tensor_id_t in,
                           npu_tensor_id_t out, npu_node_id_t before) {
  npu_node_id_t id;
  assert_ok(npu_graph_insert_node(g, &(npu_node_desc_t){.name = name, .op = op, .inputs = &in,
                                                        .num_inputs = 1, .outputs = &out,
                                                        .num_outputs = 1},
                                  before, &id));
  return id;
}

static int setup(void **state) {
  npu_graph_t *g;
  assert_ok(npu_ops_register_builtins());
  assert_ok(npu_graph_create(&g));
  *state = g;
  return 0;
}
static int teardown(void **state) {
  npu_graph_destroy(*state);
  return 0;
}

static void test_tensors(void **state) {
  npu_graph_t *g = *state;
  npu_tensor_id_t x = tensor(g, "x", NPU_ROLE_INPUT, SH(1, 3, 224, 224));
  assert_int_equal(npu_graph_tensor_count(g), 1);
  const npu_tensor_t *t = npu_graph_tensor(g, x);
  assert_string_equal(t->name, "x");
  assert_int_equal(t->shape.rank, 4);
  assert_int_equal(t->shape.dims[3], 224);
  assert_int_equal(t->producer, NPU_NO_NODE);
  assert_int_equal(t->transform, -1);
  assert_int_equal(npu_graph_find_tensor(g, "x"), x);
  assert_int_equal(npu_graph_find_tensor(g, "nope"), NPU_NO_TENSOR);
  assert_null(npu_graph_tensor(g, 99));
  /* Duplicate names are rejected, also invalid shapes. */
  assert_error_contains(npu_graph_add_tensor(g, &(npu_tensor_desc_t){.name = "x"}, NULL),
                        "duplicate tensor name 'x'");
  assert_error_contains(
      npu_graph_add_tensor(g, &(npu_tensor_desc_t){.name = "neg", .shape = {.rank = 1, .dims = {-1}}}, NULL),
      "invalid shape");
  npu_shape_t s = SH(2, 2);
  assert_ok(npu_graph_set_tensor_shape(g, x, NPU_DTYPE_BFLOAT16, &s));
  assert_int_equal(npu_graph_tensor(g, x)->dtype, NPU_DTYPE_BFLOAT16);
  assert_true(npu_shape_equal(&npu_graph_tensor(g, x)->shape, &s));
}

static void test_order_insert_erase(void **state) {
  npu_graph_t *g = *state;
  npu_tensor_id_t x = tensor(g, "x", NPU_ROLE_INPUT, SH(4));
  npu_tensor_id_t a = tensor(g, "a", NPU_ROLE_INTERMEDIATE, SH(4));
  npu_tensor_id_t b = tensor(g, "b", NPU_ROLE_INTERMEDIATE, SH(4));
  npu_tensor_id_t c = tensor(g, "c", NPU_ROLE_INTERMEDIATE, SH(4));
  assert_ok(npu_graph_add_input(g, x));
  npu_node_id_t na = node1(g, "na", "aten.relu.default", x, a, NPU_NO_NODE);
  npu_node_id_t nc = node1(g, "nc", "aten.neg.default", b, c, NPU_NO_NODE);
  npu_node_id_t nb = node1(g, "nb", "aten.neg.default", a, b, nc); /* before nc */
  assert_int_equal(npu_graph_first_node(g), na);
  assert_int_equal(npu_graph_next_node(g, na), nb);
  assert_int_equal(npu_graph_next_node(g, nb), nc);
  assert_int_equal(npu_graph_next_node(g, nc), NPU_NO_NODE);
  assert_int_equal(npu_graph_last_node(g), nc);
  assert_int_equal(npu_graph_prev_node(g, nc), nb);
  assert_int_equal(npu_graph_node_count(g), 3);
  assert_int_equal(npu_graph_tensor(g, b)->producer, nb);
  assert_int_equal(npu_graph_tensor(g, b)->producer_output, 0);
  assert_int_equal(npu_graph_find_node(g, "nb"), nb);
  assert_ok(npu_graph_add_output(g, c));
  assert_ok(npu_graph_verify(g));
  /* Insert at the front. */
  npu_tensor_id_t d = tensor(g, "d", NPU_ROLE_INTERMEDIATE, SH(4));
  npu_node_id_t nd = node1(g, "nd", "aten.relu.default", x, d, na);
  assert_int_equal(npu_graph_first_node(g), nd);
  assert_int_equal(npu_graph_prev_node(g, na), nd);
  /* Erase from the middle. */
  npu_graph_erase_node(g, nb);
  assert_true(npu_graph_node(g, nb)->erased);
  assert_int_equal(npu_graph_node_count(g), 3);
  assert_int_equal(npu_graph_node_capacity(g), 4);
  assert_int_equal(npu_graph_next_node(g, na), nc);
  assert_int_equal(npu_graph_tensor(g, b)->producer, NPU_NO_NODE);
  int32_t n = 0;
  for (npu_node_id_t it = npu_graph_first_node(g); it != NPU_NO_NODE; it = npu_graph_next_node(g, it)) n++;
  assert_int_equal(n, 3);
  /* nc now reads a tensor nobody defines. */
  assert_error_contains(npu_graph_verify(g), "input 0 'b' is never defined");
  /* Inserting before an erased node is an error. */
  npu_tensor_id_t e = tensor(g, "e", NPU_ROLE_INTERMEDIATE, SH(4));
  assert_error_contains(npu_graph_insert_node(g, &(npu_node_desc_t){.name = "ne", .op = "aten.relu.default",
                                                                    .inputs = &x, .num_inputs = 1,
                                                                    .outputs = &e, .num_outputs = 1},
                                              nb, NULL),
                        "not a live node");
}

static void test_replace_uses(void **state) {
  npu_graph_t *g = *state;
  npu_tensor_id_t x = tensor(g, "x", NPU_ROLE_INPUT, SH(4));
  npu_tensor_id_t a = tensor(g, "a", NPU_ROLE_INTERMEDIATE, SH(4));
  npu_tensor_id_t b = tensor(g, "b", NPU_ROLE_INTERMEDIATE, SH(4));
  npu_tensor_id_t a2 = tensor(g, "a2", NPU_ROLE_INTERMEDIATE, SH(4));
  assert_ok(npu_graph_add_input(g, x));
  npu_node_id_t na = node1(g, "na", "aten.relu.default", x, a, NPU_NO_NODE);
  npu_tensor_id_t ab[2] = {a, a};
  assert_ok(npu_graph_insert_node(g, &(npu_node_desc_t){.name = "nb", .op = "aten.add.Tensor", .inputs = ab,
                                                        .num_inputs = 2, .outputs = &b, .num_outputs = 1},
                                  NPU_NO_NODE, NULL));
  assert_ok(npu_graph_add_output(g, a));
  assert_ok(npu_graph_add_output(g, b));
  assert_int_equal(npu_graph_use_count(g, a), 3);
  assert_int_equal(npu_graph_use_count(g, x), 1);
  node1(g, "na2", "aten.neg.default", x, a2, na);
  assert_int_equal(npu_graph_replace_uses(g, a, a2), 3);
  assert_int_equal(npu_graph_use_count(g, a), 0);
  assert_int_equal(npu_graph_use_count(g, a2), 3);
  int32_t no;
  const npu_tensor_id_t *outs = npu_graph_outputs(g, &no);
  assert_int_equal(no, 2);
  assert_int_equal(outs[0], a2);
  npu_graph_erase_node(g, na);
  assert_ok(npu_graph_verify(g));
  assert_ok(npu_graph_set_output(g, 0, x));
  assert_int_equal(npu_graph_outputs(g, &no)[0], x);
  assert_error_contains(npu_graph_set_output(g, 5, x), "bad output index");
}

static void test_attrs(void **state) {
  npu_graph_t *g = *state;
  npu_tensor_id_t x = tensor(g, "x", NPU_ROLE_INPUT, SH(4));
  npu_tensor_id_t y = tensor(g, "y", NPU_ROLE_INTERMEDIATE, SH(4));
  npu_node_id_t n = node1(g, "n", "aten.relu.default", x, y, NPU_NO_NODE);
  npu_attr_value_t items[2] = {npu_attr_int(2), npu_attr_int(3)};
  assert_ok(npu_graph_set_node_attr(g, n, "k", npu_attr_list(items, 2)));
  assert_ok(npu_graph_set_node_attr(g, n, "i", npu_attr_int(7)));
  assert_ok(npu_graph_set_node_attr(g, n, "f", npu_attr_float(0.5)));
  assert_ok(npu_graph_set_node_attr(g, n, "i", npu_attr_int(8))); /* replace */
  const npu_node_t *node = npu_graph_node(g, n);
  assert_int_equal(node->num_attrs, 3);
  int64_t v[4], i;
  int32_t cnt;
  assert_true(npu_node_attr_ints(node, "k", v, 4, &cnt));
  assert_int_equal(cnt, 2);
  assert_int_equal(v[1], 3);
  assert_false(npu_node_attr_ints(node, "k", v, 1, &cnt)); /* too long for max */
  assert_true(npu_node_attr_int(node, "i", &i));
  assert_int_equal(i, 8);
  double f;
  assert_true(npu_node_attr_float(node, "i", &f)); /* an int reads as float */
  assert_true(f == 8.0);
  bool b;
  assert_false(npu_node_attr_bool(node, "i", &b));
  assert_ok(npu_graph_remove_node_attr(g, n, "i"));
  node = npu_graph_node(g, n);
  assert_null(npu_node_attr(node, "i"));
  assert_int_equal(node->num_attrs, 2);
  assert_non_null(npu_node_attr(node, "f"));
}

static void test_names(void **state) {
  npu_graph_t *g = *state;
  npu_tensor_id_t x = tensor(g, "x", NPU_ROLE_INPUT, SH(4));
  npu_tensor_id_t y = tensor(g, "y", NPU_ROLE_INTERMEDIATE, SH(4));
  npu_tensor_id_t z = tensor(g, "z", NPU_ROLE_INTERMEDIATE, SH(4));
  node1(g, "relu", "aten.relu.default", x, y, NPU_NO_NODE);
  assert_string_equal(npu_graph_unique_name(g, "fresh"), "fresh");
  const char *u1 = npu_graph_unique_name(g, "x");
  assert_string_not_equal(u1, "x");
  assert_true(strncmp(u1, "x_", 2) == 0);
  assert_string_not_equal(npu_graph_unique_name(g, "relu"), "relu"); /* node names count too */
  /* Duplicate node name, unknown op. */
  assert_error_contains(npu_graph_insert_node(g, &(npu_node_desc_t){.name = "relu", .op = "aten.relu.default",
                                                                    .inputs = &x, .num_inputs = 1,
                                                                    .outputs = &z, .num_outputs = 1},
                                              NPU_NO_NODE, NULL),
                        "duplicate node name 'relu'");
  npu_status_t s = npu_graph_insert_node(g, &(npu_node_desc_t){.name = "q", .op = "aten.bogus.default",
                                                               .inputs = &x, .num_inputs = 1,
                                                               .outputs = &z, .num_outputs = 1},
                                         NPU_NO_NODE, NULL);
  assert_non_null(s);
  assert_int_equal(npu_status_code(s), NPU_STATUS_UNSUPPORTED);
  assert_error_contains(s, "unknown op 'aten.bogus.default'");
  /* An output that already has a producer. */
  assert_error_contains(npu_graph_insert_node(g, &(npu_node_desc_t){.name = "r2", .op = "aten.relu.default",
                                                                    .inputs = &x, .num_inputs = 1,
                                                                    .outputs = &y, .num_outputs = 1},
                                              NPU_NO_NODE, NULL),
                        "single assignment");
  assert_ok(npu_graph_set_model_name(g, "m"));
  assert_string_equal(npu_graph_model_name(g), "m");
}

static void test_weights_and_transforms(void **state) {
  npu_graph_t *g = *state;
  npu_tensor_id_t w1, w2, w3;
  assert_ok(npu_graph_add_tensor(g, &(npu_tensor_desc_t){.name = "p_w", .dtype = NPU_DTYPE_FLOAT32,
                                                         .shape = SH(8), .role = NPU_ROLE_WEIGHT,
                                                         .weight_key = "w"}, &w1));
  tensor(g, "x", NPU_ROLE_INPUT, SH(8));
  assert_ok(npu_graph_add_tensor(g, &(npu_tensor_desc_t){.name = "c_k", .dtype = NPU_DTYPE_FLOAT32,
                                                         .shape = SH(8), .role = NPU_ROLE_CONSTANT,
                                                         .weight_key = "k"}, &w2));
  w3 = tensor(g, "folded", NPU_ROLE_INTERMEDIATE, SH(8));
  int32_t n;
  const npu_tensor_id_t *ws = npu_graph_weights(g, &n);
  assert_int_equal(n, 2);
  assert_int_equal(ws[0], w1);
  assert_int_equal(ws[1], w2);
  assert_string_equal(npu_graph_tensor(g, w1)->weight_key, "w");
  npu_tensor_id_t src[2] = {w1, w2};
  npu_attr_t attrs[1] = {{.name = "eps", .value = npu_attr_float(1e-5)}};
  assert_ok(npu_graph_add_weight_transform(g, "bn_fold_weight", w3, src, 2, attrs, 1));
  assert_int_equal(npu_graph_weight_transform_count(g), 1);
  const npu_weight_transform_t *t = npu_graph_weight_transform(g, 0);
  assert_string_equal(t->kind, "bn_fold_weight");
  assert_int_equal(t->output, w3);
  assert_int_equal(t->num_sources, 2);
  assert_int_equal(t->sources[1], w2);
  assert_int_equal(t->num_attrs, 1);
  assert_string_equal(t->attrs[0].name, "eps");
  assert_null(npu_graph_weight_transform(g, 1));
  const npu_tensor_t *o = npu_graph_tensor(g, w3);
  assert_int_equal(o->role, NPU_ROLE_WEIGHT);
  assert_null(o->weight_key);
  assert_int_equal(o->transform, 0);
  ws = npu_graph_weights(g, &n);
  assert_int_equal(n, 3);
  assert_int_equal(ws[2], w3);
  assert_error_contains(npu_graph_add_weight_transform(g, "again", w3, src, 2, NULL, 0),
                        "already has a weight transform");
  assert_ok(npu_graph_verify(g));
  /* A transform reading a non-weight fails verification. */
  npu_tensor_id_t w4 = tensor(g, "w4", NPU_ROLE_INTERMEDIATE, SH(8));
  npu_tensor_id_t x = npu_graph_find_tensor(g, "x");
  assert_ok(npu_graph_add_weight_transform(g, "cast", w4, &x, 1, NULL, 0));
  assert_error_contains(npu_graph_verify(g), "which is not a weight");
  /* Demoting a weight removes it from the table. */
  assert_ok(npu_graph_set_tensor_role(g, w1, NPU_ROLE_INTERMEDIATE));
  ws = npu_graph_weights(g, &n);
  assert_int_equal(n, 3);
  assert_int_equal(ws[0], w2);
}

static void test_verify_use_before_def(void **state) {
  npu_graph_t *g = *state;
  npu_tensor_id_t x = tensor(g, "x", NPU_ROLE_INPUT, SH(4));
  npu_tensor_id_t a = tensor(g, "a", NPU_ROLE_INTERMEDIATE, SH(4));
  npu_tensor_id_t b = tensor(g, "b", NPU_ROLE_INTERMEDIATE, SH(4));
  assert_ok(npu_graph_add_input(g, x));
  npu_node_id_t na = node1(g, "na", "aten.relu.default", x, a, NPU_NO_NODE);
  node1(g, "nb", "aten.relu.default", a, b, na); /* reads a before na runs */
  assert_error_contains(npu_graph_verify(g), "node nb (aten.relu.default): input 0 'a' is used before its definition");
}

static void test_verify_undefined_input(void **state) {
  npu_graph_t *g = *state;
  npu_tensor_id_t x = tensor(g, "x", NPU_ROLE_INPUT, SH(4)); /* not added as a graph input */
  npu_tensor_id_t a = tensor(g, "a", NPU_ROLE_INTERMEDIATE, SH(4));
  node1(g, "na", "aten.relu.default", x, a, NPU_NO_NODE);
  assert_error_contains(npu_graph_verify(g), "input 0 'x' is never defined");
}

static void test_verify_double_assignment(void **state) {
  npu_graph_t *g = *state;
  npu_tensor_id_t x = tensor(g, "x", NPU_ROLE_INPUT, SH(4));
  npu_tensor_id_t a = tensor(g, "a", NPU_ROLE_INTERMEDIATE, SH(4));
  assert_ok(npu_graph_add_input(g, x));
  node1(g, "na", "aten.relu.default", x, a, NPU_NO_NODE);
  /* a becomes a weight too: defined twice. */
  assert_ok(npu_graph_set_tensor_role(g, a, NPU_ROLE_WEIGHT));
  assert_error_contains(npu_graph_verify(g), "output 'a' is assigned more than once");
}

static void test_verify_arity(void **state) {
  npu_graph_t *g = *state;
  npu_tensor_id_t x = tensor(g, "x", NPU_ROLE_INPUT, SH(4));
  npu_tensor_id_t a = tensor(g, "a", NPU_ROLE_INTERMEDIATE, SH(4));
  assert_ok(npu_graph_add_input(g, x));
  npu_tensor_id_t ins[2] = {x, x};
  assert_ok(npu_graph_insert_node(g, &(npu_node_desc_t){.name = "r", .op = "aten.relu.default", .inputs = ins,
                                                        .num_inputs = 2, .outputs = &a, .num_outputs = 1},
                                  NPU_NO_NODE, NULL));
  assert_error_contains(npu_graph_verify(g), "has 2 tensor inputs");
}

static void test_verify_output_count(void **state) {
  npu_graph_t *g = *state;
  npu_tensor_id_t x = tensor(g, "x", NPU_ROLE_INPUT, SH(4));
  assert_ok(npu_graph_add_input(g, x));
  assert_ok(npu_graph_insert_node(g, &(npu_node_desc_t){.name = "r", .op = "aten.relu.default", .inputs = &x,
                                                        .num_inputs = 1},
                                  NPU_NO_NODE, NULL));
  assert_error_contains(npu_graph_verify(g), "has 0 outputs, op gives 1");
}

static void test_verify_shape_mismatch(void **state) {
  npu_graph_t *g = *state;
  npu_tensor_id_t x = tensor(g, "x", NPU_ROLE_INPUT, SH(4));
  npu_tensor_id_t a = tensor(g, "a", NPU_ROLE_INTERMEDIATE, SH(5));
  assert_ok(npu_graph_add_input(g, x));
  node1(g, "r", "aten.relu.default", x, a, NPU_NO_NODE);
  assert_error_contains(npu_graph_verify(g), "output 0 'a' is float32[5] but the op gives float32[4]");
}

static void test_verify_graph_output_undefined(void **state) {
  npu_graph_t *g = *state;
  npu_tensor_id_t x = tensor(g, "x", NPU_ROLE_INPUT, SH(4));
  npu_tensor_id_t a = tensor(g, "a", NPU_ROLE_INTERMEDIATE, SH(4));
  assert_ok(npu_graph_add_input(g, x));
  assert_ok(npu_graph_add_output(g, a));
  assert_error_contains(npu_graph_verify(g), "graph output 'a' is never defined");
}

static void test_verify_input_role(void **state) {
  npu_graph_t *g = *state;
  npu_tensor_id_t w = tensor(g, "w", NPU_ROLE_WEIGHT, SH(4));
  assert_ok(npu_graph_add_input(g, w));
  assert_error_contains(npu_graph_verify(g), "graph input 'w' has role");
}

static void test_dtype_shape_helpers(void **state) {
  (void)state;
  npu_dtype_t d;
  assert_true(npu_dtype_parse("torch.bfloat16", &d));
  assert_int_equal(d, NPU_DTYPE_BFLOAT16);
  assert_true(npu_dtype_parse("int64", &d));
  assert_false(npu_dtype_parse("float8_e4m3fn", &d));
  assert_string_equal(npu_dtype_name(NPU_DTYPE_FLOAT32), "float32");
  assert_int_equal(npu_dtype_size(NPU_DTYPE_BFLOAT16), 2);
  npu_shape_t s = SH(1, 3, 224, 224);
  int64_t n;
  assert_true(npu_shape_numel(&s, &n));
  assert_int_equal(n, 150528);
  char buf[64];
  assert_string_equal(npu_shape_format(&s, buf, sizeof buf), "[1, 3, 224, 224]");
  npu_shape_t scalar = {.rank = 0};
  assert_true(npu_shape_numel(&scalar, &n));
  assert_int_equal(n, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_tensors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_order_insert_erase, setup, teardown),
      cmocka_unit_test_setup_teardown(test_replace_uses, setup, teardown),
      cmocka_unit_test_setup_teardown(test_attrs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_names, setup, teardown),
      cmocka_unit_test_setup_teardown(test_weights_and_transforms, setup, teardown),
      cmocka_unit_test_setup_teardown(test_verify_use_before_def, setup, teardown),
      cmocka_unit_test_setup_teardown(test_verify_undefined_input, setup, teardown),
      cmocka_unit_test_setup_teardown(test_verify_double_assignment, setup, teardown),
      cmocka_unit_test_setup_teardown(test_verify_arity, setup, teardown),
      cmocka_unit_test_setup_teardown(test_verify_output_count, setup, teardown),
      cmocka_unit_test_setup_teardown(test_verify_shape_mismatch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_verify_graph_output_undefined, setup, teardown),
      cmocka_unit_test_setup_teardown(test_verify_input_role, setup, teardown),
      cmocka_unit_test(test_dtype_shape_helpers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
