/*
 * Runtime execution on the Vulkan executor (lavapipe in CI): a hand-built
 * program of a tiny GLSL kernel, run through the generic executor and through
 * the backend vtable directly. Runs with NPU_VULKAN_VALIDATION=1 and checks
 * that the validation layer reported no error.
 */
#include "test_support.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "axpy_spv.h"
#include "exec_internal.h"
#include "npu/program.h"
#include "npu/runtime.h"
#include "vulkan_runtime.h"

#define N 1000

static uint32_t fbits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static npu_shape_t vec(int64_t n) {
  npu_shape_t s = {.rank = 1};
  s.dims[0] = n;
  return s;
}

static int32_t add_buf(npu_program_builder_t *b, npu_buffer_kind_t kind, uint64_t size,
                       const char *name) {
  npu_program_buffer_t pb = {.kind = kind, .size = size, .name = name};
  int32_t idx = -1;
  assert_ok(npu_program_add_buffer(b, &pb, &idx));
  return idx;
}

static int32_t add_tensor(npu_program_builder_t *b, const char *name, int32_t buffer,
                          uint64_t offset, int64_t n) {
  npu_program_tensor_t t = {.name = name,
                            .dtype = NPU_DTYPE_FLOAT32,
                            .shape = vec(n),
                            .buffer = buffer,
                            .offset = offset,
                            .size = (uint64_t)n * 4};
  int32_t idx = -1;
  assert_ok(npu_program_add_tensor(b, &t, &idx));
  return idx;
}

static void add_axpy(npu_program_builder_t *b, int32_t kernel, const char *node, int32_t a,
                     int32_t bb, int32_t out, float k, float bias) {
  npu_program_dispatch_t d = {.kernel = kernel, .node = node, .num_bindings = 3, .num_push = 2};
  d.groups[0] = (N + 63) / 64;
  d.groups[1] = d.groups[2] = 1;
  d.bindings[0] = a;
  d.bindings[1] = bb;
  d.bindings[2] = out;
  d.push[0] = N;
  d.push[1] = fbits(k);
  d.spec[0] = (npu_spec_constant_t){0, 64};
  d.spec[1] = (npu_spec_constant_t){1, fbits(bias)};
  d.num_spec = 2;
  assert_ok(npu_program_add_dispatch(b, &d));
}

/* The test program:
 *   d0 t1  = x + 2 w         (first)
 *   d1 t3  = w + w + 0.5     (independent of d0: no barrier)
 *   d2 t2  = t1 + 3 x        (reads t1: barrier)
 *   d3 out = t2 - t1 = 3 x   (reads t2: barrier)
 * `misalign` puts t3 at a misaligned offset; `backend` names the program's backend. */
static npu_program_t *build_program(const char *backend, bool misalign) {
  npu_program_builder_t *b = NULL;
  assert_ok(npu_program_builder_create(backend, "axpy-test", &b));
  int32_t bx = add_buf(b, NPU_BUFFER_INPUT, N * 4, "x");
  int32_t bw = add_buf(b, NPU_BUFFER_WEIGHT, N * 4, "w");
  int32_t ba = add_buf(b, NPU_BUFFER_ACTIVATIONS, 3 * 4096, "activations");
  int32_t bo = add_buf(b, NPU_BUFFER_OUTPUT, N * 4, "out");
  int32_t x = add_tensor(b, "x", bx, 0, N);
  int32_t w = add_tensor(b, "w", bw, 0, N);
  int32_t t1 = add_tensor(b, "t1", ba, 0, N);
  int32_t t2 = add_tensor(b, "t2", ba, 4096, N);
  int32_t t3 = add_tensor(b, "t3", ba, misalign ? 8196 : 8192, N - 1);
  int32_t out = add_tensor(b, "out", bo, 0, N);
  npu_program_weight_t pw = {.tensor = w, .key = "w", .checkpoint_dtype = NPU_DTYPE_FLOAT32};
  assert_ok(npu_program_add_weight(b, &pw));
  npu_program_kernel_t k = {.name = "axpy_f32",
                            .spirv = axpy_spv,
                            .spirv_words = axpy_spv_words,
                            .num_bindings = 3,
                            .push_words = 2};
  int32_t ki = -1;
  assert_ok(npu_program_add_kernel(b, &k, &ki));
  add_axpy(b, ki, "d0", x, w, t1, 2.0f, 0.0f);
  add_axpy(b, ki, "d1", w, w, t3, 1.0f, 0.5f);
  add_axpy(b, ki, "d2", t1, x, t2, 3.0f, 0.0f);
  add_axpy(b, ki, "d3", t2, t1, out, -1.0f, 0.0f);
  assert_ok(npu_program_add_input(b, x));
  assert_ok(npu_program_add_output(b, out));
  npu_program_t *p = NULL;
  assert_ok(npu_program_builder_finish(b, &p));
  return p;
}

