/* SPDX-License-Identifier: MIT */
/*
 * Process-shared waiting with portable POSIX alone (the generic backend: macOS, the BSDs, and
 * Linux built with MPROC_POSIX_GENERIC). No robust pthread mutexes, no futex, no eventfd.
 *
 * Sections: parking (a bounded back-off poll; a futex-like call where the system has one),
 * mutexes (an owner pid in an atomic word; a dead owner is found by its waiters), notifiers
 * (an unlinked FIFO).
 *
 * Why no process-shared pthread mutex or condvar anywhere here: one held by a process that is
 * killed stays held for good (macOS and FreeBSD < 11 have no robust mutexes), and every
 * blocking wait of this library must survive the death of whoever was to wake it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <os/os_sync_wait_on_address.h>
#elif defined(__FreeBSD__)
#include <sys/types.h>
#include <sys/umtx.h>
#endif

#include "posix.h"
#include "../atomics.h"

#define LD(p) MPROC__ATOMIC_LOAD((p), MPROC__ATOMIC_SEQ_CST)

/* --- parking ---------------------------------------------------------------------------------- */

int mproc__os_park_new(os_handle *h) {
  *h = OS_INVALID;
  return 0;
}

/* The back-off poll: SPINS looks with a pause between, then sched_yield() for YIELD_NS, then
 * naps from NAP_MIN_NS doubling to NAP_MAX_NS: the cost of a wake-up nobody signals (latency)
 * against the cost of looking (a sleeper looks ~1000 times a second at most). */
#define SPINS 100
#define YIELD_NS ((int64_t)200000)
#define NAP_MIN_NS ((int64_t)50000)
#define NAP_MAX_NS ((int64_t)1000000)
/* With a futex-like call, a sleeper still looks at the word itself this often: a wake-up that
 * went to a sleeper killed before it acted on it must not strand the others. */
#define SLICE_NS ((int64_t)100000000)

static void nap(int64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
  nanosleep(&ts, NULL); /* EINTR: the caller looks again anyway */
}

/* The system's wait-on-address, compiled only where it exists: sleeps while *addr == expected,
 * at most until `until` (absolute, monotonic). 0: woken, changed or timed out (the caller looks);
 * 1: the system has none (then the caller polls). */
static int addr_wait(const uint32_t *addr, uint32_t expected, int64_t until) {
  int64_t left = until - mproc__os_now_ns();
  if (left <= 0)
    return 0;
#if defined(__APPLE__)
  /* macOS 14.4+: os_sync_wait_on_address(3), SHARED for memory mapped by several processes. */
  if (__builtin_available(macOS 14.4, *)) {
    os_sync_wait_on_address_with_timeout((void *)addr, expected, 4,
                                         OS_SYNC_WAIT_ON_ADDRESS_SHARED,
                                         OS_CLOCK_MACH_ABSOLUTE_TIME, (uint64_t)left);
    return 0;
  }
  return 1;
#elif defined(__FreeBSD__)
  /* _umtx_op(2): UMTX_OP_WAIT_UINT (not _PRIVATE) keys the wait on the shared page. */
  struct _umtx_time t;
  memset(&t, 0, sizeof t);
  t._clockid = CLOCK_MONOTONIC;
  t._timeout.tv_sec = (time_t)(left / 1000000000);
  t._timeout.tv_nsec = (long)(left % 1000000000);
  _umtx_op((void *)addr, UMTX_OP_WAIT_UINT, expected, (void *)sizeof t, &t);
  return 0;
#else
  (void)addr, (void)expected;
  return 1;
#endif
}

static void addr_wake(const uint32_t *addr, uint32_t n) {
#if defined(__APPLE__)
  if (__builtin_available(macOS 14.4, *)) {
    if (n == 1)
      os_sync_wake_by_address_any((void *)addr, 4, OS_SYNC_WAKE_BY_ADDRESS_SHARED);
    else
      os_sync_wake_by_address_all((void *)addr, 4, OS_SYNC_WAKE_BY_ADDRESS_SHARED);
  }
#elif defined(__FreeBSD__)
  _umtx_op((void *)addr, UMTX_OP_WAKE, n > INT_MAX ? INT_MAX : (int)n, NULL, NULL);
#else
  (void)addr, (void)n;
#endif
}

/* Returns once *addr != expected (0) or at the deadline (MPROC_ETIMEDOUT). Spins a little (the
 * change is often a few hundred nanoseconds away), then yields for a while (on a busy machine
 * the process that will change the word may be waiting for a CPU), then naps with a growing
 * nap. Nothing another process does or fails to do can keep it asleep past its next look. */
