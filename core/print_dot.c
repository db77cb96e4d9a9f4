/* npu_graph_print_dot: Graphviz output. Nodes are boxes, graph inputs and
 * weights are ellipses, tensors are edges labelled dtype[shape]. */
#include <stdio.h>

#include "npu/graph.h"
#include "npu/graph_io.h"

static void dot_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    if (*s == '\n') { fputs("\\n", f); continue; }
    fputc(*s, f);
  }
  fputc('"', f);
}

static void edge_label(FILE *f, const npu_tensor_t *t) {
  char shape[160], label[512];
  snprintf(label, sizeof label, "%s %s%s", t->name, npu_dtype_name(t->dtype),
           npu_shape_format(&t->shape, shape, sizeof shape));
  dot_string(f, label);
}

/* The dot id of whatever defines tensor t: a node ("n<id>") or the tensor
 * itself ("t<id>", an ellipse for inputs, weights and state). */
static void source_id(const npu_tensor_t *t, npu_tensor_id_t id, char *buf, size_t size) {
  if (t->producer != NPU_NO_NODE) snprintf(buf, size, "n%d", t->producer);
  else snprintf(buf, size, "t%d", id);
}

npu_status_t npu_graph_print_dot(const npu_graph_t *g, FILE *f) {
  if (!g || !f) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "graph or stream is NULL");
  fputs("digraph ", f);
  dot_string(f, npu_graph_model_name(g) ? npu_graph_model_name(g) : "graph");
  fputs(" {\n  rankdir=TB;\n  node [fontname=\"monospace\"];\n", f);
  /* Ellipses for every tensor without a producer that a node or output reads. */
  int32_t nt = npu_graph_tensor_count(g);
  for (npu_tensor_id_t id = 0; id < nt; id++) {
    const npu_tensor_t *t = npu_graph_tensor(g, id);
    if (t->producer != NPU_NO_NODE || t->role == NPU_ROLE_INTERMEDIATE) continue;
    fprintf(f, "  t%d [shape=ellipse, label=", id);
    char label[512];
    snprintf(label, sizeof label, "%s\n(%s)", t->name, npu_tensor_role_name(t->role));
    dot_string(f, label);
    fputs("];\n", f);
  }
  for (npu_node_id_t n = npu_graph_first_node(g); n != NPU_NO_NODE; n = npu_graph_next_node(g, n)) {
    const npu_node_t *node = npu_graph_node(g, n);
    char label[512];
    snprintf(label, sizeof label, "%s\n%s", node->name, node->op);
    fprintf(f, "  n%d [shape=box, label=", n);
    dot_string(f, label);
    fputs("];\n", f);
    for (int32_t i = 0; i < node->num_inputs; i++) {
      const npu_tensor_t *t = npu_graph_tensor(g, node->inputs[i]);
      char src[32];
      source_id(t, node->inputs[i], src, sizeof src);
      fprintf(f, "  %s -> n%d [label=", src, n);
      edge_label(f, t);
      fputs("];\n", f);
    }
  }
  int32_t no;
  const npu_tensor_id_t *outs = npu_graph_outputs(g, &no);
  for (int32_t i = 0; i < no; i++) {
    const npu_tensor_t *t = npu_graph_tensor(g, outs[i]);
    char src[32];
    source_id(t, outs[i], src, sizeof src);
    fprintf(f, "  out%d [shape=doublecircle, label=\"output %d\"];\n", i, i);
    fprintf(f, "  %s -> out%d [label=", src, i);
    edge_label(f, t);
    fputs("];\n", f);
  }
  fputs("}\n", f);
  if (ferror(f)) return npu_error(NPU_STATUS_IO_ERROR, "write error");
  return NULL;
}
