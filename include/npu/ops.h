/*
 * npu/ops.h — the op registry: what each op takes, its defaults, and how its
 * output shapes and dtypes follow from its inputs.
 *
 * Every node's op must be registered. The ATen ops that pytorch-ir emits are
 * built in (npu_ops_register_builtins, called by the importer); plugins add
 * their own ("npu.rmsnorm", ...) through their descriptor. Schemas are
 * BORROWED: the registry keeps the pointer, so they live in static storage.
 *
 * Arguments are the non-tensor operands of the ATen schema, stored as node
 * attrs under their schema names. pytorch-ir omits arguments equal to their
 * default; the importer fills them in from the schema (npu_op_apply_defaults),
 * so a pass can read "stride" on every conv2d.
 */
#ifndef NPU_OPS_H
#define NPU_OPS_H

#include "npu/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum npu_arg_kind {
  NPU_ARG_ANY = 0, /* kept verbatim (device, layout, pin_memory, ...) */
  NPU_ARG_BOOL,
  NPU_ARG_INT,
  NPU_ARG_FLOAT,   /* an int literal is accepted and stored as a float */
  NPU_ARG_SCALAR,  /* int or float, kept as written */
  NPU_ARG_INTS,    /* list of ints; a single int is broadcast to `ints_len` */
  NPU_ARG_DTYPE,   /* "torch.float32" */
  NPU_ARG_STRING,
} npu_arg_kind_t;

typedef struct npu_arg_schema {
  const char *name;
  npu_arg_kind_t kind;
  /* When the attr is absent: required args are an error; otherwise
   * `default_value` is stored, unless its kind is NPU_ATTR_NULL, in which case
   * the attr stays absent ("optional, no default"). */
  bool required;
  npu_attr_value_t default_value;
  int32_t ints_len; /* NPU_ARG_INTS: expected length, 0 = any */
} npu_arg_schema_t;

/* An output's expected type. */
typedef struct npu_tensor_type {
  npu_dtype_t dtype;
  npu_shape_t shape;
} npu_tensor_type_t;

/* Computes the expected output types of `node` from its input tensors and
 * attrs into out[0..num_outputs). Returns an error (npu_node_error) when the
 * inputs are inconsistent (wrong rank, mismatched channels, ...). */
typedef npu_status_t (*npu_infer_fn_t)(const npu_graph_t *g, npu_node_id_t node,
                                       npu_tensor_type_t *out, int32_t num_outputs);

enum {
  NPU_OP_FLAG_VIEW = 1u << 0,     /* output aliases the input's storage */
  NPU_OP_FLAG_INPLACE = 1u << 1,  /* mutates input 0 (aten "*_" ops) */
  NPU_OP_FLAG_NOOP = 1u << 2,     /* has no effect on values (asserts, eval dropout) */
};

typedef struct npu_op_schema {
  const char *name;        /* exactly as it appears in node.op */
  const char *summary;     /* one line, for --list-ops and docs */
  int32_t min_inputs;      /* tensor inputs */
  int32_t max_inputs;      /* -1: variadic */
  int32_t num_outputs;     /* -1: any number (multi-output producers) */
  const npu_arg_schema_t *args;
  int32_t num_args;
  npu_infer_fn_t infer;    /* (optional) NULL: outputs are not checked */
  uint32_t flags;          /* NPU_OP_FLAG_* */
  /* NPU_OP_FLAG_INPLACE: the out-of-place twin ("aten.relu.default"). */
  const char *functional_variant;
} npu_op_schema_t;

/* Registers the ATen ops pytorch-ir emits. Idempotent. */
npu_status_t npu_ops_register_builtins(void);
/* Registers one schema (borrowed). Registering a different schema under an
 * existing name is an error; the identical pointer again is a no-op. */
npu_status_t npu_op_register(const npu_op_schema_t *schema);
/* NULL if unknown. */
const npu_op_schema_t *npu_op_lookup(const char *name);
/* All registered schemas, sorted by name; *out_count gets the count.
 * Borrowed; valid until the next registration. */
const npu_op_schema_t *const *npu_op_list(int32_t *out_count);
const npu_arg_schema_t *npu_op_find_arg(const npu_op_schema_t *schema, const char *name);

/* Validates the node's attrs against its schema (types, list lengths,
 * required args) and fills in defaults for absent args. Attrs the schema does
 * not name are kept untouched. */
npu_status_t npu_op_apply_defaults(npu_graph_t *g, npu_node_id_t node);

/* Runs the schema's infer function and compares with the node's outputs.
 * OK if the schema has none. */
npu_status_t npu_op_check_node(const npu_graph_t *g, npu_node_id_t node);

/* Helpers for infer functions. */
/* Numpy-style broadcast of two shapes; false if incompatible. */
bool npu_broadcast_shapes(const npu_shape_t *a, const npu_shape_t *b, npu_shape_t *out);
/* Torch type promotion for binary arithmetic between tensors. */
npu_dtype_t npu_promote_dtypes(npu_dtype_t a, npu_dtype_t b);
/* Wraps a possibly negative dim into [0, rank); false if out of range. */
bool npu_wrap_dim(int64_t dim, int32_t rank, int32_t *out_dim);

#ifdef __cplusplus
}
#endif
#endif /* NPU_OPS_H */
