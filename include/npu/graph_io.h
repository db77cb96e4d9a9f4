/*
 * npu/graph_io.h — reading and writing graphs: the pytorch-ir JSON importer,
 * the JSON writer, the text printer and the Graphviz dot printer.
 *
 * The importer implements ../shared/fixtures/IR-FORMAT.md (docs/ir-import.md
 * summarises the rules): non-standard Infinity/-Infinity/NaN tokens, exact
 * int64 values, producers resolved by (producer_node, producer_output_idx),
 * weights mapped through weight_name_mapping, dtype strings, and ATen schema
 * defaults for absent attrs. Every node's op must be registered; an unknown op
 * is an error naming the node. The imported graph is verified before return.
 *
 * The JSON writer emits the same format (plus npuc's own keys for weight
 * transforms and tensor roles that pytorch-ir has no words for), so that
 * import -> write -> import yields an identical graph.
 */
#ifndef NPU_GRAPH_IO_H
#define NPU_GRAPH_IO_H

#include <stdio.h>

#include "npu/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads a pytorch-ir JSON file. Errors are located "path:line:col" for syntax
 * and "path: node NAME (OP)" for content. *out_graph is owned by the caller. */
npu_status_t npu_graph_import_json_file(const char *path, npu_graph_t **out_graph);
/* Same, from memory. `origin` names the data in error messages. */
npu_status_t npu_graph_import_json_buffer(const char *data, size_t size,
                                          const char *origin,
                                          npu_graph_t **out_graph);

/* Writes pytorch-ir JSON (live nodes in order, indent 2). */
npu_status_t npu_graph_write_json(const npu_graph_t *g, FILE *stream);
npu_status_t npu_graph_write_json_file(const npu_graph_t *g, const char *path);

/* One line per node: "%conv2d = aten.conv2d.default(%x, %p_conv1_weight)
 * {stride=[2, 2], ...} : float32[1, 64, 112, 112]". */
npu_status_t npu_graph_print_text(const npu_graph_t *g, FILE *stream);
/* Graphviz: nodes as boxes, tensors as edges labelled dtype[shape]. */
npu_status_t npu_graph_print_dot(const npu_graph_t *g, FILE *stream);

/* True if the two graphs are identical: same tensors (by name, with dtype,
 * shape, role, weight key), same live nodes in the same order with the same
 * ops, operands and attrs, same inputs/outputs/weights/transforms. On a
 * difference, writes a one-line description into why (may be NULL). */
bool npu_graph_equal(const npu_graph_t *a, const npu_graph_t *b, char *why, size_t why_size);

#ifdef __cplusplus
}
#endif
#endif /* NPU_GRAPH_IO_H */
