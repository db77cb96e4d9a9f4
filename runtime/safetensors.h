/*
 * runtime/safetensors.h — internal: a parsed .safetensors file.
 *
 * Layout: u64 little-endian N, then N bytes of JSON (the header), then the
 * data section. The header maps tensor names to
 *   {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}
 * (offsets relative to the data section); "__metadata__" is ignored.
 *
 * Every entry is validated at open (types, dtype, rank, begin <= end <= data
 * size, end - begin == numel * dtype size, overflow-safe). Keys are looked up
 * through a hash map. Errors carry the file name as location and name the key.
 */
#ifndef NPU_RUNTIME_SAFETENSORS_H
#define NPU_RUNTIME_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "npu/graph.h"
#include "npu/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NPU_ST_MAX_HEADER ((uint64_t)100 * 1024 * 1024)

typedef struct npu_st_tensor {
  const char *name;
  npu_dtype_t dtype;
  npu_shape_t shape;
  const void *data; /* into the mapping/buffer; may be unaligned */
  size_t size;      /* bytes */
} npu_st_tensor_t;

typedef struct npu_st_file npu_st_file_t;

/* mmaps `path` and parses it. */
npu_status_t npu_st_open(const char *path, npu_st_file_t **out);
/* Parses a buffer in memory; `data` is borrowed and must outlive the result.
 * `origin` names it in errors (copied). */
npu_status_t npu_st_parse(const void *data, size_t size, const char *origin,
                          npu_st_file_t **out);
/* NULL if absent. */
const npu_st_tensor_t *npu_st_find(const npu_st_file_t *f, const char *key);
int32_t npu_st_count(const npu_st_file_t *f);
const npu_st_tensor_t *npu_st_tensor(const npu_st_file_t *f, int32_t i);
const char *npu_st_origin(const npu_st_file_t *f);
void npu_st_close(npu_st_file_t *f);

/* "F32" -> NPU_DTYPE_FLOAT32 ...; false if unknown. */
int npu_st_dtype_parse(const char *text, npu_dtype_t *out);

#ifdef __cplusplus
}
#endif
#endif
