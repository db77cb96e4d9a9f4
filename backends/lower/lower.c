/* backends/lower/lower.c — graph -> program (docs/kernels.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lower_internal.h"
#include "npu_kernels.h"

typedef struct lowerer {
  const npu_graph_t *g;
  const npu_lower_options_t *opts;
  npu_program_builder_t *b;
  lower_analysis_t a;
  uint64_t *offsets;     /* per tensor: arena offset or UINT64_MAX */
  int32_t *ptensor;      /* per graph tensor: program tensor index or -1 */
  int32_t *copy_tensor;  /* per graph output index: program tensor of a copy target */
  int32_t arena;         /* ACTIVATIONS buffer index or -1 */
  int32_t *tbuf;         /* per root: buffer index once placed */
  uint64_t *toff;        /* per root: byte offset once placed */
} lowerer_t;

static npu_status_t add_buffer(lowerer_t *L, npu_buffer_kind_t kind, uint64_t size,
                               const char *name, int32_t *out) {
  npu_program_buffer_t buf = {.kind = kind, .size = size ? size : 4, .name = name};
  return npu_program_add_buffer(L->b, &buf, out);
}

static npu_status_t add_tensor(lowerer_t *L, npu_tensor_id_t t, int32_t buffer, uint64_t offset,
                               int32_t *out) {
  const npu_tensor_t *tt = npu_graph_tensor(L->g, t);
  npu_program_tensor_t pt = {.name = tt->name, .dtype = tt->dtype, .shape = tt->shape,
                             .buffer = buffer, .offset = offset,
                             .size = lower_tensor_bytes(L->g, t)};
  return npu_program_add_tensor(L->b, &pt, out);
}

static npu_status_t add_weight(lowerer_t *L, npu_tensor_id_t t, int32_t *out) {
  const npu_tensor_t *tt = npu_graph_tensor(L->g, t);
  if (tt->dtype != NPU_DTYPE_FLOAT32)
    return npu_error(NPU_STATUS_UNSUPPORTED, "weight '%s': dtype %s is not lowered (fp32 only)",
                     tt->name, npu_dtype_name(tt->dtype));
  int32_t buf = -1;
  NPU_RETURN_IF_ERROR(add_buffer(L, NPU_BUFFER_WEIGHT, lower_tensor_bytes(L->g, t), tt->name, &buf));
  NPU_RETURN_IF_ERROR(add_tensor(L, t, buf, 0, out));
  npu_program_weight_t w = {.tensor = *out, .key = tt->weight_key,
                            .checkpoint_dtype = tt->dtype};
  const char *sources[16];
  if (tt->transform >= 0) {
    const npu_weight_transform_t *wt = npu_graph_weight_transform(L->g, tt->transform);
    if (!wt) return npu_error(NPU_STATUS_INTERNAL, "weight '%s': bad transform index", tt->name);
    if (wt->num_sources > 16)
      return npu_error(NPU_STATUS_UNSUPPORTED, "weight '%s': transform '%s' has %d sources",
                       tt->name, wt->kind, (int)wt->num_sources);
    for (int32_t i = 0; i < wt->num_sources; i++) {
      const npu_tensor_t *src = npu_graph_tensor(L->g, wt->sources[i]);
      if (!src || !src->weight_key)
        return npu_error(NPU_STATUS_UNSUPPORTED,
                         "weight '%s': transform '%s' source %d is not a checkpoint weight",
                         tt->name, wt->kind, (int)i);
      sources[i] = src->weight_key;
    }
    w.key = NULL;
    w.transform = wt->kind;
    w.sources = sources;
    w.num_sources = wt->num_sources;
    w.attrs = wt->attrs;
    w.num_attrs = wt->num_attrs;
  } else if (!tt->weight_key) {
    return npu_error(NPU_STATUS_UNSUPPORTED,
                     "weight '%s' has neither a checkpoint key nor a transform", tt->name);
  }
  return npu_program_add_weight(L->b, &w);
}

