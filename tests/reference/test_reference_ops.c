/* The host reference interpreter's tricky ops against hand computations:
 * slice bounds, the GQA expand+reshape pattern, cat with legacy-empty inputs,
 * softmax with -inf, SDPA with GQA, bf16 rounding, the extension point. */
#include "test_support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npu/ops.h"
#include "npu/reference.h"

static npu_shape_t shp(int32_t rank, const int64_t *dims) {
  npu_shape_t s = {.rank = rank};
  for (int32_t i = 0; i < rank; i++) s.dims[i] = dims[i];
  return s;
}
#define SHAPE(...) shp((int32_t)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

static npu_tensor_id_t add_tensor(npu_graph_t *g, const char *name, npu_dtype_t dt, npu_shape_t s,
                                  npu_tensor_role_t role) {
  npu_tensor_id_t id;
  assert_ok(npu_graph_add_tensor(g, &(npu_tensor_desc_t){.name = name, .dtype = dt, .shape = s, .role = role}, &id));
  if (role == NPU_ROLE_INPUT) assert_ok(npu_graph_add_input(g, id));
  return id;
}

static void add_node(npu_graph_t *g, const char *name, const char *op, const npu_tensor_id_t *in, int32_t nin,
                     const npu_tensor_id_t *out, int32_t nout, const npu_attr_t *attrs, int32_t nattrs) {
  assert_ok(npu_graph_insert_node(g, &(npu_node_desc_t){.name = name, .op = op, .inputs = in, .num_inputs = nin,
                                                        .outputs = out, .num_outputs = nout, .attrs = attrs,
                                                        .num_attrs = nattrs},
                                  NPU_NO_NODE, NULL));
}

static npu_graph_t *new_graph(void) {
  assert_ok(npu_ops_register_builtins());
  npu_graph_t *g = NULL;
  assert_ok(npu_graph_create(&g));
  return g;
}

static const float *f32(const npu_reference_result_t *r, int32_t i) {
  const npu_host_tensor_t *t = npu_reference_result_output(r, i);
  assert_non_null(t);
  assert_int_equal(t->dtype, NPU_DTYPE_FLOAT32);
  return t->data;
}

/* ---- slice -------------------------------------------------------------------------- */

static void check_slice(int64_t start, int64_t end, int64_t step, const float *want, int64_t n) {
  npu_graph_t *g = new_graph();
  npu_tensor_id_t x = add_tensor(g, "x", NPU_DTYPE_FLOAT32, SHAPE(2, 10), NPU_ROLE_INPUT);
  npu_tensor_id_t y = add_tensor(g, "y", NPU_DTYPE_FLOAT32, SHAPE(2, n), NPU_ROLE_INTERMEDIATE);
  npu_attr_t attrs[] = {{"dim", npu_attr_int(-1)}, {"start", npu_attr_int(start)}, {"end", npu_attr_int(end)},
                        {"step", npu_attr_int(step)}};
  add_node(g, "y", "aten.slice.Tensor", &x, 1, &y, 1, attrs, 4);
  assert_ok(npu_graph_add_output(g, y));
  float xs[20];
  for (int i = 0; i < 20; i++) xs[i] = (float)i;
  npu_reference_input_t in = {"x", {NPU_DTYPE_FLOAT32, SHAPE(2, 10), xs, sizeof xs}};
  npu_reference_result_t *r = NULL;
  assert_ok(npu_reference_run(g, NULL, &in, 1, &r));
  const float *o = f32(r, 0);
  for (int64_t row = 0; row < 2; row++)
    for (int64_t i = 0; i < n; i++) assert_float_equal(o[row * n + i], want[i] + 10.0f * (float)row, 0);
  npu_reference_result_free(r);
  npu_graph_destroy(g);
}

static void test_slice(void **state) {
  (void)state;
  check_slice(-3, INT64_MAX, 1, (const float[]){7, 8, 9}, 3);
  check_slice(1, -1, 3, (const float[]){1, 4, 7}, 3);
  check_slice(-100, 2, 1, (const float[]){0, 1}, 2);
  check_slice(8, INT64_MAX, 1, (const float[]){8, 9}, 2);
  check_slice(20, INT64_MAX, 1, NULL, 0);
  check_slice(5, 3, 1, NULL, 0);
}

