/* The ATen op schemas pytorch-ir emits (IR-FORMAT.md §4), with their ATen
 * argument defaults and shape/dtype inference following torch semantics. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "npu/ops.h"

/* ---- helpers ------------------------------------------------------------- */

#define ERR(...) npu_node_error(g, id, NPU_STATUS_VERIFY_FAILED, __VA_ARGS__)
#define INFER(name) \
  static npu_status_t name(const npu_graph_t *g, npu_node_id_t id, npu_tensor_type_t *out, int32_t nout)
#define UNUSED_INFER_ARGS (void)nout

static const npu_node_t *N(const npu_graph_t *g, npu_node_id_t id) { return npu_graph_node(g, id); }
static const npu_tensor_t *IN(const npu_graph_t *g, npu_node_id_t id, int32_t i) {
  return npu_graph_tensor(g, npu_graph_node(g, id)->inputs[i]);
}
static int32_t NIN(const npu_graph_t *g, npu_node_id_t id) { return npu_graph_node(g, id)->num_inputs; }
static const char *SHP(const npu_shape_t *s, char *buf, size_t n) { return npu_shape_format(s, buf, n); }

static int64_t attr_int_or(const npu_graph_t *g, npu_node_id_t id, const char *name, int64_t dflt) {
  int64_t v;
  return npu_node_attr_int(N(g, id), name, &v) ? v : dflt;
}
static bool attr_bool_or(const npu_graph_t *g, npu_node_id_t id, const char *name, bool dflt) {
  bool v;
  return npu_node_attr_bool(N(g, id), name, &v) ? v : dflt;
}
/* Reads an int list attr; a single int is accepted as [v]. Absent/null: count -1. */
static npu_status_t attr_ints(const npu_graph_t *g, npu_node_id_t id, const char *name, int64_t *vals,
                              int32_t *count) {
  const npu_attr_value_t *v = npu_node_attr(N(g, id), name);
  *count = -1;
  if (!v || v->kind == NPU_ATTR_NULL) return NULL;
  if (v->kind == NPU_ATTR_INT) {
    vals[0] = v->u.i;
    *count = 1;
    return NULL;
  }
  if (!npu_node_attr_ints(N(g, id), name, vals, NPU_MAX_RANK, count))
    return ERR("attr '%s' must be a list of at most %d ints", name, NPU_MAX_RANK);
  return NULL;
}
/* Expands a 1- or 2-element list to 2 (int[2] semantics). */
static bool pair(const int64_t *v, int32_t n, int64_t out[2]) {
  if (n == 1) { out[0] = out[1] = v[0]; return true; }
  if (n == 2) { out[0] = v[0]; out[1] = v[1]; return true; }
  return false;
}

static npu_tensor_type_t same(const npu_tensor_t *t) {
  npu_tensor_type_t r = {.dtype = t->dtype, .shape = t->shape};
  return r;
}

static bool is_int_or_bool(npu_dtype_t d) { return !npu_dtype_is_float(d) && d != NPU_DTYPE_COMPLEX64 && d != NPU_DTYPE_COMPLEX128; }
static bool is_complex(npu_dtype_t d) { return d == NPU_DTYPE_COMPLEX64 || d == NPU_DTYPE_COMPLEX128; }
static bool is_index_dtype(npu_dtype_t d) { return d == NPU_DTYPE_INT64 || d == NPU_DTYPE_INT32; }

/* 0 bool, 1 integral, 2 floating, 3 complex. */
static int category(npu_dtype_t d) {
  if (d == NPU_DTYPE_BOOL) return 0;
  if (is_complex(d)) return 3;
  if (npu_dtype_is_float(d)) return 2;
  return 1;
}
/* The dtype torch gives a python scalar of this attr kind. */
static npu_dtype_t scalar_dtype(const npu_attr_value_t *v) {
  if (v->kind == NPU_ATTR_BOOL) return NPU_DTYPE_BOOL;
  if (v->kind == NPU_ATTR_INT) return NPU_DTYPE_INT64;
  return NPU_DTYPE_FLOAT32; /* the default float dtype */
}
/* torch.result_type(tensor, python scalar): the scalar only matters when its
 * category is higher than the tensor's. */
static npu_dtype_t promote_with_scalar(npu_dtype_t t, const npu_attr_value_t *scalar) {
  npu_dtype_t s = scalar_dtype(scalar);
  return category(s) > category(t) ? s : t;
}
/* torch.result_type for two tensors: zero-dim tensors do not promote a
 * dimensioned tensor of the same or higher category. */
static npu_dtype_t promote_tensors(const npu_tensor_t *a, const npu_tensor_t *b) {
  bool za = a->shape.rank == 0, zb = b->shape.rank == 0;
  if (za == zb) return npu_promote_dtypes(a->dtype, b->dtype);
  const npu_tensor_t *dim = za ? b : a, *zero = za ? a : b;
  if (category(zero->dtype) > category(dim->dtype)) return npu_promote_dtypes(a->dtype, b->dtype);
  return dim->dtype;
}

/* Resolves a view/reshape size list with at most one -1 against numel. */
static npu_status_t resolve_size(const npu_graph_t *g, npu_node_id_t id, const char *attr,
                                 const npu_shape_t *in, npu_shape_t *outs) {
  int64_t v[NPU_MAX_RANK];
  int32_t n;
  char b[128];
  NPU_RETURN_IF_ERROR(attr_ints(g, id, attr, v, &n));
  if (n < 0) return ERR("missing attr '%s'", attr);
  int64_t numel, known = 1;
  if (!npu_shape_numel(in, &numel)) return ERR("input numel overflows");
  int32_t infer_at = -1;
  outs->rank = n;
  for (int32_t i = 0; i < n; i++) {
    if (v[i] == -1) {
      if (infer_at >= 0) return ERR("'%s' has more than one -1", attr);
      infer_at = i;
    } else if (v[i] < 0) {
      return ERR("'%s'[%d] = %" PRId64 " is negative", attr, i, v[i]);
    } else {
      if (v[i] != 0 && known > INT64_MAX / v[i]) return ERR("'%s' numel overflows", attr);
      known *= v[i];
    }
    outs->dims[i] = v[i];
  }
  if (infer_at >= 0) {
    if (known == 0 || numel % known != 0)
      return ERR("cannot infer -1 in '%s': input %s has %" PRId64 " elements", attr,
                 SHP(in, b, sizeof b), numel);
    outs->dims[infer_at] = numel / known;
  } else if (known != numel) {
    return ERR("'%s' has %" PRId64 " elements but input %s has %" PRId64, attr, known,
               SHP(in, b, sizeof b), numel);
  }
  return NULL;
}

/* ---- infer functions ----------------------------------------------------- */

INFER(infer_same) {
  UNUSED_INFER_ARGS;
  out[0] = same(IN(g, id, 0));
  return NULL;
}

/* Unary float ops (rsqrt, cos, exp, ...): integral inputs give float32. */
INFER(infer_float_unary) {
  UNUSED_INFER_ARGS;
  out[0] = same(IN(g, id, 0));
  if (is_int_or_bool(out[0].dtype)) out[0].dtype = NPU_DTYPE_FLOAT32;
  return NULL;
}

static npu_status_t binary(const npu_graph_t *g, npu_node_id_t id, npu_tensor_type_t *out,
                           bool true_div, bool inplace) {
  const npu_tensor_t *a = IN(g, id, 0);
  char ba[128], bb[128];
  npu_tensor_type_t r;
  if (NIN(g, id) >= 2) {
    const npu_tensor_t *b = IN(g, id, 1);
    if (!npu_broadcast_shapes(&a->shape, &b->shape, &r.shape))
      return ERR("cannot broadcast %s with %s", SHP(&a->shape, ba, sizeof ba),
                 SHP(&b->shape, bb, sizeof bb));
    r.dtype = promote_tensors(a, b);
  } else {
    const npu_attr_value_t *other = npu_node_attr(N(g, id), "other");
    if (!other || (other->kind != NPU_ATTR_INT && other->kind != NPU_ATTR_FLOAT &&
                   other->kind != NPU_ATTR_BOOL))
      return ERR("has 1 tensor input but no scalar 'other'");
    r.shape = a->shape;
    r.dtype = promote_with_scalar(a->dtype, other);
  }
  if (true_div && is_int_or_bool(r.dtype)) r.dtype = NPU_DTYPE_FLOAT32;
  if (inplace) {
    if (!npu_shape_equal(&r.shape, &a->shape))
      return ERR("in-place result %s does not match the mutated input %s",
                 SHP(&r.shape, ba, sizeof ba), SHP(&a->shape, bb, sizeof bb));
    if (category(r.dtype) > category(a->dtype))
      return ERR("in-place result type %s cannot be cast to %s", npu_dtype_name(r.dtype),
                 npu_dtype_name(a->dtype));
    r.dtype = a->dtype;
  }
  out[0] = r;
  return NULL;
}
INFER(infer_binary) { UNUSED_INFER_ARGS; return binary(g, id, out, false, false); }
INFER(infer_binary_inplace) { UNUSED_INFER_ARGS; return binary(g, id, out, false, true); }
INFER(infer_div) { UNUSED_INFER_ARGS; return binary(g, id, out, true, false); }

