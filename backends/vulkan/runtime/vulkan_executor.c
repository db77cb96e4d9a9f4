/*
 * Vulkan executor: buffers, pipelines, descriptor sets and two command
 * buffers (plain and with timestamps), all built once in executor_create.
 * run() is one vkQueueSubmit and one vkWaitForFences.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vulkan_internal.h"

typedef struct vk_buf {
  npu_buffer_kind_t kind;
  uint64_t size;
  VkBuffer buf;
  VkDeviceMemory mem;
  void *map; /* the device buffer itself is host-visible and coherent */
  VkBuffer staging; /* INPUT/OUTPUT without host-visible device memory */
  VkDeviceMemory staging_mem;
  void *staging_map;
} vk_buf_t;

typedef struct vk_pipe {
  int32_t kernel;
  int32_t num_spec;
  npu_spec_constant_t spec[NPU_PROGRAM_MAX_SPEC];
  VkPipeline pipeline;
} vk_pipe_t;

typedef struct vke {
  vkd_t *d;
  const npu_program_t *p;
  int32_t num_bufs;
  vk_buf_t *bufs;
  int32_t num_kernels;
  VkShaderModule *modules;
  VkDescriptorSetLayout *set_layouts;
  VkPipelineLayout *pipe_layouts;
  VkPipelineCache cache;
  int32_t num_pipes;
  vk_pipe_t *pipes;
  int32_t num_dispatches;
  int32_t *dispatch_pipe;
  VkDescriptorPool desc_pool;
  VkDescriptorSet *sets;
  VkCommandPool cmd_pool;
  VkCommandBuffer cmd, cmd_prof;
  VkFence fence;
  VkQueryPool queries;
  uint64_t *ticks; /* 2 * num_dispatches */
  uint32_t num_barriers;
} vke_t;

#define VKG(expr, call)                    \
  do {                                     \
    VkResult r_ = (expr);                  \
    if (r_ != VK_SUCCESS) {                \
      s = vkrt_fail(r_, call);             \
      goto fail;                           \
    }                                      \
  } while (0)

/* ---- memory ---------------------------------------------------------------- */

static int32_t find_memory_type(const vkd_t *d, uint32_t type_bits, VkMemoryPropertyFlags want) {
  for (uint32_t i = 0; i < d->mem.memoryTypeCount; i++) {
    if ((type_bits & (1u << i)) && (d->mem.memoryTypes[i].propertyFlags & want) == want)
      return (int32_t)i;
  }
  return -1;
}

/* Creates a buffer and binds memory of the first preference that can be
 * allocated. Maps it if the type chosen is host-visible and coherent.
 * Returns NULL with *buf == VK_NULL_HANDLE if no preference could be met and
 * `soft` is set (so the caller can fall back). */
static npu_status_t make_buffer(vkd_t *d, uint64_t size, const VkMemoryPropertyFlags *prefs,
                                int nprefs, bool soft, bool may_map, const char *what,
                                VkBuffer *out_buf, VkDeviceMemory *out_mem, void **out_map) {
  npu_status_t s = NULL;
  *out_buf = VK_NULL_HANDLE;
  *out_mem = VK_NULL_HANDLE;
  *out_map = NULL;
  VkBuffer buf = VK_NULL_HANDLE;
  VkDeviceMemory mem = VK_NULL_HANDLE;
  VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                            .size = size,
                            .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                     VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                     VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                            .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
  VKG(vkCreateBuffer(d->dev, &bci, NULL, &buf), "vkCreateBuffer");
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(d->dev, buf, &req);
  VkResult last = VK_ERROR_OUT_OF_DEVICE_MEMORY;
  for (int i = 0; i < nprefs && !mem; i++) {
    int32_t type = find_memory_type(d, req.memoryTypeBits, prefs[i]);
    if (type < 0) continue;
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                .allocationSize = req.size,
                                .memoryTypeIndex = (uint32_t)type};
    last = vkAllocateMemory(d->dev, &mai, NULL, &mem);
    if (last != VK_SUCCESS) {
      mem = VK_NULL_HANDLE;
      if (last != VK_ERROR_OUT_OF_DEVICE_MEMORY && last != VK_ERROR_OUT_OF_HOST_MEMORY) break;
      continue;
    }
    VkMemoryPropertyFlags flags = d->mem.memoryTypes[type].propertyFlags;
    VKG(vkBindBufferMemory(d->dev, buf, mem, 0), "vkBindBufferMemory");
    if (may_map && (flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) &&
        (flags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)) {
      VKG(vkMapMemory(d->dev, mem, 0, VK_WHOLE_SIZE, 0, out_map), "vkMapMemory");
    }
  }
  if (!mem) {
    vkDestroyBuffer(d->dev, buf, NULL);
    if (soft) return NULL;
    s = vkrt_fail(last, "vkAllocateMemory");
    return npu_status_annotate(s, NULL, "allocating %llu bytes for %s",
                               (unsigned long long)size, what);
  }
  *out_buf = buf;
  *out_mem = mem;
  return NULL;
