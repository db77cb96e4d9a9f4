/* runtime/weights.c — checkpoints (safetensors, HF dirs, sharded indexes),
 * name matching, dtype conversion and load-time transforms. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "npu/weight_transform.h"
#include "safetensors.h"
#include "weights_internal.h"

#define INDEX_MAX_BYTES ((size_t)100 * 1024 * 1024)
#define CONFIG_MAX_BYTES ((size_t)16 * 1024 * 1024)

typedef enum { ROPE_NO_CONFIG = 0, ROPE_FOUND, ROPE_NO_KEY, ROPE_BAD_CONFIG } rope_state_t;

struct npu_weights {
  char *path; /* as given */
  char *dir;  /* checkpoint directory (config.json lives here) */
  npu_st_file_t **shards;
  int32_t num_shards;
  rope_state_t rope_state;
  double rope_theta;
};

/* ---- dtype conversion ---------------------------------------------------- */

uint16_t npu_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t exp = (x >> 23) & 0xffu;
  uint32_t mant = x & 0x7fffffu;
  if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0));
  int32_t e = (int32_t)exp - 127 + 15;
  if (e >= 31) return (uint16_t)(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10) return (uint16_t)sign;
    mant |= 0x800000u;
    uint32_t shift = (uint32_t)(14 - e);
    uint32_t h = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (h & 1))) h++;
    return (uint16_t)(sign | h);
  }
  uint32_t h = sign | ((uint32_t)e << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
  return (uint16_t)h;
}

float npu_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0) {
    float v = ldexpf((float)mant, -24);
    return sign ? -v : v;
  } else if (exp == 31) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp + 112u) << 23) | (mant << 13);
  }
  float f;
  memcpy(&f, &x, 4);
  return f;
}

uint16_t npu_f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

float npu_bf16_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static bool is_float_dtype(npu_dtype_t d) {
  return d == NPU_DTYPE_FLOAT32 || d == NPU_DTYPE_FLOAT64 || d == NPU_DTYPE_FLOAT16 ||
         d == NPU_DTYPE_BFLOAT16;
}

static bool is_int_dtype(npu_dtype_t d) {
  return d == NPU_DTYPE_INT8 || d == NPU_DTYPE_INT16 || d == NPU_DTYPE_INT32 ||
         d == NPU_DTYPE_INT64 || d == NPU_DTYPE_UINT8 || d == NPU_DTYPE_BOOL;
}

static double load_float(const uint8_t *p, npu_dtype_t d) {
  switch (d) {
    case NPU_DTYPE_FLOAT64: {
      double v;
      memcpy(&v, p, 8);
      return v;
    }
    case NPU_DTYPE_FLOAT32: {
      float v;
      memcpy(&v, p, 4);
      return v;
    }
    case NPU_DTYPE_FLOAT16: {
      uint16_t h;
      memcpy(&h, p, 2);
      return npu_f16_to_f32(h);
    }
    default: {
      uint16_t h;
      memcpy(&h, p, 2);
      return npu_bf16_to_f32(h);
    }
  }
}

static void store_float(uint8_t *p, npu_dtype_t d, double v) {
  switch (d) {
    case NPU_DTYPE_FLOAT64:
      memcpy(p, &v, 8);
      break;
    case NPU_DTYPE_FLOAT32: {
      float f = (float)v;
      memcpy(p, &f, 4);
      break;
    }
    case NPU_DTYPE_FLOAT16: {
      uint16_t h = npu_f32_to_f16((float)v);
      memcpy(p, &h, 2);
      break;
    }
    default: {
      uint16_t h = npu_f32_to_bf16((float)v);
      memcpy(p, &h, 2);
      break;
    }
  }
}

static int64_t load_int(const uint8_t *p, npu_dtype_t d) {
  switch (d) {
    case NPU_DTYPE_INT8: return (int8_t)p[0];
    case NPU_DTYPE_UINT8: return p[0];
    case NPU_DTYPE_BOOL: return p[0] != 0;
    case NPU_DTYPE_INT16: {
      int16_t v;
      memcpy(&v, p, 2);
      return v;
    }
    case NPU_DTYPE_INT32: {
      int32_t v;
      memcpy(&v, p, 4);
      return v;
    }
    default: {
      int64_t v;
      memcpy(&v, p, 8);
      return v;
    }
  }
}

