/* backends/lower: the fusion/alias analysis shared by the planner and the
 * lowering. */
#ifndef NPU_LOWER_INTERNAL_H
#define NPU_LOWER_INTERNAL_H

#include <stddef.h>

#include "npu_lower.h"

typedef enum lower_step_kind {
  STEP_CONV,
  STEP_MAXPOOL,
  STEP_AVGPOOL,
  STEP_LINEAR,
  STEP_RELU,
  STEP_ADD,
  STEP_COPY, /* graph output whose storage is not produced by a dispatch */
} lower_step_kind_t;

#define LOWER_MAX_IN 4

typedef struct lower_step {
  lower_step_kind_t kind;
  npu_node_id_t node;               /* the main node (conv, pool, ...) */
  npu_tensor_id_t in[LOWER_MAX_IN]; /* tensors read, kernel order */
  int32_t num_in;
  npu_tensor_id_t out;              /* tensor written (the group's final output) */
  bool relu;
  bool bias;
  bool residual;
  double alpha;                     /* add only */
} lower_step_t;

typedef struct lower_analysis {
  int32_t num_tensors;
  npu_tensor_id_t *root;     /* storage root of each tensor (itself if none) */
  lower_step_t *steps;
  int32_t num_steps;
  int32_t *def_step;         /* per root: step writing it, -1 */
  int32_t *last_use;         /* per root: last step reading it, -1 */
  bool *is_output_root;      /* per root: lives in an OUTPUT buffer */
  int32_t *copy_output;      /* per step: graph output index of a STEP_COPY, else -1 */
} lower_analysis_t;

/* Kernel naming by precision: the lowerer (lower.c) carries
 * `npu_lower_precision_t precision` (from npu_lower_options_t). Each lower_*
 * function asks for the f32 kernel name ("maxpool2d_f32"); kernel() maps it to
 * "<stem>_f16" when precision is NPU_LOWER_FP16 (lower_kernel_name), so a
 * precision-generic kernel source (precisions=f32,f16) needs no change in its
 * lower_* function. Exception: "conv2d_f32" (f32 only) maps to
 * "conv2d_direct_f16". Program tensor dtype of activations/weights:
 * lower_act_dtype(precision). */
const char *lower_kernel_name(npu_lower_precision_t precision, const char *f32_name, char *buf,
                              size_t buf_size);
npu_dtype_t lower_act_dtype(npu_lower_precision_t precision);

npu_status_t lower_analyze(const npu_graph_t *g, lower_analysis_t *a);
void lower_analysis_free(lower_analysis_t *a);
/* Bytes of a tensor (numel * dtype size). */
uint64_t lower_tensor_bytes(const npu_graph_t *g, npu_tensor_id_t t);
/* The activation items of an analysis: for every intermediate root that is
 * not an output root and is written by a step. items/ids have room for
 * num_tensors entries; returns the count. */
int32_t lower_plan_items(const npu_graph_t *g, const lower_analysis_t *a, uint64_t alignment,
                         npu_memplan_item_t *items, npu_tensor_id_t *ids);

#endif