fail:
  if (mem) vkFreeMemory(d->dev, mem, NULL);
  if (buf) vkDestroyBuffer(d->dev, buf, NULL);
  *out_map = NULL;
  return npu_status_annotate(s, NULL, "allocating %llu bytes for %s", (unsigned long long)size,
                             what);
}

static const VkMemoryPropertyFlags k_host_pref[] = {
    VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
        VK_MEMORY_PROPERTY_HOST_CACHED_BIT,
    VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT};

static npu_status_t alloc_program_buffer(vke_t *e, int32_t i) {
  vkd_t *d = e->d;
  const npu_program_buffer_t *pb = npu_program_buffer(e->p, i);
  vk_buf_t *b = &e->bufs[i];
  b->kind = pb->kind;
  b->size = pb->size;
  char what[256];
  snprintf(what, sizeof what, "buffer %d '%s'", i, pb->name ? pb->name : "");
  if (pb->size == 0)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "%s has size 0", what);
  if (pb->size > d->max_alloc)
    return npu_error(NPU_STATUS_UNSUPPORTED,
                     "%s is %llu bytes, more than this device's maxMemoryAllocationSize (%llu)",
                     what, (unsigned long long)pb->size, (unsigned long long)d->max_alloc);
  /* Round up so kernels reading whole 32-bit words never step outside. */
  uint64_t size = (pb->size + 3) & ~(uint64_t)3;
  const VkMemoryPropertyFlags dl = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
  const VkMemoryPropertyFlags hv =
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  if (pb->kind == NPU_BUFFER_INPUT || pb->kind == NPU_BUFFER_OUTPUT) {
    /* Host-visible device memory if the device has it (lavapipe, ReBAR):
     * inputs go straight into mapped memory. */
    const VkMemoryPropertyFlags direct[] = {dl | hv};
    if (!d->force_staging) {
      NPU_RETURN_IF_ERROR(
          make_buffer(d, size, direct, 1, true, true, what, &b->buf, &b->mem, &b->map));
      if (b->buf) return NULL;
    }
    const VkMemoryPropertyFlags dev[] = {dl, 0};
    NPU_RETURN_IF_ERROR(make_buffer(d, size, dev, 2, false, !d->force_staging, what, &b->buf,
                                    &b->mem, &b->map));
    if (b->map) return NULL;
    char swhat[300];
    snprintf(swhat, sizeof swhat, "the staging copy of %s", what);
    return make_buffer(d, size, k_host_pref, 2, false, true, swhat, &b->staging,
                       &b->staging_mem, &b->staging_map);
  }
  const VkMemoryPropertyFlags dev[] = {dl, 0};
  return make_buffer(d, size, dev, 2, false, !d->force_staging, what, &b->buf, &b->mem,
                     &b->map);
}

/* ---- one-time transfers (load time only) -------------------------------------- */

static npu_status_t one_time_copy(vke_t *e, VkBuffer src, uint64_t src_off, VkBuffer dst,
                                  uint64_t dst_off, uint64_t size) {
  vkd_t *d = e->d;
  npu_status_t s = NULL;
  VkCommandBuffer cb = VK_NULL_HANDLE;
  VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                     .commandPool = e->cmd_pool,
                                     .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                     .commandBufferCount = 1};
  VKG(vkAllocateCommandBuffers(d->dev, &cai, &cb), "vkAllocateCommandBuffers");
  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  VKG(vkBeginCommandBuffer(cb, &bi), "vkBeginCommandBuffer");
  VkMemoryBarrier before = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                            .srcAccessMask = VK_ACCESS_HOST_WRITE_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                             VK_ACCESS_TRANSFER_WRITE_BIT,
                            .dstAccessMask =
                                VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
  vkCmdPipelineBarrier(cb,
                       VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
                           VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &before, 0, NULL, 0, NULL);
  VkBufferCopy region = {.srcOffset = src_off, .dstOffset = dst_off, .size = size};
  vkCmdCopyBuffer(cb, src, dst, 1, &region);
  VkMemoryBarrier after = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                           .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                           .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT |
                                            VK_ACCESS_SHADER_WRITE_BIT};
  vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1,
                       &after, 0, NULL, 0, NULL);
  VKG(vkEndCommandBuffer(cb), "vkEndCommandBuffer");
  VKG(vkResetFences(d->dev, 1, &e->fence), "vkResetFences");
  VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                     .commandBufferCount = 1,
                     .pCommandBuffers = &cb};
  VKG(vkQueueSubmit(d->queue, 1, &si, e->fence), "vkQueueSubmit");
  VKG(vkWaitForFences(d->dev, 1, &e->fence, VK_TRUE, UINT64_MAX), "vkWaitForFences");
fail:
  if (cb) vkFreeCommandBuffers(d->dev, e->cmd_pool, 1, &cb);
  return s;
}

