/* SPDX-License-Identifier: MIT */
/* Fault cases for the sync area: kill the party that was woken or was to wake, at seeded random
 * moments, and check that nothing hangs, nothing acknowledged is lost, nothing is torn.
 *
 * Every case has the same shape: a few processes block in the object (FOREVER), the waking
 * side (this process or a child) wakes them while victims are killed around that moment, and
 * every survivor must get through within SURVIVE_MS, a cap that only a hang reaches. */
#include "runner.h"

#define SURVIVE_MS T_SLOW(15000)
#define MAXW 5

#ifdef __linux__
#include <sched.h>
#include <unistd.h>
#endif

/* A wake-up is lost only when its sleeper dies between being woken and acting on it, a window
 * of microseconds. On Linux the cases open it wide: sleepers run on this process's CPU under
 * SCHED_IDLE, so a woken one does not run while this process (pinned there too) goes on to
 * kill it. Elsewhere the kills land where they land. */
static int f_cpu = -1;
#ifdef __linux__
static cpu_set_t f_saved;
#endif

static void pin_self(int cpu, int idle) {
#ifdef __linux__
  if (cpu < 0)
    return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)sched_setaffinity(0, sizeof set, &set);
  struct sched_param sp = {0};
  if (idle)
    (void)sched_setscheduler(0, SCHED_IDLE, &sp);
#else
  (void)cpu;
  (void)idle;
#endif
}

/* A pinned child that is through its race: back to an ordinary process on every CPU. Its exit
 * must not queue behind busy processes at idle priority (a sanitizer's exit-time leak check
 * stops and scans the whole process, and took seconds per child that way). */
static void unpin_self(void) {
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  long n = sysconf(_SC_NPROCESSORS_CONF);
  for (long i = 0; i < n && i < CPU_SETSIZE; i++)
    CPU_SET((int)i, &set);
  struct sched_param sp = {0};
  (void)sched_setscheduler(0, SCHED_OTHER, &sp);
  (void)sched_setaffinity(0, sizeof set, &set);
#endif
}

/* This process onto one CPU for a round (f_cpu), or back where it was. */
static void pin_round(int on) {
#ifdef __linux__
  if (on) {
    f_cpu = -1;
    if (sched_getaffinity(0, sizeof f_saved, &f_saved) == 0)
      for (int i = 0; i < CPU_SETSIZE && f_cpu < 0; i++)
        if (CPU_ISSET(i, &f_saved))
          f_cpu = i;
    pin_self(f_cpu, 0);
  } else if (f_cpu >= 0) {
    (void)sched_setaffinity(0, sizeof f_saved, &f_saved);
    f_cpu = -1;
  }
#else
  (void)on;
#endif
}

/* Kills p unless it ended already, reaps it; the exit code (0: it got through first, -9). */
static int f_kill(mproc_process_t *p) {
  (void)mproc_process_kill(p); /* fails harmlessly when p has already exited */
  int code = 1;
  ASSERT_OK(mproc_process_join(p, 30000));
  ASSERT_OK(mproc_process_exitcode(p, &code));
  if (code != 0 && code != -9 && code != 1)
    t_fail(__FILE__, __LINE__, "victim exit %d: %s", code,
           mproc_process_error(p) ? mproc_process_error(p) : "(no message)");
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
  return code;
}

/* A round's processes: who is still alive to be checked at the end. */
typedef struct crowd {
  mproc_process_t *p[MAXW];
  int n, dead[MAXW], left_to_kill;
} crowd;

/* The live members back to the ordinary scheduler on every CPU of this process (idle 0), or
 * onto f_cpu under SCHED_IDLE again (idle 1), as pin_self put them when they started. Outside
 * the moments a kill has to land in, members run normally: a SCHED_IDLE process pinned beside
 * a busy machine's load may get so little CPU that it could not finish in time even with its
 * wake-up in hand. Lowering a policy to SCHED_IDLE and raising it back are both allowed to the
 * owner. */
