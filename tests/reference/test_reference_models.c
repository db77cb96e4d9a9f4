/* The host reference interpreter on the fixtures: tiny-resnet against its fp32
 * golden, qwen-tiny prefill and 8 decode steps against PyTorch's bf16 and fp32
 * logits by the DESIGN.md rule (error <= 2x PyTorch bf16's, argmax agreement
 * >= PyTorch bf16's). */
#include "test_support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npu/graph_io.h"
#include "npu/npy.h"
#include "npu/reference.h"

static npu_graph_t *import(const char *rel) {
  npu_graph_t *g = NULL;
  assert_ok(npu_graph_import_json_file(npu_test_fixture(rel), &g));
  return g;
}

static npu_npy_t read_npy(const char *rel) {
  npu_npy_t a;
  assert_ok(npu_npy_read(npu_test_fixture(rel), &a));
  return a;
}

static void to_f32(const npu_host_tensor_t *t, float *out, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = (float)npu_reference_load(t, i);
}

static void test_tiny_resnet(void **state) {
  (void)state;
  npu_graph_t *g = import("tiny-resnet/model_ir.json");
  npu_weights_t *w = NULL;
  assert_ok(npu_weights_open(npu_test_fixture("tiny-resnet/golden/weights.safetensors"), &w));
  npu_npy_t x = read_npy("tiny-resnet/golden/input.npy"), want = read_npy("tiny-resnet/golden/output.npy");
  npu_reference_input_t in = {"x", {x.dtype, x.shape, x.data, x.size}};
  npu_reference_result_t *r = NULL;
  assert_ok(npu_reference_run(g, w, &in, 1, &r));
  assert_int_equal(npu_reference_result_count(r), 1);
  const npu_host_tensor_t *y = npu_reference_result_output(r, 0);
  assert_int_equal(y->dtype, NPU_DTYPE_FLOAT32);
  assert_true(npu_shape_equal(&y->shape, &want.shape));
  const float *a = y->data, *b = want.data;
  double maxd = 0, maxb = 0;
  for (size_t i = 0; i < want.size / 4; i++) {
    maxd = fmax(maxd, fabs((double)a[i] - b[i]));
    maxb = fmax(maxb, fabs((double)b[i]));
  }
  printf("tiny-resnet: max|a-b|/max|b| = %.3g\n", maxd / maxb);
  assert_true(maxd / maxb <= 1e-4);
  /* Intermediates are reachable by name. */
  assert_non_null(npu_reference_result_find(r, "x"));
  npu_reference_result_free(r);
  npu_npy_free(&x);
  npu_npy_free(&want);
  npu_weights_close(w);
  npu_graph_destroy(g);
}

/* ---- qwen-tiny -------------------------------------------------------------------- */

#define S 8
#define CACHE 32
#define VOCAB 256

static int64_t prompt_len(void) {
  char *meta = npu_test_read_file(npu_test_fixture("qwen-tiny/golden/meta.json"), NULL);
  assert_non_null(meta);
  const char *p = strstr(meta, "\"prompt_len\"");
  assert_non_null(p);
  p = strchr(p, ':');
  assert_non_null(p);
  int64_t l = strtoll(p + 1, NULL, 10);
  free(meta);
  return l;
}

static int argmax(const float *v, int n) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (v[i] > v[best]) best = i;
  return best;
}