static npu_status_t staged_transfer(vke_t *e, vk_buf_t *b, uint64_t offset, void *data,
                                    uint64_t size, bool upload) {
  vkd_t *d = e->d;
  VkBuffer st;
  VkDeviceMemory sm;
  void *map;
  NPU_RETURN_IF_ERROR(make_buffer(d, size, k_host_pref, 2, false, true,
                                  "a temporary staging buffer", &st, &sm, &map));
  npu_status_t s = NULL;
  if (!map) {
    s = npu_error(NPU_STATUS_DEVICE_ERROR, "no host-visible coherent memory for staging");
  } else if (upload) {
    memcpy(map, data, size);
    s = one_time_copy(e, st, 0, b->buf, offset, size);
  } else {
    s = one_time_copy(e, b->buf, offset, st, 0, size);
    if (!s) memcpy(data, map, size);
  }
  vkDestroyBuffer(d->dev, st, NULL);
  vkFreeMemory(d->dev, sm, NULL);
  return s;
}

static npu_status_t check_range(vke_t *e, int32_t buffer, uint64_t offset, uint64_t size,
                                const char *op) {
  if (buffer < 0 || buffer >= e->num_bufs)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "%s: buffer index %d out of range (0..%d)", op,
                     buffer, e->num_bufs - 1);
  uint64_t bsize = e->bufs[buffer].size;
  if (offset > bsize || size > bsize - offset)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "%s: bytes [%llu, +%llu) outside buffer %d '%s' of %llu bytes", op,
                     (unsigned long long)offset, (unsigned long long)size, buffer,
                     npu_program_buffer(e->p, buffer)->name
                         ? npu_program_buffer(e->p, buffer)->name
                         : "",
                     (unsigned long long)bsize);
  return NULL;
}

static npu_status_t vk_buffer_write(void *exec, int32_t buffer, uint64_t offset, const void *data,
                                    uint64_t size) {
  vke_t *e = exec;
  NPU_RETURN_IF_ERROR(check_range(e, buffer, offset, size, "buffer_write"));
  if (size == 0) return NULL;
  vk_buf_t *b = &e->bufs[buffer];
  if (b->map) {
    memcpy((char *)b->map + offset, data, size);
    return NULL;
  }
  if (b->staging_map) { /* copied to the device at the start of each run */
    memcpy((char *)b->staging_map + offset, data, size);
    return NULL;
  }
  return staged_transfer(e, b, offset, (void *)data, size, true);
}

static npu_status_t vk_buffer_read(void *exec, int32_t buffer, uint64_t offset, void *data,
                                   uint64_t size) {
  vke_t *e = exec;
  NPU_RETURN_IF_ERROR(check_range(e, buffer, offset, size, "buffer_read"));
  if (size == 0) return NULL;
  vk_buf_t *b = &e->bufs[buffer];
  if (b->map) {
    memcpy(data, (const char *)b->map + offset, size);
    return NULL;
  }
  if (b->staging_map) { /* OUTPUT: copied back at the end of each run; INPUT: as written */
    memcpy(data, (const char *)b->staging_map + offset, size);
    return NULL;
  }
  return staged_transfer(e, b, offset, data, size, false);
}

/* ---- pipelines ----------------------------------------------------------------- */

/* Fails with UNSUPPORTED when the kernel's SPIR-V declares a capability whose
 * device feature was not enabled (e.g. an fp16 program on a device without
 * storageBuffer16BitAccess), instead of creating an invalid pipeline. */
static npu_status_t check_capabilities(const vkd_t *d, const npu_program_kernel_t *pk) {
  const uint32_t *w = pk->spirv;
  uint32_t n = pk->spirv_words;
  for (uint32_t i = 5; i < n;) {
    uint32_t words = w[i] >> 16, op = w[i] & 0xffffu;
    if (words == 0 || i + words > n) break;
    if (op == 17 /* OpCapability */ && words >= 2) {
      const char *feature = NULL;
      switch (w[i + 1]) {
        case 4433: /* StorageBuffer16BitAccess */
        case 4434: /* UniformAndStorageBuffer16BitAccess */
          if (!d->storage16) feature = "storageBuffer16BitAccess (16-bit storage)";
          break;
        case 9: if (!d->float16) feature = "shaderFloat16"; break;    /* Float16 */
        case 22: if (!d->int16) feature = "shaderInt16"; break;       /* Int16 */
        case 11: if (!d->int64) feature = "shaderInt64"; break;       /* Int64 */
        case 10: if (!d->float64) feature = "shaderFloat64"; break;   /* Float64 */
        case 39: if (!d->int8) feature = "shaderInt8"; break;         /* Int8 */
        case 4448: if (!d->storage8) feature = "storageBuffer8BitAccess"; break;
        default: break;
      }
      if (feature)
        return npu_error(NPU_STATUS_UNSUPPORTED,
                         "kernel '%s' needs the Vulkan feature %s, which device '%s' does not "
                         "support%s",
                         pk->name, feature, d->props.deviceName,
                         strstr(pk->name, "f16") ? " (compile with precision: fp32)" : "");
    } else if (op == 15 /* OpEntryPoint */ || op == 54 /* OpFunction */) {
      break; /* capabilities come first */
    }
    i += words;
  }
  return NULL;
}

