/*
 * Vulkan device: instance (+ validation), physical device choice, logical
 * device with a compute queue and the optional features kernels may use.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vulkan_internal.h"

static atomic_uint g_validation_errors;

/* The first error's text, kept so that a failed run can say what went wrong. */
static char g_first_validation_error[1024];

uint32_t npu_vulkan_validation_errors(void) { return atomic_load(&g_validation_errors); }

npu_status_t vkrt_validation_status(uint32_t errors_before, const char *during) {
  uint32_t now = atomic_load(&g_validation_errors);
  if (now == errors_before) return NULL;
  return npu_error(NPU_STATUS_DEVICE_ERROR,
                   "the Vulkan validation layer reported %u error(s) during %s; the first: %s",
                   now - errors_before, during, g_first_validation_error);
}

const char *npu_vulkan_device_features(const void *device) {
  return device ? ((const vkd_t *)device)->features : "";
}

const char *vkrt_result_name(VkResult r) {
  switch (r) {
#define C(x) case x: return #x;
    C(VK_SUCCESS) C(VK_NOT_READY) C(VK_TIMEOUT) C(VK_INCOMPLETE)
    C(VK_ERROR_OUT_OF_HOST_MEMORY) C(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    C(VK_ERROR_INITIALIZATION_FAILED) C(VK_ERROR_DEVICE_LOST) C(VK_ERROR_MEMORY_MAP_FAILED)
    C(VK_ERROR_LAYER_NOT_PRESENT) C(VK_ERROR_EXTENSION_NOT_PRESENT)
    C(VK_ERROR_FEATURE_NOT_PRESENT) C(VK_ERROR_INCOMPATIBLE_DRIVER)
    C(VK_ERROR_TOO_MANY_OBJECTS) C(VK_ERROR_FORMAT_NOT_SUPPORTED) C(VK_ERROR_FRAGMENTED_POOL)
    C(VK_ERROR_OUT_OF_POOL_MEMORY) C(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    C(VK_ERROR_FRAGMENTATION) C(VK_ERROR_INVALID_SHADER_NV) C(VK_ERROR_UNKNOWN)
#undef C
    default: return "VkResult (unknown)";
  }
}

npu_status_t vkrt_fail(VkResult r, const char *call) {
  npu_status_code_t code = NPU_STATUS_DEVICE_ERROR;
  if (r == VK_ERROR_OUT_OF_HOST_MEMORY || r == VK_ERROR_OUT_OF_DEVICE_MEMORY ||
      r == VK_ERROR_OUT_OF_POOL_MEMORY)
    code = NPU_STATUS_OUT_OF_MEMORY;
  return npu_error(code, "%s failed: %s (%d)", call, vkrt_result_name(r), (int)r);
}

static VKAPI_ATTR VkBool32 VKAPI_CALL debug_callback(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT types,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
  (void)types;
  (void)user;
  const char *msg = data && data->pMessage ? data->pMessage : "(no message)";
  if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
    if (atomic_fetch_add(&g_validation_errors, 1u) == 0)
      snprintf(g_first_validation_error, sizeof g_first_validation_error, "%s", msg);
    fprintf(stderr, "vulkan validation error: %s\n", msg);
  } else if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
    fprintf(stderr, "vulkan validation warning: %s\n", msg);
  }
  return VK_FALSE;
}

static const char *type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
  }
}

static bool has_layer(const char *name) {
  uint32_t n = 0;
  if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return false;
  VkLayerProperties *props = calloc(n, sizeof *props);
  if (!props) return false;
  bool found = false;
  if (vkEnumerateInstanceLayerProperties(&n, props) == VK_SUCCESS) {
    for (uint32_t i = 0; i < n; i++)
      if (strcmp(props[i].layerName, name) == 0) found = true;
  }
  free(props);
  return found;
}

static bool has_instance_ext(const char *layer, const char *name) {
  uint32_t n = 0;
  if (vkEnumerateInstanceExtensionProperties(layer, &n, NULL) != VK_SUCCESS || n == 0) return false;
  VkExtensionProperties *props = calloc(n, sizeof *props);
  if (!props) return false;
  bool found = false;
  if (vkEnumerateInstanceExtensionProperties(layer, &n, props) == VK_SUCCESS) {
    for (uint32_t i = 0; i < n; i++)
      if (strcmp(props[i].extensionName, name) == 0) found = true;
  }
  free(props);
  return found;
}

