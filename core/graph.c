/* The core IR tables. See npu/graph.h for the ownership and id rules. */
#include "npu/graph.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "npu/ops.h"

typedef struct node_record {
  npu_node_t pub;
  npu_node_id_t prev, next; /* execution order; erased nodes are unlinked */
} node_record_t;

/* Open-addressing map from a name to an id; the name lives in the record. */
typedef struct name_index {
  int32_t *slots; /* id + 1, 0 = empty */
  size_t capacity;
  size_t count;
} name_index_t;

typedef struct int_vector {
  npu_tensor_id_t *items;
  int32_t count, capacity;
} int_vector_t;

struct npu_graph {
  npu_arena_t arena;
  const char *model_name;
  const char *pytorch_version;

  npu_tensor_t *tensors;
  int32_t num_tensors, tensor_capacity;
  node_record_t *nodes;
  int32_t num_nodes, node_capacity, live_nodes;
  npu_node_id_t first, last;

  name_index_t tensor_names, node_names;
  int_vector_t inputs, outputs, weights;

  npu_weight_transform_t *transforms;
  int32_t num_transforms, transform_capacity;
  uint64_t unique_counter;
};

/* ---- dtypes and shapes ---------------------------------------------------- */

static const struct {
  const char *name;
  size_t size;
} dtype_info[NPU_DTYPE_COUNT_] = {
    [NPU_DTYPE_INVALID] = {"invalid", 0},   [NPU_DTYPE_FLOAT32] = {"float32", 4},
    [NPU_DTYPE_FLOAT64] = {"float64", 8},   [NPU_DTYPE_FLOAT16] = {"float16", 2},
    [NPU_DTYPE_BFLOAT16] = {"bfloat16", 2}, [NPU_DTYPE_INT8] = {"int8", 1},
    [NPU_DTYPE_INT16] = {"int16", 2},       [NPU_DTYPE_INT32] = {"int32", 4},
    [NPU_DTYPE_INT64] = {"int64", 8},       [NPU_DTYPE_UINT8] = {"uint8", 1},
    [NPU_DTYPE_BOOL] = {"bool", 1},         [NPU_DTYPE_COMPLEX64] = {"complex64", 8},
    [NPU_DTYPE_COMPLEX128] = {"complex128", 16},
};

const char *npu_dtype_name(npu_dtype_t dtype) {
  if ((int)dtype < 0 || dtype >= NPU_DTYPE_COUNT_) return "invalid";
  return dtype_info[dtype].name;
}

bool npu_dtype_parse(const char *text, npu_dtype_t *out) {
  if (!text) return false;
  if (strncmp(text, "torch.", 6) == 0) text += 6;
  for (int d = 1; d < NPU_DTYPE_COUNT_; d++) {
    if (strcmp(text, dtype_info[d].name) == 0) {
      *out = (npu_dtype_t)d;
      return true;
    }
  }
  return false;
}

size_t npu_dtype_size(npu_dtype_t dtype) {
  if ((int)dtype < 0 || dtype >= NPU_DTYPE_COUNT_) return 0;
  return dtype_info[dtype].size;
}

bool npu_dtype_is_float(npu_dtype_t d) {
  return d == NPU_DTYPE_FLOAT32 || d == NPU_DTYPE_FLOAT64 || d == NPU_DTYPE_FLOAT16 ||
         d == NPU_DTYPE_BFLOAT16;
}

bool npu_shape_numel(const npu_shape_t *shape, int64_t *out) {
  int64_t n = 1;
  for (int32_t i = 0; i < shape->rank; i++) {
    int64_t d = shape->dims[i];
    if (d < 0) return false;
    if (d != 0 && n > INT64_MAX / d) return false;
    n *= d;
  }
  *out = n;
  return true;
}

