/* SPDX-License-Identifier: MIT */
/* The shared heap (heap.c) and the shared-object plumbing every cross-process object uses
 * (object.c): how an object is written into a process argument and adopted by a child. */
#ifndef MPROC_HEAP_H
#define MPROC_HEAP_H

#include "internal.h"

typedef struct mp_seg mp_seg;

/* A block of shared memory: valid in this process while the block is held. */
typedef struct mp_block {
  mp_seg *seg;
  size_t off;
  void *p;     /* seg base + off */
  size_t size; /* usable bytes (>= what was asked) */
} mp_block;

/* shared_memory.c: after MPROC_ENOSPC, the message naming where segments of that kind live
 * (named 1 / anonymous 0), what was free there and how much `what` asked for. */
void mproc__shm_nospace_message(int named, const char *what, uint64_t asked);

/* Zero-filled, 64-byte aligned. Thread-safe. On MPROC_ENOSPC, mproc_last_error_message()
 * says where and how much. */
int mproc__heap_alloc(size_t size, mp_block *out);
/* The allocating process returns the block for reuse; others drop their reference. */
void mproc__heap_free(mp_block *b);
/* Segments mapped in this process (for tests of the "10,000 objects, few fds" promise). */
size_t mproc__heap_segments(void);
/* In a fork child: the parent's segments are mapped but not ours to allocate from. */
void mproc__heap_after_fork_child(void);

/* Forward: the map from handle values in an argument to this process's handles. */
typedef struct mp_hmap mp_hmap;
/* A block as bytes in an argument (segment id and size, offset, the segment's handle). */
void mproc__block_encode(const mp_block *b, mp_buf *out);
/* The child side: maps the segment (once per process) and refers to the block in it. */
int mproc__block_decode(mp_rd *r, mp_hmap *hm, mp_block *out);
/* Skips an encoded block, returning its segment handle value. */
os_handle mproc__block_read_handle(mp_rd *r);

/* --- handles in transit ------------------------------------------------------------------- */
/* Handle values in an encoded argument list are the sender's. A child gets them either as the
 * same values (inherited) or renumbered: the k-th distinct value in encoding order arrives as
 * actual[k] (forkserver). The map resolves either case and remembers which it saw. */
struct mp_hmap {
  const os_handle *actual; /* NULL: values are inherited as they are */
  size_t nactual;
  os_handle seen[MP_MAX_PASSED_HANDLES];
  unsigned char claimed[MP_MAX_PASSED_HANDLES];
  size_t nseen;
};
os_handle mproc__hmap_get(mp_hmap *m, os_handle encoded);
/* The handle (as mproc__hmap_get returned it) is kept by an object of this process. */
void mproc__hmap_claim(mp_hmap *m, os_handle h);
/* After decoding: closes every arrived handle nobody kept (objects hold duplicates). */
void mproc__hmap_close_unclaimed(mp_hmap *m);
/* Distinct handle values in order of first appearance: appends v to list (of n, cap) unless
 * present; returns the new count (which may exceed cap: then v was not stored). */
size_t mproc__handle_list_add(os_handle *list, size_t n, size_t cap, os_handle v);

/* --- shared objects ------------------------------------------------------------------------ */
#define MP_OBJ_MAX_HANDLES 6

/* What every cross-process object holds in a process: its block and the kernel objects the
 * platform needs for it (Windows mutexes and semaphores; none on POSIX). Every object struct
 * (lock, semaphore, condition, event, barrier, array, queue) begins with one, so object.c can
 * reach it from the object pointer. */
typedef struct mp_shobj {
  mp_block blk;
  os_handle h[MP_OBJ_MAX_HANDLES];
  int creator;    /* 1: made here (its free returns the block) */
  int list_owned; /* a child's argument list owns it: the public free leaves it to the list */
} mp_shobj;