static npu_status_t create_kernels(vke_t *e) {
  vkd_t *d = e->d;
  npu_status_t s = NULL;
  for (int32_t k = 0; k < e->num_kernels; k++) {
    const npu_program_kernel_t *pk = npu_program_kernel(e->p, k);
    if (!pk->spirv || pk->spirv_words == 0)
      return npu_error(NPU_STATUS_INVALID_ARGUMENT, "kernel '%s' has no SPIR-V", pk->name);
    NPU_RETURN_IF_ERROR(check_capabilities(d, pk));
    if (pk->push_words * 4 > d->props.limits.maxPushConstantsSize)
      return npu_error(NPU_STATUS_UNSUPPORTED,
                       "kernel '%s' needs %u bytes of push constants; the device offers %u",
                       pk->name, pk->push_words * 4, d->props.limits.maxPushConstantsSize);
    VkShaderModuleCreateInfo smci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                     .codeSize = (size_t)pk->spirv_words * 4,
                                     .pCode = pk->spirv};
    VKG(vkCreateShaderModule(d->dev, &smci, NULL, &e->modules[k]), "vkCreateShaderModule");
    VkDescriptorSetLayoutBinding binds[NPU_PROGRAM_MAX_BINDINGS];
    uint32_t nb = pk->num_bindings;
    if (nb > NPU_PROGRAM_MAX_BINDINGS)
      return npu_error(NPU_STATUS_INVALID_ARGUMENT, "kernel '%s' has %u bindings (max %d)",
                       pk->name, nb, NPU_PROGRAM_MAX_BINDINGS);
    for (uint32_t i = 0; i < nb; i++)
      binds[i] = (VkDescriptorSetLayoutBinding){.binding = i,
                                                .descriptorType =
                                                    VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                .descriptorCount = 1,
                                                .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo dlci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = nb,
        .pBindings = binds};
    VKG(vkCreateDescriptorSetLayout(d->dev, &dlci, NULL, &e->set_layouts[k]),
        "vkCreateDescriptorSetLayout");
    VkPushConstantRange pcr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
                               .offset = 0,
                               .size = pk->push_words * 4};
    VkPipelineLayoutCreateInfo plci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                       .setLayoutCount = 1,
                                       .pSetLayouts = &e->set_layouts[k],
                                       .pushConstantRangeCount = pk->push_words ? 1 : 0,
                                       .pPushConstantRanges = &pcr};
    VKG(vkCreatePipelineLayout(d->dev, &plci, NULL, &e->pipe_layouts[k]),
        "vkCreatePipelineLayout");
  }
  return NULL;
fail:
  return s;
}

static int32_t find_or_add_pipe(vke_t *e, const npu_program_dispatch_t *pd, bool *added) {
  *added = false;
  for (int32_t i = 0; i < e->num_pipes; i++) {
    const vk_pipe_t *q = &e->pipes[i];
    if (q->kernel == pd->kernel && q->num_spec == pd->num_spec &&
        (pd->num_spec == 0 ||
         memcmp(q->spec, pd->spec, sizeof(npu_spec_constant_t) * (size_t)pd->num_spec) == 0))
      return i;
  }
  vk_pipe_t *q = &e->pipes[e->num_pipes];
  q->kernel = pd->kernel;
  q->num_spec = pd->num_spec;
  if (pd->num_spec) memcpy(q->spec, pd->spec, sizeof(npu_spec_constant_t) * (size_t)pd->num_spec);
  *added = true;
  return e->num_pipes++;
}

static npu_status_t create_pipeline(vke_t *e, vk_pipe_t *q, const char *node) {
  vkd_t *d = e->d;
  VkSpecializationMapEntry entries[NPU_PROGRAM_MAX_SPEC];
  uint32_t values[NPU_PROGRAM_MAX_SPEC];
  for (int32_t i = 0; i < q->num_spec; i++) {
    entries[i] = (VkSpecializationMapEntry){.constantID = q->spec[i].id,
                                            .offset = (uint32_t)i * 4,
                                            .size = 4};
    values[i] = q->spec[i].value;
  }
  VkSpecializationInfo si = {.mapEntryCount = (uint32_t)q->num_spec,
                             .pMapEntries = entries,
                             .dataSize = (size_t)q->num_spec * 4,
                             .pData = values};
  VkComputePipelineCreateInfo cpci = {
      .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
      .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = e->modules[q->kernel],
                .pName = "main",
                .pSpecializationInfo = q->num_spec ? &si : NULL},
      .layout = e->pipe_layouts[q->kernel]};
  VkResult r = vkCreateComputePipelines(d->dev, e->cache, 1, &cpci, NULL, &q->pipeline);
  if (r != VK_SUCCESS) {
    q->pipeline = VK_NULL_HANDLE;
    return npu_status_annotate(vkrt_fail(r, "vkCreateComputePipelines"), NULL,
                               "kernel '%s' (node %s)", npu_program_kernel(e->p, q->kernel)->name,
                               node ? node : "?");
  }
  return NULL;
}