/* Places root r (a buffer of its own or the arena) and returns its tensor. */
static npu_status_t place_root(lowerer_t *L, npu_tensor_id_t r, int32_t *out) {
  const npu_tensor_t *rt = npu_graph_tensor(L->g, r);
  int32_t buf = -1;
  uint64_t off = 0;
  if (rt->role == NPU_ROLE_WEIGHT || rt->role == NPU_ROLE_CONSTANT) {
    NPU_RETURN_IF_ERROR(add_weight(L, r, out));
    L->ptensor[r] = *out;
    return NULL;
  }
  if (rt->role == NPU_ROLE_INPUT) {
    NPU_RETURN_IF_ERROR(add_buffer(L, NPU_BUFFER_INPUT, lower_tensor_bytes(L->g, r), rt->name, &buf));
  } else if (rt->role == NPU_ROLE_INTERMEDIATE && L->a.is_output_root[r]) {
    NPU_RETURN_IF_ERROR(add_buffer(L, NPU_BUFFER_OUTPUT, lower_tensor_bytes(L->g, r), rt->name, &buf));
  } else if (rt->role == NPU_ROLE_INTERMEDIATE && L->offsets[r] != UINT64_MAX && L->arena >= 0) {
    buf = L->arena;
    off = L->offsets[r];
  } else {
    return npu_error(NPU_STATUS_UNSUPPORTED, "tensor '%s' (%s) has no storage in the lowering",
                     rt->name, npu_tensor_role_name(rt->role));
  }
  NPU_RETURN_IF_ERROR(add_tensor(L, r, buf, off, out));
  L->ptensor[r] = *out;
  L->tbuf[r] = buf;
  L->toff[r] = off;
  return NULL;
}

/* The program tensor of graph tensor t, created on first use; an alias gets
 * its root's buffer and offset under its own name and shape. */
static npu_status_t ptensor(lowerer_t *L, npu_tensor_id_t t, int32_t *out) {
  if (L->ptensor[t] >= 0) {
    *out = L->ptensor[t];
    return NULL;
  }
  npu_tensor_id_t r = L->a.root[t];
  int32_t rp = -1;
  if (L->ptensor[r] < 0) NPU_RETURN_IF_ERROR(place_root(L, r, &rp));
  rp = L->ptensor[r];
  if (r == t) {
    *out = rp;
    return NULL;
  }
  if (L->tbuf[r] < 0) {
    /* A weight viewed under another shape: share the weight's tensor. */
    L->ptensor[t] = rp;
    *out = rp;
    return NULL;
  }
  NPU_RETURN_IF_ERROR(add_tensor(L, t, L->tbuf[r], L->toff[r], out));
  L->ptensor[t] = *out;
  return NULL;
}

static npu_status_t kernel(lowerer_t *L, const char *name, int32_t *out) {
  const npu_program_kernel_t *k = npu_kernel_find(name);
  if (!k) return npu_error(NPU_STATUS_INTERNAL, "kernel '%s' is not built", name);
  npu_program_kernel_t copy = *k;
  if (!L->opts->embed_spirv) {
    copy.spirv = NULL;
    copy.spirv_words = 0;
  }
  return npu_program_add_kernel(L->b, &copy, out);
}

static void groups_1d(uint64_t total, uint32_t local, uint32_t groups[3]) {
  uint64_t g = (total + local - 1) / local;
  if (g == 0) g = 1;
  uint64_t x = g < 65535 ? g : 65535;
  groups[0] = (uint32_t)x;
  groups[1] = (uint32_t)((g + x - 1) / x);
  groups[2] = 1;
}

static void groups_planes(uint64_t planes, uint32_t groups[3]) {
  uint64_t x = planes < 65535 ? (planes ? planes : 1) : 65535;
  groups[0] = (uint32_t)x;
  groups[1] = (uint32_t)((planes + x - 1) / x);
  if (groups[1] == 0) groups[1] = 1;
  groups[2] = 1;
}

static bool fits_u32(int64_t v) { return v >= 0 && v <= (int64_t)UINT32_MAX; }

