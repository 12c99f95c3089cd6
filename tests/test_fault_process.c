/* SPDX-License-Identifier: MIT */
/* Fault cases for the process area: kill the party that was woken or was to wake, at seeded random
 * moments, and check that nothing hangs, nothing acknowledged is lost, nothing is torn. */
#include "runner.h"
#include "../src/atomics.h"

#ifndef _WIN32
#include <signal.h>
#include <time.h>

static void sleep_us(int us) {
  struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0)
    ;
}
#endif

#ifndef _WIN32 /* the cases below are POSIX only (killed at random with SIGKILL) */
/* Arg 0: µs to sleep before taking the lock (arg 2), arg 1: code to return holding it. */
static int f_lock_and_return(const mproc_args_t *a) {
  sleep_us(t_int(a, 0));
  C_OK(mproc_lock_acquire(t_lock(a, 2), 0));
  return t_int(a, 1);
}

/* What stays for the life of the process once used (the forkserver, the shared heap's first
 * segment) is set up before the counts are taken. */
static void warm_up(void) {
  mproc_lock_t *l;
  ASSERT_OK(mproc_lock_new(&l));
  mproc_process_t *warm = t_start_one(t_target_return_arg, t_args("iL", 0, l));
  ASSERT_EQ(t_join_code(warm), 0);
  ASSERT_OK(mproc_process_close(warm));
  mproc_process_free(warm);
  mproc_lock_free(l);
}

/* One round: a child is killed (SIGKILL or the stop ladder) at a random moment of its life —
 * during bootstrap, as its target starts, in its target, while it exits — or exits first. The
 * parent never hangs; the exit status is exactly one of the two outcomes; a lock it held is handed
 * on; nothing is left. */
static void kill_round(int round) {
  mproc_lock_t *l;
  ASSERT_OK(mproc_lock_new(&l));
  int code = 10 + round % 100;
  mproc_process_t *p =
      t_start_one(f_lock_and_return, t_args("iiL", t_rand_range(0, 3000), code, l));
  int how = t_rand_range(0, 2);
  sleep_us(t_rand_range(0, 6000));
  if (how == 0)
    ASSERT_OK(mproc_process_kill(p));
  else if (how == 1)
    ASSERT_OK(mproc_process_stop(p, t_rand_range(0, 20)));
  ASSERT_OK(mproc_process_join(p, 30000));
  int got = 0;
  ASSERT_OK(mproc_process_exitcode(p, &got));
  if (how == 2 && got != code)
    t_fail(__FILE__, __LINE__, "round %d: exit %d, want %d", round, got, code);
  if (got != code && got != -9 && !(how == 1 && got == -15))
    t_fail(__FILE__, __LINE__, "round %d (how %d): exit %d: %s", round, how, got,
           mproc_process_error(p) ? mproc_process_error(p) : "");
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
  /* Whether it died before taking the lock, holding it, or returned holding it: never a hang. */
  int rc = mproc_lock_acquire(l, 20000);
  if (rc != 0 && rc != MPROC_EOWNERDEAD)
    t_fail(__FILE__, __LINE__, "round %d: acquire: %s", round, mproc_errname(rc));
  if (got == code && rc != MPROC_EOWNERDEAD)
    t_fail(__FILE__, __LINE__, "round %d: returned holding the lock, got %s", round,
           mproc_errname(rc));
  if (rc == MPROC_EOWNERDEAD)
    ASSERT_OK(mproc_lock_consistent(l));
  ASSERT_OK(mproc_lock_release(l));
  mproc_lock_free(l);
}
#endif

TEST(process_killed_at_random_points, 240, POSIX_ALL) {
#ifndef _WIN32
  t_fault_seed();
  int rounds = t_fault_rounds(30);
  warm_up();
  int fds = t_count_entries("/proc/self/fd"), maps = t_count_shared_maps();
  int shm = t_count_anonymous_shm_names();
  for (int r = 0; r < rounds; r++)
    kill_round(r);
  t_assert_nothing_left(fds, maps, shm);
#endif
}

/* Children freed while running and killed at random (detached), while the list is read from
 * another thread: each is reaped once, none is left. */
#ifndef _WIN32
static int g_reader_stop;
static void list_reader(void *arg) {
  (void)arg;
  size_t n;
  while (!MPROC__ATOMIC_LOAD(&g_reader_stop, MPROC__ATOMIC_RELAXED))
    mproc_active_children(NULL, 0, &n);
}
#endif

TEST(process_detached_killed_at_random, 240, POSIX_ALL) {
#ifndef _WIN32
  t_fault_seed();
  int rounds = t_fault_rounds(30);
  warm_up();
  int fds = t_count_entries("/proc/self/fd"), maps = t_count_shared_maps();
  int shm = t_count_anonymous_shm_names();
  MPROC__ATOMIC_STORE(&g_reader_stop, 0, MPROC__ATOMIC_RELAXED);
  t_thread *th = t_thread_start(list_reader, NULL);
  for (int r = 0; r < rounds; r++) {
    mproc_args_t *a;
    ASSERT_OK(mproc_args_build(&a, "l", (int64_t)t_rand_range(0, 5)));
    mproc_process_t *p;
    ASSERT_OK(mproc_process_new(&p, t_target_sleep_arg, a));
    mproc_args_free(a);
    ASSERT_OK(mproc_process_allow_fork_with_threads(p, 1));
    ASSERT_OK(mproc_process_start(p));
    sleep_us(t_rand_range(0, 4000));
    if (t_rand_range(0, 1))
      ASSERT_OK(mproc_process_kill(p));
    mproc_process_free(p);
  }
  /* Detached children are not listed: wait until their handles are gone (reaped). */
  for (int i = 0; i < 3000 && t_count_entries("/proc/self/fd") != fds; i++)
    t_sleep_ms(10);
  MPROC__ATOMIC_STORE(&g_reader_stop, 1, MPROC__ATOMIC_RELAXED);
  t_thread_join(th);
  t_assert_nothing_left(fds, maps, shm);
#endif
}
