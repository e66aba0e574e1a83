#ifndef SAMSA_DIGEST_H
#define SAMSA_DIGEST_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A keyed 128-bit digest of short byte strings with AES-128 (AES-NI): the cleaner's offset map stores it in
/// place of a record key. The message is encoded prefix-free into 16-byte blocks and CBC-MACed under the
/// secret key, which makes it a pseudorandom function (Bellare, Kilian and Rogaway; Petrank and Rackoff):
///   - fewer than 16 bytes: one block, the bytes zero-padded, the length in byte 15 (one AES call);
///   - 16 bytes or more: a first block holding the length (8 bytes, little-endian) and 0xFF in byte 15, then
///     the bytes in 16-byte blocks, the last zero-padded.
/// Byte 15 tells the two forms apart (0..15 against 0xFF) and the length makes the long form prefix-free.

/// AES-128's eleven round keys, expanded from a 16-byte secret.
typedef struct samsa_digest_key {
    uint8_t round_keys[11 * 16];
} samsa_digest_key;

/// 1 when this CPU has AES-NI (and the library was built for x86-64), 0 otherwise: then the functions below
/// must not be called.
int samsa_digest_available(void);

/// Expands `secret` (16 bytes) into `key`.
void samsa_digest_key_init(samsa_digest_key *key, const uint8_t secret[16]);

/// The digest of `length` bytes at `data` (`data` may be NULL when `length` is 0), as two little-endian words:
/// out[0] is bytes 0..<8 of the last cipher block, out[1] bytes 8..<16.
void samsa_digest(const samsa_digest_key *key, const void *data, size_t length, uint64_t out[2]);

/// The digests of `n` byte strings of `base`: string i starts at base + spans[2i] and has spans[2i + 1] bytes
/// (every span inside the caller's buffer); its digest goes to out[2i] and out[2i + 1], equal to what
/// `samsa_digest` gives. Short strings (under 16 bytes, a record key's usual size) are encrypted four at a
/// time, interleaved, which keeps the AES unit busy where one call per key waits on each encryption's latency.
void samsa_digest_spans(
    const samsa_digest_key *key, const uint8_t *base, const int64_t *spans, size_t n, uint64_t *out);

/// One AES-128 encryption of a 16-byte block (for checking the cipher against FIPS-197's vectors).
void samsa_digest_encrypt_block(const samsa_digest_key *key, const uint8_t in[16], uint8_t out[16]);

#ifdef __cplusplus
}
#endif
#endif
