/*
 * npu/pipeline.h — typed options, the YAML pipeline loader and the pass
 * manager. docs/pipeline-yaml.md describes the file format.
 *
 * Life of a pipeline:
 *   npu_pipeline_parse_file()    syntax + schema (no plugins, no files)
 *   npu_pipeline_set_*()         command-line overrides (optional)
 *   npu_pipeline_resolve()       plugins looked up, every pass, backend and
 *                                option checked, input file checked: the
 *                                whole pipeline is validated before anything runs
 *   npu_pipeline_run()           import, passes (verified after each), emit
 * Every error in the file is located "FILE:LINE:COL" (1-based).
 */
#ifndef NPU_PIPELINE_H
#define NPU_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "npu/graph.h"
#include "npu/plugin.h"
#include "npu/plugin_registry.h"
#include "npu/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- options -------------------------------------------------------------- */

/* One "name: value" as written in the pipeline. */
typedef struct npu_option_setting {
  const char *name;
  const char *value;         /* the scalar's text */
  const char *location;      /* "FILE:LINE:COL" of the value (may be NULL) */
  const char *name_location; /* "FILE:LINE:COL" of the key (may be NULL) */
} npu_option_setting_t;

/* Builds validated options: every spec gets its default, then each setting
 * is type-checked (bool: true|false; int: an exact int64; float: a finite
 * decimal number; string: anything, or one of `choices`). `owner` names the
 * pass or backend in messages ("pass 'bn-fold'"). A bad default in a spec is
 * an INTERNAL error naming the owner. */
npu_status_t npu_options_create(const npu_option_spec_t *specs, int32_t num_specs,
                                const npu_option_setting_t *settings, int32_t num_settings,
                                const char *owner, npu_options_t **out_options);
void npu_options_destroy(npu_options_t *options);
/* The value as text (as set, or the default); NULL if undeclared. */
const char *npu_options_get_text(const npu_options_t *o, const char *name);
/* Parses one value of `type` (the same rules npu_options_create uses). */
bool npu_option_parse_bool(const char *text, bool *out);
bool npu_option_parse_int(const char *text, int64_t *out);
bool npu_option_parse_float(const char *text, double *out);

/* ---- pipelines ------------------------------------------------------------ */

typedef struct npu_pipeline npu_pipeline_t;

/* Parses a pipeline from memory. `origin` names it in locations; `base_dir`
 * is where relative input/plugin_path entries are resolved (NULL: "."); the
 * default output name is derived from origin's stem. Loads no plugins and
 * touches no files: safe to fuzz. */
npu_status_t npu_pipeline_parse(const char *data, size_t size, const char *origin,
                                const char *base_dir, npu_pipeline_t **out_pipeline);
/* Reads and parses FILE; base_dir is the file's directory. */
npu_status_t npu_pipeline_parse_file(const char *path, npu_pipeline_t **out_pipeline);
void npu_pipeline_destroy(npu_pipeline_t *p);

/* Overrides (command line). Paths are used as given (relative to the CWD). */
npu_status_t npu_pipeline_set_input(npu_pipeline_t *p, const char *path);
npu_status_t npu_pipeline_set_output(npu_pipeline_t *p, const char *path);
/* Replaces the backend (its options from the file are dropped). */
npu_status_t npu_pipeline_set_backend(npu_pipeline_t *p, const char *name);

/* Accessors (borrowed strings). */
const char *npu_pipeline_origin(const npu_pipeline_t *p);
const char *npu_pipeline_base_dir(const npu_pipeline_t *p);
const char *npu_pipeline_input(const npu_pipeline_t *p);    /* resolved path */
const char *npu_pipeline_backend_name(const npu_pipeline_t *p);
/* The output path: the explicit one, else "<stem><ext>" once resolved
 * (before resolve: NULL when not explicit). */
const char *npu_pipeline_output(const npu_pipeline_t *p);
int32_t npu_pipeline_pass_count(const npu_pipeline_t *p);
const char *npu_pipeline_pass_name(const npu_pipeline_t *p, int32_t index);
int32_t npu_pipeline_plugin_path_count(const npu_pipeline_t *p);
const char *npu_pipeline_plugin_path(const npu_pipeline_t *p, int32_t index); /* resolved */

/* Adds the pipeline's plugin_path to `reg` (call before npu_plugin_registry_load). */
npu_status_t npu_pipeline_add_plugin_paths(const npu_pipeline_t *p, npu_plugin_registry_t *reg);
/* Resolves every pass, the backend and all options against the (loaded)
 * registry and checks that the input file exists. The registry must outlive
 * the pipeline. */
npu_status_t npu_pipeline_resolve(npu_pipeline_t *p, const npu_plugin_registry_t *reg);

/* ---- the pass manager ----------------------------------------------------- */

typedef struct npu_pass_manager_options {
  bool no_verify;              /* skip npu_graph_verify after each pass */
  bool print_ir_after_all;
  const char *print_ir_after;  /* pass name, or NULL */
  bool time_passes;            /* a table (pass, ms, %) at the end */
  const char *dump_dot_dir;    /* writes NN-passname.dot there (00-input.dot first) */
  bool stats;                  /* per-pass statistics after each pass */
  const char *stop_after;      /* run no pass after this one (the backend still runs) */
  bool verbose;                /* remarks and progress */
  FILE *ir_stream;             /* printed IR; NULL: stdout */
  FILE *log_stream;            /* stats, timings, remarks; NULL: stderr */
} npu_pass_manager_options_t;

/* Checks that print_ir_after / stop_after name passes of the pipeline
 * (INVALID_ARGUMENT otherwise). */
npu_status_t npu_pass_manager_check_options(const npu_pipeline_t *p,
                                            const npu_pass_manager_options_t *opts);
/* Runs the resolved passes over g. */
npu_status_t npu_pipeline_run_passes(const npu_pipeline_t *p, npu_graph_t *g,
                                     const npu_pass_manager_options_t *opts);
/* Calls the backend's emit on g, writing npu_pipeline_output(p). */
npu_status_t npu_pipeline_emit(const npu_pipeline_t *p, const npu_graph_t *g,
                               const npu_pass_manager_options_t *opts);
/* Imports the input, runs the passes and emits. */
npu_status_t npu_pipeline_run(const npu_pipeline_t *p, const npu_pass_manager_options_t *opts);

/* ---- running one pass by hand ------------------------------------------------ */

/* A pass context outside a pipeline, for code that runs a pass directly (tests,
 * tools embedding npuc): pass it to npu_pass_info_t.run, then read back the
 * statistics the pass reported. */
npu_status_t npu_pass_context_create(const char *pass_name, npu_pass_context_t **out_ctx);
/* The counter's value, or 0 if the pass never reported it. */
int64_t npu_pass_context_stat(const npu_pass_context_t *ctx, const char *counter);
void npu_pass_context_destroy(npu_pass_context_t *ctx);

#ifdef __cplusplus
}
#endif
#endif /* NPU_PIPELINE_H */
