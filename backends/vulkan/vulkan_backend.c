/*
 * vulkan — the Vulkan backend plugin: lowers the graph (backends/lower) with
 * the embedded SPIR-V kernels (kernels/), validates every kernel's SPIR-V with
 * SPIRV-Tools before writing the .npubin, and runs programs through the
 * Vulkan executor (backends/vulkan/runtime).
 *
 * Options:
 *   precision: fp32 | fp16   compute precision; fp16 stores activations and
 *                            weights as float16 (math in float, 16-bit storage)
 */
#include <string.h>

#include <spirv-tools/libspirv.h>

#include "npu/plugin.h"
#include "npu/program.h"
#include "npu_lower.h"
#ifdef NPU_HAVE_VULKAN_RUNTIME
#include "vulkan_runtime.h"
#endif

static npu_status_t validate_spirv(const npu_program_kernel_t *k) {
  if (!k->spirv || k->spirv_words == 0)
    return npu_error(NPU_STATUS_INTERNAL, "vulkan: kernel '%s' has no SPIR-V", k->name);
  spv_context context = spvContextCreate(SPV_ENV_VULKAN_1_1);
  if (!context) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "vulkan: spvContextCreate failed");
  spv_const_binary_t binary = {.code = k->spirv, .wordCount = (size_t)k->spirv_words};
  spv_diagnostic diag = NULL;
  spv_result_t r = spvValidate(context, &binary, &diag);
  npu_status_t st = NULL;
  if (r != SPV_SUCCESS)
    st = npu_error(NPU_STATUS_INTERNAL, "vulkan: kernel '%s' is invalid SPIR-V: %s", k->name,
                   diag && diag->error ? diag->error : "(no diagnostic)");
  spvDiagnosticDestroy(diag);
  spvContextDestroy(context);
  return st;
}

static npu_status_t vulkan_emit(npu_pass_context_t *ctx, const npu_graph_t *graph,
                                const npu_options_t *options, const char *output_path) {
  const char *precision = options ? npu_options_get_string(options, "precision") : NULL;
  npu_lower_options_t lo = {.backend = "vulkan", .embed_spirv = true, .alignment = 256};
  NPU_RETURN_IF_ERROR(npu_lower_parse_precision(precision, &lo.precision));
  npu_program_t *program = NULL;
  NPU_RETURN_IF_ERROR(npu_lower_graph(graph, &lo, &program));
  npu_status_t st = NULL;
  for (int32_t i = 0; i < npu_program_kernel_count(program) && !st; i++)
    st = validate_spirv(npu_program_kernel(program, i));
  if (!st && ctx) {
    npu_pass_stat_add(ctx, "dispatches", npu_program_dispatch_count(program));
    npu_pass_stat_add(ctx, "kernels", npu_program_kernel_count(program));
  }
  if (!st) st = npu_program_write_npubin(program, output_path);
  npu_program_destroy(program);
  return st;
}

static const char *const precision_choices[] = {"fp32", "fp16", NULL};
static const npu_option_spec_t vulkan_options[] = {
    {.name = "precision", .type = NPU_OPTION_STRING, .default_value = "fp32",
     .help = "compute precision: fp16 stores activations and weights as float16 (inputs and outputs stay float32)",
     .choices = precision_choices},
};

static const npu_backend_info_t backends[] = {
    {.name = "vulkan",
     .summary = "SPIR-V compute kernels run by the Vulkan executor",
     .options = vulkan_options,
     .num_options = 1,
     .output_extension = ".npubin",
     .emit = vulkan_emit,
#ifdef NPU_HAVE_VULKAN_RUNTIME
     .runtime = &npu_vulkan_runtime_backend,
#else
     .runtime = NULL, /* TODO: the executor library is not built */
#endif
    },
};

NPU_PLUGIN_EXPORT const npu_plugin_descriptor_t *npu_plugin_entry(void) {
  static const npu_plugin_descriptor_t d = {
      .abi_version = NPU_PLUGIN_ABI_VERSION, .name = "vulkan", .version = "1.0",
      .summary = "Vulkan backend", .backends = backends, .num_backends = 1};
  return &d;
}
