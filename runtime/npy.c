/* runtime/npy.c — strict NumPy .npy reader and writer (v1/v2). */
#include "npu/npy.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAX_HEADER (1u << 20)

static const struct {
  const char *descr;
  npu_dtype_t dtype;
} k_descrs[] = {
    {"<f4", NPU_DTYPE_FLOAT32}, {"<f8", NPU_DTYPE_FLOAT64}, {"<f2", NPU_DTYPE_FLOAT16},
    {"<i8", NPU_DTYPE_INT64},   {"<i4", NPU_DTYPE_INT32},   {"<i2", NPU_DTYPE_INT16},
    {"|i1", NPU_DTYPE_INT8},    {"|u1", NPU_DTYPE_UINT8},   {"|b1", NPU_DTYPE_BOOL},
};

static const char *descr_of(npu_dtype_t dt) {
  for (size_t i = 0; i < sizeof k_descrs / sizeof k_descrs[0]; i++) {
    if (k_descrs[i].dtype == dt) return k_descrs[i].descr;
  }
  return NULL;
}

void npu_npy_free(npu_npy_t *a) {
  if (!a) return;
  free(a->data);
  memset(a, 0, sizeof *a);
}

/* ---- header parsing: a Python dict literal, bounded by [p, end) ---------- */

typedef struct {
  const char *p, *end;
} cursor_t;

static void skip_ws(cursor_t *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

static bool eat(cursor_t *c, char ch) {
  skip_ws(c);
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return true;
  }
  return false;
}

/* A quoted string ('...' or "...") without escapes, into buf. */
static bool read_str(cursor_t *c, char *buf, size_t cap) {
  skip_ws(c);
  if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return false;
  char q = *c->p++;
  size_t n = 0;
  while (c->p < c->end && *c->p != q) {
    if (*c->p == '\\' || n + 1 >= cap) return false;
    buf[n++] = *c->p++;
  }
  if (c->p >= c->end) return false;
  c->p++;
  buf[n] = '\0';
  return true;
}

static bool read_word(cursor_t *c, const char *w) {
  skip_ws(c);
  size_t n = strlen(w);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return false;
  c->p += n;
  return true;
}

static bool read_int(cursor_t *c, int64_t *out) {
  skip_ws(c);
  int64_t v = 0;
  const char *start = c->p;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
    int d = *c->p - '0';
    if (v > (INT64_MAX - d) / 10) return false;
    v = v * 10 + d;
    c->p++;
  }
  if (c->p == start) return false;
  if (c->p < c->end && *c->p == 'L') c->p++; /* Python 2 longs */
  *out = v;
  return true;
}

static bool read_shape(cursor_t *c, npu_shape_t *shape) {
  if (!eat(c, '(')) return false;
  shape->rank = 0;
  if (eat(c, ')')) return true;
  for (;;) {
    int64_t v;
    if (shape->rank >= NPU_MAX_RANK || !read_int(c, &v)) return false;
    shape->dims[shape->rank++] = v;
    bool comma = eat(c, ',');
    if (eat(c, ')')) return shape->rank > 1 || comma; /* (3) is not a tuple */
    if (!comma) return false;
  }
}

static npu_status_t parse_header(const char *h, size_t len, const char *origin,
                                 npu_dtype_t *dtype, npu_shape_t *shape) {
  cursor_t c = {h, h + len};
  bool have_descr = false, have_order = false, have_shape = false;
  char key[32], descr[32];
  if (!eat(&c, '{')) goto bad;
  while (!eat(&c, '}')) {
    if (!read_str(&c, key, sizeof key) || !eat(&c, ':')) goto bad;
    if (strcmp(key, "descr") == 0 && !have_descr) {
      if (!read_str(&c, descr, sizeof descr)) goto bad;
      have_descr = true;
    } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
      if (read_word(&c, "True")) {
        return npu_error_at(NPU_STATUS_UNSUPPORTED, origin,
                            "fortran_order True is not supported (save a C-ordered array)");
      }
      if (!read_word(&c, "False")) goto bad;
      have_order = true;
    } else if (strcmp(key, "shape") == 0 && !have_shape) {
      if (!read_shape(&c, shape)) goto bad;
      have_shape = true;
    } else {
      return npu_error_at(NPU_STATUS_PARSE_ERROR, origin,
                          "npy header: unexpected or repeated key '%s'", key);
    }
    if (!eat(&c, ',')) {
      if (!eat(&c, '}')) goto bad;
      break;
    }
  }
  skip_ws(&c);
  while (c.p < c.end && (*c.p == '\n' || *c.p == ' ')) c.p++;
  if (c.p != c.end) goto bad;
  if (!have_descr || !have_order || !have_shape) {
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin,
                        "npy header lacks one of 'descr', 'fortran_order', 'shape'");
  }
  for (size_t i = 0; i < sizeof k_descrs / sizeof k_descrs[0]; i++) {
    if (strcmp(descr, k_descrs[i].descr) == 0) {
      *dtype = k_descrs[i].dtype;
      return NULL;
    }
  }
  /* numpy writes '|u1'/'|b1'/'|i1' but also accept the '<' and '=' spellings of them. */
  if ((descr[0] == '<' || descr[0] == '=') && descr[1] && descr[2] == '1' && !descr[3]) {
    for (size_t i = 0; i < sizeof k_descrs / sizeof k_descrs[0]; i++) {
      if (k_descrs[i].descr[0] == '|' && strcmp(descr + 1, k_descrs[i].descr + 1) == 0) {
        *dtype = k_descrs[i].dtype;
        return NULL;
      }
    }
  }
  return npu_error_at(NPU_STATUS_UNSUPPORTED, origin,
                      "npy dtype '%s' is not supported (expected little-endian <f4, <f8, <f2, "
                      "<i8, <i4, <i2, |i1, |u1 or |b1)",
                      descr);
