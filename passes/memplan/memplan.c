/*
 * memplan — plans the activation arena the lowering will use and reports it
 * (docs/kernels.md, "Memory plan"). The plan itself is recomputed by the
 * backend (npu_memplan_compute in backends/lower), so this pass changes
 * nothing; it validates that the graph lowers and reports:
 *   peak-activation-bytes  the arena size
 *   naive-bytes            one slot per intermediate (no reuse)
 *   tensors-planned        intermediates placed in the arena
 *   dispatches             dispatches after fusion
 */
#include <inttypes.h>

#include "npu/plugin.h"
#include "npu_lower.h"

static npu_status_t memplan_run(npu_pass_context_t *ctx, npu_graph_t *g,
                                const npu_options_t *options) {
  int64_t alignment = options ? npu_options_get_int(options, "alignment") : 256;
  if (alignment <= 0) alignment = 256;
  if (alignment & (alignment - 1))
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "memplan: alignment %" PRId64 " is not a power of two", alignment);
  npu_memplan_stats_t stats;
  NPU_RETURN_IF_ERROR(npu_memplan_compute(g, (uint64_t)alignment, NULL, &stats));
  if (ctx) {
    npu_pass_stat_add(ctx, "peak-activation-bytes", (int64_t)stats.peak_bytes);
    npu_pass_stat_add(ctx, "naive-bytes", (int64_t)stats.naive_bytes);
    npu_pass_stat_add(ctx, "tensors-planned", stats.planned);
    npu_pass_stat_add(ctx, "dispatches", stats.steps);
  }
  return NULL;
}

static const npu_option_spec_t memplan_options[] = {
    {.name = "alignment", .type = NPU_OPTION_INT, .default_value = "256",
     .help = "byte alignment of every activation offset (a power of two)"},
};

static const npu_pass_info_t passes[] = {
    {.name = "memplan",
     .summary = "plans the activation arena (liveness + best-fit) and reports its size",
     .options = memplan_options, .num_options = 1, .run = memplan_run},
};

NPU_PLUGIN_EXPORT const npu_plugin_descriptor_t *npu_plugin_entry(void) {
  static const npu_plugin_descriptor_t d = {
      .abi_version = NPU_PLUGIN_ABI_VERSION, .name = "memplan", .version = "1.0",
      .summary = "activation memory planning", .passes = passes, .num_passes = 1};
  return &d;
}
