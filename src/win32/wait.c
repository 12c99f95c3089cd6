/* SPDX-License-Identifier: MIT */
/*
 * mproc__os_wait_any on Windows, woken by the event itself.
 *
 * Every handle becomes one kernel object to wait on:
 *  - process handles, events (queue notifiers, a listener's wait handle) and other waitable
 *    objects: themselves;
 *  - channel ends (named pipes, connected sockets), which are not signalled by incoming data:
 *    the event of a zero-byte overlapped ReadFile that each handle keeps in flight across
 *    waits (watch.c): a wait re-issues only the reads that completed since the last one, so
 *    waiting on many quiet connections costs no kernel calls for them. One that completes at
 *    once means ready now.
 * Up to 64 objects are one WaitForMultipleObjects. Beyond that, helper threads take groups of
 * 63 (plus a shared cancel event each) and report the first hit through a "done" event that
 * the calling thread waits on beside its own 63: any number of handles, no polling.
 *
 * A deadline that has passed only looks (PeekNamedPipe, select, a zero wait), issuing nothing
 * that would need cancelling: mproc_wait's sweep over the other handles takes that path. A
 * handle whose kept read is still in flight is known to be quiet without asking.
 */
#include <windows.h>

#include <stdlib.h>
#include <string.h>

#include "w32.h"
#include "../alloc.h"

/* --- pooled events ------------------------------------------------------------------------ */

/* Manual-reset events for overlapped I/O, kept for reuse: creating and closing one is two
 * kernel calls (two wineserver round trips under Wine) per read. Only complete operations
 * give their event back, so a pooled event is never still owned by the kernel. */
#define EVENT_POOL_MAX 64

static SRWLOCK pool_lock = SRWLOCK_INIT;
static HANDLE pool[EVENT_POOL_MAX];
static size_t pool_n;

HANDLE mproc__w32_event_get(void) {
  HANDLE e = NULL;
  AcquireSRWLockExclusive(&pool_lock);
  if (pool_n > 0)
    e = pool[--pool_n];
  ReleaseSRWLockExclusive(&pool_lock);
  return e ? e : CreateEventW(NULL, TRUE, FALSE, NULL);
}

void mproc__w32_event_put(HANDLE e) {
  if (e == NULL)
    return;
  AcquireSRWLockExclusive(&pool_lock);
  if (pool_n < EVENT_POOL_MAX) {
    pool[pool_n++] = e;
    e = NULL;
  }
  ReleaseSRWLockExclusive(&pool_lock);
  if (e)
    CloseHandle(e);
}

static int deadline_passed(int64_t deadline) {
  return deadline != OS_NO_DEADLINE && mproc__os_now_ns() >= deadline;
}

/* --- looking without waiting -------------------------------------------------------------- */

/* A pipe is ready when data is waiting or the peer is gone (the read then reports EOF). A
 * socket (GetFileType says "pipe" for those too) asks select(). Any other failure also counts,
 * so the caller's read surfaces the error instead of us hanging. */
static int pipe_ready(HANDLE h) {
  DWORD avail = 0;
  if (PeekNamedPipe(h, NULL, 0, NULL, &avail, NULL))
    return avail > 0;
  return mproc__w32_sock_poll(h) != 0;
}

static int ready_now(HANDLE h) {
  if (GetFileType(h) == FILE_TYPE_PIPE)
    return pipe_ready(h);
  DWORD w = WaitForSingleObject(h, 0);
  if (w == WAIT_FAILED)
    return mproc__os_last_error();
  return w != WAIT_TIMEOUT;
}

static int look(const os_handle *hs, size_t n, size_t *ready) {
  for (size_t i = 0; i < n; i++) {
    if (hs[i] == OS_INVALID || mproc__w32_watch_quiet((HANDLE)hs[i]))
      continue;
    int rc = ready_now((HANDLE)hs[i]);
    if (rc == 1)
      *ready = i;
    if (rc != 0)
      return rc < 0 ? rc : 0;
  }
  return MPROC_ETIMEDOUT;
}

/* --- waiting on many objects ---------------------------------------------------------------- */

#define GROUP (MAXIMUM_WAIT_OBJECTS - 1)

typedef struct helper {
  HANDLE hs[MAXIMUM_WAIT_OBJECTS]; /* [0]: the shared cancel event */
  DWORD n;                         /* including [0] */
  size_t base;                     /* index of hs[1] in the whole list */
  volatile LONG64 *winner;         /* first index found signalled, -1 while none */
  HANDLE done;
  HANDLE thread;
} helper;

static void claim(volatile LONG64 *winner, size_t idx, HANDLE done) {
  InterlockedCompareExchange64(winner, (LONG64)idx, -1);
  SetEvent(done);
}

static DWORD WINAPI helper_main(LPVOID p) {
  helper *g = p;
  DWORD w = WaitForMultipleObjects(g->n, g->hs, FALSE, INFINITE);
  if (w > WAIT_OBJECT_0 && w < WAIT_OBJECT_0 + g->n)
    claim(g->winner, g->base + (w - WAIT_OBJECT_0 - 1), g->done);
  else if (w >= WAIT_ABANDONED_0 + 1 && w < WAIT_ABANDONED_0 + g->n)
    claim(g->winner, g->base + (w - WAIT_ABANDONED_0 - 1), g->done);
  else if (w == WAIT_FAILED)
    claim(g->winner, g->base, g->done); /* let the caller's look report it */
  return 0;
}

