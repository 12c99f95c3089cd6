/* SPDX-License-Identifier: MIT */
/*
 * Win32 error translation: GetLastError() values to MPROC_E* codes. The raw value is kept for
 * mproc_last_os_error() so a caller can still see what the OS said behind MPROC_EOS.
 */
#include <windows.h>

#include "internal.h"

static int translate(DWORD raw) {
  switch (raw) {
  case ERROR_SUCCESS:
    return 0;
  case ERROR_INVALID_PARAMETER:
  case ERROR_INVALID_HANDLE:
    return MPROC_EINVAL;
  case ERROR_NOT_ENOUGH_MEMORY:
  case ERROR_OUTOFMEMORY:
    return MPROC_ENOMEM;
  case ERROR_ACCESS_DENIED:
    return MPROC_EACCES;
  case ERROR_FILE_NOT_FOUND:
  case ERROR_PATH_NOT_FOUND:
  case ERROR_MOD_NOT_FOUND:
    return MPROC_ENOENT;
  case ERROR_ALREADY_EXISTS:
  case ERROR_FILE_EXISTS:
    return MPROC_EEXIST;
  case ERROR_TOO_MANY_OPEN_FILES:
  case ERROR_NO_SYSTEM_RESOURCES:
    return MPROC_EMFILE;
  case ERROR_DISK_FULL:
  case ERROR_COMMITMENT_LIMIT: /* a SEC_COMMIT section larger than the pagefile allows */
    return MPROC_ENOSPC;
  case ERROR_BROKEN_PIPE:
  case ERROR_NO_DATA:
  case ERROR_PIPE_NOT_CONNECTED:
  case ERROR_NETNAME_DELETED: /* an overlapped socket write after the peer reset */
  case WSAECONNRESET:
  case WSAECONNABORTED:
  case WSAESHUTDOWN:
    return MPROC_EPEERGONE;
  case ERROR_TIMEOUT:
  case ERROR_SEM_TIMEOUT:
  case WSAETIMEDOUT:
    return MPROC_ETIMEDOUT;
  case WSAECONNREFUSED:
  case WSAHOST_NOT_FOUND:
    return MPROC_ENOENT;
  case WSAEADDRINUSE:
    return MPROC_EEXIST;
  case WSAEACCES:
    return MPROC_EACCES;
  case WSAEMFILE:
  case WSAENOBUFS:
    return MPROC_EMFILE;
  case WSAEINVAL:
  case WSAENOTSOCK:
    return MPROC_EINVAL;
  case WSAEAFNOSUPPORT:
  case WSAEADDRNOTAVAIL:
    return MPROC_ENOTSUP;
  case ERROR_NOT_SUPPORTED:
  case ERROR_CALL_NOT_IMPLEMENTED:
    return MPROC_ENOTSUP;
  default:
    return MPROC_EOS;
  }
}

int mproc__os_error(int raw) {
  mproc__set_os_error(raw);
  return translate((DWORD)raw);
}

int mproc__os_last_error(void) {
  /* A path that failed without setting an error must still fail: never report success. */
  DWORD raw = GetLastError();
  return raw == ERROR_SUCCESS ? mproc__os_error(ERROR_GEN_FAILURE) : mproc__os_error((int)raw);
}
