/* SPDX-License-Identifier: MIT */
/* Synchronization: Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event, Barrier — error
 * rules, timeouts, and each object shared between processes. Objects reach children as process
 * arguments, so every ALL case also exercises that crossing under each start method. Owner
 * death, killed waiters and leak checks are in test_sync_life.c, which uses the helpers below
 * (s_*, non-static for that reason). Python's multiprocessing is the reference for semantics. */
#include "runner.h"

/* --- helpers shared with test_sync_life.c ------------------------------------------------ */

int s_value(const mproc_semaphore_t *s) {
  int v = -1;
  ASSERT_OK(mproc_semaphore_get_value(s, &v));
  return v;
}

/* Waits until n parties wait at the barrier (20 s cap). */
void s_await_waiting(const mproc_barrier_t *b, unsigned n) {
  for (int i = 0; i < 4000 && mproc_barrier_n_waiting(b) != n; i++)
    t_sleep_ms(5);
  ASSERT_EQ(mproc_barrier_n_waiting(b), n);
}

/* Takes the lock `depth` times, posts `holding`, waits up to 60 s for `done`, releases. Args:
 * lock, holding, done, depth. The owner-death cases kill it while it waits. */
int s_target_hold_lock(const mproc_args_t *a) {
  mproc_lock_t *l = t_lock(a, 0);
  int depth = t_int(a, 3);
  for (int i = 0; i < depth; i++)
    C_OK(mproc_lock_acquire(l, 30000));
  C_OK(mproc_semaphore_release(t_sem(a, 1)));
  C_OK(mproc_event_wait(t_event(a, 2), 60000));
  for (int i = 0; i < depth; i++)
    C_OK(mproc_lock_release(l));
  return 0;
}

/* Exit 0 if it could take the lock at once (and gave it back), 1 if the lock was busy. */
int s_target_try_lock(const mproc_args_t *a) {
  mproc_lock_t *l = t_lock(a, 0);
  int rc = mproc_lock_acquire(l, 0);
  if (rc == MPROC_ETIMEDOUT)
    return 1;
  C_OK(rc);
  C_OK(mproc_lock_release(l));
  return 0;
}

/* 1 if a child process can take the lock at once, 0 if it is busy. */
int s_child_can_lock(mproc_lock_t *l) {
  mproc_process_t *p = t_start_one(s_target_try_lock, t_args("L", l));
  int code = t_join_code(p);
  if (code != 0 && code != 1)
    t_fail(__FILE__, __LINE__, "try_lock child exit %d: %s", code,
           mproc_process_error(p) ? mproc_process_error(p) : "");
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
  return code == 0;
}

/* Condition waiter: under the lock posts `ready` and waits (so whoever gets the lock after
 * collecting the permit knows this process is inside wait); when notified posts `woken`.
 * Args: condition, ready, woken. */
int s_target_cond_waiter(const mproc_args_t *a) {
  mproc_condition_t *c = t_cond(a, 0);
  C_OK(mproc_condition_acquire(c, 30000));
  C_OK(mproc_semaphore_release(t_sem(a, 1)));
  C_OK(mproc_condition_wait(c, 60000));
  C_OK(mproc_semaphore_release(t_sem(a, 2)));
  C_OK(mproc_condition_release(c));
  return 0;
}

/* --- Lock: many processes, one counter --------------------------------------------------- */

/* The shared integer is a Semaphore's value: under the lock a child reads it and adds one.
 * Release is atomic by itself, so the final total alone would prove little; what only the lock
 * guarantees is that nobody changed the value between the read and the add. */
#ifdef _WIN32
#define COUNTER_PER_CHILD 20000 /* every cycle is several kernel-object calls, slow under Wine */
#else
#define COUNTER_PER_CHILD 100000
#endif
#define COUNTER_CHILDREN 10

/* Args: lock, counter, go (all children start counting together, so they contend). */
static int t_count_under_lock(const mproc_args_t *a) {
  mproc_lock_t *l = t_lock(a, 0);
  mproc_semaphore_t *n = t_sem(a, 1);
  C_OK(mproc_event_wait(t_event(a, 2), 30000));
  for (int i = 0; i < COUNTER_PER_CHILD; i++) {
    int before = -1, after = -1;
    C_OK(mproc_lock_acquire(l, MPROC_FOREVER));
    C_OK(mproc_semaphore_get_value(n, &before));
    C_OK(mproc_semaphore_release(n));
    C_OK(mproc_semaphore_get_value(n, &after));
    C_OK(mproc_lock_release(l));
    if (after != before + 1)
      return mproc_fail(3, "iteration %d: read %d, then %d after adding one", i, before, after);
  }
  return 0;
}

/* t_finish with a longer join cap than t_join_code's 30 s: all the counting happens while the
 * first child is joined, and with every CPU busy (a loaded CI machine; under Wine each cycle is
 * several wineserver round trips) it was seen to take 35-55 s instead of 6. The case's own
 * timeout still catches a hang. */
static void finish_counters(mproc_process_t **ps, int n) {
  for (int i = 0; i < n; i++) {
    int code = -1;
    ASSERT_OK(mproc_process_join(ps[i], 180000));
    ASSERT_OK(mproc_process_exitcode(ps[i], &code));
    if (code != 0)
      t_fail(__FILE__, __LINE__, "child exit %d: %s", code,
             mproc_process_error(ps[i]) ? mproc_process_error(ps[i]) : "(no message)");
    ASSERT_OK(mproc_process_close(ps[i]));
    mproc_process_free(ps[i]);
  }
}

TEST(lock_counter, 240, ALL) {
  mproc_lock_t *l;
  mproc_semaphore_t *n;
  mproc_event_t *go;
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_OK(mproc_semaphore_new(&n, 0));
  ASSERT_OK(mproc_event_new(&go));
  mproc_process_t *ps[COUNTER_CHILDREN];
  t_start_n(ps, COUNTER_CHILDREN, t_count_under_lock, t_args("LSE", l, n, go));
  ASSERT_OK(mproc_event_set(go));
  finish_counters(ps, COUNTER_CHILDREN);
  ASSERT_EQ(s_value(n), COUNTER_CHILDREN * COUNTER_PER_CHILD);
  mproc_event_free(go);
  mproc_semaphore_free(n);
  mproc_lock_free(l);
}

static int t_print_under_lock(const mproc_args_t *a) {
  int rc;
  MPROC_WITH_LOCK(t_lock(a, 0), rc) {
    printf("hello world %lld\n", (long long)mproc_current_pid());
    fflush(stdout);
  }
  C_OK(rc);
  return 0;
}

