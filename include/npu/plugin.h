/*
 * npu/plugin.h — the plugin ABI: how a shared object adds passes, backends
 * and ops to npuc without any change to the core.
 *
 * A plugin exports ONE symbol, `npu_plugin_entry`, returning a descriptor:
 *
 *   #include <npu/plugin.h>
 *
 *   static npu_status_t count_run(npu_pass_context_t *ctx, npu_graph_t *g,
 *                                 const npu_options_t *opts) {
 *     npu_pass_stat_add(ctx, "nodes", npu_graph_node_count(g));
 *     return NULL;
 *   }
 *   static const npu_pass_info_t passes[] = {
 *     {.name = "count-nodes", .summary = "counts nodes", .run = count_run},
 *   };
 *   NPU_PLUGIN_EXPORT const npu_plugin_descriptor_t *npu_plugin_entry(void) {
 *     static const npu_plugin_descriptor_t d = {
 *       .abi_version = NPU_PLUGIN_ABI_VERSION, .name = "count",
 *       .version = "1.0", .passes = passes, .num_passes = 1};
 *     return &d;
 *   }
 *
 * The loader checks abi_version EXACTLY and refuses a mismatch, printing both
 * numbers. The descriptor and everything it points to must stay valid while
 * the plugin is loaded (static storage). Any change to a struct in this header
 * or in the headers it includes bumps NPU_PLUGIN_ABI_VERSION.
 */
#ifndef NPU_PLUGIN_H
#define NPU_PLUGIN_H

#include <stdint.h>

#include "npu/graph.h"
#include "npu/ops.h"
#include "npu/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NPU_PLUGIN_ABI_VERSION 1u
#define NPU_PLUGIN_ENTRY_SYMBOL "npu_plugin_entry"
#define NPU_PLUGIN_EXPORT __attribute__((visibility("default")))

/* ---- options -------------------------------------------------------------- */

typedef enum npu_option_type {
  NPU_OPTION_BOOL,
  NPU_OPTION_INT,
  NPU_OPTION_FLOAT,
  NPU_OPTION_STRING,
} npu_option_type_t;

/* One typed option of a pass or backend. The pipeline YAML sets it; anything
 * not declared here, or of the wrong type, is an error at file:line:col. */
typedef struct npu_option_spec {
  const char *name;
  npu_option_type_t type;
  const char *default_value; /* text form: "true", "256", "0.5", "fp32" */
  const char *help;
  /* (optional) NPU_OPTION_STRING: NULL-terminated list of allowed values. */
  const char *const *choices;
} npu_option_spec_t;

/* Parsed, validated option values. Every declared option has a value (its
 * default if the pipeline did not set it). Reading an undeclared name or the
 * wrong type returns the zero value. */
typedef struct npu_options npu_options_t;
bool npu_options_get_bool(const npu_options_t *o, const char *name);
int64_t npu_options_get_int(const npu_options_t *o, const char *name);
double npu_options_get_float(const npu_options_t *o, const char *name);
const char *npu_options_get_string(const npu_options_t *o, const char *name);
/* Whether the pipeline set it explicitly. */
bool npu_options_is_set(const npu_options_t *o, const char *name);

/* ---- passes --------------------------------------------------------------- */

typedef struct npu_pass_context npu_pass_context_t;

/* Statistics are reported after the pass ("canonicalize: 142 asserts-dropped").
 * Counters are created on first use. */
void npu_pass_stat_add(npu_pass_context_t *ctx, const char *counter, int64_t delta);
/* A line of diagnostics shown with --verbose. */
void npu_pass_remark(npu_pass_context_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The directory where the pipeline file lives (for passes that read files
 * named in their options), or "." */
const char *npu_pass_base_dir(const npu_pass_context_t *ctx);

typedef struct npu_pass_info {
  const char *name;     /* unique across all loaded plugins: "bn-fold" */
  const char *summary;  /* one line for --list-passes */
  const npu_option_spec_t *options;
  int32_t num_options;
  /* Transforms the graph in place. The pass manager verifies it afterwards. */
  npu_status_t (*run)(npu_pass_context_t *ctx, npu_graph_t *graph,
                      const npu_options_t *options);
} npu_pass_info_t;

/* ---- backends ------------------------------------------------------------- */

typedef struct npu_backend_info {
  const char *name;              /* "vulkan", "cpu", "ir-json" */
  const char *summary;
  const npu_option_spec_t *options;
  int32_t num_options;
  const char *output_extension;  /* default output suffix: ".npubin" */
  /* Lowers the final graph and writes the program to output_path. */
  npu_status_t (*emit)(npu_pass_context_t *ctx, const npu_graph_t *graph,
                       const npu_options_t *options, const char *output_path);
  /* (optional) The executor side (npu/runtime_backend.h); NULL for backends
   * that write no runnable program, such as ir-json. */
  const struct npu_runtime_backend *runtime;
} npu_backend_info_t;

/* ---- the descriptor ------------------------------------------------------- */

typedef struct npu_plugin_descriptor {
  uint32_t abi_version;          /* NPU_PLUGIN_ABI_VERSION */
  const char *name;
  const char *version;
  const char *summary;
  const npu_pass_info_t *passes;
  int32_t num_passes;
  const npu_backend_info_t *backends;
  int32_t num_backends;
  const npu_op_schema_t *ops;    /* registered when the plugin loads */
  int32_t num_ops;
} npu_plugin_descriptor_t;

typedef const npu_plugin_descriptor_t *(*npu_plugin_entry_fn_t)(void);

#ifdef __cplusplus
}
#endif
#endif /* NPU_PLUGIN_H */