/* A wrong output shape is an error, not an out-of-bounds read. */
static void test_slice_bad_shape(void **state) {
  (void)state;
  npu_graph_t *g = new_graph();
  npu_tensor_id_t x = add_tensor(g, "x", NPU_DTYPE_FLOAT32, SHAPE(4), NPU_ROLE_INPUT);
  npu_tensor_id_t y = add_tensor(g, "y", NPU_DTYPE_FLOAT32, SHAPE(9), NPU_ROLE_INTERMEDIATE);
  npu_attr_t attrs[] = {{"start", npu_attr_int(0)}};
  add_node(g, "sl", "aten.slice.Tensor", &x, 1, &y, 1, attrs, 1);
  assert_ok(npu_graph_add_output(g, y));
  float xs[4] = {0};
  npu_reference_input_t in = {"x", {NPU_DTYPE_FLOAT32, SHAPE(4), xs, sizeof xs}};
  npu_reference_result_t *r = NULL;
  assert_error_contains(npu_reference_run(g, NULL, &in, 1, &r), "sl");
  assert_null(r);
  npu_graph_destroy(g);
}

/* ---- GQA expand + reshape ------------------------------------------------------------------ */

static void test_expand_reshape_gqa(void **state) {
  (void)state;
  npu_graph_t *g = new_graph();
  npu_tensor_id_t k = add_tensor(g, "k", NPU_DTYPE_BFLOAT16, SHAPE(1, 2, 3, 2), NPU_ROLE_INPUT);
  npu_tensor_id_t u = add_tensor(g, "u", NPU_DTYPE_BFLOAT16, SHAPE(1, 2, 1, 3, 2), NPU_ROLE_INTERMEDIATE);
  npu_tensor_id_t e = add_tensor(g, "e", NPU_DTYPE_BFLOAT16, SHAPE(1, 2, 2, 3, 2), NPU_ROLE_INTERMEDIATE);
  npu_tensor_id_t r4 = add_tensor(g, "r", NPU_DTYPE_BFLOAT16, SHAPE(1, 4, 3, 2), NPU_ROLE_INTERMEDIATE);
  add_node(g, "u", "aten.unsqueeze.default", &k, 1, &u, 1, (npu_attr_t[]){{"dim", npu_attr_int(2)}}, 1);
  npu_attr_value_t size[] = {npu_attr_int(1), npu_attr_int(2), npu_attr_int(2), npu_attr_int(3), npu_attr_int(2)};
  add_node(g, "e", "aten.expand.default", &u, 1, &e, 1, (npu_attr_t[]){{"size", npu_attr_list(size, 5)}}, 1);
  npu_attr_value_t shape[] = {npu_attr_int(1), npu_attr_int(4), npu_attr_int(3), npu_attr_int(2)};
  add_node(g, "r", "aten.reshape.default", &e, 1, &r4, 1, (npu_attr_t[]){{"shape", npu_attr_list(shape, 4)}}, 1);
  assert_ok(npu_graph_add_output(g, r4));
  uint16_t ks[12];
  for (int i = 0; i < 12; i++) ks[i] = npu_reference_f32_to_bf16((float)(i + 1));
  npu_reference_input_t in = {"k", {NPU_DTYPE_BFLOAT16, SHAPE(1, 2, 3, 2), ks, sizeof ks}};
  npu_reference_result_t *r = NULL;
  assert_ok(npu_reference_run(g, NULL, &in, 1, &r));
  const npu_host_tensor_t *o = npu_reference_result_output(r, 0);
  const uint16_t *ov = o->data;
  for (int h = 0; h < 4; h++)
    for (int i = 0; i < 6; i++) assert_int_equal(ov[h * 6 + i], ks[(h / 2) * 6 + i]);
  assert_non_null(npu_reference_result_find(r, "e"));
  npu_reference_result_free(r);
  npu_graph_destroy(g);
}

/* ---- cat with legacy-empty inputs ------------------------------------------------------------- */

