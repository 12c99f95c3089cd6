/* SPDX-License-Identifier: MIT */
/* Synchronization when processes die: a holder killed with SIGKILL / TerminateProcess
 * (MPROC_EOWNERDEAD, mark consistent, or MPROC_ENOTRECOVERABLE), waiters killed inside
 * wait, barrier parties that never come back, and nothing left behind afterwards. */
#include "runner.h"

#ifndef _WIN32
#include <dirent.h>
#endif

/* Helpers defined in test_sync.c (the same binary). */
int s_value(const mproc_semaphore_t *s);
void s_await_waiting(const mproc_barrier_t *b, unsigned n);
int s_target_hold_lock(const mproc_args_t *a);
int s_target_cond_waiter(const mproc_args_t *a);
int s_child_can_lock(mproc_lock_t *l);

/* A child takes the lock `depth` times and is killed holding it. */
static void die_holding(mproc_lock_t *l, int depth) {
  mproc_semaphore_t *holding;
  mproc_event_t *never;
  ASSERT_OK(mproc_semaphore_new(&holding, 0));
  ASSERT_OK(mproc_event_new(&never));
  mproc_process_t *p = t_start_one(s_target_hold_lock, t_args("LSEi", l, holding, never, depth));
  ASSERT_OK(mproc_semaphore_acquire(holding, 30000));
  t_kill_and_reap(p);
  mproc_event_free(never);
  mproc_semaphore_free(holding);
}

/* Acquires with a 30 s timeout and expects arg 1; gives the lock back if it got it. */
static int t_acquire_expect(const mproc_args_t *a) {
  mproc_lock_t *l = t_lock(a, 0);
  int rc = mproc_lock_acquire(l, 30000);
  C_RC(rc, t_int(a, 1));
  if (rc == MPROC_EOWNERDEAD)
    C_OK(mproc_lock_consistent(l));
  if (rc == 0 || rc == MPROC_EOWNERDEAD)
    C_OK(mproc_lock_release(l));
  return 0;
}

/* --- owner death ------------------------------------------------------------------------- */

TEST(lock_owner_died, 60, ALL) {
  mproc_lock_t *l;
  ASSERT_OK(mproc_lock_new(&l));
  die_holding(l, 1);
  ASSERT_RC(mproc_lock_acquire(l, 30000), MPROC_EOWNERDEAD);
  ASSERT_EQ(mproc_lock_is_mine(l), 1); /* acquired, with the news */
  ASSERT_OK(mproc_lock_consistent(l));
  ASSERT_OK(mproc_lock_release(l));
  ASSERT_EQ(s_child_can_lock(l), 1); /* normal again, for everyone */
  ASSERT_OK(mproc_lock_acquire(l, 0));
  ASSERT_OK(mproc_lock_release(l));
  /* A second death is reported as well, to a try-acquire too. */
  die_holding(l, 1);
  ASSERT_RC(mproc_lock_acquire(l, 0), MPROC_EOWNERDEAD);
  ASSERT_OK(mproc_lock_consistent(l));
  ASSERT_OK(mproc_lock_release(l));
  mproc_lock_free(l);
}

TEST(lock_owner_died_not_recovered, 60, ALL) {
  mproc_lock_t *l;
  ASSERT_OK(mproc_lock_new(&l));
  die_holding(l, 1);
  ASSERT_RC(mproc_lock_acquire(l, 30000), MPROC_EOWNERDEAD);
  ASSERT_OK(mproc_lock_release(l)); /* without mproc_lock_consistent */
  ASSERT_RC(mproc_lock_acquire(l, 0), MPROC_ENOTRECOVERABLE);
  int64_t t0 = t_now_ms();
  ASSERT_RC(mproc_lock_acquire(l, 30000), MPROC_ENOTRECOVERABLE);
  ASSERT_TRUE(t_now_ms() - t0 < 5000); /* said at once, not after the timeout */
  ASSERT_EQ(mproc_lock_is_mine(l), 0);
  int rc = 0, ran = 0;
  MPROC_WITH_LOCK(l, rc) { ran = 1; }
  ASSERT_RC(rc, MPROC_ENOTRECOVERABLE);
  ASSERT_EQ(ran, 0);
  /* every acquirer */
  t_finish(t_start_one(t_acquire_expect, t_args("Li", l, MPROC_ENOTRECOVERABLE)));
  mproc_lock_free(l);
}

