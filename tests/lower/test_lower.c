/* Lowering and memory planning:
 *   - npu_memplan_solve on random lifetimes: no two simultaneously live
 *     tensors overlap, offsets aligned, lower bound <= peak <= naive;
 *   - tiny-resnet after canonicalize + bn-fold + dce lowers to a valid
 *     program with the expected dispatches, fusions and buffers;
 *   - the memplan pass plugin's statistics;
 *   - the cpu and vulkan plugins' emit write a .npubin that reads back;
 *   - end to end through the runtime (cpu, and vulkan when a device opens)
 *     against the PyTorch golden output (max rel err 1e-3);
 *   - an unsupported op is an UNSUPPORTED error naming the node and op. */
#include "test_support.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npu/graph_io.h"
#include "npu/npy.h"
#include "npu/ops.h"
#include "npu/program.h"
#include "npu_kernel_abi.h"
#include "npu/runtime.h"
#include "npu_lower.h"
#include "pass_harness.h"

/* ---- memplan on random lifetimes ---------------------------------------------- */

static uint32_t rng = 12345;
static uint32_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

static void test_memplan_random(void **state) {
  (void)state;
  for (int trial = 0; trial < 300; trial++) {
    int32_t n = 1 + (int32_t)(rnd() % 60);
    int32_t steps = 1 + (int32_t)(rnd() % 40);
    uint64_t align = 1ull << (rnd() % 9);
    npu_memplan_item_t items[60];
    uint64_t offs[60];
    for (int32_t i = 0; i < n; i++) {
      int32_t a = (int32_t)(rnd() % (uint32_t)steps), b = (int32_t)(rnd() % (uint32_t)steps);
      items[i].start = a < b ? a : b;
      items[i].end = a < b ? b : a;
      items[i].size = rnd() % 4 == 0 ? 1 + rnd() % 7 : 1 + rnd() % 5000;
    }
    uint64_t peak = 0, naive = 0;
    assert_ok(npu_memplan_solve(items, n, align, offs, &peak));
    for (int32_t i = 0; i < n; i++) {
      uint64_t sz = (items[i].size + align - 1) / align * align;
      naive += sz;
      assert_int_equal(offs[i] % align, 0);
      assert_true(offs[i] + items[i].size <= peak);
      for (int32_t j = 0; j < i; j++) {
        bool live_together = !(items[i].end < items[j].start || items[j].end < items[i].start);
        bool overlap = offs[i] < offs[j] + items[j].size && offs[j] < offs[i] + items[i].size;
        if (live_together && overlap)
          fail_msg("trial %d: items %d and %d overlap while both live", trial, (int)i, (int)j);
      }
    }
    assert_true(peak <= naive);
    /* Lower bound: the most bytes live at any one step. */
    for (int32_t s = 0; s < steps; s++) {
      uint64_t live = 0;
      for (int32_t i = 0; i < n; i++)
        if (items[i].start <= s && s <= items[i].end) live += items[i].size;
      assert_true(live <= peak);
    }
  }
  uint64_t peak = 1;
  assert_ok(npu_memplan_solve(NULL, 0, 256, NULL, &peak));
  assert_int_equal(peak, 0);
  npu_memplan_item_t one = {.size = 10, .start = 0, .end = 0};
  uint64_t off;
  assert_error_contains(npu_memplan_solve(&one, 1, 24, &off, &peak), "power of two");
}

/* ---- tiny-resnet --------------------------------------------------------------- */

static npu_graph_t *tiny_resnet(void) {
  npu_graph_t *g = NULL;
  assert_ok(npu_graph_import_json_file(npu_test_fixture("tiny-resnet/model_ir.json"), &g));
  assert_ok(harness_run("canonicalize", "canonicalize", g, NULL));
  assert_ok(harness_run("bn-fold", "bn-fold", g, NULL));
  assert_ok(harness_run("dce", "dce", g, NULL));
  assert_ok(npu_graph_verify(g));
  return g;
}

/* Expected dispatches of tiny-resnet (6 convs, 6 BNs folded away):
 *   conv1+relu, maxpool, layer1.conv1+relu, layer1.conv2+add+relu,
 *   layer2.conv1+relu, layer2.downsample conv (plain), layer2.conv2+add+relu
 *   (emitted where the add stood, after the downsample it reads),
 *   global avgpool, linear  = 6 conv + 1 + 1 + 1 = 9; flatten is an alias. */