/* ---- descriptor sets --------------------------------------------------------------- */

static npu_status_t check_tensor_binding(vke_t *e, int32_t ti, const char *node) {
  const npu_program_tensor_t *t = npu_program_tensor(e->p, ti);
  const VkPhysicalDeviceLimits *lim = &e->d->props.limits;
  if (t->size == 0)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "tensor '%s' (bound by node %s) has 0 bytes",
                     t->name, node ? node : "?");
  if (t->size > lim->maxStorageBufferRange)
    return npu_error(NPU_STATUS_UNSUPPORTED,
                     "tensor '%s' (bound by node %s) is %llu bytes, more than this device's "
                     "maxStorageBufferRange (%u bytes)",
                     t->name, node ? node : "?", (unsigned long long)t->size,
                     lim->maxStorageBufferRange);
  if (lim->minStorageBufferOffsetAlignment &&
      t->offset % lim->minStorageBufferOffsetAlignment != 0)
    return npu_error(NPU_STATUS_UNSUPPORTED,
                     "tensor '%s' (bound by node %s) starts at byte %llu of its buffer, not a "
                     "multiple of this device's minStorageBufferOffsetAlignment (%llu)",
                     t->name, node ? node : "?", (unsigned long long)t->offset,
                     (unsigned long long)lim->minStorageBufferOffsetAlignment);
  return NULL;
}

static npu_status_t create_descriptor_sets(vke_t *e) {
  vkd_t *d = e->d;
  npu_status_t s = NULL;
  if (e->num_dispatches == 0) return NULL;
  uint32_t total = 0;
  for (int32_t i = 0; i < e->num_dispatches; i++)
    total += npu_program_kernel(e->p, npu_program_dispatch(e->p, i)->kernel)->num_bindings;
  VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                             .descriptorCount = total ? total : 1};
  VkDescriptorPoolCreateInfo dpci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                     .maxSets = (uint32_t)e->num_dispatches,
                                     .poolSizeCount = 1,
                                     .pPoolSizes = &ps};
  VKG(vkCreateDescriptorPool(d->dev, &dpci, NULL, &e->desc_pool), "vkCreateDescriptorPool");
  for (int32_t i = 0; i < e->num_dispatches; i++) {
    const npu_program_dispatch_t *pd = npu_program_dispatch(e->p, i);
    const npu_program_kernel_t *pk = npu_program_kernel(e->p, pd->kernel);
    VkDescriptorSetAllocateInfo dsai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                        .descriptorPool = e->desc_pool,
                                        .descriptorSetCount = 1,
                                        .pSetLayouts = &e->set_layouts[pd->kernel]};
    VKG(vkAllocateDescriptorSets(d->dev, &dsai, &e->sets[i]), "vkAllocateDescriptorSets");
    VkDescriptorBufferInfo infos[NPU_PROGRAM_MAX_BINDINGS];
    VkWriteDescriptorSet writes[NPU_PROGRAM_MAX_BINDINGS];
    for (uint32_t b = 0; b < pk->num_bindings; b++) {
      const npu_program_tensor_t *t = npu_program_tensor(e->p, pd->bindings[b]);
      infos[b] = (VkDescriptorBufferInfo){
          .buffer = e->bufs[t->buffer].buf, .offset = t->offset, .range = t->size};
      writes[b] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                         .dstSet = e->sets[i],
                                         .dstBinding = b,
                                         .descriptorCount = 1,
                                         .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                         .pBufferInfo = &infos[b]};
    }
    if (pk->num_bindings) vkUpdateDescriptorSets(d->dev, pk->num_bindings, writes, 0, NULL);
  }
  return NULL;
fail:
  return s;
}

/* ---- command buffers ---------------------------------------------------------------- */

typedef struct range {
  int32_t buffer;
  uint64_t lo, hi;
} range_t;

static void global_barrier(VkCommandBuffer cb, VkPipelineStageFlags src_stage,
                           VkAccessFlags src, VkPipelineStageFlags dst_stage, VkAccessFlags dst) {
  VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                        .srcAccessMask = src,
                        .dstAccessMask = dst};
  vkCmdPipelineBarrier(cb, src_stage, dst_stage, 0, 1, &mb, 0, NULL, 0, NULL);
}

