/*
 * runtime/weights_internal.h — resolving a program weight from a checkpoint.
 *
 * Used by the executor's load_weights. See docs/weights.md for the name
 * matching rules, the dtype conversions and the transforms.
 */
#ifndef NPU_RUNTIME_WEIGHTS_INTERNAL_H
#define NPU_RUNTIME_WEIGHTS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "npu/program.h"
#include "npu/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fills `out` (out_size bytes, at least dest->shape numel * dtype size) with
 * the value of program weight `pw` for device tensor `dest`: resolves the key
 * (or the transform's source keys), checks the shape, converts the dtype into
 * dest->dtype and applies pw->transform. Errors name the key. */
npu_status_t npu_weights_materialize(const npu_weights_t *w, const npu_program_weight_t *pw,
                                     const npu_program_tensor_t *dest, void *out,
                                     size_t out_size);

/* Resolves `key` with the name-matching rules (exact, strip "model.", tied
 * lm_head -> embed_tokens). On success *out_key is the checkpoint key found
 * (borrowed from w). NOT_FOUND names the key and every candidate tried.
 * Does not synthesize inv_freq. */
npu_status_t npu_weights_resolve(const npu_weights_t *w, const char *key, const char **out_key,
                                 npu_dtype_t *out_dtype, npu_shape_t *out_shape,
                                 const void **out_data);

/* The checkpoint's rope_theta (config.json "rope_theta" or
 * "rope_parameters"."rope_theta"); NOT_FOUND if there is none. */
npu_status_t npu_weights_rope_theta(const npu_weights_t *w, double *out);

/* Converts n elements from src_dtype to dst_dtype. Floats: f64/f32/f16/bf16
 * among themselves (round to nearest even); integers/bool among themselves
 * (range-checked); float <-> integer is UNSUPPORTED. `what` names the tensor
 * in errors. src may be unaligned. */
npu_status_t npu_convert_dtype(const void *src, npu_dtype_t src_dtype, void *dst,
                               npu_dtype_t dst_dtype, size_t n, const char *what);

uint16_t npu_f32_to_f16(float f);
float npu_f16_to_f32(uint16_t h);
uint16_t npu_f32_to_bf16(float f);
float npu_bf16_to_f32(uint16_t h);

#ifdef __cplusplus
}
#endif
#endif