static bool int_fits(int64_t v, npu_dtype_t d) {
  switch (d) {
    case NPU_DTYPE_INT8: return v >= INT8_MIN && v <= INT8_MAX;
    case NPU_DTYPE_UINT8: return v >= 0 && v <= UINT8_MAX;
    case NPU_DTYPE_BOOL: return v == 0 || v == 1;
    case NPU_DTYPE_INT16: return v >= INT16_MIN && v <= INT16_MAX;
    case NPU_DTYPE_INT32: return v >= INT32_MIN && v <= INT32_MAX;
    default: return true;
  }
}

static void store_int(uint8_t *p, npu_dtype_t d, int64_t v) {
  switch (d) {
    case NPU_DTYPE_INT8:
    case NPU_DTYPE_UINT8:
    case NPU_DTYPE_BOOL: p[0] = (uint8_t)v; break;
    case NPU_DTYPE_INT16: {
      int16_t x = (int16_t)v;
      memcpy(p, &x, 2);
      break;
    }
    case NPU_DTYPE_INT32: {
      int32_t x = (int32_t)v;
      memcpy(p, &x, 4);
      break;
    }
    default: memcpy(p, &v, 8); break;
  }
}

npu_status_t npu_convert_dtype(const void *src, npu_dtype_t sd, void *dst, npu_dtype_t dd,
                               size_t n, const char *what) {
  if (!what) what = "tensor";
  size_t ss = npu_dtype_size(sd), ds = npu_dtype_size(dd);
  if (sd == dd) {
    if (n) memcpy(dst, src, n * ss);
    return NULL;
  }
  const uint8_t *s = src;
  uint8_t *d = dst;
  if (is_float_dtype(sd) && is_float_dtype(dd)) {
    for (size_t i = 0; i < n; i++) store_float(d + i * ds, dd, load_float(s + i * ss, sd));
    return NULL;
  }
  if (is_int_dtype(sd) && is_int_dtype(dd)) {
    for (size_t i = 0; i < n; i++) {
      int64_t v = load_int(s + i * ss, sd);
      if (!int_fits(v, dd)) {
        return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                         "weight '%s': element %zu (%lld) does not fit in %s", what, i,
                         (long long)v, npu_dtype_name(dd));
      }
      store_int(d + i * ds, dd, v);
    }
    return NULL;
  }
  return npu_error(NPU_STATUS_UNSUPPORTED, "weight '%s': cannot convert %s to %s", what,
                   npu_dtype_name(sd), npu_dtype_name(dd));
}

/* ---- opening ------------------------------------------------------------- */

static char *join_path(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  if (slash == path) return strdup("/");
  size_t n = (size_t)(slash - path);
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, path, n);
    d[n] = '\0';
  }
  return d;
}

static bool is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Reads a whole (bounded) file. NULL + status on failure. */
static npu_status_t read_small_file(const char *path, size_t max, char **out, size_t *out_size) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    return npu_error_at(errno == ENOENT ? NPU_STATUS_NOT_FOUND : NPU_STATUS_IO_ERROR, path,
                        "cannot open: %s", strerror(errno));
  }
  long n;
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return npu_error_at(NPU_STATUS_IO_ERROR, path, "cannot determine the file size");
  }
  if ((size_t)n > max) {
    fclose(f);
    return npu_error_at(NPU_STATUS_PARSE_ERROR, path, "file is too large (%ld bytes)", n);
  }
  char *buf = malloc((size_t)n + 1);
  if (!buf) {
    fclose(f);
    return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  }
  if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    fclose(f);
    return npu_error_at(NPU_STATUS_IO_ERROR, path, "read failed");
  }
  fclose(f);
  buf[n] = '\0';
  *out = buf;
  if (out_size) *out_size = (size_t)n;
  return NULL;
}