static npu_status_t record(vke_t *e, VkCommandBuffer cb, bool prof, range_t *dirty) {
  npu_status_t s = NULL;
  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  VKG(vkBeginCommandBuffer(cb, &bi), "vkBeginCommandBuffer");
  if (prof && e->num_dispatches)
    vkCmdResetQueryPool(cb, e->queries, 0, 2u * (uint32_t)e->num_dispatches);
  /* Inputs staged in host memory go to the device first. */
  bool copied = false;
  for (int32_t i = 0; i < e->num_bufs; i++) {
    vk_buf_t *b = &e->bufs[i];
    if (b->kind == NPU_BUFFER_INPUT && b->staging) {
      VkBufferCopy region = {.size = b->size};
      vkCmdCopyBuffer(cb, b->staging, b->buf, 1, &region);
      copied = true;
    }
  }
  if (copied)
    global_barrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                   VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                   VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
  /* Dispatches. Bindings carry no read/write flag, so every binding of a
   * non-weight buffer counts as written: a dispatch that touches a byte range
   * written since the last barrier gets a barrier first. */
  int32_t ndirty = 0;
  uint32_t barriers = 0;
  VkPipeline bound = VK_NULL_HANDLE;
  for (int32_t i = 0; i < e->num_dispatches; i++) {
    const npu_program_dispatch_t *pd = npu_program_dispatch(e->p, i);
    const npu_program_kernel_t *pk = npu_program_kernel(e->p, pd->kernel);
    bool need = false;
    for (uint32_t b = 0; b < pk->num_bindings && !need; b++) {
      const npu_program_tensor_t *t = npu_program_tensor(e->p, pd->bindings[b]);
      for (int32_t r = 0; r < ndirty && !need; r++)
        if (dirty[r].buffer == t->buffer && dirty[r].lo < t->offset + t->size &&
            t->offset < dirty[r].hi)
          need = true;
    }
    if (need) {
      global_barrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                     VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                     VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
      barriers++;
      ndirty = 0;
    }
    for (uint32_t b = 0; b < pk->num_bindings; b++) {
      const npu_program_tensor_t *t = npu_program_tensor(e->p, pd->bindings[b]);
      if (e->bufs[t->buffer].kind == NPU_BUFFER_WEIGHT) continue;
      dirty[ndirty++] = (range_t){t->buffer, t->offset, t->offset + t->size};
    }
    if (prof)
      vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, e->queries, 2u * (uint32_t)i);
    VkPipeline pl = e->pipes[e->dispatch_pipe[i]].pipeline;
    if (pl != bound) {
      vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pl);
      bound = pl;
    }
    vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, e->pipe_layouts[pd->kernel], 0, 1,
                            &e->sets[i], 0, NULL);
    if (pk->push_words)
      vkCmdPushConstants(cb, e->pipe_layouts[pd->kernel], VK_SHADER_STAGE_COMPUTE_BIT, 0,
                         pk->push_words * 4, pd->push);
    vkCmdDispatch(cb, pd->groups[0], pd->groups[1], pd->groups[2]);
    if (prof)
      vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, e->queries,
                          2u * (uint32_t)i + 1);
  }
  /* Outputs back to their staging copies, then everything visible to the host. */
  copied = false;
  for (int32_t i = 0; i < e->num_bufs; i++) {
    vk_buf_t *b = &e->bufs[i];
    if (b->kind == NPU_BUFFER_OUTPUT && b->staging) {
      if (!copied)
        global_barrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                       VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
      VkBufferCopy region = {.size = b->size};
      vkCmdCopyBuffer(cb, b->buf, b->staging, 1, &region);
      copied = true;
    }
  }
  global_barrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                 VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                 VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
  VKG(vkEndCommandBuffer(cb), "vkEndCommandBuffer");
  e->num_barriers = barriers;
  return NULL;
fail:
  return s;
}

/* ---- create / destroy ------------------------------------------------------------------ */

static void vk_executor_destroy(void *exec) {
  vke_t *e = exec;
  if (!e) return;
  vkd_t *d = e->d;
  VkDevice dev = d->dev;
  vkDeviceWaitIdle(dev);
  if (e->fence) vkDestroyFence(dev, e->fence, NULL);
  if (e->queries) vkDestroyQueryPool(dev, e->queries, NULL);
  if (e->cmd_pool) vkDestroyCommandPool(dev, e->cmd_pool, NULL);
  if (e->desc_pool) vkDestroyDescriptorPool(dev, e->desc_pool, NULL);
  for (int32_t i = 0; e->pipes && i < e->num_pipes; i++)
    if (e->pipes[i].pipeline) vkDestroyPipeline(dev, e->pipes[i].pipeline, NULL);
  if (e->cache) vkDestroyPipelineCache(dev, e->cache, NULL);
  for (int32_t k = 0; k < e->num_kernels; k++) {
    if (e->pipe_layouts && e->pipe_layouts[k]) vkDestroyPipelineLayout(dev, e->pipe_layouts[k], NULL);
    if (e->set_layouts && e->set_layouts[k])
      vkDestroyDescriptorSetLayout(dev, e->set_layouts[k], NULL);
    if (e->modules && e->modules[k]) vkDestroyShaderModule(dev, e->modules[k], NULL);
  }
  for (int32_t i = 0; e->bufs && i < e->num_bufs; i++) {
    vk_buf_t *b = &e->bufs[i];
    if (b->buf) vkDestroyBuffer(dev, b->buf, NULL);
    if (b->mem) vkFreeMemory(dev, b->mem, NULL);
    if (b->staging) vkDestroyBuffer(dev, b->staging, NULL);
    if (b->staging_mem) vkFreeMemory(dev, b->staging_mem, NULL);
  }
  free(e->bufs);
  free(e->modules);
  free(e->set_layouts);
  free(e->pipe_layouts);
  free(e->pipes);
  free(e->dispatch_pipe);
  free(e->sets);
  free(e->ticks);
  free(e);
}