/* Checks `ours` (rows x VOCAB) by the DESIGN.md rule against the goldens. */
static void judge(const char *what, const float *ours, const char *bf16_rel, const char *fp32_rel, int rows) {
  npu_npy_t bf = read_npy(bf16_rel), fp = read_npy(fp32_rel);
  assert_int_equal(bf.dtype, NPU_DTYPE_FLOAT32);
  assert_int_equal(fp.dtype, NPU_DTYPE_FLOAT32);
  assert_true(bf.size >= (size_t)rows * VOCAB * 4 && fp.size >= (size_t)rows * VOCAB * 4);
  const float *b = bf.data, *f = fp.data;
  double our_err = 0, pt_err = 0, vs_bf16 = 0;
  int our_agree = 0, pt_agree = 0;
  for (int r = 0; r < rows; r++) {
    for (int j = 0; j < VOCAB; j++) {
      size_t i = (size_t)r * VOCAB + (size_t)j;
      assert_false(isnan(ours[i]));
      our_err = fmax(our_err, fabs((double)ours[i] - f[i]));
      pt_err = fmax(pt_err, fabs((double)b[i] - f[i]));
      vs_bf16 = fmax(vs_bf16, fabs((double)ours[i] - b[i]));
    }
    int fa = argmax(f + r * VOCAB, VOCAB);
    our_agree += argmax(ours + r * VOCAB, VOCAB) == fa;
    pt_agree += argmax(b + r * VOCAB, VOCAB) == fa;
  }
  printf("%s: max abs err vs fp32: ours %.5f, PyTorch bf16 %.5f (ratio %.2f, limit 2); "
         "argmax agreement: ours %d/%d, PyTorch bf16 %d/%d; max |ours - PyTorch bf16| %.5f\n",
         what, our_err, pt_err, pt_err > 0 ? our_err / pt_err : 0.0, our_agree, rows, pt_agree, rows, vs_bf16);
  assert_true(our_err <= 2.0 * pt_err);
  assert_true(our_agree >= pt_agree);
  npu_npy_free(&bf);
  npu_npy_free(&fp);
}

static void fill_mask(float *m, int cols, int row, int visible_upto) {
  for (int c = 0; c < cols; c++) m[row * cols + c] = c <= visible_upto ? 0.0f : -INFINITY;
}

