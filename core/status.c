/* Error objects. See npu/status.h. */
#include "npu/status.h"

#include <stdlib.h>
#include <string.h>

struct npu_status {
  npu_status_code_t code;
  char *location; /* may be NULL */
  char *message;
};

/* Returned when an error cannot even be allocated; never freed. */
static struct npu_status out_of_memory_status = {
    NPU_STATUS_OUT_OF_MEMORY, NULL, "out of memory"};

static char *vformat(const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) return NULL;
  char *buf = malloc((size_t)n + 1);
  if (!buf) return NULL;
  vsnprintf(buf, (size_t)n + 1, fmt, ap);
  return buf;
}

static char *copy_string(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *copy = malloc(n);
  if (copy) memcpy(copy, s, n);
  return copy;
}

npu_status_t npu_error_v(npu_status_code_t code, const char *location,
                         const char *fmt, va_list ap) {
  struct npu_status *s = calloc(1, sizeof *s);
  if (!s) return &out_of_memory_status;
  s->code = code == NPU_STATUS_OK ? NPU_STATUS_INTERNAL : code;
  s->message = vformat(fmt, ap);
  s->location = copy_string(location);
  if (!s->message || (location && !s->location)) {
    free(s->message);
    free(s->location);
    free(s);
    return &out_of_memory_status;
  }
  return s;
}

npu_status_t npu_error(npu_status_code_t code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  npu_status_t s = npu_error_v(code, NULL, fmt, ap);
  va_end(ap);
  return s;
}

npu_status_t npu_error_at(npu_status_code_t code, const char *location,
                          const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  npu_status_t s = npu_error_v(code, location, fmt, ap);
  va_end(ap);
  return s;
}

npu_status_t npu_status_annotate(npu_status_t inner, const char *location,
                                 const char *fmt, ...) {
  if (!inner || inner == &out_of_memory_status) return inner;
  va_list ap;
  va_start(ap, fmt);
  char *prefix = vformat(fmt, ap);
  va_end(ap);
  if (!prefix) return inner;
  size_t n = strlen(prefix) + 2 + strlen(inner->message) + 1;
  char *joined = malloc(n);
  if (joined) {
    snprintf(joined, n, "%s: %s", prefix, inner->message);
    free(inner->message);
    inner->message = joined;
  }
  free(prefix);
  if (!inner->location && location) inner->location = copy_string(location);
  return inner;
}

npu_status_code_t npu_status_code(npu_status_t s) {
  return s ? s->code : NPU_STATUS_OK;
}

const char *npu_status_message(npu_status_t s) { return s ? s->message : "ok"; }

const char *npu_status_location(npu_status_t s) { return s ? s->location : NULL; }

const char *npu_status_code_name(npu_status_code_t code) {
  switch (code) {
    case NPU_STATUS_OK: return "ok";
    case NPU_STATUS_INVALID_ARGUMENT: return "invalid argument";
    case NPU_STATUS_PARSE_ERROR: return "parse error";
    case NPU_STATUS_NOT_FOUND: return "not found";
    case NPU_STATUS_UNSUPPORTED: return "unsupported";
    case NPU_STATUS_VERIFY_FAILED: return "verification failed";
    case NPU_STATUS_ABI_MISMATCH: return "ABI mismatch";
    case NPU_STATUS_IO_ERROR: return "I/O error";
    case NPU_STATUS_OUT_OF_MEMORY: return "out of memory";
    case NPU_STATUS_DEVICE_ERROR: return "device error";
    case NPU_STATUS_INTERNAL: return "internal error";
  }
  return "unknown";
}

void npu_status_fprint(FILE *stream, npu_status_t s) {
  if (!s) return;
  if (s->location)
    fprintf(stream, "%s: error: %s\n", s->location, s->message);
  else
    fprintf(stream, "error: %s\n", s->message);
}

void npu_status_free(npu_status_t s) {
  if (!s || s == &out_of_memory_status) return;
  free(s->message);
  free(s->location);
  free(s);
}
