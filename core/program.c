/* A compiled program: builder, accessors and validation. Everything a program
 * points at lives in its one arena. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "npu/program.h"

/* Longest backend name: the .npubin header holds it NUL-padded in 16 bytes. */
#define PROGRAM_MAX_BACKEND 15

struct npu_program {
  npu_arena_t arena;
  const char *backend;
  const char *model_name;
  npu_program_buffer_t *buffers;
  int32_t num_buffers;
  npu_program_tensor_t *tensors;
  int32_t num_tensors;
  npu_program_weight_t *weights;
  int32_t num_weights;
  npu_program_kernel_t *kernels;
  int32_t num_kernels;
  npu_program_dispatch_t *dispatches;
  int32_t num_dispatches;
  int32_t *inputs;
  int32_t num_inputs;
  int32_t *outputs;
  int32_t num_outputs;
  /* Open-addressing tensor name index: slots hold tensor index + 1, 0 = empty.
   * Built by finish (names may repeat until then; validate rejects that). */
  int32_t *name_slots;
  uint32_t name_mask;
};

/* A growable array in malloc'd memory while building. */
typedef struct grow {
  void *data;
  int32_t count;
  int32_t capacity;
} grow_t;

struct npu_program_builder {
  npu_program_t *p; /* strings are copied into p->arena as they are added */
  grow_t buffers, tensors, weights, kernels, dispatches, inputs, outputs;
  bool failed;      /* an allocation failed: finish reports it */
};

/* ---- helpers ------------------------------------------------------------------ */

static void *grow_push(grow_t *g, size_t elem) {
  if (g->count == g->capacity) {
    if (g->capacity >= INT32_MAX / 2) return NULL;
    int32_t cap = g->capacity ? g->capacity * 2 : 16;
    void *d = realloc(g->data, elem * (size_t)cap);
    if (!d) return NULL;
    g->data = d;
    g->capacity = cap;
  }
  return (char *)g->data + elem * (size_t)g->count++;
}

static void *grow_to_arena(npu_arena_t *a, grow_t *g, size_t elem, bool *ok) {
  if (g->count == 0) return NULL;
  void *d = npu_arena_alloc(a, elem * (size_t)g->count);
  if (!d) {
    *ok = false;
    return NULL;
  }
  memcpy(d, g->data, elem * (size_t)g->count);
  return d;
}

static const char *dup_opt(npu_arena_t *a, const char *s, bool *ok) {
  if (!s) return NULL;
  const char *d = npu_arena_strdup(a, s);
  if (!d) *ok = false;
  return d;
}

static bool copy_value(npu_arena_t *a, const npu_attr_value_t *src, npu_attr_value_t *dst,
                       int depth) {
  if (depth > 64) return false;
  *dst = *src;
  if (src->kind == NPU_ATTR_STRING) {
    dst->u.s = npu_arena_strdup(a, src->u.s ? src->u.s : "");
    return dst->u.s != NULL;
  }
  if (src->kind == NPU_ATTR_LIST) {
    npu_attr_value_t *items = NULL;
    if (src->u.list.count < 0) return false;
    if (src->u.list.count > 0) {
      items = npu_arena_alloc(a, sizeof *items * (size_t)src->u.list.count);
      if (!items) return false;
      for (int32_t i = 0; i < src->u.list.count; i++)
        if (!copy_value(a, &src->u.list.items[i], &items[i], depth + 1)) return false;
    }
    dst->u.list.items = items;
  }
  return true;
}

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static const char *buffer_kind_name(npu_buffer_kind_t k) {
  switch (k) {
    case NPU_BUFFER_ACTIVATIONS: return "activations";
    case NPU_BUFFER_WEIGHT: return "weight";
    case NPU_BUFFER_INPUT: return "input";
    case NPU_BUFFER_OUTPUT: return "output";
    case NPU_BUFFER_STATE: return "state";
  }
  return "?";
}

/* ---- reading ------------------------------------------------------------------- */

const char *npu_program_backend(const npu_program_t *p) { return p->backend; }
const char *npu_program_model_name(const npu_program_t *p) { return p->model_name; }
int32_t npu_program_buffer_count(const npu_program_t *p) { return p->num_buffers; }
int32_t npu_program_tensor_count(const npu_program_t *p) { return p->num_tensors; }
int32_t npu_program_weight_count(const npu_program_t *p) { return p->num_weights; }
int32_t npu_program_kernel_count(const npu_program_t *p) { return p->num_kernels; }
int32_t npu_program_dispatch_count(const npu_program_t *p) { return p->num_dispatches; }

