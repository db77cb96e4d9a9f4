/* dladdr is a GNU extension. */
#define _GNU_SOURCE
/* The plugin registry: dlopen every *.so of a search path, check the ABI,
 * register ops, and look passes and backends up by name. */
#include <dirent.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "npu/ops.h"
#include "npu/plugin_registry.h"

#ifndef NPU_BUILD_PLUGIN_DIR
#define NPU_BUILD_PLUGIN_DIR ""
#endif
#ifndef NPU_INSTALL_PLUGIN_DIR
#define NPU_INSTALL_PLUGIN_DIR ""
#endif

typedef struct plugin {
  npu_plugin_record_t record; /* record.path is owned */
  char *file_name;            /* basename, owned */
  void *handle;
} plugin_t;

struct npu_plugin_registry {
  uint32_t flags;
  char **explicit_dirs;
  int32_t num_explicit, cap_explicit;
  char **search; /* computed by build_search_path */
  int32_t num_search;
  int32_t loaded_explicit; /* explicit dirs already scanned */
  bool loaded_defaults;
  plugin_t *plugins;
  int32_t num_plugins, cap_plugins;
};

static npu_status_t oom(void) { return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory"); }

npu_status_t npu_plugin_registry_create(uint32_t flags, npu_plugin_registry_t **out) {
  *out = calloc(1, sizeof **out);
  if (!*out) return oom();
  (*out)->flags = flags;
  return NULL;
}

static void free_search(npu_plugin_registry_t *reg) {
  for (int32_t i = 0; i < reg->num_search; i++) free(reg->search[i]);
  free(reg->search);
  reg->search = NULL;
  reg->num_search = 0;
}

void npu_plugin_registry_destroy(npu_plugin_registry_t *reg) {
  if (!reg) return;
  for (int32_t i = reg->num_plugins - 1; i >= 0; i--) {
    plugin_t *p = &reg->plugins[i];
    /* The op registry borrows schemas from the plugin: keep it mapped. */
    if (p->handle && !(p->record.descriptor && p->record.descriptor->num_ops > 0))
      dlclose(p->handle);
    free((char *)p->record.path);
    free(p->file_name);
  }
  free(reg->plugins);
  for (int32_t i = 0; i < reg->num_explicit; i++) free(reg->explicit_dirs[i]);
  free(reg->explicit_dirs);
  free_search(reg);
  free(reg);
}

npu_status_t npu_plugin_registry_add_path(npu_plugin_registry_t *reg, const char *dir) {
  if (!dir || !*dir) return NULL;
  if (reg->num_explicit == reg->cap_explicit) {
    int32_t cap = reg->cap_explicit ? reg->cap_explicit * 2 : 8;
    char **d = realloc(reg->explicit_dirs, sizeof *d * (size_t)cap);
    if (!d) return oom();
    reg->explicit_dirs = d;
    reg->cap_explicit = cap;
  }
  char *copy = strdup(dir);
  if (!copy) return oom();
  reg->explicit_dirs[reg->num_explicit++] = copy;
  return NULL;
}

static npu_status_t push_search(npu_plugin_registry_t *reg, const char *dir, size_t len) {
  if (len == 0) return NULL;
  char *copy = strndup(dir, len);
  if (!copy) return oom();
  char **s = realloc(reg->search, sizeof *s * (size_t)(reg->num_search + 1));
  if (!s) {
    free(copy);
    return oom();
  }
  reg->search = s;
  reg->search[reg->num_search++] = copy;
  return NULL;
}

static bool is_dir(const char *path) {
  struct stat st;
  return path && *path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* "<directory of the loaded libnpuc>/npuc/plugins". */
static bool installed_plugin_dir(char *buf, size_t size) {
  Dl_info info;
  if (!dladdr((void *)&installed_plugin_dir, &info) || !info.dli_fname) return false;
  const char *slash = strrchr(info.dli_fname, '/');
  if (!slash) return false;
  int n = snprintf(buf, size, "%.*s/npuc/plugins", (int)(slash - info.dli_fname), info.dli_fname);
  return n > 0 && (size_t)n < size;
}

static npu_status_t build_search_path(npu_plugin_registry_t *reg) {
  free_search(reg);
  for (int32_t i = 0; i < reg->num_explicit; i++)
    NPU_RETURN_IF_ERROR(push_search(reg, reg->explicit_dirs[i], strlen(reg->explicit_dirs[i])));
  if (!(reg->flags & NPU_PLUGIN_REGISTRY_NO_ENV)) {
    const char *env = getenv("NPU_PLUGIN_PATH");
    while (env && *env) {
      const char *colon = strchr(env, ':');
      size_t len = colon ? (size_t)(colon - env) : strlen(env);
      NPU_RETURN_IF_ERROR(push_search(reg, env, len));
      env = colon ? colon + 1 : NULL;
    }
  }
  if (!(reg->flags & NPU_PLUGIN_REGISTRY_NO_DEFAULT_DIRS)) {
    /* The bundled plugins sit beside the libnpuc that is running: an installed
     * libnpuc finds <libdir>/npuc/plugins wherever the prefix was moved, and a
     * libnpuc in the build tree finds the build tree's plugin directory. Never
     * both, so an installed npuc cannot pick up a stale build tree. */
    char installed[4096];
    if (installed_plugin_dir(installed, sizeof installed) && is_dir(installed))
      NPU_RETURN_IF_ERROR(push_search(reg, installed, strlen(installed)));
    else if (is_dir(NPU_BUILD_PLUGIN_DIR))
      NPU_RETURN_IF_ERROR(push_search(reg, NPU_BUILD_PLUGIN_DIR, strlen(NPU_BUILD_PLUGIN_DIR)));
    else if (is_dir(NPU_INSTALL_PLUGIN_DIR))
      NPU_RETURN_IF_ERROR(push_search(reg, NPU_INSTALL_PLUGIN_DIR, strlen(NPU_INSTALL_PLUGIN_DIR)));
  }
  return NULL;
}

int32_t npu_plugin_registry_search_path_count(const npu_plugin_registry_t *reg) {
  if (!reg->search) build_search_path((npu_plugin_registry_t *)reg);
  return reg->num_search;
}

const char *npu_plugin_registry_search_path(const npu_plugin_registry_t *reg, int32_t index) {
  if (!reg->search) build_search_path((npu_plugin_registry_t *)reg);
  return index >= 0 && index < reg->num_search ? reg->search[index] : NULL;
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

static const plugin_t *find_by_file_name(const npu_plugin_registry_t *reg, const char *name) {
  for (int32_t i = 0; i < reg->num_plugins; i++)
    if (strcmp(reg->plugins[i].file_name, name) == 0) return &reg->plugins[i];
  return NULL;
}

/* Checks the descriptor's names against every loaded plugin. */
static npu_status_t check_conflicts(const npu_plugin_registry_t *reg, const char *path,
                                    const npu_plugin_descriptor_t *d) {
  if ((d->num_passes && !d->passes) || d->num_passes < 0 || (d->num_backends && !d->backends) ||
      d->num_backends < 0 || (d->num_ops && !d->ops) || d->num_ops < 0)
    return npu_error_at(NPU_STATUS_INVALID_ARGUMENT, path, "plugin descriptor has bad counts");
  for (int32_t i = 0; i < d->num_passes; i++) {
    const char *name = d->passes[i].name;
    if (!name || !*name || !d->passes[i].run)
      return npu_error_at(NPU_STATUS_INVALID_ARGUMENT, path,
                          "plugin pass #%d has no name or no run function", (int)i);
    for (int32_t j = 0; j < i; j++)
      if (strcmp(d->passes[j].name, name) == 0)
        return npu_error_at(NPU_STATUS_INVALID_ARGUMENT, path,
                            "plugin provides pass '%s' twice", name);
    const npu_plugin_record_t *other = NULL;
    if (npu_plugin_registry_find_pass(reg, name, &other))
      return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                       "pass '%s' is provided by two plugins: %s and %s", name, other->path, path);
  }
  for (int32_t i = 0; i < d->num_backends; i++) {
    const char *name = d->backends[i].name;
    if (!name || !*name || !d->backends[i].emit)
      return npu_error_at(NPU_STATUS_INVALID_ARGUMENT, path,
                          "plugin backend #%d has no name or no emit function", (int)i);
    for (int32_t j = 0; j < i; j++)
      if (strcmp(d->backends[j].name, name) == 0)
        return npu_error_at(NPU_STATUS_INVALID_ARGUMENT, path,
                            "plugin provides backend '%s' twice", name);
    const npu_plugin_record_t *other = NULL;
    if (npu_plugin_registry_find_backend(reg, name, &other))
      return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                       "backend '%s' is provided by two plugins: %s and %s", name, other->path,
                       path);
  }
  return NULL;
}

npu_status_t npu_plugin_registry_load_file(npu_plugin_registry_t *reg, const char *path) {
  const char *fname = base_name(path);
  if (find_by_file_name(reg, fname)) return NULL; /* shadowed */
  dlerror();
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    return npu_error_at(NPU_STATUS_IO_ERROR, path, "cannot load plugin: %s",
                        e ? e : "dlopen failed");
  }
  dlerror();
  void *sym = dlsym(h, NPU_PLUGIN_ENTRY_SYMBOL);
  if (!sym) {
    dlclose(h);
    return npu_error_at(NPU_STATUS_NOT_FOUND, path,
                        "plugin %s does not export the entry symbol '%s' (is it an npuc "
                        "plugin? did it use NPU_PLUGIN_EXPORT?)",
                        fname, NPU_PLUGIN_ENTRY_SYMBOL);
  }
  npu_plugin_entry_fn_t entry;
  memcpy(&entry, &sym, sizeof entry);
  const npu_plugin_descriptor_t *d = entry();
  if (!d) {
    dlclose(h);
    return npu_error_at(NPU_STATUS_INVALID_ARGUMENT, path,
                        "plugin %s: %s() returned NULL", fname, NPU_PLUGIN_ENTRY_SYMBOL);
  }
  if (d->abi_version != NPU_PLUGIN_ABI_VERSION) {
    unsigned got = d->abi_version;
    dlclose(h);
    return npu_error_at(NPU_STATUS_ABI_MISMATCH, path,
                        "plugin %s was built for plugin ABI %u, this npuc has ABI %u; "
                        "rebuild it against this npuc's headers",
                        fname, got, (unsigned)NPU_PLUGIN_ABI_VERSION);
  }
  npu_status_t st = check_conflicts(reg, path, d);
  if (st) {
    dlclose(h);
    return st;
  }
  for (int32_t i = 0; i < d->num_ops; i++) {
    st = npu_op_register(&d->ops[i]);
    if (st) {
      /* Earlier ops of this plugin may be registered: keep it mapped. */
      return npu_status_annotate(st, path, "plugin %s", fname);
    }
  }
  if (reg->num_plugins == reg->cap_plugins) {
    int32_t cap = reg->cap_plugins ? reg->cap_plugins * 2 : 8;
    plugin_t *p = realloc(reg->plugins, sizeof *p * (size_t)cap);
    if (!p) return oom();
    reg->plugins = p;
    reg->cap_plugins = cap;
  }
  plugin_t *p = &reg->plugins[reg->num_plugins];
  memset(p, 0, sizeof *p);
  char *pathc = strdup(path), *fnc = strdup(fname);
  if (!pathc || !fnc) {
    free(pathc);
    free(fnc);
    return oom();
  }
  p->record.path = pathc;
  p->record.descriptor = d;
  p->file_name = fnc;
  p->handle = h;
  reg->num_plugins++;
  return NULL;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static npu_status_t load_dir(npu_plugin_registry_t *reg, const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return NULL; /* a missing directory is not an error */
  char **names = NULL;
  size_t n = 0, cap = 0;
  npu_status_t st = NULL;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0 || e->d_name[0] == '.') continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      char **nn = realloc(names, sizeof *nn * cap);
      if (!nn) { st = oom(); break; }
      names = nn;
    }
    names[n] = strdup(e->d_name);
    if (!names[n]) { st = oom(); break; }
    n++;
  }
  closedir(d);
  if (!st && n) qsort(names, n, sizeof *names, compare_names);
  for (size_t i = 0; i < n && !st; i++) {
    size_t plen = strlen(dir) + strlen(names[i]) + 2;
    char *path = malloc(plen);
    if (!path) { st = oom(); break; }
    snprintf(path, plen, "%s/%s", dir, names[i]);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) st = npu_plugin_registry_load_file(reg, path);
    free(path);
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return st;
}

