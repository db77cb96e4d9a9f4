/* The YAML pipeline loader: syntax and schema (npu_pipeline_parse), then
 * resolution against the loaded plugins (npu_pipeline_resolve). The format is
 * described in docs/pipeline-yaml.md. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "pipeline_internal.h"

static npu_status_t oom(void) { return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory"); }

typedef struct parse_state {
  npu_pipeline_t *p;
  yaml_document_t *doc;
} parse_state_t;

static void fmt_loc(const npu_pipeline_t *p, yaml_mark_t m, char *buf, size_t size) {
  snprintf(buf, size, "%s:%zu:%zu", p->origin, (size_t)m.line + 1, (size_t)m.column + 1);
}

static char *dup_loc(const npu_pipeline_t *p, yaml_mark_t m) {
  char buf[4096];
  fmt_loc(p, m, buf, sizeof buf);
  return strdup(buf);
}

static npu_status_t error_at_node(const parse_state_t *s, const yaml_node_t *n,
                                  const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static npu_status_t error_at_node(const parse_state_t *s, const yaml_node_t *n,
                                  const char *fmt, ...) {
  char loc[4096];
  fmt_loc(s->p, n->start_mark, loc, sizeof loc);
  va_list ap;
  va_start(ap, fmt);
  npu_status_t st = npu_error_v(NPU_STATUS_PARSE_ERROR, loc, fmt, ap);
  va_end(ap);
  return st;
}

static const char *kind_name(const yaml_node_t *n) {
  switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a sequence";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
  }
}

static const char *scalar(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static bool is_null(const yaml_node_t *n) {
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
  const char *v = scalar(n);
  return !*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
         strcmp(v, "NULL") == 0;
}

/* Checks that a mapping's keys are non-null scalars and unique. */
static npu_status_t check_mapping(const parse_state_t *s, const yaml_node_t *map, const char *what) {
  for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
    yaml_node_t *k = yaml_document_get_node(s->doc, a->key);
    if (!k || k->type != YAML_SCALAR_NODE || is_null(k))
      return error_at_node(s, k ? k : map, "keys of %s must be plain names, not %s", what,
                           k ? (is_null(k) ? "empty" : kind_name(k)) : "nothing");
    for (yaml_node_pair_t *b = map->data.mapping.pairs.start; b < a; b++) {
      yaml_node_t *k2 = yaml_document_get_node(s->doc, b->key);
      if (strcmp(scalar(k), scalar(k2)) == 0)
        return error_at_node(s, k, "duplicate key '%s' in %s (first at line %zu, column %zu)",
                             scalar(k), what, (size_t)k2->start_mark.line + 1,
                             (size_t)k2->start_mark.column + 1);
    }
  }
  return NULL;
}

static char *join_path(const char *base, const char *rel) {
  if (rel[0] == '/' || !base || !*base || strcmp(base, ".") == 0) return strdup(rel);
  size_t n = strlen(base) + strlen(rel) + 2;
  char *out = malloc(n);
  if (out) snprintf(out, n, "%s/%s", base, rel);
  return out;
}

static npu_status_t parse_path_scalar(const parse_state_t *s, const yaml_node_t *v,
                                      const char *key, char **out) {
  if (v->type != YAML_SCALAR_NODE || is_null(v))
    return error_at_node(s, v, "'%s' must be a path (a string), not %s", key,
                         is_null(v) ? "empty" : kind_name(v));
  *out = strdup(scalar(v));
  return *out ? NULL : oom();
}

static npu_status_t parse_settings(const parse_state_t *s, const yaml_node_t *map,
                                   const char *owner, pipeline_settings_t *out) {
  if (is_null(map)) return NULL;
  if (map->type != YAML_MAPPING_NODE)
    return error_at_node(s, map, "options of %s must be a mapping (name: value), not %s", owner,
                         kind_name(map));
  NPU_RETURN_IF_ERROR(check_mapping(s, map, "options"));
  size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
  out->items = calloc(n ? n : 1, sizeof *out->items);
  if (!out->items) return oom();
  for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
    yaml_node_t *k = yaml_document_get_node(s->doc, a->key);
    yaml_node_t *v = yaml_document_get_node(s->doc, a->value);
    if (!v || v->type != YAML_SCALAR_NODE)
      return error_at_node(s, v ? v : k,
                           "option '%s' of %s must be a scalar value, not %s", scalar(k), owner,
                           v ? kind_name(v) : "nothing");
    if (is_null(v))
      return error_at_node(s, v, "option '%s' of %s has no value", scalar(k), owner);
    npu_option_setting_t *it = &out->items[out->count++];
    it->name = strdup(scalar(k));
    it->value = strdup(scalar(v));
    it->location = dup_loc(s->p, v->start_mark);
    it->name_location = dup_loc(s->p, k->start_mark);
    if (!it->name || !it->value || !it->location || !it->name_location) return oom();
  }
  return NULL;
}

