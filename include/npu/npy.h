/*
 * npu/npy.h — reading and writing NumPy .npy files (format versions 1 and 2).
 *
 * Supported dtypes (little-endian, C order only):
 *   '<f4' float32   '<f8' float64   '<f2' float16
 *   '<i8' int64     '<i4' int32     '<i2' int16     '|i1' int8
 *   '|u1' uint8     '|b1' bool
 * bfloat16 has no .npy dtype: npu_npy_write stores it as float32 ('<f4').
 * Fortran order and big-endian files are rejected. The header is parsed
 * strictly and is bounded (1 MiB); the data size must match the shape exactly.
 *
 *   npu_npy_t x;
 *   npu_status_t s = npu_npy_read("input.npy", &x);   // x owns x.data
 *   ...
 *   npu_npy_free(&x);
 */
#ifndef NPU_NPY_H
#define NPU_NPY_H

#include <stddef.h>

#include "npu/graph.h"
#include "npu/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An array read from a .npy file; owns `data` (size bytes). */
typedef struct npu_npy {
  npu_dtype_t dtype;
  npu_shape_t shape;
  void *data;
  size_t size;
} npu_npy_t;

/* On error *out is zeroed. Errors name the file. */
npu_status_t npu_npy_read(const char *path, npu_npy_t *out);
/* Parses a .npy image in memory (copies the data). `origin` names it in errors. */
npu_status_t npu_npy_read_buffer(const void *buf, size_t size, const char *origin,
                                 npu_npy_t *out);
/* Writes numel(shape) elements of `dtype` from `data` (version 1 header,
 * padded to 64 bytes). bfloat16 is converted to float32. */
npu_status_t npu_npy_write(const char *path, npu_dtype_t dtype, const npu_shape_t *shape,
                           const void *data);
/* Frees the data and zeroes *a; NULL and zeroed structs are fine. */
void npu_npy_free(npu_npy_t *a);

#ifdef __cplusplus
}
#endif
#endif /* NPU_NPY_H */
