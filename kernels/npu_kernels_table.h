/* Internal: the generated kernel table (npu_kernels_embedded.c). */
#ifndef NPU_KERNELS_TABLE_H
#define NPU_KERNELS_TABLE_H

#include "npu/program.h"

extern const npu_program_kernel_t npu_kernel_table[];
extern const int npu_kernel_table_count;

#endif