static void load_config(npu_weights_t *w) {
  char *cfg_path = join_path(w->dir, "config.json");
  if (!cfg_path) return;
  char *text = NULL;
  size_t len = 0;
  if (!is_file(cfg_path)) {
    free(cfg_path);
    return;
  }
  npu_status_t s = read_small_file(cfg_path, CONFIG_MAX_BYTES, &text, &len);
  free(cfg_path);
  if (s) {
    npu_status_free(s);
    w->rope_state = ROPE_BAD_CONFIG;
    return;
  }
  cJSON *root = cJSON_ParseWithLength(text, len);
  free(text);
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    w->rope_state = ROPE_BAD_CONFIG;
    return;
  }
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "rope_theta");
  if (!cJSON_IsNumber(t)) {
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    t = cJSON_IsObject(rp) ? cJSON_GetObjectItemCaseSensitive(rp, "rope_theta") : NULL;
  }
  if (cJSON_IsNumber(t) && t->valuedouble > 0 && isfinite(t->valuedouble)) {
    w->rope_state = ROPE_FOUND;
    w->rope_theta = t->valuedouble;
  } else {
    w->rope_state = ROPE_NO_KEY;
  }
  cJSON_Delete(root);
}

void npu_weights_close(npu_weights_t *w) {
  if (!w) return;
  for (int32_t i = 0; i < w->num_shards; i++) npu_st_close(w->shards[i]);
  free(w->shards);
  free(w->path);
  free(w->dir);
  free(w);
}

static npu_status_t add_shard(npu_weights_t *w, const char *file) {
  npu_st_file_t **grown = realloc(w->shards, ((size_t)w->num_shards + 1) * sizeof *grown);
  if (!grown) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  w->shards = grown;
  npu_st_file_t *f;
  NPU_RETURN_IF_ERROR(npu_st_open(file, &f));
  w->shards[w->num_shards++] = f;
  return NULL;
}

static npu_status_t open_index(npu_weights_t *w, const char *index_path) {
  char *text = NULL;
  size_t len = 0;
  NPU_RETURN_IF_ERROR(read_small_file(index_path, INDEX_MAX_BYTES, &text, &len));
  cJSON *root = cJSON_ParseWithLength(text, len);
  free(text);
  if (!root) return npu_error_at(NPU_STATUS_PARSE_ERROR, index_path, "not valid JSON");
  npu_status_t s = NULL;
  const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
  if (!cJSON_IsObject(map)) {
    s = npu_error_at(NPU_STATUS_PARSE_ERROR, index_path, "missing object \"weight_map\"");
    goto done;
  }
  /* Shard names in first-seen order; each opened once. */
  const char **names = NULL;
  int32_t num_names = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, map) {
    if (!cJSON_IsString(e) || !e->valuestring[0]) {
      s = npu_error_at(NPU_STATUS_PARSE_ERROR, index_path,
                       "weight_map entry '%s' is not a file name", e->string);
      goto names_done;
    }
    const char *file = e->valuestring;
    if (strchr(file, '/') || strcmp(file, "..") == 0 || strcmp(file, ".") == 0) {
      s = npu_error_at(NPU_STATUS_PARSE_ERROR, index_path,
                       "weight_map entry '%s': shard '%s' must be a file in the same directory",
                       e->string, file);
      goto names_done;
    }
    int32_t k = 0;
    while (k < num_names && strcmp(names[k], file) != 0) k++;
    if (k == num_names) {
      const char **grown = realloc(names, ((size_t)num_names + 1) * sizeof *grown);
      if (!grown) {
        s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
        goto names_done;
      }
      names = grown;
      names[num_names++] = file;
      char *shard_path = join_path(w->dir, file);
      if (!shard_path) {
        s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
        goto names_done;
      }
      if (!is_file(shard_path)) {
        s = npu_error_at(NPU_STATUS_NOT_FOUND, index_path,
                         "shard '%s' (for '%s') does not exist", file, e->string);
        free(shard_path);
        goto names_done;
      }
      s = add_shard(w, shard_path);
      free(shard_path);
      if (s) {
        s = npu_status_annotate(s, NULL, "shard '%s' of %s", file, index_path);
        goto names_done;
      }
    }
    /* The key must really be in the shard the index names. */
    if (!npu_st_find(w->shards[k], e->string)) {
      s = npu_error_at(NPU_STATUS_NOT_FOUND, index_path,
                       "weight_map says tensor '%s' is in '%s', but that shard lacks it",
                       e->string, file);
      goto names_done;
    }
  }
names_done:
  free(names);
done:
  cJSON_Delete(root);
  return s;
}

