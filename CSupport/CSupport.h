/*
 * CSupport: what Swift cannot import by itself.
 *
 * Rules (see STYLE.md): no _GNU_SOURCE here (it breaks the Foundation/Dispatch import), no
 * <linux/fs.h> or <linux/mount.h> (ambiguous MS_* against <sys/mount.h>; only a clean build
 * shows it). Macros that Swift cannot import are re-exported as typed constants; syscalls that
 * glibc hides behind _GNU_SOURCE, or does not wrap at all, are static inline syscall(2) calls.
 * Every name is prefixed csupport_.
 */
#ifndef CSUPPORT_H
#define CSUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/sysmacros.h>
#include <linux/stat.h>      /* struct statx, STATX_* (kernel UAPI) */
#include <linux/loop.h>      /* LOOP_* ioctls and struct loop_info64, for loop-device tests */
#include <blkid.h>
#include <libmount.h>

/* <linux/fs.h>: BLKGETSIZE64 = _IOR(0x12, 114, size_t); BLKROGET = _IO(0x12, 94). */
static const unsigned long CSUPPORT_BLKGETSIZE64 = _IOR(0x12, 114, size_t);
static const unsigned long CSUPPORT_BLKROGET = _IO(0x12, 94);

/* <keyutils.h> is not a build dependency: the two constants we use, from the kernel UAPI. */
static const int32_t CSUPPORT_KEY_SPEC_PROCESS_KEYRING = -2;
static const int CSUPPORT_KEYCTL_UNLINK = 9;

/* statx(2): glibc declares it only under _GNU_SOURCE. */
static inline int csupport_statx(int dirfd, const char *path, int flags, unsigned int mask,
                                 struct statx *buf) {
    return (int)syscall(SYS_statx, dirfd, path, flags, mask, buf);
}

/* add_key(2): libkeyutils is not linked; the raw syscall returns the key serial or -1. */
static inline int32_t csupport_add_key(const char *type, const char *description,
                                       const void *payload, size_t plen, int32_t keyring) {
    return (int32_t)syscall(SYS_add_key, type, description, payload, plen, keyring);
}

/* keyctl(KEYCTL_UNLINK, key, keyring). */
static inline long csupport_keyctl_unlink(int32_t key, int32_t keyring) {
    return syscall(SYS_keyctl, CSUPPORT_KEYCTL_UNLINK, key, keyring);
}

/* pipe2(2): glibc declares it only under _GNU_SOURCE. */
static inline int csupport_pipe2(int fds[2], int flags) {
    return (int)syscall(SYS_pipe2, fds, flags);
}

/* makedev/major/minor are macros in glibc. */
static inline dev_t csupport_makedev(unsigned int major, unsigned int minor) {
    return makedev(major, minor);
}
static inline unsigned int csupport_major(dev_t dev) { return major(dev); }
static inline unsigned int csupport_minor(dev_t dev) { return minor(dev); }

/* ioctl(2) is variadic in C; these give Swift fixed signatures. */
static inline int csupport_ioctl_ptr(int fd, unsigned long request, void *arg) {
    return ioctl(fd, request, arg);
}
static inline int csupport_ioctl_int(int fd, unsigned long request, unsigned long arg) {
    return ioctl(fd, request, arg);
}

/* open(2)/openat(2) are variadic in C. */
static inline int csupport_openat(int dirfd, const char *path, int flags, unsigned int mode) {
    return openat(dirfd, path, flags, (mode_t)mode);
}

#endif /* CSUPPORT_H */
