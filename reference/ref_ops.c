/* The built-in ops of the host reference interpreter, with PyTorch CPU
 * semantics. Every function takes its output types from the IR (allocated by
 * the runner) and checks them against its inputs before touching memory. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npu/ops.h"
#include "ref_internal.h"

#define OPFN(name)                                                                         \
  static npu_status_t name(const npu_graph_t *g, npu_node_id_t nid, const npu_host_tensor_t *in, \
                           int32_t nin, npu_host_tensor_t *out, int32_t nout)
#define UNUSED_OP_ARGS (void)g, (void)nid, (void)in, (void)nin, (void)out, (void)nout
#define FAIL(...) npu_node_error(g, nid, NPU_STATUS_INVALID_ARGUMENT, __VA_ARGS__)
#define UNSUP(...) npu_node_error(g, nid, NPU_STATUS_UNSUPPORTED, __VA_ARGS__)
#define NEED(min_in, max_in, n_out)                                                              \
  do {                                                                                           \
    if (nin < (min_in) || ((max_in) >= 0 && nin > (max_in)))                                     \
      return FAIL("expected %d..%d inputs, got %d", (int)(min_in), (int)(max_in), (int)nin);     \
    if ((n_out) >= 0 && nout != (n_out)) return FAIL("expected %d outputs, got %d", (int)(n_out), (int)nout); \
  } while (0)

#define LD(t, i) npu_reference_load((t), (i))
#define ST(t, i, v) npu_reference_store((t), (i), (v))

typedef const npu_host_tensor_t tin_t;

static const npu_node_t *NODE(const npu_graph_t *g, npu_node_id_t nid) { return npu_graph_node(g, nid); }
static size_t NUMEL(tin_t *t) { return npu_ref_numel(&t->shape); }
static const char *SHP(const npu_shape_t *s, char *b, size_t n) { return npu_shape_format(s, b, n); }

/* Compute classes: float32 opmath (f32/bf16/f16), float64, integer/bool. */
enum { K_F32, K_F64, K_INT };
static int kind_of(npu_dtype_t d) {
  if (d == NPU_DTYPE_FLOAT64) return K_F64;
  if (npu_dtype_is_float(d)) return K_F32;
  return K_INT;
}

static int64_t attr_int_or(const npu_graph_t *g, npu_node_id_t nid, const char *name, int64_t dflt) {
  int64_t v;
  return npu_node_attr_int(NODE(g, nid), name, &v) ? v : dflt;
}
static bool attr_bool_or(const npu_graph_t *g, npu_node_id_t nid, const char *name, bool dflt) {
  bool v;
  return npu_node_attr_bool(NODE(g, nid), name, &v) ? v : dflt;
}
/* A scalar attr as double (INT, FLOAT or BOOL); false if absent/other. */
static bool attr_scalar(const npu_graph_t *g, npu_node_id_t nid, const char *name, double *out,
                        bool *is_int) {
  const npu_attr_value_t *v = npu_node_attr(NODE(g, nid), name);
  if (!v) return false;
  if (is_int) *is_int = v->kind != NPU_ATTR_FLOAT;
  switch (v->kind) {
    case NPU_ATTR_INT: *out = (double)v->u.i; return true;
    case NPU_ATTR_FLOAT: *out = v->u.f; return true;
    case NPU_ATTR_BOOL: *out = v->u.b ? 1.0 : 0.0; return true;
    default: return false;
  }
}
/* An int list attr (a single int counts as [v]); count -1 when absent/null. */
static bool attr_ints(const npu_graph_t *g, npu_node_id_t nid, const char *name, int64_t *vals,
                      int32_t *count) {
  const npu_attr_value_t *v = npu_node_attr(NODE(g, nid), name);
  *count = -1;
  if (!v || v->kind == NPU_ATTR_NULL) return true;
  if (v->kind == NPU_ATTR_INT) {
    vals[0] = v->u.i;
    *count = 1;
    return true;
  }
  return npu_node_attr_ints(NODE(g, nid), name, vals, NPU_MAX_RANK, count);
}
static bool pair(const int64_t *v, int32_t n, int64_t out[2]) {
  if (n == 1) { out[0] = out[1] = v[0]; return true; }
  if (n == 2) { out[0] = v[0]; out[1] = v[1]; return true; }
  return false;
}

static void contiguous_strides(const npu_shape_t *s, int64_t *st) {
  int64_t acc = 1;
  for (int32_t i = s->rank - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= s->dims[i];
  }
}

/* Strides of `in` broadcast (right-aligned) to `out`; 0 on broadcast dims. */
static bool bcast_strides(const npu_shape_t *in, const npu_shape_t *out, int64_t *st) {
  if (in->rank > out->rank) return false;
  int64_t s = 1;
  for (int32_t i = out->rank - 1, j = in->rank - 1; i >= 0; i--, j--) {
    if (j < 0) { st[i] = 0; continue; }
    int64_t d = in->dims[j];
    if (d == out->dims[i]) st[i] = d == 1 ? 0 : s;
    else if (d == 1) st[i] = 0;
    else return false;
    s *= d;
  }
  return true;
}

/* Offset of linear element i of `shape` under strides st. */
static int64_t offset_of(size_t i, const npu_shape_t *shape, const int64_t *st) {
  int64_t off = 0;
  for (int32_t d = shape->rank - 1; d >= 0; d--) {
    int64_t n = shape->dims[d];
    if (n <= 0) return 0;
    off += (int64_t)(i % (size_t)n) * st[d];
    i /= (size_t)n;
  }
  return off;
}

static void copy_elem(tin_t *src, size_t si, npu_host_tensor_t *dst, size_t di) {
  if (src->dtype == dst->dtype) {
    size_t es = npu_dtype_size(src->dtype);
    memcpy((uint8_t *)dst->data + di * es, (const uint8_t *)src->data + si * es, es);
  } else if (kind_of(src->dtype) == K_INT && kind_of(dst->dtype) == K_INT) {
    npu_ref_store_int(dst, di, npu_ref_load_int(src, si));
  } else {
    ST(dst, di, LD(src, si));
  }
}

/* out[i] = in[base + offset(i, out.shape, st)], bounds-checked. */
static bool gather(tin_t *src, npu_host_tensor_t *dst, int64_t base, const int64_t *st) {
  size_t n = NUMEL(dst), sn = NUMEL(src);
  for (size_t i = 0; i < n; i++) {
    int64_t o = base + offset_of(i, &dst->shape, st);
    if (o < 0 || (size_t)o >= sn) return false;
    copy_elem(src, (size_t)o, dst, i);
  }
  return true;
}

static npu_status_t check_same_numel(const npu_graph_t *g, npu_node_id_t nid, tin_t *a, tin_t *b) {
  char b1[160], b2[160];
  if (NUMEL(a) != NUMEL(b))
    return FAIL("input %s and output %s have different element counts", SHP(&a->shape, b1, sizeof b1),
                SHP(&b->shape, b2, sizeof b2));
  return NULL;
}

/* ---- copies and views ------------------------------------------------------------ */

/* view/reshape/flatten/unsqueeze/squeeze/contiguous/clone/alias/detach/dropout:
 * the data of a contiguous tensor, reinterpreted with the output's shape. */
OPFN(op_copy) {
  NEED(1, 1, 1);
  NPU_RETURN_IF_ERROR(check_same_numel(g, nid, &in[0], &out[0]));
  size_t n = NUMEL(&out[0]);
  if (in[0].dtype == out[0].dtype) {
    if (out[0].size) memcpy(out[0].data, in[0].data, out[0].size);
  } else {
    for (size_t i = 0; i < n; i++) copy_elem(&in[0], i, &out[0], i);
  }
  return NULL;
}

OPFN(op_dropout) {
  NEED(1, 1, 1);
  double p = 0;
  npu_node_attr_float(NODE(g, nid), "p", &p);
  if (attr_bool_or(g, nid, "train", false) && p != 0.0)
    return UNSUP("dropout with train=true and p=%g is not deterministic", p);
  return op_copy(g, nid, in, nin, out, nout);
}

OPFN(op_noop) {
  UNUSED_OP_ARGS;
  return NULL;
}

OPFN(op_getitem) {
  NEED(1, -1, 1);
  int64_t index = attr_int_or(g, nid, "index", -1000000);
  if (index < 0) index += nin;
  if (index < 0 || index >= nin) return FAIL("getitem index out of range for %d inputs", nin);
  return op_copy(g, nid, &in[index], 1, out, nout);
}

static npu_status_t permute_copy(const npu_graph_t *g, npu_node_id_t nid, tin_t *x, npu_host_tensor_t *y,
                                 const int32_t *perm) {
  char b1[160], b2[160];
  int64_t st[NPU_MAX_RANK], pst[NPU_MAX_RANK];
  if (x->shape.rank != y->shape.rank) return FAIL("rank changes from %d to %d", x->shape.rank, y->shape.rank);
  contiguous_strides(&x->shape, st);
  for (int32_t i = 0; i < y->shape.rank; i++) {
    if (y->shape.dims[i] != x->shape.dims[perm[i]])
      return FAIL("output %s is not the permuted input %s", SHP(&y->shape, b1, sizeof b1), SHP(&x->shape, b2, sizeof b2));
    pst[i] = st[perm[i]];
  }
  if (!gather(x, y, 0, pst)) return FAIL("read out of bounds");
  return NULL;
}