bool npu_shape_equal(const npu_shape_t *a, const npu_shape_t *b) {
  if (a->rank != b->rank) return false;
  for (int32_t i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return false;
  return true;
}

char *npu_shape_format(const npu_shape_t *shape, char *buf, size_t size) {
  if (!size) return buf;
  size_t used = 0;
  buf[0] = '\0';
  int n = snprintf(buf, size, "[");
  used = n > 0 ? (size_t)n : 0;
  for (int32_t i = 0; i < shape->rank && used < size; i++) {
    n = snprintf(buf + used, size - used, "%s%" PRId64, i ? ", " : "", shape->dims[i]);
    if (n < 0) break;
    used += (size_t)n;
  }
  if (used < size) snprintf(buf + used, size - used, "]");
  return buf;
}

/* ---- attributes ----------------------------------------------------------- */

npu_attr_value_t npu_attr_int(int64_t v) {
  return (npu_attr_value_t){.kind = NPU_ATTR_INT, .u.i = v};
}
npu_attr_value_t npu_attr_float(double v) {
  return (npu_attr_value_t){.kind = NPU_ATTR_FLOAT, .u.f = v};
}
npu_attr_value_t npu_attr_bool(bool v) {
  return (npu_attr_value_t){.kind = NPU_ATTR_BOOL, .u.b = v};
}
npu_attr_value_t npu_attr_string(const char *s) {
  return (npu_attr_value_t){.kind = NPU_ATTR_STRING, .u.s = s};
}
npu_attr_value_t npu_attr_dtype(npu_dtype_t d) {
  return (npu_attr_value_t){.kind = NPU_ATTR_DTYPE, .u.dtype = d};
}
npu_attr_value_t npu_attr_list(const npu_attr_value_t *items, int32_t count) {
  return (npu_attr_value_t){.kind = NPU_ATTR_LIST, .u.list = {items, count}};
}

bool npu_attr_value_equal(const npu_attr_value_t *a, const npu_attr_value_t *b) {
  if (a->kind != b->kind) return false;
  switch (a->kind) {
    case NPU_ATTR_NULL: return true;
    case NPU_ATTR_BOOL: return a->u.b == b->u.b;
    case NPU_ATTR_INT: return a->u.i == b->u.i;
    /* Bitwise, so NaN equals NaN and -0.0 differs from 0.0: a round trip must
     * reproduce the exact value. */
    case NPU_ATTR_FLOAT: return memcmp(&a->u.f, &b->u.f, sizeof(double)) == 0;
    case NPU_ATTR_STRING: return strcmp(a->u.s, b->u.s) == 0;
    case NPU_ATTR_DTYPE: return a->u.dtype == b->u.dtype;
    case NPU_ATTR_LIST:
      if (a->u.list.count != b->u.list.count) return false;
      for (int32_t i = 0; i < a->u.list.count; i++)
        if (!npu_attr_value_equal(&a->u.list.items[i], &b->u.list.items[i])) return false;
      return true;
  }
  return false;
}

static bool copy_attr_value(npu_arena_t *arena, const npu_attr_value_t *src,
                            npu_attr_value_t *dst) {
  *dst = *src;
  if (src->kind == NPU_ATTR_STRING) {
    dst->u.s = npu_arena_strdup(arena, src->u.s ? src->u.s : "");
    return dst->u.s != NULL;
  }
  if (src->kind == NPU_ATTR_LIST) {
    npu_attr_value_t *items = NULL;
    if (src->u.list.count > 0) {
      items = npu_arena_alloc(arena, sizeof *items * (size_t)src->u.list.count);
      if (!items) return false;
      for (int32_t i = 0; i < src->u.list.count; i++)
        if (!copy_attr_value(arena, &src->u.list.items[i], &items[i])) return false;
    }
    dst->u.list.items = items;
  }
  return true;
}

static npu_attr_t *copy_attrs(npu_arena_t *arena, const npu_attr_t *attrs, int32_t n) {
  if (n <= 0) return NULL;
  npu_attr_t *out = npu_arena_alloc(arena, sizeof *out * (size_t)n);
  if (!out) return NULL;
  for (int32_t i = 0; i < n; i++) {
    out[i].name = npu_arena_strdup(arena, attrs[i].name);
    if (!out[i].name || !copy_attr_value(arena, &attrs[i].value, &out[i].value)) return NULL;
  }
  return out;
}

/* ---- name index ----------------------------------------------------------- */

static uint64_t hash_name(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

typedef const char *(*name_of_fn)(const npu_graph_t *g, int32_t id);

static const char *tensor_name_of(const npu_graph_t *g, int32_t id) {
  return g->tensors[id].name;
}
static const char *node_name_of(const npu_graph_t *g, int32_t id) {
  return g->nodes[id].pub.name;
}

static int32_t index_find(const npu_graph_t *g, const name_index_t *ix, name_of_fn name_of,
                          const char *name) {
  if (!ix->capacity || !name) return -1;
  size_t mask = ix->capacity - 1;
  for (size_t i = hash_name(name) & mask;; i = (i + 1) & mask) {
    int32_t slot = ix->slots[i];
    if (!slot) return -1;
    if (strcmp(name_of(g, slot - 1), name) == 0) return slot - 1;
  }
}

static bool index_insert(npu_graph_t *g, name_index_t *ix, name_of_fn name_of, int32_t id) {
  if ((ix->count + 1) * 2 > ix->capacity) {
    size_t cap = ix->capacity ? ix->capacity * 2 : 64;
    int32_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return false;
    for (size_t i = 0; i < ix->capacity; i++) {
      int32_t slot = ix->slots[i];
      if (!slot) continue;
      size_t j = hash_name(name_of(g, slot - 1)) & (cap - 1);
      while (slots[j]) j = (j + 1) & (cap - 1);
      slots[j] = slot;
    }
    free(ix->slots);
    ix->slots = slots;
    ix->capacity = cap;
  }
  size_t mask = ix->capacity - 1;
  size_t i = hash_name(name_of(g, id)) & mask;
  while (ix->slots[i]) i = (i + 1) & mask;
  ix->slots[i] = id + 1;
  ix->count++;
  return true;
}

static bool vector_push(int_vector_t *v, npu_tensor_id_t id) {
  if (v->count == v->capacity) {
    int32_t cap = v->capacity ? v->capacity * 2 : 16;
    npu_tensor_id_t *items = realloc(v->items, sizeof *items * (size_t)cap);
    if (!items) return false;
    v->items = items;
    v->capacity = cap;
  }
  v->items[v->count++] = id;
  return true;
}

static bool grow(void **items, int32_t *capacity, int32_t needed, size_t elem) {
  if (needed <= *capacity) return true;
  int32_t cap = *capacity ? *capacity : 64;
  while (cap < needed) {
    if (cap > INT32_MAX / 2) return false;
    cap *= 2;
  }
  void *p = realloc(*items, elem * (size_t)cap);
  if (!p) return false;
  *items = p;
  *capacity = cap;
  return true;
}

static npu_status_t oom(void) { return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory"); }

/* ---- graph lifecycle and metadata ----------------------------------------- */

npu_status_t npu_graph_create(npu_graph_t **out) {
  *out = NULL;
  npu_graph_t *g = calloc(1, sizeof *g);
  if (!g) return oom();
  npu_arena_init(&g->arena);
  g->first = g->last = NPU_NO_NODE;
  *out = g;
  return NULL;
}

void npu_graph_destroy(npu_graph_t *g) {
  if (!g) return;
  npu_arena_release(&g->arena);
  free(g->tensors);
  free(g->nodes);
  free(g->tensor_names.slots);
  free(g->node_names.slots);
  free(g->inputs.items);
  free(g->outputs.items);
  free(g->weights.items);
  free(g->transforms);
  free(g);
}

const char *npu_graph_model_name(const npu_graph_t *g) { return g->model_name; }
const char *npu_graph_pytorch_version(const npu_graph_t *g) { return g->pytorch_version; }

npu_status_t npu_graph_set_model_name(npu_graph_t *g, const char *name) {
  g->model_name = name ? npu_arena_strdup(&g->arena, name) : NULL;
  return name && !g->model_name ? oom() : NULL;
}

npu_status_t npu_graph_set_pytorch_version(npu_graph_t *g, const char *version) {
  g->pytorch_version = version ? npu_arena_strdup(&g->arena, version) : NULL;
  return version && !g->pytorch_version ? oom() : NULL;
}

const char *npu_graph_intern(npu_graph_t *g, const char *s) {
  return npu_arena_strdup(&g->arena, s ? s : "");
}

const char *npu_graph_unique_name(npu_graph_t *g, const char *base) {
  if (npu_graph_find_tensor(g, base) < 0 && npu_graph_find_node(g, base) < 0)
    return npu_graph_intern(g, base);
  size_t n = strlen(base) + 24;
  char *buf = npu_arena_alloc(&g->arena, n);
  if (!buf) return NULL;
  for (;;) {
    snprintf(buf, n, "%s_%" PRIu64, base, ++g->unique_counter);
    if (npu_graph_find_tensor(g, buf) < 0 && npu_graph_find_node(g, buf) < 0) return buf;
  }
}

/* ---- tensors ---------------------------------------------------------------- */

int32_t npu_graph_tensor_count(const npu_graph_t *g) { return g->num_tensors; }

const npu_tensor_t *npu_graph_tensor(const npu_graph_t *g, npu_tensor_id_t id) {
  if (id < 0 || id >= g->num_tensors) return NULL;
  return &g->tensors[id];
}

npu_tensor_id_t npu_graph_find_tensor(const npu_graph_t *g, const char *name) {
  return index_find(g, &g->tensor_names, tensor_name_of, name);
}

static bool shape_valid(const npu_shape_t *s) {
  if (s->rank < 0 || s->rank > NPU_MAX_RANK) return false;
  for (int32_t i = 0; i < s->rank; i++)
    if (s->dims[i] < 0) return false;
  return true;
}

npu_status_t npu_graph_add_tensor(npu_graph_t *g, const npu_tensor_desc_t *desc,
                                  npu_tensor_id_t *out_id) {
  if (out_id) *out_id = NPU_NO_TENSOR;
  if (!desc->name || !*desc->name)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "tensor without a name");
  if (npu_graph_find_tensor(g, desc->name) >= 0)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "duplicate tensor name '%s'", desc->name);
  if (!shape_valid(&desc->shape))
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "tensor '%s': invalid shape (rank %d, at most %d, dims >= 0)",
                     desc->name, desc->shape.rank, NPU_MAX_RANK);
  if (!grow((void **)&g->tensors, &g->tensor_capacity, g->num_tensors + 1, sizeof(npu_tensor_t)))
    return oom();
  npu_tensor_t *t = &g->tensors[g->num_tensors];
  memset(t, 0, sizeof *t);
  t->name = npu_arena_strdup(&g->arena, desc->name);
  t->weight_key = desc->weight_key ? npu_arena_strdup(&g->arena, desc->weight_key) : NULL;
  if (!t->name || (desc->weight_key && !t->weight_key)) return oom();
  t->dtype = desc->dtype;
  t->shape = desc->shape;
  t->role = desc->role;
  t->transform = -1;
  t->producer = NPU_NO_NODE;
  npu_tensor_id_t id = g->num_tensors++;
  if (!index_insert(g, &g->tensor_names, tensor_name_of, id)) {
    g->num_tensors--;
    return oom();
  }
  if (desc->role == NPU_ROLE_WEIGHT || desc->role == NPU_ROLE_CONSTANT) {
    if (!vector_push(&g->weights, id)) return oom();
  }
  if (out_id) *out_id = id;
  return NULL;
}

