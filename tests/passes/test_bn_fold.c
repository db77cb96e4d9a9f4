/* bn-fold (plugin) and the reference math of its weight transforms. */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

#include "npu/graph.h"
#include "npu/ops.h"
#include "npu/weight_transform.h"
#include "pass_harness.h"

#define F32 NPU_DTYPE_FLOAT32
#define IN NPU_ROLE_INPUT
#define MID NPU_ROLE_INTERMEDIATE
#define W NPU_ROLE_WEIGHT

#define REQUIRE_ATEN()                                          \
  do {                                                          \
    if (!harness_have_aten()) {                                 \
      print_message("ATen schemas not registered yet: skip\n"); \
      skip();                                                   \
    }                                                           \
  } while (0)

/* ---- a tiny reference: NCHW conv2d (double accumulation) and BN ---------------- */

enum { N = 1, CI = 3, H = 7, WD = 7, CO = 4, K = 3, PAD = 1, STRIDE = 1 };
enum { HO = (H + 2 * PAD - K) / STRIDE + 1, WO = (WD + 2 * PAD - K) / STRIDE + 1 };
#define EPS 1e-5

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(float lo, float hi) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  double u = (double)(rng_state >> 11) / (double)(1ull << 53);
  return (float)(lo + (hi - lo) * u);
}
static void fill(float *p, size_t n, float lo, float hi) {
  for (size_t i = 0; i < n; i++) p[i] = frand(lo, hi);
}

/* out[CO][HO][WO] = conv(x, w) + (b ? b : 0) */
static void conv2d_ref(const float *x, const float *w, const float *b, double *out) {
  for (int co = 0; co < CO; co++)
    for (int oh = 0; oh < HO; oh++)
      for (int ow = 0; ow < WO; ow++) {
        double acc = b ? b[co] : 0.0;
        for (int ci = 0; ci < CI; ci++)
          for (int kh = 0; kh < K; kh++)
            for (int kw = 0; kw < K; kw++) {
              int ih = oh * STRIDE - PAD + kh, iw = ow * STRIDE - PAD + kw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= WD) continue;
              acc += (double)x[(ci * H + ih) * WD + iw] * w[((co * CI + ci) * K + kh) * K + kw];
            }
        out[(co * HO + oh) * WO + ow] = acc;
      }
}

static void batch_norm_ref(double *y, const float *gamma, const float *beta, const float *mean,
                           const float *var) {
  for (int co = 0; co < CO; co++)
    for (int i = 0; i < HO * WO; i++) {
      double *v = &y[co * HO * WO + i];
      *v = (*v - mean[co]) / sqrt((double)var[co] + EPS) * gamma[co] + beta[co];
    }
}

/* max |a - b| / max |a| */
static double max_rel_error(const double *ref, const double *got, size_t n) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < n; i++) {
    diff = fmax(diff, fabs(ref[i] - got[i]));
    scale = fmax(scale, fabs(ref[i]));
  }
  return diff / (scale > 0 ? scale : 1);
}

typedef struct bn_data {
  float x[N * CI * H * WD], w[CO * CI * K * K], b[CO];
  float gamma[CO], beta[CO], mean[CO], var[CO];
} bn_data_t;

static void make_data(bn_data_t *d) {
  fill(d->x, sizeof d->x / sizeof *d->x, -2, 2);
  fill(d->w, sizeof d->w / sizeof *d->w, -1, 1);
  fill(d->b, CO, -0.5f, 0.5f);
  fill(d->gamma, CO, 0.5f, 1.5f);
  fill(d->beta, CO, -0.5f, 0.5f);
  fill(d->mean, CO, -0.3f, 0.3f);
  fill(d->var, CO, 0.05f, 2.0f);
}

static npu_shape_t shape1(int64_t n) { return (npu_shape_t){.rank = 1, .dims = {n}}; }
static const npu_shape_t wshape = {.rank = 4, .dims = {CO, CI, K, K}};

/* Folds with npu_weight_transform_apply_f32 and compares conv(W', b') with
 * BN(conv(W, b)). */