const npu_program_buffer_t *npu_program_buffer(const npu_program_t *p, int32_t i) {
  return i >= 0 && i < p->num_buffers ? &p->buffers[i] : NULL;
}
const npu_program_tensor_t *npu_program_tensor(const npu_program_t *p, int32_t i) {
  return i >= 0 && i < p->num_tensors ? &p->tensors[i] : NULL;
}
const npu_program_weight_t *npu_program_weight(const npu_program_t *p, int32_t i) {
  return i >= 0 && i < p->num_weights ? &p->weights[i] : NULL;
}
const npu_program_kernel_t *npu_program_kernel(const npu_program_t *p, int32_t i) {
  return i >= 0 && i < p->num_kernels ? &p->kernels[i] : NULL;
}
const npu_program_dispatch_t *npu_program_dispatch(const npu_program_t *p, int32_t i) {
  return i >= 0 && i < p->num_dispatches ? &p->dispatches[i] : NULL;
}

int32_t npu_program_find_tensor(const npu_program_t *p, const char *name) {
  if (!p || !name) return -1;
  if (p->name_slots) {
    uint32_t i = (uint32_t)hash_str(name) & p->name_mask;
    for (;;) {
      int32_t s = p->name_slots[i];
      if (s == 0) return -1;
      if (strcmp(p->tensors[s - 1].name, name) == 0) return s - 1;
      i = (i + 1) & p->name_mask;
    }
  }
  for (int32_t i = 0; i < p->num_tensors; i++)
    if (strcmp(p->tensors[i].name, name) == 0) return i;
  return -1;
}

const int32_t *npu_program_inputs(const npu_program_t *p, int32_t *out_count) {
  if (out_count) *out_count = p->num_inputs;
  return p->inputs;
}
const int32_t *npu_program_outputs(const npu_program_t *p, int32_t *out_count) {
  if (out_count) *out_count = p->num_outputs;
  return p->outputs;
}

void npu_program_destroy(npu_program_t *p) {
  if (!p) return;
  npu_arena_release(&p->arena);
  free(p);
}

/* ---- validation ------------------------------------------------------------------ */