static void crowd_sched(crowd *c, int idle) {
#ifdef __linux__
  cpu_set_t set;
  if (idle && f_cpu < 0)
    return;
  if (idle) {
    CPU_ZERO(&set);
    CPU_SET(f_cpu, &set);
  } else if (sched_getaffinity(0, sizeof set, &set) != 0) {
    return;
  }
  struct sched_param sp = {0};
  for (int i = 0; i < c->n; i++) {
    if (c->dead[i] || mproc_process_join(c->p[i], 0) == 0)
      continue; /* a reaped member's pid may already be someone else's */
    pid_t pid = (pid_t)mproc_process_pid(c->p[i]);
    (void)sched_setaffinity(pid, sizeof set, &set);
    (void)sched_setscheduler(pid, idle ? SCHED_IDLE : SCHED_OTHER, &sp);
  }
#else
  (void)c;
  (void)idle;
#endif
}

/* Kills one random live member, if the round still has a kill to spend. */
static void kill_one(crowd *c) {
  if (c->left_to_kill <= 0)
    return;
  int i = t_rand_range(0, c->n - 1);
  while (c->dead[i])
    i = (i + 1) % c->n;
  f_kill(c->p[i]);
  c->dead[i] = 1;
  c->left_to_kill--;
}

/* Kills the live member that started to wait first: the one a wake-up goes to (futexes wake
 * in arrival order), just after the wake-up, before it can act on it. */
static void kill_first(crowd *c) {
  if (c->left_to_kill <= 0)
    return;
  int i = 0;
  while (i < c->n && (c->dead[i] || mproc_process_join(c->p[i], 0) == 0))
    i++;
  if (i == c->n)
    return;
  f_kill(c->p[i]);
  c->dead[i] = 1;
  c->left_to_kill--;
}

static void maybe_kill_one(crowd *c) {
  if (t_rand() % 2) {
    t_sleep_ms(t_rand_range(0, 2));
    kill_one(c);
  }
}

/* Every survivor gets through (exit code `want`; -1: the same code for all) before the cap. */
static void survivors_finish(crowd *c, int want) {
  while (c->left_to_kill > 0)
    kill_one(c);
  crowd_sched(c, 0);
  for (int i = 0; i < c->n; i++) {
    if (c->dead[i])
      continue;
    int code = -1, rc = mproc_process_join(c->p[i], SURVIVE_MS); /* a lost wake-up stops here */
    if (rc != 0) {
      for (int j = i; j < c->n; j++) /* no orphan left asleep in the object for good */
        if (!c->dead[j])
          (void)mproc_process_kill(c->p[j]);
      t_fail(__FILE__, __LINE__, "survivor %d of %d still blocked after %d ms: %s", i, c->n,
             SURVIVE_MS, mproc_errname(rc));
    }
    ASSERT_OK(mproc_process_exitcode(c->p[i], &code));
    if (want == -1 && (code == 0 || code == 1))
      want = code;
    if (code != want)
      t_fail(__FILE__, __LINE__, "survivor exit %d, want %d: %s", code, want,
             mproc_process_error(c->p[i]) ? mproc_process_error(c->p[i]) : "(no message)");
    ASSERT_OK(mproc_process_close(c->p[i]));
    mproc_process_free(c->p[i]);
  }
}

static void crowd_start(crowd *c, int n, mproc_target_fn fn, mproc_args_t *a) {
  memset(c, 0, sizeof *c);
  c->n = n;
  c->left_to_kill = t_rand_range(1, n - 1);
  t_start_n(c->p, n, fn, a);
}

/* One at a time, each given time to fall asleep (ready, then a few ms), so they sleep in
 * index order. Args as fn wants, with `ready` among them. */
static void crowd_start_in_order(crowd *c, int n, mproc_target_fn fn, mproc_args_t *a,
                                 mproc_semaphore_t *ready) {
  memset(c, 0, sizeof *c);
  c->n = n;
  c->left_to_kill = t_rand_range(1, n - 1);
  for (int i = 0; i < n; i++) {
    mproc_process_t *p;
    ASSERT_OK(mproc_process_new(&p, fn, a));
    ASSERT_OK(mproc_process_start(p));
    c->p[i] = p;
    ASSERT_OK(mproc_semaphore_acquire(ready, 30000));
    t_sleep_ms(5);
  }
  mproc_args_free(a);
}

/* A lock taken over from a dead holder is vouched for at once (the data here is nothing). */
static int owned(mproc_lock_t *l, int rc) {
  return rc == MPROC_EOWNERDEAD ? mproc_lock_consistent(l) : rc;
}

/* --- Semaphore -------------------------------------------------------------------------------- */

