/* SPDX-License-Identifier: MIT */
/* Shared memory on POSIX. Anonymous segments are memfds (no name anywhere, freed by the kernel
 * with the last fd or mapping). Where memfd is missing (Linux < 3.17, or refused by seccomp)
 * they are shm objects unlinked at birth, and where /dev/shm is missing or unusable too
 * (Lambda, locked-down containers), unlinked files in $TMPDIR (else /tmp): anonymous segments
 * never need /dev/shm while memfd works, and work without it when it does not. Named ones are
 * shm objects in /dev/shm, mode 0600, as in Python (which has no fallback either: a name must
 * mean the same object to every process, Python's included). Every segment's pages are
 * reserved with posix_fallocate, so a full tmpfs is ENOSPC now instead of SIGBUS on first
 * touch. The generic backend (MPROC_POSIX_GENERIC: macOS, FreeBSD) starts at the unlinked shm
 * object; macOS cannot reserve pages (no posix_fallocate) and only sizes them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "posix.h"
#include "../atomics.h"

/* memfds live on the kernel's internal tmpfs, which has no size limit: reserving more than
 * the machine can hold would wake the OOM killer instead of failing. Large requests are
 * checked against MemAvailable + SwapFree and the cgroup's memory.max first. */
#define PRECHECK_MIN ((size_t)64 << 20)

static uint64_t meminfo_kb(const char *text, const char *key) {
  const char *p = strstr(text, key);
  unsigned long long kb = 0;
  if (p != NULL)
    sscanf(p + strlen(key), " %llu", &kb);
  return kb;
}

static int read_small(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, buf, cap - 1);
  close(fd);
  if (n < 0)
    return -1;
  buf[n] = '\0';
  return 0;
}

/* Bytes a new anonymous segment may take; UINT64_MAX when it cannot be told. */
static uint64_t mem_available(void) {
  char buf[4096];
  uint64_t avail = UINT64_MAX;
  if (read_small("/proc/meminfo", buf, sizeof buf) == 0)
    avail = (meminfo_kb(buf, "MemAvailable:") + meminfo_kb(buf, "SwapFree:")) * 1024;
  char max[64], cur[64];
  if (read_small("/sys/fs/cgroup/memory.max", max, sizeof max) == 0 && max[0] != 'm' &&
      read_small("/sys/fs/cgroup/memory.current", cur, sizeof cur) == 0) {
    unsigned long long m = strtoull(max, NULL, 10), c = strtoull(cur, NULL, 10);
    uint64_t left = m > c ? m - c : 0;
    avail = left < avail ? left : avail;
  }
  return avail;
}

/* Gives fd its size with every page reserved. */
static int reserve(int fd, size_t size) {
  int rc;
#if defined(__APPLE__)
  rc = EOPNOTSUPP; /* no posix_fallocate; shm objects can only be sized */
#else
  do
    rc = posix_fallocate(fd, 0, (off_t)size);
  while (rc == EINTR);
#endif
  /* A filesystem or shm implementation that cannot reserve (FreeBSD < 14 shm: ENODEV):
   * size it only. */
  if (rc == EOPNOTSUPP || rc == EINVAL || rc == ENODEV)
    rc = ftruncate(fd, (off_t)size) == 0 ? 0 : errno;
  return rc ? mproc__os_error(rc == EFBIG ? ENOSPC : rc) : 0;
}

/* What the last anonymous segment was made of (for the ENOSPC message). */
enum { ANON_MEMFD, ANON_SHM, ANON_TMPFILE };
#ifdef MPROC_POSIX_GENERIC
static int g_anon_kind = ANON_SHM;
#else
static int g_anon_kind = ANON_MEMFD;
#endif

/* Before memfd (Linux < 3.17) or where seccomp forbids it: a random shm name, gone at once. */
static int shm_unnamed(void) {
  for (int tries = 0; tries < 16; tries++) {
    uint64_t r = 0;
    mproc__os_random(&r, sizeof r);
    char name[40];
    snprintf(name, sizeof name, "/mproc-%016llx", (unsigned long long)r);
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      shm_unlink(name);
      return fd;
    }
    if (errno != EEXIST)
      return -1;
  }
  return -1;
}

static void tmp_dir(char *buf, size_t cap) {
  const char *d = getenv("TMPDIR");
  snprintf(buf, cap, "%s", d != NULL && d[0] == '/' ? d : "/tmp");
}

/* Neither memfd nor /dev/shm: a file in the temporary directory that has no name from the
 * start (O_TMPFILE), or loses it at once where the filesystem cannot do that. */
static int tmp_unnamed(void) {
  char dir[512], path[600];
  tmp_dir(dir, sizeof dir);
#ifdef O_TMPFILE
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0)
    return fd;
#else
  int fd;
#endif
  snprintf(path, sizeof path, "%s/mproc-XXXXXX", dir);
  fd = mkostemp(path, O_CLOEXEC);
  if (fd >= 0)
    unlink(path);
  return fd;
}

static int anon_fd(void) {
#ifdef MPROC_POSIX_GENERIC
  int fd = -1, kind = ANON_SHM; /* no memfd: start with an unlinked shm object */
  errno = ENOSYS;
#else
  int fd = memfd_create("mproc", MFD_CLOEXEC);
  int kind = ANON_MEMFD;
#endif
  if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
    kind = ANON_SHM;
    fd = shm_unnamed();
    if (fd < 0) {
      kind = ANON_TMPFILE;
      fd = tmp_unnamed();
    }
  }
  if (fd >= 0)
    MPROC__ATOMIC_STORE(&g_anon_kind, kind, MPROC__ATOMIC_RELAXED);
  return fd;
}

