#include "samsa_crc32c.h"

/* Placeholder: bitwise portable implementation; replaced by the table + SSE4.2 version. */
uint32_t samsa_crc32c(uint32_t crc, const void *data, size_t length) {
    const unsigned char *p = data;
    crc = ~crc;
    while (length--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}
