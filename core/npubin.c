/* .npubin writer, reader and dump. The layout is in docs/npubin-format.md.
 *
 * The reader trusts nothing: every offset and size is checked with
 * overflow-safe arithmetic before it is used, every JSON field's type and
 * range before it is stored, and the program is validated at the end. It
 * only talks to a program through the public builder, so whatever it builds
 * went through the same checks as a program built by a backend. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "arena.h"
#include "crc32.h"
#include "npu/program.h"

#define NPUBIN_MAGIC "NPUBIN\0\0"
#define NPUBIN_FORMAT_VERSION 1u
#define NPUBIN_KERNEL_ABI 1u
#define NPUBIN_HEADER_SIZE 64u
#define NPUBIN_ENTRY_SIZE 32u
#define NPUBIN_ALIGN 64u
#define NPUBIN_BACKEND_LEN 16u
#define SPIRV_MAGIC 0x07230203u
/* Integers above this are written as decimal strings: JSON readers (cJSON
 * included) hold numbers as doubles. */
#define JSON_EXACT_MAX 9007199254740992.0 /* 2^53 */
#define ATTR_MAX_DEPTH 32

enum { SECTION_METADATA = 1, SECTION_SPIRV = 2, SECTION_STRINGS = 3 };

/* Header field offsets. */
enum {
  H_MAGIC = 0,
  H_VERSION = 8,
  H_ABI = 12,
  H_BACKEND = 16,
  H_COUNT = 32,
  H_CRC = 36,
  H_TABLE = 40,
  H_TABLE_CRC = 48,
  H_RESERVED = 52,
};

typedef struct section {
  uint32_t kind, flags;
  uint64_t offset, size;
  uint32_t crc, index;
} section_t;

static const char *section_kind_name(uint32_t kind) {
  switch (kind) {
    case SECTION_METADATA: return "METADATA";
    case SECTION_SPIRV: return "SPIRV";
    case SECTION_STRINGS: return "STRINGS";
  }
  return "UNKNOWN";
}

static const char *buffer_kind_names[] = {"activations", "weight", "input", "output", "state"};
#define NUM_BUFFER_KINDS ((int)(sizeof buffer_kind_names / sizeof buffer_kind_names[0]))

static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const unsigned char *p) {
  return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}
static uint64_t align_up(uint64_t v) { return (v + NPUBIN_ALIGN - 1) & ~(uint64_t)(NPUBIN_ALIGN - 1); }

/* ---- metadata: writing ---------------------------------------------------------- */

