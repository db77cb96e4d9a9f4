/*
 * canonicalize — removes what carries no computation and normalises the rest
 * (docs/passes.md, "canonicalize"):
 *
 *   - no-op nodes without outputs (aten._assert_tensor_metadata);
 *   - identities: eval dropout, alias, detach(_), contiguous, to.dtype to the
 *     same dtype, getitem (resolved to the producer's output), and views that
 *     provably change nothing (same shape, identity permutation, ...);
 *   - empty 1-D [0] inputs of cat (legacy ATen), and a cat left with one input;
 *   - in-place ops (NPU_OP_FLAG_INPLACE) turned into their functional variant,
 *     after proving that nothing later reads the mutated operand.
 *
 * Identities are rewired (npu_graph_replace_uses, which also moves graph
 * outputs) and erased. Nodes that become unused are left for dce.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "npu/plugin.h"

#define GETITEM_OP "<built-in function getitem>"

/* "aten.view.default" -> true if the middle part equals `base`. */
static bool op_is(const npu_node_t *n, const char *base) {
  const char *op = n->op;
  if (strncmp(op, "aten.", 5) != 0) return false;
  op += 5;
  size_t len = strlen(base);
  return strncmp(op, base, len) == 0 && op[len] == '.' && strchr(op + len + 1, '.') == NULL;
}

static bool is_getitem(const npu_node_t *n) {
  return strcmp(n->op, GETITEM_OP) == 0 || strcmp(n->op, "getitem") == 0 ||
         strcmp(n->op, "npu.getitem") == 0;
}

static bool same_type(const npu_graph_t *g, npu_tensor_id_t a, npu_tensor_id_t b) {
  const npu_tensor_t *ta = npu_graph_tensor(g, a), *tb = npu_graph_tensor(g, b);
  return ta && tb && ta->dtype == tb->dtype && npu_shape_equal(&ta->shape, &tb->shape);
}

/* Replaces every use of the node's single output by `with` and erases it. */
static void rewire_and_erase(npu_graph_t *g, npu_node_id_t id, npu_tensor_id_t with) {
  const npu_node_t *n = npu_graph_node(g, id);
  npu_tensor_id_t out = n->outputs[0];
  npu_graph_replace_uses(g, out, with);
  npu_graph_erase_node(g, id);
}

/* A single-input, single-output node whose output equals its input 0. */
static bool unary_shape(const npu_node_t *n) {
  return n->num_inputs >= 1 && n->num_outputs == 1;
}

static bool is_identity(const npu_graph_t *g, const npu_node_t *n) {
  if (!unary_shape(n) || !same_type(g, n->inputs[0], n->outputs[0])) return false;
  if (op_is(n, "dropout")) {
    bool train = true;
    double p = -1;
    bool has_train = npu_node_attr_bool(n, "train", &train);
    bool has_p = npu_node_attr_float(n, "p", &p);
    return (has_train && !train) || (has_p && p == 0.0);
  }
  if (op_is(n, "alias") || op_is(n, "detach") || op_is(n, "detach_") ||
      op_is(n, "contiguous") || op_is(n, "to"))
    return n->num_inputs == 1;
  return false;
}

/* Views (and clone) that provably change nothing: output type == input type,
 * plus an op-specific proof where the shape alone is not enough. */
static bool is_noop_view(const npu_graph_t *g, const npu_node_t *n) {
  if (!unary_shape(n) || n->num_inputs != 1 || !same_type(g, n->inputs[0], n->outputs[0]))
    return false;
  const npu_tensor_t *in = npu_graph_tensor(g, n->inputs[0]);
  int32_t rank = in->shape.rank;
  if (op_is(n, "view") || op_is(n, "reshape") || op_is(n, "_unsafe_view") ||
      op_is(n, "flatten") || op_is(n, "expand") || op_is(n, "squeeze") ||
      op_is(n, "unsqueeze") || op_is(n, "clone"))
    return true; /* same shape, same element order */
  if (op_is(n, "permute")) {
    int64_t dims[NPU_MAX_RANK];
    int32_t count = 0;
    if (!npu_node_attr_ints(n, "dims", dims, NPU_MAX_RANK, &count) || count != rank)
      return false;
    for (int32_t i = 0; i < count; i++) {
      int32_t d;
      if (!npu_wrap_dim(dims[i], rank, &d) || d != i) return false;
    }
    return true;
  }
  if (op_is(n, "transpose")) {
    int64_t d0, d1;
    int32_t w0, w1;
    if (!npu_node_attr_int(n, "dim0", &d0) || !npu_node_attr_int(n, "dim1", &d1)) return false;
    if (rank == 0) return true;
    if (!npu_wrap_dim(d0, rank, &w0) || !npu_wrap_dim(d1, rank, &w1)) return false;
    if (w0 == w1) return true;
    /* Swapping two size-1 dims moves no element. */
    return in->shape.dims[w0] == 1 && in->shape.dims[w1] == 1;
  }
  if (op_is(n, "slice")) {
    /* Same output size along `dim` with step 1 means start 0, end >= size. */
    int64_t step = 1;
    if (npu_node_attr(n, "step") && !npu_node_attr_int(n, "step", &step)) return false;
    return step == 1;
  }
  return false;
}