static const struct {
  const char *node, *kernel;
  uint32_t conv_flags;
} expected[] = {
    {"conv2d", "conv2d_gemm_f32", 3},   {"max_pool2d", "maxpool2d_f32", 0},
    {"conv2d_1", "conv2d_gemm_f32", 3}, {"conv2d_2", "conv2d_gemm_f32", 7},
    {"conv2d_3", "conv2d_gemm_f32", 3}, {"conv2d_5", "conv2d_gemm_f32", 1},
    {"conv2d_4", "conv2d_gemm_f32", 7}, {"adaptive_avg_pool2d", "global_avgpool_f32", 0},
    {"linear", "linear_f32", 0},
};
#define NUM_EXPECTED ((int32_t)(sizeof expected / sizeof expected[0]))

static void check_program(const npu_program_t *p, bool spirv) {
  assert_ok(npu_program_validate(p));
  assert_int_equal(npu_program_dispatch_count(p), NUM_EXPECTED);
  for (int32_t i = 0; i < NUM_EXPECTED; i++) {
    const npu_program_dispatch_t *d = npu_program_dispatch(p, i);
    const npu_program_kernel_t *k = npu_program_kernel(p, d->kernel);
    assert_string_equal(d->node, expected[i].node);
    assert_string_equal(k->name, expected[i].kernel);
    assert_int_equal(d->num_bindings, (int32_t)k->num_bindings);
    assert_int_equal(d->num_push, (int32_t)k->push_words);
    assert_true(spirv ? k->spirv != NULL && k->spirv_words > 0 : k->spirv == NULL);
    if (strcmp(k->name, "conv2d_gemm_f32") == 0) assert_int_equal(d->push[16], expected[i].conv_flags);
  }
  int32_t n = 0;
  const int32_t *outs = npu_program_outputs(p, &n);
  assert_int_equal(n, 1);
  const npu_program_tensor_t *out = npu_program_tensor(p, outs[0]);
  assert_string_equal(out->name, "linear");
  assert_int_equal(npu_program_buffer(p, out->buffer)->kind, NPU_BUFFER_OUTPUT);
  /* The linear dispatch writes straight into the output buffer. */
  const npu_program_dispatch_t *last = npu_program_dispatch(p, NUM_EXPECTED - 1);
  assert_int_equal(last->bindings[last->num_bindings - 1], outs[0]);
  const int32_t *ins = npu_program_inputs(p, &n);
  assert_int_equal(n, 1);
  assert_string_equal(npu_program_tensor(p, ins[0])->name, "x");
  assert_int_equal(npu_program_buffer(p, npu_program_tensor(p, ins[0])->buffer)->kind,
                   NPU_BUFFER_INPUT);
  /* Weights: 6 folded conv weights + 6 folded biases + fc weight + fc bias. */
  assert_int_equal(npu_program_weight_count(p), 14);
  int32_t folded = 0;
  for (int32_t i = 0; i < npu_program_weight_count(p); i++) {
    const npu_program_weight_t *w = npu_program_weight(p, i);
    if (w->transform) {
      folded++;
      assert_null(w->key);
      assert_true(w->num_sources == 5 || w->num_sources == 4);
      for (int32_t s = 0; s < w->num_sources; s++) assert_non_null(strchr(w->sources[s], '.'));
    } else {
      assert_non_null(w->key);
    }
  }
  assert_int_equal(folded, 12);
  /* Activation tensors that share bytes are never live at the same time
   * (live: from the dispatch writing it to the last one reading it). */
  int32_t nt = npu_program_tensor_count(p);
  int32_t *first = malloc(sizeof(int32_t) * (size_t)nt), *lastu = malloc(sizeof(int32_t) * (size_t)nt);
  for (int32_t t = 0; t < nt; t++) first[t] = lastu[t] = -1;
  for (int32_t i = 0; i < npu_program_dispatch_count(p); i++) {
    const npu_program_dispatch_t *d = npu_program_dispatch(p, i);
    for (int32_t b = 0; b < d->num_bindings; b++) {
      int32_t t = d->bindings[b];
      if (first[t] < 0) first[t] = i;
      lastu[t] = i;
    }
  }
  for (int32_t a = 0; a < nt; a++)
    for (int32_t b = 0; b < a; b++) {
      const npu_program_tensor_t *ta = npu_program_tensor(p, a), *tb = npu_program_tensor(p, b);
      if (ta->buffer != tb->buffer || first[a] < 0 || first[b] < 0) continue;
      if (npu_program_buffer(p, ta->buffer)->kind != NPU_BUFFER_ACTIVATIONS) continue;
      assert_int_equal(ta->offset % 256, 0);
      bool overlap = ta->offset < tb->offset + tb->size && tb->offset < ta->offset + ta->size;
      bool live = !(lastu[a] < first[b] || lastu[b] < first[a]);
      if (overlap && live) fail_msg("tensors %s and %s overlap while live", ta->name, tb->name);
    }
  free(first);
  free(lastu);
}

