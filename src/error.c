/* SPDX-License-Identifier: MIT */
/* Error names and messages, generated from the one list in mproc.h, and the per-thread raw OS
 * error and message behind the last failure. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"
#include "atomics.h"

static MPROC__THREAD_LOCAL int last_os_error;

void mproc__set_os_error(int raw) { last_os_error = raw; }

int mproc_last_os_error(void) { return last_os_error; }

/* --- the calling thread's last error message ------------------------------------------------ */

static MPROC__THREAD_LOCAL char t_msg[512];

const char *mproc_last_error_message(void) { return t_msg; }

void mproc__clear_error_message(void) { t_msg[0] = '\0'; }

void mproc__set_error_message(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t_msg, sizeof t_msg, fmt, ap);
  va_end(ap);
}

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
