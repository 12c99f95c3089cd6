/* SPDX-License-Identifier: MIT */
/*
 * Queue, SimpleQueue, JoinableQueue: a ring of records in one block of anonymous shared
 * memory. Producers serialise on one robust mutex, consumers on another, so a producer and a
 * consumer never contend for a lock; they meet only through the head and tail words.
 *
 * Sections: layout -> locking and waiting -> ring records -> put (whole items, streamed
 * items) -> get -> public calls -> transit and mproc_wait. The overflow of unbounded queues
 * is in queue_ovf.c (shared segments) and queue_feed.c (Windows: a feeder thread).
 *
 * Crash safety: head and tail each pack an item counter with a byte position in one 64-bit
 * word, stored once per record after the bytes are in place. A producer killed mid-copy leaves
 * tail where it was, so the partial record is invisible; a consumer killed mid-copy leaves head
 * where it was, so the item is still there for the next consumer. The next locker of the dead
 * process's mutex is told (EOWNERDEAD) and repairs the little a record store cannot cover
 * (repair_put_side, repair_get_side); a lock that cannot be taken is an error to the caller,
 * never an unlocked ring. Items too big for the ring
 * are streamed as FIRST, CHUNK..., LAST records while other producers wait; a reader or writer
 * of a stream that dies is found by the other side's periodic liveness check, and the stream is
 * dropped instead of wedging the queue.
 *
 * Waiting: a waiter registers as a sleeper, then re-checks head/tail, then parks on the
 * "data" or "space" word it read while deciding to wait; the other side stores head/tail, then
 * bumps the word and wakes only if it sees a sleeper (all sequentially consistent). State
 * changes (a stream ending) always bump. Getters spin a few microseconds before parking, so a
 * busy queue moves items without system calls. Nobody sleeps longer than a liveness slice
 * without looking at the ring: a killed waker or a killed wakee must not strand the others.
 */
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "atomics.h"
#include "alloc.h"

#define LD(p) MPROC__ATOMIC_LOAD((p), MPROC__ATOMIC_SEQ_CST)
#define ST(p, v) MPROC__ATOMIC_STORE((p), (v), MPROC__ATOMIC_SEQ_CST)
#define BUMP(p) MPROC__ATOMIC_ADD_FETCH((p), 1, MPROC__ATOMIC_SEQ_CST)

enum { Q_PLAIN = 0, Q_SIMPLE = 1, Q_JOINABLE = 2 };
enum { R_ITEM = 1, R_SKIP = 2, R_FIRST = 3, R_CHUNK = 4, R_LAST = 5 };
/* mp_shobj handle slots (kernel objects on Windows) */
enum { H_PUT, H_GET, H_DATA, H_SPACE, H_JOIN, H_NOTIFY };

#define REC_HDR 16
#define RING_OFF 512
#define SPIN_LIMIT 500        /* pauses before a put or get parks (~10 us at ~20 ns each) */
#define LIVENESS_SLICE_MS 100 /* how often a stream peer is checked while waiting on it */
#define SIZE_BITS 40          /* FIRST aux: stream id << 40 | total size */
#define ID_MASK 0xffffffu     /* stream ids are the 24 bits above SIZE_BITS */

typedef struct rec {
  uint32_t type;
  uint32_t len; /* payload bytes in this record */
  uint64_t aux; /* FIRST/CHUNK/LAST: stream id << SIZE_BITS; FIRST: | total item size */
} rec;

struct queue_shm {
  /* Each side's lock and position word share one cache line, the two sides never do. */
  os_mutex_mem put_m;
  uint64_t tail; /* items put << 32 | byte position (mod 2^32); producers */
  unsigned char pad1[64 - sizeof(os_mutex_mem) - 8];
  os_mutex_mem get_m;
  uint64_t head; /* items taken << 32 | byte position; consumers */
  unsigned char pad2[64 - sizeof(os_mutex_mem) - 8];
  /* JoinableQueue: unfinished = items published (tail's count + the overflow's) + items held
   * in live producers' feeder overflows (Windows) - done. Counted by the stores that publish,
   * so a producer killed mid-put cannot leave an item counted that never came; a producer
   * that dies holding items back has them dropped from `held` by whoever looks (join). */
  uint32_t done;          /* task_done calls, and items dropped undelivered */
  uint32_t cap;           /* ring bytes, a power of two */
  uint32_t maxsize;       /* 0: unbounded */
  uint32_t kind;
  uint32_t data_word, space_word, join_word;
  uint32_t data_sleepers, space_sleepers, join_sleepers;
  uint32_t pollers;       /* mproc_wait callers: keep the notifier exact while > 0 */
  uint32_t streaming;     /* producers: a stream is being written (by writer_pid) */
  uint32_t stream_id;
  uint32_t reader_id;     /* consumers: the stream being collected (by reader_pid); chunks of
                             any other stream found at head have no reader and are dropped */
  int64_t writer_pid;
  int64_t reader_pid;
  ovf_shared ovf;         /* unbounded queues: items that did not fit the ring (queue_ovf.c) */
  held_table held;        /* Windows: items held back in producers (queue_feed.c) */
};

_Static_assert(sizeof(struct queue_shm) <= RING_OFF, "queue header overlaps the ring");

/* --- layout helpers ------------------------------------------------------------------------- */

static uint32_t w_pos(uint64_t w) { return (uint32_t)w; }
static uint32_t w_cnt(uint64_t w) { return (uint32_t)(w >> 32); }
static uint64_t w_make(uint32_t cnt, uint32_t pos) { return (uint64_t)cnt << 32 | pos; }
static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }

static rec *rec_at(const mproc_queue_t *q, uint32_t pos) {
  return (rec *)(void *)(q->ring + (pos & (q->s->cap - 1)));
}
static uint32_t count_of(const queue_shm *s) { return w_cnt(LD(&s->tail)) - w_cnt(LD(&s->head)); }
/* Items in the ring and in the shared overflow. */
static uint32_t items_of(const queue_shm *s) { return count_of(s) + mproc__ovf_pending(&s->ovf); }
static uint32_t stream_of(const rec *r) { return (uint32_t)(r->aux >> SIZE_BITS); }
static int64_t my_pid(void) { return mproc__os_getpid(); }

