/*
 * cpu — a backend plugin that lowers to the same program as vulkan (without
 * SPIR-V) and runs it with the plain C kernels of cpu_kernels.c. It is the
 * numerical oracle for the GPU path and runs wherever npuc builds.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu_kernels.h"
#include "npu/plugin.h"
#include "npu/program.h"
#include "npu/runtime_backend.h"
#include "npu_lower.h"

/* ---- emit ------------------------------------------------------------------- */

static npu_status_t cpu_emit(npu_pass_context_t *ctx, const npu_graph_t *graph,
                             const npu_options_t *options, const char *output_path) {
  const char *precision = options ? npu_options_get_string(options, "precision") : NULL;
  npu_lower_options_t lo = {.backend = "cpu", .embed_spirv = false, .alignment = 256};
  NPU_RETURN_IF_ERROR(npu_lower_parse_precision(precision, &lo.precision));
  npu_program_t *program = NULL;
  NPU_RETURN_IF_ERROR(npu_lower_graph(graph, &lo, &program));
  if (ctx) {
    npu_pass_stat_add(ctx, "dispatches", npu_program_dispatch_count(program));
    npu_pass_stat_add(ctx, "tensors", npu_program_tensor_count(program));
  }
  npu_status_t st = npu_program_write_npubin(program, output_path);
  npu_program_destroy(program);
  return st;
}

/* ---- runtime ---------------------------------------------------------------- */

typedef struct cpu_exec {
  const npu_program_t *program;
  int32_t num_buffers;
  unsigned char **buffers;
  uint64_t *sizes;
  npu_cpu_kernel_fn *fns; /* per program kernel */
} cpu_exec_t;

static npu_status_t cpu_device_open(const char *selector, void **out_device, char *name,
                                    size_t name_size) {
  (void)selector;
  static int device_token;
  *out_device = &device_token;
  if (name && name_size) {
    strncpy(name, "cpu (reference C kernels)", name_size - 1);
    name[name_size - 1] = '\0';
  }
  return NULL;
}

static void cpu_device_close(void *device) { (void)device; }

static void cpu_executor_destroy(void *p) {
  cpu_exec_t *e = p;
  if (!e) return;
  for (int32_t i = 0; i < e->num_buffers; i++) free(e->buffers[i]);
  free(e->buffers);
  free(e->sizes);
  free(e->fns);
  free(e);
}

static npu_status_t cpu_executor_create(void *device, const npu_program_t *program,
                                        void **out_exec) {
  (void)device;
  *out_exec = NULL;
  if (strcmp(npu_program_backend(program), "cpu") != 0)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "cpu runtime: the program was compiled for backend '%s'",
                     npu_program_backend(program));
  cpu_exec_t *e = calloc(1, sizeof *e);
  if (!e) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "cpu runtime: out of memory");
  e->program = program;
  e->num_buffers = npu_program_buffer_count(program);
  int32_t nk = npu_program_kernel_count(program);
  e->buffers = calloc((size_t)e->num_buffers + 1, sizeof *e->buffers);
  e->sizes = calloc((size_t)e->num_buffers + 1, sizeof *e->sizes);
  e->fns = calloc((size_t)nk + 1, sizeof *e->fns);
  if (!e->buffers || !e->sizes || !e->fns) {
    cpu_executor_destroy(e);
    return npu_error(NPU_STATUS_OUT_OF_MEMORY, "cpu runtime: out of memory");
  }
  for (int32_t i = 0; i < e->num_buffers; i++) {
    const npu_program_buffer_t *b = npu_program_buffer(program, i);
    e->sizes[i] = b->size;
    e->buffers[i] = calloc(1, (size_t)b->size);
    if (!e->buffers[i]) {
      cpu_executor_destroy(e);
      return npu_error(NPU_STATUS_OUT_OF_MEMORY, "cpu runtime: cannot allocate buffer '%s' (%llu bytes)",
                       b->name ? b->name : "?", (unsigned long long)b->size);
    }
  }
  for (int32_t k = 0; k < nk; k++) {
    const npu_program_kernel_t *kern = npu_program_kernel(program, k);
    e->fns[k] = npu_cpu_kernel_find(kern->name);
    if (!e->fns[k]) {
      cpu_executor_destroy(e);
      return npu_error(NPU_STATUS_UNSUPPORTED, "cpu runtime: no C kernel '%s'", kern->name);
    }
  }
  *out_exec = e;
  return NULL;
}