static void check_fold_numerics(bool with_bias) {
  bn_data_t d;
  make_data(&d);
  static double ref[CO * HO * WO], got[CO * HO * WO];
  conv2d_ref(d.x, d.w, with_bias ? d.b : NULL, ref);
  batch_norm_ref(ref, d.gamma, d.beta, d.mean, d.var);

  float fw[CO * CI * K * K], fb[CO];
  const float *wsrc[] = {d.w, d.gamma, d.beta, d.mean, d.var};
  npu_shape_t wshapes[] = {wshape, shape1(CO), shape1(CO), shape1(CO), shape1(CO)};
  npu_attr_t attrs[] = {{"eps", npu_attr_float(EPS)}, {"has_conv_bias", npu_attr_bool(with_bias)}};
  assert_ok(npu_weight_transform_apply_f32("bn_fold_weight", wsrc, wshapes, 5, attrs, 1, fw,
                                           sizeof fw / sizeof *fw));
  const float *bsrc_b[] = {d.b, d.gamma, d.beta, d.mean, d.var};
  const float *const *bsrc = with_bias ? bsrc_b : bsrc_b + 1;
  npu_shape_t bshapes[] = {shape1(CO), shape1(CO), shape1(CO), shape1(CO), shape1(CO)};
  assert_ok(npu_weight_transform_apply_f32("bn_fold_bias", bsrc, bshapes, with_bias ? 5 : 4,
                                           attrs, 2, fb, CO));
  conv2d_ref(d.x, fw, fb, got);
  double err = max_rel_error(ref, got, CO * HO * WO);
  print_message("bn fold (bias=%d): max rel error %.3g\n", with_bias, err);
  assert_true(err < 1e-5);
}

static void test_fold_math_no_bias(void **state) {
  (void)state;
  check_fold_numerics(false);
}

static void test_fold_math_with_bias(void **state) {
  (void)state;
  check_fold_numerics(true);
}

static void test_fold_math_errors(void **state) {
  (void)state;
  bn_data_t d;
  make_data(&d);
  float fw[CO * CI * K * K], fb[CO];
  const float *src[] = {d.w, d.gamma, d.beta, d.mean, d.var};
  npu_shape_t shapes[] = {wshape, shape1(CO - 1), shape1(CO), shape1(CO), shape1(CO)};
  npu_attr_t eps[] = {{"eps", npu_attr_float(EPS)}};
  assert_error_contains(
      npu_weight_transform_apply_f32("bn_fold_weight", src, shapes, 5, eps, 1, fw, CO * CI * K * K),
      "gamma");
  shapes[1] = shape1(CO);
  assert_error_contains(
      npu_weight_transform_apply_f32("bn_fold_weight", src, shapes, 5, eps, 1, fw, 7),
      "output has 7 elements");
  assert_error_contains(
      npu_weight_transform_apply_f32("bn_fold_weight", src, shapes, 4, eps, 1, fw, 7),
      "expects 5 sources");
  shapes[0] = shape1(CO + 1); /* conv bias of the wrong length */
  npu_attr_t hb[] = {{"has_conv_bias", npu_attr_bool(true)}};
  assert_error_contains(npu_weight_transform_apply_f32("bn_fold_bias", src, shapes, 5, hb, 1, fb, CO),
                        "source 0 (b)");
  npu_status_t s = npu_weight_transform_apply_f32("bn_fold_nope", src, shapes, 5, NULL, 0, fb, CO);
  assert_int_equal(npu_status_code(s), NPU_STATUS_UNSUPPORTED);
  npu_status_free(s);
}

/* ---- the pass on a hand-built graph ------------------------------------------------ */

typedef struct conv_bn_graph {
  npu_graph_t *g;
  npu_tensor_id_t x, w, b, gamma, beta, mean, var, conv, bn, relu;
} conv_bn_graph_t;

/* x -> conv2d(x, W[, b]) -> batch_norm -> relu -> output */
static void build_conv_bn(conv_bn_graph_t *c, bool with_bias, bool training) {
  assert_ok(npu_graph_create(&c->g));
  npu_graph_t *g = c->g;
  c->x = TENSOR(g, "x", F32, IN, N, CI, H, WD);
  c->w = TENSOR(g, "p_conv1_weight", F32, W, CO, CI, K, K);
  c->b = with_bias ? TENSOR(g, "p_conv1_bias", F32, W, CO) : NPU_NO_TENSOR;
  c->gamma = TENSOR(g, "p_bn1_weight", F32, W, CO);
  c->beta = TENSOR(g, "p_bn1_bias", F32, W, CO);
  c->mean = TENSOR(g, "b_bn1_running_mean", F32, W, CO);
  c->var = TENSOR(g, "b_bn1_running_var", F32, W, CO);
  c->conv = TENSOR(g, "conv2d", F32, MID, N, CO, HO, WO);
  c->bn = TENSOR(g, "batch_norm", F32, MID, N, CO, HO, WO);
  c->relu = TENSOR(g, "relu", F32, MID, N, CO, HO, WO);
  npu_attr_value_t one[] = {npu_attr_int(STRIDE), npu_attr_int(STRIDE)};
  npu_attr_value_t pad[] = {npu_attr_int(PAD), npu_attr_int(PAD)};
  npu_attr_t conv_attrs[] = {{"stride", npu_attr_list(one, 2)}, {"padding", npu_attr_list(pad, 2)}};
  npu_tensor_id_t conv_in[] = {c->x, c->w, c->b};
  harness_node(g, "conv2d", "aten.conv2d.default", conv_in, with_bias ? 3 : 2, &c->conv, 1,
               conv_attrs, 2);
  npu_attr_t bn_attrs[] = {{"training", npu_attr_bool(training)},
                           {"momentum", npu_attr_float(0.1)},
                           {"eps", npu_attr_float(EPS)},
                           {"cudnn_enabled", npu_attr_bool(false)}};
  harness_node(g, "batch_norm", "aten.batch_norm.default",
               (npu_tensor_id_t[]){c->conv, c->gamma, c->beta, c->mean, c->var}, 5, &c->bn, 1,
               bn_attrs, 4);
  harness_node(g, "relu", "aten.relu.default", &c->bn, 1, &c->relu, 1, NULL, 0);
  assert_ok(npu_graph_add_output(g, c->relu));
  assert_ok(npu_graph_verify(g));
}

