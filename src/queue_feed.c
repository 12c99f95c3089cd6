/* SPDX-License-Identifier: MIT */
/*
 * The overflow of unbounded queues where a named segment cannot outlive its creator (Windows;
 * elsewhere put sends it to the shared overflow, queue_ovf.c, and nothing is kept here).
 * Python's put on an unbounded Queue never waits; neither
 * does ours: when the shared ring is full, the item is kept in this process and a feeder
 * thread (started on demand, ending when the overflow is empty) moves it into the ring as room
 * appears. Once something of this process is held back, later puts queue behind it, so each
 * producer's items keep their order. At exit the process waits for its overflow to be
 * delivered, as Python's Queue joins its feeder thread, unless cancel_join_thread was called.
 *
 * A JoinableQueue counts a held-back item as unfinished from put on (as Python counts it in
 * put), in the queue's shared held table, one slot per producing process, so that join() can
 * tell the items of a producer that died from the items of one that is still feeding: a dead
 * producer's held items can never come, and join() drops them from the count instead of
 * waiting for them for good.
 */
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "atomics.h"
#include "alloc.h"

#define OVERFLOW_WAIT_NS 50000 /* 50 us */

static mproc_queue_t *g_overflowed;
static int g_atexit_registered;

static void drop_items(mproc_queue_t *q, ovf_item *it, size_t published);

/* --- the held table ----------------------------------------------------------------------------
 * A slot's word is pid << 32 | count. A process takes a free slot (word 0) with one CAS,
 * stores its birth (mproc__os_pid_birth), then counts; it gives the slot back when its count
 * returns to 0 (no item of it refers to the slot then). Only the owner changes the count, by CAS
 * loops that check the pid is still its own, so a count never lands on a slot somebody else took,
 * and whoever reads a count above 0 then reads the birth of the process holding those items:
 * a pid reused meanwhile by another process (Windows reuses them soon) is told apart by it.
 * A slot whose owner is dead is freed by one CAS from the very word that was judged: with
 * items, by join()'s reaper or a producer looking for a slot (the items are gone with the
 * process); with none, by a producer looking for a slot. A process that finds no slot
 * (HELD_SLOTS live producers holding items back at once) does not count its held-back items
 * until the feeder publishes them (slot -1): join() may then return before they arrive, but
 * never waits for them after that process died. */

#define W_PID(w) ((w) >> 32)
#define W_CNT(w) ((uint32_t)(w))

/* Global lock held. */
static uint64_t my_birth(void) {
  static int64_t pid; /* cached per pid: a forked child is another process */
  static uint64_t birth;
  int64_t me = mproc__os_getpid();
  if (pid != me) {
    birth = mproc__os_pid_birth(me);
    pid = me;
  }
  return birth;
}

/* Whether the owner of the slot, as seen in word w, has exited (or its pid names another
 * process now). The birth is trusted only with a count above 0: before that it may be a former
 * owner's. */
static int owner_dead(const held_slot *sl, uint64_t w) {
  int64_t pid = (int64_t)W_PID(w);
  if (!mproc__os_pid_alive(pid))
    return 1;
  if (W_CNT(w) == 0)
    return 0;
  uint64_t was = MPROC__ATOMIC_LOAD(&sl->birth, MPROC__ATOMIC_SEQ_CST),
      now = mproc__os_pid_birth(pid);
  return was != 0 && now != 0 && was != now;
}

/* Frees slot i if its owner is dead; returns the items it held (they are lost). */
static uint32_t reap_slot(held_slot *sl) {
  uint64_t w = MPROC__ATOMIC_LOAD(&sl->word, MPROC__ATOMIC_SEQ_CST);
  if (w == 0 || !owner_dead(sl, w))
    return 0;
  if (!MPROC__ATOMIC_COMPARE_EXCHANGE(&sl->word, &w, 0, 0, MPROC__ATOMIC_SEQ_CST,
                                      MPROC__ATOMIC_SEQ_CST))
    return 0;
  return W_CNT(w);
}

uint32_t mproc__held_total(const held_table *h) {
  uint32_t n = 0;
  for (int i = 0; i < HELD_SLOTS; i++)
    n += W_CNT(MPROC__ATOMIC_LOAD(&h->slot[i].word, MPROC__ATOMIC_SEQ_CST));
  return n;
}

uint32_t mproc__held_reap(mproc_queue_t *q) {
  uint32_t lost = 0;
  for (int i = 0; i < HELD_SLOTS; i++)
    if (W_CNT(MPROC__ATOMIC_LOAD(&q->held->slot[i].word, MPROC__ATOMIC_SEQ_CST)) != 0)
      lost += reap_slot(&q->held->slot[i]);
  if (lost)
    mproc__queue_unheld(q);
  return lost;
}

