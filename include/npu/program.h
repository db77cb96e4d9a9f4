/*
 * npu/program.h — a compiled program: what a backend's lowering produces,
 * what a .npubin file holds, and what the runtime executes.
 *
 * A program is backend-neutral data:
 *   - buffers:    device allocations (activations arena, one per weight, inputs,
 *                 outputs, persistent state). Sizes in bytes.
 *   - tensors:    named views into buffers (buffer index, byte offset, dtype,
 *                 shape). Graph inputs/outputs are found here by name.
 *   - weights:    the manifest: which tensor is filled from which checkpoint
 *                 key, with which load-time transform and stored dtype.
 *   - kernels:    compute kernels by name; for the Vulkan backend each carries
 *                 its SPIR-V (the CPU backend has none: it maps names to C).
 *   - dispatches: the ordered list of kernel launches, each with its tensor
 *                 bindings, push constants, specialization constants and
 *                 workgroup counts. Executed in order with a barrier between
 *                 dependent dispatches.
 *
 * Kernel ABI (both backends): a dispatch's bindings[i] is bound to
 * descriptor set 0, binding i, as a storage buffer covering exactly the bound
 * tensor's bytes (offset = tensor offset). Push constants are up to 128 bytes
 * of 32-bit words. Specialization constants are (id, 32-bit value) pairs.
 *
 * Ownership: a program owns all its strings and arrays (one arena). Programs
 * are built with npu_program_builder_* and read/written with npu_program_*_npubin.
 */
#ifndef NPU_PROGRAM_H
#define NPU_PROGRAM_H

#include <stdint.h>
#include <stdio.h>

#include "npu/graph.h"
#include "npu/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NPU_PROGRAM_MAX_BINDINGS 8
#define NPU_PROGRAM_MAX_PUSH_WORDS 32
#define NPU_PROGRAM_MAX_SPEC 16

typedef enum npu_buffer_kind {
  NPU_BUFFER_ACTIVATIONS = 0, /* intermediates; memplan offsets inside it */
  NPU_BUFFER_WEIGHT,          /* one weight (filled at load) */
  NPU_BUFFER_INPUT,           /* host-written each run */
  NPU_BUFFER_OUTPUT,          /* host-read after each run */
  NPU_BUFFER_STATE,           /* persistent across runs (KV cache) */
} npu_buffer_kind_t;

typedef struct npu_program_buffer {
  npu_buffer_kind_t kind;
  uint64_t size;              /* bytes; > 0 */
  const char *name;           /* for diagnostics */
} npu_program_buffer_t;

typedef struct npu_program_tensor {
  const char *name;
  npu_dtype_t dtype;          /* storage dtype on the device */
  npu_shape_t shape;
  int32_t buffer;             /* index into buffers */
  uint64_t offset;            /* bytes into the buffer */
  uint64_t size;              /* bytes = numel * dtype size */
} npu_program_tensor_t;

typedef struct npu_program_weight {
  int32_t tensor;             /* the device tensor filled at load */
  const char *key;            /* checkpoint key; NULL if derived by a transform */
  const char *transform;      /* NULL, "bn_fold_weight", "bn_fold_bias", ... */
  const char *const *sources; /* checkpoint keys the transform reads */
  int32_t num_sources;
  const npu_attr_t *attrs;    /* transform attrs (eps, ...) */
  int32_t num_attrs;
  npu_dtype_t checkpoint_dtype; /* dtype the graph declared; converted to tensor dtype */
} npu_program_weight_t;

typedef struct npu_program_kernel {
  const char *name;           /* "conv2d_f32" */
  const uint32_t *spirv;      /* NULL for backends without SPIR-V */
  uint64_t spirv_words;
  uint32_t num_bindings;
  uint32_t push_words;        /* push-constant size in 32-bit words */
} npu_program_kernel_t;

typedef struct npu_spec_constant {
  uint32_t id;
  uint32_t value;
} npu_spec_constant_t;

