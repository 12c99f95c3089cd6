/* Anonymous shared memory on Windows: an unnamed pagefile-backed section. SEC_COMMIT charges
 * the whole size against the commit limit at creation, so "too big" fails here
 * (ERROR_COMMITMENT_LIMIT -> MPROC_ENOSPC) rather than as an access violation later. The
 * section lives until its last handle and view are gone. */
#include "w32.h"

int os_shm_create(size_t size, os_handle *out) {
  *out = OS_INVALID;
  if (size == 0)
    return MPROC_EINVAL;
  uint64_t sz = size;
  /* NULL security attributes: the handle is not inheritable. */
  HANDLE m = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE | SEC_COMMIT,
                                (DWORD)(sz >> 32), (DWORD)sz, NULL);
  if (m == NULL)
    return os_last_error();
  *out = (os_handle)m;
  return 0;
}

int os_shm_map(os_handle h, size_t size, void **addr) {
  void *p = MapViewOfFile((HANDLE)h, FILE_MAP_ALL_ACCESS, 0, 0, size);
  if (p == NULL)
    return os_last_error();
  *addr = p;
  return 0;
}

void os_shm_unmap(void *addr, size_t size) {
  (void)size;
  if (addr != NULL)
    UnmapViewOfFile(addr);
}