/* Case-insensitive substring. */
static bool contains_ci(const char *hay, const char *needle) {
  size_t nl = strlen(needle);
  if (nl == 0) return true;
  for (; *hay; hay++) {
    size_t i = 0;
    while (i < nl && hay[i] &&
           tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
      i++;
    if (i == nl) return true;
  }
  return false;
}

static bool all_digits(const char *s) {
  if (!*s) return false;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s)) return false;
  return true;
}

static void vkd_destroy(vkd_t *d) {
  if (!d) return;
  if (d->dev) {
    vkDeviceWaitIdle(d->dev);
    vkDestroyDevice(d->dev, NULL);
  }
  if (d->messenger && d->destroy_messenger)
    d->destroy_messenger(d->instance, d->messenger, NULL);
  if (d->instance) vkDestroyInstance(d->instance, NULL);
  free(d);
}

static npu_status_t no_device(void) {
  return npu_error(NPU_STATUS_NOT_FOUND,
                   "no Vulkan device found (is mesa-vulkan-drivers installed?)");
}

static npu_status_t create_instance(vkd_t *d) {
  uint32_t inst_ver = VK_API_VERSION_1_0;
  if (vkEnumerateInstanceVersion(&inst_ver) != VK_SUCCESS) inst_ver = VK_API_VERSION_1_0;
  if (inst_ver < VK_API_VERSION_1_1)
    return npu_error(NPU_STATUS_UNSUPPORTED,
                     "the Vulkan loader offers version %u.%u; npuc needs 1.1 or later",
                     VK_API_VERSION_MAJOR(inst_ver), VK_API_VERSION_MINOR(inst_ver));
  d->api_version = inst_ver >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2;

  const char *env = getenv("NPU_VULKAN_VALIDATION");
  bool want_validation = env && *env && strcmp(env, "0") != 0;
  const char *layers[1];
  uint32_t num_layers = 0;
  const char *exts[2];
  bool sync_validation = false;
  uint32_t num_exts = 0;
  if (want_validation) {
    const char *vl = "VK_LAYER_KHRONOS_validation";
    if (!has_layer(vl)) {
      fprintf(stderr, "npuc: NPU_VULKAN_VALIDATION is set but %s is not installed; "
                      "running without validation\n", vl);
    } else {
      layers[num_layers++] = vl;
      if (has_instance_ext(NULL, VK_EXT_DEBUG_UTILS_EXTENSION_NAME) ||
          has_instance_ext(vl, VK_EXT_DEBUG_UTILS_EXTENSION_NAME))
        exts[num_exts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
      /* Synchronization validation checks the executor's barriers. */
      if (num_exts && has_instance_ext(vl, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME)) {
        exts[num_exts++] = VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME;
        sync_validation = true;
      }
    }
  }
  VkDebugUtilsMessengerCreateInfoEXT mci = {
      .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
      .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
      .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
      .pfnUserCallback = debug_callback,
  };
  static const VkValidationFeatureEnableEXT enables[] = {
      VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
  VkValidationFeaturesEXT vf = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                                .enabledValidationFeatureCount = 1,
                                .pEnabledValidationFeatures = enables};
  if (sync_validation) mci.pNext = &vf;
  VkApplicationInfo app = {
      .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
      .pApplicationName = "npuc",
      .applicationVersion = 1,
      .pEngineName = "npuc",
      .engineVersion = 1,
      .apiVersion = d->api_version,
  };
  VkInstanceCreateInfo ici = {
      .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
      .pNext = num_exts ? &mci : NULL,
      .pApplicationInfo = &app,
      .enabledLayerCount = num_layers,
      .ppEnabledLayerNames = layers,
      .enabledExtensionCount = num_exts,
      .ppEnabledExtensionNames = exts,
  };
  VkResult r = vkCreateInstance(&ici, NULL, &d->instance);
  if (r == VK_ERROR_INCOMPATIBLE_DRIVER || r == VK_ERROR_INITIALIZATION_FAILED) {
    d->instance = VK_NULL_HANDLE;
    return no_device();
  }
  if (r != VK_SUCCESS) {
    d->instance = VK_NULL_HANDLE;
    return vkrt_fail(r, "vkCreateInstance");
  }
  if (num_exts) {
    PFN_vkCreateDebugUtilsMessengerEXT create = (PFN_vkCreateDebugUtilsMessengerEXT)
        vkGetInstanceProcAddr(d->instance, "vkCreateDebugUtilsMessengerEXT");
    d->destroy_messenger = (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
        d->instance, "vkDestroyDebugUtilsMessengerEXT");
    if (create && d->destroy_messenger) {
      mci.pNext = NULL;
      r = create(d->instance, &mci, NULL, &d->messenger);
      if (r != VK_SUCCESS) return vkrt_fail(r, "vkCreateDebugUtilsMessengerEXT");
    }
    d->validation = true;
  }
  return NULL;
}

/* "0: llvmpipe (...) [CPU]; 1: ..." */
static void list_devices(VkPhysicalDevice *pds, uint32_t n, char *buf, size_t size) {
  size_t len = 0;
  buf[0] = '\0';
  for (uint32_t i = 0; i < n && len + 1 < size; i++) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(pds[i], &p);
    int w = snprintf(buf + len, size - len, "%s%u: %s [%s]", i ? "; " : "", i, p.deviceName,
                     type_name(p.deviceType));
    if (w < 0) break;
    len += (size_t)w;
  }
}