/* --- locking and waiting ------------------------------------------------------------------ */

static void repair_put_side(mproc_queue_t *q);
static void repair_get_side(mproc_queue_t *q);

/* 0 with the lock held, or MPROC_ENOTRECOVERABLE: not held, and the queue is unusable (the
 * OS error behind it is kept for mproc_last_os_error). A dead holder's lock is ours after a
 * look at what it may have left half done (repair_*_side). Nobody proceeds unlocked. */
static int lock(mproc_queue_t *q, int which) {
  int rc = mproc__os_mutex_lock(which == H_PUT ? &q->s->put_m : &q->s->get_m, q->o.h[which],
                         OS_NO_DEADLINE);
  if (rc == MPROC_EOWNERDEAD) {
    if (which == H_PUT) {
      mproc__ovf_repair_put(q);
      repair_put_side(q);
    } else {
      mproc__ovf_repair_get(q);
      repair_get_side(q);
    }
    return 0;
  }
  return rc == 0 ? 0 : MPROC_ENOTRECOVERABLE;
}
static void unlock(mproc_queue_t *q, int which) {
  mproc__os_mutex_unlock(which == H_PUT ? &q->s->put_m : &q->s->get_m, q->o.h[which]);
}

static uint32_t *word_of(queue_shm *s, int slot) {
  return slot == H_DATA ? &s->data_word : slot == H_SPACE ? &s->space_word : &s->join_word;
}
static uint32_t *sleepers_of(queue_shm *s, int slot) {
  return slot == H_DATA ? &s->data_sleepers
                        : slot == H_SPACE ? &s->space_sleepers : &s->join_sleepers;
}

/* After a change others may wait for: bump the word, wake up to n sleepers. */
static void signal_word(mproc_queue_t *q, int slot, uint32_t n) {
  BUMP(word_of(q->s, slot));
  mproc__unpark(q->o.h[slot], sleepers_of(q->s, slot), word_of(q->s, slot), n);
}
/* After storing head or tail: wake only when someone sleeps (the common case costs a load). */
static void signal_if_sleeping(mproc_queue_t *q, int slot, uint32_t n) {
  if (LD(sleepers_of(q->s, slot)) != 0)
    signal_word(q, slot, n);
}

/* A wait: the word as read while deciding, and the position word whose move also ends it. */
typedef struct waiting {
  int slot;            /* H_DATA / H_SPACE / H_JOIN */
  int which;           /* the lock held: H_PUT / H_GET */
  uint32_t word;       /* value of the slot's word when the wait was decided */
  const uint64_t *pos; /* tail (getters) or head (putters) */
  uint64_t pos_seen;
  uint64_t ovf_seen;   /* the overflow's tail: getters also wait for it to move */
} waiting;

static waiting begin_wait(mproc_queue_t *q, int slot, int which) {
  waiting w = {slot, which, LD(word_of(q->s, slot)), NULL, 0, 0};
  w.pos = slot == H_DATA ? &q->s->tail : &q->s->head;
  w.pos_seen = LD(w.pos);
  w.ovf_seen = LD(&q->s->ovf.tail);
  return w;
}

static int moved(const mproc_queue_t *q, const waiting *w) {
  return LD(w->pos) != w->pos_seen ||
         (w->slot == H_DATA && LD(&q->s->ovf.tail) != w->ovf_seen);
}

/* Releases the lock, sleeps until woken, the watched position moves, or the deadline, retakes
 * the lock. 0, MPROC_ETIMEDOUT once the deadline has passed, or MPROC_ENOTRECOVERABLE (the
 * lock is not held). The sleep is cut into liveness slices after which the caller looks at the
 * ring again: a waker killed between storing head/tail and bumping the word (or a sleeper
 * killed after taking the wake-up meant for another) leaves the word as it was, and only a
 * look at the ring itself finds the item or the room that is there. */
static int wait_on(mproc_queue_t *q, const waiting *w, int64_t deadline) {
  unlock(q, w->which);
  int moved_on = 0;
  for (int i = 0; w->slot != H_JOIN && i < SPIN_LIMIT && !moved_on; i++) {
    mproc__os_cpu_relax();
    moved_on = moved(q, w) || LD(word_of(q->s, w->slot)) != w->word;
  }
  int64_t slice = mproc__os_deadline(LIVENESS_SLICE_MS);
  int64_t until = slice < deadline ? slice : deadline;
  int rc = 0;
  if (!moved_on) {
    uint32_t *sleepers = sleepers_of(q->s, w->slot), *word = word_of(q->s, w->slot);
    MPROC__ATOMIC_ADD_FETCH(sleepers, 1, MPROC__ATOMIC_SEQ_CST);
    if (!moved(q, w))
      rc = mproc__os_park_wait(word, w->word, q->o.h[w->slot], until);
    MPROC__ATOMIC_SUB_FETCH(sleepers, 1, MPROC__ATOMIC_SEQ_CST);
  }
  if (lock(q, w->which) != 0)
    return MPROC_ENOTRECOVERABLE;
  if (rc == MPROC_ETIMEDOUT && until != deadline)
    rc = 0; /* only the liveness slice ended */
  return rc == MPROC_ETIMEDOUT ? rc : 0;
}

/* --- ring records (producers, put lock held) ------------------------------------------------ */

static uint32_t space_free(const queue_shm *s) {
  return s->cap - (w_pos(s->tail) - w_pos(LD(&s->head)));
}

/* Room for a record of rlen bytes at tail (counting the skip record a wrap needs). */
static int has_room(const queue_shm *s, size_t rlen) {
  uint32_t to_end = s->cap - (w_pos(s->tail) & (s->cap - 1));
  uint64_t need = rlen <= to_end ? rlen : (uint64_t)to_end + rlen;
  return need <= space_free(s);
}

/* Writes one record (the caller checked has_room) and publishes it with one store of tail.
 * counts: 1 for records that are items (ITEM, FIRST). Returns the record's position. */