TEST(rlock_owner_died, 60, ALL) {
  mproc_lock_t *l;
  ASSERT_OK(mproc_rlock_new(&l));
  die_holding(l, 3);
  ASSERT_RC(mproc_lock_acquire(l, 30000), MPROC_EOWNERDEAD);
  ASSERT_EQ(mproc_lock_is_mine(l), 1);
  ASSERT_OK(mproc_lock_consistent(l));
  ASSERT_OK(mproc_lock_acquire(l, 0)); /* ours now at depth 1; the dead owner's 3 are gone */
  ASSERT_OK(mproc_lock_release(l));
  ASSERT_OK(mproc_lock_release(l));
  ASSERT_EQ(mproc_lock_is_mine(l), 0);
  ASSERT_RC(mproc_lock_release(l), MPROC_EOVERRELEASE);
  ASSERT_EQ(s_child_can_lock(l), 1);
  mproc_lock_free(l);
}

static void kill_after_300ms(void *p) {
  t_sleep_ms(300);
  ASSERT_OK(mproc_process_kill(p));
}

TEST(owner_death_wakes_blocked_acquirer, 60, ALL) {
  mproc_lock_t *l;
  mproc_semaphore_t *holding;
  mproc_event_t *never;
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_OK(mproc_semaphore_new(&holding, 0));
  ASSERT_OK(mproc_event_new(&never));
  mproc_process_t *p = t_start_one(s_target_hold_lock, t_args("LSEi", l, holding, never, 1));
  ASSERT_OK(mproc_semaphore_acquire(holding, 30000));
  t_thread *killer = t_thread_start(kill_after_300ms, p); /* after the start: fork is safe */
  int64_t t0 = t_now_ms();
  ASSERT_RC(mproc_lock_acquire(l, 30000), MPROC_EOWNERDEAD); /* blocked when the owner died */
  ASSERT_TRUE(t_now_ms() - t0 < 10000);
  t_thread_join(killer);
  ASSERT_EQ(t_join_code(p), -9);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
  ASSERT_OK(mproc_lock_consistent(l));
  ASSERT_OK(mproc_lock_release(l));
  mproc_event_free(never);
  mproc_semaphore_free(holding);
  mproc_lock_free(l);
}

/* Takes the condition's lock, optionally notifies everyone, posts `holding`, sleeps until
 * killed. Args: condition, holding, notify_all. */
static int t_hold_condition(const mproc_args_t *a) {
  mproc_condition_t *c = t_cond(a, 0);
  C_OK(mproc_condition_acquire(c, 30000));
  if (t_int(a, 2))
    C_OK(mproc_condition_notify_all(c));
  C_OK(mproc_semaphore_release(t_sem(a, 1)));
  t_sleep_ms(60000);
  return 0;
}

static void condition_die_holding(mproc_condition_t *c, int notify_all) {
  mproc_semaphore_t *holding;
  ASSERT_OK(mproc_semaphore_new(&holding, 0));
  mproc_process_t *p = t_start_one(t_hold_condition, t_args("CSi", c, holding, notify_all));
  ASSERT_OK(mproc_semaphore_acquire(holding, 30000));
  t_kill_and_reap(p);
  mproc_semaphore_free(holding);
}

/* One waiter, one notify: the condition works across processes. */
static void check_condition_works(mproc_condition_t *c) {
  mproc_semaphore_t *ready, *woken;
  ASSERT_OK(mproc_semaphore_new(&ready, 0));
  ASSERT_OK(mproc_semaphore_new(&woken, 0));
  mproc_process_t *p = t_start_one(s_target_cond_waiter, t_args("CSS", c, ready, woken));
  ASSERT_OK(mproc_semaphore_acquire(ready, 30000));
  ASSERT_OK(mproc_condition_acquire(c, 30000));
  ASSERT_OK(mproc_condition_notify(c, 1));
  ASSERT_OK(mproc_condition_release(c));
  ASSERT_OK(mproc_semaphore_acquire(woken, 30000));
  t_finish(p);
  mproc_semaphore_free(woken);
  mproc_semaphore_free(ready);
}

TEST(condition_owner_died, 60, ALL) {
  mproc_condition_t *c;
  ASSERT_OK(mproc_condition_new(&c, NULL));
  condition_die_holding(c, 0);
  ASSERT_RC(mproc_condition_acquire(c, 30000), MPROC_EOWNERDEAD);
  ASSERT_OK(mproc_lock_consistent(mproc_condition_lock(c)));
  ASSERT_RC(mproc_condition_wait(c, 50), MPROC_ETIMEDOUT);
  ASSERT_EQ(mproc_lock_is_mine(mproc_condition_lock(c)), 1);
  ASSERT_OK(mproc_condition_release(c));
  check_condition_works(c);
  mproc_condition_free(c);
}

