/*
 * kvcache — turns the KV cache of a prefill/decode pair into persistent
 * device state updated in place (docs/passes.md, "kvcache").
 *
 * Everything is found by structure, never by name:
 *
 *   decode  A graph input X read only by one aten.index_copy.default (as its
 *           `self`, input 0) whose result Y is a graph output is a state pair.
 *           X becomes a STATE tensor, the index_copy becomes npu.kv_write
 *           (same operands, same output, written in place into X's storage),
 *           and X / Y leave the graph's inputs / outputs. The pairs are
 *           numbered in graph-output order: state i is "kv_state_<i>".
 *   prefill A graph without state pairs. Its outputs after the first (the
 *           logits) match the decode state pairs one to one, in order, with
 *           equal dtype and dims equal except the sequence axis (S <= C).
 *           Each such output O gets a STATE tensor "kv_state_<i>" of the
 *           decode shape and an npu.kv_fill(state, O) right after O's
 *           producer, and O leaves the graph outputs.
 *
 * Names never decide anything: the runtime matches the states of the two
 * programs by the "state_name" attr ("kv_state_<i>") that every kv_write and
 * kv_fill carries. kv_mapping.json, when given, is only cross-checked.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "npu/graph_io.h"
#include "npu/plugin.h"

#define KV_WRITE_OP "npu.kv_write"
#define KV_FILL_OP "npu.kv_fill"
#define INDEX_COPY_OP "aten.index_copy.default"
#define MAX_PAIRS 4096

/* ---- op schemas ------------------------------------------------------------------ */

#define ERR(...) npu_node_error(g, id, NPU_STATUS_VERIFY_FAILED, __VA_ARGS__)

static const npu_tensor_t *in_tensor(const npu_graph_t *g, npu_node_id_t id, int32_t i) {
  return npu_graph_tensor(g, npu_graph_node(g, id)->inputs[i]);
}

static int64_t dim_attr(const npu_graph_t *g, npu_node_id_t id) {
  int64_t d = 2;
  npu_node_attr_int(npu_graph_node(g, id), "dim", &d);
  return d;
}

/* source fits state except along `d`, where it has `rows` rows. */
static npu_status_t check_fit(const npu_graph_t *g, npu_node_id_t id, const char *op,
                              const npu_tensor_t *state, const npu_tensor_t *src, int32_t d,
                              int64_t *out_rows) {
  char b1[128], b2[128];
  if (src->dtype != state->dtype)
    return ERR("%s: source dtype %s differs from state dtype %s", op, npu_dtype_name(src->dtype),
               npu_dtype_name(state->dtype));
  bool ok = src->shape.rank == state->shape.rank;
  for (int32_t k = 0; ok && k < state->shape.rank; k++)
    if (k != d && src->shape.dims[k] != state->shape.dims[k]) ok = false;
  if (!ok)
    return ERR("%s: source %s does not fit state %s outside dim %d", op,
               npu_shape_format(&src->shape, b1, sizeof b1),
               npu_shape_format(&state->shape, b2, sizeof b2), d);
  *out_rows = src->shape.dims[d];
  return NULL;
}

static npu_status_t infer_kv_write(const npu_graph_t *g, npu_node_id_t id, npu_tensor_type_t *out,
                                   int32_t nout) {
  (void)nout;
  const npu_tensor_t *state = in_tensor(g, id, 0), *idx = in_tensor(g, id, 1),
                     *src = in_tensor(g, id, 2);
  int32_t d;
  if (!npu_wrap_dim(dim_attr(g, id), state->shape.rank, &d))
    return ERR("kv_write: dim out of range for rank %d", state->shape.rank);
  if (idx->dtype != NPU_DTYPE_INT64)
    return ERR("kv_write: index must be int64, not %s", npu_dtype_name(idx->dtype));
  if (idx->shape.rank > 1) return ERR("kv_write: index must be 0-D or 1-D");
  int64_t n = idx->shape.rank == 1 ? idx->shape.dims[0] : 1, rows;
  NPU_RETURN_IF_ERROR(check_fit(g, id, "kv_write", state, src, d, &rows));
  if (rows != n)
    return ERR("kv_write: source has %" PRId64 " rows along dim %d but the index has %" PRId64
               " entries", rows, d, n);
  out[0] = (npu_tensor_type_t){.dtype = state->dtype, .shape = state->shape};
  return NULL;
}

