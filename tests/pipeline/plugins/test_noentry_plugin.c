/* Test plugin without the entry symbol. */
#include "npu/plugin.h"

NPU_PLUGIN_EXPORT int npu_not_a_plugin(void);
NPU_PLUGIN_EXPORT int npu_not_a_plugin(void) { return 42; }
