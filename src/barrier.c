/* SPDX-License-Identifier: MIT */
/*
 * Barrier: Python's semantics (arrival index, action in the last to arrive, timeout and abort
 * break it, reset restores it) as a generation barrier over a robust mutex, with waiters parked
 * on a word bumped at every change.
 *
 * Python's threading.Barrier makes each cycle drain (every waiter leaves) before the next can
 * fill. Across processes that is a trap: a party killed while waiting never leaves, and the
 * barrier stays draining for ever (not even reset() helps). Here a waiter remembers the cycle
 * it joined: the cycle counter moving on means "released", the reset counter moving on or the
 * broken state means "broken". Nobody waits for anybody to leave, so a dead party costs at most
 * the cycle it was in. A party that dies inside the short critical section (the mutex reports
 * owner death) breaks the barrier. The action is found in each process like a process target
 * and travels in the argument, not in shared memory.
 *
 * A party killed while it waits would otherwise leave the others waiting for a cycle that can
 * never fill (for ever with MPROC_FOREVER). So each arrival writes its pid into the slot of its
 * arrival index, and a waiter wakes every LIVENESS_SLICE_MS to look at one other slot: the
 * waiter at index i watches slot i + 1 (the last watches slot 0), a ring, so a dead party is
 * seen by the live one before it whatever else died, at one pid check per waiter per slice (not
 * one per pair). A dead party breaks the barrier for everyone. The fast path pays one store.
 * A party that dies before it arrives cannot be told from one that is late: that still costs
 * the timeout.
 */
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "atomics.h"
#include "alloc.h"

#define LD(p) MPROC__ATOMIC_LOAD((p), MPROC__ATOMIC_SEQ_CST)
#define ST(p, v) MPROC__ATOMIC_STORE((p), (v), MPROC__ATOMIC_SEQ_CST)

enum { B_FILLING = 0, B_BROKEN = 1 };

typedef struct barrier_shm {
  os_mutex_mem m;
  uint32_t word;     /* the futex word: bumped on every change waiters watch */
  uint32_t sleepers;
  uint32_t parties;
  uint32_t count;    /* arrived in the current cycle */
  uint32_t state;    /* B_*; read without the mutex only by broken() / n_waiting() */
  uint32_t cycle;    /* bumped when a cycle is released */
  uint32_t resets;   /* bumped by reset() */
  int64_t timeout_ms;
  uint32_t nslots;   /* pids[] entries: parties, up to MAX_SLOTS */
  uint32_t pad;
  int64_t pids[];    /* pid of the party that arrived i-th in the current cycle */
} barrier_shm;

/* Arrivals past this many are not recorded (a pid check for each is not worth the memory); the
 * recorded ones still watch them. */
#define MAX_SLOTS 4096u
#define LIVENESS_SLICE_MS 100

static size_t shm_size(uint32_t nslots) {
  return sizeof(barrier_shm) + (size_t)nslots * sizeof(int64_t);
}

struct mproc_barrier {
  mp_shobj o; /* h[0]: mutex, h[1]: park semaphore (Windows) */
  barrier_shm *s;
  mproc_barrier_action_fn action;
  int has_action;   /* an action was given (it may fail to resolve in this process) */
  mp_target_ref *ref;
};