/* Args: semaphore, ready, cpu, got. */
static int f_sem_taker(const mproc_args_t *a) {
  pin_self(t_int(a, 2), 1);
  C_OK(mproc_semaphore_release(t_sem(a, 1)));
  C_OK(mproc_semaphore_acquire(t_sem(a, 0), MPROC_FOREVER));
  C_OK(mproc_semaphore_release(t_sem(a, 3)));
  unpin_self();
  return 0;
}

/* Whether a member that was not killed is still running. */
static int any_running(crowd *c) {
  for (int i = 0; i < c->n; i++)
    if (!c->dead[i] && mproc_process_join(c->p[i], 0) == MPROC_ETIMEDOUT)
      return 1;
  return 0;
}

/* n releases, each acknowledged. Args: semaphore, ack, n, gap ms. */
static int f_sem_giver(const mproc_args_t *a) {
  for (int i = 0; i < t_int(a, 2); i++) {
    t_sleep_ms(t_int(a, 3));
    C_OK(mproc_semaphore_release(t_sem(a, 0)));
    C_OK(mproc_semaphore_release(t_sem(a, 1)));
  }
  return 0;
}

/* release() wakes one sleeper; killed before it takes the permit, it must not leave the others
 * asleep beside a value of 1. As many permits as takers are given (by this process, or by a
 * child that may itself be killed: its acknowledged releases count, the rest are made up), so
 * every survivor must get one whatever the dead took. */
TEST(sync_sem_woken_killed, 180, ALL) {
  t_fault_seed();
  for (int round = 0, rounds = t_fault_rounds(20); round < rounds; round++) {
    mproc_semaphore_t *sem, *ready, *ack, *got;
    ASSERT_OK(mproc_semaphore_new(&sem, 0));
    ASSERT_OK(mproc_semaphore_new(&ready, 0));
    ASSERT_OK(mproc_semaphore_new(&ack, 0));
    ASSERT_OK(mproc_semaphore_new(&got, 0));
    crowd c;
    int w = t_rand_range(3, MAXW);
    pin_round(1);
    crowd_start_in_order(&c, w, f_sem_taker, t_args("SSiS", sem, ready, f_cpu, got), ready);
    if (t_rand() % 3) {
      /* One permit at a time: each must reach a sleeper unless a dead one took it. A permit
       * left in the semaphore while takers sleep on is the lost wake-up. */
      while (any_running(&c)) {
        ASSERT_OK(mproc_semaphore_release(sem));
        if (t_rand() % 2)
          kill_first(&c); /* the woken one, before it could take the permit */
        else
          maybe_kill_one(&c);
        pin_round(0);
        crowd_sched(&c, 0);
        int v = 1, through = 0;
        for (int ms = 0; ms < T_SLOW(5000) && v != 0 && !through; ms += 20) {
          through = mproc_semaphore_acquire(got, 20) == 0 || !any_running(&c);
          ASSERT_OK(mproc_semaphore_get_value(sem, &v)); /* 0: taken (by the dead, perhaps) */
        }
        if (!through && v != 0) {
          for (int i = 0; i < c.n; i++)
            if (!c.dead[i]) /* the dead are closed already */
              (void)mproc_process_kill(c.p[i]);
          t_fail(__FILE__, __LINE__, "a permit sat in the semaphore for %d s while takers slept",
                 T_SLOW(5));
        }
        pin_round(1);
        crowd_sched(&c, 1);
      }
    } else {
      mproc_process_t *giver =
          t_start_one(f_sem_giver, t_args("SSii", sem, ack, w, t_rand_range(0, 2)));
      int kill_giver = t_rand() % 2;
      for (int i = 0; i < w; i++)
        maybe_kill_one(&c);
      if (kill_giver) {
        t_sleep_ms(t_rand_range(0, 4));
        f_kill(giver);
      } else {
        t_finish(giver);
      }
      int acked = -1;
      ASSERT_OK(mproc_semaphore_get_value(ack, &acked));
      for (int i = acked; i < w; i++) /* the giver's unacknowledged share */
        ASSERT_OK(mproc_semaphore_release(sem));
    }
    pin_round(0);
    survivors_finish(&c, 0);
    mproc_semaphore_free(got);
    mproc_semaphore_free(ack);
    mproc_semaphore_free(ready);
    mproc_semaphore_free(sem);
  }
}