static uint32_t append_rec(mproc_queue_t *q, uint32_t type, uint64_t aux, const void *p,
                           size_t n, int counts, int notify) {
  queue_shm *s = q->s;
  uint64_t t = s->tail;
  uint32_t pos = w_pos(t), rlen = (uint32_t)(REC_HDR + align16(n));
  uint32_t to_end = s->cap - (pos & (s->cap - 1));
  if (rlen > to_end) { /* records never wrap: pad to the end with a skip record */
    *rec_at(q, pos) = (rec){R_SKIP, to_end - REC_HDR, 0};
    pos += to_end;
  }
  rec *r = rec_at(q, pos);
  if (n)
    memcpy(r + 1, p, n);
  *r = (rec){type, (uint32_t)n, aux};
  ST(&s->tail, w_make(w_cnt(t) + (uint32_t)counts, pos + rlen));
  if (notify && LD(&s->pollers))
    mproc__os_notifier_set(q->o.h[H_NOTIFY]);
  return pos;
}

static uint32_t append(mproc_queue_t *q, uint32_t type, uint64_t aux, const void *p, size_t n,
                   int counts) {
  return append_rec(q, type, aux, p, n, counts, 1);
}

/* After a get: the mproc_wait flag goes down with the last item. */
static void notifier_after_take(mproc_queue_t *q) {
  queue_shm *s = q->s;
  if (LD(&s->pollers) && items_of(s) == 0) {
    mproc__os_notifier_clear(q->o.h[H_NOTIFY]);
    if (items_of(s) != 0) /* a producer published meanwhile: keep the flag raised */
      mproc__os_notifier_set(q->o.h[H_NOTIFY]);
  }
}

/* The largest item sent as one record, and the chunk size of streamed ones. */
static size_t whole_max(const queue_shm *s) { return s->cap / 2 - REC_HDR; }
static size_t chunk_size(const queue_shm *s) { return s->cap / 4 - REC_HDR; }
size_t mproc__queue_whole_max(const mproc_queue_t *q) { return whole_max(q->s); }

static int counts_full(const queue_shm *s) {
  return s->maxsize != 0 && count_of(s) >= s->maxsize;
}

/* --- put ------------------------------------------------------------------------------------ */

/* A stream whose writer died stops holding everyone back (either side may find out). */
static void check_writer(mproc_queue_t *q) {
  queue_shm *s = q->s;
  uint32_t one = 1;
  if (LD(&s->streaming) && !mproc__os_pid_alive(LD(&s->writer_pid)) &&
      MPROC__ATOMIC_COMPARE_EXCHANGE(&s->streaming, &one, 0, 0, MPROC__ATOMIC_SEQ_CST,
                                  MPROC__ATOMIC_SEQ_CST)) {
    signal_word(q, H_SPACE, UINT32_MAX);
    signal_word(q, H_DATA, UINT32_MAX);
  }
}

/* Put lock held: until an item record of rlen bytes may be appended. */
static int wait_room(mproc_queue_t *q, size_t rlen, int64_t deadline) {
  queue_shm *s = q->s;
  for (;;) {
    waiting w = begin_wait(q, H_SPACE, H_PUT);
    /* Nothing overtakes the overflow: while it holds items, they are the newest. */
    if (!LD(&s->streaming) && !counts_full(s) && has_room(s, rlen) &&
        mproc__ovf_pending(&s->ovf) == 0)
      return 0;
    if (deadline != OS_NO_DEADLINE && mproc__os_now_ns() >= deadline)
      return MPROC_EFULL;
    check_writer(q);
    int rc = wait_on(q, &w, deadline);
    if (rc != 0)
      return rc == MPROC_ETIMEDOUT ? MPROC_EFULL : rc;
  }
}

/* wait_room in slices, giving up (MPROC_ECLOSED) once *abandon is set: the feeder of a queue
 * whose process exits without waiting for its overflow. */
static int wait_room_unless(mproc_queue_t *q, size_t rlen, int64_t deadline, const int *abandon) {
  if (abandon == NULL)
    return wait_room(q, rlen, deadline);
  for (;;) {
    int64_t slice = mproc__os_deadline(LIVENESS_SLICE_MS);
    int rc = wait_room(q, rlen, slice < deadline ? slice : deadline);
    if (rc == 0 || slice >= deadline)
      return rc;
    if (MPROC__ATOMIC_LOAD(abandon, MPROC__ATOMIC_SEQ_CST))
      return MPROC_ECLOSED;
  }
}

static int put_whole_as(mproc_queue_t *q, const void *data, size_t n, int64_t deadline,
                        int wake) {
  int rc = lock(q, H_PUT);
  if (rc == 0)
    rc = wait_room(q, REC_HDR + align16(n), deadline);
  if (rc == MPROC_ENOTRECOVERABLE)
    return rc;
  if (rc == 0)
    append_rec(q, R_ITEM, 0, data, n, 1, wake);
  unlock(q, H_PUT);
  if (rc == 0 && wake)
    signal_if_sleeping(q, H_DATA, 1);
  return rc;
}

static int put_whole(mproc_queue_t *q, const void *data, size_t n, int64_t deadline) {
  return put_whole_as(q, data, n, deadline, 1);
}

static int usable(const mproc_queue_t *q);

int mproc__queue_put_quiet(mproc_queue_t *q, const void *data, size_t n) {
  if (q->s->maxsize == 0 || n > whole_max(q->s))
    return mproc_queue_put(q, data, n, MPROC_FOREVER);
  int rc = usable(q);
  return rc ? rc : put_whole_as(q, data, n, OS_NO_DEADLINE, 0);
}

/* The consumer that took FIRST of stream id has died. */
static int reader_died(queue_shm *s, uint32_t id) {
  int64_t pid = LD(&s->reader_pid);
  return LD(&s->reader_id) == id && pid != 0 && !mproc__os_pid_alive(pid);
}

/* A stream past its deadline whose FIRST no consumer has taken yet is withdrawn: with both
 * locks held nobody reads, so its records (FIRST, the chunks, a wrap's skip) become skip
 * records and tail's item count drops by one. 1 if withdrawn, 0 if FIRST is gone from the
 * ring (a reader has it, or had it and died and its chunks were dropped), or
 * MPROC_ENOTRECOVERABLE with the put lock released too. A withdrawal killed half way leaves
 * skips where the stream's records were and tail counting the item: repair_put_side recounts. */
