/*
 * npu/reference.h — the host reference interpreter.
 *
 * Evaluates any imported graph on the host, node by node in execution order,
 * with PyTorch (eager, CPU) semantics. It is the oracle for two things:
 *   - fusion passes: run the graph before and after the pass and compare;
 *   - model fixtures: check an IR against its PyTorch goldens before any
 *     device kernel exists.
 *
 *   npu_weights_t *w;  npu_weights_open("checkpoint/", &w);
 *   npu_reference_input_t in[] = {
 *       {"input_ids", {NPU_DTYPE_INT64, {2, {1, 8}}, ids, sizeof ids}}};
 *   npu_reference_result_t *r;
 *   npu_reference_run(g, w, in, 1, &r);
 *   const npu_host_tensor_t *logits = npu_reference_result_output(r, 0);
 *   ...
 *   npu_reference_result_free(r);
 *
 * Numerics (docs/reference.md): every tensor is held in its IR dtype. bfloat16
 * and float16 are stored as their 16-bit patterns. Each op loads its inputs,
 * computes in float32 (float64 for float64 outputs, int64 for integer
 * outputs) and rounds its result to the output dtype, round-to-nearest-even,
 * which is what PyTorch's CPU kernels do op by op.
 *
 * Weights: a WEIGHT/CONSTANT tensor is materialised on first use from the
 * checkpoint through the runtime's name matching ("model." prefix strip, tied
 * lm_head, inv_freq computed from rope_theta) and converted to the tensor's
 * IR dtype; derived weights go through their weight transform. Constants with
 * zero elements need no checkpoint entry.
 */
#ifndef NPU_REFERENCE_H
#define NPU_REFERENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "npu/graph.h"
#include "npu/runtime.h"
#include "npu/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A named host input. `tensor.data` is borrowed for the duration of the run;
 * its dtype and shape must match the graph input exactly (bfloat16 as uint16
 * bit patterns). Inputs may also feed STATE tensors. */
typedef struct npu_reference_input {
  const char *name;
  npu_host_tensor_t tensor;
} npu_reference_input_t;

typedef struct npu_reference_result npu_reference_result_t;

/* Runs `g` on the host. `w` may be NULL when the graph reads no non-empty
 * weight. Every graph input must be given (extra names are an error). On
 * success *out owns every graph output and every intermediate value.
 * Errors: INVALID_ARGUMENT (bad input), UNSUPPORTED (an op or a case the
 * interpreter does not handle, naming the node and op), NOT_FOUND (weight). */
npu_status_t npu_reference_run(const npu_graph_t *g, const npu_weights_t *w,
                               const npu_reference_input_t *inputs, int32_t num_inputs,
                               npu_reference_result_t **out);

/* Graph outputs in graph order. Borrowed from the result. */
int32_t npu_reference_result_count(const npu_reference_result_t *r);
const npu_host_tensor_t *npu_reference_result_output(const npu_reference_result_t *r,
                                                     int32_t index);
/* Any tensor computed or read during the run (inputs, weights used,
 * intermediates, outputs) by its graph name; NULL if it has no value. */
const npu_host_tensor_t *npu_reference_result_find(const npu_reference_result_t *r,
                                                   const char *name);
void npu_reference_result_free(npu_reference_result_t *r);

/* ---- extension point ------------------------------------------------------- */

/* Computes one node. inputs[i] holds the value of node input i (IR dtype and
 * shape; a NULL-free array). outputs[j] is preallocated with node output j's
 * IR dtype and shape, zero-filled; the function writes outputs[j].data.
 * Return NULL on success or an error (npu_node_error(g, node, ...)). */
typedef npu_status_t (*npu_reference_op_fn)(const npu_graph_t *g, npu_node_id_t node,
                                            const npu_host_tensor_t *inputs, int32_t num_inputs,
                                            npu_host_tensor_t *outputs, int32_t num_outputs);

/* Registers the reference semantics of `op` (e.g. a pass's "npu.rmsnorm").
 * The name is copied. A registered function takes precedence over a built-in
 * one of the same name; registering again replaces; fn == NULL unregisters.
 * Not thread-safe against concurrent runs or registrations. */
npu_status_t npu_reference_register_op(const char *op, npu_reference_op_fn fn);
/* True if the interpreter can evaluate `op` (registered or built in). */
bool npu_reference_supports_op(const char *op);

/* Element helpers for op functions: element i of t as float (any float, int
 * or bool dtype), and storing a float into element i with the dtype's
 * rounding (RNE for float16/bfloat16, truncation toward zero for integers). */
double npu_reference_load(const npu_host_tensor_t *t, size_t i);
void npu_reference_store(npu_host_tensor_t *t, size_t i, double v);

/* bfloat16 <-> float32: round to nearest, ties to even; NaN stays a quiet NaN. */
uint16_t npu_reference_f32_to_bf16(float f);
float npu_reference_bf16_to_f32(uint16_t h);

#ifdef __cplusplus
}
#endif
#endif /* NPU_REFERENCE_H */