/* A one-tensor safetensors file: w[i] = i * 0.25. */
static const char *write_weights(void) {
  static char path[4200];
  snprintf(path, sizeof path, "%s/w.safetensors", npu_test_tmpdir("runtime_exec"));
  char header[256];
  int hl = snprintf(header, sizeof header,
                    "{\"w\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[0,%d]}}", N, N * 4);
  while (hl % 8) header[hl++] = ' ';
  header[hl] = '\0';
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  uint64_t n = (uint64_t)hl;
  unsigned char le[8];
  for (int i = 0; i < 8; i++) le[i] = (unsigned char)(n >> (8 * i));
  fwrite(le, 1, 8, f);
  fwrite(header, 1, (size_t)hl, f);
  for (int i = 0; i < N; i++) {
    float v = (float)i * 0.25f;
    fwrite(&v, 4, 1, f);
  }
  fclose(f);
  return path;
}

typedef struct fixture {
  npu_device_t *dev;
  npu_program_t *prog;
  npu_executor_t *ex;
} fixture_t;

static void setup(fixture_t *fx) {
  memset(fx, 0, sizeof *fx);
  assert_ok(npu_device_open_backend(&npu_vulkan_runtime_backend, NULL, &fx->dev));
  fx->prog = build_program("vulkan", false);
  assert_ok(npu_executor_create(fx->dev, fx->prog, &fx->ex));
}

static void teardown(fixture_t *fx) {
  npu_executor_destroy(fx->ex);
  npu_program_destroy(fx->prog);
  npu_device_close(fx->dev);
}

static void load_weights(fixture_t *fx) {
  npu_weights_t *w = NULL;
  assert_ok(npu_weights_open(write_weights(), &w));
  assert_ok(npu_executor_load_weights(fx->ex, w));
  npu_weights_close(w);
}

static void set_x(fixture_t *fx, float scale) {
  static float x[N];
  for (int i = 0; i < N; i++) x[i] = scale * (float)(i % 17) - 3.0f;
  npu_host_tensor_t t = {NPU_DTYPE_FLOAT32, vec(N), x, sizeof x};
  assert_ok(npu_executor_set_input(fx->ex, "x", &t));
}

static void check_outputs(fixture_t *fx, float scale) {
  static float out[N], t3[N - 1];
  npu_host_tensor_t o = {NPU_DTYPE_FLOAT32, vec(N), out, sizeof out};
  assert_ok(npu_executor_get_output(fx->ex, "out", &o));
  for (int i = 0; i < N; i++) {
    float x = scale * (float)(i % 17) - 3.0f;
    float want = 3.0f * x;
    if (fabsf(out[i] - want) > 1e-3f * (1.0f + fabsf(want)))
      fail_msg("out[%d] = %g, want %g", i, (double)out[i], (double)want);
  }
  npu_host_tensor_t o3 = {NPU_DTYPE_FLOAT32, vec(N - 1), t3, sizeof t3};
  assert_ok(npu_executor_get_output(fx->ex, "t3", &o3));
  for (int i = 0; i < N - 1; i++) {
    float want = 2.0f * (float)i * 0.25f + 0.5f;
    if (fabsf(t3[i] - want) > 1e-4f * (1.0f + want))
      fail_msg("t3[%d] = %g, want %g", i, (double)t3[i], (double)want);
  }
}