npu_status_t npu_weights_open(const char *path, npu_weights_t **out) {
  if (!path || !out) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_weights_open: NULL argument");
  *out = NULL;
  struct stat st;
  if (stat(path, &st) != 0) {
    return npu_error_at(errno == ENOENT ? NPU_STATUS_NOT_FOUND : NPU_STATUS_IO_ERROR, path,
                        "cannot open weights: %s", strerror(errno));
  }
  npu_weights_t *w = calloc(1, sizeof *w);
  if (!w || !(w->path = strdup(path))) {
    free(w);
    return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  }
  npu_status_t s = NULL;
  if (S_ISDIR(st.st_mode)) {
    w->dir = strdup(path);
    char *single = w->dir ? join_path(path, "model.safetensors") : NULL;
    char *index = w->dir ? join_path(path, "model.safetensors.index.json") : NULL;
    if (!single || !index) {
      s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
    } else if (is_file(single)) {
      s = add_shard(w, single);
    } else if (is_file(index)) {
      s = open_index(w, index);
    } else {
      s = npu_error_at(NPU_STATUS_NOT_FOUND, path,
                       "directory has neither model.safetensors nor "
                       "model.safetensors.index.json");
    }
    free(single);
    free(index);
  } else {
    w->dir = dir_of(path);
    if (!w->dir) {
      s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
    } else if (strlen(path) > 11 && strcmp(path + strlen(path) - 11, ".index.json") == 0) {
      s = open_index(w, path);
    } else {
      s = add_shard(w, path);
    }
  }
  if (s) {
    npu_weights_close(w);
    return s;
  }
  load_config(w);
  *out = w;
  return NULL;
}

/* ---- lookup -------------------------------------------------------------- */

static const npu_st_tensor_t *lookup(const npu_weights_t *w, const char *key) {
  for (int32_t i = 0; i < w->num_shards; i++) {
    const npu_st_tensor_t *t = npu_st_find(w->shards[i], key);
    if (t) return t;
  }
  return NULL;
}

npu_status_t npu_weights_find(const npu_weights_t *w, const char *key, npu_dtype_t *out_dtype,
                              npu_shape_t *out_shape, const void **out_data) {
  if (!w || !key) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_weights_find: NULL argument");
  const npu_st_tensor_t *t = lookup(w, key);
  if (!t) {
    return npu_error_at(NPU_STATUS_NOT_FOUND, w->path, "weight '%s' is not in the checkpoint",
                        key);
  }
  if (out_dtype) *out_dtype = t->dtype;
  if (out_shape) *out_shape = t->shape;
  if (out_data) *out_data = t->data;
  return NULL;
}