static void check_transform(const npu_graph_t *g, int32_t index, const char *kind,
                            const npu_tensor_id_t *sources, int32_t num_sources) {
  const npu_weight_transform_t *t = npu_graph_weight_transform(g, index);
  assert_non_null(t);
  assert_string_equal(t->kind, kind);
  assert_int_equal(t->num_sources, num_sources);
  for (int32_t i = 0; i < num_sources; i++) assert_int_equal(t->sources[i], sources[i]);
  const npu_tensor_t *out = npu_graph_tensor(g, t->output);
  assert_int_equal(out->role, NPU_ROLE_WEIGHT);
  assert_int_equal(out->transform, index);
  assert_null(out->weight_key);
}

/* Applies the graph's recorded transforms to `d` (by source tensor id) and
 * checks conv(x, W', b') against the unfolded reference. */
static void check_graph_numerics(const conv_bn_graph_t *c, const bn_data_t *d) {
  const npu_graph_t *g = c->g;
  struct { npu_tensor_id_t id; const float *data; } table[] = {
      {c->w, d->w}, {c->b, d->b}, {c->gamma, d->gamma}, {c->beta, d->beta},
      {c->mean, d->mean}, {c->var, d->var}};
  float fw[CO * CI * K * K], fb[CO];
  for (int32_t i = 0; i < npu_graph_weight_transform_count(g); i++) {
    const npu_weight_transform_t *t = npu_graph_weight_transform(g, i);
    const float *src[5];
    npu_shape_t shapes[5];
    for (int32_t j = 0; j < t->num_sources; j++) {
      src[j] = NULL;
      for (size_t k = 0; k < sizeof table / sizeof *table; k++)
        if (table[k].id == t->sources[j]) src[j] = table[k].data;
      assert_non_null(src[j]);
      shapes[j] = npu_graph_tensor(g, t->sources[j])->shape;
    }
    bool is_w = strcmp(t->kind, "bn_fold_weight") == 0;
    assert_ok(npu_weight_transform_apply_f32(t->kind, src, shapes, t->num_sources, t->attrs,
                                             t->num_attrs, is_w ? fw : fb,
                                             is_w ? sizeof fw / sizeof *fw : CO));
  }
  static double ref[CO * HO * WO], got[CO * HO * WO];
  conv2d_ref(d->x, d->w, c->b != NPU_NO_TENSOR ? d->b : NULL, ref);
  batch_norm_ref(ref, d->gamma, d->beta, d->mean, d->var);
  conv2d_ref(d->x, fw, fb, got);
  double err = max_rel_error(ref, got, CO * HO * WO);
  print_message("graph bn fold: max rel error %.3g\n", err);
  assert_true(err < 1e-5);
}

