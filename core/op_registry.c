/* The op registry and schema-driven attr normalisation. The ATen schemas
 * themselves live in ops_aten.c. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "npu/ops.h"

static const npu_op_schema_t **registry;
static int32_t registry_count, registry_capacity;

static int compare_schema(const void *a, const void *b) {
  return strcmp((*(const npu_op_schema_t *const *)a)->name,
                (*(const npu_op_schema_t *const *)b)->name);
}

const npu_op_schema_t *npu_op_lookup(const char *name) {
  if (!name) return NULL;
  int32_t lo = 0, hi = registry_count - 1;
  while (lo <= hi) {
    int32_t mid = lo + (hi - lo) / 2;
    int c = strcmp(registry[mid]->name, name);
    if (c == 0) return registry[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return NULL;
}

npu_status_t npu_op_register(const npu_op_schema_t *schema) {
  if (!schema || !schema->name || !*schema->name)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "op schema without a name");
  const npu_op_schema_t *existing = npu_op_lookup(schema->name);
  if (existing == schema) return NULL;
  if (existing)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "op '%s' is already registered", schema->name);
  if (schema->min_inputs < 0 || (schema->max_inputs >= 0 && schema->max_inputs < schema->min_inputs))
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "op '%s': bad input arity", schema->name);
  if (registry_count == registry_capacity) {
    int32_t cap = registry_capacity ? registry_capacity * 2 : 128;
    const npu_op_schema_t **r = realloc(registry, sizeof *r * (size_t)cap);
    if (!r) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
    registry = r;
    registry_capacity = cap;
  }
  registry[registry_count++] = schema;
  qsort(registry, (size_t)registry_count, sizeof *registry, compare_schema);
  return NULL;
}

const npu_op_schema_t *const *npu_op_list(int32_t *out_count) {
  *out_count = registry_count;
  return registry;
}

const npu_arg_schema_t *npu_op_find_arg(const npu_op_schema_t *schema, const char *name) {
  for (int32_t i = 0; i < schema->num_args; i++)
    if (strcmp(schema->args[i].name, name) == 0) return &schema->args[i];
  return NULL;
}

static const char *attr_kind_name(npu_attr_kind_t k) {
  switch (k) {
    case NPU_ATTR_NULL: return "null";
    case NPU_ATTR_BOOL: return "a bool";
    case NPU_ATTR_INT: return "an int";
    case NPU_ATTR_FLOAT: return "a float";
    case NPU_ATTR_STRING: return "a string";
    case NPU_ATTR_DTYPE: return "a dtype";
    case NPU_ATTR_LIST: return "a list";
  }
  return "?";
}

/* Normalises one present attr to the arg's kind. Returns false if the value
 * cannot be that kind; *out gets the normalised value (items in `scratch`). */
static bool normalise(const npu_arg_schema_t *arg, const npu_attr_value_t *v,
                      npu_attr_value_t *out, npu_attr_value_t *scratch, int32_t scratch_len) {
  *out = *v;
  if (v->kind == NPU_ATTR_NULL) return true; /* None in an optional slot */
  switch (arg->kind) {
    case NPU_ARG_ANY: return true;
    case NPU_ARG_BOOL: return v->kind == NPU_ATTR_BOOL;
    case NPU_ARG_INT: return v->kind == NPU_ATTR_INT;
    case NPU_ARG_FLOAT:
      if (v->kind == NPU_ATTR_INT) *out = npu_attr_float((double)v->u.i);
      return v->kind == NPU_ATTR_FLOAT || v->kind == NPU_ATTR_INT;
    case NPU_ARG_SCALAR:
      return v->kind == NPU_ATTR_FLOAT || v->kind == NPU_ATTR_INT || v->kind == NPU_ATTR_BOOL;
    case NPU_ARG_STRING: return v->kind == NPU_ATTR_STRING;
    case NPU_ARG_DTYPE: {
      npu_dtype_t d;
      if (v->kind == NPU_ATTR_DTYPE) return true;
      if (v->kind != NPU_ATTR_STRING || !npu_dtype_parse(v->u.s, &d)) return false;
      *out = npu_attr_dtype(d);
      return true;
    }
    case NPU_ARG_INTS:
      if (v->kind == NPU_ATTR_INT) { /* int[2] accepts one int, broadcast */
        int32_t n = arg->ints_len > 0 ? arg->ints_len : 1;
        if (n > scratch_len) return false;
        for (int32_t i = 0; i < n; i++) scratch[i] = *v;
        *out = npu_attr_list(scratch, n);
        return true;
      }
      if (v->kind != NPU_ATTR_LIST) return false;
      for (int32_t i = 0; i < v->u.list.count; i++)
        if (v->u.list.items[i].kind != NPU_ATTR_INT) return false;
      return arg->ints_len == 0 || v->u.list.count == arg->ints_len;
  }
  return false;
}

static const char *arg_kind_name(const npu_arg_schema_t *arg) {
  switch (arg->kind) {
    case NPU_ARG_ANY: return "anything";
    case NPU_ARG_BOOL: return "a bool";
    case NPU_ARG_INT: return "an int";
    case NPU_ARG_FLOAT: return "a number";
    case NPU_ARG_SCALAR: return "a number";
    case NPU_ARG_INTS: return "a list of ints";
    case NPU_ARG_DTYPE: return "a dtype such as \"torch.float32\"";
    case NPU_ARG_STRING: return "a string";
  }
  return "?";
}

