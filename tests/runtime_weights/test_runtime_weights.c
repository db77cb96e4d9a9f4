/* Weight loading: safetensors parsing/validation, checkpoint directories,
 * sharded indexes, name matching, dtype conversion and transforms. */
#include "test_support.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npu/runtime.h"
#include "safetensors.h"
#include "weights_internal.h"

/* ---- helpers ------------------------------------------------------------- */

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  if (n) assert_int_equal(fwrite(data, 1, n, f), n);
  fclose(f);
}

static void write_text(const char *path, const char *text) { write_bytes(path, text, strlen(text)); }

/* Builds "u64 len | header | data" in a malloc'd buffer. */
static uint8_t *build_st(const char *header, const void *data, size_t data_size,
                         size_t *out_size) {
  size_t n = strlen(header);
  uint8_t *buf = malloc(8 + n + data_size + 1);
  for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
  memcpy(buf + 8, header, n);
  if (data_size) memcpy(buf + 8 + n, data, data_size);
  *out_size = 8 + n + data_size;
  return buf;
}

static const char *write_st(const char *dir, const char *name, const char *header,
                            const void *data, size_t data_size) {
  static char path[4096];
  size_t n;
  uint8_t *buf = build_st(header, data, data_size, &n);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  write_bytes(path, buf, n);
  free(buf);
  return path;
}

static npu_program_tensor_t dest_tensor(const char *name, npu_dtype_t dt, int rank,
                                        const int64_t *dims) {
  npu_program_tensor_t t = {0};
  t.name = name;
  t.dtype = dt;
  t.shape.rank = rank;
  for (int i = 0; i < rank; i++) t.shape.dims[i] = dims[i];
  int64_t numel;
  npu_shape_numel(&t.shape, &numel);
  t.size = (uint64_t)numel * npu_dtype_size(dt);
  return t;
}

static npu_program_weight_t plain_weight(const char *key) {
  npu_program_weight_t w = {0};
  w.key = key;
  return w;
}

static float f32_at(const void *p, size_t i) {
  float v;
  memcpy(&v, (const uint8_t *)p + 4 * i, 4);
  return v;
}

/* ---- tiny-resnet --------------------------------------------------------- */

static void test_resnet_matches_ir(void **state) {
  (void)state;
  npu_weights_t *w;
  assert_ok(npu_weights_open(npu_test_fixture("tiny-resnet/golden/weights.safetensors"), &w));

  /* Every weight the IR declares is in the checkpoint with the same shape. */
  size_t n;
  char *text = npu_test_read_file(npu_test_fixture("tiny-resnet/model_ir.json"), &n);
  assert_non_null(text);
  cJSON *ir = cJSON_ParseWithLength(text, n);
  free(text);
  assert_non_null(ir);
  const cJSON *weights = cJSON_GetObjectItem(ir, "weights");
  assert_true(cJSON_GetArraySize(weights) > 10);
  const cJSON *e;
  int checked = 0;
  cJSON_ArrayForEach(e, weights) {
    const char *name = cJSON_GetObjectItem(e, "name")->valuestring;
    const cJSON *shape = cJSON_GetObjectItem(e, "shape");
    npu_dtype_t dt;
    npu_shape_t s;
    const void *data;
    assert_ok(npu_weights_find(w, name, &dt, &s, &data));
    assert_non_null(data);
    npu_dtype_t want;
    assert_true(npu_dtype_parse(cJSON_GetObjectItem(e, "dtype")->valuestring, &want));
    assert_int_equal(dt, want);
    assert_int_equal(s.rank, cJSON_GetArraySize(shape));
    for (int i = 0; i < s.rank; i++) {
      assert_int_equal(s.dims[i], (int64_t)cJSON_GetArrayItem(shape, i)->valuedouble);
    }
    checked++;
  }
  cJSON_Delete(ir);
  assert_true(checked > 10);

  npu_dtype_t dt;
  npu_shape_t s;
  const void *data;
  assert_ok(npu_weights_find(w, "conv1.weight", &dt, &s, &data));
  assert_int_equal(dt, NPU_DTYPE_FLOAT32);
  assert_int_equal(s.rank, 4);
  assert_int_equal(s.dims[0], 8);
  assert_int_equal(s.dims[1], 3);
  assert_ok(npu_weights_find(w, "fc.weight", &dt, &s, &data));
  assert_int_equal(s.rank, 2);
  assert_int_equal(s.dims[0], 10);
  assert_int_equal(s.dims[1], 16);
  /* Values checked with Python's struct module on the fixture. */
  assert_float_equal(f32_at(data, 0), -0.03428426384925842, 1e-7);
  assert_float_equal(f32_at(data, 1), 0.18561673164367676, 1e-7);

  /* num_batches_tracked: I64 scalar, materialized as int32 (range-checked). */
  assert_ok(npu_weights_find(w, "bn1.num_batches_tracked", &dt, &s, &data));
  assert_int_equal(dt, NPU_DTYPE_INT64);
  assert_int_equal(s.rank, 0);
  npu_program_weight_t pw = plain_weight("bn1.num_batches_tracked");
  npu_program_tensor_t d = dest_tensor("nbt", NPU_DTYPE_INT32, 0, NULL);
  int32_t nbt = -1;
  assert_ok(npu_weights_materialize(w, &pw, &d, &nbt, sizeof nbt));
  assert_int_equal(nbt, 0);

  assert_error_contains(npu_weights_find(w, "no.such.key", NULL, NULL, NULL), "'no.such.key'");
  npu_weights_close(w);
}