/* Reads an int pair attr (a single int is broadcast); false if malformed. */
static bool attr_pair(const npu_node_t *n, const char *name, int64_t dflt0, int64_t dflt1,
                      int64_t out[2]) {
  int64_t v[2];
  int32_t count = 0;
  out[0] = dflt0;
  out[1] = dflt1;
  if (!npu_node_attr(n, name)) return true;
  int64_t one = 0;
  if (npu_node_attr_int(n, name, &one)) {
    out[0] = out[1] = one;
    return true;
  }
  if (!npu_node_attr_ints(n, name, v, 2, &count)) return false;
  if (count == 0) return true;
  if (count == 1) v[1] = v[0];
  out[0] = v[0];
  out[1] = v[1];
  return true;
}

static const npu_shape_t *shape_of(const lowerer_t *L, npu_tensor_id_t t) {
  return &npu_graph_tensor(L->g, t)->shape;
}

static npu_status_t step_error(const lowerer_t *L, const lower_step_t *s, const char *msg) {
  const npu_node_t *n = npu_graph_node(L->g, s->node);
  return npu_node_error(L->g, s->node, NPU_STATUS_UNSUPPORTED, "op '%s' (node '%s'): %s", n->op,
                        n->name, msg);
}

static npu_status_t lower_conv(lowerer_t *L, const lower_step_t *s, npu_program_dispatch_t *d) {
  const npu_node_t *n = npu_graph_node(L->g, s->node);
  const npu_shape_t *xs = shape_of(L, s->in[0]), *ws = shape_of(L, s->in[1]);
  const npu_shape_t *ys = shape_of(L, n->outputs[0]);
  if (xs->rank != 4 || ws->rank != 4 || ys->rank != 4)
    return step_error(L, s, "conv2d expects 4-D NCHW input, weight and output");
  int64_t stride[2], pad[2], dil[2], groups = 1;
  const npu_attr_value_t *pv = npu_node_attr(n, "padding");
  if (pv && pv->kind == NPU_ATTR_STRING)
    return step_error(L, s, "string padding is not supported");
  if (!attr_pair(n, "stride", 1, 1, stride) || !attr_pair(n, "padding", 0, 0, pad) ||
      !attr_pair(n, "dilation", 1, 1, dil))
    return step_error(L, s, "malformed stride/padding/dilation");
  if (npu_node_attr(n, "groups") && !npu_node_attr_int(n, "groups", &groups))
    return step_error(L, s, "malformed groups");
  int64_t N = xs->dims[0], C = xs->dims[1], H = xs->dims[2], W = xs->dims[3];
  int64_t K = ws->dims[0], KH = ws->dims[2], KW = ws->dims[3];
  if (groups < 1 || C % groups || K % groups || ws->dims[1] * groups != C)
    return step_error(L, s, "channels do not match the groups");
  if (stride[0] < 1 || stride[1] < 1 || dil[0] < 1 || dil[1] < 1 || pad[0] < 0 || pad[1] < 0)
    return step_error(L, s, "bad stride/padding/dilation");
  int64_t OH = (H + 2 * pad[0] - dil[0] * (KH - 1) - 1) / stride[0] + 1;
  int64_t OW = (W + 2 * pad[1] - dil[1] * (KW - 1) - 1) / stride[1] + 1;
  if (ys->dims[0] != N || ys->dims[1] != K || ys->dims[2] != OH || ys->dims[3] != OW)
    return step_error(L, s, "output shape does not match the attributes");
  if (s->bias) {
    const npu_shape_t *bs = shape_of(L, s->in[2]);
    int64_t bn = 0;
    if (!npu_shape_numel(bs, &bn) || bn != K) return step_error(L, s, "bias is not [Co]");
  }
  if (N > 65535 || OH * OW > (int64_t)65535 * 64)
    return step_error(L, s, "problem too large for one dispatch");
  int64_t all[] = {N, C, H, W, K, OH, OW, KH, KW, stride[0], stride[1], pad[0], pad[1], dil[0], dil[1], groups};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (!fits_u32(all[i])) return step_error(L, s, "a dimension exceeds 32 bits");
  for (int i = 0; i < 16; i++) d->push[i] = (uint32_t)all[i];
  d->push[NPU_CONV_FLAGS] = (s->bias ? NPU_KFLAG_BIAS : 0) | (s->relu ? NPU_KFLAG_RELU : 0) |
                            (s->residual ? NPU_KFLAG_RESIDUAL : 0);
  d->num_push = NPU_CONV_PUSH_WORDS;
  int32_t x, w, y, bias, res;
  NPU_RETURN_IF_ERROR(ptensor(L, s->in[0], &x));
  NPU_RETURN_IF_ERROR(ptensor(L, s->in[1], &w));
  NPU_RETURN_IF_ERROR(ptensor(L, s->out, &y));
  bias = w; /* unread without the flag; any valid tensor */
  res = w;
  int32_t next = 2;
  if (s->bias) NPU_RETURN_IF_ERROR(ptensor(L, s->in[next++], &bias));
  if (s->residual) NPU_RETURN_IF_ERROR(ptensor(L, s->in[next++], &res));
  int32_t binds[] = {x, w, bias, res, y};
  memcpy(d->bindings, binds, sizeof binds);
  d->num_bindings = 5;
  int64_t kg = K / groups;
  d->groups[0] = (uint32_t)((OH * OW + NPU_KLOCAL_CONV - 1) / NPU_KLOCAL_CONV);
  d->groups[1] = (uint32_t)(groups * ((kg + NPU_KCONV_CO_TILE - 1) / NPU_KCONV_CO_TILE));
  d->groups[2] = (uint32_t)N;
  if (d->groups[1] > 65535) return step_error(L, s, "too many output channels for one dispatch");
  return kernel(L, "conv2d_f32", &d->kernel);
}