npu_status_t npu_graph_set_tensor_shape(npu_graph_t *g, npu_tensor_id_t id, npu_dtype_t dtype,
                                        const npu_shape_t *shape) {
  if (id < 0 || id >= g->num_tensors)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "no tensor with id %d", id);
  if (!shape_valid(shape))
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "tensor '%s': invalid shape",
                     g->tensors[id].name);
  g->tensors[id].dtype = dtype;
  g->tensors[id].shape = *shape;
  return NULL;
}

npu_status_t npu_graph_set_tensor_role(npu_graph_t *g, npu_tensor_id_t id,
                                       npu_tensor_role_t role) {
  if (id < 0 || id >= g->num_tensors)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "no tensor with id %d", id);
  npu_tensor_t *t = &g->tensors[id];
  bool was_weight = t->role == NPU_ROLE_WEIGHT || t->role == NPU_ROLE_CONSTANT;
  bool is_weight = role == NPU_ROLE_WEIGHT || role == NPU_ROLE_CONSTANT;
  t->role = role;
  if (is_weight && !was_weight) {
    if (!vector_push(&g->weights, id)) return oom();
  } else if (was_weight && !is_weight) {
    for (int32_t i = 0; i < g->weights.count; i++) {
      if (g->weights.items[i] != id) continue;
      memmove(&g->weights.items[i], &g->weights.items[i + 1],
              sizeof(npu_tensor_id_t) * (size_t)(g->weights.count - i - 1));
      g->weights.count--;
      break;
    }
  }
  return NULL;
}

