/* Random kernel conformance cases: inputs, push constants, workgroup counts
 * (as the lowering computes them) and an independent naive reference. */
#ifndef NPU_TEST_KERNEL_CASES_H
#define NPU_TEST_KERNEL_CASES_H

#include <stddef.h>
#include <stdint.h>

enum {
  KC_CONV,
  KC_MAXPOOL,
  KC_AVGPOOL,
  KC_GAP,
  KC_LINEAR,
  KC_RELU,
  KC_ADD,
  KC_COPY,
  KC_CONV_GEMM,
  KC_COUNT
};

typedef struct kcase {
  char desc[200];
  const char *kernel;
  uint32_t push[32];
  int num_push;
  uint32_t groups[3];
  int num_bindings;       /* the last binding is the output */
  float *data[8];
  size_t count[8];        /* floats per binding */
  double *ref;            /* expected output, count[num_bindings-1] values */
  uint32_t spec_id[8], spec_value[8]; /* specialization constants of the dispatch */
  int num_spec;
} kcase_t;

/* Builds a random case of kind `kind` from `seed`. */
void kcase_make(int kind, uint32_t seed, kcase_t *c);
void kcase_free(kcase_t *c);
/* Max over outputs of |got - ref| / max(|ref|, 1). */
double kcase_error(const kcase_t *c, const float *got);

#endif