static int withdraw(mproc_queue_t *q, uint32_t first_pos) {
  queue_shm *s = q->s;
  if (lock(q, H_GET) != 0) { /* order: put, then get (as everywhere) */
    unlock(q, H_PUT);
    return MPROC_ENOTRECOVERABLE;
  }
  uint64_t t = s->tail;
  uint32_t h = w_pos(LD(&s->head));
  int taken = (uint32_t)(first_pos - h) >= (uint32_t)(w_pos(t) - h); /* not in [head, tail) */
  if (!taken) {
    for (uint32_t pos = first_pos; pos != w_pos(t);) {
      rec *r = rec_at(q, pos);
      r->type = R_SKIP;
      pos += REC_HDR + (uint32_t)align16(r->len);
    }
    ST(&s->tail, w_make(w_cnt(t) - 1, w_pos(t)));
    if (LD(&s->pollers) && items_of(s) == 0)
      mproc__os_notifier_clear(q->o.h[H_NOTIFY]);
  }
  unlock(q, H_GET);
  return !taken;
}

/* The records after FIRST. 0 when all went in, or when the reader died (the item went to a
 * consumer that is gone). Past the deadline the stream is withdrawn if nobody has started to
 * read it (MPROC_EFULL, no trace left), else finished: its reader is waiting for the rest.
 * *abandon set (an exiting feeder): MPROC_ECLOSED, a reader drops what it got. */
static int put_chunks(mproc_queue_t *q, const unsigned char *p, size_t n, uint32_t first_pos,
                      uint32_t id, int64_t deadline, const int *abandon) {
  queue_shm *s = q->s;
  size_t chunk = chunk_size(s), done = chunk;
  while (done < n) {
    size_t len = n - done < chunk ? n - done : chunk;
    for (;;) {
      waiting w = begin_wait(q, H_SPACE, H_PUT);
      if (has_room(s, REC_HDR + align16(len)))
        break;
      if (reader_died(s, id))
        return 0;
      if (abandon && MPROC__ATOMIC_LOAD(abandon, MPROC__ATOMIC_SEQ_CST))
        return MPROC_ECLOSED;
      int rc = wait_on(q, &w, deadline);
      if (rc == MPROC_ENOTRECOVERABLE)
        return rc;
      if (rc != 0) {
        rc = withdraw(q, first_pos);
        if (rc != 0)
          return rc < 0 ? rc : MPROC_EFULL;
        deadline = OS_NO_DEADLINE;
      }
    }
    done += len;
    append(q, done == n ? R_LAST : R_CHUNK, (uint64_t)id << SIZE_BITS, p + done - len, len, 0);
    signal_if_sleeping(q, H_DATA, UINT32_MAX); /* the stream's reader, whichever sleeper */
  }
  return 0;
}

static int put_stream(mproc_queue_t *q, const unsigned char *p, size_t n, int64_t deadline,
                      const int *abandon) {
  queue_shm *s = q->s;
  size_t chunk = chunk_size(s);
  int rc = lock(q, H_PUT);
  if (rc == 0)
    rc = wait_room_unless(q, REC_HDR + chunk, deadline, abandon);
  if (rc == MPROC_ENOTRECOVERABLE)
    return rc;
  if (rc == 0) {
    ST(&s->writer_pid, my_pid());
    ST(&s->streaming, 1);
    uint32_t id = (s->stream_id + 1) & ID_MASK; /* what fits in a record's aux */
    id = id ? id : 1;
    ST(&s->stream_id, id);
    uint32_t first_pos = append(q, R_FIRST, (uint64_t)id << SIZE_BITS | n, p, chunk, 1);
    signal_if_sleeping(q, H_DATA, 1);
    rc = put_chunks(q, p, n, first_pos, id, deadline, abandon);
    ST(&s->streaming, 0);
    signal_word(q, H_SPACE, UINT32_MAX); /* producers held back by the stream */
    signal_word(q, H_DATA, UINT32_MAX);  /* a reader waiting for a chunk that will not come */
    if (rc == MPROC_ENOTRECOVERABLE)
      return rc;
  }
  unlock(q, H_PUT);
  return rc;
}

#define OVERFLOW_WAIT_NS 50000 /* 50 us */

int mproc__queue_put_shared(mproc_queue_t *q, const void *data, size_t n) {
  queue_shm *s = q->s;
  int rc = lock(q, H_PUT);
  if (rc != 0)
    return rc;
  if (n <= whole_max(s)) {
    size_t rlen = REC_HDR + align16(n);
    rc = wait_room(q, rlen, 0); /* room now: the common case, no clock */
    /* A full ring with a consumer at work has room again within microseconds: a short wait
     * keeps items in the ring, which is cheaper than a segment. Without a consumer, only the
     * put that starts an overflow pays it. */
    if (rc == MPROC_EFULL && mproc__ovf_pending(&s->ovf) == 0)
      rc = wait_room(q, rlen, mproc__os_now_ns() + OVERFLOW_WAIT_NS);
    if (rc == MPROC_ENOTRECOVERABLE)
      return rc;
    if (rc == 0) {
      append(q, R_ITEM, 0, data, n, 1);
      unlock(q, H_PUT);
      signal_if_sleeping(q, H_DATA, 1);
      return 0;
    }
  }
  rc = mproc__ovf_append(q, data, n);
  if (rc == 0 && LD(&s->pollers))
    mproc__os_notifier_set(q->o.h[H_NOTIFY]);
  unlock(q, H_PUT);
  if (rc == 0)
    signal_if_sleeping(q, H_DATA, 1);
  return rc;
}

int mproc__queue_put_bytes(mproc_queue_t *q, const void *data, size_t n, int64_t deadline) {
  if (n <= whole_max(q->s))
    return put_whole(q, data, n, deadline);
  return put_stream(q, data, n, deadline, NULL);
}

