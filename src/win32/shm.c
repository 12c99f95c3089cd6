/* SPDX-License-Identifier: MIT */
/* Anonymous shared memory on Windows: an unnamed pagefile-backed section. SEC_COMMIT charges
 * the whole size against the commit limit at creation, so "too big" fails here
 * (ERROR_COMMITMENT_LIMIT -> MPROC_ENOSPC) rather than as an access violation later. The
 * section lives until its last handle and view are gone. */
#include <stdio.h>
#include <stdlib.h>

#include "w32.h"
#include "../alloc.h"

/* Commit charge refused is "no space" here, as a full tmpfs is on POSIX. */
static int section_error(DWORD err) {
  int rc = mproc__os_error((int)err);
  if (err == ERROR_NOT_ENOUGH_MEMORY || err == ERROR_OUTOFMEMORY || err == ERROR_COMMITMENT_LIMIT)
    return MPROC_ENOSPC;
  return rc;
}

int mproc__os_shm_create(size_t size, os_handle *out) {
  *out = OS_INVALID;
  if (size == 0)
    return MPROC_EINVAL;
  uint64_t sz = size;
  /* NULL security attributes: the handle is not inheritable. */
  HANDLE m = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE | SEC_COMMIT,
                                (DWORD)(sz >> 32), (DWORD)sz, NULL);
  if (m == NULL)
    return section_error(GetLastError());
  *out = (os_handle)m;
  return 0;
}

/* The section's name as UTF-16. */
static wchar_t *wide_name(const char *name, int *rc) { return mproc__w32_to_utf16(name, rc); }

int mproc__os_shm_create_named(const char *name, size_t size, os_handle *out) {
  *out = OS_INVALID;
  if (size == 0)
    return MPROC_EINVAL;
  int rc = 0;
  wchar_t *w = wide_name(name, &rc);
  if (w == NULL)
    return rc ? rc : MPROC_ENOMEM;
  uint64_t sz = size;
  HANDLE m = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE | SEC_COMMIT,
                                (DWORD)(sz >> 32), (DWORD)sz, w);
  DWORD err = GetLastError();
  mproc__free(w);
  if (m == NULL)
    return section_error(err);
  if (err == ERROR_ALREADY_EXISTS) { /* CreateFileMapping opened someone else's section */
    CloseHandle(m);
    return mproc__os_error(ERROR_ALREADY_EXISTS);
  }
  *out = (os_handle)m;
  return 0;
}

int mproc__os_shm_open_named(const char *name, os_handle *out, size_t *size) {
  int rc = 0;
  wchar_t *w = wide_name(name, &rc);
  if (w == NULL)
    return rc ? rc : MPROC_ENOMEM;
  HANDLE m = OpenFileMappingW(FILE_MAP_ALL_ACCESS, FALSE, w);
  mproc__free(w);
  if (m == NULL)
    return mproc__os_last_error();
  /* A section does not tell its size; a view of all of it does (rounded up to pages). */
  void *view = MapViewOfFile(m, FILE_MAP_READ, 0, 0, 0);
  MEMORY_BASIC_INFORMATION mbi;
  if (view == NULL || VirtualQuery(view, &mbi, sizeof mbi) == 0) {
    rc = mproc__os_last_error();
    if (view != NULL)
      UnmapViewOfFile(view);
    CloseHandle(m);
    return rc;
  }
  UnmapViewOfFile(view);
  *out = (os_handle)m;
  *size = mbi.RegionSize;
  return 0;
}

int mproc__os_shm_unlink_named(const char *name) {
  (void)name;
  return 0;
}

int mproc__os_shm_link_named(const char *from, const char *to) {
  (void)from;
  (void)to;
  return MPROC_ENOTSUP; /* a section has one name, and it dies with its last handle */
}

int mproc__os_shm_ident(os_handle h, uint64_t *id) {
  (void)h;
  (void)id;
  return MPROC_ENOTSUP;
}

int mproc__os_shm_map(os_handle h, size_t size, void **addr) {
  void *p = MapViewOfFile((HANDLE)h, FILE_MAP_ALL_ACCESS, 0, 0, size);
  if (p == NULL) /* Wine charges no commit at creation: the view is where it runs out */
    return section_error(GetLastError());
  *addr = p;
  return 0;
}

void mproc__os_shm_unmap(void *addr, size_t size) {
  (void)size;
  if (addr != NULL)
    UnmapViewOfFile(addr);
}

void mproc__os_shm_space(int named, char *where, size_t cap, uint64_t *free_bytes) {
  (void)named; /* named or not, a section is charged against the commit limit */
  snprintf(where, cap, "memory (pagefile-backed sections, commit limit)");
  MEMORYSTATUSEX ms;
  ms.dwLength = sizeof ms;
  *free_bytes = GlobalMemoryStatusEx(&ms) ? (uint64_t)ms.ullAvailPageFile : UINT64_MAX;
}

int mproc__os_shm_named_persists(void) { return 0; /* a named section dies with its last handle */ }

int mproc__os_handle_take(int64_t pid, os_handle h, os_handle *out) {
  *out = OS_INVALID;
  HANDLE src = OpenProcess(PROCESS_DUP_HANDLE, FALSE, (DWORD)pid);
  if (src == NULL)
    return mproc__os_last_error();
  HANDLE d = NULL;
  BOOL ok = DuplicateHandle(src, (HANDLE)h, GetCurrentProcess(), &d, 0, FALSE,
                            DUPLICATE_SAME_ACCESS);
  int rc = ok ? 0 : mproc__os_last_error();
  CloseHandle(src);
  if (ok)
    *out = (os_handle)d;
  return rc;
}