/* Waits on up to 64 objects by the deadline: 1 with *which, 0 on timeout, or an error. */
static int wait_objects(const HANDLE *h, DWORD n, int64_t deadline, size_t *which) {
  for (;;) {
    DWORD w = WaitForMultipleObjects(n, h, FALSE, mproc__w32_wait_ms(deadline));
    if (w < WAIT_OBJECT_0 + n) {
      *which = w - WAIT_OBJECT_0;
      return 1;
    }
    if (w >= WAIT_ABANDONED_0 && w < WAIT_ABANDONED_0 + n) {
      *which = w - WAIT_ABANDONED_0;
      return 1;
    }
    if (w != WAIT_TIMEOUT)
      return mproc__os_last_error();
    if (deadline_passed(deadline))
      return 0;
  }
}

/* Any number of objects: this thread waits on "done" and the first 63, helpers on the rest. */
static int wait_many(const HANDLE *h, size_t n, int64_t deadline, size_t *which) {
  if (n <= MAXIMUM_WAIT_OBJECTS)
    return wait_objects(h, (DWORD)n, deadline, which);
  size_t ng = (n - 1) / GROUP; /* helper groups after this thread's first GROUP */
  helper *g = mproc__calloc(ng, sizeof *g);
  HANDLE cancel = CreateEventW(NULL, TRUE, FALSE, NULL);
  HANDLE done = CreateEventW(NULL, TRUE, FALSE, NULL);
  HANDLE mine[MAXIMUM_WAIT_OBJECTS];
  volatile LONG64 winner = -1;
  int rc = g && cancel && done ? 0 : MPROC_ENOMEM;
  size_t started = 0;
  for (; rc == 0 && started < ng; started++) {
    helper *x = &g[started];
    x->base = GROUP * (started + 1);
    x->n = 1 + (DWORD)(n - x->base < GROUP ? n - x->base : GROUP);
    x->hs[0] = cancel;
    memcpy(x->hs + 1, h + x->base, (x->n - 1) * sizeof *h);
    x->winner = &winner;
    x->done = done;
    x->thread = CreateThread(NULL, 64 * 1024, helper_main, x, STACK_SIZE_PARAM_IS_A_RESERVATION,
                             NULL);
    if (x->thread == NULL)
      rc = mproc__os_last_error();
  }
  if (rc == 0) {
    mine[0] = done;
    memcpy(mine + 1, h, GROUP * sizeof *h);
    size_t w = 0;
    rc = wait_objects(mine, MAXIMUM_WAIT_OBJECTS, deadline, &w);
    if (rc == 1 && w > 0)
      InterlockedCompareExchange64(&winner, (LONG64)(w - 1), -1);
  }
  if (cancel)
    SetEvent(cancel);
  for (size_t i = 0; i < ng; i++)
    if (g[i].thread) {
      WaitForSingleObject(g[i].thread, INFINITE);
      CloseHandle(g[i].thread);
    }
  if (rc >= 0 && winner >= 0) {
    *which = (size_t)winner;
    rc = 1;
  }
  if (cancel)
    CloseHandle(cancel);
  if (done)
    CloseHandle(done);
  mproc__free(g);
  return rc;
}

/* --- the entry point -------------------------------------------------------------------------- */

/* Releases what acquire() took for the first m handles. */
static void release_all(void **tok, size_t m) {
  for (size_t k = 0; k < m; k++)
    mproc__w32_watch_release(tok[k]);
}

/* One round: 1 with *ready, 0 on timeout, 2 when the winner turned out not to be ready (wait
 * again), or an error. */
static int wait_round(const os_handle *hs, size_t n, int64_t deadline, size_t *ready,
                      void **tok, size_t *idx, HANDLE *evs) {
  size_t m = 0, which = 0;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (hs[i] == OS_INVALID)
      continue;
    rc = mproc__w32_watch_acquire((HANDLE)hs[i], &evs[m], &tok[m]);
    if (rc >= 0) { /* waiting, or ready now: either way it is released */
      idx[m] = i;
      if (rc == 1)
        which = m;
      m++;
    }
  }
  if (rc == 0)
    rc = m == 0 ? MPROC_EINVAL : wait_many(evs, m, deadline, &which);
  if (rc == 1 && !mproc__w32_watch_fired(tok[which]))
    rc = 2;
  if (rc == 1)
    *ready = idx[which];
  release_all(tok, m);
  return rc;
}

static int wait_armed(const os_handle *hs, size_t n, int64_t deadline, size_t *ready) {
  void **tok = mproc__malloc(n * sizeof *tok);
  size_t *idx = mproc__malloc(n * sizeof *idx);
  HANDLE *evs = mproc__malloc(n * sizeof *evs);
  int rc = tok && idx && evs ? 2 : MPROC_ENOMEM;
  while (rc == 2)
    rc = wait_round(hs, n, deadline, ready, tok, idx, evs);
  mproc__free(tok);
  mproc__free(idx);
  mproc__free(evs);
  return rc == 1 ? 0 : rc == 0 ? MPROC_ETIMEDOUT : rc;
}

int mproc__os_wait_any(const os_handle *hs, size_t n, int64_t deadline, size_t *ready) {
  size_t valid = 0;
  for (size_t i = 0; i < n; i++)
    valid += hs[i] != OS_INVALID;
  if (valid == 0) {
    /* Nothing to wait for: a timed wait just times out; an untimed one would hang forever. */
    if (deadline == OS_NO_DEADLINE)
      return MPROC_EINVAL;
    while (!deadline_passed(deadline))
      Sleep(mproc__w32_wait_ms(deadline));
    return MPROC_ETIMEDOUT;
  }
  if (deadline_passed(deadline))
    return look(hs, n, ready);
  return wait_armed(hs, n, deadline, ready);
}
