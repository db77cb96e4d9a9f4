/* The pytorch-ir JSON writer. See npu/graph_io.h and docs/ir-import.md.
 * Written with plain stdio: cJSON cannot write Infinity/NaN or exact int64. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npu/graph.h"
#include "npu/graph_io.h"

static void write_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    switch (*p) {
      case '"': fputs("\\\"", f); break;
      case '\\': fputs("\\\\", f); break;
      case '\n': fputs("\\n", f); break;
      case '\r': fputs("\\r", f); break;
      case '\t': fputs("\\t", f); break;
      case '\b': fputs("\\b", f); break;
      case '\f': fputs("\\f", f); break;
      default:
        if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
  }
  fputc('"', f);
}

/* Shortest "%.Ng" that reads back exactly, always with a '.' or exponent so it
 * re-imports as a float; non-finite values as Python's bare tokens. */
static void write_float(FILE *f, double v) {
  if (isnan(v)) { fputs("NaN", f); return; }
  if (isinf(v)) { fputs(v > 0 ? "Infinity" : "-Infinity", f); return; }
  char buf[64];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, sizeof buf - 2, "%.*g", prec, v);
    if (strtod(buf, NULL) == v && (v != 0 || signbit(strtod(buf, NULL)) == signbit(v))) break;
  }
  if (!strpbrk(buf, ".eE")) strcat(buf, ".0");
  fputs(buf, f);
}

static void write_attr_value(FILE *f, const npu_attr_value_t *v) {
  switch (v->kind) {
    case NPU_ATTR_NULL: fputs("null", f); break;
    case NPU_ATTR_BOOL: fputs(v->u.b ? "true" : "false", f); break;
    case NPU_ATTR_INT: fprintf(f, "%" PRId64, v->u.i); break;
    case NPU_ATTR_FLOAT: write_float(f, v->u.f); break;
    case NPU_ATTR_STRING: write_string(f, v->u.s); break;
    case NPU_ATTR_DTYPE: fprintf(f, "\"torch.%s\"", npu_dtype_name(v->u.dtype)); break;
    case NPU_ATTR_LIST:
      fputc('[', f);
      for (int32_t i = 0; i < v->u.list.count; i++) {
        if (i) fputs(", ", f);
        write_attr_value(f, &v->u.list.items[i]);
      }
      fputc(']', f);
      break;
  }
}

static void write_attrs(FILE *f, const npu_attr_t *attrs, int32_t n) {
  fputc('{', f);
  for (int32_t i = 0; i < n; i++) {
    if (i) fputs(", ", f);
    write_string(f, attrs[i].name);
    fputs(": ", f);
    write_attr_value(f, &attrs[i].value);
  }
  fputc('}', f);
}

static void write_shape(FILE *f, const npu_shape_t *s) {
  fputc('[', f);
  for (int32_t i = 0; i < s->rank; i++) fprintf(f, "%s%" PRId64, i ? ", " : "", s->dims[i]);
  fputc(']', f);
}

/* {"name": ..., "shape": [...], "dtype": "..." (no closing brace) */
static void write_meta_open(FILE *f, const char *name, const npu_tensor_t *t) {
  fputs("{\"name\": ", f);
  write_string(f, name);
  fputs(", \"shape\": ", f);
  write_shape(f, &t->shape);
  fputs(", \"dtype\": ", f);
  write_string(f, npu_dtype_name(t->dtype));
}

static void write_meta(FILE *f, const char *name, const npu_tensor_t *t) {
  write_meta_open(f, name, t);
  fputc('}', f);
}

static npu_tensor_role_t prefix_role(const char *placeholder) {
  return strncmp(placeholder, "c_", 2) == 0 ? NPU_ROLE_CONSTANT : NPU_ROLE_WEIGHT;
}