const char *npu_tensor_role_name(npu_tensor_role_t role) {
  switch (role) {
    case NPU_ROLE_INTERMEDIATE: return "intermediate";
    case NPU_ROLE_INPUT: return "input";
    case NPU_ROLE_WEIGHT: return "weight";
    case NPU_ROLE_CONSTANT: return "constant";
    case NPU_ROLE_STATE: return "state";
  }
  return "invalid";
}

/* ---- nodes -------------------------------------------------------------- */

int32_t npu_graph_node_capacity(const npu_graph_t *g) { return g->num_nodes; }
int32_t npu_graph_node_count(const npu_graph_t *g) { return g->live_nodes; }

const npu_node_t *npu_graph_node(const npu_graph_t *g, npu_node_id_t id) {
  if (id < 0 || id >= g->num_nodes) return NULL;
  return &g->nodes[id].pub;
}

npu_node_id_t npu_graph_find_node(const npu_graph_t *g, const char *name) {
  npu_node_id_t id = index_find(g, &g->node_names, node_name_of, name);
  return id >= 0 && !g->nodes[id].pub.erased ? id : NPU_NO_NODE;
}

npu_node_id_t npu_graph_first_node(const npu_graph_t *g) { return g->first; }
npu_node_id_t npu_graph_last_node(const npu_graph_t *g) { return g->last; }
npu_node_id_t npu_graph_next_node(const npu_graph_t *g, npu_node_id_t id) {
  return id >= 0 && id < g->num_nodes ? g->nodes[id].next : NPU_NO_NODE;
}
npu_node_id_t npu_graph_prev_node(const npu_graph_t *g, npu_node_id_t id) {
  return id >= 0 && id < g->num_nodes ? g->nodes[id].prev : NPU_NO_NODE;
}

static npu_tensor_id_t *copy_ids(npu_arena_t *arena, const npu_tensor_id_t *ids, int32_t n) {
  if (n <= 0) return NULL;
  npu_tensor_id_t *out = npu_arena_alloc(arena, sizeof *out * (size_t)n);
  if (out) memcpy(out, ids, sizeof *out * (size_t)n);
  return out;
}

static npu_status_t check_tensor_ids(const npu_graph_t *g, const char *node,
                                     const npu_tensor_id_t *ids, int32_t n, const char *what) {
  if (n < 0 || (n > 0 && !ids))
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "node '%s': bad %s list", node, what);
  for (int32_t i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= g->num_tensors)
      return npu_error(NPU_STATUS_INVALID_ARGUMENT, "node '%s': %s %d is not a tensor id (%d)",
                       node, what, i, ids[i]);
  return NULL;
}

