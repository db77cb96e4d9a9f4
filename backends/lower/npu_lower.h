/*
 * backends/lower/npu_lower.h — graph -> program lowering shared by the cpu and
 * vulkan backends, and the activation memory planner (docs/kernels.md).
 *
 * The lowering walks the live nodes in order, fuses conv2d+relu,
 * conv2d+add(+relu) (residual) and add+relu, turns metadata-only view ops
 * (flatten, view, reshape, alias, ...) into tensor aliases, and emits one
 * dispatch per remaining group. Intermediates live in one ACTIVATIONS buffer
 * at offsets from the memory plan; each weight, graph input and graph output
 * has its own buffer, and the dispatch producing a graph output writes
 * straight into its OUTPUT buffer.
 */
#ifndef NPU_LOWER_H
#define NPU_LOWER_H

#include <stdbool.h>
#include <stdint.h>

#include "npu/graph.h"
#include "npu/program.h"
#include "npu/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- memory planning -------------------------------------------------------- */

/* One tensor to place: `size` bytes live from step `start` to step `end`
 * (inclusive; start <= end). */
typedef struct npu_memplan_item {
  uint64_t size;
  int32_t start;
  int32_t end;
} npu_memplan_item_t;

/* Greedy best-fit by size: items are placed largest first, each at the lowest
 * `alignment`-aligned offset where it overlaps no already-placed item whose
 * lifetime intersects its own. Writes offsets[i] and the arena size *peak.
 * alignment must be a power of two >= 1. */
npu_status_t npu_memplan_solve(const npu_memplan_item_t *items, int32_t count,
                               uint64_t alignment, uint64_t *offsets, uint64_t *peak);

typedef struct npu_memplan_stats {
  uint64_t peak_bytes;   /* arena size */
  uint64_t naive_bytes;  /* sum of the planned tensors' aligned sizes */
  int32_t planned;       /* tensors placed in the arena */
  int32_t steps;         /* dispatches the lowering will emit */
} npu_memplan_stats_t;

/* Plans the activations of `g` as the lowering will (same fusions and
 * aliases). offsets (may be NULL) gets, per tensor id, its byte offset in the
 * arena or UINT64_MAX for a tensor not in it (inputs, weights, outputs,
 * fused-away intermediates; an alias gets its source's offset). Errors name
 * the first unsupported node. */
npu_status_t npu_memplan_compute(const npu_graph_t *g, uint64_t alignment, uint64_t *offsets,
                                 npu_memplan_stats_t *stats);

/* ---- lowering ------------------------------------------------------------- */

/* Compute precision of a lowered program. FP16: activations and weights are
 * stored as float16 (kernels <op>_f16, arithmetic in float); graph inputs and
 * outputs keep their float32 buffers, converted by cast_f32_to_f16 /
 * cast_f16_to_f32 dispatches at the boundary; weights are converted from the
 * checkpoint dtype (after any load-time transform, done in f32) at load. */
typedef enum npu_lower_precision {
  NPU_LOWER_FP32 = 0,
  NPU_LOWER_FP16 = 1,
} npu_lower_precision_t;

typedef struct npu_lower_options {
  const char *backend;     /* "cpu", "vulkan": npu_program_backend() */
  bool embed_spirv;        /* copy each kernel's SPIR-V into the program */
  uint64_t alignment;      /* activation offsets; 0 = 256 */
  npu_lower_precision_t precision; /* 0 = fp32 */
} npu_lower_options_t;

/* Parses a backend option value "fp32" / "fp16" (NULL = fp32). */
npu_status_t npu_lower_parse_precision(const char *value, npu_lower_precision_t *out);

npu_status_t npu_lower_graph(const npu_graph_t *g, const npu_lower_options_t *options,
                             npu_program_t **out_program);

/* True if the node's op is lowered as a metadata-only alias of input 0. */
bool npu_lower_is_alias_op(const npu_graph_t *g, const npu_node_t *node);

#ifdef __cplusplus
}
#endif
#endif /* NPU_LOWER_H */