static npu_status_t invalid(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static npu_status_t invalid(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  npu_status_t s = npu_error_v(NPU_STATUS_VERIFY_FAILED, NULL, fmt, ap);
  va_end(ap);
  return s;
}

static const char *nm(const char *s) { return s ? s : "(null)"; }

npu_status_t npu_program_validate(const npu_program_t *p) {
  if (!p) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "program is NULL");
  if (!p->backend || !p->backend[0] || strlen(p->backend) > PROGRAM_MAX_BACKEND)
    return invalid("backend name must be 1 to %d characters", PROGRAM_MAX_BACKEND);
  for (int32_t i = 0; i < p->num_buffers; i++) {
    const npu_program_buffer_t *b = &p->buffers[i];
    if ((int)b->kind < (int)NPU_BUFFER_ACTIVATIONS || (int)b->kind > (int)NPU_BUFFER_STATE)
      return invalid("buffer %d (%s): invalid kind %d", i, nm(b->name), (int)b->kind);
    if (b->size == 0) return invalid("buffer %d (%s): size is 0", i, nm(b->name));
  }
  for (int32_t i = 0; i < p->num_tensors; i++) {
    const npu_program_tensor_t *t = &p->tensors[i];
    if (!t->name || !t->name[0]) return invalid("tensor %d: empty name", i);
    size_t esz = npu_dtype_size(t->dtype);
    if (esz == 0) return invalid("tensor %d (%s): invalid dtype %d", i, t->name, (int)t->dtype);
    if (t->shape.rank < 0 || t->shape.rank > NPU_MAX_RANK)
      return invalid("tensor %d (%s): rank %d out of range [0, %d]", i, t->name,
                     (int)t->shape.rank, NPU_MAX_RANK);
    int64_t numel;
    if (!npu_shape_numel(&t->shape, &numel))
      return invalid("tensor %d (%s): negative dimension or element count overflows", i,
                     t->name);
    if ((uint64_t)numel > UINT64_MAX / esz)
      return invalid("tensor %d (%s): byte size overflows", i, t->name);
    uint64_t bytes = (uint64_t)numel * esz;
    if (t->size != bytes)
      return invalid("tensor %d (%s): size %llu bytes, but %lld elements of %s need %llu", i,
                     t->name, (unsigned long long)t->size, (long long)numel,
                     npu_dtype_name(t->dtype), (unsigned long long)bytes);
    if (t->buffer < 0 || t->buffer >= p->num_buffers)
      return invalid("tensor %d (%s): buffer %d out of range (%d buffers)", i, t->name,
                     (int)t->buffer, (int)p->num_buffers);
    uint64_t bsize = p->buffers[t->buffer].size;
    if (t->offset > bsize || t->size > bsize - t->offset)
      return invalid("tensor %d (%s): bytes [%llu, +%llu) overflow buffer %d (%s) of %llu bytes",
                     i, t->name, (unsigned long long)t->offset, (unsigned long long)t->size,
                     (int)t->buffer, nm(p->buffers[t->buffer].name),
                     (unsigned long long)bsize);
  }
  if (p->name_slots) {
    for (int32_t i = 0; i < p->num_tensors; i++)
      if (npu_program_find_tensor(p, p->tensors[i].name) != i)
        return invalid("tensor %d: duplicate name '%s'", i, p->tensors[i].name);
  } else {
    for (int32_t i = 0; i < p->num_tensors; i++)
      for (int32_t j = 0; j < i; j++)
        if (strcmp(p->tensors[i].name, p->tensors[j].name) == 0)
          return invalid("tensor %d: duplicate name '%s'", i, p->tensors[i].name);
  }
  for (int32_t i = 0; i < p->num_weights; i++) {
    const npu_program_weight_t *w = &p->weights[i];
    if (w->tensor < 0 || w->tensor >= p->num_tensors)
      return invalid("weight %d: tensor %d out of range (%d tensors)", i, (int)w->tensor,
                     (int)p->num_tensors);
    const npu_program_tensor_t *t = &p->tensors[w->tensor];
    if (p->buffers[t->buffer].kind != NPU_BUFFER_WEIGHT)
      return invalid("weight %d: tensor %s lives in buffer %d (%s), which is %s, not weight", i,
                     t->name, (int)t->buffer, nm(p->buffers[t->buffer].name),
                     buffer_kind_name(p->buffers[t->buffer].kind));
    if (!w->key && !w->transform)
      return invalid("weight %d (%s): neither a checkpoint key nor a transform", i, t->name);
    if (w->num_sources < 0 || (w->num_sources > 0 && !w->sources))
      return invalid("weight %d (%s): bad source list", i, t->name);
    if (w->num_attrs < 0 || (w->num_attrs > 0 && !w->attrs))
      return invalid("weight %d (%s): bad attribute list", i, t->name);
    for (int32_t j = 0; j < w->num_sources; j++)
      if (!w->sources[j]) return invalid("weight %d (%s): source %d is NULL", i, t->name, j);
    if (w->checkpoint_dtype != NPU_DTYPE_INVALID && npu_dtype_size(w->checkpoint_dtype) == 0)
      return invalid("weight %d (%s): invalid checkpoint dtype %d", i, t->name,
                     (int)w->checkpoint_dtype);
  }
  for (int32_t i = 0; i < p->num_kernels; i++) {
    const npu_program_kernel_t *k = &p->kernels[i];
    if (!k->name || !k->name[0]) return invalid("kernel %d: empty name", i);
    if (k->num_bindings > NPU_PROGRAM_MAX_BINDINGS)
      return invalid("kernel %d (%s): %u bindings, at most %d", i, k->name, k->num_bindings,
                     NPU_PROGRAM_MAX_BINDINGS);
    if (k->push_words > NPU_PROGRAM_MAX_PUSH_WORDS)
      return invalid("kernel %d (%s): %u push-constant words, at most %d", i, k->name,
                     k->push_words, NPU_PROGRAM_MAX_PUSH_WORDS);
    if ((k->spirv == NULL) != (k->spirv_words == 0))
      return invalid("kernel %d (%s): SPIR-V pointer and word count disagree", i, k->name);
  }
  for (int32_t i = 0; i < p->num_dispatches; i++) {
    const npu_program_dispatch_t *d = &p->dispatches[i];
    const char *node = nm(d->node);
    if (d->kernel < 0 || d->kernel >= p->num_kernels)
      return invalid("dispatch %d (node %s): kernel %d out of range (%d kernels)", i, node,
                     (int)d->kernel, (int)p->num_kernels);
    const npu_program_kernel_t *k = &p->kernels[d->kernel];
    if (d->num_bindings < 0 || d->num_bindings > NPU_PROGRAM_MAX_BINDINGS)
      return invalid("dispatch %d (node %s): %d bindings, at most %d", i, node,
                     (int)d->num_bindings, NPU_PROGRAM_MAX_BINDINGS);
    if ((uint32_t)d->num_bindings > k->num_bindings)
      return invalid("dispatch %d (node %s): %d bindings, but kernel %s declares %u", i, node,
                     (int)d->num_bindings, k->name, k->num_bindings);
    for (int32_t j = 0; j < d->num_bindings; j++)
      if (d->bindings[j] < 0 || d->bindings[j] >= p->num_tensors)
        return invalid("dispatch %d (node %s): binding %d: tensor %d out of range (%d tensors)",
                       i, node, j, (int)d->bindings[j], (int)p->num_tensors);
    if (d->num_push < 0 || d->num_push > NPU_PROGRAM_MAX_PUSH_WORDS)
      return invalid("dispatch %d (node %s): %d push-constant words, at most %d", i, node,
                     (int)d->num_push, NPU_PROGRAM_MAX_PUSH_WORDS);
    if ((uint32_t)d->num_push != k->push_words)
      return invalid("dispatch %d (node %s): %d push-constant words, but kernel %s takes %u", i,
                     node, (int)d->num_push, k->name, k->push_words);
    if (d->num_spec < 0 || d->num_spec > NPU_PROGRAM_MAX_SPEC)
      return invalid("dispatch %d (node %s): %d specialization constants, at most %d", i, node,
                     (int)d->num_spec, NPU_PROGRAM_MAX_SPEC);
    for (int g = 0; g < 3; g++)
      if (d->groups[g] == 0)
        return invalid("dispatch %d (node %s): workgroup count %c is 0", i, node, "xyz"[g]);
  }
  for (int32_t i = 0; i < p->num_inputs; i++)
    if (p->inputs[i] < 0 || p->inputs[i] >= p->num_tensors)
      return invalid("input %d: tensor %d out of range (%d tensors)", i, (int)p->inputs[i],
                     (int)p->num_tensors);
  for (int32_t i = 0; i < p->num_outputs; i++)
    if (p->outputs[i] < 0 || p->outputs[i] >= p->num_tensors)
      return invalid("output %d: tensor %d out of range (%d tensors)", i, (int)p->outputs[i],
                     (int)p->num_tensors);
  return NULL;
}

