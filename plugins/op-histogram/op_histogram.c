/* op-histogram: counts the nodes of each op and reports them as pass
 * statistics (and optionally writes a TSV). An example of a pass that lives
 * outside the npuc tree; see docs/writing-a-pass.md. */
#include <stdio.h>
#include <string.h>

#include <npu/plugin.h>

static npu_status_t histogram_run(npu_pass_context_t *ctx, npu_graph_t *graph,
                                  const npu_options_t *options) {
  const char *path = npu_options_get_string(options, "output");
  FILE *out = NULL;
  if (path && *path) {
    out = fopen(path, "w");
    if (!out) return npu_error(NPU_STATUS_IO_ERROR, "op-histogram: cannot write '%s'", path);
  }
  for (npu_node_id_t n = npu_graph_first_node(graph); n != NPU_NO_NODE;
       n = npu_graph_next_node(graph, n)) {
    const npu_node_t *node = npu_graph_node(graph, n);
    npu_pass_stat_add(ctx, node->op, 1);
  }
  if (out) {
    /* One line per node in order; `sort | uniq -c` gives the histogram. */
    for (npu_node_id_t n = npu_graph_first_node(graph); n != NPU_NO_NODE;
         n = npu_graph_next_node(graph, n))
      fprintf(out, "%s\t%s\n", npu_graph_node(graph, n)->op, npu_graph_node(graph, n)->name);
    fclose(out);
  }
  return NULL;
}

static const npu_option_spec_t histogram_options[] = {
    {.name = "output", .type = NPU_OPTION_STRING, .default_value = "",
     .help = "also write one 'op<TAB>node' line per node to this file"},
};

static const npu_pass_info_t passes[] = {
    {.name = "op-histogram",
     .summary = "counts nodes per op (reported as statistics); changes nothing",
     .options = histogram_options,
     .num_options = 1,
     .run = histogram_run},
};

NPU_PLUGIN_EXPORT const npu_plugin_descriptor_t *npu_plugin_entry(void) {
  static const npu_plugin_descriptor_t descriptor = {
      .abi_version = NPU_PLUGIN_ABI_VERSION,
      .name = "op-histogram",
      .version = "1.0.0",
      .summary = "example out-of-tree analysis pass",
      .passes = passes,
      .num_passes = 1,
  };
  return &descriptor;
}
