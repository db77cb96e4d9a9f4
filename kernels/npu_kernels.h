/*
 * kernels/npu_kernels.h — the compute kernels built from kernels/<name>.comp,
 * embedded as SPIR-V (docs/kernels.md describes each one's bindings and push
 * constants). The push-constant layouts are named in npu_kernel_abi.h.
 */
#ifndef NPU_KERNELS_H
#define NPU_KERNELS_H

#include <stdint.h>

#include "npu/program.h"
#include "npu_kernel_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The kernel named `name` ("conv2d_f32") with its SPIR-V, binding count and
 * push-constant words, or NULL if there is none. Static storage. */
const npu_program_kernel_t *npu_kernel_find(const char *name);
/* Number of kernels and the i-th (for tests and listings). */
int npu_kernel_count(void);
const npu_program_kernel_t *npu_kernel_at(int index);

#ifdef __cplusplus
}
#endif
#endif /* NPU_KERNELS_H */