static npu_status_t add_pass(const parse_state_t *s, const yaml_node_t *name_node,
                             pipeline_pass_t **out) {
  npu_pipeline_t *p = s->p;
  if (name_node->type != YAML_SCALAR_NODE || is_null(name_node))
    return error_at_node(s, name_node, "a pass must be named by a string, not %s",
                         is_null(name_node) ? "an empty value" : kind_name(name_node));
  pipeline_pass_t *np = realloc(p->passes, sizeof *np * (size_t)(p->num_passes + 1));
  if (!np) return oom();
  p->passes = np;
  pipeline_pass_t *ps = &p->passes[p->num_passes++];
  memset(ps, 0, sizeof *ps);
  ps->name = strdup(scalar(name_node));
  ps->location = dup_loc(p, name_node->start_mark);
  if (!ps->name || !ps->location) return oom();
  *out = ps;
  return NULL;
}

static npu_status_t parse_passes(const parse_state_t *s, const yaml_node_t *seq) {
  if (seq->type != YAML_SEQUENCE_NODE)
    return error_at_node(s, seq, "'passes' must be a sequence (a list of passes), not %s",
                         is_null(seq) ? "empty" : kind_name(seq));
  for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
    yaml_node_t *item = yaml_document_get_node(s->doc, *it);
    if (!item) continue;
    pipeline_pass_t *ps = NULL;
    if (item->type == YAML_SCALAR_NODE) {
      NPU_RETURN_IF_ERROR(add_pass(s, item, &ps));
    } else if (item->type == YAML_MAPPING_NODE) {
      size_t n = (size_t)(item->data.mapping.pairs.top - item->data.mapping.pairs.start);
      if (n != 1)
        return error_at_node(s, item,
                             "a pass entry must be NAME or NAME: {options}; this mapping has %zu keys",
                             n);
      yaml_node_t *k = yaml_document_get_node(s->doc, item->data.mapping.pairs.start->key);
      yaml_node_t *v = yaml_document_get_node(s->doc, item->data.mapping.pairs.start->value);
      if (!k || !v) return error_at_node(s, item, "malformed pass entry");
      NPU_RETURN_IF_ERROR(add_pass(s, k, &ps));
      char owner[512];
      snprintf(owner, sizeof owner, "pass '%s'", ps->name);
      NPU_RETURN_IF_ERROR(parse_settings(s, v, owner, &ps->settings));
    } else {
      return error_at_node(s, item, "a pass entry must be NAME or NAME: {options}, not %s",
                           kind_name(item));
    }
  }
  return NULL;
}

static npu_status_t set_backend_name(const parse_state_t *s, const yaml_node_t *v) {
  if (v->type != YAML_SCALAR_NODE || is_null(v))
    return error_at_node(s, v, "the backend name must be a string, not %s",
                         is_null(v) ? "empty" : kind_name(v));
  s->p->backend_name = strdup(scalar(v));
  s->p->backend_location = dup_loc(s->p, v->start_mark);
  return s->p->backend_name && s->p->backend_location ? NULL : oom();
}

static npu_status_t parse_backend(const parse_state_t *s, const yaml_node_t *v) {
  if (v->type == YAML_SCALAR_NODE) return set_backend_name(s, v);
  if (v->type != YAML_MAPPING_NODE)
    return error_at_node(s, v, "'backend' must be a name or a mapping {name, options}, not %s",
                         kind_name(v));
  NPU_RETURN_IF_ERROR(check_mapping(s, v, "'backend'"));
  const yaml_node_t *options = NULL;
  for (yaml_node_pair_t *a = v->data.mapping.pairs.start; a < v->data.mapping.pairs.top; a++) {
    yaml_node_t *k = yaml_document_get_node(s->doc, a->key);
    yaml_node_t *val = yaml_document_get_node(s->doc, a->value);
    if (!val) return error_at_node(s, k, "missing value");
    if (strcmp(scalar(k), "name") == 0) {
      NPU_RETURN_IF_ERROR(set_backend_name(s, val));
    } else if (strcmp(scalar(k), "options") == 0) {
      options = val;
    } else {
      return error_at_node(s, k, "unknown key '%s' in 'backend' (expected name, options)",
                           scalar(k));
    }
  }
  if (!s->p->backend_name) return error_at_node(s, v, "'backend' needs a 'name'");
  if (options) {
    char owner[512];
    snprintf(owner, sizeof owner, "backend '%s'", s->p->backend_name);
    NPU_RETURN_IF_ERROR(parse_settings(s, options, owner, &s->p->backend_settings));
  }
  return NULL;
}

