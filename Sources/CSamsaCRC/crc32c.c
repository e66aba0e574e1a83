/* CRC32C entry points: choose the fastest implementation the CPU supports, once, then call it. */
#include "samsa_crc32c.h"
#include "crc32c_internal.h"
#include <pthread.h>
#include <stdatomic.h>

typedef uint32_t (*crc32c_state_fn)(uint32_t state, const unsigned char *p, size_t n);

static pthread_once_t choose_once = PTHREAD_ONCE_INIT;
static int available[SAMSA_CRC32C_IMPL_COUNT];
static samsa_crc32c_impl selected;
/* The chosen function, published after the constant tables are filled; NULL until then. */
static _Atomic(crc32c_state_fn) selected_fn;

static crc32c_state_fn function_of(samsa_crc32c_impl impl) {
    switch (impl) {
#ifdef SAMSA_CRC32C_X86
    case SAMSA_CRC32C_IMPL_SSE42: return samsa_crc32c_sse42_state;
    case SAMSA_CRC32C_IMPL_AVX512: return samsa_crc32c_avx512_state;
#endif
    default: return samsa_crc32c_portable_state;
    }
}

static void choose(void) {
    available[SAMSA_CRC32C_IMPL_PORTABLE] = 1;
    selected = SAMSA_CRC32C_IMPL_PORTABLE;
#ifdef SAMSA_CRC32C_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul")) {
        samsa_crc32c_x86_init();
        available[SAMSA_CRC32C_IMPL_SSE42] = 1;
        selected = SAMSA_CRC32C_IMPL_SSE42;
        /* avx512f is reported only when the OS saves ZMM state (XCR0), which the fold path needs. */
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq")) {
            available[SAMSA_CRC32C_IMPL_AVX512] = 1;
            selected = SAMSA_CRC32C_IMPL_AVX512;
        }
    }
#endif
    atomic_store_explicit(&selected_fn, function_of(selected), memory_order_release);
}

static inline crc32c_state_fn chosen(void) {
    crc32c_state_fn fn = atomic_load_explicit(&selected_fn, memory_order_acquire);
    if (__builtin_expect(fn == NULL, 0)) {
        pthread_once(&choose_once, choose);
        fn = atomic_load_explicit(&selected_fn, memory_order_acquire);
    }
    return fn;
}

uint32_t samsa_crc32c(uint32_t crc, const void *data, size_t length) {
    return ~chosen()(~crc, (const unsigned char *)data, length);
}

uint32_t samsa_crc32c_portable(uint32_t crc, const void *data, size_t length) {
    return ~samsa_crc32c_portable_state(~crc, (const unsigned char *)data, length);
}

int samsa_crc32c_impl_available(samsa_crc32c_impl impl) {
    (void)chosen();
    return (unsigned)impl < SAMSA_CRC32C_IMPL_COUNT && available[impl];
}

uint32_t samsa_crc32c_with(samsa_crc32c_impl impl, uint32_t crc, const void *data, size_t length) {
    crc32c_state_fn fn = samsa_crc32c_impl_available(impl) ? function_of(impl) : samsa_crc32c_portable_state;
    return ~fn(~crc, (const unsigned char *)data, length);
}

samsa_crc32c_impl samsa_crc32c_impl_selected(void) {
    (void)chosen();
    return selected;
}

const char *samsa_crc32c_impl_label(samsa_crc32c_impl impl) {
    switch (impl) {
    case SAMSA_CRC32C_IMPL_PORTABLE: return "portable";
    case SAMSA_CRC32C_IMPL_SSE42: return "sse4.2";
    case SAMSA_CRC32C_IMPL_AVX512: return "avx512";
    }
    return "unknown";
}

const char *samsa_crc32c_impl_name(void) { return samsa_crc32c_impl_label(samsa_crc32c_impl_selected()); }