/* Waits under the lock after posting `ready`; expects the reacquire to find the notifier
 * dead. Args: condition, ready. */
static int t_wait_expect_owner_dead(const mproc_args_t *a) {
  mproc_condition_t *c = t_cond(a, 0);
  C_OK(mproc_condition_acquire(c, 30000));
  C_OK(mproc_semaphore_release(t_sem(a, 1)));
  C_RC(mproc_condition_wait(c, 60000), MPROC_EOWNERDEAD);
  C_RC(mproc_lock_is_mine(mproc_condition_lock(c)), 1);
  C_OK(mproc_lock_consistent(mproc_condition_lock(c)));
  C_OK(mproc_condition_release(c));
  return 0;
}

TEST(condition_wait_reacquire_owner_died, 60, ALL) {
  mproc_lock_t *l;
  mproc_condition_t *c;
  mproc_semaphore_t *ready;
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_OK(mproc_condition_new(&c, l));
  ASSERT_OK(mproc_semaphore_new(&ready, 0));
  mproc_process_t *w = t_start_one(t_wait_expect_owner_dead, t_args("CS", c, ready));
  ASSERT_OK(mproc_semaphore_acquire(ready, 30000));
  condition_die_holding(c, 1); /* notifies, then dies before releasing */
  t_finish(w);
  check_condition_works(c);
  mproc_semaphore_free(ready);
  mproc_condition_free(c);
  mproc_lock_free(l);
}

/* --- waiters killed inside wait ---------------------------------------------------------- */

/* Posts `ready`, then blocks up to 60 s: kind 0 acquires the semaphore, 1 waits on the event.
 * Args: kind, ready, semaphore, event. */
static int t_blocker(const mproc_args_t *a) {
  C_OK(mproc_semaphore_release(t_sem(a, 1)));
  if (t_int(a, 0) == 0)
    C_OK(mproc_semaphore_acquire(t_sem(a, 2), 60000));
  else
    C_OK(mproc_event_wait(t_event(a, 3), 60000));
  return 0;
}

static mproc_process_t *start_blocker(int kind, mproc_semaphore_t *s, mproc_event_t *e) {
  mproc_semaphore_t *ready;
  ASSERT_OK(mproc_semaphore_new(&ready, 0));
  mproc_process_t *p = t_start_one(t_blocker, t_args("iSSE", kind, ready, s, e));
  ASSERT_OK(mproc_semaphore_acquire(ready, 30000));
  t_sleep_ms(100); /* most likely asleep inside the call by now; the test holds either way */
  mproc_semaphore_free(ready);
  return p;
}

TEST(semaphore_and_event_waiter_killed, 90, ALL) {
  mproc_semaphore_t *s;
  mproc_event_t *e;
  ASSERT_OK(mproc_semaphore_new(&s, 0));
  ASSERT_OK(mproc_event_new(&e));
  for (int kind = 0; kind < 2; kind++) {
    t_kill_and_reap(start_blocker(kind, s, e)); /* a sleeper that will never wake */
    mproc_process_t *live = start_blocker(kind, s, e);
    ASSERT_OK(kind == 0 ? mproc_semaphore_release(s) : mproc_event_set(e));
    t_finish(live); /* the wake-up went to the live waiter */
  }
  ASSERT_EQ(s_value(s), 0);
  mproc_event_free(e);
  mproc_semaphore_free(s);
}

TEST(condition_waiter_killed, 90, ALL) {
  mproc_condition_t *c;
  mproc_semaphore_t *ready, *woken;
  ASSERT_OK(mproc_condition_new(&c, NULL));
  ASSERT_OK(mproc_semaphore_new(&ready, 0));
  ASSERT_OK(mproc_semaphore_new(&woken, 0));
  mproc_process_t *dead = t_start_one(s_target_cond_waiter, t_args("CSS", c, ready, woken));
  ASSERT_OK(mproc_semaphore_acquire(ready, 30000));
  ASSERT_OK(mproc_condition_acquire(c, 30000)); /* it is inside wait now */
  ASSERT_OK(mproc_condition_release(c));
  t_kill_and_reap(dead);
  /* A dead process is not waiting: notify(1) must reach the live waiter. */
  check_condition_works(c);
  ASSERT_EQ(s_value(woken), 0);
  mproc_semaphore_free(woken);
  mproc_semaphore_free(ready);
  mproc_condition_free(c);
}