static void test_cat_empty(void **state) {
  (void)state;
  npu_graph_t *g = new_graph();
  npu_tensor_id_t ins[3];
  ins[0] = add_tensor(g, "empty", NPU_DTYPE_FLOAT32, SHAPE(0), NPU_ROLE_INPUT);
  ins[1] = add_tensor(g, "a", NPU_DTYPE_FLOAT32, SHAPE(1, 2, 2), NPU_ROLE_INPUT);
  ins[2] = add_tensor(g, "b", NPU_DTYPE_FLOAT32, SHAPE(1, 1, 2), NPU_ROLE_INPUT);
  npu_tensor_id_t y = add_tensor(g, "y", NPU_DTYPE_FLOAT32, SHAPE(1, 3, 2), NPU_ROLE_INTERMEDIATE);
  add_node(g, "y", "aten.cat.default", ins, 3, &y, 1, (npu_attr_t[]){{"dim", npu_attr_int(-2)}}, 1);
  assert_ok(npu_graph_add_output(g, y));
  float a[4] = {1, 2, 3, 4}, b[2] = {5, 6};
  npu_reference_input_t in[] = {{"empty", {NPU_DTYPE_FLOAT32, SHAPE(0), NULL, 0}},
                                {"a", {NPU_DTYPE_FLOAT32, SHAPE(1, 2, 2), a, sizeof a}},
                                {"b", {NPU_DTYPE_FLOAT32, SHAPE(1, 1, 2), b, sizeof b}}};
  npu_reference_result_t *r = NULL;
  assert_ok(npu_reference_run(g, NULL, in, 3, &r));
  const float *o = f32(r, 0);
  for (int i = 0; i < 6; i++) assert_float_equal(o[i], (float)(i + 1), 0);
  npu_reference_result_free(r);
  npu_graph_destroy(g);
}

/* ---- softmax with -inf ---------------------------------------------------------------------------- */

static void test_softmax_neg_inf(void **state) {
  (void)state;
  npu_graph_t *g = new_graph();
  npu_tensor_id_t x = add_tensor(g, "x", NPU_DTYPE_BFLOAT16, SHAPE(3, 3), NPU_ROLE_INPUT);
  npu_tensor_id_t y = add_tensor(g, "y", NPU_DTYPE_FLOAT32, SHAPE(3, 3), NPU_ROLE_INTERMEDIATE);
  npu_attr_t attrs[] = {{"dim", npu_attr_int(-1)}, {"dtype", npu_attr_dtype(NPU_DTYPE_FLOAT32)}};
  add_node(g, "y", "aten.softmax.int", &x, 1, &y, 1, attrs, 2);
  assert_ok(npu_graph_add_output(g, y));
  float l3 = logf(3.0f);
  float xs[9] = {0, -INFINITY, l3, 1, 1, 1, -INFINITY, -INFINITY, -INFINITY};
  uint16_t xb[9];
  for (int i = 0; i < 9; i++) xb[i] = npu_reference_f32_to_bf16(xs[i]);
  float l3b = npu_reference_bf16_to_f32(xb[2]);
  npu_reference_input_t in = {"x", {NPU_DTYPE_BFLOAT16, SHAPE(3, 3), xb, sizeof xb}};
  npu_reference_result_t *r = NULL;
  assert_ok(npu_reference_run(g, NULL, &in, 1, &r));
  const float *o = f32(r, 0);
  double e = exp((double)l3b);
  assert_float_equal(o[0], 1.0 / (1.0 + e), 1e-6);
  assert_float_equal(o[1], 0.0, 0);
  assert_float_equal(o[2], e / (1.0 + e), 1e-6);
  for (int i = 3; i < 6; i++) assert_float_equal(o[i], 1.0 / 3.0, 1e-6);
  for (int i = 6; i < 9; i++) assert_true(isnan(o[i])); /* torch: an all -inf row is NaN */
  npu_reference_result_free(r);
  npu_graph_destroy(g);
}

/* ---- SDPA with GQA ------------------------------------------------------------------------------------ */

enum { B = 1, HQ = 4, HK = 2, L = 2, SK = 3, E = 4 };