INFER(infer_conv2d) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *x = IN(g, id, 0), *w = IN(g, id, 1);
  char b[128];
  bool batched = x->shape.rank == 4;
  if (x->shape.rank != 3 && x->shape.rank != 4)
    return ERR("conv2d: x must be 3-D or 4-D, got %s", SHP(&x->shape, b, sizeof b));
  if (w->shape.rank != 4) return ERR("conv2d: weight must be 4-D, got %s", SHP(&w->shape, b, sizeof b));
  int64_t v[NPU_MAX_RANK], stride[2] = {1, 1}, pad[2] = {0, 0}, dil[2] = {1, 1};
  int32_t n;
  NPU_RETURN_IF_ERROR(attr_ints(g, id, "stride", v, &n));
  if (n >= 0 && !pair(v, n, stride)) return ERR("conv2d: stride must have 2 values");
  NPU_RETURN_IF_ERROR(attr_ints(g, id, "padding", v, &n));
  if (n >= 0 && !pair(v, n, pad)) return ERR("conv2d: padding must have 2 values");
  NPU_RETURN_IF_ERROR(attr_ints(g, id, "dilation", v, &n));
  if (n >= 0 && !pair(v, n, dil)) return ERR("conv2d: dilation must have 2 values");
  int64_t groups = attr_int_or(g, id, "groups", 1);
  if (groups < 1) return ERR("conv2d: groups must be positive, got %" PRId64, groups);
  int32_t c = batched ? 1 : 0;
  int64_t cin = x->shape.dims[c], cout = w->shape.dims[0];
  if (cin != w->shape.dims[1] * groups)
    return ERR("conv2d: weight has %" PRId64 " input channels per group but x has %" PRId64
               " (groups %" PRId64 ")", w->shape.dims[1], cin, groups);
  if (cout % groups != 0)
    return ERR("conv2d: %" PRId64 " output channels are not divisible by groups %" PRId64, cout, groups);
  if (NIN(g, id) >= 3) {
    const npu_tensor_t *bias = IN(g, id, 2);
    if (bias->shape.rank != 1 || bias->shape.dims[0] != cout)
      return ERR("conv2d: bias must be [%" PRId64 "], got %s", cout, SHP(&bias->shape, b, sizeof b));
  }
  if (w->dtype != x->dtype)
    return ERR("conv2d: weight dtype %s differs from x dtype %s", npu_dtype_name(w->dtype),
               npu_dtype_name(x->dtype));
  npu_tensor_type_t r = {.dtype = x->dtype, .shape = x->shape};
  r.shape.dims[c] = cout;
  for (int k = 0; k < 2; k++) {
    if (stride[k] < 1 || dil[k] < 1 || pad[k] < 0) return ERR("conv2d: bad stride/padding/dilation");
    int64_t in = x->shape.dims[c + 1 + k];
    int64_t eff = dil[k] * (w->shape.dims[2 + k] - 1) + 1;
    if (in + 2 * pad[k] < eff)
      return ERR("conv2d: kernel %" PRId64 " (dilated) is larger than padded input %" PRId64, eff,
                 in + 2 * pad[k]);
    r.shape.dims[c + 1 + k] = (in + 2 * pad[k] - eff) / stride[k] + 1;
  }
  out[0] = r;
  return NULL;
}

INFER(infer_batch_norm) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *x = IN(g, id, 0);
  char b[128];
  if (x->shape.rank < 2) return ERR("batch_norm: x must have at least 2 dims, got %s", SHP(&x->shape, b, sizeof b));
  for (int32_t i = 1; i < NIN(g, id); i++) {
    const npu_tensor_t *p = IN(g, id, i);
    if (p->shape.rank != 1 || p->shape.dims[0] != x->shape.dims[1])
      return ERR("batch_norm: input %d '%s' is %s but x has %" PRId64 " channels", i, p->name,
                 SHP(&p->shape, b, sizeof b), x->shape.dims[1]);
  }
  out[0] = same(x);
  return NULL;
}

INFER(infer_max_pool2d) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *x = IN(g, id, 0);
  char b[128];
  if (x->shape.rank != 3 && x->shape.rank != 4)
    return ERR("max_pool2d: x must be 3-D or 4-D, got %s", SHP(&x->shape, b, sizeof b));
  int64_t v[NPU_MAX_RANK], k[2], s[2], p[2] = {0, 0}, d[2] = {1, 1};
  int32_t n;
  NPU_RETURN_IF_ERROR(attr_ints(g, id, "kernel_size", v, &n));
  if (!pair(v, n, k)) return ERR("max_pool2d: kernel_size must have 1 or 2 values");
  NPU_RETURN_IF_ERROR(attr_ints(g, id, "stride", v, &n));
  if (n <= 0) { s[0] = k[0]; s[1] = k[1]; } /* ATen: empty stride = kernel_size */
  else if (!pair(v, n, s)) return ERR("max_pool2d: stride must have 0, 1 or 2 values");
  NPU_RETURN_IF_ERROR(attr_ints(g, id, "padding", v, &n));
  if (n >= 0 && !pair(v, n, p)) return ERR("max_pool2d: padding must have 1 or 2 values");
  NPU_RETURN_IF_ERROR(attr_ints(g, id, "dilation", v, &n));
  if (n >= 0 && !pair(v, n, d)) return ERR("max_pool2d: dilation must have 1 or 2 values");
  bool ceil_mode = attr_bool_or(g, id, "ceil_mode", false);
  npu_tensor_type_t r = same(x);
  int32_t h = x->shape.rank - 2;
  for (int i = 0; i < 2; i++) {
    if (k[i] < 1 || s[i] < 1 || d[i] < 1 || p[i] < 0) return ERR("max_pool2d: bad kernel/stride/padding/dilation");
    if (p[i] > (d[i] * (k[i] - 1) + 1) / 2) /* as in ATen's pool2d_shape_check */
      return ERR("max_pool2d: padding %" PRId64 " exceeds half the effective kernel %" PRId64, p[i],
                 d[i] * (k[i] - 1) + 1);
    int64_t in = x->shape.dims[h + i];
    int64_t num = in + 2 * p[i] - d[i] * (k[i] - 1) - 1 + (ceil_mode ? s[i] - 1 : 0);
    if (num < 0) return ERR("max_pool2d: output size would be empty");
    int64_t o = num / s[i] + 1;
    if (ceil_mode && (o - 1) * s[i] >= in + p[i]) o--; /* last window must start inside */
    r.shape.dims[h + i] = o;
  }
  out[0] = r;
  return NULL;
}

INFER(infer_adaptive_avg_pool2d) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *x = IN(g, id, 0);
  char b[128];
  if (x->shape.rank != 3 && x->shape.rank != 4)
    return ERR("adaptive_avg_pool2d: x must be 3-D or 4-D, got %s", SHP(&x->shape, b, sizeof b));
  int64_t v[NPU_MAX_RANK], o[2];
  int32_t n;
  NPU_RETURN_IF_ERROR(attr_ints(g, id, "output_size", v, &n));
  if (!pair(v, n, o) || o[0] < 0 || o[1] < 0) return ERR("adaptive_avg_pool2d: output_size must be 2 sizes");
  npu_tensor_type_t r = same(x);
  r.shape.dims[x->shape.rank - 2] = o[0];
  r.shape.dims[x->shape.rank - 1] = o[1];
  out[0] = r;
  return NULL;
}

INFER(infer_flatten) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *x = IN(g, id, 0);
  int32_t s, e;
  if (!npu_wrap_dim(attr_int_or(g, id, "start_dim", 0), x->shape.rank, &s) ||
      !npu_wrap_dim(attr_int_or(g, id, "end_dim", -1), x->shape.rank, &e))
    return ERR("flatten: dim out of range for rank %d", x->shape.rank);
  if (s > e) return ERR("flatten: start_dim %d comes after end_dim %d", s, e);
  npu_tensor_type_t r = {.dtype = x->dtype};
  if (x->shape.rank == 0) {
    r.shape.rank = 1;
    r.shape.dims[0] = 1;
  } else {
    int64_t m = 1;
    for (int32_t i = s; i <= e; i++) m *= x->shape.dims[i];
    for (int32_t i = 0; i < s; i++) r.shape.dims[r.shape.rank++] = x->shape.dims[i];
    r.shape.dims[r.shape.rank++] = m;
    for (int32_t i = e + 1; i < x->shape.rank; i++) r.shape.dims[r.shape.rank++] = x->shape.dims[i];
  }
  out[0] = r;
  return NULL;
}