/* Adds one to the slot if this process owns it; 0 if it did. Only the claim stores the birth:
 * a store here could land on a slot that was given back and taken by another process. */
static int count_in(held_slot *sl, uint64_t me, uint64_t birth) {
  uint64_t w = MPROC__ATOMIC_LOAD(&sl->word, MPROC__ATOMIC_SEQ_CST);
  if (W_PID(w) != me)
    return -1;
  if (birth != 0 && MPROC__ATOMIC_LOAD(&sl->birth, MPROC__ATOMIC_SEQ_CST) != birth)
    return -1; /* a former process with this pid died owning it: reaped below if it held items */
  while (W_PID(w) == me && W_CNT(w) != UINT32_MAX)
    if (MPROC__ATOMIC_COMPARE_EXCHANGE(&sl->word, &w, w + 1, 0, MPROC__ATOMIC_SEQ_CST,
                                       MPROC__ATOMIC_SEQ_CST))
      return 0;
  return -1;
}

/* Global lock held (claims of one process do not race): counts a new held-back item for join()
 * in this process's slot, taking one if needed; the slot, or -1 when the table is full. */
static int held_count(mproc_queue_t *q) {
  held_table *h = q->held;
  uint64_t me = (uint64_t)(uint32_t)mproc__os_getpid(), birth = my_birth();
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < HELD_SLOTS; i++)
      if (count_in(&h->slot[i], me, birth) == 0)
        return i;
    for (int i = 0; i < HELD_SLOTS; i++) {
      uint64_t w = 0;
      if (!MPROC__ATOMIC_COMPARE_EXCHANGE(&h->slot[i].word, &w, me << 32, 0, MPROC__ATOMIC_SEQ_CST,
                                       MPROC__ATOMIC_SEQ_CST))
        continue;
      MPROC__ATOMIC_STORE(&h->slot[i].birth, birth, MPROC__ATOMIC_SEQ_CST); /* before the count */
      if (count_in(&h->slot[i], me, birth) == 0)
        return i;
    }
    uint32_t lost = 0; /* full: free the slots of dead producers, then look once more */
    for (int i = 0; i < HELD_SLOTS; i++)
      lost += reap_slot(&h->slot[i]);
    if (lost)
      mproc__queue_unheld(q);
  }
  return -1;
}

void mproc__held_release(mproc_queue_t *q, const ovf_item *it) {
  if (it->slot < 0)
    return;
  held_slot *sl = &q->held->slot[it->slot];
  uint64_t me = (uint64_t)(uint32_t)mproc__os_getpid();
  uint64_t w = MPROC__ATOMIC_LOAD(&sl->word, MPROC__ATOMIC_SEQ_CST);
  /* A slot no longer ours, or emptied, was judged dead: its items were dropped already. */
  while (W_PID(w) == me && W_CNT(w) != 0)
    if (MPROC__ATOMIC_COMPARE_EXCHANGE(&sl->word, &w, w - 1, 0, MPROC__ATOMIC_SEQ_CST,
                                       MPROC__ATOMIC_SEQ_CST)) {
      /* The last one: the slot goes back to the table (unless a put counted another meanwhile,
       * which makes this CAS fail). */
      uint64_t empty = me << 32;
      if (W_CNT(w) == 1)
        MPROC__ATOMIC_COMPARE_EXCHANGE(&sl->word, &empty, 0, 0, MPROC__ATOMIC_SEQ_CST,
                                       MPROC__ATOMIC_SEQ_CST);
      break;
    }
  mproc__queue_unheld(q);
}

/* --- the feeder ------------------------------------------------------------------------------ */

/* Takes the whole overflow at a time and puts it with one lock hold per batch. The queue
 * counts as overflowing (feeder_running) until the feeder found the list empty, so puts made
 * meanwhile queue up behind the batch instead of overtaking it. */
static void feeder_main(void *arg) {
  mproc_queue_t *q = arg;
  for (;;) {
    mproc__os_global_lock();
    ovf_item *batch = q->ovf_head;
    MPROC__ATOMIC_STORE(&q->ovf_head, NULL, MPROC__ATOMIC_RELEASE); /* read unlocked by puts */
    q->ovf_tail = NULL;
    if (batch == NULL)
      MPROC__ATOMIC_STORE(&q->feeder_running, 0, MPROC__ATOMIC_RELEASE);
    mproc__os_global_unlock();
    if (batch == NULL)
      return;
    size_t put = mproc__queue_put_list(q, batch, &q->abandon);
    drop_items(q, batch, put); /* an abandoned batch: the rest is dropped */
  }
}