static npu_status_t choose_physical(vkd_t *d, const char *selector) {
  uint32_t n = 0;
  VkResult r = vkEnumeratePhysicalDevices(d->instance, &n, NULL);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) return vkrt_fail(r, "vkEnumeratePhysicalDevices");
  if (n == 0) return no_device();
  VkPhysicalDevice *pds = calloc(n, sizeof *pds);
  if (!pds) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory listing Vulkan devices");
  r = vkEnumeratePhysicalDevices(d->instance, &n, pds);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
    free(pds);
    return vkrt_fail(r, "vkEnumeratePhysicalDevices");
  }
  int64_t chosen = -1;
  if (selector) {
    if (all_digits(selector)) {
      long idx = strtol(selector, NULL, 10);
      if (idx >= 0 && (uint64_t)idx < n) chosen = idx;
    } else {
      for (uint32_t i = 0; i < n && chosen < 0; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pds[i], &p);
        if (contains_ci(p.deviceName, selector)) chosen = i;
      }
    }
    if (chosen < 0) {
      char list[2048];
      list_devices(pds, n, list, sizeof list);
      free(pds);
      return npu_error(NPU_STATUS_NOT_FOUND,
                       "NPU_DEVICE=\"%s\" matches no Vulkan device (an index or a "
                       "case-insensitive name substring); devices: %s",
                       selector, list);
    }
  } else {
    static const VkPhysicalDeviceType order[] = {
        VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU, VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU,
        VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU, VK_PHYSICAL_DEVICE_TYPE_CPU,
        VK_PHYSICAL_DEVICE_TYPE_OTHER};
    for (size_t k = 0; k < sizeof order / sizeof order[0] && chosen < 0; k++) {
      for (uint32_t i = 0; i < n && chosen < 0; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pds[i], &p);
        if (p.deviceType == order[k] && p.apiVersion >= VK_API_VERSION_1_1) chosen = i;
      }
    }
    if (chosen < 0) {
      char list[2048];
      list_devices(pds, n, list, sizeof list);
      free(pds);
      return npu_error(NPU_STATUS_UNSUPPORTED,
                       "no Vulkan 1.1 device found (is mesa-vulkan-drivers installed?); "
                       "devices: %s", list);
    }
  }
  d->phys = pds[chosen];
  d->index = (uint32_t)chosen;
  free(pds);
  vkGetPhysicalDeviceProperties(d->phys, &d->props);
  vkGetPhysicalDeviceMemoryProperties(d->phys, &d->mem);
  if (d->props.apiVersion < VK_API_VERSION_1_1)
    return npu_error(NPU_STATUS_UNSUPPORTED, "Vulkan device '%s' offers only Vulkan %u.%u; "
                     "npuc needs 1.1", d->props.deviceName,
                     VK_API_VERSION_MAJOR(d->props.apiVersion),
                     VK_API_VERSION_MINOR(d->props.apiVersion));
  VkPhysicalDeviceMaintenance3Properties m3 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
  VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                    .pNext = &m3};
  vkGetPhysicalDeviceProperties2(d->phys, &p2);
  d->max_alloc = m3.maxMemoryAllocationSize ? m3.maxMemoryAllocationSize : UINT64_MAX;
  return NULL;
}

