/* SPDX-License-Identifier: MIT */
/*
 * Lock, RLock, Semaphore, BoundedSemaphore, Condition and Event (Barrier: barrier.c), each a
 * block of the shared heap plus, on Windows, its kernel objects.
 *
 * Locks are a robust OS mutex plus an owner token and a recursion count kept beside it, so
 * ownership rules (who may release, recursion, "would deadlock") are the same on every
 * platform, and owner death is reported uniformly: the OS hands the lock over with
 * MPROC_EOWNERDEAD, the core tracks consistent -> inconsistent -> not recoverable.
 *
 * Semaphores, conditions and events need no mutex of their own: a counter or flag word that
 * waiters park on (futex / kernel semaphore). Nothing in them has an owner, so a process that
 * dies while waiting or holding a permit cannot wedge the others (a dead waiter at worst
 * causes one spurious wake-up).
 *
 * Memory ordering: all shared words use sequentially consistent __atomic operations; the
 * recursion count and a condition's counters are only touched with the lock held.
 */
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "atomics.h"
#include "alloc.h"

#define LD(p) MPROC__ATOMIC_LOAD((p), MPROC__ATOMIC_SEQ_CST)
#define ST(p, v) MPROC__ATOMIC_STORE((p), (v), MPROC__ATOMIC_SEQ_CST)
/* Lock fields change only with the OS mutex held, which orders them; relaxed atomics are enough
 * for "is the owner me?" (only the calling thread can have stored its own token). */
#define RLD(p) MPROC__ATOMIC_LOAD((p), MPROC__ATOMIC_RELAXED)
#define RST(p, v) MPROC__ATOMIC_STORE((p), (v), MPROC__ATOMIC_RELAXED)
#define CAS(p, e, d) MPROC__ATOMIC_COMPARE_EXCHANGE((p), (e), (d), 0, MPROC__ATOMIC_SEQ_CST,       \
                                                    MPROC__ATOMIC_SEQ_CST)

/* ============================== Lock / RLock ============================== */

enum { LOCK_CONSISTENT = 0, LOCK_INCONSISTENT = 1, LOCK_NOTRECOVERABLE = 2 };

/* One cache line: a contended hand-off moves the mutex and its bookkeeping together. */
typedef struct lock_shm {
  os_mutex_mem m;
  uint64_t owner;    /* thread token of the holder, 0 when free */
  uint32_t count;    /* recursion depth, holder only */
  uint8_t recursive;
  uint8_t state;     /* LOCK_* */
} lock_shm;

_Static_assert(sizeof(lock_shm) <= 64, "a lock must fit one cache line");

struct mproc_lock {
  mp_shobj o; /* h[0]: the kernel mutex (Windows) */
  lock_shm *s;
};