static void test_resnet_bn_fold(void **state) {
  (void)state;
  npu_weights_t *w;
  assert_ok(npu_weights_open(npu_test_fixture("tiny-resnet/golden/weights.safetensors"), &w));
  const void *W, *g, *b, *m, *v;
  assert_ok(npu_weights_find(w, "conv1.weight", NULL, NULL, &W));
  assert_ok(npu_weights_find(w, "bn1.weight", NULL, NULL, &g));
  assert_ok(npu_weights_find(w, "bn1.bias", NULL, NULL, &b));
  assert_ok(npu_weights_find(w, "bn1.running_mean", NULL, NULL, &m));
  assert_ok(npu_weights_find(w, "bn1.running_var", NULL, NULL, &v));
  const double eps = 1e-3;
  npu_attr_t attrs[] = {{"eps", npu_attr_float(eps)}};

  static const char *const wsrc[] = {"conv1.weight", "bn1.weight", "bn1.bias",
                                     "bn1.running_mean", "bn1.running_var"};
  npu_program_weight_t pw = {0};
  pw.transform = "bn_fold_weight";
  pw.sources = wsrc;
  pw.num_sources = 5;
  pw.attrs = attrs;
  pw.num_attrs = 1;
  int64_t wdims[] = {8, 3, 3, 3};
  npu_program_tensor_t d = dest_tensor("conv1_folded", NPU_DTYPE_FLOAT32, 4, wdims);
  float out[8 * 27];
  assert_ok(npu_weights_materialize(w, &pw, &d, out, sizeof out));
  for (int c = 0; c < 8; c++) {
    double scale = f32_at(g, c) / sqrt(f32_at(v, c) + eps);
    for (int k = 0; k < 27; k++) {
      assert_float_equal(out[c * 27 + k], f32_at(W, c * 27 + k) * scale, 1e-5);
    }
  }

  /* Same element count, different dims: refused. */
  int64_t flat[] = {8, 27};
  npu_program_tensor_t dflat = dest_tensor("conv1_flat", NPU_DTYPE_FLOAT32, 2, flat);
  assert_error_contains(npu_weights_materialize(w, &pw, &dflat, out, sizeof out), "[8, 27]");

  /* Bias without a conv bias: 4 sources; into bf16. */
  static const char *const bsrc[] = {"bn1.weight", "bn1.bias", "bn1.running_mean",
                                     "bn1.running_var"};
  pw.transform = "bn_fold_bias";
  pw.sources = bsrc;
  pw.num_sources = 4;
  int64_t bdims[] = {8};
  d = dest_tensor("conv1_bias", NPU_DTYPE_BFLOAT16, 1, bdims);
  uint16_t bout[8];
  assert_ok(npu_weights_materialize(w, &pw, &d, bout, sizeof bout));
  for (int c = 0; c < 8; c++) {
    double want = (0.0 - f32_at(m, c)) * f32_at(g, c) / sqrt(f32_at(v, c) + eps) + f32_at(b, c);
    assert_float_equal(npu_bf16_to_f32(bout[c]), want, fabs(want) / 128 + 1e-6);
  }

  /* A missing source names the key. */
  static const char *const bad[] = {"bn1.weight", "bn1.bias", "bn1.running_mean", "bnX.var"};
  pw.sources = bad;
  assert_error_contains(npu_weights_materialize(w, &pw, &d, bout, sizeof bout), "'bnX.var'");
  npu_weights_close(w);
}

