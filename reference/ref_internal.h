/*
 * reference/ref_internal.h — shared by the reference interpreter's sources.
 */
#ifndef NPU_REFERENCE_INTERNAL_H
#define NPU_REFERENCE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "npu/reference.h"

typedef struct npu_ref_builtin {
  const char *op;
  npu_reference_op_fn fn;
} npu_ref_builtin_t;

/* The built-in op table (ref_ops.c). */
const npu_ref_builtin_t *npu_ref_builtins(int32_t *out_count);

/* Element count of a shape (validated: no overflow, no negative dims). */
size_t npu_ref_numel(const npu_shape_t *s);

/* Exact integer element access (floats truncate toward zero, saturating). */
int64_t npu_ref_load_int(const npu_host_tensor_t *t, size_t i);
void npu_ref_store_int(npu_host_tensor_t *t, size_t i, int64_t v);

#endif