/* --- Lock and RLock -------------------------------------------------------------------------- */

/* Takes the lock depth times (from a dead holder too), gives it back. Args: lock, ready, depth,
 * cpu. */
static int f_lock_taker(const mproc_args_t *a) {
  mproc_lock_t *l = t_lock(a, 0);
  pin_self(t_int(a, 3), 1);
  C_OK(mproc_semaphore_release(t_sem(a, 1)));
  for (int i = 0; i < t_int(a, 2); i++)
    C_OK(owned(l, mproc_lock_acquire(l, MPROC_FOREVER)));
  for (int i = 0; i < t_int(a, 2); i++)
    C_OK(mproc_lock_release(l));
  unpin_self();
  return 0;
}

/* Holds the lock for a while. Args: lock, holding, depth, hold ms. */
static int f_lock_holder(const mproc_args_t *a) {
  mproc_lock_t *l = t_lock(a, 0);
  for (int i = 0; i < t_int(a, 2); i++)
    C_OK(owned(l, mproc_lock_acquire(l, MPROC_FOREVER)));
  C_OK(mproc_semaphore_release(t_sem(a, 1)));
  t_sleep_ms(t_int(a, 3));
  for (int i = 0; i < t_int(a, 2); i++)
    C_OK(mproc_lock_release(l));
  return 0;
}

/* An unlock wakes one acquirer; killed before it takes the lock (or while holding it, or the
 * holder killed around its release), the others must still all get it in turn. */
TEST(sync_lock_woken_killed, 180, ALL) {
  t_fault_seed();
  for (int round = 0, rounds = t_fault_rounds(40); round < rounds; round++) {
    int recursive = t_rand() % 2, depth = recursive ? 2 : 1;
    mproc_lock_t *l;
    mproc_semaphore_t *ready;
    ASSERT_OK(recursive ? mproc_rlock_new(&l) : mproc_lock_new(&l));
    ASSERT_OK(mproc_semaphore_new(&ready, 0));
    mproc_process_t *holder = NULL;
    if (t_rand() % 2) {
      holder = t_start_one(f_lock_holder, t_args("LSii", l, ready, depth, t_rand_range(0, 40)));
      ASSERT_OK(mproc_semaphore_acquire(ready, 30000));
    } else {
      for (int i = 0; i < depth; i++)
        ASSERT_OK(mproc_lock_acquire(l, 30000));
    }
    crowd c;
    int w = t_rand_range(3, MAXW);
    pin_round(1);
    crowd_start_in_order(&c, w, f_lock_taker, t_args("LSii", l, ready, depth, f_cpu), ready);
    if (holder != NULL) {
      if (t_rand() % 2)
        f_kill(holder); /* holding or just after its release: either way nobody waits for it */
      else
        t_finish(holder);
    } else {
      for (int i = 0; i < depth; i++)
        ASSERT_OK(mproc_lock_release(l));
      if (t_rand() % 2)
        kill_first(&c); /* the woken one, before it could take the lock */
    }
    for (int i = 0; i < w; i++)
      maybe_kill_one(&c);
    pin_round(0);
    survivors_finish(&c, 0);
    mproc_semaphore_free(ready);
    mproc_lock_free(l);
  }
}

/* --- Condition ------------------------------------------------------------------------------- */

/* Waits under the lock until `go` is set. Posts ready while holding the lock, so whoever takes
 * the lock after collecting ready knows this one waits. Args: condition, ready, go, cpu. */
static int f_cond_waiter(const mproc_args_t *a) {
  mproc_condition_t *c = t_cond(a, 0);
  mproc_lock_t *l = mproc_condition_lock(c);
  pin_self(t_int(a, 3), 1);
  C_OK(owned(l, mproc_condition_acquire(c, MPROC_FOREVER)));
  C_OK(mproc_semaphore_release(t_sem(a, 1)));
  while (!mproc_event_is_set(t_event(a, 2)))
    C_OK(owned(l, mproc_condition_wait(c, MPROC_FOREVER)));
  C_OK(mproc_condition_release(c));
  unpin_self();
  return 0;
}