size_t mproc__queue_put_list(mproc_queue_t *q, const ovf_item *it, const int *abandon) {
  size_t put = 0;
  if (lock(q, H_PUT) != 0)
    return put;
  for (; it; it = it->next) {
    if (it->size > whole_max(q->s)) {
      unlock(q, H_PUT);
      int rc = put_stream(q, it->data, it->size, OS_NO_DEADLINE, abandon);
      mproc__held_release(q, it); /* published (or dropped, then counted done by its reader) */
      put++;
      if (rc == MPROC_ECLOSED || rc == MPROC_ENOTRECOVERABLE || lock(q, H_PUT) != 0)
        return put;
      continue;
    }
    int rc = wait_room_unless(q, REC_HDR + align16(it->size), OS_NO_DEADLINE, abandon);
    if (rc == MPROC_ENOTRECOVERABLE)
      return put;
    if (rc != 0)
      break;
    append(q, R_ITEM, 0, it->data, it->size, 1);
    mproc__held_release(q, it); /* now counted by tail */
    put++;
    signal_if_sleeping(q, H_DATA, 1);
  }
  unlock(q, H_PUT);
  return put;
}

static void task_done_silently(mproc_queue_t *q);

/* --- get (get lock held) -------------------------------------------------------------------- */

/* Moves head past r with one store; counts: 1 when r is an item (ITEM, FIRST). */
static void consume(mproc_queue_t *q, const rec *r, int counts) {
  queue_shm *s = q->s;
  uint64_t h = s->head;
  ST(&s->head, w_make(w_cnt(h) + (uint32_t)counts, w_pos(h) + REC_HDR + (uint32_t)align16(r->len)));
  if (counts)
    notifier_after_take(q);
  signal_if_sleeping(q, H_SPACE, UINT32_MAX);
}

static int ring_empty(const queue_shm *s) { return w_pos(LD(&s->tail)) == w_pos(s->head); }

/* Collects the rest of stream id into buf. 0 when complete, MPROC_EPEERGONE when the stream
 * ended early (its writer died or gave up). */
static int collect(mproc_queue_t *q, uint32_t id, unsigned char *buf, size_t total,
                   size_t got) {
  queue_shm *s = q->s;
  while (got < total) {
    waiting w = begin_wait(q, H_DATA, H_GET);
    if (ring_empty(s)) {
      check_writer(q);
      if (!LD(&s->streaming) || LD(&s->stream_id) != id) {
        if (!ring_empty(s))
          continue; /* the last record landed just before the stream ended */
        return MPROC_EPEERGONE;
      }
      if (wait_on(q, &w, OS_NO_DEADLINE) != 0)
        return MPROC_ENOTRECOVERABLE;
      continue;
    }
    rec *r = rec_at(q, w_pos(s->head));
    if (r->type == R_SKIP) {
      consume(q, r, 0);
      continue;
    }
    if ((r->type != R_CHUNK && r->type != R_LAST) || stream_of(r) != id ||
        r->len > total - got)
      return MPROC_EPEERGONE;
    memcpy(buf + got, r + 1, r->len);
    got += r->len;
    consume(q, r, 0);
  }
  return 0;
}

/* Takes the stream whose FIRST record is at head into b. 0, or MPROC_EPEERGONE. */
static int take_stream(mproc_queue_t *q, rec *first, mp_buf *b) {
  queue_shm *s = q->s;
  size_t total = (size_t)(first->aux & (((uint64_t)1 << SIZE_BITS) - 1));
  uint32_t id = stream_of(first);
  if (mproc__buf_fit(b, total) != 0)
    return MPROC_ENOMEM; /* the item stays in the queue */
  unsigned char *buf = b->data;
  ST(&s->reader_pid, my_pid());
  ST(&s->reader_id, id);
  memcpy(buf, first + 1, first->len);
  size_t got = first->len;
  consume(q, first, 1);
  int rc = collect(q, id, buf, total, got);
  ST(&s->reader_pid, 0); /* (without the lock after a failed relock: nobody else reads) */
  signal_word(q, H_DATA, UINT32_MAX); /* getters that waited behind the stream */
  if (rc != 0) {
    task_done_silently(q); /* never delivered (writer died or its process gave up) */
    return rc;
  }
  b->len = total;
  return 0;
}

/* A chunk at head that another consumer is collecting: wait; with no live reader, drop it. */
static int foreign_chunk(mproc_queue_t *q, rec *r, const waiting *w, int64_t deadline) {
  queue_shm *s = q->s;
  repair_get_side(q);
  if (LD(&s->reader_id) != stream_of(r) || LD(&s->reader_pid) == 0) {
    consume(q, r, 0);
    return 0;
  }
  return wait_on(q, w, deadline);
}

static int take_item(mproc_queue_t *q, rec *r, mp_buf *b) {
  if (mproc__buf_fit(b, r->len) != 0)
    return MPROC_ENOMEM;
  memcpy(b->data, r + 1, r->len);
  b->len = r->len;
  consume(q, r, 1);
  return 0;
}

static int get_locked(mproc_queue_t *q, int64_t deadline, mp_buf *b) {
  queue_shm *s = q->s;
  int rc;
  for (;;) {
    waiting w = begin_wait(q, H_DATA, H_GET);
    if (ring_empty(s) && mproc__ovf_pending(&s->ovf) != 0) {
      /* The ring's items are older than anything in the overflow. */
      rc = mproc__ovf_take(q, b);
      if (rc == 0)
        notifier_after_take(q);
      if (rc != MPROC_EEMPTY)
        return rc;
    }
    if (ring_empty(s)) {
      if (deadline != OS_NO_DEADLINE && mproc__os_now_ns() >= deadline)
        return MPROC_EEMPTY;
      rc = wait_on(q, &w, deadline);
      if (rc != 0)
        return rc == MPROC_ETIMEDOUT ? MPROC_EEMPTY : rc;
      continue;
    }
    rec *r = rec_at(q, w_pos(s->head));
    switch (r->type) {
    case R_SKIP:
      consume(q, r, 0);
      continue;
    case R_ITEM:
      return take_item(q, r, b);
    case R_FIRST:
      rc = take_stream(q, r, b);
      if (rc != MPROC_EPEERGONE)
        return rc;
      continue; /* its writer died mid-stream: nothing was delivered, look again */
    default:
      rc = foreign_chunk(q, r, &w, deadline);
      if (rc != 0)
        return rc == MPROC_ETIMEDOUT ? MPROC_EEMPTY : rc;
    }
  }
}

