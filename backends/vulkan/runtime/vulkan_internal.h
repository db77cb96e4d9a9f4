/* backends/vulkan/runtime/vulkan_internal.h — internal to the Vulkan executor. */
#ifndef NPU_VULKAN_INTERNAL_H
#define NPU_VULKAN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <vulkan/vulkan.h>

#include "npu/program.h"
#include "npu/status.h"
#include "vulkan_runtime.h"

typedef struct vkd {
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger;
  PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger;
  bool validation;
  uint32_t api_version; /* requested instance API version */
  VkPhysicalDevice phys;
  uint32_t index;
  VkPhysicalDeviceProperties props;
  VkPhysicalDeviceMemoryProperties mem;
  uint64_t max_alloc; /* maxMemoryAllocationSize */
  VkDevice dev;
  VkQueue queue;
  uint32_t qfamily;
  uint32_t ts_valid_bits; /* 0: no timestamps on the compute queue */
  bool force_staging; /* NPU_VULKAN_FORCE_STAGING=1: never map device memory (tests the
                        * discrete-GPU paths on lavapipe) */
  char features[192];
  /* Features enabled at device creation (kernels' SPIR-V capabilities are
   * checked against them at executor creation). */
  bool storage16;   /* storageBuffer16BitAccess */
  bool float16;     /* shaderFloat16 */
  bool int16, int64, float64, int8, storage8;
} vkd_t;

const char *vkrt_result_name(VkResult r);
/* A status for a failed Vulkan call: OUT_OF_MEMORY for the OOM results,
 * DEVICE_ERROR otherwise; the message names the call and the result. */
npu_status_t vkrt_fail(VkResult r, const char *call);

/* With NPU_VULKAN_VALIDATION on: an error if the layer reported errors since
 * the count was errors_before (npu_vulkan_validation_errors()), so that no
 * validation error passes silently. */
npu_status_t vkrt_validation_status(uint32_t errors_before, const char *during);

npu_status_t vkrt_device_open(const char *selector, void **out_device, char *name,
                              size_t name_size);
void vkrt_device_close(void *device);

#endif