TEST(print_under_lock, 60, ALL) {
  mproc_lock_t *l;
  ASSERT_OK(mproc_lock_new(&l));
  fflush(stdout);
  mproc_process_t *ps[10];
  t_start_n(ps, 10, t_print_under_lock, t_args("L", l));
  t_finish_n(ps, 10);
  ASSERT_EQ(mproc_lock_is_mine(l), 0);
  mproc_lock_free(l);
}

/* --- error rules ------------------------------------------------------------------------- */

TEST(lock_errors, 30, ONCE) {
  mproc_lock_t *l;
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_EQ(mproc_lock_is_recursive(l), 0);
  ASSERT_EQ(mproc_lock_is_mine(l), 0);
  ASSERT_RC(mproc_lock_release(l), MPROC_EOVERRELEASE);
  ASSERT_OK(mproc_lock_acquire(l, 0));
  ASSERT_EQ(mproc_lock_is_mine(l), 1);
  ASSERT_RC(mproc_lock_acquire(l, 0), MPROC_ETIMEDOUT); /* Python: acquire(False) is False */
  ASSERT_RC(mproc_lock_acquire(l, MPROC_FOREVER), MPROC_EDEADLK);
  ASSERT_RC(mproc_lock_acquire(l, 100), MPROC_EDEADLK);
  ASSERT_RC(mproc_lock_acquire(l, -2), MPROC_EINVAL);
  ASSERT_EQ(mproc_lock_is_mine(l), 1); /* still held once: one release frees it */
  ASSERT_OK(mproc_lock_release(l));
  ASSERT_EQ(mproc_lock_is_mine(l), 0);
  ASSERT_RC(mproc_lock_release(l), MPROC_EOVERRELEASE);
  ASSERT_OK(mproc_lock_acquire(l, MPROC_FOREVER));
  ASSERT_OK(mproc_lock_release(l));
  mproc_lock_free(l);
}

TEST(rlock_errors, 30, ONCE) {
  mproc_lock_t *l;
  ASSERT_OK(mproc_rlock_new(&l));
  ASSERT_EQ(mproc_lock_is_recursive(l), 1);
  ASSERT_RC(mproc_lock_release(l), MPROC_EOVERRELEASE);
  ASSERT_OK(mproc_lock_acquire(l, MPROC_FOREVER));
  ASSERT_OK(mproc_lock_acquire(l, 0));
  ASSERT_OK(mproc_lock_acquire(l, 100));
  ASSERT_OK(mproc_lock_release(l));
  ASSERT_OK(mproc_lock_release(l));
  ASSERT_EQ(mproc_lock_is_mine(l), 1);
  ASSERT_OK(mproc_lock_release(l));
  ASSERT_EQ(mproc_lock_is_mine(l), 0);
  ASSERT_RC(mproc_lock_release(l), MPROC_EOVERRELEASE);
  ASSERT_OK(mproc_lock_acquire(l, 0)); /* the failed release changed nothing */
  ASSERT_OK(mproc_lock_release(l));
  mproc_lock_free(l);
}

/* Another thread of the same process may neither release the lock nor take it. */
static void other_thread_checks(void *arg) {
  mproc_lock_t *l = arg;
  ASSERT_EQ(mproc_lock_is_mine(l), 0);
  ASSERT_RC(mproc_lock_release(l), MPROC_ENOTOWNER);
  ASSERT_RC(mproc_lock_acquire(l, 0), MPROC_ETIMEDOUT);
  ASSERT_TIMES_OUT(mproc_lock_acquire(l, 100), 100);
}

TEST(release_by_other_thread, 30, ONCE) {
  mproc_lock_t *locks[2];
  ASSERT_OK(mproc_lock_new(&locks[0]));
  ASSERT_OK(mproc_rlock_new(&locks[1]));
  for (int i = 0; i < 2; i++) {
    ASSERT_OK(mproc_lock_acquire(locks[i], 0));
    t_thread_join(t_thread_start(other_thread_checks, locks[i]));
    ASSERT_EQ(mproc_lock_is_mine(locks[i]), 1); /* still held after the refused release */
    ASSERT_OK(mproc_lock_release(locks[i]));
    ASSERT_RC(mproc_lock_release(locks[i]), MPROC_EOVERRELEASE);
    mproc_lock_free(locks[i]);
  }
}

TEST(semaphore_rules, 30, ONCE) {
  mproc_semaphore_t *s;
  ASSERT_OK(mproc_semaphore_new(&s, 3));
  ASSERT_EQ(s_value(s), 3);
  for (int i = 0; i < 3; i++)
    ASSERT_OK(mproc_semaphore_acquire(s, 0));
  ASSERT_EQ(s_value(s), 0);
  ASSERT_RC(mproc_semaphore_acquire(s, 0), MPROC_ETIMEDOUT);
  ASSERT_OK(mproc_semaphore_release(s));
  ASSERT_EQ(s_value(s), 1);
  for (int i = 0; i < 5; i++) /* a plain Semaphore may go above its initial value */
    ASSERT_OK(mproc_semaphore_release(s));
  ASSERT_EQ(s_value(s), 6);
  ASSERT_RC(mproc_semaphore_acquire(s, -2), MPROC_EINVAL);
  mproc_semaphore_free(s);

  ASSERT_OK(mproc_semaphore_new(&s, MPROC_SEMAPHORE_MAX));
  ASSERT_RC(mproc_semaphore_release(s), MPROC_ERANGE);
  ASSERT_EQ(s_value(s), MPROC_SEMAPHORE_MAX);
  mproc_semaphore_free(s);
  s = (mproc_semaphore_t *)&s;
  int rc = mproc_semaphore_new(&s, (unsigned)MPROC_SEMAPHORE_MAX + 1u);
  ASSERT_TRUE(rc == MPROC_EINVAL || rc == MPROC_ERANGE);
  ASSERT_TRUE(s == NULL);
}

TEST(bounded_semaphore_rules, 30, ONCE) {
  mproc_semaphore_t *s;
  ASSERT_OK(mproc_bounded_semaphore_new(&s, 2));
  ASSERT_RC(mproc_semaphore_release(s), MPROC_EOVERRELEASE);
  ASSERT_EQ(s_value(s), 2); /* unchanged, as in Python */
  ASSERT_OK(mproc_semaphore_acquire(s, 0));
  ASSERT_EQ(s_value(s), 1);
  ASSERT_OK(mproc_semaphore_release(s));
  ASSERT_RC(mproc_semaphore_release(s), MPROC_EOVERRELEASE);
  ASSERT_EQ(s_value(s), 2);
  mproc_semaphore_free(s);
  ASSERT_OK(mproc_bounded_semaphore_new(&s, 0));
  ASSERT_RC(mproc_semaphore_release(s), MPROC_EOVERRELEASE);
  ASSERT_EQ(s_value(s), 0);
  mproc_semaphore_free(s);
}

