/*
 * Queue, SimpleQueue, JoinableQueue: a ring of records in one block of anonymous shared
 * memory, guarded by a robust mutex, with waiters parked on "data" and "space" words.
 *
 * Sections: layout -> locking and waiting (owner-death repair, liveness of stream peers) ->
 * ring records -> put (whole items, streamed items) -> get -> overflow (unbounded queues) ->
 * public calls -> transit and mproc_wait.
 *
 * Crash safety comes from the order of writes under the mutex: a record is copied in fully
 * before tail moves past it, and copied out fully before head moves past it. A process killed
 * mid-copy dies holding the mutex; the next locker is told (EOWNERDEAD), finds head and tail
 * as they were before the interrupted operation, recounts the items and carries on. Items too
 * big for the ring are streamed as FIRST, CHUNK..., LAST records while other producers wait; a
 * reader or writer of a stream that dies is noticed by the other side's periodic liveness
 * check, and the stream is dropped instead of wedging the queue.
 */
#include <stdlib.h>
#include <string.h>

#include "heap.h"

#define LD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ST(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define BUMP(p) __atomic_add_fetch((p), 1, __ATOMIC_SEQ_CST)

enum { Q_PLAIN = 0, Q_SIMPLE = 1, Q_JOINABLE = 2 };
enum { R_ITEM = 1, R_SKIP = 2, R_FIRST = 3, R_CHUNK = 4, R_LAST = 5 };
enum { H_MUTEX, H_DATA, H_SPACE, H_JOIN, H_NOTIFY }; /* mp_shobj handle slots */

#define REC_HDR 16
#define RING_OFF 256
#define SPIN_LIMIT 4000       /* pauses before a getter parks (a few microseconds) */
#define LIVENESS_SLICE_MS 100 /* how often a stream peer is checked while waiting on it */

typedef struct rec {
  uint32_t type;
  uint32_t len; /* payload bytes in this record */
  uint64_t aux; /* FIRST: total item size; FIRST/CHUNK/LAST: stream id in the high half */
} rec;

typedef struct queue_shm {
  os_mutex_mem m;
  uint64_t head, tail; /* byte positions, only growing; index = pos % cap */
  uint64_t cap;
  uint64_t unfinished; /* JoinableQueue: put and not yet task_done */
  uint32_t count;      /* items (a stream counts from its FIRST record) */
  uint32_t maxsize;    /* 0: unbounded */
  uint32_t kind;
  uint32_t data_word, space_word, join_word;
  uint32_t data_sleepers, space_sleepers, join_sleepers;
  uint32_t pollers;    /* mproc_wait callers: keep the notifier exact while > 0 */
  uint32_t streaming;  /* a producer is writing a stream */
  uint32_t stream_id;
  uint32_t reader_id;  /* the stream being collected (by reader_pid); chunks of any other
                          stream found at head have no reader and are discarded */
  int64_t writer_pid;
  int64_t reader_pid;
} queue_shm;

_Static_assert(sizeof(queue_shm) <= RING_OFF, "queue header overlaps the ring");

typedef struct ovf_item {
  struct ovf_item *next;
  size_t size;
  unsigned char data[];
} ovf_item;

struct mproc_queue {
  mp_shobj o;
  queue_shm *s;
  unsigned char *ring;
  int closed;
  /* overflow of an unbounded queue, guarded by os_global_lock */
  ovf_item *ovf_head, *ovf_tail;
  os_thread *feeder;
  int feeder_running;
  int cancel_join;
  struct mproc_queue *ovf_next; /* registry of queues that ever overflowed here */
};

static mproc_queue_t *g_overflowed;
static int g_atexit_registered;

/* --- locking and waiting ------------------------------------------------------------------ */

static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }
static rec *rec_at(mproc_queue_t *q, uint64_t pos) {
  return (rec *)(void *)(q->ring + pos % q->s->cap);
}

