/* libFuzzer entry for the pytorch-ir JSON importer. Seeds: corpus/json_import. */
#include <stddef.h>
#include <stdint.h>

#include "npu/graph.h"
#include "npu/graph_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  npu_graph_t *g = NULL;
  npu_status_t s = npu_graph_import_json_buffer((const char *)data, size, "fuzz.json", &g);
  npu_status_free(s);
  npu_graph_destroy(g);
  return 0;
}