INFER(infer_linear) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *x = IN(g, id, 0), *w = IN(g, id, 1);
  char b[128], c[128];
  if (x->shape.rank < 1) return ERR("linear: x must have at least 1 dim");
  int64_t k = x->shape.dims[x->shape.rank - 1];
  npu_tensor_type_t r = {.dtype = x->dtype, .shape = x->shape};
  if (w->shape.rank == 2) {
    if (w->shape.dims[1] != k)
      return ERR("linear: weight %s needs %" PRId64 " input features but x %s has %" PRId64,
                 SHP(&w->shape, b, sizeof b), w->shape.dims[1], SHP(&x->shape, c, sizeof c), k);
    r.shape.dims[r.shape.rank - 1] = w->shape.dims[0];
  } else if (w->shape.rank == 1) {
    if (w->shape.dims[0] != k) return ERR("linear: weight %s does not match x's last dim %" PRId64, SHP(&w->shape, b, sizeof b), k);
    r.shape.rank--;
  } else {
    return ERR("linear: weight must be 1-D or 2-D, got %s", SHP(&w->shape, b, sizeof b));
  }
  if (w->dtype != x->dtype)
    return ERR("linear: weight dtype %s differs from x dtype %s", npu_dtype_name(w->dtype), npu_dtype_name(x->dtype));
  if (NIN(g, id) >= 3) {
    const npu_tensor_t *bias = IN(g, id, 2);
    npu_shape_t bs;
    if (!npu_broadcast_shapes(&bias->shape, &r.shape, &bs) || !npu_shape_equal(&bs, &r.shape))
      return ERR("linear: bias %s does not broadcast to %s", SHP(&bias->shape, b, sizeof b), SHP(&r.shape, c, sizeof c));
  }
  out[0] = r;
  return NULL;
}

INFER(infer_addmm) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *bias = IN(g, id, 0), *m1 = IN(g, id, 1), *m2 = IN(g, id, 2);
  char b[128], c[128];
  if (m1->shape.rank != 2 || m2->shape.rank != 2) return ERR("addmm: mat1 and mat2 must be 2-D");
  if (m1->shape.dims[1] != m2->shape.dims[0])
    return ERR("addmm: mat1 %s and mat2 %s cannot be multiplied", SHP(&m1->shape, b, sizeof b), SHP(&m2->shape, c, sizeof c));
  npu_tensor_type_t r = {.dtype = m1->dtype, .shape = {.rank = 2, .dims = {m1->shape.dims[0], m2->shape.dims[1]}}};
  npu_shape_t bs;
  if (!npu_broadcast_shapes(&bias->shape, &r.shape, &bs) || !npu_shape_equal(&bs, &r.shape))
    return ERR("addmm: bias %s does not broadcast to %s", SHP(&bias->shape, b, sizeof b), SHP(&r.shape, c, sizeof c));
  out[0] = r;
  return NULL;
}

INFER(infer_t) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *x = IN(g, id, 0);
  if (x->shape.rank > 2) return ERR("t: input must be at most 2-D, got rank %d", x->shape.rank);
  out[0] = same(x);
  if (x->shape.rank == 2) {
    out[0].shape.dims[0] = x->shape.dims[1];
    out[0].shape.dims[1] = x->shape.dims[0];
  }
  return NULL;
}

INFER(infer_matmul) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *a = IN(g, id, 0), *bt = IN(g, id, 1);
  char b1[128], b2[128];
  int32_t ra = a->shape.rank, rb = bt->shape.rank;
  if (ra == 0 || rb == 0) return ERR("matmul: both operands need at least 1 dim");
  if (a->dtype != bt->dtype)
    return ERR("matmul: dtypes differ (%s and %s)", npu_dtype_name(a->dtype), npu_dtype_name(bt->dtype));
  /* Promote 1-D operands to matrices, remembering to drop the added dim. */
  npu_shape_t sa = a->shape, sb = bt->shape;
  if (ra == 1) { sa.rank = 2; sa.dims[1] = sa.dims[0]; sa.dims[0] = 1; }
  if (rb == 1) { sb.rank = 2; sb.dims[1] = 1; }
  int64_t k1 = sa.dims[sa.rank - 1], k2 = sb.dims[sb.rank - 2];
  if (k1 != k2)
    return ERR("matmul: %s and %s have mismatched inner dims (%" PRId64 " vs %" PRId64 ")",
               SHP(&a->shape, b1, sizeof b1), SHP(&bt->shape, b2, sizeof b2), k1, k2);
  npu_shape_t ba = {.rank = sa.rank - 2}, bb = {.rank = sb.rank - 2}, batch;
  memcpy(ba.dims, sa.dims, sizeof(int64_t) * (size_t)ba.rank);
  memcpy(bb.dims, sb.dims, sizeof(int64_t) * (size_t)bb.rank);
  if (!npu_broadcast_shapes(&ba, &bb, &batch))
    return ERR("matmul: batch dims of %s and %s do not broadcast", SHP(&a->shape, b1, sizeof b1),
               SHP(&bt->shape, b2, sizeof b2));
  if (batch.rank + 2 > NPU_MAX_RANK) return ERR("matmul: result rank too large");
  npu_tensor_type_t r = {.dtype = a->dtype, .shape = batch};
  if (ra != 1) r.shape.dims[r.shape.rank++] = sa.dims[sa.rank - 2];
  if (rb != 1) r.shape.dims[r.shape.rank++] = sb.dims[sb.rank - 1];
  out[0] = r;
  return NULL;
}

INFER(infer_embedding) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *w = IN(g, id, 0), *idx = IN(g, id, 1);
  char b[128];
  if (w->shape.rank != 2) return ERR("embedding: weight must be 2-D, got %s", SHP(&w->shape, b, sizeof b));
  if (!is_index_dtype(idx->dtype)) return ERR("embedding: indices must be int32 or int64, not %s", npu_dtype_name(idx->dtype));
  if (idx->shape.rank + 1 > NPU_MAX_RANK) return ERR("embedding: result rank too large");
  npu_tensor_type_t r = {.dtype = w->dtype, .shape = idx->shape};
  r.shape.dims[r.shape.rank++] = w->shape.dims[1];
  out[0] = r;
  return NULL;
}

/* RoPE HOP: the body is not in the IR, so the output dtype is the file's. */
INFER(infer_rope_hop) {
  const npu_tensor_t *f = IN(g, id, 0), *pos = IN(g, id, 1);
  char b[128];
  if (nout != 2) return ERR("wrap_with_set_grad_enabled: expected 2 outputs (cos, sin), got %d", nout);
  if (f->shape.rank != 1) return ERR("wrap_with_set_grad_enabled: inv_freq must be 1-D, got %s", SHP(&f->shape, b, sizeof b));
  if (pos->shape.rank != 2 || !is_int_or_bool(pos->dtype))
    return ERR("wrap_with_set_grad_enabled: position_ids must be a 2-D integer tensor, got %s %s",
               npu_dtype_name(pos->dtype), SHP(&pos->shape, b, sizeof b));
  for (int i = 0; i < 2; i++) {
    const npu_tensor_t *o = npu_graph_tensor(g, N(g, id)->outputs[i]);
    out[i].dtype = o->dtype;
    out[i].shape = (npu_shape_t){.rank = 3, .dims = {pos->shape.dims[0], pos->shape.dims[1], 2 * f->shape.dims[0]}};
  }
  return NULL;
}

INFER(infer_getitem) {
  UNUSED_INFER_ARGS;
  int64_t index;
  if (!npu_node_attr_int(N(g, id), "index", &index)) return ERR("getitem: attr 'index' must be an int");
  int32_t n = NIN(g, id);
  if (index < 0) index += n;
  if (index < 0 || index >= n) return ERR("getitem: index %" PRId64 " out of range for %d inputs", index, n);
  out[0] = same(IN(g, id, (int32_t)index));
  return NULL;
}

INFER(infer_to_dtype) {
  UNUSED_INFER_ARGS;
  npu_dtype_t d;
  if (!npu_node_attr_dtype(N(g, id), "dtype", &d)) return ERR("to: attr 'dtype' must be a dtype");
  out[0] = same(IN(g, id, 0));
  out[0].dtype = d;
  return NULL;
}

INFER(infer_pow_scalar) {
  UNUSED_INFER_ARGS;
  const npu_attr_value_t *e = npu_node_attr(N(g, id), "exponent");
  if (!e || (e->kind != NPU_ATTR_INT && e->kind != NPU_ATTR_FLOAT && e->kind != NPU_ATTR_BOOL))
    return ERR("pow: attr 'exponent' must be a number");
  out[0] = same(IN(g, id, 0));
  out[0].dtype = promote_with_scalar(out[0].dtype, e);
  return NULL;
}