int mproc_barrier_new(mproc_barrier_t **out, unsigned parties, mproc_barrier_action_fn action,
                      int64_t timeout_ms) {
  if (out == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  if (parties == 0 || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  mproc_barrier_t *b = mproc__calloc(1, sizeof *b);
  if (b == NULL)
    return MPROC_ENOMEM;
  uint32_t nslots = parties < MAX_SLOTS ? parties : MAX_SLOTS;
  int rc = mproc__shobj_create(&b->o, shm_size(nslots));
  if (rc == 0) {
    b->s = b->o.blk.p;
    b->s->nslots = nslots;
    b->s->parties = parties;
    b->s->timeout_ms = timeout_ms;
    rc = mproc__os_mutex_init(&b->s->m, &b->o.h[0]);
  }
  if (rc == 0)
    rc = mproc__os_park_new(&b->o.h[1]);
  if (rc == 0 && action != NULL) {
    b->action = action;
    b->has_action = 1;
    b->ref = mproc__malloc(sizeof *b->ref);
    rc = b->ref ? mproc__target_locate((mproc_target_fn)(void (*)(void))action, b->ref)
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
  if (b == NULL || b->o.list_owned)
    return;
  mproc__shobj_release(&b->o);
  mproc__free(b->ref);
  mproc__free(b);
}

/* --- the state machine, all with the mutex held ----------------------------------------------- */

static void changed(mproc_barrier_t *b) {
  MPROC__ATOMIC_ADD_FETCH(&b->s->word, 1, MPROC__ATOMIC_SEQ_CST);
  mproc__unpark(b->o.h[1], &b->s->sleepers, &b->s->word, UINT32_MAX);
}

static void set_broken(mproc_barrier_t *b) {
  ST(&b->s->state, B_BROKEN);
  changed(b);
}

static int lock(mproc_barrier_t *b) {
  int rc = mproc__os_mutex_lock(&b->s->m, b->o.h[0], OS_NO_DEADLINE);
  if (rc == MPROC_EOWNERDEAD) { /* a party died mid-update: nothing here can be trusted */
    set_broken(b);
    rc = 0;
  }
  return rc;
}

static void unlock(mproc_barrier_t *b) { mproc__os_mutex_unlock(&b->s->m, b->o.h[0]); }

static int run_action(mproc_barrier_t *b) {
  if (!b->has_action)
    return 0;
  if (b->action == NULL)
    return MPROC_ENOTARGET; /* the action could not be found in this process */
  return b->action() == 0 ? 0 : MPROC_EBROKEN;
}

/* The last to arrive: run the action, then start the next cycle, releasing everyone. */
static int release_all(mproc_barrier_t *b) {
  if (run_action(b) != 0) {
    set_broken(b);
    return MPROC_EBROKEN;
  }
  b->s->count = 0;
  b->s->cycle++;
  changed(b);
  return 0;
}

/* Whether the party the waiter at idx watches (see the top) has died. Mutex held. */
static int watched_dead(const barrier_shm *s, unsigned idx) {
  uint32_t m = s->count < s->nslots ? s->count : s->nslots;
  if (m < 2)
    return 0;
  uint32_t slot = idx < m ? (idx + 1) % m : idx % m;
  int64_t pid = s->pids[slot];
  return pid != 0 && pid != mproc__os_getpid() && !mproc__os_pid_alive(pid);
}

/* Until the cycle joined is released; a timeout breaks the barrier, as in Python, and so does
 * a waiting party that died. */
static int wait_release(mproc_barrier_t *b, unsigned idx, int64_t deadline) {
  barrier_shm *s = b->s;
  uint32_t cycle = s->cycle, resets = s->resets;
  for (;;) {
    if (s->cycle != cycle)
      return 0;
    if (s->resets != resets || s->state == B_BROKEN)
      return MPROC_EBROKEN;
    uint32_t word = LD(&s->word);
    int64_t slice = mproc__os_deadline(LIVENESS_SLICE_MS);
    int64_t until = slice < deadline ? slice : deadline;
    unlock(b);
    int rc = mproc__park(b->o.h[1], &s->sleepers, &s->word, word, until);
    int lrc = lock(b);
    if (lrc != 0)
      return lrc;
    if (rc == MPROC_ETIMEDOUT && until != deadline)
      rc = 0; /* only the slice ended */
    int same = s->cycle == cycle && s->resets == resets && s->state != B_BROKEN;
    if (same && (rc == MPROC_ETIMEDOUT || watched_dead(s, idx))) {
      set_broken(b);
      return MPROC_EBROKEN;
    }
    if (rc != 0 && rc != MPROC_ETIMEDOUT)
      return rc;
  }
}

int mproc_barrier_wait(mproc_barrier_t *b, int64_t timeout_ms, unsigned *index) {
  if (b == NULL || (timeout_ms < MPROC_FOREVER && timeout_ms != MPROC_BARRIER_DEFAULT_TIMEOUT))
    return MPROC_EINVAL;
  if (timeout_ms == MPROC_BARRIER_DEFAULT_TIMEOUT)
    timeout_ms = b->s->timeout_ms;
  int64_t deadline;
  mproc__timeout_deadline(timeout_ms, &deadline);
  int rc = lock(b);
  if (rc != 0)
    return rc;
  barrier_shm *s = b->s;
  if (s->state == B_BROKEN) {
    unlock(b);
    return MPROC_EBROKEN;
  }
  unsigned idx = s->count++;
  if (idx < s->nslots)
    s->pids[idx] = mproc__os_getpid();
  if (idx + 1 >= s->parties)
    rc = release_all(b);
  else
    rc = wait_release(b, idx, deadline);
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
  /* Waiters of the interrupted cycle see the reset counter move and fail; the barrier is
   * fresh at once, whoever was waiting, alive or dead. */
  b->s->count = 0;
  b->s->resets++;
  ST(&b->s->state, B_FILLING);
  changed(b);
  unlock(b);
  return 0;
}

int mproc_barrier_abort(mproc_barrier_t *b) {
  if (b == NULL)
    return MPROC_EINVAL;
  int rc = lock(b);
  if (rc != 0)
    return rc;
  set_broken(b);
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

int mproc__barrier_encode(const mproc_barrier_t *b, mp_buf *out) {
  mproc__put_u8(out, 1);
  mproc__shobj_encode(&b->o, out);
  mproc__put_u8(out, (uint8_t)b->has_action);
  if (b->has_action)
    mproc__target_encode(b->ref, out);
  return out->err;
}

int mproc__barrier_adopt(mp_rd *r, mp_hmap *hm, mproc_barrier_t **out) {
  if (mproc__get_u8(r) != 1)
    return MPROC_EPROTO;
  mproc_barrier_t *b = mproc__calloc(1, sizeof *b);
  if (b == NULL)
    return MPROC_ENOMEM;
  int rc = mproc__shobj_decode(r, hm, &b->o);
  if (rc == 0 && (b->o.blk.size < sizeof(barrier_shm) ||
                  b->o.blk.size < shm_size(((barrier_shm *)b->o.blk.p)->nslots)))
    rc = MPROC_EPROTO;
  if (rc == 0) {
    b->s = b->o.blk.p;
    b->has_action = mproc__get_u8(r) != 0;
  }
  if (rc == 0 && b->has_action) {
    b->ref = mproc__malloc(sizeof *b->ref);
    rc = b->ref ? mproc__target_decode(r, b->ref) : MPROC_ENOMEM;
    mproc_target_fn fn = NULL;
    /* Unresolvable here: the barrier still works until this process must run the action. */
    if (rc == 0 && mproc__target_resolve(b->ref, &fn) == 0)
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
