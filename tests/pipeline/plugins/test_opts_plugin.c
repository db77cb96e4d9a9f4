/* Test plugin: "test-opts" (options of every type; records them as stats),
 * "test-fail" (always fails) and a backend "test-null" (writes a text file). */
#include <stdio.h>
#include <string.h>

#include "npu/plugin.h"

static const char *const modes[] = {"fast", "exact", NULL};
static const npu_option_spec_t opts[] = {
    {.name = "flag", .type = NPU_OPTION_BOOL, .default_value = "false", .help = "a bool"},
    {.name = "count", .type = NPU_OPTION_INT, .default_value = "3", .help = "an int"},
    {.name = "scale", .type = NPU_OPTION_FLOAT, .default_value = "0.5", .help = "a float"},
    {.name = "mode", .type = NPU_OPTION_STRING, .default_value = "fast", .help = "a choice",
     .choices = modes},
    {.name = "label", .type = NPU_OPTION_STRING, .default_value = "", .help = "any string"},
};

static npu_status_t opts_run(npu_pass_context_t *ctx, npu_graph_t *g, const npu_options_t *o) {
  (void)g;
  npu_pass_stat_add(ctx, "flag", npu_options_get_bool(o, "flag"));
  npu_pass_stat_add(ctx, "count", npu_options_get_int(o, "count"));
  npu_pass_stat_add(ctx, "scale-x100", (int64_t)(npu_options_get_float(o, "scale") * 100));
  npu_pass_stat_add(ctx, "exact", strcmp(npu_options_get_string(o, "mode"), "exact") == 0);
  npu_pass_stat_add(ctx, "count-set", npu_options_is_set(o, "count"));
  npu_pass_remark(ctx, "label=%s", npu_options_get_string(o, "label"));
  return NULL;
}

static npu_status_t fail_run(npu_pass_context_t *ctx, npu_graph_t *g, const npu_options_t *o) {
  (void)ctx;
  (void)g;
  (void)o;
  return npu_error(NPU_STATUS_UNSUPPORTED, "test-fail always fails");
}

static const npu_pass_info_t passes[] = {
    {.name = "test-opts", .summary = "records its options as stats", .options = opts,
     .num_options = 5, .run = opts_run},
    {.name = "test-fail", .summary = "always fails", .run = fail_run},
};

static const npu_option_spec_t backend_opts[] = {
    {.name = "banner", .type = NPU_OPTION_STRING, .default_value = "null", .help = "first line"},
};

static npu_status_t null_emit(npu_pass_context_t *ctx, const npu_graph_t *g,
                              const npu_options_t *o, const char *path) {
  (void)ctx;
  FILE *f = fopen(path, "w");
  if (!f) return npu_error_at(NPU_STATUS_IO_ERROR, path, "cannot write");
  fprintf(f, "%s\nnodes %d\n", npu_options_get_string(o, "banner"), (int)npu_graph_node_count(g));
  fclose(f);
  return NULL;
}

static const npu_backend_info_t backends[] = {
    {.name = "test-null", .summary = "writes a node count", .options = backend_opts,
     .num_options = 1, .output_extension = ".txt", .emit = null_emit},
};

NPU_PLUGIN_EXPORT const npu_plugin_descriptor_t *npu_plugin_entry(void) {
  static const npu_plugin_descriptor_t d = {
      .abi_version = NPU_PLUGIN_ABI_VERSION, .name = "test-opts", .version = "1.0",
      .summary = "test plugin", .passes = passes, .num_passes = 2,
      .backends = backends, .num_backends = 1};
  return &d;
}