/* Marks reduced dims; all dims if the list is absent or empty. */
static npu_status_t reduce_dims(const npu_graph_t *g, npu_node_id_t id, const npu_shape_t *s,
                                bool reduced[NPU_MAX_RANK]) {
  int64_t v[NPU_MAX_RANK];
  int32_t n;
  NPU_RETURN_IF_ERROR(attr_ints(g, id, "dim", v, &n));
  for (int32_t i = 0; i < NPU_MAX_RANK; i++) reduced[i] = n <= 0;
  for (int32_t i = 0; i < n; i++) {
    int32_t d;
    if (!npu_wrap_dim(v[i], s->rank, &d)) return ERR("dim %" PRId64 " out of range for rank %d", v[i], s->rank);
    if (reduced[d]) return ERR("dim %d appears more than once", d);
    reduced[d] = true;
  }
  return NULL;
}

INFER(infer_mean_dim) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *x = IN(g, id, 0);
  bool red[NPU_MAX_RANK], keep = attr_bool_or(g, id, "keepdim", false);
  NPU_RETURN_IF_ERROR(reduce_dims(g, id, &x->shape, red));
  npu_tensor_type_t r = {.dtype = x->dtype};
  npu_dtype_t d;
  if (npu_node_attr_dtype(N(g, id), "dtype", &d)) r.dtype = d;
  if (is_int_or_bool(r.dtype))
    return ERR("mean: cannot average %s values; give a floating dtype", npu_dtype_name(r.dtype));
  for (int32_t i = 0; i < x->shape.rank; i++) {
    if (!red[i]) r.shape.dims[r.shape.rank++] = x->shape.dims[i];
    else if (keep) r.shape.dims[r.shape.rank++] = 1;
  }
  out[0] = r;
  return NULL;
}

INFER(infer_max_dim) {
  const npu_tensor_t *x = IN(g, id, 0);
  int32_t d;
  if (nout != 2) return ERR("max.dim: expected 2 outputs (values, indices), got %d", nout);
  if (!npu_wrap_dim(attr_int_or(g, id, "dim", 0), x->shape.rank, &d)) return ERR("max.dim: dim out of range for rank %d", x->shape.rank);
  npu_tensor_type_t r = same(x);
  if (x->shape.rank > 0) {
    if (attr_bool_or(g, id, "keepdim", false)) {
      r.shape.dims[d] = 1;
    } else {
      for (int32_t i = d; i + 1 < r.shape.rank; i++) r.shape.dims[i] = r.shape.dims[i + 1];
      r.shape.rank--;
    }
  }
  out[0] = r;
  out[1] = r;
  out[1].dtype = NPU_DTYPE_INT64;
  return NULL;
}

INFER(infer_view) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *x = IN(g, id, 0);
  out[0].dtype = x->dtype;
  const char *attr = npu_node_attr(N(g, id), "shape") && !npu_node_attr(N(g, id), "size") ? "shape" : "size";
  return resolve_size(g, id, attr, &x->shape, &out[0].shape);
}

INFER(infer_unsqueeze) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *x = IN(g, id, 0);
  int32_t d;
  if (x->shape.rank + 1 > NPU_MAX_RANK) return ERR("unsqueeze: result rank too large");
  if (!npu_wrap_dim(attr_int_or(g, id, "dim", 0), x->shape.rank + 1, &d))
    return ERR("unsqueeze: dim %" PRId64 " out of range for rank %d", attr_int_or(g, id, "dim", 0), x->shape.rank);
  npu_tensor_type_t r = {.dtype = x->dtype, .shape = {.rank = x->shape.rank + 1}};
  for (int32_t i = 0, j = 0; i < r.shape.rank; i++) r.shape.dims[i] = i == d ? 1 : x->shape.dims[j++];
  out[0] = r;
  return NULL;
}

INFER(infer_squeeze_dim) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *x = IN(g, id, 0);
  int32_t d;
  if (!npu_wrap_dim(attr_int_or(g, id, "dim", 0), x->shape.rank, &d)) return ERR("squeeze: dim out of range for rank %d", x->shape.rank);
  npu_tensor_type_t r = same(x);
  if (x->shape.rank > 0 && x->shape.dims[d] == 1) {
    for (int32_t i = d; i + 1 < r.shape.rank; i++) r.shape.dims[i] = r.shape.dims[i + 1];
    r.shape.rank--;
  }
  out[0] = r;
  return NULL;
}

INFER(infer_transpose) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *x = IN(g, id, 0);
  int32_t a, b;
  if (!npu_wrap_dim(attr_int_or(g, id, "dim0", 0), x->shape.rank, &a) ||
      !npu_wrap_dim(attr_int_or(g, id, "dim1", 0), x->shape.rank, &b))
    return ERR("transpose: dim out of range for rank %d", x->shape.rank);
  npu_tensor_type_t r = same(x);
  if (x->shape.rank > 0) {
    r.shape.dims[a] = x->shape.dims[b];
    r.shape.dims[b] = x->shape.dims[a];
  }
  out[0] = r;
  return NULL;
}

INFER(infer_permute) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *x = IN(g, id, 0);
  int64_t v[NPU_MAX_RANK];
  int32_t n;
  NPU_RETURN_IF_ERROR(attr_ints(g, id, "dims", v, &n));
  if (n != x->shape.rank) return ERR("permute: dims has %d entries but input has rank %d", n, x->shape.rank);
  bool used[NPU_MAX_RANK] = {false};
  npu_tensor_type_t r = same(x);
  for (int32_t i = 0; i < n; i++) {
    int32_t d;
    if (!npu_wrap_dim(v[i], x->shape.rank, &d) || used[d]) return ERR("permute: dims is not a permutation");
    used[d] = true;
    r.shape.dims[i] = x->shape.dims[d];
  }
  out[0] = r;
  return NULL;
}

INFER(infer_slice) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *x = IN(g, id, 0);
  int32_t d;
  if (x->shape.rank == 0) return ERR("slice: cannot slice a 0-d tensor");
  if (!npu_wrap_dim(attr_int_or(g, id, "dim", 0), x->shape.rank, &d)) return ERR("slice: dim out of range for rank %d", x->shape.rank);
  int64_t size = x->shape.dims[d];
  int64_t start = attr_int_or(g, id, "start", 0), end = attr_int_or(g, id, "end", INT64_MAX);
  int64_t step = attr_int_or(g, id, "step", 1);
  if (step <= 0) return ERR("slice: step must be positive, got %" PRId64, step);
  /* at::slice: wrap negatives once, then clamp into [0, size] and end >= start. */
  if (start < 0) start += size;
  if (end < 0) end += size;
  if (start < 0) start = 0;
  else if (start >= size) start = size;
  if (end < start) end = start;
  else if (end >= size) end = size;
  npu_tensor_type_t r = same(x);
  r.shape.dims[d] = (end - start + step - 1) / step;
  out[0] = r;
  return NULL;
}

INFER(infer_expand) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *x = IN(g, id, 0);
  int64_t v[NPU_MAX_RANK];
  int32_t n;
  char b[128];
  NPU_RETURN_IF_ERROR(attr_ints(g, id, "size", v, &n));
  if (n < x->shape.rank)
    return ERR("expand: size has %d entries, fewer than the input's rank %d", n, x->shape.rank);
  npu_tensor_type_t r = {.dtype = x->dtype, .shape = {.rank = n}};
  int32_t lead = n - x->shape.rank;
  for (int32_t i = 0; i < n; i++) {
    if (i < lead) {
      if (v[i] < 0) return ERR("expand: -1 is not allowed for the new leading dim %d", i);
      r.shape.dims[i] = v[i];
      continue;
    }
    int64_t have = x->shape.dims[i - lead];
    if (v[i] == -1) r.shape.dims[i] = have;
    else if (have == v[i] || have == 1) r.shape.dims[i] = v[i];
    else
      return ERR("expand: cannot expand %s: dim %d is %" PRId64 ", not 1 or %" PRId64,
                 SHP(&x->shape, b, sizeof b), i - lead, have, v[i]);
    if (r.shape.dims[i] < 0) return ERR("expand: negative size %" PRId64, v[i]);
  }
  out[0] = r;
  return NULL;
}

