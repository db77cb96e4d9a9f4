/* Per-op tests of the ATen schemas (core/ops_aten.c): shape and dtype
 * inference against hand-derived torch results, error messages, defaults. */
#include "test_support.h"

#include <math.h>
#include <stdio.h>
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
static npu_tensor_type_t TT(npu_dtype_t d, npu_shape_t s) { return (npu_tensor_type_t){.dtype = d, .shape = s}; }
#define F32 NPU_DTYPE_FLOAT32
#define BF16 NPU_DTYPE_BFLOAT16
#define I64 NPU_DTYPE_INT64
#define I32 NPU_DTYPE_INT32
#define ATTR(n, v) ((npu_attr_t){.name = (n), .value = (v)})
#define INTS(...) npu_attr_list((const npu_attr_value_t[]){__VA_ARGS__}, \
                                (int32_t)(sizeof((const npu_attr_value_t[]){__VA_ARGS__}) / sizeof(npu_attr_value_t)))
#define I(v) npu_attr_int(v)

/* Builds a one-node graph (inputs i0.., outputs o0.. typed from out[] on entry,
 * float32 scalars if zeroed), applies the schema defaults and runs infer.
 * If `g_out` is non-NULL the graph is handed back (with *node_out). */
static npu_status_t infer_ex(const char *op, const npu_tensor_type_t *ins, int32_t nin, const npu_attr_t *attrs,
                             int32_t nattrs, npu_tensor_type_t *out, int32_t nout, npu_graph_t **g_out,
                             npu_node_id_t *node_out) {
  npu_graph_t *g;
  npu_tensor_id_t in_ids[8], out_ids[8];
  npu_status_t s = npu_graph_create(&g);
  if (s) return s;
  char name[16];
  for (int32_t i = 0; i < nin; i++) {
    snprintf(name, sizeof name, "i%d", i);
    s = npu_graph_add_tensor(g, &(npu_tensor_desc_t){.name = name, .dtype = ins[i].dtype, .shape = ins[i].shape,
                                                     .role = NPU_ROLE_INPUT}, &in_ids[i]);
    if (s) goto done;
  }
  for (int32_t i = 0; i < nout; i++) {
    snprintf(name, sizeof name, "o%d", i);
    s = npu_graph_add_tensor(g, &(npu_tensor_desc_t){.name = name, .dtype = out[i].dtype ? out[i].dtype : F32,
                                                     .shape = out[i].shape}, &out_ids[i]);
    if (s) goto done;
  }
  npu_node_id_t n;
  s = npu_graph_insert_node(g, &(npu_node_desc_t){.name = "n", .op = op, .inputs = in_ids, .num_inputs = nin,
                                                  .outputs = out_ids, .num_outputs = nout, .attrs = attrs,
                                                  .num_attrs = nattrs}, NPU_NO_NODE, &n);
  if (s) goto done;
  s = npu_op_apply_defaults(g, n);
  if (s) goto done;
  const npu_op_schema_t *schema = npu_graph_node(g, n)->schema;
  if (schema->infer) s = schema->infer(g, n, out, nout);
  if (!s && g_out) {
    *g_out = g;
    *node_out = n;
    return NULL;
  }
done:
  npu_graph_destroy(g);
  return s;
}

static npu_status_t infer(const char *op, const npu_tensor_type_t *ins, int32_t nin, const npu_attr_t *attrs,
                          int32_t nattrs, npu_tensor_type_t *out) {
  memset(out, 0, sizeof *out);
  return infer_ex(op, ins, nin, attrs, nattrs, out, 1, NULL, NULL);
}

static void expect(const npu_tensor_type_t *got, npu_dtype_t dtype, npu_shape_t shape) {
  char a[128], b[128];
  if (got->dtype != dtype || !npu_shape_equal(&got->shape, &shape))
    fail_msg("got %s%s, want %s%s", npu_dtype_name(got->dtype), npu_shape_format(&got->shape, a, sizeof a),
             npu_dtype_name(dtype), npu_shape_format(&shape, b, sizeof b));
}

#define NA(arr) (int32_t)(sizeof(arr) / sizeof((arr)[0]))

static int setup(void **state) {
  (void)state;
  assert_ok(npu_ops_register_builtins());
  return 0;
}

static void test_registry(void **state) {
  (void)state;
  assert_ok(npu_ops_register_builtins()); /* idempotent */
  int32_t n;
  const npu_op_schema_t *const *all = npu_op_list(&n);
  assert_true(n >= 60);
  for (int32_t i = 0; i < n; i++) {
    assert_non_null(all[i]->summary);
    assert_null(strchr(all[i]->summary, '\n'));
    if (i > 0) assert_true(strcmp(all[i - 1]->name, all[i]->name) < 0);
    if (all[i]->flags & NPU_OP_FLAG_INPLACE) {
      assert_non_null(all[i]->functional_variant);
      assert_non_null(npu_op_lookup(all[i]->functional_variant));
    }
  }
  assert_non_null(npu_op_lookup("<built-in function getitem>"));
  assert_non_null(npu_op_lookup("wrap_with_set_grad_enabled"));
  assert_null(npu_op_lookup("aten.bogus.default"));
  const npu_op_schema_t *relu_ = npu_op_lookup("aten.relu_.default");
  assert_string_equal(relu_->functional_variant, "aten.relu.default");
  assert_int_equal(npu_op_lookup("aten._assert_tensor_metadata.default")->num_outputs, 0);
  /* Another schema under a taken name is refused. */
  static const npu_op_schema_t dup = {.name = "aten.relu.default", .summary = "x", .min_inputs = 1,
                                      .max_inputs = 1, .num_outputs = 1};
  assert_error_contains(npu_op_register(&dup), "already registered");
}