npu_status_t npu_graph_insert_node(npu_graph_t *g, const npu_node_desc_t *desc,
                                   npu_node_id_t before, npu_node_id_t *out_id) {
  if (out_id) *out_id = NPU_NO_NODE;
  if (!desc->name || !*desc->name || !desc->op)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "node without a name or op");
  if (index_find(g, &g->node_names, node_name_of, desc->name) >= 0)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "duplicate node name '%s'", desc->name);
  const npu_op_schema_t *schema = npu_op_lookup(desc->op);
  if (!schema)
    return npu_error(NPU_STATUS_UNSUPPORTED, "node '%s': unknown op '%s'", desc->name, desc->op);
  if (before != NPU_NO_NODE && (before < 0 || before >= g->num_nodes || g->nodes[before].pub.erased))
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "node '%s': insertion point %d is not a live node",
                     desc->name, before);
  NPU_RETURN_IF_ERROR(check_tensor_ids(g, desc->name, desc->inputs, desc->num_inputs, "input"));
  NPU_RETURN_IF_ERROR(check_tensor_ids(g, desc->name, desc->outputs, desc->num_outputs, "output"));
  for (int32_t i = 0; i < desc->num_outputs; i++) {
    const npu_tensor_t *t = &g->tensors[desc->outputs[i]];
    if (t->producer != NPU_NO_NODE || t->role != NPU_ROLE_INTERMEDIATE)
      return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                       "node '%s': output '%s' is already defined (single assignment)",
                       desc->name, t->name);
    for (int32_t j = 0; j < i; j++)
      if (desc->outputs[j] == desc->outputs[i])
        return npu_error(NPU_STATUS_INVALID_ARGUMENT, "node '%s': output '%s' listed twice",
                         desc->name, t->name);
  }
  if (!grow((void **)&g->nodes, &g->node_capacity, g->num_nodes + 1, sizeof(node_record_t)))
    return oom();
  node_record_t *rec = &g->nodes[g->num_nodes];
  memset(rec, 0, sizeof *rec);
  npu_node_t *n = &rec->pub;
  n->name = npu_arena_strdup(&g->arena, desc->name);
  n->op = npu_arena_strdup(&g->arena, desc->op);
  n->schema = schema;
  n->inputs = copy_ids(&g->arena, desc->inputs, desc->num_inputs);
  n->num_inputs = desc->num_inputs;
  n->outputs = copy_ids(&g->arena, desc->outputs, desc->num_outputs);
  n->num_outputs = desc->num_outputs;
  n->attrs = copy_attrs(&g->arena, desc->attrs, desc->num_attrs);
  n->num_attrs = desc->num_attrs > 0 ? desc->num_attrs : 0;
  if (!n->name || !n->op || (desc->num_inputs > 0 && !n->inputs) ||
      (desc->num_outputs > 0 && !n->outputs) || (desc->num_attrs > 0 && !n->attrs))
    return oom();
  npu_node_id_t id = g->num_nodes++;
  if (!index_insert(g, &g->node_names, node_name_of, id)) {
    g->num_nodes--;
    return oom();
  }
  for (int32_t i = 0; i < n->num_outputs; i++) {
    g->tensors[n->outputs[i]].producer = id;
    g->tensors[n->outputs[i]].producer_output = i;
  }
  /* Link into the order. */
  if (before == NPU_NO_NODE) {
    rec->prev = g->last;
    rec->next = NPU_NO_NODE;
    if (g->last != NPU_NO_NODE) g->nodes[g->last].next = id;
    else g->first = id;
    g->last = id;
  } else {
    rec->next = before;
    rec->prev = g->nodes[before].prev;
    if (rec->prev != NPU_NO_NODE) g->nodes[rec->prev].next = id;
    else g->first = id;
    g->nodes[before].prev = id;
  }
  g->live_nodes++;
  if (out_id) *out_id = id;
  return NULL;
}

void npu_graph_erase_node(npu_graph_t *g, npu_node_id_t id) {
  if (id < 0 || id >= g->num_nodes || g->nodes[id].pub.erased) return;
  node_record_t *rec = &g->nodes[id];
  if (rec->prev != NPU_NO_NODE) g->nodes[rec->prev].next = rec->next;
  else g->first = rec->next;
  if (rec->next != NPU_NO_NODE) g->nodes[rec->next].prev = rec->prev;
  else g->last = rec->prev;
  rec->prev = rec->next = NPU_NO_NODE;
  rec->pub.erased = true;
  for (int32_t i = 0; i < rec->pub.num_outputs; i++) {
    npu_tensor_t *t = &g->tensors[rec->pub.outputs[i]];
    if (t->producer == id) t->producer = NPU_NO_NODE;
  }
  g->live_nodes--;
}

static npu_status_t live_node(const npu_graph_t *g, npu_node_id_t id) {
  if (id < 0 || id >= g->num_nodes || g->nodes[id].pub.erased)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "no live node with id %d", id);
  return NULL;
}

npu_status_t npu_graph_set_node_op(npu_graph_t *g, npu_node_id_t id, const char *op) {
  NPU_RETURN_IF_ERROR(live_node(g, id));
  const npu_op_schema_t *schema = npu_op_lookup(op);
  if (!schema)
    return npu_node_error(g, id, NPU_STATUS_UNSUPPORTED, "unknown op '%s'", op);
  const char *copy = npu_arena_strdup(&g->arena, op);
  if (!copy) return oom();
  g->nodes[id].pub.op = copy;
  g->nodes[id].pub.schema = schema;
  return NULL;
}

