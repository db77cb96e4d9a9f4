/* The pytorch-ir JSON importer. See npu/graph_io.h and docs/ir-import.md.
 *
 * cJSON cannot read Infinity/-Infinity/NaN, stores every number as a double
 * and reports no line numbers, so a prepass lexer runs over the raw text first:
 *   - it records every number token outside strings (with its raw text and
 *     offset), the bare tokens Infinity/-Infinity/NaN included, and the offset
 *     of every '{' and '[';
 *   - it replaces each bare non-finite token, in a copy of the text, with "0"
 *     padded by spaces, so that byte offsets are unchanged.
 * cJSON then parses the copy. A pre-order walk of the tree stores in each
 * number node the index of its raw token and in each container the index of
 * its bracket (in `valueint`, which nothing else reads), because cJSON creates
 * those nodes in document order. Numbers are then decoded exactly from their
 * raw text, and every container has a line:col for error messages. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "npu/graph.h"
#include "npu/graph_io.h"
#include "npu/ops.h"

/* ---- the prepass lexer ------------------------------------------------------ */

typedef enum { TOK_NUMBER, TOK_POS_INF, TOK_NEG_INF, TOK_NAN } tok_kind_t;

typedef struct num_token {
  size_t offset;
  uint32_t length;
  tok_kind_t kind;
} num_token_t;

typedef struct offsets {
  size_t *items;
  size_t count, capacity;
} offsets_t;

typedef struct tokens {
  num_token_t *items;
  size_t count, capacity;
} tokens_t;

static bool push_offset(offsets_t *v, size_t off) {
  if (v->count == v->capacity) {
    size_t cap = v->capacity ? v->capacity * 2 : 256;
    size_t *p = realloc(v->items, cap * sizeof *p);
    if (!p) return false;
    v->items = p;
    v->capacity = cap;
  }
  v->items[v->count++] = off;
  return true;
}

static bool push_token(tokens_t *v, size_t off, size_t len, tok_kind_t kind) {
  if (v->count == v->capacity) {
    size_t cap = v->capacity ? v->capacity * 2 : 1024;
    num_token_t *p = realloc(v->items, cap * sizeof *p);
    if (!p) return false;
    v->items = p;
    v->capacity = cap;
  }
  v->items[v->count++] = (num_token_t){off, (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len), kind};
  return true;
}

static bool is_num_char(char c) {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* Fills toks/brackets and rewrites non-finite tokens in `copy` (same size). */
static bool lex(const char *src, size_t size, char *copy, tokens_t *toks, offsets_t *brackets) {
  size_t i = 0;
  while (i < size) {
    char c = src[i];
    if (c == '"') {
      i++;
      while (i < size && src[i] != '"') {
        if (src[i] == '\\' && i + 1 < size) i++;
        i++;
      }
      i++; /* closing quote (or past the end) */
      continue;
    }
    if (c == '{' || c == '[') {
      if (!push_offset(brackets, i)) return false;
      i++;
      continue;
    }
    if (c == 'I' && size - i >= 8 && memcmp(src + i, "Infinity", 8) == 0) {
      if (!push_token(toks, i, 8, TOK_POS_INF)) return false;
      memcpy(copy + i, "0       ", 8);
      i += 8;
      continue;
    }
    if (c == 'N' && size - i >= 3 && memcmp(src + i, "NaN", 3) == 0) {
      if (!push_token(toks, i, 3, TOK_NAN)) return false;
      memcpy(copy + i, "0  ", 3);
      i += 3;
      continue;
    }
    if (c == '-' && size - i >= 9 && memcmp(src + i, "-Infinity", 9) == 0) {
      if (!push_token(toks, i, 9, TOK_NEG_INF)) return false;
      memcpy(copy + i, "0        ", 9);
      i += 9;
      continue;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      size_t start = i;
      while (i < size && is_num_char(src[i])) i++;
      if (!push_token(toks, start, i - start, TOK_NUMBER)) return false;
      continue;
    }
    i++;
  }
  return true;
}

/* ---- import context ----------------------------------------------------------- */

typedef struct import_ctx {
  const char *origin;
  const char *text; /* the original bytes */
  size_t size;
  tokens_t toks;
  offsets_t brackets;
  size_t next_tok, next_bracket;
  bool walk_failed;
  npu_graph_t *g;
  npu_arena_t scratch; /* attrs and id arrays built for one call */
  char prefix[768];    /* "node NAME (OP): " while reading a node, else "" */
} import_ctx_t;

static void line_col(const import_ctx_t *c, size_t off, int *line, int *col) {
  if (off > c->size) off = c->size;
  int l = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < off; i++) {
    if (c->text[i] == '\n') {
      l++;
      line_start = i + 1;
    }
  }
  *line = l;
  *col = (int)(off - line_start) + 1;
}

static npu_status_t verr_loc(import_ctx_t *c, npu_status_code_t code, bool have_off, size_t off,
                             const char *fmt, va_list ap) {
  char loc[1024], msg[2048];
  if (have_off) {
    int line, col;
    line_col(c, off, &line, &col);
    snprintf(loc, sizeof loc, "%s:%d:%d", c->origin, line, col);
  } else {
    snprintf(loc, sizeof loc, "%s", c->origin);
  }
  vsnprintf(msg, sizeof msg, fmt, ap);
  return npu_error_at(code, loc, "%s%s", c->prefix, msg);
}

/* The byte offset of a cJSON item, if known (containers and numbers). */
static bool item_offset(const import_ctx_t *c, const cJSON *item, size_t *off) {
  if (!item) return false;
  int idx = item->valueint;
  if (cJSON_IsNumber(item)) {
    if (idx < 0 || (size_t)idx >= c->toks.count) return false;
    *off = c->toks.items[idx].offset;
    return true;
  }
  if (cJSON_IsArray(item) || cJSON_IsObject(item)) {
    if (idx < 0 || (size_t)idx >= c->brackets.count) return false;
    *off = c->brackets.items[idx];
    return true;
  }
  return false;
}