OPFN(op_transpose) {
  NEED(1, 1, 1);
  int32_t r = in[0].shape.rank, a = 0, b = 0, perm[NPU_MAX_RANK];
  for (int32_t i = 0; i < NPU_MAX_RANK; i++) perm[i] = i;
  if (r > 0) {
    if (!npu_wrap_dim(attr_int_or(g, nid, "dim0", 0), r, &a) || !npu_wrap_dim(attr_int_or(g, nid, "dim1", 0), r, &b))
      return FAIL("transpose dims out of range for rank %d", r);
    perm[a] = b;
    perm[b] = a;
  }
  return permute_copy(g, nid, &in[0], &out[0], perm);
}

OPFN(op_t) {
  NEED(1, 1, 1);
  int32_t perm[NPU_MAX_RANK] = {0, 1, 2, 3, 4, 5, 6, 7};
  if (in[0].shape.rank > 2) return FAIL("t: input must be at most 2-D");
  if (in[0].shape.rank == 2) { perm[0] = 1; perm[1] = 0; }
  return permute_copy(g, nid, &in[0], &out[0], perm);
}

OPFN(op_permute) {
  NEED(1, 1, 1);
  int64_t v[NPU_MAX_RANK];
  int32_t n, perm[NPU_MAX_RANK];
  bool used[NPU_MAX_RANK] = {false};
  int32_t r = in[0].shape.rank;
  if (!attr_ints(g, nid, "dims", v, &n) || n != r) return FAIL("permute: dims must list %d dims", r);
  for (int32_t i = 0; i < n; i++) {
    if (!npu_wrap_dim(v[i], r, &perm[i]) || used[perm[i]]) return FAIL("permute: dims is not a permutation");
    used[perm[i]] = true;
  }
  return permute_copy(g, nid, &in[0], &out[0], perm);
}

/* at::slice bounds: wrap negatives once, clamp into [0, size], end >= start. */
static void slice_bounds(int64_t size, int64_t *start, int64_t *end) {
  if (*start < 0) *start += size;
  if (*end < 0) *end += size;
  if (*start < 0) *start = 0;
  else if (*start >= size) *start = size;
  if (*end < *start) *end = *start;
  else if (*end >= size) *end = size;
}

OPFN(op_slice) {
  NEED(1, 1, 1);
  char b1[160], b2[160];
  tin_t *x = &in[0];
  int32_t d;
  if (x->shape.rank == 0 || !npu_wrap_dim(attr_int_or(g, nid, "dim", 0), x->shape.rank, &d))
    return FAIL("slice: dim out of range for rank %d", x->shape.rank);
  int64_t start = attr_int_or(g, nid, "start", 0), end = attr_int_or(g, nid, "end", INT64_MAX);
  int64_t step = attr_int_or(g, nid, "step", 1);
  if (step <= 0) return FAIL("slice: step must be positive, got %" PRId64, step);
  slice_bounds(x->shape.dims[d], &start, &end);
  npu_shape_t expect = x->shape;
  expect.dims[d] = (end - start + step - 1) / step;
  if (!npu_shape_equal(&expect, &out[0].shape))
    return FAIL("slice: output %s, expected %s", SHP(&out[0].shape, b1, sizeof b1), SHP(&expect, b2, sizeof b2));
  int64_t st[NPU_MAX_RANK];
  contiguous_strides(&x->shape, st);
  int64_t base = start * st[d];
  st[d] *= step;
  if (!gather(x, &out[0], base, st)) return FAIL("slice: read out of bounds");
  return NULL;
}

OPFN(op_expand) {
  NEED(1, 1, 1);
  char b1[160], b2[160];
  tin_t *x = &in[0];
  npu_host_tensor_t *y = &out[0];
  int64_t xst[NPU_MAX_RANK], st[NPU_MAX_RANK];
  contiguous_strides(&x->shape, xst);
  int32_t lead = y->shape.rank - x->shape.rank;
  if (lead < 0) return FAIL("expand: output rank %d below input rank %d", y->shape.rank, x->shape.rank);
  for (int32_t i = 0; i < y->shape.rank; i++) {
    if (i < lead) { st[i] = 0; continue; }
    int64_t have = x->shape.dims[i - lead];
    if (have == y->shape.dims[i]) st[i] = have == 1 ? 0 : xst[i - lead];
    else if (have == 1) st[i] = 0;
    else return FAIL("expand: cannot expand %s to %s", SHP(&x->shape, b1, sizeof b1), SHP(&y->shape, b2, sizeof b2));
  }
  if (!gather(x, y, 0, st)) return FAIL("expand: read out of bounds");
  return NULL;
}

OPFN(op_cat) {
  NEED(1, -1, 1);
  char b1[160], b2[160];
  npu_host_tensor_t *y = &out[0];
  if (y->shape.rank == 0) return FAIL("cat: zero-dimensional output");
  int32_t d;
  int32_t ref = -1;
  for (int32_t i = 0; i < nin && ref < 0; i++)
    if (!(in[i].shape.rank == 1 && in[i].shape.dims[0] == 0)) ref = i;
  if (ref < 0) return NULL; /* every input is a legacy [0]: so is the output */
  if (!npu_wrap_dim(attr_int_or(g, nid, "dim", 0), in[ref].shape.rank, &d))
    return FAIL("cat: dim out of range for rank %d", in[ref].shape.rank);
  if (y->shape.rank != in[ref].shape.rank) return FAIL("cat: output rank differs from the inputs'");
  int64_t yst[NPU_MAX_RANK];
  contiguous_strides(&y->shape, yst);
  int64_t at = 0;
  for (int32_t k = 0; k < nin; k++) {
    tin_t *x = &in[k];
    if (x->shape.rank == 1 && x->shape.dims[0] == 0) continue;
    bool ok = x->shape.rank == y->shape.rank;
    for (int32_t j = 0; ok && j < y->shape.rank; j++)
      if (j != d && x->shape.dims[j] != y->shape.dims[j]) ok = false;
    if (!ok || at + x->shape.dims[d] > y->shape.dims[d])
      return FAIL("cat: input %d %s does not fit output %s", k, SHP(&x->shape, b1, sizeof b1), SHP(&y->shape, b2, sizeof b2));
    size_t n = NUMEL(x);
    for (size_t i = 0; i < n; i++) copy_elem(x, i, y, (size_t)(at * yst[d] + offset_of(i, &x->shape, yst)));
    at += x->shape.dims[d];
  }
  if (at != y->shape.dims[d]) return FAIL("cat: inputs fill %" PRId64 " of %" PRId64 " along dim %d", at, y->shape.dims[d], d);
  return NULL;
}

OPFN(op_split_with_sizes) {
  NEED(1, 1, -1);
  tin_t *x = &in[0];
  int32_t d;
  if (x->shape.rank == 0 || !npu_wrap_dim(attr_int_or(g, nid, "dim", 0), x->shape.rank, &d))
    return FAIL("split_with_sizes: dim out of range");
  int64_t st[NPU_MAX_RANK], at = 0;
  contiguous_strides(&x->shape, st);
  for (int32_t j = 0; j < nout; j++) {
    npu_host_tensor_t *y = &out[j];
    bool ok = y->shape.rank == x->shape.rank;
    for (int32_t k = 0; ok && k < x->shape.rank; k++)
      if (k != d && y->shape.dims[k] != x->shape.dims[k]) ok = false;
    if (!ok || at + y->shape.dims[d] > x->shape.dims[d]) return FAIL("split_with_sizes: output %d does not fit", j);
    if (!gather(x, y, at * st[d], st)) return FAIL("split_with_sizes: read out of bounds");
    at += y->shape.dims[d];
  }
  return NULL;
}

OPFN(op_index_copy) {
  NEED(3, 3, 1);
  char b1[160], b2[160];
  tin_t *self = &in[0], *idx = &in[1], *src = &in[2];
  npu_host_tensor_t *y = &out[0];
  NPU_RETURN_IF_ERROR(op_copy(g, nid, self, 1, y, 1));
  if (self->shape.rank == 0) { /* a 0-d self takes the (single) source value */
    if (NUMEL(src) != 1 || NUMEL(idx) != 1 || npu_ref_load_int(idx, 0) != 0) return FAIL("index_copy: bad 0-d copy");
    copy_elem(src, 0, y, 0);
    return NULL;
  }
  int32_t d;
  if (!npu_wrap_dim(attr_int_or(g, nid, "dim", 0), self->shape.rank, &d)) return FAIL("index_copy: dim out of range");
  if (kind_of(idx->dtype) != K_INT || idx->shape.rank > 1) return FAIL("index_copy: index must be a 0-D or 1-D integer tensor");
  int64_t nidx = (int64_t)NUMEL(idx);
  bool ok = src->shape.rank == self->shape.rank;
  for (int32_t k = 0; ok && k < self->shape.rank; k++)
    if (src->shape.dims[k] != (k == d ? nidx : self->shape.dims[k])) ok = false;
  if (!ok || !npu_shape_equal(&y->shape, &self->shape))
    return FAIL("index_copy: source %s does not fit self %s with %" PRId64 " indices", SHP(&src->shape, b1, sizeof b1),
                SHP(&self->shape, b2, sizeof b2), nidx);
  int64_t size = self->shape.dims[d];
  for (int64_t j = 0; j < nidx; j++) {
    int64_t v = npu_ref_load_int(idx, (size_t)j);
    if (v < 0 || v >= size) return FAIL("index_copy: index %" PRId64 " is out of bounds for size %" PRId64, v, size);
  }
  int64_t yst[NPU_MAX_RANK];
  contiguous_strides(&y->shape, yst);
  size_t n = NUMEL(src);
  int64_t sdims_d = src->shape.dims[d];
  for (size_t i = 0; i < n; i++) {
    /* coordinate along d of source element i */
    size_t rest = i;
    int64_t off = 0;
    for (int32_t k = src->shape.rank - 1; k >= 0; k--) {
      int64_t c = (int64_t)(rest % (size_t)src->shape.dims[k]);
      rest /= (size_t)src->shape.dims[k];
      if (k == d) c = npu_ref_load_int(idx, (size_t)c);
      off += c * yst[k];
    }
    (void)sdims_d;
    copy_elem(src, i, y, (size_t)off);
  }
  return NULL;
}

