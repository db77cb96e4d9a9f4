#include "pass_harness.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "npu/pipeline.h"
#include "test_support.h"

/* ---- statistics: each run gets a fresh pass context, kept until the next
 * run so the test can read what the pass reported. ------------------------- */

static npu_pass_context_t *last_context;

int64_t harness_stat(const char *counter) { return npu_pass_context_stat(last_context, counter); }

/* ---- plugins ------------------------------------------------------------------ */

const npu_pass_info_t *harness_pass(const char *plugin, const char *pass) {
  char path[1024];
  snprintf(path, sizeof path, "%s/npu-%s.so", NPU_BUILD_PLUGIN_DIR, plugin);
  /* Kept loaded for the life of the test (dlopen is reference counted). */
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) fail_msg("dlopen %s: %s", path, dlerror());
  npu_plugin_entry_fn_t entry;
  *(void **)&entry = dlsym(h, NPU_PLUGIN_ENTRY_SYMBOL);
  if (!entry) fail_msg("%s: no %s", path, NPU_PLUGIN_ENTRY_SYMBOL);
  const npu_plugin_descriptor_t *d = entry();
  assert_non_null(d);
  assert_int_equal(d->abi_version, NPU_PLUGIN_ABI_VERSION);
  for (int32_t i = 0; i < d->num_passes; i++)
    if (strcmp(d->passes[i].name, pass) == 0) return &d->passes[i];
  fail_msg("%s has no pass '%s'", path, pass);
  return NULL;
}

npu_status_t harness_run(const char *plugin, const char *pass, npu_graph_t *g,
                         const npu_options_t *options) {
  const npu_pass_info_t *info = harness_pass(plugin, pass);
  npu_pass_context_destroy(last_context);
  last_context = NULL;
  assert_ok(npu_pass_context_create(pass, &last_context));
  return info->run(last_context, g, options);
}

bool harness_have_aten(void) {
  npu_ops_register_builtins();
  return npu_op_lookup("aten.relu.default") && npu_op_lookup("aten.conv2d.default");
}

/* ---- graph building ------------------------------------------------------------ */

npu_tensor_id_t harness_tensor(npu_graph_t *g, const char *name, npu_dtype_t dtype,
                               npu_tensor_role_t role, int32_t rank, const int64_t *dims) {
  npu_tensor_desc_t desc = {.name = name, .dtype = dtype, .role = role};
  desc.shape.rank = rank;
  for (int32_t i = 0; i < rank; i++) desc.shape.dims[i] = dims[i];
  if (role == NPU_ROLE_WEIGHT || role == NPU_ROLE_CONSTANT) desc.weight_key = name;
  npu_tensor_id_t id;
  assert_ok(npu_graph_add_tensor(g, &desc, &id));
  if (role == NPU_ROLE_INPUT) assert_ok(npu_graph_add_input(g, id));
  return id;
}

npu_node_id_t harness_node(npu_graph_t *g, const char *name, const char *op,
                           const npu_tensor_id_t *inputs, int32_t num_inputs,
                           const npu_tensor_id_t *outputs, int32_t num_outputs,
                           const npu_attr_t *attrs, int32_t num_attrs) {
  npu_node_id_t id;
  assert_ok(npu_graph_insert_node(g,
                                  &(npu_node_desc_t){.name = name,
                                                     .op = op,
                                                     .inputs = inputs,
                                                     .num_inputs = num_inputs,
                                                     .outputs = outputs,
                                                     .num_outputs = num_outputs,
                                                     .attrs = attrs,
                                                     .num_attrs = num_attrs},
                                  NPU_NO_NODE, &id));
  assert_ok(npu_op_apply_defaults(g, id));
  return id;
}

int32_t harness_count_op(const npu_graph_t *g, const char *op) {
  int32_t count = 0;
  for (npu_node_id_t n = npu_graph_first_node(g); n != NPU_NO_NODE; n = npu_graph_next_node(g, n))
    count += strcmp(npu_graph_node(g, n)->op, op) == 0;
  return count;
}