static void test_conv2d(void **state) {
  (void)state;
  npu_tensor_type_t o, ins[3] = {TT(F32, SH(1, 3, 32, 32)), TT(F32, SH(16, 3, 3, 3)), TT(F32, SH(16))};
  npu_attr_t a[] = {ATTR("stride", INTS(I(2), I(2))), ATTR("padding", INTS(I(1), I(1)))};
  /* out = (32 + 2*1 - 3)/2 + 1 = 16 */
  assert_ok(infer("aten.conv2d.default", ins, 3, a, NA(a), &o));
  expect(&o, F32, SH(1, 16, 16, 16));
  /* defaults: stride 1, padding 0: (32 - 3)/1 + 1 = 30 */
  assert_ok(infer("aten.conv2d.default", ins, 2, NULL, 0, &o));
  expect(&o, F32, SH(1, 16, 30, 30));
  /* ResNet stem: (224 + 2*3 - 7)/2 + 1 = 112 */
  npu_tensor_type_t stem[2] = {TT(F32, SH(1, 3, 224, 224)), TT(F32, SH(64, 3, 7, 7))};
  npu_attr_t sa[] = {ATTR("stride", INTS(I(2), I(2))), ATTR("padding", INTS(I(3), I(3)))};
  assert_ok(infer("aten.conv2d.default", stem, 2, sa, NA(sa), &o));
  expect(&o, F32, SH(1, 64, 112, 112));
  /* 1x1 stride 2 downsample: (56 - 1)/2 + 1 = 28 */
  npu_tensor_type_t ds[2] = {TT(F32, SH(1, 64, 56, 56)), TT(F32, SH(128, 64, 1, 1))};
  npu_attr_t da[] = {ATTR("stride", INTS(I(2), I(2)))};
  assert_ok(infer("aten.conv2d.default", ds, 2, da, NA(da), &o));
  expect(&o, F32, SH(1, 128, 28, 28));
  /* depthwise: groups 8, weight [8,1,3,3]; dilation 2: eff kernel 5 -> 10-5+1 = 6 */
  npu_tensor_type_t dw[2] = {TT(F32, SH(1, 8, 10, 10)), TT(F32, SH(8, 1, 3, 3))};
  npu_attr_t ga[] = {ATTR("groups", I(8)), ATTR("dilation", INTS(I(2), I(2)))};
  assert_ok(infer("aten.conv2d.default", dw, 2, ga, NA(ga), &o));
  expect(&o, F32, SH(1, 8, 6, 6));
  /* unbatched [C,H,W] */
  npu_tensor_type_t ub[2] = {TT(F32, SH(3, 8, 8)), TT(F32, SH(4, 3, 3, 3))};
  assert_ok(infer("aten.conv2d.default", ub, 2, NULL, 0, &o));
  expect(&o, F32, SH(4, 6, 6));
  /* errors */
  npu_tensor_type_t bad[2] = {TT(F32, SH(1, 3, 32, 32)), TT(F32, SH(16, 4, 3, 3))};
  assert_error_contains(infer("aten.conv2d.default", bad, 2, NULL, 0, &o),
                        "conv2d: weight has 4 input channels per group but x has 3");
  npu_tensor_type_t r2[2] = {TT(F32, SH(3, 32)), TT(F32, SH(16, 3, 3, 3))};
  assert_error_contains(infer("aten.conv2d.default", r2, 2, NULL, 0, &o), "x must be 3-D or 4-D");
  npu_tensor_type_t bb[3] = {TT(F32, SH(1, 3, 8, 8)), TT(F32, SH(16, 3, 3, 3)), TT(F32, SH(8))};
  assert_error_contains(infer("aten.conv2d.default", bb, 3, NULL, 0, &o), "bias must be [16]");
}