static npu_status_t infer_kv_fill(const npu_graph_t *g, npu_node_id_t id, npu_tensor_type_t *out,
                                  int32_t nout) {
  (void)nout;
  const npu_tensor_t *state = in_tensor(g, id, 0), *src = in_tensor(g, id, 1);
  int32_t d;
  if (!npu_wrap_dim(dim_attr(g, id), state->shape.rank, &d))
    return ERR("kv_fill: dim out of range for rank %d", state->shape.rank);
  int64_t rows;
  NPU_RETURN_IF_ERROR(check_fit(g, id, "kv_fill", state, src, d, &rows));
  if (rows > state->shape.dims[d])
    return ERR("kv_fill: S = %" PRId64 " rows do not fit the cache, C = %" PRId64 " (dim %d)",
               rows, state->shape.dims[d], d);
  out[0] = (npu_tensor_type_t){.dtype = state->dtype, .shape = state->shape};
  return NULL;
}

static const npu_arg_schema_t kv_args[] = {
    {.name = "dim", .kind = NPU_ARG_INT, .required = false, .default_value = {.kind = NPU_ATTR_INT, .u.i = 2}},
    {.name = "state_index", .kind = NPU_ARG_INT, .required = false, .default_value = {.kind = NPU_ATTR_NULL}},
    {.name = "state_name", .kind = NPU_ARG_STRING, .required = false, .default_value = {.kind = NPU_ATTR_NULL}},
};

static const npu_op_schema_t kv_ops[] = {
    {.name = KV_WRITE_OP,
     .summary = "state.index_copy_(dim, index, source) on device state, in place; "
                "an index >= the cache length is a run-time error",
     .min_inputs = 3, .max_inputs = 3, .num_outputs = 1, .args = kv_args, .num_args = 3,
     .infer = infer_kv_write, .flags = NPU_OP_FLAG_VIEW | NPU_OP_FLAG_INPLACE},
    {.name = KV_FILL_OP,
     .summary = "state.narrow(dim, 0, S).copy_(source) on device state, in place (S <= C)",
     .min_inputs = 2, .max_inputs = 2, .num_outputs = 1, .args = kv_args, .num_args = 3,
     .infer = infer_kv_fill, .flags = NPU_OP_FLAG_VIEW | NPU_OP_FLAG_INPLACE},
};
#undef ERR

/* ---- detection ------------------------------------------------------------------- */

typedef struct kv_pair {
  npu_tensor_id_t state;  /* X, the graph input */
  npu_tensor_id_t result; /* Y, the graph output */
  npu_node_id_t node;     /* the index_copy */
  int32_t output_index;   /* Y's place in graph outputs */
  int32_t dim;            /* wrapped sequence axis */
} kv_pair_t;

static int32_t count_in(const npu_tensor_id_t *ids, int32_t n, npu_tensor_id_t t) {
  int32_t c = 0;
  for (int32_t i = 0; i < n; i++) c += ids[i] == t;
  return c;
}

/* Collects the state pairs of g in graph-output order. With ctx, remarks on
 * index_copy nodes that write a graph input but do not fit the pattern. */
