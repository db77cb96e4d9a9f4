/* The host reference interpreter: walks a graph in execution order and
 * evaluates every node with PyTorch CPU semantics (docs/reference.md). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npu/ops.h"
#include "ref_internal.h"
#include "weights_internal.h"

/* Largest single tensor the interpreter allocates (16 GiB): a guard against
 * absurd shapes, not a real limit. */
#define REF_MAX_BYTES ((size_t)1 << 34)

/* ---- element helpers ------------------------------------------------------- */

uint16_t npu_reference_f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

float npu_reference_bf16_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

size_t npu_ref_numel(const npu_shape_t *s) {
  int64_t n = 0;
  if (!npu_shape_numel(s, &n) || n < 0) return 0;
  return (size_t)n;
}

double npu_reference_load(const npu_host_tensor_t *t, size_t i) {
  const uint8_t *p = (const uint8_t *)t->data;
  switch (t->dtype) {
    case NPU_DTYPE_FLOAT32: { float v; memcpy(&v, p + 4 * i, 4); return v; }
    case NPU_DTYPE_FLOAT64: { double v; memcpy(&v, p + 8 * i, 8); return v; }
    case NPU_DTYPE_FLOAT16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return npu_f16_to_f32(v); }
    case NPU_DTYPE_BFLOAT16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return npu_reference_bf16_to_f32(v); }
    case NPU_DTYPE_INT8: return (double)((const int8_t *)p)[i];
    case NPU_DTYPE_UINT8: return (double)p[i];
    case NPU_DTYPE_BOOL: return p[i] ? 1.0 : 0.0;
    case NPU_DTYPE_INT16: { int16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case NPU_DTYPE_INT32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case NPU_DTYPE_INT64: { int64_t v; memcpy(&v, p + 8 * i, 8); return (double)v; }
    default: return 0.0;
  }
}

void npu_ref_store_int(npu_host_tensor_t *t, size_t i, int64_t v) {
  uint8_t *p = (uint8_t *)t->data;
  switch (t->dtype) {
    case NPU_DTYPE_INT8: ((int8_t *)p)[i] = (int8_t)(uint8_t)(uint64_t)v; break;
    case NPU_DTYPE_UINT8: p[i] = (uint8_t)(uint64_t)v; break;
    case NPU_DTYPE_BOOL: p[i] = v != 0; break;
    case NPU_DTYPE_INT16: { int16_t x = (int16_t)(uint16_t)(uint64_t)v; memcpy(p + 2 * i, &x, 2); break; }
    case NPU_DTYPE_INT32: { int32_t x = (int32_t)(uint32_t)(uint64_t)v; memcpy(p + 4 * i, &x, 4); break; }
    case NPU_DTYPE_INT64: memcpy(p + 8 * i, &v, 8); break;
    default: break;
  }
}

void npu_reference_store(npu_host_tensor_t *t, size_t i, double v) {
  uint8_t *p = (uint8_t *)t->data;
  switch (t->dtype) {
    case NPU_DTYPE_FLOAT32: { float x = (float)v; memcpy(p + 4 * i, &x, 4); return; }
    case NPU_DTYPE_FLOAT64: memcpy(p + 8 * i, &v, 8); return;
    case NPU_DTYPE_FLOAT16: { uint16_t x = npu_f32_to_f16((float)v); memcpy(p + 2 * i, &x, 2); return; }
    case NPU_DTYPE_BFLOAT16: { uint16_t x = npu_reference_f32_to_bf16((float)v); memcpy(p + 2 * i, &x, 2); return; }
    case NPU_DTYPE_BOOL: p[i] = v != 0.0; return; /* NaN is true, as in torch */
    default: break;
  }
  /* Integers: truncate toward zero; NaN and out-of-range values saturate. */
  int64_t x;
  if (isnan(v)) x = 0;
  else if (v >= 9223372036854775807.0) x = INT64_MAX;
  else if (v <= -9223372036854775808.0) x = INT64_MIN;
  else x = (int64_t)v;
  npu_ref_store_int(t, i, x);
}

