/* Quick CRC32C throughput check outside SwiftPM, for tuning the C code in Sources/CSamsaCRC.
 *
 *   cc -O2 -ISources/CSamsaCRC/include scripts/crc-speed.c Sources/CSamsaCRC/crc32c*.c -o /tmp/crc-speed -lpthread
 *   /tmp/crc-speed            # every implementation this CPU has, 64 B .. 1 MiB, plus a memcpy baseline
 *   /tmp/crc-speed 100 300    # the same at the given sizes (bytes, at most 1 MiB)
 *   /tmp/crc-speed --chained 100 300   # each call continues from the previous result: latency, not overlap
 *
 * GB/s = bytes hashed / elapsed seconds / 1e9 (best of 7 runs of about 50 ms each). Before timing, each
 * implementation is checked against the portable one on random lengths and offsets. */
#include "samsa_crc32c.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile uint32_t sink;
static int chained;

static double gbps(int impl, const unsigned char *buf, unsigned char *dst, size_t size) {
    size_t reps = (size_t)(50e6 / (double)size) + 1; /* ~50 MB per run */
    double best = 0;
    for (int run = 0; run < 7; run++) {
        uint32_t acc = 0;
        double t0 = now();
        for (size_t i = 0; i < reps; i++) {
            if (impl < 0) { memcpy(dst, buf, size); acc += dst[i % size]; }
            else if (chained) acc = samsa_crc32c_with((samsa_crc32c_impl)impl, acc, buf, size);
            else acc += samsa_crc32c_with((samsa_crc32c_impl)impl, 0, buf, size);
        }
        double rate = (double)size * (double)reps / (now() - t0) / 1e9;
        sink = acc;
        if (rate > best) best = rate;
    }
    return best;
}

int main(int argc, char **argv) {
    enum { MAX = 1 << 20 };
    unsigned char *buf = aligned_alloc(64, MAX + 128), *dst = aligned_alloc(64, MAX + 128);
    srand(7);
    for (size_t i = 0; i < MAX + 128; i++) buf[i] = (unsigned char)rand();
    printf("selected: %s\n", samsa_crc32c_impl_name());
    for (int impl = 1; impl < SAMSA_CRC32C_IMPL_COUNT; impl++) {
        if (!samsa_crc32c_impl_available((samsa_crc32c_impl)impl)) continue;
        for (int trial = 0; trial < 20000; trial++) {
            size_t len = (size_t)rand() % (trial < 10000 ? 2048 : 70000), off = (size_t)rand() % 64;
            if (samsa_crc32c_with((samsa_crc32c_impl)impl, 0, buf + off, len) != samsa_crc32c_portable(0, buf + off, len)) {
                printf("MISMATCH %s len %zu off %zu\n", samsa_crc32c_impl_label((samsa_crc32c_impl)impl), len, off);
                return 1;
            }
        }
    }
    size_t sizes[64] = {64, 256, 1024, 4096, 16384, 65536, 1 << 20}, count = 7;
    if (argc > 1 && strcmp(argv[1], "--chained") == 0) { chained = 1; argc--; argv++; }
    if (argc > 1) {
        for (count = 0; count + 1 < (size_t)argc && count < 64; count++) sizes[count] = strtoul(argv[count + 1], NULL, 10);
        for (size_t s = 0; s < count; s++) if (sizes[s] == 0 || sizes[s] > MAX) { fprintf(stderr, "size out of range\n"); return 2; }
    }
    printf("%-10s", "bytes");
    fflush(stdout);
    for (size_t s = 0; s < count; s++) printf("%10zu", sizes[s]);
    printf("   (GB/s)\n");
    for (int impl = -1; impl < SAMSA_CRC32C_IMPL_COUNT; impl++) {
        if (impl >= 0 && !samsa_crc32c_impl_available((samsa_crc32c_impl)impl)) continue;
        printf("%-10s", impl < 0 ? "memcpy" : samsa_crc32c_impl_label((samsa_crc32c_impl)impl));
        for (size_t s = 0; s < count; s++) printf("%10.2f", gbps(impl, buf, dst, sizes[s]));
        printf("\n");
    }
    return 0;
}
