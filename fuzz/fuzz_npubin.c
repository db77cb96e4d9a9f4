/* libFuzzer entry for the .npubin reader. Seeds: the .seed files in
 * corpus/npubin (.npubin files under a name .gitignore keeps), written by
 * tests/program/test_npubin.c when NPU_WRITE_NPUBIN_SEEDS names a directory.
 * A program that loads must also dump without error. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "npu/program.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  npu_program_t *p = NULL;
  npu_status_t s = npu_program_read_npubin_buffer(data, size, "fuzz.npubin", &p);
  npu_status_free(s);
  if (p) {
    FILE *f = fopen("/dev/null", "w");
    if (f) {
      npu_status_free(npu_program_dump(p, f));
      fclose(f);
    }
    npu_program_destroy(p);
  }
  return 0;
}
