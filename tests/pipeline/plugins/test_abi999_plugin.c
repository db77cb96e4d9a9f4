/* Test plugin built "for another ABI": the loader must refuse it. */
#include "npu/plugin.h"

NPU_PLUGIN_EXPORT const npu_plugin_descriptor_t *npu_plugin_entry(void) {
  static const npu_plugin_descriptor_t d = {.abi_version = 999, .name = "abi999", .version = "1"};
  return &d;
}