static void test_lower_tiny_resnet(void **state) {
  (void)state;
  npu_graph_t *g = tiny_resnet();
  npu_program_t *p = NULL;
  npu_lower_options_t o = {.backend = "cpu", .embed_spirv = false, .alignment = 256};
  assert_ok(npu_lower_graph(g, &o, &p));
  assert_string_equal(npu_program_backend(p), "cpu");
  check_program(p, false);
  npu_program_destroy(p);
  o.backend = "vulkan";
  o.embed_spirv = true;
  assert_ok(npu_lower_graph(g, &o, &p));
  check_program(p, true);
  npu_program_destroy(p);
  npu_graph_destroy(g);
}

static void test_memplan_pass(void **state) {
  (void)state;
  npu_graph_t *g = tiny_resnet();
  assert_ok(harness_run("memplan", "memplan", g, NULL));
  npu_memplan_stats_t st;
  assert_ok(npu_memplan_compute(g, 256, NULL, &st));
  assert_int_equal(st.steps, NUM_EXPECTED);
  /* Arena tensors: every dispatch output except the graph output (8). */
  assert_int_equal(st.planned, NUM_EXPECTED - 1);
  assert_true(st.peak_bytes > 0 && st.peak_bytes <= st.naive_bytes);
  /* Largest live pair: conv1 output 8x32x32 floats (32 KiB) and its maxpool
   * output (8 KiB) -> peak is at least 40 KiB; reuse keeps it well below the sum. */
  assert_true(st.peak_bytes >= 40960);
  assert_true(st.peak_bytes < st.naive_bytes);
  npu_graph_destroy(g);
}

/* ---- backend plugins ------------------------------------------------------------ */

static const npu_backend_info_t *backend(const char *plugin) {
  char path[1024];
  snprintf(path, sizeof path, "%s/npu-%s.so", NPU_BUILD_PLUGIN_DIR, plugin);
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) fail_msg("dlopen %s: %s", path, dlerror());
  npu_plugin_entry_fn_t entry;
  *(void **)&entry = dlsym(h, NPU_PLUGIN_ENTRY_SYMBOL);
  assert_non_null(entry);
  const npu_plugin_descriptor_t *d = entry();
  assert_int_equal(d->num_backends, 1);
  assert_string_equal(d->backends[0].name, plugin);
  return &d->backends[0];
}

static void emit_and_check(const char *plugin, bool spirv) {
  npu_graph_t *g = tiny_resnet();
  const npu_backend_info_t *be = backend(plugin);
  char path[4096];
  snprintf(path, sizeof path, "%s/tiny-resnet-%s.npubin", npu_test_tmpdir("lower"), plugin);
  assert_ok(be->emit(NULL, g, NULL, path));
  npu_program_t *p = NULL;
  assert_ok(npu_program_read_npubin(path, &p));
  assert_string_equal(npu_program_backend(p), plugin);
  check_program(p, spirv);
  npu_program_destroy(p);
  npu_graph_destroy(g);
}

static void test_emit_cpu(void **state) {
  (void)state;
  emit_and_check("cpu", false);
  assert_non_null(backend("cpu")->runtime);
}

static void test_emit_vulkan(void **state) {
  (void)state;
  emit_and_check("vulkan", true);
}

