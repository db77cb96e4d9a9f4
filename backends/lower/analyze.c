/* backends/lower/analyze.c — which nodes become which dispatches (fusions),
 * which are aliases, and the storage roots and lifetimes that follow. */
#include <stdlib.h>
#include <string.h>

#include "lower_internal.h"
#include "npu/ops.h"

/* "aten.<base>.<overload>" or a bare "<base>.<overload>". */
static bool op_base_is(const char *op, const char *base) {
  if (strncmp(op, "aten.", 5) == 0) op += 5;
  size_t len = strlen(base);
  return strncmp(op, base, len) == 0 && (op[len] == '.' || op[len] == '\0');
}

static bool is_conv(const npu_node_t *n) {
  return strcmp(n->op, "aten.conv2d.default") == 0;
}
static bool is_relu(const npu_node_t *n) {
  return strcmp(n->op, "aten.relu.default") == 0 || strcmp(n->op, "aten.relu_.default") == 0;
}
static bool is_add(const npu_node_t *n) {
  return strcmp(n->op, "aten.add.Tensor") == 0 || strcmp(n->op, "aten.add_.Tensor") == 0;
}

bool npu_lower_is_alias_op(const npu_graph_t *g, const npu_node_t *n) {
  static const char *const bases[] = {"flatten", "view", "reshape", "_unsafe_view",
                                      "alias", "unsqueeze", "squeeze", "contiguous",
                                      "detach", "detach_", "clone", "dropout", "to"};
  if (n->num_inputs < 1 || n->num_outputs != 1) return false;
  bool named = false;
  for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++)
    if (op_base_is(n->op, bases[i])) named = true;
  if (!named) return false;
  const npu_tensor_t *in = npu_graph_tensor(g, n->inputs[0]);
  const npu_tensor_t *out = npu_graph_tensor(g, n->outputs[0]);
  if (!in || !out || in->dtype != out->dtype) return false;
  int64_t a = 0, b = 0;
  if (!npu_shape_numel(&in->shape, &a) || !npu_shape_numel(&out->shape, &b) || a != b)
    return false;
  if (op_base_is(n->op, "dropout")) {
    bool train = false;
    if (npu_node_attr_bool(n, "train", &train) && train) return false;
  }
  return true;
}

uint64_t lower_tensor_bytes(const npu_graph_t *g, npu_tensor_id_t t) {
  const npu_tensor_t *tt = npu_graph_tensor(g, t);
  int64_t numel = 0;
  if (!tt || !npu_shape_numel(&tt->shape, &numel)) return 0;
  return (uint64_t)numel * npu_dtype_size(tt->dtype);
}

static bool is_graph_output(const npu_graph_t *g, npu_tensor_id_t t) {
  int32_t count = 0;
  const npu_tensor_id_t *outs = npu_graph_outputs(g, &count);
  for (int32_t i = 0; i < count; i++)
    if (outs[i] == t) return true;
  return false;
}

/* The only node after `after` reading `t`, if `t` has exactly one use (and
 * is not a graph output). */
static npu_node_id_t sole_user(const npu_graph_t *g, npu_node_id_t after, npu_tensor_id_t t) {
  if (npu_graph_use_count(g, t) != 1 || is_graph_output(g, t)) return NPU_NO_NODE;
  for (npu_node_id_t id = npu_graph_next_node(g, after); id != NPU_NO_NODE;
       id = npu_graph_next_node(g, id)) {
    const npu_node_t *n = npu_graph_node(g, id);
    for (int32_t i = 0; i < n->num_inputs; i++)
      if (n->inputs[i] == t) return id;
  }
  return NPU_NO_NODE;
}

static double add_alpha(const npu_node_t *n) {
  double alpha = 1.0;
  if (!npu_node_attr_float(n, "alpha", &alpha)) alpha = 1.0;
  return alpha;
}

/* A same-shape, same-dtype two-tensor add. */
static bool plain_add(const npu_graph_t *g, const npu_node_t *n) {
  if (!is_add(n) || n->num_inputs != 2 || n->num_outputs != 1) return false;
  const npu_tensor_t *a = npu_graph_tensor(g, n->inputs[0]);
  const npu_tensor_t *b = npu_graph_tensor(g, n->inputs[1]);
  const npu_tensor_t *y = npu_graph_tensor(g, n->outputs[0]);
  return a && b && y && a->dtype == b->dtype && a->dtype == y->dtype &&
         npu_shape_equal(&a->shape, &b->shape) && npu_shape_equal(&a->shape, &y->shape);
}

/* If `t`'s only user is an unclaimed relu, claims it and returns its output. */
static npu_tensor_id_t try_relu(const npu_graph_t *g, npu_node_id_t after, npu_tensor_id_t t,
                                bool *claimed, npu_node_id_t *emit_at) {
  npu_node_id_t u = sole_user(g, after, t);
  if (u == NPU_NO_NODE || claimed[u]) return NPU_NO_TENSOR;
  const npu_node_t *r = npu_graph_node(g, u);
  if (!is_relu(r) || r->num_inputs != 1 || r->num_outputs != 1) return NPU_NO_TENSOR;
  claimed[u] = true;
  *emit_at = u;
  return r->outputs[0];
}