static cJSON *json_u64(uint64_t v) {
  if ((double)v < JSON_EXACT_MAX) return cJSON_CreateNumber((double)v);
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRIu64, v);
  return cJSON_CreateString(buf);
}
static cJSON *json_i64(int64_t v) {
  if (v > -(int64_t)JSON_EXACT_MAX && v < (int64_t)JSON_EXACT_MAX)
    return cJSON_CreateNumber((double)v);
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRId64, v);
  return cJSON_CreateString(buf);
}
static cJSON *json_str_or_null(const char *s) {
  return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* Adds `item` to `obj` (or to an array when key is NULL); false if either
 * the item or the add failed. */
static bool add(cJSON *obj, const char *key, cJSON *item) {
  if (!item) return false;
  if (key ? !cJSON_AddItemToObject(obj, key, item) : !cJSON_AddItemToArray(obj, item)) {
    cJSON_Delete(item);
    return false;
  }
  return true;
}

static cJSON *attr_value_json(const npu_attr_value_t *v, int depth) {
  if (depth > ATTR_MAX_DEPTH) return NULL;
  if (v->kind == NPU_ATTR_NULL) return cJSON_CreateNull();
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  bool ok = true;
  switch (v->kind) {
    case NPU_ATTR_NULL: break;
    case NPU_ATTR_BOOL: ok = add(o, "bool", cJSON_CreateBool(v->u.b)); break;
    case NPU_ATTR_INT: ok = add(o, "int", json_i64(v->u.i)); break;
    case NPU_ATTR_FLOAT: {
      double f = v->u.f;
      cJSON *item;
      if (isnan(f)) item = cJSON_CreateString(signbit(f) ? "-nan" : "nan");
      else if (isinf(f)) item = cJSON_CreateString(f < 0 ? "-inf" : "inf");
      else if (f == 0 && signbit(f)) item = cJSON_CreateString("-0.0");
      else item = cJSON_CreateNumber(f);
      ok = add(o, "float", item);
      break;
    }
    case NPU_ATTR_STRING: ok = add(o, "string", cJSON_CreateString(v->u.s ? v->u.s : "")); break;
    case NPU_ATTR_DTYPE: ok = add(o, "dtype", cJSON_CreateString(npu_dtype_name(v->u.dtype))); break;
    case NPU_ATTR_LIST: {
      cJSON *arr = cJSON_CreateArray();
      ok = add(o, "list", arr);
      for (int32_t i = 0; ok && i < v->u.list.count; i++)
        ok = add(arr, NULL, attr_value_json(&v->u.list.items[i], depth + 1));
      break;
    }
  }
  if (!ok) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

static cJSON *int_array(const int32_t *v, int32_t n) {
  cJSON *a = cJSON_CreateArray();
  for (int32_t i = 0; a && i < n; i++)
    if (!add(a, NULL, cJSON_CreateNumber(v[i]))) {
      cJSON_Delete(a);
      return NULL;
    }
  return a;
}
static cJSON *uint_array(const uint32_t *v, int32_t n) {
  cJSON *a = cJSON_CreateArray();
  for (int32_t i = 0; a && i < n; i++)
    if (!add(a, NULL, cJSON_CreateNumber(v[i]))) {
      cJSON_Delete(a);
      return NULL;
    }
  return a;
}

/* kernel_section[k]: the section table index of kernel k's SPIR-V, or -1. */
static cJSON *metadata_json(const npu_program_t *p, const int32_t *kernel_section) {
  cJSON *root = cJSON_CreateObject();
  if (!root) return NULL;
  bool ok = add(root, "format", cJSON_CreateString("npubin")) &&
            add(root, "format_version", cJSON_CreateNumber(NPUBIN_FORMAT_VERSION)) &&
            add(root, "kernel_abi", cJSON_CreateNumber(NPUBIN_KERNEL_ABI)) &&
            add(root, "model_name", json_str_or_null(npu_program_model_name(p))) &&
            add(root, "backend", cJSON_CreateString(npu_program_backend(p)));
  cJSON *arr = ok ? cJSON_CreateArray() : NULL;
  ok = ok && add(root, "buffers", arr);
  for (int32_t i = 0; ok && i < npu_program_buffer_count(p); i++) {
    const npu_program_buffer_t *b = npu_program_buffer(p, i);
    cJSON *o = cJSON_CreateObject();
    ok = add(arr, NULL, o) && add(o, "name", json_str_or_null(b->name)) &&
         add(o, "kind", cJSON_CreateString(buffer_kind_names[b->kind])) &&
         add(o, "size", json_u64(b->size));
  }
  arr = ok ? cJSON_CreateArray() : NULL;
  ok = ok && add(root, "tensors", arr);
  for (int32_t i = 0; ok && i < npu_program_tensor_count(p); i++) {
    const npu_program_tensor_t *t = npu_program_tensor(p, i);
    cJSON *o = cJSON_CreateObject();
    cJSON *shape = cJSON_CreateArray();
    ok = add(arr, NULL, o) && add(o, "name", cJSON_CreateString(t->name)) &&
         add(o, "dtype", cJSON_CreateString(npu_dtype_name(t->dtype))) && add(o, "shape", shape);
    for (int32_t d = 0; ok && d < t->shape.rank; d++) ok = add(shape, NULL, json_i64(t->shape.dims[d]));
    ok = ok && add(o, "buffer", cJSON_CreateNumber(t->buffer)) &&
         add(o, "offset", json_u64(t->offset)) && add(o, "size", json_u64(t->size));
  }
  int32_t n = 0;
  const int32_t *io = npu_program_inputs(p, &n);
  ok = ok && add(root, "inputs", int_array(io, n));
  io = npu_program_outputs(p, &n);
  ok = ok && add(root, "outputs", int_array(io, n));
  arr = ok ? cJSON_CreateArray() : NULL;
  ok = ok && add(root, "weights", arr);
  for (int32_t i = 0; ok && i < npu_program_weight_count(p); i++) {
    const npu_program_weight_t *w = npu_program_weight(p, i);
    cJSON *o = cJSON_CreateObject();
    cJSON *src = cJSON_CreateArray();
    cJSON *attrs = NULL;
    ok = add(arr, NULL, o) && add(o, "tensor", cJSON_CreateNumber(w->tensor)) &&
         add(o, "key", json_str_or_null(w->key)) &&
         add(o, "transform", json_str_or_null(w->transform)) && add(o, "sources", src);
    for (int32_t j = 0; ok && j < w->num_sources; j++)
      ok = add(src, NULL, cJSON_CreateString(w->sources[j]));
    if (ok) attrs = cJSON_CreateArray();
    ok = ok && add(o, "attrs", attrs);
    for (int32_t j = 0; ok && j < w->num_attrs; j++) {
      cJSON *a = cJSON_CreateObject();
      ok = add(attrs, NULL, a) && add(a, "name", cJSON_CreateString(w->attrs[j].name)) &&
           add(a, "value", attr_value_json(&w->attrs[j].value, 0));
    }
    ok = ok && add(o, "checkpoint_dtype",
                   w->checkpoint_dtype == NPU_DTYPE_INVALID
                       ? cJSON_CreateNull()
                       : cJSON_CreateString(npu_dtype_name(w->checkpoint_dtype)));
  }
  arr = ok ? cJSON_CreateArray() : NULL;
  ok = ok && add(root, "kernels", arr);
  for (int32_t i = 0; ok && i < npu_program_kernel_count(p); i++) {
    const npu_program_kernel_t *k = npu_program_kernel(p, i);
    cJSON *o = cJSON_CreateObject();
    ok = add(arr, NULL, o) && add(o, "name", cJSON_CreateString(k->name)) &&
         add(o, "num_bindings", cJSON_CreateNumber(k->num_bindings)) &&
         add(o, "push_words", cJSON_CreateNumber(k->push_words)) &&
         add(o, "spirv_section", cJSON_CreateNumber(kernel_section[i]));
  }
  arr = ok ? cJSON_CreateArray() : NULL;
  ok = ok && add(root, "dispatches", arr);
  for (int32_t i = 0; ok && i < npu_program_dispatch_count(p); i++) {
    const npu_program_dispatch_t *d = npu_program_dispatch(p, i);
    cJSON *o = cJSON_CreateObject();
    cJSON *spec = NULL;
    ok = add(arr, NULL, o) && add(o, "kernel", cJSON_CreateNumber(d->kernel)) &&
         add(o, "node", json_str_or_null(d->node)) &&
         add(o, "groups", uint_array(d->groups, 3)) &&
         add(o, "bindings", int_array(d->bindings, d->num_bindings)) &&
         add(o, "push", uint_array(d->push, d->num_push));
    if (ok) spec = cJSON_CreateArray();
    ok = ok && add(o, "spec", spec);
    for (int32_t j = 0; ok && j < d->num_spec; j++) {
      uint32_t pair[2] = {d->spec[j].id, d->spec[j].value};
      ok = add(spec, NULL, uint_array(pair, 2));
    }
  }
  if (!ok) {
    cJSON_Delete(root);
    return NULL;
  }
  return root;
}

/* Serializes p into one malloc'd image; *sections gets the table (malloc'd). */
static npu_status_t serialize(const npu_program_t *p, unsigned char **out_data, size_t *out_size,
                              section_t **out_sections, uint32_t *out_count) {
  *out_data = NULL;
  *out_sections = NULL;
  NPU_RETURN_IF_ERROR(npu_program_validate(p));
  int32_t nk = npu_program_kernel_count(p);
  int32_t *ksec = calloc((size_t)nk + 1, sizeof *ksec);
  section_t *sec = calloc((size_t)nk + 1, sizeof *sec);
  if (!ksec || !sec) {
    free(ksec);
    free(sec);
    return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  }
  uint32_t count = 1;
  for (int32_t k = 0; k < nk; k++) {
    const npu_program_kernel_t *kr = npu_program_kernel(p, k);
    ksec[k] = kr->spirv_words ? (int32_t)count++ : -1;
  }
  cJSON *root = metadata_json(p, ksec);
  char *json = root ? cJSON_PrintUnformatted(root) : NULL;
  cJSON_Delete(root);
  if (!json) {
    free(ksec);
    free(sec);
    return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory while writing metadata");
  }
  uint64_t pos = align_up(NPUBIN_HEADER_SIZE + (uint64_t)NPUBIN_ENTRY_SIZE * count);
  sec[0] = (section_t){.kind = SECTION_METADATA, .offset = pos, .size = strlen(json)};
  pos = align_up(pos + sec[0].size);
  for (int32_t k = 0; k < nk; k++) {
    if (ksec[k] < 0) continue;
    section_t *s = &sec[ksec[k]];
    *s = (section_t){.kind = SECTION_SPIRV, .offset = pos,
                     .size = npu_program_kernel(p, k)->spirv_words * 4, .index = (uint32_t)k};
    pos = align_up(pos + s->size);
  }
  uint64_t total = sec[count - 1].offset + sec[count - 1].size;
  unsigned char *img = total <= SIZE_MAX ? calloc(1, (size_t)total) : NULL;
  if (!img) {
    free(json);
    free(ksec);
    free(sec);
    return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory (image of %" PRIu64 " bytes)", total);
  }
  memcpy(img + sec[0].offset, json, (size_t)sec[0].size);
  free(json);
  for (int32_t k = 0; k < nk; k++) {
    if (ksec[k] < 0) continue;
    const npu_program_kernel_t *kr = npu_program_kernel(p, k);
    unsigned char *dst = img + sec[ksec[k]].offset;
    for (uint64_t w = 0; w < kr->spirv_words; w++) put32(dst + 4 * w, kr->spirv[w]);
  }
  free(ksec);
  for (uint32_t i = 0; i < count; i++) {
    sec[i].crc = npu_crc32(0, img + sec[i].offset, (size_t)sec[i].size);
    unsigned char *e = img + NPUBIN_HEADER_SIZE + (size_t)NPUBIN_ENTRY_SIZE * i;
    put32(e, sec[i].kind);
    put32(e + 4, sec[i].flags);
    put64(e + 8, sec[i].offset);
    put64(e + 16, sec[i].size);
    put32(e + 24, sec[i].crc);
    put32(e + 28, sec[i].index);
  }
  memcpy(img + H_MAGIC, NPUBIN_MAGIC, 8);
  put32(img + H_VERSION, NPUBIN_FORMAT_VERSION);
  put32(img + H_ABI, NPUBIN_KERNEL_ABI);
  strncpy((char *)img + H_BACKEND, npu_program_backend(p), NPUBIN_BACKEND_LEN - 1);
  put32(img + H_COUNT, count);
  put64(img + H_TABLE, NPUBIN_HEADER_SIZE);
  put32(img + H_TABLE_CRC, npu_crc32(0, img + NPUBIN_HEADER_SIZE, (size_t)NPUBIN_ENTRY_SIZE * count));
  put32(img + H_CRC, npu_crc32(0, img, NPUBIN_HEADER_SIZE));
  *out_data = img;
  *out_size = (size_t)total;
  *out_sections = sec;
  *out_count = count;
  return NULL;
}

npu_status_t npu_program_write_npubin(const npu_program_t *p, const char *path) {
  if (!p || !path) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "NULL argument");
  unsigned char *img;
  size_t size;
  section_t *sec;
  uint32_t count;
  npu_status_t s = serialize(p, &img, &size, &sec, &count);
  if (s) return npu_status_annotate(s, path, "cannot write .npubin");
  free(sec);
  FILE *f = fopen(path, "wb");
  if (!f) {
    int e = errno;
    free(img);
    return npu_error_at(NPU_STATUS_IO_ERROR, path, "cannot open for writing: %s", strerror(e));
  }
  bool ok = fwrite(img, 1, size, f) == size;
  int e = errno;
  if (fclose(f) != 0 && ok) {
    ok = false;
    e = errno;
  }
  free(img);
  if (!ok) {
    remove(path);
    return npu_error_at(NPU_STATUS_IO_ERROR, path, "write failed: %s", strerror(e));
  }
  return NULL;
}

/* ---- metadata: reading ------------------------------------------------------------ */

typedef struct reader {
  const char *origin;
  npu_arena_t scratch; /* temporary arrays handed to the builder, which copies */
} reader_t;

static npu_status_t jerr(const reader_t *r, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static npu_status_t jerr(const reader_t *r, const char *path, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return npu_error_at(NPU_STATUS_PARSE_ERROR, r->origin, "metadata: %s: %s", path, msg);
}

/* Key paths for error messages; a path longer than the buffer is cut, which
 * only shortens a message. */
static void join(char *buf, size_t n, const char *parent, const char *key) {
  if (snprintf(buf, n, "%s%s%s", parent, parent[0] ? "." : "", key) < 0) buf[0] = '\0';
}
static void joini(char *buf, size_t n, const char *parent, int i) {
  if (snprintf(buf, n, "%s[%d]", parent, i) < 0) buf[0] = '\0';
}

#define PATH_MAX_LEN 256

/* An integer: a JSON number with an exact integral value below 2^53 in
 * magnitude, or a decimal string. */
static npu_status_t j_int(const reader_t *r, const cJSON *it, const char *path, int64_t min,
                          int64_t max, int64_t *out) {
  int64_t v = 0;
  bool ok = false;
  if (cJSON_IsNumber(it)) {
    double d = it->valuedouble;
    if (d == floor(d) && fabs(d) < JSON_EXACT_MAX) {
      v = (int64_t)d;
      ok = true;
    }
  } else if (cJSON_IsString(it) && it->valuestring[0]) {
    const char *s = it->valuestring;
    char *end;
    errno = 0;
    if (min >= 0) {
      if (s[0] != '-' && s[0] != '+' && s[0] != ' ') {
        unsigned long long u = strtoull(s, &end, 10);
        if (!errno && !*end && u <= (unsigned long long)INT64_MAX) {
          v = (int64_t)u;
          ok = true;
        }
      }
    } else if (s[0] != ' ') {
      long long l = strtoll(s, &end, 10);
      if (!errno && !*end) {
        v = l;
        ok = true;
      }
    }
  }
  if (!ok || v < min || v > max)
    return jerr(r, path, "expected an integer in [%" PRId64 ", %" PRId64 "]", min, max);
  *out = v;
  return NULL;
}

/* A uint64 (sizes, offsets): like j_int, up to UINT64_MAX via a string. */
static npu_status_t j_u64(const reader_t *r, const cJSON *it, const char *path, uint64_t *out) {
  if (cJSON_IsString(it) && it->valuestring[0] >= '0' && it->valuestring[0] <= '9') {
    char *end;
    errno = 0;
    unsigned long long u = strtoull(it->valuestring, &end, 10);
    if (!errno && !*end) {
      *out = u;
      return NULL;
    }
  } else if (cJSON_IsNumber(it)) {
    double d = it->valuedouble;
    if (d == floor(d) && d >= 0 && d < JSON_EXACT_MAX) {
      *out = (uint64_t)d;
      return NULL;
    }
  }
  return jerr(r, path, "expected an unsigned 64-bit integer");
}

static npu_status_t member(const reader_t *r, const cJSON *obj, const char *parent,
                           const char *key, const cJSON **out, char *path) {
  join(path, PATH_MAX_LEN, parent, key);
  *out = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!*out) return jerr(r, path, "missing");
  return NULL;
}

static npu_status_t f_int(const reader_t *r, const cJSON *obj, const char *parent,
                          const char *key, int64_t min, int64_t max, int64_t *out) {
  char path[PATH_MAX_LEN];
  const cJSON *it;
  NPU_RETURN_IF_ERROR(member(r, obj, parent, key, &it, path));
  return j_int(r, it, path, min, max, out);
}

static npu_status_t f_u64(const reader_t *r, const cJSON *obj, const char *parent,
                          const char *key, uint64_t *out) {
  char path[PATH_MAX_LEN];
  const cJSON *it;
  NPU_RETURN_IF_ERROR(member(r, obj, parent, key, &it, path));
  return j_u64(r, it, path, out);
}

/* A string; with nullable, JSON null gives NULL. */
static npu_status_t f_str(const reader_t *r, const cJSON *obj, const char *parent,
                          const char *key, bool nullable, const char **out) {
  char path[PATH_MAX_LEN];
  const cJSON *it;
  NPU_RETURN_IF_ERROR(member(r, obj, parent, key, &it, path));
  if (nullable && cJSON_IsNull(it)) {
    *out = NULL;
    return NULL;
  }
  if (!cJSON_IsString(it)) return jerr(r, path, nullable ? "expected a string or null" : "expected a string");
  *out = it->valuestring;
  return NULL;
}

static npu_status_t f_dtype(const reader_t *r, const cJSON *obj, const char *parent,
                            const char *key, bool nullable, npu_dtype_t *out) {
  char path[PATH_MAX_LEN];
  const char *s;
  NPU_RETURN_IF_ERROR(f_str(r, obj, parent, key, nullable, &s));
  *out = NPU_DTYPE_INVALID;
  if (!s) return NULL;
  join(path, sizeof path, parent, key);
  if (!npu_dtype_parse(s, out) || npu_dtype_size(*out) == 0)
    return jerr(r, path, "unknown dtype \"%s\"", s);
  return NULL;
}

/* An array of at most max items (max < 0: any). */
static npu_status_t f_array(const reader_t *r, const cJSON *obj, const char *parent,
                            const char *key, int max, const cJSON **out, int *count) {
  char path[PATH_MAX_LEN];
  NPU_RETURN_IF_ERROR(member(r, obj, parent, key, out, path));
  if (!cJSON_IsArray(*out)) return jerr(r, path, "expected an array");
  *count = cJSON_GetArraySize(*out);
  if (max >= 0 && *count > max) return jerr(r, path, "%d items, at most %d", *count, max);
  return NULL;
}

static npu_status_t f_object(const reader_t *r, const cJSON *it, const char *path) {
  return cJSON_IsObject(it) ? NULL : jerr(r, path, "expected an object");
}

/* Integers of an array, each in [min, max]. */
static npu_status_t f_ints(const reader_t *r, const cJSON *obj, const char *parent,
                           const char *key, int max_count, int64_t min, int64_t max,
                           int64_t *out, int *count) {
  const cJSON *arr;
  char apath[PATH_MAX_LEN], path[PATH_MAX_LEN];
  NPU_RETURN_IF_ERROR(f_array(r, obj, parent, key, max_count, &arr, count));
  join(apath, sizeof apath, parent, key);
  int i = 0;
  for (const cJSON *it = arr->child; it; it = it->next, i++) {
    joini(path, sizeof path, apath, i);
    NPU_RETURN_IF_ERROR(j_int(r, it, path, min, max, &out[i]));
  }
  return NULL;
}

static npu_status_t parse_attr_value(reader_t *r, const cJSON *it, const char *path, int depth,
                                     npu_attr_value_t *out) {
  memset(out, 0, sizeof *out);
  if (depth > ATTR_MAX_DEPTH) return jerr(r, path, "attribute lists nested too deeply");
  if (cJSON_IsNull(it)) {
    out->kind = NPU_ATTR_NULL;
    return NULL;
  }
  if (!cJSON_IsObject(it) || !it->child || it->child->next)
    return jerr(r, path, "expected null or an object with one key (bool, int, float, string, dtype, list)");
  const cJSON *v = it->child;
  char sub[PATH_MAX_LEN];
  join(sub, sizeof sub, path, v->string);
  if (strcmp(v->string, "bool") == 0) {
    if (!cJSON_IsBool(v)) return jerr(r, sub, "expected true or false");
    out->kind = NPU_ATTR_BOOL;
    out->u.b = cJSON_IsTrue(v);
  } else if (strcmp(v->string, "int") == 0) {
    out->kind = NPU_ATTR_INT;
    return j_int(r, v, sub, INT64_MIN, INT64_MAX, &out->u.i);
  } else if (strcmp(v->string, "float") == 0) {
    out->kind = NPU_ATTR_FLOAT;
    if (cJSON_IsNumber(v)) out->u.f = v->valuedouble;
    else if (cJSON_IsString(v) && strcmp(v->valuestring, "inf") == 0) out->u.f = INFINITY;
    else if (cJSON_IsString(v) && strcmp(v->valuestring, "-inf") == 0) out->u.f = -INFINITY;
    else if (cJSON_IsString(v) && strcmp(v->valuestring, "nan") == 0) out->u.f = (double)NAN;
    else if (cJSON_IsString(v) && strcmp(v->valuestring, "-nan") == 0) out->u.f = -(double)NAN;
    else if (cJSON_IsString(v) && strcmp(v->valuestring, "-0.0") == 0) out->u.f = -0.0;
    else return jerr(r, sub, "expected a number or one of \"inf\", \"-inf\", \"nan\", \"-nan\", \"-0.0\"");
  } else if (strcmp(v->string, "string") == 0) {
    if (!cJSON_IsString(v)) return jerr(r, sub, "expected a string");
    out->kind = NPU_ATTR_STRING;
    out->u.s = v->valuestring;
  } else if (strcmp(v->string, "dtype") == 0) {
    if (!cJSON_IsString(v) || !npu_dtype_parse(v->valuestring, &out->u.dtype) ||
        npu_dtype_size(out->u.dtype) == 0)
      return jerr(r, sub, "expected a dtype name");
    out->kind = NPU_ATTR_DTYPE;
  } else if (strcmp(v->string, "list") == 0) {
    if (!cJSON_IsArray(v)) return jerr(r, sub, "expected an array");
    int n = cJSON_GetArraySize(v);
    npu_attr_value_t *items = NULL;
    if (n > 0) {
      items = npu_arena_calloc(&r->scratch, (size_t)n, sizeof *items);
      if (!items) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
      char ep[PATH_MAX_LEN];
      joini(ep, sizeof ep, sub, i);
      NPU_RETURN_IF_ERROR(parse_attr_value(r, e, ep, depth + 1, &items[i]));
    }
    out->kind = NPU_ATTR_LIST;
    out->u.list.items = items;
    out->u.list.count = n;
  } else {
    return jerr(r, sub, "unknown attribute type");
  }
  return NULL;
}

static npu_status_t parse_weight(reader_t *r, const cJSON *o, const char *path,
                                 npu_program_weight_t *w) {
  int64_t v;
  memset(w, 0, sizeof *w);
  NPU_RETURN_IF_ERROR(f_object(r, o, path));
  NPU_RETURN_IF_ERROR(f_int(r, o, path, "tensor", 0, INT32_MAX, &v));
  w->tensor = (int32_t)v;
  NPU_RETURN_IF_ERROR(f_str(r, o, path, "key", true, &w->key));
  NPU_RETURN_IF_ERROR(f_str(r, o, path, "transform", true, &w->transform));
  NPU_RETURN_IF_ERROR(f_dtype(r, o, path, "checkpoint_dtype", true, &w->checkpoint_dtype));
  const cJSON *arr;
  int n;
  char apath[PATH_MAX_LEN], ipath[PATH_MAX_LEN];
  NPU_RETURN_IF_ERROR(f_array(r, o, path, "sources", -1, &arr, &n));
  join(apath, sizeof apath, path, "sources");
  const char **src = n ? npu_arena_calloc(&r->scratch, (size_t)n, sizeof *src) : NULL;
  if (n && !src) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  int i = 0;
  for (const cJSON *it = arr->child; it; it = it->next, i++) {
    joini(ipath, sizeof ipath, apath, i);
    if (!cJSON_IsString(it)) return jerr(r, ipath, "expected a string");
    src[i] = it->valuestring;
  }
  w->sources = src;
  w->num_sources = n;
  NPU_RETURN_IF_ERROR(f_array(r, o, path, "attrs", -1, &arr, &n));
  join(apath, sizeof apath, path, "attrs");
  npu_attr_t *attrs = n ? npu_arena_calloc(&r->scratch, (size_t)n, sizeof *attrs) : NULL;
  if (n && !attrs) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  i = 0;
  for (const cJSON *it = arr->child; it; it = it->next, i++) {
    joini(ipath, sizeof ipath, apath, i);
    NPU_RETURN_IF_ERROR(f_object(r, it, ipath));
    NPU_RETURN_IF_ERROR(f_str(r, it, ipath, "name", false, &attrs[i].name));
    const cJSON *val;
    char vpath[PATH_MAX_LEN];
    NPU_RETURN_IF_ERROR(member(r, it, ipath, "value", &val, vpath));
    NPU_RETURN_IF_ERROR(parse_attr_value(r, val, vpath, 0, &attrs[i].value));
  }
  w->attrs = attrs;
  w->num_attrs = n;
  return NULL;
}

static npu_status_t parse_dispatch(reader_t *r, const cJSON *o, const char *path,
                                   npu_program_dispatch_t *d) {
  int64_t v, vals[NPU_PROGRAM_MAX_PUSH_WORDS];
  int n;
  memset(d, 0, sizeof *d);
  NPU_RETURN_IF_ERROR(f_object(r, o, path));
  NPU_RETURN_IF_ERROR(f_int(r, o, path, "kernel", 0, INT32_MAX, &v));
  d->kernel = (int32_t)v;
  NPU_RETURN_IF_ERROR(f_str(r, o, path, "node", true, &d->node));
  NPU_RETURN_IF_ERROR(f_ints(r, o, path, "groups", 3, 1, UINT32_MAX, vals, &n));
  if (n != 3) {
    char gp[PATH_MAX_LEN];
    join(gp, sizeof gp, path, "groups");
    return jerr(r, gp, "expected 3 workgroup counts, got %d", n);
  }
  for (int i = 0; i < 3; i++) d->groups[i] = (uint32_t)vals[i];
  NPU_RETURN_IF_ERROR(f_ints(r, o, path, "bindings", NPU_PROGRAM_MAX_BINDINGS, 0, INT32_MAX,
                             vals, &n));
  for (int i = 0; i < n; i++) d->bindings[i] = (int32_t)vals[i];
  d->num_bindings = n;
  NPU_RETURN_IF_ERROR(f_ints(r, o, path, "push", NPU_PROGRAM_MAX_PUSH_WORDS, 0, UINT32_MAX,
                             vals, &n));
  for (int i = 0; i < n; i++) d->push[i] = (uint32_t)vals[i];
  d->num_push = n;
  const cJSON *arr;
  char apath[PATH_MAX_LEN], ipath[PATH_MAX_LEN], epath[PATH_MAX_LEN];
  NPU_RETURN_IF_ERROR(f_array(r, o, path, "spec", NPU_PROGRAM_MAX_SPEC, &arr, &n));
  join(apath, sizeof apath, path, "spec");
  int i = 0;
  for (const cJSON *it = arr->child; it; it = it->next, i++) {
    joini(ipath, sizeof ipath, apath, i);
    if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 2)
      return jerr(r, ipath, "expected an [id, value] pair");
    int64_t pair[2];
    int j = 0;
    for (const cJSON *e = it->child; e; e = e->next, j++) {
      joini(epath, sizeof epath, ipath, j);
      NPU_RETURN_IF_ERROR(j_int(r, e, epath, 0, UINT32_MAX, &pair[j]));
    }
    d->spec[i].id = (uint32_t)pair[0];
    d->spec[i].value = (uint32_t)pair[1];
  }
  d->num_spec = n;
  return NULL;
}

