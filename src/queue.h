/* SPDX-License-Identifier: MIT */
/* Queue internals shared by queue.c (the shared ring, put and get) and queue_feed.c (the
 * overflow of unbounded queues and its feeder thread). */
#ifndef MPROC_QUEUE_H
#define MPROC_QUEUE_H

#include "heap.h"

typedef struct queue_shm queue_shm;

/* The shared overflow's words, in the queue's shared header (queue_ovf.c explains them). */
typedef struct ovf_shared {
  uint64_t qid;  /* names the queue's overflow segments */
  uint64_t tail; /* producers: items published << 32 | segment << 16 | next position */
  uint64_t head; /* consumers: items taken << 32 | segment << 16 | next position */
} ovf_shared;

/* One overflow segment mapped in this process (seq is its 16-bit sequence number). */
typedef struct ovf_map {
  uint16_t seq;
  uint32_t cnt;        /* the side's item count when mapped */
  unsigned char *base; /* NULL: none */
  size_t size;
  uint64_t id;         /* mproc__os_shm_ident of the memory (valid if has_id) */
  int has_id;
} ovf_map;

/* The batch segments one side of a handle keeps mapped: a segment the consumers finished is
 * renamed for producers to fill again, so the same memory comes back under new names. */
#define OVF_CACHE 8
typedef struct ovf_side {
  ovf_map *cur; /* the segment being filled / read, or NULL */
  ovf_map slot[OVF_CACHE];
  unsigned clock; /* next slot to evict */
} ovf_side;

/* Windows: the producers holding items back in their feeders, for JoinableQueue's count, in
 * the queue's shared header (queue_feed.c explains the rules). Unused elsewhere (all zero). */
#define HELD_SLOTS 12
typedef struct held_slot {
  uint64_t word;  /* pid << 32 | items that process holds back; 0: free */
  uint64_t
      birth; /* mproc__os_pid_birth of that pid, stored when the slot is taken, before counting */
} held_slot;
typedef struct held_table {
  held_slot slot[HELD_SLOTS];
} held_table;

typedef struct ovf_item {
  struct ovf_item *next;
  size_t size;
  int slot; /* the held_table slot counting it for join(); -1: not counted (table full) */
  unsigned char data[];
} ovf_item;

struct mproc_queue {
  mp_shobj o;
  queue_shm *s;
  unsigned char *ring;
  int closed;
  ovf_shared *ovf;       /* in s */
  held_table *held;      /* in s */
  ovf_side ovf_wr;       /* segments producers fill (put lock) */
  ovf_side ovf_rd;       /* segments consumers read (get lock) */
  int64_t ovf_owner_pid; /* the creating process (whose free removes what is left) */
  /* overflow of an unbounded queue (queue_feed.c), guarded by mproc__os_global_lock */
  ovf_item *ovf_head, *ovf_tail;
  os_thread *feeder;
  int feeder_running;
  int cancel_join;
  int abandon; /* set (atomically) when the overflow is to be dropped: the feeder stops */
  struct mproc_queue *ovf_next; /* registry of queues that ever overflowed here */
  /* an item mproc_queue_get_into took but could not fit: the next get on this handle returns
   * it (guarded by mproc__os_global_lock) */
  unsigned char *stash;
  size_t stash_len;
  int stashed;
};

/* queue.c: puts with the deadline (MPROC_EFULL when no room in time); the largest item put as
 * one record (bigger ones are streamed). */
int mproc__queue_put_bytes(mproc_queue_t *q, const void *data, size_t n, int64_t deadline);
size_t mproc__queue_whole_max(const mproc_queue_t *q);
/* A put that wakes nobody: the consumer finds the item when a later put (or anything else)
 * wakes it, or when it next looks. For a bounded queue's items that fit the ring (others are
 * put as usual). Waits for room as long as it takes. */
int mproc__queue_put_quiet(mproc_queue_t *q, const void *data, size_t n);
/* mproc_queue_get into a buffer the caller reuses (b->len = the item's size; no allocation
 * once b is big enough). */
int mproc__queue_get_into(mproc_queue_t *q, int64_t timeout_ms, mp_buf *b);
/* After items left the held table (published, dropped, or a dead producer's discounted):
 * wakes join() if nothing is unfinished any more. */
void mproc__queue_unheld(mproc_queue_t *q);
/* Puts every item of the list in order, waiting for room as long as it takes, or until
 * *abandon is set (the feeder); each item put leaves the held count. */
size_t mproc__queue_put_list(mproc_queue_t *q, const ovf_item *it, const int *abandon);

/* An unbounded queue's put where overflow goes to shared segments: into the ring when it has
 * room and nothing is in the overflow, else into the overflow. */
int mproc__queue_put_shared(mproc_queue_t *q, const void *data, size_t n);

/* queue_ovf.c: the shared overflow. Append: put lock held; take: get lock held. */
void mproc__ovf_init(ovf_shared *o);
uint32_t mproc__ovf_pending(const ovf_shared *o);
/* Items ever published to the overflow (modulo 2^32). */
uint32_t mproc__ovf_published(const ovf_shared *o);
/* 0, or MPROC_ENOSPC (no shared memory, or 65,000 segments alive) and the like: not put. */
int mproc__ovf_append(mproc_queue_t *q, const void *data, size_t n);
/* 0 with the oldest item in b; MPROC_EEMPTY; or an error (the item stays). */
int mproc__ovf_take(mproc_queue_t *q, mp_buf *b);
/* After EOWNERDEAD on the put / get lock: a segment a dead process left named. */
void mproc__ovf_repair_put(mproc_queue_t *q);
void mproc__ovf_repair_get(mproc_queue_t *q);
/* Unmaps this handle's segments; owner (the queue's creator): unlinks every segment left. */
void mproc__ovf_release(mproc_queue_t *q, int owner);

/* queue_feed.c */
/* An unbounded queue's put: into the ring when there is room and nothing of this process is
 * held back, else into the overflow that a feeder thread moves into the ring. */
int mproc__queue_put_unbounded(mproc_queue_t *q, const void *data, size_t n);
/* The held table: items held back in live producers (read before tail: see unfinished_of). */
uint32_t mproc__held_total(const held_table *h);
/* Forgets the items of producers that died holding them back (they can never come); returns
 * how many. */
uint32_t mproc__held_reap(mproc_queue_t *q);
/* The item has been published or dropped: it leaves its slot's count. */
void mproc__held_release(mproc_queue_t *q, const ovf_item *it);
/* Waits for the feeder to empty the overflow, or drops the overflow (drop = 1). */
void mproc__queue_drain_overflow(mproc_queue_t *q, int drop);
/* Forgets q (it is being freed). */
void mproc__queue_unregister(mproc_queue_t *q);

#endif /* MPROC_QUEUE_H */
