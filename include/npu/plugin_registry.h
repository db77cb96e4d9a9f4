/*
 * npu/plugin_registry.h — finding, loading and querying plugins.
 *
 * A registry loads every "*.so" of a search path with
 * dlopen(RTLD_NOW | RTLD_LOCAL), calls its `npu_plugin_entry` and checks the
 * descriptor's abi_version against NPU_PLUGIN_ABI_VERSION exactly. The ops a
 * plugin declares are registered (npu_op_register) as it loads.
 *
 * Search order (first match of a file name wins, like PATH):
 *   1. directories added with npu_plugin_registry_add_path(), in order
 *      (npuc adds --plugin-path, then the pipeline's plugin_path);
 *   2. NPU_PLUGIN_PATH (colon-separated), unless NPU_PLUGIN_REGISTRY_NO_ENV;
 *   3. the build tree's plugin directory, if it exists, and
 *   4. the install prefix's plugin directory, unless
 *      NPU_PLUGIN_REGISTRY_NO_DEFAULT_DIRS.
 * A file whose name was already loaded from an earlier directory is skipped.
 * Two plugins that provide the same pass or backend name are an error naming
 * both files.
 *
 *   npu_plugin_registry_t *reg;
 *   npu_status_t s = npu_plugin_registry_create(0, &reg);
 *   if (!s) s = npu_plugin_registry_load(reg);
 *   const npu_pass_info_t *p = npu_plugin_registry_find_pass(reg, "dce", NULL);
 *   npu_plugin_registry_destroy(reg);
 */
#ifndef NPU_PLUGIN_REGISTRY_H
#define NPU_PLUGIN_REGISTRY_H

#include <stdint.h>

#include "npu/plugin.h"
#include "npu/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct npu_plugin_registry npu_plugin_registry_t;

enum {
  NPU_PLUGIN_REGISTRY_NO_ENV = 1u << 0,          /* ignore NPU_PLUGIN_PATH */
  NPU_PLUGIN_REGISTRY_NO_DEFAULT_DIRS = 1u << 1, /* no build/install dirs */
};

npu_status_t npu_plugin_registry_create(uint32_t flags, npu_plugin_registry_t **out_registry);
/* Unloads the plugins (dlclose), except those that registered ops: the op
 * registry keeps borrowed pointers into them, so they stay mapped. */
void npu_plugin_registry_destroy(npu_plugin_registry_t *reg);

/* Appends an explicit search directory (copied). Before npu_plugin_registry_load. */
npu_status_t npu_plugin_registry_add_path(npu_plugin_registry_t *reg, const char *dir);
/* Loads every plugin of the search path. A missing directory is skipped; a
 * plugin that fails to load is an error naming its file. Calling it again
 * loads only directories added since. */
npu_status_t npu_plugin_registry_load(npu_plugin_registry_t *reg);
/* Loads one plugin file (skipped if a plugin of that file name is loaded). */
npu_status_t npu_plugin_registry_load_file(npu_plugin_registry_t *reg, const char *path);

/* The directories searched, in order (including the env and default ones
 * that npu_plugin_registry_load would use). Borrowed. */
int32_t npu_plugin_registry_search_path_count(const npu_plugin_registry_t *reg);
const char *npu_plugin_registry_search_path(const npu_plugin_registry_t *reg, int32_t index);

/* Loaded plugins, in load order. */
typedef struct npu_plugin_record {
  const npu_plugin_descriptor_t *descriptor;
  const char *path; /* the file it was loaded from */
} npu_plugin_record_t;
int32_t npu_plugin_registry_count(const npu_plugin_registry_t *reg);
const npu_plugin_record_t *npu_plugin_registry_get(const npu_plugin_registry_t *reg, int32_t index);

/* NULL if unknown. *out_plugin (may be NULL) gets the providing plugin. */
const npu_pass_info_t *npu_plugin_registry_find_pass(const npu_plugin_registry_t *reg,
                                                     const char *name,
                                                     const npu_plugin_record_t **out_plugin);
const npu_backend_info_t *npu_plugin_registry_find_backend(const npu_plugin_registry_t *reg,
                                                           const char *name,
                                                           const npu_plugin_record_t **out_plugin);

#ifdef __cplusplus
}
#endif
#endif /* NPU_PLUGIN_REGISTRY_H */