static npu_status_t parse_metadata(reader_t *r, const cJSON *root, const char *header_backend,
                                   const unsigned char *data, const section_t *sec,
                                   uint32_t nsec, npu_program_builder_t **bp) {
  char path[PATH_MAX_LEN];
  const char *backend, *model;
  int64_t v;
  const cJSON *arr;
  int n;
  if (!cJSON_IsObject(root)) return jerr(r, "(root)", "expected an object");
  NPU_RETURN_IF_ERROR(f_int(r, root, "", "format_version", 0, UINT32_MAX, &v));
  if (v != NPUBIN_FORMAT_VERSION)
    return jerr(r, "format_version", "%" PRId64 " disagrees with the header's %u", v,
                NPUBIN_FORMAT_VERSION);
  NPU_RETURN_IF_ERROR(f_str(r, root, "", "backend", false, &backend));
  if (strcmp(backend, header_backend) != 0)
    return jerr(r, "backend", "\"%s\" disagrees with the header's \"%s\"", backend,
                header_backend);
  NPU_RETURN_IF_ERROR(f_str(r, root, "", "model_name", true, &model));
  NPU_RETURN_IF_ERROR(npu_program_builder_create(backend, model, bp));
  npu_program_builder_t *b = *bp;

  NPU_RETURN_IF_ERROR(f_array(r, root, "", "buffers", INT32_MAX, &arr, &n));
  int i = 0;
  for (const cJSON *o = arr->child; o; o = o->next, i++) {
    npu_program_buffer_t buf = {0};
    const char *kind;
    joini(path, sizeof path, "buffers", i);
    NPU_RETURN_IF_ERROR(f_object(r, o, path));
    NPU_RETURN_IF_ERROR(f_str(r, o, path, "name", true, &buf.name));
    NPU_RETURN_IF_ERROR(f_str(r, o, path, "kind", false, &kind));
    int k = 0;
    while (k < NUM_BUFFER_KINDS && strcmp(kind, buffer_kind_names[k]) != 0) k++;
    if (k == NUM_BUFFER_KINDS) {
      char kp[PATH_MAX_LEN];
      join(kp, sizeof kp, path, "kind");
      return jerr(r, kp, "unknown buffer kind \"%s\"", kind);
    }
    buf.kind = (npu_buffer_kind_t)k;
    NPU_RETURN_IF_ERROR(f_u64(r, o, path, "size", &buf.size));
    NPU_RETURN_IF_ERROR(npu_program_add_buffer(b, &buf, NULL));
  }

  NPU_RETURN_IF_ERROR(f_array(r, root, "", "tensors", INT32_MAX, &arr, &n));
  i = 0;
  for (const cJSON *o = arr->child; o; o = o->next, i++) {
    npu_program_tensor_t t = {0};
    joini(path, sizeof path, "tensors", i);
    NPU_RETURN_IF_ERROR(f_object(r, o, path));
    NPU_RETURN_IF_ERROR(f_str(r, o, path, "name", false, &t.name));
    NPU_RETURN_IF_ERROR(f_dtype(r, o, path, "dtype", false, &t.dtype));
    int rank;
    NPU_RETURN_IF_ERROR(f_ints(r, o, path, "shape", NPU_MAX_RANK, 0, INT64_MAX, t.shape.dims, &rank));
    t.shape.rank = rank;
    NPU_RETURN_IF_ERROR(f_int(r, o, path, "buffer", 0, INT32_MAX, &v));
    t.buffer = (int32_t)v;
    NPU_RETURN_IF_ERROR(f_u64(r, o, path, "offset", &t.offset));
    NPU_RETURN_IF_ERROR(f_u64(r, o, path, "size", &t.size));
    NPU_RETURN_IF_ERROR(npu_program_add_tensor(b, &t, NULL));
  }

  for (int which = 0; which < 2; which++) {
    const char *key = which ? "outputs" : "inputs";
    NPU_RETURN_IF_ERROR(f_array(r, root, "", key, INT32_MAX, &arr, &n));
    i = 0;
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
      joini(path, sizeof path, key, i);
      NPU_RETURN_IF_ERROR(j_int(r, it, path, 0, INT32_MAX, &v));
      NPU_RETURN_IF_ERROR(which ? npu_program_add_output(b, (int32_t)v)
                                : npu_program_add_input(b, (int32_t)v));
    }
  }

  NPU_RETURN_IF_ERROR(f_array(r, root, "", "weights", INT32_MAX, &arr, &n));
  i = 0;
  for (const cJSON *o = arr->child; o; o = o->next, i++) {
    npu_program_weight_t w;
    joini(path, sizeof path, "weights", i);
    NPU_RETURN_IF_ERROR(parse_weight(r, o, path, &w));
    NPU_RETURN_IF_ERROR(npu_program_add_weight(b, &w));
  }

  NPU_RETURN_IF_ERROR(f_array(r, root, "", "kernels", INT32_MAX, &arr, &n));
  i = 0;
  for (const cJSON *o = arr->child; o; o = o->next, i++) {
    npu_program_kernel_t k = {0};
    joini(path, sizeof path, "kernels", i);
    NPU_RETURN_IF_ERROR(f_object(r, o, path));
    NPU_RETURN_IF_ERROR(f_str(r, o, path, "name", false, &k.name));
    NPU_RETURN_IF_ERROR(f_int(r, o, path, "num_bindings", 0, NPU_PROGRAM_MAX_BINDINGS, &v));
    k.num_bindings = (uint32_t)v;
    NPU_RETURN_IF_ERROR(f_int(r, o, path, "push_words", 0, NPU_PROGRAM_MAX_PUSH_WORDS, &v));
    k.push_words = (uint32_t)v;
    NPU_RETURN_IF_ERROR(f_int(r, o, path, "spirv_section", -1, (int64_t)nsec - 1, &v));
    if (v >= 0) {
      const section_t *s = &sec[v];
      char sp[PATH_MAX_LEN];
      join(sp, sizeof sp, path, "spirv_section");
      if (s->kind != SECTION_SPIRV)
        return jerr(r, sp, "section %" PRId64 " is %s, not SPIRV", v, section_kind_name(s->kind));
      if (s->index != (uint32_t)i)
        return jerr(r, sp, "section %" PRId64 " belongs to kernel %u, not %d", v, s->index, i);
      uint32_t *words = npu_arena_alloc(&r->scratch, (size_t)s->size);
      if (!words) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
      for (uint64_t w = 0; w < s->size / 4; w++) words[w] = get32(data + s->offset + 4 * w);
      k.spirv = words;
      k.spirv_words = s->size / 4;
    }
    int32_t idx;
    NPU_RETURN_IF_ERROR(npu_program_add_kernel(b, &k, &idx));
    if (idx != i) return jerr(r, path, "duplicate kernel name \"%s\"", k.name);
  }

  NPU_RETURN_IF_ERROR(f_array(r, root, "", "dispatches", INT32_MAX, &arr, &n));
  i = 0;
  for (const cJSON *o = arr->child; o; o = o->next, i++) {
    npu_program_dispatch_t d;
    joini(path, sizeof path, "dispatches", i);
    NPU_RETURN_IF_ERROR(parse_dispatch(r, o, path, &d));
    NPU_RETURN_IF_ERROR(npu_program_add_dispatch(b, &d));
  }
  return NULL;
}