static npu_status_t check_range(const cpu_exec_t *e, int32_t buffer, uint64_t offset,
                                uint64_t size) {
  if (buffer < 0 || buffer >= e->num_buffers || offset > e->sizes[buffer] ||
      size > e->sizes[buffer] - offset)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "cpu runtime: buffer %d range [%llu, +%llu) is out of bounds", (int)buffer,
                     (unsigned long long)offset, (unsigned long long)size);
  return NULL;
}

static npu_status_t cpu_buffer_write(void *p, int32_t buffer, uint64_t offset, const void *data,
                                     uint64_t size) {
  cpu_exec_t *e = p;
  NPU_RETURN_IF_ERROR(check_range(e, buffer, offset, size));
  memcpy(e->buffers[buffer] + offset, data, (size_t)size);
  return NULL;
}

static npu_status_t cpu_buffer_read(void *p, int32_t buffer, uint64_t offset, void *data,
                                    uint64_t size) {
  cpu_exec_t *e = p;
  NPU_RETURN_IF_ERROR(check_range(e, buffer, offset, size));
  memcpy(data, e->buffers[buffer] + offset, (size_t)size);
  return NULL;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static npu_status_t cpu_run(void *p, bool profile, uint64_t *dispatch_ns) {
  cpu_exec_t *e = p;
  const npu_program_t *prog = e->program;
  int32_t nd = npu_program_dispatch_count(prog);
  for (int32_t i = 0; i < nd; i++) {
    const npu_program_dispatch_t *d = npu_program_dispatch(prog, i);
    void *bind[NPU_PROGRAM_MAX_BINDINGS] = {0};
    for (int32_t j = 0; j < d->num_bindings; j++) {
      const npu_program_tensor_t *t = npu_program_tensor(prog, d->bindings[j]);
      bind[j] = e->buffers[t->buffer] + t->offset;
    }
    uint32_t push[NPU_PROGRAM_MAX_PUSH_WORDS] = {0};
    memcpy(push, d->push, sizeof(uint32_t) * (size_t)d->num_push);
    uint64_t t0 = profile ? now_ns() : 0;
    e->fns[d->kernel](bind, push);
    if (profile && dispatch_ns) {
      dispatch_ns[2 * i] = t0;
      dispatch_ns[2 * i + 1] = now_ns();
    }
  }
  return NULL;
}

static const npu_runtime_backend_t cpu_runtime = {
    .name = "cpu",
    .device_open = cpu_device_open,
    .device_close = cpu_device_close,
    .executor_create = cpu_executor_create,
    .executor_destroy = cpu_executor_destroy,
    .buffer_write = cpu_buffer_write,
    .buffer_read = cpu_buffer_read,
    .run = cpu_run,
};

/* For tests that link the backend statically. */
const npu_runtime_backend_t *npu_cpu_runtime_backend(void) { return &cpu_runtime; }

static const char *const precision_choices[] = {"fp32", "fp16", NULL};
static const npu_option_spec_t cpu_options[] = {
    {.name = "precision", .type = NPU_OPTION_STRING, .default_value = "fp32",
     .help = "compute precision: fp16 stores activations and weights as float16 (inputs and outputs stay float32)",
     .choices = precision_choices},
};

static const npu_backend_info_t backends[] = {
    {.name = "cpu",
     .options = cpu_options,
     .num_options = 1,
     .summary = "reference C kernels (the numerical oracle of the vulkan backend)",
     .output_extension = ".npubin",
     .emit = cpu_emit,
     .runtime = &cpu_runtime},
};

NPU_PLUGIN_EXPORT const npu_plugin_descriptor_t *npu_plugin_entry(void) {
  static const npu_plugin_descriptor_t d = {
      .abi_version = NPU_PLUGIN_ABI_VERSION, .name = "cpu", .version = "1.0",
      .summary = "CPU backend", .backends = backends, .num_backends = 1};
  return &d;
}