static npu_status_t lower_maxpool(lowerer_t *L, const lower_step_t *s, npu_program_dispatch_t *d) {
  const npu_node_t *n = npu_graph_node(L->g, s->node);
  const npu_shape_t *xs = shape_of(L, s->in[0]), *ys = shape_of(L, s->out);
  if (xs->rank != 4 || ys->rank != 4) return step_error(L, s, "max_pool2d expects 4-D NCHW");
  int64_t k[2], stride[2], pad[2], dil[2];
  if (!attr_pair(n, "kernel_size", -1, -1, k) || k[0] < 1 || k[1] < 1)
    return step_error(L, s, "bad kernel_size");
  if (!attr_pair(n, "stride", k[0], k[1], stride) || !attr_pair(n, "padding", 0, 0, pad) ||
      !attr_pair(n, "dilation", 1, 1, dil))
    return step_error(L, s, "malformed stride/padding/dilation");
  bool ceil_mode = false;
  npu_node_attr_bool(n, "ceil_mode", &ceil_mode);
  int64_t H = xs->dims[2], W = xs->dims[3];
  int64_t OH = (H + 2 * pad[0] - dil[0] * (k[0] - 1) - 1) / stride[0] + 1;
  int64_t OW = (W + 2 * pad[1] - dil[1] * (k[1] - 1) - 1) / stride[1] + 1;
  if (ys->dims[2] != OH || ys->dims[3] != OW || ys->dims[0] != xs->dims[0] ||
      ys->dims[1] != xs->dims[1])
    return step_error(L, s, ceil_mode ? "ceil_mode=true is not supported"
                                      : "output shape does not match the attributes");
  int64_t all[] = {xs->dims[0], xs->dims[1], H, W, OH, OW, k[0], k[1], stride[0], stride[1],
                   pad[0], pad[1], dil[0], dil[1]};
  for (int i = 0; i < NPU_POOL_PUSH_WORDS; i++) {
    if (!fits_u32(all[i])) return step_error(L, s, "a dimension exceeds 32 bits");
    d->push[i] = (uint32_t)all[i];
  }
  d->num_push = NPU_POOL_PUSH_WORDS;
  groups_1d((uint64_t)(xs->dims[0] * xs->dims[1] * OH * OW), NPU_KLOCAL_ELEMENTWISE, d->groups);
  NPU_RETURN_IF_ERROR(ptensor(L, s->in[0], &d->bindings[0]));
  NPU_RETURN_IF_ERROR(ptensor(L, s->out, &d->bindings[1]));
  d->num_bindings = 2;
  return kernel(L, "maxpool2d_f32", &d->kernel);
}