/* After a holder died: head and tail are as before its last operation; recount the items. */
static void repair(mproc_queue_t *q) {
  queue_shm *s = q->s;
  uint32_t n = 0;
  for (uint64_t p = s->head; p < s->tail;) {
    rec *r = rec_at(q, p);
    n += r->type == R_ITEM || r->type == R_FIRST;
    p += REC_HDR + align16(r->len);
  }
  s->count = n;
}

static void q_lock(mproc_queue_t *q) {
  if (os_mutex_lock(&q->s->m, q->o.h[H_MUTEX], OS_NO_DEADLINE) == MPROC_EOWNERDEAD)
    repair(q);
}

static void q_unlock(mproc_queue_t *q) { os_mutex_unlock(&q->s->m, q->o.h[H_MUTEX]); }

static void wake(mproc_queue_t *q, uint32_t *word, uint32_t *sleepers, int slot, uint32_t n) {
  BUMP(word);
  mp_unpark(q->o.h[slot], sleepers, word, n);
}

static void wake_data(mproc_queue_t *q, uint32_t n) {
  wake(q, &q->s->data_word, &q->s->data_sleepers, H_DATA, n);
}
static void wake_space(mproc_queue_t *q, uint32_t n) {
  wake(q, &q->s->space_word, &q->s->space_sleepers, H_SPACE, n);
}

/* With the mutex held: sleeps until word moves or the deadline (capped at a liveness slice
 * when check_peers), then retakes the mutex. 0 or MPROC_ETIMEDOUT (the real deadline). */
static int q_wait(mproc_queue_t *q, uint32_t *word, uint32_t *sleepers, int slot,
                  int64_t deadline, int check_peers, int spin) {
  uint32_t v = LD(word);
  q_unlock(q);
  int moved = 0;
  for (int i = 0; spin && i < SPIN_LIMIT && !moved; i++) {
    os_cpu_relax();
    moved = LD(word) != v;
  }
  int64_t until = deadline;
  if (check_peers) {
    int64_t slice = os_deadline(LIVENESS_SLICE_MS);
    until = slice < deadline ? slice : deadline;
  }
  int rc = moved ? 0 : mp_park(q->o.h[slot], sleepers, word, v, until);
  q_lock(q);
  if (rc == MPROC_ETIMEDOUT && until != deadline)
    rc = 0; /* only the liveness slice ended */
  return rc == MPROC_ETIMEDOUT ? rc : 0;
}

static int64_t my_pid(void) { return os_getpid(); }

/* --- ring records --------------------------------------------------------------------------- */

static uint64_t space_free(const queue_shm *s) { return s->cap - (s->tail - s->head); }

/* Room for a record of rlen bytes at tail (counting the skip record a wrap needs). */
static int has_room(const queue_shm *s, size_t rlen) {
  uint64_t to_end = s->cap - s->tail % s->cap;
  uint64_t need = rlen <= to_end ? rlen : to_end + rlen;
  return need <= space_free(s);
}

/* Appends one record (the caller checked has_room); returns after tail has moved. */
static void append(mproc_queue_t *q, uint32_t type, uint64_t aux, const void *p, size_t n) {
  queue_shm *s = q->s;
  size_t rlen = REC_HDR + align16(n);
  uint64_t to_end = s->cap - s->tail % s->cap;
  if (rlen > to_end) { /* records never wrap: pad to the end with a skip record */
    rec *k = rec_at(q, s->tail);
    *k = (rec){R_SKIP, (uint32_t)(to_end - REC_HDR), 0};
    ST(&s->tail, s->tail + to_end);
  }
  rec *r = rec_at(q, s->tail);
  if (n)
    memcpy(r + 1, p, n);
  *r = (rec){type, (uint32_t)n, aux};
  ST(&s->tail, s->tail + rlen); /* the record exists from here on */
}

static void consume(mproc_queue_t *q, const rec *r) {
  ST(&q->s->head, q->s->head + REC_HDR + align16(r->len));
}

