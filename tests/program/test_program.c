/* The program builder, accessors and validation; CRC32. */
#include "test_support.h"

#include <string.h>

#include "crc32.h"
#include "npu/program.h"

static const npu_shape_t shape_1x4 = {.rank = 2, .dims = {1, 4}};

/* A small valid program: in -> kernel -> out, one weight. Tests tweak it
 * through the `mutate` hook before finishing. */
typedef struct spec {
  uint64_t act_size;
  uint64_t tensor_offset;
  uint64_t tensor_size;
  int32_t binding;
  int32_t num_push;
  uint32_t group_y;
  int32_t weight_tensor;
} spec_t;

static spec_t default_spec(void) {
  return (spec_t){.act_size = 64, .tensor_offset = 0, .tensor_size = 16, .binding = 2,
                  .num_push = 1, .group_y = 1, .weight_tensor = 1};
}

static npu_status_t build(const spec_t *sp, npu_program_t **out) {
  npu_program_builder_t *b;
  NPU_RETURN_IF_ERROR(npu_program_builder_create("cpu", "tiny", &b));
  int32_t idx;
  npu_program_buffer_t bufs[] = {
      {NPU_BUFFER_INPUT, 16, "in"},
      {NPU_BUFFER_WEIGHT, 64, "w"},
      {NPU_BUFFER_ACTIVATIONS, sp->act_size, "act"},
  };
  for (int i = 0; i < 3; i++) {
    npu_status_t s = npu_program_add_buffer(b, &bufs[i], &idx);
    if (s) {
      npu_program_builder_destroy(b);
      return s;
    }
    assert_int_equal(idx, i);
  }
  npu_program_tensor_t ts[] = {
      {.name = "x", .dtype = NPU_DTYPE_FLOAT32, .shape = shape_1x4, .buffer = 0, .size = 16},
      {.name = "w", .dtype = NPU_DTYPE_FLOAT32, .shape = {.rank = 2, .dims = {4, 4}},
       .buffer = 1, .size = 64},
      {.name = "y", .dtype = NPU_DTYPE_FLOAT32, .shape = shape_1x4, .buffer = 2,
       .offset = sp->tensor_offset, .size = sp->tensor_size},
  };
  for (int i = 0; i < 3; i++) {
    assert_ok(npu_program_add_tensor(b, &ts[i], &idx));
    assert_int_equal(idx, i);
  }
  const char *srcs[] = {"a", "b"};
  npu_attr_t attrs[] = {{"eps", {.kind = NPU_ATTR_FLOAT, .u.f = 1e-5}}};
  assert_ok(npu_program_add_weight(b, &(npu_program_weight_t){
                                          .tensor = sp->weight_tensor, .key = NULL,
                                          .transform = "bn_fold_weight", .sources = srcs,
                                          .num_sources = 2, .attrs = attrs, .num_attrs = 1,
                                          .checkpoint_dtype = NPU_DTYPE_BFLOAT16}));
  npu_program_kernel_t k = {.name = "matvec", .num_bindings = 3, .push_words = 1};
  assert_ok(npu_program_add_kernel(b, &k, &idx));
  assert_int_equal(idx, 0);
  assert_ok(npu_program_add_kernel(b, &k, &idx)); /* same name: same index */
  assert_int_equal(idx, 0);
  npu_program_dispatch_t d = {.kernel = 0, .node = "fc", .groups = {1, sp->group_y, 1},
                              .bindings = {0, 1, sp->binding}, .num_bindings = 3,
                              .push = {4}, .num_push = sp->num_push,
                              .spec = {{0, 16}}, .num_spec = 1};
  assert_ok(npu_program_add_dispatch(b, &d));
  assert_ok(npu_program_add_input(b, 0));
  assert_ok(npu_program_add_output(b, 2));
  return npu_program_builder_finish(b, out);
}

static void test_crc32(void **state) {
  (void)state;
  assert_int_equal(npu_crc32(0, "123456789", 9), 0xCBF43926u);
  assert_int_equal(npu_crc32(0, "", 0), 0);
  /* Incremental equals one shot. */
  uint32_t c = npu_crc32(0, "1234", 4);
  assert_int_equal(npu_crc32(c, "56789", 5), 0xCBF43926u);
}

