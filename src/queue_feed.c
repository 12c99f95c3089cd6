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
 */
#include <stdlib.h>
#include <string.h>

#include "queue.h"

#define OVERFLOW_WAIT_NS 50000 /* 50 us */

static mproc_queue_t *g_overflowed;
static int g_atexit_registered;

static size_t free_items(ovf_item *it);

/* Takes the whole overflow at a time and puts it with one lock hold per batch. The queue
 * counts as overflowing (feeder_running) until the feeder found the list empty, so puts made
 * meanwhile queue up behind the batch instead of overtaking it. */
static void feeder_main(void *arg) {
  mproc_queue_t *q = arg;
  for (;;) {
    os_global_lock();
    ovf_item *batch = q->ovf_head;
    __atomic_store_n(&q->ovf_head, NULL, __ATOMIC_RELEASE); /* read unlocked by puts */
    q->ovf_tail = NULL;
    if (batch == NULL)
      __atomic_store_n(&q->feeder_running, 0, __ATOMIC_RELEASE);
    os_global_unlock();
    if (batch == NULL)
      return;
    size_t put = mp_queue_put_list(q, batch, &q->abandon);
    size_t dropped = free_items(batch) - put; /* an abandoned batch: the rest is dropped */
    if (dropped)
      mp_queue_held(q, -(int32_t)dropped);
  }
}

/* Frees the list; returns how many items it held. */
static size_t free_items(ovf_item *it) {
  size_t n = 0;
  for (ovf_item *nx; it; it = nx, n++) {
    nx = it->next;
    free(it);
  }
  return n;
}

void mp_queue_drain_overflow(mproc_queue_t *q, int drop) {
  os_global_lock();
  if (drop) { /* the feeder gives up its batch at its next wait for room */
    size_t dropped = free_items(q->ovf_head);
    if (dropped)
      mp_queue_held(q, -(int32_t)dropped);
    __atomic_store_n(&q->ovf_head, NULL, __ATOMIC_RELEASE);
    q->ovf_tail = NULL;
    __atomic_store_n(&q->abandon, 1, __ATOMIC_SEQ_CST);
  }
  os_thread *t = q->feeder;
  q->feeder = NULL;
  os_global_unlock();
  os_thread_join(t); /* the feeder ends when the overflow is empty */
}

static void at_exit_flush(void) {
  for (mproc_queue_t *q = g_overflowed; q; q = q->ovf_next)
    mp_queue_drain_overflow(q, q->cancel_join);
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

void mp_queue_unregister(mproc_queue_t *q) {
  os_global_lock();
  for (mproc_queue_t **pp = &g_overflowed; *pp; pp = &(*pp)->ovf_next)
    if (*pp == q) {
      *pp = q->ovf_next;
      break;
    }
  os_global_unlock();
}

/* Keeps the item in this process and makes sure a feeder moves it into the ring. */
static int overflow(mproc_queue_t *q, const void *data, size_t n) {
  ovf_item *it = malloc(sizeof *it + (n ? n : 1));
  if (it == NULL)
    return MPROC_ENOMEM;
  it->next = NULL;
  it->size = n;
  if (n)
    memcpy(it->data, data, n);
  int rc = 0;
  os_global_lock();
  if (q->ovf_tail)
    q->ovf_tail->next = it;
  else
    __atomic_store_n(&q->ovf_head, it, __ATOMIC_RELEASE);
  q->ovf_tail = it;
  mp_queue_held(q, 1); /* counted for join() until the feeder publishes it */
  register_overflowed(q);
  if (!q->feeder_running) {
    os_thread *old = q->feeder; /* a previous feeder that has finished */
    q->feeder = NULL;
    os_global_unlock();
    os_thread_join(old);
    os_global_lock();
    if (!q->feeder_running && q->feeder == NULL) {
      rc = os_thread_start(feeder_main, q, &q->feeder);
      __atomic_store_n(&q->feeder_running, rc == 0, __ATOMIC_RELEASE);
    }
  }
  os_global_unlock();
  return rc;
}

int mp_queue_put_unbounded(mproc_queue_t *q, const void *data, size_t n) {
  if (os_shm_named_persists())
    return mp_queue_put_shared(q, data, n); /* no overflow kept here (queue_ovf.c) */
  int queued = __atomic_load_n(&q->feeder_running, __ATOMIC_ACQUIRE) ||
               __atomic_load_n(&q->ovf_head, __ATOMIC_ACQUIRE) != NULL;
  if (!queued && n <= mp_queue_whole_max(q)) {
    if (mp_queue_put_bytes(q, data, n, 0) == 0) /* room now: the common case, no clock */
      return 0;
    /* A full ring with a consumer at work has room again within microseconds: a short wait
     * keeps the items flowing through shared memory instead of a second copy via the feeder.
     * Without a consumer, only the put that starts an overflow pays it. */
    if (mp_queue_put_bytes(q, data, n, os_now_ns() + OVERFLOW_WAIT_NS) == 0)
      return 0;
  }
  return overflow(q, data, n);
}

void mp_queue_after_fork_child(void) {
  /* The parent's overflow is the parent's to deliver; its feeder threads do not exist here. */
  for (mproc_queue_t *q = g_overflowed; q; q = q->ovf_next) {
    q->feeder = NULL;
    q->feeder_running = 0;
    q->ovf_head = q->ovf_tail = NULL; /* left as it is: not ours to free or send */
  }
  g_overflowed = NULL;
}