static npu_status_t lower_avgpool(lowerer_t *L, const lower_step_t *s, npu_program_dispatch_t *d) {
  const npu_shape_t *xs = shape_of(L, s->in[0]), *ys = shape_of(L, s->out);
  if (xs->rank != 4 || ys->rank != 4 || ys->dims[0] != xs->dims[0] || ys->dims[1] != xs->dims[1])
    return step_error(L, s, "adaptive_avg_pool2d expects 4-D NCHW");
  int64_t N = xs->dims[0], C = xs->dims[1], H = xs->dims[2], W = xs->dims[3];
  int64_t OH = ys->dims[2], OW = ys->dims[3];
  if (OH < 1 || OW < 1 || H < 1 || W < 1) return step_error(L, s, "empty pooling");
  int64_t all[] = {N, C, H, W, OH, OW, N * C, H * W};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (!fits_u32(all[i])) return step_error(L, s, "a dimension exceeds 32 bits");
  NPU_RETURN_IF_ERROR(ptensor(L, s->in[0], &d->bindings[0]));
  NPU_RETURN_IF_ERROR(ptensor(L, s->out, &d->bindings[1]));
  d->num_bindings = 2;
  if (OH == 1 && OW == 1) {
    d->push[NPU_GAP_NC] = (uint32_t)(N * C);
    d->push[NPU_GAP_HW] = (uint32_t)(H * W);
    d->num_push = NPU_GAP_PUSH_WORDS;
    groups_planes((uint64_t)(N * C), d->groups);
    return kernel(L, "global_avgpool_f32", &d->kernel);
  }
  for (int i = 0; i < NPU_AVGPOOL_PUSH_WORDS; i++) d->push[i] = (uint32_t)all[i];
  d->num_push = NPU_AVGPOOL_PUSH_WORDS;
  groups_1d((uint64_t)(N * C * OH * OW), NPU_KLOCAL_ELEMENTWISE, d->groups);
  return kernel(L, "avgpool2d_f32", &d->kernel);
}

static npu_status_t lower_linear(lowerer_t *L, const lower_step_t *s, npu_program_dispatch_t *d) {
  const npu_shape_t *xs = shape_of(L, s->in[0]), *ws = shape_of(L, s->in[1]);
  if (xs->rank < 1 || ws->rank != 2 || xs->dims[xs->rank - 1] != ws->dims[1])
    return step_error(L, s, "linear expects x[..., K] and W[N, K]");
  int64_t K = ws->dims[1], N = ws->dims[0], numel = 0;
  npu_shape_numel(xs, &numel);
  int64_t M = K ? numel / K : 0;
  if (s->bias) {
    int64_t bn = 0;
    if (!npu_shape_numel(shape_of(L, s->in[2]), &bn) || bn != N)
      return step_error(L, s, "bias is not [N]");
  }
  if (!fits_u32(M) || !fits_u32(N) || !fits_u32(K) || !fits_u32(M * N))
    return step_error(L, s, "a dimension exceeds 32 bits");
  d->push[NPU_LINEAR_M] = (uint32_t)M;
  d->push[NPU_LINEAR_N] = (uint32_t)N;
  d->push[NPU_LINEAR_K] = (uint32_t)K;
  d->push[NPU_LINEAR_FLAGS] = (s->bias ? NPU_KFLAG_BIAS : 0) | (s->relu ? NPU_KFLAG_RELU : 0);
  d->num_push = NPU_LINEAR_PUSH_WORDS;
  groups_planes((uint64_t)(M * N), d->groups);
  int32_t x, w, b, y;
  NPU_RETURN_IF_ERROR(ptensor(L, s->in[0], &x));
  NPU_RETURN_IF_ERROR(ptensor(L, s->in[1], &w));
  b = w;
  if (s->bias) NPU_RETURN_IF_ERROR(ptensor(L, s->in[2], &b));
  NPU_RETURN_IF_ERROR(ptensor(L, s->out, &y));
  int32_t binds[] = {x, w, b, y};
  memcpy(d->bindings, binds, sizeof binds);
  d->num_bindings = 4;
  return kernel(L, "linear_f32", &d->kernel);
}