static npu_status_t find_pairs(npu_pass_context_t *ctx, const npu_graph_t *g, kv_pair_t **out,
                               int32_t *out_count) {
  int32_t ni, no;
  const npu_tensor_id_t *ins = npu_graph_inputs(g, &ni);
  const npu_tensor_id_t *outs = npu_graph_outputs(g, &no);
  kv_pair_t *pairs = calloc((size_t)no + 1, sizeof *pairs);
  if (!pairs) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "kvcache: out of memory");
  int32_t n = 0;
  for (int32_t o = 0; o < no; o++) {
    const npu_tensor_t *y = npu_graph_tensor(g, outs[o]);
    if (y->producer == NPU_NO_NODE) continue;
    const npu_node_t *node = npu_graph_node(g, y->producer);
    if (strcmp(node->op, INDEX_COPY_OP) != 0 || node->num_inputs != 3 || node->num_outputs != 1)
      continue;
    npu_tensor_id_t x = node->inputs[0];
    const npu_tensor_t *xt = npu_graph_tensor(g, x);
    if (xt->role != NPU_ROLE_INPUT || count_in(ins, ni, x) != 1) continue;
    if (npu_graph_use_count(g, x) != 1 || count_in(outs, no, outs[o]) != 1) continue;
    if (count_in(node->inputs, node->num_inputs, x) != 1) continue;
    int64_t dim = 0;
    int32_t d;
    if (!npu_node_attr_int(node, "dim", &dim) || !npu_wrap_dim(dim, xt->shape.rank, &d)) continue;
    pairs[n++] = (kv_pair_t){.state = x, .result = outs[o], .node = y->producer,
                             .output_index = o, .dim = d};
  }
  if (ctx) {
    /* index_copy nodes writing a graph input that were not taken. */
    for (npu_node_id_t id = npu_graph_first_node(g); id != NPU_NO_NODE;
         id = npu_graph_next_node(g, id)) {
      const npu_node_t *node = npu_graph_node(g, id);
      if (strcmp(node->op, INDEX_COPY_OP) != 0 || node->num_inputs < 1) continue;
      if (count_in(ins, ni, node->inputs[0]) == 0) continue;
      bool taken = false;
      for (int32_t i = 0; i < n && !taken; i++) taken = pairs[i].node == id;
      if (!taken) {
        char loc[256];
        npu_pass_remark(ctx,
                        "%s writes graph input '%s' but is not a state pair (the input has "
                        "other readers or the result is not a graph output): left alone",
                        npu_node_location(g, id, loc, sizeof loc),
                        npu_graph_tensor(g, node->inputs[0])->name);
      }
    }
  }
  *out = pairs;
  *out_count = n;
  return NULL;
}

/* ---- host interface ------------------------------------------------------------- */

static int cmp_desc(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x < y) - (x > y);
}

/* Removes graph outputs at the given indices (any order). */
static npu_status_t drop_outputs(npu_graph_t *g, int32_t *idx, int32_t n) {
  qsort(idx, (size_t)n, sizeof *idx, cmp_desc);
  for (int32_t i = 0; i < n; i++) NPU_RETURN_IF_ERROR(npu_graph_remove_output(g, idx[i]));
  return NULL;
}

static npu_status_t drop_inputs(npu_graph_t *g, int32_t *idx, int32_t n) {
  qsort(idx, (size_t)n, sizeof *idx, cmp_desc);
  for (int32_t i = 0; i < n; i++) NPU_RETURN_IF_ERROR(npu_graph_remove_input(g, idx[i]));
  return NULL;
}

static int32_t index_of(const npu_tensor_id_t *ids, int32_t n, npu_tensor_id_t t) {
  for (int32_t i = 0; i < n; i++)
    if (ids[i] == t) return i;
  return -1;
}

/* ---- kv_mapping.json: cross-check only ------------------------------------------ */

typedef struct kv_mapping {
  cJSON *root;
  int64_t num_layers, prefill_seq_len, max_cache_len; /* -1 when absent */
} kv_mapping_t;

static void resolve_path(const npu_pass_context_t *ctx, const char *path, char *buf, size_t n) {
  if (path[0] == '/')
    snprintf(buf, n, "%s", path);
  else
    snprintf(buf, n, "%s/%s", npu_pass_base_dir(ctx), path);
}

static int64_t json_int(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
}

