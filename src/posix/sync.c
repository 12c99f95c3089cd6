/* Process-shared waiting on POSIX: robust pthread mutexes (the kernel releases a dead owner's
 * lock and the next locker sees EOWNERDEAD) and futexes on words in shared memory. Linux only,
 * like the rest of this backend; both stay in user space when uncontended. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "posix.h"

_Static_assert(sizeof(pthread_mutex_t) <= sizeof(os_mutex_mem), "os_mutex_mem too small");

/* --- thread tokens ----------------------------------------------------------------------- */

static _Thread_local uint64_t t_token;
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

/* After fork() only the forking thread exists, and it has a new tid: forget the old token. */
static void token_atfork_child(void) { t_token = 0; }
static void token_register(void) { pthread_atfork(NULL, NULL, token_atfork_child); }

uint64_t os_thread_token(void) {
  if (t_token == 0) {
    pthread_once(&g_atfork_once, token_register);
    uint32_t salt = 0;
    if (os_random(&salt, sizeof salt) != 0)
      salt = (uint32_t)os_now_ns();
    t_token = ((uint64_t)(salt | 1) << 32) | (uint32_t)syscall(SYS_gettid);
  }
  return t_token;
}

/* --- robust mutexes -------------------------------------------------------------------------- */

int os_mutex_init(os_mutex_mem *m, os_handle *h) {
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
  return rc ? os_error(rc) : 0;
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
  while ((rc = pthread_mutex_trylock(mx)) == EBUSY && os_now_ns() < deadline)
    os_sleep_ms(1);
  return rc;
#else
  struct timespec ts = to_timespec(deadline);
  return pthread_mutex_clocklock(mx, CLOCK_MONOTONIC, &ts);
#endif
}

int os_mutex_lock(os_mutex_mem *m, os_handle h, int64_t deadline) {
  pthread_mutex_t *mx = (pthread_mutex_t *)m->bytes;
  int rc;
  if (deadline == OS_NO_DEADLINE) {
    rc = pthread_mutex_lock(mx);
  } else {
    rc = pthread_mutex_trylock(mx);
    if (rc == EBUSY && deadline > os_now_ns())
      rc = timed_lock(mx, deadline);
  }
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
    return os_error(rc);
  }
}

int os_mutex_unlock(os_mutex_mem *m, os_handle h) {
  int rc = pthread_mutex_unlock((pthread_mutex_t *)m->bytes);
  return rc ? os_error(rc) : 0;
}

/* --- futex parking ---------------------------------------------------------------------------- */

int os_park_new(os_handle *h) {
  *h = OS_INVALID;
  return 0;
}

int os_park_wait(const uint32_t *addr, uint32_t expected, os_handle h, int64_t deadline) {
  struct timespec ts, *tp = NULL;
  if (deadline != OS_NO_DEADLINE) {
    if (deadline <= os_now_ns())
      return MPROC_ETIMEDOUT;
    ts = to_timespec(deadline); /* FUTEX_WAIT_BITSET: absolute, CLOCK_MONOTONIC */
    tp = &ts;
  }
  /* Not FUTEX_PRIVATE_FLAG: the word is shared with other processes. */
  if (syscall(SYS_futex, addr, FUTEX_WAIT_BITSET, expected, tp, NULL, FUTEX_BITSET_MATCH_ANY) == 0)
    return 0;
  if (errno == EAGAIN || errno == EINTR) /* the word changed, or a signal: look again */
    return 0;
  return errno == ETIMEDOUT ? MPROC_ETIMEDOUT : os_last_error();
}

int os_park_wake(const uint32_t *addr, os_handle h, uint32_t n) {
  int count = n > INT_MAX ? INT_MAX : (int)n;
  if (syscall(SYS_futex, addr, FUTEX_WAKE, count, NULL, NULL, 0) < 0)
    return os_last_error();
  return 0;
}
