/*
 * npu/runtime.h — running a compiled program.
 *
 *   npu_device_t *dev;      npu_device_open("vulkan", NULL, &dev);   // NULL selector: NPU_DEVICE or default
 *   npu_program_t *prog;    npu_program_read_npubin("resnet18.npubin", &prog);
 *   npu_weights_t *w;       npu_weights_open("resnet18.safetensors", &w);
 *   npu_executor_t *ex;     npu_executor_create(dev, prog, &ex);
 *   npu_executor_load_weights(ex, w);
 *   npu_executor_set_input(ex, "x", &(npu_host_tensor_t){NPU_DTYPE_FLOAT32, shape, data, bytes});
 *   npu_executor_run(ex);
 *   npu_executor_get_output(ex, "linear", &out);
 *
 * Ownership: the open and create calls return owned objects (close/destroy them, in
 * reverse order); the executor borrows the device and the program, which must
 * outlive it. Weights are copied to the device by load_weights; the weights
 * object may be closed afterwards.
 *
 * Speed rules: executor_create builds every pipeline, descriptor set and the
 * command buffer once. run() writes nothing but the inputs set since the last
 * run, submits once and waits once; it allocates nothing.
 *
 * Device choice (Vulkan): the first discrete GPU, else any GPU, else a CPU
 * implementation (lavapipe). NPU_DEVICE overrides: an index ("1") or a
 * case-insensitive substring of the device name ("llvmpipe").
 */
#ifndef NPU_RUNTIME_H
#define NPU_RUNTIME_H

#include <stdbool.h>
#include <stdio.h>

#include "npu/graph.h"
#include "npu/program.h"
#include "npu/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct npu_device npu_device_t;
typedef struct npu_executor npu_executor_t;
typedef struct npu_weights npu_weights_t;

/* A tensor in host memory. `data` is borrowed; `size` is its byte size. */
typedef struct npu_host_tensor {
  npu_dtype_t dtype;
  npu_shape_t shape;
  void *data;
  size_t size;
} npu_host_tensor_t;

/* ---- devices ------------------------------------------------------------------ */

/* backend: "vulkan" or "cpu" (NULL = the program's backend is used at
 * executor creation; for npu_device_open NULL means "vulkan"). */
npu_status_t npu_device_open(const char *backend, const char *selector, npu_device_t **out);
const char *npu_device_name(const npu_device_t *d);
const char *npu_device_backend(const npu_device_t *d);
void npu_device_close(npu_device_t *d);

/* ---- weights --------------------------------------------------------------------- */

/* A .safetensors file, or a directory holding model.safetensors or a sharded
 * model.safetensors.index.json (a Hugging Face checkpoint). Files are mmapped
 * and every header offset is bounds-checked. */
npu_status_t npu_weights_open(const char *path, npu_weights_t **out);
/* Looks up a key. *out_data points into the mapping (borrowed, valid until
 * close). NOT_FOUND names the key. */
npu_status_t npu_weights_find(const npu_weights_t *w, const char *key, npu_dtype_t *out_dtype,
                              npu_shape_t *out_shape, const void **out_data);
void npu_weights_close(npu_weights_t *w);

/* ---- executors ------------------------------------------------------------------- */

npu_status_t npu_executor_create(npu_device_t *d, const npu_program_t *p, npu_executor_t **out);
/* Fills every weight of the program's manifest: looks up its key, converts the
 * dtype, applies the load-time transform, uploads. A missing key is an error
 * naming it. */
npu_status_t npu_executor_load_weights(npu_executor_t *e, const npu_weights_t *w);
/* Checks dtype and shape against the program's input spec; converts nothing. */
npu_status_t npu_executor_set_input(npu_executor_t *e, const char *name,
                                    const npu_host_tensor_t *t);
npu_status_t npu_executor_run(npu_executor_t *e);
/* Copies an output (or any program tensor) into t->data (t->size bytes,
 * dtype/shape checked). */
npu_status_t npu_executor_get_output(npu_executor_t *e, const char *name, npu_host_tensor_t *t);
void npu_executor_destroy(npu_executor_t *e);

/* ---- profiler ---------------------------------------------------------------------- */

/* Timestamp queries around every dispatch, only while enabled. */
npu_status_t npu_executor_enable_profiling(npu_executor_t *e, bool enabled);
/* Per kernel: total, count, average, sorted by total; plus the whole run. Over
 * all runs since profiling was enabled. */
npu_status_t npu_executor_print_profile(npu_executor_t *e, FILE *stream);
/* Chrome trace JSON (chrome://tracing, Perfetto) of the last profiled run. */
npu_status_t npu_executor_write_chrome_trace(npu_executor_t *e, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* NPU_RUNTIME_H */
