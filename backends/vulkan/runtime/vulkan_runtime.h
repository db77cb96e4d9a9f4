/*
 * backends/vulkan/runtime/vulkan_runtime.h — the Vulkan executor
 * (npu/runtime_backend.h). Linked as the static library npu_vulkan_runtime
 * into the vulkan backend plugin (which sets .runtime to
 * &npu_vulkan_runtime_backend) and into the runtime tests.
 *
 * Environment:
 *   NPU_DEVICE=N|substring   device choice when device_open gets no selector
 *   NPU_VULKAN_VALIDATION=1  enables VK_LAYER_KHRONOS_validation and a debug
 *                            messenger; every validation error is printed to
 *                            stderr and counted (npu_vulkan_validation_errors)
 */
#ifndef NPU_VULKAN_RUNTIME_H
#define NPU_VULKAN_RUNTIME_H

#include <stdint.h>

#include "npu/runtime_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const npu_runtime_backend_t npu_vulkan_runtime_backend;

/* Validation-layer errors reported since the process started (all devices). */
uint32_t npu_vulkan_validation_errors(void);

/* For a device from npu_vulkan_runtime_backend.device_open: a one-line
 * summary of the optional features that were enabled, e.g.
 * "int64 int16 float16 storage16 storage8 timestamps". Borrowed. */
const char *npu_vulkan_device_features(const void *device);

/* For an executor from executor_create: how many compute->compute barriers
 * its command buffer holds (tests check barrier placement). */
uint32_t npu_vulkan_executor_barriers(const void *exec);

#ifdef __cplusplus
}
#endif
#endif /* NPU_VULKAN_RUNTIME_H */