static void test_apply_defaults(void **state) {
  (void)state;
  npu_graph_t *g;
  npu_node_id_t n;
  npu_tensor_type_t out = {.dtype = F32, .shape = SH(1, 16, 16, 16)};
  npu_tensor_type_t ins[2] = {TT(F32, SH(1, 3, 32, 32)), TT(F32, SH(16, 3, 3, 3))};
  /* A single int stride is broadcast to [2, 2]; absent args get ATen defaults. */
  npu_attr_t a[] = {ATTR("stride", I(2)), ATTR("padding", I(1))};
  assert_ok(infer_ex("aten.conv2d.default", ins, 2, a, NA(a), &out, 1, &g, &n));
  const npu_node_t *node = npu_graph_node(g, n);
  int64_t v[4];
  int32_t cnt;
  assert_true(npu_node_attr_ints(node, "stride", v, 4, &cnt));
  assert_int_equal(cnt, 2);
  assert_int_equal(v[0], 2);
  assert_int_equal(v[1], 2);
  assert_true(npu_node_attr_ints(node, "dilation", v, 4, &cnt));
  assert_int_equal(cnt, 2);
  assert_int_equal(v[0], 1);
  int64_t groups;
  assert_true(npu_node_attr_int(node, "groups", &groups));
  assert_int_equal(groups, 1);
  assert_ok(npu_op_apply_defaults(g, n)); /* idempotent */
  assert_ok(npu_op_check_node(g, n));
  npu_graph_destroy(g);
  /* Wrong type: the error names the attr. */
  npu_tensor_type_t o;
  npu_attr_t bad[] = {ATTR("stride", npu_attr_string("two"))};
  assert_error_contains(infer("aten.conv2d.default", ins, 2, bad, 1, &o), "attr 'stride' must be a list of 2 ints");
  npu_attr_t bad3[] = {ATTR("padding", INTS(I(1), I(1), I(1)))};
  assert_error_contains(infer("aten.conv2d.default", ins, 2, bad3, 1, &o), "'padding'");
  /* Required args. */
  npu_tensor_type_t x = TT(F32, SH(1, 4, 8, 8));
  assert_error_contains(infer("aten.max_pool2d.default", &x, 1, NULL, 0, &o), "missing required attr 'kernel_size'");
  assert_error_contains(infer("aten.to.dtype", &x, 1, NULL, 0, &o), "missing required attr 'dtype'");
  /* dtype strings are parsed; other attrs are kept untouched. */
  out = (npu_tensor_type_t){.dtype = BF16, .shape = SH(1, 4, 8, 8)};
  npu_attr_t ta[] = {ATTR("dtype", npu_attr_string("torch.bfloat16")), ATTR("extra", I(3))};
  assert_ok(infer_ex("aten.to.dtype", &x, 1, ta, NA(ta), &out, 1, &g, &n));
  npu_dtype_t d;
  assert_true(npu_node_attr_dtype(npu_graph_node(g, n), "dtype", &d));
  assert_int_equal(d, BF16);
  assert_non_null(npu_node_attr(npu_graph_node(g, n), "extra"));
  expect(&out, BF16, SH(1, 4, 8, 8));
  npu_graph_destroy(g);
  npu_attr_t tb[] = {ATTR("dtype", npu_attr_string("torch.floaty"))};
  assert_error_contains(infer("aten.to.dtype", &x, 1, tb, 1, &o), "attr 'dtype' must be a dtype");
}

static void test_pools_flatten(void **state) {
  (void)state;
  npu_tensor_type_t o, x = TT(F32, SH(1, 64, 112, 112));
  /* (112 + 2*1 - 1*(3-1) - 1)/2 + 1 = 56 */
  npu_attr_t a[] = {ATTR("kernel_size", INTS(I(3), I(3))), ATTR("stride", INTS(I(2), I(2))),
                    ATTR("padding", INTS(I(1), I(1)))};
  assert_ok(infer("aten.max_pool2d.default", &x, 1, a, NA(a), &o));
  expect(&o, F32, SH(1, 64, 56, 56));
  /* stride absent = kernel_size: (8 - 2)/2 + 1 = 4 */
  npu_tensor_type_t y = TT(F32, SH(1, 4, 8, 8));
  npu_attr_t k2[] = {ATTR("kernel_size", INTS(I(2), I(2)))};
  assert_ok(infer("aten.max_pool2d.default", &y, 1, k2, 1, &o));
  expect(&o, F32, SH(1, 4, 4, 4));
  /* ceil_mode: 5x5, k2 s2: floor (5-2)/2+1 = 2; ceil ceil(3/2)+1 = 3 */
  npu_tensor_type_t z = TT(F32, SH(1, 1, 5, 5));
  npu_attr_t c[] = {ATTR("kernel_size", INTS(I(2), I(2))), ATTR("ceil_mode", npu_attr_bool(true))};
  assert_ok(infer("aten.max_pool2d.default", &z, 1, c, NA(c), &o));
  expect(&o, F32, SH(1, 1, 3, 3));
  assert_ok(infer("aten.max_pool2d.default", &z, 1, c, 1, &o));
  expect(&o, F32, SH(1, 1, 2, 2));
  npu_attr_t bigpad[] = {ATTR("kernel_size", INTS(I(2), I(2))), ATTR("padding", INTS(I(2), I(2)))};
  assert_error_contains(infer("aten.max_pool2d.default", &y, 1, bigpad, 2, &o), "exceeds half the effective kernel");
  npu_tensor_type_t p = TT(F32, SH(1, 512, 7, 7));
  npu_attr_t os[] = {ATTR("output_size", INTS(I(1), I(1)))};
  assert_ok(infer("aten.adaptive_avg_pool2d.default", &p, 1, os, 1, &o));
  expect(&o, F32, SH(1, 512, 1, 1));
  npu_tensor_type_t f = TT(F32, SH(1, 512, 1, 1));
  npu_attr_t sd[] = {ATTR("start_dim", I(1))};
  assert_ok(infer("aten.flatten.using_ints", &f, 1, sd, 1, &o));
  expect(&o, F32, SH(1, 512));
  assert_ok(infer("aten.flatten.using_ints", &f, 1, NULL, 0, &o)); /* start 0: 512 */
  expect(&o, F32, SH(512));
  npu_tensor_type_t bn[5] = {TT(F32, SH(1, 64, 8, 8)), TT(F32, SH(64)), TT(F32, SH(64)), TT(F32, SH(64)),
                             TT(F32, SH(32))};
  npu_attr_t ba[] = {ATTR("training", npu_attr_bool(false)), ATTR("momentum", npu_attr_float(0.1)),
                     ATTR("eps", npu_attr_float(1e-5)), ATTR("cudnn_enabled", npu_attr_bool(false))};
  assert_ok(infer("aten.batch_norm.default", bn, 4, ba, NA(ba), &o));
  expect(&o, F32, SH(1, 64, 8, 8));
  assert_error_contains(infer("aten.batch_norm.default", bn, 5, ba, NA(ba), &o), "x has 64 channels");
}