/* --- barrier parties that die ------------------------------------------------------------ */

/* One full cycle, posts `passed`, then sleeps until killed. Args: barrier, passed. */
static int t_party_once(const mproc_args_t *a) {
  C_OK(mproc_barrier_wait(t_barrier(a, 0), 30000, NULL));
  C_OK(mproc_semaphore_release(t_sem(a, 1)));
  t_sleep_ms(60000);
  return 0;
}

/* A first wait (30 s) that must pass, a second with a timeout of arg 1 that must give arg 2.
 * Args: barrier, ms, want. */
static int t_party_twice(const mproc_args_t *a) {
  mproc_barrier_t *b = t_barrier(a, 0);
  C_OK(mproc_barrier_wait(b, 30000, NULL));
  C_RC(mproc_barrier_wait(b, t_int(a, 1), NULL), t_int(a, 2));
  return 0;
}

TEST(barrier_party_killed, 60, ALL) {
  mproc_barrier_t *b;
  mproc_semaphore_t *passed;
  ASSERT_OK(mproc_barrier_new(&b, 3, NULL, MPROC_FOREVER));
  ASSERT_OK(mproc_semaphore_new(&passed, 0));
  mproc_process_t *doomed = t_start_one(t_party_once, t_args("BS", b, passed));
  mproc_process_t *other = t_start_one(t_party_twice, t_args("Bii", b, 500, MPROC_EBROKEN));
  ASSERT_OK(mproc_barrier_wait(b, 30000, NULL));
  ASSERT_OK(mproc_semaphore_acquire(passed, 30000));
  t_kill_and_reap(doomed);
  /* The next cycle can never fill: the timeouts break it instead of hanging. */
  int64_t t0 = t_now_ms();
  ASSERT_RC(mproc_barrier_wait(b, 500, NULL), MPROC_EBROKEN);
  ASSERT_TRUE(t_now_ms() - t0 < 5500);
  t_finish(other);
  ASSERT_EQ(mproc_barrier_broken(b), 1);
  mproc_semaphore_free(passed);
  mproc_barrier_free(b);
}

/* Exit 0 when the wait completed a cycle, 1 when it found the barrier broken. Args: barrier,
 * ms. */
static int t_wait_outcome(const mproc_args_t *a) {
  int rc = mproc_barrier_wait(t_barrier(a, 0), t_int(a, 1), NULL);
  if (rc == MPROC_EBROKEN)
    return 1;
  C_OK(rc);
  return 0;
}

TEST(barrier_waiter_killed, 60, ALL) {
  mproc_barrier_t *b;
  ASSERT_OK(mproc_barrier_new(&b, 3, NULL, MPROC_FOREVER));
  mproc_process_t *doomed = t_start_one(t_wait_outcome, t_args("Bi", b, 60000));
  s_await_waiting(b, 1);
  t_kill_and_reap(doomed); /* killed inside wait */
  /* Whether the dead arrival still counts is the library's choice (Python's counts it); what
   * must hold is that both live parties agree and nobody hangs. */
  mproc_process_t *other = t_start_one(t_wait_outcome, t_args("Bi", b, 2000));
  int rc = mproc_barrier_wait(b, 2000, NULL);
  ASSERT_TRUE(rc == 0 || rc == MPROC_EBROKEN);
  ASSERT_EQ(t_join_code(other), rc == 0 ? 0 : 1);
  ASSERT_OK(mproc_process_close(other));
  mproc_process_free(other);
  ASSERT_OK(mproc_barrier_reset(b)); /* and a reset makes it whole again */
  ASSERT_EQ(mproc_barrier_n_waiting(b), 0);
  mproc_process_t *ps[2];
  t_start_n(ps, 2, t_wait_outcome, t_args("Bi", b, 10000));
  ASSERT_OK(mproc_barrier_wait(b, 10000, NULL));
  t_finish_n(ps, 2);
  mproc_barrier_free(b);
}

/* A party killed while it waits breaks the barrier for the others, who wait FOREVER: each
 * waiter checks the next arrival's process every 100 ms (docs/sync.md). The caps here only
 * catch a hang. */
