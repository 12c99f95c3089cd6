/* SPDX-License-Identifier: MIT */
/* Process-shared waiting on Windows: kernel mutexes (a dead owner's mutex is handed to the next
 * waiter with WAIT_ABANDONED) and one unnamed kernel semaphore per object standing in for a
 * futex (see os.h: callers count sleepers and wake only that many). Every object is unnamed
 * and non-inheritable; children receive handles through the spawn handle list. */
#include "w32.h"
#include "../atomics.h"
#include "../alloc.h"

/* --- thread tokens ----------------------------------------------------------------------- */

static MPROC__THREAD_LOCAL uint64_t t_token;

uint64_t mproc__os_thread_token(void) {
  if (t_token == 0) {
    uint32_t salt = 0;
    if (mproc__os_random(&salt, sizeof salt) != 0)
      salt = (uint32_t)mproc__os_now_ns();
    t_token = ((uint64_t)(salt | 1) << 32) | GetCurrentThreadId();
  }
  return t_token;
}

/* Waits for h by the deadline: WAIT_OBJECT_0, WAIT_ABANDONED, WAIT_TIMEOUT or WAIT_FAILED.
 * mproc__w32_wait_ms caps single waits, so long deadlines loop. */
static DWORD wait_until(HANDLE h, int64_t deadline) {
  for (;;) {
    DWORD ms = mproc__w32_wait_ms(deadline);
    DWORD r = WaitForSingleObject(h, ms);
    if (r != WAIT_TIMEOUT || ms == 0)
      return r;
    if (deadline != OS_NO_DEADLINE && mproc__os_now_ns() >= deadline)
      return WAIT_TIMEOUT;
  }
}

/* --- robust mutexes -------------------------------------------------------------------------- */

int mproc__os_mutex_init(os_mutex_mem *m, os_handle *h) {
  (void)m;
  HANDLE mx = CreateMutexW(NULL, FALSE, NULL);
  if (mx == NULL)
    return mproc__os_last_error();
  *h = (os_handle)mx;
  return 0;
}

int mproc__os_mutex_lock(os_mutex_mem *m, os_handle h, int64_t deadline) {
  (void)m;
  switch (wait_until((HANDLE)h, deadline)) {
  case WAIT_OBJECT_0:
    return 0;
  case WAIT_ABANDONED: /* we own it now; its last owner ended without releasing it */
    return MPROC_EOWNERDEAD;
  case WAIT_TIMEOUT:
    return MPROC_ETIMEDOUT;
  default:
    return mproc__os_last_error();
  }
}

int mproc__os_mutex_unlock(os_mutex_mem *m, os_handle h) {
  (void)m;
  return ReleaseMutex((HANDLE)h) ? 0 : mproc__os_last_error();
}

/* --- semaphore parking ------------------------------------------------------------------------ */

int mproc__os_park_new(os_handle *h) {
  HANDLE s = CreateSemaphoreW(NULL, 0, 0x7fffffff, NULL);
  if (s == NULL)
    return mproc__os_last_error();
  *h = (os_handle)s;
  return 0;
}

/* A futex checks the word and queues the sleeper in one step; a semaphore cannot. A waker
 * releases one permit per sleeper counted at that moment, and a permit is bound to nobody: a
 * counted sleeper that is not yet inside WaitForSingleObject (it is between its look at the word
 * and the wait) leaves its permit lying in the semaphore, and a sleeper that arrives after the
 * word moved on can take it. That one sees its word unchanged and sleeps again, and the one it
 * robbed sleeps through a change that has already happened: a Barrier party then stays in the
 * cycle just released while the others wait for it in the next one, for good. (Seen under Wine,
 * where every wait is a wineserver round trip; the window exists on Windows too.) So a wait
 * here is cut into slices with a look at the word between them: a robbed sleeper finds the
 * change at the end of its current slice and returns, as after a spurious wake-up. Slices start
 * short, since a theft happens just as a sleeper starts to wait, and double up to a cap, so a
 * long sleep costs about ten extra wake-ups a second. */
#define PARK_SLICE_FIRST_MS 1
#define PARK_SLICE_MAX_MS 100