#define MAX_CANDIDATES 4

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Fills cand[] (each malloc'd) with the candidate checkpoint keys. */
static int candidates(const char *key, char *cand[MAX_CANDIDATES]) {
  int n = 0;
  cand[n++] = strdup(key);
  if (strncmp(key, "model.", 6) == 0) cand[n++] = strdup(key + 6);
  if (ends_with(key, "lm_head.weight")) {
    size_t plen = strlen(key) - strlen("lm_head.weight");
    const char *tail = "model.embed_tokens.weight";
    char *tied = malloc(plen + strlen(tail) + 1);
    if (tied) {
      memcpy(tied, key, plen);
      strcpy(tied + plen, tail);
      cand[n++] = tied;
      if (strncmp(tied, "model.", 6) == 0) cand[n++] = strdup(tied + 6);
    }
  }
  return n;
}

static void free_candidates(char *cand[], int n) {
  for (int i = 0; i < n; i++) free(cand[i]);
}

static npu_status_t not_found(const npu_weights_t *w, const char *key, char *cand[], int n,
                              const char *extra) {
  char tried[2048];
  size_t len = 0;
  tried[0] = '\0';
  for (int i = 0; i < n && cand[i]; i++) {
    int k = snprintf(tried + len, sizeof tried - len, "%s'%s'", i ? ", " : "", cand[i]);
    if (k < 0 || (size_t)k >= sizeof tried - len) break;
    len += (size_t)k;
  }
  return npu_error_at(NPU_STATUS_NOT_FOUND, w->path,
                      "weight '%s' is not in the checkpoint (tried %s)%s", key, tried,
                      extra ? extra : "");
}

static const npu_st_tensor_t *resolve(const npu_weights_t *w, char *cand[],
                                      int n) {
  for (int i = 0; i < n; i++) {
    if (!cand[i]) continue;
    const npu_st_tensor_t *t = lookup(w, cand[i]);
    if (t) return t;
  }
  return NULL;
}

npu_status_t npu_weights_resolve(const npu_weights_t *w, const char *key, const char **out_key,
                                 npu_dtype_t *out_dtype, npu_shape_t *out_shape,
                                 const void **out_data) {
  if (!w || !key) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_weights_resolve: NULL argument");
  char *cand[MAX_CANDIDATES] = {0};
  int n = candidates(key, cand);
  const npu_st_tensor_t *t = resolve(w, cand, n);
  npu_status_t s = NULL;
  if (!t) {
    s = not_found(w, key, cand, n, NULL);
  } else {
    if (out_key) *out_key = t->name;
    if (out_dtype) *out_dtype = t->dtype;
    if (out_shape) *out_shape = t->shape;
    if (out_data) *out_data = t->data;
  }
  free_candidates(cand, n);
  return s;
}

npu_status_t npu_weights_rope_theta(const npu_weights_t *w, double *out) {
  switch (w->rope_state) {
    case ROPE_FOUND: *out = w->rope_theta; return NULL;
    case ROPE_NO_CONFIG:
      return npu_error_at(NPU_STATUS_NOT_FOUND, w->dir, "no config.json beside the checkpoint");
    case ROPE_NO_KEY:
      return npu_error_at(NPU_STATUS_NOT_FOUND, w->dir,
                          "config.json has neither \"rope_theta\" nor "
                          "\"rope_parameters\".\"rope_theta\" (a positive number)");
    default:
      return npu_error_at(NPU_STATUS_PARSE_ERROR, w->dir, "config.json is not a JSON object");
  }
}

/* ---- materialize --------------------------------------------------------- */

static npu_status_t check_out(const npu_program_tensor_t *dest, size_t out_size, const char *what,
                              size_t *numel_out) {
  int64_t numel = 0;
  size_t es = npu_dtype_size(dest->dtype);
  if (es == 0 || !npu_shape_numel(&dest->shape, &numel) || (uint64_t)numel > SIZE_MAX / es) {
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "weight '%s': invalid destination tensor", what);
  }
  if ((size_t)numel * es > out_size) {
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "weight '%s': destination holds %zu bytes, needs %zu", what, out_size,
                     (size_t)numel * es);
  }
  *numel_out = (size_t)numel;
  return NULL;
}

static npu_status_t shape_mismatch(const char *key, const char *found, const npu_shape_t *src,
                                   const npu_shape_t *dst) {
  char a[160], b[160];
  return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                   "weight '%s': checkpoint tensor '%s' has shape %s but the program expects %s",
                   key, found, npu_shape_format(src, a, sizeof a), npu_shape_format(dst, b, sizeof b));
}

static npu_status_t compute_inv_freq(const npu_weights_t *w, const char *key,
                                     const npu_program_tensor_t *dest, size_t numel, void *out,
                                     char *cand[], int n) {
  double theta = 0;
  npu_status_t s = npu_weights_rope_theta(w, &theta);
  if (s) {
    const char *msg = npu_status_message(s);
    char extra[512];
    snprintf(extra, sizeof extra, "; it cannot be computed either: %s", msg);
    npu_status_t e = not_found(w, key, cand, n, extra);
    npu_status_free(s);
    return e;
  }
  if (dest->shape.rank != 1) {
    char b[160];
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "weight '%s': computed inv_freq must be 1-D, the program expects %s", key,
                     npu_shape_format(&dest->shape, b, sizeof b));
  }
  if (!is_float_dtype(dest->dtype)) {
    return npu_error(NPU_STATUS_UNSUPPORTED, "weight '%s': inv_freq into %s", key,
                     npu_dtype_name(dest->dtype));
  }
  double d = 2.0 * (double)numel;
  size_t es = npu_dtype_size(dest->dtype);
  for (size_t i = 0; i < numel; i++) {
    double v = 1.0 / pow(theta, (2.0 * (double)i) / d);
    store_float((uint8_t *)out + i * es, dest->dtype, v);
  }
  return NULL;
}

