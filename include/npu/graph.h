/*
 * npu/graph.h — the core IR: tensors, nodes, and the graph that owns them.
 *
 * A graph is a table of tensors and a table of nodes, addressed by integer ids
 * (npu_tensor_id_t, npu_node_id_t). Ids stay valid for the life of the graph:
 * erasing a node only marks it erased, and new nodes and tensors are appended.
 * Pointers returned by npu_graph_tensor()/npu_graph_node() are BORROWED and
 * are invalidated by any mutation of the graph (the tables may move), so a pass
 * keeps ids, never pointers, across a mutation.
 *
 * All strings and arrays reachable from a graph live in the graph's arena and
 * are freed with it by npu_graph_destroy(). Inputs passed to mutating calls are
 * copied; the caller keeps ownership of its own buffers.
 *
 * Execution order is an explicit list: walk it with
 *   for (npu_node_id_t n = npu_graph_first_node(g); n != NPU_NO_NODE;
 *        n = npu_graph_next_node(g, n)) { ... }
 * Erased nodes are unlinked from it. New nodes are inserted before a given node
 * (or appended), so a pass keeps the order topological by inserting a fused
 * node where the first node of the pattern stood.
 *
 * Example: replace y = relu(x) by y2 = my.op(x)
 *   npu_tensor_id_t y2;
 *   npu_graph_add_tensor(g, &(npu_tensor_desc_t){.name = "y2", .dtype = ...,
 *                        .shape = ...}, &y2);
 *   npu_graph_insert_node(g, &(npu_node_desc_t){.name = "y2", .op = "my.op",
 *       .inputs = &x, .num_inputs = 1, .outputs = &y2, .num_outputs = 1},
 *       relu_node, NULL);
 *   npu_graph_replace_uses(g, y, y2);
 *   npu_graph_erase_node(g, relu_node);
 */
#ifndef NPU_GRAPH_H
#define NPU_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "npu/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t npu_tensor_id_t;
typedef int32_t npu_node_id_t;
#define NPU_NO_TENSOR ((npu_tensor_id_t)-1)
#define NPU_NO_NODE ((npu_node_id_t)-1)

/* ---- dtypes -------------------------------------------------------------- */

typedef enum npu_dtype {
  NPU_DTYPE_INVALID = 0,
  NPU_DTYPE_FLOAT32,
  NPU_DTYPE_FLOAT64,
  NPU_DTYPE_FLOAT16,
  NPU_DTYPE_BFLOAT16,
  NPU_DTYPE_INT8,
  NPU_DTYPE_INT16,
  NPU_DTYPE_INT32,
  NPU_DTYPE_INT64,
  NPU_DTYPE_UINT8,
  NPU_DTYPE_BOOL,
  NPU_DTYPE_COMPLEX64,
  NPU_DTYPE_COMPLEX128,
  NPU_DTYPE_COUNT_
} npu_dtype_t;

/* pytorch-ir spelling: "float32", "bfloat16", ... */
const char *npu_dtype_name(npu_dtype_t dtype);
/* Accepts "float32" and the stringified "torch.float32". */
bool npu_dtype_parse(const char *text, npu_dtype_t *out_dtype);
/* Bytes per element; 0 for NPU_DTYPE_INVALID. */
size_t npu_dtype_size(npu_dtype_t dtype);
bool npu_dtype_is_float(npu_dtype_t dtype);

/* ---- shapes -------------------------------------------------------------- */

#define NPU_MAX_RANK 8

typedef struct npu_shape {
  int32_t rank;                 /* 0 = scalar */
  int64_t dims[NPU_MAX_RANK];
} npu_shape_t;

/* Product of dims (1 for rank 0). Returns false on overflow. */
bool npu_shape_numel(const npu_shape_t *shape, int64_t *out_numel);
bool npu_shape_equal(const npu_shape_t *a, const npu_shape_t *b);
/* "[1, 3, 224, 224]" into buf (always NUL-terminated); returns buf. */
char *npu_shape_format(const npu_shape_t *shape, char *buf, size_t size);

/* ---- attributes ---------------------------------------------------------- */