static void test_build_and_read(void **state) {
  (void)state;
  spec_t sp = default_spec();
  npu_program_t *p;
  assert_ok(build(&sp, &p));
  assert_string_equal(npu_program_backend(p), "cpu");
  assert_string_equal(npu_program_model_name(p), "tiny");
  assert_int_equal(npu_program_buffer_count(p), 3);
  assert_int_equal(npu_program_tensor_count(p), 3);
  assert_int_equal(npu_program_weight_count(p), 1);
  assert_int_equal(npu_program_kernel_count(p), 1);
  assert_int_equal(npu_program_dispatch_count(p), 1);
  assert_int_equal(npu_program_find_tensor(p, "x"), 0);
  assert_int_equal(npu_program_find_tensor(p, "w"), 1);
  assert_int_equal(npu_program_find_tensor(p, "y"), 2);
  assert_int_equal(npu_program_find_tensor(p, "nope"), -1);
  assert_null(npu_program_tensor(p, 3));
  assert_null(npu_program_tensor(p, -1));
  const npu_program_weight_t *w = npu_program_weight(p, 0);
  assert_string_equal(w->transform, "bn_fold_weight");
  assert_null(w->key);
  assert_int_equal(w->num_sources, 2);
  assert_string_equal(w->sources[1], "b");
  assert_string_equal(w->attrs[0].name, "eps");
  int32_t n;
  const int32_t *io = npu_program_outputs(p, &n);
  assert_int_equal(n, 1);
  assert_int_equal(io[0], 2);
  assert_ok(npu_program_validate(p));
  npu_program_destroy(p);
}

static void test_many_tensors_find(void **state) {
  (void)state;
  npu_program_builder_t *b;
  assert_ok(npu_program_builder_create("cpu", NULL, &b));
  assert_ok(npu_program_add_buffer(b, &(npu_program_buffer_t){NPU_BUFFER_ACTIVATIONS, 4, "a"},
                                   NULL));
  char name[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(name, sizeof name, "t%d", i);
    assert_ok(npu_program_add_tensor(
        b, &(npu_program_tensor_t){.name = name, .dtype = NPU_DTYPE_INT32, .size = 4}, NULL));
  }
  npu_program_t *p;
  assert_ok(npu_program_builder_finish(b, &p));
  assert_null(npu_program_model_name(p));
  for (int i = 0; i < 1000; i++) {
    snprintf(name, sizeof name, "t%d", i);
    assert_int_equal(npu_program_find_tensor(p, name), i);
  }
  assert_int_equal(npu_program_find_tensor(p, "t1000"), -1);
  npu_program_destroy(p);
}

static void expect_invalid(spec_t sp, const char *needle) {
  npu_program_t *p = NULL;
  assert_error_contains(build(&sp, &p), needle);
  assert_null(p);
}

static void test_validate_errors(void **state) {
  (void)state;
  spec_t sp = default_spec();
  sp.tensor_offset = 56; /* 16 bytes at 56 in a 64-byte buffer */
  expect_invalid(sp, "tensor 2 (y): bytes [56, +16) overflow buffer 2 (act) of 64 bytes");
  sp = default_spec();
  sp.tensor_offset = UINT64_MAX - 4; /* offset + size wraps */
  expect_invalid(sp, "overflow buffer 2");
  sp = default_spec();
  sp.tensor_size = 12;
  expect_invalid(sp, "size 12 bytes, but 4 elements of float32 need 16");
  sp = default_spec();
  sp.binding = 7;
  expect_invalid(sp, "dispatch 0 (node fc): binding 2: tensor 7 out of range (3 tensors)");
  sp = default_spec();
  sp.binding = -1;
  expect_invalid(sp, "binding 2: tensor -1 out of range");
  sp = default_spec();
  sp.num_push = 2;
  expect_invalid(sp, "2 push-constant words, but kernel matvec takes 1");
  sp = default_spec();
  sp.num_push = 33;
  expect_invalid(sp, "33 push-constant words, at most 32");
  sp = default_spec();
  sp.group_y = 0;
  expect_invalid(sp, "workgroup count y is 0");
  sp = default_spec();
  sp.weight_tensor = 0;
  expect_invalid(sp, "weight 0: tensor x lives in buffer 0 (in), which is input, not weight");
  sp = default_spec();
  sp.weight_tensor = 9;
  expect_invalid(sp, "weight 0: tensor 9 out of range");
}

