/* The pass manager: runs a resolved pipeline's passes over a graph with
 * verification and instrumentation, then the backend. Also the
 * npu_pass_context_t that plugins see (plugin.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "npu/graph_io.h"
#include "pipeline_internal.h"


typedef struct counter {
  char *name;
  int64_t value;
} counter_t;

struct npu_pass_context {
  const char *pass_name;
  const char *base_dir;
  bool verbose;
  FILE *log;
  counter_t *counters;
  int32_t num_counters;
  bool oom;
};

static npu_status_t oom(void) { return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory"); }

void npu_pass_stat_add(npu_pass_context_t *ctx, const char *counter, int64_t delta) {
  if (!ctx || !counter) return;
  for (int32_t i = 0; i < ctx->num_counters; i++)
    if (strcmp(ctx->counters[i].name, counter) == 0) {
      ctx->counters[i].value += delta;
      return;
    }
  counter_t *c = realloc(ctx->counters, sizeof *c * (size_t)(ctx->num_counters + 1));
  if (!c) {
    ctx->oom = true;
    return;
  }
  ctx->counters = c;
  char *name = strdup(counter);
  if (!name) {
    ctx->oom = true;
    return;
  }
  ctx->counters[ctx->num_counters].name = name;
  ctx->counters[ctx->num_counters].value = delta;
  ctx->num_counters++;
}

void npu_pass_remark(npu_pass_context_t *ctx, const char *fmt, ...) {
  if (!ctx || !ctx->verbose) return;
  FILE *log = ctx->log ? ctx->log : stderr;
  fprintf(log, "%s: remark: ", ctx->pass_name ? ctx->pass_name : "npuc");
  va_list ap;
  va_start(ap, fmt);
  vfprintf(log, fmt, ap);
  va_end(ap);
  fputc('\n', log);
}

const char *npu_pass_base_dir(const npu_pass_context_t *ctx) {
  return ctx && ctx->base_dir ? ctx->base_dir : ".";
}

static void context_reset(npu_pass_context_t *ctx) {
  for (int32_t i = 0; i < ctx->num_counters; i++) free(ctx->counters[i].name);
  free(ctx->counters);
  ctx->counters = NULL;
  ctx->num_counters = 0;
}

npu_status_t npu_pass_context_create(const char *pass_name, npu_pass_context_t **out) {
  *out = calloc(1, sizeof **out);
  if (!*out) return oom();
  (*out)->pass_name = pass_name;
  return NULL;
}

int64_t npu_pass_context_stat(const npu_pass_context_t *ctx, const char *counter) {
  for (int32_t i = 0; ctx && i < ctx->num_counters; i++)
    if (strcmp(ctx->counters[i].name, counter) == 0) return ctx->counters[i].value;
  return 0;
}

void npu_pass_context_destroy(npu_pass_context_t *ctx) {
  if (!ctx) return;
  context_reset(ctx);
  free(ctx);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const npu_pass_manager_options_t default_options;

static bool pipeline_has_pass(const npu_pipeline_t *p, const char *name) {
  for (int32_t i = 0; i < p->num_passes; i++)
    if (strcmp(p->passes[i].name, name) == 0) return true;
  return false;
}

npu_status_t npu_pass_manager_check_options(const npu_pipeline_t *p,
                                            const npu_pass_manager_options_t *opts) {
  if (!opts) return NULL;
  if (opts->print_ir_after && !pipeline_has_pass(p, opts->print_ir_after))
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "--print-ir-after=%s: the pipeline %s has no pass '%s'", opts->print_ir_after,
                     p->origin, opts->print_ir_after);
  if (opts->stop_after && !pipeline_has_pass(p, opts->stop_after))
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "--stop-after=%s: the pipeline %s has no pass '%s'",
                     opts->stop_after, p->origin, opts->stop_after);
  return NULL;
}

static npu_status_t print_ir(const npu_graph_t *g, FILE *out, const char *title) {
  fprintf(out, "// ----- IR %s -----\n", title);
  NPU_RETURN_IF_ERROR(npu_graph_print_text(g, out));
  fflush(out);
  return NULL;
}

static npu_status_t dump_dot(const npu_graph_t *g, const char *dir, int index, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 32;
  char *path = malloc(n);
  if (!path) return oom();
  snprintf(path, n, "%s/%02d-%s.dot", dir, index, name);
  FILE *f = fopen(path, "w");
  if (!f) {
    npu_status_t st = npu_error_at(NPU_STATUS_IO_ERROR, path, "cannot write dot file: %s",
                                   strerror(errno));
    free(path);
    return st;
  }
  npu_status_t st = npu_graph_print_dot(g, f);
  if (fclose(f) != 0 && !st)
    st = npu_error_at(NPU_STATUS_IO_ERROR, path, "cannot write dot file: %s", strerror(errno));
  free(path);
  return st;
}

static void print_stats(FILE *log, const npu_pass_context_t *ctx) {
  for (int32_t i = 0; i < ctx->num_counters; i++)
    fprintf(log, "%s: %lld %s\n", ctx->pass_name, (long long)ctx->counters[i].value,
            ctx->counters[i].name);
}

npu_status_t npu_pipeline_run_passes(const npu_pipeline_t *p, npu_graph_t *g,
                                     const npu_pass_manager_options_t *opts) {
  if (!opts) opts = &default_options;
  if (!p->resolved)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "pipeline %s is not resolved", p->origin);
  NPU_RETURN_IF_ERROR(npu_pass_manager_check_options(p, opts));
  FILE *ir = opts->ir_stream ? opts->ir_stream : stdout;
  FILE *log = opts->log_stream ? opts->log_stream : stderr;
  if (opts->dump_dot_dir) {
    if (mkdir(opts->dump_dot_dir, 0755) != 0 && errno != EEXIST)
      return npu_error_at(NPU_STATUS_IO_ERROR, opts->dump_dot_dir, "cannot create directory: %s",
                          strerror(errno));
    NPU_RETURN_IF_ERROR(dump_dot(g, opts->dump_dot_dir, 0, "input"));
  }
  /* times[2i] = the pass, times[2i+1] = the verifier after it. */
  double *times = calloc((size_t)(p->num_passes ? 2 * p->num_passes : 2), sizeof *times);
  if (!times) return oom();
  int32_t ran = 0;
  npu_status_t st = NULL;
  for (int32_t i = 0; i < p->num_passes && !st; i++) {
    const pipeline_pass_t *ps = &p->passes[i];
    npu_pass_context_t ctx = {.pass_name = ps->name, .base_dir = p->base_dir,
                              .verbose = opts->verbose, .log = log};
    if (opts->verbose) fprintf(log, "npuc: running pass %s\n", ps->name);
    double t0 = now_ms();
    st = ps->info->run(&ctx, g, ps->options);
    times[2 * i] = now_ms() - t0;
    ran = i + 1;
    if (st) {
      st = npu_status_annotate(st, NULL, "pass '%s' failed", ps->name);
    } else if (ctx.oom) {
      st = oom();
    } else if (!opts->no_verify) {
      t0 = now_ms();
      st = npu_graph_verify(g);
      times[2 * i + 1] = now_ms() - t0;
      if (st) st = npu_status_annotate(st, NULL, "the graph is invalid after pass '%s'", ps->name);
    }
    if (opts->stats) print_stats(log, &ctx);
    context_reset(&ctx);
    if (!st && (opts->print_ir_after_all ||
                (opts->print_ir_after && strcmp(opts->print_ir_after, ps->name) == 0))) {
      char title[512];
      snprintf(title, sizeof title, "after %s", ps->name);
      st = print_ir(g, ir, title);
    }
    if (!st && opts->dump_dot_dir) st = dump_dot(g, opts->dump_dot_dir, i + 1, ps->name);
    if (!st && opts->stop_after && strcmp(opts->stop_after, ps->name) == 0) {
      if (opts->verbose) fprintf(log, "npuc: stopping after pass %s\n", ps->name);
      break;
    }
  }
  if (opts->time_passes) {
    double total = 0;
    for (int32_t i = 0; i < 2 * ran; i++) total += times[i];
    fprintf(log, "===-------------------------------------------------===\n");
    fprintf(log, "%-32s %9s %9s %7s\n", "pass", "run ms", "verify ms", "%");
    for (int32_t i = 0; i < ran; i++)
      fprintf(log, "%-32s %9.3f %9.3f %6.1f%%\n", p->passes[i].name, times[2 * i],
              times[2 * i + 1],
              total > 0 ? 100.0 * (times[2 * i] + times[2 * i + 1]) / total : 0.0);
    fprintf(log, "%-32s %19.3f %6.1f%%\n", "total", total, total > 0 ? 100.0 : 0.0);
  }
  free(times);
  return st;
}