/* Resolves `key` and converts it to f32 into a malloc'd buffer. */
static npu_status_t load_f32(const npu_weights_t *w, const char *key, float **out,
                             npu_shape_t *shape) {
  *out = NULL;
  const char *found = NULL;
  npu_dtype_t dt = NPU_DTYPE_INVALID;
  const void *data = NULL;
  NPU_RETURN_IF_ERROR(npu_weights_resolve(w, key, &found, &dt, shape, &data));
  int64_t numel = 0;
  if (!npu_shape_numel(shape, &numel)) {
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "weight '%s': shape overflows", key);
  }
  float *buf = malloc((size_t)numel * sizeof(float) + 1);
  if (!buf) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  npu_status_t s = npu_convert_dtype(data, dt, buf, NPU_DTYPE_FLOAT32, (size_t)numel, found);
  if (s) {
    free(buf);
    return s;
  }
  *out = buf;
  return NULL;
}

static npu_status_t apply_transform(const npu_weights_t *w, const npu_program_weight_t *pw,
                                    const npu_program_tensor_t *dest, size_t numel, void *out) {
  const char *what = pw->key ? pw->key : (dest->name ? dest->name : pw->transform);
  if (pw->num_sources <= 0 || !pw->sources) {
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "weight '%s': transform %s has no sources",
                     what, pw->transform);
  }
  int n = pw->num_sources;
  float **bufs = calloc((size_t)n, sizeof *bufs);
  npu_shape_t *shapes = calloc((size_t)n, sizeof *shapes);
  float *res = malloc(numel * sizeof(float) + 1);
  npu_status_t s = NULL;
  if (!bufs || !shapes || !res) {
    s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
    goto done;
  }
  for (int i = 0; i < n; i++) {
    if (!pw->sources[i]) {
      s = npu_error(NPU_STATUS_INVALID_ARGUMENT, "weight '%s': source %d is NULL", what, i);
      goto done;
    }
    s = load_f32(w, pw->sources[i], &bufs[i], &shapes[i]);
    if (s) {
      s = npu_status_annotate(s, NULL, "transform %s of '%s'", pw->transform, what);
      goto done;
    }
  }
  /* bn_fold_weight keeps W's shape: check dims, not only the element count. */
  if (strcmp(pw->transform, "bn_fold_weight") == 0 && !npu_shape_equal(&shapes[0], &dest->shape)) {
    s = shape_mismatch(what, pw->sources[0], &shapes[0], &dest->shape);
    goto done;
  }
  s = npu_weight_transform_apply_f32(pw->transform, (const float *const *)bufs, shapes, n,
                                     pw->attrs, pw->num_attrs, res, numel);
  if (s) {
    s = npu_status_annotate(s, NULL, "weight '%s'", what);
    goto done;
  }
  s = npu_convert_dtype(res, NPU_DTYPE_FLOAT32, out, dest->dtype, numel, what);
done:
  if (bufs) {
    for (int i = 0; i < n; i++) free(bufs[i]);
  }
  free(bufs);
  free(shapes);
  free(res);
  return s;
}

npu_status_t npu_weights_materialize(const npu_weights_t *w, const npu_program_weight_t *pw,
                                     const npu_program_tensor_t *dest, void *out,
                                     size_t out_size) {
  if (!w || !pw || !dest || (!out && out_size)) {
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_weights_materialize: NULL argument");
  }
  const char *what = pw->key ? pw->key : (dest->name ? dest->name : "?");
  size_t numel = 0;
  NPU_RETURN_IF_ERROR(check_out(dest, out_size, what, &numel));
  if (pw->transform) return apply_transform(w, pw, dest, numel, out);
  if (!pw->key) {
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "program weight for tensor '%s' has neither a key nor a transform", what);
  }
  const char *key = pw->key;
  char *cand[MAX_CANDIDATES] = {0};
  int n = candidates(key, cand);
  const npu_st_tensor_t *t = resolve(w, cand, n);
  npu_status_t s = NULL;
  if (!t) {
    if (strstr(key, "inv_freq")) {
      s = compute_inv_freq(w, key, dest, numel, out, cand, n);
    } else {
      s = not_found(w, key, cand, n, NULL);
    }
    free_candidates(cand, n);
    return s;
  }
  free_candidates(cand, n);
  if (!npu_shape_equal(&t->shape, &dest->shape)) {
    return shape_mismatch(key, t->name, &t->shape, &dest->shape);
  }
  return npu_convert_dtype(t->data, t->dtype, out, dest->dtype, numel, key);
}