int64_t npu_ref_load_int(const npu_host_tensor_t *t, size_t i) {
  const uint8_t *p = (const uint8_t *)t->data;
  switch (t->dtype) {
    case NPU_DTYPE_INT8: return ((const int8_t *)p)[i];
    case NPU_DTYPE_UINT8: return p[i];
    case NPU_DTYPE_BOOL: return p[i] != 0;
    case NPU_DTYPE_INT16: { int16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case NPU_DTYPE_INT32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case NPU_DTYPE_INT64: { int64_t v; memcpy(&v, p + 8 * i, 8); return v; }
    default: break;
  }
  double v = npu_reference_load(t, i);
  if (isnan(v)) return 0;
  if (v >= 9223372036854775807.0) return INT64_MAX;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)v;
}

/* ---- op registry ----------------------------------------------------------- */

typedef struct reg_entry {
  char *op;
  npu_reference_op_fn fn;
} reg_entry_t;

static reg_entry_t *g_reg;
static int32_t g_reg_count, g_reg_cap;

npu_status_t npu_reference_register_op(const char *op, npu_reference_op_fn fn) {
  if (!op || !*op) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_reference_register_op: empty op name");
  for (int32_t i = 0; i < g_reg_count; i++) {
    if (strcmp(g_reg[i].op, op) != 0) continue;
    if (fn) {
      g_reg[i].fn = fn;
    } else {
      free(g_reg[i].op);
      g_reg[i] = g_reg[--g_reg_count];
    }
    return NULL;
  }
  if (!fn) return NULL;
  if (g_reg_count == g_reg_cap) {
    int32_t cap = g_reg_cap ? 2 * g_reg_cap : 16;
    reg_entry_t *n = realloc(g_reg, (size_t)cap * sizeof *n);
    if (!n) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
    g_reg = n;
    g_reg_cap = cap;
  }
  char *copy = strdup(op);
  if (!copy) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  g_reg[g_reg_count++] = (reg_entry_t){copy, fn};
  return NULL;
}

static npu_reference_op_fn lookup_op(const char *op) {
  for (int32_t i = 0; i < g_reg_count; i++)
    if (strcmp(g_reg[i].op, op) == 0) return g_reg[i].fn;
  int32_t n = 0;
  const npu_ref_builtin_t *b = npu_ref_builtins(&n);
  for (int32_t i = 0; i < n; i++)
    if (strcmp(b[i].op, op) == 0) return b[i].fn;
  return NULL;
}

bool npu_reference_supports_op(const char *op) { return op && lookup_op(op) != NULL; }

/* ---- results ----------------------------------------------------------------- */

struct npu_reference_result {
  int32_t num_tensors;
  npu_host_tensor_t *vals; /* by tensor id; data NULL = no value */
  char **names;            /* by tensor id */
  int32_t num_outputs;
  int32_t *outputs;        /* tensor ids */
};

void npu_reference_result_free(npu_reference_result_t *r) {
  if (!r) return;
  for (int32_t i = 0; i < r->num_tensors; i++) {
    if (r->vals) free(r->vals[i].data);
    if (r->names) free(r->names[i]);
  }
  free(r->vals);
  free(r->names);
  free(r->outputs);
  free(r);
}

int32_t npu_reference_result_count(const npu_reference_result_t *r) { return r ? r->num_outputs : 0; }

const npu_host_tensor_t *npu_reference_result_output(const npu_reference_result_t *r, int32_t index) {
  if (!r || index < 0 || index >= r->num_outputs) return NULL;
  return &r->vals[r->outputs[index]];
}

const npu_host_tensor_t *npu_reference_result_find(const npu_reference_result_t *r, const char *name) {
  if (!r || !name) return NULL;
  for (int32_t i = 0; i < r->num_tensors; i++)
    if (r->vals[i].data && r->names[i] && strcmp(r->names[i], name) == 0) return &r->vals[i];
  return NULL;
}

/* ---- the run ------------------------------------------------------------------- */

