/* Anonymous shared memory: a memfd (no name anywhere, freed by the kernel with its last fd or
 * mapping), or an shm object unlinked at birth where memfd is missing. The pages are reserved
 * with posix_fallocate so a full tmpfs is ENOSPC now instead of SIGBUS on first touch. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "posix.h"

/* Before memfd (Linux < 3.17) or where seccomp forbids it: a random shm name, gone at once. */
static int shm_unnamed(void) {
  for (int tries = 0; tries < 16; tries++) {
    uint64_t r = 0;
    os_random(&r, sizeof r);
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

int os_shm_create(size_t size, os_handle *out) {
  *out = OS_INVALID;
  if (size == 0 || size > (size_t)INT64_MAX)
    return MPROC_EINVAL;
  int fd = memfd_create("mproc", MFD_CLOEXEC);
  if (fd < 0 && (errno == ENOSYS || errno == EPERM))
    fd = shm_unnamed();
  if (fd < 0)
    return os_last_error();
  int rc;
  do
    rc = posix_fallocate(fd, 0, (off_t)size);
  while (rc == EINTR);
  if (rc == EOPNOTSUPP || rc == EINVAL) /* a filesystem that cannot reserve: size it only */
    rc = ftruncate(fd, (off_t)size) == 0 ? 0 : errno;
  if (rc != 0) {
    close(fd);
    return os_error(rc);
  }
  *out = fd;
  return 0;
}

int os_shm_map(os_handle h, size_t size, void **addr) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, (int)h, 0);
  if (p == MAP_FAILED)
    return os_last_error();
  *addr = p;
  return 0;
}

void os_shm_unmap(void *addr, size_t size) {
  if (addr != NULL)
    munmap(addr, size);
}
