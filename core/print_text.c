/* npu_graph_print_text: a readable one-line-per-node listing. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "npu/graph.h"
#include "npu/graph_io.h"

static void print_value(FILE *f, const npu_attr_value_t *v) {
  switch (v->kind) {
    case NPU_ATTR_NULL: fputs("None", f); break;
    case NPU_ATTR_BOOL: fputs(v->u.b ? "true" : "false", f); break;
    case NPU_ATTR_INT: fprintf(f, "%" PRId64, v->u.i); break;
    case NPU_ATTR_FLOAT:
      if (isnan(v->u.f)) fputs("nan", f);
      else if (isinf(v->u.f)) fputs(v->u.f > 0 ? "inf" : "-inf", f);
      else fprintf(f, "%.9g", v->u.f);
      break;
    case NPU_ATTR_STRING: fprintf(f, "\"%s\"", v->u.s); break;
    case NPU_ATTR_DTYPE: fputs(npu_dtype_name(v->u.dtype), f); break;
    case NPU_ATTR_LIST:
      fputc('[', f);
      for (int32_t i = 0; i < v->u.list.count; i++) {
        if (i) fputs(", ", f);
        print_value(f, &v->u.list.items[i]);
      }
      fputc(']', f);
      break;
  }
}

static void print_type(FILE *f, const npu_tensor_t *t) {
  char buf[160];
  fprintf(f, "%s%s", npu_dtype_name(t->dtype), npu_shape_format(&t->shape, buf, sizeof buf));
}

npu_status_t npu_graph_print_text(const npu_graph_t *g, FILE *f) {
  if (!g || !f) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "graph or stream is NULL");
  fprintf(f, "graph %s", npu_graph_model_name(g) ? npu_graph_model_name(g) : "(unnamed)");
  int32_t n;
  const npu_tensor_id_t *ids = npu_graph_inputs(g, &n);
  fputs("(", f);
  for (int32_t i = 0; i < n; i++) {
    const npu_tensor_t *t = npu_graph_tensor(g, ids[i]);
    fprintf(f, "%s%%%s: ", i ? ", " : "", t->name);
    print_type(f, t);
  }
  fputs(")\n", f);
  npu_graph_weights(g, &n);
  fprintf(f, "  weights: %d, weight transforms: %d, nodes: %d\n", n,
          npu_graph_weight_transform_count(g), npu_graph_node_count(g));
  for (npu_node_id_t id = npu_graph_first_node(g); id != NPU_NO_NODE;
       id = npu_graph_next_node(g, id)) {
    const npu_node_t *node = npu_graph_node(g, id);
    fputs("  ", f);
    for (int32_t i = 0; i < node->num_outputs; i++)
      fprintf(f, "%s%%%s", i ? ", " : "", npu_graph_tensor(g, node->outputs[i])->name);
    fprintf(f, "%s%s(", node->num_outputs ? " = " : "", node->op);
    for (int32_t i = 0; i < node->num_inputs; i++)
      fprintf(f, "%s%%%s", i ? ", " : "", npu_graph_tensor(g, node->inputs[i])->name);
    fputc(')', f);
    if (node->num_attrs > 0) {
      fputs(" {", f);
      for (int32_t i = 0; i < node->num_attrs; i++) {
        fprintf(f, "%s%s=", i ? ", " : "", node->attrs[i].name);
        print_value(f, &node->attrs[i].value);
      }
      fputc('}', f);
    }
    if (node->num_outputs > 0) {
      fputs(" : ", f);
      for (int32_t i = 0; i < node->num_outputs; i++) {
        if (i) fputs(", ", f);
        print_type(f, npu_graph_tensor(g, node->outputs[i]));
      }
    }
    fputc('\n', f);
  }
  ids = npu_graph_outputs(g, &n);
  fputs("  return ", f);
  for (int32_t i = 0; i < n; i++)
    fprintf(f, "%s%%%s", i ? ", " : "", npu_graph_tensor(g, ids[i])->name);
  fputc('\n', f);
  if (ferror(f)) return npu_error(NPU_STATUS_IO_ERROR, "write error");
  return NULL;
}