npu_status_t npu_graph_write_json(const npu_graph_t *g, FILE *f) {
  if (!g || !f) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "graph or stream is NULL");
  int32_t nt = npu_graph_tensor_count(g);
  /* Which tensors are graph inputs (O(1) lookups below). */
  uint8_t *is_input = calloc((size_t)nt + 1, 1);
  if (!is_input) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  int32_t ni, no, nw;
  const npu_tensor_id_t *inputs = npu_graph_inputs(g, &ni);
  const npu_tensor_id_t *outputs = npu_graph_outputs(g, &no);
  const npu_tensor_id_t *weights = npu_graph_weights(g, &nw);
  for (int32_t i = 0; i < ni; i++) is_input[inputs[i]] = 1;

  fputs("{\n", f);
  if (npu_graph_model_name(g)) {
    fputs("  \"model_name\": ", f);
    write_string(f, npu_graph_model_name(g));
    fputs(",\n", f);
  }
  if (npu_graph_pytorch_version(g)) {
    fputs("  \"pytorch_version\": ", f);
    write_string(f, npu_graph_pytorch_version(g));
    fputs(",\n", f);
  }
  fputs("  \"graph_inputs\": [", f);
  for (int32_t i = 0; i < ni; i++) {
    fputs(i ? ",\n    " : "\n    ", f);
    write_meta(f, npu_graph_tensor(g, inputs[i])->name, npu_graph_tensor(g, inputs[i]));
  }
  fputs(ni ? "\n  ],\n" : "],\n", f);
  fputs("  \"graph_outputs\": [", f);
  for (int32_t i = 0; i < no; i++) {
    fputs(i ? ",\n    " : "\n    ", f);
    write_meta(f, npu_graph_tensor(g, outputs[i])->name, npu_graph_tensor(g, outputs[i]));
  }
  fputs(no ? "\n  ],\n" : "],\n", f);

  /* Checkpoint weights: those with a key, or with neither key nor transform. */
  fputs("  \"weights\": [", f);
  int32_t k = 0;
  for (int32_t i = 0; i < nw; i++) {
    const npu_tensor_t *t = npu_graph_tensor(g, weights[i]);
    if (t->transform >= 0) continue;
    fputs(k++ ? ",\n    " : "\n    ", f);
    write_meta(f, t->weight_key ? t->weight_key : t->name, t);
  }
  fputs(k ? "\n  ],\n" : "],\n", f);
  fputs("  \"weight_name_mapping\": {", f);
  k = 0;
  for (int32_t i = 0; i < nw; i++) {
    const npu_tensor_t *t = npu_graph_tensor(g, weights[i]);
    if (t->transform >= 0) continue;
    fputs(k++ ? ",\n    " : "\n    ", f);
    write_string(f, t->name);
    fputs(": ", f);
    write_string(f, t->weight_key ? t->weight_key : t->name);
  }
  fputs(k ? "\n  },\n" : "},\n", f);

  /* npuc extensions. */
  int32_t ntr = npu_graph_weight_transform_count(g);
  if (ntr > 0) {
    fputs("  \"npu_weight_transforms\": [", f);
    for (int32_t i = 0; i < ntr; i++) {
      const npu_weight_transform_t *tr = npu_graph_weight_transform(g, i);
      const npu_tensor_t *out = npu_graph_tensor(g, tr->output);
      fputs(i ? ",\n    " : "\n    ", f);
      fputs("{\"kind\": ", f);
      write_string(f, tr->kind);
      fputs(", \"output\": ", f);
      write_meta(f, out->name, out);
      fputs(", \"sources\": [", f);
      for (int32_t j = 0; j < tr->num_sources; j++) {
        if (j) fputs(", ", f);
        write_string(f, npu_graph_tensor(g, tr->sources[j])->name);
      }
      fputs("], \"attrs\": ", f);
      write_attrs(f, tr->attrs, tr->num_attrs);
      fputc('}', f);
    }
    fputs("\n  ],\n", f);
  }
  /* Tensors with no producer that nothing above declares (e.g. device state). */
  k = 0;
  for (npu_tensor_id_t id = 0; id < nt; id++) {
    const npu_tensor_t *t = npu_graph_tensor(g, id);
    if (is_input[id] || t->producer != NPU_NO_NODE || t->role == NPU_ROLE_INTERMEDIATE ||
        t->role == NPU_ROLE_WEIGHT || t->role == NPU_ROLE_CONSTANT)
      continue;
    fputs(k++ ? ",\n    " : "  \"npu_tensors\": [\n    ", f);
    write_meta_open(f, t->name, t);
    fputs(", \"role\": ", f);
    write_string(f, npu_tensor_role_name(t->role));
    fputc('}', f);
  }
  if (k) fputs("\n  ],\n", f);
  /* Roles that the rules above would not reproduce. */
  k = 0;
  for (int32_t i = 0; i < ni; i++) {
    const npu_tensor_t *t = npu_graph_tensor(g, inputs[i]);
    if (t->role == NPU_ROLE_INPUT) continue;
    fputs(k++ ? ",\n    " : "  \"npu_tensor_roles\": {\n    ", f);
    write_string(f, t->name);
    fputs(": ", f);
    write_string(f, npu_tensor_role_name(t->role));
  }
  for (int32_t i = 0; i < nw; i++) {
    const npu_tensor_t *t = npu_graph_tensor(g, weights[i]);
    npu_tensor_role_t want = t->transform >= 0 ? NPU_ROLE_WEIGHT : prefix_role(t->name);
    if (t->role == want) continue;
    fputs(k++ ? ",\n    " : "  \"npu_tensor_roles\": {\n    ", f);
    write_string(f, t->name);
    fputs(": ", f);
    write_string(f, npu_tensor_role_name(t->role));
  }
  if (k) fputs("\n  },\n", f);

  fputs("  \"nodes\": [", f);
  k = 0;
  for (npu_node_id_t n = npu_graph_first_node(g); n != NPU_NO_NODE; n = npu_graph_next_node(g, n)) {
    const npu_node_t *node = npu_graph_node(g, n);
    fputs(k++ ? ",\n    {\n      \"name\": " : "\n    {\n      \"name\": ", f);
    write_string(f, node->name);
    fputs(",\n      \"op_type\": ", f);
    write_string(f, node->op);
    fputs(",\n      \"inputs\": [", f);
    for (int32_t i = 0; i < node->num_inputs; i++) {
      const npu_tensor_t *t = npu_graph_tensor(g, node->inputs[i]);
      fputs(i ? ",\n        " : "\n        ", f);
      write_meta_open(f, t->name, t);
      if (t->producer != NPU_NO_NODE) {
        fputs(", \"producer_node\": ", f);
        write_string(f, npu_graph_node(g, t->producer)->name);
        fprintf(f, ", \"producer_output_idx\": %d", t->producer_output);
      } else if (is_input[node->inputs[i]]) {
        fputs(", \"producer_node\": ", f);
        write_string(f, t->name);
        fputs(", \"producer_output_idx\": 0", f);
      }
      fputc('}', f);
    }
    fputs(node->num_inputs ? "\n      ],\n" : "],\n", f);
    fputs("      \"outputs\": [", f);
    for (int32_t i = 0; i < node->num_outputs; i++) {
      const npu_tensor_t *t = npu_graph_tensor(g, node->outputs[i]);
      fputs(i ? ",\n        " : "\n        ", f);
      write_meta(f, t->name, t);
    }
    fputs(node->num_outputs ? "\n      ],\n" : "],\n", f);
    fputs("      \"attrs\": ", f);
    write_attrs(f, node->attrs, node->num_attrs);
    fputs("\n    }", f);
  }
  fputs(k ? "\n  ]\n}\n" : "]\n}\n", f);
  free(is_input);
  if (ferror(f)) return npu_error(NPU_STATUS_IO_ERROR, "write error");
  return NULL;
}

npu_status_t npu_graph_write_json_file(const npu_graph_t *g, const char *path) {
  if (!path) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "path is NULL");
  FILE *f = fopen(path, "w");
  if (!f) return npu_error_at(NPU_STATUS_IO_ERROR, path, "cannot open for writing: %s", strerror(errno));
  npu_status_t s = npu_graph_write_json(g, f);
  if (fclose(f) != 0 && !s) s = npu_error_at(NPU_STATUS_IO_ERROR, path, "write error");
  if (s) {
    npu_status_t w = npu_status_annotate(s, path, "writing %s", path);
    return w;
  }
  return NULL;
}