TEST(condition_needs_lock, 30, ONCE) {
  mproc_lock_t *l;
  mproc_condition_t *c;
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_OK(mproc_condition_new(&c, l));
  ASSERT_TRUE(mproc_condition_lock(c) == l);
  ASSERT_RC(mproc_condition_wait(c, 0), MPROC_ENOTOWNER);
  ASSERT_RC(mproc_condition_wait(c, 100), MPROC_ENOTOWNER);
  ASSERT_RC(mproc_condition_notify(c, 1), MPROC_ENOTOWNER);
  ASSERT_RC(mproc_condition_notify_all(c), MPROC_ENOTOWNER);
  ASSERT_RC(mproc_condition_release(c), MPROC_EOVERRELEASE);
  ASSERT_OK(mproc_condition_acquire(c, 0));
  ASSERT_EQ(mproc_lock_is_mine(l), 1); /* the condition's lock is the one given */
  ASSERT_OK(mproc_condition_notify(c, 1)); /* nobody waits: nothing happens */
  ASSERT_OK(mproc_condition_notify_all(c));
  ASSERT_OK(mproc_lock_release(l));
  mproc_condition_free(c); /* the condition first, then the lock it does not own */
  mproc_lock_free(l);

  ASSERT_OK(mproc_condition_new(&c, NULL)); /* Python: Condition() makes an RLock */
  ASSERT_TRUE(mproc_condition_lock(c) != NULL);
  ASSERT_EQ(mproc_lock_is_recursive(mproc_condition_lock(c)), 1);
  ASSERT_RC(mproc_condition_notify(c, 1), MPROC_ENOTOWNER);
  mproc_condition_free(c);
}

static int always(void *ctx) {
  (void)ctx;
  return 1;
}