bad:
  return npu_error_at(NPU_STATUS_PARSE_ERROR, origin,
                      "malformed npy header near byte %zu of the header dict",
                      (size_t)(c.p - h));
}

/* Parses the preamble in [buf, buf+avail); *data_off is where data starts. */
static npu_status_t parse_preamble(const uint8_t *buf, size_t avail, const char *origin,
                                   npu_dtype_t *dtype, npu_shape_t *shape, size_t *data_off,
                                   size_t *need) {
  static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (avail < 10 || memcmp(buf, magic, 6) != 0) {
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin, "not a .npy file (bad magic)");
  }
  uint8_t major = buf[6];
  size_t hlen, pre;
  if (major == 1) {
    hlen = (size_t)buf[8] | ((size_t)buf[9] << 8);
    pre = 10;
  } else if (major == 2) {
    if (avail < 12) return npu_error_at(NPU_STATUS_PARSE_ERROR, origin, "truncated npy header");
    hlen = (size_t)buf[8] | ((size_t)buf[9] << 8) | ((size_t)buf[10] << 16) |
           ((size_t)buf[11] << 24);
    pre = 12;
  } else {
    return npu_error_at(NPU_STATUS_UNSUPPORTED, origin, "npy format version %u.%u is not supported",
                        major, buf[7]);
  }
  if (hlen > NPY_MAX_HEADER) {
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin, "npy header length %zu is too large",
                        hlen);
  }
  *need = pre + hlen;
  if (avail < pre + hlen) {
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin,
                        "truncated npy header (%zu bytes declared, %zu present)", hlen,
                        avail - pre);
  }
  NPU_RETURN_IF_ERROR(parse_header((const char *)buf + pre, hlen, origin, dtype, shape));
  *data_off = pre + hlen;
  return NULL;
}

static npu_status_t data_bytes(const char *origin, npu_dtype_t dtype, const npu_shape_t *shape,
                               size_t *out) {
  int64_t numel;
  size_t es = npu_dtype_size(dtype);
  if (!npu_shape_numel(shape, &numel) || es == 0 || (uint64_t)numel > SIZE_MAX / es) {
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin, "npy shape overflows");
  }
  *out = (size_t)numel * es;
  return NULL;
}

npu_status_t npu_npy_read_buffer(const void *buf, size_t size, const char *origin,
                                 npu_npy_t *out) {
  if (!out) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_npy_read_buffer: out is NULL");
  memset(out, 0, sizeof *out);
  if (!origin) origin = "<memory>";
  if (!buf && size) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_npy_read_buffer: NULL data");
  npu_dtype_t dtype = NPU_DTYPE_INVALID;
  npu_shape_t shape = {0};
  size_t off = 0, need = 0, bytes = 0;
  NPU_RETURN_IF_ERROR(parse_preamble(buf, size, origin, &dtype, &shape, &off, &need));
  NPU_RETURN_IF_ERROR(data_bytes(origin, dtype, &shape, &bytes));
  if (size - off != bytes) {
    char sb[160];
    return npu_error_at(NPU_STATUS_PARSE_ERROR, origin,
                        "npy data is %zu bytes but shape %s of %s needs %zu", size - off,
                        npu_shape_format(&shape, sb, sizeof sb), npu_dtype_name(dtype), bytes);
  }
  void *data = malloc(bytes ? bytes : 1);
  if (!data) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  if (bytes) memcpy(data, (const uint8_t *)buf + off, bytes);
  out->dtype = dtype;
  out->shape = shape;
  out->data = data;
  out->size = bytes;
  return NULL;
}