npu_status_t npu_pipeline_emit(const npu_pipeline_t *p, const npu_graph_t *g,
                               const npu_pass_manager_options_t *opts) {
  if (!opts) opts = &default_options;
  if (!p->resolved || !p->backend)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "pipeline %s is not resolved", p->origin);
  FILE *log = opts->log_stream ? opts->log_stream : stderr;
  const char *out = npu_pipeline_output(p);
  npu_pass_context_t ctx = {.pass_name = p->backend->name, .base_dir = p->base_dir,
                            .verbose = opts->verbose, .log = log};
  if (opts->verbose) fprintf(log, "npuc: backend %s -> %s\n", p->backend->name, out);
  double t0 = now_ms();
  npu_status_t st = p->backend->emit(&ctx, g, p->backend_options, out);
  double ms = now_ms() - t0;
  if (st) st = npu_status_annotate(st, NULL, "backend '%s' failed", p->backend->name);
  if (opts->stats) print_stats(log, &ctx);
  if (opts->time_passes) fprintf(log, "%-32s %10.3f\n", "backend", ms);
  context_reset(&ctx);
  return st;
}

npu_status_t npu_pipeline_run(const npu_pipeline_t *p, const npu_pass_manager_options_t *opts) {
  if (!p->resolved)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "pipeline %s is not resolved", p->origin);
  NPU_RETURN_IF_ERROR(npu_pass_manager_check_options(p, opts));
  npu_graph_t *g = NULL;
  double t0 = now_ms();
  NPU_RETURN_IF_ERROR(npu_graph_import_json_file(p->input, &g));
  if (opts && opts->time_passes) {
    FILE *log = opts->log_stream ? opts->log_stream : stderr;
    fprintf(log, "%-32s %9.3f  (parse, resolve, verify)\n", "import", now_ms() - t0);
  }
  npu_status_t st = npu_pipeline_run_passes(p, g, opts);
  if (!st) st = npu_pipeline_emit(p, g, opts);
  npu_graph_destroy(g);
  return st;
}
