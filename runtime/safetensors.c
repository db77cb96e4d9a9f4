/* runtime/safetensors.c — mmap + strict validation of .safetensors files. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct npu_st_file {
  char *origin;
  void *map; /* non-NULL when mmapped */
  size_t map_size;
  npu_st_tensor_t *tensors;
  int32_t count;
  int32_t *slots; /* open addressing: index into tensors, -1 empty */
  size_t num_slots; /* power of two */
};

static const struct {
  const char *name;
  npu_dtype_t dtype;
} k_dtypes[] = {
    {"F32", NPU_DTYPE_FLOAT32}, {"F16", NPU_DTYPE_FLOAT16}, {"BF16", NPU_DTYPE_BFLOAT16},
    {"F64", NPU_DTYPE_FLOAT64}, {"I64", NPU_DTYPE_INT64},   {"I32", NPU_DTYPE_INT32},
    {"I16", NPU_DTYPE_INT16},   {"I8", NPU_DTYPE_INT8},     {"U8", NPU_DTYPE_UINT8},
    {"BOOL", NPU_DTYPE_BOOL},
};

int npu_st_dtype_parse(const char *text, npu_dtype_t *out) {
  for (size_t i = 0; i < sizeof k_dtypes / sizeof k_dtypes[0]; i++) {
    if (strcmp(text, k_dtypes[i].name) == 0) {
      *out = k_dtypes[i].dtype;
      return 1;
    }
  }
  return 0;
}

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  return h;
}

const npu_st_tensor_t *npu_st_find(const npu_st_file_t *f, const char *key) {
  if (!f || !key || f->num_slots == 0) return NULL;
  size_t mask = f->num_slots - 1;
  for (size_t i = hash_str(key) & mask;; i = (i + 1) & mask) {
    int32_t t = f->slots[i];
    if (t < 0) return NULL;
    if (strcmp(f->tensors[t].name, key) == 0) return &f->tensors[t];
  }
}

int32_t npu_st_count(const npu_st_file_t *f) { return f ? f->count : 0; }

const npu_st_tensor_t *npu_st_tensor(const npu_st_file_t *f, int32_t i) {
  if (!f || i < 0 || i >= f->count) return NULL;
  return &f->tensors[i];
}

const char *npu_st_origin(const npu_st_file_t *f) { return f ? f->origin : NULL; }

void npu_st_close(npu_st_file_t *f) {
  if (!f) return;
  if (f->tensors) {
    for (int32_t i = 0; i < f->count; i++) free((char *)f->tensors[i].name);
  }
  free(f->tensors);
  free(f->slots);
  if (f->map) munmap(f->map, f->map_size);
  free(f->origin);
  free(f);
}

/* A JSON number that is an exact non-negative integer <= 2^53. */
static bool json_u64(const cJSON *j, uint64_t *out) {
  if (!cJSON_IsNumber(j)) return false;
  double d = j->valuedouble;
  if (!(d >= 0.0) || d > 9007199254740992.0 || floor(d) != d) return false;
  *out = (uint64_t)d;
  return true;
}

static npu_status_t parse_entry(const char *origin, const cJSON *e, uint64_t data_size,
                                const uint8_t *data, npu_st_tensor_t *t) {
  const char *key = e->string;
  if (!cJSON_IsObject(e)) {
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin, "tensor '%s': entry is not an object", key);
  }
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
  const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
  const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
  if (!cJSON_IsString(dt)) {
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin, "tensor '%s': missing string \"dtype\"",
                        key);
  }
  if (!npu_st_dtype_parse(dt->valuestring, &t->dtype)) {
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin,
                        "tensor '%s': unknown dtype \"%s\" (expected F32, F16, BF16, F64, I64, "
                        "I32, I16, I8, U8 or BOOL)",
                        key, dt->valuestring);
  }
  if (!cJSON_IsArray(shape)) {
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin, "tensor '%s': missing array \"shape\"",
                        key);
  }
  int rank = cJSON_GetArraySize(shape);
  if (rank > NPU_MAX_RANK) {
    return npu_error_at(NPU_STATUS_UNSUPPORTED, origin,
                        "tensor '%s': rank %d exceeds the maximum of %d", key, rank,
                        NPU_MAX_RANK);
  }
  t->shape.rank = rank;
  int r = 0;
  const cJSON *d;
  cJSON_ArrayForEach(d, shape) {
    uint64_t v;
    if (!json_u64(d, &v) || v > (uint64_t)INT64_MAX) {
      return npu_error_at(NPU_STATUS_PARSE_ERROR, origin,
                          "tensor '%s': shape[%d] is not a non-negative integer", key, r);
    }
    t->shape.dims[r++] = (int64_t)v;
  }
  if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2) {
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin,
                        "tensor '%s': \"data_offsets\" must be an array [begin, end]", key);
  }
  uint64_t begin = 0, end = 0;
  if (!json_u64(cJSON_GetArrayItem(offs, 0), &begin) ||
      !json_u64(cJSON_GetArrayItem(offs, 1), &end)) {
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin,
                        "tensor '%s': data_offsets are not non-negative integers", key);
  }
  if (begin > end) {
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin,
                        "tensor '%s': data_offsets [%llu, %llu] have begin > end", key,
                        (unsigned long long)begin, (unsigned long long)end);
  }
  if (end > data_size) {
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin,
                        "tensor '%s': data_offsets [%llu, %llu] exceed the data section "
                        "(%llu bytes)",
                        key, (unsigned long long)begin, (unsigned long long)end,
                        (unsigned long long)data_size);
  }
  int64_t numel = 0;
  size_t esize = npu_dtype_size(t->dtype);
  char sbuf[160];
  if (!npu_shape_numel(&t->shape, &numel) || (uint64_t)numel > UINT64_MAX / esize) {
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin,
                        "tensor '%s': shape %s overflows the element count", key,
                        npu_shape_format(&t->shape, sbuf, sizeof sbuf));
  }
  if ((uint64_t)numel * esize != end - begin) {
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin,
                        "tensor '%s': shape %s of %s needs %llu bytes but data_offsets "
                        "[%llu, %llu] hold %llu",
                        key, npu_shape_format(&t->shape, sbuf, sizeof sbuf), dt->valuestring,
                        (unsigned long long)((uint64_t)numel * esize), (unsigned long long)begin,
                        (unsigned long long)end, (unsigned long long)(end - begin));
  }
  t->data = data + begin;
  t->size = (size_t)(end - begin);
  return NULL;
}