/* Allocates a zeroed value of the given type. */
static npu_status_t alloc_value(const char *what, npu_dtype_t dtype, const npu_shape_t *shape,
                                npu_host_tensor_t *out) {
  char b[160];
  int64_t numel = 0;
  size_t es = npu_dtype_size(dtype);
  if (es == 0) return npu_error(NPU_STATUS_UNSUPPORTED, "tensor '%s': dtype %s has no host representation", what, npu_dtype_name(dtype));
  if (dtype == NPU_DTYPE_COMPLEX64 || dtype == NPU_DTYPE_COMPLEX128)
    return npu_error(NPU_STATUS_UNSUPPORTED, "tensor '%s': complex dtypes are not supported", what);
  if (shape->rank < 0 || shape->rank > NPU_MAX_RANK)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "tensor '%s': bad rank %d", what, shape->rank);
  for (int32_t i = 0; i < shape->rank; i++)
    if (shape->dims[i] < 0)
      return npu_error(NPU_STATUS_INVALID_ARGUMENT, "tensor '%s': negative dim in %s", what, npu_shape_format(shape, b, sizeof b));
  if (!npu_shape_numel(shape, &numel) || (uint64_t)numel > REF_MAX_BYTES / es)
    return npu_error(NPU_STATUS_UNSUPPORTED, "tensor '%s': shape %s is too large for the host reference", what,
                     npu_shape_format(shape, b, sizeof b));
  size_t bytes = (size_t)numel * es;
  void *data = calloc(1, bytes ? bytes : 1);
  if (!data) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "tensor '%s': out of memory (%zu bytes)", what, bytes);
  *out = (npu_host_tensor_t){.dtype = dtype, .shape = *shape, .data = data, .size = bytes};
  return NULL;
}

static npu_status_t materialize_weight(const npu_graph_t *g, const npu_weights_t *w,
                                       npu_tensor_id_t id, npu_host_tensor_t *val) {
  const npu_tensor_t *t = npu_graph_tensor(g, id);
  NPU_RETURN_IF_ERROR(alloc_value(t->name, t->dtype, &t->shape, val));
  if (val->size == 0) return NULL; /* empty constants (lifted [0] tensors) need no checkpoint */
  npu_program_weight_t pw = {.tensor = 0, .checkpoint_dtype = t->dtype};
  const char **sources = NULL;
  npu_status_t s = NULL;
  if (t->transform >= 0) {
    const npu_weight_transform_t *tr = npu_graph_weight_transform(g, t->transform);
    if (!tr) {
      s = npu_error(NPU_STATUS_INVALID_ARGUMENT, "weight '%s': transform %d does not exist", t->name, t->transform);
      goto done;
    }
    sources = calloc((size_t)(tr->num_sources > 0 ? tr->num_sources : 1), sizeof *sources);
    if (!sources) {
      s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
      goto done;
    }
    for (int32_t i = 0; i < tr->num_sources; i++) {
      const npu_tensor_t *src = npu_graph_tensor(g, tr->sources[i]);
      if (!src || !src->weight_key) {
        s = npu_error(NPU_STATUS_UNSUPPORTED, "weight '%s': transform %s source %d is not a checkpoint weight",
                      t->name, tr->kind, i);
        goto done;
      }
      sources[i] = src->weight_key;
    }
    pw.transform = tr->kind;
    pw.sources = sources;
    pw.num_sources = tr->num_sources;
    pw.attrs = tr->attrs;
    pw.num_attrs = tr->num_attrs;
  } else {
    if (!t->weight_key) {
      s = npu_error(NPU_STATUS_NOT_FOUND, "weight '%s' has no checkpoint key and no transform", t->name);
      goto done;
    }
    pw.key = t->weight_key;
  }
  if (!w) {
    s = npu_error(NPU_STATUS_NOT_FOUND, "weight '%s' (%s) is needed but no weights were given", t->name,
                  t->weight_key ? t->weight_key : "derived");
    goto done;
  }
  npu_program_tensor_t dest = {.name = t->name, .dtype = t->dtype, .shape = t->shape, .size = val->size};
  s = npu_weights_materialize(w, &pw, &dest, val->data, val->size);
done:
  free(sources);
  if (s) {
    free(val->data);
    val->data = NULL;
  }
  return s;
}

