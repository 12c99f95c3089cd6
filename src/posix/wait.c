/* SPDX-License-Identifier: MIT */
/* Waiting on many handles at once: poll() over channel fds and pidfds (a pidfd polls readable
 * when its process exits). */
#include <errno.h>
#include <stdlib.h>

#include "posix.h"
#include "../alloc.h"

static int ms_left(int64_t deadline) {
  if (deadline == OS_NO_DEADLINE)
    return -1;
  int64_t left = deadline - mproc__os_now_ns();
  if (left <= 0)
    return 0;
  int64_t ms = (left + 999999) / 1000000; /* round up: never wake before the deadline */
  return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

int mproc__px_poll(struct pollfd *fds, nfds_t n, int64_t deadline) {
  for (;;) {
    int ms = ms_left(deadline);
    int rc = poll(fds, n, ms);
    if (rc > 0)
      return rc;
    if (rc == 0 && ms >= 0 && (deadline == OS_NO_DEADLINE || mproc__os_now_ns() >= deadline))
      return MPROC_ETIMEDOUT;
    if (rc < 0 && errno != EINTR)
      return mproc__os_last_error();
  }
}

int mproc__os_wait_any(const os_handle *hs, size_t n, int64_t deadline, size_t *ready) {
  struct pollfd stack[64];
  struct pollfd *p = n <= 64 ? stack : mproc__malloc(n * sizeof *p);
  if (p == NULL)
    return MPROC_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    p[i].fd = hs[i] == OS_INVALID ? -1 : (int)hs[i]; /* poll ignores negative fds */
    p[i].events = POLLIN;
    p[i].revents = 0;
  }
  int rc = mproc__px_poll(p, (nfds_t)n, deadline);
  if (rc > 0) {
    rc = 0;
    for (size_t i = 0; i < n; i++)
      if (p[i].revents) {
        *ready = i;
        break;
      }
  }
  if (p != stack)
    mproc__free(p);
  return rc;
}