static npu_status_t lower_eltwise(lowerer_t *L, const lower_step_t *s, npu_program_dispatch_t *d) {
  int64_t count = 0;
  npu_shape_numel(shape_of(L, s->out), &count);
  if (!fits_u32(count)) return step_error(L, s, "too many elements");
  groups_1d((uint64_t)count, NPU_KLOCAL_ELEMENTWISE, d->groups);
  for (int32_t i = 0; i < s->num_in; i++)
    NPU_RETURN_IF_ERROR(ptensor(L, s->in[i], &d->bindings[i]));
  NPU_RETURN_IF_ERROR(ptensor(L, s->out, &d->bindings[s->num_in]));
  d->num_bindings = s->num_in + 1;
  if (s->kind == STEP_RELU) {
    d->push[NPU_UNARY_COUNT] = (uint32_t)count;
    d->num_push = NPU_UNARY_PUSH_WORDS;
    return kernel(L, "relu_f32", &d->kernel);
  }
  float alpha = (float)s->alpha;
  d->push[NPU_ADD_COUNT] = (uint32_t)count;
  d->push[NPU_ADD_FLAGS] = s->relu ? NPU_KFLAG_RELU : 0;
  memcpy(&d->push[NPU_ADD_ALPHA], &alpha, 4);
  d->num_push = NPU_ADD_PUSH_WORDS;
  return kernel(L, "add_f32", &d->kernel);
}

/* A graph output whose storage is not written by a dispatch: copy it into an
 * OUTPUT buffer of its own. */
static npu_status_t lower_copy(lowerer_t *L, int32_t output_index, npu_tensor_id_t t,
                               npu_program_dispatch_t *d) {
  uint64_t bytes = lower_tensor_bytes(L->g, t);
  const npu_tensor_t *tt = npu_graph_tensor(L->g, t);
  if (bytes % 4 || bytes / 4 > UINT32_MAX)
    return npu_error(NPU_STATUS_UNSUPPORTED, "graph output '%s': cannot copy %llu bytes",
                     tt->name, (unsigned long long)bytes);
  NPU_RETURN_IF_ERROR(ptensor(L, t, &d->bindings[0]));
  int32_t buf = -1, dst = -1;
  NPU_RETURN_IF_ERROR(add_buffer(L, NPU_BUFFER_OUTPUT, bytes, tt->name, &buf));
  NPU_RETURN_IF_ERROR(add_tensor(L, t, buf, 0, &dst));
  L->copy_tensor[output_index] = dst;
  d->bindings[1] = dst;
  d->num_bindings = 2;
  d->push[NPU_UNARY_COUNT] = (uint32_t)(bytes / 4);
  d->num_push = NPU_UNARY_PUSH_WORDS;
  d->node = tt->name;
  groups_1d(bytes / 4, NPU_KLOCAL_ELEMENTWISE, d->groups);
  return kernel(L, "copy_u32", &d->kernel);
}