static npu_status_t ensure_value(const npu_graph_t *g, const npu_weights_t *w, npu_reference_result_t *r,
                                 npu_tensor_id_t id, npu_node_id_t user) {
  if (id < 0 || id >= r->num_tensors)
    return user == NPU_NO_NODE ? npu_error(NPU_STATUS_INVALID_ARGUMENT, "tensor id %d out of range", id)
                               : npu_node_error(g, user, NPU_STATUS_INVALID_ARGUMENT, "input tensor id %d out of range", id);
  if (r->vals[id].data) return NULL;
  const npu_tensor_t *t = npu_graph_tensor(g, id);
  if (t->role == NPU_ROLE_WEIGHT || t->role == NPU_ROLE_CONSTANT) {
    npu_status_t s = materialize_weight(g, w, id, &r->vals[id]);
    if (s && user != NPU_NO_NODE) {
      char loc[256];
      s = npu_status_annotate(s, npu_node_location(g, user, loc, sizeof loc), "loading weight");
    }
    return s;
  }
  if (t->role == NPU_ROLE_INPUT || t->role == NPU_ROLE_STATE)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "graph input '%s' was not given", t->name);
  if (user != NPU_NO_NODE)
    return npu_node_error(g, user, NPU_STATUS_INVALID_ARGUMENT, "input '%s' has no value (not produced before use)", t->name);
  return npu_error(NPU_STATUS_INVALID_ARGUMENT, "output '%s' has no value (no live producer)", t->name);
}

static npu_status_t set_inputs(const npu_graph_t *g, npu_reference_result_t *r,
                               const npu_reference_input_t *inputs, int32_t num_inputs) {
  char b1[160], b2[160];
  for (int32_t i = 0; i < num_inputs; i++) {
    const npu_reference_input_t *in = &inputs[i];
    if (!in->name) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "input %d has no name", i);
    npu_tensor_id_t id = npu_graph_find_tensor(g, in->name);
    if (id == NPU_NO_TENSOR) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "input '%s' is not a tensor of the graph", in->name);
    const npu_tensor_t *t = npu_graph_tensor(g, id);
    if (t->role != NPU_ROLE_INPUT && t->role != NPU_ROLE_STATE)
      return npu_error(NPU_STATUS_INVALID_ARGUMENT, "'%s' is a %s tensor, not a graph input", in->name,
                       npu_tensor_role_name(t->role));
    if (r->vals[id].data) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "input '%s' is given twice", in->name);
    if (in->tensor.dtype != t->dtype || !npu_shape_equal(&in->tensor.shape, &t->shape))
      return npu_error(NPU_STATUS_INVALID_ARGUMENT, "input '%s': got %s %s, the graph expects %s %s", in->name,
                       npu_dtype_name(in->tensor.dtype), npu_shape_format(&in->tensor.shape, b1, sizeof b1),
                       npu_dtype_name(t->dtype), npu_shape_format(&t->shape, b2, sizeof b2));
    NPU_RETURN_IF_ERROR(alloc_value(t->name, t->dtype, &t->shape, &r->vals[id]));
    if (in->tensor.size < r->vals[id].size || (!in->tensor.data && r->vals[id].size))
      return npu_error(NPU_STATUS_INVALID_ARGUMENT, "input '%s': %zu bytes given, %zu needed", in->name,
                       in->tensor.size, r->vals[id].size);
    if (r->vals[id].size) memcpy(r->vals[id].data, in->tensor.data, r->vals[id].size);
  }
  int32_t n = 0;
  const npu_tensor_id_t *gin = npu_graph_inputs(g, &n);
  for (int32_t i = 0; i < n; i++)
    if (!r->vals[gin[i]].data)
      return npu_error(NPU_STATUS_INVALID_ARGUMENT, "graph input '%s' was not given", npu_graph_tensor(g, gin[i])->name);
  return NULL;
}