/* An error located at `item` (or, failing that, at `fallback`). */
static npu_status_t err_item(import_ctx_t *c, npu_status_code_t code, const cJSON *item,
                             const cJSON *fallback, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static npu_status_t err_item(import_ctx_t *c, npu_status_code_t code, const cJSON *item,
                             const cJSON *fallback, const char *fmt, ...) {
  size_t off = 0;
  bool have = item_offset(c, item, &off) || item_offset(c, fallback, &off);
  va_list ap;
  va_start(ap, fmt);
  npu_status_t s = verr_loc(c, code, have, off, fmt, ap);
  va_end(ap);
  return s;
}

/* Re-locates an error from the graph API at `item`, keeping its code. */
static npu_status_t rewrap(import_ctx_t *c, npu_status_t inner, const cJSON *item) {
  if (!inner) return NULL;
  const char *iloc = npu_status_location(inner);
  npu_status_t s;
  if (iloc && !(c->prefix[0] && strncmp(iloc, "node ", 5) == 0))
    s = err_item(c, npu_status_code(inner), item, NULL, "%s: %s", iloc, npu_status_message(inner));
  else
    s = err_item(c, npu_status_code(inner), item, NULL, "%s", npu_status_message(inner));
  npu_status_free(inner);
  return s;
}

/* Pre-order walk: number -> token index, container -> bracket index. */
static void assign_indices(import_ctx_t *c, cJSON *item) {
  for (; item; item = item->next) {
    if (cJSON_IsNumber(item)) {
      item->valueint = c->next_tok < c->toks.count ? (int)c->next_tok : -1;
      c->next_tok++;
    } else if (cJSON_IsArray(item) || cJSON_IsObject(item)) {
      item->valueint = c->next_bracket < c->brackets.count ? (int)c->next_bracket : -1;
      c->next_bracket++;
      assign_indices(c, item->child);
    }
  }
}

/* ---- numbers ---------------------------------------------------------------- */

typedef struct number {
  bool is_int;
  int64_t i;
  double f;
} number_t;

static bool json_number_syntax(const char *s, size_t n) {
  size_t i = 0;
  if (i < n && s[i] == '-') i++;
  if (i >= n) return false;
  if (s[i] == '0') {
    i++;
  } else if (s[i] >= '1' && s[i] <= '9') {
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
  } else {
    return false;
  }
  if (i < n && s[i] == '.') {
    i++;
    size_t d = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i == d) return false;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    size_t d = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i == d) return false;
  }
  return i == n;
}

static npu_status_t read_number(import_ctx_t *c, const cJSON *item, number_t *out) {
  int idx = item->valueint;
  if (idx < 0 || (size_t)idx >= c->toks.count)
    return err_item(c, NPU_STATUS_INTERNAL, NULL, NULL, "number token bookkeeping is out of step");
  const num_token_t *t = &c->toks.items[idx];
  out->is_int = false;
  switch (t->kind) {
    case TOK_POS_INF: out->f = INFINITY; return NULL;
    case TOK_NEG_INF: out->f = -INFINITY; return NULL;
    case TOK_NAN: out->f = NAN; return NULL;
    case TOK_NUMBER: break;
  }
  const char *s = c->text + t->offset;
  size_t n = t->length;
  char buf[128];
  if (n >= sizeof buf || !json_number_syntax(s, n))
    return err_item(c, NPU_STATUS_PARSE_ERROR, item, NULL, "invalid number '%.*s'",
                    (int)(n > 40 ? 40 : n), s);
  memcpy(buf, s, n);
  buf[n] = '\0';
  bool integral = strpbrk(buf, ".eE") == NULL;
  errno = 0;
  char *end = NULL;
  if (integral) {
    long long v = strtoll(buf, &end, 10);
    if (errno == ERANGE)
      return err_item(c, NPU_STATUS_PARSE_ERROR, item, NULL,
                      "integer %s is out of the int64 range", buf);
    out->is_int = true;
    out->i = (int64_t)v;
    out->f = (double)v;
    return NULL;
  }
  out->f = strtod(buf, &end); /* overflow gives +-inf, as in Python */
  return NULL;
}

/* ---- typed field readers -------------------------------------------------------- */

