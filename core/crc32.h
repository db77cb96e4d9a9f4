/* CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as used by zlib and
 * the .npubin section table. Internal to core/. */
#ifndef NPU_CORE_CRC32_H
#define NPU_CORE_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues a running CRC: start with crc = 0. npu_crc32(0, "123456789", 9)
 * is 0xCBF43926. */
uint32_t npu_crc32(uint32_t crc, const void *data, size_t size);

#endif
