/* Test plugin providing a pass named "test-opts" again. Built twice: as
 * dup/npu-test-dup.so (a conflict) and as shadow/npu-test-opts.so (same file
 * name as the real one, so it shadows it). */
#include "npu/plugin.h"

static npu_status_t dup_run(npu_pass_context_t *ctx, npu_graph_t *g, const npu_options_t *o) {
  (void)g;
  (void)o;
  npu_pass_stat_add(ctx, "dup", 1);
  return NULL;
}

static const npu_pass_info_t passes[] = {
    {.name = "test-opts", .summary = "a second test-opts", .run = dup_run},
};

NPU_PLUGIN_EXPORT const npu_plugin_descriptor_t *npu_plugin_entry(void) {
#ifdef NPU_TEST_SHADOW
  static const npu_plugin_descriptor_t d = {.abi_version = NPU_PLUGIN_ABI_VERSION,
                                            .name = "test-shadow", .version = "2.0",
                                            .passes = passes, .num_passes = 1};
#else
  static const npu_plugin_descriptor_t d = {.abi_version = NPU_PLUGIN_ABI_VERSION,
                                            .name = "test-dup", .version = "1.0",
                                            .passes = passes, .num_passes = 1};
#endif
  return &d;
}