/* The largest item sent as one record, and the chunk size of streamed ones. */
static size_t whole_max(const queue_shm *s) { return (size_t)(s->cap / 2) - REC_HDR; }
static size_t chunk_size(const queue_shm *s) { return (size_t)(s->cap / 4) - REC_HDR; }

static int counts_full(const queue_shm *s) { return s->maxsize != 0 && s->count >= s->maxsize; }

/* A new item is visible: count it, raise the notifier for pollers, wake a getter. */
static void item_added(mproc_queue_t *q, uint32_t wake_n) {
  queue_shm *s = q->s;
  if (s->count++ == 0 && s->pollers)
    os_notifier_set(q->o.h[H_NOTIFY]);
  s->unfinished++;
  wake_data(q, wake_n);
}

static void item_taken(mproc_queue_t *q) {
  queue_shm *s = q->s;
  if (--s->count == 0 && s->pollers)
    os_notifier_clear(q->o.h[H_NOTIFY]);
}

/* --- put ------------------------------------------------------------------------------------ */

/* A stream whose writer died stops blocking everyone. */
static void check_writer(mproc_queue_t *q) {
  queue_shm *s = q->s;
  if (s->streaming && !os_pid_alive(s->writer_pid)) {
    s->streaming = 0;
    wake_space(q, UINT32_MAX);
    wake_data(q, UINT32_MAX);
  }
}

/* With the mutex held: until an item of rlen bytes may be appended. */
static int wait_room(mproc_queue_t *q, size_t rlen, int64_t deadline) {
  queue_shm *s = q->s;
  while (s->streaming || counts_full(s) || !has_room(s, rlen)) {
    if (deadline != OS_NO_DEADLINE && os_now_ns() >= deadline)
      return MPROC_EFULL;
    check_writer(q);
    if (q_wait(q, &s->space_word, &s->space_sleepers, H_SPACE, deadline, s->streaming, 0))
      return MPROC_EFULL;
  }
  return 0;
}

static int put_whole(mproc_queue_t *q, const void *data, size_t n, int64_t deadline) {
  q_lock(q);
  int rc = wait_room(q, REC_HDR + align16(n), deadline);
  if (rc == 0) {
    append(q, R_ITEM, 0, data, n);
    item_added(q, 1);
  }
  q_unlock(q);
  return rc;
}

static uint32_t stream_of(const rec *r) { return (uint32_t)(r->aux >> 40); }

/* Stream id has a reader that is alive (or nobody has started reading it yet: 0). */
static int reader_alive(queue_shm *s, uint32_t id) {
  if (s->reader_id != id || s->reader_pid == 0)
    return 0;
  if (os_pid_alive(s->reader_pid))
    return 1;
  s->reader_pid = 0; /* what is left of its stream is discarded by whoever finds it */
  return 0;
}

/* The chunks after FIRST. Returns 0 when all went in or the reader died (the item was
 * delivered to a consumer that is gone), MPROC_EFULL past the deadline (stream abandoned). */
static int put_chunks(mproc_queue_t *q, const unsigned char *p, size_t n, size_t done,
                      uint64_t aux, int64_t deadline) {
  queue_shm *s = q->s;
  size_t chunk = chunk_size(s);
  while (done < n) {
    size_t len = n - done < chunk ? n - done : chunk;
    while (!has_room(s, REC_HDR + align16(len))) {
      /* A reader that took FIRST and died: the item went to a consumer that is gone. */
      if (s->reader_id == (uint32_t)(aux >> 40) && s->reader_pid != 0 &&
          !reader_alive(s, s->reader_id))
        return 0;
      if (q_wait(q, &s->space_word, &s->space_sleepers, H_SPACE, deadline, 1, 0))
        return MPROC_EFULL;
    }
    done += len;
    append(q, done == n ? R_LAST : R_CHUNK, aux, p + done - len, len);
    wake_data(q, UINT32_MAX); /* the stream's reader, whichever sleeper it is */
  }
  return 0;
}