static npu_status_t create_device(vkd_t *d) {
  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(d->phys, &nq, NULL);
  VkQueueFamilyProperties *qf = calloc(nq ? nq : 1, sizeof *qf);
  if (!qf) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  vkGetPhysicalDeviceQueueFamilyProperties(d->phys, &nq, qf);
  int64_t fam = -1;
  for (uint32_t i = 0; i < nq && fam < 0; i++)
    if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && qf[i].queueCount > 0) fam = i;
  if (fam >= 0) d->ts_valid_bits = qf[fam].timestampValidBits;
  free(qf);
  if (fam < 0)
    return npu_error(NPU_STATUS_UNSUPPORTED, "Vulkan device '%s' has no compute queue",
                     d->props.deviceName);
  d->qfamily = (uint32_t)fam;

  /* Query optional features. */
  bool v12 = d->props.apiVersion >= VK_API_VERSION_1_2 && d->api_version >= VK_API_VERSION_1_2;
  VkPhysicalDeviceShaderFloat16Int8Features f16 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
  VkPhysicalDevice8BitStorageFeatures s8 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES, .pNext = &f16};
  VkPhysicalDevice16BitStorageFeatures s16 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
      .pNext = v12 ? (void *)&s8 : NULL};
  VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                  .pNext = &s16};
  vkGetPhysicalDeviceFeatures2(d->phys, &f2);

  VkPhysicalDeviceShaderFloat16Int8Features ef16 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES,
      .shaderFloat16 = v12 && f16.shaderFloat16, .shaderInt8 = v12 && f16.shaderInt8};
  VkPhysicalDevice8BitStorageFeatures es8 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES, .pNext = &ef16,
      .storageBuffer8BitAccess = v12 && s8.storageBuffer8BitAccess};
  VkPhysicalDevice16BitStorageFeatures es16 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
      .pNext = v12 ? (void *)&es8 : NULL,
      .storageBuffer16BitAccess = s16.storageBuffer16BitAccess};
  VkPhysicalDeviceFeatures2 ef2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                   .pNext = &es16};
  ef2.features.shaderInt64 = f2.features.shaderInt64;
  ef2.features.shaderInt16 = f2.features.shaderInt16;
  ef2.features.shaderFloat64 = f2.features.shaderFloat64;

  snprintf(d->features, sizeof d->features, "%s%s%s%s%s%s%s%s",
           ef2.features.shaderInt64 ? "int64 " : "", ef2.features.shaderInt16 ? "int16 " : "",
           ef2.features.shaderFloat64 ? "float64 " : "", ef16.shaderFloat16 ? "float16 " : "",
           ef16.shaderInt8 ? "int8 " : "", es16.storageBuffer16BitAccess ? "storage16 " : "",
           es8.storageBuffer8BitAccess ? "storage8 " : "",
           d->ts_valid_bits ? "timestamps" : "");

  d->storage16 = es16.storageBuffer16BitAccess;
  d->float16 = ef16.shaderFloat16;
  d->int16 = ef2.features.shaderInt16;
  d->int64 = ef2.features.shaderInt64;
  d->float64 = ef2.features.shaderFloat64;
  d->int8 = ef16.shaderInt8;
  d->storage8 = es8.storageBuffer8BitAccess;

  float prio = 1.0f;
  VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                 .queueFamilyIndex = d->qfamily,
                                 .queueCount = 1,
                                 .pQueuePriorities = &prio};
  VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                            .pNext = &ef2,
                            .queueCreateInfoCount = 1,
                            .pQueueCreateInfos = &qci};
  VkResult r = vkCreateDevice(d->phys, &dci, NULL, &d->dev);
  if (r != VK_SUCCESS) {
    d->dev = VK_NULL_HANDLE;
    return vkrt_fail(r, "vkCreateDevice");
  }
  vkGetDeviceQueue(d->dev, d->qfamily, 0, &d->queue);
  return NULL;
}

npu_status_t vkrt_device_open(const char *selector, void **out_device, char *name,
                              size_t name_size) {
  if (!out_device) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "device_open: NULL output");
  *out_device = NULL;
  if (!selector) {
    const char *env = getenv("NPU_DEVICE");
    if (env && *env) selector = env;
  }
  vkd_t *d = calloc(1, sizeof *d);
  if (!d) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory opening a Vulkan device");
  npu_status_t s = create_instance(d);
  if (!s) s = choose_physical(d, selector);
  if (!s) s = create_device(d);
  if (s) {
    vkd_destroy(d);
    return s;
  }
  const char *fs = getenv("NPU_VULKAN_FORCE_STAGING");
  d->force_staging = fs && *fs && strcmp(fs, "0") != 0;
  size_t fl = strlen(d->features);
  snprintf(d->features + fl, sizeof d->features - fl, "%s%s", d->validation ? " validation" : "",
           d->force_staging ? " force-staging" : "");
  if (name && name_size) snprintf(name, name_size, "%s", d->props.deviceName);
  *out_device = d;
  return NULL;
}

void vkrt_device_close(void *device) { vkd_destroy(device); }