npu_status_t npu_graph_set_node_inputs(npu_graph_t *g, npu_node_id_t id,
                                       const npu_tensor_id_t *inputs, int32_t count) {
  NPU_RETURN_IF_ERROR(live_node(g, id));
  NPU_RETURN_IF_ERROR(check_tensor_ids(g, g->nodes[id].pub.name, inputs, count, "input"));
  npu_tensor_id_t *copy = copy_ids(&g->arena, inputs, count);
  if (count > 0 && !copy) return oom();
  g->nodes[id].pub.inputs = copy;
  g->nodes[id].pub.num_inputs = count;
  return NULL;
}

npu_status_t npu_graph_set_node_attr(npu_graph_t *g, npu_node_id_t id, const char *name,
                                     npu_attr_value_t value) {
  NPU_RETURN_IF_ERROR(live_node(g, id));
  npu_node_t *n = &g->nodes[id].pub;
  npu_attr_value_t copy;
  if (!copy_attr_value(&g->arena, &value, &copy)) return oom();
  for (int32_t i = 0; i < n->num_attrs; i++) {
    if (strcmp(n->attrs[i].name, name) == 0) {
      ((npu_attr_t *)n->attrs)[i].value = copy;
      return NULL;
    }
  }
  npu_attr_t *attrs = npu_arena_alloc(&g->arena, sizeof *attrs * (size_t)(n->num_attrs + 1));
  const char *name_copy = npu_arena_strdup(&g->arena, name);
  if (!attrs || !name_copy) return oom();
  if (n->num_attrs) memcpy(attrs, n->attrs, sizeof *attrs * (size_t)n->num_attrs);
  attrs[n->num_attrs] = (npu_attr_t){name_copy, copy};
  n->attrs = attrs;
  n->num_attrs++;
  return NULL;
}

npu_status_t npu_graph_remove_node_attr(npu_graph_t *g, npu_node_id_t id, const char *name) {
  NPU_RETURN_IF_ERROR(live_node(g, id));
  npu_node_t *n = &g->nodes[id].pub;
  npu_attr_t *attrs = (npu_attr_t *)n->attrs;
  for (int32_t i = 0; i < n->num_attrs; i++) {
    if (strcmp(attrs[i].name, name) != 0) continue;
    memmove(&attrs[i], &attrs[i + 1], sizeof *attrs * (size_t)(n->num_attrs - i - 1));
    n->num_attrs--;
    break;
  }
  return NULL;
}

const npu_attr_value_t *npu_node_attr(const npu_node_t *node, const char *name) {
  for (int32_t i = 0; i < node->num_attrs; i++)
    if (strcmp(node->attrs[i].name, name) == 0) return &node->attrs[i].value;
  return NULL;
}

bool npu_node_attr_int(const npu_node_t *node, const char *name, int64_t *out) {
  const npu_attr_value_t *v = npu_node_attr(node, name);
  if (!v) return false;
  if (v->kind == NPU_ATTR_INT) *out = v->u.i;
  else if (v->kind == NPU_ATTR_BOOL) *out = v->u.b;
  else return false;
  return true;
}

bool npu_node_attr_float(const npu_node_t *node, const char *name, double *out) {
  const npu_attr_value_t *v = npu_node_attr(node, name);
  if (!v) return false;
  if (v->kind == NPU_ATTR_FLOAT) *out = v->u.f;
  else if (v->kind == NPU_ATTR_INT) *out = (double)v->u.i;
  else return false;
  return true;
}

bool npu_node_attr_bool(const npu_node_t *node, const char *name, bool *out) {
  const npu_attr_value_t *v = npu_node_attr(node, name);
  if (!v || v->kind != NPU_ATTR_BOOL) return false;
  *out = v->u.b;
  return true;
}

bool npu_node_attr_dtype(const npu_node_t *node, const char *name, npu_dtype_t *out) {
  const npu_attr_value_t *v = npu_node_attr(node, name);
  if (!v) return false;
  if (v->kind == NPU_ATTR_DTYPE) {
    *out = v->u.dtype;
    return true;
  }
  return v->kind == NPU_ATTR_STRING && npu_dtype_parse(v->u.s, out);
}

bool npu_node_attr_ints(const npu_node_t *node, const char *name, int64_t *out, int32_t max,
                        int32_t *out_count) {
  const npu_attr_value_t *v = npu_node_attr(node, name);
  if (!v || v->kind != NPU_ATTR_LIST || v->u.list.count > max) return false;
  for (int32_t i = 0; i < v->u.list.count; i++) {
    if (v->u.list.items[i].kind != NPU_ATTR_INT) return false;
    out[i] = v->u.list.items[i].u.i;
  }
  *out_count = v->u.list.count;
  return true;
}

/* ---- uses, inputs, outputs, weights --------------------------------------------- */

