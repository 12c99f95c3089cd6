/*
 * Barrier: Python's threading.Barrier algorithm (filling -> draining -> filling, with
 * resetting and broken states) over a robust mutex and a generation word waiters park on.
 *
 * Differences that make it safe across processes: every wait honours the timeout, including
 * the wait for a previous cycle to drain (Python's _enter waits forever there, so a party that
 * died mid-cycle would hang every later caller); a party that dies inside the short critical
 * section (the mutex reports owner death) breaks the barrier instead of leaving it
 * inconsistent. The action is found in each process like a process target and travels in the
 * argument, not in shared memory.
 */
#include <stdlib.h>
#include <string.h>

#include "heap.h"

#define LD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ST(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

enum { B_FILLING = 0, B_DRAINING = 1, B_RESETTING = 2, B_BROKEN = 3 };

typedef struct barrier_shm {
  os_mutex_mem m;
  uint32_t gen;      /* the futex word: bumped on every state change waiters watch */
  uint32_t sleepers;
  uint32_t parties;
  uint32_t count;    /* arrived (filling) / still to leave (draining, resetting) */
  uint32_t state;    /* B_*; read without the mutex only by broken() / n_waiting() */
  int64_t timeout_ms;
} barrier_shm;

struct mproc_barrier {
  mp_shobj o; /* h[0]: mutex, h[1]: park semaphore (Windows) */
  barrier_shm *s;
  mproc_barrier_action_fn action;
  int has_action;   /* an action was given (it may fail to resolve in this process) */
  mp_target_ref *ref;
};