static const char *json_str(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static npu_status_t load_mapping(const char *path, kv_mapping_t *m) {
  FILE *f = fopen(path, "rb");
  if (!f) return npu_error(NPU_STATUS_IO_ERROR, "kvcache: kv_mapping '%s': %s", path, strerror(errno));
  char *data = NULL;
  size_t size = 0, cap = 0, got;
  char chunk[65536];
  while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (size + got + 1 > cap) {
      cap = (size + got + 1) * 2;
      char *grown = realloc(data, cap);
      if (!grown) {
        free(data);
        fclose(f);
        return npu_error(NPU_STATUS_OUT_OF_MEMORY, "kvcache: out of memory");
      }
      data = grown;
    }
    memcpy(data + size, chunk, got);
    size += got;
  }
  fclose(f);
  m->root = data ? cJSON_ParseWithLength(data, size) : NULL;
  free(data);
  if (!cJSON_IsObject(m->root)) {
    cJSON_Delete(m->root);
    m->root = NULL;
    return npu_error(NPU_STATUS_PARSE_ERROR, "kvcache: kv_mapping '%s' is not a JSON object", path);
  }
  m->num_layers = json_int(m->root, "num_layers");
  m->prefill_seq_len = json_int(m->root, "prefill_seq_len");
  m->max_cache_len = json_int(m->root, "max_cache_len");
  return NULL;
}

/* Prefill output name of state i in the mapping: layer i/2, key (even) or
 * value (odd). */
static const char *mapping_prefill_name(const kv_mapping_t *m, int32_t i) {
  const cJSON *layers = cJSON_GetObjectItemCaseSensitive(m->root, "layers");
  for (const cJSON *e = cJSON_IsArray(layers) ? layers->child : NULL; e; e = e->next)
    if (json_int(e, "layer") == i / 2)
      return json_str(e, i % 2 ? "prefill_value_output" : "prefill_key_output");
  return NULL;
}

/* Decode side: the pairs' input/output names must be the mapping's. */
static npu_status_t check_mapping_decode(const kv_mapping_t *m, const npu_graph_t *dg,
                                         const kv_pair_t *pairs, int32_t n) {
  if (m->num_layers >= 0 && m->num_layers * 2 != n)
    return npu_error(NPU_STATUS_VERIFY_FAILED,
                     "kvcache: kv_mapping has %" PRId64 " layers (%" PRId64
                     " states) but the decode graph has %d state pairs",
                     m->num_layers, m->num_layers * 2, n);
  for (int32_t i = 0; i < n; i++) {
    char in_key[64], out_key[64];
    snprintf(in_key, sizeof in_key, "decode_%s_input", i % 2 ? "value" : "key");
    snprintf(out_key, sizeof out_key, "decode_%s_output", i % 2 ? "value" : "key");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(m->root, "layers");
    for (const cJSON *e = cJSON_IsArray(layers) ? layers->child : NULL; e; e = e->next) {
      if (json_int(e, "layer") != i / 2) continue;
      const char *want_in = json_str(e, in_key), *want_out = json_str(e, out_key);
      const char *have_in = npu_graph_tensor(dg, pairs[i].state)->name;
      const char *have_out = npu_graph_tensor(dg, pairs[i].result)->name;
      if ((want_in && strcmp(want_in, have_in) != 0) || (want_out && strcmp(want_out, have_out) != 0))
        return npu_error(NPU_STATUS_VERIFY_FAILED,
                         "kvcache: kv_mapping layer %d %s is '%s' -> '%s', but structural state "
                         "pair %d is '%s' -> '%s'",
                         i / 2, i % 2 ? "value" : "key", want_in ? want_in : "?",
                         want_out ? want_out : "?", i, have_in, have_out);
    }
    int64_t c = npu_graph_tensor(dg, pairs[i].state)->shape.dims[pairs[i].dim];
    if (m->max_cache_len >= 0 && m->max_cache_len != c)
      return npu_error(NPU_STATUS_VERIFY_FAILED,
                       "kvcache: kv_mapping max_cache_len %" PRId64 " but state pair %d has %" PRId64
                       " rows", m->max_cache_len, i, c);
  }
  return NULL;
}

/* ---- decode ---------------------------------------------------------------------- */