/* ---- building ------------------------------------------------------------------- */

static npu_status_t oom(void) { return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory"); }

npu_status_t npu_program_builder_create(const char *backend, const char *model_name,
                                        npu_program_builder_t **out) {
  if (!out) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "out is NULL");
  *out = NULL;
  if (!backend || !backend[0] || strlen(backend) > PROGRAM_MAX_BACKEND)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "backend name must be 1 to %d characters",
                     PROGRAM_MAX_BACKEND);
  npu_program_builder_t *b = calloc(1, sizeof *b);
  npu_program_t *p = calloc(1, sizeof *p);
  if (!b || !p) {
    free(b);
    free(p);
    return oom();
  }
  npu_arena_init(&p->arena);
  b->p = p;
  bool ok = true;
  p->backend = dup_opt(&p->arena, backend, &ok);
  p->model_name = dup_opt(&p->arena, model_name, &ok);
  if (!ok) {
    npu_program_builder_destroy(b);
    return oom();
  }
  *out = b;
  return NULL;
}

void npu_program_builder_destroy(npu_program_builder_t *b) {
  if (!b) return;
  free(b->buffers.data);
  free(b->tensors.data);
  free(b->weights.data);
  free(b->kernels.data);
  free(b->dispatches.data);
  free(b->inputs.data);
  free(b->outputs.data);
  npu_program_destroy(b->p);
  free(b);
}