npu_status_t npu_plugin_registry_load(npu_plugin_registry_t *reg) {
  NPU_RETURN_IF_ERROR(build_search_path(reg));
  int32_t num_explicit = reg->num_explicit;
  for (int32_t i = 0; i < reg->num_search; i++) {
    /* Explicit dirs scanned by an earlier call are not scanned again;
     * env/default dirs are scanned once. Shadowing skips duplicates anyway. */
    bool explicit_dir = i < num_explicit;
    if (explicit_dir && i < reg->loaded_explicit) continue;
    if (!explicit_dir && reg->loaded_defaults) continue;
    NPU_RETURN_IF_ERROR(load_dir(reg, reg->search[i]));
  }
  reg->loaded_explicit = num_explicit;
  reg->loaded_defaults = true;
  return NULL;
}

int32_t npu_plugin_registry_count(const npu_plugin_registry_t *reg) { return reg->num_plugins; }

const npu_plugin_record_t *npu_plugin_registry_get(const npu_plugin_registry_t *reg, int32_t index) {
  return index >= 0 && index < reg->num_plugins ? &reg->plugins[index].record : NULL;
}

const npu_pass_info_t *npu_plugin_registry_find_pass(const npu_plugin_registry_t *reg,
                                                     const char *name,
                                                     const npu_plugin_record_t **out_plugin) {
  if (out_plugin) *out_plugin = NULL;
  if (!reg || !name) return NULL;
  for (int32_t i = 0; i < reg->num_plugins; i++) {
    const npu_plugin_descriptor_t *d = reg->plugins[i].record.descriptor;
    for (int32_t j = 0; j < d->num_passes; j++)
      if (strcmp(d->passes[j].name, name) == 0) {
        if (out_plugin) *out_plugin = &reg->plugins[i].record;
        return &d->passes[j];
      }
  }
  return NULL;
}

const npu_backend_info_t *npu_plugin_registry_find_backend(const npu_plugin_registry_t *reg,
                                                           const char *name,
                                                           const npu_plugin_record_t **out_plugin) {
  if (out_plugin) *out_plugin = NULL;
  if (!reg || !name) return NULL;
  for (int32_t i = 0; i < reg->num_plugins; i++) {
    const npu_plugin_descriptor_t *d = reg->plugins[i].record.descriptor;
    for (int32_t j = 0; j < d->num_backends; j++)
      if (strcmp(d->backends[j].name, name) == 0) {
        if (out_plugin) *out_plugin = &reg->plugins[i].record;
        return &d->backends[j];
      }
  }
  return NULL;
}
