/* SPDX-License-Identifier: MIT */
/* Monotonic time and deadlines: a timeout becomes an absolute deadline once, so retries after
 * EINTR wait only for what is left. */
#include <errno.h>
#include <time.h>

#include "../internal.h"

int64_t mproc__os_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t mproc__os_deadline(int64_t timeout_ms) {
  if (timeout_ms < 0)
    return OS_NO_DEADLINE;
  int64_t now = mproc__os_now_ns();
  if (timeout_ms > (OS_NO_DEADLINE - now) / 1000000)
    return OS_NO_DEADLINE;
  return now + timeout_ms * 1000000;
}

void mproc__os_sleep_ms(int64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}