/* --- a dead lock holder's leftovers --------------------------------------------------------- */

/* Items (ITEM and FIRST records) between head and tail; both locks held. Walks whole records
 * only: every record in [head, tail) was complete when tail was stored. */
static uint32_t items_in_ring(mproc_queue_t *q, uint64_t h, uint64_t t) {
  uint32_t n = 0, span = w_pos(t) - w_pos(h);
  for (uint32_t off = 0; off < span;) {
    const rec *r = rec_at(q, w_pos(h) + off);
    if (r->len > q->s->cap)
      break; /* cannot happen; never walk off the ring */
    n += r->type == R_ITEM || r->type == R_FIRST;
    off += REC_HDR + (uint32_t)align16(r->len);
  }
  return n;
}

/* A producer died holding the put lock (MPROC_EOWNERDEAD, the lock is ours). What it was
 * appending lies past tail and was never seen. If it was streaming, the stream ends here
 * (consumers drop its chunks). If it was withdrawing a stream, some of the stream's records
 * may already be skips while tail still counts the item: the count is taken again from the
 * records themselves, under the get lock too so nothing moves meanwhile. */
static void repair_put_side(mproc_queue_t *q) {
  queue_shm *s = q->s;
  check_writer(q);
  if (lock(q, H_GET) != 0)
    return;
  uint64_t t = s->tail, h = LD(&s->head);
  uint32_t n = items_in_ring(q, h, t);
  if (w_cnt(t) - w_cnt(h) != n)
    ST(&s->tail, w_make(w_cnt(h) + n, w_pos(t)));
  unlock(q, H_GET);
  signal_word(q, H_SPACE, UINT32_MAX);
  signal_word(q, H_DATA, UINT32_MAX);
}

/* Get lock held: a consumer that had taken a stream's FIRST died before the stream was whole
 * (killed while waiting for a chunk, or while holding the lock). The item was never
 * delivered: for a JoinableQueue it is finished here, exactly once since reader_pid is only
 * cleared under the get lock; the stream's writer, if waiting for room, stops. */
static void repair_get_side(mproc_queue_t *q) {
  queue_shm *s = q->s;
  int64_t pid = LD(&s->reader_pid);
  if (pid == 0 || mproc__os_pid_alive(pid))
    return;
  ST(&s->reader_pid, 0);
  task_done_silently(q);
  signal_word(q, H_SPACE, UINT32_MAX);
  signal_word(q, H_DATA, UINT32_MAX);
}

/* --- public calls ------------------------------------------------------------------------------ */

static uint32_t pow2_floor(size_t n) {
  uint32_t p = 4096;
  while ((size_t)p * 2 <= n && p < (1u << 30))
    p *= 2;
  return p;
}