static void test_run_twice(void **state) {
  (void)state;
  fixture_t fx;
  setup(&fx);
  printf("device: %s (%s)\n", npu_device_name(fx.dev), npu_vulkan_device_features(fx.dev->handle));
  assert_string_equal(npu_device_backend(fx.dev), "vulkan");
  const char *v = getenv("NPU_VULKAN_VALIDATION");
  if (v && strcmp(v, "1") == 0) /* the layer really is on */
    assert_non_null(strstr(npu_vulkan_device_features(fx.dev->handle), "validation"));
  /* d1 is independent of d0; d2 and d3 each need one. */
  assert_int_equal(npu_vulkan_executor_barriers(fx.ex->handle), 2);
  load_weights(&fx);
  set_x(&fx, 1.0f);
  assert_ok(npu_executor_run(fx.ex));
  check_outputs(&fx, 1.0f);
  /* Second run with new inputs: same command buffer. */
  set_x(&fx, -2.5f);
  assert_ok(npu_executor_run(fx.ex));
  check_outputs(&fx, -2.5f);
  /* And once more without touching the inputs. */
  assert_ok(npu_executor_run(fx.ex));
  check_outputs(&fx, -2.5f);
  teardown(&fx);
}

/* The discrete-GPU paths: no mapped device memory, so inputs and outputs go
 * through staging buffers copied inside the command buffer, and weights and
 * intermediates through one-time transfers. */
static void test_force_staging(void **state) {
  (void)state;
  setenv("NPU_VULKAN_FORCE_STAGING", "1", 1);
  fixture_t fx;
  setup(&fx);
  unsetenv("NPU_VULKAN_FORCE_STAGING");
  assert_non_null(strstr(npu_vulkan_device_features(fx.dev->handle), "force-staging"));
  load_weights(&fx);
  set_x(&fx, 1.0f);
  assert_ok(npu_executor_enable_profiling(fx.ex, true));
  assert_ok(npu_executor_run(fx.ex));
  check_outputs(&fx, 1.0f);
  set_x(&fx, 0.5f);
  assert_ok(npu_executor_run(fx.ex));
  check_outputs(&fx, 0.5f);
  teardown(&fx);
}

