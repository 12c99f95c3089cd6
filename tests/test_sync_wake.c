/* SPDX-License-Identifier: MIT */
/* Locks under contention and owner death, as the Windows lock (an owner word in shared memory,
 * waiters asleep on a semaphore and on the holder's thread) must handle them; the same cases
 * run on POSIX. */
#include "runner.h"

int s_value(const mproc_semaphore_t *s);

/* --- a holder killed while others wait ------------------------------------------------------ */

/* Takes the lock, says so, and holds it until killed. Args: lock, ready. */
static int w_hold_forever(const mproc_args_t *a) {
  C_OK(mproc_lock_acquire(t_lock(a, 0), 30000));
  C_OK(mproc_semaphore_release(t_sem(a, 1)));
  for (;;)
    t_sleep_ms(1000);
}

/* Says it is about to wait, then waits for the lock; the one that inherits it from the dead
 * holder posts `dead` and repairs it. Args: lock, waiting, dead, got. */
static int w_wait_lock(const mproc_args_t *a) {
  mproc_lock_t *l = t_lock(a, 0);
  C_OK(mproc_semaphore_release(t_sem(a, 1)));
  int rc = mproc_lock_acquire(l, 120000);
  C_TRUE(rc == 0 || rc == MPROC_EOWNERDEAD);
  if (rc == MPROC_EOWNERDEAD) {
    C_OK(mproc_semaphore_release(t_sem(a, 2)));
    C_OK(mproc_lock_consistent(l));
  }
  C_OK(mproc_semaphore_release(t_sem(a, 3)));
  C_OK(mproc_lock_release(l));
  return 0;
}

TEST(lock_holder_killed_while_three_wait, 120, ALL) {
  mproc_lock_t *l;
  mproc_semaphore_t *ready, *waiting, *dead, *got;
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_OK(mproc_semaphore_new(&ready, 0));
  ASSERT_OK(mproc_semaphore_new(&waiting, 0));
  ASSERT_OK(mproc_semaphore_new(&dead, 0));
  ASSERT_OK(mproc_semaphore_new(&got, 0));
  mproc_process_t *holder = t_start_one(w_hold_forever, t_args("LS", l, ready));
  ASSERT_OK(mproc_semaphore_acquire(ready, 60000));
  mproc_process_t *ws[3];
  t_start_n(ws, 3, w_wait_lock, t_args("LSSS", l, waiting, dead, got));
  for (int i = 0; i < 3; i++)
    ASSERT_OK(mproc_semaphore_acquire(waiting, 60000));
  t_sleep_ms(200); /* most likely asleep in the acquire by now; either way one inherits */
  ASSERT_EQ(s_value(got), 0);
  t_kill_and_reap(holder);
  t_finish_n(ws, 3);
  ASSERT_EQ(s_value(dead), 1); /* exactly one heard of the death */
  ASSERT_EQ(s_value(got), 3);
  ASSERT_OK(mproc_lock_acquire(l, 0)); /* repaired and free */
  ASSERT_OK(mproc_lock_release(l));
  mproc_semaphore_free(ready);
  mproc_semaphore_free(waiting);
  mproc_semaphore_free(dead);
  mproc_semaphore_free(got);
  mproc_lock_free(l);
}

/* --- exact counting under an RLock ------------------------------------------------------------ */

#define RCOUNT_CHILDREN 4
#define RCOUNT_EACH 5000

/* A plain read, then a plain write of the value plus one, with the RLock held twice over: only
 * mutual exclusion keeps every increment. Args: value (raw, no lock of its own), rlock, go. */
static int w_count_rlock(const mproc_args_t *a) {
  mproc_value_t *v = t_value(a, 0);
  mproc_lock_t *l = t_lock(a, 1);
  C_OK(mproc_event_wait(t_event(a, 2), 30000));
  for (int i = 0; i < RCOUNT_EACH; i++) {
    int64_t x = 0;
    C_OK(mproc_lock_acquire(l, MPROC_FOREVER));
    C_OK(mproc_lock_acquire(l, MPROC_FOREVER));
    C_OK(mproc_value_get(v, &x));
    x += 1;
    C_OK(mproc_value_set(v, &x));
    C_OK(mproc_lock_release(l));
    C_OK(mproc_lock_release(l));
  }
  return 0;
}

TEST(rlock_contended_counts_exactly, 240, ALL) {
  mproc_value_t *v;
  mproc_lock_t *l;
  mproc_event_t *go;
  const int64_t zero = 0;
  ASSERT_OK(mproc_raw_value_new(&v, 'q', &zero));
  ASSERT_OK(mproc_rlock_new(&l));
  ASSERT_OK(mproc_event_new(&go));
  mproc_process_t *ps[RCOUNT_CHILDREN];
  t_start_n(ps, RCOUNT_CHILDREN, w_count_rlock, t_args("VLE", v, l, go));
  ASSERT_OK(mproc_event_set(go));
  for (int i = 0; i < RCOUNT_CHILDREN; i++)
    t_finish_ms(ps[i], 180000);
  int64_t x = -1;
  ASSERT_OK(mproc_value_get(v, &x));
  ASSERT_EQ(x, RCOUNT_CHILDREN * RCOUNT_EACH);
  mproc_event_free(go);
  mproc_lock_free(l);
  mproc_value_free(v);
}
