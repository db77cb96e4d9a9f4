/*
 * dce — dead code elimination (docs/passes.md, "dce").
 *
 * Erases every node none of whose outputs is read by a live node or by a graph
 * output. One backward walk over the order removes whole dead chains: a node's
 * users all come after it, so by the time the walk reaches it, every dead user
 * is already gone and its input uses are discounted.
 *
 * Every op is treated as pure, except in-place ops (NPU_OP_FLAG_INPLACE), which
 * write their input 0 and are always kept. Weights stay in the weight table.
 */
#include <stdlib.h>

#include "npu/plugin.h"

static npu_status_t dce_run(npu_pass_context_t *ctx, npu_graph_t *g, const npu_options_t *opts) {
  (void)opts;
  int32_t num_tensors = npu_graph_tensor_count(g);
  int32_t *uses = calloc((size_t)num_tensors + 1, sizeof *uses);
  if (!uses) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "dce: out of memory");
  for (npu_node_id_t id = npu_graph_first_node(g); id != NPU_NO_NODE;
       id = npu_graph_next_node(g, id)) {
    const npu_node_t *n = npu_graph_node(g, id);
    for (int32_t i = 0; i < n->num_inputs; i++) uses[n->inputs[i]]++;
  }
  int32_t num_outputs = 0;
  const npu_tensor_id_t *outs = npu_graph_outputs(g, &num_outputs);
  for (int32_t i = 0; i < num_outputs; i++) uses[outs[i]]++;

  int64_t removed = 0;
  npu_node_id_t prev;
  for (npu_node_id_t id = npu_graph_last_node(g); id != NPU_NO_NODE; id = prev) {
    prev = npu_graph_prev_node(g, id);
    const npu_node_t *n = npu_graph_node(g, id);
    if (n->schema->flags & NPU_OP_FLAG_INPLACE) continue;
    bool used = false;
    for (int32_t i = 0; i < n->num_outputs && !used; i++) used = uses[n->outputs[i]] > 0;
    if (used) continue;
    for (int32_t i = 0; i < n->num_inputs; i++) uses[n->inputs[i]]--;
    npu_graph_erase_node(g, id);
    removed++;
  }
  free(uses);
  npu_pass_stat_add(ctx, "nodes-removed", removed);
  return NULL;
}

static const npu_pass_info_t passes[] = {
    {.name = "dce", .summary = "erase nodes whose outputs nothing reads", .run = dce_run},
};

NPU_PLUGIN_EXPORT const npu_plugin_descriptor_t *npu_plugin_entry(void) {
  static const npu_plugin_descriptor_t d = {.abi_version = NPU_PLUGIN_ABI_VERSION,
                                            .name = "dce",
                                            .version = "1.0",
                                            .summary = "dead code elimination",
                                            .passes = passes,
                                            .num_passes = 1};
  return &d;
}