typedef enum npu_attr_kind {
  NPU_ATTR_NULL = 0, /* JSON null (an optional argument given as None) */
  NPU_ATTR_BOOL,
  NPU_ATTR_INT,      /* int64, exact */
  NPU_ATTR_FLOAT,    /* double; may be +-inf or NaN */
  NPU_ATTR_STRING,
  NPU_ATTR_DTYPE,    /* a "torch.<dtype>" string, parsed */
  NPU_ATTR_LIST,     /* a list of values (int lists are lists of NPU_ATTR_INT) */
} npu_attr_kind_t;

typedef struct npu_attr_value {
  npu_attr_kind_t kind;
  union {
    bool b;
    int64_t i;
    double f;
    const char *s;
    npu_dtype_t dtype;
    struct {
      const struct npu_attr_value *items;
      int32_t count;
    } list;
  } u;
} npu_attr_value_t;

typedef struct npu_attr {
  const char *name;
  npu_attr_value_t value;
} npu_attr_t;

/* Convenience constructors for building attrs in passes and tests. The list
 * constructor borrows `items`; the graph copies everything when it stores. */
npu_attr_value_t npu_attr_int(int64_t v);
npu_attr_value_t npu_attr_float(double v);
npu_attr_value_t npu_attr_bool(bool v);
npu_attr_value_t npu_attr_string(const char *s);
npu_attr_value_t npu_attr_dtype(npu_dtype_t dtype);
npu_attr_value_t npu_attr_list(const npu_attr_value_t *items, int32_t count);
bool npu_attr_value_equal(const npu_attr_value_t *a, const npu_attr_value_t *b);

/* ---- tensors ------------------------------------------------------------- */

typedef enum npu_tensor_role {
  NPU_ROLE_INTERMEDIATE = 0, /* produced by a node */
  NPU_ROLE_INPUT,            /* a graph input, fed by the caller each run */
  NPU_ROLE_WEIGHT,           /* a parameter or buffer, loaded from a checkpoint */
  NPU_ROLE_CONSTANT,         /* a lifted constant (not in the checkpoint) */
  NPU_ROLE_STATE,            /* device-resident state kept across runs (KV cache) */
} npu_tensor_role_t;

const char *npu_tensor_role_name(npu_tensor_role_t role);

typedef struct npu_tensor {
  const char *name;          /* unique in the graph */
  npu_dtype_t dtype;
  npu_shape_t shape;
  npu_tensor_role_t role;
  /* WEIGHT/CONSTANT: the checkpoint (state_dict) key, e.g. "conv1.weight";
   * `name` is then the placeholder, e.g. "p_conv1_weight". NULL for a weight
   * derived at load time by a transform, and for every other role. */
  const char *weight_key;
  int32_t transform;         /* index of the weight transform producing it, or -1 */
  npu_node_id_t producer;    /* NPU_NO_NODE unless INTERMEDIATE */
  int32_t producer_output;   /* index into the producer's outputs */
} npu_tensor_t;

typedef struct npu_tensor_desc {
  const char *name;          /* must be unique; see npu_graph_unique_name */
  npu_dtype_t dtype;
  npu_shape_t shape;
  npu_tensor_role_t role;
  const char *weight_key;    /* WEIGHT/CONSTANT only; may be NULL */
} npu_tensor_desc_t;

/* ---- nodes --------------------------------------------------------------- */

struct npu_op_schema; /* npu/ops.h */

typedef struct npu_node {
  const char *name;                     /* unique in the graph */
  const char *op;                       /* "aten.conv2d.default", "npu.rmsnorm" */
  const struct npu_op_schema *schema;   /* resolved from op; never NULL */
  const npu_tensor_id_t *inputs;
  int32_t num_inputs;
  const npu_tensor_id_t *outputs;
  int32_t num_outputs;
  const npu_attr_t *attrs;
  int32_t num_attrs;
  bool erased;
} npu_node_t;