int mproc_barrier_new(mproc_barrier_t **out, unsigned parties, mproc_barrier_action_fn action,
                      int64_t timeout_ms) {
  if (out == NULL || parties == 0 || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  *out = NULL;
  mproc_barrier_t *b = calloc(1, sizeof *b);
  if (b == NULL)
    return MPROC_ENOMEM;
  int rc = mp_shobj_create(&b->o, sizeof(barrier_shm));
  if (rc == 0) {
    b->s = b->o.blk.p;
    b->s->parties = parties;
    b->s->timeout_ms = timeout_ms;
    rc = os_mutex_init(&b->s->m, &b->o.h[0]);
  }
  if (rc == 0)
    rc = os_park_new(&b->o.h[1]);
  if (rc == 0 && action != NULL) {
    b->action = action;
    b->has_action = 1;
    b->ref = malloc(sizeof *b->ref);
    rc = b->ref ? mp_target_locate((mproc_target_fn)(void (*)(void))action, b->ref)
                : MPROC_ENOMEM;
  }
  if (rc != 0) {
    mproc_barrier_free(b);
    return rc;
  }
  *out = b;
  return 0;
}

void mproc_barrier_free(mproc_barrier_t *b) {
  if (b == NULL)
    return;
  mp_shobj_release(&b->o);
  free(b->ref);
  free(b);
}

/* --- the state machine, all with the mutex held ----------------------------------------------- */

static void changed(mproc_barrier_t *b) {
  __atomic_add_fetch(&b->s->gen, 1, __ATOMIC_SEQ_CST);
  mp_unpark(b->o.h[1], &b->s->sleepers, &b->s->gen, UINT32_MAX);
}

static void set_state(mproc_barrier_t *b, uint32_t st) {
  ST(&b->s->state, st);
  changed(b);
}

static int lock(mproc_barrier_t *b) {
  int rc = os_mutex_lock(&b->s->m, b->o.h[0], OS_NO_DEADLINE);
  if (rc == MPROC_EOWNERDEAD) { /* a party died mid-update: nothing here can be trusted */
    set_state(b, B_BROKEN);
    rc = 0;
  }
  return rc;
}

static void unlock(mproc_barrier_t *b) { os_mutex_unlock(&b->s->m, b->o.h[0]); }

/* Sleeps until the generation moves or the deadline passes (mutex released meanwhile). */
static int sleep_once(mproc_barrier_t *b, int64_t deadline) {
  uint32_t gen = LD(&b->s->gen);
  unlock(b);
  int rc = mp_park(b->o.h[1], &b->s->sleepers, &b->s->gen, gen, deadline);
  int lrc = lock(b);
  return lrc ? lrc : rc;
}

/* Python's _enter: wait while a previous cycle drains or a reset completes. */
static int enter(mproc_barrier_t *b, int64_t deadline) {
  barrier_shm *s = b->s;
  while (s->state == B_DRAINING || s->state == B_RESETTING) {
    int rc = sleep_once(b, deadline);
    if (rc == MPROC_ETIMEDOUT && (s->state == B_DRAINING || s->state == B_RESETTING)) {
      set_state(b, B_BROKEN);
      return MPROC_EBROKEN;
    }
    if (rc != 0 && rc != MPROC_ETIMEDOUT)
      return rc;
  }
  return s->state == B_BROKEN ? MPROC_EBROKEN : 0;
}

static int run_action(mproc_barrier_t *b) {
  if (!b->has_action)
    return 0;
  if (b->action == NULL)
    return MPROC_ENOTARGET; /* the action could not be found in this process */
  return b->action() == 0 ? 0 : MPROC_EBROKEN;
}

/* The last to arrive: run the action, then release everyone. */
static int release_all(mproc_barrier_t *b) {
  int rc = run_action(b);
  set_state(b, rc == 0 ? B_DRAINING : B_BROKEN);
  return rc == 0 ? 0 : MPROC_EBROKEN;
}

/* Python's _wait: until the state leaves filling; a timeout breaks the barrier. */
static int wait_release(mproc_barrier_t *b, int64_t deadline) {
  barrier_shm *s = b->s;
  while (s->state == B_FILLING) {
    int rc = sleep_once(b, deadline);
    if (rc == MPROC_ETIMEDOUT && s->state == B_FILLING) {
      set_state(b, B_BROKEN);
      return MPROC_EBROKEN;
    }
    if (rc != 0 && rc != MPROC_ETIMEDOUT)
      return rc;
  }
  return s->state == B_DRAINING ? 0 : MPROC_EBROKEN;
}

/* Python's _exit: the last to leave a draining or resetting barrier refills it. */
static void leave(mproc_barrier_t *b) {
  barrier_shm *s = b->s;
  if (--s->count == 0 && (s->state == B_DRAINING || s->state == B_RESETTING))
    set_state(b, B_FILLING);
}

int mproc_barrier_wait(mproc_barrier_t *b, int64_t timeout_ms, unsigned *index) {
  if (b == NULL || (timeout_ms < MPROC_FOREVER && timeout_ms != MPROC_BARRIER_DEFAULT_TIMEOUT))
    return MPROC_EINVAL;
  if (timeout_ms == MPROC_BARRIER_DEFAULT_TIMEOUT)
    timeout_ms = b->s->timeout_ms;
  int64_t deadline;
  mp_timeout_deadline(timeout_ms, &deadline);
  int rc = lock(b);
  if (rc != 0)
    return rc;
  if ((rc = enter(b, deadline)) != 0) {
    unlock(b);
    return rc;
  }
  barrier_shm *s = b->s;
  unsigned idx = s->count++;
  rc = idx + 1 == s->parties ? release_all(b) : wait_release(b, deadline);
  leave(b);
  unlock(b);
  if (rc == 0 && index != NULL)
    *index = idx;
  return rc;
}

int mproc_barrier_reset(mproc_barrier_t *b) {
  if (b == NULL)
    return MPROC_EINVAL;
  int rc = lock(b);
  if (rc != 0)
    return rc;
  barrier_shm *s = b->s;
  if (s->count == 0)
    set_state(b, B_FILLING);
  else if (s->state == B_FILLING || s->state == B_BROKEN)
    set_state(b, B_RESETTING); /* waiters see it and fail; the last to leave refills */
  else
    changed(b); /* draining or already resetting: the last to leave refills */
  unlock(b);
  return 0;
}

int mproc_barrier_abort(mproc_barrier_t *b) {
  if (b == NULL)
    return MPROC_EINVAL;
  int rc = lock(b);
  if (rc != 0)
    return rc;
  set_state(b, B_BROKEN);
  unlock(b);
  return 0;
}

unsigned mproc_barrier_parties(const mproc_barrier_t *b) { return b ? b->s->parties : 0; }

unsigned mproc_barrier_n_waiting(const mproc_barrier_t *b) {
  if (b == NULL || LD(&b->s->state) != B_FILLING)
    return 0;
  return LD(&b->s->count);
}

int mproc_barrier_broken(const mproc_barrier_t *b) {
  if (b == NULL)
    return MPROC_EINVAL;
  return LD(&b->s->state) == B_BROKEN;
}

/* --- crossing into children ---------------------------------------------------------------------- */

int mp_barrier_encode(const mproc_barrier_t *b, mp_buf *out) {
  mp_put_u8(out, 1);
  mp_shobj_encode(&b->o, out);
  mp_put_u8(out, (uint8_t)b->has_action);
  if (b->has_action)
    mp_target_encode(b->ref, out);
  return out->err;
}

int mp_barrier_adopt(mp_rd *r, mp_hmap *hm, mproc_barrier_t **out) {
  if (mp_get_u8(r) != 1)
    return MPROC_EPROTO;
  mproc_barrier_t *b = calloc(1, sizeof *b);
  if (b == NULL)
    return MPROC_ENOMEM;
  int rc = mp_shobj_decode(r, hm, &b->o);
  if (rc == 0 && b->o.blk.size < sizeof(barrier_shm))
    rc = MPROC_EPROTO;
  if (rc == 0) {
    b->s = b->o.blk.p;
    b->has_action = mp_get_u8(r) != 0;
  }
  if (rc == 0 && b->has_action) {
    b->ref = malloc(sizeof *b->ref);
    rc = b->ref ? mp_target_decode(r, b->ref) : MPROC_ENOMEM;
    mproc_target_fn fn = NULL;
    /* Unresolvable here: the barrier still works until this process must run the action. */
    if (rc == 0 && mp_target_resolve(b->ref, &fn) == 0)
      b->action = (mproc_barrier_action_fn)(void (*)(void))fn;
  }
  if (rc == 0 && r->err)
    rc = r->err;
  if (rc != 0) {
    mproc_barrier_free(b);
    return rc;
  }
  *out = b;
  return 0;
}