typedef struct npu_program_dispatch {
  int32_t kernel;             /* index into kernels */
  const char *node;           /* graph node it came from (profiling, errors) */
  uint32_t groups[3];         /* workgroup counts */
  int32_t bindings[NPU_PROGRAM_MAX_BINDINGS]; /* tensor indices */
  int32_t num_bindings;
  uint32_t push[NPU_PROGRAM_MAX_PUSH_WORDS];
  int32_t num_push;           /* words used */
  npu_spec_constant_t spec[NPU_PROGRAM_MAX_SPEC];
  int32_t num_spec;
} npu_program_dispatch_t;

typedef struct npu_program npu_program_t;

/* ---- reading ---------------------------------------------------------------- */

const char *npu_program_backend(const npu_program_t *p);   /* "vulkan", "cpu" */
const char *npu_program_model_name(const npu_program_t *p);
int32_t npu_program_buffer_count(const npu_program_t *p);
const npu_program_buffer_t *npu_program_buffer(const npu_program_t *p, int32_t i);
int32_t npu_program_tensor_count(const npu_program_t *p);
const npu_program_tensor_t *npu_program_tensor(const npu_program_t *p, int32_t i);
int32_t npu_program_find_tensor(const npu_program_t *p, const char *name); /* -1 if absent */
int32_t npu_program_weight_count(const npu_program_t *p);
const npu_program_weight_t *npu_program_weight(const npu_program_t *p, int32_t i);
int32_t npu_program_kernel_count(const npu_program_t *p);
const npu_program_kernel_t *npu_program_kernel(const npu_program_t *p, int32_t i);
int32_t npu_program_dispatch_count(const npu_program_t *p);
const npu_program_dispatch_t *npu_program_dispatch(const npu_program_t *p, int32_t i);
/* Graph inputs and outputs as tensor indices, in graph order. */
const int32_t *npu_program_inputs(const npu_program_t *p, int32_t *out_count);
const int32_t *npu_program_outputs(const npu_program_t *p, int32_t *out_count);
/* Checks every index and byte range (tensor inside its buffer, bindings and
 * kernels in range, push/spec counts in bounds). Loaders call it. */
npu_status_t npu_program_validate(const npu_program_t *p);
void npu_program_destroy(npu_program_t *p);

/* ---- building --------------------------------------------------------------- */

typedef struct npu_program_builder npu_program_builder_t;

npu_status_t npu_program_builder_create(const char *backend, const char *model_name,
                                        npu_program_builder_t **out);
void npu_program_builder_destroy(npu_program_builder_t *b);
/* Each add copies its arguments and returns the new index in *out_index. */
npu_status_t npu_program_add_buffer(npu_program_builder_t *b, const npu_program_buffer_t *buf,
                                    int32_t *out_index);
npu_status_t npu_program_add_tensor(npu_program_builder_t *b, const npu_program_tensor_t *t,
                                    int32_t *out_index);
npu_status_t npu_program_add_weight(npu_program_builder_t *b, const npu_program_weight_t *w);
/* Returns the existing index if a kernel of that name was added before. */
npu_status_t npu_program_add_kernel(npu_program_builder_t *b, const npu_program_kernel_t *k,
                                    int32_t *out_index);
npu_status_t npu_program_add_dispatch(npu_program_builder_t *b, const npu_program_dispatch_t *d);
npu_status_t npu_program_add_input(npu_program_builder_t *b, int32_t tensor);
npu_status_t npu_program_add_output(npu_program_builder_t *b, int32_t tensor);
/* Validates and hands over the program; the builder is consumed (destroyed)
 * whatever the result. */
npu_status_t npu_program_builder_finish(npu_program_builder_t *b, npu_program_t **out);

/* ---- .npubin ------------------------------------------------------------------ */

/* See docs/npubin-format.md. The reader checks magic, versions, every section
 * offset/size/alignment/CRC32 and then npu_program_validate. Errors name the
 * file and the section. */
npu_status_t npu_program_write_npubin(const npu_program_t *p, const char *path);
npu_status_t npu_program_read_npubin(const char *path, npu_program_t **out);
npu_status_t npu_program_read_npubin_buffer(const void *data, size_t size, const char *origin,
                                            npu_program_t **out);
/* Human-readable listing for `npuc --dump`: header, sections, tensors,
 * buffers, weights, kernels, dispatches. */
npu_status_t npu_program_dump(const npu_program_t *p, FILE *stream);

#ifdef __cplusplus
}
#endif
#endif /* NPU_PROGRAM_H */