static void test_materialize_errors(void **state) {
  (void)state;
  npu_weights_t *w;
  assert_ok(npu_weights_open(npu_test_fixture("tiny-resnet/golden/weights.safetensors"), &w));
  float buf[1024];
  /* Shape mismatch names the key and both shapes. */
  npu_program_weight_t pw = plain_weight("fc.weight");
  int64_t dims[] = {16, 10};
  npu_program_tensor_t d = dest_tensor("fc", NPU_DTYPE_FLOAT32, 2, dims);
  npu_status_t s = npu_weights_materialize(w, &pw, &d, buf, sizeof buf);
  assert_non_null(s);
  assert_non_null(strstr(npu_status_message(s), "'fc.weight'"));
  assert_non_null(strstr(npu_status_message(s), "[10, 16]"));
  assert_non_null(strstr(npu_status_message(s), "[16, 10]"));
  npu_status_free(s);
  /* Destination too small. */
  int64_t ok_dims[] = {10, 16};
  d = dest_tensor("fc", NPU_DTYPE_FLOAT32, 2, ok_dims);
  assert_error_contains(npu_weights_materialize(w, &pw, &d, buf, 16), "fc.weight");
  /* Missing key: NOT_FOUND naming the key and the candidates. */
  pw = plain_weight("model.fc2.weight");
  s = npu_weights_materialize(w, &pw, &d, buf, sizeof buf);
  assert_int_equal(npu_status_code(s), NPU_STATUS_NOT_FOUND);
  assert_non_null(strstr(npu_status_message(s), "'model.fc2.weight'"));
  assert_non_null(strstr(npu_status_message(s), "'fc2.weight'"));
  npu_status_free(s);
  /* inv_freq with no config.json beside the file: an error, never 10000. */
  pw = plain_weight("rotary_emb.inv_freq");
  int64_t fdims[] = {8};
  d = dest_tensor("inv_freq", NPU_DTYPE_FLOAT32, 1, fdims);
  s = npu_weights_materialize(w, &pw, &d, buf, sizeof buf);
  assert_int_equal(npu_status_code(s), NPU_STATUS_NOT_FOUND);
  assert_non_null(strstr(npu_status_message(s), "rotary_emb.inv_freq"));
  assert_non_null(strstr(npu_status_message(s), "config.json"));
  npu_status_free(s);
  /* Float into int: unsupported. */
  pw = plain_weight("fc.weight");
  d = dest_tensor("fc", NPU_DTYPE_INT32, 2, ok_dims);
  assert_error_contains(npu_weights_materialize(w, &pw, &d, buf, sizeof buf), "fc.weight");
  npu_weights_close(w);
}

/* ---- qwen-tiny checkpoint directory --------------------------------------- */