/* ---- end to end ------------------------------------------------------------------ */

static void run_e2e_prec(const char *plugin, npu_lower_precision_t prec, double tol) {
  npu_graph_t *g = tiny_resnet();
  npu_program_t *p = NULL;
  npu_lower_options_t o = {.backend = plugin, .embed_spirv = strcmp(plugin, "vulkan") == 0,
                           .precision = prec};
  assert_ok(npu_lower_graph(g, &o, &p));
  npu_device_t *dev = NULL;
  npu_status_t s = npu_device_open(plugin, NULL, &dev);
  if (s) {
    fprintf(stderr, "skipping %s end to end: %s\n", plugin, npu_status_message(s));
    npu_status_free(s);
    npu_program_destroy(p);
    npu_graph_destroy(g);
    skip();
  }
  npu_executor_t *ex = NULL;
  npu_weights_t *w = NULL;
  assert_ok(npu_executor_create(dev, p, &ex));
  assert_ok(npu_weights_open(npu_test_fixture("tiny-resnet/golden/weights.safetensors"), &w));
  assert_ok(npu_executor_load_weights(ex, w));
  npu_npy_t in, golden;
  assert_ok(npu_npy_read(npu_test_fixture("tiny-resnet/golden/input.npy"), &in));
  assert_ok(npu_npy_read(npu_test_fixture("tiny-resnet/golden/output.npy"), &golden));
  npu_host_tensor_t x = {.dtype = in.dtype, .shape = in.shape, .data = in.data, .size = in.size};
  assert_ok(npu_executor_set_input(ex, "x", &x));
  assert_ok(npu_executor_run(ex));
  float y[10];
  npu_host_tensor_t out = {.dtype = NPU_DTYPE_FLOAT32, .data = y, .size = sizeof y};
  out.shape.rank = 2;
  out.shape.dims[0] = 1;
  out.shape.dims[1] = 10;
  assert_ok(npu_executor_get_output(ex, "linear", &out));
  assert_int_equal(golden.size, sizeof y);
  const float *ref = golden.data;
  double scale = 0, err = 0;
  for (int i = 0; i < 10; i++) scale = fmax(scale, fabs(ref[i]));
  for (int i = 0; i < 10; i++) err = fmax(err, fabs(y[i] - ref[i]) / scale);
  int top = 0, top_ref = 0;
  for (int i = 1; i < 10; i++) {
    if (y[i] > y[top]) top = i;
    if (ref[i] > ref[top_ref]) top_ref = i;
  }
  fprintf(stderr, "%s %s: tiny-resnet max rel err %g (max|a-b|/max|b|), top-1 %d (golden %d)\n",
          plugin, prec == NPU_LOWER_FP16 ? "fp16" : "fp32", err, top, top_ref);
  assert_int_equal(top, top_ref);
  assert_true(err <= tol);
  npu_npy_free(&in);
  npu_npy_free(&golden);
  npu_executor_destroy(ex);
  npu_weights_close(w);
  npu_device_close(dev);
  npu_program_destroy(p);
  npu_graph_destroy(g);
}

static void run_e2e(const char *plugin) { run_e2e_prec(plugin, NPU_LOWER_FP32, 1e-3); }

/* fp16 compute (float16 activations and weights, float32 I/O): top-1 equal
 * and max|a-b|/max|b| below 2e-2. */
static void test_e2e_cpu_fp16(void **state) {
  (void)state;
  run_e2e_prec("cpu", NPU_LOWER_FP16, 2e-2);
}

static void test_e2e_vulkan_fp16(void **state) {
  (void)state;
  run_e2e_prec("vulkan", NPU_LOWER_FP16, 2e-2);
}

static void test_e2e_cpu(void **state) {
  (void)state;
  run_e2e("cpu");
}

static void test_e2e_vulkan(void **state) {
  (void)state;
  run_e2e("vulkan");
}

/* ResNet-18 (shared fixture, no weights needed): 20 convs (stem, 2 per basic
 * block x 8, 3 downsamples), each one dispatch with its BN folded and its
 * relu / residual add fused, + maxpool + global avgpool + linear = 23. */