typedef struct npu_node_desc {
  const char *name;
  const char *op;
  const npu_tensor_id_t *inputs;
  int32_t num_inputs;
  const npu_tensor_id_t *outputs;       /* existing tensors with no producer */
  int32_t num_outputs;
  const npu_attr_t *attrs;
  int32_t num_attrs;
} npu_node_desc_t;

/* ---- weight transforms ---------------------------------------------------- */

/* A weight computed at load time from other weights: BN folding, dtype
 * conversion, concatenation of merged projections, repacking. The compiler
 * records it; the runtime applies it. `kind` names the recipe ("bn_fold_weight",
 * "bn_fold_bias", ...); docs/npubin-format.md lists the kinds. */
typedef struct npu_weight_transform {
  const char *kind;
  npu_tensor_id_t output;
  const npu_tensor_id_t *sources;
  int32_t num_sources;
  const npu_attr_t *attrs;
  int32_t num_attrs;
} npu_weight_transform_t;

/* ---- the graph ------------------------------------------------------------ */

typedef struct npu_graph npu_graph_t;

npu_status_t npu_graph_create(npu_graph_t **out_graph);
void npu_graph_destroy(npu_graph_t *graph);

/* Model metadata (may be NULL). Setters copy. */
const char *npu_graph_model_name(const npu_graph_t *g);
const char *npu_graph_pytorch_version(const npu_graph_t *g);
npu_status_t npu_graph_set_model_name(npu_graph_t *g, const char *name);
npu_status_t npu_graph_set_pytorch_version(npu_graph_t *g, const char *version);

/* Copies `s` into the graph's arena (for names and attrs built by passes). */
const char *npu_graph_intern(npu_graph_t *g, const char *s);
/* Returns `base` if no tensor or node has that name, else "base_1", "base_2"... */
const char *npu_graph_unique_name(npu_graph_t *g, const char *base);

/* Tensors. */
int32_t npu_graph_tensor_count(const npu_graph_t *g);
const npu_tensor_t *npu_graph_tensor(const npu_graph_t *g, npu_tensor_id_t id);
npu_tensor_id_t npu_graph_find_tensor(const npu_graph_t *g, const char *name);
npu_status_t npu_graph_add_tensor(npu_graph_t *g, const npu_tensor_desc_t *desc,
                                  npu_tensor_id_t *out_id);
npu_status_t npu_graph_set_tensor_shape(npu_graph_t *g, npu_tensor_id_t id,
                                        npu_dtype_t dtype, const npu_shape_t *shape);
npu_status_t npu_graph_set_tensor_role(npu_graph_t *g, npu_tensor_id_t id,
                                       npu_tensor_role_t role);

/* Nodes. Inserting resolves `op` through the op registry and fails with
 * NPU_STATUS_UNSUPPORTED if it is unknown; it sets the outputs' producer. */
int32_t npu_graph_node_capacity(const npu_graph_t *g); /* ids are < this */
int32_t npu_graph_node_count(const npu_graph_t *g);    /* live nodes */
const npu_node_t *npu_graph_node(const npu_graph_t *g, npu_node_id_t id);
npu_node_id_t npu_graph_find_node(const npu_graph_t *g, const char *name);
npu_node_id_t npu_graph_first_node(const npu_graph_t *g);
npu_node_id_t npu_graph_next_node(const npu_graph_t *g, npu_node_id_t id);
npu_node_id_t npu_graph_prev_node(const npu_graph_t *g, npu_node_id_t id);
npu_node_id_t npu_graph_last_node(const npu_graph_t *g);
/* before == NPU_NO_NODE appends. out_id may be NULL. */
npu_status_t npu_graph_insert_node(npu_graph_t *g, const npu_node_desc_t *desc,
                                   npu_node_id_t before, npu_node_id_t *out_id);
/* Unlinks the node; its outputs lose their producer. */
void npu_graph_erase_node(npu_graph_t *g, npu_node_id_t id);
npu_status_t npu_graph_set_node_op(npu_graph_t *g, npu_node_id_t id, const char *op);
npu_status_t npu_graph_set_node_inputs(npu_graph_t *g, npu_node_id_t id,
                                       const npu_tensor_id_t *inputs, int32_t count);
