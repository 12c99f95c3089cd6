/* SPDX-License-Identifier: MIT */
/*
 * Monotonic time from QueryPerformanceCounter. Deadlines are absolute mproc__os_now_ns() values so
 * retried waits recompute what is left instead of restarting the full timeout.
 */
#include <windows.h>

#include "w32.h"

int64_t mproc__os_now_ns(void) {
  /* The frequency is fixed at boot; read it once. A data race on first use writes the same
   * value twice, which is harmless. */
  static LONGLONG freq;
  LARGE_INTEGER c;
  if (freq == 0) {
    LARGE_INTEGER f;
    QueryPerformanceFrequency(&f);
    freq = f.QuadPart;
  }
  QueryPerformanceCounter(&c);
  /* Split so counter * 1e9 cannot overflow after a few weeks of uptime at 10 MHz. */
  return (int64_t)(c.QuadPart / freq) * 1000000000 +
         (int64_t)(c.QuadPart % freq) * 1000000000 / freq;
}

int64_t mproc__os_deadline(int64_t timeout_ms) {
  if (timeout_ms < 0)
    return OS_NO_DEADLINE;
  int64_t now = mproc__os_now_ns();
  if (timeout_ms > (OS_NO_DEADLINE - now) / 1000000)
    return OS_NO_DEADLINE; /* saturate to "forever", as the POSIX backend does */
  return now + timeout_ms * 1000000;
}

void mproc__os_sleep_ms(int64_t ms) {
  /* Sleep(INFINITE) would never return; chunk long sleeps below it. */
  while (ms > 0) {
    DWORD slice = ms > 0x7FFFFFFF ? 0x7FFFFFFF : (DWORD)ms;
    Sleep(slice);
    ms -= slice;
  }
}

DWORD mproc__w32_wait_ms(int64_t deadline) {
  if (deadline == OS_NO_DEADLINE)
    return INFINITE;
  int64_t left = deadline - mproc__os_now_ns();
  if (left <= 0)
    return 0;
  int64_t ms = left / 1000000 + (left % 1000000 != 0); /* round up without overflowing */
  return ms > 0x7FFFFFFF ? 0x7FFFFFFF : (DWORD)ms;      /* below INFINITE: a real deadline */
}
