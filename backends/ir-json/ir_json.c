/* The "ir-json" backend: writes the graph after the passes as pytorch-ir JSON
 * (npu_graph_write_json_file), which npuc can import again. The default
 * backend of a pipeline that names none. */
#include "npu/graph_io.h"
#include "npu/plugin.h"

static npu_status_t ir_json_emit(npu_pass_context_t *ctx, const npu_graph_t *graph,
                                 const npu_options_t *options, const char *output_path) {
  (void)options;
  npu_pass_stat_add(ctx, "nodes-written", npu_graph_node_count(graph));
  npu_pass_remark(ctx, "writing %s", output_path);
  return npu_graph_write_json_file(graph, output_path);
}

static const npu_backend_info_t backends[] = {
    {.name = "ir-json",
     .summary = "writes the graph as pytorch-ir JSON (re-importable)",
     .options = NULL,
     .num_options = 0,
     .output_extension = ".json",
     .emit = ir_json_emit},
};

NPU_PLUGIN_EXPORT const npu_plugin_descriptor_t *npu_plugin_entry(void) {
  static const npu_plugin_descriptor_t d = {
      .abi_version = NPU_PLUGIN_ABI_VERSION,
      .name = "ir-json",
      .version = "1.0",
      .summary = "IR JSON writer backend",
      .backends = backends,
      .num_backends = 1,
  };
  return &d;
}