INFER(infer_cat) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *ref = NULL;
  char b1[128], b2[128];
  npu_dtype_t dt = IN(g, id, 0)->dtype;
  for (int32_t i = 0; i < NIN(g, id); i++) {
    const npu_tensor_t *t = IN(g, id, i);
    dt = npu_promote_dtypes(dt, t->dtype);
    bool legacy_empty = t->shape.rank == 1 && t->shape.dims[0] == 0;
    if (!ref && !legacy_empty) ref = t;
  }
  if (!ref) { /* every input is a legacy [0]: the result is [0] */
    out[0] = same(IN(g, id, 0));
    out[0].dtype = dt;
    return NULL;
  }
  int32_t d;
  if (ref->shape.rank == 0) return ERR("cat: zero-dimensional tensor '%s' cannot be concatenated", ref->name);
  if (!npu_wrap_dim(attr_int_or(g, id, "dim", 0), ref->shape.rank, &d))
    return ERR("cat: dim %" PRId64 " out of range for rank %d", attr_int_or(g, id, "dim", 0), ref->shape.rank);
  npu_tensor_type_t r = {.dtype = dt, .shape = ref->shape};
  r.shape.dims[d] = 0;
  for (int32_t i = 0; i < NIN(g, id); i++) {
    const npu_tensor_t *t = IN(g, id, i);
    if (t->shape.rank == 1 && t->shape.dims[0] == 0) continue;
    bool ok = t->shape.rank == ref->shape.rank;
    for (int32_t k = 0; ok && k < ref->shape.rank; k++)
      if (k != d && t->shape.dims[k] != ref->shape.dims[k]) ok = false;
    if (!ok)
      return ERR("cat: input %d %s does not match %s outside dim %d", i, SHP(&t->shape, b1, sizeof b1),
                 SHP(&ref->shape, b2, sizeof b2), d);
    r.shape.dims[d] += t->shape.dims[d];
  }
  out[0] = r;
  return NULL;
}

INFER(infer_index_copy) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *self = IN(g, id, 0), *idx = IN(g, id, 1), *src = IN(g, id, 2);
  char b1[128], b2[128];
  int32_t d;
  if (!npu_wrap_dim(attr_int_or(g, id, "dim", 0), self->shape.rank, &d)) return ERR("index_copy: dim out of range for rank %d", self->shape.rank);
  if (idx->dtype != NPU_DTYPE_INT64) return ERR("index_copy: index must be int64, not %s", npu_dtype_name(idx->dtype));
  if (idx->shape.rank > 1) return ERR("index_copy: index must be 0-D or 1-D");
  int64_t nidx = idx->shape.rank == 1 ? idx->shape.dims[0] : 1;
  if (src->dtype != self->dtype)
    return ERR("index_copy: source dtype %s differs from self dtype %s", npu_dtype_name(src->dtype), npu_dtype_name(self->dtype));
  bool ok = src->shape.rank == self->shape.rank || (self->shape.rank == 0 && src->shape.rank <= 1);
  for (int32_t k = 0; ok && k < self->shape.rank; k++)
    if (src->shape.dims[k] != (k == d ? nidx : self->shape.dims[k])) ok = false;
  if (!ok)
    return ERR("index_copy: source %s does not fit self %s with %" PRId64 " indices along dim %d",
               SHP(&src->shape, b1, sizeof b1), SHP(&self->shape, b2, sizeof b2), nidx, d);
  out[0] = same(self);
  return NULL;
}

INFER(infer_softmax) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *x = IN(g, id, 0);
  int32_t d;
  if (!npu_wrap_dim(attr_int_or(g, id, "dim", 0), x->shape.rank, &d)) return ERR("softmax: dim out of range for rank %d", x->shape.rank);
  out[0] = same(x);
  npu_dtype_t dt;
  if (npu_node_attr_dtype(N(g, id), "dtype", &dt)) out[0].dtype = dt;
  if (attr_bool_or(g, id, "half_to_float", false)) {
    if (x->dtype != NPU_DTYPE_FLOAT16) return ERR("_softmax: half_to_float needs a float16 input");
    out[0].dtype = NPU_DTYPE_FLOAT32;
  }
  if (is_int_or_bool(out[0].dtype)) return ERR("softmax: %s is not a floating dtype", npu_dtype_name(out[0].dtype));
  return NULL;
}

INFER(infer_dropout) {
  UNUSED_INFER_ARGS;
  double p = 0;
  npu_node_attr_float(N(g, id), "p", &p);
  if (attr_bool_or(g, id, "train", false) && p != 0.0)
    return npu_node_error(g, id, NPU_STATUS_UNSUPPORTED, "dropout: train=true with p=%g is not supported (inference only)", p);
  out[0] = same(IN(g, id, 0));
  return NULL;
}

INFER(infer_full) {
  UNUSED_INFER_ARGS;
  int64_t v[NPU_MAX_RANK];
  int32_t n;
  NPU_RETURN_IF_ERROR(attr_ints(g, id, "size", v, &n));
  if (n < 0) return ERR("full: missing 'size'");
  npu_tensor_type_t r = {.shape = {.rank = n}};
  for (int32_t i = 0; i < n; i++) {
    if (v[i] < 0) return ERR("full: negative size %" PRId64, v[i]);
    r.shape.dims[i] = v[i];
  }
  const npu_attr_value_t *fill = npu_node_attr(N(g, id), "fill_value");
  if (!npu_node_attr_dtype(N(g, id), "dtype", &r.dtype)) {
    if (!fill || fill->kind == NPU_ATTR_NULL) return ERR("full: missing 'fill_value'");
    r.dtype = scalar_dtype(fill);
  }
  out[0] = r;
  return NULL;
}

INFER(infer_arange) {
  UNUSED_INFER_ARGS;
  const npu_attr_value_t *vals[3] = {npu_node_attr(N(g, id), "start"), npu_node_attr(N(g, id), "end"),
                                     npu_node_attr(N(g, id), "step")};
  double num[3] = {0, 0, 1};
  bool all_int = true;
  for (int i = 0; i < 3; i++) {
    const npu_attr_value_t *v = vals[i];
    if (!v || v->kind == NPU_ATTR_NULL) {
      if (i == 1) return ERR("arange: missing 'end'");
      continue;
    }
    if (v->kind == NPU_ATTR_INT) num[i] = (double)v->u.i;
    else if (v->kind == NPU_ATTR_FLOAT) { num[i] = v->u.f; all_int = false; }
    else if (v->kind == NPU_ATTR_BOOL) num[i] = v->u.b;
    else return ERR("arange: start/end/step must be numbers");
  }
  if (num[2] == 0) return ERR("arange: step must be nonzero");
  double len = ceil((num[1] - num[0]) / num[2]);
  if (!(len >= 0) || len > 9e18) return ERR("arange: range is empty in the wrong direction or too large");
  npu_tensor_type_t r = {.dtype = all_int ? NPU_DTYPE_INT64 : NPU_DTYPE_FLOAT32,
                         .shape = {.rank = 1, .dims = {(int64_t)len}}};
  npu_dtype_t d;
  if (npu_node_attr_dtype(N(g, id), "dtype", &d)) r.dtype = d;
  out[0] = r;
  return NULL;
}

INFER(infer_split_with_sizes) {
  const npu_tensor_t *x = IN(g, id, 0);
  int32_t d;
  char b[128];
  const npu_attr_value_t *a = npu_node_attr(N(g, id), "split_sizes");
  if (!a || a->kind != NPU_ATTR_LIST) return ERR("split_with_sizes: 'split_sizes' must be a list of ints");
  if (a->u.list.count != nout)
    return ERR("split_with_sizes: %d split sizes but %d outputs", a->u.list.count, nout);
  if (!npu_wrap_dim(attr_int_or(g, id, "dim", 0), x->shape.rank, &d) || x->shape.rank == 0)
    return ERR("split_with_sizes: dim out of range for rank %d", x->shape.rank);
  int64_t total = 0;
  for (int32_t i = 0; i < nout; i++) {
    const npu_attr_value_t *it = &a->u.list.items[i];
    if (it->kind != NPU_ATTR_INT || it->u.i < 0) return ERR("split_with_sizes: sizes must be non-negative ints");
    out[i] = same(x);
    out[i].shape.dims[d] = it->u.i;
    total += it->u.i;
  }
  if (total != x->shape.dims[d])
    return ERR("split_with_sizes: sizes sum to %" PRId64 " but dim %d of %s is %" PRId64, total, d,
               SHP(&x->shape, b, sizeof b), x->shape.dims[d]);
  return NULL;
}

/* aten.index.Tensor: advanced indexing with a list of (possibly None) index
 * tensors; inputs are self then the non-None indices. */