static npu_status_t run_node(const npu_graph_t *g, const npu_weights_t *w, npu_reference_result_t *r,
                             npu_node_id_t nid) {
  const npu_node_t *n = npu_graph_node(g, nid);
  npu_reference_op_fn fn = lookup_op(n->op);
  if (!fn)
    return npu_node_error(g, nid, NPU_STATUS_UNSUPPORTED, "the host reference has no implementation of op %s", n->op);
  for (int32_t i = 0; i < n->num_inputs; i++) NPU_RETURN_IF_ERROR(ensure_value(g, w, r, n->inputs[i], nid));
  for (int32_t j = 0; j < n->num_outputs; j++) {
    npu_tensor_id_t o = n->outputs[j];
    if (o < 0 || o >= r->num_tensors) return npu_node_error(g, nid, NPU_STATUS_INVALID_ARGUMENT, "output id %d out of range", o);
    if (r->vals[o].data) return npu_node_error(g, nid, NPU_STATUS_INVALID_ARGUMENT, "output '%s' already has a value", npu_graph_tensor(g, o)->name);
    const npu_tensor_t *t = npu_graph_tensor(g, o);
    npu_status_t s = alloc_value(t->name, t->dtype, &t->shape, &r->vals[o]);
    if (s) {
      char loc[256];
      return npu_status_annotate(s, npu_node_location(g, nid, loc, sizeof loc), "output %d", j);
    }
  }
  npu_host_tensor_t stack_in[8], stack_out[4];
  npu_host_tensor_t *ins = n->num_inputs <= 8 ? stack_in : calloc((size_t)n->num_inputs, sizeof *ins);
  npu_host_tensor_t *outs = n->num_outputs <= 4 ? stack_out : calloc((size_t)n->num_outputs, sizeof *outs);
  npu_status_t s = NULL;
  if (!ins || !outs) {
    s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  } else {
    for (int32_t i = 0; i < n->num_inputs; i++) ins[i] = r->vals[n->inputs[i]];
    for (int32_t j = 0; j < n->num_outputs; j++) outs[j] = r->vals[n->outputs[j]];
    s = fn(g, nid, ins, n->num_inputs, outs, n->num_outputs);
  }
  if (ins != stack_in) free(ins);
  if (outs != stack_out) free(outs);
  return s;
}

npu_status_t npu_reference_run(const npu_graph_t *g, const npu_weights_t *w,
                               const npu_reference_input_t *inputs, int32_t num_inputs,
                               npu_reference_result_t **out) {
  if (out) *out = NULL;
  if (!g || !out || num_inputs < 0 || (num_inputs > 0 && !inputs))
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_reference_run: bad arguments");
  npu_reference_result_t *r = calloc(1, sizeof *r);
  if (!r) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  npu_status_t s = NULL;
  r->num_tensors = npu_graph_tensor_count(g);
  size_t nt = (size_t)(r->num_tensors > 0 ? r->num_tensors : 1);
  r->vals = calloc(nt, sizeof *r->vals);
  r->names = calloc(nt, sizeof *r->names);
  if (!r->vals || !r->names) {
    s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
    goto fail;
  }
  s = set_inputs(g, r, inputs, num_inputs);
  if (s) goto fail;
  for (npu_node_id_t n = npu_graph_first_node(g); n != NPU_NO_NODE; n = npu_graph_next_node(g, n)) {
    s = run_node(g, w, r, n);
    if (s) goto fail;
  }
  int32_t nout = 0;
  const npu_tensor_id_t *gout = npu_graph_outputs(g, &nout);
  r->num_outputs = nout;
  r->outputs = calloc((size_t)(nout > 0 ? nout : 1), sizeof *r->outputs);
  if (!r->outputs) {
    s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
    goto fail;
  }
  for (int32_t i = 0; i < nout; i++) {
    s = ensure_value(g, w, r, gout[i], NPU_NO_NODE);
    if (s) goto fail;
    r->outputs[i] = gout[i];
  }
  for (int32_t i = 0; i < r->num_tensors; i++) {
    if (!r->vals[i].data) continue;
    r->names[i] = strdup(npu_graph_tensor(g, i)->name);
    if (!r->names[i]) {
      s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
      goto fail;
    }
  }
  *out = r;
  return NULL;
fail:
  npu_reference_result_free(r);
  return s;
}