static npu_status_t vk_executor_create(void *device, const npu_program_t *p, void **out_exec) {
  if (!device || !p || !out_exec)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "executor_create: NULL argument");
  *out_exec = NULL;
  vkd_t *d = device;
  npu_status_t s = NULL;
  range_t *dirty = NULL;
  uint32_t validation_errors = npu_vulkan_validation_errors();
  vke_t *e = calloc(1, sizeof *e);
  if (!e) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory creating an executor");
  e->d = d;
  e->p = p;
  e->num_bufs = npu_program_buffer_count(p);
  e->num_kernels = npu_program_kernel_count(p);
  e->num_dispatches = npu_program_dispatch_count(p);
  size_t nb = (size_t)e->num_bufs, nk = (size_t)e->num_kernels, nd = (size_t)e->num_dispatches;
  e->bufs = calloc(nb ? nb : 1, sizeof *e->bufs);
  e->modules = calloc(nk ? nk : 1, sizeof *e->modules);
  e->set_layouts = calloc(nk ? nk : 1, sizeof *e->set_layouts);
  e->pipe_layouts = calloc(nk ? nk : 1, sizeof *e->pipe_layouts);
  e->pipes = calloc(nd ? nd : 1, sizeof *e->pipes);
  e->dispatch_pipe = calloc(nd ? nd : 1, sizeof *e->dispatch_pipe);
  e->sets = calloc(nd ? nd : 1, sizeof *e->sets);
  e->ticks = calloc(nd ? 2 * nd : 1, sizeof *e->ticks);
  dirty = calloc(nd ? nd * NPU_PROGRAM_MAX_BINDINGS : 1, sizeof *dirty);
  if (!e->bufs || !e->modules || !e->set_layouts || !e->pipe_layouts || !e->pipes ||
      !e->dispatch_pipe || !e->sets || !e->ticks || !dirty) {
    s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory creating an executor");
    goto fail;
  }
  /* Check every dispatch before touching the device. */
  for (int32_t i = 0; i < e->num_dispatches; i++) {
    const npu_program_dispatch_t *pd = npu_program_dispatch(p, i);
    if (pd->kernel < 0 || pd->kernel >= e->num_kernels) {
      s = npu_error(NPU_STATUS_INVALID_ARGUMENT, "dispatch %d (node %s): kernel %d out of range",
                    i, pd->node ? pd->node : "?", pd->kernel);
      goto fail;
    }
    const npu_program_kernel_t *pk = npu_program_kernel(p, pd->kernel);
    if ((uint32_t)pd->num_bindings != pk->num_bindings || (uint32_t)pd->num_push > pk->push_words) {
      s = npu_error(NPU_STATUS_INVALID_ARGUMENT,
                    "dispatch %d (node %s) of kernel '%s': %d bindings and %d push words, the "
                    "kernel declares %u and %u",
                    i, pd->node ? pd->node : "?", pk->name, pd->num_bindings, pd->num_push,
                    pk->num_bindings, pk->push_words);
      goto fail;
    }
    const uint32_t *maxg = d->props.limits.maxComputeWorkGroupCount;
    if (pd->groups[0] > maxg[0] || pd->groups[1] > maxg[1] || pd->groups[2] > maxg[2]) {
      s = npu_error(NPU_STATUS_UNSUPPORTED,
                    "dispatch %d (node %s) of kernel '%s': %u x %u x %u workgroups exceed the "
                    "device limit %u x %u x %u",
                    i, pd->node ? pd->node : "?", pk->name, pd->groups[0], pd->groups[1],
                    pd->groups[2], maxg[0], maxg[1], maxg[2]);
      goto fail;
    }
    for (int32_t b = 0; b < pd->num_bindings; b++) {
      if (pd->bindings[b] < 0 || pd->bindings[b] >= npu_program_tensor_count(p)) {
        s = npu_error(NPU_STATUS_INVALID_ARGUMENT, "dispatch %d (node %s): binding %d out of range",
                      i, pd->node ? pd->node : "?", b);
        goto fail;
      }
      s = check_tensor_binding(e, pd->bindings[b], pd->node);
      if (s) goto fail;
    }
  }
  for (int32_t i = 0; i < e->num_bufs; i++) {
    s = alloc_program_buffer(e, i);
    if (s) goto fail;
  }
  VkPipelineCacheCreateInfo pcci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  VKG(vkCreatePipelineCache(d->dev, &pcci, NULL, &e->cache), "vkCreatePipelineCache");
  s = create_kernels(e);
  if (s) goto fail;
  for (int32_t i = 0; i < e->num_dispatches; i++) {
    const npu_program_dispatch_t *pd = npu_program_dispatch(p, i);
    bool added;
    e->dispatch_pipe[i] = find_or_add_pipe(e, pd, &added);
    if (added) {
      s = create_pipeline(e, &e->pipes[e->dispatch_pipe[i]], pd->node);
      if (s) goto fail;
    }
  }
  s = create_descriptor_sets(e);
  if (s) goto fail;
  VkCommandPoolCreateInfo cpci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .queueFamilyIndex = d->qfamily};
  VKG(vkCreateCommandPool(d->dev, &cpci, NULL, &e->cmd_pool), "vkCreateCommandPool");
  VkCommandBuffer cbs[2];
  VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                     .commandPool = e->cmd_pool,
                                     .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                     .commandBufferCount = d->ts_valid_bits ? 2 : 1};
  VKG(vkAllocateCommandBuffers(d->dev, &cai, cbs), "vkAllocateCommandBuffers");
  e->cmd = cbs[0];
  VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VKG(vkCreateFence(d->dev, &fci, NULL, &e->fence), "vkCreateFence");
  s = record(e, e->cmd, false, dirty);
  if (s) goto fail;
  if (d->ts_valid_bits) {
    e->cmd_prof = cbs[1];
    if (e->num_dispatches) {
      VkQueryPoolCreateInfo qpci = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                    .queryCount = 2u * (uint32_t)e->num_dispatches};
      VKG(vkCreateQueryPool(d->dev, &qpci, NULL, &e->queries), "vkCreateQueryPool");
    }
    s = record(e, e->cmd_prof, true, dirty);
    if (s) goto fail;
  }
  s = vkrt_validation_status(validation_errors, "executor creation");
  if (s) goto fail;
  free(dirty);
  *out_exec = e;
  return NULL;
