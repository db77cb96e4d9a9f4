/* Typed pass/backend options: the npu_options_* accessors of plugin.h and
 * the builder the pipeline loader uses (pipeline.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "npu/pipeline.h"
#include "npu/plugin.h"

typedef struct option_value {
  const npu_option_spec_t *spec;
  bool set;
  char *text;
  bool b;
  int64_t i;
  double f;
} option_value_t;

struct npu_options {
  option_value_t *values;
  int32_t count;
};

bool npu_option_parse_bool(const char *text, bool *out) {
  if (!text) return false;
  if (strcmp(text, "true") == 0) { *out = true; return true; }
  if (strcmp(text, "false") == 0) { *out = false; return true; }
  return false;
}

bool npu_option_parse_int(const char *text, int64_t *out) {
  if (!text || !*text) return false;
  const char *p = text;
  if (*p == '+' || *p == '-') p++;
  if (*p < '0' || *p > '9') return false;
  for (const char *q = p; *q; q++)
    if (*q < '0' || *q > '9') return false;
  errno = 0;
  char *end = NULL;
  long long v = strtoll(text, &end, 10);
  if (errno == ERANGE || !end || *end) return false;
  *out = (int64_t)v;
  return true;
}

bool npu_option_parse_float(const char *text, double *out) {
  if (!text || !*text) return false;
  /* Decimal numbers only: digits, sign, '.', exponent. No hex, inf or nan. */
  for (const char *q = text; *q; q++)
    if (!strchr("0123456789+-.eE", *q)) return false;
  errno = 0;
  char *end = NULL;
  double v = strtod(text, &end);
  if (!end || *end || end == text || errno == ERANGE || !isfinite(v)) return false;
  *out = v;
  return true;
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

/* Checks `text` against the spec and stores it. Returns a message-less
 * failure code via *why (static text), or NULL on success. */
static const char *assign(option_value_t *v, const char *text) {
  const npu_option_spec_t *s = v->spec;
  switch (s->type) {
    case NPU_OPTION_BOOL:
      if (!npu_option_parse_bool(text, &v->b)) return "a bool (true or false)";
      break;
    case NPU_OPTION_INT:
      if (!npu_option_parse_int(text, &v->i)) return "an int (a 64-bit integer)";
      break;
    case NPU_OPTION_FLOAT:
      if (!npu_option_parse_float(text, &v->f)) return "a float";
      break;
    case NPU_OPTION_STRING:
      if (!text) return "a string";
      if (s->choices) {
        bool ok = false;
        for (const char *const *c = s->choices; *c; c++)
          if (strcmp(*c, text) == 0) ok = true;
        if (!ok) return "one of the allowed values";
      }
      break;
  }
  char *copy = strdup(text);
  if (!copy) return "out of memory";
  free(v->text);
  v->text = copy;
  return NULL;
}

static void append_choices(char *buf, size_t size, const npu_option_spec_t *s) {
  size_t n = strlen(buf);
  for (const char *const *c = s->choices; c && *c && n < size; c++) {
    int w = snprintf(buf + n, size - n, "%s%s", c == s->choices ? "" : ", ", *c);
    if (w < 0) break;
    n += (size_t)w;
  }
}