static npu_status_t parse_plugin_path(const parse_state_t *s, const yaml_node_t *v) {
  npu_pipeline_t *p = s->p;
  const yaml_node_t *single = NULL;
  size_t n;
  if (v->type == YAML_SCALAR_NODE && !is_null(v)) {
    single = v;
    n = 1;
  } else if (v->type == YAML_SEQUENCE_NODE) {
    n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
  } else {
    return error_at_node(s, v, "'plugin_path' must be a sequence of directories, not %s",
                         is_null(v) ? "empty" : kind_name(v));
  }
  p->plugin_paths = calloc(n ? n : 1, sizeof *p->plugin_paths);
  if (!p->plugin_paths) return oom();
  for (size_t i = 0; i < n; i++) {
    const yaml_node_t *d = single ? single
                                  : yaml_document_get_node(s->doc, v->data.sequence.items.start[i]);
    if (!d) continue;
    char *rel = NULL;
    NPU_RETURN_IF_ERROR(parse_path_scalar(s, d, "plugin_path", &rel));
    char *full = join_path(p->base_dir, rel);
    free(rel);
    if (!full) return oom();
    p->plugin_paths[p->num_plugin_paths++] = full;
  }
  return NULL;
}

static npu_status_t parse_document(parse_state_t *s) {
  yaml_node_t *root = yaml_document_get_root_node(s->doc);
  if (!root)
    return npu_error_at(NPU_STATUS_PARSE_ERROR, s->p->origin,
                        "empty pipeline: expected a mapping with 'input' and 'passes'");
  if (root->type != YAML_MAPPING_NODE)
    return error_at_node(s, root, "a pipeline must be a mapping (input, passes, backend, ...), not %s",
                         kind_name(root));
  NPU_RETURN_IF_ERROR(check_mapping(s, root, "the pipeline"));
  for (yaml_node_pair_t *a = root->data.mapping.pairs.start; a < root->data.mapping.pairs.top; a++) {
    yaml_node_t *k = yaml_document_get_node(s->doc, a->key);
    yaml_node_t *v = yaml_document_get_node(s->doc, a->value);
    const char *key = scalar(k);
    if (!v) return error_at_node(s, k, "missing value for '%s'", key);
    if (strcmp(key, "input") == 0) {
      char *rel = NULL;
      NPU_RETURN_IF_ERROR(parse_path_scalar(s, v, "input", &rel));
      s->p->input = join_path(s->p->base_dir, rel);
      free(rel);
      s->p->input_location = dup_loc(s->p, v->start_mark);
      if (!s->p->input || !s->p->input_location) return oom();
    } else if (strcmp(key, "output") == 0) {
      NPU_RETURN_IF_ERROR(parse_path_scalar(s, v, "output", &s->p->output));
    } else if (strcmp(key, "passes") == 0) {
      NPU_RETURN_IF_ERROR(parse_passes(s, v));
    } else if (strcmp(key, "backend") == 0) {
      NPU_RETURN_IF_ERROR(parse_backend(s, v));
    } else if (strcmp(key, "plugin_path") == 0) {
      NPU_RETURN_IF_ERROR(parse_plugin_path(s, v));
    } else {
      return error_at_node(s, k,
                           "unknown key '%s' (expected input, plugin_path, passes, backend, output)",
                           key);
    }
  }
  return NULL;
}

static char *stem_of(const char *origin) {
  const char *slash = strrchr(origin, '/');
  const char *base = slash ? slash + 1 : origin;
  const char *dot = strrchr(base, '.');
  size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
  if (len == 0) return strdup("out");
  return strndup(base, len);
}

