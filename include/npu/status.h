/*
 * npu/status.h — how every fallible npuc call reports failure.
 *
 * A function that can fail returns an npu_status_t. NULL means success; anything
 * else is an owned error object that the caller must either return upward or
 * release with npu_status_free(). Nothing in npuc aborts on bad input.
 *
 *   npu_status_t s = npu_graph_import_json_file("model.json", &graph);
 *   if (s) { npu_status_fprint(stderr, s); npu_status_free(s); return 1; }
 *
 * An error carries a code, an optional location and a message. The location says
 * where the problem is in the user's terms, in one of two forms:
 *   "model.json:12:5"                   a position in a file
 *   "node conv2d (aten.conv2d.default)" a node of the graph
 * npu_status_fprint() prints "LOCATION: error: MESSAGE".
 */
#ifndef NPU_STATUS_H
#define NPU_STATUS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum npu_status_code {
  NPU_STATUS_OK = 0,
  NPU_STATUS_INVALID_ARGUMENT, /* the caller passed something unusable */
  NPU_STATUS_PARSE_ERROR,      /* malformed JSON, YAML, .npubin, safetensors */
  NPU_STATUS_NOT_FOUND,        /* missing file, key, pass, plugin, weight */
  NPU_STATUS_UNSUPPORTED,      /* well-formed but not handled (unknown op) */
  NPU_STATUS_VERIFY_FAILED,    /* the graph breaks an invariant */
  NPU_STATUS_ABI_MISMATCH,     /* a plugin built against another ABI */
  NPU_STATUS_IO_ERROR,         /* read/write/mmap failed */
  NPU_STATUS_OUT_OF_MEMORY,
  NPU_STATUS_DEVICE_ERROR,     /* Vulkan or device failure */
  NPU_STATUS_INTERNAL,         /* a bug in npuc */
} npu_status_code_t;

typedef struct npu_status *npu_status_t;

/* Creates an error. Never returns NULL: if memory runs out it returns a static
 * out-of-memory status (which npu_status_free ignores). */
npu_status_t npu_error(npu_status_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
npu_status_t npu_error_at(npu_status_code_t code, const char *location,
                          const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
npu_status_t npu_error_v(npu_status_code_t code, const char *location,
                         const char *fmt, va_list ap);

/* Prefixes context to the message of `inner` ("while loading X: <message>").
 * Takes ownership of inner and returns it (or NULL if inner is NULL). The
 * location is kept; if inner had none, `location` (may be NULL) is set. */
npu_status_t npu_status_annotate(npu_status_t inner, const char *location,
                                 const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

npu_status_code_t npu_status_code(npu_status_t status);
/* Borrowed strings, valid until npu_status_free. Location may be NULL. */
const char *npu_status_message(npu_status_t status);
const char *npu_status_location(npu_status_t status);
const char *npu_status_code_name(npu_status_code_t code);

/* "LOCATION: error: MESSAGE\n", or "error: MESSAGE\n" without a location. */
void npu_status_fprint(FILE *stream, npu_status_t status);
void npu_status_free(npu_status_t status);

#define NPU_RETURN_IF_ERROR(expr)        \
  do {                                   \
    npu_status_t npu_status_tmp_ = (expr); \
    if (npu_status_tmp_) return npu_status_tmp_; \
  } while (0)

#ifdef __cplusplus
}
#endif
#endif /* NPU_STATUS_H */