int32_t npu_graph_replace_uses(npu_graph_t *g, npu_tensor_id_t from, npu_tensor_id_t to) {
  int32_t changed = 0;
  for (npu_node_id_t n = g->first; n != NPU_NO_NODE; n = g->nodes[n].next) {
    npu_node_t *node = &g->nodes[n].pub;
    npu_tensor_id_t *ins = (npu_tensor_id_t *)node->inputs;
    for (int32_t i = 0; i < node->num_inputs; i++)
      if (ins[i] == from) ins[i] = to, changed++;
  }
  for (int32_t i = 0; i < g->outputs.count; i++)
    if (g->outputs.items[i] == from) g->outputs.items[i] = to, changed++;
  return changed;
}

int32_t npu_graph_use_count(const npu_graph_t *g, npu_tensor_id_t id) {
  int32_t uses = 0;
  for (npu_node_id_t n = g->first; n != NPU_NO_NODE; n = g->nodes[n].next) {
    const npu_node_t *node = &g->nodes[n].pub;
    for (int32_t i = 0; i < node->num_inputs; i++) uses += node->inputs[i] == id;
  }
  for (int32_t i = 0; i < g->outputs.count; i++) uses += g->outputs.items[i] == id;
  return uses;
}

const npu_tensor_id_t *npu_graph_inputs(const npu_graph_t *g, int32_t *out_count) {
  *out_count = g->inputs.count;
  return g->inputs.items;
}

const npu_tensor_id_t *npu_graph_outputs(const npu_graph_t *g, int32_t *out_count) {
  *out_count = g->outputs.count;
  return g->outputs.items;
}

const npu_tensor_id_t *npu_graph_weights(const npu_graph_t *g, int32_t *out_count) {
  *out_count = g->weights.count;
  return g->weights.items;
}

npu_status_t npu_graph_add_input(npu_graph_t *g, npu_tensor_id_t id) {
  if (id < 0 || id >= g->num_tensors)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "no tensor with id %d", id);
  return vector_push(&g->inputs, id) ? NULL : oom();
}

npu_status_t npu_graph_add_output(npu_graph_t *g, npu_tensor_id_t id) {
  if (id < 0 || id >= g->num_tensors)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "no tensor with id %d", id);
  return vector_push(&g->outputs, id) ? NULL : oom();
}

npu_status_t npu_graph_set_output(npu_graph_t *g, int32_t index, npu_tensor_id_t id) {
  if (index < 0 || index >= g->outputs.count || id < 0 || id >= g->num_tensors)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "bad output index %d or tensor id %d", index, id);
  g->outputs.items[index] = id;
  return NULL;
}

static npu_status_t vector_remove(int_vector_t *v, int32_t index, const char *what) {
  if (index < 0 || index >= v->count)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "no graph %s at index %d (%d present)", what,
                     index, v->count);
  memmove(&v->items[index], &v->items[index + 1],
          sizeof(npu_tensor_id_t) * (size_t)(v->count - index - 1));
  v->count--;
  return NULL;
}

npu_status_t npu_graph_remove_input(npu_graph_t *g, int32_t index) {
  return vector_remove(&g->inputs, index, "input");
}

npu_status_t npu_graph_remove_output(npu_graph_t *g, int32_t index) {
  return vector_remove(&g->outputs, index, "output");
}

/* ---- weight transforms -------------------------------------------------------- */

npu_status_t npu_graph_add_weight_transform(npu_graph_t *g, const char *kind,
                                            npu_tensor_id_t output,
                                            const npu_tensor_id_t *sources, int32_t num_sources,
                                            const npu_attr_t *attrs, int32_t num_attrs) {
  if (output < 0 || output >= g->num_tensors)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "weight transform '%s': bad output id", kind);
  NPU_RETURN_IF_ERROR(check_tensor_ids(g, kind, sources, num_sources, "source"));
  npu_tensor_t *out = &g->tensors[output];
  if (out->transform >= 0)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "tensor '%s' already has a weight transform",
                     out->name);
  if (!grow((void **)&g->transforms, &g->transform_capacity, g->num_transforms + 1,
            sizeof(npu_weight_transform_t)))
    return oom();
  npu_weight_transform_t *t = &g->transforms[g->num_transforms];
  t->kind = npu_arena_strdup(&g->arena, kind);
  t->output = output;
  t->sources = copy_ids(&g->arena, sources, num_sources);
  t->num_sources = num_sources;
  t->attrs = copy_attrs(&g->arena, attrs, num_attrs);
  t->num_attrs = num_attrs > 0 ? num_attrs : 0;
  if (!t->kind || (num_sources > 0 && !t->sources) || (num_attrs > 0 && !t->attrs)) return oom();
  if (out->role != NPU_ROLE_WEIGHT) NPU_RETURN_IF_ERROR(npu_graph_set_tensor_role(g, output, NPU_ROLE_WEIGHT));
  out = &g->tensors[output];
  out->weight_key = NULL;
  out->transform = g->num_transforms++;
  return NULL;
}

int32_t npu_graph_weight_transform_count(const npu_graph_t *g) { return g->num_transforms; }

const npu_weight_transform_t *npu_graph_weight_transform(const npu_graph_t *g, int32_t index) {
  if (index < 0 || index >= g->num_transforms) return NULL;
  return &g->transforms[index];
}

/* ---- diagnostics ------------------------------------------------------------ */

