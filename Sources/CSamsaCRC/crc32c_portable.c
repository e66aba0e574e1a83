/* Portable CRC32C: slicing-by-8 (eight table lookups per 8 bytes), plus the polynomial arithmetic used to
 * derive the constants of the hardware paths. */
#include "crc32c_internal.h"
#include "crc32c_tables.h"

uint32_t samsa_crc32c_mulmod(uint32_t a, uint32_t b) {
    uint32_t product = 0;
    /* Walk a's coefficients from x^0 (bit 31) upwards while b runs through b, b*x, b*x^2, ... mod P. */
    for (uint32_t bit = 0x80000000u; bit != 0; bit >>= 1) {
        if (a & bit) product ^= b;
        b = (b & 1u) ? (b >> 1) ^ SAMSA_CRC32C_POLY : b >> 1;
    }
    return product;
}

uint32_t samsa_crc32c_xpow(uint64_t n) {
    uint32_t result = 0x80000000u; /* 1 */
    uint32_t square = 0x40000000u; /* x^(2^k), starting at x */
    for (; n != 0; n >>= 1) {
        if (n & 1u) result = samsa_crc32c_mulmod(result, square);
        square = samsa_crc32c_mulmod(square, square);
    }
    return result;
}

/* Little-endian 32-bit load that compiles to one mov on little-endian targets and works on any other. */
static inline __attribute__((always_inline)) uint32_t load_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t samsa_crc32c_portable_state(uint32_t state, const unsigned char *p, size_t n) {
    const uint32_t (*t)[256] = crc32c_table;
    while (n != 0 && ((uintptr_t)p & 7u) != 0) {
        state = (state >> 8) ^ t[0][(state ^ *p++) & 0xffu];
        n--;
    }
    for (; n >= 8; p += 8, n -= 8) {
        uint32_t lo = load_le32(p) ^ state;
        uint32_t hi = load_le32(p + 4);
        /* A balanced tree keeps the dependency on `state` short: the `hi` half does not need it at all. */
        uint32_t from_hi = (t[3][hi & 0xffu] ^ t[2][(hi >> 8) & 0xffu]) ^ (t[1][(hi >> 16) & 0xffu] ^ t[0][hi >> 24]);
        uint32_t from_lo = (t[7][lo & 0xffu] ^ t[6][(lo >> 8) & 0xffu]) ^ (t[5][(lo >> 16) & 0xffu] ^ t[4][lo >> 24]);
        state = from_lo ^ from_hi;
    }
    while (n-- != 0) state = (state >> 8) ^ t[0][(state ^ *p++) & 0xffu];
    return state;
}