npu_status_t npu_options_create(const npu_option_spec_t *specs, int32_t num_specs,
                                const npu_option_setting_t *settings, int32_t num_settings,
                                const char *owner, npu_options_t **out_options) {
  *out_options = NULL;
  if (num_specs < 0 || num_settings < 0 || (num_specs && !specs) || (num_settings && !settings))
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_options_create: bad arguments");
  if (!owner) owner = "options";
  npu_options_t *o = calloc(1, sizeof *o);
  if (!o) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  o->values = calloc((size_t)(num_specs ? num_specs : 1), sizeof *o->values);
  if (!o->values) {
    free(o);
    return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  }
  o->count = num_specs;
  npu_status_t st = NULL;
  for (int32_t i = 0; i < num_specs && !st; i++) {
    const npu_option_spec_t *s = &specs[i];
    o->values[i].spec = s;
    if (!s->name || !*s->name) {
      st = npu_error(NPU_STATUS_INTERNAL, "%s declares an option without a name", owner);
      break;
    }
    for (int32_t j = 0; j < i; j++)
      if (strcmp(specs[j].name, s->name) == 0)
        st = npu_error(NPU_STATUS_INTERNAL, "%s declares option '%s' twice", owner, s->name);
    if (st) break;
    const char *def = s->default_value;
    if (!def) def = s->type == NPU_OPTION_BOOL ? "false"
                  : s->type == NPU_OPTION_STRING ? "" : "0";
    if (s->type == NPU_OPTION_STRING && !s->default_value && s->choices && s->choices[0])
      def = s->choices[0];
    const char *why = assign(&o->values[i], def);
    if (why)
      st = npu_error(NPU_STATUS_INTERNAL, "%s: default '%s' of option '%s' (%s): %s", owner,
                     def, s->name, type_name(s->type), why);
  }
  for (int32_t k = 0; k < num_settings && !st; k++) {
    const npu_option_setting_t *set = &settings[k];
    option_value_t *v = NULL;
    for (int32_t i = 0; i < num_specs; i++)
      if (set->name && strcmp(specs[i].name, set->name) == 0) v = &o->values[i];
    if (!v) {
      char known[1024] = "";
      size_t n = 0;
      for (int32_t i = 0; i < num_specs && n < sizeof known; i++) {
        int w = snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "", specs[i].name);
        if (w < 0) break;
        n += (size_t)w;
      }
      st = npu_error_at(NPU_STATUS_INVALID_ARGUMENT,
                        set->name_location ? set->name_location : set->location,
                        "%s has no option '%s' (%s%s)", owner, set->name ? set->name : "",
                        num_specs ? "options: " : "it takes no options", known);
      break;
    }
    if (v->set) {
      st = npu_error_at(NPU_STATUS_INVALID_ARGUMENT,
                        set->name_location ? set->name_location : set->location,
                        "option '%s' of %s is set twice", v->spec->name, owner);
      break;
    }
    const char *why = assign(v, set->value);
    if (why) {
      char extra[1024] = "";
      if (v->spec->type == NPU_OPTION_STRING && v->spec->choices) {
        snprintf(extra, sizeof extra, " (allowed: ");
        append_choices(extra, sizeof extra - 1, v->spec);
        strcat(extra, ")");
      }
      st = npu_error_at(NPU_STATUS_INVALID_ARGUMENT, set->location,
                        "option '%s' of %s expects %s, got '%s'%s", v->spec->name, owner, why,
                        set->value ? set->value : "", extra);
      break;
    }
    v->set = true;
  }
  if (st) {
    npu_options_destroy(o);
    return st;
  }
  *out_options = o;
  return NULL;
}

void npu_options_destroy(npu_options_t *o) {
  if (!o) return;
  for (int32_t i = 0; i < o->count; i++) free(o->values[i].text);
  free(o->values);
  free(o);
}

static const option_value_t *find(const npu_options_t *o, const char *name) {
  if (!o || !name) return NULL;
  for (int32_t i = 0; i < o->count; i++)
    if (strcmp(o->values[i].spec->name, name) == 0) return &o->values[i];
  return NULL;
}

bool npu_options_get_bool(const npu_options_t *o, const char *name) {
  const option_value_t *v = find(o, name);
  return v && v->spec->type == NPU_OPTION_BOOL ? v->b : false;
}

int64_t npu_options_get_int(const npu_options_t *o, const char *name) {
  const option_value_t *v = find(o, name);
  return v && v->spec->type == NPU_OPTION_INT ? v->i : 0;
}

double npu_options_get_float(const npu_options_t *o, const char *name) {
  const option_value_t *v = find(o, name);
  return v && v->spec->type == NPU_OPTION_FLOAT ? v->f : 0.0;
}

const char *npu_options_get_string(const npu_options_t *o, const char *name) {
  const option_value_t *v = find(o, name);
  return v && v->spec->type == NPU_OPTION_STRING ? v->text : NULL;
}

bool npu_options_is_set(const npu_options_t *o, const char *name) {
  const option_value_t *v = find(o, name);
  return v && v->set;
}

const char *npu_options_get_text(const npu_options_t *o, const char *name) {
  const option_value_t *v = find(o, name);
  return v ? v->text : NULL;
}