OPFN(op_embedding) {
  NEED(2, 2, 1);
  char b1[160];
  tin_t *w = &in[0], *idx = &in[1];
  npu_host_tensor_t *y = &out[0];
  if (w->shape.rank != 2) return FAIL("embedding: weight must be 2-D, got %s", SHP(&w->shape, b1, sizeof b1));
  if (kind_of(idx->dtype) != K_INT) return FAIL("embedding: indices must be integers");
  int64_t v = w->shape.dims[0], dim = w->shape.dims[1];
  size_t n = NUMEL(idx);
  if (NUMEL(y) != n * (size_t)dim || y->shape.dims[y->shape.rank - 1] != dim)
    return FAIL("embedding: output %s does not match %zu indices of dim %" PRId64, SHP(&y->shape, b1, sizeof b1), n, dim);
  for (size_t i = 0; i < n; i++) {
    int64_t r = npu_ref_load_int(idx, i);
    if (r < 0 || r >= v) return FAIL("embedding: index %" PRId64 " out of range for %" PRId64 " rows", r, v);
    for (int64_t j = 0; j < dim; j++) copy_elem(w, (size_t)(r * dim + j), y, i * (size_t)dim + (size_t)j);
  }
  return NULL;
}

OPFN(op_to_dtype) {
  NEED(1, 1, 1);
  NPU_RETURN_IF_ERROR(check_same_numel(g, nid, &in[0], &out[0]));
  size_t n = NUMEL(&out[0]);
  for (size_t i = 0; i < n; i++) copy_elem(&in[0], i, &out[0], i);
  return NULL;
}

/* ---- elementwise ------------------------------------------------------------------- */

typedef enum { U_RELU, U_NEG, U_RSQRT, U_SILU, U_COS, U_SIN, U_EXP, U_SIGMOID, U_TANH } ukind_t;

static float unary_f(ukind_t k, float x) {
  switch (k) {
    case U_RELU: return isnan(x) ? x : (x > 0.0f ? x : 0.0f);
    case U_NEG: return -x;
    case U_RSQRT: return 1.0f / sqrtf(x);
    case U_SILU: return x / (1.0f + expf(-x));
    case U_COS: return cosf(x);
    case U_SIN: return sinf(x);
    case U_EXP: return expf(x);
    case U_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case U_TANH: return tanhf(x);
  }
  return x;
}
static double unary_d(ukind_t k, double x) {
  switch (k) {
    case U_RELU: return isnan(x) ? x : (x > 0.0 ? x : 0.0);
    case U_NEG: return -x;
    case U_RSQRT: return 1.0 / sqrt(x);
    case U_SILU: return x / (1.0 + exp(-x));
    case U_COS: return cos(x);
    case U_SIN: return sin(x);
    case U_EXP: return exp(x);
    case U_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case U_TANH: return tanh(x);
  }
  return x;
}

static npu_status_t unary(const npu_graph_t *g, npu_node_id_t nid, const npu_host_tensor_t *in, int32_t nin,
                          npu_host_tensor_t *out, int32_t nout, ukind_t k) {
  NEED(1, 1, 1);
  NPU_RETURN_IF_ERROR(check_same_numel(g, nid, &in[0], &out[0]));
  size_t n = NUMEL(&out[0]);
  switch (kind_of(out[0].dtype)) {
    case K_F32:
      for (size_t i = 0; i < n; i++) ST(&out[0], i, unary_f(k, (float)LD(&in[0], i)));
      break;
    case K_F64:
      for (size_t i = 0; i < n; i++) ST(&out[0], i, unary_d(k, LD(&in[0], i)));
      break;
    default:
      if (k != U_RELU && k != U_NEG) return UNSUP("%s on an integer output", NODE(g, nid)->op);
      for (size_t i = 0; i < n; i++) {
        int64_t v = npu_ref_load_int(&in[0], i);
        npu_ref_store_int(&out[0], i, k == U_NEG ? (int64_t)(0 - (uint64_t)v) : (v > 0 ? v : 0));
      }
  }
  return NULL;
}
#define UNARY(name, k) OPFN(name) { return unary(g, nid, in, nin, out, nout, k); }
UNARY(op_relu, U_RELU)
UNARY(op_neg, U_NEG)
UNARY(op_rsqrt, U_RSQRT)
UNARY(op_silu, U_SILU)
UNARY(op_cos, U_COS)
UNARY(op_sin, U_SIN)
UNARY(op_exp, U_EXP)
UNARY(op_sigmoid, U_SIGMOID)
UNARY(op_tanh, U_TANH)

typedef enum { B_ADD, B_SUB, B_MUL, B_DIV } bkind_t;

static npu_status_t binary(const npu_graph_t *g, npu_node_id_t nid, const npu_host_tensor_t *in, int32_t nin,
                           npu_host_tensor_t *out, int32_t nout, bkind_t k) {
  NEED(1, 2, 1);
  char b1[160], b2[160];
  npu_host_tensor_t *y = &out[0];
  tin_t *a = &in[0];
  int64_t ast[NPU_MAX_RANK], bst[NPU_MAX_RANK];
  double scalar = 0, alpha = 1;
  bool scalar_int = true, alpha_int = true;
  tin_t *b = nin >= 2 ? &in[1] : NULL;
  if (!b && !attr_scalar(g, nid, "other", &scalar, &scalar_int)) return FAIL("one tensor input and no scalar 'other'");
  if ((k == B_ADD || k == B_SUB)) attr_scalar(g, nid, "alpha", &alpha, &alpha_int);
  if (!bcast_strides(&a->shape, &y->shape, ast) || (b && !bcast_strides(&b->shape, &y->shape, bst)))
    return FAIL("inputs do not broadcast to the output %s (a %s)", SHP(&y->shape, b1, sizeof b1), SHP(&a->shape, b2, sizeof b2));
  if (!b && !npu_shape_equal(&a->shape, &y->shape)) return FAIL("output shape differs from the input's");
  size_t n = NUMEL(y);
  int kind = kind_of(y->dtype);
  if (kind == K_INT && k == B_DIV) return UNSUP("integer true division output");
  for (size_t i = 0; i < n; i++) {
    size_t ia = (size_t)offset_of(i, &y->shape, ast), ib = b ? (size_t)offset_of(i, &y->shape, bst) : 0;
    if (kind == K_F32) {
      float x = (float)LD(a, ia), z = b ? (float)LD(b, ib) : (float)scalar, al = (float)alpha, r;
      switch (k) {
        case B_ADD: r = alpha == 1 ? x + z : x + al * z; break;
        case B_SUB: r = alpha == 1 ? x - z : x - al * z; break;
        case B_MUL: r = x * z; break;
        default: r = x / z; break;
      }
      ST(y, i, r);
    } else if (kind == K_F64) {
      double x = LD(a, ia), z = b ? LD(b, ib) : scalar, r;
      switch (k) {
        case B_ADD: r = x + alpha * z; break;
        case B_SUB: r = x - alpha * z; break;
        case B_MUL: r = x * z; break;
        default: r = x / z; break;
      }
      ST(y, i, r);
    } else {
      uint64_t x = (uint64_t)npu_ref_load_int(a, ia), z = b ? (uint64_t)npu_ref_load_int(b, ib) : (uint64_t)(int64_t)scalar;
      uint64_t al = (uint64_t)(int64_t)alpha, r;
      if (y->dtype == NPU_DTYPE_BOOL && k == B_ADD) r = (x || z);
      else if (y->dtype == NPU_DTYPE_BOOL && k == B_MUL) r = (x && z);
      else if (k == B_ADD) r = x + al * z;
      else if (k == B_SUB) r = x - al * z;
      else r = x * z;
      npu_ref_store_int(y, i, (int64_t)r);
    }
  }
  return NULL;
}
#define BINARY(name, k) OPFN(name) { return binary(g, nid, in, nin, out, nout, k); }
BINARY(op_add, B_ADD)
BINARY(op_sub, B_SUB)
BINARY(op_mul, B_MUL)
BINARY(op_div, B_DIV)