static const cJSON *get_key(const cJSON *obj, const char *key) {
  return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static npu_status_t need_string(import_ctx_t *c, const cJSON *obj, const char *key,
                                const char *what, const char **out) {
  const cJSON *v = get_key(obj, key);
  if (!v)
    return err_item(c, NPU_STATUS_PARSE_ERROR, obj, NULL, "%s: missing key '%s'", what, key);
  if (!cJSON_IsString(v) || !v->valuestring)
    return err_item(c, NPU_STATUS_PARSE_ERROR, v, obj, "%s: '%s' must be a string", what, key);
  if (!v->valuestring[0])
    return err_item(c, NPU_STATUS_PARSE_ERROR, v, obj, "%s: '%s' must not be empty", what, key);
  *out = v->valuestring;
  return NULL;
}

static npu_status_t need_int(import_ctx_t *c, const cJSON *v, const cJSON *parent,
                             const char *what, int64_t *out) {
  if (!cJSON_IsNumber(v))
    return err_item(c, NPU_STATUS_PARSE_ERROR, v, parent, "%s must be an integer", what);
  number_t num;
  NPU_RETURN_IF_ERROR(read_number(c, v, &num));
  if (!num.is_int)
    return err_item(c, NPU_STATUS_PARSE_ERROR, v, parent, "%s must be an integer, not a float",
                    what);
  *out = num.i;
  return NULL;
}

/* A TensorMeta: name, shape, dtype. */
typedef struct tensor_meta {
  const char *name;
  npu_dtype_t dtype;
  npu_shape_t shape;
} tensor_meta_t;

static npu_status_t read_meta(import_ctx_t *c, const cJSON *obj, const char *what,
                              tensor_meta_t *out) {
  if (!cJSON_IsObject(obj))
    return err_item(c, NPU_STATUS_PARSE_ERROR, obj, NULL, "%s must be an object", what);
  memset(out, 0, sizeof *out);
  NPU_RETURN_IF_ERROR(need_string(c, obj, "name", what, &out->name));
  const cJSON *shape = get_key(obj, "shape");
  if (!shape)
    return err_item(c, NPU_STATUS_PARSE_ERROR, obj, NULL, "%s '%s': missing key 'shape'", what,
                    out->name);
  if (!cJSON_IsArray(shape))
    return err_item(c, NPU_STATUS_PARSE_ERROR, shape, obj,
                    "%s '%s': 'shape' must be a list of integers", what, out->name);
  int32_t rank = 0;
  for (const cJSON *d = shape->child; d; d = d->next) {
    if (rank >= NPU_MAX_RANK)
      return err_item(c, NPU_STATUS_UNSUPPORTED, shape, obj,
                      "%s '%s': rank is more than %d", what, out->name, NPU_MAX_RANK);
    char dwhat[600];
    snprintf(dwhat, sizeof dwhat, "%s '%s': dimension %d", what, out->name, rank);
    int64_t v;
    NPU_RETURN_IF_ERROR(need_int(c, d, shape, dwhat, &v));
    if (v < 0)
      return err_item(c, NPU_STATUS_PARSE_ERROR, d, shape, "%s is negative (%lld)", dwhat,
                      (long long)v);
    out->shape.dims[rank++] = v;
  }
  out->shape.rank = rank;
  const char *dtype = NULL;
  const cJSON *dt = get_key(obj, "dtype");
  if (!dt)
    return err_item(c, NPU_STATUS_PARSE_ERROR, obj, NULL, "%s '%s': missing key 'dtype'", what,
                    out->name);
  if (!cJSON_IsString(dt) || !dt->valuestring)
    return err_item(c, NPU_STATUS_PARSE_ERROR, obj, NULL, "%s '%s': 'dtype' must be a string",
                    what, out->name);
  dtype = dt->valuestring;
  if (!npu_dtype_parse(dtype, &out->dtype) || out->dtype == NPU_DTYPE_INVALID)
    return err_item(c, NPU_STATUS_UNSUPPORTED, obj, NULL, "%s '%s': unknown dtype '%s'", what,
                    out->name, dtype);
  return NULL;
}

static void format_type(npu_dtype_t dtype, const npu_shape_t *shape, char *buf, size_t size) {
  char s[160];
  snprintf(buf, size, "%s%s", npu_dtype_name(dtype), npu_shape_format(shape, s, sizeof s));
}

/* ---- attrs --------------------------------------------------------------------------- */

static npu_status_t read_attr_value(import_ctx_t *c, const cJSON *v, const char *name,
                                    npu_attr_value_t *out) {
  memset(out, 0, sizeof *out);
  if (cJSON_IsNull(v)) {
    out->kind = NPU_ATTR_NULL;
  } else if (cJSON_IsBool(v)) {
    *out = npu_attr_bool(cJSON_IsTrue(v));
  } else if (cJSON_IsNumber(v)) {
    number_t num;
    NPU_RETURN_IF_ERROR(read_number(c, v, &num));
    *out = num.is_int ? npu_attr_int(num.i) : npu_attr_float(num.f);
  } else if (cJSON_IsString(v) && v->valuestring) {
    npu_dtype_t dt;
    if (strncmp(v->valuestring, "torch.", 6) == 0 && npu_dtype_parse(v->valuestring, &dt) &&
        dt != NPU_DTYPE_INVALID) {
      *out = npu_attr_dtype(dt);
    } else {
      const char *s = npu_arena_strdup(&c->scratch, v->valuestring);
      if (!s) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
      *out = npu_attr_string(s);
    }
  } else if (cJSON_IsArray(v)) {
    int32_t n = cJSON_GetArraySize(v);
    npu_attr_value_t *items = NULL;
    if (n > 0) {
      items = npu_arena_calloc(&c->scratch, (size_t)n, sizeof *items);
      if (!items) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    int32_t i = 0;
    for (const cJSON *e = v->child; e && i < n; e = e->next, i++)
      NPU_RETURN_IF_ERROR(read_attr_value(c, e, name, &items[i]));
    *out = npu_attr_list(items, n);
  } else {
    return err_item(c, NPU_STATUS_UNSUPPORTED, v, NULL,
                    "attr '%s': a JSON object is not a supported attribute value", name);
  }
  return NULL;
}

static npu_status_t read_attrs(import_ctx_t *c, const cJSON *obj, const cJSON *parent,
                               npu_attr_t **out, int32_t *out_count) {
  *out = NULL;
  *out_count = 0;
  if (!obj || cJSON_IsNull(obj)) return NULL;
  if (!cJSON_IsObject(obj))
    return err_item(c, NPU_STATUS_PARSE_ERROR, obj, parent, "'attrs' must be an object");
  int32_t n = cJSON_GetArraySize(obj);
  if (n == 0) return NULL;
  npu_attr_t *attrs = npu_arena_calloc(&c->scratch, (size_t)n, sizeof *attrs);
  if (!attrs) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  int32_t i = 0;
  for (const cJSON *e = obj->child; e && i < n; e = e->next, i++) {
    if (!e->string || !e->string[0])
      return err_item(c, NPU_STATUS_PARSE_ERROR, obj, parent, "attr with an empty name");
    for (int32_t j = 0; j < i; j++)
      if (strcmp(attrs[j].name, e->string) == 0)
        return err_item(c, NPU_STATUS_PARSE_ERROR, obj, parent, "attr '%s' appears twice",
                        e->string);
    attrs[i].name = e->string;
    NPU_RETURN_IF_ERROR(read_attr_value(c, e, e->string, &attrs[i].value));
  }
  *out = attrs;
  *out_count = i;
  return NULL;
}

/* ---- a small string -> index map (weights by checkpoint key) --------------------- */

typedef struct str_map {
  const char **keys;
  int32_t *values;
  size_t capacity; /* power of two */
} str_map_t;

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static bool map_init(str_map_t *m, size_t n) {
  size_t cap = 16;
  while (cap < n * 2 + 1) cap *= 2;
  m->keys = calloc(cap, sizeof *m->keys);
  m->values = calloc(cap, sizeof *m->values);
  m->capacity = cap;
  return m->keys && m->values;
}

static void map_free(str_map_t *m) {
  free(m->keys);
  free(m->values);
}

/* Returns the existing value, or inserts and returns -1. */
static int32_t map_insert(str_map_t *m, const char *key, int32_t value) {
  size_t i = (size_t)hash_str(key) & (m->capacity - 1);
  while (m->keys[i]) {
    if (strcmp(m->keys[i], key) == 0) return m->values[i];
    i = (i + 1) & (m->capacity - 1);
  }
  m->keys[i] = key;
  m->values[i] = value;
  return -1;
}

static int32_t map_find(const str_map_t *m, const char *key) {
  size_t i = (size_t)hash_str(key) & (m->capacity - 1);
  while (m->keys[i]) {
    if (strcmp(m->keys[i], key) == 0) return m->values[i];
    i = (i + 1) & (m->capacity - 1);
  }
  return -1;
}

/* ---- the sections ------------------------------------------------------------------- */

static npu_status_t need_array(import_ctx_t *c, const cJSON *root, const char *key,
                               bool required, const cJSON **out) {
  const cJSON *v = get_key(root, key);
  *out = NULL;
  if (!v) {
    if (!required) return NULL;
    return err_item(c, NPU_STATUS_PARSE_ERROR, root, NULL, "missing top-level key '%s'", key);
  }
  if (!cJSON_IsArray(v))
    return err_item(c, NPU_STATUS_PARSE_ERROR, v, root, "top-level key '%s' must be a list", key);
  *out = v;
  return NULL;
}

static npu_status_t import_inputs(import_ctx_t *c, const cJSON *arr) {
  for (const cJSON *e = arr->child; e; e = e->next) {
    tensor_meta_t m;
    NPU_RETURN_IF_ERROR(read_meta(c, e, "graph input", &m));
    npu_tensor_id_t id;
    NPU_RETURN_IF_ERROR(rewrap(c,
        npu_graph_add_tensor(c->g, &(npu_tensor_desc_t){.name = m.name, .dtype = m.dtype,
                             .shape = m.shape, .role = NPU_ROLE_INPUT}, &id), e));
    NPU_RETURN_IF_ERROR(rewrap(c, npu_graph_add_input(c->g, id), e));
  }
  return NULL;
}

static npu_status_t import_weights(import_ctx_t *c, const cJSON *root, const cJSON *weights) {
  int32_t n = cJSON_GetArraySize(weights);
  if (n == 0) {
    const cJSON *mapping = get_key(root, "weight_name_mapping");
    if (mapping && !cJSON_IsObject(mapping))
      return err_item(c, NPU_STATUS_PARSE_ERROR, mapping, root,
                      "'weight_name_mapping' must be an object");
    if (mapping && mapping->child)
      return err_item(c, NPU_STATUS_PARSE_ERROR, mapping, root,
                      "weight_name_mapping: '%s' maps to '%s', which is not in 'weights'",
                      mapping->child->string ? mapping->child->string : "",
                      cJSON_IsString(mapping->child) ? mapping->child->valuestring : "?");
    return NULL;
  }
  const cJSON *mapping = get_key(root, "weight_name_mapping");
  if (!mapping)
    return err_item(c, NPU_STATUS_PARSE_ERROR, root, NULL,
                    "missing top-level key 'weight_name_mapping' (required when 'weights' is "
                    "not empty)");
  if (!cJSON_IsObject(mapping))
    return err_item(c, NPU_STATUS_PARSE_ERROR, mapping, root,
                    "'weight_name_mapping' must be an object");
  tensor_meta_t *metas = calloc((size_t)n, sizeof *metas);
  const cJSON **items = calloc((size_t)n, sizeof *items);
  const char **placeholder = calloc((size_t)n, sizeof *placeholder);
  str_map_t by_key = {0};
  npu_status_t s = NULL;
  if (!metas || !items || !placeholder || !map_init(&by_key, (size_t)n)) {
    s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
    goto done;
  }
  int32_t i = 0;
  for (const cJSON *e = weights->child; e && i < n; e = e->next, i++) {
    items[i] = e;
    s = read_meta(c, e, "weight", &metas[i]);
    if (s) goto done;
    if (map_insert(&by_key, metas[i].name, i) >= 0) {
      s = err_item(c, NPU_STATUS_PARSE_ERROR, e, weights, "weight '%s' is listed twice",
                   metas[i].name);
      goto done;
    }
  }
  for (const cJSON *m = mapping->child; m; m = m->next) {
    const char *ph = m->string ? m->string : "";
    if (!cJSON_IsString(m) || !m->valuestring) {
      s = err_item(c, NPU_STATUS_PARSE_ERROR, mapping, root,
                   "weight_name_mapping: the value of '%s' must be a string", ph);
      goto done;
    }
    int32_t w = map_find(&by_key, m->valuestring);
    if (w < 0) {
      s = err_item(c, NPU_STATUS_NOT_FOUND, mapping, root,
                   "weight_name_mapping: '%s' maps to '%s', which is not in 'weights'", ph,
                   m->valuestring);
      goto done;
    }
    if (placeholder[w]) {
      s = err_item(c, NPU_STATUS_PARSE_ERROR, mapping, root,
                   "weight_name_mapping: both '%s' and '%s' map to weight '%s'", placeholder[w],
                   ph, m->valuestring);
      goto done;
    }
    placeholder[w] = ph;
  }
  for (i = 0; i < n; i++) {
    if (!placeholder[i]) {
      s = err_item(c, NPU_STATUS_NOT_FOUND, items[i], weights,
                   "weight '%s' has no placeholder in 'weight_name_mapping'", metas[i].name);
      goto done;
    }
    npu_tensor_role_t role =
        strncmp(placeholder[i], "c_", 2) == 0 ? NPU_ROLE_CONSTANT : NPU_ROLE_WEIGHT;
    s = rewrap(c,
        npu_graph_add_tensor(c->g, &(npu_tensor_desc_t){.name = placeholder[i],
                             .dtype = metas[i].dtype, .shape = metas[i].shape, .role = role,
                             .weight_key = metas[i].name}, NULL), items[i]);
    if (s) goto done;
  }
done:
  free(metas);
  free(items);
  free(placeholder);
  map_free(&by_key);
  return s;
}

static bool parse_role(const char *s, npu_tensor_role_t *out) {
  for (int r = NPU_ROLE_INTERMEDIATE; r <= NPU_ROLE_STATE; r++) {
    if (strcmp(s, npu_tensor_role_name((npu_tensor_role_t)r)) == 0) {
      *out = (npu_tensor_role_t)r;
      return true;
    }
  }
  return false;
}

/* "npu_tensors": [{name, shape, dtype, role}] — tensors with no producer that
 * are neither graph inputs nor checkpoint weights (e.g. device state). */
static npu_status_t import_extra_tensors(import_ctx_t *c, const cJSON *arr) {
  for (const cJSON *e = arr->child; e; e = e->next) {
    tensor_meta_t m;
    NPU_RETURN_IF_ERROR(read_meta(c, e, "npu_tensors entry", &m));
    npu_tensor_role_t role = NPU_ROLE_STATE;
    const cJSON *r = get_key(e, "role");
    if (r && (!cJSON_IsString(r) || !parse_role(r->valuestring, &role)))
      return err_item(c, NPU_STATUS_PARSE_ERROR, e, arr, "npu_tensors: tensor '%s' has a bad role",
                      m.name);
    NPU_RETURN_IF_ERROR(rewrap(c,
        npu_graph_add_tensor(c->g, &(npu_tensor_desc_t){.name = m.name, .dtype = m.dtype,
                             .shape = m.shape, .role = role}, NULL), e));
  }
  return NULL;
}

static npu_status_t import_transforms(import_ctx_t *c, const cJSON *arr) {
  for (const cJSON *e = arr->child; e; e = e->next) {
    if (!cJSON_IsObject(e))
      return err_item(c, NPU_STATUS_PARSE_ERROR, e, arr,
                      "npu_weight_transforms: each entry must be an object");
    const char *kind;
    NPU_RETURN_IF_ERROR(need_string(c, e, "kind", "weight transform", &kind));
    const cJSON *out = get_key(e, "output");
    if (!out)
      return err_item(c, NPU_STATUS_PARSE_ERROR, e, arr, "weight transform '%s': missing 'output'",
                      kind);
    tensor_meta_t m;
    NPU_RETURN_IF_ERROR(read_meta(c, out, "weight transform output", &m));
    const cJSON *sources = get_key(e, "sources");
    if (!cJSON_IsArray(sources))
      return err_item(c, NPU_STATUS_PARSE_ERROR, e, arr,
                      "weight transform '%s': 'sources' must be a list of tensor names", kind);
    int32_t ns = cJSON_GetArraySize(sources);
    npu_tensor_id_t *ids = NULL;
    if (ns > 0) {
      ids = npu_arena_alloc(&c->scratch, sizeof *ids * (size_t)ns);
      if (!ids) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    int32_t i = 0;
    for (const cJSON *src = sources->child; src && i < ns; src = src->next, i++) {
      if (!cJSON_IsString(src) || !src->valuestring)
        return err_item(c, NPU_STATUS_PARSE_ERROR, sources, e,
                        "weight transform '%s': 'sources' must be a list of tensor names", kind);
      ids[i] = npu_graph_find_tensor(c->g, src->valuestring);
      if (ids[i] == NPU_NO_TENSOR)
        return err_item(c, NPU_STATUS_NOT_FOUND, sources, e,
                        "weight transform '%s': unknown source tensor '%s'", kind,
                        src->valuestring);
    }
    npu_attr_t *attrs;
    int32_t na;
    NPU_RETURN_IF_ERROR(read_attrs(c, get_key(e, "attrs"), e, &attrs, &na));
    npu_tensor_id_t id;
    NPU_RETURN_IF_ERROR(rewrap(c,
        npu_graph_add_tensor(c->g, &(npu_tensor_desc_t){.name = m.name, .dtype = m.dtype,
                             .shape = m.shape, .role = NPU_ROLE_WEIGHT}, &id), out));
    NPU_RETURN_IF_ERROR(
        rewrap(c, npu_graph_add_weight_transform(c->g, kind, id, ids, i, attrs, na), e));
  }
  return NULL;
}

static npu_status_t import_roles(import_ctx_t *c, const cJSON *obj, const cJSON *root) {
  if (!cJSON_IsObject(obj))
    return err_item(c, NPU_STATUS_PARSE_ERROR, obj, root, "'npu_tensor_roles' must be an object");
  for (const cJSON *e = obj->child; e; e = e->next) {
    npu_tensor_role_t role;
    const char *name = e->string ? e->string : "";
    if (!cJSON_IsString(e) || !parse_role(e->valuestring, &role))
      return err_item(c, NPU_STATUS_PARSE_ERROR, obj, root,
                      "npu_tensor_roles: '%s' has an unknown role", name);
    npu_tensor_id_t id = npu_graph_find_tensor(c->g, name);
    if (id == NPU_NO_TENSOR)
      return err_item(c, NPU_STATUS_NOT_FOUND, obj, root, "npu_tensor_roles: unknown tensor '%s'",
                      name);
    NPU_RETURN_IF_ERROR(rewrap(c, npu_graph_set_tensor_role(c->g, id, role), obj));
  }
  return NULL;
}

static npu_status_t check_meta_matches(import_ctx_t *c, const cJSON *item, const cJSON *parent,
                                       const char *what, const tensor_meta_t *m,
                                       npu_tensor_id_t id) {
  const npu_tensor_t *t = npu_graph_tensor(c->g, id);
  if (t->dtype == m->dtype && npu_shape_equal(&t->shape, &m->shape)) return NULL;
  char want[200], got[200];
  format_type(m->dtype, &m->shape, want, sizeof want);
  format_type(t->dtype, &t->shape, got, sizeof got);
  return err_item(c, NPU_STATUS_VERIFY_FAILED, item, parent,
                  "%s '%s' is declared %s but tensor '%s' is %s", what, m->name, want, t->name,
                  got);
}

static npu_status_t resolve_input(import_ctx_t *c, const cJSON *in, const cJSON *node_obj,
                                  int32_t index, npu_tensor_id_t *out) {
  char what[64];
  snprintf(what, sizeof what, "input %d", index);
  tensor_meta_t m;
  NPU_RETURN_IF_ERROR(read_meta(c, in, what, &m));
  const cJSON *prod = get_key(in, "producer_node");
  npu_tensor_id_t id = NPU_NO_TENSOR;
  if (prod && !cJSON_IsNull(prod)) {
    if (!cJSON_IsString(prod) || !prod->valuestring)
      return err_item(c, NPU_STATUS_PARSE_ERROR, in, node_obj,
                      "input %d '%s': 'producer_node' must be a string", index, m.name);
    int64_t idx = 0;
    const cJSON *pidx = get_key(in, "producer_output_idx");
    if (pidx) {
      char iwhat[600];
      snprintf(iwhat, sizeof iwhat, "input %d '%s': 'producer_output_idx'", index, m.name);
      NPU_RETURN_IF_ERROR(need_int(c, pidx, in, iwhat, &idx));
    }
    npu_node_id_t pn = npu_graph_find_node(c->g, prod->valuestring);
    if (pn != NPU_NO_NODE) {
      const npu_node_t *p = npu_graph_node(c->g, pn);
      if (idx < 0 || idx >= p->num_outputs)
        return err_item(c, NPU_STATUS_PARSE_ERROR, in, node_obj,
                        "input %d '%s': producer '%s' has %d outputs, not an output %lld", index,
                        m.name, prod->valuestring, p->num_outputs, (long long)idx);
      id = p->outputs[idx];
    } else {
      npu_tensor_id_t t = npu_graph_find_tensor(c->g, prod->valuestring);
      const npu_tensor_t *tt = t != NPU_NO_TENSOR ? npu_graph_tensor(c->g, t) : NULL;
      if (!tt || (tt->role != NPU_ROLE_INPUT && tt->role != NPU_ROLE_STATE) ||
          tt->producer != NPU_NO_NODE)
        return err_item(c, NPU_STATUS_NOT_FOUND, in, node_obj,
                        "input %d '%s': producer '%s' is neither an earlier node nor a graph "
                        "input",
                        index, m.name, prod->valuestring);
      if (idx != 0)
        return err_item(c, NPU_STATUS_PARSE_ERROR, in, node_obj,
                        "input %d '%s': graph input '%s' has only output 0, not %lld", index,
                        m.name, prod->valuestring, (long long)idx);
      id = t;
    }
  } else {
    id = npu_graph_find_tensor(c->g, m.name);
    if (id == NPU_NO_TENSOR)
      return err_item(c, NPU_STATUS_NOT_FOUND, in, node_obj,
                      "input %d '%s' has no producer and is not a weight placeholder or graph "
                      "input",
                      index, m.name);
  }
  NPU_RETURN_IF_ERROR(check_meta_matches(c, in, node_obj, what, &m, id));
  *out = id;
  return NULL;
}

static npu_status_t import_node(import_ctx_t *c, const cJSON *obj) {
  c->prefix[0] = '\0';
  if (!cJSON_IsObject(obj))
    return err_item(c, NPU_STATUS_PARSE_ERROR, obj, NULL, "each entry of 'nodes' must be an object");
  const char *name, *op;
  NPU_RETURN_IF_ERROR(need_string(c, obj, "name", "node", &name));
  {
    const cJSON *opv = get_key(obj, "op_type");
    if (!opv)
      return err_item(c, NPU_STATUS_PARSE_ERROR, obj, NULL, "node %s: missing key 'op_type'", name);
    if (!cJSON_IsString(opv) || !opv->valuestring || !opv->valuestring[0])
      return err_item(c, NPU_STATUS_PARSE_ERROR, obj, NULL,
                      "node %s: 'op_type' must be a non-empty string", name);
    op = opv->valuestring;
  }
  snprintf(c->prefix, sizeof c->prefix, "node %s (%s): ", name, op);
  if (!npu_op_lookup(op)) {
    c->prefix[0] = '\0';
    return err_item(c, NPU_STATUS_UNSUPPORTED, obj, NULL, "node %s: unknown op '%s'", name, op);
  }
  if (npu_graph_find_node(c->g, name) != NPU_NO_NODE)
    return err_item(c, NPU_STATUS_PARSE_ERROR, obj, NULL, "duplicate node name '%s'", name);
  const cJSON *inputs = get_key(obj, "inputs");
  const cJSON *outputs = get_key(obj, "outputs");
  if (!cJSON_IsArray(inputs))
    return err_item(c, NPU_STATUS_PARSE_ERROR, inputs, obj,
                    inputs ? "'inputs' must be a list" : "missing key 'inputs'");
  if (!cJSON_IsArray(outputs))
    return err_item(c, NPU_STATUS_PARSE_ERROR, outputs, obj,
                    outputs ? "'outputs' must be a list" : "missing key 'outputs'");
  int32_t ni = cJSON_GetArraySize(inputs), no = cJSON_GetArraySize(outputs);
  npu_tensor_id_t *in_ids = ni ? npu_arena_alloc(&c->scratch, sizeof *in_ids * (size_t)ni) : NULL;
  npu_tensor_id_t *out_ids = no ? npu_arena_alloc(&c->scratch, sizeof *out_ids * (size_t)no) : NULL;
  if ((ni && !in_ids) || (no && !out_ids)) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  int32_t i = 0;
  for (const cJSON *e = inputs->child; e && i < ni; e = e->next, i++)
    NPU_RETURN_IF_ERROR(resolve_input(c, e, obj, i, &in_ids[i]));
  i = 0;
  for (const cJSON *e = outputs->child; e && i < no; e = e->next, i++) {
    char what[64];
    snprintf(what, sizeof what, "output %d", i);
    tensor_meta_t m;
    NPU_RETURN_IF_ERROR(read_meta(c, e, what, &m));
    NPU_RETURN_IF_ERROR(rewrap(c,
        npu_graph_add_tensor(c->g, &(npu_tensor_desc_t){.name = m.name, .dtype = m.dtype,
                             .shape = m.shape, .role = NPU_ROLE_INTERMEDIATE}, &out_ids[i]), e));
  }
  npu_attr_t *attrs;
  int32_t na;
  NPU_RETURN_IF_ERROR(read_attrs(c, get_key(obj, "attrs"), obj, &attrs, &na));
  npu_node_id_t id;
  NPU_RETURN_IF_ERROR(rewrap(c,
      npu_graph_insert_node(c->g, &(npu_node_desc_t){.name = name, .op = op, .inputs = in_ids,
                            .num_inputs = ni, .outputs = out_ids, .num_outputs = no,
                            .attrs = attrs, .num_attrs = na}, NPU_NO_NODE, &id), obj));
  NPU_RETURN_IF_ERROR(rewrap(c, npu_op_apply_defaults(c->g, id), obj));
  c->prefix[0] = '\0';
  return NULL;
}

static npu_status_t import_outputs(import_ctx_t *c, const cJSON *arr) {
  for (const cJSON *e = arr->child; e; e = e->next) {
    tensor_meta_t m;
    NPU_RETURN_IF_ERROR(read_meta(c, e, "graph output", &m));
    npu_tensor_id_t id = npu_graph_find_tensor(c->g, m.name);
    if (id == NPU_NO_TENSOR)
      return err_item(c, NPU_STATUS_NOT_FOUND, e, arr,
                      "graph output '%s' is not a node output, graph input or weight", m.name);
    NPU_RETURN_IF_ERROR(check_meta_matches(c, e, arr, "graph output", &m, id));
    NPU_RETURN_IF_ERROR(rewrap(c, npu_graph_add_output(c->g, id), e));
  }
  return NULL;
}

static npu_status_t import_root(import_ctx_t *c, const cJSON *root) {
  if (!cJSON_IsObject(root))
    return err_item(c, NPU_STATUS_PARSE_ERROR, root, NULL, "the top level must be a JSON object");
  const cJSON *inputs, *outputs, *weights, *nodes, *v;
  NPU_RETURN_IF_ERROR(need_array(c, root, "graph_inputs", true, &inputs));
  NPU_RETURN_IF_ERROR(need_array(c, root, "graph_outputs", true, &outputs));
  NPU_RETURN_IF_ERROR(need_array(c, root, "weights", true, &weights));
  NPU_RETURN_IF_ERROR(need_array(c, root, "nodes", true, &nodes));
  if ((v = get_key(root, "constants")) != NULL && !cJSON_IsNull(v)) {
    if (!cJSON_IsObject(v))
      return err_item(c, NPU_STATUS_PARSE_ERROR, v, root, "'constants' must be an object");
    if (v->child)
      return err_item(c, NPU_STATUS_UNSUPPORTED, v, root,
                      "key 'constants' (embedded constant values, e.g. '%s') is not supported; "
                      "extract the IR on the meta device",
                      v->child->string ? v->child->string : "");
  }
  if ((v = get_key(root, "model_name")) != NULL && !cJSON_IsNull(v)) {
    if (!cJSON_IsString(v))
      return err_item(c, NPU_STATUS_PARSE_ERROR, root, NULL, "'model_name' must be a string");
    NPU_RETURN_IF_ERROR(rewrap(c, npu_graph_set_model_name(c->g, v->valuestring), root));
  }
  if ((v = get_key(root, "pytorch_version")) != NULL && !cJSON_IsNull(v)) {
    if (!cJSON_IsString(v))
      return err_item(c, NPU_STATUS_PARSE_ERROR, root, NULL, "'pytorch_version' must be a string");
    NPU_RETURN_IF_ERROR(rewrap(c, npu_graph_set_pytorch_version(c->g, v->valuestring), root));
  }
  NPU_RETURN_IF_ERROR(import_inputs(c, inputs));
  NPU_RETURN_IF_ERROR(import_weights(c, root, weights));
  const cJSON *ext;
  NPU_RETURN_IF_ERROR(need_array(c, root, "npu_tensors", false, &ext));
  if (ext) NPU_RETURN_IF_ERROR(import_extra_tensors(c, ext));
  NPU_RETURN_IF_ERROR(need_array(c, root, "npu_weight_transforms", false, &ext));
  if (ext) NPU_RETURN_IF_ERROR(import_transforms(c, ext));
  if ((v = get_key(root, "npu_tensor_roles")) != NULL) NPU_RETURN_IF_ERROR(import_roles(c, v, root));
  NPU_RETURN_IF_ERROR(rewrap(c, npu_ops_register_builtins(), root));
  for (const cJSON *n = nodes->child; n; n = n->next) {
    NPU_RETURN_IF_ERROR(import_node(c, n));
    /* Scratch memory is per node: the graph has copied what it keeps. */
    npu_arena_release(&c->scratch);
    npu_arena_init(&c->scratch);
  }
  c->prefix[0] = '\0';
  NPU_RETURN_IF_ERROR(import_outputs(c, outputs));
  npu_status_t s = npu_graph_verify(c->g);
  if (s) {
    const char *iloc = npu_status_location(s);
    npu_status_t w = npu_error_at(npu_status_code(s), c->origin, "%s%s%s", iloc ? iloc : "",
                                  iloc ? ": " : "", npu_status_message(s));
    npu_status_free(s);
    return w;
  }
  return NULL;
}

static npu_status_t err_off(import_ctx_t *c, npu_status_code_t code, size_t off,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static npu_status_t err_off(import_ctx_t *c, npu_status_code_t code, size_t off,
                            const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  npu_status_t s = verr_loc(c, code, true, off, fmt, ap);
  va_end(ap);
  return s;
}

static npu_status_t syntax_error(import_ctx_t *c, size_t off) {
  if (off >= c->size)
    return err_off(c, NPU_STATUS_PARSE_ERROR, c->size,
                   "JSON syntax error: unexpected end of input");
  char near[40];
  size_t k = 0;
  for (size_t i = off; i < c->size && k < 16; i++) {
    unsigned char ch = (unsigned char)c->text[i];
    if (ch == '\n' || ch == '\r') break;
    near[k++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
  }
  near[k] = '\0';
  return err_off(c, NPU_STATUS_PARSE_ERROR, off,
                 "JSON syntax error at '%s' (or nesting deeper than %d)", near,
                 CJSON_NESTING_LIMIT);
}

npu_status_t npu_graph_import_json_buffer(const char *data, size_t size, const char *origin,
                                          npu_graph_t **out_graph) {
  if (!out_graph) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "out_graph is NULL");
  *out_graph = NULL;
  if (!data && size) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "data is NULL");
  import_ctx_t c;
  memset(&c, 0, sizeof c);
  c.origin = origin ? origin : "<buffer>";
  c.text = data ? data : "";
  c.size = size;
  npu_arena_init(&c.scratch);
  npu_status_t s = NULL;
  cJSON *root = NULL;
  char *copy = malloc(size + 1);
  if (!copy) {
    s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory reading %s", c.origin);
    goto done;
  }
  if (size) memcpy(copy, data, size);
  copy[size] = '\0';
  if (!lex(c.text, size, copy, &c.toks, &c.brackets)) {
    s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory reading %s", c.origin);
    goto done;
  }
  const char *end = NULL;
  root = cJSON_ParseWithOpts(copy, &end, 0);
  if (!root) {
    size_t off = size;
    if (end && end >= copy && (size_t)(end - copy) <= size) off = (size_t)(end - copy);
    s = syntax_error(&c, off);
    goto done;
  }
  {
    size_t off = end && end >= copy && (size_t)(end - copy) <= size ? (size_t)(end - copy) : size;
    while (off < size && (copy[off] == ' ' || copy[off] == '\t' || copy[off] == '\n' ||
                          copy[off] == '\r'))
      off++;
    if (off < size) {
      s = err_off(&c, NPU_STATUS_PARSE_ERROR, off,
                  "JSON syntax error: unexpected content after the top-level value");
      goto done;
    }
  }
  assign_indices(&c, root);
  if (c.next_tok != c.toks.count || c.next_bracket != c.brackets.count) {
    s = npu_error_at(NPU_STATUS_PARSE_ERROR, c.origin,
                     "JSON tokens out of step (%zu numbers parsed, %zu lexed)", c.next_tok,
                     c.toks.count);
    goto done;
  }
  for (size_t i = 0; i < c.toks.count; i++) {
    const num_token_t *t = &c.toks.items[i];
    if (t->kind == TOK_NUMBER && !json_number_syntax(c.text + t->offset, t->length)) {
      s = err_off(&c, NPU_STATUS_PARSE_ERROR, t->offset, "invalid number '%.*s'",
                  (int)(t->length > 40 ? 40 : t->length), c.text + t->offset);
      goto done;
    }
  }
  s = npu_graph_create(&c.g);
  if (s) goto done;
  s = import_root(&c, root);
done:
  cJSON_Delete(root);
  free(copy);
  free(c.toks.items);
  free(c.brackets.items);
  npu_arena_release(&c.scratch);
  if (s) {
    if (c.g) npu_graph_destroy(c.g);
    return s;
  }
  *out_graph = c.g;
  return NULL;
}

npu_status_t npu_graph_import_json_file(const char *path, npu_graph_t **out_graph) {
  if (!out_graph) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "out_graph is NULL");
  *out_graph = NULL;
  if (!path) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "path is NULL");
  FILE *f = fopen(path, "rb");
  if (!f)
    return npu_error_at(errno == ENOENT ? NPU_STATUS_NOT_FOUND : NPU_STATUS_IO_ERROR, path,
                        "cannot open: %s", strerror(errno));
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  if (!buf) {
    fclose(f);
    return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory reading %s", path);
  }
  for (;;) {
    if (len == cap) {
      char *p = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
      if (!p) {
        free(buf);
        fclose(f);
        return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory reading %s", path);
      }
      buf = p;
      cap *= 2;
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    len += n;
    if (n == 0) break;
  }
  bool failed = ferror(f) != 0;
  fclose(f);
  if (failed) {
    free(buf);
    return npu_error_at(NPU_STATUS_IO_ERROR, path, "read error");
  }
  npu_status_t s = npu_graph_import_json_buffer(buf, len, path, out_graph);
  free(buf);
  return s;
}