void lower_analysis_free(lower_analysis_t *a) {
  free(a->root);
  free(a->steps);
  free(a->def_step);
  free(a->last_use);
  free(a->is_output_root);
  free(a->copy_output);
  memset(a, 0, sizeof *a);
}

static npu_status_t unsupported(const npu_graph_t *g, npu_node_id_t id, const char *why) {
  const npu_node_t *n = npu_graph_node(g, id);
  return npu_node_error(g, id, NPU_STATUS_UNSUPPORTED,
                        "op '%s' (node '%s') is not supported by the lowering%s%s", n->op,
                        n->name, why ? ": " : "", why ? why : "");
}

static bool f32(const npu_graph_t *g, npu_tensor_id_t t) {
  const npu_tensor_t *tt = npu_graph_tensor(g, t);
  return tt && tt->dtype == NPU_DTYPE_FLOAT32;
}

npu_status_t lower_analyze(const npu_graph_t *g, lower_analysis_t *a) {
  memset(a, 0, sizeof *a);
  int32_t nt = npu_graph_tensor_count(g);
  int32_t nn = npu_graph_node_capacity(g);
  int32_t nouts = 0;
  const npu_tensor_id_t *outs = npu_graph_outputs(g, &nouts);
  a->num_tensors = nt;
  a->root = malloc(sizeof(npu_tensor_id_t) * (size_t)(nt + 1));
  a->steps = malloc(sizeof(lower_step_t) * (size_t)(nn + nouts + 1));
  a->def_step = malloc(sizeof(int32_t) * (size_t)(nt + 1));
  a->last_use = malloc(sizeof(int32_t) * (size_t)(nt + 1));
  a->is_output_root = calloc((size_t)nt + 1, sizeof(bool));
  a->copy_output = malloc(sizeof(int32_t) * (size_t)(nn + nouts + 1));
  bool *claimed = calloc((size_t)nn + 1, sizeof(bool));
  lower_step_t *pending = calloc((size_t)nn + 1, sizeof(lower_step_t));
  bool *has_pending = calloc((size_t)nn + 1, sizeof(bool));
  npu_status_t st = NULL;
  if (!a->root || !a->steps || !a->def_step || !a->last_use || !a->is_output_root ||
      !a->copy_output || !claimed || !pending || !has_pending) {
    st = npu_error(NPU_STATUS_OUT_OF_MEMORY, "lowering: out of memory");
    goto done;
  }
  for (int32_t t = 0; t < nt; t++) {
    a->root[t] = t;
    a->def_step[t] = -1;
    a->last_use[t] = -1;
  }

  for (npu_node_id_t id = npu_graph_first_node(g); id != NPU_NO_NODE;
       id = npu_graph_next_node(g, id)) {
    const npu_node_t *n = npu_graph_node(g, id);
    if (claimed[id]) {
      if (has_pending[id]) a->steps[a->num_steps++] = pending[id];
      continue;
    }
    if (n->schema && (n->schema->flags & NPU_OP_FLAG_NOOP) && n->num_outputs == 0) continue;
    if (npu_lower_is_alias_op(g, n)) {
      a->root[n->outputs[0]] = a->root[n->inputs[0]];
      continue;
    }
    if (n->num_outputs != 1) {
      st = unsupported(g, id, "expected one output");
      goto done;
    }
    for (int32_t i = 0; i < n->num_inputs; i++)
      if (!f32(g, n->inputs[i])) {
        st = unsupported(g, id, "only float32 tensors are lowered (precision fp32)");
        goto done;
      }
    if (!f32(g, n->outputs[0])) {
      st = unsupported(g, id, "only float32 tensors are lowered (precision fp32)");
      goto done;
    }
    lower_step_t s = {.node = id, .out = n->outputs[0], .alpha = 1.0};
    npu_node_id_t emit_at = id;
    if (is_conv(n)) {
      if (n->num_inputs < 2 || n->num_inputs > 3) {
        st = unsupported(g, id, "conv2d takes x, weight[, bias]");
        goto done;
      }
      s.kind = STEP_CONV;
      s.in[0] = n->inputs[0];
      s.in[1] = n->inputs[1];
      s.num_in = 2;
      if (n->num_inputs == 3) {
        s.in[s.num_in++] = n->inputs[2];
        s.bias = true;
      }
      npu_tensor_id_t y = try_relu(g, id, s.out, claimed, &emit_at);
      if (y != NPU_NO_TENSOR) {
        s.relu = true;
        s.out = y;
      } else {
        npu_node_id_t u = sole_user(g, id, s.out);
        const npu_node_t *add = u != NPU_NO_NODE ? npu_graph_node(g, u) : NULL;
        if (add && !claimed[u] && plain_add(g, add) && add_alpha(add) == 1.0 &&
            add->inputs[0] != add->inputs[1]) {
          npu_tensor_id_t other = add->inputs[0] == s.out ? add->inputs[1] : add->inputs[0];
          claimed[u] = true;
          emit_at = u;
          s.residual = true;
          s.in[s.num_in++] = other;
          s.out = add->outputs[0];
          y = try_relu(g, u, s.out, claimed, &emit_at);
          if (y != NPU_NO_TENSOR) {
            s.relu = true;
            s.out = y;
          }
        }
      }
    } else if (strcmp(n->op, "aten.max_pool2d.default") == 0) {
      s.kind = STEP_MAXPOOL;
      s.in[s.num_in++] = n->inputs[0];
    } else if (strcmp(n->op, "aten.adaptive_avg_pool2d.default") == 0) {
      s.kind = STEP_AVGPOOL;
      s.in[s.num_in++] = n->inputs[0];
    } else if (strcmp(n->op, "aten.linear.default") == 0) {
      if (n->num_inputs < 2 || n->num_inputs > 3) {
        st = unsupported(g, id, "linear takes x, weight[, bias]");
        goto done;
      }
      s.kind = STEP_LINEAR;
      for (int32_t i = 0; i < n->num_inputs; i++) s.in[s.num_in++] = n->inputs[i];
      s.bias = n->num_inputs == 3;
      npu_tensor_id_t y = try_relu(g, id, s.out, claimed, &emit_at);
      if (y != NPU_NO_TENSOR) {
        s.relu = true;
        s.out = y;
      }
    } else if (is_relu(n) && n->num_inputs == 1) {
      s.kind = STEP_RELU;
      s.in[s.num_in++] = n->inputs[0];
    } else if (is_add(n)) {
      if (!plain_add(g, n)) {
        st = unsupported(g, id, "only same-shape tensor + tensor adds are lowered");
        goto done;
      }
      s.kind = STEP_ADD;
      s.in[0] = n->inputs[0];
      s.in[1] = n->inputs[1];
      s.num_in = 2;
      s.alpha = add_alpha(n);
      npu_tensor_id_t y = try_relu(g, id, s.out, claimed, &emit_at);
      if (y != NPU_NO_TENSOR) {
        s.relu = true;
        s.out = y;
      }
    } else {
      st = unsupported(g, id, NULL);
      goto done;
    }
    if (emit_at == id) {
      a->steps[a->num_steps++] = s;
    } else {
      pending[emit_at] = s;
      has_pending[emit_at] = true;
    }
  }

  for (int32_t i = 0; i < a->num_steps; i++) a->copy_output[i] = -1;
  /* Graph outputs: the root's producer writes into the OUTPUT buffer unless
   * the root is not produced by a dispatch (an input, a weight) or already
   * serves an earlier output: then a copy. */
  for (int32_t s = 0; s < a->num_steps; s++) a->def_step[a->root[a->steps[s].out]] = s;
  for (int32_t o = 0; o < nouts; o++) {
    npu_tensor_id_t r = a->root[outs[o]];
    if (a->def_step[r] >= 0 && !a->is_output_root[r]) {
      a->is_output_root[r] = true;
      continue;
    }
    lower_step_t c = {.kind = STEP_COPY, .node = NPU_NO_NODE, .num_in = 1, .out = outs[o]};
    c.in[0] = outs[o];
    a->copy_output[a->num_steps] = o;
    a->steps[a->num_steps++] = c;
  }
  for (int32_t s = 0; s < a->num_steps; s++) {
    const lower_step_t *sp = &a->steps[s];
    for (int32_t i = 0; i < sp->num_in; i++) {
      npu_tensor_id_t r = a->root[sp->in[i]];
      if (a->last_use[r] < s) a->last_use[r] = s;
    }
  }
done:
  free(claimed);
  free(pending);
  free(has_pending);
  if (st) lower_analysis_free(a);
  return st;
}

int32_t lower_plan_items(const npu_graph_t *g, const lower_analysis_t *a, uint64_t alignment,
                         npu_memplan_item_t *items, npu_tensor_id_t *ids) {
  (void)alignment;
  int32_t count = 0;
  for (npu_tensor_id_t t = 0; t < a->num_tensors; t++) {
    if (a->root[t] != t || a->def_step[t] < 0 || a->is_output_root[t]) continue;
    const npu_tensor_t *tt = npu_graph_tensor(g, t);
    if (tt->role != NPU_ROLE_INTERMEDIATE) continue;
    int32_t end = a->last_use[t] > a->def_step[t] ? a->last_use[t] : a->def_step[t];
    items[count] = (npu_memplan_item_t){.size = lower_tensor_bytes(g, t),
                                        .start = a->def_step[t], .end = end};
    ids[count++] = t;
  }
  return count;
}