/* Sets go and notifies: n times notify(1), or once notify_all; each acknowledged. */
static int notify_rounds(mproc_condition_t *c, mproc_event_t *go, mproc_semaphore_t *ack, int n,
                         int all) {
  mproc_lock_t *l = mproc_condition_lock(c);
  for (int i = 0; i < (all ? 1 : n); i++) {
    int rc = owned(l, mproc_condition_acquire(c, MPROC_FOREVER));
    if (rc == 0)
      rc = mproc_event_set(go);
    if (rc == 0)
      rc = all ? mproc_condition_notify_all(c) : mproc_condition_notify(c, 1);
    if (rc == 0)
      rc = mproc_condition_release(c);
    if (rc == 0 && ack != NULL)
      rc = mproc_semaphore_release(ack);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Args: condition, go, ack, n, all. */
static int f_cond_notifier(const mproc_args_t *a) {
  C_OK(notify_rounds(t_cond(a, 0), t_event(a, 1), t_sem(a, 2), t_int(a, 3), t_int(a, 4)));
  return 0;
}

/* Notification tokens: a notified waiter killed before it takes its token leaves it for one
 * that waited with it; a notifier killed (holding the lock or not) leaves the lock to the next
 * with MPROC_EOWNERDEAD. As many notifies as waiters, so every survivor must get through. */
TEST(sync_cond_woken_killed, 180, ALL) {
  t_fault_seed();
  for (int round = 0, rounds = t_fault_rounds(40); round < rounds; round++) {
    mproc_condition_t *c;
    mproc_semaphore_t *ready, *ack;
    mproc_event_t *go;
    ASSERT_OK(mproc_condition_new(&c, NULL));
    ASSERT_OK(mproc_semaphore_new(&ready, 0));
    ASSERT_OK(mproc_semaphore_new(&ack, 0));
    ASSERT_OK(mproc_event_new(&go));
    crowd cr;
    int w = t_rand_range(3, MAXW), all = t_rand() % 3 == 0;
    pin_round(1);
    crowd_start_in_order(&cr, w, f_cond_waiter, t_args("CSEi", c, ready, go, f_cpu), ready);
    if (t_rand() % 2) {
      for (int i = 0; i < (all ? 1 : w); i++) {
        ASSERT_OK(notify_rounds(c, go, NULL, 1, all));
        if (t_rand() % 2)
          kill_first(&cr); /* the notified one, before it could take its token */
        else
          maybe_kill_one(&cr);
      }
    } else {
      mproc_process_t *n = t_start_one(f_cond_notifier, t_args("CESii", c, go, ack, w, all));
      for (int i = 0; i < w; i++)
        maybe_kill_one(&cr);
      if (t_rand() % 2) {
        t_sleep_ms(t_rand_range(0, 4));
        f_kill(n);
      } else {
        t_finish(n);
      }
      int acked = -1;
      ASSERT_OK(mproc_semaphore_get_value(ack, &acked));
      if (acked < (all ? 1 : w)) /* the dead notifier's share */
        ASSERT_OK(notify_rounds(c, go, NULL, 1, 1));
    }
    pin_round(0);
    survivors_finish(&cr, 0);
    mproc_event_free(go);
    mproc_semaphore_free(ack);
    mproc_semaphore_free(ready);
    mproc_condition_free(c);
  }
}

/* --- Event ------------------------------------------------------------------------------------ */

/* Args: event, ready. */
static int f_event_waiter(const mproc_args_t *a) {
  C_OK(mproc_semaphore_release(t_sem(a, 1)));
  C_OK(mproc_event_wait(t_event(a, 0), MPROC_FOREVER));
  return 0;
}

/* Args: event, ack. */
static int f_event_setter(const mproc_args_t *a) {
  C_OK(mproc_event_set(t_event(a, 0)));
  C_OK(mproc_semaphore_release(t_sem(a, 1)));
  return 0;
}

/* set() wakes every sleeper; woken ones killed, or the setter killed around its set, leave
 * nobody behind: an acknowledged set releases every survivor, an unacknowledged one is made
 * up by this process. */
TEST(sync_event_woken_killed, 180, ALL) {
  t_fault_seed();
  for (int round = 0, rounds = t_fault_rounds(40); round < rounds; round++) {
    mproc_event_t *e;
    mproc_semaphore_t *ready, *ack;
    ASSERT_OK(mproc_event_new(&e));
    ASSERT_OK(mproc_semaphore_new(&ready, 0));
    ASSERT_OK(mproc_semaphore_new(&ack, 0));
    crowd c;
    int w = t_rand_range(3, MAXW);
    crowd_start(&c, w, f_event_waiter, t_args("ES", e, ready));
    for (int i = 0; i < w; i++)
      ASSERT_OK(mproc_semaphore_acquire(ready, 30000));
    t_sleep_ms(t_rand_range(0, 30));
    if (t_rand() % 2) {
      ASSERT_OK(mproc_event_set(e));
      for (int i = 0; i < w; i++)
        maybe_kill_one(&c);
    } else {
      mproc_process_t *setter = t_start_one(f_event_setter, t_args("ES", e, ack));
      for (int i = 0; i < w; i++)
        maybe_kill_one(&c);
      if (t_rand() % 2) {
        t_sleep_ms(t_rand_range(0, 4));
        f_kill(setter);
      } else {
        t_finish(setter);
      }
      if (mproc_semaphore_acquire(ack, 0) != 0)
        ASSERT_OK(mproc_event_set(e));
    }
    survivors_finish(&c, 0);
    mproc_semaphore_free(ack);
    mproc_semaphore_free(ready);
    mproc_event_free(e);
  }
}

/* --- Barrier ---------------------------------------------------------------------------------- */

/* Exit 0 when its cycle was released, 1 when the barrier broke. Args: barrier, delay ms. */
static int f_party(const mproc_args_t *a) {
  t_sleep_ms(t_int(a, 1));
  int rc = mproc_barrier_wait(t_barrier(a, 0), MPROC_FOREVER, NULL);
  if (rc == MPROC_EBROKEN)
    return 1;
  C_OK(rc);
  return 0;
}

/* Parties wait FOREVER. One killed while waiting must break the barrier for the others (they
 * would otherwise wait for good); one killed just as the last party arrives (this process, the
 * waker) leaves the others released or broken, all alike; the last party itself killed around
 * its arrival either released the cycle, broke it (killed holding its mutex) or never arrived,
 * which nobody can tell from late: then this process aborts the barrier. The survivors of a
 * round must all agree. */
TEST(sync_barrier_party_killed, 180, ALL) {
  t_fault_seed();
  for (int round = 0, rounds = t_fault_rounds(40); round < rounds; round++) {
    int n = t_rand_range(2, MAXW - 1), mode = t_rand_range(0, 2);
    mproc_barrier_t *b;
    ASSERT_OK(mproc_barrier_new(&b, (unsigned)n + 1, NULL, MPROC_FOREVER));
    crowd c;
    crowd_start(&c, n, f_party, t_args("Bi", b, 0));
    c.left_to_kill = 1;
    for (int i = 0; i < 4000 && mproc_barrier_n_waiting(b) != (unsigned)n; i++)
      t_sleep_ms(5);
    ASSERT_EQ(mproc_barrier_n_waiting(b), n);
    t_sleep_ms(t_rand_range(0, 30));
    int want;
    if (mode == 0) { /* a waiting party dies: everyone else breaks */
      kill_one(&c);
      want = 1;
    } else if (mode == 1) { /* this process arrives last while a party is killed */
      int rc;
      if (t_rand() % 2) {
        kill_one(&c);
        rc = mproc_barrier_wait(b, 30000, NULL);
      } else {
        rc = mproc_barrier_wait(b, 30000, NULL);
        kill_one(&c);
      }
      ASSERT_TRUE(rc == 0 || rc == MPROC_EBROKEN);
      want = rc == 0 ? 0 : 1;
    } else { /* the last party, the one to wake the others, is killed around its arrival */
      mproc_process_t *last = t_start_one(f_party, t_args("Bi", b, t_rand_range(0, 10)));
      t_sleep_ms(t_rand_range(0, 15));
      f_kill(last);
      /* n waiting: it never arrived, or died holding the mutex before it counted itself (the
       * abort then finds the owner dead, which breaks it too). Counted but dead before the
       * release: the others find the owner dead. Released: nobody waits. */
      if (!mproc_barrier_broken(b) && mproc_barrier_n_waiting(b) == (unsigned)n)
        ASSERT_OK(mproc_barrier_abort(b));
      c.left_to_kill = 0;
      want = -1;
    }
    survivors_finish(&c, want);
    mproc_barrier_free(b);
  }
}