TEST(barrier_waiting_party_killed_breaks_it, 60, ALL) {
  mproc_barrier_t *b;
  ASSERT_OK(mproc_barrier_new(&b, 4, NULL, MPROC_FOREVER));
  mproc_process_t *ps[3];
  t_start_n(ps, 3, t_wait_outcome, t_args("Bi", b, (int)MPROC_FOREVER));
  s_await_waiting(b, 3);
  t_kill_and_reap(ps[1]);
  for (int i = 0; i < 3; i += 2) {
    ASSERT_OK(mproc_process_join(ps[i], 10000));
    ASSERT_EQ(t_join_code(ps[i]), 1); /* broken */
    ASSERT_OK(mproc_process_close(ps[i]));
    mproc_process_free(ps[i]);
  }
  ASSERT_EQ(mproc_barrier_broken(b), 1);
  ASSERT_RC(mproc_barrier_wait(b, MPROC_FOREVER, NULL), MPROC_EBROKEN);
  ASSERT_OK(mproc_barrier_reset(b)); /* and whole again after a reset */
  t_start_n(ps, 3, t_wait_outcome, t_args("Bi", b, 10000));
  ASSERT_OK(mproc_barrier_wait(b, 10000, NULL));
  t_finish_n(ps, 3);
  mproc_barrier_free(b);
}

/* --- nothing left behind ----------------------------------------------------------------- */

#ifndef _WIN32

/* Takes a piece of everything, then blocks in the barrier until killed. Args: lock, rlock,
 * semaphore, bounded semaphore, condition, event, barrier. */
static int t_use_everything(const mproc_args_t *a) {
  C_OK(mproc_lock_acquire(t_lock(a, 0), 30000));
  C_OK(mproc_lock_acquire(t_lock(a, 1), 30000));
  C_OK(mproc_lock_acquire(t_lock(a, 1), 30000));
  C_OK(mproc_semaphore_acquire(t_sem(a, 2), 30000));
  C_OK(mproc_semaphore_acquire(t_sem(a, 3), 30000));
  C_OK(mproc_condition_acquire(t_cond(a, 4), 30000));
  C_OK(mproc_event_set(t_event(a, 5)));
  C_OK(mproc_barrier_wait(t_barrier(a, 6), MPROC_FOREVER, NULL));
  return 0;
}
#endif

TEST(nothing_left_behind, 60, POSIX_ALL) {
#ifndef _WIN32
  /* Warm-up: the first start may set up lasting state (the forkserver and its channel), and
   * the shared heap keeps its own segments for reuse, as Python's heap keeps its arenas. What
   * must not grow is anything per object, per child, or left by a killed child. */
  mproc_lock_t *l, *rl;
  ASSERT_OK(mproc_lock_new(&l));
  t_finish(t_start_one(t_target_return_arg, t_args("L", l)));
  mproc_lock_free(l);
  int fds = t_count_entries("/proc/self/fd"), shm = t_count_anonymous_shm_names();
  int maps = t_count_shared_maps();

  mproc_semaphore_t *s, *bs;
  mproc_condition_t *c;
  mproc_event_t *e;
  mproc_barrier_t *b;
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_OK(mproc_rlock_new(&rl));
  ASSERT_OK(mproc_semaphore_new(&s, 1));
  ASSERT_OK(mproc_bounded_semaphore_new(&bs, 1));
  ASSERT_OK(mproc_condition_new(&c, NULL));
  ASSERT_OK(mproc_event_new(&e));
  ASSERT_OK(mproc_barrier_new(&b, 2, NULL, MPROC_FOREVER));
  mproc_process_t *p = t_start_one(t_use_everything, t_args("LLSSCEB", l, rl, s, bs, c, e, b));
  ASSERT_OK(mproc_event_wait(e, 30000));
  s_await_waiting(b, 1);
  t_kill_and_reap(p);
  mproc_barrier_free(b);
  mproc_event_free(e);
  mproc_condition_free(c);
  mproc_semaphore_free(bs);
  mproc_semaphore_free(s);
  mproc_lock_free(rl);
  mproc_lock_free(l);
  for (int i = 0; i < 500; i++) { /* freed blocks are reused, not piled up */
    ASSERT_OK(mproc_event_new(&e));
    mproc_event_free(e);
  }

  t_assert_nothing_left(fds, maps, shm);
#endif
}

/* --- fd exhaustion ------------------------------------------------------------------------- */

#ifndef _WIN32
#include <sys/resource.h>
#include <unistd.h>

/* With no fd left, making a new segment fails: every constructor reports MPROC_EMFILE and
 * leaves *out NULL; once fds are back, the same calls work. A fresh child has no segment of
 * its own yet (a fork child's inherited ones are not its to allocate from). */