npu_status_t npu_npy_read(const char *path, npu_npy_t *out) {
  if (!path || !out) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_npy_read: NULL argument");
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) {
    return npu_error_at(errno == ENOENT ? NPU_STATUS_NOT_FOUND : NPU_STATUS_IO_ERROR, path,
                        "cannot open: %s", strerror(errno));
  }
  npu_status_t s = NULL;
  uint8_t *pre = NULL;
  void *data = NULL;
  long fsize;
  if (fseek(f, 0, SEEK_END) != 0 || (fsize = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    s = npu_error_at(NPU_STATUS_IO_ERROR, path, "cannot determine the file size");
    goto done;
  }
  /* Read the preamble first (bounded), then exactly the data. */
  size_t want = (size_t)fsize < 12 + NPY_MAX_HEADER ? (size_t)fsize : 12 + NPY_MAX_HEADER;
  pre = malloc(want ? want : 1);
  if (!pre) {
    s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
    goto done;
  }
  if (fread(pre, 1, want, f) != want) {
    s = npu_error_at(NPU_STATUS_IO_ERROR, path, "read failed");
    goto done;
  }
  npu_dtype_t dtype = NPU_DTYPE_INVALID;
  npu_shape_t shape = {0};
  size_t off = 0, need = 0, bytes = 0;
  if ((s = parse_preamble(pre, want, path, &dtype, &shape, &off, &need))) goto done;
  if ((s = data_bytes(path, dtype, &shape, &bytes))) goto done;
  if ((size_t)fsize - off != bytes) {
    char sb[160];
    s = npu_error_at(NPU_STATUS_PARSE_ERROR, path,
                     "npy data is %zu bytes but shape %s of %s needs %zu", (size_t)fsize - off,
                     npu_shape_format(&shape, sb, sizeof sb), npu_dtype_name(dtype), bytes);
    goto done;
  }
  data = malloc(bytes ? bytes : 1);
  if (!data) {
    s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
    goto done;
  }
  if (fseek(f, (long)off, SEEK_SET) != 0 || fread(data, 1, bytes, f) != bytes) {
    s = npu_error_at(NPU_STATUS_IO_ERROR, path, "read failed");
    goto done;
  }
  out->dtype = dtype;
  out->shape = shape;
  out->data = data;
  out->size = bytes;
  data = NULL;
done:
  free(data);
  free(pre);
  fclose(f);
  return s;
}

npu_status_t npu_npy_write(const char *path, npu_dtype_t dtype, const npu_shape_t *shape,
                           const void *data) {
  if (!path || !shape) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_npy_write: NULL argument");
  if (shape->rank < 0 || shape->rank > NPU_MAX_RANK) {
    return npu_error_at(NPU_STATUS_INVALID_ARGUMENT, path, "invalid rank %d", shape->rank);
  }
  for (int i = 0; i < shape->rank; i++) {
    if (shape->dims[i] < 0) {
      return npu_error_at(NPU_STATUS_INVALID_ARGUMENT, path, "negative dimension %lld",
                          (long long)shape->dims[i]);
    }
  }
  bool bf16 = dtype == NPU_DTYPE_BFLOAT16;
  npu_dtype_t file_dtype = bf16 ? NPU_DTYPE_FLOAT32 : dtype;
  const char *descr = descr_of(file_dtype);
  if (!descr) {
    return npu_error_at(NPU_STATUS_UNSUPPORTED, path, "dtype %s cannot be written to .npy",
                        npu_dtype_name(dtype));
  }
  size_t bytes = 0;
  NPU_RETURN_IF_ERROR(data_bytes(path, file_dtype, shape, &bytes));
  if (bytes && !data) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_npy_write: data is NULL");

  char dict[512];
  int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
  for (int i = 0; i < shape->rank; i++) {
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%s%lld", i ? ", " : "",
                  (long long)shape->dims[i]);
  }
  n += snprintf(dict + n, sizeof dict - (size_t)n, "%s), }", shape->rank == 1 ? "," : "");
  size_t hlen = (size_t)n + 1; /* + '\n' */
  size_t total = 10 + hlen;
  size_t pad = (64 - total % 64) % 64;
  hlen += pad;
  uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(hlen & 0xff),
                     (uint8_t)(hlen >> 8)};

  FILE *f = fopen(path, "wb");
  if (!f) {
    return npu_error_at(NPU_STATUS_IO_ERROR, path, "cannot create: %s", strerror(errno));
  }
  bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)n, f) == (size_t)n;
  for (size_t i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
  ok = ok && fputc('\n', f) != EOF;
  if (ok && bf16) {
    const uint8_t *src = data;
    size_t count = bytes / 4;
    for (size_t i = 0; ok && i < count; i++) {
      uint16_t h;
      memcpy(&h, src + 2 * i, 2);
      uint32_t u = (uint32_t)h << 16;
      ok = fwrite(&u, 4, 1, f) == 1;
    }
  } else if (ok && bytes) {
    ok = fwrite(data, 1, bytes, f) == bytes;
  }
  if (fclose(f) != 0) ok = false;
  if (!ok) return npu_error_at(NPU_STATUS_IO_ERROR, path, "write failed");
  return NULL;
}