char *npu_node_location(const npu_graph_t *g, npu_node_id_t id, char *buf, size_t size) {
  const npu_node_t *n = npu_graph_node(g, id);
  if (n) snprintf(buf, size, "node %s (%s)", n->name, n->op);
  else snprintf(buf, size, "node #%d", id);
  return buf;
}

npu_status_t npu_node_error(const npu_graph_t *g, npu_node_id_t id, npu_status_code_t code,
                            const char *fmt, ...) {
  char loc[512];
  npu_node_location(g, id, loc, sizeof loc);
  va_list ap;
  va_start(ap, fmt);
  npu_status_t s = npu_error_v(code, loc, fmt, ap);
  va_end(ap);
  return s;
}

/* ---- verifier ------------------------------------------------------------------ */

npu_status_t npu_graph_verify(const npu_graph_t *g) {
  uint8_t *defined = calloc((size_t)g->num_tensors + 1, 1);
  if (!defined) return oom();
  npu_status_t status = NULL;
  for (npu_tensor_id_t t = 0; t < g->num_tensors; t++) {
    npu_tensor_role_t role = g->tensors[t].role;
    if (role == NPU_ROLE_WEIGHT || role == NPU_ROLE_CONSTANT || role == NPU_ROLE_STATE)
      defined[t] = 1;
  }
  for (int32_t i = 0; i < g->inputs.count; i++) {
    npu_tensor_id_t t = g->inputs.items[i];
    if (g->tensors[t].role != NPU_ROLE_INPUT && g->tensors[t].role != NPU_ROLE_STATE) {
      status = npu_error(NPU_STATUS_VERIFY_FAILED, "graph input '%s' has role %s",
                         g->tensors[t].name, npu_tensor_role_name(g->tensors[t].role));
      goto done;
    }
    defined[t] = 1;
  }
  int32_t seen = 0;
  for (npu_node_id_t n = g->first; n != NPU_NO_NODE; n = g->nodes[n].next) {
    const npu_node_t *node = &g->nodes[n].pub;
    const npu_op_schema_t *s = node->schema;
    if (++seen > g->live_nodes) {
      status = npu_error(NPU_STATUS_INTERNAL, "node order list is corrupt");
      goto done;
    }
    if (node->num_inputs < s->min_inputs || (s->max_inputs >= 0 && node->num_inputs > s->max_inputs)) {
      if (s->max_inputs < 0)
        status = npu_node_error(g, n, NPU_STATUS_VERIFY_FAILED,
                                "has %d tensor inputs, op takes at least %d", node->num_inputs,
                                s->min_inputs);
      else
        status = npu_node_error(g, n, NPU_STATUS_VERIFY_FAILED,
                                "has %d tensor inputs, op takes %d to %d", node->num_inputs,
                                s->min_inputs, s->max_inputs);
      goto done;
    }
    if (s->num_outputs >= 0 && node->num_outputs != s->num_outputs) {
      status = npu_node_error(g, n, NPU_STATUS_VERIFY_FAILED, "has %d outputs, op gives %d",
                              node->num_outputs, s->num_outputs);
      goto done;
    }
    for (int32_t i = 0; i < node->num_inputs; i++) {
      npu_tensor_id_t t = node->inputs[i];
      if (!defined[t]) {
        const char *why = g->tensors[t].producer == NPU_NO_NODE ? "never defined"
                                                                : "used before its definition";
        status = npu_node_error(g, n, NPU_STATUS_VERIFY_FAILED, "input %d '%s' is %s", i,
                                g->tensors[t].name, why);
        goto done;
      }
    }
    for (int32_t i = 0; i < node->num_outputs; i++) {
      npu_tensor_id_t t = node->outputs[i];
      if (defined[t] || g->tensors[t].producer != n || g->tensors[t].producer_output != i) {
        status = npu_node_error(g, n, NPU_STATUS_VERIFY_FAILED,
                                "output '%s' is assigned more than once", g->tensors[t].name);
        goto done;
      }
      defined[t] = 1;
    }
    status = npu_op_check_node(g, n);
    if (status) goto done;
  }
  for (int32_t i = 0; i < g->outputs.count; i++) {
    npu_tensor_id_t t = g->outputs.items[i];
    if (!defined[t]) {
      status = npu_error(NPU_STATUS_VERIFY_FAILED, "graph output '%s' is never defined",
                         g->tensors[t].name);
      goto done;
    }
  }
  for (int32_t i = 0; i < g->num_transforms; i++) {
    const npu_weight_transform_t *tr = &g->transforms[i];
    for (int32_t j = 0; j < tr->num_sources; j++) {
      npu_tensor_role_t role = g->tensors[tr->sources[j]].role;
      if (role != NPU_ROLE_WEIGHT && role != NPU_ROLE_CONSTANT) {
        status = npu_error(NPU_STATUS_VERIFY_FAILED,
                           "weight transform '%s' for '%s' reads '%s', which is not a weight",
                           tr->kind, g->tensors[tr->output].name, g->tensors[tr->sources[j]].name);
        goto done;
      }
    }
  }
done:
  free(defined);
  return status;
}