static void test_qwen_tiny(void **state) {
  (void)state;
  int64_t L = prompt_len();
  assert_true(L > 0 && L <= S);
  npu_npy_t tok = read_npy("qwen-tiny/golden/tokens.npy");
  assert_int_equal(tok.dtype, NPU_DTYPE_INT64);
  const int64_t *tokens = tok.data;
  int64_t ntok = (int64_t)(tok.size / 8);
  npu_weights_t *w = NULL;
  assert_ok(npu_weights_open(npu_test_fixture("qwen-tiny/golden/checkpoint"), &w));

  /* ---- prefill ---- */
  npu_graph_t *pg = import("qwen-tiny/prefill_ir.json");
  int64_t ids[S] = {0}, pos[S], cpos[S];
  float mask[S * S];
  for (int i = 0; i < S; i++) {
    if (i < L) ids[i] = tokens[i];
    pos[i] = cpos[i] = i;
    fill_mask(mask, S, i, i);
  }
  npu_reference_input_t pin[] = {
      {"input_ids", {NPU_DTYPE_INT64, {2, {1, S}}, ids, sizeof ids}},
      {"attention_mask", {NPU_DTYPE_FLOAT32, {4, {1, 1, S, S}}, mask, sizeof mask}},
      {"position_ids", {NPU_DTYPE_INT64, {2, {1, S}}, pos, sizeof pos}},
      {"cache_position", {NPU_DTYPE_INT64, {1, {S}}, cpos, sizeof cpos}},
  };
  npu_reference_result_t *pr = NULL;
  assert_ok(npu_reference_run(pg, w, pin, 4, &pr));
  assert_int_equal(npu_reference_result_count(pr), 5);
  const npu_host_tensor_t *logits = npu_reference_result_output(pr, 0);
  assert_int_equal(logits->dtype, NPU_DTYPE_BFLOAT16);
  float *pl = malloc(sizeof(float) * S * VOCAB);
  assert_non_null(pl);
  to_f32(logits, pl, (size_t)S * VOCAB);
  for (int i = 0; i < S * VOCAB; i++) assert_true(isfinite(pl[i])); /* padded rows too */
  judge("qwen-tiny prefill", pl, "qwen-tiny/golden/prefill_logits.npy", "qwen-tiny/golden/prefill_logits_fp32.npy", (int)L);

  /* ---- decode: caches from the prefill KV, zero-padded to CACHE ---- */
  npu_graph_t *dg = import("qwen-tiny/decode_ir.json");
  enum { KV_HEADS = 2, HEAD_DIM = 16 };
  uint16_t *cache[4];
  for (int c = 0; c < 4; c++) {
    const npu_host_tensor_t *kv = npu_reference_result_output(pr, 1 + c);
    assert_int_equal(kv->dtype, NPU_DTYPE_BFLOAT16);
    assert_int_equal(kv->shape.rank, 4);
    assert_int_equal(kv->shape.dims[2], S);
    cache[c] = calloc((size_t)KV_HEADS * CACHE * HEAD_DIM, sizeof(uint16_t));
    assert_non_null(cache[c]);
    const uint16_t *src = kv->data;
    for (int h = 0; h < KV_HEADS; h++)
      for (int s = 0; s < S; s++) {
        for (int d = 0; d < HEAD_DIM; d++) assert_true(isfinite(npu_reference_bf16_to_f32(src[(h * S + s) * HEAD_DIM + d])));
        memcpy(cache[c] + (h * CACHE + s) * HEAD_DIM, src + (h * S + s) * HEAD_DIM, HEAD_DIM * sizeof(uint16_t));
      }
  }
  enum { STEPS = 8 };
  assert_true(ntok >= L + STEPS);
  float *dl = malloc(sizeof(float) * STEPS * VOCAB);
  assert_non_null(dl);
  for (int step = 0; step < STEPS; step++) {
    int64_t p = L + step, id = tokens[p], dpos = p, dcpos = p;
    float dmask[CACHE];
    fill_mask(dmask, CACHE, 0, (int)p);
    const size_t cbytes = (size_t)KV_HEADS * CACHE * HEAD_DIM * sizeof(uint16_t);
    npu_reference_input_t din[] = {
        {"input_ids", {NPU_DTYPE_INT64, {2, {1, 1}}, &id, sizeof id}},
        {"attention_mask", {NPU_DTYPE_FLOAT32, {4, {1, 1, 1, CACHE}}, dmask, sizeof dmask}},
        {"position_ids", {NPU_DTYPE_INT64, {2, {1, 1}}, &dpos, sizeof dpos}},
        {"cache_position", {NPU_DTYPE_INT64, {1, {1}}, &dcpos, sizeof dcpos}},
        {"past_kv_flat_0", {NPU_DTYPE_BFLOAT16, {4, {1, KV_HEADS, CACHE, HEAD_DIM}}, cache[0], cbytes}},
        {"past_kv_flat_1", {NPU_DTYPE_BFLOAT16, {4, {1, KV_HEADS, CACHE, HEAD_DIM}}, cache[1], cbytes}},
        {"past_kv_flat_2", {NPU_DTYPE_BFLOAT16, {4, {1, KV_HEADS, CACHE, HEAD_DIM}}, cache[2], cbytes}},
        {"past_kv_flat_3", {NPU_DTYPE_BFLOAT16, {4, {1, KV_HEADS, CACHE, HEAD_DIM}}, cache[3], cbytes}},
    };
    npu_reference_result_t *dr = NULL;
    assert_ok(npu_reference_run(dg, w, din, 8, &dr));
    assert_int_equal(npu_reference_result_count(dr), 5);
    to_f32(npu_reference_result_output(dr, 0), dl + step * VOCAB, VOCAB);
    for (int c = 0; c < 4; c++) {
      const npu_host_tensor_t *kv = npu_reference_result_output(dr, 1 + c);
      assert_int_equal(kv->size, cbytes);
      memcpy(cache[c], kv->data, cbytes);
    }
    npu_reference_result_free(dr);
  }
  judge("qwen-tiny decode (8 steps)", dl, "qwen-tiny/golden/decode_logits.npy", "qwen-tiny/golden/decode_logits_fp32.npy", STEPS);

  for (int c = 0; c < 4; c++) free(cache[c]);
  free(dl);
  free(pl);
  npu_reference_result_free(pr);
  npu_graph_destroy(dg);
  npu_graph_destroy(pg);
  npu_weights_close(w);
  npu_npy_free(&tok);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tiny_resnet),
      cmocka_unit_test(test_qwen_tiny),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
