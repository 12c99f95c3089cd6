/* SPDX-License-Identifier: MIT */
/* Process-shared waiting on Linux: robust pthread mutexes (the kernel releases a dead owner's
 * lock and the next locker sees EOWNERDEAD) and futexes on words in shared memory; both stay in
 * user space when uncontended. sync_generic.c does the same with portable POSIX alone. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "posix.h"
#include "../atomics.h"
#include "../alloc.h"

_Static_assert(sizeof(pthread_mutex_t) <= sizeof(os_mutex_mem), "os_mutex_mem too small");

/* --- robust mutexes -------------------------------------------------------------------------- */

int mproc__os_mutex_init(os_mutex_mem *m, os_handle *h) {
  *h = OS_INVALID;
  pthread_mutexattr_t a;
  int rc = pthread_mutexattr_init(&a);
  if (rc == 0)
    rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  if (rc == 0)
    rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  if (rc == 0)
    rc = pthread_mutex_init((pthread_mutex_t *)m->bytes, &a);
  pthread_mutexattr_destroy(&a);
  return rc ? mproc__os_error(rc) : 0;
}

static struct timespec to_timespec(int64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
  return ts;
}

/* A timed wait on mx until the monotonic deadline. */
static int timed_lock(pthread_mutex_t *mx, int64_t deadline) {
#ifdef MPROC_TSAN
  /* TSan (clang 14) intercepts neither pthread_mutex_clocklock nor an EOWNERDEAD from
   * timedlock, and would then miss the acquire. Test builds poll trylock instead. */
  int rc;
  while ((rc = pthread_mutex_trylock(mx)) == EBUSY && mproc__os_now_ns() < deadline)
    mproc__os_sleep_ms(1);
  return rc;
#else
  struct timespec ts = to_timespec(deadline);
  return pthread_mutex_clocklock(mx, CLOCK_MONOTONIC, &ts);
#endif
}

/* An unlock wakes one waiter. If that waiter is killed before it takes the lock, nobody wakes
 * the others (the kernel repairs a dead owner, not a dead waiter) and they would sleep on a
 * free lock for good. So nobody sleeps on it longer than this before looking again. */
#define LOCK_SLICE_NS ((int64_t)100000000)

/* The contended part of mproc__os_mutex_lock: rc is the failed try's result. */
static int lock_wait(pthread_mutex_t *mx, int rc, int64_t deadline) {
  /* A bare try (deadline 0) reads no clock. */
  for (int64_t now; (rc == EBUSY || rc == ETIMEDOUT) && deadline > 0 &&
                    (now = mproc__os_now_ns()) < deadline;)
    rc = timed_lock(mx, deadline - now > LOCK_SLICE_NS ? now + LOCK_SLICE_NS : deadline);
  switch (rc) {
  case 0:
    return 0;
  case EOWNERDEAD:
    /* The kernel handed us a dead owner's lock. Mark it usable at the pthread level at once;
     * whether the data it guards is usable is the core's (and the user's) decision. */
    pthread_mutex_consistent(mx);
    return MPROC_EOWNERDEAD;
  case EBUSY:
  case ETIMEDOUT:
    return MPROC_ETIMEDOUT;
  case EDEADLK:
    return MPROC_EDEADLK;
  case ENOTRECOVERABLE:
    return MPROC_ENOTRECOVERABLE;
  default:
    return mproc__os_error(rc);
  }
}

int mproc__os_mutex_lock(os_mutex_mem *m, os_handle h, int64_t deadline) {
  (void)h;
  pthread_mutex_t *mx = (pthread_mutex_t *)m->bytes;
  int rc = pthread_mutex_trylock(mx); /* user space only, when free */
  return rc == 0 ? 0 : lock_wait(mx, rc, deadline);
}

int mproc__os_mutex_unlock(os_mutex_mem *m, os_handle h) {
  int rc = pthread_mutex_unlock((pthread_mutex_t *)m->bytes);
  return rc ? mproc__os_error(rc) : 0;
}

/* --- futex parking ---------------------------------------------------------------------------- */

int mproc__os_park_new(os_handle *h) {
  *h = OS_INVALID;
  return 0;
}

/* A wake-up goes to one sleeper chosen by the kernel. If that sleeper is killed before it acts
 * on it, nobody else is told: a semaphore keeps a permit, a queue an item, while the others
 * sleep on. So no sleeper trusts a single wake-up: it sleeps at most PARK_SLICE_NS at a time
 * and then looks at the word itself, returning as soon as it changed (the Windows backend does
 * the same between slices of its semaphore wait). A lost wake-up costs at most one slice. */
#define PARK_SLICE_NS ((int64_t)100000000)

int mproc__os_park_wait(const uint32_t *addr, uint32_t expected, os_handle h, int64_t deadline) {
  (void)h;
  for (;;) {
    int64_t now = mproc__os_now_ns();
    if (deadline != OS_NO_DEADLINE && deadline <= now)
      return MPROC_ETIMEDOUT;
    int64_t until = deadline - now > PARK_SLICE_NS ? now + PARK_SLICE_NS : deadline;
    struct timespec ts = to_timespec(until); /* FUTEX_WAIT_BITSET: absolute, CLOCK_MONOTONIC */
    /* Not FUTEX_PRIVATE_FLAG: the word is shared with other processes. */
    if (syscall(SYS_futex, addr, FUTEX_WAIT_BITSET, expected, &ts, NULL,
                FUTEX_BITSET_MATCH_ANY) == 0)
      return 0;
    if (errno == EAGAIN || errno == EINTR) /* the word changed, or a signal: look again */
      return 0;
    if (errno != ETIMEDOUT)
      return mproc__os_last_error();
    if (MPROC__ATOMIC_LOAD(addr, MPROC__ATOMIC_SEQ_CST) != expected)
      return 0; /* changed while its wake-up went to someone who is gone */
  }
}

int mproc__os_park_wake(const uint32_t *addr, os_handle h, uint32_t n) {
  int count = n > INT_MAX ? INT_MAX : (int)n;
  if (syscall(SYS_futex, addr, FUTEX_WAKE, count, NULL, NULL, 0) < 0)
    return mproc__os_last_error();
  return 0;
}

/* --- queue readiness (peers: pid.c, threads: thread.c) ------------------------------------- */

#include <sys/eventfd.h>

int mproc__os_notifier_new(os_handle *h) {
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0)
    return mproc__os_last_error();
  *h = fd;
  return 0;
}

void mproc__os_notifier_set(os_handle h) {
  uint64_t one = 1;
  ssize_t r = write((int)h, &one, sizeof one); /* EAGAIN: already set, plenty */
  (void)r;
}

void mproc__os_notifier_clear(os_handle h) {
  uint64_t v;
  ssize_t r = read((int)h, &v, sizeof v); /* EAGAIN: already clear */
  (void)r;
}