static npu_status_t run_decode(npu_graph_t *g, kv_pair_t *pairs, int32_t n) {
  int32_t ni, no;
  const npu_tensor_id_t *ins = npu_graph_inputs(g, &ni);
  int32_t *drop_in = calloc((size_t)n, sizeof *drop_in), *drop_out = calloc((size_t)n, sizeof *drop_out);
  npu_status_t s = NULL;
  if (!drop_in || !drop_out) {
    s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "kvcache: out of memory");
    goto done;
  }
  for (int32_t i = 0; i < n; i++) drop_in[i] = index_of(ins, ni, pairs[i].state);
  (void)npu_graph_outputs(g, &no);
  for (int32_t i = 0; i < n; i++) {
    char state_name[64];
    snprintf(state_name, sizeof state_name, "kv_state_%d", i);
    /* The index_copy becomes the kv_write in place: same operands (state,
     * index, source), same output tensor, so no use needs rewiring. */
    if ((s = npu_graph_set_tensor_role(g, pairs[i].state, NPU_ROLE_STATE))) goto done;
    if ((s = npu_graph_set_node_op(g, pairs[i].node, KV_WRITE_OP))) goto done;
    if ((s = npu_graph_set_node_attr(g, pairs[i].node, "dim", npu_attr_int(pairs[i].dim)))) goto done;
    if ((s = npu_graph_set_node_attr(g, pairs[i].node, "state_index", npu_attr_int(i)))) goto done;
    if ((s = npu_graph_set_node_attr(g, pairs[i].node, "state_name", npu_attr_string(state_name))))
      goto done;
    drop_out[i] = pairs[i].output_index;
  }
  if ((s = drop_outputs(g, drop_out, n))) goto done;
  s = drop_inputs(g, drop_in, n);
done:
  free(drop_in);
  free(drop_out);
  return s;
}

/* ---- prefill --------------------------------------------------------------------- */

typedef struct state_type {
  npu_dtype_t dtype;
  npu_shape_t shape; /* the full cache, [B, H, C, D] */
  int32_t dim;       /* sequence axis */
} state_type_t;