static void sdpa_hand(const float *q, const float *k, const float *v, const float *mask, bool causal, double scale,
                      double *out) {
  for (int h = 0; h < HQ; h++)
    for (int i = 0; i < L; i++) {
      int kh = h / (HQ / HK);
      double s[SK], mx = -INFINITY, sum = 0;
      for (int j = 0; j < SK; j++) {
        double d = 0;
        for (int e = 0; e < E; e++) d += (double)q[(h * L + i) * E + e] * k[(kh * SK + j) * E + e];
        d *= scale;
        if (mask) d += mask[i * SK + j];
        if (causal && j > i) d = -INFINITY;
        s[j] = d;
        mx = fmax(mx, d);
      }
      for (int j = 0; j < SK; j++) sum += (s[j] = exp(s[j] - mx));
      for (int e = 0; e < E; e++) {
        double a = 0;
        for (int j = 0; j < SK; j++) a += s[j] / sum * v[(kh * SK + j) * E + e];
        out[(h * L + i) * E + e] = a;
      }
    }
}

static void run_sdpa(bool with_mask, bool causal, bool explicit_scale) {
  npu_graph_t *g = new_graph();
  npu_tensor_id_t ins[4];
  ins[0] = add_tensor(g, "q", NPU_DTYPE_FLOAT32, SHAPE(B, HQ, L, E), NPU_ROLE_INPUT);
  ins[1] = add_tensor(g, "k", NPU_DTYPE_FLOAT32, SHAPE(B, HK, SK, E), NPU_ROLE_INPUT);
  ins[2] = add_tensor(g, "v", NPU_DTYPE_FLOAT32, SHAPE(B, HK, SK, E), NPU_ROLE_INPUT);
  ins[3] = add_tensor(g, "m", NPU_DTYPE_FLOAT32, SHAPE(1, 1, L, SK), NPU_ROLE_INPUT);
  npu_tensor_id_t y = add_tensor(g, "y", NPU_DTYPE_FLOAT32, SHAPE(B, HQ, L, E), NPU_ROLE_INTERMEDIATE);
  npu_attr_t attrs[3] = {{"enable_gqa", npu_attr_bool(true)}, {"is_causal", npu_attr_bool(causal)},
                         {"scale", npu_attr_float(0.3)}};
  add_node(g, "attn", "aten.scaled_dot_product_attention.default", ins, with_mask ? 4 : 3, &y, 1, attrs,
           explicit_scale ? 3 : 2);
  assert_ok(npu_graph_add_output(g, y));
  float q[HQ * L * E], k[HK * SK * E], v[HK * SK * E];
  float m[L * SK] = {0, -INFINITY, -1.5f, 0.25f, 0, -INFINITY};
  for (int i = 0; i < HQ * L * E; i++) q[i] = (float)sin(0.7 * i + 0.1);
  for (int i = 0; i < HK * SK * E; i++) {
    k[i] = (float)cos(0.37 * i);
    v[i] = (float)(0.1 * i - 1.0);
  }
  npu_reference_input_t in[] = {{"q", {NPU_DTYPE_FLOAT32, SHAPE(B, HQ, L, E), q, sizeof q}},
                                {"k", {NPU_DTYPE_FLOAT32, SHAPE(B, HK, SK, E), k, sizeof k}},
                                {"v", {NPU_DTYPE_FLOAT32, SHAPE(B, HK, SK, E), v, sizeof v}},
                                {"m", {NPU_DTYPE_FLOAT32, SHAPE(1, 1, L, SK), m, sizeof m}}};
  npu_reference_result_t *r = NULL;
  assert_ok(npu_reference_run(g, NULL, in, 4, &r));
  double want[HQ * L * E];
  sdpa_hand(q, k, v, with_mask ? m : NULL, causal, explicit_scale ? 0.3 : 1.0 / sqrt((double)E), want);
  const float *o = f32(r, 0);
  for (int i = 0; i < HQ * L * E; i++) assert_float_equal(o[i], want[i], 1e-5);
  npu_reference_result_free(r);
  npu_graph_destroy(g);
}

static void test_sdpa_gqa(void **state) {
  (void)state;
  run_sdpa(true, false, false);
  run_sdpa(false, true, false);
  run_sdpa(true, false, true);
  run_sdpa(false, false, true);
}

/* ---- bf16 rounding --------------------------------------------------------------------------------------- */

