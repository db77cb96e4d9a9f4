/* Kernel conformance, Vulkan: the same random cases as test_kernels, each run
 * as a one-dispatch program through the Vulkan executor (lavapipe in CI) and
 * compared with the C kernel and with the naive reference. Skipped when no
 * Vulkan device can be opened. */
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"
#include "kernel_cases.h"
#include "npu/program.h"
#include "npu_kernels.h"
#include "vulkan_runtime.h"

#define CASES_PER_KIND 12

static void *device;

static int setup(void **state) {
  (void)state;
  char name[256] = "";
  npu_status_t s = npu_vulkan_runtime_backend.device_open(NULL, &device, name, sizeof name);
  if (s) {
    fprintf(stderr, "no Vulkan device: %s\n", npu_status_message(s));
    npu_status_free(s);
    device = NULL;
  } else {
    fprintf(stderr, "Vulkan device: %s\n", name);
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if (device) npu_vulkan_runtime_backend.device_close(device);
  return 0;
}

static npu_program_t *build_program(const kcase_t *c) {
  npu_program_builder_t *b = NULL;
  assert_ok(npu_program_builder_create("vulkan", "kernel-test", &b));
  npu_program_dispatch_t d;
  memset(&d, 0, sizeof d);
  for (int i = 0; i < c->num_bindings; i++) {
    char name[16];
    snprintf(name, sizeof name, "b%d", i);
    int last = i == c->num_bindings - 1;
    uint64_t bytes = c->count[i] * 4;
    npu_program_buffer_t buf = {.kind = last ? NPU_BUFFER_OUTPUT : NPU_BUFFER_INPUT,
                                .size = bytes, .name = name};
    int32_t bi = -1, ti = -1;
    assert_ok(npu_program_add_buffer(b, &buf, &bi));
    npu_program_tensor_t t = {.name = name, .dtype = NPU_DTYPE_FLOAT32, .buffer = bi,
                              .offset = 0, .size = bytes};
    t.shape.rank = 1;
    t.shape.dims[0] = (int64_t)c->count[i];
    assert_ok(npu_program_add_tensor(b, &t, &ti));
    if (last) assert_ok(npu_program_add_output(b, ti));
    else assert_ok(npu_program_add_input(b, ti));
    d.bindings[i] = ti;
  }
  d.num_bindings = c->num_bindings;
  assert_ok(npu_program_add_kernel(b, npu_kernel_find(c->kernel), &d.kernel));
  memcpy(d.push, c->push, sizeof(uint32_t) * (size_t)c->num_push);
  d.num_push = c->num_push;
  memcpy(d.groups, c->groups, sizeof d.groups);
  for (int i = 0; i < c->num_spec; i++)
    d.spec[i] = (npu_spec_constant_t){c->spec_id[i], c->spec_value[i]};
  d.num_spec = c->num_spec;
  d.node = c->kernel;
  assert_ok(npu_program_add_dispatch(b, &d));
  npu_program_t *p = NULL;
  assert_ok(npu_program_builder_finish(b, &p));
  return p;
}

static void run_kind(int kind) {
  if (!device) skip();
  const npu_runtime_backend_t *rb = &npu_vulkan_runtime_backend;
  uint32_t cases = kind == KC_CONV_GEMM ? 4 * CASES_PER_KIND : CASES_PER_KIND;
  for (uint32_t seed = 1; seed <= cases; seed++) {
    kcase_t c;
    kcase_make(kind, seed + 1000u * (uint32_t)kind, &c);
    npu_program_t *p = build_program(&c);
    void *exec = NULL;
    assert_ok(rb->executor_create(device, p, &exec));
    for (int i = 0; i < c.num_bindings - 1; i++)
      assert_ok(rb->buffer_write(exec, i, 0, c.data[i], c.count[i] * 4));
    assert_ok(rb->run(exec, false, NULL));
    int out = c.num_bindings - 1;
    float *gpu = calloc(c.count[out] ? c.count[out] : 1, sizeof(float));
    assert_ok(rb->buffer_read(exec, out, 0, gpu, c.count[out] * 4));
    rb->executor_destroy(exec);
    npu_program_destroy(p);
    double err = kcase_error(&c, gpu);
    if (!(err <= 1e-5)) fail_msg("vulkan %s (seed %u): max rel err vs reference %g", c.desc, seed, err);
    /* And against the C kernel. */
    void *bind[8];
    for (int i = 0; i < c.num_bindings; i++) bind[i] = c.data[i];
    npu_cpu_kernel_find(c.kernel)(bind, c.push);
    double worst = 0;
    for (size_t i = 0; i < c.count[out]; i++) {
      double r = c.data[out][i], e = (gpu[i] - r) / (r > 1 || r < -1 ? (r < 0 ? -r : r) : 1.0);
      if (e < 0) e = -e;
      if (e > worst) worst = e;
    }
    if (!(worst <= 1e-5)) fail_msg("vulkan %s (seed %u): max rel err vs cpu %g", c.desc, seed, worst);
    free(gpu);
    kcase_free(&c);
  }
}

static void test_conv(void **state) { (void)state; run_kind(KC_CONV); }
static void test_maxpool(void **state) { (void)state; run_kind(KC_MAXPOOL); }
static void test_avgpool(void **state) { (void)state; run_kind(KC_AVGPOOL); }
static void test_global_avgpool(void **state) { (void)state; run_kind(KC_GAP); }
static void test_linear(void **state) { (void)state; run_kind(KC_LINEAR); }
static void test_relu(void **state) { (void)state; run_kind(KC_RELU); }
static void test_add(void **state) { (void)state; run_kind(KC_ADD); }
static void test_copy(void **state) { (void)state; run_kind(KC_COPY); }
static void test_conv_gemm(void **state) { (void)state; run_kind(KC_CONV_GEMM); }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv),   cmocka_unit_test(test_maxpool),
      cmocka_unit_test(test_avgpool), cmocka_unit_test(test_global_avgpool),
      cmocka_unit_test(test_linear), cmocka_unit_test(test_relu),
      cmocka_unit_test(test_add),    cmocka_unit_test(test_copy),
      cmocka_unit_test(test_conv_gemm),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