#define CHECK_ARGS(b, x)                                                        \
  do {                                                                          \
    if (!(b) || !(x)) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "NULL argument"); \
  } while (0)

npu_status_t npu_program_add_buffer(npu_program_builder_t *b, const npu_program_buffer_t *buf,
                                    int32_t *out_index) {
  CHECK_ARGS(b, buf);
  npu_arena_t *a = &b->p->arena;
  bool ok = true;
  npu_program_buffer_t c = *buf;
  c.name = dup_opt(a, buf->name, &ok);
  npu_program_buffer_t *slot = ok ? grow_push(&b->buffers, sizeof c) : NULL;
  if (!slot) return (b->failed = true), oom();
  *slot = c;
  if (out_index) *out_index = b->buffers.count - 1;
  return NULL;
}

npu_status_t npu_program_add_tensor(npu_program_builder_t *b, const npu_program_tensor_t *t,
                                    int32_t *out_index) {
  CHECK_ARGS(b, t);
  if (!t->name) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "tensor name is NULL");
  npu_arena_t *a = &b->p->arena;
  bool ok = true;
  npu_program_tensor_t c = *t;
  c.name = dup_opt(a, t->name, &ok);
  npu_program_tensor_t *slot = ok ? grow_push(&b->tensors, sizeof c) : NULL;
  if (!slot) return (b->failed = true), oom();
  *slot = c;
  if (out_index) *out_index = b->tensors.count - 1;
  return NULL;
}

npu_status_t npu_program_add_weight(npu_program_builder_t *b, const npu_program_weight_t *w) {
  CHECK_ARGS(b, w);
  if (w->num_sources < 0 || (w->num_sources > 0 && !w->sources) || w->num_attrs < 0 ||
      (w->num_attrs > 0 && !w->attrs))
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "weight: bad source or attribute list");
  npu_arena_t *a = &b->p->arena;
  bool ok = true;
  npu_program_weight_t c = *w;
  c.key = dup_opt(a, w->key, &ok);
  c.transform = dup_opt(a, w->transform, &ok);
  c.sources = NULL;
  c.attrs = NULL;
  if (ok && w->num_sources > 0) {
    const char **src = npu_arena_alloc(a, sizeof *src * (size_t)w->num_sources);
    if (!src) ok = false;
    for (int32_t i = 0; ok && i < w->num_sources; i++) {
      if (!w->sources[i])
        return npu_error(NPU_STATUS_INVALID_ARGUMENT, "weight: source %d is NULL", i);
      src[i] = dup_opt(a, w->sources[i], &ok);
    }
    c.sources = src;
  }
  if (ok && w->num_attrs > 0) {
    npu_attr_t *at = npu_arena_alloc(a, sizeof *at * (size_t)w->num_attrs);
    if (!at) ok = false;
    for (int32_t i = 0; ok && i < w->num_attrs; i++) {
      at[i].name = npu_arena_strdup(a, w->attrs[i].name ? w->attrs[i].name : "");
      if (!at[i].name || !copy_value(a, &w->attrs[i].value, &at[i].value, 0)) ok = false;
    }
    c.attrs = at;
  }
  npu_program_weight_t *slot = ok ? grow_push(&b->weights, sizeof c) : NULL;
  if (!slot) return (b->failed = true), oom();
  *slot = c;
  return NULL;
}

npu_status_t npu_program_add_kernel(npu_program_builder_t *b, const npu_program_kernel_t *k,
                                    int32_t *out_index) {
  CHECK_ARGS(b, k);
  if (!k->name) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "kernel name is NULL");
  const npu_program_kernel_t *existing = b->kernels.data;
  for (int32_t i = 0; i < b->kernels.count; i++)
    if (strcmp(existing[i].name, k->name) == 0) {
      if (out_index) *out_index = i;
      return NULL;
    }
  if (k->spirv_words > 0 && !k->spirv)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "kernel %s: SPIR-V is NULL", k->name);
  if (k->spirv_words > SIZE_MAX / 4)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "kernel %s: SPIR-V too large", k->name);
  npu_arena_t *a = &b->p->arena;
  bool ok = true;
  npu_program_kernel_t c = *k;
  c.name = dup_opt(a, k->name, &ok);
  c.spirv = NULL;
  if (ok && k->spirv_words > 0) {
    uint32_t *words = npu_arena_alloc(a, (size_t)k->spirv_words * 4);
    if (!words) ok = false;
    else memcpy(words, k->spirv, (size_t)k->spirv_words * 4);
    c.spirv = words;
  }
  npu_program_kernel_t *slot = ok ? grow_push(&b->kernels, sizeof c) : NULL;
  if (!slot) return (b->failed = true), oom();
  *slot = c;
  if (out_index) *out_index = b->kernels.count - 1;
  return NULL;
}