static void test_linear_matmul(void **state) {
  (void)state;
  npu_tensor_type_t o;
  npu_tensor_type_t l[3] = {TT(BF16, SH(1, 8, 64)), TT(BF16, SH(128, 64)), TT(BF16, SH(128))};
  assert_ok(infer("aten.linear.default", l, 3, NULL, 0, &o));
  expect(&o, BF16, SH(1, 8, 128));
  npu_tensor_type_t lb[2] = {TT(F32, SH(1, 512)), TT(F32, SH(1000, 256))};
  assert_error_contains(infer("aten.linear.default", lb, 2, NULL, 0, &o), "needs 256 input features");
  /* [1,12,8,128] @ [1,12,128,8] -> [1,12,8,8] */
  npu_tensor_type_t m[2] = {TT(BF16, SH(1, 12, 8, 128)), TT(BF16, SH(1, 12, 128, 8))};
  assert_ok(infer("aten.matmul.default", m, 2, NULL, 0, &o));
  expect(&o, BF16, SH(1, 12, 8, 8));
  /* 1-D @ 2-D: [3] @ [3,4] -> [4]; N-D @ 1-D: [2,3,4] @ [4] -> [2,3]; 1-D @ 1-D -> [] */
  npu_tensor_type_t v1[2] = {TT(F32, SH(3)), TT(F32, SH(3, 4))};
  assert_ok(infer("aten.matmul.default", v1, 2, NULL, 0, &o));
  expect(&o, F32, SH(4));
  npu_tensor_type_t v2[2] = {TT(F32, SH(2, 3, 4)), TT(F32, SH(4))};
  assert_ok(infer("aten.matmul.default", v2, 2, NULL, 0, &o));
  expect(&o, F32, SH(2, 3));
  npu_tensor_type_t v3[2] = {TT(F32, SH(4)), TT(F32, SH(4))};
  assert_ok(infer("aten.matmul.default", v3, 2, NULL, 0, &o));
  expect(&o, F32, (npu_shape_t){.rank = 0});
  /* batch broadcast: [2,1,3,4] @ [5,4,6] -> [2,5,3,6] */
  npu_tensor_type_t bc[2] = {TT(F32, SH(2, 1, 3, 4)), TT(F32, SH(5, 4, 6))};
  assert_ok(infer("aten.matmul.default", bc, 2, NULL, 0, &o));
  expect(&o, F32, SH(2, 5, 3, 6));
  npu_tensor_type_t mm[2] = {TT(F32, SH(2, 3)), TT(F32, SH(4, 5))};
  assert_error_contains(infer("aten.matmul.default", mm, 2, NULL, 0, &o), "mismatched inner dims (3 vs 4)");
  npu_tensor_type_t ad[3] = {TT(F32, SH(5)), TT(F32, SH(2, 3)), TT(F32, SH(3, 5))};
  assert_ok(infer("aten.addmm.default", ad, 3, NULL, 0, &o));
  expect(&o, F32, SH(2, 5));
  npu_tensor_type_t t = TT(F32, SH(2, 3));
  assert_ok(infer("aten.t.default", &t, 1, NULL, 0, &o));
  expect(&o, F32, SH(3, 2));
  npu_tensor_type_t e[2] = {TT(BF16, SH(256, 64)), TT(I64, SH(1, 8))};
  assert_ok(infer("aten.embedding.default", e, 2, NULL, 0, &o));
  expect(&o, BF16, SH(1, 8, 64));
  npu_tensor_type_t eb[2] = {TT(BF16, SH(256, 64)), TT(F32, SH(1, 8))};
  assert_error_contains(infer("aten.embedding.default", eb, 2, NULL, 0, &o), "indices must be int32 or int64");
  /* sdpa: q [1,4,8,16], k [1,4,10,16], v [1,4,10,32] -> [1,4,8,32] */
  npu_tensor_type_t s[3] = {TT(F32, SH(1, 4, 8, 16)), TT(F32, SH(1, 4, 10, 16)), TT(F32, SH(1, 4, 10, 32))};
  assert_ok(infer("aten.scaled_dot_product_attention.default", s, 3, NULL, 0, &o));
  expect(&o, F32, SH(1, 4, 8, 32));
  /* with a mask broadcasting to the [1,4,8,10] scores */
  npu_tensor_type_t sm[4] = {s[0], s[1], s[2], TT(F32, SH(1, 1, 8, 10))};
  assert_ok(infer("aten.scaled_dot_product_attention.default", sm, 4, NULL, 0, &o));
  expect(&o, F32, SH(1, 4, 8, 32));
  sm[3] = TT(F32, SH(1, 1, 8, 9));
  assert_error_contains(infer("aten.scaled_dot_product_attention.default", sm, 4, NULL, 0, &o),
                        "attn_mask [1, 1, 8, 9] does not broadcast to [1, 4, 8, 10]");
}