static void test_qwen_checkpoint(void **state) {
  (void)state;
  npu_weights_t *w;
  assert_ok(npu_weights_open(npu_test_fixture("qwen-tiny/golden/checkpoint"), &w));

  /* "model." prefix strip; bf16 -> f32 widening. */
  const void *raw;
  npu_dtype_t dt;
  npu_shape_t s;
  assert_ok(npu_weights_find(w, "model.layers.0.input_layernorm.weight", &dt, &s, &raw));
  assert_int_equal(dt, NPU_DTYPE_BFLOAT16);
  npu_program_weight_t pw = plain_weight("model.model.layers.0.input_layernorm.weight");
  int64_t d64[] = {64};
  npu_program_tensor_t d = dest_tensor("ln", NPU_DTYPE_FLOAT32, 1, d64);
  float ln[64];
  assert_ok(npu_weights_materialize(w, &pw, &d, ln, sizeof ln));
  for (int i = 0; i < 64; i++) {
    uint16_t h;
    memcpy(&h, (const uint8_t *)raw + 2 * i, 2);
    uint32_t u = (uint32_t)h << 16;
    float want;
    memcpy(&want, &u, 4);
    assert_true(ln[i] == want);
  }
  const char *found;
  assert_ok(npu_weights_resolve(w, "model.model.norm.weight", &found, NULL, NULL, NULL));
  assert_string_equal(found, "model.norm.weight");

  /* Tied embeddings: model.lm_head.weight -> model.embed_tokens.weight. */
  assert_error_contains(npu_weights_find(w, "lm_head.weight", NULL, NULL, NULL), "lm_head.weight");
  assert_ok(npu_weights_resolve(w, "model.lm_head.weight", &found, NULL, NULL, NULL));
  assert_string_equal(found, "model.embed_tokens.weight");
  assert_ok(npu_weights_resolve(w, "lm_head.weight", &found, NULL, NULL, NULL));
  assert_string_equal(found, "model.embed_tokens.weight");
  const void *emb;
  assert_ok(npu_weights_find(w, "model.embed_tokens.weight", NULL, NULL, &emb));
  pw = plain_weight("model.lm_head.weight");
  int64_t edims[] = {256, 64};
  d = dest_tensor("lm_head", NPU_DTYPE_BFLOAT16, 2, edims);
  uint16_t *lm = malloc(256 * 64 * 2);
  assert_ok(npu_weights_materialize(w, &pw, &d, lm, 256 * 64 * 2));
  assert_memory_equal(lm, emb, 256 * 64 * 2);
  free(lm);

  /* inv_freq from config.json rope_parameters.rope_theta = 1e6, D = 2*8 = 16.
   * Expected (python3: [1/1e6**(i/16) for i in range(0,16,2)] as float32):
   *   1.0, 0.17782794, 0.031622775, 0.0056234132, 0.001, 0.00017782794,
   *   3.1622778e-05, 5.6234135e-06 */
  static const float expect[8] = {1.0f,         0.17782794f,   0.031622775f,   0.0056234132f,
                                  0.001f,       0.00017782794f, 3.1622778e-05f, 5.6234135e-06f};
  const char *keys[] = {"model.model.rotary_emb.inv_freq",
                        "model.model.rotary_emb.original_inv_freq"};
  for (int k = 0; k < 2; k++) {
    pw = plain_weight(keys[k]);
    int64_t fd[] = {8};
    d = dest_tensor("inv_freq", NPU_DTYPE_FLOAT32, 1, fd);
    float f[8];
    assert_ok(npu_weights_materialize(w, &pw, &d, f, sizeof f));
    for (int i = 0; i < 8; i++) {
      assert_float_equal(f[i], expect[i], expect[i] * 1e-6);
      assert_float_equal(f[i], (float)(1.0 / pow(1e6, (2.0 * i) / 16.0)), 0);
    }
  }
  double theta;
  assert_ok(npu_weights_rope_theta(w, &theta));
  assert_true(theta == 1e6);
  npu_weights_close(w);
}

/* ---- sharded index -------------------------------------------------------- */