static npu_status_t lower_all(lowerer_t *L) {
  const npu_graph_t *g = L->g;
  int32_t nt = npu_graph_tensor_count(g);
  uint64_t align = L->opts->alignment ? L->opts->alignment : 256;
  NPU_RETURN_IF_ERROR(lower_analyze(g, &L->a));
  L->offsets = malloc(sizeof(uint64_t) * (size_t)(nt + 1));
  L->ptensor = malloc(sizeof(int32_t) * (size_t)(nt + 1));
  L->tbuf = malloc(sizeof(int32_t) * (size_t)(nt + 1));
  L->toff = calloc((size_t)nt + 1, sizeof(uint64_t));
  int32_t nouts = 0, nins = 0;
  const npu_tensor_id_t *outs = npu_graph_outputs(g, &nouts);
  const npu_tensor_id_t *ins = npu_graph_inputs(g, &nins);
  L->copy_tensor = malloc(sizeof(int32_t) * (size_t)(nouts + 1));
  if (!L->offsets || !L->ptensor || !L->tbuf || !L->toff || !L->copy_tensor)
    return npu_error(NPU_STATUS_OUT_OF_MEMORY, "lowering: out of memory");
  for (int32_t t = 0; t < nt; t++) {
    L->ptensor[t] = -1;
    L->tbuf[t] = -1;
  }
  for (int32_t o = 0; o < nouts; o++) L->copy_tensor[o] = -1;
  npu_memplan_stats_t stats;
  NPU_RETURN_IF_ERROR(npu_memplan_compute(g, align, L->offsets, &stats));
  L->arena = -1;
  if (stats.peak_bytes > 0)
    NPU_RETURN_IF_ERROR(add_buffer(L, NPU_BUFFER_ACTIVATIONS, stats.peak_bytes, "activations",
                                   &L->arena));
  for (int32_t i = 0; i < nins; i++) {
    int32_t pt = -1;
    NPU_RETURN_IF_ERROR(ptensor(L, ins[i], &pt));
    NPU_RETURN_IF_ERROR(npu_program_add_input(L->b, pt));
  }
  for (int32_t si = 0; si < L->a.num_steps; si++) {
    const lower_step_t *s = &L->a.steps[si];
    npu_program_dispatch_t d;
    memset(&d, 0, sizeof d);
    if (s->kind == STEP_COPY) {
      NPU_RETURN_IF_ERROR(lower_copy(L, L->a.copy_output[si], s->out, &d));
    } else {
      d.node = npu_graph_node(g, s->node)->name;
      switch (s->kind) {
        case STEP_CONV: NPU_RETURN_IF_ERROR(lower_conv(L, s, &d)); break;
        case STEP_MAXPOOL: NPU_RETURN_IF_ERROR(lower_maxpool(L, s, &d)); break;
        case STEP_AVGPOOL: NPU_RETURN_IF_ERROR(lower_avgpool(L, s, &d)); break;
        case STEP_LINEAR: NPU_RETURN_IF_ERROR(lower_linear(L, s, &d)); break;
        default: NPU_RETURN_IF_ERROR(lower_eltwise(L, s, &d)); break;
      }
    }
    NPU_RETURN_IF_ERROR(npu_program_add_dispatch(L->b, &d));
  }
  for (int32_t o = 0; o < nouts; o++) {
    int32_t pt = L->copy_tensor[o];
    if (pt < 0) NPU_RETURN_IF_ERROR(ptensor(L, outs[o], &pt));
    NPU_RETURN_IF_ERROR(npu_program_add_output(L->b, pt));
  }
  return NULL;
}

npu_status_t npu_lower_graph(const npu_graph_t *g, const npu_lower_options_t *options,
                             npu_program_t **out_program) {
  *out_program = NULL;
  if (!g || !options || !options->backend)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_lower_graph: missing graph or options");
  lowerer_t L;
  memset(&L, 0, sizeof L);
  L.g = g;
  L.opts = options;
  const char *model = npu_graph_model_name(g);
  NPU_RETURN_IF_ERROR(npu_program_builder_create(options->backend, model ? model : "model", &L.b));
  npu_status_t st = lower_all(&L);
  if (st) {
    npu_program_builder_destroy(L.b);
  } else {
    st = npu_program_builder_finish(L.b, out_program);
  }
  lower_analysis_free(&L.a);
  free(L.offsets);
  free(L.ptensor);
  free(L.tbuf);
  free(L.toff);
  free(L.copy_tensor);
  return st;
}