/* Frees the list; the items after the first `published` leave the held count undelivered. */
static void drop_items(mproc_queue_t *q, ovf_item *it, size_t published) {
  for (ovf_item *nx; it; it = nx, published -= published > 0) {
    nx = it->next;
    if (published == 0)
      mproc__held_release(q, it);
    mproc__free(it);
  }
}

void mproc__queue_drain_overflow(mproc_queue_t *q, int drop) {
  mproc__os_global_lock();
  if (drop) { /* the feeder gives up its batch at its next wait for room */
    drop_items(q, q->ovf_head, 0);
    MPROC__ATOMIC_STORE(&q->ovf_head, NULL, MPROC__ATOMIC_RELEASE);
    q->ovf_tail = NULL;
    MPROC__ATOMIC_STORE(&q->abandon, 1, MPROC__ATOMIC_SEQ_CST);
  }
  os_thread *t = q->feeder;
  q->feeder = NULL;
  mproc__os_global_unlock();
  mproc__os_thread_join(t); /* the feeder ends when the overflow is empty */
}

static void at_exit_flush(void) {
  for (mproc_queue_t *q = g_overflowed; q; q = q->ovf_next)
    mproc__queue_drain_overflow(q, q->cancel_join);
}

/* Called with the global lock held. */
static void register_overflowed(mproc_queue_t *q) {
  for (mproc_queue_t *p = g_overflowed; p; p = p->ovf_next)
    if (p == q)
      return;
  q->ovf_next = g_overflowed;
  g_overflowed = q;
  if (!g_atexit_registered) {
    g_atexit_registered = 1;
    atexit(at_exit_flush);
  }
}

void mproc__queue_unregister(mproc_queue_t *q) {
  mproc__os_global_lock();
  for (mproc_queue_t **pp = &g_overflowed; *pp; pp = &(*pp)->ovf_next)
    if (*pp == q) {
      *pp = q->ovf_next;
      break;
    }
  mproc__os_global_unlock();
}

/* Keeps the item in this process and makes sure a feeder moves it into the ring. */
static int overflow(mproc_queue_t *q, const void *data, size_t n) {
  ovf_item *it = mproc__malloc(sizeof *it + (n ? n : 1));
  if (it == NULL)
    return MPROC_ENOMEM;
  it->next = NULL;
  it->size = n;
  if (n)
    memcpy(it->data, data, n);
  int rc = 0;
  mproc__os_global_lock();
  if (q->ovf_tail)
    q->ovf_tail->next = it;
  else
    MPROC__ATOMIC_STORE(&q->ovf_head, it, MPROC__ATOMIC_RELEASE);
  q->ovf_tail = it;
  it->slot = held_count(q); /* counted for join() until the feeder publishes it */
  register_overflowed(q);
  if (!q->feeder_running) {
    os_thread *old = q->feeder; /* a previous feeder that has finished */
    q->feeder = NULL;
    mproc__os_global_unlock();
    mproc__os_thread_join(old);
    mproc__os_global_lock();
    if (!q->feeder_running && q->feeder == NULL) {
      rc = mproc__os_thread_start(feeder_main, q, &q->feeder);
      MPROC__ATOMIC_STORE(&q->feeder_running, rc == 0, MPROC__ATOMIC_RELEASE);
    }
  }
  mproc__os_global_unlock();
  return rc;
}

int mproc__queue_put_unbounded(mproc_queue_t *q, const void *data, size_t n) {
  if (mproc__os_shm_named_persists())
    return mproc__queue_put_shared(q, data, n); /* no overflow kept here (queue_ovf.c) */
  int queued = MPROC__ATOMIC_LOAD(&q->feeder_running, MPROC__ATOMIC_ACQUIRE) ||
               MPROC__ATOMIC_LOAD(&q->ovf_head, MPROC__ATOMIC_ACQUIRE) != NULL;
  if (!queued && n <= mproc__queue_whole_max(q)) {
    if (mproc__queue_put_bytes(q, data, n, 0) == 0) /* room now: the common case, no clock */
      return 0;
    /* A full ring with a consumer at work has room again within microseconds: a short wait
     * keeps the items flowing through shared memory instead of a second copy via the feeder.
     * Without a consumer, only the put that starts an overflow pays it. */
    if (mproc__queue_put_bytes(q, data, n, mproc__os_now_ns() + OVERFLOW_WAIT_NS) == 0)
      return 0;
  }
  return overflow(q, data, n);
}

void mproc__queue_after_fork_child(void) {
  /* The parent's overflow is the parent's to deliver; its feeder threads do not exist here. */
  for (mproc_queue_t *q = g_overflowed; q; q = q->ovf_next) {
    q->feeder = NULL;
    q->feeder_running = 0;
    q->ovf_head = q->ovf_tail = NULL; /* left as it is: not ours to free or send */
  }
  if (g_overflowed != NULL)
    g_overflowed = NULL;
}
