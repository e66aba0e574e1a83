#ifndef SAMSA_CRC32C_H
#define SAMSA_CRC32C_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Extends a CRC32C (Castagnoli, reflected polynomial 0x82F63B78) over `length` bytes. Start with crc = 0;
/// the result is final (already inverted), and may be passed back in to continue over more bytes:
/// samsa_crc32c(samsa_crc32c(0, a, na), b, nb) == CRC32C of a followed by b. `data` may be NULL when
/// `length` is 0. Uses the fastest implementation this CPU supports, chosen once on first use.
uint32_t samsa_crc32c(uint32_t crc, const void *data, size_t length);

/// The same function computed with slicing-by-8 tables only (no special instructions), on every CPU.
uint32_t samsa_crc32c_portable(uint32_t crc, const void *data, size_t length);

/// The implementations this library contains. Only those reported available may be used on this CPU.
typedef enum samsa_crc32c_impl {
    SAMSA_CRC32C_IMPL_PORTABLE = 0,  ///< slicing-by-8 tables, any CPU
    SAMSA_CRC32C_IMPL_SSE42 = 1,     ///< x86-64 SSE4.2 crc32q, three streams combined with PCLMULQDQ
    SAMSA_CRC32C_IMPL_AVX512 = 2,    ///< x86-64 AVX-512 VPCLMULQDQ folding, SSE4.2 for short inputs
} samsa_crc32c_impl;

/// Number of samsa_crc32c_impl values (available or not).
#define SAMSA_CRC32C_IMPL_COUNT 3

/// 1 when `impl` runs on this CPU (and was compiled in), 0 otherwise.
int samsa_crc32c_impl_available(samsa_crc32c_impl impl);

/// samsa_crc32c computed by one given implementation; an unavailable one falls back to the portable
/// implementation (so this never executes an instruction the CPU lacks).
uint32_t samsa_crc32c_with(samsa_crc32c_impl impl, uint32_t crc, const void *data, size_t length);

/// The implementation samsa_crc32c uses on this CPU.
samsa_crc32c_impl samsa_crc32c_impl_selected(void);

/// A short name for an implementation ("portable", "sse4.2", "avx512"); "unknown" for other values.
const char *samsa_crc32c_impl_label(samsa_crc32c_impl impl);

/// The name of the implementation samsa_crc32c uses on this CPU, e.g. "avx512".
const char *samsa_crc32c_impl_name(void);

#ifdef __cplusplus
}
#endif
#endif