static npu_status_t perr(const char *origin, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static npu_status_t perr(const char *origin, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  npu_status_t s = npu_error_v(NPU_STATUS_PARSE_ERROR, origin, fmt, ap);
  va_end(ap);
  return s;
}

/* Checks the header and section table; fills *sec (malloc'd). */
static npu_status_t read_container(const unsigned char *d, size_t size, const char *origin,
                                   char backend[NPUBIN_BACKEND_LEN], section_t **out_sec,
                                   uint32_t *out_count, uint32_t *out_meta) {
  *out_sec = NULL;
  if (size < 8 || memcmp(d, NPUBIN_MAGIC, 8) != 0)
    return perr(origin, "not an .npubin file (bad magic)");
  if (size < NPUBIN_HEADER_SIZE)
    return perr(origin, "truncated .npubin header (%zu of %u bytes)", size, NPUBIN_HEADER_SIZE);
  uint32_t version = get32(d + H_VERSION);
  if (version > NPUBIN_FORMAT_VERSION)
    return npu_error_at(NPU_STATUS_UNSUPPORTED, origin,
                        ".npubin format version %u is newer than this reader supports (%u); "
                        "recompile the model or update npuc",
                        version, NPUBIN_FORMAT_VERSION);
  if (version == 0) return perr(origin, "invalid .npubin format version 0");
  unsigned char hdr[NPUBIN_HEADER_SIZE];
  memcpy(hdr, d, sizeof hdr);
  uint32_t stored = get32(hdr + H_CRC);
  put32(hdr + H_CRC, 0);
  uint32_t computed = npu_crc32(0, hdr, sizeof hdr);
  if (stored != computed)
    return perr(origin, "header CRC mismatch: stored 0x%08x, computed 0x%08x", stored, computed);
  uint32_t abi = get32(d + H_ABI);
  if (abi != NPUBIN_KERNEL_ABI)
    return npu_error_at(NPU_STATUS_ABI_MISMATCH, origin,
                        "kernel ABI %u, but this runtime implements kernel ABI %u", abi,
                        NPUBIN_KERNEL_ABI);
  memcpy(backend, d + H_BACKEND, NPUBIN_BACKEND_LEN);
  if (!memchr(backend, 0, NPUBIN_BACKEND_LEN) || !backend[0])
    return perr(origin, "header: backend name is empty or not NUL-terminated");
  for (unsigned i = (unsigned)strlen(backend); i < NPUBIN_BACKEND_LEN; i++)
    if (backend[i]) return perr(origin, "header: backend name is not NUL-padded");
  for (unsigned i = H_RESERVED; i < NPUBIN_HEADER_SIZE; i++)
    if (d[i]) return perr(origin, "header: reserved byte %u is not zero", i);
  uint32_t count = get32(d + H_COUNT);
  uint64_t table = get64(d + H_TABLE);
  if (table < NPUBIN_HEADER_SIZE || table % 8 != 0 || table > size)
    return perr(origin, "section table offset %" PRIu64 " is invalid (file is %zu bytes)", table,
                size);
  if (count == 0 || count > (size - table) / NPUBIN_ENTRY_SIZE)
    return perr(origin,
                "section table of %u entries at offset %" PRIu64 " does not fit in the file "
                "(%zu bytes)",
                count, table, size);
  uint64_t table_end = table + (uint64_t)count * NPUBIN_ENTRY_SIZE;
  uint32_t table_stored = get32(d + H_TABLE_CRC);
  uint32_t table_computed = npu_crc32(0, d + table, (size_t)count * NPUBIN_ENTRY_SIZE);
  if (table_stored != table_computed)
    return perr(origin, "section table CRC mismatch: stored 0x%08x, computed 0x%08x",
                table_stored, table_computed);
  section_t *sec = calloc(count, sizeof *sec);
  if (!sec) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  uint32_t meta = UINT32_MAX;
  npu_status_t s = NULL;
  for (uint32_t i = 0; i < count && !s; i++) {
    const unsigned char *e = d + table + (uint64_t)i * NPUBIN_ENTRY_SIZE;
    section_t *x = &sec[i];
    x->kind = get32(e);
    x->flags = get32(e + 4);
    x->offset = get64(e + 8);
    x->size = get64(e + 16);
    x->crc = get32(e + 24);
    x->index = get32(e + 28);
    const char *kn = section_kind_name(x->kind);
    if (x->kind < SECTION_METADATA || x->kind > SECTION_STRINGS)
      s = perr(origin, "section %u: unknown kind %u", i, x->kind);
    else if (x->flags != 0)
      s = perr(origin, "section %u (%s): unknown flags 0x%x", i, kn, x->flags);
    else if (x->offset % NPUBIN_ALIGN != 0)
      s = perr(origin, "section %u (%s): offset %" PRIu64 " is not %u-byte aligned", i, kn,
               x->offset, NPUBIN_ALIGN);
    else if (x->offset > size || x->size > size - x->offset)
      s = perr(origin,
               "section %u (%s): bytes [%" PRIu64 ", +%" PRIu64 ") extend past the end of the "
               "file (%zu bytes)",
               i, kn, x->offset, x->size, size);
    else if (x->size > 0 && x->offset < table_end && table < x->offset + x->size)
      s = perr(origin, "section %u (%s): overlaps the header or section table", i, kn);
    else if (x->size > 0 && x->offset < NPUBIN_HEADER_SIZE)
      s = perr(origin, "section %u (%s): overlaps the header", i, kn);
    if (s) break;
    uint32_t crc = npu_crc32(0, d + x->offset, (size_t)x->size);
    if (crc != x->crc) {
      s = perr(origin, "section %u (%s) CRC mismatch: stored 0x%08x, computed 0x%08x", i, kn,
               x->crc, crc);
    } else if (x->kind == SECTION_METADATA) {
      if (meta != UINT32_MAX) s = perr(origin, "section %u: a second METADATA section", i);
      meta = i;
    } else if (x->kind == SECTION_SPIRV) {
      if (x->size < 4 || x->size % 4 != 0)
        s = perr(origin, "section %u (SPIRV): size %" PRIu64 " is not a positive multiple of 4",
                 i, x->size);
      else if (get32(d + x->offset) != SPIRV_MAGIC)
        s = perr(origin, "section %u (SPIRV): bad SPIR-V magic 0x%08x", i, get32(d + x->offset));
    }
  }
  if (!s && meta == UINT32_MAX) s = perr(origin, "no METADATA section");
  if (s) {
    free(sec);
    return s;
  }
  *out_sec = sec;
  *out_count = count;
  *out_meta = meta;
  return NULL;
}

npu_status_t npu_program_read_npubin_buffer(const void *data, size_t size, const char *origin,
                                            npu_program_t **out) {
  if (!out) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "out is NULL");
  *out = NULL;
  if (!origin) origin = "<buffer>";
  if (!data && size) return npu_error_at(NPU_STATUS_INVALID_ARGUMENT, origin, "data is NULL");
  const unsigned char *d = data ? data : (const unsigned char *)"";
  char backend[NPUBIN_BACKEND_LEN];
  section_t *sec = NULL;
  uint32_t count = 0, meta = 0;
  NPU_RETURN_IF_ERROR(read_container(d, size, origin, backend, &sec, &count, &meta));
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts((const char *)d + sec[meta].offset,
                                          (size_t)sec[meta].size, &end, false);
  if (!root) {
    size_t at = end ? (size_t)(end - ((const char *)d + sec[meta].offset)) : 0;
    free(sec);
    return perr(origin, "section %u (METADATA): invalid JSON near byte %zu", meta, at);
  }
  reader_t r = {.origin = origin};
  npu_arena_init(&r.scratch);
  npu_program_builder_t *b = NULL;
  npu_status_t s = parse_metadata(&r, root, backend, d, sec, count, &b);
  if (!s) {
    s = npu_program_builder_finish(b, out);
    b = NULL;
    if (s) s = npu_status_annotate(s, origin, "invalid program");
  }
  npu_program_builder_destroy(b);
  npu_arena_release(&r.scratch);
  cJSON_Delete(root);
  free(sec);
  return s;
}