static int queue_create(mproc_queue_t **out, size_t maxsize, size_t bytes, int kind) {
  if (out == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  if (bytes < 4096 || bytes > ((size_t)1 << 30) || maxsize > UINT32_MAX)
    return MPROC_EINVAL;
  mproc_queue_t *q = mproc__calloc(1, sizeof *q);
  if (q == NULL)
    return MPROC_ENOMEM;
  uint32_t cap = pow2_floor(bytes); /* positions wrap at 2^32: the ring size must divide it */
  int rc = mproc__shobj_create(&q->o, RING_OFF + (size_t)cap);
  if (rc == 0) {
    q->s = q->o.blk.p;
    q->ovf = &q->s->ovf;
    q->held = &q->s->held;
    q->ring = (unsigned char *)q->o.blk.p + RING_OFF;
    mproc__ovf_init(q->ovf);
    memset(q->held, 0, sizeof *q->held);
    q->ovf_owner_pid = mproc__os_getpid();
    q->s->cap = cap;
    q->s->maxsize = (uint32_t)maxsize;
    q->s->kind = (uint32_t)kind;
    rc = mproc__os_mutex_init(&q->s->put_m, &q->o.h[H_PUT]);
  }
  if (rc == 0)
    rc = mproc__os_mutex_init(&q->s->get_m, &q->o.h[H_GET]);
  for (int slot = H_DATA; rc == 0 && slot <= H_JOIN; slot++)
    rc = mproc__os_park_new(&q->o.h[slot]);
  if (rc == 0)
    rc = mproc__os_notifier_new(&q->o.h[H_NOTIFY]);
  if (rc != 0) {
    mproc_queue_free(q);
    return rc;
  }
  *out = q;
  return 0;
}

int mproc_queue_new(mproc_queue_t **out, size_t maxsize) {
  return queue_create(out, maxsize, MPROC_QUEUE_BUFFER_DEFAULT, Q_PLAIN);
}
int mproc_queue_new_sized(mproc_queue_t **out, size_t maxsize, size_t buffer_bytes) {
  return queue_create(out, maxsize, buffer_bytes, Q_PLAIN);
}
int mproc_simple_queue_new(mproc_queue_t **out) {
  return queue_create(out, 0, MPROC_QUEUE_BUFFER_DEFAULT, Q_SIMPLE);
}
int mproc_joinable_queue_new(mproc_queue_t **out, size_t maxsize) {
  return queue_create(out, maxsize, MPROC_QUEUE_BUFFER_DEFAULT, Q_JOINABLE);
}

static int usable(const mproc_queue_t *q) {
  if (q == NULL)
    return MPROC_EINVAL;
  return MPROC__ATOMIC_LOAD(&q->closed, MPROC__ATOMIC_ACQUIRE) ? MPROC_ECLOSED : 0;
}

int mproc_queue_put(mproc_queue_t *q, const void *data, size_t size, int64_t timeout_ms) {
  int rc = usable(q);
  if (rc != 0 || (data == NULL && size > 0) || timeout_ms < MPROC_FOREVER)
    return rc ? rc : MPROC_EINVAL;
  if (size >= ((uint64_t)1 << SIZE_BITS))
    return MPROC_EMSGSIZE;
  /* A JoinableQueue counts the item as unfinished by the store that publishes it (see
   * queue_shm), which is before put returns, as Python counts it in put. */
  int64_t deadline;
  mproc__timeout_deadline(timeout_ms, &deadline);
  return q->s->maxsize == 0 ? mproc__queue_put_unbounded(q, data, size)
                            : mproc__queue_put_bytes(q, data, size, deadline);
}

/* The item a too-small mproc_queue_get_into left on this handle, if any: 1 and *b takes it. */
static int take_stash(mproc_queue_t *q, mp_buf *b) {
  if (!MPROC__ATOMIC_LOAD(&q->stashed, MPROC__ATOMIC_ACQUIRE))
    return 0; /* the common case costs one load */
  mproc__os_global_lock();
  int had = q->stashed;
  if (had) {
    mproc__buf_free(b);
    b->data = q->stash;
    b->len = b->cap = q->stash_len;
    q->stash = NULL;
    MPROC__ATOMIC_STORE(&q->stashed, 0, MPROC__ATOMIC_RELEASE);
  }
  mproc__os_global_unlock();
  return had;
}

static int get_any(mproc_queue_t *q, int64_t timeout_ms, mp_buf *b) {
  return take_stash(q, b) ? 0 : mproc__queue_get_into(q, timeout_ms, b);
}

int mproc_queue_get_into(mproc_queue_t *q, void *buf, size_t cap, size_t *size,
                         int64_t timeout_ms) {
  int rc = usable(q);
  if (rc != 0 || size == NULL || (buf == NULL && cap > 0) || timeout_ms < MPROC_FOREVER)
    return rc ? rc : MPROC_EINVAL;
  mp_buf b;
  mproc__buf_init(&b);
  if ((rc = get_any(q, timeout_ms, &b)) != 0) {
    mproc__buf_free(&b);
    return rc;
  }
  *size = b.len;
  if (b.len <= cap) {
    if (b.len)
      memcpy(buf, b.data, b.len);
    mproc__buf_free(&b);
    return 0;
  }
  mproc__os_global_lock(); /* keep it for the next get on this handle */
  q->stash = b.data;
  q->stash_len = b.len;
  MPROC__ATOMIC_STORE(&q->stashed, 1, MPROC__ATOMIC_RELEASE);
  mproc__os_global_unlock();
  mproc__set_error_message("the item has %zu bytes, the buffer %zu; it is kept for the next get",
                           b.len, cap);
  return MPROC_ETOOSMALL;
}

int mproc_queue_get(mproc_queue_t *q, int64_t timeout_ms, void **data, size_t *size) {
  int rc = usable(q);
  if (rc != 0 || data == NULL || size == NULL || timeout_ms < MPROC_FOREVER)
    return rc ? rc : MPROC_EINVAL;
  *data = NULL;
  *size = 0;
  mp_buf b;
  mproc__buf_init(&b);
  rc = get_any(q, timeout_ms, &b);
  if (rc == 0) {
    *data = b.data;
    *size = b.len;
  } else {
    mproc__buf_free(&b);
  }
  return rc;
}

int mproc__queue_get_into(mproc_queue_t *q, int64_t timeout_ms, mp_buf *b) {
  int rc = usable(q);
  if (rc != 0)
    return rc;
  b->len = 0;
  int64_t deadline;
  mproc__timeout_deadline(timeout_ms, &deadline);
  rc = lock(q, H_GET);
  if (rc != 0)
    return rc;
  rc = get_locked(q, deadline, b);
  if (rc != MPROC_ENOTRECOVERABLE)
    unlock(q, H_GET);
  return rc;
}

int mproc_queue_put_values(mproc_queue_t *q, const mproc_args_t *values, int64_t timeout_ms) {
  if (values == NULL)
    return MPROC_EINVAL;
  if (mproc__args_has_handles(values))
    return MPROC_ENOTSUP; /* handles cannot travel inside a queue's bytes */
  mp_buf b;
  mproc__buf_init(&b);
  mproc__args_encode(values, &b);
  int rc = b.err ? b.err : mproc_queue_put(q, b.data, b.len, timeout_ms);
  mproc__buf_free(&b);
  return rc;
}

int mproc_queue_get_values(mproc_queue_t *q, int64_t timeout_ms, mproc_args_t **values) {
  if (values == NULL)
    return MPROC_EINVAL;
  *values = NULL;
  void *data;
  size_t n;
  int rc = mproc_queue_get(q, timeout_ms, &data, &n);
  if (rc != 0)
    return rc;
  mp_rd r;
  mproc__rd_init(&r, data, n);
  rc = mproc__args_decode(&r, values, MP_ARGS_PLAIN, NULL, 0);
  mproc__free(data);
  return rc;
}

int64_t mproc_queue_qsize(const mproc_queue_t *q) {
  return q ? (int64_t)items_of(q->s) : MPROC_EINVAL;
}
/* As Python's empty() after close() raises (it polls the closed reader), a closed handle is
 * MPROC_ECLOSED; qsize() and full() still answer, as Python's do. */
int mproc_queue_empty(const mproc_queue_t *q) {
  int rc = usable(q);
  return rc ? rc : items_of(q->s) == 0;
}
int mproc_queue_full(const mproc_queue_t *q) { return q ? counts_full(q->s) : MPROC_EINVAL; }

int mproc_queue_close(mproc_queue_t *q) {
  if (q == NULL)
    return 0; /* like every _close */
  MPROC__ATOMIC_STORE(&q->closed, 1, MPROC__ATOMIC_RELEASE); /* other threads may be in put/get */
  return 0;
}

int mproc_queue_join_thread(mproc_queue_t *q) {
  if (q == NULL)
    return MPROC_EINVAL;
  mproc__queue_drain_overflow(q, 0);
  return 0;
}

int mproc_queue_cancel_join_thread(mproc_queue_t *q) {
  if (q == NULL)
    return MPROC_EINVAL;
  mproc__os_global_lock();
  q->cancel_join = 1;
  mproc__os_global_unlock();
  return 0;
}

/* Items put and not yet done (modulo 2^32, like the counts it is made of). The loads are in
 * the order the counts move: an item leaves `held` only after tail counts it, and enters
 * `done` only after tail counted it, so reading done, then held, then tail can count an item
 * twice for a moment, never zero times. */
static uint32_t unfinished_of(const queue_shm *s, uint32_t done) {
  uint32_t held = mproc__held_total(&s->held);
  uint32_t published = w_cnt(LD(&s->tail));
  return published + mproc__ovf_published(&s->ovf) + held - done;
}

void mproc__queue_unheld(mproc_queue_t *q) {
  if (unfinished_of(q->s, LD(&q->s->done)) == 0)
    signal_word(q, H_JOIN, UINT32_MAX);
}

/* One fewer unfinished item; MPROC_EOVERRELEASE if there was none (done is read first, as
 * unfinished_of needs). */
static int unfinished_down(mproc_queue_t *q) {
  queue_shm *s = q->s;
  uint32_t d = LD(&s->done);
  do {
    if (unfinished_of(s, d) == 0)
      return MPROC_EOVERRELEASE;
  } while (!MPROC__ATOMIC_COMPARE_EXCHANGE(&s->done, &d, d + 1, 0, MPROC__ATOMIC_SEQ_CST,
                                        MPROC__ATOMIC_SEQ_CST));
  if (unfinished_of(s, d + 1) == 0)
    signal_word(q, H_JOIN, UINT32_MAX);
  return 0;
}

static void task_done_silently(mproc_queue_t *q) {
  if (q->s->kind == Q_JOINABLE)
    unfinished_down(q);
}

/* A stream reader that died while not holding the get lock is otherwise noticed only by the
 * next consumer; join() may be the only one looking. */
static void reader_check(mproc_queue_t *q) {
  int64_t pid = LD(&q->s->reader_pid);
  if (pid == 0 || mproc__os_pid_alive(pid) || lock(q, H_GET) != 0)
    return;
  repair_get_side(q);
  unlock(q, H_GET);
}

int mproc_queue_task_done(mproc_queue_t *q) {
  if (q == NULL)
    return MPROC_EINVAL;
  return q->s->kind == Q_JOINABLE ? unfinished_down(q) : MPROC_ETYPE;
}

int mproc_queue_join(mproc_queue_t *q, int64_t timeout_ms) {
  if (q == NULL || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  if (q->s->kind != Q_JOINABLE)
    return MPROC_ETYPE;
  int64_t deadline;
  mproc__timeout_deadline(timeout_ms, &deadline);
  queue_shm *s = q->s;
  for (;;) {
    uint32_t v = LD(&s->join_word);
    if (unfinished_of(s, LD(&s->done)) == 0)
      return 0;
    reader_check(q);
    if (mproc__held_reap(q) != 0)
      continue; /* a producer died holding items back: they will never come */
    /* In slices: a task_done killed between its decrement and its wake-up leaves the word as
     * it was, and a stream reader that died waiting for a chunk, or a producer that died with
     * items held back (Windows), is dealt with only when somebody looks. */
    int64_t slice = mproc__os_deadline(LIVENESS_SLICE_MS);
    int rc = mproc__park(q->o.h[H_JOIN], &s->join_sleepers, &s->join_word, v,
                     slice < deadline ? slice : deadline);
    if (rc != 0 && unfinished_of(s, LD(&s->done)) != 0 && slice >= deadline)
      return rc;
  }
}

void mproc_queue_free(mproc_queue_t *q) {
  if (q == NULL)
    return;
  if (q->o.list_owned) { /* the child's argument: closed now, freed by the list */
    mproc_queue_close(q);
    return;
  }
  mproc__queue_drain_overflow(q, q->cancel_join);
  mproc__free(q->stash);
  mproc__queue_unregister(q);
  mproc__ovf_release(q, q->o.creator);
  mproc__shobj_release(&q->o);
  mproc__free(q);
}

/* --- transit and mproc_wait -------------------------------------------------------------------- */

int mproc__queue_encode(const mproc_queue_t *q, mp_buf *b) {
  mproc__put_u8(b, 1);
  mproc__shobj_encode(&q->o, b);
  return b->err;
}

int mproc__queue_adopt(mp_rd *r, mp_hmap *hm, mproc_queue_t **out) {
  if (mproc__get_u8(r) != 1)
    return MPROC_EPROTO;
  mproc_queue_t *q = mproc__calloc(1, sizeof *q);
  if (q == NULL)
    return MPROC_ENOMEM;
  int rc = mproc__shobj_decode(r, hm, &q->o);
  if (rc == 0) {
    q->s = q->o.blk.p;
    q->ovf = &q->s->ovf;
    q->held = &q->s->held;
    q->ring = (unsigned char *)q->o.blk.p + RING_OFF;
    uint32_t cap = q->s->cap;
    if (q->o.blk.size < RING_OFF || cap < 4096 || (cap & (cap - 1)) != 0 ||
        cap > q->o.blk.size - RING_OFF)
      rc = MPROC_EPROTO;
  }
  if (rc != 0) {
    mproc_queue_free(q);
    return rc;
  }
  *out = q;
  return 0;
}

int mproc__queue_wait_prepare(mproc_queue_t *q, os_handle *h) {
  int rc = usable(q);
  if (rc != 0)
    return rc;
  /* Under both locks nothing moves: the flag is set exactly when there is an item. */
  if (lock(q, H_PUT) != 0)
    return MPROC_ENOTRECOVERABLE;
  if (lock(q, H_GET) != 0) {
    unlock(q, H_PUT);
    return MPROC_ENOTRECOVERABLE;
  }
  MPROC__ATOMIC_ADD_FETCH(&q->s->pollers, 1, MPROC__ATOMIC_SEQ_CST);
  int ready = items_of(q->s) > 0;
  if (ready)
    mproc__os_notifier_set(q->o.h[H_NOTIFY]);
  else
    mproc__os_notifier_clear(q->o.h[H_NOTIFY]);
  unlock(q, H_GET);
  unlock(q, H_PUT);
  *h = q->o.h[H_NOTIFY];
  return ready;
}

void mproc__queue_wait_done(mproc_queue_t *q) {
  MPROC__ATOMIC_SUB_FETCH(&q->s->pollers, 1, MPROC__ATOMIC_SEQ_CST);
}
