/* libFuzzer target: the safetensors header parser and validator
 * (runtime/safetensors.h, from memory). Every accepted file's tensors must lie
 * inside the buffer. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../runtime/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  npu_st_file_t *f = NULL;
  npu_status_t s = npu_st_parse(data, size, "fuzz.safetensors", &f);
  if (s) {
    npu_status_free(s);
    return 0;
  }
  for (int32_t i = 0; i < npu_st_count(f); i++) {
    const npu_st_tensor_t *t = npu_st_tensor(f, i);
    const uint8_t *p = t->data;
    if (p < data || p + t->size > data + size) abort();
    if (npu_st_find(f, t->name) != t) abort();
    volatile uint8_t sink = 0;
    if (t->size) sink ^= p[0] ^ p[t->size - 1];
    (void)sink;
  }
  npu_st_close(f);
  return 0;
}
