/* CRC32C on x86-64 with SSE4.2 + PCLMULQDQ (and, where present, AVX-512 VPCLMULQDQ).
 *
 * SSE4.2 path. The crc32q instruction folds 8 bytes into the register with a latency of 3 cycles but can
 * start one per cycle, so one dependency chain runs at a third of the instruction's throughput. Inputs of
 * SSE_THREE_STREAMS_MIN bytes or more are cut into chunks of three equal, adjacent streams A B C (each at most
 * SSE_STREAM_MAX bytes, a multiple of 8) whose chains run interleaved: A starts from the running register, B
 * and C from 0. Because the CRC is linear, the chunk's register is then
 *     A * x^(8*2L) + B * x^(8*L) + C  (mod P)        where L = bytes per stream,
 * and each product is one carry-less multiply by a precomputed power of x, reduced by a crc32q. Whatever is
 * left (fewer than 24 bytes, or a short input) runs through one crc32q chain.
 *
 * AVX-512 path. Inputs of AVX512_MIN bytes or more are folded 256 bytes per round in four ZMM accumulators
 * (sixteen 128-bit lanes): each lane X is replaced by X * x^(8*256) mod P, computed as two carry-less
 * multiplies of its 64-bit halves, and XORed into the 128 bits that lie 256 bytes further on. The four
 * accumulators are folded into one, then into the remaining 64-byte blocks, and the last 64 folded bytes
 * plus the tail are finished with crc32q; no Barrett reduction is needed.
 *
 * Multiplying by carry-less multiply: for a 32-bit register r and constant k (both reflected), pclmulqdq
 * gives a 64-bit value whose polynomial is r * k * x, and crc32q(0, v) = v * x^32 mod P; so
 * crc32q(0, clmul(r, x^(n-33) mod P)) = r * x^n mod P. Likewise a 64-bit lane half h times x^(m-33) mod P
 * lands, read as 128 reflected bits, on h * x^m. */
#include "crc32c_internal.h"

#ifdef SAMSA_CRC32C_X86
#include <immintrin.h>

/* Measured with scripts/crc-speed.c on an Emerald Rapids Xeon (family 6 model 207, ~3 GHz), both one call at a time and
 * with each call chained on the previous result (latency):
 *   - SSE_STREAM_MAX: 4096 and 8192 reach the crc32q limit (8 bytes a cycle) alike; 1024 loses 2%.
 *   - SSE_THREE_STREAMS_MIN: three streams of 4 words already beat one chain when calls are chained
 *     (96 bytes: 11.0 against 7.3 GB/s), at some cost when independent calls overlap (13.0 against 15.4).
 *   - AVX512_MIN: the four-accumulator fold needs 256 bytes and wins from there (256 bytes: 21 against 15
 *     GB/s chained, 35 against 18 independent). */
/// Bytes per stream in a full three-stream chunk (a multiple of 8).
#define SSE_STREAM_MAX 4096
/// Shorter inputs use a single crc32q chain.
#define SSE_THREE_STREAMS_MIN 96
/// Shorter inputs take the SSE4.2 path even when AVX-512 is present (the fold loads 256 bytes at once).
#define AVX512_MIN 256

typedef uint64_t __attribute__((aligned(1), may_alias)) unaligned_u64;
typedef uint32_t __attribute__((aligned(1), may_alias)) unaligned_u32;
typedef uint16_t __attribute__((aligned(1), may_alias)) unaligned_u16;

/* shift_by_words[j] = x^(64j - 33) mod P: advances a register over 8j zero bytes (see above); j >= 1. */
static uint32_t shift_by_words[2 * SSE_STREAM_MAX / 8 + 1];

/* Fold constants for a distance of D bytes, as 64-bit lanes {low half, high half}: the low 8 bytes of a
 * 128-bit lane (the earlier bytes, higher powers) need x^(8D+64-33), the high 8 bytes x^(8D-33). */
enum { FOLD_64, FOLD_128, FOLD_192, FOLD_256, FOLD_COUNT };
static uint64_t fold_by[FOLD_COUNT][2];

void samsa_crc32c_x86_init(void) {
    /* x^64 advances over 8 bytes, so each entry is the previous one times x^64. */
    uint32_t eight_bytes = samsa_crc32c_xpow(64);
    shift_by_words[0] = 0; /* unused: a stream is never empty */
    shift_by_words[1] = samsa_crc32c_xpow(64 - 33);
    for (size_t j = 2; j < sizeof shift_by_words / sizeof shift_by_words[0]; j++)
        shift_by_words[j] = samsa_crc32c_mulmod(shift_by_words[j - 1], eight_bytes);
    static const uint64_t distances[FOLD_COUNT] = {64, 128, 192, 256};
    for (int i = 0; i < FOLD_COUNT; i++) {
        fold_by[i][0] = samsa_crc32c_xpow(8 * distances[i] + 64 - 33);
        fold_by[i][1] = samsa_crc32c_xpow(8 * distances[i] - 33);
    }
}