OPFN(op_pow_scalar) {
  NEED(1, 1, 1);
  double e;
  bool e_int;
  if (!attr_scalar(g, nid, "exponent", &e, &e_int)) return FAIL("pow: attr 'exponent' must be a number");
  NPU_RETURN_IF_ERROR(check_same_numel(g, nid, &in[0], &out[0]));
  size_t n = NUMEL(&out[0]);
  int kind = kind_of(out[0].dtype);
  if (kind == K_INT) {
    if (e < 0) return UNSUP("pow: integers to negative integer powers are not allowed");
    int64_t ei = (int64_t)e;
    for (size_t i = 0; i < n; i++) {
      uint64_t b = (uint64_t)npu_ref_load_int(&in[0], i), r = 1;
      for (int64_t p = ei; p > 0; p >>= 1) {
        if (p & 1) r *= b;
        b *= b;
      }
      npu_ref_store_int(&out[0], i, (int64_t)r);
    }
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    if (kind == K_F64) {
      double x = LD(&in[0], i);
      ST(&out[0], i, e == 2 ? x * x : e == 0.5 ? sqrt(x) : e == 1 ? x : pow(x, e));
      continue;
    }
    float x = (float)LD(&in[0], i), r;
    float ef = (float)e;
    if (e == 2) r = x * x;
    else if (e == 3) r = x * x * x;
    else if (e == 0.5) r = sqrtf(x);
    else if (e == -0.5) r = 1.0f / sqrtf(x);
    else if (e == -1) r = 1.0f / x;
    else if (e == -2) r = 1.0f / (x * x);
    else if (e == 1) r = x;
    else if (e == 0) r = 1.0f;
    else r = powf(x, ef);
    ST(&out[0], i, r);
  }
  return NULL;
}

/* ---- reductions ----------------------------------------------------------------------- */

OPFN(op_mean_dim) {
  NEED(1, 1, 1);
  tin_t *x = &in[0];
  npu_host_tensor_t *y = &out[0];
  int64_t v[NPU_MAX_RANK];
  int32_t n;
  bool red[NPU_MAX_RANK];
  if (!attr_ints(g, nid, "dim", v, &n)) return FAIL("mean: bad 'dim'");
  for (int32_t i = 0; i < NPU_MAX_RANK; i++) red[i] = n <= 0;
  for (int32_t i = 0; i < n; i++) {
    int32_t d;
    if (!npu_wrap_dim(v[i], x->shape.rank, &d)) return FAIL("mean: dim out of range");
    red[d] = true;
  }
  /* The output's element index from the kept coordinates. */
  npu_shape_t kept = {.rank = 0};
  int64_t st[NPU_MAX_RANK], kst[NPU_MAX_RANK];
  size_t count = 1;
  for (int32_t i = 0; i < x->shape.rank; i++) {
    if (!red[i]) kept.dims[kept.rank++] = x->shape.dims[i];
    else count *= (size_t)x->shape.dims[i];
  }
  if (npu_ref_numel(&kept) != NUMEL(y)) return FAIL("mean: output has the wrong element count");
  contiguous_strides(&kept, kst);
  for (int32_t i = 0, j = 0; i < x->shape.rank; i++) st[i] = red[i] ? 0 : kst[j++];
  size_t on = NUMEL(y), xn = NUMEL(x);
  double *acc = calloc(on ? on : 1, sizeof *acc);
  if (!acc) return FAIL("out of memory");
  for (size_t i = 0; i < xn; i++) acc[offset_of(i, &x->shape, st)] += LD(x, i);
  for (size_t i = 0; i < on; i++) {
    if (kind_of(y->dtype) == K_F64) ST(y, i, acc[i] / (double)count);
    else ST(y, i, (float)acc[i] / (float)count);
  }
  free(acc);
  return NULL;
}

/* outer/len/inner decomposition around dim d. */
static void split_dim(const npu_shape_t *s, int32_t d, size_t *outer, size_t *len, size_t *inner) {
  *outer = 1;
  *inner = 1;
  for (int32_t i = 0; i < d; i++) *outer *= (size_t)s->dims[i];
  for (int32_t i = d + 1; i < s->rank; i++) *inner *= (size_t)s->dims[i];
  *len = s->rank > 0 ? (size_t)s->dims[d] : 1;
}

OPFN(op_max_dim) {
  NEED(1, 1, 2);
  tin_t *x = &in[0];
  int32_t d = 0;
  if (x->shape.rank > 0 && !npu_wrap_dim(attr_int_or(g, nid, "dim", 0), x->shape.rank, &d)) return FAIL("max: dim out of range");
  size_t outer, len, inner;
  split_dim(&x->shape, d, &outer, &len, &inner);
  if (len == 0) return FAIL("max: reduction over an empty dim");
  if (NUMEL(&out[0]) != outer * inner || NUMEL(&out[1]) != outer * inner) return FAIL("max: outputs have the wrong size");
  for (size_t o = 0; o < outer; o++)
    for (size_t j = 0; j < inner; j++) {
      size_t best = 0, base = o * len * inner + j;
      if (kind_of(x->dtype) == K_INT) {
        int64_t m = npu_ref_load_int(x, base);
        for (size_t l = 1; l < len; l++) {
          int64_t v = npu_ref_load_int(x, base + l * inner);
          if (v > m) { m = v; best = l; }
        }
      } else {
        double m = LD(x, base);
        for (size_t l = 1; l < len && !isnan(m); l++) {
          double v = LD(x, base + l * inner);
          if (v > m || isnan(v)) { m = v; best = l; }
        }
      }
      copy_elem(x, base + best * inner, &out[0], o * inner + j);
      npu_ref_store_int(&out[1], o * inner + j, (int64_t)best);
    }
  return NULL;
}

OPFN(op_softmax) {
  NEED(1, 1, 1);
  tin_t *x = &in[0];
  npu_host_tensor_t *y = &out[0];
  int32_t d = 0;
  if (x->shape.rank > 0 && !npu_wrap_dim(attr_int_or(g, nid, "dim", 0), x->shape.rank, &d)) return FAIL("softmax: dim out of range");
  NPU_RETURN_IF_ERROR(check_same_numel(g, nid, x, y));
  int kind = kind_of(y->dtype);
  if (kind == K_INT) return FAIL("softmax: integer output");
  npu_dtype_t dt;
  bool cast_first = npu_node_attr_dtype(NODE(g, nid), "dtype", &dt);
  size_t outer, len, inner;
  split_dim(&x->shape, d, &outer, &len, &inner);
  double *buf = malloc((len ? len : 1) * sizeof *buf);
  if (!buf) return FAIL("out of memory");
  for (size_t o = 0; o < outer; o++)
    for (size_t j = 0; j < inner; j++) {
      size_t base = o * len * inner + j;
      for (size_t l = 0; l < len; l++) {
        double v = LD(x, base + l * inner);
        if (cast_first && dt == NPU_DTYPE_BFLOAT16) v = npu_reference_bf16_to_f32(npu_reference_f32_to_bf16((float)v));
        buf[l] = v;
      }
      if (kind == K_F64) {
        double m = -INFINITY, s = 0;
        for (size_t l = 0; l < len; l++) m = buf[l] > m || isnan(buf[l]) ? buf[l] : m;
        for (size_t l = 0; l < len; l++) s += (buf[l] = exp(buf[l] - m));
        for (size_t l = 0; l < len; l++) ST(y, base + l * inner, buf[l] / s);
      } else {
        float m = -INFINITY, s = 0;
        for (size_t l = 0; l < len; l++) m = (float)buf[l] > m || isnan(buf[l]) ? (float)buf[l] : m;
        for (size_t l = 0; l < len; l++) {
          float e = expf((float)buf[l] - m);
          buf[l] = e;
          s += e;
        }
        float inv = 1.0f / s;
        for (size_t l = 0; l < len; l++) ST(y, base + l * inner, (float)buf[l] * inv);
      }
    }
  free(buf);
  return NULL;
}

/* ---- constants ------------------------------------------------------------------------- */

OPFN(op_full) {
  (void)in;
  NEED(0, 0, 1);
  double v;
  bool is_int;
  const npu_attr_value_t *fv = npu_node_attr(NODE(g, nid), "fill_value");
  if (!attr_scalar(g, nid, "fill_value", &v, &is_int)) return FAIL("full: missing 'fill_value'");
  size_t n = NUMEL(&out[0]);
  for (size_t i = 0; i < n; i++) {
    if (fv->kind == NPU_ATTR_INT && kind_of(out[0].dtype) == K_INT) npu_ref_store_int(&out[0], i, fv->u.i);
    else ST(&out[0], i, v);
  }
  return NULL;
}

OPFN(op_arange) {
  (void)in;
  NEED(0, 0, 1);
  const npu_node_t *node = NODE(g, nid);
  const char *names[3] = {"start", "end", "step"};
  double num[3] = {0, 0, 1};
  int64_t inum[3] = {0, 0, 1};
  bool all_int = true;
  for (int i = 0; i < 3; i++) {
    const npu_attr_value_t *a = npu_node_attr(node, names[i]);
    if (!a || a->kind == NPU_ATTR_NULL) {
      if (i == 1) return FAIL("arange: missing 'end'");
      continue;
    }
    if (a->kind == NPU_ATTR_INT) { num[i] = (double)a->u.i; inum[i] = a->u.i; }
    else if (a->kind == NPU_ATTR_FLOAT) { num[i] = a->u.f; all_int = false; }
    else if (a->kind == NPU_ATTR_BOOL) { num[i] = a->u.b; inum[i] = a->u.b; }
    else return FAIL("arange: start/end/step must be numbers");
  }
  if (num[2] == 0) return FAIL("arange: step must be nonzero");
  double len = ceil((num[1] - num[0]) / num[2]);
  size_t n = NUMEL(&out[0]);
  if (!(len >= 0) || (double)n != len || out[0].shape.rank != 1) return FAIL("arange: output has %zu elements, the range %g", n, len);
  for (size_t i = 0; i < n; i++) {
    if (all_int && kind_of(out[0].dtype) == K_INT) npu_ref_store_int(&out[0], i, inum[0] + (int64_t)i * inum[2]);
    else ST(&out[0], i, num[0] + num[2] * (double)i);
  }
  return NULL;
}

