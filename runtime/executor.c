/*
 * runtime/executor.c — npu_executor_*: the device-independent half of
 * running a program (checks, weight materialisation, input/output copies);
 * the backend's runtime does the rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exec_internal.h"
#include "weights_internal.h"

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* "a, b, c" of the given tensor indices. */
static void name_list(const npu_program_t *p, const int32_t *idx, int32_t n, char *buf,
                      size_t size) {
  size_t len = 0;
  buf[0] = '\0';
  for (int32_t i = 0; i < n && len + 1 < size; i++) {
    int w = snprintf(buf + len, size - len, "%s%s", i ? ", " : "", npu_program_tensor(p, idx[i])->name);
    if (w < 0) break;
    len += (size_t)w;
  }
  if (n == 0) snprintf(buf, size, "(none)");
}

npu_status_t npu_executor_create(npu_device_t *d, const npu_program_t *p, npu_executor_t **out) {
  if (!d || !p || !out)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_executor_create: NULL argument");
  *out = NULL;
  const char *pb = npu_program_backend(p);
  if (!pb || strcmp(pb, d->backend_name) != 0)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "program '%s' was compiled for backend '%s', but the device '%s' is a '%s' "
                     "device",
                     npu_program_model_name(p) ? npu_program_model_name(p) : "", pb ? pb : "(none)",
                     d->name, d->backend_name);
  npu_executor_t *e = calloc(1, sizeof *e);
  if (!e) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory creating an executor");
  e->dev = d;
  e->program = p;
  e->inputs = npu_program_inputs(p, &e->num_inputs);
  e->input_set = calloc(e->num_inputs > 0 ? (size_t)e->num_inputs : 1, sizeof *e->input_set);
  npu_status_t s = e->input_set ? npu_profile_init(e)
                                : npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory");
  if (!s) s = d->backend->executor_create(d->handle, p, &e->handle);
  if (s) {
    npu_executor_destroy(e);
    return npu_status_annotate(s, NULL, "creating an executor for '%s' on %s",
                               npu_program_model_name(p) ? npu_program_model_name(p) : "program",
                               d->name);
  }
  e->weights_loaded = npu_program_weight_count(p) == 0;
  *out = e;
  return NULL;
}

npu_status_t npu_executor_load_weights(npu_executor_t *e, const npu_weights_t *w) {
  if (!e || !w) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_executor_load_weights: NULL argument");
  const npu_program_t *p = e->program;
  int32_t n = npu_program_weight_count(p);
  uint64_t max = 0;
  for (int32_t i = 0; i < n; i++) {
    const npu_program_weight_t *pw = npu_program_weight(p, i);
    const npu_program_tensor_t *t = npu_program_tensor(p, pw->tensor);
    if (t->size > max) max = t->size;
  }
  void *host = malloc(max ? (size_t)max : 1);
  if (!host) return npu_error(NPU_STATUS_OUT_OF_MEMORY, "out of memory loading weights");
  npu_status_t s = NULL;
  for (int32_t i = 0; i < n && !s; i++) {
    const npu_program_weight_t *pw = npu_program_weight(p, i);
    const npu_program_tensor_t *t = npu_program_tensor(p, pw->tensor);
    s = npu_weights_materialize(w, pw, t, host, (size_t)t->size);
    if (!s) s = e->dev->backend->buffer_write(e->handle, t->buffer, t->offset, host, t->size);
    if (s) s = npu_status_annotate(s, NULL, "loading weight '%s'", pw->key ? pw->key : t->name);
  }
  free(host);
  if (!s) e->weights_loaded = true;
  return s;
}