#define TARGET_SSE42 __attribute__((target("sse4.2,pclmul")))
#define TARGET_AVX512 __attribute__((target("sse4.2,pclmul,avx512f,vpclmulqdq")))
#define INLINE static inline __attribute__((always_inline))

/* One crc32q chain over n bytes (any n). */
INLINE TARGET_SSE42 uint32_t one_stream(uint32_t state, const unsigned char *p, size_t n) {
    uint64_t r = state;
    for (; n >= 8; p += 8, n -= 8) r = _mm_crc32_u64(r, *(const unaligned_u64 *)p);
    uint32_t r32 = (uint32_t)r;
    if (n & 4) { r32 = _mm_crc32_u32(r32, *(const unaligned_u32 *)p); p += 4; }
    if (n & 2) { r32 = _mm_crc32_u16(r32, *(const unaligned_u16 *)p); p += 2; }
    if (n & 1) r32 = _mm_crc32_u8(r32, *p);
    return r32;
}

/* The 64-bit product register * shift_by_words[j], not yet reduced. */
INLINE TARGET_SSE42 __m128i shift_product(uint64_t reg, size_t words) {
    return _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)(uint32_t)reg), _mm_cvtsi32_si128((int)shift_by_words[words]), 0x00);
}

uint32_t TARGET_SSE42 samsa_crc32c_sse42_state(uint32_t state, const unsigned char *p, size_t n) {
    while (n >= SSE_THREE_STREAMS_MIN) {
        size_t words = n >= 3 * SSE_STREAM_MAX ? SSE_STREAM_MAX / 8 : n / 24;
        const unaligned_u64 *a = (const unaligned_u64 *)p, *b = a + words, *c = b + words;
        uint64_t ra = state, rb = 0, rc = 0;
        for (size_t i = 0; i < words; i++) {
            ra = _mm_crc32_u64(ra, a[i]);
            rb = _mm_crc32_u64(rb, b[i]);
            rc = _mm_crc32_u64(rc, c[i]);
        }
        __m128i shifted = _mm_xor_si128(shift_product(ra, 2 * words), shift_product(rb, words));
        state = (uint32_t)_mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(shifted)) ^ (uint32_t)rc;
        p += 24 * words;
        n -= 24 * words;
    }
    return one_stream(state, p, n);
}

INLINE TARGET_AVX512 __m512i fold_constant(int which) {
    return _mm512_broadcast_i32x4(_mm_set_epi64x((long long)fold_by[which][1], (long long)fold_by[which][0]));
}

/* x * x^(8D) + data, lane by lane, for the fold constant k of distance D. */
INLINE TARGET_AVX512 __m512i fold(__m512i x, __m512i k, __m512i data) {
    return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00), _mm512_clmulepi64_epi128(x, k, 0x11),
                                     data, 0x96 /* a ^ b ^ c */);
}

uint32_t TARGET_AVX512 samsa_crc32c_avx512_state(uint32_t state, const unsigned char *p, size_t n) {
    if (n < AVX512_MIN) return samsa_crc32c_sse42_state(state, p, n);
    /* Starting from register s is the same as starting from 0 with s XORed into the first four bytes. */
    __m512i x0 = _mm512_xor_si512(_mm512_loadu_si512(p), _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)state)));
    __m512i x1 = _mm512_loadu_si512(p + 64);
    __m512i x2 = _mm512_loadu_si512(p + 128);
    __m512i x3 = _mm512_loadu_si512(p + 192);
    p += 256;
    n -= 256;
    const __m512i k256 = fold_constant(FOLD_256);
    for (; n >= 256; p += 256, n -= 256) {
        x0 = fold(x0, k256, _mm512_loadu_si512(p));
        x1 = fold(x1, k256, _mm512_loadu_si512(p + 64));
        x2 = fold(x2, k256, _mm512_loadu_si512(p + 128));
        x3 = fold(x3, k256, _mm512_loadu_si512(p + 192));
    }
    const __m512i k64 = fold_constant(FOLD_64);
    __m512i x = fold(x2, k64, x3);
    x = fold(x1, fold_constant(FOLD_128), x);
    x = fold(x0, fold_constant(FOLD_192), x);
    for (; n >= 64; p += 64, n -= 64) x = fold(x, k64, _mm512_loadu_si512(p));
    /* The 64 folded bytes stand where they are in the message: run them, then the tail, through crc32q. */
    uint64_t lanes[8];
    _mm512_storeu_si512(lanes, x);
    uint64_t r = 0;
    for (int i = 0; i < 8; i++) r = _mm_crc32_u64(r, lanes[i]);
    return one_stream((uint32_t)r, p, n);
}

#endif /* SAMSA_CRC32C_X86 */
