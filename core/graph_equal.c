/* npu_graph_equal: structural equality of two graphs (see npu/graph_io.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "npu/graph.h"
#include "npu/graph_io.h"

static bool differ(char *why, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool differ(char *why, size_t size, const char *fmt, ...) {
  if (why && size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
  }
  return false;
}

static bool str_eq(const char *a, const char *b) {
  if (!a || !b) return a == b;
  return strcmp(a, b) == 0;
}

/* Intermediates with no producer (left behind by erased nodes) are not part
 * of the graph's meaning and are not written; they are ignored. */
static bool relevant(const npu_tensor_t *t) {
  return !(t->role == NPU_ROLE_INTERMEDIATE && t->producer == NPU_NO_NODE);
}

static bool same_tensor_name(const npu_graph_t *a, npu_tensor_id_t ta, const npu_graph_t *b,
                             npu_tensor_id_t tb) {
  return strcmp(npu_graph_tensor(a, ta)->name, npu_graph_tensor(b, tb)->name) == 0;
}

static bool ids_equal(const npu_graph_t *a, const npu_tensor_id_t *ia, int32_t na,
                      const npu_graph_t *b, const npu_tensor_id_t *ib, int32_t nb,
                      const char *what, char *why, size_t size) {
  if (na != nb) return differ(why, size, "%s: %d vs %d", what, na, nb);
  for (int32_t i = 0; i < na; i++)
    if (!same_tensor_name(a, ia[i], b, ib[i]))
      return differ(why, size, "%s %d: '%s' vs '%s'", what, i, npu_graph_tensor(a, ia[i])->name,
                    npu_graph_tensor(b, ib[i])->name);
  return true;
}

static bool attrs_equal(const npu_attr_t *aa, int32_t na, const npu_attr_t *ab, int32_t nb,
                        const char *owner, char *why, size_t size) {
  if (na != nb) return differ(why, size, "%s: %d attrs vs %d", owner, na, nb);
  for (int32_t i = 0; i < na; i++) {
    const npu_attr_value_t *other = NULL;
    for (int32_t j = 0; j < nb; j++)
      if (strcmp(aa[i].name, ab[j].name) == 0) other = &ab[j].value;
    if (!other) return differ(why, size, "%s: attr '%s' missing in the second graph", owner, aa[i].name);
    if (!npu_attr_value_equal(&aa[i].value, other))
      return differ(why, size, "%s: attr '%s' differs", owner, aa[i].name);
  }
  return true;
}

