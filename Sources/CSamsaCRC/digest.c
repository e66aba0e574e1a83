/* The keyed digest of samsa_digest.h: CBC-MAC with AES-128 over a prefix-free encoding, on AES-NI. */
#include "samsa_digest.h"
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#define TARGET_AES __attribute__((target("aes,sse2")))

int samsa_digest_available(void) {
    return __builtin_cpu_supports("aes") ? 1 : 0;
}

/* One step of the AES-128 key schedule: the previous round key with the key-generation assist's result
 * (SubWord(RotWord(w3)) ^ rcon, broadcast) folded in word by word. */
TARGET_AES static inline __m128i expand(__m128i key, __m128i assist) {
    assist = _mm_shuffle_epi32(assist, _MM_SHUFFLE(3, 3, 3, 3));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    return _mm_xor_si128(key, assist);
}

TARGET_AES void samsa_digest_key_init(samsa_digest_key *key, const uint8_t secret[16]) {
    __m128i k[11];
    k[0] = _mm_loadu_si128((const __m128i *)secret);
    /* The round constant must be an immediate operand: one line per round. */
    k[1] = expand(k[0], _mm_aeskeygenassist_si128(k[0], 0x01));
    k[2] = expand(k[1], _mm_aeskeygenassist_si128(k[1], 0x02));
    k[3] = expand(k[2], _mm_aeskeygenassist_si128(k[2], 0x04));
    k[4] = expand(k[3], _mm_aeskeygenassist_si128(k[3], 0x08));
    k[5] = expand(k[4], _mm_aeskeygenassist_si128(k[4], 0x10));
    k[6] = expand(k[5], _mm_aeskeygenassist_si128(k[5], 0x20));
    k[7] = expand(k[6], _mm_aeskeygenassist_si128(k[6], 0x40));
    k[8] = expand(k[7], _mm_aeskeygenassist_si128(k[7], 0x80));
    k[9] = expand(k[8], _mm_aeskeygenassist_si128(k[8], 0x1b));
    k[10] = expand(k[9], _mm_aeskeygenassist_si128(k[9], 0x36));
    for (int i = 0; i < 11; i++) _mm_storeu_si128((__m128i *)(key->round_keys + 16 * i), k[i]);
}

TARGET_AES static inline __m128i encrypt(const samsa_digest_key *key, __m128i block) {
    const __m128i *k = (const __m128i *)key->round_keys;
    block = _mm_xor_si128(block, _mm_loadu_si128(k));
    for (int i = 1; i < 10; i++) block = _mm_aesenc_si128(block, _mm_loadu_si128(k + i));
    return _mm_aesenclast_si128(block, _mm_loadu_si128(k + 10));
}

TARGET_AES void samsa_digest_encrypt_block(const samsa_digest_key *key, const uint8_t in[16], uint8_t out[16]) {
    _mm_storeu_si128((__m128i *)out, encrypt(key, _mm_loadu_si128((const __m128i *)in)));
}

/* The bytes p[0..n) (n < 16) zero-padded to a block, byte 15 set to `last`. Whole words are loaded where the
 * length allows (the two 8-byte loads of 8..15 bytes overlap), bytes one by one only below 8. */
TARGET_AES static inline __m128i partial_block(const unsigned char *p, size_t n, uint8_t last) {
    uint64_t lo = 0, hi = 0;
    if (n >= 8) {
        memcpy(&lo, p, 8);
        if (n > 8) {
            memcpy(&hi, p + n - 8, 8);
            hi >>= 8 * (16 - n);
        }
    } else {
        for (size_t i = 0; i < n; i++) lo |= (uint64_t)p[i] << (8 * i);
    }
    hi |= (uint64_t)last << 56;
    return _mm_set_epi64x((long long)hi, (long long)lo);
}

TARGET_AES void samsa_digest(const samsa_digest_key *key, const void *data, size_t length, uint64_t out[2]) {
    const unsigned char *p = (const unsigned char *)data;
    __m128i state;
    if (length < 16) {
        state = encrypt(key, partial_block(p, length, (uint8_t)length));
    } else {
        state = encrypt(key, _mm_set_epi64x((long long)(0xFFull << 56), (long long)(uint64_t)length));
        size_t i = 0;
        for (; i + 16 <= length; i += 16) {
            state = encrypt(key, _mm_xor_si128(state, _mm_loadu_si128((const __m128i *)(p + i))));
        }
        if (i < length) state = encrypt(key, _mm_xor_si128(state, partial_block(p + i, length - i, 0)));
    }
    _mm_storeu_si128((__m128i *)out, state);
}

TARGET_AES void samsa_digest_spans(
    const samsa_digest_key *key, const uint8_t *base, const int64_t *spans, size_t n, uint64_t *out) {
    const __m128i *k = (const __m128i *)key->round_keys;
    __m128i rk[11];
    for (int r = 0; r < 11; r++) rk[r] = _mm_loadu_si128(k + r);
    size_t i = 0;
    /* Four short keys at a time: four independent encryptions interleaved round by round, the round keys in
     * registers. A group holding a longer key is digested one key at a time. */
    for (; i + 4 <= n; i += 4) {
        const int64_t *s = spans + 2 * i;
        if ((uint64_t)(s[1] | s[3] | s[5] | s[7]) >= 16) {
            for (size_t j = 0; j < 4; j++) samsa_digest(key, base + s[2 * j], (size_t)s[2 * j + 1], out + 2 * (i + j));
            continue;
        }
        __m128i b[4];
        for (int j = 0; j < 4; j++) b[j] = _mm_xor_si128(partial_block(base + s[2 * j], (size_t)s[2 * j + 1], (uint8_t)s[2 * j + 1]), rk[0]);
        for (int r = 1; r < 10; r++) {
            for (int j = 0; j < 4; j++) b[j] = _mm_aesenc_si128(b[j], rk[r]);
        }
        for (int j = 0; j < 4; j++) _mm_storeu_si128((__m128i *)(out + 2 * (i + j)), _mm_aesenclast_si128(b[j], rk[10]));
    }
    for (; i < n; i++) samsa_digest(key, base + spans[2 * i], (size_t)spans[2 * i + 1], out + 2 * i);
}

#else

int samsa_digest_available(void) { return 0; }
void samsa_digest_key_init(samsa_digest_key *key, const uint8_t secret[16]) { (void)key; (void)secret; }
void samsa_digest(const samsa_digest_key *key, const void *data, size_t length, uint64_t out[2]) {
    (void)key; (void)data; (void)length;
    out[0] = out[1] = 0;
}
void samsa_digest_spans(
    const samsa_digest_key *key, const uint8_t *base, const int64_t *spans, size_t n, uint64_t *out) {
    (void)key; (void)base; (void)spans;
    memset(out, 0, 16 * n);
}
void samsa_digest_encrypt_block(const samsa_digest_key *key, const uint8_t in[16], uint8_t out[16]) {
    (void)key; (void)in;
    memset(out, 0, 16);
}

#endif