npu_status_t npu_program_read_npubin(const char *path, npu_program_t **out) {
  if (!out || !path) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "NULL argument");
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return npu_error_at(e == ENOENT ? NPU_STATUS_NOT_FOUND : NPU_STATUS_IO_ERROR, path,
                        "cannot open: %s", strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return npu_error_at(NPU_STATUS_IO_ERROR, path, "not a regular file");
  }
  size_t size = (size_t)st.st_size;
  if (size == 0) {
    close(fd);
    return npu_program_read_npubin_buffer("", 0, path, out);
  }
  void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map != MAP_FAILED) {
    close(fd);
    npu_status_t s = npu_program_read_npubin_buffer(map, size, path, out);
    munmap(map, size);
    return s;
  }
  /* No mmap (some filesystems): read it. */
  unsigned char *buf = malloc(size);
  if (!buf) {
    close(fd);
    return npu_error_at(NPU_STATUS_OUT_OF_MEMORY, path, "out of memory (%zu bytes)", size);
  }
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, buf + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  npu_status_t s = got == size ? npu_program_read_npubin_buffer(buf, size, path, out)
                               : npu_error_at(NPU_STATUS_IO_ERROR, path, "short read");
  free(buf);
  return s;
}

/* ---- dump ------------------------------------------------------------------------ */