npu_status_t npu_pipeline_parse(const char *data, size_t size, const char *origin,
                                const char *base_dir, npu_pipeline_t **out_pipeline) {
  *out_pipeline = NULL;
  if (!origin) origin = "<pipeline>";
  npu_pipeline_t *p = calloc(1, sizeof *p);
  if (!p) return oom();
  p->origin = strdup(origin);
  p->base_dir = strdup(base_dir ? base_dir : ".");
  p->stem = stem_of(origin);
  if (!p->origin || !p->base_dir || !p->stem) {
    npu_pipeline_destroy(p);
    return oom();
  }
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) {
    npu_pipeline_destroy(p);
    return oom();
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)data, size);
  yaml_document_t doc;
  npu_status_t st = NULL;
  if (!yaml_parser_load(&parser, &doc)) {
    char loc[4096];
    fmt_loc(p, parser.problem_mark, loc, sizeof loc);
    st = npu_error_at(NPU_STATUS_PARSE_ERROR, loc, "YAML syntax error: %s%s%s",
                      parser.problem ? parser.problem : "malformed YAML",
                      parser.context ? " " : "", parser.context ? parser.context : "");
  } else {
    parse_state_t s = {.p = p, .doc = &doc};
    st = parse_document(&s);
    bool had_root = yaml_document_get_root_node(&doc) != NULL;
    yaml_document_delete(&doc);
    if (!st && had_root) {
      /* A second document is an error; so is a syntax error after the first. */
      yaml_document_t doc2;
      if (!yaml_parser_load(&parser, &doc2)) {
        char loc[4096];
        fmt_loc(p, parser.problem_mark, loc, sizeof loc);
        st = npu_error_at(NPU_STATUS_PARSE_ERROR, loc, "YAML syntax error: %s",
                          parser.problem ? parser.problem : "malformed YAML");
      } else {
        yaml_node_t *r2 = yaml_document_get_root_node(&doc2);
        if (r2) {
          char loc[4096];
          fmt_loc(p, r2->start_mark, loc, sizeof loc);
          st = npu_error_at(NPU_STATUS_PARSE_ERROR, loc,
                            "a pipeline file holds one YAML document; found a second");
        }
        yaml_document_delete(&doc2);
      }
    }
  }
  yaml_parser_delete(&parser);
  if (st) {
    npu_pipeline_destroy(p);
    return st;
  }
  *out_pipeline = p;
  return NULL;
}

npu_status_t npu_pipeline_parse_file(const char *path, npu_pipeline_t **out_pipeline) {
  *out_pipeline = NULL;
  FILE *f = fopen(path, "rb");
  if (!f)
    return npu_error_at(NPU_STATUS_NOT_FOUND, path, "cannot open pipeline: %s", strerror(errno));
  char *data = NULL;
  size_t size = 0, cap = 0;
  for (;;) {
    if (size == cap) {
      cap = cap ? cap * 2 : 4096;
      char *d = realloc(data, cap);
      if (!d) {
        free(data);
        fclose(f);
        return oom();
      }
      data = d;
    }
    size_t n = fread(data + size, 1, cap - size, f);
    size += n;
    if (n == 0) break;
  }
  bool err = ferror(f);
  fclose(f);
  if (err) {
    free(data);
    return npu_error_at(NPU_STATUS_IO_ERROR, path, "cannot read pipeline");
  }
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
  if (!dir) {
    free(data);
    return oom();
  }
  npu_status_t st = npu_pipeline_parse(data, size, path, dir, out_pipeline);
  free(dir);
  free(data);
  return st;
}

static void free_settings(pipeline_settings_t *s) {
  for (int32_t i = 0; i < s->count; i++) {
    free((char *)s->items[i].name);
    free((char *)s->items[i].value);
    free((char *)s->items[i].location);
    free((char *)s->items[i].name_location);
  }
  free(s->items);
  s->items = NULL;
  s->count = 0;
}

void npu_pipeline_destroy(npu_pipeline_t *p) {
  if (!p) return;
  free(p->origin);
  free(p->base_dir);
  free(p->stem);
  free(p->input);
  free(p->input_location);
  free(p->output);
  free(p->resolved_output);
  for (int32_t i = 0; i < p->num_plugin_paths; i++) free(p->plugin_paths[i]);
  free(p->plugin_paths);
  for (int32_t i = 0; i < p->num_passes; i++) {
    free(p->passes[i].name);
    free(p->passes[i].location);
    free_settings(&p->passes[i].settings);
    npu_options_destroy(p->passes[i].options);
  }
  free(p->passes);
  free(p->backend_name);
  free(p->backend_location);
  free_settings(&p->backend_settings);
  npu_options_destroy(p->backend_options);
  free(p);
}

static npu_status_t replace(char **slot, const char *value) {
  char *c = value ? strdup(value) : NULL;
  if (value && !c) return oom();
  free(*slot);
  *slot = c;
  return NULL;
}

npu_status_t npu_pipeline_set_input(npu_pipeline_t *p, const char *path) {
  NPU_RETURN_IF_ERROR(replace(&p->input, path));
  return replace(&p->input_location, NULL);
}

npu_status_t npu_pipeline_set_output(npu_pipeline_t *p, const char *path) {
  NPU_RETURN_IF_ERROR(replace(&p->resolved_output, NULL));
  return replace(&p->output, path);
}

