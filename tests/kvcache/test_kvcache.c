/* kvcache, loaded as a plugin (tests/passes/pass_harness.c), on the qwen-tiny
 * prefill/decode pair, on hand-built graphs and on qwen2.5-1.5b (shared). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

#include "npu/graph.h"
#include "npu/graph_io.h"
#include "npu/ops.h"
#include "npu/pipeline.h"
#include "pass_harness.h"

#define BF16 NPU_DTYPE_BFLOAT16
#define I64 NPU_DTYPE_INT64
#define IN NPU_ROLE_INPUT
#define MID NPU_ROLE_INTERMEDIATE

/* ---- helpers ---------------------------------------------------------------------- */

/* kvcache options from "name", "value" pairs. */
static npu_options_t *kv_options(int32_t n, const char *const *kv) {
  const npu_pass_info_t *p = harness_pass("kvcache", "kvcache");
  npu_option_setting_t settings[8];
  for (int32_t i = 0; i < n; i++) settings[i] = (npu_option_setting_t){.name = kv[2 * i], .value = kv[2 * i + 1]};
  npu_options_t *o;
  assert_ok(npu_options_create(p->options, p->num_options, settings, n, "pass 'kvcache'", &o));
  return o;
}

static npu_status_t run_kv(npu_graph_t *g, int32_t n, const char *const *kv) {
  npu_options_t *o = kv_options(n, kv);
  npu_status_t s = harness_run("kvcache", "kvcache", g, o);
  npu_options_destroy(o);
  return s;
}

/* Imports a pytorch-ir file and runs canonicalize on it. */
static npu_graph_t *load_canonical(const char *path) {
  npu_graph_t *g;
  assert_ok(npu_graph_import_json_file(path, &g));
  assert_ok(harness_run("canonicalize", "canonicalize", g, NULL));
  assert_ok(npu_graph_verify(g));
  return g;
}

static bool is_kv_op(const npu_graph_t *g, npu_tensor_id_t t) {
  const npu_tensor_t *tt = npu_graph_tensor(g, t);
  if (tt->producer == NPU_NO_NODE) return false;
  const char *op = npu_graph_node(g, tt->producer)->op;
  return strcmp(op, "npu.kv_write") == 0 || strcmp(op, "npu.kv_fill") == 0;
}

/* The host interface: every graph input is fed by the host (role INPUT, never
 * STATE) and no graph output is a kv_write/kv_fill device view: the pass takes
 * the caches off the interface entirely. */
static int32_t host_inputs(const npu_graph_t *g, const char **names, int32_t max) {
  int32_t n, k = 0;
  const npu_tensor_id_t *ins = npu_graph_inputs(g, &n);
  for (int32_t i = 0; i < n; i++) {
    const npu_tensor_t *t = npu_graph_tensor(g, ins[i]);
    assert_int_equal(t->role, IN);
    if (k < max) names[k] = t->name;
    k++;
  }
  return k;
}

static int32_t host_outputs(const npu_graph_t *g, const char **names, int32_t max) {
  int32_t n, k = 0;
  const npu_tensor_id_t *outs = npu_graph_outputs(g, &n);
  for (int32_t i = 0; i < n; i++) {
    assert_false(is_kv_op(g, outs[i]));
    if (k < max) names[k] = npu_graph_tensor(g, outs[i])->name;
    k++;
  }
  return k;
}

static int32_t count_role(const npu_graph_t *g, npu_tensor_role_t role) {
  int32_t k = 0;
  for (npu_tensor_id_t t = 0; t < npu_graph_tensor_count(g); t++)
    k += npu_graph_tensor(g, t)->role == role;
  return k;
}

/* Every kv node in order carries state_index 0..n-1 and state_name kv_state_<i>;
 * returns how many there are. */