static int t_no_fds_left(const mproc_args_t *a) {
  (void)a;
  int fill[64], n = 0; /* fill the fd table up to a limit just above what is open */
  struct rlimit old, lim;
  getrlimit(RLIMIT_NOFILE, &old);
  lim = old;
  lim.rlim_cur = (rlim_t)t_count_entries("/proc/self/fd") + 8;
  if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
    return 10;
  while (n < 64 && (fill[n] = dup(2)) >= 0)
    n++;
  mproc_lock_t *l = (mproc_lock_t *)&lim;
  mproc_semaphore_t *s = (mproc_semaphore_t *)&lim;
  mproc_event_t *e = (mproc_event_t *)&lim;
  int r1 = mproc_lock_new(&l), r2 = mproc_semaphore_new(&s, 1), r3 = mproc_event_new(&e);
  while (n > 0)
    close(fill[--n]);
  setrlimit(RLIMIT_NOFILE, &old);
  if (r1 != MPROC_EMFILE || r2 != MPROC_EMFILE || r3 != MPROC_EMFILE)
    return mproc_fail(11, "got %s %s %s", mproc_errname(r1), mproc_errname(r2), mproc_errname(r3));
  if (l != NULL || s != NULL || e != NULL)
    return 12;
  if (mproc_lock_new(&l) != 0 || mproc_lock_acquire(l, 0) != 0 || mproc_lock_release(l) != 0)
    return 13;
  mproc_lock_free(l);
  return 0;
}

TEST(fd_exhaustion, 60, POSIX_ALL) { ASSERT_EQ(t_join_code(t_start(t_no_fds_left, NULL)), 0); }
#endif

/* --- a record refused half-way ------------------------------------------------------------ */

#ifdef MPROC_STATIC /* reaches into the library's internals, which only a static build exposes */
#include "../src/heap.h"

/* A record whose block is too small for the object: the child side refuses it after it has
 * adopted the block (and, on Windows, duplicated the kernel handles) and must give all of that
 * back. The block lies in a segment of its own, which goes away with its last reference, so a
 * reference kept by the refused adoption keeps its handle open. */
static size_t refused_record(const mp_block *big, unsigned char *out, size_t cap) {
  mp_block small = *big;
  small.size = 1;
  mp_buf b;
  mproc__buf_init(&b);
  mproc__put_u8(&b, 1); /* one record */
  mproc__block_encode(&small, &b);
  mproc__put_u8(&b, MP_OBJ_MAX_HANDLES);
  for (int i = 0; i < MP_OBJ_MAX_HANDLES; i++)
    mproc__put_u64(&b, (uint64_t)(int64_t)OS_INVALID);
  size_t n = b.len <= cap ? b.len : 0;
  if (n)
    memcpy(out, b.data, n);
  mproc__buf_free(&b);
  return n;
}
#endif

TEST(adopt_refused_record_gives_back, 30, ONCE) {
#ifdef MPROC_STATIC
  /* One allocation first: handles the system or the library keep for the process after a
   * first use (under Wine the first segment leaves one more open) are not a leak of the
   * adoption, which is what this counts. */
  mp_block big;
  ASSERT_OK(mproc__heap_alloc((size_t)1 << 20, &big));
  mproc__heap_free(&big);
  int handles = t_count_handles();
  ASSERT_OK(mproc__heap_alloc((size_t)1 << 20, &big));
  unsigned char rec[256];
  size_t n = refused_record(&big, rec, sizeof rec);
  ASSERT_TRUE(n > 0);
  for (int kind = 0; kind < 3; kind++) {
    mp_rd r;
    mp_hmap hm;
    memset(&hm, 0, sizeof hm);
    mproc__rd_init(&r, rec, n);
    void *obj = NULL;
    int rc = kind == 0   ? mproc__lock_adopt(&r, &hm, (mproc_lock_t **)&obj)
             : kind == 1 ? mproc__semaphore_adopt(&r, &hm, (mproc_semaphore_t **)&obj)
                         : mproc__event_adopt(&r, &hm, (mproc_event_t **)&obj);
    ASSERT_RC(rc, MPROC_EPROTO);
    ASSERT_TRUE(obj == NULL);
  }
  mproc__heap_free(&big);
  ASSERT_EQ(t_count_handles(), handles); /* the segment went with its last reference */
#else
  t_skip("needs the library's internals (static build)");
#endif
}