INFER(infer_index) {
  UNUSED_INFER_ARGS;
  const npu_node_t *node = N(g, id);
  const npu_tensor_t *x = IN(g, id, 0);
  int32_t nidx = node->num_inputs - 1;
  /* slots: true = None. From _tensor_list_none_masks[0] when present. */
  bool none[NPU_MAX_RANK] = {false};
  int32_t nslots = nidx;
  const npu_attr_value_t *m = npu_node_attr(node, "_tensor_list_none_masks");
  if (m && m->kind == NPU_ATTR_LIST && m->u.list.count > 0 && m->u.list.items[0].kind == NPU_ATTR_LIST) {
    const npu_attr_value_t *mask = &m->u.list.items[0];
    nslots = mask->u.list.count;
    if (nslots > NPU_MAX_RANK) return ERR("index: too many indices");
    int32_t present = 0;
    for (int32_t i = 0; i < nslots; i++) {
      none[i] = mask->u.list.items[i].kind == NPU_ATTR_BOOL && mask->u.list.items[i].u.b;
      present += !none[i];
    }
    if (present != nidx) return ERR("index: none mask lists %d tensors but there are %d", present, nidx);
  }
  if (nslots > x->shape.rank) return ERR("index: %d indices for a tensor of rank %d", nslots, x->shape.rank);
  npu_shape_t bshape = {.rank = 0};
  int32_t first = -1, last = -1, t = 1;
  for (int32_t i = 0; i < nslots; i++) {
    if (none[i]) continue;
    const npu_tensor_t *ix = IN(g, id, t++);
    if (!is_index_dtype(ix->dtype)) {
      /* A bool/uint8 mask: the result size depends on the data. */
      if (ix->dtype == NPU_DTYPE_BOOL || ix->dtype == NPU_DTYPE_UINT8) {
        out[0] = same(npu_graph_tensor(g, node->outputs[0]));
        return NULL;
      }
      return ERR("index: index tensor '%s' must be integral, not %s", ix->name, npu_dtype_name(ix->dtype));
    }
    if (!npu_broadcast_shapes(&bshape, &ix->shape, &bshape)) return ERR("index: index tensors do not broadcast");
    if (first < 0) first = i;
    last = i;
  }
  npu_tensor_type_t r = {.dtype = x->dtype};
  bool adjacent = true;
  for (int32_t i = first; first >= 0 && i <= last; i++) if (none[i]) adjacent = false;
  int32_t rank;
  if (first >= 0) {
    int32_t n_idx_dims = 0;
    for (int32_t i = first; i <= last; i++) n_idx_dims += !none[i];
    rank = x->shape.rank - n_idx_dims + bshape.rank;
  } else {
    rank = x->shape.rank;
  }
  if (rank > NPU_MAX_RANK) return ERR("index: result rank too large");
  if (first < 0) { out[0] = same(x); return NULL; }
  if (adjacent) {
    for (int32_t i = 0; i < first; i++) r.shape.dims[r.shape.rank++] = x->shape.dims[i];
    for (int32_t i = 0; i < bshape.rank; i++) r.shape.dims[r.shape.rank++] = bshape.dims[i];
    for (int32_t i = last + 1; i < x->shape.rank; i++) r.shape.dims[r.shape.rank++] = x->shape.dims[i];
  } else {
    for (int32_t i = 0; i < bshape.rank; i++) r.shape.dims[r.shape.rank++] = bshape.dims[i];
    for (int32_t i = 0; i < x->shape.rank; i++)
      if (i >= nslots || none[i]) r.shape.dims[r.shape.rank++] = x->shape.dims[i];
  }
  out[0] = r;
  return NULL;
}

INFER(infer_sdpa) {
  UNUSED_INFER_ARGS;
  const npu_tensor_t *q = IN(g, id, 0), *k = IN(g, id, 1), *v = IN(g, id, 2);
  char b1[128], b2[128];
  if (q->shape.rank < 2 || k->shape.rank < 2 || v->shape.rank < 2)
    return ERR("scaled_dot_product_attention: q, k, v need at least 2 dims");
  int64_t e = q->shape.dims[q->shape.rank - 1];
  if (k->shape.dims[k->shape.rank - 1] != e)
    return ERR("scaled_dot_product_attention: q %s and k %s have different head dims",
               SHP(&q->shape, b1, sizeof b1), SHP(&k->shape, b2, sizeof b2));
  if (k->shape.dims[k->shape.rank - 2] != v->shape.dims[v->shape.rank - 2])
    return ERR("scaled_dot_product_attention: k %s and v %s have different sequence lengths",
               SHP(&k->shape, b1, sizeof b1), SHP(&v->shape, b2, sizeof b2));
  if (attr_bool_or(g, id, "enable_gqa", false) && q->shape.rank >= 3 && k->shape.rank >= 3) {
    int64_t hq = q->shape.dims[q->shape.rank - 3], hk = k->shape.dims[k->shape.rank - 3];
    if (hk == 0 || hq % hk != 0) return ERR("scaled_dot_product_attention: %" PRId64 " query heads not a multiple of %" PRId64 " kv heads", hq, hk);
  }
  npu_tensor_type_t r = same(q);
  r.shape.dims[r.shape.rank - 1] = v->shape.dims[v->shape.rank - 1];
  if (NIN(g, id) >= 4) { /* the mask broadcasts to [..., L, S] */
    const npu_tensor_t *m = IN(g, id, 3);
    npu_shape_t scores = q->shape, bs;
    scores.dims[scores.rank - 1] = k->shape.dims[k->shape.rank - 2];
    if (!npu_broadcast_shapes(&m->shape, &scores, &bs) || !npu_shape_equal(&bs, &scores))
      return ERR("scaled_dot_product_attention: attn_mask %s does not broadcast to %s",
                 SHP(&m->shape, b1, sizeof b1), SHP(&scores, b2, sizeof b2));
  }
  out[0] = r;
  return NULL;
}

/* ---- argument tables ----------------------------------------------------- */

#define A_NULL {.kind = NPU_ATTR_NULL}
#define A_INT(v) {.kind = NPU_ATTR_INT, .u.i = (v)}
#define A_FLOAT(v) {.kind = NPU_ATTR_FLOAT, .u.f = (v)}
#define A_BOOL(v) {.kind = NPU_ATTR_BOOL, .u.b = (v)}
#define A_LIST(arr, n) {.kind = NPU_ATTR_LIST, .u.list = {.items = (arr), .count = (n)}}

static const npu_attr_value_t k_ones2[2] = {A_INT(1), A_INT(1)};
static const npu_attr_value_t k_zeros2[2] = {A_INT(0), A_INT(0)};

#define ARG(n, k) {.name = (n), .kind = (k), .default_value = A_NULL}
#define REQ(n, k) {.name = (n), .kind = (k), .required = true, .default_value = A_NULL}
#define DEF(n, k, v) {.name = (n), .kind = (k), .default_value = v}
#define DEFL(n, v, len) {.name = (n), .kind = NPU_ARG_INTS, .default_value = v, .ints_len = (len)}

static const npu_arg_schema_t args_conv2d[] = {
    DEFL("stride", A_LIST(k_ones2, 2), 2), DEFL("padding", A_LIST(k_zeros2, 2), 2),
    DEFL("dilation", A_LIST(k_ones2, 2), 2), DEF("groups", NPU_ARG_INT, A_INT(1))};
static const npu_arg_schema_t args_batch_norm[] = {
    REQ("training", NPU_ARG_BOOL), REQ("momentum", NPU_ARG_FLOAT), REQ("eps", NPU_ARG_FLOAT),
    REQ("cudnn_enabled", NPU_ARG_BOOL)};
static const npu_arg_schema_t args_binary_alpha[] = {ARG("other", NPU_ARG_SCALAR),
                                                     DEF("alpha", NPU_ARG_SCALAR, A_INT(1))};
static const npu_arg_schema_t args_binary[] = {ARG("other", NPU_ARG_SCALAR)};
static const npu_arg_schema_t args_max_pool2d[] = {
    {.name = "kernel_size", .kind = NPU_ARG_INTS, .required = true, .ints_len = 2},
    /* ATen's default is [] meaning "= kernel_size"; 0 = any length so [] survives
     * a second normalisation. Infer checks the length. */
    DEFL("stride", A_LIST(NULL, 0), 0), DEFL("padding", A_LIST(k_zeros2, 2), 2),
    DEFL("dilation", A_LIST(k_ones2, 2), 2), DEF("ceil_mode", NPU_ARG_BOOL, A_BOOL(false))};
static const npu_arg_schema_t args_adaptive_pool[] = {
    {.name = "output_size", .kind = NPU_ARG_INTS, .required = true, .ints_len = 2}};
static const npu_arg_schema_t args_flatten[] = {DEF("start_dim", NPU_ARG_INT, A_INT(0)),
                                                DEF("end_dim", NPU_ARG_INT, A_INT(-1))};
static const npu_arg_schema_t args_addmm[] = {DEF("beta", NPU_ARG_SCALAR, A_INT(1)),
                                              DEF("alpha", NPU_ARG_SCALAR, A_INT(1))};
static const npu_arg_schema_t args_embedding[] = {DEF("padding_idx", NPU_ARG_INT, A_INT(-1)),
                                                  DEF("scale_grad_by_freq", NPU_ARG_BOOL, A_BOOL(false)),
                                                  DEF("sparse", NPU_ARG_BOOL, A_BOOL(false))};
static const npu_arg_schema_t args_getitem[] = {REQ("index", NPU_ARG_INT)};
static const npu_arg_schema_t args_assert_meta[] = {
    ARG("size", NPU_ARG_ANY), ARG("stride", NPU_ARG_ANY), ARG("dtype", NPU_ARG_DTYPE),
    ARG("device", NPU_ARG_ANY), ARG("layout", NPU_ARG_ANY)};
