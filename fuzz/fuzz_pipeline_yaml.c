/* libFuzzer target: the pipeline YAML loader (syntax + schema, no plugins,
 * no file access). Seeds: fuzz/corpus/pipeline_yaml. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "npu/pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  npu_pipeline_t *p = NULL;
  npu_status_t s = npu_pipeline_parse((const char *)data, size, "fuzz.yaml", "base", &p);
  if (s) {
    /* Every error is located and has a message. */
    if (!npu_status_message(s)[0]) __builtin_trap();
    npu_status_free(s);
    return 0;
  }
  /* Walk the result. */
  (void)npu_pipeline_input(p);
  (void)npu_pipeline_output(p);
  (void)npu_pipeline_backend_name(p);
  for (int32_t i = 0; i < npu_pipeline_pass_count(p); i++)
    if (!npu_pipeline_pass_name(p, i)) __builtin_trap();
  for (int32_t i = 0; i < npu_pipeline_plugin_path_count(p); i++)
    if (!npu_pipeline_plugin_path(p, i)) __builtin_trap();
  npu_pipeline_destroy(p);
  return 0;
}