/* ---- RoPE HOP ------------------------------------------------------------------------------- */

/* wrap_with_set_grad_enabled (IR-FORMAT §4.3): inv_freq [H], position_ids [B,S]
 * -> cos, sin [B,S,2H] of cat(freqs, freqs), freqs = f32(inv_freq) * f32(pos). */
OPFN(op_rope_hop) {
  NEED(2, 2, 2);
  char b1[160];
  tin_t *f = &in[0], *pos = &in[1];
  if (f->shape.rank != 1 || pos->shape.rank != 2) return FAIL("rope: expected inv_freq [H] and position_ids [B,S]");
  int64_t h = f->shape.dims[0], b = pos->shape.dims[0], s = pos->shape.dims[1];
  for (int j = 0; j < 2; j++) {
    const npu_shape_t *o = &out[j].shape;
    if (o->rank != 3 || o->dims[0] != b || o->dims[1] != s || o->dims[2] != 2 * h)
      return FAIL("rope: output %d is %s, expected [%" PRId64 ", %" PRId64 ", %" PRId64 "]", j, SHP(o, b1, sizeof b1), b, s, 2 * h);
  }
  for (int64_t bi = 0; bi < b; bi++)
    for (int64_t si = 0; si < s; si++) {
      float p = (float)LD(pos, (size_t)(bi * s + si));
      for (int64_t k = 0; k < 2 * h; k++) {
        float fr = (float)LD(f, (size_t)(k % h)) * p;
        size_t o = (size_t)((bi * s + si) * 2 * h + k);
        if (kind_of(out[0].dtype) == K_F64) {
          ST(&out[0], o, cos((double)fr));
          ST(&out[1], o, sin((double)fr));
        } else {
          ST(&out[0], o, cosf(fr) * 1.0f);
          ST(&out[1], o, sinf(fr) * 1.0f);
        }
      }
    }
  return NULL;
}

/* ---- matrix products --------------------------------------------------------------------------- */

/* Loads a tensor as doubles (exact for every float dtype up to f64). */
static double *load_all(tin_t *t) {
  size_t n = NUMEL(t);
  double *p = malloc((n ? n : 1) * sizeof *p);
  if (!p) return NULL;
  for (size_t i = 0; i < n; i++) p[i] = LD(t, i);
  return p;
}

/* C[m,n] = sum_k A[m,k] * B[k,n] (rows of A and B contiguous), accumulated in
 * float (f32 opmath) or double; k runs in order for every (m,n). */
static void gemm(const double *a, const double *b, double *c, int64_t m, int64_t k, int64_t n, bool f64) {
  if (f64) {
    for (int64_t i = 0; i < m; i++) {
      double *row = c + i * n;
      for (int64_t j = 0; j < n; j++) row[j] = 0;
      for (int64_t p = 0; p < k; p++) {
        double av = a[i * k + p];
        const double *br = b + p * n;
        for (int64_t j = 0; j < n; j++) row[j] += av * br[j];
      }
    }
    return;
  }
  float *acc = malloc((size_t)(n ? n : 1) * sizeof *acc);
  for (int64_t i = 0; i < m; i++) {
    if (!acc) { /* fallback without the scratch row */
      for (int64_t j = 0; j < n; j++) {
        float s = 0;
        for (int64_t p = 0; p < k; p++) s += (float)a[i * k + p] * (float)b[p * n + j];
        c[i * n + j] = s;
      }
      continue;
    }
    for (int64_t j = 0; j < n; j++) acc[j] = 0;
    for (int64_t p = 0; p < k; p++) {
      float av = (float)a[i * k + p];
      const double *br = b + p * n;
      for (int64_t j = 0; j < n; j++) acc[j] += av * (float)br[j];
    }
    for (int64_t j = 0; j < n; j++) c[i * n + j] = acc[j];
  }
  free(acc);
}

OPFN(op_linear) {
  NEED(2, 3, 1);
  char b1[160], b2[160];
  tin_t *x = &in[0], *w = &in[1], *bias = nin >= 3 ? &in[2] : NULL;
  npu_host_tensor_t *y = &out[0];
  if (x->shape.rank < 1 || (w->shape.rank != 1 && w->shape.rank != 2)) return FAIL("linear: bad ranks");
  int64_t k = x->shape.dims[x->shape.rank - 1];
  int64_t n = w->shape.rank == 2 ? w->shape.dims[0] : 1;
  int64_t wk = w->shape.dims[w->shape.rank - 1];
  if (wk != k) return FAIL("linear: weight %s does not match x %s", SHP(&w->shape, b1, sizeof b1), SHP(&x->shape, b2, sizeof b2));
  size_t m = k ? NUMEL(x) / (size_t)k : 0;
  if (k == 0) { m = 1; for (int32_t i = 0; i + 1 < x->shape.rank; i++) m *= (size_t)x->shape.dims[i]; }
  if (NUMEL(y) != m * (size_t)n) return FAIL("linear: output %s has the wrong size", SHP(&y->shape, b1, sizeof b1));
  int64_t bst[NPU_MAX_RANK];
  if (bias && !bcast_strides(&bias->shape, &y->shape, bst)) return FAIL("linear: bias does not broadcast to the output");
  bool f64 = kind_of(y->dtype) == K_F64;
  double *xa = load_all(x), *wa = load_all(w);
  if (!xa || !wa) { free(xa); free(wa); return FAIL("out of memory"); }
  for (size_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      const double *xr = xa + i * (size_t)k, *wr = wa + (size_t)j * (size_t)k;
      size_t o = i * (size_t)n + (size_t)j;
      if (f64) {
        double s = 0;
        for (int64_t p = 0; p < k; p++) s += xr[p] * wr[p];
        if (bias) s += LD(bias, (size_t)offset_of(o, &y->shape, bst));
        ST(y, o, s);
      } else {
        float s = 0;
        for (int64_t p = 0; p < k; p++) s += (float)xr[p] * (float)wr[p];
        if (bias) s += (float)LD(bias, (size_t)offset_of(o, &y->shape, bst));
        ST(y, o, s);
      }
    }
  free(xa);
  free(wa);
  return NULL;
}

OPFN(op_addmm) {
  NEED(3, 3, 1);
  tin_t *bias = &in[0], *m1 = &in[1], *m2 = &in[2];
  npu_host_tensor_t *y = &out[0];
  if (m1->shape.rank != 2 || m2->shape.rank != 2 || m1->shape.dims[1] != m2->shape.dims[0]) return FAIL("addmm: bad operands");
  int64_t m = m1->shape.dims[0], k = m1->shape.dims[1], n = m2->shape.dims[1];
  if (y->shape.rank != 2 || y->shape.dims[0] != m || y->shape.dims[1] != n) return FAIL("addmm: bad output shape");
  int64_t bst[NPU_MAX_RANK];
  if (!bcast_strides(&bias->shape, &y->shape, bst)) return FAIL("addmm: bias does not broadcast");
  double beta = 1, alpha = 1;
  attr_scalar(g, nid, "beta", &beta, NULL);
  attr_scalar(g, nid, "alpha", &alpha, NULL);
  bool f64 = kind_of(y->dtype) == K_F64;
  double *a = load_all(m1), *b = load_all(m2), *c = malloc((size_t)(m * n > 0 ? m * n : 1) * sizeof *c);
  if (!a || !b || !c) { free(a); free(b); free(c); return FAIL("out of memory"); }
  gemm(a, b, c, m, k, n, f64);
  for (size_t o = 0; o < (size_t)(m * n); o++) {
    double bv = LD(bias, (size_t)offset_of(o, &y->shape, bst));
    if (f64) ST(y, o, (beta == 0 ? 0 : beta * bv) + alpha * c[o]);
    else {
      float r = (float)c[o];
      if (alpha != 1) r *= (float)alpha;
      if (beta != 0) r += beta == 1 ? (float)bv : (float)beta * (float)bv;
      ST(y, o, r);
    }
  }
  free(a);
  free(b);
  free(c);
  return NULL;
}