static const npu_arg_schema_t args_to_dtype[] = {
    REQ("dtype", NPU_ARG_DTYPE), DEF("non_blocking", NPU_ARG_BOOL, A_BOOL(false)),
    DEF("copy", NPU_ARG_BOOL, A_BOOL(false)), ARG("memory_format", NPU_ARG_ANY)};
static const npu_arg_schema_t args_pow_scalar[] = {REQ("exponent", NPU_ARG_SCALAR)};
static const npu_arg_schema_t args_mean_dim[] = {
    REQ("dim", NPU_ARG_INTS), DEF("keepdim", NPU_ARG_BOOL, A_BOOL(false)), ARG("dtype", NPU_ARG_DTYPE)};
static const npu_arg_schema_t args_view[] = {REQ("size", NPU_ARG_INTS)};
static const npu_arg_schema_t args_reshape[] = {REQ("shape", NPU_ARG_INTS)};
static const npu_arg_schema_t args_dim_req[] = {REQ("dim", NPU_ARG_INT)};
static const npu_arg_schema_t args_transpose[] = {REQ("dim0", NPU_ARG_INT), REQ("dim1", NPU_ARG_INT)};
static const npu_arg_schema_t args_permute[] = {REQ("dims", NPU_ARG_INTS)};
static const npu_arg_schema_t args_memory_format[] = {ARG("memory_format", NPU_ARG_ANY)};
static const npu_arg_schema_t args_slice[] = {
    DEF("dim", NPU_ARG_INT, A_INT(0)), ARG("start", NPU_ARG_INT), ARG("end", NPU_ARG_INT),
    DEF("step", NPU_ARG_INT, A_INT(1))};
static const npu_arg_schema_t args_expand[] = {REQ("size", NPU_ARG_INTS),
                                               DEF("implicit", NPU_ARG_BOOL, A_BOOL(false))};
static const npu_arg_schema_t args_cat[] = {DEF("dim", NPU_ARG_INT, A_INT(0))};
static const npu_arg_schema_t args_softmax[] = {REQ("dim", NPU_ARG_INT), ARG("dtype", NPU_ARG_DTYPE)};
static const npu_arg_schema_t args__softmax[] = {REQ("dim", NPU_ARG_INT), REQ("half_to_float", NPU_ARG_BOOL)};
static const npu_arg_schema_t args_dropout[] = {REQ("p", NPU_ARG_FLOAT), REQ("train", NPU_ARG_BOOL)};
static const npu_arg_schema_t args_full[] = {
    REQ("size", NPU_ARG_INTS), REQ("fill_value", NPU_ARG_SCALAR), ARG("dtype", NPU_ARG_DTYPE),
    ARG("layout", NPU_ARG_ANY), ARG("device", NPU_ARG_ANY), ARG("pin_memory", NPU_ARG_ANY)};
static const npu_arg_schema_t args_arange[] = {
    REQ("end", NPU_ARG_SCALAR), ARG("dtype", NPU_ARG_DTYPE), ARG("layout", NPU_ARG_ANY),
    ARG("device", NPU_ARG_ANY), ARG("pin_memory", NPU_ARG_ANY)};
static const npu_arg_schema_t args_arange_start[] = {
    REQ("start", NPU_ARG_SCALAR), REQ("end", NPU_ARG_SCALAR), ARG("dtype", NPU_ARG_DTYPE),
    ARG("layout", NPU_ARG_ANY), ARG("device", NPU_ARG_ANY), ARG("pin_memory", NPU_ARG_ANY)};
static const npu_arg_schema_t args_arange_start_step[] = {
    REQ("start", NPU_ARG_SCALAR), REQ("end", NPU_ARG_SCALAR), DEF("step", NPU_ARG_SCALAR, A_INT(1)),
    ARG("dtype", NPU_ARG_DTYPE), ARG("layout", NPU_ARG_ANY), ARG("device", NPU_ARG_ANY),
    ARG("pin_memory", NPU_ARG_ANY)};
static const npu_arg_schema_t args_max_dim[] = {REQ("dim", NPU_ARG_INT),
                                                DEF("keepdim", NPU_ARG_BOOL, A_BOOL(false))};
static const npu_arg_schema_t args_split[] = {REQ("split_sizes", NPU_ARG_INTS),
                                              DEF("dim", NPU_ARG_INT, A_INT(0))};
static const npu_arg_schema_t args_sdpa[] = {
    DEF("dropout_p", NPU_ARG_FLOAT, A_FLOAT(0.0)), DEF("is_causal", NPU_ARG_BOOL, A_BOOL(false)),
    ARG("scale", NPU_ARG_FLOAT), DEF("enable_gqa", NPU_ARG_BOOL, A_BOOL(false))};

/* ---- schemas --------------------------------------------------------------- */

#define ARGS(a) .args = (a), .num_args = (int32_t)(sizeof(a) / sizeof((a)[0]))
#define OP(id_, nm, sum, mn, mx, no, inf, fl, ...) \
  static const npu_op_schema_t id_ = {.name = (nm), .summary = (sum), .min_inputs = (mn), \
                                      .max_inputs = (mx), .num_outputs = (no), .infer = (inf), \
                                      .flags = (fl), __VA_ARGS__}
#define NOARGS .args = NULL, .num_args = 0

enum { VIEW = NPU_OP_FLAG_VIEW, INPLACE = NPU_OP_FLAG_INPLACE, NOOP = NPU_OP_FLAG_NOOP };

OP(op_conv2d, "aten.conv2d.default", "2-D convolution: x [N,C,H,W], weight [Co,C/groups,kh,kw], optional bias [Co]",
   2, 3, 1, infer_conv2d, 0, ARGS(args_conv2d));
OP(op_batch_norm, "aten.batch_norm.default", "batch norm over dim 1: x, weight, bias, running_mean, running_var",
   1, 5, 1, infer_batch_norm, 0, ARGS(args_batch_norm));
OP(op_relu, "aten.relu.default", "max(x, 0)", 1, 1, 1, infer_same, 0, NOARGS);
OP(op_relu_, "aten.relu_.default", "in-place max(x, 0)", 1, 1, 1, infer_same, INPLACE, NOARGS,
   .functional_variant = "aten.relu.default");
OP(op_add, "aten.add.Tensor", "a + alpha*b with broadcast and type promotion; 1 input: a + other",
   1, 2, 1, infer_binary, 0, ARGS(args_binary_alpha));
OP(op_add_, "aten.add_.Tensor", "in-place a += alpha*b", 1, 2, 1, infer_binary_inplace, INPLACE,
   ARGS(args_binary_alpha), .functional_variant = "aten.add.Tensor");
OP(op_sub, "aten.sub.Tensor", "a - alpha*b with broadcast; 1 input: a - other", 1, 2, 1, infer_binary, 0,
   ARGS(args_binary_alpha));
OP(op_mul, "aten.mul.Tensor", "a * b with broadcast; 1 input: a * other", 1, 2, 1, infer_binary, 0,
   ARGS(args_binary));
OP(op_mul_, "aten.mul_.Tensor", "in-place a *= b", 1, 2, 1, infer_binary_inplace, INPLACE, ARGS(args_binary),
   .functional_variant = "aten.mul.Tensor");
OP(op_div, "aten.div.Tensor", "true division a / b (integers give float32); 1 input: a / other", 1, 2, 1,
   infer_div, 0, ARGS(args_binary));
OP(op_max_pool2d, "aten.max_pool2d.default", "2-D max pooling; empty stride means stride = kernel_size",
   1, 1, 1, infer_max_pool2d, 0, ARGS(args_max_pool2d));
OP(op_adaptive_avg_pool2d, "aten.adaptive_avg_pool2d.default", "2-D adaptive average pooling to output_size",
   1, 1, 1, infer_adaptive_avg_pool2d, 0, ARGS(args_adaptive_pool));
OP(op_flatten, "aten.flatten.using_ints", "flattens dims start_dim..end_dim into one", 1, 1, 1, infer_flatten,
   0, ARGS(args_flatten));
OP(op_linear, "aten.linear.default", "x [...,K] @ W[N,K]^T + b -> [...,N]", 2, 3, 1, infer_linear, 0, NOARGS);
OP(op_addmm, "aten.addmm.default", "beta*bias + alpha*(mat1 [M,K] @ mat2 [K,N])", 3, 3, 1, infer_addmm, 0,
   ARGS(args_addmm));
OP(op_t, "aten.t.default", "transpose of a tensor of rank <= 2", 1, 1, 1, infer_t, VIEW, NOARGS);
OP(op_matmul, "aten.matmul.default", "matrix product with batch broadcast (torch.matmul)", 2, 2, 1, infer_matmul,
   0, NOARGS);
OP(op_embedding, "aten.embedding.default", "table lookup: weight [V,D] (input 0), int indices -> [...,D]", 2, 2,
   1, infer_embedding, 0, ARGS(args_embedding));
