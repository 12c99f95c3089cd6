/* SPDX-License-Identifier: MIT */
/* Process-shared waiting on Windows: locks in user space with a kernel semaphore to sleep on and
 * the holder's thread handle to notice its death (see "robust mutexes"), and one unnamed kernel
 * semaphore per object standing in for a futex (see os.h: callers count sleepers and wake only
 * that many). Every object is unnamed
 * and non-inheritable; children receive handles through the spawn handle list. */
#include "w32.h"
#include "../atomics.h"
#include "../alloc.h"

/* --- thread tokens ----------------------------------------------------------------------- */

MPROC__THREAD_LOCAL uint64_t mproc__os_token_tls;

uint64_t mproc__os_thread_token_new(void) {
  if (mproc__os_token_tls == 0) {
    uint32_t salt = 0;
    if (mproc__os_random(&salt, sizeof salt) != 0)
      salt = (uint32_t)mproc__os_now_ns();
    mproc__os_token_tls = ((uint64_t)(salt | 1) << 32) | GetCurrentThreadId();
  }
  return mproc__os_token_tls;
}

/* --- robust mutexes -------------------------------------------------------------------------- */

/* A lock is a 64-bit owner word in the shared os_mutex_mem, taken and given back with one
 * atomic compare-and-swap each: no kernel call while nobody waits. The word names the holder
 * thread: its thread id in the low 32 bits (ids of live threads and processes are unique on
 * the machine) and 32 bits of the thread's creation time in the high ones, so a thread id
 * reused after the holder is gone does not pass for it. 0 is free.
 *
 * Waiters count themselves in `waiters` and sleep on h, an unnamed semaphore of at most one
 * permit, together with a handle to the holder's thread: an unlock that sees a waiter adds
 * the permit, and the holder's death (thread or whole process) wakes the waiters at once. A
 * waiter that finds the holder dead swaps its own word in for the dead one and reports
 * MPROC_EOWNERDEAD, as WAIT_ABANDONED did for the kernel mutex this replaces. One permit at
 * most: an unlock with waiters always adds it, and whoever takes the lock unlocks again, so
 * a free lock with waiters always has a permit pending or a waiter awake. The one exception,
 * a waiter killed between its wake-up and its compare-and-swap, is covered by never sleeping
 * longer than LOCK_SLICE_MS before looking at the word again. */
typedef struct w32_mutex {
  uint64_t owner;
  uint32_t waiters; /* counted before their last look at owner; a killed waiter stays counted,
                       which costs only a spare permit per unlock */
} w32_mutex;

_Static_assert(sizeof(w32_mutex) <= sizeof(os_mutex_mem), "os_mutex_mem too small");

#define LOCK_SPINS 64
#define LOCK_YIELDS 8
#define LOCK_SLICE_MS 100

static MPROC__THREAD_LOCAL uint64_t t_lock_id;

/* 32 bits of a creation time, mixed so that nearby times differ in every bit. */
static uint32_t birth_bits(const FILETIME *ft) {
  uint64_t t = (uint64_t)ft->dwHighDateTime << 32 | ft->dwLowDateTime;
  return (uint32_t)((t * 0x9E3779B97F4A7C15ull) >> 32);
}

static uint64_t lock_id(void) {
  if (t_lock_id == 0) {
    FILETIME cr, ex, k, u;
    uint32_t b = 0;
    if (GetThreadTimes(GetCurrentThread(), &cr, &ex, &k, &u))
      b = birth_bits(&cr);
    t_lock_id = (uint64_t)b << 32 | GetCurrentThreadId();
  }
  return t_lock_id;
}

/* A handle to the thread named by owner word id, to wait on; NULL when that thread is gone
 * (no thread with that id, or another thread born since has it). *unknown is set when the
 * thread exists but may not be opened: it is then taken to be alive. */
static HANDLE open_owner(uint64_t id, int *unknown) {
  *unknown = 0;
  HANDLE t = OpenThread(SYNCHRONIZE | THREAD_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)id);
  if (t == NULL) {
    *unknown = GetLastError() == ERROR_ACCESS_DENIED;
    return NULL;
  }
  FILETIME cr, ex, k, u;
  if (GetThreadTimes(t, &cr, &ex, &k, &u) && birth_bits(&cr) != (uint32_t)(id >> 32)) {
    CloseHandle(t); /* the id now names a younger thread */
    return NULL;
  }
  return t;
}

/* Takes the lock from the dead holder `id`: MPROC_EOWNERDEAD, or 1 when the word moved on
 * (someone else took it over first). */
static int take_over(w32_mutex *w, uint64_t id, uint64_t me) {
  return MPROC__ATOMIC_COMPARE_EXCHANGE(&w->owner, &id, me, 0, MPROC__ATOMIC_SEQ_CST,
                                        MPROC__ATOMIC_SEQ_CST)
             ? MPROC_EOWNERDEAD
             : 1;
}

static int try_take(w32_mutex *w, uint64_t me) {
  uint64_t free_ = 0;
  return MPROC__ATOMIC_COMPARE_EXCHANGE(&w->owner, &free_, me, 0, MPROC__ATOMIC_SEQ_CST,
                                     MPROC__ATOMIC_SEQ_CST);
}