bool npu_graph_equal(const npu_graph_t *a, const npu_graph_t *b, char *why, size_t why_size) {
  if (why && why_size) why[0] = '\0';
  if (!a || !b) return a == b ? true : differ(why, why_size, "one graph is NULL");
  if (!str_eq(npu_graph_model_name(a), npu_graph_model_name(b)))
    return differ(why, why_size, "model_name differs");
  if (!str_eq(npu_graph_pytorch_version(a), npu_graph_pytorch_version(b)))
    return differ(why, why_size, "pytorch_version differs");

  /* Tensors, by name. */
  int32_t count_a = 0, count_b = 0;
  for (npu_tensor_id_t i = 0; i < npu_graph_tensor_count(a); i++) {
    const npu_tensor_t *ta = npu_graph_tensor(a, i);
    if (!relevant(ta)) continue;
    count_a++;
    npu_tensor_id_t j = npu_graph_find_tensor(b, ta->name);
    const npu_tensor_t *tb = j == NPU_NO_TENSOR ? NULL : npu_graph_tensor(b, j);
    if (!tb || !relevant(tb))
      return differ(why, why_size, "tensor '%s' is missing in the second graph", ta->name);
    if (ta->dtype != tb->dtype || !npu_shape_equal(&ta->shape, &tb->shape)) {
      char sa[128], sb[128];
      return differ(why, why_size, "tensor '%s': %s%s vs %s%s", ta->name, npu_dtype_name(ta->dtype),
                    npu_shape_format(&ta->shape, sa, sizeof sa), npu_dtype_name(tb->dtype),
                    npu_shape_format(&tb->shape, sb, sizeof sb));
    }
    if (ta->role != tb->role)
      return differ(why, why_size, "tensor '%s': role %s vs %s", ta->name,
                    npu_tensor_role_name(ta->role), npu_tensor_role_name(tb->role));
    if (!str_eq(ta->weight_key, tb->weight_key))
      return differ(why, why_size, "tensor '%s': weight key '%s' vs '%s'", ta->name,
                    ta->weight_key ? ta->weight_key : "(none)",
                    tb->weight_key ? tb->weight_key : "(none)");
    if ((ta->transform >= 0) != (tb->transform >= 0))
      return differ(why, why_size, "tensor '%s': derived in one graph only", ta->name);
  }
  for (npu_tensor_id_t i = 0; i < npu_graph_tensor_count(b); i++)
    if (relevant(npu_graph_tensor(b, i))) count_b++;
  if (count_a != count_b)
    return differ(why, why_size, "%d tensors vs %d", count_a, count_b);

  int32_t na, nb;
  const npu_tensor_id_t *ia, *ib;
  ia = npu_graph_inputs(a, &na);
  ib = npu_graph_inputs(b, &nb);
  if (!ids_equal(a, ia, na, b, ib, nb, "graph inputs", why, why_size)) return false;
  ia = npu_graph_outputs(a, &na);
  ib = npu_graph_outputs(b, &nb);
  if (!ids_equal(a, ia, na, b, ib, nb, "graph outputs", why, why_size)) return false;
  ia = npu_graph_weights(a, &na);
  ib = npu_graph_weights(b, &nb);
  if (!ids_equal(a, ia, na, b, ib, nb, "weights", why, why_size)) return false;

  /* Nodes, in order. */
  npu_node_id_t x = npu_graph_first_node(a), y = npu_graph_first_node(b);
  int32_t index = 0;
  for (; x != NPU_NO_NODE && y != NPU_NO_NODE;
       x = npu_graph_next_node(a, x), y = npu_graph_next_node(b, y), index++) {
    const npu_node_t *p = npu_graph_node(a, x), *q = npu_graph_node(b, y);
    if (strcmp(p->name, q->name) != 0)
      return differ(why, why_size, "node %d: '%s' vs '%s'", index, p->name, q->name);
    char owner[300];
    snprintf(owner, sizeof owner, "node %s", p->name);
    if (strcmp(p->op, q->op) != 0)
      return differ(why, why_size, "%s: op %s vs %s", owner, p->op, q->op);
    char what[340];
    snprintf(what, sizeof what, "%s inputs", owner);
    if (!ids_equal(a, p->inputs, p->num_inputs, b, q->inputs, q->num_inputs, what, why, why_size))
      return false;
    snprintf(what, sizeof what, "%s outputs", owner);
    if (!ids_equal(a, p->outputs, p->num_outputs, b, q->outputs, q->num_outputs, what, why,
                   why_size))
      return false;
    if (!attrs_equal(p->attrs, p->num_attrs, q->attrs, q->num_attrs, owner, why, why_size))
      return false;
  }
  if (x != NPU_NO_NODE || y != NPU_NO_NODE)
    return differ(why, why_size, "%d live nodes vs %d", npu_graph_node_count(a),
                  npu_graph_node_count(b));

  /* Weight transforms. */
  int32_t ca = npu_graph_weight_transform_count(a), cb = npu_graph_weight_transform_count(b);
  if (ca != cb) return differ(why, why_size, "%d weight transforms vs %d", ca, cb);
  for (int32_t i = 0; i < ca; i++) {
    const npu_weight_transform_t *p = npu_graph_weight_transform(a, i);
    const npu_weight_transform_t *q = npu_graph_weight_transform(b, i);
    char owner[300];
    snprintf(owner, sizeof owner, "weight transform %d (%s)", i, p->kind);
    if (strcmp(p->kind, q->kind) != 0)
      return differ(why, why_size, "%s: kind vs %s", owner, q->kind);
    if (!same_tensor_name(a, p->output, b, q->output))
      return differ(why, why_size, "%s: outputs differ", owner);
    if (!ids_equal(a, p->sources, p->num_sources, b, q->sources, q->num_sources, owner, why,
                   why_size))
      return false;
    if (!attrs_equal(p->attrs, p->num_attrs, q->attrs, q->num_attrs, owner, why, why_size))
      return false;
  }
  return true;
}