/* Allocates the block; handles start OS_INVALID. */
int mproc__shobj_create(mp_shobj *o, size_t size);
/* Closes the handles and frees (creator) or drops (others) the block. */
void mproc__shobj_release(mp_shobj *o);
/* Record form in an argument: block, handle count, handle values. */
void mproc__shobj_encode(const mp_shobj *o, mp_buf *b);
/* The child side: maps the block and takes its own duplicates of the handles (the ones that
 * arrived are closed by the argument decoder once every item has its copies). */
int mproc__shobj_decode(mp_rd *r, mp_hmap *hm, mp_shobj *o);
/* Appends the handle values of one encoded record (block segment first). */
size_t mproc__shobj_handles(mp_rd *r, os_handle *list, size_t n, size_t cap);

/* --- dispatch by argument type (object.c) -------------------------------------------------- */
/* Argument payload of an object: u8 record count, the records (the object's own first, then
 * any it depends on, e.g. a Condition's lock), then a kind-specific tail. */
int mproc__obj_is_object(uint8_t type);
int mproc__obj_encode(uint8_t type, const void *obj, mp_buf *b);
/* Adopts the object in a child; *obj is released with mproc__obj_release. */
int mproc__obj_adopt(uint8_t type, mp_rd *r, mp_hmap *hm, void **obj);
void mproc__obj_release(uint8_t type, void *obj);
size_t mproc__obj_handles(const void *payload, size_t len, os_handle *list, size_t n, size_t cap);

/* sync.c / barrier.c constructors and destructors used by the dispatch. */
int mproc__lock_encode(const mproc_lock_t *l, mp_buf *b);
int mproc__lock_adopt(mp_rd *r, mp_hmap *hm, mproc_lock_t **out);
int mproc__semaphore_encode(const mproc_semaphore_t *s, mp_buf *b);
int mproc__semaphore_adopt(mp_rd *r, mp_hmap *hm, mproc_semaphore_t **out);
int mproc__condition_encode(const mproc_condition_t *c, mp_buf *b);
int mproc__condition_adopt(mp_rd *r, mp_hmap *hm, mproc_condition_t **out);
int mproc__event_encode(const mproc_event_t *e, mp_buf *b);
int mproc__event_adopt(mp_rd *r, mp_hmap *hm, mproc_event_t **out);
/* A lock's record, for objects that carry their lock along (Condition, Value, Array). */
const mp_shobj *mproc__lock_shobj(const mproc_lock_t *l);
int mproc__lock_adopt_record(mp_rd *r, mp_hmap *hm, mproc_lock_t **out);
/* shared.c: a Value is an Array of one element (same layout, same transit form). */
int mproc__array_encode(const mproc_array_t *a, mp_buf *b);
int mproc__array_adopt(mp_rd *r, mp_hmap *hm, mproc_array_t **out);
/* queue.c */
int mproc__queue_encode(const mproc_queue_t *q, mp_buf *b);
int mproc__queue_adopt(mp_rd *r, mp_hmap *hm, mproc_queue_t **out);
/* mproc_wait: 1 ready now, 0 wait on *h (the queue counts a poller until _done), or an error. */
int mproc__queue_wait_prepare(mproc_queue_t *q, os_handle *h);
void mproc__queue_wait_done(mproc_queue_t *q);
/* In a fork child: the parent's overflow and feeder threads are not ours. */
void mproc__queue_after_fork_child(void);
int mproc__barrier_encode(const mproc_barrier_t *b, mp_buf *out);
int mproc__barrier_adopt(mp_rd *r, mp_hmap *hm, mproc_barrier_t **out);

/* Sleeping on a word of a shared object: sleepers counts the processes/threads parked on it
 * (so wakers skip the syscall when nobody sleeps, and Windows wakes only that many). */
int mproc__park(os_handle h, uint32_t *sleepers, uint32_t *word, uint32_t expected,
                int64_t deadline);
void mproc__unpark(os_handle h, uint32_t *sleepers, uint32_t *word, uint32_t n);
/* timeout_ms -> deadline; MPROC_EINVAL below MPROC_FOREVER. */
int mproc__timeout_deadline(int64_t timeout_ms, int64_t *deadline);

#endif /* MPROC_HEAP_H */
