/*
 * The rbd bus's add/remove writes, simulated on a fixture tree, for `krbd-bench count` (issue 13:
 * ours' own work per map and unmap, counted natively in instructions under callgrind).
 *
 * Loaded with LD_PRELOAD; does nothing unless KRBD_SIM_ROOT names a fixture root laid out as
 *   <root>/sys/bus/rbd/{add_single_major,remove_single_major,devices/}   (regular files, dirs)
 *   <root>/sys/devices/rbd/<id>/   each mapped device's directory; bus/rbd/devices/<id> is a
 *                        symlink to ../../../devices/rbd/<id>, as the kernel lays them out
 *   <root>/spare/<id>/   a whole device directory per id the "kernel" may hand out
 *   <root>/dev/          where the device node appears
 * add_key(2) of a "ceph" key answers a serial and keyctl(2)'s unlink 0, as a kernel with libceph
 * loaded does (this host's kernel has no ceph key type).
 * A write to add_single_major takes the lowest id whose spare exists and whose bus entry does
 * not, renames the spare into devices/rbd/, links its bus entry, writes the request into its
 * config_info and makes
 * dev/rbd<id> (block, 254:(id<<4)): what the kernel has done by the time its write returns. A
 * write of "<id>[ force]" to remove_single_major unlinks the entry and moves the directory back
 * (ENOENT when not there).
 *
 * All of it happens inside krbd_sim_kernel() and krbd_sim_keyring(), whose inclusive cost the
 * bench subtracts from what callgrind collected in the measured function. Bench code only: never
 * part of the library.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

static ssize_t (*real_write)(int, const void *, size_t);
/* KRBD_SIM_ROOT resolved once (readlink of an fd gives the resolved path); NULL when unset. */
static const char *sim_root;
static int sim_root_known;

static const char *root_path(void) {
    if (!sim_root_known) {
        const char *root = getenv("KRBD_SIM_ROOT");
        sim_root = root ? realpath(root, NULL) : NULL;
        sim_root_known = root != NULL; /* unset: look again (the bench sets it after start) */
    }
    return sim_root;
}
static unsigned long long sim_nanoseconds;
static unsigned long long sim_calls;

/* Total time spent simulating, so that native timings can leave it out too. */
unsigned long long krbd_sim_nanoseconds(void) { return sim_nanoseconds; }
unsigned long long krbd_sim_calls(void) { return sim_calls; }

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static int add_device(const char *root, const void *buf, size_t n) {
    char spare[PATH_MAX], device[PATH_MAX], entry[PATH_MAX], target[64], file[PATH_MAX + 16], node[PATH_MAX];
    for (int id = 0; id < 4096; id++) {
        snprintf(spare, sizeof spare, "%s/spare/%d", root, id);
        snprintf(entry, sizeof entry, "%s/sys/bus/rbd/devices/%d", root, id);
        snprintf(device, sizeof device, "%s/sys/devices/rbd/%d", root, id);
        if (exists(entry) || !exists(spare)) continue;
        if (rename(spare, device) != 0) return -errno;
        snprintf(target, sizeof target, "../../../devices/rbd/%d", id);
        if (symlink(target, entry) != 0) return -errno;
        snprintf(file, sizeof file, "%s/config_info", device);
        int fd = open(file, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd < 0) return -errno;
        real_write(fd, buf, n);
        real_write(fd, "\n", 1);
        close(fd);
        snprintf(node, sizeof node, "%s/dev/rbd%d", root, id);
        if (mknod(node, S_IFBLK | 0600, makedev(254, (unsigned)id << 4)) != 0 && errno != EEXIST) return -errno;
        return 0;
    }
    return -ENOSPC;
}

static int remove_device(const char *root, const void *buf, size_t n) {
    char text[64], spare[PATH_MAX], device[PATH_MAX], entry[PATH_MAX], node[PATH_MAX];
    if (n >= sizeof text) return -EINVAL;
    memcpy(text, buf, n);
    text[n] = 0;
    char *end;
    long id = strtol(text, &end, 10);
    if (end == text || id < 0 || id > 4095 || (*end != 0 && *end != ' ' && *end != '\n')) return -EINVAL;
    snprintf(spare, sizeof spare, "%s/spare/%ld", root, id);
    snprintf(entry, sizeof entry, "%s/sys/bus/rbd/devices/%ld", root, id);
    snprintf(device, sizeof device, "%s/sys/devices/rbd/%ld", root, id);
    if (!exists(entry)) return -ENOENT;
    if (unlink(entry) != 0) return -errno;
    if (rename(device, spare) != 0) return -errno;
    snprintf(node, sizeof node, "%s/dev/rbd%ld", root, id);
    unlink(node);
    return 0;
}

/* 1: the write was a control write (its result in *result); 0: pass it through. */
__attribute__((noinline)) int krbd_sim_kernel(int fd, const void *buf, size_t n, ssize_t *result) {
    const char *root = root_path();
    if (!root) return 0;
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    char link[64], target[PATH_MAX], add[PATH_MAX], remove[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t length = readlink(link, target, sizeof target - 1);
    int handled = 0;
    if (length > 0) {
        target[length] = 0;
        snprintf(add, sizeof add, "%s/sys/bus/rbd/add_single_major", root);
        snprintf(remove, sizeof remove, "%s/sys/bus/rbd/remove_single_major", root);
        int status = 0;
        if (strcmp(target, add) == 0) {
            status = add_device(root, buf, n);
            handled = 1;
        } else if (strcmp(target, remove) == 0) {
            status = remove_device(root, buf, n);
            handled = 1;
        }
        if (handled) {
            if (status < 0) {
                errno = -status;
                *result = -1;
            } else {
                *result = (ssize_t)n;
            }
            sim_calls++;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    sim_nanoseconds += (unsigned long long)(end.tv_sec - start.tv_sec) * 1000000000ull + end.tv_nsec - start.tv_nsec;
    return handled;
}

ssize_t write(int fd, const void *buf, size_t n) {
    if (!real_write) real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    ssize_t result;
    int saved = errno;
    if (krbd_sim_kernel(fd, buf, n, &result)) return result;
    errno = saved;
    return real_write(fd, buf, n);
}

/* 1: a keyring call of a map (its result in *result); 0: pass it through. */
__attribute__((noinline)) int krbd_sim_keyring(long number, long a1, long a2, long *result) {
    if (!root_path()) return 0;
    if (number == SYS_add_key && a1 && strcmp((const char *)a1, "ceph") == 0) {
        *result = 0x1234;
        return 1;
    }
    if (number == SYS_keyctl && a1 == 9 /* KEYCTL_UNLINK */ && a2 == 0x1234) {
        *result = 0;
        return 1;
    }
    return 0;
}

long syscall(long number, ...) {
    static long (*real_syscall)(long, ...);
    if (!real_syscall) real_syscall = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    va_list list;
    va_start(list, number);
    long a[6];
    for (int i = 0; i < 6; i++) a[i] = va_arg(list, long);
    va_end(list);
    long result;
    if (krbd_sim_keyring(number, a[0], a[1], &result)) return result;
    return real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