static int32_t check_state_attrs(const npu_graph_t *g, const char *op) {
  int32_t n = 0;
  bool seen[4096] = {false};
  for (npu_node_id_t id = npu_graph_first_node(g); id != NPU_NO_NODE; id = npu_graph_next_node(g, id)) {
    const npu_node_t *node = npu_graph_node(g, id);
    if (strcmp(node->op, op) != 0) continue;
    int64_t idx;
    assert_true(npu_node_attr_int(node, "state_index", &idx));
    assert_true(idx >= 0 && idx < 4096 && !seen[idx]);
    seen[idx] = true;
    const npu_attr_value_t *name = npu_node_attr(node, "state_name");
    assert_non_null(name);
    assert_int_equal(name->kind, NPU_ATTR_STRING);
    char want[64];
    snprintf(want, sizeof want, "kv_state_%d", (int)idx);
    assert_string_equal(name->u.s, want);
    assert_int_equal(npu_graph_tensor(g, node->inputs[0])->role, NPU_ROLE_STATE);
    n++;
  }
  for (int32_t i = 0; i < n; i++) assert_true(seen[i]);
  return n;
}

/* ---- decode ----------------------------------------------------------------------- */

static void test_decode_tiny(void **state) {
  (void)state;
  npu_graph_t *g = load_canonical(npu_test_fixture("qwen-tiny/decode_ir.json"));
  assert_ok(run_kv(g, 0, NULL));
  assert_int_equal(harness_stat("state-pairs"), 4);
  assert_int_equal(harness_stat("cache-len"), 32);
  assert_int_equal(harness_count_op(g, "npu.kv_write"), 4);
  assert_int_equal(harness_count_op(g, "aten.index_copy.default"), 0);
  assert_int_equal(check_state_attrs(g, "npu.kv_write"), 4);
  assert_int_equal(count_role(g, NPU_ROLE_STATE), 4);
  for (int i = 0; i < 4; i++) {
    char name[32];
    snprintf(name, sizeof name, "past_kv_flat_%d", i);
    const npu_tensor_t *t = npu_graph_tensor(g, npu_graph_find_tensor(g, name));
    assert_int_equal(t->role, NPU_ROLE_STATE);
  }
  const char *names[8];
  assert_int_equal(host_inputs(g, names, 8), 4);
  assert_string_equal(names[0], "input_ids");
  assert_string_equal(names[1], "attention_mask");
  assert_string_equal(names[2], "position_ids");
  assert_string_equal(names[3], "cache_position");
  assert_int_equal(host_outputs(g, names, 8), 1);
  assert_string_equal(names[0], "linear_14");
  assert_ok(npu_graph_verify(g));
  /* dce keeps the in-place writes even when nothing reads their result. */
  assert_ok(harness_run("dce", "dce", g, NULL));
  assert_int_equal(harness_count_op(g, "npu.kv_write"), 4);
  assert_ok(npu_graph_verify(g));
  npu_graph_destroy(g);
}

/* The rewritten decode graph survives write -> import unchanged (STATE roles
 * travel in npuc's npu_tensor_roles / npu_tensors keys). */
static void test_decode_json_round_trip(void **state) {
  (void)state;
  npu_graph_t *g = load_canonical(npu_test_fixture("qwen-tiny/decode_ir.json"));
  assert_ok(run_kv(g, 0, NULL));
  assert_ok(harness_run("dce", "dce", g, NULL));
  char path[1024];
  snprintf(path, sizeof path, "%s/decode_kv.json", npu_test_tmpdir("kvcache"));
  assert_ok(npu_graph_write_json_file(g, path));
  npu_graph_t *back;
  assert_ok(npu_graph_import_json_file(path, &back));
  char why[512] = "";
  if (!npu_graph_equal(g, back, why, sizeof why)) fail_msg("round trip differs: %s", why);
  assert_int_equal(count_role(back, NPU_ROLE_STATE), 4);
  assert_int_equal(check_state_attrs(back, "npu.kv_write"), 4);
  npu_graph_destroy(back);
  npu_graph_destroy(g);
}

/* A hand-built decode graph with two caches: c0 fits the pattern, c1 is also
 * read by a relu, so its index_copy stays. */