static void dump_value(FILE *f, const npu_attr_value_t *v, int depth) {
  switch (v->kind) {
    case NPU_ATTR_NULL: fputs("None", f); break;
    case NPU_ATTR_BOOL: fputs(v->u.b ? "true" : "false", f); break;
    case NPU_ATTR_INT: fprintf(f, "%" PRId64, v->u.i); break;
    case NPU_ATTR_FLOAT: fprintf(f, "%.9g", v->u.f); break;
    case NPU_ATTR_STRING: fprintf(f, "\"%s\"", v->u.s); break;
    case NPU_ATTR_DTYPE: fputs(npu_dtype_name(v->u.dtype), f); break;
    case NPU_ATTR_LIST:
      fputc('[', f);
      for (int32_t i = 0; i < v->u.list.count && depth < ATTR_MAX_DEPTH; i++) {
        if (i) fputs(", ", f);
        dump_value(f, &v->u.list.items[i], depth + 1);
      }
      fputc(']', f);
      break;
  }
}

static const char *tname(const npu_program_t *p, int32_t i) {
  const npu_program_tensor_t *t = npu_program_tensor(p, i);
  return t ? t->name : "?";
}

npu_status_t npu_program_dump(const npu_program_t *p, FILE *f) {
  if (!p || !f) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "NULL argument");
  unsigned char *img;
  size_t size;
  section_t *sec;
  uint32_t count;
  NPU_RETURN_IF_ERROR(serialize(p, &img, &size, &sec, &count));
  free(img);
  const char *model = npu_program_model_name(p);
  fprintf(f, "npubin: format %u, kernel ABI %u, backend %s, model %s, %zu bytes\n",
          NPUBIN_FORMAT_VERSION, NPUBIN_KERNEL_ABI, npu_program_backend(p),
          model ? model : "(none)", size);
  fprintf(f, "sections (%u):\n", count);
  for (uint32_t i = 0; i < count; i++)
    fprintf(f, "  [%u] %-8s offset %" PRIu64 " size %" PRIu64 " crc32 0x%08x index %u\n", i,
            section_kind_name(sec[i].kind), sec[i].offset, sec[i].size, sec[i].crc,
            sec[i].index);
  free(sec);
  fprintf(f, "buffers (%d):\n", (int)npu_program_buffer_count(p));
  for (int32_t i = 0; i < npu_program_buffer_count(p); i++) {
    const npu_program_buffer_t *b = npu_program_buffer(p, i);
    fprintf(f, "  [%d] %-11s %" PRIu64 " bytes  %s\n", (int)i, buffer_kind_names[b->kind],
            b->size, b->name ? b->name : "");
  }
  fprintf(f, "tensors (%d):\n", (int)npu_program_tensor_count(p));
  for (int32_t i = 0; i < npu_program_tensor_count(p); i++) {
    const npu_program_tensor_t *t = npu_program_tensor(p, i);
    char shape[160];
    npu_shape_format(&t->shape, shape, sizeof shape);
    fprintf(f, "  [%d] %s %s%s buffer %d +%" PRIu64 " (%" PRIu64 " bytes)\n", (int)i, t->name,
            npu_dtype_name(t->dtype), shape, (int)t->buffer, t->offset, t->size);
  }
  int32_t n;
  const int32_t *io = npu_program_inputs(p, &n);
  fputs("inputs:", f);
  for (int32_t i = 0; i < n; i++) fprintf(f, " %s", tname(p, io[i]));
  fputs("\noutputs:", f);
  io = npu_program_outputs(p, &n);
  for (int32_t i = 0; i < n; i++) fprintf(f, " %s", tname(p, io[i]));
  fprintf(f, "\nweights (%d):\n", (int)npu_program_weight_count(p));
  for (int32_t i = 0; i < npu_program_weight_count(p); i++) {
    const npu_program_weight_t *w = npu_program_weight(p, i);
    fprintf(f, "  [%d] %s <-", (int)i, tname(p, w->tensor));
    if (w->key) fprintf(f, " key \"%s\"", w->key);
    if (w->transform) {
      fprintf(f, " %s(", w->transform);
      for (int32_t j = 0; j < w->num_sources; j++) fprintf(f, "%s%s", j ? ", " : "", w->sources[j]);
      fputc(')', f);
    }
    for (int32_t j = 0; j < w->num_attrs; j++) {
      fprintf(f, " %s=", w->attrs[j].name);
      dump_value(f, &w->attrs[j].value, 0);
    }
    if (w->checkpoint_dtype != NPU_DTYPE_INVALID)
      fprintf(f, " (checkpoint %s)", npu_dtype_name(w->checkpoint_dtype));
    fputc('\n', f);
  }
  fprintf(f, "kernels (%d):\n", (int)npu_program_kernel_count(p));
  for (int32_t i = 0; i < npu_program_kernel_count(p); i++) {
    const npu_program_kernel_t *k = npu_program_kernel(p, i);
    fprintf(f, "  [%d] %s bindings %u push %u spirv %" PRIu64 " words\n", (int)i, k->name,
            k->num_bindings, k->push_words, k->spirv_words);
  }
  fprintf(f, "dispatches (%d):\n", (int)npu_program_dispatch_count(p));
  for (int32_t i = 0; i < npu_program_dispatch_count(p); i++) {
    const npu_program_dispatch_t *d = npu_program_dispatch(p, i);
    fprintf(f, "  [%d] %s node %s groups [%u, %u, %u] bindings (", (int)i,
            npu_program_kernel(p, d->kernel)->name, d->node ? d->node : "-", d->groups[0],
            d->groups[1], d->groups[2]);
    for (int32_t j = 0; j < d->num_bindings; j++)
      fprintf(f, "%s%s", j ? ", " : "", tname(p, d->bindings[j]));
    fputs(") push [", f);
    for (int32_t j = 0; j < d->num_push; j++) fprintf(f, "%s%u", j ? ", " : "", d->push[j]);
    fputc(']', f);
    if (d->num_spec) {
      fputs(" spec {", f);
      for (int32_t j = 0; j < d->num_spec; j++)
        fprintf(f, "%s%u=%u", j ? ", " : "", d->spec[j].id, d->spec[j].value);
      fputc('}', f);
    }
    fputc('\n', f);
  }
  return ferror(f) ? npu_error(NPU_STATUS_IO_ERROR, "dump: write failed") : NULL;
}
