/*
 * npu/weight_transform.h — the reference math of weight transforms.
 *
 * Passes record transforms in the graph (npu_graph_add_weight_transform); the
 * runtime applies them when it loads the weights. This is the float32
 * reference implementation of each kind, used by the runtime's CPU path and by
 * the tests that check a pass's rewrite numerically.
 *
 * Kinds:
 *   "bn_fold_weight"  sources [W, gamma, beta, mean, var], attrs {eps}
 *       W [Co, ...] (any rank >= 1), the others [Co].
 *       W'[c, ...] = W[c, ...] * gamma[c] / sqrt(var[c] + eps).  out: numel(W).
 *   "bn_fold_bias"    sources [b, gamma, beta, mean, var] when has_conv_bias,
 *                     else [gamma, beta, mean, var]; attrs {eps, has_conv_bias}
 *       (has_conv_bias absent: inferred from the number of sources)
 *       b'[c] = (b[c] - mean[c]) * gamma[c] / sqrt(var[c] + eps) + beta[c],
 *       b = 0 when absent.  out: Co floats.
 * eps defaults to 1e-5 when absent.
 */
#ifndef NPU_WEIGHT_TRANSFORM_H
#define NPU_WEIGHT_TRANSFORM_H

#include <stddef.h>

#include "npu/graph.h"
#include "npu/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Applies transform `kind` to n float32 sources (source_shapes[i] describes
 * sources[i]) and writes out[0..out_len). out_len must equal the result's
 * element count. Errors (INVALID_ARGUMENT, UNSUPPORTED for an unknown kind)
 * name the kind and the offending source. */
npu_status_t npu_weight_transform_apply_f32(const char *kind, const float *const *sources,
                                            const npu_shape_t *source_shapes, int n,
                                            const npu_attr_t *attrs, int nattrs, float *out,
                                            size_t out_len);

#ifdef __cplusplus
}
#endif
#endif /* NPU_WEIGHT_TRANSFORM_H */
