/* npuc: compiles a pytorch-ir JSON graph through a YAML pipeline of plugin
 * passes to a backend's output. See docs/pipeline-yaml.md. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npu/ops.h"
#include "npu/pipeline.h"
#include "npu/plugin_registry.h"
#include "npu/program.h"

#ifndef NPU_VERSION
#define NPU_VERSION "0"
#endif

enum { EXIT_OK = 0, EXIT_COMPILE = 1, EXIT_USAGE = 2, EXIT_INTERNAL = 3 };

static const char usage_text[] =
    "usage: npuc --pipeline FILE.yaml [options]\n"
    "       npuc --dump FILE.npubin\n"
    "       npuc --list-passes | --list-plugins | --list-ops | --help | --version\n"
    "\n"
    "Compiles the pipeline's input IR (pytorch-ir JSON) through its passes and\n"
    "backend. The whole pipeline is validated before anything runs.\n"
    "\n"
    "  -p, --pipeline FILE        the pipeline YAML (docs/pipeline-yaml.md)\n"
    "  -i, --input IR.json        override the pipeline's input (relative to the CWD)\n"
    "  -o, --output OUT           override the output path\n"
    "      --backend NAME         override the pipeline's backend (drops its options)\n"
    "      --plugin-path DIR      search DIR for plugins first (repeatable)\n"
    "      --print-ir-after-all   print the IR (stdout) after every pass\n"
    "      --print-ir-after=NAME  print the IR after pass NAME\n"
    "      --time-passes          print a table of pass times (stderr)\n"
    "      --dump-dot DIR         write DIR/NN-PASS.dot after each pass (00-input.dot first)\n"
    "      --stats                print pass statistics (stderr)\n"
    "      --stop-after=NAME      run no pass after NAME (the backend still runs)\n"
    "      --no-verify            do not verify the graph after each pass\n"
    "  -v, --verbose              progress and pass remarks (stderr)\n"
    "      --dump FILE.npubin     print a compiled program: header, sections, tensors,\n"
    "                             buffers, weights, kernels, dispatches\n"
    "      --list-passes          list the passes of all loaded plugins\n"
    "      --list-plugins         list the loaded plugins\n"
    "      --list-ops             list the registered ops\n"
    "  -h, --help                 this text\n"
    "      --version              the npuc version and plugin ABI\n"
    "\n"
    "Plugins are searched in: --plugin-path, the pipeline's plugin_path,\n"
    "NPU_PLUGIN_PATH (colon-separated), the build tree, the install prefix.\n"
    "\n"
    "Exit status: 0 success; 1 compile error (bad pipeline or input, failed pass);\n"
    "2 usage error; 3 internal or I/O error.\n";

static int exit_code_for(npu_status_t st) {
  switch (npu_status_code(st)) {
    case NPU_STATUS_OK: return EXIT_OK;
    case NPU_STATUS_INVALID_ARGUMENT:
    case NPU_STATUS_PARSE_ERROR:
    case NPU_STATUS_NOT_FOUND:
    case NPU_STATUS_UNSUPPORTED:
    case NPU_STATUS_VERIFY_FAILED:
    case NPU_STATUS_ABI_MISMATCH: return EXIT_COMPILE;
    default: return EXIT_INTERNAL;
  }
}

static int fail(npu_status_t st) {
  int code = exit_code_for(st);
  npu_status_fprint(stderr, st);
  npu_status_free(st);
  return code;
}

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "npuc: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry 'npuc --help'.\n");
  return EXIT_USAGE;
}

static const char *type_name(npu_option_type_t t) {
  switch (t) {
    case NPU_OPTION_BOOL: return "bool";
    case NPU_OPTION_INT: return "int";
    case NPU_OPTION_FLOAT: return "float";
    case NPU_OPTION_STRING: return "string";
  }
  return "?";
}

static void list_options(const npu_option_spec_t *opts, int32_t n) {
  for (int32_t i = 0; i < n; i++) {
    printf("      %s: %s = %s", opts[i].name, type_name(opts[i].type),
           opts[i].default_value ? opts[i].default_value : "");
    if (opts[i].choices) {
      printf(" {");
      for (const char *const *c = opts[i].choices; *c; c++)
        printf("%s%s", c == opts[i].choices ? "" : "|", *c);
      printf("}");
    }
    if (opts[i].help) printf("  %s", opts[i].help);
    printf("\n");
  }
}

static void list_passes(const npu_plugin_registry_t *reg) {
  for (int32_t i = 0; i < npu_plugin_registry_count(reg); i++) {
    const npu_plugin_record_t *r = npu_plugin_registry_get(reg, i);
    const npu_plugin_descriptor_t *d = r->descriptor;
    for (int32_t j = 0; j < d->num_passes; j++) {
      printf("%-24s %s  [%s %s]\n", d->passes[j].name,
             d->passes[j].summary ? d->passes[j].summary : "", d->name ? d->name : "?",
             d->version ? d->version : "");
      list_options(d->passes[j].options, d->passes[j].num_options);
    }
  }
  for (int32_t i = 0; i < npu_plugin_registry_count(reg); i++) {
    const npu_plugin_descriptor_t *d = npu_plugin_registry_get(reg, i)->descriptor;
    for (int32_t j = 0; j < d->num_backends; j++) {
      printf("backend %-16s %s  [%s %s] (output %s)\n", d->backends[j].name,
             d->backends[j].summary ? d->backends[j].summary : "", d->name ? d->name : "?",
             d->version ? d->version : "",
             d->backends[j].output_extension ? d->backends[j].output_extension : "");
      list_options(d->backends[j].options, d->backends[j].num_options);
    }
  }
}

static void list_plugins(const npu_plugin_registry_t *reg) {
  for (int32_t i = 0; i < npu_plugin_registry_count(reg); i++) {
    const npu_plugin_record_t *r = npu_plugin_registry_get(reg, i);
    const npu_plugin_descriptor_t *d = r->descriptor;
    printf("%-20s %-8s %s\n", d->name ? d->name : "?", d->version ? d->version : "", r->path);
    if (d->summary) printf("    %s\n", d->summary);
    printf("    passes: %d, backends: %d, ops: %d\n", (int)d->num_passes, (int)d->num_backends,
           (int)d->num_ops);
  }
  printf("search path:\n");
  for (int32_t i = 0; i < npu_plugin_registry_search_path_count(reg); i++)
    printf("    %s\n", npu_plugin_registry_search_path(reg, i));
}

static void list_ops(void) {
  int32_t n = 0;
  const npu_op_schema_t *const *ops = npu_op_list(&n);
  for (int32_t i = 0; i < n; i++)
    printf("%-40s %s\n", ops[i]->name, ops[i]->summary ? ops[i]->summary : "");
}

enum {
  OPT_BACKEND = 256,
  OPT_PLUGIN_PATH,
  OPT_PRINT_ALL,
  OPT_PRINT_AFTER,
  OPT_TIME,
  OPT_DUMP_DOT,
  OPT_STATS,
  OPT_STOP_AFTER,
  OPT_NO_VERIFY,
  OPT_LIST_PASSES,
  OPT_LIST_PLUGINS,
  OPT_LIST_OPS,
  OPT_VERSION,
  OPT_DUMP,
};

int main(int argc, char **argv) {
  static const struct option longopts[] = {
      {"pipeline", required_argument, NULL, 'p'},
      {"input", required_argument, NULL, 'i'},
      {"output", required_argument, NULL, 'o'},
      {"backend", required_argument, NULL, OPT_BACKEND},
      {"plugin-path", required_argument, NULL, OPT_PLUGIN_PATH},
      {"print-ir-after-all", no_argument, NULL, OPT_PRINT_ALL},
      {"print-ir-after", required_argument, NULL, OPT_PRINT_AFTER},
      {"time-passes", no_argument, NULL, OPT_TIME},
      {"dump-dot", required_argument, NULL, OPT_DUMP_DOT},
      {"stats", no_argument, NULL, OPT_STATS},
      {"stop-after", required_argument, NULL, OPT_STOP_AFTER},
      {"no-verify", no_argument, NULL, OPT_NO_VERIFY},
      {"verbose", no_argument, NULL, 'v'},
      {"list-passes", no_argument, NULL, OPT_LIST_PASSES},
      {"list-plugins", no_argument, NULL, OPT_LIST_PLUGINS},
      {"list-ops", no_argument, NULL, OPT_LIST_OPS},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, OPT_VERSION},
      {"dump", required_argument, NULL, OPT_DUMP},
      {NULL, 0, NULL, 0},
  };
  const char *pipeline_path = NULL, *input = NULL, *output = NULL, *backend = NULL;
  const char *dump_path = NULL;
  const char **plugin_paths = calloc((size_t)argc + 1, sizeof *plugin_paths);
  int num_plugin_paths = 0;
  bool list_p = false, list_pl = false, list_o = false;
  npu_pass_manager_options_t pm = {0};
  if (!plugin_paths) return EXIT_INTERNAL;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":p:i:o:vh", longopts, NULL)) != -1) {
    switch (c) {
      case 'p': pipeline_path = optarg; break;
      case 'i': input = optarg; break;
      case 'o': output = optarg; break;
      case OPT_BACKEND: backend = optarg; break;
      case OPT_PLUGIN_PATH: plugin_paths[num_plugin_paths++] = optarg; break;
      case OPT_PRINT_ALL: pm.print_ir_after_all = true; break;
      case OPT_PRINT_AFTER: pm.print_ir_after = optarg; break;
      case OPT_TIME: pm.time_passes = true; break;
      case OPT_DUMP_DOT: pm.dump_dot_dir = optarg; break;
      case OPT_STATS: pm.stats = true; break;
      case OPT_STOP_AFTER: pm.stop_after = optarg; break;
      case OPT_NO_VERIFY: pm.no_verify = true; break;
      case 'v': pm.verbose = true; break;
      case OPT_LIST_PASSES: list_p = true; break;
      case OPT_LIST_PLUGINS: list_pl = true; break;
      case OPT_LIST_OPS: list_o = true; break;
      case OPT_DUMP: dump_path = optarg; break;
      case 'h':
        fputs(usage_text, stdout);
        free(plugin_paths);
        return EXIT_OK;
      case OPT_VERSION:
        printf("npuc %s (plugin ABI %u)\n", NPU_VERSION, (unsigned)NPU_PLUGIN_ABI_VERSION);
        free(plugin_paths);
        return EXIT_OK;
      case ':':
        free(plugin_paths);
        return usage_error("option '%s' needs an argument", argv[optind - 1]);
      default:
        free(plugin_paths);
        return usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc) {
    int rc = usage_error("unexpected argument '%s' (the pipeline goes after --pipeline)",
                         argv[optind]);
    free(plugin_paths);
    return rc;
  }
  if (dump_path) {
    free(plugin_paths);
    npu_program_t *prog = NULL;
    npu_status_t dst = npu_program_read_npubin(dump_path, &prog);
    if (!dst) dst = npu_program_dump(prog, stdout);
    npu_program_destroy(prog);
    return dst ? fail(dst) : EXIT_OK;
  }
  bool listing = list_p || list_pl || list_o;
  if (!pipeline_path && !listing) {
    free(plugin_paths);
    return usage_error("%s", "no --pipeline given");
  }

  int rc = EXIT_OK;
  npu_status_t st = NULL;
  npu_pipeline_t *p = NULL;
  npu_plugin_registry_t *reg = NULL;
  if (pipeline_path) st = npu_pipeline_parse_file(pipeline_path, &p);
  if (!st && p && input) st = npu_pipeline_set_input(p, input);
  if (!st && p && output) st = npu_pipeline_set_output(p, output);
  if (!st && p && backend) st = npu_pipeline_set_backend(p, backend);
  if (!st) st = npu_plugin_registry_create(0, &reg);
  for (int i = 0; i < num_plugin_paths && !st; i++)
    st = npu_plugin_registry_add_path(reg, plugin_paths[i]);
  if (!st && p) st = npu_pipeline_add_plugin_paths(p, reg);
  if (!st) st = npu_ops_register_builtins();
  if (!st) st = npu_plugin_registry_load(reg);
  if (st) {
    rc = fail(st);
    goto done;
  }
  if (listing) {
    if (list_pl) list_plugins(reg);
    if (list_p) list_passes(reg);
    if (list_o) list_ops();
    goto done;
  }
  st = npu_pipeline_resolve(p, reg);
  if (st) {
    rc = fail(st);
    goto done;
  }
  st = npu_pass_manager_check_options(p, &pm);
  if (st) {
    npu_status_fprint(stderr, st);
    npu_status_free(st);
    rc = EXIT_USAGE;
    goto done;
  }
  if (pm.verbose)
    fprintf(stderr, "npuc: %s: input %s, %d passes, backend %s, output %s\n",
            npu_pipeline_origin(p), npu_pipeline_input(p), (int)npu_pipeline_pass_count(p),
            npu_pipeline_backend_name(p), npu_pipeline_output(p));
  st = npu_pipeline_run(p, &pm);
  if (st) rc = fail(st);
done:
  npu_pipeline_destroy(p);
  npu_plugin_registry_destroy(reg);
  free(plugin_paths);
  return rc;
}
