/* Shared between the CRC32C implementation files; not part of the module's public header.
 *
 * Every function here works on the CRC *register* ("state"): the inverted CRC. samsa_crc32c(crc, ...) runs
 * with state = ~crc and returns ~state, which is what makes results final and chainable.
 *
 * Polynomial arithmetic uses the reflected convention of the crc32 instruction: in a 32-bit value, bit i is
 * the coefficient of x^(31-i) (so 0x80000000 is 1 and 0x40000000 is x); in a 64-bit value, bit i is the
 * coefficient of x^(63-i). Processing n bytes D from state s yields (s * x^(8n) + D * x^32) mod P. */
#ifndef SAMSA_CRC32C_INTERNAL_H
#define SAMSA_CRC32C_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#define SAMSA_CRC32C_POLY 0x82F63B78u
#define SAMSA_CRC32C_HIDDEN __attribute__((visibility("hidden")))

/// a * b mod P for reflected 32-bit polynomials (portable, bit by bit: for computing constants only).
SAMSA_CRC32C_HIDDEN uint32_t samsa_crc32c_mulmod(uint32_t a, uint32_t b);

/// x^n mod P, reflected.
SAMSA_CRC32C_HIDDEN uint32_t samsa_crc32c_xpow(uint64_t n);

/// Slicing-by-8 over n bytes from register `state`.
SAMSA_CRC32C_HIDDEN uint32_t samsa_crc32c_portable_state(uint32_t state, const unsigned char *p, size_t n);

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define SAMSA_CRC32C_X86 1
/// Fills the constant tables of the x86 paths. Must run (once) before either function below.
SAMSA_CRC32C_HIDDEN void samsa_crc32c_x86_init(void);
/// Requires SSE4.2 and PCLMULQDQ.
SAMSA_CRC32C_HIDDEN uint32_t samsa_crc32c_sse42_state(uint32_t state, const unsigned char *p, size_t n);
/// Requires SSE4.2, PCLMULQDQ, AVX-512F and VPCLMULQDQ (and the OS saving ZMM state).
SAMSA_CRC32C_HIDDEN uint32_t samsa_crc32c_avx512_state(uint32_t state, const unsigned char *p, size_t n);
#endif

#endif
