/*
 * faultshim: an LD_PRELOAD library that makes writes and syncs fail on chosen files, to test how the broker
 * handles a full disk (ENOSPC) or a failing one (EIO) on the real process, as root or not.
 *
 * SAMSA_FAULT_CONTROL names a control file, read on every intercepted call (so a test switches faults on and
 * off while the broker runs). Each line is
 *
 *     ERRNO SUBSTRING [OPS]
 *
 * ERRNO is ENOSPC, EIO, EDQUOT or EROFS; SUBSTRING is matched against the path of the file descriptor
 * (readlink of /proc/self/fd/N); OPS is a comma-separated list of `write` (write, writev, pwrite, pwritev and
 * their 64-bit and v2 variants) and `sync` (fsync, fdatasync, sync_file_range), both when omitted. Lines that
 * start with '#' and blank lines are ignored. A missing or empty control file means no faults. The path is looked
 * up on every call (no per-descriptor cache, so a reused descriptor number is never taken for its old file).
 * Each injected failure is counted in the control file's name + ".hits" (one line appended per failure), so a
 * test can tell that the fault was met.
 *
 * Build: cc -shared -fPIC -O2 -o faultshim.so faultshim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum { OP_WRITE = 1, OP_SYNC = 2 };

static int errno_named(const char *name) {
    if (strcmp(name, "ENOSPC") == 0) return ENOSPC;
    if (strcmp(name, "EIO") == 0) return EIO;
    if (strcmp(name, "EDQUOT") == 0) return EDQUOT;
    if (strcmp(name, "EROFS") == 0) return EROFS;
    return 0;
}

/* The errno to fail this call with, or 0 to let it through. Uses only open/read/close/readlink, which the shim
 * does not intercept, and the stack (no malloc: it may run inside any thread at any time). */
static int fault_for(int fd, int op) {
    const char *control = getenv("SAMSA_FAULT_CONTROL");
    if (control == NULL || fd < 0) return 0;
    int saved = errno;
    int cfd = open(control, O_RDONLY | O_CLOEXEC);
    if (cfd < 0) { errno = saved; return 0; }
    char rules[4096];
    ssize_t n = read(cfd, rules, sizeof rules - 1);
    close(cfd);
    if (n <= 0) { errno = saved; return 0; }
    rules[n] = '\0';

    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, path, sizeof path - 1);
    if (len < 0) { errno = saved; return 0; }
    path[len] = '\0';

    int result = 0;
    char *save = NULL;
    for (char *line = strtok_r(rules, "\n", &save); line != NULL && result == 0; line = strtok_r(NULL, "\n", &save)) {
        char name[32], substring[1024], ops[64];
        int fields = sscanf(line, "%31s %1023s %63s", name, substring, ops);
        if (fields < 2 || name[0] == '#') continue;
        int mask = OP_WRITE | OP_SYNC;
        if (fields == 3) {
            mask = 0;
            if (strstr(ops, "write")) mask |= OP_WRITE;
            if (strstr(ops, "sync")) mask |= OP_SYNC;
        }
        int code = errno_named(name);
        if (code != 0 && (mask & op) && strstr(path, substring) != NULL) result = code;
    }
    if (result != 0) {
        char hits[4200];
        snprintf(hits, sizeof hits, "%s.hits", control);
        int hfd = open(hits, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (hfd >= 0) {
            char entry[4200];
            int m = snprintf(entry, sizeof entry, "%s %s %s\n", op == OP_WRITE ? "write" : "sync",
                             result == ENOSPC ? "ENOSPC" : result == EIO ? "EIO" : "other", path);
            if (m > 0) {
                /* libc's write, not ours (this must not be faulted itself). */
                ssize_t (*real_write)(int, const void *, size_t) =
                    (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
                if (real_write) (void)real_write(hfd, entry, (size_t)(m < (int)sizeof entry ? m : (int)sizeof entry - 1));
            }
            close(hfd);
        }
    }
    errno = saved;
    return result;
}

/* The next definition of `name` (libc's); a call fails with ENOSYS when there is none. */
#define REAL(name) \
    static __typeof__(&name) real_##name; \
    if (!real_##name) real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name); \
    if (!real_##name) { errno = ENOSYS; return -1; }

#define FAIL_IF_FAULTED(fd, op) \
    do { int code_ = fault_for((fd), (op)); if (code_ != 0) { errno = code_; return -1; } } while (0)

ssize_t write(int fd, const void *buf, size_t count) {
    REAL(write);
    FAIL_IF_FAULTED(fd, OP_WRITE);
    return real_write(fd, buf, count);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
    REAL(writev);
    FAIL_IF_FAULTED(fd, OP_WRITE);
    return real_writev(fd, iov, iovcnt);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    REAL(pwrite);
    FAIL_IF_FAULTED(fd, OP_WRITE);
    return real_pwrite(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t offset) {
    REAL(pwrite64);
    FAIL_IF_FAULTED(fd, OP_WRITE);
    return real_pwrite64(fd, buf, count, offset);
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    REAL(pwritev);
    FAIL_IF_FAULTED(fd, OP_WRITE);
    return real_pwritev(fd, iov, iovcnt, offset);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off64_t offset) {
    REAL(pwritev64);
    FAIL_IF_FAULTED(fd, OP_WRITE);
    return real_pwritev64(fd, iov, iovcnt, offset);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags) {
    REAL(pwritev2);
    FAIL_IF_FAULTED(fd, OP_WRITE);
    return real_pwritev2(fd, iov, iovcnt, offset, flags);
}

ssize_t pwritev64v2(int fd, const struct iovec *iov, int iovcnt, off64_t offset, int flags) {
    REAL(pwritev64v2);
    FAIL_IF_FAULTED(fd, OP_WRITE);
    return real_pwritev64v2(fd, iov, iovcnt, offset, flags);
}

int fsync(int fd) {
    REAL(fsync);
    FAIL_IF_FAULTED(fd, OP_SYNC);
    return real_fsync(fd);
}

int fdatasync(int fd) {
    REAL(fdatasync);
    FAIL_IF_FAULTED(fd, OP_SYNC);
    return real_fdatasync(fd);
}

int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned int flags) {
    REAL(sync_file_range);
    FAIL_IF_FAULTED(fd, OP_SYNC);
    return real_sync_file_range(fd, offset, nbytes, flags);
}