static int put_stream(mproc_queue_t *q, const unsigned char *p, size_t n, int64_t deadline) {
  queue_shm *s = q->s;
  size_t chunk = chunk_size(s);
  q_lock(q);
  int rc = wait_room(q, REC_HDR + chunk, deadline);
  if (rc == 0) {
    s->streaming = 1;
    s->writer_pid = my_pid();
    uint64_t aux = ((uint64_t)++s->stream_id << 40) | (uint64_t)n;
    append(q, R_FIRST, aux, p, chunk);
    item_added(q, UINT32_MAX);
    rc = put_chunks(q, p, n, chunk, aux, deadline);
    s->streaming = 0;
    wake_space(q, UINT32_MAX); /* producers held back by the stream */
    wake_data(q, UINT32_MAX);  /* a reader waiting for a chunk that will not come */
  }
  q_unlock(q);
  return rc;
}

static int put_bytes(mproc_queue_t *q, const void *data, size_t n, int64_t deadline) {
  if (n <= whole_max(q->s))
    return put_whole(q, data, n, deadline);
  return put_stream(q, data, n, deadline);
}

/* --- get ----------------------------------------------------------------------------------- */

/* Collects the rest of stream id into buf (the mutex held). 0 when complete, MPROC_EPEERGONE
 * when the stream ended early (writer died or gave up). */
static int collect(mproc_queue_t *q, uint32_t id, unsigned char *buf, size_t total,
                   size_t got) {
  queue_shm *s = q->s;
  while (got < total) {
    if (s->head == s->tail) {
      check_writer(q);
      if (!s->streaming || s->stream_id != id)
        return MPROC_EPEERGONE;
      q_wait(q, &s->data_word, &s->data_sleepers, H_DATA, OS_NO_DEADLINE, 1, 1);
      continue;
    }
    rec *r = rec_at(q, s->head);
    if (r->type == R_SKIP) {
      consume(q, r);
      continue;
    }
    if ((r->type != R_CHUNK && r->type != R_LAST) || stream_of(r) != id ||
        r->len > total - got)
      return MPROC_EPEERGONE;
    memcpy(buf + got, r + 1, r->len);
    got += r->len;
    consume(q, r);
    wake_space(q, 1);
  }
  return 0;
}

/* Takes the stream whose FIRST record is at head. 0 with *out, or MPROC_EPEERGONE. */
static int take_stream(mproc_queue_t *q, rec *first, void **out, size_t *size) {
  queue_shm *s = q->s;
  size_t total = (size_t)(first->aux & (((uint64_t)1 << 40) - 1));
  uint32_t id = stream_of(first);
  unsigned char *buf = malloc(total ? total : 1);
  if (buf == NULL)
    return MPROC_ENOMEM; /* the item stays in the queue */
  s->reader_pid = my_pid();
  s->reader_id = id;
  memcpy(buf, first + 1, first->len);
  size_t got = first->len;
  consume(q, first);
  item_taken(q);
  wake_space(q, 1);
  int rc = collect(q, id, buf, total, got);
  s->reader_pid = 0;
  wake_data(q, UINT32_MAX); /* getters that waited behind the stream */
  if (rc != 0) { /* never delivered: nobody will call task_done for it */
    free(buf);
    if (s->unfinished > 0 && --s->unfinished == 0)
      wake(q, &s->join_word, &s->join_sleepers, H_JOIN, UINT32_MAX);
    return rc;
  }
  *out = buf;
  *size = total;
  return 0;
}

/* A chunk at head that another consumer is collecting: wait; with no live reader, discard. */
static int foreign_chunk(mproc_queue_t *q, rec *r, int64_t deadline) {
  queue_shm *s = q->s;
  if (!reader_alive(s, stream_of(r))) {
    consume(q, r);
    wake_space(q, UINT32_MAX);
    return 0;
  }
  return q_wait(q, &s->data_word, &s->data_sleepers, H_DATA, deadline, 1, 0);
}