static void test_sharded_index(void **state) {
  (void)state;
  const char *dir = npu_test_tmpdir("weights-sharded");
  char path[4096];
  float a[4] = {1, 2, 3, 4};
  double b[2] = {0.5, -1.5};
  write_st(dir, "model-00001-of-00002.safetensors",
           "{\"model.a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", a,
           sizeof a);
  write_st(dir, "model-00002-of-00002.safetensors",
           "{\"__metadata__\":{\"format\":\"pt\"},"
           "\"model.b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}  ",
           b, sizeof b);
  snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
  write_text(path, "{\"metadata\":{\"total_size\":32},\"weight_map\":{"
                   "\"model.a\":\"model-00001-of-00002.safetensors\","
                   "\"model.b\":\"model-00002-of-00002.safetensors\"}}");
  snprintf(path, sizeof path, "%s/config.json", dir);
  write_text(path, "{\"rope_theta\": 10000.0}");

  npu_weights_t *w;
  assert_ok(npu_weights_open(dir, &w));
  npu_dtype_t dt;
  npu_shape_t s;
  const void *data;
  assert_ok(npu_weights_find(w, "model.a", &dt, &s, &data));
  assert_int_equal(dt, NPU_DTYPE_FLOAT32);
  assert_memory_equal(data, a, sizeof a);
  assert_ok(npu_weights_find(w, "model.b", &dt, &s, &data));
  assert_int_equal(dt, NPU_DTYPE_FLOAT64);
  /* f64 -> f32 via the "model." strip rule. */
  npu_program_weight_t pw = plain_weight("model.model.b");
  int64_t bd[] = {2};
  npu_program_tensor_t d = dest_tensor("b", NPU_DTYPE_FLOAT32, 1, bd);
  float fb[2];
  assert_ok(npu_weights_materialize(w, &pw, &d, fb, sizeof fb));
  assert_true(fb[0] == 0.5f && fb[1] == -1.5f);
  /* f32 -> f16. */
  pw = plain_weight("model.a");
  int64_t ad[] = {2, 2};
  d = dest_tensor("a", NPU_DTYPE_FLOAT16, 2, ad);
  uint16_t ha[4];
  assert_ok(npu_weights_materialize(w, &pw, &d, ha, sizeof ha));
  assert_int_equal(ha[0], 0x3c00);
  assert_int_equal(ha[3], 0x4400);
  /* top-level rope_theta. */
  pw = plain_weight("rotary.inv_freq");
  int64_t fd[] = {4};
  d = dest_tensor("f", NPU_DTYPE_FLOAT32, 1, fd);
  float f[4];
  assert_ok(npu_weights_materialize(w, &pw, &d, f, sizeof f));
  for (int i = 0; i < 4; i++) assert_float_equal(f[i], 1.0 / pow(10000.0, (2.0 * i) / 8.0), 1e-7);
  npu_weights_close(w);

  /* The index file itself can be opened too. */
  snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
  assert_ok(npu_weights_open(path, &w));
  assert_ok(npu_weights_find(w, "model.b", NULL, NULL, NULL));
  npu_weights_close(w);

  /* An index naming a missing shard. */
  const char *dir2 = npu_test_tmpdir("weights-missing-shard");
  write_st(dir2, "model-00001-of-00002.safetensors",
           "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", a, 4);
  snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir2);
  write_text(path, "{\"weight_map\":{\"x\":\"model-00001-of-00002.safetensors\","
                   "\"y\":\"model-00002-of-00002.safetensors\"}}");
  npu_status_t st = npu_weights_open(dir2, &w);
  assert_int_equal(npu_status_code(st), NPU_STATUS_NOT_FOUND);
  assert_non_null(strstr(npu_status_message(st), "model-00002-of-00002.safetensors"));
  npu_status_free(st);

  /* An index whose shard lacks the key. */
  write_text(path, "{\"weight_map\":{\"x\":\"model-00001-of-00002.safetensors\","
                   "\"z\":\"model-00001-of-00002.safetensors\"}}");
  assert_error_contains(npu_weights_open(dir2, &w), "'z'");
  /* Path traversal in a shard name. */
  write_text(path, "{\"weight_map\":{\"x\":\"../model-00001-of-00002.safetensors\"}}");
  assert_error_contains(npu_weights_open(dir2, &w), "same directory");
  /* No weight_map. */
  write_text(path, "{\"metadata\":{}}");
  assert_error_contains(npu_weights_open(dir2, &w), "weight_map");
  /* An empty directory. */
  assert_error_contains(npu_weights_open(npu_test_tmpdir("weights-empty"), &w),
                        "model.safetensors");
  assert_error_contains(npu_weights_open("/nonexistent/weights.safetensors", &w),
                        "/nonexistent/weights.safetensors");
}

/* ---- config without rope_theta ----------------------------------------- */

static void test_rope_theta_missing(void **state) {
  (void)state;
  const char *dir = npu_test_tmpdir("weights-norope");
  float a[1] = {1};
  char path[4096];
  write_st(dir, "model.safetensors",
           "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"rot.inv_freq\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
           a, sizeof a);
  snprintf(path, sizeof path, "%s/config.json", dir);
  write_text(path, "{\"hidden_size\": 8}");
  npu_weights_t *w;
  assert_ok(npu_weights_open(dir, &w));
  npu_program_weight_t pw = plain_weight("model.rotary_emb.inv_freq");
  int64_t fd[] = {4};
  npu_program_tensor_t d = dest_tensor("f", NPU_DTYPE_FLOAT32, 1, fd);
  float f[4];
  assert_error_contains(npu_weights_materialize(w, &pw, &d, f, sizeof f), "rope_theta");
  /* A stored inv_freq tensor wins over computing. */
  pw = plain_weight("rot.inv_freq");
  int64_t one[] = {1};
  d = dest_tensor("f", NPU_DTYPE_FLOAT32, 1, one);
  assert_ok(npu_weights_materialize(w, &pw, &d, f, sizeof f));
  assert_true(f[0] == 1.0f);
  npu_weights_close(w);
}

/* ---- bad safetensors ----------------------------------------------------- */

