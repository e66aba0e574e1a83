// The kernel's cost of buffered appends, outside Samsa: writes 1 GiB to a fresh file in write() calls of a given
// size, either plainly or into blocks reserved ahead with fallocate(FALLOC_FL_KEEP_SIZE) (what a Samsa segment
// does, papers/evaluation.md section 3.2), and prints MB/s (10^6 bytes). Nothing is fsynced: the page cache path.
//
//   cc -O2 -o /tmp/write-paths scripts/write-paths.c
//   /tmp/write-paths plain 16440 /path/on/the/disk/file        # 16,440 bytes: one bench batch
//   /tmp/write-paths reserve 16440 /path/on/the/disk/file 64   # blocks reserved 64 MiB ahead
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOTAL (1L << 30)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 4 || (strcmp(argv[1], "plain") && strcmp(argv[1], "reserve"))) {
        fprintf(stderr, "usage: %s plain|reserve WRITE_BYTES FILE [STEP_MIB]\n", argv[0]);
        return 2;
    }
    int reserve = strcmp(argv[1], "reserve") == 0;
    long size = atol(argv[2]);
    const char *path = argv[3];
    long step = (argc > 4 ? atol(argv[4]) : 64) << 20;
    if (size <= 0 || step <= 0) { fprintf(stderr, "sizes must be positive\n"); return 2; }
    char *buffer = malloc(size);
    memset(buffer, 'x', size);
    unlink(path);
    sync();  // nothing dirty from earlier runs
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0) { perror(path); return 1; }
    double start = now();
    long written = 0, reserved = 0;
    while (written + size <= TOTAL) {
        if (reserve && written + size > reserved) {
            if (fallocate(fd, FALLOC_FL_KEEP_SIZE, reserved, step) != 0) { perror("fallocate"); return 1; }
            reserved += step;
        }
        if (write(fd, buffer, size) != size) { perror("write"); return 1; }
        written += size;
    }
    double seconds = now() - start;
    printf("%s, %ld-byte writes: %.0f MB/s\n", argv[1], size, written / seconds / 1e6);
    close(fd);
    unlink(path);
    return 0;
}
