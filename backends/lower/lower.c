/* backends/lower/lower.c — graph -> program (docs/kernels.md). */
#include <math.h>
#include <stdio.h>
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
  npu_lower_precision_t precision; /* kernel variants and activation/weight dtype */
  /* FP16 only: graph inputs/outputs keep float32 buffers; their float16
   * compute copies live past the memory plan's peak in the arena. */
  int32_t *io_tensor;    /* per root: the float32 INPUT/OUTPUT tensor, or -1 */
  int32_t *io_buf;       /* per root: its buffer */
  uint64_t extra_next;   /* next free arena offset past the plan */
  uint64_t align;
} lowerer_t;

const char *lower_kernel_name(npu_lower_precision_t precision, const char *f32_name, char *buf,
                              size_t buf_size) {
  size_t n = strlen(f32_name);
  if (precision != NPU_LOWER_FP16 || n < 4 || strcmp(f32_name + n - 4, "_f32") != 0 ||
      strncmp(f32_name, "cast_", 5) == 0)
    return f32_name;
  if (strcmp(f32_name, "conv2d_f32") == 0) return "conv2d_direct_f16";
  snprintf(buf, buf_size, "%.*s_f16", (int)(n - 4), f32_name);
  return buf;
}

npu_dtype_t lower_act_dtype(npu_lower_precision_t precision) {
  return precision == NPU_LOWER_FP16 ? NPU_DTYPE_FLOAT16 : NPU_DTYPE_FLOAT32;
}

npu_status_t npu_lower_parse_precision(const char *value, npu_lower_precision_t *out) {
  *out = NPU_LOWER_FP32;
  if (!value || strcmp(value, "fp32") == 0) return NULL;
  if (strcmp(value, "fp16") == 0) {
    *out = NPU_LOWER_FP16;
    return NULL;
  }
  return npu_error(NPU_STATUS_INVALID_ARGUMENT, "precision '%s': expected fp32 or fp16", value);
}

/* The program dtype of a graph tensor's compute storage: float32 tensors are
 * stored as float16 in an fp16 program. */
static npu_dtype_t store_dtype(const lowerer_t *L, npu_dtype_t graph_dtype) {
  return graph_dtype == NPU_DTYPE_FLOAT32 ? lower_act_dtype(L->precision) : graph_dtype;
}

static npu_status_t add_buffer(lowerer_t *L, npu_buffer_kind_t kind, uint64_t size,
                               const char *name, int32_t *out) {
  npu_program_buffer_t buf = {.kind = kind, .size = size ? size : 4, .name = name};
  return npu_program_add_buffer(L->b, &buf, out);
}

/* A program tensor for graph tensor t stored as `dtype`. */
static npu_status_t add_tensor_as(lowerer_t *L, npu_tensor_id_t t, npu_dtype_t dtype,
                                  int32_t buffer, uint64_t offset, int32_t *out) {
  const npu_tensor_t *tt = npu_graph_tensor(L->g, t);
  int64_t numel = 0;
  npu_shape_numel(&tt->shape, &numel);
  npu_program_tensor_t pt = {.name = tt->name, .dtype = dtype, .shape = tt->shape,
                             .buffer = buffer, .offset = offset,
                             .size = (uint64_t)numel * npu_dtype_size(dtype)};
  return npu_program_add_tensor(L->b, &pt, out);
}

/* A program tensor for graph tensor t in its compute storage dtype. */
static npu_status_t add_tensor(lowerer_t *L, npu_tensor_id_t t, int32_t buffer, uint64_t offset,
                               int32_t *out) {
  return add_tensor_as(L, t, store_dtype(L, npu_graph_tensor(L->g, t)->dtype), buffer, offset,
                       out);
}

static npu_status_t kernel(lowerer_t *L, const char *name, int32_t *out);
static void groups_1d(uint64_t total, uint32_t local, uint32_t groups[3]);