OPFN(op_matmul) {
  NEED(2, 2, 1);
  char b1[160], b2[160];
  tin_t *ta = &in[0], *tb = &in[1];
  npu_host_tensor_t *y = &out[0];
  int32_t ra = ta->shape.rank, rb = tb->shape.rank;
  if (ra == 0 || rb == 0) return FAIL("matmul: operands need at least 1 dim");
  npu_shape_t sa = ta->shape, sb = tb->shape;
  if (ra == 1) { sa.rank = 2; sa.dims[1] = sa.dims[0]; sa.dims[0] = 1; }
  if (rb == 1) { sb.rank = 2; sb.dims[1] = 1; }
  int64_t m = sa.dims[sa.rank - 2], k = sa.dims[sa.rank - 1], n = sb.dims[sb.rank - 1];
  if (sb.dims[sb.rank - 2] != k) return FAIL("matmul: %s and %s do not multiply", SHP(&ta->shape, b1, sizeof b1), SHP(&tb->shape, b2, sizeof b2));
  npu_shape_t ba = {.rank = sa.rank - 2}, bb = {.rank = sb.rank - 2}, batch;
  memcpy(ba.dims, sa.dims, sizeof(int64_t) * (size_t)ba.rank);
  memcpy(bb.dims, sb.dims, sizeof(int64_t) * (size_t)bb.rank);
  if (!npu_broadcast_shapes(&ba, &bb, &batch)) return FAIL("matmul: batch dims do not broadcast");
  size_t nb = npu_ref_numel(&batch);
  if (NUMEL(y) != nb * (size_t)(m * n)) return FAIL("matmul: output %s has the wrong size", SHP(&y->shape, b1, sizeof b1));
  int64_t ast[NPU_MAX_RANK], bstr[NPU_MAX_RANK];
  bcast_strides(&ba, &batch, ast);
  bcast_strides(&bb, &batch, bstr);
  bool f64 = kind_of(y->dtype) == K_F64;
  double *a = load_all(ta), *b = load_all(tb), *c = malloc((size_t)(m * n > 0 ? m * n : 1) * sizeof *c);
  if (!a || !b || !c) { free(a); free(b); free(c); return FAIL("out of memory"); }
  for (size_t i = 0; i < nb; i++) {
    size_t oa = (size_t)offset_of(i, &batch, ast) * (size_t)(m * k);
    size_t ob = (size_t)offset_of(i, &batch, bstr) * (size_t)(k * n);
    gemm(a + oa, b + ob, c, m, k, n, f64);
    for (size_t j = 0; j < (size_t)(m * n); j++) ST(y, i * (size_t)(m * n) + j, c[j]);
  }
  free(a);
  free(b);
  free(c);
  return NULL;
}

/* softmax(q k^T * scale + mask) v over the last two dims; leading dims
 * broadcast, and with enable_gqa query head h reads kv head h / (Hq/Hk). A
 * row with every score at -inf gives zeros (torch's _safe_softmax). */
OPFN(op_sdpa) {
  NEED(3, 4, 1);
  char b1[160], b2[160];
  tin_t *q = &in[0], *k = &in[1], *v = &in[2], *mask = nin >= 4 ? &in[3] : NULL;
  npu_host_tensor_t *y = &out[0];
  int32_t rq = q->shape.rank, rk = k->shape.rank, rv = v->shape.rank;
  if (rq < 2 || rk < 2 || rv < 2) return FAIL("sdpa: q, k, v need at least 2 dims");
  int64_t L = q->shape.dims[rq - 2], E = q->shape.dims[rq - 1];
  int64_t S = k->shape.dims[rk - 2], Ev = v->shape.dims[rv - 1];
  if (k->shape.dims[rk - 1] != E || v->shape.dims[rv - 2] != S || rk != rv)
    return FAIL("sdpa: q %s, k %s, v do not match", SHP(&q->shape, b1, sizeof b1), SHP(&k->shape, b2, sizeof b2));
  for (int32_t i = 0; i < rk - 2; i++)
    if (k->shape.dims[i] != v->shape.dims[i]) return FAIL("sdpa: k and v leading dims differ");
  double dropout_p = 0;
  npu_node_attr_float(NODE(g, nid), "dropout_p", &dropout_p);
  if (dropout_p != 0) return UNSUP("sdpa: dropout_p %g is not deterministic", dropout_p);
  bool causal = attr_bool_or(g, nid, "is_causal", false), gqa = attr_bool_or(g, nid, "enable_gqa", false);
  if (causal && mask) return FAIL("sdpa: attn_mask and is_causal are both set");
  double scale_d = 1.0 / sqrt((double)E);
  const npu_attr_value_t *sa = npu_node_attr(NODE(g, nid), "scale");
  if (sa && sa->kind == NPU_ATTR_FLOAT) scale_d = sa->u.f;
  else if (sa && sa->kind == NPU_ATTR_INT) scale_d = (double)sa->u.i;
  /* Output and leading dims. */
  npu_shape_t lead = {.rank = rq - 2};
  memcpy(lead.dims, q->shape.dims, sizeof(int64_t) * (size_t)lead.rank);
  npu_shape_t expect = q->shape;
  expect.dims[rq - 1] = Ev;
  if (!npu_shape_equal(&expect, &y->shape)) return FAIL("sdpa: output %s, expected %s", SHP(&y->shape, b1, sizeof b1), SHP(&expect, b2, sizeof b2));
  if (rk - 2 > lead.rank) return FAIL("sdpa: k has more leading dims than q");
  /* kv leading-dim mapping. */
  int64_t kst[NPU_MAX_RANK] = {0}, klead_st[NPU_MAX_RANK];
  npu_shape_t klead = {.rank = rk - 2};
  memcpy(klead.dims, k->shape.dims, sizeof(int64_t) * (size_t)klead.rank);
  contiguous_strides(&klead, klead_st);
  int64_t group[NPU_MAX_RANK];
  for (int32_t i = 0; i < lead.rank; i++) {
    int32_t j = i - (lead.rank - klead.rank);
    group[i] = 1;
    if (j < 0) { kst[i] = 0; continue; }
    int64_t qd = lead.dims[i], kd = klead.dims[j];
    if (kd == qd) kst[i] = klead_st[j];
    else if (kd == 1) kst[i] = 0;
    else if (gqa && i == lead.rank - 1 && kd > 0 && qd % kd == 0) { kst[i] = klead_st[j]; group[i] = qd / kd; }
    else return FAIL("sdpa: k/v head dims %s do not match q %s (enable_gqa %d)", SHP(&k->shape, b1, sizeof b1), SHP(&q->shape, b2, sizeof b2), gqa);
  }
  npu_shape_t scores_shape = q->shape;
  scores_shape.dims[rq - 1] = S;
  int64_t mst[NPU_MAX_RANK];
  if (mask && !bcast_strides(&mask->shape, &scores_shape, mst))
    return FAIL("sdpa: attn_mask %s does not broadcast to %s", SHP(&mask->shape, b1, sizeof b1), SHP(&scores_shape, b2, sizeof b2));
  bool mask_bool = mask && mask->dtype == NPU_DTYPE_BOOL;
  float scale = (float)scale_d;
  size_t nlead = npu_ref_numel(&lead);
  float *sc = malloc((size_t)(S ? S : 1) * sizeof *sc), *acc = malloc((size_t)(Ev ? Ev : 1) * sizeof *acc);
  double *qa = load_all(q), *ka = load_all(k), *va = load_all(v);
  npu_status_t s = NULL;
  if (!sc || !acc || !qa || !ka || !va) { s = FAIL("out of memory"); goto done; }
  for (size_t bi = 0; bi < nlead; bi++) {
    /* kv batch offset */
    size_t rest = bi;
    int64_t koff = 0;
    for (int32_t i = lead.rank - 1; i >= 0; i--) {
      int64_t c = (int64_t)(rest % (size_t)lead.dims[i]);
      rest /= (size_t)lead.dims[i];
      koff += (c / group[i]) * kst[i];
    }
    const double *qb = qa + bi * (size_t)(L * E), *kb = ka + (size_t)koff * (size_t)(S * E), *vb = va + (size_t)koff * (size_t)(S * Ev);
    for (int64_t i = 0; i < L; i++) {
      float mx = -INFINITY;
      for (int64_t j = 0; j < S; j++) {
        float d = 0;
        for (int64_t e = 0; e < E; e++) d += (float)qb[i * E + e] * (float)kb[j * E + e];
        d *= scale;
        if (causal && j > i) d = -INFINITY;
        if (mask) {
          size_t mo = (size_t)offset_of(bi * (size_t)(L * S) + (size_t)(i * S + j), &scores_shape, mst);
          double mv = LD(mask, mo);
          if (mask_bool) { if (mv == 0) d = -INFINITY; }
          else d += (float)mv;
        }
        sc[j] = d;
        if (d > mx || isnan(d)) mx = d;
      }
      for (int64_t e = 0; e < Ev; e++) acc[e] = 0;
      if (mx == -INFINITY) { /* fully masked row */
        for (int64_t e = 0; e < Ev; e++) ST(y, (size_t)((bi * (size_t)L + (size_t)i) * (size_t)Ev + (size_t)e), 0.0);
        continue;
      }
      float sum = 0;
      for (int64_t j = 0; j < S; j++) {
        sc[j] = expf(sc[j] - mx);
        sum += sc[j];
      }
      float inv = 1.0f / sum;
      for (int64_t j = 0; j < S; j++) {
        float p = sc[j] * inv;
        for (int64_t e = 0; e < Ev; e++) acc[e] += p * (float)vb[j * Ev + e];
      }
      for (int64_t e = 0; e < Ev; e++) ST(y, (size_t)((bi * (size_t)L + (size_t)i) * (size_t)Ev + (size_t)e), acc[e]);
    }
  }
done:
  free(sc);
  free(acc);
  free(qa);
  free(ka);
  free(va);
  return s;
}

/* ---- convolution and pooling (NCHW) --------------------------------------------------------------- */

