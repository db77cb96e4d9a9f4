/* Kernel conformance, CPU: every C kernel (the oracle of the GLSL ones, with
 * the same push-constant ABI) against independent naive loops on random
 * shapes and attributes. Also checks that every GLSL kernel has a C twin and
 * that the embedded SPIR-V table is sane. */
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"
#include "kernel_cases.h"
#include "npu_kernels.h"

#define CASES_PER_KIND 60

static void run_kind(int kind) {
  for (uint32_t seed = 1; seed <= CASES_PER_KIND; seed++) {
    kcase_t c;
    kcase_make(kind, seed + 1000u * (uint32_t)kind, &c);
    npu_cpu_kernel_fn fn = npu_cpu_kernel_find(c.kernel);
    assert_non_null(fn);
    const npu_program_kernel_t *k = npu_kernel_find(c.kernel);
    assert_non_null(k);
    assert_int_equal(k->num_bindings, c.num_bindings);
    assert_int_equal(k->push_words, c.num_push);
    void *bind[8];
    for (int i = 0; i < c.num_bindings; i++) bind[i] = c.data[i];
    fn(bind, c.push);
    double err = kcase_error(&c, c.data[c.num_bindings - 1]);
    if (!(err <= 1e-5)) fail_msg("%s (seed %u): max rel err %g", c.desc, seed, err);
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

static void test_table(void **state) {
  (void)state;
  assert_true(npu_kernel_count() >= 8);
  for (int i = 0; i < npu_kernel_count(); i++) {
    const npu_program_kernel_t *k = npu_kernel_at(i);
    assert_non_null(k->spirv);
    assert_true(k->spirv_words > 5);
    assert_int_equal(k->spirv[0], 0x07230203u); /* SPIR-V magic */
    assert_true(k->num_bindings >= 1 && k->num_bindings <= NPU_PROGRAM_MAX_BINDINGS);
    assert_true(k->push_words >= 1 && k->push_words <= NPU_PROGRAM_MAX_PUSH_WORDS);
    if (!npu_cpu_kernel_find(k->name)) fail_msg("kernel %s has no C twin", k->name);
    assert_ptr_equal(npu_kernel_find(k->name), k);
  }
  assert_null(npu_kernel_find("no_such_kernel"));
  assert_null(npu_cpu_kernel_find("no_such_kernel"));
}

/* A hand-checked case: 3x3 conv, stride 2, pad 1 on a 1x1x4x4 ramp. */
static void test_conv_known(void **state) {
  (void)state;
  float x[16], w[9], b[1] = {0.5f}, y[4];
  for (int i = 0; i < 16; i++) x[i] = (float)i;
  for (int i = 0; i < 9; i++) w[i] = 1.0f;
  uint32_t p[17] = {1, 1, 4, 4, 1, 2, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, NPU_KFLAG_BIAS};
  void *bind[5] = {x, w, b, b, y};
  npu_cpu_kernel_find("conv2d_f32")(bind, p);
  /* (0,0): rows 0-1, cols 0-1 = 0+1+4+5 = 10; (0,1): cols 1-3 = 1+2+3+5+6+7 = 24;
   * (1,0): rows 1-3, cols 0-1 = 4+5+8+9+12+13 = 51; (1,1): rows 1-3, cols 1-3 = 90. */
  assert_true(y[0] == 10.5f && y[1] == 24.5f && y[2] == 51.5f && y[3] == 90.5f);
}

/* f16 variants: inputs rounded to f16, the <op>_f16 C kernel against the
 * naive f32 reference (relative tolerance 2e-2). */
static void run_kind_f16(int kind) {
  for (uint32_t seed = 1; seed <= 20; seed++) {
    kcase_t c;
    kcase_make(kind, seed + 1000u * (uint32_t)kind, &c);
    char name[64];
    if (strcmp(c.kernel, "conv2d_f32") == 0) snprintf(name, sizeof name, "conv2d_direct_f16");
    else snprintf(name, sizeof name, "%.*s_f16", (int)strlen(c.kernel) - 4, c.kernel);
    npu_cpu_kernel_fn fn = npu_cpu_kernel_find(name);
    if (!fn) fail_msg("no C kernel %s", name);
    assert_non_null(npu_kernel_find(name));
    void *bind[8];
    uint16_t *h[8] = {0};
    for (int i = 0; i < c.num_bindings; i++) {
      h[i] = calloc(c.count[i] ? c.count[i] : 1, 2);
      for (size_t j = 0; j < c.count[i]; j++) h[i][j] = npu_cpu_f32_to_f16(c.data[i][j]);
      bind[i] = h[i];
    }
    fn(bind, c.push);
    int out = c.num_bindings - 1;
    float *got = calloc(c.count[out] ? c.count[out] : 1, sizeof(float));
    for (size_t j = 0; j < c.count[out]; j++) got[j] = npu_cpu_f16_to_f32(h[out][j]);
    double err = kcase_error(&c, got);
    if (!(err <= 2e-2)) fail_msg("%s f16 (seed %u): max rel err %g", c.desc, seed, err);
    free(got);
    for (int i = 0; i < c.num_bindings; i++) free(h[i]);
    kcase_free(&c);
  }
}

static void test_f16_variants(void **state) {
  (void)state;
  for (int kind = 0; kind < KC_COPY; kind++) run_kind_f16(kind);
  /* casts: exact round trip of f16 values, RNE on ties */
  float x[3] = {1.0f, 1.0f + 1.0f / 2048.0f, 65504.0f}, back[3];
  uint16_t hx[3];
  uint32_t p[1] = {3};
  void *b1[2] = {x, hx}, *b2[2] = {hx, back};
  npu_cpu_kernel_find("cast_f32_to_f16")(b1, p);
  npu_cpu_kernel_find("cast_f16_to_f32")(b2, p);
  assert_true(hx[0] == 0x3c00 && hx[1] == 0x3c00 && hx[2] == 0x7bff);
  assert_true(back[0] == 1.0f && back[2] == 65504.0f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),   cmocka_unit_test(test_conv_known),
      cmocka_unit_test(test_conv),    cmocka_unit_test(test_maxpool),
      cmocka_unit_test(test_avgpool), cmocka_unit_test(test_global_avgpool),
      cmocka_unit_test(test_linear),  cmocka_unit_test(test_relu),
      cmocka_unit_test(test_add),     cmocka_unit_test(test_copy),
      cmocka_unit_test(test_f16_variants),
      cmocka_unit_test(test_conv_gemm),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
