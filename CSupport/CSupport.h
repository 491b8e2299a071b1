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

/* <keyutils.h> is not a build dependency: the constants we use, from the kernel UAPI
   (<linux/keyctl.h>: KEY_SPEC_THREAD_KEYRING -1, KEY_SPEC_PROCESS_KEYRING -2). */
static const int32_t CSUPPORT_KEY_SPEC_THREAD_KEYRING = -1;
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

/* getdents64(2): glibc declares it only under _GNU_SOURCE. Fills `buf` with linux_dirent64
   records; returns the bytes filled, 0 at the end of the directory, -1 with errno. */
static inline long csupport_getdents64(int fd, void *buf, size_t count) {
    return syscall(SYS_getdents64, fd, buf, count);
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

/* ---- BlockMount: the new mount API (open_tree/move_mount Linux 5.2, mount_setattr 5.12). ----
 * <linux/mount.h> is not included (it breaks the Swift import): struct mount_attr and the few
 * constants we use are declared here with the kernel UAPI values. The syscall numbers are the
 * same on every architecture (the unified table from 424 on). */
struct csupport_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};
static const unsigned int CSUPPORT_OPEN_TREE_CLONE = 1;          /* OPEN_TREE_CLONE */
static const unsigned int CSUPPORT_OPEN_TREE_CLOEXEC = O_CLOEXEC; /* OPEN_TREE_CLOEXEC */
static const unsigned int CSUPPORT_MOVE_MOUNT_F_EMPTY_PATH = 0x00000004;
static const uint64_t CSUPPORT_MOUNT_ATTR_RDONLY = 0x00000001;
static const int CSUPPORT_AT_EMPTY_PATH = 0x1000;    /* fcntl.h has it only under _GNU_SOURCE */
static const int CSUPPORT_AT_NO_AUTOMOUNT = 0x800;   /* likewise */

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

/* open_tree(2): a detached clone of the mount at path (with OPEN_TREE_CLONE), as an fd. */
static inline int csupport_open_tree(int dirfd, const char *path, unsigned int flags) {
    return (int)syscall(SYS_open_tree, dirfd, path, flags);
}

/* move_mount(2): attach the mount behind from_dirfd (MOVE_MOUNT_F_EMPTY_PATH) at to_path. */
static inline int csupport_move_mount(int from_dirfd, const char *from_path, int to_dirfd,
                                      const char *to_path, unsigned int flags) {
    return (int)syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags);
}

/* mount_setattr(2): change mount attributes (MOUNT_ATTR_RDONLY, …) of a mount or a tree. */
static inline int csupport_mount_setattr(int dirfd, const char *path, unsigned int flags,
                                         struct csupport_mount_attr *attr) {
    return (int)syscall(SYS_mount_setattr, dirfd, path, flags, attr, sizeof(*attr));
}
/* ---- end BlockMount ---- */

/* ---- fchmodat2(2) (Linux 6.6): fchmodat that takes flags. glibc 2.36 emulates
 * AT_SYMLINK_NOFOLLOW with an O_PATH open, an fstat and a chmod through /proc/self/fd (four
 * syscalls and a /proc lookup per file); this is one syscall. ENOSYS before 6.6. ---- */
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452 /* the unified syscall table: the same number on every architecture */
#endif
static inline int csupport_fchmodat2(int dirfd, const char *path, unsigned int mode, int flags) {
    return (int)syscall(SYS_fchmodat2, dirfd, path, mode, flags);
}
/* ---- end fchmodat2 ---- */

#endif /* CSUPPORT_H */