int mproc__os_park_wait(const uint32_t *addr, uint32_t expected, os_handle h, int64_t deadline) {
  (void)h;
  int64_t nap_ns = NAP_MIN_NS, yield_until = 0;
  for (unsigned i = 0;; i++) {
    if (LD(addr) != expected)
      return 0;
    int64_t now = mproc__os_now_ns();
    if (deadline <= now)
      return MPROC_ETIMEDOUT;
    if (i < SPINS) {
      mproc__os_cpu_relax();
    } else if (yield_until == 0 || now < yield_until) {
      yield_until = yield_until ? yield_until : now + YIELD_NS;
      sched_yield();
    } else if (addr_wait(addr, expected, deadline - now > SLICE_NS ? now + SLICE_NS : deadline)) {
      nap(deadline - now < nap_ns ? deadline - now : nap_ns);
      nap_ns = nap_ns * 2 < NAP_MAX_NS ? nap_ns * 2 : NAP_MAX_NS;
    }
  }
}

int mproc__os_park_wake(const uint32_t *addr, os_handle h, uint32_t n) {
  (void)h;
  addr_wake(addr, n); /* without one, sleepers see the change at their next look */
  return 0;
}

/* --- mutexes with owner-death detection -------------------------------------------------------
 * The lock word holds the owner's pid (0: free) in its low half and, in its high half, a count
 * of acquisitions; it is taken with one CAS. The owner's birth stamp follows in a second word,
 * so a pid reused by a newer process is not mistaken for the owner. A locker that finds the
 * lock held looks, now and then, whether the owner still exists; if it died, the locker takes
 * the lock over with a CAS from the very word it judged and reports MPROC_EOWNERDEAD, as a
 * robust mutex would. The count is what makes that CAS safe: a judgement that took a while
 * (a /proc read) can be about an acquisition that is over, by the same pid or another, and
 * then the word differs. Ownership is per process: a thread that ends while holding the lock
 * leaves it held while its process lives (robust pthread mutexes would tell). */

typedef struct gmutex {
  uint64_t word;    /* acquisitions << 32 | holder's pid; pid 0: free */
  uint64_t birth;   /* holder's mproc__os_pid_birth; 0 while not yet stored or unknown */
  uint32_t waiters; /* lockers parked on the pid half: unlock wakes one */
} gmutex;

_Static_assert(sizeof(gmutex) <= sizeof(os_mutex_mem), "os_mutex_mem too small");

#define W_PID(w) ((uint32_t)(w))
#define W_NEXT(w, pid) ((((w) >> 32) + 1) << 32 | (pid))

/* The pid half of the word, where waiters park (wait-on-address calls take 32 bits). */
static uint32_t *pid_half(gmutex *g) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return (uint32_t *)(void *)&g->word + 1;
#else
  return (uint32_t *)(void *)&g->word;
#endif
}

/* A waiter looks at the owner's liveness this often (a /proc read or a sysctl, not free). */
#define OWNER_CHECK_NS ((int64_t)10000000)

/* This process's pid and birth, looked up once per process (getpid is a system call with
 * glibc >= 2.25): a fork child forgets them in an atfork handler. */
static uint32_t g_pid;
static uint64_t g_birth;
static pthread_once_t g_id_once = PTHREAD_ONCE_INIT;
static void id_atfork_child(void) { MPROC__ATOMIC_STORE(&g_pid, 0, MPROC__ATOMIC_RELAXED); }
static void id_register(void) { pthread_atfork(NULL, NULL, id_atfork_child); }

static void self_id(uint32_t *pid, uint64_t *birth) {
  uint32_t me = MPROC__ATOMIC_LOAD(&g_pid, MPROC__ATOMIC_ACQUIRE);
  if (me == 0) {
    pthread_once(&g_id_once, id_register);
    me = (uint32_t)getpid();
    MPROC__ATOMIC_STORE(&g_birth, mproc__os_pid_birth(me), MPROC__ATOMIC_RELAXED);
    MPROC__ATOMIC_STORE(&g_pid, me, MPROC__ATOMIC_RELEASE);
  }
  *pid = me;
  *birth = MPROC__ATOMIC_LOAD(&g_birth, MPROC__ATOMIC_RELAXED);
}

int mproc__os_mutex_init(os_mutex_mem *m, os_handle *h) {
  *h = OS_INVALID;
  memset(m, 0, sizeof *m);
  return 0;
}

/* 1 if the acquisition seen as word w is by a process that is gone. The birth stamp is read
 * between two reads of the word: equal ones mean it belongs to that acquisition (0 or the
 * holder's, as unlock clears it before freeing the word). */
static int owner_gone(gmutex *g, uint64_t w) {
  uint64_t birth = LD(&g->birth);
  if (LD(&g->word) != w)
    return 0; /* changed hands: look again later */
  if (!mproc__os_pid_alive(W_PID(w)))
    return 1;
  uint64_t now = birth != 0 ? mproc__os_pid_birth(W_PID(w)) : 0;
  return now != 0 && now != birth; /* the pid names a newer process */
}

