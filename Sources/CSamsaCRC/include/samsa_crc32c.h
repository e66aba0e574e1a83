#ifndef SAMSA_CRC32C_H
#define SAMSA_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/// Extends a CRC32C (Castagnoli) over `length` bytes. Start with crc = 0; the result is final (already
/// inverted), and may be passed back in to continue over more bytes.
uint32_t samsa_crc32c(uint32_t crc, const void *data, size_t length);

#endif
