/* SPDX-License-Identifier: MIT */
/* In-process lock and condition variable for library threads: an SRW lock and a condition
 * variable (deadlines are mproc__os_now_ns values, waited in rounded-up milliseconds). */
#include "w32.h"
#include "../internal.h"
#include "../alloc.h"

struct os_tlock {
  SRWLOCK l;
};

struct os_tcond {
  CONDITION_VARIABLE c;
};

int mproc__os_tlock_new(os_tlock **out) {
  os_tlock *l = mproc__calloc(1, sizeof *l);
  if (l == NULL)
    return MPROC_ENOMEM;
  InitializeSRWLock(&l->l);
  *out = l;
  return 0;
}

void mproc__os_tlock_free(os_tlock *l) { mproc__free(l); }
void mproc__os_tlock_acquire(os_tlock *l) { AcquireSRWLockExclusive(&l->l); }
void mproc__os_tlock_release(os_tlock *l) { ReleaseSRWLockExclusive(&l->l); }

int mproc__os_tcond_new(os_tcond **out) {
  os_tcond *c = mproc__calloc(1, sizeof *c);
  if (c == NULL)
    return MPROC_ENOMEM;
  InitializeConditionVariable(&c->c);
  *out = c;
  return 0;
}

void mproc__os_tcond_free(os_tcond *c) { mproc__free(c); }

int mproc__os_tcond_wait(os_tcond *c, os_tlock *l, int64_t deadline) {
  if (deadline != OS_NO_DEADLINE && deadline <= mproc__os_now_ns())
    return MPROC_ETIMEDOUT;
  DWORD ms = mproc__w32_wait_ms(deadline);
  if (!SleepConditionVariableSRW(&c->c, &l->l, ms, 0))
    return GetLastError() == ERROR_TIMEOUT ? MPROC_ETIMEDOUT : 0;
  return 0;
}

void mproc__os_tcond_signal(os_tcond *c) { WakeConditionVariable(&c->c); }
void mproc__os_tcond_broadcast(os_tcond *c) { WakeAllConditionVariable(&c->c); }