static npu_status_t run_prefill(npu_pass_context_t *ctx, npu_graph_t *g, const npu_options_t *opts) {
  int64_t cache_len = npu_options_get_int(opts, "cache_len");
  const char *decode_ir = npu_options_get_string(opts, "decode_ir");
  const char *mapping_path = npu_options_get_string(opts, "kv_mapping");
  if (decode_ir && !*decode_ir) decode_ir = NULL;
  if (mapping_path && !*mapping_path) mapping_path = NULL;
  if (cache_len < 0) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "kvcache: cache_len %" PRId64 " is negative", cache_len);
  if (cache_len == 0 && !decode_ir && !mapping_path)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "kvcache: prefill graph needs cache_len, decode_ir or kv_mapping");

  int32_t no;
  const npu_tensor_id_t *outs0 = npu_graph_outputs(g, &no);
  int32_t nkv = no > 0 ? no - 1 : 0;
  npu_status_t s = NULL;
  kv_mapping_t m = {.root = NULL};
  npu_graph_t *dg = NULL;
  kv_pair_t *pairs = NULL;
  int32_t npairs = 0;
  state_type_t *types = calloc((size_t)nkv + 1, sizeof *types);
  npu_tensor_id_t *kv_out = calloc((size_t)nkv + 1, sizeof *kv_out);
  int32_t *drop = calloc((size_t)nkv + 1, sizeof *drop);
  char path[4096], b1[128], b2[128];
  if (!types || !kv_out || !drop) {
    s = npu_error(NPU_STATUS_OUT_OF_MEMORY, "kvcache: out of memory");
    goto done;
  }
  memcpy(kv_out, outs0 + 1, sizeof *kv_out * (size_t)nkv);

  if (mapping_path) {
    resolve_path(ctx, mapping_path, path, sizeof path);
    if ((s = load_mapping(path, &m))) goto done;
  }

  if (decode_ir) {
    resolve_path(ctx, decode_ir, path, sizeof path);
    if ((s = npu_graph_import_json_file(path, &dg))) {
      s = npu_status_annotate(s, NULL, "kvcache: decode_ir '%s'", path);
      goto done;
    }
    if ((s = find_pairs(NULL, dg, &pairs, &npairs))) goto done;
    if (npairs == 0) {
      s = npu_error(NPU_STATUS_VERIFY_FAILED, "kvcache: decode_ir '%s' has no state pairs", path);
      goto done;
    }
    if (npairs != nkv) {
      s = npu_error(NPU_STATUS_VERIFY_FAILED,
                    "kvcache: the prefill graph has %d outputs after the first but the decode "
                    "graph has %d state pairs", nkv, npairs);
      goto done;
    }
    for (int32_t i = 0; i < npairs; i++) {
      const npu_tensor_t *x = npu_graph_tensor(dg, pairs[i].state);
      types[i] = (state_type_t){.dtype = x->dtype, .shape = x->shape, .dim = pairs[i].dim};
      int64_t c = x->shape.dims[pairs[i].dim];
      if (cache_len > 0 && cache_len != c) {
        s = npu_error(NPU_STATUS_VERIFY_FAILED,
                      "kvcache: cache_len %" PRId64 " disagrees with decode state pair %d ('%s' "
                      "%s), which holds %" PRId64 " rows", cache_len, i, x->name,
                      npu_shape_format(&x->shape, b1, sizeof b1), c);
        goto done;
      }
      if (i == 0) cache_len = c;
    }
    if (m.root && (s = check_mapping_decode(&m, dg, pairs, npairs))) goto done;
  } else {
    if (cache_len == 0) {
      if (m.max_cache_len <= 0) {
        s = npu_error(NPU_STATUS_INVALID_ARGUMENT,
                      "kvcache: kv_mapping '%s' has no max_cache_len; give cache_len or decode_ir",
                      mapping_path);
        goto done;
      }
      cache_len = m.max_cache_len;
    }
    /* No decode graph: each KV output is the cache's layout with S rows on
     * the axis before the last (the cat(..., -2) of the HF cache). */
    for (int32_t i = 0; i < nkv; i++) {
      const npu_tensor_t *o = npu_graph_tensor(g, kv_out[i]);
      if (o->shape.rank < 2) {
        s = npu_error(NPU_STATUS_VERIFY_FAILED,
                      "kvcache: prefill output %d '%s' %s has no sequence axis", i + 1, o->name,
                      npu_shape_format(&o->shape, b1, sizeof b1));
        goto done;
      }
      types[i] = (state_type_t){.dtype = o->dtype, .shape = o->shape, .dim = o->shape.rank - 2};
      types[i].shape.dims[types[i].dim] = cache_len;
    }
  }
  if (nkv == 0) {
    s = npu_error(NPU_STATUS_VERIFY_FAILED,
                  "kvcache: the prefill graph has no KV outputs after the first output");
    goto done;
  }
  if (m.root && m.num_layers >= 0 && m.num_layers * 2 != nkv) {
    s = npu_error(NPU_STATUS_VERIFY_FAILED,
                  "kvcache: kv_mapping has %" PRId64 " layers but the prefill graph has %d KV "
                  "outputs", m.num_layers, nkv);
    goto done;
  }
  if (m.root && m.max_cache_len >= 0 && m.max_cache_len != cache_len) {
    s = npu_error(NPU_STATUS_VERIFY_FAILED,
                  "kvcache: kv_mapping max_cache_len %" PRId64 " disagrees with cache_len %" PRId64,
                  m.max_cache_len, cache_len);
    goto done;
  }

  /* The structural link: output 1+i against state i. */
  for (int32_t i = 0; i < nkv; i++) {
    const npu_tensor_t *o = npu_graph_tensor(g, kv_out[i]);
    const state_type_t *t = &types[i];
    bool ok = o->dtype == t->dtype && o->shape.rank == t->shape.rank;
    for (int32_t k = 0; ok && k < t->shape.rank; k++)
      if (k != t->dim && o->shape.dims[k] != t->shape.dims[k]) ok = false;
    if (!ok) {
      s = npu_error(NPU_STATUS_VERIFY_FAILED,
                    "kvcache: prefill output %d '%s' %s %s does not match decode state %d %s %s "
                    "(dims must agree except the sequence axis %d)",
                    i + 1, o->name, npu_dtype_name(o->dtype),
                    npu_shape_format(&o->shape, b1, sizeof b1), i, npu_dtype_name(t->dtype),
                    npu_shape_format(&t->shape, b2, sizeof b2), t->dim);
      goto done;
    }
    int64_t rows = o->shape.dims[t->dim], c = t->shape.dims[t->dim];
    if (rows > c) {
      s = npu_error(NPU_STATUS_VERIFY_FAILED,
                    "kvcache: prefill output %d '%s' %s has S = %" PRId64 " rows, more than the "
                    "cache holds (C = %" PRId64 ")", i + 1, o->name,
                    npu_shape_format(&o->shape, b1, sizeof b1), rows, c);
      goto done;
    }
    if (o->producer == NPU_NO_NODE) {
      s = npu_error(NPU_STATUS_VERIFY_FAILED,
                    "kvcache: prefill output %d '%s' is not computed by a node", i + 1, o->name);
      goto done;
    }
    if (m.root && m.prefill_seq_len >= 0 && m.prefill_seq_len != rows) {
      s = npu_error(NPU_STATUS_VERIFY_FAILED,
                    "kvcache: kv_mapping prefill_seq_len %" PRId64 " but prefill output %d '%s' "
                    "has %" PRId64 " rows", m.prefill_seq_len, i + 1, o->name, rows);
      goto done;
    }
    /* A mapping name that is still a graph output must be at its place
     * (canonicalize may have renamed it: then there is nothing to check). */
    const char *want = m.root ? mapping_prefill_name(&m, i) : NULL;
    if (want) {
      const npu_tensor_id_t *outs = npu_graph_outputs(g, &no);
      for (int32_t k = 1; k < no; k++)
        if (strcmp(npu_graph_tensor(g, outs[k])->name, want) == 0 && k != i + 1) {
          s = npu_error(NPU_STATUS_VERIFY_FAILED,
                        "kvcache: kv_mapping puts '%s' at state %d, but it is prefill output %d, "
                        "which links structurally to state %d", want, i, k, k - 1);
          goto done;
        }
    }
  }

  /* Rewrite: a STATE tensor and a kv_fill after each KV output's producer. */
  for (int32_t i = 0; i < nkv; i++) {
    char name[64];
    snprintf(name, sizeof name, "kv_state_%d", i);
    npu_tensor_id_t st, filled;
    if ((s = npu_graph_add_tensor(g, &(npu_tensor_desc_t){.name = npu_graph_unique_name(g, name),
                                  .dtype = types[i].dtype, .shape = types[i].shape,
                                  .role = NPU_ROLE_STATE}, &st)))
      goto done;
    char fname[96];
    snprintf(fname, sizeof fname, "%s_fill", name);
    const char *fill_name = npu_graph_unique_name(g, fname);
    if ((s = npu_graph_add_tensor(g, &(npu_tensor_desc_t){.name = fill_name,
                                  .dtype = types[i].dtype, .shape = types[i].shape}, &filled)))
      goto done;
    npu_tensor_id_t operands[2] = {st, kv_out[i]};
    npu_attr_t attrs[3] = {{"dim", npu_attr_int(types[i].dim)},
                           {"state_index", npu_attr_int(i)},
                           {"state_name", npu_attr_string(name)}};
    npu_node_id_t producer = npu_graph_tensor(g, kv_out[i])->producer;
    npu_node_id_t fill;
    if ((s = npu_graph_insert_node(g, &(npu_node_desc_t){.name = fill_name, .op = KV_FILL_OP,
                                   .inputs = operands, .num_inputs = 2, .outputs = &filled,
                                   .num_outputs = 1, .attrs = attrs, .num_attrs = 3},
                                   npu_graph_next_node(g, producer), &fill)))
      goto done;
    if ((s = npu_op_check_node(g, fill))) goto done;
    drop[i] = i + 1;
  }
  if ((s = drop_outputs(g, drop, nkv))) goto done;
  npu_pass_stat_add(ctx, "states-filled", nkv);
  npu_pass_stat_add(ctx, "cache-len", cache_len);

