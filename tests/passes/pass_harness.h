/* A tiny pass harness for the pass plugin tests: loads a plugin from the build
 * tree (dlopen + npu_plugin_entry, as the registry does), runs one of its
 * passes on a graph and records the statistics the pass reports. */
#ifndef NPU_TEST_PASS_HARNESS_H
#define NPU_TEST_PASS_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "npu/plugin.h"

/* Runs pass `pass` of plugin file "npu-<plugin>.so" on g with `options`
 * (NULL: the pass's defaults). Statistics are reset first. */
npu_status_t harness_run(const char *plugin, const char *pass, npu_graph_t *g,
                         const npu_options_t *options);
/* The pass's descriptor (for option specs); fails the test if absent. */
const npu_pass_info_t *harness_pass(const char *plugin, const char *pass);
/* The value of a statistic of the last run (0 if never reported). */
int64_t harness_stat(const char *counter);

/* True if the ATen schemas are registered (core/ops_aten.c landed). */
bool harness_have_aten(void);

/* Graph building. */
npu_tensor_id_t harness_tensor(npu_graph_t *g, const char *name, npu_dtype_t dtype,
                               npu_tensor_role_t role, int32_t rank, const int64_t *dims);
npu_node_id_t harness_node(npu_graph_t *g, const char *name, const char *op,
                           const npu_tensor_id_t *inputs, int32_t num_inputs,
                           const npu_tensor_id_t *outputs, int32_t num_outputs,
                           const npu_attr_t *attrs, int32_t num_attrs);
/* Number of live nodes with op `op`. */
int32_t harness_count_op(const npu_graph_t *g, const char *op);

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define NDIMS(...) ((int32_t)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define TENSOR(g, name, dtype, role, ...) \
  harness_tensor((g), (name), (dtype), (role), NDIMS(__VA_ARGS__), DIMS(__VA_ARGS__))

#endif
