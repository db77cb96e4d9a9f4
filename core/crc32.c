#include "crc32.h"

#include <stdbool.h>

static uint32_t crc_table[256];
static bool crc_table_ready;

/* The table is a pure function of the polynomial, so a racing first use
 * writes identical values; still, build it eagerly where the compiler lets us. */
__attribute__((constructor)) static void crc_init(void) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    crc_table[n] = c;
  }
  crc_table_ready = true;
}

uint32_t npu_crc32(uint32_t crc, const void *data, size_t size) {
  if (!crc_table_ready) crc_init();
  const unsigned char *p = data;
  crc = ~crc;
  for (size_t i = 0; i < size; i++) crc = crc_table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}