static void test_profiling(void **state) {
  (void)state;
  fixture_t fx;
  setup(&fx);
  load_weights(&fx);
  set_x(&fx, 1.0f);
  assert_error_contains(npu_executor_print_profile(fx.ex, stdout), "no profiled run");
  assert_ok(npu_executor_enable_profiling(fx.ex, true));
  for (int r = 0; r < 3; r++) assert_ok(npu_executor_run(fx.ex));
  check_outputs(&fx, 1.0f);
  assert_int_equal(fx.ex->profiled_runs, 3);
  assert_int_equal(fx.ex->kernel_count[0], 12);
  assert_true(fx.ex->kernel_total_ns[0] > 0);
  assert_true(fx.ex->device_total_ns > 0);
  assert_ok(npu_executor_print_profile(fx.ex, stdout));
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  assert_ok(npu_executor_print_profile(fx.ex, mem));
  fclose(mem);
  assert_non_null(strstr(text, "axpy_f32"));
  assert_non_null(strstr(text, "3 run(s)"));
  free(text);

  char path[4200];
  snprintf(path, sizeof path, "%s/trace.json", npu_test_tmpdir("runtime_trace"));
  assert_ok(npu_executor_write_chrome_trace(fx.ex, path));
  size_t size = 0;
  char *json = npu_test_read_file(path, &size);
  assert_non_null(json);
  cJSON *root = cJSON_Parse(json);
  assert_non_null(root);
  cJSON *events = cJSON_GetObjectItemCaseSensitive(root, "traceEvents");
  assert_true(cJSON_IsArray(events));
  assert_int_equal(cJSON_GetArraySize(events), 4);
  double prev_ts = -1;
  for (int i = 0; i < 4; i++) {
    cJSON *ev = cJSON_GetArrayItem(events, i);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ev, "name")->valuestring, "axpy_f32");
    char node[8];
    snprintf(node, sizeof node, "d%d", i);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ev, "cat")->valuestring, node);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ev, "ph")->valuestring, "X");
    double ts = cJSON_GetObjectItemCaseSensitive(ev, "ts")->valuedouble;
    double dur = cJSON_GetObjectItemCaseSensitive(ev, "dur")->valuedouble;
    assert_true(ts >= prev_ts);
    assert_true(dur >= 0);
    prev_ts = ts;
  }
  cJSON_Delete(root);
  free(json);
  /* Profiling off again: plain command buffer, totals kept. */
  assert_ok(npu_executor_enable_profiling(fx.ex, false));
  assert_ok(npu_executor_run(fx.ex));
  assert_int_equal(fx.ex->profiled_runs, 3);
  teardown(&fx);
}

static void test_bad_inputs(void **state) {
  (void)state;
  fixture_t fx;
  setup(&fx);
  float x[N] = {0};
  assert_error_contains(npu_executor_run(fx.ex), "npu_executor_load_weights");
  load_weights(&fx);
  assert_error_contains(npu_executor_run(fx.ex), "input 'x' was never set");
  npu_host_tensor_t t = {NPU_DTYPE_FLOAT32, vec(N - 1), x, sizeof x};
  assert_error_contains(npu_executor_set_input(fx.ex, "x", &t), "shape [999] given, the program expects [1000]");
  t.shape = vec(N);
  t.dtype = NPU_DTYPE_FLOAT16;
  assert_error_contains(npu_executor_set_input(fx.ex, "x", &t), "dtype float16 given, the program expects float32");
  t.dtype = NPU_DTYPE_FLOAT32;
  assert_error_contains(npu_executor_set_input(fx.ex, "y", &t), "its inputs: x");
  t.size = 8;
  assert_error_contains(npu_executor_set_input(fx.ex, "x", &t), "needs 4000");
  t.size = sizeof x;
  assert_ok(npu_executor_set_input(fx.ex, "x", &t));
  assert_ok(npu_executor_run(fx.ex));
  npu_host_tensor_t o = {NPU_DTYPE_FLOAT32, vec(3), x, sizeof x};
  assert_error_contains(npu_executor_get_output(fx.ex, "out", &o), "shape [3] requested");
  assert_error_contains(npu_executor_get_output(fx.ex, "nope", &o), "its outputs: out");
  teardown(&fx);
}

static void test_program_errors(void **state) {
  (void)state;
  npu_device_t *dev = NULL;
  assert_ok(npu_device_open_backend(&npu_vulkan_runtime_backend, NULL, &dev));
  npu_executor_t *ex = NULL;
  npu_program_t *cpu = build_program("cpu", false);
  assert_error_contains(npu_executor_create(dev, cpu, &ex), "compiled for backend 'cpu'");
  assert_null(ex);
  npu_program_destroy(cpu);
  npu_program_t *bad = build_program("vulkan", true);
  assert_error_contains(npu_executor_create(dev, bad, &ex), "tensor 't3'");
  npu_program_destroy(bad);
  npu_device_close(dev);
}