OPFN(op_conv2d) {
  NEED(2, 3, 1);
  char b1[160], b2[160];
  tin_t *x = &in[0], *w = &in[1], *bias = nin >= 3 ? &in[2] : NULL;
  npu_host_tensor_t *y = &out[0];
  bool batched = x->shape.rank == 4;
  if ((x->shape.rank != 3 && x->shape.rank != 4) || w->shape.rank != 4) return FAIL("conv2d: x must be 3-D/4-D and weight 4-D");
  int64_t v[NPU_MAX_RANK], stride[2] = {1, 1}, pad[2] = {0, 0}, dil[2] = {1, 1};
  int32_t n;
  if (!attr_ints(g, nid, "stride", v, &n) || (n >= 0 && !pair(v, n, stride))) return FAIL("conv2d: bad stride");
  if (!attr_ints(g, nid, "padding", v, &n) || (n >= 0 && !pair(v, n, pad))) return FAIL("conv2d: bad padding");
  if (!attr_ints(g, nid, "dilation", v, &n) || (n >= 0 && !pair(v, n, dil))) return FAIL("conv2d: bad dilation");
  int64_t groups = attr_int_or(g, nid, "groups", 1);
  int64_t N = batched ? x->shape.dims[0] : 1, C = x->shape.dims[batched], H = x->shape.dims[batched + 1], W = x->shape.dims[batched + 2];
  int64_t Co = w->shape.dims[0], Cg = w->shape.dims[1], KH = w->shape.dims[2], KW = w->shape.dims[3];
  if (groups < 1 || Cg * groups != C || Co % groups != 0) return FAIL("conv2d: channels/groups mismatch");
  if (stride[0] < 1 || stride[1] < 1 || dil[0] < 1 || dil[1] < 1 || pad[0] < 0 || pad[1] < 0) return FAIL("conv2d: bad stride/padding/dilation");
  if (bias && (bias->shape.rank != 1 || bias->shape.dims[0] != Co)) return FAIL("conv2d: bias must be [%" PRId64 "]", Co);
  int64_t OH = (H + 2 * pad[0] - dil[0] * (KH - 1) - 1) / stride[0] + 1;
  int64_t OW = (W + 2 * pad[1] - dil[1] * (KW - 1) - 1) / stride[1] + 1;
  npu_shape_t expect = x->shape;
  expect.dims[batched] = Co;
  expect.dims[batched + 1] = OH;
  expect.dims[batched + 2] = OW;
  if (OH < 0 || OW < 0 || !npu_shape_equal(&expect, &y->shape))
    return FAIL("conv2d: output %s, expected %s", SHP(&y->shape, b1, sizeof b1), SHP(&expect, b2, sizeof b2));
  bool f64 = kind_of(y->dtype) == K_F64;
  double *xa = load_all(x), *wa = load_all(w);
  if (!xa || !wa) { free(xa); free(wa); return FAIL("out of memory"); }
  int64_t cog = Co / groups;
  for (int64_t b = 0; b < N; b++)
    for (int64_t co = 0; co < Co; co++) {
      int64_t gi = co / cog;
      for (int64_t oh = 0; oh < OH; oh++)
        for (int64_t ow = 0; ow < OW; ow++) {
          double sd = 0;
          float sf = 0;
          for (int64_t ci = 0; ci < Cg; ci++) {
            const double *xp = xa + ((b * C + gi * Cg + ci) * H) * W;
            const double *wp = wa + ((co * Cg + ci) * KH) * KW;
            for (int64_t kh = 0; kh < KH; kh++) {
              int64_t ih = oh * stride[0] - pad[0] + kh * dil[0];
              if (ih < 0 || ih >= H) continue;
              for (int64_t kw = 0; kw < KW; kw++) {
                int64_t iw = ow * stride[1] - pad[1] + kw * dil[1];
                if (iw < 0 || iw >= W) continue;
                if (f64) sd += xp[ih * W + iw] * wp[kh * KW + kw];
                else sf += (float)xp[ih * W + iw] * (float)wp[kh * KW + kw];
              }
            }
          }
          size_t o = (size_t)(((b * Co + co) * OH + oh) * OW + ow);
          if (f64) ST(y, o, sd + (bias ? LD(bias, (size_t)co) : 0.0));
          else ST(y, o, sf + (bias ? (float)LD(bias, (size_t)co) : 0.0f));
        }
    }
  free(xa);
  free(wa);
  return NULL;
}

OPFN(op_batch_norm) {
  NEED(1, 5, 1);
  tin_t *x = &in[0];
  if (nin != 5) return UNSUP("batch_norm: needs weight, bias, running_mean and running_var (got %d inputs)", nin);
  if (attr_bool_or(g, nid, "training", false)) return UNSUP("batch_norm in training mode");
  if (x->shape.rank < 2) return FAIL("batch_norm: x needs at least 2 dims");
  NPU_RETURN_IF_ERROR(check_same_numel(g, nid, x, &out[0]));
  int64_t C = x->shape.dims[1];
  for (int i = 1; i < 5; i++)
    if ((int64_t)NUMEL(&in[i]) != C) return FAIL("batch_norm: input %d does not have %" PRId64 " channels", i, C);
  double eps = 1e-5;
  npu_node_attr_float(NODE(g, nid), "eps", &eps);
  size_t outer, len, inner;
  split_dim(&x->shape, 1, &outer, &len, &inner);
  bool f64 = kind_of(out[0].dtype) == K_F64;
  for (size_t c = 0; c < len; c++) {
    double wv = LD(&in[1], c), bv = LD(&in[2], c), mv = LD(&in[3], c), vv = LD(&in[4], c);
    float invstd = 1.0f / sqrtf((float)vv + (float)eps);
    float alpha = invstd * (float)wv, beta = (float)bv - (float)mv * alpha;
    double ad = wv / sqrt(vv + eps), bd = bv - mv * ad;
    for (size_t o = 0; o < outer; o++)
      for (size_t j = 0; j < inner; j++) {
        size_t i = (o * len + c) * inner + j;
        if (f64) ST(&out[0], i, LD(x, i) * ad + bd);
        else ST(&out[0], i, (float)LD(x, i) * alpha + beta);
      }
  }
  return NULL;
}

OPFN(op_max_pool2d) {
  NEED(1, 1, 1);
  tin_t *x = &in[0];
  npu_host_tensor_t *y = &out[0];
  if (x->shape.rank != 3 && x->shape.rank != 4) return FAIL("max_pool2d: x must be 3-D or 4-D");
  int64_t v[NPU_MAX_RANK], k[2], s[2], p[2] = {0, 0}, d[2] = {1, 1};
  int32_t n;
  if (!attr_ints(g, nid, "kernel_size", v, &n) || !pair(v, n, k)) return FAIL("max_pool2d: bad kernel_size");
  if (!attr_ints(g, nid, "stride", v, &n)) return FAIL("max_pool2d: bad stride");
  if (n <= 0) { s[0] = k[0]; s[1] = k[1]; }
  else if (!pair(v, n, s)) return FAIL("max_pool2d: bad stride");
  if (!attr_ints(g, nid, "padding", v, &n) || (n >= 0 && !pair(v, n, p))) return FAIL("max_pool2d: bad padding");
  if (!attr_ints(g, nid, "dilation", v, &n) || (n >= 0 && !pair(v, n, d))) return FAIL("max_pool2d: bad dilation");
  if (k[0] < 1 || k[1] < 1 || s[0] < 1 || s[1] < 1 || d[0] < 1 || d[1] < 1 || p[0] < 0 || p[1] < 0) return FAIL("max_pool2d: bad parameters");
  int32_t h = x->shape.rank - 2;
  int64_t H = x->shape.dims[h], W = x->shape.dims[h + 1];
  if (y->shape.rank != x->shape.rank) return FAIL("max_pool2d: output rank differs");
  for (int32_t i = 0; i < h; i++)
    if (y->shape.dims[i] != x->shape.dims[i]) return FAIL("max_pool2d: output leading dims differ");
  int64_t OH = y->shape.dims[h], OW = y->shape.dims[h + 1];
  size_t planes = 1;
  for (int32_t i = 0; i < h; i++) planes *= (size_t)x->shape.dims[i];
  for (size_t pl = 0; pl < planes; pl++)
    for (int64_t oh = 0; oh < OH; oh++)
      for (int64_t ow = 0; ow < OW; ow++) {
        double m = -INFINITY;
        size_t mi = SIZE_MAX;
        for (int64_t a = 0; a < k[0]; a++) {
          int64_t ih = oh * s[0] - p[0] + a * d[0];
          if (ih < 0 || ih >= H) continue;
          for (int64_t b = 0; b < k[1]; b++) {
            int64_t iw = ow * s[1] - p[1] + b * d[1];
            if (iw < 0 || iw >= W) continue;
            size_t ii = pl * (size_t)(H * W) + (size_t)(ih * W + iw);
            double val = LD(x, ii);
            if (mi == SIZE_MAX || val > m || (isnan(val) && !isnan(m))) { m = val; mi = ii; }
          }
        }
        size_t o = pl * (size_t)(OH * OW) + (size_t)(oh * OW + ow);
        if (mi == SIZE_MAX) ST(y, o, -INFINITY);
        else copy_elem(x, mi, y, o);
      }
  return NULL;
}