static bool is_empty_1d(const npu_graph_t *g, npu_tensor_id_t t) {
  const npu_tensor_t *tt = npu_graph_tensor(g, t);
  return tt && tt->shape.rank == 1 && tt->shape.dims[0] == 0;
}

static npu_status_t fold_cat(npu_pass_context_t *ctx, npu_graph_t *g, npu_node_id_t id,
                             bool *erased) {
  *erased = false;
  const npu_node_t *n = npu_graph_node(g, id);
  if (n->num_outputs != 1 || n->num_inputs < 1) return NULL;
  /* The output itself empty [0]: leave it (all inputs were empty). */
  if (is_empty_1d(g, n->outputs[0])) return NULL;
  int32_t empties = 0;
  for (int32_t i = 0; i < n->num_inputs; i++) empties += is_empty_1d(g, n->inputs[i]);
  if (empties == 0) {
    if (n->num_inputs == 1 && same_type(g, n->inputs[0], n->outputs[0])) {
      rewire_and_erase(g, id, n->inputs[0]);
      *erased = true;
      npu_pass_stat_add(ctx, "identities-removed", 1);
    }
    return NULL;
  }
  if (empties == n->num_inputs) return NULL;
  npu_tensor_id_t kept[64];
  npu_tensor_id_t *ins = kept;
  if (n->num_inputs > 64) return NULL; /* not worth a heap path; left as is */
  int32_t count = 0;
  for (int32_t i = 0; i < n->num_inputs; i++)
    if (!is_empty_1d(g, n->inputs[i])) ins[count++] = n->inputs[i];
  NPU_RETURN_IF_ERROR(npu_graph_set_node_inputs(g, id, ins, count));
  npu_pass_stat_add(ctx, "empty-cat-inputs-removed", empties);
  n = npu_graph_node(g, id);
  if (npu_node_attr(n, "_tensor_list_sizes")) {
    npu_attr_value_t size = npu_attr_int(count);
    NPU_RETURN_IF_ERROR(
        npu_graph_set_node_attr(g, id, "_tensor_list_sizes", npu_attr_list(&size, 1)));
    n = npu_graph_node(g, id);
  }
  if (count == 1 && same_type(g, n->inputs[0], n->outputs[0])) {
    rewire_and_erase(g, id, n->inputs[0]);
    *erased = true;
    npu_pass_stat_add(ctx, "identities-removed", 1);
  }
  return NULL;
}

static npu_status_t resolve_getitem(npu_pass_context_t *ctx, npu_graph_t *g, npu_node_id_t id) {
  const npu_node_t *n = npu_graph_node(g, id);
  int64_t index;
  if (n->num_outputs != 1 || !npu_node_attr_int(n, "index", &index))
    return npu_node_error(g, id, NPU_STATUS_VERIFY_FAILED,
                          "getitem needs one output and an int attr 'index'");
  npu_tensor_id_t target = NPU_NO_TENSOR;
  if (n->num_inputs > 0) {
    const npu_tensor_t *first = npu_graph_tensor(g, n->inputs[0]);
    const npu_node_t *producer =
        first->producer != NPU_NO_NODE ? npu_graph_node(g, first->producer) : NULL;
    if (producer && index >= 0 && index < producer->num_outputs)
      target = producer->outputs[index];
    else if (index >= 0 && index < n->num_inputs)
      target = n->inputs[index];
  }
  if (target == NPU_NO_TENSOR)
    return npu_node_error(g, id, NPU_STATUS_VERIFY_FAILED,
                          "getitem index %" PRId64 " is out of range (%d inputs)", index,
                          n->num_inputs);
  if (!same_type(g, target, n->outputs[0])) {
    char a[96], b[96];
    const npu_tensor_t *tt = npu_graph_tensor(g, target), *to = npu_graph_tensor(g, n->outputs[0]);
    return npu_node_error(g, id, NPU_STATUS_VERIFY_FAILED,
                          "getitem output %s%s does not match producer output '%s' %s%s",
                          npu_dtype_name(to->dtype), npu_shape_format(&to->shape, a, sizeof a),
                          tt->name, npu_dtype_name(tt->dtype),
                          npu_shape_format(&tt->shape, b, sizeof b));
  }
  rewire_and_erase(g, id, target);
  npu_pass_stat_add(ctx, "getitems-resolved", 1);
  return NULL;
}