/* FP16: a cast dispatch between tensors src and dst of `count` elements. */
static npu_status_t add_cast(lowerer_t *L, const char *kname, int32_t src, int32_t dst,
                             uint64_t count, const char *node) {
  if (count > UINT32_MAX)
    return npu_error(NPU_STATUS_UNSUPPORTED, "tensor '%s': too many elements to cast", node);
  npu_program_dispatch_t d;
  memset(&d, 0, sizeof d);
  d.node = node;
  d.bindings[0] = src;
  d.bindings[1] = dst;
  d.num_bindings = 2;
  d.push[NPU_UNARY_COUNT] = (uint32_t)count;
  d.num_push = NPU_UNARY_PUSH_WORDS;
  groups_1d(count, NPU_KLOCAL_ELEMENTWISE, d.groups);
  NPU_RETURN_IF_ERROR(kernel(L, kname, &d.kernel));
  return npu_program_add_dispatch(L->b, &d);
}

static npu_status_t add_weight(lowerer_t *L, npu_tensor_id_t t, int32_t *out) {
  const npu_tensor_t *tt = npu_graph_tensor(L->g, t);
  if (tt->dtype != NPU_DTYPE_FLOAT32)
    return npu_error(NPU_STATUS_UNSUPPORTED, "weight '%s': dtype %s is not lowered (fp32 only)",
                     tt->name, npu_dtype_name(tt->dtype));
  int32_t buf = -1;
  int64_t numel = 0;
  npu_shape_numel(&tt->shape, &numel);
  uint64_t bytes = (uint64_t)numel * npu_dtype_size(store_dtype(L, tt->dtype));
  NPU_RETURN_IF_ERROR(add_buffer(L, NPU_BUFFER_WEIGHT, bytes, tt->name, &buf));
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
  bool is_in = rt->role == NPU_ROLE_INPUT;
  bool is_out = rt->role == NPU_ROLE_INTERMEDIATE && L->a.is_output_root[r];
  if (L->precision == NPU_LOWER_FP16 && (is_in || is_out)) {
    /* float32 I/O buffer + a float16 compute copy past the plan's peak. */
    if (rt->dtype != NPU_DTYPE_FLOAT32)
      return npu_error(NPU_STATUS_UNSUPPORTED, "graph %s '%s': dtype %s (fp16 lowers float32 only)",
                       is_in ? "input" : "output", rt->name, npu_dtype_name(rt->dtype));
    int32_t io = -1;
    NPU_RETURN_IF_ERROR(add_buffer(L, is_in ? NPU_BUFFER_INPUT : NPU_BUFFER_OUTPUT,
                                   lower_tensor_bytes(L->g, r), rt->name, &buf));
    NPU_RETURN_IF_ERROR(add_tensor_as(L, r, NPU_DTYPE_FLOAT32, buf, 0, &io));
    L->io_tensor[r] = io;
    L->io_buf[r] = buf;
    buf = L->arena;
    off = L->extra_next;
    int64_t numel = 0;
    npu_shape_numel(&rt->shape, &numel);
    L->extra_next += ((uint64_t)numel * 2 + L->align - 1) / L->align * L->align;
    char name[256];
    snprintf(name, sizeof name, "%s.f16", rt->name);
    npu_program_tensor_t pt = {.name = name, .dtype = NPU_DTYPE_FLOAT16, .shape = rt->shape,
                               .buffer = buf, .offset = off, .size = (uint64_t)numel * 2};
    NPU_RETURN_IF_ERROR(npu_program_add_tensor(L->b, &pt, out));
    L->ptensor[r] = *out;
    L->tbuf[r] = buf;
    L->toff[r] = off;
    if (is_in)
      NPU_RETURN_IF_ERROR(add_cast(L, "cast_f32_to_f16", io, *out, (uint64_t)numel, rt->name));
    return NULL;
  }
  if (is_in) {
    NPU_RETURN_IF_ERROR(add_buffer(L, NPU_BUFFER_INPUT, lower_tensor_bytes(L->g, r), rt->name, &buf));
  } else if (is_out) {
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

static npu_status_t kernel(lowerer_t *L, const char *f32_name, int32_t *out) {
  char buf[96];
  const char *name = lower_kernel_name(L->precision, f32_name, buf, sizeof buf);
  const npu_program_kernel_t *k = npu_kernel_find(name);
  if (!k && name != f32_name)
    return npu_error(NPU_STATUS_UNSUPPORTED, "kernel '%s' has no fp16 variant ('%s' is not built)",
                     f32_name, name);
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

/* Tile of conv2d_gemm (kernels/conv2d_gemm.comp) for an M x P GEMM (M output
 * channels per group, P output pixels) repeated `batches` times (groups * N):
 * the largest tile that still gives about one workgroup per SM of a big GPU;
 * small late layers get smaller tiles with the K dimension split inside
 * the workgroup (16x16, 16 slices, when nothing larger fills the GPU). */
static void conv_gemm_tile(int64_t m, int64_t npix, int64_t batches, uint32_t *bm, uint32_t *bn,
                           uint32_t *ks) {
  static const uint32_t cfg[][3] = {
      {64, 64, 1}, {32, 64, 2}, {32, 32, 4}, {16, 32, 8}, {16, 16, 16}};
  const size_t last = sizeof cfg / sizeof cfg[0] - 1;
  const int64_t want = 120;
  size_t i = 0;
  for (; i < last; i++) {
    int64_t wg = batches * ((m + cfg[i][0] - 1) / cfg[i][0]) * ((npix + cfg[i][1] - 1) / cfg[i][1]);
    if (wg >= want) break;
  }
  *bm = cfg[i][0];
  *bn = cfg[i][1];
  *ks = cfg[i][2];
}

/* Split-K across workgroups (conv2d_gemm MODE 1 + MODE 2) for convs with a long
 * reduction (KD >= CONV_SPLIT_MIN_KD) whose 32x32 tiling gives fewer than
 * CONV_SPLIT_TARGET workgroups: tile 32x32x4 and as many K splits (each a
 * multiple of 32 long, at least 256) as bring the grid to about the target.
 * Returns the number of splits (1: no split) and the K length of each. */
#define CONV_SPLIT_MIN_KD 1024
#define CONV_SPLIT_TARGET 240
static uint32_t conv_gemm_splits(int64_t m, int64_t npix, int64_t batches, int64_t kd,
                                 uint32_t *kper) {
  if (kd < CONV_SPLIT_MIN_KD) return 1;
  int64_t wg = batches * ((m + 31) / 32) * ((npix + 31) / 32);
  if (wg >= CONV_SPLIT_TARGET) return 1;
  int64_t splits = (CONV_SPLIT_TARGET + wg - 1) / wg;
  if (splits > kd / 256) splits = kd / 256;
  if (splits > 16) splits = 16;
  if (splits < 2) return 1;
  int64_t per = (kd + splits - 1) / splits;
  per = (per + 31) / 32 * 32;
  *kper = (uint32_t)per;
  return (uint32_t)((kd + per - 1) / per);
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
  int64_t kg = K / groups;
  uint32_t bm = 0, bn = 0, ks = 0, kper = 0;
  conv_gemm_tile(kg, OH * OW, groups * N, &bm, &bn, &ks);
  uint32_t splits = fits_u32(C / groups * KH * KW)
                        ? conv_gemm_splits(kg, OH * OW, groups * N, C / groups * KH * KW, &kper)
                        : 1;
  if (splits > 1) {
    bm = 32;
    bn = 32;
    ks = 4;
  }
  if (N > 65535 || OH * OW > (int64_t)65535 * bn)
    return step_error(L, s, "problem too large for one dispatch");
  int64_t all[] = {N, C, H, W, K, OH, OW, KH, KW, stride[0], stride[1], pad[0], pad[1], dil[0], dil[1], groups};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (!fits_u32(all[i])) return step_error(L, s, "a dimension exceeds 32 bits");
  if (!fits_u32(C / groups * KH * KW) || !fits_u32(N * C * H * W) || !fits_u32(N * K * OH * OW))
    return step_error(L, s, "a tensor exceeds 32-bit indexing");
  for (int i = 0; i < 16; i++) d->push[i] = (uint32_t)all[i];
  d->push[NPU_CONV_FLAGS] = (s->bias ? NPU_KFLAG_BIAS : 0) | (s->relu ? NPU_KFLAG_RELU : 0) |
                            (s->residual ? NPU_KFLAG_RESIDUAL : 0);
  d->push[NPU_CONVG_SPLITS] = 1;
  d->push[NPU_CONVG_KPER] = 0;
  d->push[NPU_CONVG_MODE] = NPU_CONVG_MODE_CONV;
  d->num_push = NPU_CONVG_PUSH_WORDS;
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
  d->groups[0] = (uint32_t)((OH * OW + bn - 1) / bn);
  d->groups[1] = (uint32_t)(groups * ((kg + bm - 1) / bm));
  d->groups[2] = (uint32_t)N;
  if (d->groups[1] > 65535) return step_error(L, s, "too many output channels for one dispatch");
  d->spec[0] = (npu_spec_constant_t){NPU_CONVG_SPEC_BM, bm};
  d->spec[1] = (npu_spec_constant_t){NPU_CONVG_SPEC_BN, bn};
  d->spec[2] = (npu_spec_constant_t){NPU_CONVG_SPEC_KS, ks};
  d->spec[3] = (npu_spec_constant_t){NPU_CONVG_SPEC_LOCAL, NPU_CONVG_LOCAL(bm, bn, ks)};
  d->spec[4] = (npu_spec_constant_t){NPU_CONVG_SPEC_KH, (uint32_t)KH};
  d->spec[5] = (npu_spec_constant_t){NPU_CONVG_SPEC_KW, (uint32_t)KW};
  d->num_spec = 6;
  NPU_RETURN_IF_ERROR(kernel(L, "conv2d_gemm_f32", &d->kernel));
  if (splits == 1) return NULL;
  /* Split-K: this dispatch writes float partial sums [splits,N,K,OH*OW] into a
   * scratch buffer of its own; *d becomes the reduce + epilogue dispatch. */
  int64_t ycount = N * K * OH * OW;
  if (!fits_u32(ycount * splits) || N * splits > 65535)
    return step_error(L, s, "split-K scratch exceeds 32-bit indexing");
  char sname[160];
  snprintf(sname, sizeof sname, "%s.splitk", d->node ? d->node : "conv");
  npu_program_buffer_t sb = {.kind = NPU_BUFFER_ACTIVATIONS,
                             .size = (uint64_t)ycount * splits * 4, .name = sname};
  int32_t sbuf = -1, scratch = -1;
  NPU_RETURN_IF_ERROR(npu_program_add_buffer(L->b, &sb, &sbuf));
  npu_program_tensor_t st = {.name = sname, .dtype = NPU_DTYPE_FLOAT32, .buffer = sbuf,
                             .offset = 0, .size = (uint64_t)ycount * splits * 4};
  st.shape.rank = 1;
  st.shape.dims[0] = ycount * splits;
  NPU_RETURN_IF_ERROR(npu_program_add_tensor(L->b, &st, &scratch));
  npu_program_dispatch_t part = *d;
  part.push[NPU_CONVG_SPLITS] = splits;
  part.push[NPU_CONVG_KPER] = kper;
  part.push[NPU_CONVG_MODE] = NPU_CONVG_MODE_PARTIAL;
  part.bindings[4] = scratch;
  part.groups[2] = (uint32_t)(N * splits);
  NPU_RETURN_IF_ERROR(npu_program_add_dispatch(L->b, &part));
  d->push[NPU_CONVG_SPLITS] = splits;
  d->push[NPU_CONVG_KPER] = kper;
  d->push[NPU_CONVG_MODE] = NPU_CONVG_MODE_REDUCE;
  d->bindings[0] = scratch;
  groups_1d((uint64_t)ycount, NPU_CONVG_LOCAL(bm, bn, ks), d->groups);
  return NULL;
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
  if (L->precision == NPU_LOWER_FP16 && tt->dtype == NPU_DTYPE_FLOAT32) {
    /* The stored copy is float16: cast it into a float32 OUTPUT buffer. */
    int32_t src = -1, buf = -1, dst = -1;
    int64_t numel = 0;
    npu_shape_numel(&tt->shape, &numel);
    if ((uint64_t)numel > UINT32_MAX)
      return npu_error(NPU_STATUS_UNSUPPORTED, "graph output '%s': too many elements", tt->name);
    NPU_RETURN_IF_ERROR(ptensor(L, t, &src));
    NPU_RETURN_IF_ERROR(add_buffer(L, NPU_BUFFER_OUTPUT, bytes, tt->name, &buf));
    NPU_RETURN_IF_ERROR(add_tensor_as(L, t, NPU_DTYPE_FLOAT32, buf, 0, &dst));
    L->copy_tensor[output_index] = dst;
    d->bindings[0] = src;
    d->bindings[1] = dst;
    d->num_bindings = 2;
    d->push[NPU_UNARY_COUNT] = (uint32_t)numel;
    d->num_push = NPU_UNARY_PUSH_WORDS;
    d->node = tt->name;
    groups_1d((uint64_t)numel, NPU_KLOCAL_ELEMENTWISE, d->groups);
    return kernel(L, "cast_f16_to_f32", &d->kernel);
  }
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
  L->io_tensor = malloc(sizeof(int32_t) * (size_t)(nt + 1));
  L->io_buf = malloc(sizeof(int32_t) * (size_t)(nt + 1));
  if (!L->offsets || !L->ptensor || !L->tbuf || !L->toff || !L->copy_tensor || !L->io_tensor || !L->io_buf)
    return npu_error(NPU_STATUS_OUT_OF_MEMORY, "lowering: out of memory");
  for (int32_t t = 0; t < nt; t++) {
    L->ptensor[t] = -1;
    L->tbuf[t] = -1;
    L->io_tensor[t] = -1;
  }
  L->align = align;
  for (int32_t o = 0; o < nouts; o++) L->copy_tensor[o] = -1;
  npu_memplan_stats_t stats;
  NPU_RETURN_IF_ERROR(npu_memplan_compute(g, align, L->offsets, &stats));
  L->arena = -1;
  uint64_t extra = 0;
  L->extra_next = (stats.peak_bytes + align - 1) / align * align;
  if (L->precision == NPU_LOWER_FP16) {
    /* Room for the float16 copies of the graph inputs and output roots
     * (planned with float32 sizes, so float16 activations use half of it). */
    for (int32_t t = 0; t < nt; t++) {
      const npu_tensor_t *tt = npu_graph_tensor(g, t);
      if (L->a.root[t] != t) continue;
      if (tt->role != NPU_ROLE_INPUT &&
          !(tt->role == NPU_ROLE_INTERMEDIATE && L->a.is_output_root[t]))
        continue;
      extra += (lower_tensor_bytes(g, t) / 2 + align - 1) / align * align;
    }
  }
  if (stats.peak_bytes > 0 || extra > 0)
    NPU_RETURN_IF_ERROR(add_buffer(L, NPU_BUFFER_ACTIVATIONS, L->extra_next + extra,
                                   "activations", &L->arena));
  for (int32_t i = 0; i < nins; i++) {
    int32_t pt = -1;
    NPU_RETURN_IF_ERROR(ptensor(L, ins[i], &pt));
    npu_tensor_id_t r = L->a.root[ins[i]];
    if (L->precision == NPU_LOWER_FP16 && L->io_tensor[r] >= 0) pt = L->io_tensor[r];
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
  if (L->precision == NPU_LOWER_FP16) {
    /* float16 results -> the float32 OUTPUT buffers, after the last step. */
    for (int32_t t = 0; t < nt; t++) {
      const npu_tensor_t *tt = npu_graph_tensor(g, t);
      if (L->io_tensor[t] < 0 || tt->role != NPU_ROLE_INTERMEDIATE) continue;
      int64_t numel = 0;
      npu_shape_numel(&tt->shape, &numel);
      NPU_RETURN_IF_ERROR(add_cast(L, "cast_f16_to_f32", L->ptensor[t], L->io_tensor[t],
                                   (uint64_t)numel, tt->name));
    }
  }
  for (int32_t o = 0; o < nouts; o++) {
    int32_t pt = L->copy_tensor[o];
    npu_tensor_id_t r = L->a.root[outs[o]];
    if (pt < 0 && L->precision == NPU_LOWER_FP16 && L->io_tensor[r] >= 0) {
      pt = L->io_tensor[r];
      if (outs[o] != r) /* a view of the output root: same float32 buffer */
        NPU_RETURN_IF_ERROR(add_tensor_as(L, outs[o], NPU_DTYPE_FLOAT32,
                                          L->io_buf[r], 0, &pt));
    }
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
  L.precision = options->precision;
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
  free(L.io_tensor);
  free(L.io_buf);
  return st;
}
