/* SPDX-License-Identifier: MIT */
/* MPROC_CHECK: the happy path of a small program written compactly, without losing what went
 * wrong when a call fails. */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

int mproc_check(int rc, const char *call, const char *file, int line) {
  if (rc >= 0) {
    /* a later failure's report must not show a message some earlier, handled call left */
    mproc__clear_error_message();
    return rc;
  }
  const char *msg = mproc_last_error_message();
  char text[1024];
  snprintf(text, sizeof text, "%s:%d: %s failed: %s (%s)%s%s", file ? file : "?", line,
           call ? call : "call", mproc_errname(rc), mproc_strerror(rc), msg[0] ? ": " : "", msg);
  fflush(stdout); /* what the program printed so far comes first, as before a traceback */
  fprintf(stderr, "%s\n", text);
  fflush(stderr);
  mproc_fail(1, "%s", text); /* the parent reads it with mproc_process_error (in a child) */
  exit(1);
}