static float from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static void test_bf16_rounding(void **state) {
  (void)state;
  static const struct { uint32_t f32; uint16_t bf16; } cases[] = {
      {0x3F800000u, 0x3F80}, /* 1.0 exact */
      {0x3F808000u, 0x3F80}, /* halfway, even below: stays */
      {0x3F818000u, 0x3F82}, /* halfway, odd below: rounds up to even */
      {0x3F808001u, 0x3F81}, /* above halfway */
      {0x3F807FFFu, 0x3F80}, /* below halfway */
      {0xBF818000u, 0xBF82}, /* negative tie */
      {0x7F7FFFFFu, 0x7F80}, /* FLT_MAX rounds to +inf */
      {0x7F800000u, 0x7F80}, /* +inf */
      {0xFF800000u, 0xFF80}, /* -inf */
      {0x80000000u, 0x8000}, /* -0 */
      {0x00010000u, 0x0001}, /* subnormal */
  };
  const size_t n = sizeof cases / sizeof cases[0];
  for (size_t i = 0; i < n; i++) assert_int_equal(npu_reference_f32_to_bf16(from_bits(cases[i].f32)), cases[i].bf16);
  assert_true(isnan(npu_reference_bf16_to_f32(npu_reference_f32_to_bf16(from_bits(0x7FC00001u)))));
  assert_true(isnan(npu_reference_bf16_to_f32(npu_reference_f32_to_bf16(from_bits(0x7F800001u))))); /* sNaN stays NaN */

  /* Through an op: to.dtype float32 -> bfloat16 rounds the same way. */
  npu_graph_t *g = new_graph();
  npu_tensor_id_t x = add_tensor(g, "x", NPU_DTYPE_FLOAT32, SHAPE((int64_t)n), NPU_ROLE_INPUT);
  npu_tensor_id_t y = add_tensor(g, "y", NPU_DTYPE_BFLOAT16, SHAPE((int64_t)n), NPU_ROLE_INTERMEDIATE);
  add_node(g, "y", "aten.to.dtype", &x, 1, &y, 1, (npu_attr_t[]){{"dtype", npu_attr_dtype(NPU_DTYPE_BFLOAT16)}}, 1);
  assert_ok(npu_graph_add_output(g, y));
  float xs[16];
  for (size_t i = 0; i < n; i++) xs[i] = from_bits(cases[i].f32);
  npu_reference_input_t in = {"x", {NPU_DTYPE_FLOAT32, SHAPE((int64_t)n), xs, n * 4}};
  npu_reference_result_t *r = NULL;
  assert_ok(npu_reference_run(g, NULL, &in, 1, &r));
  const uint16_t *o = npu_reference_result_output(r, 0)->data;
  for (size_t i = 0; i < n; i++) assert_int_equal(o[i], cases[i].bf16);
  npu_reference_result_free(r);
  npu_graph_destroy(g);
}

/* bf16 * bf16 is computed in fp32 and rounded once: 1.0078125 * 1.0078125 =
 * 1.01568603515625, which rounds to 1.015625 (0x3F82). */
static void test_bf16_op_rounding(void **state) {
  (void)state;
  npu_graph_t *g = new_graph();
  npu_tensor_id_t x = add_tensor(g, "x", NPU_DTYPE_BFLOAT16, SHAPE(2), NPU_ROLE_INPUT);
  npu_tensor_id_t y = add_tensor(g, "y", NPU_DTYPE_BFLOAT16, SHAPE(2), NPU_ROLE_INTERMEDIATE);
  npu_tensor_id_t both[2] = {x, x};
  add_node(g, "y", "aten.mul.Tensor", both, 2, &y, 1, NULL, 0);
  assert_ok(npu_graph_add_output(g, y));
  uint16_t xs[2] = {0x3F81, 0xC000}; /* 1.0078125, -2 */
  npu_reference_input_t in = {"x", {NPU_DTYPE_BFLOAT16, SHAPE(2), xs, sizeof xs}};
  npu_reference_result_t *r = NULL;
  assert_ok(npu_reference_run(g, NULL, &in, 1, &r));
  const uint16_t *o = npu_reference_result_output(r, 0)->data;
  assert_int_equal(o[0], 0x3F82);
  assert_int_equal(o[1], 0x4080); /* 4 */
  npu_reference_result_free(r);
  npu_graph_destroy(g);
}

/* ---- extension point and errors ----------------------------------------------------------------------------- */