npu_status_t npu_program_add_dispatch(npu_program_builder_t *b, const npu_program_dispatch_t *d) {
  CHECK_ARGS(b, d);
  bool ok = true;
  npu_program_dispatch_t c = *d;
  c.node = dup_opt(&b->p->arena, d->node, &ok);
  npu_program_dispatch_t *slot = ok ? grow_push(&b->dispatches, sizeof c) : NULL;
  if (!slot) return (b->failed = true), oom();
  *slot = c;
  return NULL;
}

npu_status_t npu_program_add_input(npu_program_builder_t *b, int32_t tensor) {
  if (!b) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "NULL argument");
  int32_t *slot = grow_push(&b->inputs, sizeof *slot);
  if (!slot) return (b->failed = true), oom();
  *slot = tensor;
  return NULL;
}

npu_status_t npu_program_add_output(npu_program_builder_t *b, int32_t tensor) {
  if (!b) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "NULL argument");
  int32_t *slot = grow_push(&b->outputs, sizeof *slot);
  if (!slot) return (b->failed = true), oom();
  *slot = tensor;
  return NULL;
}

npu_status_t npu_program_builder_finish(npu_program_builder_t *b, npu_program_t **out) {
  if (out) *out = NULL;
  if (!b || !out) {
    npu_program_builder_destroy(b);
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "NULL argument");
  }
  if (b->failed) {
    npu_program_builder_destroy(b);
    return oom();
  }
  npu_program_t *p = b->p;
  npu_arena_t *a = &p->arena;
  bool ok = true;
  p->buffers = grow_to_arena(a, &b->buffers, sizeof *p->buffers, &ok);
  p->num_buffers = b->buffers.count;
  p->tensors = grow_to_arena(a, &b->tensors, sizeof *p->tensors, &ok);
  p->num_tensors = b->tensors.count;
  p->weights = grow_to_arena(a, &b->weights, sizeof *p->weights, &ok);
  p->num_weights = b->weights.count;
  p->kernels = grow_to_arena(a, &b->kernels, sizeof *p->kernels, &ok);
  p->num_kernels = b->kernels.count;
  p->dispatches = grow_to_arena(a, &b->dispatches, sizeof *p->dispatches, &ok);
  p->num_dispatches = b->dispatches.count;
  p->inputs = grow_to_arena(a, &b->inputs, sizeof *p->inputs, &ok);
  p->num_inputs = b->inputs.count;
  p->outputs = grow_to_arena(a, &b->outputs, sizeof *p->outputs, &ok);
  p->num_outputs = b->outputs.count;
  /* Name index: power of two, at least twice the tensor count. Duplicates
   * are left in (find returns the first) so validate can name them. */
  if (ok && p->num_tensors > 0) {
    uint32_t cap = 16;
    while (cap < (uint32_t)p->num_tensors * 2u) cap *= 2;
    p->name_slots = npu_arena_calloc(a, cap, sizeof *p->name_slots);
    if (!p->name_slots) ok = false;
    p->name_mask = cap - 1;
    for (int32_t i = 0; ok && i < p->num_tensors; i++) {
      uint32_t h = (uint32_t)hash_str(p->tensors[i].name) & p->name_mask;
      while (p->name_slots[h] != 0) h = (h + 1) & p->name_mask;
      p->name_slots[h] = i + 1;
    }
  }
  b->p = NULL;
  npu_program_builder_destroy(b);
  if (!ok) {
    npu_program_destroy(p);
    return oom();
  }
  npu_status_t s = npu_program_validate(p);
  if (s) {
    npu_program_destroy(p);
    return s;
  }
  *out = p;
  return NULL;
}
