/*
 * runtime/exec_internal.h — internal: the device and executor objects of the
 * generic runtime (runtime/device.c, executor.c, profiler.c).
 */
#ifndef NPU_RUNTIME_EXEC_INTERNAL_H
#define NPU_RUNTIME_EXEC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "npu/plugin_registry.h"
#include "npu/runtime.h"
#include "npu/runtime_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

struct npu_device {
  const npu_runtime_backend_t *backend;
  void *handle;                    /* the backend's device */
  npu_plugin_registry_t *registry; /* keeps the backend plugin loaded; may be NULL */
  char name[256];
  char backend_name[64];
};

struct npu_executor {
  npu_device_t *dev;
  const npu_program_t *program;
  void *handle; /* the backend's executor */
  int32_t num_inputs;
  const int32_t *inputs;
  bool *input_set;
  bool weights_loaded;
  /* profiling (profiler.c) */
  bool profiling;
  int32_t num_dispatches;
  int32_t num_kernels;
  uint64_t *dispatch_ns;     /* 2 * num_dispatches: the last profiled run */
  uint64_t *kernel_total_ns; /* per kernel index, since profiling was enabled */
  uint64_t *kernel_count;
  uint64_t profiled_runs;
  uint64_t device_total_ns; /* first dispatch start to last dispatch end, summed */
  uint64_t host_total_ns;   /* npu_executor_run wall time, summed */
  uint64_t last_host_ns;
  bool have_trace;
};

/* Opens a device on an explicit backend (no plugin loading): tests and
 * programs that link a backend statically. */
__attribute__((visibility("default"))) npu_status_t npu_device_open_backend(
    const npu_runtime_backend_t *backend, const char *selector, npu_device_t **out);

/* profiler.c: allocates the profile arrays (at executor creation). */
npu_status_t npu_profile_init(npu_executor_t *e);
void npu_profile_free(npu_executor_t *e);
/* Adds e->dispatch_ns of the run just finished. Allocates nothing. */
void npu_profile_accumulate(npu_executor_t *e, uint64_t host_ns);

#ifdef __cplusplus
}
#endif
#endif