static void test_lower_resnet18(void **state) {
  (void)state;
  const char *path = npu_test_shared_fixture("resnet18/model_ir.json");
  if (!path) skip();
  npu_graph_t *g = NULL;
  assert_ok(npu_graph_import_json_file(path, &g));
  assert_ok(harness_run("canonicalize", "canonicalize", g, NULL));
  assert_ok(harness_run("bn-fold", "bn-fold", g, NULL));
  assert_ok(harness_run("dce", "dce", g, NULL));
  npu_program_t *p = NULL;
  npu_lower_options_t o = {.backend = "vulkan", .embed_spirv = true};
  assert_ok(npu_lower_graph(g, &o, &p));
  int32_t residual = 0, relu = 0, plain = 0, partial = 0;
  for (int32_t i = 0; i < npu_program_dispatch_count(p); i++) {
    const npu_program_dispatch_t *d = npu_program_dispatch(p, i);
    if (strcmp(npu_program_kernel(p, d->kernel)->name, "conv2d_gemm_f32") != 0) continue;
    /* A split-K conv is a partial-sum dispatch followed by its reduce (which
     * carries the epilogue flags). */
    if (d->push[NPU_CONVG_MODE] == NPU_CONVG_MODE_PARTIAL) {
      partial++;
      continue;
    }
    uint32_t f = d->push[16];
    if (f == 7) residual++;
    else if (f == 3) relu++;
    else if (f == 1) plain++;
  }
  /* 8 basic blocks: conv2+add+relu each; conv1 of each block and the stem
   * conv+relu: 9; downsample convs: 3. */
  assert_int_equal(residual, 8);
  assert_int_equal(relu, 9);
  assert_int_equal(plain, 3);
  assert_int_equal(npu_program_dispatch_count(p), 23 + partial);
  npu_memplan_stats_t st;
  assert_ok(npu_memplan_compute(g, 256, NULL, &st));
  fprintf(stderr, "resnet18: arena %llu bytes (naive %llu) for %d tensors\n",
          (unsigned long long)st.peak_bytes, (unsigned long long)st.naive_bytes, (int)st.planned);
  assert_true(st.peak_bytes < st.naive_bytes);
  npu_program_destroy(p);
  npu_graph_destroy(g);
}

/* ---- errors ---------------------------------------------------------------------- */

static void test_unsupported_op(void **state) {
  (void)state;
  npu_graph_t *g = NULL;
  assert_ok(npu_graph_create(&g));
  npu_tensor_id_t x = TENSOR(g, "x", NPU_DTYPE_FLOAT32, NPU_ROLE_INPUT, 1, 4);
  npu_tensor_id_t y = TENSOR(g, "y", NPU_DTYPE_FLOAT32, NPU_ROLE_INTERMEDIATE, 1, 4);
  assert_ok(npu_graph_add_input(g, x));
  harness_node(g, "my_sigmoid", "aten.sigmoid.default", &x, 1, &y, 1, NULL, 0);
  assert_ok(npu_graph_add_output(g, y));
  npu_program_t *p = NULL;
  npu_lower_options_t o = {.backend = "cpu"};
  npu_status_t s = npu_lower_graph(g, &o, &p);
  assert_non_null(s);
  assert_int_equal(npu_status_code(s), NPU_STATUS_UNSUPPORTED);
  assert_error_contains(s, "my_sigmoid");
  assert_null(p);
  assert_error_contains(npu_memplan_compute(g, 256, NULL, NULL), "aten.sigmoid.default");
  npu_graph_destroy(g);
}

int main(void) {
  if (!harness_have_aten()) {
    fprintf(stderr, "ATen schemas are not registered\n");
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_memplan_random), cmocka_unit_test(test_lower_tiny_resnet),
      cmocka_unit_test(test_memplan_pass),   cmocka_unit_test(test_emit_cpu),
      cmocka_unit_test(test_emit_vulkan),    cmocka_unit_test(test_e2e_cpu),
      cmocka_unit_test(test_e2e_vulkan),     cmocka_unit_test(test_e2e_cpu_fp16),
      cmocka_unit_test(test_e2e_vulkan_fp16),     cmocka_unit_test(test_unsupported_op),
      cmocka_unit_test(test_lower_resnet18),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