OP(op_rope_hop, "wrap_with_set_grad_enabled",
   "RoPE HOP: inv_freq [D/2], position_ids [B,S] -> cos, sin [B,S,D] (dtype as in the file)", 2, 2, 2,
   infer_rope_hop, 0, NOARGS);
OP(op_getitem, "<built-in function getitem>", "alias of input[index] (inputs are all producer outputs)", 1, -1,
   1, infer_getitem, VIEW, ARGS(args_getitem));
OP(op_assert_meta, "aten._assert_tensor_metadata.default", "metadata assertion; no outputs", 1, 1, 0, NULL,
   NOOP, ARGS(args_assert_meta));
OP(op_to_dtype, "aten.to.dtype", "casts to dtype", 1, 1, 1, infer_to_dtype, 0, ARGS(args_to_dtype));
OP(op_pow_scalar, "aten.pow.Tensor_Scalar", "x ** exponent (a scalar)", 1, 1, 1, infer_pow_scalar, 0,
   ARGS(args_pow_scalar));
OP(op_mean_dim, "aten.mean.dim", "mean over dims (all if empty), optional keepdim and dtype", 1, 1, 1,
   infer_mean_dim, 0, ARGS(args_mean_dim));
OP(op_rsqrt, "aten.rsqrt.default", "1/sqrt(x)", 1, 1, 1, infer_float_unary, 0, NOARGS);
OP(op_neg, "aten.neg.default", "-x", 1, 1, 1, infer_same, 0, NOARGS);
OP(op_silu, "aten.silu.default", "x * sigmoid(x)", 1, 1, 1, infer_same, 0, NOARGS);
OP(op_cos, "aten.cos.default", "cos(x)", 1, 1, 1, infer_float_unary, 0, NOARGS);
OP(op_sin, "aten.sin.default", "sin(x)", 1, 1, 1, infer_float_unary, 0, NOARGS);
OP(op_exp, "aten.exp.default", "exp(x)", 1, 1, 1, infer_float_unary, 0, NOARGS);
OP(op_sigmoid, "aten.sigmoid.default", "1/(1+exp(-x))", 1, 1, 1, infer_float_unary, 0, NOARGS);
OP(op_tanh, "aten.tanh.default", "tanh(x)", 1, 1, 1, infer_float_unary, 0, NOARGS);
OP(op_view, "aten.view.default", "reshape view to size (one -1 allowed)", 1, 1, 1, infer_view, VIEW,
   ARGS(args_view));
OP(op_reshape, "aten.reshape.default", "reshape to shape (one -1 allowed); may copy", 1, 1, 1, infer_view, 0,
   ARGS(args_reshape));
OP(op_unsafe_view, "aten._unsafe_view.default", "reshape to size (one -1 allowed)", 1, 1, 1, infer_view, VIEW,
   ARGS(args_view));
OP(op_unsqueeze, "aten.unsqueeze.default", "inserts a size-1 dim at dim", 1, 1, 1, infer_unsqueeze, VIEW,
   ARGS(args_dim_req));
OP(op_squeeze_dim, "aten.squeeze.dim", "removes dim if its size is 1", 1, 1, 1, infer_squeeze_dim, VIEW,
   ARGS(args_dim_req));
OP(op_transpose, "aten.transpose.int", "swaps dim0 and dim1", 1, 1, 1, infer_transpose, VIEW, ARGS(args_transpose));
OP(op_permute, "aten.permute.default", "reorders dims", 1, 1, 1, infer_permute, VIEW, ARGS(args_permute));
OP(op_contiguous, "aten.contiguous.default", "materialises a contiguous copy (identity on values)", 1, 1, 1,
   infer_same, 0, ARGS(args_memory_format));
OP(op_clone, "aten.clone.default", "copy", 1, 1, 1, infer_same, 0, ARGS(args_memory_format));
OP(op_slice, "aten.slice.Tensor", "x[start:end:step] along dim; negatives wrap, bounds clamp", 1, 1, 1,
   infer_slice, VIEW, ARGS(args_slice));
OP(op_expand, "aten.expand.default", "broadcast view to size (-1 keeps a dim)", 1, 1, 1, infer_expand, VIEW,
   ARGS(args_expand));
OP(op_cat, "aten.cat.default", "concatenates along dim; 1-D [0] inputs are ignored", 1, -1, 1, infer_cat, 0,
   ARGS(args_cat));
OP(op_detach_, "aten.detach_.default", "in-place detach (identity on values)", 1, 1, 1, infer_same,
   INPLACE | NOOP, NOARGS, .functional_variant = "aten.detach.default");
OP(op_detach, "aten.detach.default", "detach (identity on values)", 1, 1, 1, infer_same, VIEW | NOOP, NOARGS);
OP(op_alias, "aten.alias.default", "alias (identity on values)", 1, 1, 1, infer_same, VIEW | NOOP, NOARGS);
OP(op_index_copy, "aten.index_copy.default", "self with self.select(dim, index[i]) = source.select(dim, i)",
   3, 3, 1, infer_index_copy, 0, ARGS(args_dim_req));
OP(op_index_copy_, "aten.index_copy_.default", "in-place index_copy (mutates input 0, e.g. a state buffer)",
   3, 3, 1, infer_index_copy, INPLACE, ARGS(args_dim_req), .functional_variant = "aten.index_copy.default");
OP(op_softmax, "aten.softmax.int", "softmax along dim, computed in and returning dtype if given", 1, 1, 1,
   infer_softmax, 0, ARGS(args_softmax));
OP(op__softmax, "aten._softmax.default", "softmax along dim; half_to_float gives float32", 1, 1, 1,
   infer_softmax, 0, ARGS(args__softmax));
OP(op_dropout, "aten.dropout.default", "dropout; identity (no-op) when train is false", 1, 1, 1, infer_dropout,
   NOOP, ARGS(args_dropout));
OP(op_full, "aten.full.default", "tensor of size filled with fill_value", 0, 0, 1, infer_full, 0, ARGS(args_full));
OP(op_arange, "aten.arange.default", "0, 1, ... end-1", 0, 0, 1, infer_arange, 0, ARGS(args_arange));
OP(op_arange_start, "aten.arange.start", "start, start+step, ... < end", 0, 0, 1, infer_arange, 0,
   ARGS(args_arange_start));
OP(op_arange_start_step, "aten.arange.start_step", "start, start+step, ... < end (step may be negative)", 0, 0, 1,
   infer_arange, 0, ARGS(args_arange_start_step));
OP(op_max_dim, "aten.max.dim", "max along dim: values and int64 indices", 1, 1, 2, infer_max_dim, 0,
   ARGS(args_max_dim));
OP(op_split_with_sizes, "aten.split_with_sizes.default", "splits along dim into chunks of split_sizes", 1, 1, -1,
   infer_split_with_sizes, VIEW, ARGS(args_split));
OP(op_index, "aten.index.Tensor", "advanced indexing x[i0, i1, ...] (None slots per _tensor_list_none_masks)",
   1, -1, 1, infer_index, 0, NOARGS);
OP(op_sdpa, "aten.scaled_dot_product_attention.default",
   "softmax(q k^T * scale + mask) v: q [...,L,E], k [...,S,E], v [...,S,Ev], [mask] -> [...,L,Ev]", 3, 4, 1,
   infer_sdpa, 0, ARGS(args_sdpa));

static const npu_op_schema_t *const k_builtins[] = {
    &op_conv2d, &op_batch_norm, &op_relu, &op_relu_, &op_add, &op_add_, &op_sub, &op_mul, &op_mul_,
    &op_div, &op_max_pool2d, &op_adaptive_avg_pool2d, &op_flatten, &op_linear, &op_addmm, &op_t,
    &op_matmul, &op_embedding, &op_rope_hop, &op_getitem, &op_assert_meta, &op_to_dtype,
    &op_pow_scalar, &op_mean_dim, &op_rsqrt, &op_neg, &op_silu, &op_cos, &op_sin, &op_exp,
    &op_sigmoid, &op_tanh, &op_view, &op_reshape, &op_unsafe_view, &op_unsqueeze, &op_squeeze_dim,
    &op_transpose, &op_permute, &op_contiguous, &op_clone, &op_slice, &op_expand, &op_cat,
    &op_detach_, &op_detach, &op_alias, &op_index_copy, &op_index_copy_, &op_softmax, &op__softmax,
    &op_dropout, &op_full, &op_arange, &op_arange_start, &op_arange_start_step, &op_max_dim, &op_split_with_sizes,
    &op_index, &op_sdpa,
};

npu_status_t npu_ops_register_builtins(void) {
  for (size_t i = 0; i < sizeof k_builtins / sizeof k_builtins[0]; i++)
    NPU_RETURN_IF_ERROR(npu_op_register(k_builtins[i]));
  return NULL;
}