static void test_binary_promotion(void **state) {
  (void)state;
  npu_tensor_type_t o;
  npu_tensor_type_t a[2] = {TT(F32, SH(2, 3)), TT(F32, SH(3))};
  assert_ok(infer("aten.add.Tensor", a, 2, NULL, 0, &o));
  expect(&o, F32, SH(2, 3));
  /* broadcast both ways: [4,1] * [1,5] -> [4,5] */
  npu_tensor_type_t m[2] = {TT(F32, SH(4, 1)), TT(F32, SH(1, 5))};
  assert_ok(infer("aten.mul.Tensor", m, 2, NULL, 0, &o));
  expect(&o, F32, SH(4, 5));
  /* bf16 + f32 tensors -> f32 (the attention mask add) */
  npu_tensor_type_t p[2] = {TT(BF16, SH(1, 12, 8, 8)), TT(F32, SH(1, 1, 8, 8))};
  assert_ok(infer("aten.add.Tensor", p, 2, NULL, 0, &o));
  expect(&o, F32, SH(1, 12, 8, 8));
  npu_tensor_type_t bad[2] = {TT(F32, SH(2, 3)), TT(F32, SH(4))};
  assert_error_contains(infer("aten.add.Tensor", bad, 2, NULL, 0, &o), "cannot broadcast [2, 3] with [4]");
  /* python scalars: a float scalar keeps a float tensor's dtype */
  npu_tensor_type_t b = TT(BF16, SH(1, 8, 1));
  npu_attr_t eps[] = {ATTR("other", npu_attr_float(1e-6))};
  assert_ok(infer("aten.add.Tensor", &b, 1, eps, 1, &o));
  expect(&o, BF16, SH(1, 8, 1));
  /* int tensor + float scalar -> float32; int tensor + int scalar stays int */
  npu_tensor_type_t it = TT(I32, SH(3));
  assert_ok(infer("aten.mul.Tensor", &it, 1, eps, 1, &o));
  expect(&o, F32, SH(3));
  npu_attr_t two[] = {ATTR("other", I(2))};
  assert_ok(infer("aten.mul.Tensor", &it, 1, two, 1, &o));
  expect(&o, I32, SH(3));
  assert_error_contains(infer("aten.add.Tensor", &it, 1, NULL, 0, &o), "no scalar 'other'");
  /* a 0-d float32 tensor does not promote a dimensioned bf16 tensor */
  npu_tensor_type_t z[2] = {TT(BF16, SH(4)), TT(F32, (npu_shape_t){.rank = 0})};
  assert_ok(infer("aten.sub.Tensor", z, 2, NULL, 0, &o));
  expect(&o, BF16, SH(4));
  /* ... but a 0-d float tensor does promote an int tensor */
  npu_tensor_type_t zi[2] = {TT(I64, SH(4)), TT(F32, (npu_shape_t){.rank = 0})};
  assert_ok(infer("aten.add.Tensor", zi, 2, NULL, 0, &o));
  expect(&o, F32, SH(4));
  /* true division of ints gives float32 */
  npu_tensor_type_t d[2] = {TT(I64, SH(4)), TT(I64, SH(4))};
  assert_ok(infer("aten.div.Tensor", d, 2, NULL, 0, &o));
  expect(&o, F32, SH(4));
  /* in-place: result keeps the mutated input's type; growing it is an error */
  npu_tensor_type_t ip[2] = {TT(F32, SH(1, 64, 56, 56)), TT(F32, SH(1, 64, 56, 56))};
  assert_ok(infer("aten.add_.Tensor", ip, 2, NULL, 0, &o));
  expect(&o, F32, SH(1, 64, 56, 56));
  npu_tensor_type_t grow[2] = {TT(F32, SH(1, 3)), TT(F32, SH(2, 3))};
  assert_error_contains(infer("aten.add_.Tensor", grow, 2, NULL, 0, &o), "does not match the mutated input");
  /* pow with an int exponent keeps dtype */
  npu_tensor_type_t pw = TT(F32, SH(1, 8, 64));
  npu_attr_t ex[] = {ATTR("exponent", I(2))};
  assert_ok(infer("aten.pow.Tensor_Scalar", &pw, 1, ex, 1, &o));
  expect(&o, F32, SH(1, 8, 64));
  /* unary float ops on ints give float32 */
  npu_tensor_type_t ii = TT(I64, SH(3));
  assert_ok(infer("aten.rsqrt.default", &ii, 1, NULL, 0, &o));
  expect(&o, F32, SH(3));
  assert_ok(infer("aten.neg.default", &ii, 1, NULL, 0, &o));
  expect(&o, I64, SH(3));
}

