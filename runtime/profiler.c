/*
 * runtime/profiler.c — per-kernel totals from the backend's per-dispatch
 * timestamps, the printed summary and the Chrome trace.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_internal.h"

npu_status_t npu_profile_init(npu_executor_t *e) {
  e->num_dispatches = npu_program_dispatch_count(e->program);
  e->num_kernels = npu_program_kernel_count(e->program);
  size_t nd = e->num_dispatches > 0 ? (size_t)e->num_dispatches : 1;
  size_t nk = e->num_kernels > 0 ? (size_t)e->num_kernels : 1;
  e->dispatch_ns = calloc(2 * nd, sizeof *e->dispatch_ns);
  e->kernel_total_ns = calloc(nk, sizeof *e->kernel_total_ns);
  e->kernel_count = calloc(nk, sizeof *e->kernel_count);
  if (!e->dispatch_ns || !e->kernel_total_ns || !e->kernel_count)
    return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory for the profiler");
  return NULL;
}

void npu_profile_free(npu_executor_t *e) {
  free(e->dispatch_ns);
  free(e->kernel_total_ns);
  free(e->kernel_count);
}

static void reset(npu_executor_t *e) {
  memset(e->kernel_total_ns, 0, sizeof *e->kernel_total_ns * (size_t)(e->num_kernels > 0 ? e->num_kernels : 1));
  memset(e->kernel_count, 0, sizeof *e->kernel_count * (size_t)(e->num_kernels > 0 ? e->num_kernels : 1));
  e->profiled_runs = 0;
  e->device_total_ns = 0;
  e->host_total_ns = 0;
  e->last_host_ns = 0;
  e->have_trace = false;
}

void npu_profile_accumulate(npu_executor_t *e, uint64_t host_ns) {
  uint64_t first = UINT64_MAX, last = 0;
  for (int32_t i = 0; i < e->num_dispatches; i++) {
    uint64_t a = e->dispatch_ns[2 * i], b = e->dispatch_ns[2 * i + 1];
    uint64_t dur = b >= a ? b - a : 0;
    int32_t k = npu_program_dispatch(e->program, i)->kernel;
    if (k >= 0 && k < e->num_kernels) {
      e->kernel_total_ns[k] += dur;
      e->kernel_count[k]++;
    }
    if (a < first) first = a;
    if (b > last) last = b;
  }
  if (e->num_dispatches > 0 && last >= first) e->device_total_ns += last - first;
  e->host_total_ns += host_ns;
  e->last_host_ns = host_ns;
  e->profiled_runs++;
  e->have_trace = true;
}

npu_status_t npu_executor_enable_profiling(npu_executor_t *e, bool enabled) {
  if (!e) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_executor_enable_profiling: NULL executor");
  if (enabled && !e->profiling) reset(e);
  e->profiling = enabled;
  return NULL;
}

static const npu_executor_t *g_sort_exec; /* qsort has no context argument */

static int by_total_desc(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  uint64_t tx = g_sort_exec->kernel_total_ns[x], ty = g_sort_exec->kernel_total_ns[y];
  if (tx != ty) return tx > ty ? -1 : 1;
  return x < y ? -1 : x > y;
}

npu_status_t npu_executor_print_profile(npu_executor_t *e, FILE *stream) {
  if (!e || !stream) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_executor_print_profile: NULL argument");
  if (e->profiled_runs == 0)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "no profiled run: call npu_executor_enable_profiling(e, true) before running");
  int32_t n = e->num_kernels;
  int32_t *order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
  if (!order) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory printing the profile");
  int32_t m = 0;
  uint64_t sum = 0;
  for (int32_t k = 0; k < n; k++)
    if (e->kernel_count[k]) {
      order[m++] = k;
      sum += e->kernel_total_ns[k];
    }
  g_sort_exec = e;
  qsort(order, (size_t)m, sizeof *order, by_total_desc);
  g_sort_exec = NULL;
  double runs = (double)e->profiled_runs;
  fprintf(stream, "profile: %llu run(s) on %s: device %.3f ms/run, host %.3f ms/run (wall, submit+wait)\n",
          (unsigned long long)e->profiled_runs, e->dev->name, (double)e->device_total_ns / runs / 1e6,
          (double)e->host_total_ns / runs / 1e6);
  fprintf(stream, "%-40s %12s %8s %12s %7s\n", "kernel", "total ms", "count", "avg us", "%");
  for (int32_t i = 0; i < m; i++) {
    int32_t k = order[i];
    double tot = (double)e->kernel_total_ns[k];
    fprintf(stream, "%-40s %12.3f %8llu %12.3f %6.1f%%\n", npu_program_kernel(e->program, k)->name,
            tot / 1e6, (unsigned long long)e->kernel_count[k],
            tot / (double)e->kernel_count[k] / 1e3, sum ? 100.0 * tot / (double)sum : 0.0);
  }
  fprintf(stream, "%-40s %12.3f %8s %12s %6.1f%%\n", "(sum of dispatches)", (double)sum / 1e6, "", "",
          100.0);
  free(order);
  return NULL;
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      fputc('\\', f);
      fputc(c, f);
    } else if (c < 0x20) {
      fprintf(f, "\\u%04x", c);
    } else {
      fputc(c, f);
    }
  }
  fputc('"', f);
}

npu_status_t npu_executor_write_chrome_trace(npu_executor_t *e, const char *path) {
  if (!e || !path) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_executor_write_chrome_trace: NULL argument");
  if (!e->have_trace)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "no profiled run to trace: enable profiling and run first");
  FILE *f = fopen(path, "w");
  if (!f) return npu_error_at(NPU_STATUS_IO_ERROR, path, "cannot open for writing");
  uint64_t base = UINT64_MAX;
  for (int32_t i = 0; i < 2 * e->num_dispatches; i++)
    if (e->dispatch_ns[i] < base) base = e->dispatch_ns[i];
  fprintf(f, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[");
  for (int32_t i = 0; i < e->num_dispatches; i++) {
    const npu_program_dispatch_t *d = npu_program_dispatch(e->program, i);
    uint64_t a = e->dispatch_ns[2 * i], b = e->dispatch_ns[2 * i + 1];
    fprintf(f, "%s\n{\"name\":", i ? "," : "");
    json_string(f, npu_program_kernel(e->program, d->kernel)->name);
    fprintf(f, ",\"cat\":");
    json_string(f, d->node ? d->node : "");
    fprintf(f, ",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":0,\"tid\":0,"
               "\"args\":{\"dispatch\":%d,\"groups\":[%u,%u,%u]}}",
            (double)(a - base) / 1e3, (double)(b >= a ? b - a : 0) / 1e3, i, d->groups[0],
            d->groups[1], d->groups[2]);
  }
  fprintf(f, "\n]}\n");
  bool bad = ferror(f) != 0;
  if (fclose(f) != 0) bad = true;
  if (bad) return npu_error_at(NPU_STATUS_IO_ERROR, path, "write failed");
  return NULL;
}