/* Sweep 1: everything but in-place conversion. */
static npu_status_t simplify(npu_pass_context_t *ctx, npu_graph_t *g) {
  npu_node_id_t next;
  for (npu_node_id_t id = npu_graph_first_node(g); id != NPU_NO_NODE; id = next) {
    next = npu_graph_next_node(g, id);
    const npu_node_t *n = npu_graph_node(g, id);
    if ((n->schema->flags & NPU_OP_FLAG_NOOP) && n->num_outputs == 0) {
      npu_graph_erase_node(g, id);
      npu_pass_stat_add(ctx, "asserts-dropped", 1);
    } else if (is_getitem(n)) {
      NPU_RETURN_IF_ERROR(resolve_getitem(ctx, g, id));
    } else if (is_identity(g, n)) {
      rewire_and_erase(g, id, n->inputs[0]);
      npu_pass_stat_add(ctx, "identities-removed", 1);
    } else if (op_is(n, "cat")) {
      bool erased;
      NPU_RETURN_IF_ERROR(fold_cat(ctx, g, id, &erased));
    } else if (is_noop_view(g, n)) {
      rewire_and_erase(g, id, n->inputs[0]);
      npu_pass_stat_add(ctx, "views-folded", 1);
    }
  }
  return NULL;
}

static bool is_graph_output(const npu_graph_t *g, npu_tensor_id_t t) {
  int32_t count = 0;
  const npu_tensor_id_t *outs = npu_graph_outputs(g, &count);
  for (int32_t i = 0; i < count; i++)
    if (outs[i] == t) return true;
  return false;
}

/* Sweep 2: in-place ops to functional ones. */
static npu_status_t convert_inplace(npu_pass_context_t *ctx, npu_graph_t *g) {
  for (npu_node_id_t id = npu_graph_first_node(g); id != NPU_NO_NODE;
       id = npu_graph_next_node(g, id)) {
    const npu_node_t *n = npu_graph_node(g, id);
    if (!(n->schema->flags & NPU_OP_FLAG_INPLACE)) continue;
    if (n->num_inputs < 1)
      return npu_node_error(g, id, NPU_STATUS_VERIFY_FAILED, "in-place op without an input");
    npu_tensor_id_t mutated = n->inputs[0];
    const npu_tensor_t *mt = npu_graph_tensor(g, mutated);
    if (mt->role != NPU_ROLE_INTERMEDIATE)
      return npu_node_error(g, id, NPU_STATUS_UNSUPPORTED,
                            "mutates %s '%s' in place: a persistent state mutation is not "
                            "supported (export the state as an explicit input/output instead)",
                            npu_tensor_role_name(mt->role), mt->name);
    if (!n->schema->functional_variant)
      return npu_node_error(g, id, NPU_STATUS_UNSUPPORTED,
                            "in-place op has no functional variant in its schema");
    for (npu_node_id_t later = npu_graph_next_node(g, id); later != NPU_NO_NODE;
         later = npu_graph_next_node(g, later)) {
      const npu_node_t *ln = npu_graph_node(g, later);
      for (int32_t i = 0; i < ln->num_inputs; i++) {
        if (ln->inputs[i] == mutated) {
          char where[256];
          return npu_node_error(g, id, NPU_STATUS_UNSUPPORTED,
                                "mutates '%s' in place, but later %s reads it (input %d); "
                                "cannot convert to %s",
                                mt->name, npu_node_location(g, later, where, sizeof where), i,
                                n->schema->functional_variant);
        }
      }
    }
    if (is_graph_output(g, mutated))
      return npu_node_error(g, id, NPU_STATUS_UNSUPPORTED,
                            "mutates '%s' in place, but the graph output reads it; cannot "
                            "convert to %s",
                            mt->name, n->schema->functional_variant);
    NPU_RETURN_IF_ERROR(npu_graph_set_node_op(g, id, n->schema->functional_variant));
    npu_pass_stat_add(ctx, "inplace-converted", 1);
  }
  return NULL;
}

static npu_status_t canonicalize_run(npu_pass_context_t *ctx, npu_graph_t *g,
                                     const npu_options_t *opts) {
  bool inplace = opts ? npu_options_get_bool(opts, "inplace") : true;
  NPU_RETURN_IF_ERROR(simplify(ctx, g));
  if (inplace) NPU_RETURN_IF_ERROR(convert_inplace(ctx, g));
  return NULL;
}

static const npu_option_spec_t canonicalize_options[] = {
    {.name = "inplace", .type = NPU_OPTION_BOOL, .default_value = "true",
     .help = "convert in-place ops to their functional variant (after proving it is safe)"},
};

static const npu_pass_info_t passes[] = {
    {.name = "canonicalize",
     .summary = "drop asserts and identities, resolve getitem, fold no-op views and "
                "empty cat inputs, make in-place ops functional",
     .options = canonicalize_options,
     .num_options = 1,
     .run = canonicalize_run},
};

NPU_PLUGIN_EXPORT const npu_plugin_descriptor_t *npu_plugin_entry(void) {
  static const npu_plugin_descriptor_t d = {
      .abi_version = NPU_PLUGIN_ABI_VERSION,
      .name = "canonicalize",
      .version = "1.0",
      .summary = "graph canonicalisation",
      .passes = passes,
      .num_passes = 1};
  return &d;
}
