#ifndef SAMSA_FS_H
#define SAMSA_FS_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Reserves the blocks of [offset, offset + length) of the file without changing its size (Linux
/// fallocate with FALLOC_FL_KEEP_SIZE). Returns 0, or an errno value; EOPNOTSUPP where the system or the file
/// system has no such call.
int samsa_reserve_blocks(int fd, int64_t offset, int64_t length);

#ifdef __cplusplus
}
#endif
#endif