OPFN(op_adaptive_avg_pool2d) {
  NEED(1, 1, 1);
  tin_t *x = &in[0];
  npu_host_tensor_t *y = &out[0];
  if ((x->shape.rank != 3 && x->shape.rank != 4) || y->shape.rank != x->shape.rank) return FAIL("adaptive_avg_pool2d: x must be 3-D or 4-D");
  int32_t h = x->shape.rank - 2;
  for (int32_t i = 0; i < h; i++)
    if (y->shape.dims[i] != x->shape.dims[i]) return FAIL("adaptive_avg_pool2d: output leading dims differ");
  int64_t H = x->shape.dims[h], W = x->shape.dims[h + 1], OH = y->shape.dims[h], OW = y->shape.dims[h + 1];
  size_t planes = 1;
  for (int32_t i = 0; i < h; i++) planes *= (size_t)x->shape.dims[i];
  bool f64 = kind_of(y->dtype) == K_F64;
  for (size_t pl = 0; pl < planes; pl++)
    for (int64_t oh = 0; oh < OH; oh++)
      for (int64_t ow = 0; ow < OW; ow++) {
        int64_t h0 = (oh * H) / OH, h1 = ((oh + 1) * H + OH - 1) / OH;
        int64_t w0 = (ow * W) / OW, w1 = ((ow + 1) * W + OW - 1) / OW;
        double sd = 0;
        float sf = 0;
        for (int64_t a = h0; a < h1; a++)
          for (int64_t b = w0; b < w1; b++) {
            double val = LD(x, pl * (size_t)(H * W) + (size_t)(a * W + b));
            sd += val;
            sf += (float)val;
          }
        int64_t cnt = (h1 - h0) * (w1 - w0);
        size_t o = pl * (size_t)(OH * OW) + (size_t)(oh * OW + ow);
        if (f64) ST(y, o, sd / (double)cnt);
        else ST(y, o, sf / (float)cnt);
      }
  return NULL;
}

/* ---- advanced indexing -------------------------------------------------------------------------------- */

/* aten.index.Tensor with integer index tensors (None slots from
 * _tensor_list_none_masks); boolean masks are not supported. */
OPFN(op_index) {
  NEED(1, -1, 1);
  const npu_node_t *node = NODE(g, nid);
  tin_t *x = &in[0];
  npu_host_tensor_t *y = &out[0];
  int32_t nidx = nin - 1;
  bool none[NPU_MAX_RANK] = {false};
  int32_t nslots = nidx;
  const npu_attr_value_t *m = npu_node_attr(node, "_tensor_list_none_masks");
  if (m && m->kind == NPU_ATTR_LIST && m->u.list.count > 0 && m->u.list.items[0].kind == NPU_ATTR_LIST) {
    const npu_attr_value_t *mask = &m->u.list.items[0];
    nslots = mask->u.list.count;
    if (nslots > NPU_MAX_RANK) return FAIL("index: too many indices");
    int32_t present = 0;
    for (int32_t i = 0; i < nslots; i++) {
      none[i] = mask->u.list.items[i].kind == NPU_ATTR_BOOL && mask->u.list.items[i].u.b;
      present += !none[i];
    }
    if (present != nidx) return FAIL("index: none mask does not match the inputs");
  }
  if (nslots > x->shape.rank || nslots > NPU_MAX_RANK) return FAIL("index: too many indices for rank %d", x->shape.rank);
  tin_t *ix[NPU_MAX_RANK] = {NULL};
  npu_shape_t bshape = {.rank = 0};
  int32_t first = -1, last = -1;
  for (int32_t i = 0, t = 1; i < nslots; i++) {
    if (none[i]) continue;
    ix[i] = &in[t++];
    if (kind_of(ix[i]->dtype) != K_INT || ix[i]->dtype == NPU_DTYPE_BOOL || ix[i]->dtype == NPU_DTYPE_UINT8)
      return UNSUP("index: only integer index tensors are supported");
    if (!npu_broadcast_shapes(&bshape, &ix[i]->shape, &bshape)) return FAIL("index: index tensors do not broadcast");
    if (first < 0) first = i;
    last = i;
  }
  if (first < 0) return op_copy(g, nid, x, 1, y, 1);
  bool adjacent = true;
  for (int32_t i = first; i <= last; i++) if (none[i]) adjacent = false;
  /* Output dims: [before][bshape][after] (adjacent) or [bshape][the rest]. */
  int32_t before = adjacent ? first : 0;
  npu_shape_t expect = {.rank = 0};
  int32_t rest_dims[NPU_MAX_RANK], nrest = 0;
  for (int32_t i = 0; i < x->shape.rank; i++)
    if (i >= nslots || none[i]) rest_dims[nrest++] = i;
  if (nrest + bshape.rank > NPU_MAX_RANK) return FAIL("index: result rank too large");
  for (int32_t i = 0; i < before; i++) expect.dims[expect.rank++] = x->shape.dims[rest_dims[i]];
  for (int32_t i = 0; i < bshape.rank; i++) expect.dims[expect.rank++] = bshape.dims[i];
  for (int32_t i = before; i < nrest; i++) expect.dims[expect.rank++] = x->shape.dims[rest_dims[i]];
  if (!npu_shape_equal(&expect, &y->shape)) return FAIL("index: output shape differs from the indexing result");
  int64_t xst[NPU_MAX_RANK], ist[NPU_MAX_RANK][NPU_MAX_RANK];
  contiguous_strides(&x->shape, xst);
  for (int32_t i = 0; i < nslots; i++)
    if (ix[i] && !bcast_strides(&ix[i]->shape, &bshape, ist[i])) return FAIL("index: index tensors do not broadcast");
  size_t n = NUMEL(y);
  int64_t coord[NPU_MAX_RANK];
  for (size_t o = 0; o < n; o++) {
    size_t rest = o;
    for (int32_t d = y->shape.rank - 1; d >= 0; d--) {
      coord[d] = (int64_t)(rest % (size_t)y->shape.dims[d]);
      rest /= (size_t)y->shape.dims[d];
    }
    /* broadcast index position */
    size_t bpos = 0;
    for (int32_t d = 0; d < bshape.rank; d++) bpos = bpos * (size_t)bshape.dims[d] + (size_t)coord[before + d];
    int64_t off = 0;
    for (int32_t i = 0; i < nrest; i++) {
      int32_t yd = i < before ? i : i + bshape.rank;
      off += coord[yd] * xst[rest_dims[i]];
    }
    for (int32_t i = 0; i < nslots; i++) {
      if (!ix[i]) continue;
      int64_t v = npu_ref_load_int(ix[i], (size_t)offset_of(bpos, &bshape, ist[i]));
      int64_t size = x->shape.dims[i];
      if (v < -size || v >= size) return FAIL("index: index %" PRId64 " is out of bounds for size %" PRId64, v, size);
      if (v < 0) v += size;
      off += v * xst[i];
    }
    copy_elem(x, (size_t)off, y, o);
  }
  return NULL;
}

/* ---- the table ---------------------------------------------------------------------------------------- */

static const npu_ref_builtin_t k_builtins[] = {
    {"aten.conv2d.default", op_conv2d},
    {"aten.batch_norm.default", op_batch_norm},
    {"aten.relu.default", op_relu},
    {"aten.relu_.default", op_relu},
    {"aten.add.Tensor", op_add},
    {"aten.add_.Tensor", op_add},
    {"aten.sub.Tensor", op_sub},
    {"aten.mul.Tensor", op_mul},
    {"aten.mul_.Tensor", op_mul},
    {"aten.div.Tensor", op_div},
    {"aten.max_pool2d.default", op_max_pool2d},
    {"aten.adaptive_avg_pool2d.default", op_adaptive_avg_pool2d},
    {"aten.flatten.using_ints", op_copy},
    {"aten.linear.default", op_linear},
    {"aten.addmm.default", op_addmm},
    {"aten.t.default", op_t},
    {"aten.matmul.default", op_matmul},
    {"aten.embedding.default", op_embedding},
    {"wrap_with_set_grad_enabled", op_rope_hop},
    {"<built-in function getitem>", op_getitem},
    {"aten._assert_tensor_metadata.default", op_noop},
    {"aten.to.dtype", op_to_dtype},
    {"aten.pow.Tensor_Scalar", op_pow_scalar},
    {"aten.mean.dim", op_mean_dim},
    {"aten.rsqrt.default", op_rsqrt},
    {"aten.neg.default", op_neg},
    {"aten.silu.default", op_silu},
    {"aten.cos.default", op_cos},
    {"aten.sin.default", op_sin},
    {"aten.exp.default", op_exp},
    {"aten.sigmoid.default", op_sigmoid},
    {"aten.tanh.default", op_tanh},
    {"aten.view.default", op_copy},
    {"aten.reshape.default", op_copy},
    {"aten._unsafe_view.default", op_copy},
    {"aten.unsqueeze.default", op_copy},
    {"aten.squeeze.dim", op_copy},
    {"aten.transpose.int", op_transpose},
    {"aten.permute.default", op_permute},
    {"aten.contiguous.default", op_copy},
    {"aten.clone.default", op_copy},
    {"aten.slice.Tensor", op_slice},
    {"aten.expand.default", op_expand},
    {"aten.cat.default", op_cat},
    {"aten.detach_.default", op_copy},
    {"aten.detach.default", op_copy},
    {"aten.alias.default", op_copy},
    {"aten.index_copy.default", op_index_copy},
    {"aten.index_copy_.default", op_index_copy},
    {"aten.softmax.int", op_softmax},
    {"aten._softmax.default", op_softmax},
    {"aten.dropout.default", op_dropout},
    {"aten.full.default", op_full},
    {"aten.arange.default", op_arange},
    {"aten.arange.start", op_arange},
    {"aten.arange.start_step", op_arange},
    {"aten.max.dim", op_max_dim},
    {"aten.split_with_sizes.default", op_split_with_sizes},
    {"aten.index.Tensor", op_index},
    {"aten.scaled_dot_product_attention.default", op_sdpa},
};

const npu_ref_builtin_t *npu_ref_builtins(int32_t *out_count) {
  *out_count = (int32_t)(sizeof k_builtins / sizeof k_builtins[0]);
  return k_builtins;
}