npu_status_t npu_op_apply_defaults(npu_graph_t *g, npu_node_id_t id) {
  const npu_node_t *node = npu_graph_node(g, id);
  if (!node) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "no node with id %d", id);
  const npu_op_schema_t *s = node->schema;
  for (int32_t a = 0; a < s->num_args; a++) {
    const npu_arg_schema_t *arg = &s->args[a];
    node = npu_graph_node(g, id); /* refetch: set_node_attr may move tables */
    const npu_attr_value_t *v = npu_node_attr(node, arg->name);
    if (!v) {
      if (arg->required)
        return npu_node_error(g, id, NPU_STATUS_INVALID_ARGUMENT,
                              "missing required attr '%s'", arg->name);
      if (arg->default_value.kind == NPU_ATTR_NULL) continue;
      NPU_RETURN_IF_ERROR(npu_graph_set_node_attr(g, id, arg->name, arg->default_value));
      continue;
    }
    npu_attr_value_t scratch[NPU_MAX_RANK], norm;
    if (!normalise(arg, v, &norm, scratch, NPU_MAX_RANK)) {
      char want[64];
      snprintf(want, sizeof want, "%s", arg_kind_name(arg));
      if (arg->kind == NPU_ARG_INTS && arg->ints_len > 0)
        snprintf(want, sizeof want, "a list of %d ints", arg->ints_len);
      return npu_node_error(g, id, NPU_STATUS_INVALID_ARGUMENT, "attr '%s' must be %s, not %s",
                            arg->name, want, attr_kind_name(v->kind));
    }
    if (!npu_attr_value_equal(&norm, v))
      NPU_RETURN_IF_ERROR(npu_graph_set_node_attr(g, id, arg->name, norm));
  }
  return NULL;
}

npu_status_t npu_op_check_node(const npu_graph_t *g, npu_node_id_t id) {
  const npu_node_t *node = npu_graph_node(g, id);
  if (!node || !node->schema->infer || node->num_outputs == 0) return NULL;
  npu_tensor_type_t *expected = calloc((size_t)node->num_outputs, sizeof *expected);
  if (!expected) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  npu_status_t status = node->schema->infer(g, id, expected, node->num_outputs);
  node = npu_graph_node(g, id);
  for (int32_t i = 0; !status && i < node->num_outputs; i++) {
    const npu_tensor_t *t = npu_graph_tensor(g, node->outputs[i]);
    char want[128], got[128];
    if (!npu_shape_equal(&t->shape, &expected[i].shape) || t->dtype != expected[i].dtype) {
      status = npu_node_error(g, id, NPU_STATUS_VERIFY_FAILED,
                              "output %d '%s' is %s%s but the op gives %s%s", i, t->name,
                              npu_dtype_name(t->dtype), npu_shape_format(&t->shape, got, sizeof got),
                              npu_dtype_name(expected[i].dtype),
                              npu_shape_format(&expected[i].shape, want, sizeof want));
    }
  }
  free(expected);
  return status;
}

bool npu_broadcast_shapes(const npu_shape_t *a, const npu_shape_t *b, npu_shape_t *out) {
  int32_t rank = a->rank > b->rank ? a->rank : b->rank;
  npu_shape_t r = {.rank = rank};
  for (int32_t i = 0; i < rank; i++) {
    int32_t ia = a->rank - rank + i, ib = b->rank - rank + i;
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    if (da != db && da != 1 && db != 1) return false;
    r.dims[i] = da == 1 ? db : da;
  }
  *out = r;
  return true;
}

static int promotion_rank(npu_dtype_t d) {
  switch (d) {
    case NPU_DTYPE_BOOL: return 0;
    case NPU_DTYPE_UINT8: case NPU_DTYPE_INT8: return 1;
    case NPU_DTYPE_INT16: return 2;
    case NPU_DTYPE_INT32: return 3;
    case NPU_DTYPE_INT64: return 4;
    case NPU_DTYPE_FLOAT16: case NPU_DTYPE_BFLOAT16: return 5;
    case NPU_DTYPE_FLOAT32: return 6;
    case NPU_DTYPE_FLOAT64: return 7;
    case NPU_DTYPE_COMPLEX64: return 8;
    case NPU_DTYPE_COMPLEX128: return 9;
    default: return -1;
  }
}

npu_dtype_t npu_promote_dtypes(npu_dtype_t a, npu_dtype_t b) {
  if (a == b) return a;
  /* float16 with bfloat16 promotes to float32, as in torch. */
  if ((a == NPU_DTYPE_FLOAT16 && b == NPU_DTYPE_BFLOAT16) ||
      (a == NPU_DTYPE_BFLOAT16 && b == NPU_DTYPE_FLOAT16))
    return NPU_DTYPE_FLOAT32;
  if ((a == NPU_DTYPE_COMPLEX64 && b == NPU_DTYPE_FLOAT64) ||
      (a == NPU_DTYPE_FLOAT64 && b == NPU_DTYPE_COMPLEX64))
    return NPU_DTYPE_COMPLEX128;
  if ((a == NPU_DTYPE_UINT8 && b == NPU_DTYPE_INT8) || (a == NPU_DTYPE_INT8 && b == NPU_DTYPE_UINT8))
    return NPU_DTYPE_INT16;
  return promotion_rank(a) >= promotion_rank(b) ? a : b;
}

bool npu_wrap_dim(int64_t dim, int32_t rank, int32_t *out) {
  int32_t r = rank > 0 ? rank : 1; /* torch lets a 0-d tensor use dim 0 / -1 */
  if (dim < -r || dim >= r) return false;
  *out = (int32_t)(dim < 0 ? dim + r : dim);
  return true;
}
