/* kernels/npu_kernels.c — lookup over the generated SPIR-V table. */
#include "npu_kernels.h"

#include <string.h>

#include "npu_kernels_table.h"

int npu_kernel_count(void) { return npu_kernel_table_count; }

const npu_program_kernel_t *npu_kernel_at(int index) {
  if (index < 0 || index >= npu_kernel_table_count) return NULL;
  return &npu_kernel_table[index];
}

const npu_program_kernel_t *npu_kernel_find(const char *name) {
  if (!name) return NULL;
  for (int i = 0; i < npu_kernel_table_count; i++)
    if (strcmp(npu_kernel_table[i].name, name) == 0) return &npu_kernel_table[i];
  return NULL;
}