static void test_decode_second_consumer(void **state) {
  (void)state;
  assert_true(harness_have_aten());
  npu_graph_t *g;
  assert_ok(npu_graph_create(&g));
  npu_tensor_id_t pos = TENSOR(g, "pos", I64, IN, 1);
  npu_tensor_id_t c0 = TENSOR(g, "c0", BF16, IN, 1, 2, 8, 4), c1 = TENSOR(g, "c1", BF16, IN, 1, 2, 8, 4);
  npu_tensor_id_t k = TENSOR(g, "k", BF16, IN, 1, 2, 1, 4);
  npu_tensor_id_t y0 = TENSOR(g, "y0", BF16, MID, 1, 2, 8, 4), y1 = TENSOR(g, "y1", BF16, MID, 1, 2, 8, 4),
                  r = TENSOR(g, "r", BF16, MID, 1, 2, 8, 4);
  npu_attr_t dim[] = {{"dim", npu_attr_int(2)}};
  harness_node(g, "ic0", "aten.index_copy.default", (npu_tensor_id_t[]){c0, pos, k}, 3, &y0, 1, dim, 1);
  harness_node(g, "ic1", "aten.index_copy.default", (npu_tensor_id_t[]){c1, pos, k}, 3, &y1, 1, dim, 1);
  harness_node(g, "relu", "aten.relu.default", &c1, 1, &r, 1, NULL, 0);
  assert_ok(npu_graph_add_output(g, r));
  assert_ok(npu_graph_add_output(g, y0));
  assert_ok(npu_graph_add_output(g, y1));
  assert_ok(npu_graph_verify(g));
  assert_ok(run_kv(g, 0, NULL));
  assert_int_equal(harness_stat("state-pairs"), 1);
  assert_int_equal(harness_count_op(g, "npu.kv_write"), 1);
  assert_int_equal(harness_count_op(g, "aten.index_copy.default"), 1);
  assert_int_equal(npu_graph_tensor(g, c0)->role, NPU_ROLE_STATE);
  assert_int_equal(npu_graph_tensor(g, c1)->role, IN);
  const char *names[8];
  assert_int_equal(host_inputs(g, names, 8), 3);
  assert_string_equal(names[1], "c1");
  assert_int_equal(host_outputs(g, names, 8), 2);
  assert_string_equal(names[0], "r");
  assert_string_equal(names[1], "y1");
  assert_ok(npu_graph_verify(g));
  npu_graph_destroy(g);
}

static void test_decode_qwen_1_5b(void **state) {
  (void)state;
  const char *path = npu_test_shared_fixture("qwen2.5-1.5b/decode_ir.json");
  if (!path) {
    print_message("../shared/fixtures absent: skip\n");
    skip();
  }
  npu_graph_t *g = load_canonical(path);
  assert_ok(run_kv(g, 1, (const char *[]){"kv_mapping", npu_test_shared_fixture("qwen2.5-1.5b/kv_mapping.json")}));
  assert_int_equal(harness_stat("state-pairs"), 56);
  assert_int_equal(check_state_attrs(g, "npu.kv_write"), 56);
  const char *names[64];
  assert_int_equal(host_inputs(g, names, 64), 4);
  assert_int_equal(host_outputs(g, names, 64), 1);
  assert_ok(npu_graph_verify(g));
  npu_graph_destroy(g);
}

/* ---- prefill ---------------------------------------------------------------------- */

static void check_prefill_tiny(npu_graph_t *g) {
  assert_int_equal(harness_stat("states-filled"), 4);
  assert_int_equal(harness_stat("cache-len"), 32);
  assert_int_equal(harness_count_op(g, "npu.kv_fill"), 4);
  assert_int_equal(check_state_attrs(g, "npu.kv_fill"), 4);
  assert_int_equal(count_role(g, NPU_ROLE_STATE), 4);
  for (int i = 0; i < 4; i++) {
    char name[32], buf[64];
    snprintf(name, sizeof name, "kv_state_%d", i);
    const npu_tensor_t *t = npu_graph_tensor(g, npu_graph_find_tensor(g, name));
    assert_int_equal(t->role, NPU_ROLE_STATE);
    assert_int_equal(t->dtype, BF16);
    assert_string_equal(npu_shape_format(&t->shape, buf, sizeof buf), "[1, 2, 32, 16]");
  }
  const char *names[8];
  assert_int_equal(host_inputs(g, names, 8), 4);
  assert_int_equal(host_outputs(g, names, 8), 1);
  assert_string_equal(names[0], "linear_14");
  assert_ok(npu_graph_verify(g));
  assert_ok(harness_run("dce", "dce", g, NULL));
  assert_int_equal(harness_count_op(g, "npu.kv_fill"), 4);
  assert_ok(npu_graph_verify(g));
}

