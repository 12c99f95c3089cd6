/* SPDX-License-Identifier: MIT */
/* errno to MPROC_E*, at the boundary, keeping the raw value for mproc_last_os_error(). */
#include <errno.h>

#include "../internal.h"

int mproc__os_error(int raw) {
  mproc__set_os_error(raw);
  switch (raw) {
  case 0:
    return 0;
  case EINVAL:
  case EBADF:
    return MPROC_EINVAL;
  case ENOMEM:
    return MPROC_ENOMEM;
  case ETIMEDOUT:
    return MPROC_ETIMEDOUT;
  case EMFILE:
  case ENFILE:
    return MPROC_EMFILE;
  case ENOSPC:
  case EDQUOT:
    return MPROC_ENOSPC;
  case EAGAIN:
    return MPROC_EAGAIN;
  case EACCES:
  case EPERM:
    return MPROC_EACCES;
  case ENOENT:
  case ESRCH:
    return MPROC_ENOENT;
  case EEXIST:
    return MPROC_EEXIST;
  case EPIPE:
  case ECONNRESET:
  case ENOTCONN:
    return MPROC_EPEERGONE;
  case ENOSYS:
  case EOPNOTSUPP:
    return MPROC_ENOTSUP;
  case EOWNERDEAD:
    return MPROC_EOWNERDEAD;
  case ENOTRECOVERABLE:
    return MPROC_ENOTRECOVERABLE;
  case EMSGSIZE:
    return MPROC_EMSGSIZE;
  default:
    return MPROC_EOS;
  }
}

int mproc__os_last_error(void) { return mproc__os_error(errno); }