static void expect_bad(const uint8_t *buf, size_t n, const char *needle) {
  npu_st_file_t *f = NULL;
  npu_status_t s = npu_st_parse(buf, n, "weights.safetensors", &f);
  if (!s) {
    npu_st_close(f);
    fail_msg("parse of a bad buffer (%zu bytes) succeeded; wanted \"%s\"", n, needle);
  }
  assert_error_contains(s, needle);
}

static void expect_bad_header(const char *header, size_t data_size, const char *needle) {
  uint8_t *data = calloc(1, data_size + 1);
  size_t n;
  uint8_t *buf = build_st(header, data, data_size, &n);
  expect_bad(buf, n, needle);
  /* And through the file path. */
  const char *dir = npu_test_tmpdir("weights-bad");
  const char *path = write_st(dir, "weights.safetensors", header, data, data_size);
  npu_weights_t *w = NULL;
  npu_status_t s = npu_weights_open(path, &w);
  if (!s) {
    npu_weights_close(w);
    fail_msg("opening a bad file succeeded; wanted \"%s\"", needle);
  }
  assert_error_contains(s, needle);
  free(buf);
  free(data);
}

static void test_bad_safetensors(void **state) {
  (void)state;
  /* Truncations of the real fixture at several lengths. */
  size_t n;
  char *good = npu_test_read_file(npu_test_fixture("tiny-resnet/golden/weights.safetensors"), &n);
  assert_non_null(good);
  npu_st_file_t *f;
  assert_ok(npu_st_parse(good, n, "ok", &f));
  assert_int_equal(npu_st_count(f), 38);
  npu_st_close(f);
  const char *dir = npu_test_tmpdir("weights-trunc");
  size_t lengths[] = {0, 1, 7, 8, 9, 100, 3016 + 7, 3016 + 8, n / 2, n - 1};
  for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
    expect_bad((const uint8_t *)good, lengths[i], "weights.safetensors");
    char path[4096];
    snprintf(path, sizeof path, "%s/t%zu.safetensors", dir, i);
    write_bytes(path, good, lengths[i]);
    npu_weights_t *w = NULL;
    npu_status_t s = npu_weights_open(path, &w);
    assert_non_null(s);
    assert_int_not_equal(npu_status_code(s), NPU_STATUS_OK);
    npu_status_free(s);
  }
  /* Header length larger than the file. */
  uint8_t big[16] = {0xff, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
  expect_bad(big, sizeof big, "exceeds the file");
  uint8_t huge[16] = {0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}'};
  expect_bad(huge, sizeof huge, "100 MB");
  /* Offsets out of range: the documented message. */
  expect_bad_header("{\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[3,3],\"data_offsets\":[0,99]}}",
                    64,
                    "weights.safetensors: tensor 'fc.weight': data_offsets [0, 99] exceed the "
                    "data section (64 bytes)");
  expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 64,
                    "begin > end");
  expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 64,
                    "tensor 'a'");
  expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.5]}}", 64,
                    "tensor 'a'");
  expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 64,
                    "tensor 'a'");
  /* Wrong dtype string. */
  expect_bad_header("{\"a\":{\"dtype\":\"float32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 64,
                    "unknown dtype \"float32\"");
  expect_bad_header("{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 64, "dtype");
  /* Shape/size mismatch. */
  expect_bad_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 64,
                    "tensor 'w': shape [2, 3] of F32 needs 24 bytes");
  expect_bad_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                    "\"data_offsets\":[0,0]}}",
                    64, "tensor 'w'");
  expect_bad_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                    "\"data_offsets\":[0,4]}}",
                    64, "rank 9");
  expect_bad_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 64,
                    "shape[0]");
  expect_bad_header("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 64, "shape");
  /* Structure. */
  expect_bad_header("[1,2]", 0, "not a JSON object");
  expect_bad_header("{\"w\":5}", 0, "tensor 'w'");
  expect_bad_header("{\"w\":{\"dtype\":", 0, "not valid JSON");
  expect_bad_header("{} x", 0, "trailing");
  expect_bad_header("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                    "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
                    4, "'a' appears twice");
  /* Every dtype maps. */
  {
    uint8_t data[64] = {0};
    size_t m;
    uint8_t *buf = build_st(
        "{\"__metadata__\":{\"k\":\"v\"},"
        "\"f32\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"f16\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]},"
        "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,2]},"
        "\"f64\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]},"
        "\"i64\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
        "\"i32\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"i16\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[0,2]},"
        "\"i8\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]},"
        "\"u8\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
        "\"b\":{\"dtype\":\"BOOL\",\"shape\":[0],\"data_offsets\":[0,0]}}",
        data, sizeof data, &m);
    assert_ok(npu_st_parse(buf, m, "all", &f));
    assert_int_equal(npu_st_count(f), 10);
    assert_int_equal(npu_st_find(f, "bf16")->dtype, NPU_DTYPE_BFLOAT16);
    assert_int_equal(npu_st_find(f, "f16")->dtype, NPU_DTYPE_FLOAT16);
    assert_int_equal(npu_st_find(f, "i16")->dtype, NPU_DTYPE_INT16);
    assert_int_equal(npu_st_find(f, "b")->dtype, NPU_DTYPE_BOOL);
    assert_null(npu_st_find(f, "__metadata__"));
    npu_st_close(f);
    free(buf);
  }
  free(good);
}