TEST(null_handles, 30, ONCE) {
  mproc_lock_t *l = (mproc_lock_t *)&l; /* non-NULL junk: a failed constructor sets NULL */
  mproc_barrier_t *b = (mproc_barrier_t *)&b;
  int v;
  ASSERT_RC(mproc_lock_new(NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_rlock_new(NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_semaphore_new(NULL, 1), MPROC_EINVAL);
  ASSERT_RC(mproc_bounded_semaphore_new(NULL, 1), MPROC_EINVAL);
  ASSERT_RC(mproc_condition_new(NULL, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_event_new(NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_barrier_new(NULL, 2, NULL, MPROC_FOREVER), MPROC_EINVAL);
  ASSERT_RC(mproc_barrier_new(&b, 0, NULL, MPROC_FOREVER), MPROC_EINVAL);
  ASSERT_TRUE(b == NULL);
  b = (mproc_barrier_t *)&b;
  ASSERT_RC(mproc_barrier_new(&b, 2, NULL, -5), MPROC_EINVAL);
  ASSERT_TRUE(b == NULL);

  ASSERT_RC(mproc_lock_acquire(NULL, 0), MPROC_EINVAL);
  ASSERT_RC(mproc_lock_release(NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_lock_consistent(NULL), MPROC_EINVAL);
  ASSERT_TRUE(mproc_lock_is_mine(NULL) < 0);
  ASSERT_TRUE(mproc_lock_is_recursive(NULL) < 0);
  ASSERT_RC(mproc_semaphore_acquire(NULL, 0), MPROC_EINVAL);
  ASSERT_RC(mproc_semaphore_release(NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_semaphore_get_value(NULL, &v), MPROC_EINVAL);
  ASSERT_TRUE(mproc_condition_lock(NULL) == NULL);
  ASSERT_RC(mproc_condition_acquire(NULL, 0), MPROC_EINVAL);
  ASSERT_RC(mproc_condition_release(NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_condition_wait(NULL, 0), MPROC_EINVAL);
  ASSERT_RC(mproc_condition_wait_for(NULL, always, NULL, 0), MPROC_EINVAL);
  ASSERT_RC(mproc_condition_notify(NULL, 1), MPROC_EINVAL);
  ASSERT_RC(mproc_condition_notify_all(NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_event_set(NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_event_clear(NULL), MPROC_EINVAL);
  ASSERT_TRUE(mproc_event_is_set(NULL) < 0);
  ASSERT_RC(mproc_event_wait(NULL, 0), MPROC_EINVAL);
  ASSERT_RC(mproc_barrier_wait(NULL, 0, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_barrier_reset(NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_barrier_abort(NULL), MPROC_EINVAL);
  ASSERT_TRUE(mproc_barrier_broken(NULL) < 0);

  ASSERT_OK(mproc_lock_new(&l));
  mproc_semaphore_t *s;
  mproc_condition_t *c;
  ASSERT_OK(mproc_semaphore_new(&s, 0));
  ASSERT_OK(mproc_condition_new(&c, l));
  ASSERT_RC(mproc_semaphore_get_value(s, NULL), MPROC_EINVAL);
  ASSERT_OK(mproc_condition_acquire(c, 0));
  ASSERT_RC(mproc_condition_wait_for(c, NULL, NULL, 0), MPROC_EINVAL);
  ASSERT_OK(mproc_condition_release(c));
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_RC(mproc_args_add_lock(a, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_args_add_semaphore(a, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_args_add_condition(a, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_args_add_event(a, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_args_add_barrier(a, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_args_add_lock(NULL, l), MPROC_EINVAL);
  ASSERT_EQ(mproc_args_count(a), 0);
  mproc_args_free(a);
  mproc_condition_free(c);
  mproc_semaphore_free(s);
  mproc_lock_free(l);

  mproc_lock_free(NULL); /* _free(NULL) is a no-op, like free() */
  mproc_semaphore_free(NULL);
  mproc_condition_free(NULL);
  mproc_event_free(NULL);
  mproc_barrier_free(NULL);
}

TEST(args_types, 30, ONCE) {
  mproc_lock_t *l;
  mproc_semaphore_t *s;
  mproc_condition_t *c;
  mproc_event_t *e;
  mproc_barrier_t *b;
  ASSERT_OK(mproc_rlock_new(&l));
  ASSERT_OK(mproc_semaphore_new(&s, 1));
  ASSERT_OK(mproc_condition_new(&c, NULL));
  ASSERT_OK(mproc_event_new(&e));
  ASSERT_OK(mproc_barrier_new(&b, 2, NULL, MPROC_FOREVER));
  mproc_args_t *a = t_args("LSCEBi", l, s, c, e, b, 7);
  ASSERT_EQ(mproc_args_count(a), 6);
  ASSERT_EQ(mproc_args_type(a, 0), MPROC_ARG_LOCK);
  ASSERT_EQ(mproc_args_type(a, 1), MPROC_ARG_SEMAPHORE);
  ASSERT_EQ(mproc_args_type(a, 2), MPROC_ARG_CONDITION);
  ASSERT_EQ(mproc_args_type(a, 3), MPROC_ARG_EVENT);
  ASSERT_EQ(mproc_args_type(a, 4), MPROC_ARG_BARRIER);
  mproc_lock_t *lo;
  mproc_semaphore_t *so;
  mproc_barrier_t *bo;
  ASSERT_RC(mproc_args_get_lock(a, 1, &lo), MPROC_ETYPE);
  ASSERT_RC(mproc_args_get_semaphore(a, 0, &so), MPROC_ETYPE);
  ASSERT_RC(mproc_args_get_barrier(a, 5, &bo), MPROC_ETYPE);
  ASSERT_RC(mproc_args_get_lock(a, 6, &lo), MPROC_ERANGE);
  int64_t i;
  ASSERT_RC(mproc_args_get_int(a, 0, &i), MPROC_ETYPE);
  mproc_args_free(a);
  mproc_barrier_free(b);
  mproc_event_free(e);
  mproc_condition_free(c);
  mproc_semaphore_free(s);
  mproc_lock_free(l);
}

/* --- timeouts ---------------------------------------------------------------------------- */

TEST(lock_timeout_between_processes, 60, ALL) {
  mproc_lock_t *l;
  mproc_semaphore_t *holding;
  mproc_event_t *done;
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_OK(mproc_semaphore_new(&holding, 0));
  ASSERT_OK(mproc_event_new(&done));
  mproc_process_t *p = t_start_one(s_target_hold_lock, t_args("LSEi", l, holding, done, 1));
  ASSERT_OK(mproc_semaphore_acquire(holding, 30000));
  ASSERT_TIMES_OUT(mproc_lock_acquire(l, 200), 200);
  ASSERT_RC(mproc_lock_acquire(l, 0), MPROC_ETIMEDOUT);
  ASSERT_EQ(mproc_lock_is_mine(l), 0);
  ASSERT_RC(mproc_lock_release(l), MPROC_ENOTOWNER); /* the holder is another process */
  ASSERT_OK(mproc_event_set(done));
  ASSERT_OK(mproc_lock_acquire(l, 30000));
  ASSERT_OK(mproc_lock_release(l));
  t_finish(p);
  mproc_event_free(done);
  mproc_semaphore_free(holding);
  mproc_lock_free(l);
}

/* A child finds the parent's held Lock and RLock not its own: it may neither release them
 * nor take them again (under fork the child starts as a copy of the holding thread, so it must
 * not keep that thread's owner token). Exit 0 when every check holds. */
int s_target_not_owner(const mproc_args_t *a) {
  for (int i = 0; i < 2; i++) {
    mproc_lock_t *l = t_lock(a, i);
    C_EQ(mproc_lock_is_mine(l), 0);
    C_RC(mproc_lock_release(l), MPROC_ENOTOWNER);
    C_RC(mproc_lock_acquire(l, 0), MPROC_ETIMEDOUT);
    C_RC(mproc_lock_acquire(l, 50), MPROC_ETIMEDOUT);
  }
  return 0;
}

TEST(held_lock_not_the_childs, 60, ALL) {
  mproc_lock_t *l, *rl;
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_OK(mproc_rlock_new(&rl));
  ASSERT_OK(mproc_lock_acquire(l, 0));
  ASSERT_OK(mproc_lock_acquire(rl, 0));
  ASSERT_OK(mproc_lock_acquire(rl, 0));
  t_finish(t_start_one(s_target_not_owner, t_args("LL", l, rl)));
  ASSERT_EQ(mproc_lock_is_mine(l), 1); /* the child's tries changed nothing */
  ASSERT_OK(mproc_lock_release(rl));
  ASSERT_EQ(mproc_lock_is_mine(rl), 1);
  ASSERT_OK(mproc_lock_release(rl));
  ASSERT_OK(mproc_lock_release(l));
  ASSERT_RC(mproc_lock_release(l), MPROC_EOVERRELEASE);
  ASSERT_RC(mproc_lock_release(rl), MPROC_EOVERRELEASE);
  mproc_lock_free(rl);
  mproc_lock_free(l);
}

TEST(semaphore_timeout, 30, ONCE) {
  mproc_semaphore_t *s;
  ASSERT_OK(mproc_semaphore_new(&s, 0));
  ASSERT_TIMES_OUT(mproc_semaphore_acquire(s, 200), 200);
  ASSERT_RC(mproc_semaphore_acquire(s, 0), MPROC_ETIMEDOUT);
  ASSERT_EQ(s_value(s), 0);
  mproc_semaphore_free(s);
}

TEST(event_rules_and_timeout, 30, ONCE) {
  mproc_event_t *e;
  ASSERT_OK(mproc_event_new(&e));
  ASSERT_EQ(mproc_event_is_set(e), 0);
  ASSERT_RC(mproc_event_wait(e, 0), MPROC_ETIMEDOUT);
  ASSERT_TIMES_OUT(mproc_event_wait(e, 200), 200);
  ASSERT_OK(mproc_event_set(e));
  ASSERT_OK(mproc_event_set(e));
  ASSERT_EQ(mproc_event_is_set(e), 1);
  ASSERT_OK(mproc_event_wait(e, 0));
  ASSERT_OK(mproc_event_wait(e, MPROC_FOREVER)); /* stays set: every wait passes */
  ASSERT_OK(mproc_event_clear(e));
  ASSERT_OK(mproc_event_clear(e));
  ASSERT_EQ(mproc_event_is_set(e), 0);
  ASSERT_RC(mproc_event_wait(e, 0), MPROC_ETIMEDOUT);
  ASSERT_RC(mproc_event_wait(e, -2), MPROC_EINVAL);
  mproc_event_free(e);
}

static int g_flag;
static int flag_is_set(void *ctx) { return *(int *)ctx != 0; }

TEST(condition_wait_timeout, 30, ONCE) {
  mproc_lock_t *l;
  mproc_condition_t *c;
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_OK(mproc_condition_new(&c, l));
  ASSERT_OK(mproc_condition_acquire(c, 0));
  ASSERT_TIMES_OUT(mproc_condition_wait(c, 200), 200);
  ASSERT_EQ(mproc_lock_is_mine(l), 1); /* held again after the timeout */
  g_flag = 0;
  ASSERT_TIMES_OUT(mproc_condition_wait_for(c, flag_is_set, &g_flag, 200), 200);
  ASSERT_EQ(mproc_lock_is_mine(l), 1);
  ASSERT_OK(mproc_condition_wait_for(c, always, NULL, 0)); /* already true: no wait */
  /* Notifications are not stored: a notify with no waiter wakes no later wait. */
  ASSERT_OK(mproc_condition_notify(c, 5));
  ASSERT_OK(mproc_condition_notify_all(c));
  ASSERT_RC(mproc_condition_wait(c, 100), MPROC_ETIMEDOUT);
  ASSERT_RC(mproc_condition_wait(c, -2), MPROC_EINVAL);
  ASSERT_OK(mproc_condition_release(c));
  ASSERT_EQ(mproc_lock_is_mine(l), 0);
  mproc_condition_free(c);
  mproc_lock_free(l);

  /* Over an RLock taken 3 times: the timeout gives all 3 levels back. */
  ASSERT_OK(mproc_condition_new(&c, NULL));
  for (int i = 0; i < 3; i++)
    ASSERT_OK(mproc_condition_acquire(c, 0));
  ASSERT_TIMES_OUT(mproc_condition_wait(c, 200), 200);
  for (int i = 0; i < 3; i++)
    ASSERT_OK(mproc_condition_release(c));
  ASSERT_RC(mproc_condition_release(c), MPROC_EOVERRELEASE);
  mproc_condition_free(c);
}

/* While the main thread waits holding the RLock 3 times, this thread must get the lock. */
static void notify_from_thread(void *arg) {
  mproc_condition_t *c = arg;
  ASSERT_OK(mproc_condition_acquire(c, 10000));
  g_flag = 1;
  ASSERT_OK(mproc_condition_notify(c, 1));
  ASSERT_OK(mproc_condition_release(c));
}

TEST(condition_wait_releases_every_level, 30, ONCE) {
  mproc_condition_t *c;
  ASSERT_OK(mproc_condition_new(&c, NULL));
  for (int i = 0; i < 3; i++)
    ASSERT_OK(mproc_condition_acquire(c, 0));
  g_flag = 0;
  t_thread *t = t_thread_start(notify_from_thread, c);
  ASSERT_OK(mproc_condition_wait(c, 10000)); /* 0 means notified: no spurious wake-ups */
  ASSERT_EQ(g_flag, 1);
  ASSERT_EQ(mproc_lock_is_mine(mproc_condition_lock(c)), 1);
  for (int i = 0; i < 3; i++)
    ASSERT_OK(mproc_condition_release(c));
  ASSERT_RC(mproc_condition_release(c), MPROC_EOVERRELEASE);
  t_thread_join(t);
  mproc_condition_free(c);
}

/* --- RLock and Semaphore across processes ------------------------------------------------ */

TEST(rlock_depth_1000, 60, ALL) {
  mproc_lock_t *l;
  ASSERT_OK(mproc_rlock_new(&l));
  for (int i = 0; i < 1000; i++)
    ASSERT_OK(mproc_lock_acquire(l, 0));
  ASSERT_EQ(s_child_can_lock(l), 0);
  for (int i = 0; i < 999; i++)
    ASSERT_OK(mproc_lock_release(l));
  ASSERT_EQ(mproc_lock_is_mine(l), 1);
  ASSERT_EQ(s_child_can_lock(l), 0); /* one level left: still ours */
  ASSERT_OK(mproc_lock_release(l));
  ASSERT_EQ(mproc_lock_is_mine(l), 0);
  ASSERT_RC(mproc_lock_release(l), MPROC_EOVERRELEASE);
  ASSERT_EQ(s_child_can_lock(l), 1);
  mproc_lock_free(l);
}

/* Waits for `go`, then releases the semaphore once. Args: semaphore, go. */
static int t_release_on_go(const mproc_args_t *a) {
  C_OK(mproc_event_wait(t_event(a, 1), 30000));
  C_OK(mproc_semaphore_release(t_sem(a, 0)));
  return 0;
}

TEST(semaphore_zero_blocks_until_release, 60, ALL) {
  mproc_semaphore_t *s;
  mproc_event_t *go;
  ASSERT_OK(mproc_semaphore_new(&s, 0));
  ASSERT_OK(mproc_event_new(&go));
  mproc_process_t *p = t_start_one(t_release_on_go, t_args("SE", s, go));
  ASSERT_TIMES_OUT(mproc_semaphore_acquire(s, 200), 200);
  ASSERT_OK(mproc_event_set(go));
  ASSERT_OK(mproc_semaphore_acquire(s, 30000));
  ASSERT_EQ(s_value(s), 0);
  t_finish(p);
  mproc_event_free(go);
  mproc_semaphore_free(s);
}

/* Reads the value the parent left (arg 1) and takes that many permits. */
static int t_drain(const mproc_args_t *a) {
  mproc_semaphore_t *s = t_sem(a, 0);
  int v = -1;
  C_OK(mproc_semaphore_get_value(s, &v));
  C_TRUE(v == t_int(a, 1));
  for (int i = 0; i < v; i++)
    C_OK(mproc_semaphore_acquire(s, 0));
  C_RC(mproc_semaphore_acquire(s, 0), MPROC_ETIMEDOUT);
  return 0;
}

TEST(semaphore_value_shared, 60, ALL) {
  mproc_semaphore_t *s;
  ASSERT_OK(mproc_bounded_semaphore_new(&s, 5));
  ASSERT_OK(mproc_semaphore_acquire(s, 0));
  t_finish(t_start_one(t_drain, t_args("Si", s, 4)));
  ASSERT_EQ(s_value(s), 0);
  for (int i = 0; i < 5; i++) /* a bound that counts the child's acquires as well */
    ASSERT_OK(mproc_semaphore_release(s));
  ASSERT_RC(mproc_semaphore_release(s), MPROC_EOVERRELEASE);
  mproc_semaphore_free(s);
}

/* --- Condition across processes ---------------------------------------------------------- */

#define PC_ITEMS 500 /* per producer, and per consumer */
#define PC_CAPACITY 4

static int has_item(void *ctx) {
  int v = 0;
  mproc_semaphore_get_value(ctx, &v);
  return v > 0;
}

static int has_room(void *ctx) {
  int v = PC_CAPACITY;
  mproc_semaphore_get_value(ctx, &v);
  return v < PC_CAPACITY;
}

/* A bounded buffer whose fill level is the semaphore `items`, changed only under the lock.
 * Args: condition, items, consumed. */
static int t_producer(const mproc_args_t *a) {
  mproc_condition_t *c = t_cond(a, 0);
  mproc_semaphore_t *items = t_sem(a, 1);
  for (int i = 0; i < PC_ITEMS; i++) {
    C_OK(mproc_condition_acquire(c, 30000));
    C_OK(mproc_condition_wait_for(c, has_room, items, 30000));
    C_OK(mproc_semaphore_release(items));
    C_OK(mproc_condition_notify_all(c)); /* consumers and producers share one condition */
    C_OK(mproc_condition_release(c));
  }
  return 0;
}

static int t_consumer(const mproc_args_t *a) {
  mproc_condition_t *c = t_cond(a, 0);
  mproc_semaphore_t *items = t_sem(a, 1);
  for (int i = 0; i < PC_ITEMS; i++) {
    C_OK(mproc_condition_acquire(c, 30000));
    C_OK(mproc_condition_wait_for(c, has_item, items, 30000));
    C_OK(mproc_semaphore_acquire(items, 0)); /* the predicate held under the lock */
    C_OK(mproc_condition_notify_all(c));
    C_OK(mproc_condition_release(c));
    C_OK(mproc_semaphore_release(t_sem(a, 2)));
  }
  return 0;
}

TEST(condition_producer_consumer, 120, ALL) {
  mproc_condition_t *c;
  mproc_semaphore_t *items, *consumed;
  ASSERT_OK(mproc_condition_new(&c, NULL));
  ASSERT_OK(mproc_semaphore_new(&items, 0));
  ASSERT_OK(mproc_semaphore_new(&consumed, 0));
  mproc_process_t *ps[4];
  t_start_n(ps, 2, t_producer, t_args("CSS", c, items, consumed));
  t_start_n(ps + 2, 2, t_consumer, t_args("CSS", c, items, consumed));
  t_finish_n(ps, 4);
  ASSERT_EQ(s_value(items), 0);
  ASSERT_EQ(s_value(consumed), 2 * PC_ITEMS);
  mproc_semaphore_free(consumed);
  mproc_semaphore_free(items);
  mproc_condition_free(c);
}

TEST(condition_notify_n_wakes_n, 90, ALL) {
  enum { N = 5 };
  mproc_condition_t *c;
  mproc_semaphore_t *ready, *woken;
  ASSERT_OK(mproc_condition_new(&c, NULL));
  ASSERT_OK(mproc_semaphore_new(&ready, 0));
  ASSERT_OK(mproc_semaphore_new(&woken, 0));
  mproc_process_t *ps[N];
  t_start_n(ps, N, s_target_cond_waiter, t_args("CSS", c, ready, woken));
  for (int i = 0; i < N; i++)
    ASSERT_OK(mproc_semaphore_acquire(ready, 30000));
  /* Each waiter posted `ready` holding the lock and gives it up only inside wait, so once we
   * hold the lock all five are waiting. */
  ASSERT_OK(mproc_condition_acquire(c, 30000));
  ASSERT_OK(mproc_condition_notify(c, 2));
  ASSERT_OK(mproc_condition_release(c));
  ASSERT_OK(mproc_semaphore_acquire(woken, 30000));
  ASSERT_OK(mproc_semaphore_acquire(woken, 30000));
  ASSERT_TIMES_OUT(mproc_semaphore_acquire(woken, 300), 300); /* no third one */
  ASSERT_OK(mproc_condition_acquire(c, 30000));
  ASSERT_OK(mproc_condition_notify_all(c));
  ASSERT_OK(mproc_condition_release(c));
  for (int i = 0; i < N - 2; i++)
    ASSERT_OK(mproc_semaphore_acquire(woken, 30000));
  t_finish_n(ps, N);
  ASSERT_EQ(s_value(woken), 0);
  mproc_semaphore_free(woken);
  mproc_semaphore_free(ready);
  mproc_condition_free(c);
}

/* --- Event across processes -------------------------------------------------------------- */

/* Posts `ready`, waits for the event. Args: event, ready. */
static int t_event_waiter(const mproc_args_t *a) {
  mproc_event_t *e = t_event(a, 0);
  C_OK(mproc_semaphore_release(t_sem(a, 1)));
  C_OK(mproc_event_wait(e, 30000));
  C_TRUE(mproc_event_is_set(e) == 1); /* the parent clears only after joining */
  return 0;
}

TEST(event_set_wakes_all, 60, ALL) {
  mproc_event_t *e;
  mproc_semaphore_t *ready;
  ASSERT_OK(mproc_event_new(&e));
  ASSERT_OK(mproc_semaphore_new(&ready, 0));
  mproc_process_t *ps[3];
  t_start_n(ps, 3, t_event_waiter, t_args("ES", e, ready));
  for (int i = 0; i < 3; i++)
    ASSERT_OK(mproc_semaphore_acquire(ready, 30000));
  t_sleep_ms(50); /* most likely inside wait by now; correct either way */
  ASSERT_EQ(mproc_event_is_set(e), 0);
  ASSERT_OK(mproc_event_set(e));
  t_finish_n(ps, 3);
  ASSERT_OK(mproc_event_clear(e));
  ASSERT_EQ(mproc_event_is_set(e), 0);
  mproc_semaphore_free(ready);
  mproc_event_free(e);
}

/* Blocks in wait (10 s) and must be released by a set() that is undone at once. Args: event,
 * ready. */
static int t_pulse_waiter(const mproc_args_t *a) {
  C_OK(mproc_semaphore_release(t_sem(a, 1)));
  C_OK(mproc_event_wait(t_event(a, 0), 10000));
  return 0;
}

/* Python (threading.Event; multiprocessing.Event when the waiter wins the race for the lock):
 * a waiter blocked in wait() when set() happens returns True even if clear() follows before
 * it runs. A flag word alone reads 0 again by then, and the waiter slept on to its timeout.
 * (Should the waiter be slower than 300 ms to get into wait, it would miss the pulse rightly.) */
TEST(event_pulse_wakes_waiter, 60, ALL) {
  mproc_event_t *e;
  mproc_semaphore_t *ready;
  ASSERT_OK(mproc_event_new(&e));
  ASSERT_OK(mproc_semaphore_new(&ready, 0));
  mproc_process_t *p = t_start_one(t_pulse_waiter, t_args("ES", e, ready));
  ASSERT_OK(mproc_semaphore_acquire(ready, 30000));
  t_sleep_ms(300); /* inside wait by now, most likely */
  ASSERT_OK(mproc_event_set(e));
  ASSERT_OK(mproc_event_clear(e));
  t_finish(p);
  ASSERT_EQ(mproc_event_is_set(e), 0);
  ASSERT_RC(mproc_event_wait(e, 0), MPROC_ETIMEDOUT); /* a pulse leaves nothing behind */
  mproc_semaphore_free(ready);
  mproc_event_free(e);
}

#define PING_ROUNDS 100

/* Args: ping, pong. Each round: wait ping, clear it, set pong. */
static int t_ponger(const mproc_args_t *a) {
  mproc_event_t *ping = t_event(a, 0), *pong = t_event(a, 1);
  for (int i = 0; i < PING_ROUNDS; i++) {
    C_OK(mproc_event_wait(ping, 30000));
    C_OK(mproc_event_clear(ping));
    C_OK(mproc_event_set(pong));
  }
  return 0;
}

TEST(event_ping_pong, 60, ALL) {
  mproc_event_t *ping, *pong;
  ASSERT_OK(mproc_event_new(&ping));
  ASSERT_OK(mproc_event_new(&pong));
  mproc_process_t *p = t_start_one(t_ponger, t_args("EE", ping, pong));
  for (int i = 0; i < PING_ROUNDS; i++) {
    ASSERT_OK(mproc_event_set(ping));
    ASSERT_OK(mproc_event_wait(pong, 30000));
    ASSERT_OK(mproc_event_clear(pong));
  }
  t_finish(p);
  ASSERT_EQ(mproc_event_is_set(ping), 0);
  ASSERT_EQ(mproc_event_is_set(pong), 0);
  mproc_event_free(pong);
  mproc_event_free(ping);
}

/* --- Barrier ----------------------------------------------------------------------------- */

#define B_PARTIES 5
#define B_CYCLES 100

/* The action gets no arguments: it reaches the `actions` semaphore through a global that each
 * party sets from its own arguments, and g_action_ran tells a party whether it ran the action
 * in this process. */
static mproc_semaphore_t *g_actions;
static int g_action_ran;

static int count_action(void) {
  g_action_ran++;
  return g_actions ? mproc_semaphore_release(g_actions) : 0;
}

static int failing_action(void) {
  g_action_ran++;
  return 1;
}

/* Args: barrier, actions, then one semaphore per index counting how often it came out. */
static int t_barrier_party(const mproc_args_t *a) {
  mproc_barrier_t *b = t_barrier(a, 0);
  g_actions = t_sem(a, 1);
  for (int cycle = 0; cycle < B_CYCLES; cycle++) {
    int ran_before = g_action_ran, actions = -1;
    unsigned idx = 99;
    C_OK(mproc_barrier_wait(b, 30000, &idx));
    C_TRUE(idx < B_PARTIES);
    /* Python: the last to arrive gets parties-1 and runs the action, nobody else does. */
    C_TRUE((g_action_ran - ran_before == 1) == (idx == B_PARTIES - 1));
    C_TRUE(g_action_ran - ran_before <= 1);
    /* ... before anyone is released, and the next cycle's cannot have run without us. */
    C_OK(mproc_semaphore_get_value(g_actions, &actions));
    C_TRUE(actions == cycle + 1);
    C_OK(mproc_semaphore_release(t_sem(a, 2 + idx)));
  }
  return 0;
}

TEST(barrier_cycles_with_action, 120, ALL) {
  mproc_barrier_t *b;
  mproc_semaphore_t *actions, *seen[B_PARTIES];
  ASSERT_OK(mproc_barrier_new(&b, B_PARTIES, count_action, MPROC_FOREVER));
  ASSERT_EQ(mproc_barrier_parties(b), B_PARTIES);
  ASSERT_OK(mproc_semaphore_new(&actions, 0));
  mproc_args_t *a = t_args("BS", b, actions);
  for (int i = 0; i < B_PARTIES; i++) {
    ASSERT_OK(mproc_semaphore_new(&seen[i], 0));
    ASSERT_OK(mproc_args_add_semaphore(a, seen[i]));
  }
  mproc_process_t *ps[B_PARTIES];
  t_start_n(ps, B_PARTIES, t_barrier_party, a);
  t_finish_n(ps, B_PARTIES);
  ASSERT_EQ(s_value(actions), B_CYCLES);
  for (int i = 0; i < B_PARTIES; i++) { /* every index exactly once per cycle */
    ASSERT_EQ(s_value(seen[i]), B_CYCLES);
    mproc_semaphore_free(seen[i]);
  }
  ASSERT_EQ(g_action_ran, 0); /* the parent was no party */
  ASSERT_EQ(mproc_barrier_broken(b), 0);
  ASSERT_EQ(mproc_barrier_n_waiting(b), 0);
  mproc_semaphore_free(actions);
  mproc_barrier_free(b);
}

/* Waits with the timeout in arg 1 and expects the code in arg 2. Args: barrier, ms, want. */
static int t_barrier_wait_expect(const mproc_args_t *a) {
  unsigned idx = 99;
  int rc = mproc_barrier_wait(t_barrier(a, 0), t_int(a, 1), &idx);
  C_RC(rc, t_int(a, 2));
  C_TRUE(rc != 0 || idx < mproc_barrier_parties(t_barrier(a, 0)));
  return 0;
}

static mproc_process_t *start_barrier_waiter(mproc_barrier_t *b, int ms, int want) {
  return t_start_one(t_barrier_wait_expect, t_args("Bii", b, ms, want));
}

TEST(barrier_timeout_breaks, 60, ALL) {
  mproc_barrier_t *b;
  ASSERT_OK(mproc_barrier_new(&b, 3, NULL, MPROC_FOREVER));
  /* 2 of 3 arrive with 200 ms: whoever times out first breaks it for the other. */
  mproc_process_t *p = start_barrier_waiter(b, 200, MPROC_EBROKEN);
  int64_t t0 = t_now_ms();
  ASSERT_RC(mproc_barrier_wait(b, 200, NULL), MPROC_EBROKEN);
  ASSERT_TRUE(t_now_ms() - t0 < 5200);
  t_finish(p);
  ASSERT_EQ(mproc_barrier_broken(b), 1);
  ASSERT_EQ(mproc_barrier_n_waiting(b), 0);
  ASSERT_RC(mproc_barrier_wait(b, 0, NULL), MPROC_EBROKEN);
  ASSERT_RC(mproc_barrier_wait(b, MPROC_FOREVER, NULL), MPROC_EBROKEN); /* at once */
  ASSERT_OK(mproc_barrier_reset(b));
  ASSERT_EQ(mproc_barrier_broken(b), 0);
  mproc_process_t *ps[2]; /* usable again: a full cycle */
  for (int i = 0; i < 2; i++)
    ps[i] = start_barrier_waiter(b, 30000, 0);
  unsigned idx = 99;
  ASSERT_OK(mproc_barrier_wait(b, 30000, &idx));
  ASSERT_TRUE(idx < 3);
  t_finish_n(ps, 2);
  ASSERT_EQ(mproc_barrier_parties(b), 3);
  mproc_barrier_free(b);
}

TEST(barrier_abort_and_reset_wake_waiters, 60, ALL) {
  mproc_barrier_t *b;
  ASSERT_OK(mproc_barrier_new(&b, 2, NULL, MPROC_FOREVER));
  ASSERT_EQ(mproc_barrier_parties(b), 2);
  ASSERT_EQ(mproc_barrier_n_waiting(b), 0);
  mproc_process_t *p = start_barrier_waiter(b, 30000, MPROC_EBROKEN);
  s_await_waiting(b, 1);
  ASSERT_OK(mproc_barrier_abort(b));
  t_finish(p);
  ASSERT_EQ(mproc_barrier_broken(b), 1);
  ASSERT_RC(mproc_barrier_wait(b, 30000, NULL), MPROC_EBROKEN);
  ASSERT_OK(mproc_barrier_reset(b));
  ASSERT_EQ(mproc_barrier_broken(b), 0);

  p = start_barrier_waiter(b, 30000, MPROC_EBROKEN);
  s_await_waiting(b, 1);
  ASSERT_OK(mproc_barrier_reset(b)); /* current waiters break, the barrier does not stay so */
  t_finish(p);
  ASSERT_EQ(mproc_barrier_broken(b), 0);
  ASSERT_EQ(mproc_barrier_n_waiting(b), 0);

  p = start_barrier_waiter(b, 30000, 0);
  unsigned idx = 99;
  ASSERT_OK(mproc_barrier_wait(b, 30000, &idx));
  ASSERT_TRUE(idx < 2);
  t_finish(p);
  mproc_barrier_free(b);
}

TEST(barrier_rules, 30, ONCE) {
  mproc_barrier_t *b;
  unsigned idx = 99;
  ASSERT_OK(mproc_barrier_new(&b, 2, NULL, 200)); /* the default timeout given at creation */
  int64_t t0 = t_now_ms();
  ASSERT_RC(mproc_barrier_wait(b, MPROC_BARRIER_DEFAULT_TIMEOUT, &idx), MPROC_EBROKEN);
  int64_t took = t_now_ms() - t0;
  ASSERT_TRUE(took >= 150 && took < 5200);
  ASSERT_EQ(mproc_barrier_broken(b), 1);
  ASSERT_OK(mproc_barrier_reset(b));
  ASSERT_RC(mproc_barrier_wait(b, -3, &idx), MPROC_EINVAL);
  ASSERT_EQ(mproc_barrier_broken(b), 0);
  mproc_barrier_free(b);

  g_action_ran = 0; /* one party: every wait completes a cycle and runs the action */
  ASSERT_OK(mproc_barrier_new(&b, 1, count_action, MPROC_FOREVER));
  for (int i = 0; i < 3; i++) {
    ASSERT_OK(mproc_barrier_wait(b, 0, &idx));
    ASSERT_EQ(idx, 0);
  }
  ASSERT_EQ(g_action_ran, 3);
  mproc_barrier_free(b);

  ASSERT_OK(mproc_barrier_new(&b, 1, failing_action, MPROC_FOREVER));
  ASSERT_RC(mproc_barrier_wait(b, 0, NULL), MPROC_EBROKEN); /* a failing action breaks it */
  ASSERT_EQ(mproc_barrier_broken(b), 1);
  ASSERT_EQ(g_action_ran, 4);
  mproc_barrier_free(b);
}

/* --- threads, grandchildren, the macro --------------------------------------------------- */

#define THREADS 4
#define THREAD_INCREMENTS 50000

static struct {
  mproc_lock_t *lock;
  long counter; /* plain, not atomic: only the lock protects it (TSan checks that in CI) */
} g_shared;

static void increment_many(void *arg) {
  (void)arg;
  for (int i = 0; i < THREAD_INCREMENTS; i++) {
    ASSERT_OK(mproc_lock_acquire(g_shared.lock, MPROC_FOREVER));
    g_shared.counter++;
    ASSERT_OK(mproc_lock_release(g_shared.lock));
  }
}

TEST(threads_lock_counter, 120, ONCE) {
  for (int kind = 0; kind < 2; kind++) {
    ASSERT_OK(kind ? mproc_rlock_new(&g_shared.lock) : mproc_lock_new(&g_shared.lock));
    g_shared.counter = 0;
    t_thread *t[THREADS];
    for (int i = 0; i < THREADS; i++)
      t[i] = t_thread_start(increment_many, NULL);
    for (int i = 0; i < THREADS; i++)
      t_thread_join(t[i]);
    ASSERT_EQ(g_shared.counter, THREADS * THREAD_INCREMENTS);
    mproc_lock_free(g_shared.lock);
  }
}

/* The grandchild: the lock is busy (its grandparent holds it) until `tried` is posted. */
static int t_grandchild(const mproc_args_t *a) {
  mproc_lock_t *l = t_lock(a, 0);
  C_RC(mproc_lock_acquire(l, 0), MPROC_ETIMEDOUT);
  C_OK(mproc_semaphore_release(t_sem(a, 1)));
  C_OK(mproc_lock_acquire(l, 30000));
  C_OK(mproc_lock_release(l));
  return 0;
}

/* Hands its own copies on. Args: lock, tried. */
static int t_middle(const mproc_args_t *a) {
  mproc_args_t *ga;
  int rc = mproc_args_new(&ga);
  if (rc == 0)
    rc = mproc_args_add_lock(ga, t_lock(a, 0));
  if (rc == 0)
    rc = mproc_args_add_semaphore(ga, t_sem(a, 1));
  return t_run_grandchild(rc, t_grandchild, ga, 0);
}

TEST(objects_reach_grandchild, 60, ALL) {
  mproc_lock_t *l;
  mproc_semaphore_t *tried;
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_OK(mproc_semaphore_new(&tried, 0));
  ASSERT_OK(mproc_lock_acquire(l, 0));
  mproc_process_t *p = t_start_one(t_middle, t_args("LS", l, tried));
  ASSERT_OK(mproc_semaphore_acquire(tried, 30000));
  ASSERT_OK(mproc_lock_release(l));
  t_finish(p);
  ASSERT_OK(mproc_lock_acquire(l, 0)); /* given back by the grandchild */
  ASSERT_OK(mproc_lock_release(l));
  mproc_semaphore_free(tried);
  mproc_lock_free(l);
}

TEST(with_lock_macro, 30, ONCE) {
  mproc_lock_t *l;
  ASSERT_OK(mproc_lock_new(&l));
  int rc = -1, ran = 0;
  MPROC_WITH_LOCK(l, rc) {
    ASSERT_EQ(mproc_lock_is_mine(l), 1);
    ran++;
  }
  ASSERT_OK(rc);
  ASSERT_EQ(ran, 1);
  ASSERT_EQ(mproc_lock_is_mine(l), 0);
  /* Not acquired (already ours: EDEADLK): the body is skipped and nothing is released. */
  ASSERT_OK(mproc_lock_acquire(l, 0));
  MPROC_WITH_LOCK(l, rc) { ran++; }
  ASSERT_RC(rc, MPROC_EDEADLK);
  ASSERT_EQ(ran, 1);
  ASSERT_EQ(mproc_lock_is_mine(l), 1);
  ASSERT_OK(mproc_lock_release(l));
  mproc_lock_free(l);
}