static void test_slice(void **state) {
  (void)state;
  npu_tensor_type_t o, x = TT(BF16, SH(1, 4, 8, 16));
  struct { int64_t start, end, step; bool has_start, has_end; int64_t want; } cases[] = {
      {8, INT64_MAX, 1, true, true, 8},   /* x[..., 8:] = 16 - 8 */
      {0, 8, 1, true, true, 8},           /* x[..., :8] */
      {-4, 0, 1, true, false, 4},         /* x[..., -4:]: start 12 */
      {0, -1, 1, false, true, 15},        /* x[..., :-1] */
      {-100, INT64_MAX, 1, true, true, 16}, /* start clamps to 0 */
      {20, INT64_MAX, 1, true, true, 0},  /* start clamps to 16 */
      {10, 4, 1, true, true, 0},          /* end < start: empty */
      {0, 16, 3, true, true, 6},          /* ceil(16/3) = 6 */
      {1, INT64_MAX, 2, true, true, 8},   /* ceil(15/2) = 8 */
      {0, -100, 1, true, true, 0},        /* end -100 + 16 < 0 -> 0 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    npu_attr_t a[4];
    int32_t n = 0;
    a[n++] = ATTR("dim", I(3));
    if (cases[i].has_start) a[n++] = ATTR("start", I(cases[i].start));
    if (cases[i].has_end) a[n++] = ATTR("end", I(cases[i].end));
    if (cases[i].step != 1) a[n++] = ATTR("step", I(cases[i].step));
    assert_ok(infer("aten.slice.Tensor", &x, 1, a, n, &o));
    expect(&o, BF16, SH(1, 4, 8, cases[i].want));
  }
  /* None start/end (JSON null) mean the full range; dim defaults to 0 */
  npu_attr_t nul[] = {ATTR("start", ((npu_attr_value_t){.kind = NPU_ATTR_NULL})),
                      ATTR("end", ((npu_attr_value_t){.kind = NPU_ATTR_NULL}))};
  assert_ok(infer("aten.slice.Tensor", &x, 1, nul, 2, &o));
  expect(&o, BF16, SH(1, 4, 8, 16));
  npu_attr_t st[] = {ATTR("step", I(0))};
  assert_error_contains(infer("aten.slice.Tensor", &x, 1, st, 1, &o), "step must be positive");
  npu_attr_t bd[] = {ATTR("dim", I(4))};
  assert_error_contains(infer("aten.slice.Tensor", &x, 1, bd, 1, &o), "dim out of range");
}

static void test_views(void **state) {
  (void)state;
  npu_tensor_type_t o, x = TT(BF16, SH(1, 8, 64));
  /* 512 elements / (1*8*16) = 4 */
  npu_attr_t v[] = {ATTR("size", INTS(I(1), I(8), I(-1), I(16)))};
  assert_ok(infer("aten.view.default", &x, 1, v, 1, &o));
  expect(&o, BF16, SH(1, 8, 4, 16));
  npu_attr_t vb[] = {ATTR("size", INTS(I(1), I(8), I(-1), I(15)))};
  assert_error_contains(infer("aten.view.default", &x, 1, vb, 1, &o), "cannot infer -1");
  npu_attr_t vc[] = {ATTR("size", INTS(I(1), I(8), I(63)))};
  assert_error_contains(infer("aten.view.default", &x, 1, vc, 1, &o), "has 504 elements");
  npu_attr_t r[] = {ATTR("shape", INTS(I(1), I(-1)))};
  assert_ok(infer("aten.reshape.default", &x, 1, r, 1, &o));
  expect(&o, BF16, SH(1, 512));
  npu_attr_t u1[] = {ATTR("dim", I(1))};
  assert_ok(infer("aten.unsqueeze.default", &x, 1, u1, 1, &o));
  expect(&o, BF16, SH(1, 1, 8, 64));
  npu_attr_t um[] = {ATTR("dim", I(-1))}; /* wraps against rank + 1 */
  assert_ok(infer("aten.unsqueeze.default", &x, 1, um, 1, &o));
  expect(&o, BF16, SH(1, 8, 64, 1));
  npu_attr_t s0[] = {ATTR("dim", I(0))};
  assert_ok(infer("aten.squeeze.dim", &x, 1, s0, 1, &o));
  expect(&o, BF16, SH(8, 64));
  assert_ok(infer("aten.squeeze.dim", &x, 1, u1, 1, &o)); /* size 8: unchanged */
  expect(&o, BF16, SH(1, 8, 64));
  npu_tensor_type_t q = TT(BF16, SH(1, 8, 4, 16));
  npu_attr_t tr[] = {ATTR("dim0", I(1)), ATTR("dim1", I(2))};
  assert_ok(infer("aten.transpose.int", &q, 1, tr, 2, &o));
  expect(&o, BF16, SH(1, 4, 8, 16));
  npu_attr_t pm[] = {ATTR("dims", INTS(I(0), I(2), I(3), I(1)))};
  assert_ok(infer("aten.permute.default", &q, 1, pm, 1, &o));
  expect(&o, BF16, SH(1, 4, 16, 8));
  npu_attr_t pb[] = {ATTR("dims", INTS(I(0), I(0), I(3), I(1)))};
  assert_error_contains(infer("aten.permute.default", &q, 1, pb, 1, &o), "not a permutation");
  /* expand [1,2,1,8,16] -> [1,2,6,8,16]; -1 keeps */
  npu_tensor_type_t k = TT(BF16, SH(1, 2, 1, 8, 16));
  npu_attr_t e[] = {ATTR("size", INTS(I(1), I(2), I(6), I(-1), I(16)))};
  assert_ok(infer("aten.expand.default", &k, 1, e, 1, &o));
  expect(&o, BF16, SH(1, 2, 6, 8, 16));
  npu_attr_t el[] = {ATTR("size", INTS(I(3), I(1), I(2), I(6), I(8), I(16)))}; /* new leading dim */
  assert_ok(infer("aten.expand.default", &k, 1, el, 1, &o));
  expect(&o, BF16, SH(3, 1, 2, 6, 8, 16));
  npu_attr_t eb[] = {ATTR("size", INTS(I(1), I(3), I(6), I(8), I(16)))};
  assert_error_contains(infer("aten.expand.default", &k, 1, eb, 1, &o), "dim 1 is 2, not 1 or 3");
}

static void test_cat_reduce_misc(void **state) {
  (void)state;
  npu_tensor_type_t o;
  /* [1,4,8,8] ++ [1,4,8,8] on -1 -> [1,4,8,16] */
  npu_tensor_type_t c[2] = {TT(BF16, SH(1, 4, 8, 8)), TT(BF16, SH(1, 4, 8, 8))};
  npu_attr_t d1[] = {ATTR("dim", I(-1))};
  assert_ok(infer("aten.cat.default", c, 2, d1, 1, &o));
  expect(&o, BF16, SH(1, 4, 8, 16));
  /* legacy: a 1-D [0] input is ignored (prefill KV cache) */
  npu_tensor_type_t kv[2] = {TT(BF16, SH(0)), TT(BF16, SH(1, 2, 8, 16))};
  npu_attr_t d2[] = {ATTR("dim", I(-2))};
  assert_ok(infer("aten.cat.default", kv, 2, d2, 1, &o));
  expect(&o, BF16, SH(1, 2, 8, 16));
  npu_tensor_type_t cb[2] = {TT(BF16, SH(1, 4, 8, 8)), TT(BF16, SH(1, 2, 8, 8))};
  assert_error_contains(infer("aten.cat.default", cb, 2, d1, 1, &o), "does not match");
  /* mean over -1 keepdim: [1,8,64] -> [1,8,1] */
  npu_tensor_type_t x = TT(F32, SH(1, 8, 64));
  npu_attr_t md[] = {ATTR("dim", INTS(I(-1))), ATTR("keepdim", npu_attr_bool(true))};
  assert_ok(infer("aten.mean.dim", &x, 1, md, 2, &o));
  expect(&o, F32, SH(1, 8, 1));
  assert_ok(infer("aten.mean.dim", &x, 1, md, 1, &o));
  expect(&o, F32, SH(1, 8));
  /* softmax in float32 from bf16 */
  npu_tensor_type_t s = TT(BF16, SH(1, 4, 8, 8));
  npu_attr_t sa[] = {ATTR("dim", I(-1)), ATTR("dtype", npu_attr_string("torch.float32"))};
  assert_ok(infer("aten.softmax.int", &s, 1, sa, 2, &o));
  expect(&o, F32, SH(1, 4, 8, 8));
  assert_ok(infer("aten.softmax.int", &s, 1, sa, 1, &o));
  expect(&o, BF16, SH(1, 4, 8, 8));
  npu_attr_t dr[] = {ATTR("p", npu_attr_float(0.0)), ATTR("train", npu_attr_bool(false))};
  assert_ok(infer("aten.dropout.default", &s, 1, dr, 2, &o));
  expect(&o, BF16, SH(1, 4, 8, 8));
  npu_attr_t drt[] = {ATTR("p", npu_attr_float(0.1)), ATTR("train", npu_attr_bool(true))};
  assert_error_contains(infer("aten.dropout.default", &s, 1, drt, 2, &o), "inference only");
  assert_true(npu_op_lookup("aten.dropout.default")->flags & NPU_OP_FLAG_NOOP);
  assert_true(npu_op_lookup("aten.view.default")->flags & NPU_OP_FLAG_VIEW);
  assert_true(npu_op_lookup("aten.index_copy_.default")->flags & NPU_OP_FLAG_INPLACE);
  /* getitem picks input[index] */
  npu_tensor_type_t gi[2] = {TT(F32, SH(2)), TT(I64, SH(3))};
  npu_attr_t ix[] = {ATTR("index", I(1))};
  assert_ok(infer("<built-in function getitem>", gi, 2, ix, 1, &o));
  expect(&o, I64, SH(3));
  npu_attr_t ix5[] = {ATTR("index", I(5))};
  assert_error_contains(infer("<built-in function getitem>", gi, 2, ix5, 1, &o), "out of range");
  /* index_copy: self [1,2,32,16], index [1], source [1,2,1,16] */
  npu_tensor_type_t ic[3] = {TT(BF16, SH(1, 2, 32, 16)), TT(I64, SH(1)), TT(BF16, SH(1, 2, 1, 16))};
  npu_attr_t d2b[] = {ATTR("dim", I(2))};
  assert_ok(infer("aten.index_copy.default", ic, 3, d2b, 1, &o));
  expect(&o, BF16, SH(1, 2, 32, 16));
  assert_ok(infer("aten.index_copy_.default", ic, 3, d2b, 1, &o));
  expect(&o, BF16, SH(1, 2, 32, 16));
  /* full: int fill -> int64, float fill -> float32, explicit dtype wins */
  npu_attr_t fu[] = {ATTR("size", INTS(I(2), I(3))), ATTR("fill_value", npu_attr_float(-HUGE_VAL))};
  assert_ok(infer("aten.full.default", NULL, 0, fu, 2, &o));
  expect(&o, F32, SH(2, 3));
  npu_attr_t fi[] = {ATTR("size", INTS(I(4))), ATTR("fill_value", I(7))};
  assert_ok(infer("aten.full.default", NULL, 0, fi, 2, &o));
  expect(&o, I64, SH(4));
  /* arange(10) int64 [10]; arange(0, 1, 0.25) float32 [4] */
  npu_attr_t ar[] = {ATTR("end", I(10))};
  assert_ok(infer("aten.arange.default", NULL, 0, ar, 1, &o));
  expect(&o, I64, SH(10));
  npu_attr_t as[] = {ATTR("start", I(0)), ATTR("end", I(1)), ATTR("step", npu_attr_float(0.25))};
  assert_ok(infer("aten.arange.start_step", NULL, 0, as, 3, &o)); /* (1-0)/0.25 = 4 */
  expect(&o, F32, SH(4));
  npu_attr_t as2[] = {ATTR("start", I(2)), ATTR("end", npu_attr_float(5.5))};
  assert_ok(infer("aten.arange.start", NULL, 0, as2, 2, &o)); /* ceil(3.5) = 4 */
  expect(&o, F32, SH(4));
}

static void test_multi_output(void **state) {
  (void)state;
  npu_tensor_type_t o[3];
  memset(o, 0, sizeof o);
  npu_tensor_type_t x = TT(F32, SH(2, 5, 3));
  npu_attr_t md[] = {ATTR("dim", I(1))};
  assert_ok(infer_ex("aten.max.dim", &x, 1, md, 1, o, 2, NULL, NULL));
  expect(&o[0], F32, SH(2, 3));
  expect(&o[1], I64, SH(2, 3));
  npu_attr_t sp[] = {ATTR("split_sizes", INTS(I(1), I(3), I(1))), ATTR("dim", I(1))};
  memset(o, 0, sizeof o);
  assert_ok(infer_ex("aten.split_with_sizes.default", &x, 1, sp, 2, o, 3, NULL, NULL));
  expect(&o[0], F32, SH(2, 1, 3));
  expect(&o[1], F32, SH(2, 3, 3));
  expect(&o[2], F32, SH(2, 1, 3));
  npu_attr_t sb[] = {ATTR("split_sizes", INTS(I(1), I(3), I(2))), ATTR("dim", I(1))};
  memset(o, 0, sizeof o);
  assert_error_contains(infer_ex("aten.split_with_sizes.default", &x, 1, sb, 2, o, 3, NULL, NULL), "sum to 6");
  /* RoPE HOP: inv_freq [8], position_ids [1,8] -> cos/sin [1,8,16], dtype from the node outputs */
  npu_tensor_type_t r[2] = {TT(F32, SH(8)), TT(I64, SH(1, 8))};
  o[0] = TT(BF16, SH(1, 8, 16));
  o[1] = TT(BF16, SH(1, 8, 16));
  assert_ok(infer_ex("wrap_with_set_grad_enabled", r, 2, NULL, 0, o, 2, NULL, NULL));
  expect(&o[0], BF16, SH(1, 8, 16));
  expect(&o[1], BF16, SH(1, 8, 16));
  /* index.Tensor: x[:, idx] with x [5,6], idx [3] -> [5,3] */
  npu_tensor_type_t ix[2] = {TT(F32, SH(5, 6)), TT(I64, SH(3))};
  npu_attr_t masks[] = {ATTR("_tensor_list_none_masks",
                             npu_attr_list((const npu_attr_value_t[]){INTS(npu_attr_bool(true), npu_attr_bool(false))}, 1))};
  memset(o, 0, sizeof o);
  assert_ok(infer_ex("aten.index.Tensor", ix, 2, masks, 1, o, 1, NULL, NULL));
  expect(&o[0], F32, SH(5, 3));
  /* x[idx] -> [3,6] */
  memset(o, 0, sizeof o);
  assert_ok(infer_ex("aten.index.Tensor", ix, 2, NULL, 0, o, 1, NULL, NULL));
  expect(&o[0], F32, SH(3, 6));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_registry),         cmocka_unit_test(test_conv2d),
      cmocka_unit_test(test_apply_defaults),   cmocka_unit_test(test_pools_flatten),
      cmocka_unit_test(test_linear_matmul),    cmocka_unit_test(test_binary_promotion),
      cmocka_unit_test(test_slice),            cmocka_unit_test(test_views),
      cmocka_unit_test(test_cat_reduce_misc),  cmocka_unit_test(test_multi_output),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