static int take_item(mproc_queue_t *q, rec *r, void **out, size_t *size) {
  void *buf = malloc(r->len ? r->len : 1);
  if (buf == NULL)
    return MPROC_ENOMEM;
  memcpy(buf, r + 1, r->len);
  *size = r->len;
  *out = buf;
  consume(q, r);
  item_taken(q);
  wake_space(q, 1);
  return 0;
}

static int get_locked(mproc_queue_t *q, int64_t deadline, void **out, size_t *size) {
  queue_shm *s = q->s;
  for (;;) {
    int rc;
    if (s->head == s->tail) {
      if (deadline != OS_NO_DEADLINE && os_now_ns() >= deadline)
        return MPROC_EEMPTY;
      rc = q_wait(q, &s->data_word, &s->data_sleepers, H_DATA, deadline, 0, 1);
      if (rc != 0)
        return MPROC_EEMPTY;
      continue;
    }
    rec *r = rec_at(q, s->head);
    switch (r->type) {
    case R_SKIP:
      consume(q, r);
      continue;
    case R_ITEM:
      return take_item(q, r, out, size);
    case R_FIRST:
      rc = take_stream(q, r, out, size);
      if (rc != MPROC_EPEERGONE)
        return rc;
      continue; /* its writer died mid-stream: nothing was delivered, look again */
    default:
      if (foreign_chunk(q, r, deadline) != 0)
        return MPROC_EEMPTY;
    }
  }
}

/* --- overflow of unbounded queues ------------------------------------------------------------ */

static void feeder_main(void *arg) {
  mproc_queue_t *q = arg;
  for (;;) {
    os_global_lock();
    ovf_item *it = q->ovf_head;
    if (it == NULL)
      q->feeder_running = 0;
    os_global_unlock();
    if (it == NULL)
      return;
    put_bytes(q, it->data, it->size, OS_NO_DEADLINE);
    os_global_lock();
    q->ovf_head = it->next;
    if (q->ovf_head == NULL)
      q->ovf_tail = NULL;
    os_global_unlock();
    free(it);
  }
}

/* Waits for the feeder to empty the overflow (or drops it when cancelled). */
static void drain_overflow(mproc_queue_t *q, int drop) {
  for (;;) {
    os_global_lock();
    os_thread *t = q->feeder;
    q->feeder = NULL;
    if (t == NULL && drop) {
      for (ovf_item *it = q->ovf_head, *nx; it; it = nx) {
        nx = it->next;
        free(it);
      }
      q->ovf_head = q->ovf_tail = NULL;
    }
    os_global_unlock();
    if (t == NULL)
      return;
    os_thread_join(t);
  }
}