npu_status_t npu_st_parse(const void *buf, size_t size, const char *origin,
                          npu_st_file_t **out) {
  if (!out) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_st_parse: out is NULL");
  *out = NULL;
  if (!origin) origin = "<memory>";
  if (!buf && size) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_st_parse: data is NULL");
  const uint8_t *p = buf;
  if (size < 8) {
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin,
                        "file is %zu bytes, too short for the 8-byte header length", size);
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | p[i];
  if (n > NPU_ST_MAX_HEADER) {
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin,
                        "header length %llu exceeds the 100 MB limit", (unsigned long long)n);
  }
  if (n > size - 8) {
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin,
                        "header length %llu exceeds the file (%zu bytes after the length)",
                        (unsigned long long)n, size - 8);
  }
  if (n < 2) {
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin, "header length %llu is too short",
                        (unsigned long long)n);
  }
  const char *json = (const char *)p + 8;
  const uint8_t *data = p + 8 + n;
  uint64_t data_size = size - 8 - n;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(json, (size_t)n, &end, 0);
  if (!root) {
    size_t at = end && end >= json && end <= json + n ? (size_t)(end - json) : 0;
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin, "header is not valid JSON (near byte %zu)",
                        at + 8);
  }
  /* Only whitespace (the writer's padding) may follow the JSON value. */
  for (const char *q = end; q && q < json + n; q++) {
    if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
      cJSON_Delete(root);
      return npu_error_at(NPU_STATUS_PARSE_ERROR, origin,
                          "header has trailing bytes after the JSON object (byte %zu)",
                          (size_t)(q - json) + 8);
    }
  }
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin, "header is not a JSON object");
  }
  npu_status_t s = NULL;
  npu_st_file_t *f = calloc(1, sizeof *f);
  int count = cJSON_GetArraySize(root);
  if (!f || !(f->origin = strdup(origin))) {
    s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
    goto fail;
  }
  f->tensors = calloc((size_t)count + 1, sizeof *f->tensors);
  f->num_slots = 16;
  while (f->num_slots < (size_t)count * 2) f->num_slots *= 2;
  f->slots = malloc(f->num_slots * sizeof *f->slots);
  if (!f->tensors || !f->slots) {
    s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
    goto fail;
  }
  for (size_t i = 0; i < f->num_slots; i++) f->slots[i] = -1;
  const cJSON *e;
  cJSON_ArrayForEach(e, root) {
    if (!e->string) continue;
    if (strcmp(e->string, "__metadata__") == 0) continue;
    npu_st_tensor_t *t = &f->tensors[f->count];
    memset(t, 0, sizeof *t);
    s = parse_entry(origin, e, data_size, data, t);
    if (s) goto fail;
    size_t mask = f->num_slots - 1;
    size_t i = hash_str(e->string) & mask;
    for (; f->slots[i] >= 0; i = (i + 1) & mask) {
      if (strcmp(f->tensors[f->slots[i]].name, e->string) == 0) {
        s = npu_error_at(NPU_STATUS_PARSE_ERROR, origin, "tensor '%s' appears twice",
                         e->string);
        goto fail;
      }
    }
    if (!(t->name = strdup(e->string))) {
      s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
      goto fail;
    }
    f->slots[i] = f->count++;
  }
  cJSON_Delete(root);
  *out = f;
  return NULL;
fail:
  cJSON_Delete(root);
  npu_st_close(f);
  return s;
}

npu_status_t npu_st_open(const char *path, npu_st_file_t **out) {
  if (!path || !out) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_st_open: NULL argument");
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return npu_error_at(errno == ENOENT ? NPU_STATUS_NOT_FOUND : NPU_STATUS_IO_ERROR, path,
                        "cannot open: %s", strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return npu_error_at(NPU_STATUS_IO_ERROR, path, "cannot stat: %s", strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return npu_error_at(NPU_STATUS_IO_ERROR, path, "not a regular file");
  }
  size_t size = (size_t)st.st_size;
  if (size < 8) {
    close(fd);
    return npu_error_at(NPU_STATUS_PARSE_ERROR, path,
                        "file is %zu bytes, too short for the 8-byte header length", size);
  }
  void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  close(fd);
  if (map == MAP_FAILED) {
    return npu_error_at(NPU_STATUS_IO_ERROR, path, "mmap failed: %s", strerror(err));
  }
  npu_st_file_t *f;
  npu_status_t s = npu_st_parse(map, size, path, &f);
  if (s) {
    munmap(map, size);
    return s;
  }
  f->map = map;
  f->map_size = size;
  *out = f;
  return NULL;
}