/* ---- conversions ---------------------------------------------------------- */

static void test_conversions(void **state) {
  (void)state;
  /* bf16 round to nearest even. */
  assert_int_equal(npu_f32_to_bf16(1.0f), 0x3f80);
  float x;
  uint32_t u = 0x3f808000u; /* halfway between 0x3f80 and 0x3f81: ties to even */
  memcpy(&x, &u, 4);
  assert_int_equal(npu_f32_to_bf16(x), 0x3f80);
  u = 0x3f818000u; /* halfway, odd below: rounds up */
  memcpy(&x, &u, 4);
  assert_int_equal(npu_f32_to_bf16(x), 0x3f82);
  u = 0x3f808001u;
  memcpy(&x, &u, 4);
  assert_int_equal(npu_f32_to_bf16(x), 0x3f81);
  assert_true(isnan(npu_bf16_to_f32(npu_f32_to_bf16(NAN))));
  /* f16. */
  assert_int_equal(npu_f32_to_f16(1.0f), 0x3c00);
  assert_int_equal(npu_f32_to_f16(-2.0f), 0xc000);
  assert_int_equal(npu_f32_to_f16(65504.0f), 0x7bff);
  assert_int_equal(npu_f32_to_f16(1e6f), 0x7c00);
  assert_int_equal(npu_f32_to_f16(ldexpf(1.0f, -24)), 0x0001);
  assert_int_equal(npu_f32_to_f16(ldexpf(1.0f, -26)), 0x0000);
  assert_int_equal(npu_f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3c00); /* tie to even */
  assert_int_equal(npu_f32_to_f16(1.0f + 3 * ldexpf(1.0f, -11)), 0x3c02);
  for (uint32_t h = 0; h < 0x7c00; h++) {
    assert_int_equal(npu_f32_to_f16(npu_f16_to_f32((uint16_t)h)), h);
  }
  assert_true(isnan(npu_f16_to_f32(npu_f32_to_f16(NAN))));
  /* bf16 -> f16 through f32. */
  uint16_t bf = npu_f32_to_bf16(0.5f), hf;
  assert_ok(npu_convert_dtype(&bf, NPU_DTYPE_BFLOAT16, &hf, NPU_DTYPE_FLOAT16, 1, "t"));
  assert_int_equal(hf, 0x3800);
  /* int64 -> int32 range-checked. */
  int64_t i64[3] = {1, -5, (int64_t)1 << 40};
  int32_t i32[3];
  assert_ok(npu_convert_dtype(i64, NPU_DTYPE_INT64, i32, NPU_DTYPE_INT32, 2, "t"));
  assert_int_equal(i32[1], -5);
  assert_error_contains(npu_convert_dtype(i64, NPU_DTYPE_INT64, i32, NPU_DTYPE_INT32, 3, "idx"),
                        "'idx'");
  assert_error_contains(npu_convert_dtype(i64, NPU_DTYPE_INT64, i32, NPU_DTYPE_FLOAT32, 1, "m"),
                        "cannot convert");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_resnet_matches_ir),  cmocka_unit_test(test_resnet_bn_fold),
      cmocka_unit_test(test_materialize_errors), cmocka_unit_test(test_qwen_checkpoint),
      cmocka_unit_test(test_sharded_index),      cmocka_unit_test(test_rope_theta_missing),
      cmocka_unit_test(test_bad_safetensors),    cmocka_unit_test(test_conversions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