static void at_exit_flush(void) {
  for (mproc_queue_t *q = g_overflowed; q; q = q->ovf_next)
    drain_overflow(q, q->cancel_join);
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

static void unregister_overflowed(mproc_queue_t *q) {
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
    q->ovf_head = it;
  q->ovf_tail = it;
  register_overflowed(q);
  if (!q->feeder_running) {
    os_thread_join(q->feeder); /* a previous feeder that already finished */
    q->feeder = NULL;
    rc = os_thread_start(feeder_main, q, &q->feeder);
    q->feeder_running = rc == 0;
  }
  os_global_unlock();
  return rc;
}

/* An unbounded queue's put: straight into the ring when there is room and nothing of ours is
 * waiting in the overflow (per-producer order), else into the overflow. */
static int put_unbounded(mproc_queue_t *q, const void *data, size_t n) {
  os_global_lock();
  int queued = q->ovf_head != NULL;
  os_global_unlock();
  if (!queued && n <= whole_max(q->s) && put_whole(q, data, n, 0) == 0)
    return 0;
  return overflow(q, data, n);
}

void mp_queue_after_fork_child(void) {
  /* The parent's overflow is the parent's to deliver; its feeder threads do not exist here. */
  for (mproc_queue_t *q = g_overflowed; q; q = q->ovf_next) {
    q->feeder = NULL;
    q->feeder_running = 0;
    q->ovf_head = q->ovf_tail = NULL; /* leaked on purpose: not ours to free or send */
  }
  g_overflowed = NULL;
}

/* --- public calls ------------------------------------------------------------------------------ */

static int queue_create(mproc_queue_t **out, size_t maxsize, size_t bytes, int kind) {
  if (out == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  if (bytes < 4096 || bytes > ((size_t)1 << 30) || maxsize > UINT32_MAX)
    return MPROC_EINVAL;
  mproc_queue_t *q = calloc(1, sizeof *q);
  if (q == NULL)
    return MPROC_ENOMEM;
  bytes = align16(bytes);
  int rc = mp_shobj_create(&q->o, RING_OFF + bytes);
  if (rc == 0) {
    q->s = q->o.blk.p;
    q->ring = (unsigned char *)q->o.blk.p + RING_OFF;
    q->s->cap = bytes;
    q->s->maxsize = (uint32_t)maxsize;
    q->s->kind = (uint32_t)kind;
    rc = os_mutex_init(&q->s->m, &q->o.h[H_MUTEX]);
  }
  for (int slot = H_DATA; rc == 0 && slot <= H_JOIN; slot++)
    rc = os_park_new(&q->o.h[slot]);
  if (rc == 0)
    rc = os_notifier_new(&q->o.h[H_NOTIFY]);
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
  return q->closed ? MPROC_ECLOSED : 0;
}

int mproc_queue_put(mproc_queue_t *q, const void *data, size_t size, int64_t timeout_ms) {
  int rc = usable(q);
  if (rc != 0 || (data == NULL && size > 0) || timeout_ms < MPROC_FOREVER)
    return rc ? rc : MPROC_EINVAL;
  if (size > ((uint64_t)1 << 40) - 1)
    return MPROC_EMSGSIZE;
  if (q->s->maxsize == 0)
    return put_unbounded(q, data, size);
  int64_t deadline;
  mp_timeout_deadline(timeout_ms, &deadline);
  return put_bytes(q, data, size, deadline);
}

int mproc_queue_get(mproc_queue_t *q, int64_t timeout_ms, void **data, size_t *size) {
  int rc = usable(q);
  if (rc != 0 || data == NULL || size == NULL || timeout_ms < MPROC_FOREVER)
    return rc ? rc : MPROC_EINVAL;
  *data = NULL;
  *size = 0;
  int64_t deadline;
  mp_timeout_deadline(timeout_ms, &deadline);
  q_lock(q);
  rc = get_locked(q, deadline, data, size);
  q_unlock(q);
  return rc;
}

int mproc_queue_put_values(mproc_queue_t *q, const mproc_args_t *values, int64_t timeout_ms) {
  if (values == NULL)
    return MPROC_EINVAL;
  if (mp_args_has_handles(values))
    return MPROC_ENOTSUP; /* handles cannot travel inside a queue's bytes */
  mp_buf b;
  mp_buf_init(&b);
  mp_args_encode(values, &b);
  int rc = b.err ? b.err : mproc_queue_put(q, b.data, b.len, timeout_ms);
  mp_buf_free(&b);
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
  mp_rd_init(&r, data, n);
  rc = mp_args_decode(&r, values, MP_ARGS_PLAIN, NULL, 0);
  free(data);
  return rc;
}

int64_t mproc_queue_qsize(const mproc_queue_t *q) {
  return q ? (int64_t)LD(&q->s->count) : MPROC_EINVAL;
}
int mproc_queue_empty(const mproc_queue_t *q) { return q ? LD(&q->s->count) == 0 : MPROC_EINVAL; }
int mproc_queue_full(const mproc_queue_t *q) {
  if (q == NULL)
    return MPROC_EINVAL;
  return q->s->maxsize != 0 && LD(&q->s->count) >= q->s->maxsize;
}

int mproc_queue_close(mproc_queue_t *q) {
  if (q == NULL)
    return MPROC_EINVAL;
  q->closed = 1;
  return 0;
}

int mproc_queue_join_thread(mproc_queue_t *q) {
  if (q == NULL)
    return MPROC_EINVAL;
  drain_overflow(q, 0);
  return 0;
}

int mproc_queue_cancel_join_thread(mproc_queue_t *q) {
  if (q == NULL)
    return MPROC_EINVAL;
  os_global_lock();
  q->cancel_join = 1;
  os_global_unlock();
  return 0;
}

int mproc_queue_task_done(mproc_queue_t *q) {
  if (q == NULL)
    return MPROC_EINVAL;
  if (q->s->kind != Q_JOINABLE)
    return MPROC_ETYPE;
  q_lock(q);
  int rc = 0;
  if (q->s->unfinished == 0)
    rc = MPROC_EOVERRELEASE;
  else if (--q->s->unfinished == 0)
    wake(q, &q->s->join_word, &q->s->join_sleepers, H_JOIN, UINT32_MAX);
  q_unlock(q);
  return rc;
}

int mproc_queue_join(mproc_queue_t *q, int64_t timeout_ms) {
  if (q == NULL || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  if (q->s->kind != Q_JOINABLE)
    return MPROC_ETYPE;
  int64_t deadline;
  mp_timeout_deadline(timeout_ms, &deadline);
  q_lock(q);
  int rc = 0;
  while (rc == 0 && q->s->unfinished != 0)
    rc = q_wait(q, &q->s->join_word, &q->s->join_sleepers, H_JOIN, deadline, 0, 0);
  q_unlock(q);
  return rc;
}

void mproc_queue_free(mproc_queue_t *q) {
  if (q == NULL)
    return;
  drain_overflow(q, q->cancel_join);
  unregister_overflowed(q);
  mp_shobj_release(&q->o);
  free(q);
}

/* --- transit and mproc_wait -------------------------------------------------------------------- */

int mp_queue_encode(const mproc_queue_t *q, mp_buf *b) {
  mp_put_u8(b, 1);
  mp_shobj_encode(&q->o, b);
  return b->err;
}

int mp_queue_adopt(mp_rd *r, mp_hmap *hm, mproc_queue_t **out) {
  if (mp_get_u8(r) != 1)
    return MPROC_EPROTO;
  mproc_queue_t *q = calloc(1, sizeof *q);
  if (q == NULL)
    return MPROC_ENOMEM;
  int rc = mp_shobj_decode(r, hm, &q->o);
  if (rc == 0) {
    q->s = q->o.blk.p;
    q->ring = (unsigned char *)q->o.blk.p + RING_OFF;
    if (q->o.blk.size < RING_OFF || q->s->cap > q->o.blk.size - RING_OFF)
      rc = MPROC_EPROTO;
  }
  if (rc != 0) {
    mproc_queue_free(q);
    return rc;
  }
  *out = q;
  return 0;
}

int mp_queue_wait_prepare(mproc_queue_t *q, os_handle *h) {
  int rc = usable(q);
  if (rc != 0)
    return rc;
  q_lock(q);
  q->s->pollers++;
  int ready = q->s->count > 0;
  if (ready)
    os_notifier_set(q->o.h[H_NOTIFY]);
  else
    os_notifier_clear(q->o.h[H_NOTIFY]);
  q_unlock(q);
  *h = q->o.h[H_NOTIFY];
  return ready;
}

void mp_queue_wait_done(mproc_queue_t *q) {
  q_lock(q);
  q->s->pollers--;
  q_unlock(q);
}
