/*
 * runtime/device.c — npu_device_*: finds the backend's runtime through the
 * plugin registry and opens one of its devices.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_internal.h"

static npu_status_t open_on(const npu_runtime_backend_t *be, npu_plugin_registry_t *reg,
                            const char *selector, npu_device_t **out) {
  if (!be->device_open || !be->device_close || !be->executor_create || !be->executor_destroy ||
      !be->buffer_write || !be->buffer_read || !be->run)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "the runtime of backend '%s' lacks a required call", be->name ? be->name : "?");
  npu_device_t *d = calloc(1, sizeof *d);
  if (!d) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory opening a device");
  d->backend = be;
  snprintf(d->backend_name, sizeof d->backend_name, "%s", be->name ? be->name : "");
  npu_status_t s = be->device_open(selector, &d->handle, d->name, sizeof d->name);
  if (s) {
    s = npu_status_annotate(s, NULL, "opening a %s device", d->backend_name[0] ? d->backend_name : "?");
    free(d);
    return s;
  }
  if (!d->name[0]) snprintf(d->name, sizeof d->name, "%s device", d->backend_name);
  d->registry = reg;
  *out = d;
  return NULL;
}

npu_status_t npu_device_open_backend(const npu_runtime_backend_t *backend, const char *selector,
                                     npu_device_t **out) {
  if (!backend || !out)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_device_open_backend: NULL argument");
  *out = NULL;
  return open_on(backend, NULL, selector, out);
}

npu_status_t npu_device_open(const char *backend, const char *selector, npu_device_t **out) {
  if (!out) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_device_open: NULL output");
  *out = NULL;
  if (!backend) backend = "vulkan";
  npu_plugin_registry_t *reg = NULL;
  npu_status_t s = npu_plugin_registry_create(0, &reg);
  if (!s) s = npu_plugin_registry_load(reg);
  if (s) {
    npu_plugin_registry_destroy(reg);
    return npu_status_annotate(s, NULL, "loading plugins to find backend '%s'", backend);
  }
  const npu_plugin_record_t *rec = NULL;
  const npu_backend_info_t *info = npu_plugin_registry_find_backend(reg, backend, &rec);
  if (!info) {
    char dirs[1024] = "";
    size_t len = 0;
    for (int32_t i = 0; i < npu_plugin_registry_search_path_count(reg) && len + 1 < sizeof dirs;
         i++) {
      int w = snprintf(dirs + len, sizeof dirs - len, "%s%s", i ? ":" : "",
                       npu_plugin_registry_search_path(reg, i));
      if (w < 0) break;
      len += (size_t)w;
    }
    npu_plugin_registry_destroy(reg);
    return npu_error(NPU_STATUS_NOT_FOUND,
                     "no plugin provides backend '%s' (plugin search path: %s; set "
                     "NPU_PLUGIN_PATH to add directories)",
                     backend, dirs[0] ? dirs : "(empty)");
  }
  if (!info->runtime) {
    npu_status_t e = npu_error(NPU_STATUS_UNSUPPORTED,
                               "backend '%s' (plugin %s) has no runtime: it writes no "
                               "runnable program",
                               backend, rec && rec->path ? rec->path : "?");
    npu_plugin_registry_destroy(reg);
    return e;
  }
  s = open_on(info->runtime, reg, selector, out);
  if (s) npu_plugin_registry_destroy(reg);
  return s;
}

const char *npu_device_name(const npu_device_t *d) { return d ? d->name : ""; }

const char *npu_device_backend(const npu_device_t *d) { return d ? d->backend_name : ""; }

void npu_device_close(npu_device_t *d) {
  if (!d) return;
  if (d->handle) d->backend->device_close(d->handle);
  if (d->registry) npu_plugin_registry_destroy(d->registry);
  free(d);
}