static npu_status_t twice(const npu_graph_t *g, npu_node_id_t node, const npu_host_tensor_t *in, int32_t nin,
                          npu_host_tensor_t *out, int32_t nout) {
  (void)g, (void)node, (void)nin, (void)nout;
  size_t n = (size_t)in[0].shape.dims[0];
  for (size_t i = 0; i < n; i++) npu_reference_store(&out[0], i, 2.0 * npu_reference_load(&in[0], i));
  return NULL;
}

static const npu_op_schema_t k_test_op = {.name = "test.twice", .summary = "2x", .min_inputs = 1,
                                          .max_inputs = 1, .num_outputs = 1};

static void test_extension_point(void **state) {
  (void)state;
  npu_graph_t *g = new_graph();
  assert_ok(npu_op_register(&k_test_op));
  npu_tensor_id_t x = add_tensor(g, "x", NPU_DTYPE_FLOAT32, SHAPE(3), NPU_ROLE_INPUT);
  npu_tensor_id_t y = add_tensor(g, "y", NPU_DTYPE_FLOAT32, SHAPE(3), NPU_ROLE_INTERMEDIATE);
  add_node(g, "fused_1", "test.twice", &x, 1, &y, 1, NULL, 0);
  assert_ok(npu_graph_add_output(g, y));
  float xs[3] = {1, -2, 3.5f};
  npu_reference_input_t in = {"x", {NPU_DTYPE_FLOAT32, SHAPE(3), xs, sizeof xs}};
  npu_reference_result_t *r = NULL;
  /* Not registered: UNSUPPORTED, naming the node and the op. */
  assert_false(npu_reference_supports_op("test.twice"));
  npu_status_t s = npu_reference_run(g, NULL, &in, 1, &r);
  assert_int_equal(npu_status_code(s), NPU_STATUS_UNSUPPORTED);
  npu_status_free(s);
  assert_error_contains(npu_reference_run(g, NULL, &in, 1, &r), "fused_1");
  assert_error_contains(npu_reference_run(g, NULL, &in, 1, &r), "test.twice");
  assert_ok(npu_reference_register_op("test.twice", twice));
  assert_true(npu_reference_supports_op("test.twice"));
  assert_ok(npu_reference_run(g, NULL, &in, 1, &r));
  const float *o = f32(r, 0);
  assert_float_equal(o[0], 2, 0);
  assert_float_equal(o[1], -4, 0);
  assert_float_equal(o[2], 7, 0);
  npu_reference_result_free(r);
  assert_ok(npu_reference_register_op("test.twice", NULL));
  assert_false(npu_reference_supports_op("test.twice"));
  /* Input errors. */
  assert_error_contains(npu_reference_run(g, NULL, NULL, 0, &r), "'x' was not given");
  npu_reference_input_t bad = {"x", {NPU_DTYPE_FLOAT32, SHAPE(4), xs, sizeof xs}};
  assert_error_contains(npu_reference_run(g, NULL, &bad, 1, &r), "expects float32 [3]");
  npu_graph_destroy(g);
}

/* Every builtin ATen op with fixed semantics has an implementation. */
static void test_builtins_covered(void **state) {
  (void)state;
  assert_ok(npu_ops_register_builtins());
  int32_t n = 0;
  const npu_op_schema_t *const *ops = npu_op_list(&n);
  int32_t missing = 0;
  for (int32_t i = 0; i < n; i++) {
    const char *name = ops[i]->name;
    if (strncmp(name, "aten.", 5) != 0 && strcmp(name, "wrap_with_set_grad_enabled") != 0 &&
        strcmp(name, "<built-in function getitem>") != 0)
      continue;
    if (!npu_reference_supports_op(name)) {
      printf("no reference implementation: %s\n", name);
      missing++;
    }
  }
  assert_int_equal(missing, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_slice),
      cmocka_unit_test(test_slice_bad_shape),
      cmocka_unit_test(test_expand_reshape_gqa),
      cmocka_unit_test(test_cat_empty),
      cmocka_unit_test(test_softmax_neg_inf),
      cmocka_unit_test(test_sdpa_gqa),
      cmocka_unit_test(test_bf16_rounding),
      cmocka_unit_test(test_bf16_op_rounding),
      cmocka_unit_test(test_extension_point),
      cmocka_unit_test(test_builtins_covered),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
