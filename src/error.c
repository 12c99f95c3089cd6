/* Error names and messages, generated from the one list in mproc.h, and the per-thread raw OS
 * error behind the last failure. */
#include "internal.h"

static _Thread_local int last_os_error;

void mproc__set_os_error(int raw) { last_os_error = raw; }

int mproc_last_os_error(void) { return last_os_error; }

const char *mproc_strerror(int err) {
  switch (err) {
  case MPROC_OK:
    return "success";
#define XX(name, val, msg)                                                                    \
  case MPROC_##name:                                                                          \
    return msg;
    MPROC_ERRNO_MAP(XX)
#undef XX
  default:
    return "unknown error";
  }
}

const char *mproc_errname(int err) {
  switch (err) {
  case MPROC_OK:
    return "MPROC_OK";
#define XX(name, val, msg)                                                                    \
  case MPROC_##name:                                                                          \
    return "MPROC_" #name;
    MPROC_ERRNO_MAP(XX)
#undef XX
  default:
    return "MPROC_UNKNOWN";
  }
}