static void test_device_selection(void **state) {
  (void)state;
  const char *old = getenv("NPU_DEVICE");
  char *saved = old ? strdup(old) : NULL;
  setenv("NPU_DEVICE", "nonexistent", 1);
  npu_device_t *dev = NULL;
  npu_status_t s = npu_device_open_backend(&npu_vulkan_runtime_backend, NULL, &dev);
  assert_non_null(s);
  printf("expected error: %s\n", npu_status_message(s));
  assert_non_null(strstr(npu_status_message(s), "nonexistent"));
  assert_non_null(strstr(npu_status_message(s), "0: "));
  npu_status_free(s);
  assert_null(dev);
  setenv("NPU_DEVICE", "99", 1);
  assert_error_contains(npu_device_open_backend(&npu_vulkan_runtime_backend, NULL, &dev), "devices: 0: ");
  setenv("NPU_DEVICE", "0", 1);
  assert_ok(npu_device_open_backend(&npu_vulkan_runtime_backend, NULL, &dev));
  char name[256];
  snprintf(name, sizeof name, "%s", npu_device_name(dev));
  npu_device_close(dev);
  /* A case-insensitive substring of the name selects it too. */
  char upper[8] = {0};
  for (int i = 0; i < 4 && name[i]; i++) upper[i] = (char)toupper((unsigned char)name[i]);
  assert_ok(npu_device_open_backend(&npu_vulkan_runtime_backend, upper, &dev));
  assert_string_equal(npu_device_name(dev), name);
  npu_device_close(dev);
  if (saved) {
    setenv("NPU_DEVICE", saved, 1);
    free(saved);
  } else {
    unsetenv("NPU_DEVICE");
  }
}

/* The backend vtable on its own: buffers, run with and without profiling. */
static void test_vtable_direct(void **state) {
  (void)state;
  const npu_runtime_backend_t *be = &npu_vulkan_runtime_backend;
  void *dev = NULL, *ex = NULL;
  char name[256];
  assert_ok(be->device_open(NULL, &dev, name, sizeof name));
  assert_true(name[0] != '\0');
  npu_program_t *p = build_program("vulkan", false);
  assert_ok(be->executor_create(dev, p, &ex));
  static float x[N], w[N], out[N];
  for (int i = 0; i < N; i++) {
    x[i] = (float)i;
    w[i] = 1.0f;
  }
  assert_ok(be->buffer_write(ex, 0, 0, x, sizeof x));
  assert_ok(be->buffer_write(ex, 1, 0, w, sizeof w));
  assert_error_contains(be->buffer_write(ex, 1, 4, w, sizeof w), "outside buffer 1 'w'");
  assert_error_contains(be->buffer_write(ex, 7, 0, w, 4), "out of range");
  uint64_t ns[8] = {0};
  assert_ok(be->run(ex, false, NULL));
  assert_ok(be->buffer_read(ex, 3, 0, out, sizeof out));
  for (int i = 0; i < N; i++) assert_float_equal(out[i], 3.0f * (float)i, 1e-3);
  assert_ok(be->run(ex, true, ns));
  for (int i = 0; i < 4; i++) assert_true(ns[2 * i + 1] >= ns[2 * i]);
  assert_true(ns[7] > ns[0]);
  be->executor_destroy(ex);
  npu_program_destroy(p);
  be->device_close(dev);
}

static void test_no_validation_errors(void **state) {
  (void)state;
  const char *v = getenv("NPU_VULKAN_VALIDATION");
  printf("validation %s; errors: %u\n", v && strcmp(v, "1") == 0 ? "on" : "off",
         npu_vulkan_validation_errors());
  assert_int_equal(npu_vulkan_validation_errors(), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_run_twice),       cmocka_unit_test(test_force_staging),
      cmocka_unit_test(test_profiling),
      cmocka_unit_test(test_bad_inputs),      cmocka_unit_test(test_program_errors),
      cmocka_unit_test(test_device_selection), cmocka_unit_test(test_vtable_direct),
      cmocka_unit_test(test_no_validation_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
