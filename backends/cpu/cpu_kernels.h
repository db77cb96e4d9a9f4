/*
 * backends/cpu/cpu_kernels.h — plain C twins of kernels/<name>.comp: the same
 * bindings, push constants and results (docs/kernels.md), used by the cpu
 * backend and as the oracle in the kernel conformance tests.
 */
#ifndef NPU_CPU_KERNELS_H
#define NPU_CPU_KERNELS_H

#include <stdint.h>

/* bindings[i]: the start of binding i's tensor. push: the dispatch's words. */
typedef void (*npu_cpu_kernel_fn)(void *const *bindings, const uint32_t *push);

/* The C kernel named `name` ("conv2d_f32"), or NULL. */
npu_cpu_kernel_fn npu_cpu_kernel_find(const char *name);

/* IEEE binary16 <-> float as the <op>_f16 kernels store and load it
 * (float -> f16 rounds to nearest even; overflow gives inf). */
uint16_t npu_cpu_f32_to_f16(float f);
float npu_cpu_f16_to_f32(uint16_t h);

#endif