/* Sets (adds or replaces) one attribute. */
npu_status_t npu_graph_set_node_attr(npu_graph_t *g, npu_node_id_t id,
                                     const char *name, npu_attr_value_t value);
npu_status_t npu_graph_remove_node_attr(npu_graph_t *g, npu_node_id_t id,
                                        const char *name);
/* The attribute's value, or NULL if absent. Borrowed. */
const npu_attr_value_t *npu_node_attr(const npu_node_t *node, const char *name);
/* Typed readers: false if absent or of another kind. An INT is accepted where
 * a float is asked for. */
bool npu_node_attr_int(const npu_node_t *node, const char *name, int64_t *out);
bool npu_node_attr_float(const npu_node_t *node, const char *name, double *out);
bool npu_node_attr_bool(const npu_node_t *node, const char *name, bool *out);
bool npu_node_attr_dtype(const npu_node_t *node, const char *name, npu_dtype_t *out);
/* An int list into out[0..max); *out_count gets the length. False if absent, not
 * a list of ints, or longer than max. */
bool npu_node_attr_ints(const npu_node_t *node, const char *name, int64_t *out,
                        int32_t max, int32_t *out_count);

/* Rewires every use of `from` (node inputs and graph outputs) to `to`.
 * Returns how many uses changed. */
int32_t npu_graph_replace_uses(npu_graph_t *g, npu_tensor_id_t from, npu_tensor_id_t to);
/* Number of node inputs plus graph outputs that read `id`. O(graph). */
int32_t npu_graph_use_count(const npu_graph_t *g, npu_tensor_id_t id);

/* Graph inputs and outputs, in order. */
const npu_tensor_id_t *npu_graph_inputs(const npu_graph_t *g, int32_t *out_count);
const npu_tensor_id_t *npu_graph_outputs(const npu_graph_t *g, int32_t *out_count);
npu_status_t npu_graph_add_input(npu_graph_t *g, npu_tensor_id_t id);
npu_status_t npu_graph_add_output(npu_graph_t *g, npu_tensor_id_t id);
npu_status_t npu_graph_set_output(npu_graph_t *g, int32_t index, npu_tensor_id_t id);
/* Takes entry `index` off the graph's inputs or outputs (later entries move
 * down one). The tensor itself stays: a pass uses this when a value stops
 * crossing the host boundary, e.g. a KV cache that becomes device state. */
npu_status_t npu_graph_remove_input(npu_graph_t *g, int32_t index);
npu_status_t npu_graph_remove_output(npu_graph_t *g, int32_t index);

/* The weight table: every WEIGHT/CONSTANT tensor in file order, used or not
 * (a checkpoint may need them). Tensors added with those roles are appended. */
const npu_tensor_id_t *npu_graph_weights(const npu_graph_t *g, int32_t *out_count);

/* Weight transforms. Adding one makes `output` a derived weight (role WEIGHT,
 * weight_key NULL). */
npu_status_t npu_graph_add_weight_transform(npu_graph_t *g, const char *kind,
                                            npu_tensor_id_t output,
                                            const npu_tensor_id_t *sources,
                                            int32_t num_sources,
                                            const npu_attr_t *attrs, int32_t num_attrs);
int32_t npu_graph_weight_transform_count(const npu_graph_t *g);
const npu_weight_transform_t *npu_graph_weight_transform(const npu_graph_t *g, int32_t index);

/* "node NAME (OP)" into buf, for error locations. Returns buf. */
char *npu_node_location(const npu_graph_t *g, npu_node_id_t id, char *buf, size_t size);
/* An error located at a node. */
npu_status_t npu_node_error(const npu_graph_t *g, npu_node_id_t id,
                            npu_status_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Checks the graph's invariants: every tensor used is defined before use (by a
 * graph input, a weight, or an earlier node in the order), single assignment,
 * unique names, node arity against the op schema, and shapes and dtypes
 * against the schema's inference. Reports the first problem found. */
npu_status_t npu_graph_verify(const npu_graph_t *g);

#ifdef __cplusplus
}
#endif
#endif /* NPU_GRAPH_H */