static int cas(gmutex *g, uint64_t *seen, uint64_t want) {
  return MPROC__ATOMIC_COMPARE_EXCHANGE(&g->word, seen, want, 0, MPROC__ATOMIC_SEQ_CST,
                                     MPROC__ATOMIC_SEQ_CST);
}

/* One attempt: 0 taken, MPROC_EOWNERDEAD taken from a dead owner, MPROC_ETIMEDOUT held. */
static int try_take(gmutex *g, int check_owner) {
  uint32_t me;
  uint64_t my_birth, w = LD(&g->word);
  self_id(&me, &my_birth);
  int rc = 0;
  if (W_PID(w) != 0 || !cas(g, &w, W_NEXT(w, me))) {
    if (W_PID(w) == 0 || !check_owner || !owner_gone(g, w) || !cas(g, &w, W_NEXT(w, me)))
      return MPROC_ETIMEDOUT; /* held (or just freed: the caller tries again at once) */
    rc = MPROC_EOWNERDEAD;
  }
  MPROC__ATOMIC_STORE(&g->birth, my_birth, MPROC__ATOMIC_SEQ_CST);
  return rc;
}

int mproc__os_mutex_lock(os_mutex_mem *m, os_handle h, int64_t deadline) {
  (void)h;
  gmutex *g = (gmutex *)(void *)m->bytes;
  int64_t now = mproc__os_now_ns();
  /* A plain try (deadline passed) still looks at the owner: a dead one's lock is free. */
  int rc = try_take(g, deadline <= now);
  for (int64_t next_check = now + OWNER_CHECK_NS / 4; rc == MPROC_ETIMEDOUT;) {
    now = mproc__os_now_ns();
    if (deadline <= now)
      return MPROC_ETIMEDOUT;
    uint32_t seen = LD(pid_half(g));
    if (seen != 0) {
      int64_t until = deadline < next_check ? deadline : next_check;
      MPROC__ATOMIC_ADD_FETCH(&g->waiters, 1, MPROC__ATOMIC_SEQ_CST);
      mproc__os_park_wait(pid_half(g), seen, OS_INVALID, until);
      MPROC__ATOMIC_SUB_FETCH(&g->waiters, 1, MPROC__ATOMIC_SEQ_CST);
    }
    now = mproc__os_now_ns();
    int check = now >= next_check;
    if (check)
      next_check = now + OWNER_CHECK_NS;
    rc = try_take(g, check);
  }
  return rc;
}

int mproc__os_mutex_unlock(os_mutex_mem *m, os_handle h) {
  (void)h;
  gmutex *g = (gmutex *)(void *)m->bytes;
  MPROC__ATOMIC_STORE(&g->birth, 0, MPROC__ATOMIC_SEQ_CST);
  /* Only the holder changes the word while its pid is in it: a plain store frees it. */
  uint64_t w = LD(&g->word);
  MPROC__ATOMIC_STORE(&g->word, w >> 32 << 32, MPROC__ATOMIC_SEQ_CST);
  if (LD(&g->waiters) != 0)
    addr_wake(pid_half(g), 1);
  return 0;
}

/* --- notifiers ---------------------------------------------------------------------------------
 * One fd that any holder can both raise and lower, readable while raised, passable to children
 * like every handle: a FIFO opened O_RDWR (an extension POSIX leaves open and that Linux, macOS
 * and FreeBSD all provide; fifo(7), open(2)), its name unlinked at once. A pipe pair would need
 * two handles per object. */

static int fifo_unnamed(void) {
  const char *d = getenv("TMPDIR");
  for (int tries = 0; tries < 16; tries++) {
    uint64_t r = 0;
    mproc__os_random(&r, sizeof r);
    char path[600];
    snprintf(path, sizeof path, "%s/mproc-%016llx.fifo", d != NULL && d[0] == '/' ? d : "/tmp",
             (unsigned long long)r);
    if (mkfifo(path, 0600) != 0) {
      if (errno == EEXIST)
        continue;
      return -1;
    }
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    int e = errno;
    unlink(path);
    errno = e;
    return fd;
  }
  errno = EEXIST;
  return -1;
}

int mproc__os_notifier_new(os_handle *h) {
  int fd = fifo_unnamed();
  if (fd < 0)
    return mproc__os_last_error();
  *h = fd;
  return 0;
}

void mproc__os_notifier_set(os_handle h) {
  char one = 1;
  ssize_t r = write((int)h, &one, 1); /* EAGAIN: the FIFO is full, so it is set: plenty */
  (void)r;
}

void mproc__os_notifier_clear(os_handle h) {
  char buf[256];
  while (read((int)h, buf, sizeof buf) == (ssize_t)sizeof buf) /* EAGAIN: clear */
    ;
}