int mproc__os_mutex_init(os_mutex_mem *m, os_handle *h) {
  w32_mutex *w = (w32_mutex *)m->bytes;
  HANDLE s = CreateSemaphoreW(NULL, 0, 1, NULL);
  if (s == NULL)
    return mproc__os_last_error();
  MPROC__ATOMIC_STORE(&w->owner, 0, MPROC__ATOMIC_SEQ_CST);
  MPROC__ATOMIC_STORE(&w->waiters, 0, MPROC__ATOMIC_SEQ_CST);
  *h = (os_handle)s;
  return 0;
}

/* 1 if the thread named by owner word id is gone; 0 if it lives (or may not be looked at). */
static int owner_dead(uint64_t id) {
  int unknown;
  HANDLE t = open_owner(id, &unknown);
  if (t == NULL)
    return !unknown;
  int dead = WaitForSingleObject(t, 0) == WAIT_OBJECT_0;
  CloseHandle(t);
  return dead;
}

/* One sleep of a counted waiter: on the permit and on the holder `id`'s thread, for at most a
 * slice. 0 to look again, 1 if the holder is dead, or an error. */
static int sleep_on(HANDLE sem, uint64_t id, int64_t deadline) {
  int unknown;
  HANDLE hs[2] = {sem, open_owner(id, &unknown)};
  if (hs[1] == NULL && !unknown)
    return 1;
  DWORD ms = mproc__w32_wait_ms(deadline);
  if (ms > LOCK_SLICE_MS)
    ms = LOCK_SLICE_MS;
  DWORD r = WaitForMultipleObjects(hs[1] ? 2 : 1, hs, FALSE, ms);
  if (hs[1])
    CloseHandle(hs[1]);
  if (r == WAIT_OBJECT_0 || r == WAIT_TIMEOUT)
    return 0;
  if (r == WAIT_OBJECT_0 + 1)
    return 1;
  return mproc__os_last_error();
}

/* The contended path, counted among the waiters until it returns: 0, MPROC_EOWNERDEAD,
 * MPROC_ETIMEDOUT or an error. */
static int lock_slow(w32_mutex *w, HANDLE sem, uint64_t me, int64_t deadline) {
  int rc = 0;
  MPROC__ATOMIC_ADD_FETCH(&w->waiters, 1, MPROC__ATOMIC_SEQ_CST);
  for (;;) {
    uint64_t id = MPROC__ATOMIC_LOAD(&w->owner, MPROC__ATOMIC_SEQ_CST);
    if (id == 0) {
      if (try_take(w, me))
        break;
      continue;
    }
    int dead;
    if (deadline != OS_NO_DEADLINE && mproc__os_now_ns() >= deadline) {
      if (!(dead = owner_dead(id))) {
        rc = MPROC_ETIMEDOUT;
        break;
      }
    } else if ((dead = sleep_on(sem, id, deadline)) < 0) {
      rc = dead;
      break;
    }
    if (dead && (rc = take_over(w, id, me)) == MPROC_EOWNERDEAD)
      break;
    rc = 0; /* the word moved on meanwhile: look again */
  }
  MPROC__ATOMIC_SUB_FETCH(&w->waiters, 1, MPROC__ATOMIC_SEQ_CST);
  return rc;
}

int mproc__os_mutex_lock(os_mutex_mem *m, os_handle h, int64_t deadline) {
  w32_mutex *w = (w32_mutex *)m->bytes;
  uint64_t me = lock_id();
  if (try_take(w, me))
    return 0;
  for (int i = 0; i < LOCK_SPINS; i++) {
    mproc__os_cpu_relax();
    if (MPROC__ATOMIC_LOAD(&w->owner, MPROC__ATOMIC_RELAXED) == 0 && try_take(w, me))
      return 0;
  }
  /* A holder that lost its CPU mid-section (more processes than CPUs) is let run a few times:
   * a yield is a plain system call, sleeping on the semaphore a round trip to the kernel's
   * object manager (the wineserver under Wine) and back. Deadline 0 is a bare try: no yields. */
  for (int i = 0; i < LOCK_YIELDS && deadline > 0; i++) {
    SwitchToThread();
    if (MPROC__ATOMIC_LOAD(&w->owner, MPROC__ATOMIC_RELAXED) == 0 && try_take(w, me))
      return 0;
  }
  return lock_slow(w, (HANDLE)h, me, deadline);
}

int mproc__os_mutex_unlock(os_mutex_mem *m, os_handle h) {
  w32_mutex *w = (w32_mutex *)m->bytes;
  uint64_t me = lock_id();
  if (!MPROC__ATOMIC_COMPARE_EXCHANGE(&w->owner, &me, 0, 0, MPROC__ATOMIC_SEQ_CST,
                                      MPROC__ATOMIC_SEQ_CST))
    return mproc__os_error(ERROR_NOT_OWNER);
  /* ERROR_TOO_MANY_POSTS: a permit is already pending, which is all a waiter needs. */
  if (MPROC__ATOMIC_LOAD(&w->waiters, MPROC__ATOMIC_SEQ_CST) != 0 &&
      !ReleaseSemaphore((HANDLE)h, 1, NULL) && GetLastError() != ERROR_TOO_MANY_POSTS)
    return mproc__os_last_error();
  return 0;
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
