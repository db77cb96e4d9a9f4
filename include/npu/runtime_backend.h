/*
 * npu/runtime_backend.h — the executor side of a backend plugin.
 *
 * The generic runtime (runtime/) does everything that does not depend on the
 * device: weight lookup, dtype conversion and transforms, input checks,
 * profile aggregation. A backend implements only these calls. Optional
 * members are marked; NULL means "not supported".
 */
#ifndef NPU_RUNTIME_BACKEND_H
#define NPU_RUNTIME_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "npu/program.h"
#include "npu/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct npu_runtime_backend {
  const char *name; /* matches npu_program_backend() of the programs it runs */

  /* selector: NULL = default policy (see runtime.h). Writes a display name. */
  npu_status_t (*device_open)(const char *selector, void **out_device, char *name,
                              size_t name_size);
  void (*device_close)(void *device);

  /* Allocates every buffer of the program and prepares everything a run needs. */
  npu_status_t (*executor_create)(void *device, const npu_program_t *program, void **out_exec);
  void (*executor_destroy)(void *exec);

  /* Host <-> buffer copies (weights at load, inputs before run, outputs after). */
  npu_status_t (*buffer_write)(void *exec, int32_t buffer, uint64_t offset, const void *data,
                               uint64_t size);
  npu_status_t (*buffer_read)(void *exec, int32_t buffer, uint64_t offset, void *data,
                              uint64_t size);

  /* Runs every dispatch in order. With profile, writes each dispatch's start
   * and end in nanoseconds into dispatch_ns[2*i], dispatch_ns[2*i+1]. */
  npu_status_t (*run)(void *exec, bool profile, uint64_t *dispatch_ns);
} npu_runtime_backend_t;

#ifdef __cplusplus
}
#endif
#endif /* NPU_RUNTIME_BACKEND_H */