int mproc__os_park_wait(const uint32_t *addr, uint32_t expected, os_handle h, int64_t deadline) {
  DWORD slice = PARK_SLICE_FIRST_MS;
  for (;;) {
    if (MPROC__ATOMIC_LOAD(addr, MPROC__ATOMIC_SEQ_CST) != expected)
      return 0; /* changed (perhaps with our permit taken by someone else): look again */
    DWORD left = mproc__w32_wait_ms(deadline);
    DWORD r = WaitForSingleObject((HANDLE)h, left < slice ? left : slice);
    if (r == WAIT_OBJECT_0)
      return 0;
    if (r != WAIT_TIMEOUT)
      return mproc__os_last_error();
    if (left == 0 || (deadline != OS_NO_DEADLINE && mproc__os_now_ns() >= deadline))
      return MPROC_ETIMEDOUT;
    if (slice < PARK_SLICE_MAX_MS)
      slice = slice * 2 < PARK_SLICE_MAX_MS ? slice * 2 : PARK_SLICE_MAX_MS;
  }
}

int mproc__os_park_wake(const uint32_t *addr, os_handle h, uint32_t n) {
  (void)addr;
  LONG count = n > 0x7fffffff ? 0x7fffffff : (LONG)n;
  /* ERROR_TOO_MANY_POSTS: permits are already plentiful, everyone will wake. */
  if (!ReleaseSemaphore((HANDLE)h, count, NULL) && GetLastError() != ERROR_TOO_MANY_POSTS)
    return mproc__os_last_error();
  return 0;
}

/* --- queue readiness, peers, threads ------------------------------------------------------- */

#include <stdlib.h>

int mproc__os_notifier_new(os_handle *h) {
  HANDLE e = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (e == NULL)
    return mproc__os_last_error();
  *h = (os_handle)e;
  return 0;
}

void mproc__os_notifier_set(os_handle h) { SetEvent((HANDLE)h); }
void mproc__os_notifier_clear(os_handle h) { ResetEvent((HANDLE)h); }

int mproc__os_pid_alive(int64_t pid) {
  if (pid <= 0)
    return 0;
  HANDLE p = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid);
  if (p == NULL) /* no such process, or one we may not open: assume alive only if denied */
    return GetLastError() == ERROR_ACCESS_DENIED;
  int alive = WaitForSingleObject(p, 0) == WAIT_TIMEOUT;
  CloseHandle(p);
  return alive;
}

uint64_t mproc__os_pid_birth(int64_t pid) {
  if (pid <= 0)
    return 0;
  int self = (DWORD)pid == GetCurrentProcessId();
  HANDLE p = self ? GetCurrentProcess()
                  : OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
  if (p == NULL)
    return 0;
  FILETIME created, exited, kernel, user;
  uint64_t birth = 0;
  if (GetProcessTimes(p, &created, &exited, &kernel, &user))
    birth = (uint64_t)created.dwHighDateTime << 32 | created.dwLowDateTime;
  if (!self)
    CloseHandle(p);
  return birth;
}

struct os_thread {
  HANDLE h;
  void (*fn)(void *);
  void *arg;
};

static DWORD WINAPI thread_main(LPVOID p) {
  os_thread *t = p;
  t->fn(t->arg);
  return 0;
}

int mproc__os_thread_start(void (*fn)(void *), void *arg, os_thread **out) {
  os_thread *t = mproc__calloc(1, sizeof *t);
  if (t == NULL)
    return MPROC_ENOMEM;
  t->fn = fn;
  t->arg = arg;
  t->h = CreateThread(NULL, 0, thread_main, t, 0, NULL);
  if (t->h == NULL) {
    int rc = mproc__os_last_error();
    mproc__free(t);
    return rc;
  }
  *out = t;
  return 0;
}

void mproc__os_thread_join(os_thread *t) {
  if (t == NULL)
    return;
  WaitForSingleObject(t->h, INFINITE);
  CloseHandle(t->h);
  mproc__free(t);
}

void mproc__os_cpu_relax(void) { YieldProcessor(); }