done:
  cJSON_Delete(m.root);
  npu_graph_destroy(dg);
  free(pairs);
  free(types);
  free(kv_out);
  free(drop);
  return s;
}

/* ---- the pass -------------------------------------------------------------------- */

static npu_status_t register_ops(void) {
  for (size_t i = 0; i < sizeof kv_ops / sizeof kv_ops[0]; i++)
    NPU_RETURN_IF_ERROR(npu_op_register(&kv_ops[i]));
  return NULL;
}

static npu_status_t kvcache_run(npu_pass_context_t *ctx, npu_graph_t *g, const npu_options_t *opts) {
  /* The loader registers the descriptor's ops; registering the same schemas
   * again is a no-op, and makes the pass work when run directly (tests). */
  NPU_RETURN_IF_ERROR(register_ops());
  kv_pair_t *pairs;
  int32_t n;
  NPU_RETURN_IF_ERROR(find_pairs(ctx, g, &pairs, &n));
  npu_status_t s = NULL;
  if (n > 0) {
    const char *mapping_path = npu_options_get_string(opts, "kv_mapping");
    if (mapping_path && *mapping_path) {
      char path[4096];
      kv_mapping_t m = {.root = NULL};
      resolve_path(ctx, mapping_path, path, sizeof path);
      s = load_mapping(path, &m);
      if (!s) s = check_mapping_decode(&m, g, pairs, n);
      cJSON_Delete(m.root);
    }
    int64_t cache_len = npu_options_get_int(opts, "cache_len");
    for (int32_t i = 0; !s && i < n; i++) {
      const npu_tensor_t *x = npu_graph_tensor(g, pairs[i].state);
      int64_t c = x->shape.dims[pairs[i].dim];
      if (cache_len > 0 && c != cache_len)
        s = npu_error(NPU_STATUS_VERIFY_FAILED,
                      "kvcache: cache_len %" PRId64 " disagrees with state pair %d ('%s'), which "
                      "holds %" PRId64 " rows", cache_len, i, x->name, c);
      if (i == 0 && !s) npu_pass_stat_add(ctx, "cache-len", c);
    }
    if (!s) s = run_decode(g, pairs, n);
    if (!s) npu_pass_stat_add(ctx, "state-pairs", n);
  } else {
    s = run_prefill(ctx, g, opts);
  }
  free(pairs);
  return s;
}