static int lock_create(mproc_lock_t **out, int recursive) {
  if (out == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  mproc_lock_t *l = mproc__calloc(1, sizeof *l);
  if (l == NULL)
    return MPROC_ENOMEM;
  int rc = mproc__shobj_create(&l->o, sizeof(lock_shm));
  if (rc == 0) {
    l->s = l->o.blk.p;
    l->s->recursive = (uint8_t)recursive;
    rc = mproc__os_mutex_init(&l->s->m, &l->o.h[0]);
  }
  if (rc != 0) {
    mproc_lock_free(l);
    return rc;
  }
  *out = l;
  return 0;
}

int mproc_lock_new(mproc_lock_t **out) { return lock_create(out, 0); }
int mproc_rlock_new(mproc_lock_t **out) { return lock_create(out, 1); }

void mproc_lock_free(mproc_lock_t *l) {
  if (l == NULL || l->o.list_owned)
    return;
  mproc__shobj_release(&l->o);
  mproc__free(l);
}

/* Becomes the owner after the OS mutex was taken with result rc (0 or MPROC_EOWNERDEAD) and
 * applies the recoverability rules; any other rc is returned as it is. */
static int lock_taken(mproc_lock_t *l, uint64_t me, int rc) {
  lock_shm *s = l->s;
  if (rc != 0) {
    if (rc != MPROC_EOWNERDEAD)
      return rc;
    if (RLD(&s->state) == LOCK_CONSISTENT)
      RST(&s->state, LOCK_INCONSISTENT);
  }
  uint8_t state = RLD(&s->state);
  if (state == LOCK_NOTRECOVERABLE) {
    mproc__os_mutex_unlock(&s->m, l->o.h[0]);
    return MPROC_ENOTRECOVERABLE;
  }
  RST(&s->owner, me);
  s->count = 1;
  return state == LOCK_INCONSISTENT ? MPROC_EOWNERDEAD : 0;
}

/* Takes the OS mutex and becomes the owner. */
static int lock_take(mproc_lock_t *l, uint64_t me, int64_t deadline) {
  return lock_taken(l, me, mproc__os_mutex_lock(&l->s->m, l->o.h[0], deadline));
}

/* The caller already holds l: one more level of an RLock, else "would deadlock". */
static int lock_again(lock_shm *s, int64_t timeout_ms) {
  if (!s->recursive)
    return timeout_ms == 0 ? MPROC_ETIMEDOUT : MPROC_EDEADLK;
  if (s->count == UINT32_MAX)
    return MPROC_ERANGE;
  s->count++;
  return 0;
}

int mproc_lock_acquire(mproc_lock_t *l, int64_t timeout_ms) {
  if (l == NULL || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  uint64_t me = mproc__os_thread_token();
  if (RLD(&l->s->owner) == me) /* only this thread ever stores its token */
    return lock_again(l->s, timeout_ms);
  int64_t deadline = OS_NO_DEADLINE;
  if (timeout_ms != MPROC_FOREVER)
    deadline =
        timeout_ms == 0 ? 0 : mproc__os_deadline(timeout_ms); /* 0: already passed, no clock */
  return lock_take(l, me, deadline);
}

int mproc_lock_release(mproc_lock_t *l) {
  if (l == NULL)
    return MPROC_EINVAL;
  lock_shm *s = l->s;
  uint64_t owner = RLD(&s->owner);
  if (owner != mproc__os_thread_token())
    return owner == 0 ? MPROC_EOVERRELEASE : MPROC_ENOTOWNER;
  if (--s->count > 0)
    return 0;
  /* Released without mproc_lock_consistent: nobody vouched for the data. */
  if (RLD(&s->state) == LOCK_INCONSISTENT)
    RST(&s->state, LOCK_NOTRECOVERABLE);
  RST(&s->owner, 0);
  return mproc__os_mutex_unlock(&s->m, l->o.h[0]);
}

int mproc_lock_consistent(mproc_lock_t *l) {
  if (l == NULL)
    return MPROC_EINVAL;
  if (RLD(&l->s->owner) != mproc__os_thread_token())
    return MPROC_ENOTOWNER;
  uint8_t want = LOCK_INCONSISTENT;
  return CAS(&l->s->state, &want, LOCK_CONSISTENT) ? 0 : MPROC_ESTATE;
}

int mproc_lock_is_mine(const mproc_lock_t *l) {
  if (l == NULL)
    return MPROC_EINVAL;
  return RLD(&l->s->owner) == mproc__os_thread_token();
}

int mproc_lock_is_recursive(const mproc_lock_t *l) {
  if (l == NULL)
    return MPROC_EINVAL;
  return l->s->recursive != 0;
}

/* Condition support: give up every level of the lock, and take it back at the same depth. */
static uint32_t lock_release_all(mproc_lock_t *l) {
  uint32_t depth = l->s->count;
  l->s->count = 1;
  mproc_lock_release(l);
  return depth;
}

static int lock_reacquire(mproc_lock_t *l, uint32_t depth) {
  int rc = lock_take(l, mproc__os_thread_token(), OS_NO_DEADLINE);
  if (rc == 0 || rc == MPROC_EOWNERDEAD)
    l->s->count = depth;
  return rc;
}

static void put_records(mp_buf *b, const mp_shobj *const *objs, uint8_t n) {
  mproc__put_u8(b, n);
  for (uint8_t i = 0; i < n; i++)
    mproc__shobj_encode(objs[i], b);
}

int mproc__lock_encode(const mproc_lock_t *l, mp_buf *b) {
  const mp_shobj *recs[] = {&l->o};
  put_records(b, recs, 1);
  return b->err;
}

const mp_shobj *mproc__lock_shobj(const mproc_lock_t *l) { return &l->o; }

/* Decodes one record into o and checks that its block can hold `need` bytes. On failure
 * nothing is kept: the block reference and the duplicated handles are given back (a record
 * that fails after decoding would otherwise keep a segment mapped and its fds open). */
static int adopt_shobj(mp_rd *r, mp_hmap *hm, mp_shobj *o, size_t need) {
  int rc = mproc__shobj_decode(r, hm, o); /* releases what it took when it fails */
  if (rc == 0 && o->blk.size < need) {
    mproc__shobj_release(o);
    rc = MPROC_EPROTO;
  }
  return rc;
}

/* Adopts one lock record (the record count is read by the caller). */
int mproc__lock_adopt_record(mp_rd *r, mp_hmap *hm, mproc_lock_t **out) {
  mproc_lock_t *l = mproc__calloc(1, sizeof *l);
  if (l == NULL)
    return MPROC_ENOMEM;
  int rc = adopt_shobj(r, hm, &l->o, sizeof(lock_shm));
  if (rc != 0) {
    mproc__free(l);
    return rc;
  }
  l->s = l->o.blk.p;
  *out = l;
  return 0;
}

static int read_nrec(mp_rd *r, uint8_t want) { return mproc__get_u8(r) == want ? 0 : MPROC_EPROTO; }

int mproc__lock_adopt(mp_rd *r, mp_hmap *hm, mproc_lock_t **out) {
  int rc = read_nrec(r, 1);
  return rc ? rc : mproc__lock_adopt_record(r, hm, out);
}

/* ============================== Semaphore ============================== */

typedef struct sem_shm {
  uint32_t value;    /* the futex word */
  uint32_t sleepers;
  uint32_t bound;    /* BoundedSemaphore: the initial value; 0 = unbounded */
  uint32_t bounded;
} sem_shm;

struct mproc_semaphore {
  mp_shobj o; /* h[0]: park semaphore (Windows) */
  sem_shm *s;
};

static int sem_create(mproc_semaphore_t **out, unsigned value, int bounded) {
  if (out == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  if (value > MPROC_SEMAPHORE_MAX)
    return MPROC_ERANGE;
  mproc_semaphore_t *s = mproc__calloc(1, sizeof *s);
  if (s == NULL)
    return MPROC_ENOMEM;
  int rc = mproc__shobj_create(&s->o, sizeof(sem_shm));
  if (rc == 0) {
    s->s = s->o.blk.p;
    s->s->value = value;
    s->s->bound = value;
    s->s->bounded = (uint32_t)bounded;
    rc = mproc__os_park_new(&s->o.h[0]);
  }
  if (rc != 0) {
    mproc_semaphore_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

int mproc_semaphore_new(mproc_semaphore_t **out, unsigned value) {
  return sem_create(out, value, 0);
}
int mproc_bounded_semaphore_new(mproc_semaphore_t **out, unsigned value) {
  return sem_create(out, value, 1);
}

void mproc_semaphore_free(mproc_semaphore_t *s) {
  if (s == NULL || s->o.list_owned)
    return;
  mproc__shobj_release(&s->o);
  mproc__free(s);
}

static int sem_try(sem_shm *s) {
  uint32_t v = LD(&s->value);
  while (v > 0)
    if (CAS(&s->value, &v, v - 1))
      return 1;
  return 0;
}

int mproc_semaphore_acquire(mproc_semaphore_t *sem, int64_t timeout_ms) {
  if (sem == NULL || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  if (sem_try(sem->s))
    return 0;
  int64_t deadline;
  mproc__timeout_deadline(timeout_ms, &deadline);
  for (;;) {
    int rc = mproc__park(sem->o.h[0], &sem->s->sleepers, &sem->s->value, 0, deadline);
    if (sem_try(sem->s))
      return 0;
    if (rc != 0)
      return rc;
  }
}

int mproc_semaphore_release(mproc_semaphore_t *sem) {
  if (sem == NULL)
    return MPROC_EINVAL;
  sem_shm *s = sem->s;
  uint32_t v = LD(&s->value);
  do {
    if (s->bounded && v >= s->bound)
      return MPROC_EOVERRELEASE;
    if (v >= MPROC_SEMAPHORE_MAX)
      return MPROC_ERANGE;
  } while (!CAS(&s->value, &v, v + 1));
  mproc__unpark(sem->o.h[0], &s->sleepers, &s->value, 1);
  return 0;
}

int mproc_semaphore_get_value(const mproc_semaphore_t *s, int *out) {
  if (s == NULL || out == NULL)
    return MPROC_EINVAL;
  *out = (int)LD(&s->s->value);
  return 0;
}

int mproc__semaphore_encode(const mproc_semaphore_t *s, mp_buf *b) {
  const mp_shobj *recs[] = {&s->o};
  put_records(b, recs, 1);
  return b->err;
}

int mproc__semaphore_adopt(mp_rd *r, mp_hmap *hm, mproc_semaphore_t **out) {
  int rc = read_nrec(r, 1);
  mproc_semaphore_t *s = rc ? NULL : mproc__calloc(1, sizeof *s);
  if (s == NULL)
    return rc ? rc : MPROC_ENOMEM;
  rc = adopt_shobj(r, hm, &s->o, sizeof(sem_shm));
  if (rc != 0) {
    mproc__free(s);
    return rc;
  }
  s->s = s->o.blk.p;
  *out = s;
  return 0;
}

/* ============================== Condition ============================== */

/* Notifications are tokens: notify(n) moves min(n, waiting) waiters' worth from nwait to
 * to_wake and bumps seq; a waiter returns "notified" only by taking a token under the lock,
 * and only if seq moved since it began to wait (a notify counted it). So exactly that many
 * waiters wake however the wake-ups race, a waiter that came after the notify cannot take the
 * token of one that was there before it, and nobody waits for a woken waiter to acknowledge
 * (Python's woken_count handshake, which a dead waiter wedges). */
typedef struct cond_shm {
  uint32_t seq;      /* the futex word */
  uint32_t sleepers;
  uint32_t nwait;    /* waiting, not yet notified (lock held) */
  uint32_t to_wake;  /* notifications not yet taken (lock held) */
} cond_shm;

struct mproc_condition {
  mp_shobj o; /* h[0]: park semaphore (Windows) */
  cond_shm *s;
  mproc_lock_t *lock;
  int own_lock;
};

int mproc_condition_new(mproc_condition_t **out, mproc_lock_t *lock) {
  if (out == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  mproc_condition_t *c = mproc__calloc(1, sizeof *c);
  if (c == NULL)
    return MPROC_ENOMEM;
  int rc = mproc__shobj_create(&c->o, sizeof(cond_shm));
  if (rc == 0) {
    c->s = c->o.blk.p;
    rc = mproc__os_park_new(&c->o.h[0]);
  }
  if (rc == 0 && lock == NULL) {
    rc = mproc_rlock_new(&c->lock);
    c->own_lock = rc == 0;
  } else {
    c->lock = lock;
  }
  if (rc != 0) {
    mproc_condition_free(c);
    return rc;
  }
  *out = c;
  return 0;
}

void mproc_condition_free(mproc_condition_t *c) {
  if (c == NULL || c->o.list_owned)
    return;
  if (c->own_lock)
    mproc_lock_free(c->lock);
  mproc__shobj_release(&c->o);
  mproc__free(c);
}

mproc_lock_t *mproc_condition_lock(const mproc_condition_t *c) { return c ? c->lock : NULL; }

int mproc_condition_acquire(mproc_condition_t *c, int64_t timeout_ms) {
  return c ? mproc_lock_acquire(c->lock, timeout_ms) : MPROC_EINVAL;
}

int mproc_condition_release(mproc_condition_t *c) {
  return c ? mproc_lock_release(c->lock) : MPROC_EINVAL;
}

/* One sleep of a waiter: lock released around the park, retaken at the same depth. */
static int cond_sleep(mproc_condition_t *c, int64_t deadline, int *lock_rc) {
  uint32_t seq = LD(&c->s->seq);
  uint32_t depth = lock_release_all(c->lock);
  int rc = mproc__park(c->o.h[0], &c->s->sleepers, &c->s->seq, seq, deadline);
  *lock_rc = lock_reacquire(c->lock, depth);
  return rc;
}

int mproc_condition_wait(mproc_condition_t *c, int64_t timeout_ms) {
  if (c == NULL || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  if (mproc_lock_is_mine(c->lock) != 1)
    return MPROC_ENOTOWNER;
  int64_t deadline;
  mproc__timeout_deadline(timeout_ms, &deadline);
  cond_shm *s = c->s;
  uint32_t seq0 = LD(&s->seq); /* tokens of notifies before this one are not ours */
  s->nwait++;
  for (;;) {
    int lock_rc = 0;
    int rc = cond_sleep(c, deadline, &lock_rc);
    if (lock_rc == MPROC_ENOTRECOVERABLE)
      return lock_rc; /* the lock is gone for everyone; the counters no longer matter */
    /* Woken spuriously (Windows: a permit left over in the park semaphore) before any notify
     * counted us, a token here belongs to an earlier waiter: taking it would leave that one
     * asleep with its notification gone (a producer taking a consumer's, then both sides
     * asleep for good). */
    if (s->to_wake > 0 && LD(&s->seq) != seq0) {
      s->to_wake--;
      return lock_rc;
    }
    if (rc != 0) { /* timed out (or failed) without a token: no longer waiting */
      s->nwait--;
      return lock_rc ? lock_rc : rc;
    }
  }
}

int mproc_condition_wait_for(mproc_condition_t *c, int (*pred)(void *ctx), void *ctx,
                             int64_t timeout_ms) {
  if (c == NULL || pred == NULL || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  int64_t deadline;
  mproc__timeout_deadline(timeout_ms, &deadline);
  while (!pred(ctx)) {
    int64_t left = MPROC_FOREVER;
    if (deadline != OS_NO_DEADLINE) {
      int64_t ns = deadline - mproc__os_now_ns();
      if (ns <= 0)
        return MPROC_ETIMEDOUT;
      left = (ns + 999999) / 1000000;
    }
    int rc = mproc_condition_wait(c, left);
    if (rc != 0 && rc != MPROC_ETIMEDOUT)
      return rc;
  }
  return 0;
}

int mproc_condition_notify(mproc_condition_t *c, size_t n) {
  if (c == NULL)
    return MPROC_EINVAL;
  if (mproc_lock_is_mine(c->lock) != 1)
    return MPROC_ENOTOWNER;
  cond_shm *s = c->s;
  uint32_t k = n < s->nwait ? (uint32_t)n : s->nwait;
  if (k == 0)
    return 0;
  s->nwait -= k;
  s->to_wake += k;
  MPROC__ATOMIC_ADD_FETCH(&s->seq, 1, MPROC__ATOMIC_SEQ_CST);
  mproc__unpark(c->o.h[0], &s->sleepers, &s->seq, k);
  return 0;
}

int mproc_condition_notify_all(mproc_condition_t *c) {
  return mproc_condition_notify(c, (size_t)-1);
}

int mproc__condition_encode(const mproc_condition_t *c, mp_buf *b) {
  const mp_shobj *recs[] = {&c->o, &c->lock->o};
  put_records(b, recs, 2);
  mproc__put_u8(b, (uint8_t)c->lock->s->recursive);
  return b->err;
}

int mproc__condition_adopt(mp_rd *r, mp_hmap *hm, mproc_condition_t **out) {
  int rc = read_nrec(r, 2);
  mproc_condition_t *c = rc ? NULL : mproc__calloc(1, sizeof *c);
  if (c == NULL)
    return rc ? rc : MPROC_ENOMEM;
  rc = mproc__shobj_decode(r, hm, &c->o);
  if (rc == 0 && c->o.blk.size < sizeof(cond_shm))
    rc = MPROC_EPROTO;
  if (rc == 0) {
    c->s = c->o.blk.p;
    rc = mproc__lock_adopt_record(r, hm, &c->lock);
    c->own_lock = rc == 0;
  }
  mproc__get_u8(r);
  if (rc == 0 && r->err)
    rc = r->err;
  if (rc != 0) {
    mproc_condition_free(c);
    return rc;
  }
  *out = c;
  return 0;
}

/* ============================== Event ============================== */

/* The word is the flag (bit 0) and a generation (the other bits) bumped by every set() that
 * changes the flag. A waiter returns as soon as either differs from what it saw, so a set()
 * at once undone by a clear() still releases everyone who was waiting at the time, as
 * threading.Event does (a flag word alone would read 0 again by the time a woken waiter looks,
 * and it would sleep on until its timeout). Wrap-around needs 2^31 sets during one sleep. */
#define EV_FLAG 1u
#define EV_GEN 2u

typedef struct event_shm {
  uint32_t word; /* the futex word: generation << 1 | flag */
  uint32_t sleepers;
} event_shm;

struct mproc_event {
  mp_shobj o; /* h[0]: park semaphore (Windows) */
  event_shm *s;
};

int mproc_event_new(mproc_event_t **out) {
  if (out == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  mproc_event_t *e = mproc__calloc(1, sizeof *e);
  if (e == NULL)
    return MPROC_ENOMEM;
  int rc = mproc__shobj_create(&e->o, sizeof(event_shm));
  if (rc == 0) {
    e->s = e->o.blk.p;
    rc = mproc__os_park_new(&e->o.h[0]);
  }
  if (rc != 0) {
    mproc_event_free(e);
    return rc;
  }
  *out = e;
  return 0;
}

void mproc_event_free(mproc_event_t *e) {
  if (e == NULL || e->o.list_owned)
    return;
  mproc__shobj_release(&e->o);
  mproc__free(e);
}

int mproc_event_set(mproc_event_t *e) {
  if (e == NULL)
    return MPROC_EINVAL;
  /* One CAS, no lock and no wait for anybody: safe in a signal handler (A13). */
  uint32_t w = LD(&e->s->word);
  do {
    if (w & EV_FLAG)
      return 0;
  } while (!CAS(&e->s->word, &w, (w + EV_GEN) | EV_FLAG));
  mproc__unpark(e->o.h[0], &e->s->sleepers, &e->s->word, UINT32_MAX);
  return 0;
}

int mproc_event_clear(mproc_event_t *e) {
  if (e == NULL)
    return MPROC_EINVAL;
  MPROC__ATOMIC_FETCH_AND(&e->s->word, ~EV_FLAG, MPROC__ATOMIC_SEQ_CST);
  return 0;
}

int mproc_event_is_set(const mproc_event_t *e) {
  if (e == NULL)
    return MPROC_EINVAL;
  return (LD(&e->s->word) & EV_FLAG) != 0;
}

int mproc_event_wait(mproc_event_t *e, int64_t timeout_ms) {
  if (e == NULL || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  uint32_t seen = LD(&e->s->word);
  if (seen & EV_FLAG)
    return 0;
  int64_t deadline;
  mproc__timeout_deadline(timeout_ms, &deadline);
  for (;;) {
    int rc = mproc__park(e->o.h[0], &e->s->sleepers, &e->s->word, seen, deadline);
    uint32_t now = LD(&e->s->word);
    if ((now & EV_FLAG) || (now & ~EV_FLAG) != (seen & ~EV_FLAG))
      return 0; /* set now, or set (and cleared again) while we slept */
    if (rc != 0)
      return rc;
  }
}

int mproc__event_encode(const mproc_event_t *e, mp_buf *b) {
  const mp_shobj *recs[] = {&e->o};
  put_records(b, recs, 1);
  return b->err;
}

int mproc__event_adopt(mp_rd *r, mp_hmap *hm, mproc_event_t **out) {
  int rc = read_nrec(r, 1);
  mproc_event_t *e = rc ? NULL : mproc__calloc(1, sizeof *e);
  if (e == NULL)
    return rc ? rc : MPROC_ENOMEM;
  rc = adopt_shobj(r, hm, &e->o, sizeof(event_shm));
  if (rc != 0) {
    mproc__free(e);
    return rc;
  }
  e->s = e->o.blk.p;
  *out = e;
  return 0;
}