npu_status_t npu_pipeline_set_backend(npu_pipeline_t *p, const char *name) {
  NPU_RETURN_IF_ERROR(replace(&p->backend_name, name));
  free_settings(&p->backend_settings);
  return replace(&p->backend_location, NULL);
}

const char *npu_pipeline_origin(const npu_pipeline_t *p) { return p->origin; }
const char *npu_pipeline_base_dir(const npu_pipeline_t *p) { return p->base_dir; }
const char *npu_pipeline_input(const npu_pipeline_t *p) { return p->input; }
const char *npu_pipeline_backend_name(const npu_pipeline_t *p) {
  return p->backend_name ? p->backend_name : NPU_DEFAULT_BACKEND;
}
const char *npu_pipeline_output(const npu_pipeline_t *p) {
  return p->output ? p->output : p->resolved_output;
}
int32_t npu_pipeline_pass_count(const npu_pipeline_t *p) { return p->num_passes; }
const char *npu_pipeline_pass_name(const npu_pipeline_t *p, int32_t i) {
  return i >= 0 && i < p->num_passes ? p->passes[i].name : NULL;
}
int32_t npu_pipeline_plugin_path_count(const npu_pipeline_t *p) { return p->num_plugin_paths; }
const char *npu_pipeline_plugin_path(const npu_pipeline_t *p, int32_t i) {
  return i >= 0 && i < p->num_plugin_paths ? p->plugin_paths[i] : NULL;
}

npu_status_t npu_pipeline_add_plugin_paths(const npu_pipeline_t *p, npu_plugin_registry_t *reg) {
  for (int32_t i = 0; i < p->num_plugin_paths; i++)
    NPU_RETURN_IF_ERROR(npu_plugin_registry_add_path(reg, p->plugin_paths[i]));
  return NULL;
}

npu_status_t npu_pipeline_resolve(npu_pipeline_t *p, const npu_plugin_registry_t *reg) {
  for (int32_t i = 0; i < p->num_passes; i++) {
    pipeline_pass_t *ps = &p->passes[i];
    npu_options_destroy(ps->options);
    ps->options = NULL;
    ps->info = npu_plugin_registry_find_pass(reg, ps->name, NULL);
    if (!ps->info)
      return npu_error_at(NPU_STATUS_NOT_FOUND, ps->location,
                          "unknown pass '%s' (npuc --list-passes shows the passes of the "
                          "loaded plugins)",
                          ps->name);
    char owner[512];
    snprintf(owner, sizeof owner, "pass '%s'", ps->name);
    NPU_RETURN_IF_ERROR(npu_options_create(ps->info->options, ps->info->num_options,
                                           ps->settings.items, ps->settings.count, owner,
                                           &ps->options));
  }
  const char *bname = npu_pipeline_backend_name(p);
  p->backend = npu_plugin_registry_find_backend(reg, bname, NULL);
  if (!p->backend)
    return npu_error_at(NPU_STATUS_NOT_FOUND, p->backend_location ? p->backend_location : p->origin,
                        "unknown backend '%s' (npuc --list-plugins shows the loaded plugins)",
                        bname);
  char owner[512];
  snprintf(owner, sizeof owner, "backend '%s'", bname);
  npu_options_destroy(p->backend_options);
  p->backend_options = NULL;
  NPU_RETURN_IF_ERROR(npu_options_create(p->backend->options, p->backend->num_options,
                                         p->backend_settings.items, p->backend_settings.count,
                                         owner, &p->backend_options));
  if (!p->input)
    return npu_error_at(NPU_STATUS_INVALID_ARGUMENT, p->origin,
                        "the pipeline names no 'input' (set it in the file or pass -i)");
  struct stat sb;
  if (stat(p->input, &sb) != 0)
    return npu_error_at(NPU_STATUS_NOT_FOUND, p->input_location ? p->input_location : p->input,
                        "input file '%s' not found: %s", p->input, strerror(errno));
  if (!S_ISREG(sb.st_mode))
    return npu_error_at(NPU_STATUS_NOT_FOUND, p->input_location ? p->input_location : p->input,
                        "input '%s' is not a regular file", p->input);
  if (!p->output) {
    const char *ext = p->backend->output_extension ? p->backend->output_extension : ".out";
    size_t n = strlen(p->stem) + strlen(ext) + 1;
    free(p->resolved_output);
    p->resolved_output = malloc(n);
    if (!p->resolved_output) return oom();
    snprintf(p->resolved_output, n, "%s%s", p->stem, ext);
  }
  p->resolved = true;
  return NULL;
}