static void test_prefill_tiny_decode_ir(void **state) {
  (void)state;
  npu_graph_t *g = load_canonical(npu_test_fixture("qwen-tiny/prefill_ir.json"));
  assert_ok(run_kv(g, 1, (const char *[]){"decode_ir", npu_test_fixture("qwen-tiny/decode_ir.json")}));
  check_prefill_tiny(g);
  npu_graph_destroy(g);
}

static void test_prefill_tiny_kv_mapping(void **state) {
  (void)state;
  char dec[1024], map[1024];
  snprintf(dec, sizeof dec, "%s", npu_test_fixture("qwen-tiny/decode_ir.json"));
  snprintf(map, sizeof map, "%s", npu_test_fixture("qwen-tiny/kv_mapping.json"));
  /* decode_ir + kv_mapping: the mapping agrees with the structural link. */
  npu_graph_t *g = load_canonical(npu_test_fixture("qwen-tiny/prefill_ir.json"));
  assert_ok(run_kv(g, 2, (const char *[]){"decode_ir", dec, "kv_mapping", map}));
  check_prefill_tiny(g);
  npu_graph_destroy(g);
  /* kv_mapping alone gives the cache length. */
  g = load_canonical(npu_test_fixture("qwen-tiny/prefill_ir.json"));
  assert_ok(run_kv(g, 1, (const char *[]){"kv_mapping", map}));
  check_prefill_tiny(g);
  npu_graph_destroy(g);
  /* cache_len alone. */
  g = load_canonical(npu_test_fixture("qwen-tiny/prefill_ir.json"));
  assert_ok(run_kv(g, 1, (const char *[]){"cache_len", "32"}));
  check_prefill_tiny(g);
  npu_graph_destroy(g);
}

static void test_prefill_needs_cache_len(void **state) {
  (void)state;
  npu_graph_t *g = load_canonical(npu_test_fixture("qwen-tiny/prefill_ir.json"));
  assert_error_contains(run_kv(g, 0, NULL),
                        "kvcache: prefill graph needs cache_len, decode_ir or kv_mapping");
  npu_graph_destroy(g);
}

static void test_prefill_cache_too_small(void **state) {
  (void)state;
  npu_graph_t *g = load_canonical(npu_test_fixture("qwen-tiny/prefill_ir.json"));
  assert_error_contains(run_kv(g, 1, (const char *[]){"cache_len", "4"}),
                        "has S = 8 rows, more than the cache holds (C = 4)");
  npu_graph_destroy(g);
  /* With decode_ir, a cache_len that disagrees with the decode state. */
  g = load_canonical(npu_test_fixture("qwen-tiny/prefill_ir.json"));
  assert_error_contains(run_kv(g, 2, (const char *[]){"cache_len", "4", "decode_ir",
                                                      npu_test_fixture("qwen-tiny/decode_ir.json")}),
                        "cache_len 4 disagrees with decode state pair 0");
  npu_graph_destroy(g);
}

/* A prefill graph whose third KV output has a head dim the decode state does
 * not have. */
static void test_prefill_shape_mismatch(void **state) {
  (void)state;
  assert_true(harness_have_aten());
  npu_graph_t *g;
  assert_ok(npu_graph_create(&g));
  npu_tensor_id_t x = TENSOR(g, "x", BF16, IN, 1, 2, 8, 16), y = TENSOR(g, "y", BF16, IN, 1, 2, 8, 8);
  npu_tensor_id_t outs[5];
  for (int i = 0; i < 5; i++) {
    char name[16];
    snprintf(name, sizeof name, "o%d", i);
    outs[i] = i == 3 ? TENSOR(g, name, BF16, MID, 1, 2, 8, 8) : TENSOR(g, name, BF16, MID, 1, 2, 8, 16);
    harness_node(g, name, "aten.relu.default", i == 3 ? &y : &x, 1, &outs[i], 1, NULL, 0);
    assert_ok(npu_graph_add_output(g, outs[i]));
  }
  assert_ok(npu_graph_verify(g));
  assert_error_contains(
      run_kv(g, 1, (const char *[]){"decode_ir", npu_test_fixture("qwen-tiny/decode_ir.json")}),
      "kvcache: prefill output 3 'o3' bfloat16 [1, 2, 8, 8] does not match decode state 2 "
      "bfloat16 [1, 2, 32, 16]");
  /* Fewer KV outputs than decode states. */
  npu_graph_t *g2;
  assert_ok(npu_graph_create(&g2));
  x = TENSOR(g2, "x", BF16, IN, 1, 2, 8, 16);
  for (int i = 0; i < 3; i++) {
    char name[16];
    snprintf(name, sizeof name, "o%d", i);
    npu_tensor_id_t o = TENSOR(g2, name, BF16, MID, 1, 2, 8, 16);
    harness_node(g2, name, "aten.relu.default", &x, 1, &o, 1, NULL, 0);
    assert_ok(npu_graph_add_output(g2, o));
  }
  assert_error_contains(
      run_kv(g2, 1, (const char *[]){"decode_ir", npu_test_fixture("qwen-tiny/decode_ir.json")}),
      "the prefill graph has 2 outputs after the first but the decode graph has 4 state pairs");
  npu_graph_destroy(g2);
  npu_graph_destroy(g);
}