fail:
  free(dirty);
  vk_executor_destroy(e);
  return s;
}

/* ---- run ------------------------------------------------------------------------------ */

static npu_status_t vk_run(void *exec, bool profile, uint64_t *dispatch_ns) {
  vke_t *e = exec;
  vkd_t *d = e->d;
  npu_status_t s = NULL;
  uint32_t validation_errors = npu_vulkan_validation_errors();
  if (profile && !e->cmd_prof)
    return npu_error(NPU_STATUS_UNSUPPORTED,
                     "profiling: device '%s' has no timestamps on its compute queue",
                     d->props.deviceName);
  VKG(vkResetFences(d->dev, 1, &e->fence), "vkResetFences");
  VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                     .commandBufferCount = 1,
                     .pCommandBuffers = profile ? &e->cmd_prof : &e->cmd};
  VKG(vkQueueSubmit(d->queue, 1, &si, e->fence), "vkQueueSubmit");
  VKG(vkWaitForFences(d->dev, 1, &e->fence, VK_TRUE, UINT64_MAX), "vkWaitForFences");
  if (profile && e->num_dispatches) {
    uint32_t n = 2u * (uint32_t)e->num_dispatches;
    VKG(vkGetQueryPoolResults(d->dev, e->queries, 0, n, sizeof(uint64_t) * n, e->ticks,
                              sizeof(uint64_t),
                              VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
        "vkGetQueryPoolResults");
    uint64_t mask = d->ts_valid_bits >= 64 ? UINT64_MAX : ((uint64_t)1 << d->ts_valid_bits) - 1;
    double period = d->props.limits.timestampPeriod;
    for (uint32_t i = 0; i < n; i++) {
      uint64_t t = e->ticks[i] & mask;
      if (dispatch_ns) dispatch_ns[i] = (uint64_t)((double)t * period);
    }
  }
  return vkrt_validation_status(validation_errors, "run");
fail:
  return s;
}

uint32_t npu_vulkan_executor_barriers(const void *exec) {
  return exec ? ((const vke_t *)exec)->num_barriers : 0;
}

const npu_runtime_backend_t npu_vulkan_runtime_backend = {
    .name = "vulkan",
    .device_open = vkrt_device_open,
    .device_close = vkrt_device_close,
    .executor_create = vk_executor_create,
    .executor_destroy = vk_executor_destroy,
    .buffer_write = vk_buffer_write,
    .buffer_read = vk_buffer_read,
    .run = vk_run,
};