npu_status_t npu_executor_set_input(npu_executor_t *e, const char *name,
                                    const npu_host_tensor_t *t) {
  if (!e || !name || !t)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_executor_set_input: NULL argument");
  const npu_program_t *p = e->program;
  int32_t k = -1;
  for (int32_t i = 0; i < e->num_inputs; i++)
    if (strcmp(npu_program_tensor(p, e->inputs[i])->name, name) == 0) k = i;
  if (k < 0) {
    char list[1024];
    name_list(p, e->inputs, e->num_inputs, list, sizeof list);
    return npu_error(NPU_STATUS_NOT_FOUND, "the program has no input '%s'; its inputs: %s", name,
                     list);
  }
  const npu_program_tensor_t *pt = npu_program_tensor(p, e->inputs[k]);
  if (t->dtype != pt->dtype)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "input '%s': dtype %s given, the program expects %s", name,
                     npu_dtype_name(t->dtype), npu_dtype_name(pt->dtype));
  if (!npu_shape_equal(&t->shape, &pt->shape)) {
    char a[128], b[128];
    npu_shape_format(&t->shape, a, sizeof a);
    npu_shape_format(&pt->shape, b, sizeof b);
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "input '%s': shape %s given, the program expects %s", name, a, b);
  }
  if (!t->data || t->size < pt->size)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "input '%s': %zu bytes of data given, the tensor needs %llu", name,
                     t->data ? t->size : (size_t)0, (unsigned long long)pt->size);
  npu_status_t s = e->dev->backend->buffer_write(e->handle, pt->buffer, pt->offset, t->data, pt->size);
  if (s) return npu_status_annotate(s, NULL, "setting input '%s'", name);
  e->input_set[k] = true;
  return NULL;
}

npu_status_t npu_executor_run(npu_executor_t *e) {
  if (!e) return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_executor_run: NULL executor");
  if (!e->weights_loaded)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "the program has %d weights and none were loaded: call "
                     "npu_executor_load_weights first",
                     npu_program_weight_count(e->program));
  for (int32_t i = 0; i < e->num_inputs; i++)
    if (!e->input_set[i])
      return npu_error(NPU_STATUS_INVALID_ARGUMENT, "input '%s' was never set",
                       npu_program_tensor(e->program, e->inputs[i])->name);
  uint64_t t0 = now_ns();
  npu_status_t s = e->dev->backend->run(e->handle, e->profiling, e->dispatch_ns);
  uint64_t t1 = now_ns();
  if (s) return npu_status_annotate(s, NULL, "running '%s' on %s",
                                    npu_program_model_name(e->program) ? npu_program_model_name(e->program) : "program",
                                    e->dev->name);
  if (e->profiling) npu_profile_accumulate(e, t1 - t0);
  return NULL;
}

npu_status_t npu_executor_get_output(npu_executor_t *e, const char *name, npu_host_tensor_t *t) {
  if (!e || !name || !t)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT, "npu_executor_get_output: NULL argument");
  const npu_program_t *p = e->program;
  int32_t ti = npu_program_find_tensor(p, name);
  if (ti < 0) {
    int32_t n = 0;
    const int32_t *outs = npu_program_outputs(p, &n);
    char list[1024];
    name_list(p, outs, n, list, sizeof list);
    return npu_error(NPU_STATUS_NOT_FOUND, "the program has no tensor '%s'; its outputs: %s",
                     name, list);
  }
  const npu_program_tensor_t *pt = npu_program_tensor(p, ti);
  if (t->dtype != pt->dtype)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "output '%s': dtype %s requested, the tensor is %s", name,
                     npu_dtype_name(t->dtype), npu_dtype_name(pt->dtype));
  if (!npu_shape_equal(&t->shape, &pt->shape)) {
    char a[128], b[128];
    npu_shape_format(&t->shape, a, sizeof a);
    npu_shape_format(&pt->shape, b, sizeof b);
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "output '%s': shape %s requested, the tensor is %s", name, a, b);
  }
  if (!t->data || t->size < pt->size)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "output '%s': a %zu-byte destination given, the tensor has %llu bytes", name,
                     t->data ? t->size : (size_t)0, (unsigned long long)pt->size);
  npu_status_t s = e->dev->backend->buffer_read(e->handle, pt->buffer, pt->offset, t->data, pt->size);
  if (s) return npu_status_annotate(s, NULL, "reading '%s'", name);
  return NULL;
}

void npu_executor_destroy(npu_executor_t *e) {
  if (!e) return;
  if (e->handle) e->dev->backend->executor_destroy(e->handle);
  npu_profile_free(e);
  free(e->input_set);
  free(e);
}