static void test_builder_errors(void **state) {
  (void)state;
  npu_program_builder_t *b = NULL;
  assert_error_contains(npu_program_builder_create("a-very-long-backend-name", "m", &b),
                        "backend name");
  assert_null(b);
  assert_error_contains(npu_program_builder_create(NULL, "m", &b), "backend name");

  /* Too many bindings for the kernel; duplicate tensor names; bad input. */
  assert_ok(npu_program_builder_create("cpu", "m", &b));
  assert_ok(npu_program_add_buffer(b, &(npu_program_buffer_t){NPU_BUFFER_ACTIVATIONS, 8, "a"},
                                   NULL));
  assert_ok(npu_program_add_tensor(
      b, &(npu_program_tensor_t){.name = "t", .dtype = NPU_DTYPE_FLOAT32, .size = 4}, NULL));
  assert_ok(npu_program_add_kernel(b, &(npu_program_kernel_t){.name = "k", .num_bindings = 1},
                                   NULL));
  assert_ok(npu_program_add_dispatch(b, &(npu_program_dispatch_t){
                                            .kernel = 0, .node = "n", .groups = {1, 1, 1},
                                            .bindings = {0, 0}, .num_bindings = 2}));
  npu_program_t *p = NULL;
  assert_error_contains(npu_program_builder_finish(b, &p), "2 bindings, but kernel k declares 1");
  assert_null(p);

  assert_ok(npu_program_builder_create("cpu", "m", &b));
  assert_ok(npu_program_add_buffer(b, &(npu_program_buffer_t){NPU_BUFFER_ACTIVATIONS, 8, "a"},
                                   NULL));
  for (int i = 0; i < 2; i++)
    assert_ok(npu_program_add_tensor(
        b, &(npu_program_tensor_t){.name = "t", .dtype = NPU_DTYPE_FLOAT32, .size = 4}, NULL));
  assert_error_contains(npu_program_builder_finish(b, &p), "duplicate name 't'");

  assert_ok(npu_program_builder_create("cpu", "m", &b));
  assert_ok(npu_program_add_input(b, 3));
  assert_error_contains(npu_program_builder_finish(b, &p), "input 0: tensor 3 out of range");

  assert_ok(npu_program_builder_create("cpu", "m", &b));
  assert_ok(npu_program_add_buffer(b, &(npu_program_buffer_t){NPU_BUFFER_ACTIVATIONS, 0, "z"},
                                   NULL));
  assert_error_contains(npu_program_builder_finish(b, &p), "buffer 0 (z): size is 0");

  assert_ok(npu_program_builder_create("cpu", "m", &b));
  assert_ok(npu_program_add_buffer(b, &(npu_program_buffer_t){NPU_BUFFER_ACTIVATIONS, 8, "a"},
                                   NULL));
  assert_ok(npu_program_add_tensor(
      b, &(npu_program_tensor_t){.name = "big", .dtype = NPU_DTYPE_FLOAT64,
                                 .shape = {.rank = 2, .dims = {INT64_MAX / 2, 3}}, .size = 8},
      NULL));
  assert_error_contains(npu_program_builder_finish(b, &p), "overflows");

  /* Destroying an unfinished builder frees everything (ASan checks). */
  assert_ok(npu_program_builder_create("cpu", "m", &b));
  assert_ok(npu_program_add_buffer(b, &(npu_program_buffer_t){NPU_BUFFER_ACTIVATIONS, 8, "a"},
                                   NULL));
  npu_program_builder_destroy(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crc32),
      cmocka_unit_test(test_build_and_read),
      cmocka_unit_test(test_many_tensors_find),
      cmocka_unit_test(test_validate_errors),
      cmocka_unit_test(test_builder_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
