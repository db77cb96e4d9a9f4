/* Reference float32 math of weight transforms (npu/weight_transform.h). */
#include "npu/weight_transform.h"

#include <math.h>
#include <string.h>

static const npu_attr_value_t *find_attr(const npu_attr_t *attrs, int nattrs, const char *name) {
  for (int i = 0; i < nattrs; i++)
    if (attrs[i].name && strcmp(attrs[i].name, name) == 0) return &attrs[i].value;
  return NULL;
}

static npu_status_t read_eps(const char *kind, const npu_attr_t *attrs, int nattrs, double *eps) {
  const npu_attr_value_t *v = find_attr(attrs, nattrs, "eps");
  *eps = 1e-5;
  if (!v) return NULL;
  if (v->kind == NPU_ATTR_FLOAT) *eps = v->u.f;
  else if (v->kind == NPU_ATTR_INT) *eps = (double)v->u.i;
  else return npu_error(NPU_STATUS_INVALID_ARGUMENT, "%s: attr 'eps' is not a number", kind);
  if (!(*eps >= 0.0))
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "%s: eps %g is negative or NaN", kind, *eps);
  return NULL;
}

/* The four BN statistics must each be 1-D [channels]. */
static npu_status_t check_bn_stats(const char *kind, const float *const *src,
                                   const npu_shape_t *shapes, int first, int64_t channels) {
  static const char *const names[] = {"gamma", "beta", "mean", "var"};
  for (int i = 0; i < 4; i++) {
    const npu_shape_t *s = &shapes[first + i];
    if (!src[first + i])
      return npu_error(NPU_STATUS_INVALID_ARGUMENT, "%s: source %d (%s) is NULL", kind,
                       first + i, names[i]);
    if (s->rank != 1 || s->dims[0] != channels) {
      char buf[96];
      return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                       "%s: source %d (%s) has shape %s, expected [%lld]", kind, first + i,
                       names[i], npu_shape_format(s, buf, sizeof buf), (long long)channels);
    }
  }
  return NULL;
}

static float bn_scale(const float *const *src, int first, int64_t c, double eps) {
  double gamma = src[first][c], var = src[first + 3][c];
  return (float)(gamma / sqrt(var + eps));
}

static npu_status_t fold_weight(const char *kind, const float *const *src,
                                const npu_shape_t *shapes, int n, const npu_attr_t *attrs,
                                int nattrs, float *out, size_t out_len) {
  if (n != 5)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "%s: expects 5 sources [W, gamma, beta, mean, var], got %d", kind, n);
  if (!src[0]) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "%s: source 0 (W) is NULL", kind);
  if (shapes[0].rank < 1)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "%s: source 0 (W) is a scalar", kind);
  int64_t channels = shapes[0].dims[0], numel;
  if (!npu_shape_numel(&shapes[0], &numel) || numel < 0)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "%s: source 0 (W) has a bad shape", kind);
  NPU_RETURN_IF_ERROR(check_bn_stats(kind, src, shapes, 1, channels));
  if (out_len != (size_t)numel)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "%s: output has %zu elements, W has %lld",
                     kind, out_len, (long long)numel);
  double eps;
  NPU_RETURN_IF_ERROR(read_eps(kind, attrs, nattrs, &eps));
  int64_t per_channel = channels > 0 ? numel / channels : 0;
  for (int64_t c = 0; c < channels; c++) {
    float scale = bn_scale(src, 1, c, eps);
    for (int64_t k = 0; k < per_channel; k++)
      out[c * per_channel + k] = src[0][c * per_channel + k] * scale;
  }
  return NULL;
}

static npu_status_t fold_bias(const char *kind, const float *const *src, const npu_shape_t *shapes,
                              int n, const npu_attr_t *attrs, int nattrs, float *out,
                              size_t out_len) {
  bool has_bias = n == 5;
  const npu_attr_value_t *hb = find_attr(attrs, nattrs, "has_conv_bias");
  if (hb) {
    if (hb->kind != NPU_ATTR_BOOL)
      return npu_error(NPU_STATUS_INVALID_ARGUMENT, "%s: attr 'has_conv_bias' is not a bool",
                       kind);
    has_bias = hb->u.b;
  }
  int expected = has_bias ? 5 : 4;
  if (n != expected)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "%s: expects %d sources (%sgamma, beta, mean, var), got %d", kind, expected,
                     has_bias ? "b, " : "", n);
  int first = has_bias ? 1 : 0;
  if (shapes[first].rank != 1) {
    char buf[96];
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "%s: gamma has shape %s, expected 1-D", kind,
                     npu_shape_format(&shapes[first], buf, sizeof buf));
  }
  int64_t channels = shapes[first].dims[0];
  NPU_RETURN_IF_ERROR(check_bn_stats(kind, src, shapes, first, channels));
  if (has_bias) {
    if (!src[0]) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "%s: source 0 (b) is NULL", kind);
    if (shapes[0].rank != 1 || shapes[0].dims[0] != channels) {
      char buf[96];
      return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                       "%s: source 0 (b) has shape %s, expected [%lld]", kind,
                       npu_shape_format(&shapes[0], buf, sizeof buf), (long long)channels);
    }
  }
  if (out_len != (size_t)channels)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "%s: output has %zu elements, expected %lld",
                     kind, out_len, (long long)channels);
  double eps;
  NPU_RETURN_IF_ERROR(read_eps(kind, attrs, nattrs, &eps));
  for (int64_t c = 0; c < channels; c++) {
    double b = has_bias ? src[0][c] : 0.0;
    double gamma = src[first][c], beta = src[first + 1][c];
    double mean = src[first + 2][c], var = src[first + 3][c];
    out[c] = (float)((b - mean) * gamma / sqrt(var + eps) + beta);
  }
  return NULL;
}

npu_status_t npu_weight_transform_apply_f32(const char *kind, const float *const *sources,
                                            const npu_shape_t *source_shapes, int n,
                                            const npu_attr_t *attrs, int nattrs, float *out,
                                            size_t out_len) {
  if (!kind) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "weight transform without a kind");
  if (n < 0 || (n > 0 && (!sources || !source_shapes)) || (out_len > 0 && !out) ||
      (nattrs > 0 && !attrs))
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "%s: NULL sources, shapes, attrs or output",
                     kind);
  if (nattrs < 0) nattrs = 0;
  if (strcmp(kind, "bn_fold_weight") == 0)
    return fold_weight(kind, sources, source_shapes, n, attrs, nattrs, out, out_len);
  if (strcmp(kind, "bn_fold_bias") == 0)
    return fold_bias(kind, sources, source_shapes, n, attrs, nattrs, out, out_len);
  return npu_error(NPU_STATUS_UNSUPPORTED, "unknown weight transform kind '%s'", kind);
}