static void check_folded(bool with_bias) {
  conv_bn_graph_t c;
  build_conv_bn(&c, with_bias, false);
  npu_graph_t *g = c.g;
  assert_ok(harness_run("bn-fold", "bn-fold", g, NULL));
  assert_ok(npu_graph_verify(g));
  assert_int_equal(harness_stat("folded"), 1);
  assert_int_equal(harness_count_op(g, "aten.batch_norm.default"), 0);
  assert_int_equal(npu_graph_node_count(g), 2);
  const npu_node_t *conv = npu_graph_node(g, npu_graph_find_node(g, "conv2d"));
  assert_int_equal(conv->num_inputs, 3);
  assert_int_equal(conv->inputs[0], c.x);
  assert_int_equal(npu_graph_node(g, npu_graph_find_node(g, "relu"))->inputs[0], c.conv);
  assert_int_equal(npu_graph_weight_transform_count(g), 2);
  const npu_tensor_t *fw = npu_graph_tensor(g, conv->inputs[1]);
  const npu_tensor_t *fb = npu_graph_tensor(g, conv->inputs[2]);
  assert_string_equal(fw->name, "p_conv1_weight.bnfold");
  assert_string_equal(fb->name, "p_conv1_weight.bnfold_bias");
  assert_true(npu_shape_equal(&fw->shape, &wshape));
  assert_int_equal(fb->shape.rank, 1);
  assert_int_equal(fb->shape.dims[0], CO);
  assert_int_equal(npu_graph_weight_transform(g, 0)->output, conv->inputs[1]);
  assert_int_equal(npu_graph_weight_transform(g, 1)->output, conv->inputs[2]);
  check_transform(g, 0, "bn_fold_weight",
                  (npu_tensor_id_t[]){c.w, c.gamma, c.beta, c.mean, c.var}, 5);
  if (with_bias)
    check_transform(g, 1, "bn_fold_bias",
                    (npu_tensor_id_t[]){c.b, c.gamma, c.beta, c.mean, c.var}, 5);
  else
    check_transform(g, 1, "bn_fold_bias", (npu_tensor_id_t[]){c.gamma, c.beta, c.mean, c.var}, 4);
  bn_data_t d;
  make_data(&d);
  check_graph_numerics(&c, &d);
  npu_graph_destroy(g);
}

static void test_bn_fold_pass(void **state) {
  (void)state;
  REQUIRE_ATEN();
  check_folded(false);
}

static void test_bn_fold_pass_with_bias(void **state) {
  (void)state;
  REQUIRE_ATEN();
  check_folded(true);
}

/* Not folded: training-mode BN; a conv output with a second reader. */
static void test_bn_fold_refuses(void **state) {
  (void)state;
  REQUIRE_ATEN();
  conv_bn_graph_t c;
  build_conv_bn(&c, false, true);
  assert_ok(harness_run("bn-fold", "bn-fold", c.g, NULL));
  assert_int_equal(harness_stat("folded"), 0);
  assert_int_equal(harness_count_op(c.g, "aten.batch_norm.default"), 1);
  npu_graph_destroy(c.g);

  build_conv_bn(&c, false, false);
  assert_ok(npu_graph_add_output(c.g, c.conv));
  assert_ok(harness_run("bn-fold", "bn-fold", c.g, NULL));
  assert_int_equal(harness_stat("folded"), 0);
  assert_int_equal(npu_graph_weight_transform_count(c.g), 0);
  npu_graph_destroy(c.g);
}

/* tiny-resnet: canonicalize, bn-fold, dce. */
static void test_tiny_resnet(void **state) {
  (void)state;
  npu_status_t (*import)(const char *, npu_graph_t **);
  *(void **)&import = dlsym(RTLD_DEFAULT, "npu_graph_import_json_file");
  if (!import || !harness_have_aten()) {
    print_message("importer or ATen schemas not available yet: skip\n");
    skip();
  }
  npu_graph_t *g;
  assert_ok(import(npu_test_fixture("tiny-resnet/model_ir.json"), &g));
  assert_ok(harness_run("canonicalize", "canonicalize", g, NULL));
  assert_int_equal(harness_stat("inplace-converted"), 7); /* 5 relu_ + 2 add_ */
  assert_ok(harness_run("bn-fold", "bn-fold", g, NULL));
  assert_int_equal(harness_stat("folded"), 6);
  assert_ok(harness_run("dce", "dce", g, NULL));
  assert_ok(npu_graph_verify(g));
  assert_int_equal(harness_count_op(g, "aten.conv2d.default"), 6);
  assert_int_equal(harness_count_op(g, "aten.batch_norm.default"), 0);
  assert_int_equal(npu_graph_weight_transform_count(g), 12);
  for (int32_t i = 0; i < 12; i++)
    assert_string_equal(npu_graph_weight_transform(g, i)->kind,
                        i % 2 ? "bn_fold_bias" : "bn_fold_weight");
  for (npu_node_id_t n = npu_graph_first_node(g); n != NPU_NO_NODE; n = npu_graph_next_node(g, n)) {
    const npu_node_t *node = npu_graph_node(g, n);
    if (strcmp(node->op, "aten.conv2d.default") == 0) assert_int_equal(node->num_inputs, 3);
  }
  npu_graph_destroy(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fold_math_no_bias),
      cmocka_unit_test(test_fold_math_with_bias),
      cmocka_unit_test(test_fold_math_errors),
      cmocka_unit_test(test_bn_fold_pass),
      cmocka_unit_test(test_bn_fold_pass_with_bias),
      cmocka_unit_test(test_bn_fold_refuses),
      cmocka_unit_test(test_tiny_resnet),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