int mproc__os_shm_create(size_t size, os_handle *out) {
  *out = OS_INVALID;
  if (size == 0)
    return MPROC_EINVAL;
  if (size > (size_t)INT64_MAX)
    return mproc__os_error(ENOSPC);
  if (size >= PRECHECK_MIN && size > mem_available())
    return mproc__os_error(ENOSPC);
  int fd = anon_fd();
  if (fd < 0)
    return mproc__os_last_error();
  int rc = reserve(fd, size);
  if (rc != 0) {
    close(fd);
    return rc;
  }
  *out = fd;
  return 0;
}

static void shm_path(const char *name, char *buf, size_t cap) { snprintf(buf, cap, "/%s", name); }

int mproc__os_shm_create_named(const char *name, size_t size, os_handle *out) {
  *out = OS_INVALID;
  if (size == 0 || size > (size_t)INT64_MAX)
    return MPROC_EINVAL;
  char path[256];
  shm_path(name, path, sizeof path);
  int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return mproc__os_last_error();
  int rc = fchmod(fd, 0600) == 0 ? 0 : mproc__os_last_error(); /* exactly 0600 whatever the umask */
  if (rc == 0)
    rc = reserve(fd, size);
  if (rc != 0) {
    shm_unlink(path);
    close(fd);
    return rc;
  }
  *out = fd;
  return 0;
}

int mproc__os_shm_open_named(const char *name, os_handle *out, size_t *size) {
  char path[256];
  shm_path(name, path, sizeof path);
  int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
  if (fd < 0)
    return mproc__os_last_error();
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int rc = mproc__os_last_error();
    close(fd);
    return rc;
  }
  *out = fd;
  *size = (size_t)st.st_size;
  return 0;
}

int mproc__os_shm_unlink_named(const char *name) {
  char path[256];
  shm_path(name, path, sizeof path);
  return shm_unlink(path) == 0 ? 0 : mproc__os_last_error();
}

int mproc__os_shm_link_named(const char *from, const char *to) {
#ifdef __linux__
  /* shm_open names are files of /dev/shm there (glibc and musl); link() never replaces. */
  char a[300], b[300];
  snprintf(a, sizeof a, "/dev/shm/%s", from);
  snprintf(b, sizeof b, "/dev/shm/%s", to);
  return link(a, b) == 0 ? 0 : mproc__os_last_error();
#else
  (void)from;
  (void)to;
  return MPROC_ENOTSUP;
#endif
}

int mproc__os_shm_ident(os_handle h, uint64_t *id) {
  struct stat st;
  if (fstat((int)h, &st) != 0)
    return mproc__os_last_error();
  if (st.st_uid != geteuid() || (st.st_mode & 07777) != 0600)
    return MPROC_EACCES;
  *id = (uint64_t)st.st_ino ^ (uint64_t)st.st_dev << 48;
  return 0;
}

int mproc__os_shm_map(os_handle h, size_t size, void **addr) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, (int)h, 0);
  if (p == MAP_FAILED)
    return mproc__os_last_error();
  *addr = p;
  return 0;
}

void mproc__os_shm_unmap(void *addr, size_t size) {
  if (addr != NULL)
    munmap(addr, size);
}

static uint64_t fs_free(const char *dir) {
  struct statvfs fs;
  if (statvfs(dir, &fs) != 0)
    return UINT64_MAX;
  return (uint64_t)fs.f_bavail * fs.f_frsize;
}

void mproc__os_shm_space(int named, char *where, size_t cap, uint64_t *free_bytes) {
  int kind = named ? ANON_SHM : MPROC__ATOMIC_LOAD(&g_anon_kind, MPROC__ATOMIC_RELAXED);
  if (kind == ANON_MEMFD) {
    snprintf(where, cap, "memory (memfd, tmpfs-backed)");
    *free_bytes = mem_available();
  } else if (kind == ANON_SHM) {
#ifdef __linux__
    snprintf(where, cap, "/dev/shm");
    *free_bytes = fs_free("/dev/shm");
#else
    snprintf(where, cap, "POSIX shared memory (shm_open)"); /* not a filesystem there */
    *free_bytes = UINT64_MAX;
#endif
  } else {
    char dir[512];
    tmp_dir(dir, sizeof dir);
    snprintf(where, cap, "%s (unlinked temporary files: no memfd, no /dev/shm)", dir);
    *free_bytes = fs_free(dir);
  }
}

int mproc__os_shm_named_persists(void) {
  return 1; /* a shm object stays in /dev/shm until shm_unlink */
}

int mproc__os_handle_take(int64_t pid, os_handle h, os_handle *out) {
  *out = OS_INVALID;
#if defined(__linux__)
  char path[64];
  snprintf(path, sizeof path, "/proc/%lld/fd/%lld", (long long)pid, (long long)h);
  int fd;
  do
    fd = open(path, O_RDWR | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return mproc__os_last_error();
  *out = (os_handle)fd;
  return 0;
#else
  (void)pid, (void)h;
  return MPROC_ENOTSUP; /* no way to reach another process's descriptor without its help */
#endif
}