static const npu_option_spec_t kvcache_options[] = {
    {.name = "cache_len", .type = NPU_OPTION_INT, .default_value = "0",
     .help = "rows of the cache (C); 0 = from decode_ir, else from kv_mapping"},
    {.name = "decode_ir", .type = NPU_OPTION_STRING, .default_value = "",
     .help = "prefill: the decode IR whose state pairs the KV outputs fill (relative to the "
             "pipeline file)"},
    {.name = "kv_mapping", .type = NPU_OPTION_STRING, .default_value = "",
     .help = "optional kv_mapping.json, only cross-checked against the structural link"},
};

static const npu_pass_info_t passes[] = {
    {.name = "kvcache",
     .summary = "KV cache as device state: index_copy -> npu.kv_write, prefill KV -> npu.kv_fill",
     .options = kvcache_options,
     .num_options = 3,
     .run = kvcache_run},
};

NPU_PLUGIN_EXPORT const npu_plugin_descriptor_t *npu_plugin_entry(void) {
  static const npu_plugin_descriptor_t d = {.abi_version = NPU_PLUGIN_ABI_VERSION,
                                            .name = "kvcache",
                                            .version = "1.0",
                                            .summary = "KV cache state pairs",
                                            .passes = passes,
                                            .num_passes = 1,
                                            .ops = kv_ops,
                                            .num_ops = 2};
  return &d;
}
