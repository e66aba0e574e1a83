#define _GNU_SOURCE
#include "samsa_fs.h"
#include <errno.h>
#ifdef __linux__
#include <fcntl.h>
#include <linux/falloc.h>
#endif

int samsa_reserve_blocks(int fd, int64_t offset, int64_t length) {
#ifdef __linux__
    if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length) == 0) return 0;
    return errno;
#else
    (void)fd; (void)offset; (void)length;
    return EOPNOTSUPP;
#endif
}