/* kv_fill and kv_write check their operands like the ops they replace. */
static void test_op_infer(void **state) {
  (void)state;
  npu_graph_t *g = load_canonical(npu_test_fixture("qwen-tiny/prefill_ir.json"));
  assert_ok(run_kv(g, 1, (const char *[]){"cache_len", "32"}));
  assert_non_null(npu_op_lookup("npu.kv_write"));
  const npu_op_schema_t *fill = npu_op_lookup("npu.kv_fill");
  assert_non_null(fill);
  assert_int_equal(fill->flags, NPU_OP_FLAG_VIEW | NPU_OP_FLAG_INPLACE);
  /* A state too short for the source: the verifier names node, S and C. */
  npu_tensor_id_t src = npu_graph_find_tensor(g, "add_2");
  npu_tensor_id_t small = TENSOR(g, "small", BF16, NPU_ROLE_STATE, 1, 2, 4, 16);
  npu_tensor_id_t out = TENSOR(g, "small_fill", BF16, MID, 1, 2, 4, 16);
  npu_attr_t dim[] = {{"dim", npu_attr_int(2)}};
  harness_node(g, "small_fill", "npu.kv_fill", (npu_tensor_id_t[]){small, src}, 2, &out, 1, dim, 1);
  assert_error_contains(npu_graph_verify(g),
                        "node small_fill (npu.kv_fill): kv_fill: S = 8 rows do not fit the cache, C = 4");
  npu_graph_destroy(g);
}

static void test_prefill_qwen_1_5b(void **state) {
  (void)state;
  const char *dec = npu_test_shared_fixture("qwen2.5-1.5b/decode_ir.json");
  if (!dec) {
    print_message("../shared/fixtures absent: skip\n");
    skip();
  }
  char decp[1024], map[1024];
  snprintf(decp, sizeof decp, "%s", dec);
  snprintf(map, sizeof map, "%s", npu_test_shared_fixture("qwen2.5-1.5b/kv_mapping.json"));
  npu_graph_t *g = load_canonical(npu_test_shared_fixture("qwen2.5-1.5b/prefill_ir.json"));
  assert_ok(run_kv(g, 2, (const char *[]){"decode_ir", decp, "kv_mapping", map}));
  assert_int_equal(harness_stat("states-filled"), 56);
  assert_int_equal(check_state_attrs(g, "npu.kv_fill"), 56);
  const char *names[64];
  assert_int_equal(host_outputs(g, names, 64), 1);
  assert_ok(npu_graph_verify(g));
  npu_graph_destroy(g);
}

int main(void) {
  npu_ops_register_builtins();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_tiny),
      cmocka_unit_test(test_decode_json_round_trip),
      cmocka_unit_test(test_decode_second_consumer),
      cmocka_unit_test(test_decode_qwen_1_5b),
      cmocka_unit_test(test_prefill_tiny_decode_ir),
      cmocka_unit_test(test_prefill_tiny_kv_mapping),
      cmocka_unit_test(test_prefill_needs_cache_len),
      cmocka_unit_test(test_prefill_cache_too_small),
      cmocka_unit_test(test_prefill_shape_mismatch),
      cmocka_unit_test(test_op_infer),
      cmocka_unit_test(test_prefill_qwen_1_5b),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
