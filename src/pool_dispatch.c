/* SPDX-License-Identifier: MIT */
/* The pool's thread: starts workers, cuts jobs into chunks and sends each worker a few at a
 * time through its own task queue, collects results from the shared result queue, notices
 * dead workers through their process handles, and runs callbacks.
 *
 * Because every chunk is sent to one named worker, a death is exact: the worker's slot says how
 * many chunks it began and which item it was running, so the parent knows which item killed
 * it, which items had finished (their results died with it) and which were never begun (they
 * go to another worker). No lock is shared with workers besides the queues' own robust ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "queue.h"
#include "atomics.h"
#include "log.h"
#include "alloc.h"

#define LD64(p) MPROC__ATOMIC_LOAD((p), MPROC__ATOMIC_ACQUIRE)
#define MAX_WINDOW 64              /* chunks in flight per worker */
#define WINDOW_NS 2000000          /* aim: about 2 ms of queued work per worker */
#define BATCH_BYTES ((size_t)256 << 10)
#define DRAIN_MAX 128              /* result records read before feeding workers again */
#define DEATH_CHECK_NS 10000000    /* while results keep coming, look for deaths every 10 ms */
#define STARTUP_DEATHS_MAX 3       /* workers dying before they start: the pool gives up */
#define TERM_GRACE_MS 500
#define STOP_GRACE_MS 10000        /* a worker told to quit finishes its batch first */
#define RETRY_NS 2000000           /* a batch waiting for room in a task queue: try again */
#define ARENA_BYTES ((size_t)32 << 20) /* pages are touched only as far as maps reach */
#define ARENA_MIN_ITEMS 32         /* smaller chunks travel in the task queue */

static int64_t *slot_of(mproc_pool_t *p, int i) {
  return (int64_t *)mproc_array_ptr(p->slots) + SLOT_WORDS * i;
}

/* --- workers ------------------------------------------------------------------------------------ */

static int worker_args(mproc_pool_t *p, int i, mproc_args_t **out) {
  mproc_args_t *a;
  int rc = mproc_args_new(&a);
  if (rc == 0)
    rc = mproc_args_add_queue(a, p->w[i].tq);
  if (rc == 0)
    rc = mproc_args_add_queue(a, p->rq);
  if (rc == 0)
    rc = mproc_args_add_array(a, p->slots);
  if (rc == 0)
    rc = mproc_args_add_int(a, i);
  if (rc == 0)
    rc = mproc_args_add_int(a, p->w[i].gen);
  if (rc == 0)
    rc = mproc_args_add_int(a, p->opts.maxtasksperchild);
  if (rc == 0)
    rc = p->arena ? mproc_args_add_array(a, p->arena) : mproc_args_add_none(a);
  if (rc == 0)
    rc = mproc_args_add_int(a, (int64_t)p->opts.max_memory_per_child);
  if (rc == 0)
    rc = p->init_ref.len ? mproc_args_add_bytes(a, p->init_ref.data, p->init_ref.len)
                         : mproc_args_add_none(a);
  if (rc == 0)
    rc = mproc__args_extend(a, p->initargs, 0);
  if (rc != 0)
    mproc_args_free(a);
  else
    *out = a;
  return rc;
}

static int launch(mproc_pool_t *p, int i, mproc_args_t *args) {
  pool_worker *w = &p->w[i];
  int rc = mproc_process_new(&w->proc, (mproc_target_fn)mproc__pool_worker_main, args);
  char name[48];
  mproc__hub_lock(p->hub);
  snprintf(name, sizeof name, "PoolWorker-%llu", (unsigned long long)p->workers_started + 1);
  mproc__hub_unlock(p->hub);
  if (rc == 0)
    rc = mproc_process_set_name(w->proc, name);
  if (rc == 0)
    rc = mproc_process_set_daemon(w->proc, 1);
  if (rc == 0 && p->opts.start_method != MPROC_START_DEFAULT)
    rc = mproc_process_set_start_method(w->proc, p->opts.start_method);
  if (rc == 0)
    rc = mproc_process_allow_fork_with_threads(w->proc, 1); /* this thread exists by design */
  if (rc == 0)
    rc = mproc_process_start(w->proc);
  return rc;
}

static int start_worker(mproc_pool_t *p, int i) {
  pool_worker *w = &p->w[i];
  memset(slot_of(p, i), 0, SLOT_WORDS * sizeof(int64_t));
  w->gen++;
  w->head = w->tail = NULL;
  w->inflight = 0;
  w->received = w->assigned = 0;
  w->known_fns = 0;
  w->timed_out = 0;
  w->pending.len = 0;
  w->pending_chunks = 0;
  mproc_args_t *args = NULL;
  int rc = mproc_queue_new_sized(&w->tq, (size_t)1 << 30, (size_t)1 << 20);
  if (rc == 0)
    rc = worker_args(p, i, &args);
  if (rc == 0)
    rc = launch(p, i, args);
  mproc_args_free(args);
  mproc__hub_lock(p->hub);
  if (rc == 0) {
    w->state = W_STARTING;
    p->workers_started++;
  }
  mproc__hub_unlock(p->hub);
  if (rc == 0)
    MPROC__DEBUG("pool worker %d started: pid %lld", i, (long long)mproc_process_pid(w->proc));
  else
    MPROC__WARN("pool worker %d could not be started: %s", i, mproc_strerror(rc));
  if (rc != 0) {
    mproc_process_free(w->proc);
    mproc_queue_free(w->tq);
    w->proc = NULL;
    w->tq = NULL;
  }
  return rc;
}

static void stop_worker(mproc_pool_t *p, int i, int64_t deadline) {
  pool_worker *w = &p->w[i];
  mproc__hub_lock(p->hub); /* mproc_pool_pids reads proc while the state says it is there */
  mproc_process_t *proc = w->proc;
  mproc_queue_t *tq = w->tq;
  w->proc = NULL;
  w->tq = NULL;
  w->state = W_EMPTY;
  mproc__hub_unlock(p->hub);
  if (proc != NULL && mproc_process_join(proc, 0) != 0) {
    int64_t left = (deadline - mproc__os_now_ns()) / 1000000;
    if (mproc_process_join(proc, left > 0 ? left : 0) != 0) {
      mproc_process_kill(proc);
      mproc_process_join(proc, MPROC_FOREVER);
    }
  }
  mproc_process_free(proc);
  mproc_queue_free(tq);
}

/* --- chunks ------------------------------------------------------------------------------------- */

static pool_chunk *chunk_new(mproc_pool_t *p) {
  pool_chunk *c = p->free_chunks;
  if (c != NULL)
    p->free_chunks = c->next;
  else
    c = mproc__malloc(sizeof *c);
  if (c != NULL)
    memset(c, 0, sizeof *c);
  return c;
}

static void chunk_free(mproc_pool_t *p, pool_chunk *c) {
  if (c->arena_len > 0)
    p->arena_live--;
  c->next = p->free_chunks;
  p->free_chunks = c;
}

/* Lock held: the pool's reference to a job goes once it is ready, its callbacks have run and
 * no chunk of it is still out. */
static void unlink_cut(mproc_pool_t *p, mproc_result_t *j) {
  mproc_result_t *prev = NULL;
  for (mproc_result_t *c = p->cut_head; c; prev = c, c = c->next_cut) {
    if (c != j)
      continue;
    if (prev)
      prev->next_cut = c->next_cut;
    else
      p->cut_head = c->next_cut;
    if (p->cut_tail == c)
      p->cut_tail = prev;
    return;
  }
}

static void job_settle(mproc_pool_t *p, mproc_result_t *j) {
  if (!j->finished || !j->cb_done || j->inflight > 0)
    return;
  mproc_result_t **pp = &p->all;
  while (*pp && *pp != j)
    pp = &(*pp)->next_all;
  if (*pp)
    *pp = j->next_all;
  unlink_cut(p, j);
  mproc__job_unref(j, 0);
}

/* Lock held: the next chunk to send — chunks to be sent again first, then new ones cut from the
 * oldest job with items left. NULL when there is nothing. */
static pool_chunk *next_chunk(mproc_pool_t *p) {
  pool_chunk *c;
  while ((c = p->requeue) != NULL) {
    p->requeue = c->next;
    if (!c->job->finished)
      return c;
    c->job->inflight--; /* finished meanwhile (fail-fast, a broken pool): its input may be gone */
    job_settle(p, c->job);
    chunk_free(p, c);
  }
  mproc_result_t *j;
  while ((j = p->cut_head) != NULL && (j->cursor >= j->n || j->finished)) {
    p->cut_head = j->next_cut;
    if (p->cut_head == NULL)
      p->cut_tail = NULL;
  }
  if (j == NULL || (c = chunk_new(p)) == NULL)
    return NULL;
  c->job = j;
  c->first = j->cursor;
  c->count = j->n - j->cursor < j->chunksize ? j->n - j->cursor : j->chunksize;
  c->id = ++p->next_id;
  j->cursor += c->count;
  j->inflight++;
  if (j->cursor >= j->n)
    unlink_cut(p, j); /* fully cut: it is at the head */
  return c;
}

/* Lock held: gives a chunk of a uniform map an arena area holding its inputs (a chunk sent
 * again keeps the area it has); 0 when it goes through the queue instead. */
static int arena_place(mproc_pool_t *p, pool_chunk *c) {
  const mproc_result_t *j = c->job;
  if (c->arena_len > 0)
    return 1;
  if (p->arena_base == NULL || j->in.kind != KIND_MAP || c->count < ARENA_MIN_ITEMS ||
      mproc__args_uniform_type(j->in.items) == 0)
    return 0;
  size_t need = (16 * c->count + 63) & ~(size_t)63;
  if (p->arena_live == 0)
    p->arena_head = 0;
  if (need > p->arena_size - p->arena_head)
    return 0;
  c->arena_off = p->arena_head;
  c->arena_len = need;
  p->arena_head += need;
  p->arena_live++;
  memcpy(p->arena_base + c->arena_off, mproc__args_payload(j->in.items) + 8 * c->first,
         8 * c->count);
  return 1;
}

static void put_chunk(mproc_pool_t *p, mp_buf *b, pool_chunk *c) {
  const mproc_result_t *j = c->job;
  mproc__put_u64(b, c->id);
  mproc__put_u32(b, j->fn);
  mproc__put_u8(b, (uint8_t)j->in.kind);
  mproc__put_u8(b, j->opts.task_timeout_ms > 0 ? CHUNK_TIMED : 0);
  mproc__put_u32(b, (uint32_t)c->count);
  size_t at = b->len;
  mproc__put_u64(b, 0);
  if (arena_place(p, c)) {
    mproc__put_u8(b, ITEMS_ARENA);
    mproc__put_u8(b, (uint8_t)mproc__args_uniform_type(j->in.items));
    mproc__put_u64(b, c->arena_off);
  } else {
    mproc__job_encode_items(j, c->first, c->count, b);
  }
  if (b->err == 0) {
    uint64_t n = b->len - at - 8;
    for (int k = 0; k < 8; k++)
      b->data[at + k] = (unsigned char)(n >> (8 * k));
  }
}

static void put_defs(mproc_pool_t *p, pool_worker *w, mp_buf *b) {
  mproc__put_u32(b, (uint32_t)(p->nfns - w->known_fns));
  for (size_t i = w->known_fns; i < p->nfns; i++) {
    mproc__put_u32(b, (uint32_t)i);
    mproc__target_encode(&p->fns[i].ref, b);
  }
  w->known_fns = p->nfns;
}

/* Lock held: the job whose chunks go out next (requeued chunks first). */
static const mproc_result_t *next_job(const mproc_pool_t *p) {
  return p->requeue ? p->requeue->job : p->cut_head;
}

/* Lock held: how many chunks a worker may hold: about WINDOW_NS of work, judged by the run
 * time of the function that goes out next (a new function starts at one chunk, so a job of
 * long tasks is spread over the workers, whatever ran before it). */
static size_t window(const mproc_pool_t *p) {
  const mproc_result_t *j = next_job(p);
  int64_t t = j ? p->fns[j->fn].ewma_ns : 0;
  if (t <= 0)
    return 1;
  int64_t w = WINDOW_NS / t;
  return w < 1 ? 1 : w > MAX_WINDOW ? MAX_WINDOW : (size_t)w;
}

size_t mproc__pool_room(const mproc_pool_t *p, const pool_worker *w) {
  size_t win = window(p);
  size_t r = w->inflight < win ? win - w->inflight : 0;
  unsigned max = p->opts.maxtasksperchild;
  if (max > 0)
    r = w->assigned >= max ? 0 : r < max - w->assigned ? r : max - w->assigned;
  return r;
}

/* Lock held: chunks ready to go out, counted up to `cap` (requeued ones, then what the jobs
 * not yet fully cut still hold). */
static size_t chunks_waiting(const mproc_pool_t *p, size_t cap) {
  size_t n = 0;
  for (const pool_chunk *c = p->requeue; c && n < cap; c = c->next)
    n++;
  for (const mproc_result_t *j = p->cut_head; j && n < cap; j = j->next_cut)
    if (!j->finished && j->cursor < j->n)
      n += (j->n - j->cursor + j->chunksize - 1) / j->chunksize;
  return n < cap ? n : cap;
}

/* Chunks of a job nobody looks at before its end: their results need not wake the pool one by
 * one (the worker keeps the last record before it goes idle loud). When more chunks wait, the
 * last `loud` of the batch report anyway, so that the pool refills the worker before it runs
 * dry. */
static void mark_quiet(mp_buf *b, const size_t *flag_at, size_t k, size_t loud) {
  for (size_t i = 0; i + loud < k; i++)
    if (flag_at[i] != 0)
      b->data[flag_at[i]] |= CHUNK_QUIET;
}

/* Lock held: fills w->pending with a batch of up to `room` chunks; returns how many. loud:
 * how many chunks at its end must report, SIZE_MAX: 2 if more chunks wait, else none. */
static size_t build_batch(mproc_pool_t *p, pool_worker *w, size_t n, size_t loud) {
  mp_buf *b = &w->pending;
  size_t flag_at[MAX_WINDOW];
  size_t known = w->known_fns;
  b->len = 0;
  mproc__put_u8(b, MSG_TASKS);
  put_defs(p, w, b);
  size_t at = b->len, k = 0;
  mproc__put_u32(b, 0);
  pool_chunk *c;
  while (k < n && b->len < BATCH_BYTES && (c = next_chunk(p)) != NULL) {
    if (k < MAX_WINDOW)
      flag_at[k] = c->job->quiet ? b->len + 8 + 4 + 1 : 0; /* after id, fn, kind */
    put_chunk(p, b, c);
    c->next = NULL;
    if (w->tail)
      w->tail->next = c;
    else
      w->head = c;
    w->tail = c;
    w->inflight++;
    w->assigned++;
    k++;
  }
  for (int i = 0; i < 4; i++)
    b->data[at + i] = (unsigned char)(k >> (8 * i));
  if (loud == SIZE_MAX)
    loud = chunks_waiting(p, 1) ? 2 : 0;
  if (b->err == 0)
    mark_quiet(b, flag_at, k < MAX_WINDOW ? k : MAX_WINDOW, loud);
  if (k == 0) {
    b->len = 0;
    w->known_fns = known; /* the definitions were not sent after all */
  }
  return k;
}

size_t mproc__pool_build_batch(mproc_pool_t *p, pool_worker *w, size_t n) {
  return build_batch(p, w, n, SIZE_MAX);
}

/* Sends w's pending batch; 0 when it is out (or there is none). A batch that fits the ring
 * goes in without waiting or stays pending while the ring is full. A bigger one is streamed
 * through the ring, which needs the worker reading: it is sent only while the worker has
 * nothing else to do (so it is waiting in get). */
static int flush_pending(pool_worker *w) {
  if (w->pending.len == 0)
    return 0;
  int64_t t = 0;
  if (w->pending.len > mproc__queue_whole_max(w->tq)) {
    if (w->inflight != w->pending_chunks)
      return 1;
    t = 1000;
  }
  if (w->pending.err == 0 &&
      mproc_queue_put(w->tq, w->pending.data, w->pending.len, t) != 0)
    return 1;
  w->pending.len = 0;
  w->pending_chunks = 0;
  return 0;
}

/* Lock held: how many chunks each worker that can take more gets in this round, so that a
 * job of a few chunks is spread over the workers instead of filling the first one's window. */
static size_t fair_share(const mproc_pool_t *p) {
  size_t open = 0;
  for (int i = 0; i < p->nworkers; i++) {
    const pool_worker *w = &p->w[i];
    open += (w->state == W_STARTING || w->state == W_READY) && w->pending.len == 0 &&
            mproc__pool_room(p, w) > 0;
  }
  if (open <= 1)
    return SIZE_MAX;
  size_t n = chunks_waiting(p, (size_t)MAX_WINDOW * open);
  return n == 0 ? SIZE_MAX : (n + open - 1) / open;
}

/* One round of feeding: each worker gets what it has room for, up to its share. The first
 * round gives each idle worker one chunk of a share of several, so that every worker starts
 * while the rest of the shares are copied into the arena. Returns 1 if a batch is still
 * waiting to go in. */
static int feed_round(mproc_pool_t *p, int first) {
  int waiting = 0;
  mproc__hub_lock(p->hub);
  size_t share = fair_share(p);
  mproc__hub_unlock(p->hub);
  if (first && (share == SIZE_MAX || share < 2))
    return 0;
  for (int k = 0; k < p->nworkers; k++) {
    int i = (int)((p->rr + (unsigned)k) % (unsigned)p->nworkers);
    pool_worker *w = &p->w[i];
    if (w->state != W_STARTING && w->state != W_READY)
      continue;
    if (w->pending.len == 0) {
      mproc__hub_lock(p->hub);
      size_t r = mproc__pool_room(p, w);
      r = r < share ? r : share;
      if (first)
        r = w->inflight == 0 && r >= 2 ? 1 : 0;
      w->pending_chunks = r ? build_batch(p, w, r, first ? 0 : SIZE_MAX) : 0;
      mproc__hub_unlock(p->hub);
    }
    waiting |= flush_pending(w);
  }
  return waiting;
}

/* Gives each worker what it has room for; returns 1 if a batch is still waiting to go in. */
static int feed(mproc_pool_t *p) {
  int waiting = feed_round(p, 1);
  waiting |= feed_round(p, 0);
  p->rr++;
  return waiting;
}

/* --- results ------------------------------------------------------------------------------------ */

void mproc__pool_ready_push(mproc_pool_t *p, mproc_result_t *j) {
  j->next_ready = NULL;
  if (p->ready_tail)
    p->ready_tail->next_ready = j;
  else
    p->ready_head = j;
  p->ready_tail = j;
}

static void complete(mproc_pool_t *p, mproc_result_t *j) {
  mproc__pool_progress_final(p, j);
  mproc__hub_lock(p->hub);
  j->cb_thread = mproc__os_thread_token();
  mproc__hub_unlock(p->hub);
  mproc_result_cb cb = j->failed ? j->opts.error_callback : j->opts.callback;
  if (cb != NULL && cb(j, j->opts.ctx) != 0) {
    mproc__hub_lock(p->hub);
    p->callback_failures++;
    mproc__hub_unlock(p->hub);
  }
  mproc__hub_lock(p->hub);
  mproc__job_publish(j);
  j->cb_done = 1;
  job_settle(p, j);
  mproc__hub_unlock(p->hub);
}

/* Lock held: after items changed; fail-fast cancels the rest of a failed job. A finished job
 * with no callback and no progress is published already and has nothing for the pool's thread
 * to run: the job_settle that follows every call here lets it go, in whichever thread moves
 * the pool (mproc::mpi's callers move their own jobs). */
static void after_items(mproc_pool_t *p, mproc_result_t *j) {
  if (j->failed && j->opts.fail_fast && !j->finished)
    mproc__job_cancel_rest(j, MPROC_ECANCELED, "cancelled: an earlier item failed (fail-fast)");
  if (!mproc__job_check_ready(j))
    return;
  if (j->opts.callback == NULL && j->opts.error_callback == NULL && j->opts.progress == NULL)
    j->cb_done = 1;
  else
    mproc__pool_ready_push(p, j);
}

static int store_outcome(mproc_result_t *j, size_t i, mp_rd *r) {
  int32_t status = (int32_t)mproc__get_u32(r);
  int32_t code = (int32_t)mproc__get_u32(r);
  char *msg = mproc__get_str(r);
  int rc = r->err;
  if (rc == 0 && status != 0) {
    mproc__job_set_failure(j, i, status, code, msg);
    mproc_args_t *ignored = NULL; /* a failed item carries an empty list */
    rc = mproc__args_decode(r, &ignored, MP_ARGS_PLAIN, NULL, 0);
    mproc_args_free(ignored);
  } else if (rc == 0 && j->in.kind == KIND_APPLY) {
    mproc_args_t *vals = NULL;
    rc = mproc__args_decode(r, &vals, MP_ARGS_PLAIN, NULL, 0);
    if (rc == 0 && (rc = mproc__job_set_value(j, i, MPROC_ARG_NONE, NULL, 0)) == 0)
      j->apply_vals = vals;
    else
      mproc_args_free(vals);
  } else if (rc == 0) {
    uint32_t n = mproc__get_u32(r);
    uint8_t type = n ? mproc__get_u8(r) : MPROC_ARG_NONE;
    size_t len = 0;
    const void *v = n ? mproc__get_blob(r, &len) : NULL;
    rc = r->err ? r->err : n > 1 ? MPROC_EPROTO : mproc__job_set_value(j, i, type, v, len);
  }
  mproc__free(msg);
  return rc;
}

static int store_results(mproc_pool_t *p, mproc_result_t *j, const pool_chunk *c, mp_rd *r) {
  uint32_t count = mproc__get_u32(r);
  uint8_t form = mproc__get_u8(r);
  if (r->err || count != c->count)
    return MPROC_EPROTO;
  if (form == ITEMS_ARENA) {
    uint8_t type = mproc__get_u8(r);
    if (r->err || c->arena_len == 0 || j->in.kind == KIND_APPLY ||
        (type != MPROC_ARG_INT && type != MPROC_ARG_DOUBLE))
      return MPROC_EPROTO;
    mproc__job_set_run(j, c->first, type, p->arena_base + c->arena_off + 8 * c->count, count);
    return 0;
  }
  if (form == ITEMS_UNIFORM) {
    uint8_t type = mproc__get_u8(r);
    if (r->err || (type != MPROC_ARG_INT && type != MPROC_ARG_DOUBLE) ||
        r->len - r->pos != 8 * (size_t)count)
      return MPROC_EPROTO;
    if (j->in.kind == KIND_APPLY) {
      int rc = mproc__job_set_value(j, c->first, MPROC_ARG_NONE, NULL, 0);
      if (rc == 0 && (rc = mproc_args_new(&j->apply_vals)) == 0)
        rc = mproc__args_add_raw(j->apply_vals, type, r->p + r->pos, 8);
      return rc;
    }
    mproc__job_set_run(j, c->first, type, r->p + r->pos, count);
    return 0;
  }
  if (form != ITEMS_OUTCOMES)
    return MPROC_EPROTO;
  int rc = 0;
  for (size_t k = 0; k < count && rc == 0; k++)
    rc = store_outcome(j, c->first + k, r);
  return rc;
}

static void note_run_time(pool_fn *f, int64_t ns) {
  if (ns < 1)
    ns = 1;
  f->ewma_ns = f->ewma_ns <= 0 ? ns : (f->ewma_ns * 7 + ns) / 8;
}

static pool_chunk *pop_head(pool_worker *w) {
  pool_chunk *c = w->head;
  if (c != NULL) {
    w->head = c->next;
    if (w->head == NULL)
      w->tail = NULL;
    w->inflight--;
  }
  return c;
}

static void on_result(mproc_pool_t *p, pool_worker *w, mp_rd *r) {
  uint64_t id = mproc__get_u64(r);
  int64_t run_ns = (int64_t)mproc__get_u64(r);
  if (r->err || w->head == NULL || w->head->id != id)
    return; /* not what this worker was given: ignore */
  pool_chunk *c = pop_head(w);
  w->received++;
  mproc_result_t *j = c->job;
  mproc__hub_lock(p->hub);
  note_run_time(&p->fns[j->fn], run_ns);
  if (!j->finished) {
    if (store_results(p, j, c, r) != 0)
      mproc__job_cancel_rest(j, MPROC_EPROTO, "a worker sent a malformed result");
    after_items(p, j);
  }
  j->inflight--;
  chunk_free(p, c);
  job_settle(p, j);
  mproc__hub_unlock(p->hub);
}

void mproc__pool_on_record(mproc_pool_t *p, const unsigned char *data, size_t size) {
  mp_rd r;
  mproc__rd_init(&r, data, size);
  uint8_t type = mproc__get_u8(&r);
  uint32_t slot = mproc__get_u32(&r), gen = mproc__get_u32(&r);
  if (r.err || slot >= (uint32_t)p->nworkers || p->w[slot].gen != gen)
    return;
  pool_worker *w = &p->w[slot];
  if (type == MSG_RESULT) {
    on_result(p, w, &r);
  } else if (type == MSG_HELLO) {
    mproc__hub_lock(p->hub);
    w->state = w->state == W_STARTING ? W_READY : w->state;
    mproc__hub_unlock(p->hub);
    p->startup_deaths = 0;
  } else if (type == MSG_INITFAIL) {
    int32_t code = (int32_t)mproc__get_u32(&r);
    char *msg = mproc__get_str(&r);
    mproc__hub_lock(p->hub);
    mproc__pool_break(p, "the pool's initializer failed with %d: %s", (int)code, msg ? msg : "");
    mproc__hub_unlock(p->hub);
    mproc__free(msg);
  }
}

/* Reads what is in the result queue (up to max records); returns how many were read. */
static int drain(mproc_pool_t *p, int max) {
  int k = 0;
  for (; max < 0 || k < max; k++) {
    if (mproc__queue_get_into(p->rq, 0, &p->rbuf) != 0)
      break;
    mproc__pool_on_record(p, p->rbuf.data, p->rbuf.len);
  }
  return k;
}

/* Returns how many results it completed: completing one can leave the pool with no work. */
int mproc__pool_run_callbacks(mproc_pool_t *p) {
  for (int n = 0;; n++) {
    mproc__hub_lock(p->hub);
    mproc_result_t *j = p->ready_head;
    if (j != NULL) {
      p->ready_head = j->next_ready;
      if (p->ready_head == NULL)
        p->ready_tail = NULL;
    }
    mproc__hub_unlock(p->hub);
    if (j == NULL)
      return n;
    complete(p, j);
  }
}

/* --- deaths ------------------------------------------------------------------------------------- */

static void describe_exit(pool_worker *w, int64_t pid, char *buf, size_t cap) {
  int code = MPROC_EXIT_UNKNOWN;
  mproc_process_exitcode(w->proc, &code);
  if (w->timed_out)
    snprintf(buf, cap, "worker %lld was killed: the item ran past its time limit", (long long)pid);
#ifndef _WIN32
  else if (code < 0 && code != MPROC_EXIT_UNKNOWN)
    snprintf(buf, cap, "worker %lld died: killed by signal %d", (long long)pid, -code);
#endif
  else
    snprintf(buf, cap, "worker %lld died with exit code %d", (long long)pid, code);
}

/* Lock held: items [first, first + n) of j go to another worker, ahead of other work. */
static pool_chunk *split(mproc_pool_t *p, mproc_result_t *j, size_t first, size_t n,
                         unsigned deaths) {
  pool_chunk *c = n ? chunk_new(p) : NULL;
  if (c == NULL)
    return NULL;
  c->job = j;
  c->first = first;
  c->count = n;
  c->deaths = deaths;
  c->id = ++p->next_id;
  j->inflight++;
  return c;
}

typedef struct loss {
  mproc_pool_t *p;
  pool_chunk **tail; /* where requeued chunks are appended */
  const char *why;
  int timed_out;
} loss;

static void requeue(loss *l, pool_chunk *c) {
  if (c == NULL)
    return;
  c->next = NULL;
  *l->tail = c;
  l->tail = &c->next;
}

/* Lock held: the item that was running when the worker died. */
static void settle_culprit(loss *l, pool_chunk *c, size_t i) {
  mproc_result_t *j = c->job;
  const mproc_pool_options *o = &l->p->opts;
  unsigned retries = o->max_task_retries ? o->max_task_retries : 1;
  char msg[400];
  snprintf(msg, sizeof msg, "%s while running item %zu", l->why, i);
  if (l->timed_out)
    mproc__job_set_failure(j, i, MPROC_ETASKTIMEOUT, 0, msg);
  else if (o->on_death != MPROC_POOL_RETRY_TASK)
    mproc__job_set_failure(j, i, MPROC_EWORKERDIED, 0, msg);
  else if (c->deaths + 1 > retries)
    mproc__job_set_failure(j, i, MPROC_EPOISON, 0, msg);
  else
    requeue(l, split(l->p, j, i, 1, c->deaths + 1));
}

/* Lock held: the chunk the dead worker had begun. Items before `item` had finished (their
 * results died with it), `item` was running, the rest were never begun. */
static void settle_lost(loss *l, pool_chunk *c, int64_t item) {
  mproc_result_t *j = c->job;
  size_t done = item < 0 ? 0 : (size_t)item > c->count ? c->count : (size_t)item;
  if (!j->finished) {
    if (l->p->opts.on_death == MPROC_POOL_RETRY_TASK) {
      requeue(l, split(l->p, j, c->first, done, 0));
    } else {
      char msg[400];
      snprintf(msg, sizeof msg, "it finished, but its result was lost: %s", l->why);
      for (size_t k = 0; k < done; k++)
        mproc__job_set_failure(j, c->first + k, MPROC_EWORKERDIED, 0, msg);
    }
    if (done < c->count) {
      settle_culprit(l, c, c->first + done);
      requeue(l, split(l->p, j, c->first + done + 1, c->count - done - 1, 0));
    }
    after_items(l->p, j);
  }
  j->inflight--;
  chunk_free(l->p, c);
  job_settle(l->p, j);
}

/* Lock held: everything assigned to dead worker i is failed, retried or sent elsewhere. */
int mproc__pool_reassign(mproc_pool_t *p, int i, const char *why) {
  pool_worker *w = &p->w[i];
  const int64_t *s = slot_of(p, i);
  uint64_t begun = (uint64_t)LD64(&s[SLOT_BEGUN]);
  pool_chunk *again = NULL;
  loss l = {p, &again, why, w->timed_out};
  int lost = 0;
  if (begun > w->received && w->head != NULL) {
    settle_lost(&l, pop_head(w), LD64(&s[SLOT_ITEM]));
    lost = 1;
  }
  pool_chunk *c;
  while ((c = pop_head(w)) != NULL)
    requeue(&l, c); /* never begun */
  *l.tail = p->requeue;
  p->requeue = again;
  w->pending.len = 0;
  w->pending_chunks = 0;
  return lost;
}

static void replace_worker(mproc_pool_t *p, int i) {
  int rc = start_worker(p, i);
  if (rc == 0)
    return;
  int alive = 0;
  for (int k = 0; k < p->nworkers; k++)
    alive += p->w[k].state != W_EMPTY;
  if (alive == 0) {
    mproc__hub_lock(p->hub);
    mproc__pool_break(p, "no worker can be started: %s", mproc_strerror(rc));
    mproc__hub_unlock(p->hub);
  }
}

static void handle_death(mproc_pool_t *p, int i) {
  pool_worker *w = &p->w[i];
  drain(p, -1); /* whatever it sent before it died */
  int64_t pid = mproc_process_pid(w->proc);
  mproc_process_join(w->proc, 1000);
  char why[200];
  describe_exit(w, pid, why, sizeof why);
  int code = 0;
  mproc_process_exitcode(w->proc, &code);
  int before_start = w->state == W_STARTING && !w->timed_out;
  int quitting = w->state == W_QUITTING;
  mproc__hub_lock(p->hub);
  int lost = mproc__pool_reassign(p, i, why);
  if (!quitting && (lost || code != 0) && p->opts.on_death == MPROC_POOL_BREAK)
    mproc__pool_break(p, "%s", why);
  if (before_start && ++p->startup_deaths >= STARTUP_DEATHS_MAX)
    mproc__pool_break(p, "workers die before they start (%s)", why);
  int replace = !quitting && !p->broken && !p->terminating;
  mproc__hub_unlock(p->hub);
  MPROC__LOG(quitting ? MPROC_LOG_DEBUG : MPROC_LOG_INFO, "pool worker %d: %s%s", i, why,
             replace ? "; replacing it" : "");
  stop_worker(p, i, mproc__os_now_ns());
  if (replace)
    replace_worker(p, i);
  /* callbacks the death made due run on the thread's next turn (not here: mproc::mpi may
   * come here in a caller's thread) */
}

/* --- time limits -------------------------------------------------------------------------------- */

/* Kills workers whose item ran past its limit; returns when to look again (OS_NO_DEADLINE). */
static int64_t check_timeouts(mproc_pool_t *p) {
  int64_t next = OS_NO_DEADLINE, now = mproc__os_now_ns();
  for (int i = 0; i < p->nworkers; i++) {
    pool_worker *w = &p->w[i];
    if (w->proc == NULL || w->head == NULL || w->timed_out ||
        w->head->job->opts.task_timeout_ms <= 0)
      continue; /* no process: an MPI rank (mproc::mpi watches those) */
    const int64_t *s = slot_of(p, i);
    int64_t start = LD64(&s[SLOT_START]);
    int64_t dl = now + 10000000; /* not begun yet: look again soon */
    if ((uint64_t)LD64(&s[SLOT_BEGUN]) > w->received && start != 0)
      dl = start + w->head->job->opts.task_timeout_ms * 1000000;
    if (dl <= now) {
      w->timed_out = 1;
      mproc_process_kill(w->proc);
    } else if (dl < next) {
      next = dl;
    }
  }
  return next;
}

/* --- waiting ------------------------------------------------------------------------------------- */

/* Sleeps until a result, a submission (the doorbell) or a death, or the deadline. */
static void wait_events(mproc_pool_t *p, int64_t deadline) {
  mproc_waitable *ws = p->waits;
  size_t n = 0;
  ws[n++] = (mproc_waitable){MPROC_WAIT_QUEUE, p->rq, 0, 0};
  ws[n++] = (mproc_waitable){MPROC_WAIT_HANDLE, NULL, p->doorbell, 0};
  for (int i = 0; i < p->nworkers; i++)
    if (p->w[i].state != W_EMPTY)
      ws[n++] = (mproc_waitable){MPROC_WAIT_PROCESS, p->w[i].proc, i, 0};
  int64_t ms = MPROC_FOREVER;
  if (deadline != OS_NO_DEADLINE) {
    int64_t left = deadline - mproc__os_now_ns();
    ms = left <= 0 ? 0 : (left + 999999) / 1000000;
  }
  p->last_death_check = mproc__os_now_ns();
  if (mproc_wait(ws, n, ms, NULL) != 0)
    return;
  if (ws[1].ready)
    mproc__os_notifier_clear(p->doorbell);
  for (size_t k = 2; k < n; k++)
    if (ws[k].ready)
      handle_death(p, (int)ws[k].handle);
}

/* --- the end ------------------------------------------------------------------------------------- */

/* Lock held: chunks that will never come back stop holding their jobs. */
static void drop_chunks(mproc_pool_t *p, pool_chunk **list) {
  pool_chunk *c;
  while ((c = *list) != NULL) {
    *list = c->next;
    c->job->inflight--;
    job_settle(p, c->job);
    chunk_free(p, c);
  }
}

void mproc__pool_cancel_all(mproc_pool_t *p) {
  mproc__hub_lock(p->hub);
  for (mproc_result_t *j = p->all; j; j = j->next_all) {
    mproc__job_cancel_rest(j, MPROC_ECANCELED, "cancelled: the pool was terminated");
    if (mproc__job_check_ready(j))
      mproc__pool_ready_push(p, j);
  }
  for (int i = 0; i < p->nworkers; i++) {
    drop_chunks(p, &p->w[i].head);
    p->w[i].tail = NULL;
    p->w[i].inflight = 0;
  }
  drop_chunks(p, &p->requeue);
  mproc__hub_unlock(p->hub);
  mproc__pool_run_callbacks(p);
}

static void terminate_all(mproc_pool_t *p) {
  mproc__hub_lock(p->hub);
  for (mproc_result_t *j = p->all; j; j = j->next_all) {
    mproc__job_cancel_rest(j, MPROC_ECANCELED, "cancelled: the pool was terminated");
    if (mproc__job_check_ready(j))
      mproc__pool_ready_push(p, j);
  }
  mproc__hub_unlock(p->hub);
  for (int i = 0; i < p->nworkers; i++)
    if (p->w[i].proc)
      mproc_process_terminate(p->w[i].proc);
  int64_t deadline = mproc__os_now_ns() + (int64_t)TERM_GRACE_MS * 1000000;
  for (int i = 0; i < p->nworkers; i++)
    stop_worker(p, i, deadline);
  mproc__pool_cancel_all(p); /* drops the chunks the stopped workers held, runs callbacks */
}

/* After close, once no work is left: asks each worker to exit. 1 when all have. */
static int quit_workers(mproc_pool_t *p) {
  int left = 0;
  for (int i = 0; i < p->nworkers; i++) {
    pool_worker *w = &p->w[i];
    if (w->state == W_STARTING || w->state == W_READY) {
      unsigned char q = MSG_QUIT;
      if (mproc_queue_put(w->tq, &q, 1, 1000) != 0)
        mproc_process_kill(w->proc);
      mproc__hub_lock(p->hub);
      w->state = W_QUITTING;
      mproc__hub_unlock(p->hub);
    }
    left += w->state != W_EMPTY;
  }
  return left == 0;
}

static int start_all(mproc_pool_t *p) {
  p->waits = mproc__calloc((size_t)p->nworkers + 2, sizeof *p->waits);
  if (p->waits == NULL)
    return MPROC_ENOMEM;
  /* Without an arena (no memory for it) every chunk goes through the queues. */
  if (mproc_raw_array_new(&p->arena, 'B', ARENA_BYTES, NULL) == 0) {
    p->arena_base = mproc_array_ptr(p->arena);
    p->arena_size = ARENA_BYTES;
  }
  for (int i = 0; i < p->nworkers; i++) {
    int rc = start_worker(p, i);
    if (rc != 0) {
      for (int k = 0; k < i; k++)
        mproc_process_kill(p->w[k].proc);
      for (int k = 0; k < i; k++)
        stop_worker(p, k, mproc__os_now_ns());
      return rc;
    }
  }
  return 0;
}

/* --- local workers of another pool thread (mproc::mpi: rank 0's own processes) ------------ */

int mproc__pool_start_worker(mproc_pool_t *p, int i) { return start_worker(p, i); }

int mproc__pool_feed_local(mproc_pool_t *p, int i) {
  pool_worker *w = &p->w[i];
  if (w->proc == NULL || (w->state != W_STARTING && w->state != W_READY))
    return 0;
  if (w->pending.len == 0) {
    mproc__hub_lock(p->hub);
    size_t r = mproc__pool_room(p, w);
    w->pending_chunks = r ? build_batch(p, w, r, SIZE_MAX) : 0;
    mproc__hub_unlock(p->hub);
  }
  return w->pending.len > 0 && flush_pending(w) == 0;
}

int mproc__pool_drain(mproc_pool_t *p, int max) { return drain(p, max); }

int64_t mproc__pool_check_local_timeouts(mproc_pool_t *p) { return check_timeouts(p); }

void mproc__pool_poll_deaths(mproc_pool_t *p) {
  mproc_waitable *ws = p->waits;
  size_t n = 0;
  for (int i = 0; i < p->nworkers; i++)
    if (p->w[i].proc != NULL && p->w[i].state != W_EMPTY)
      ws[n++] = (mproc_waitable){MPROC_WAIT_PROCESS, p->w[i].proc, i, 0};
  if (n == 0 || mproc_wait(ws, n, 0, NULL) != 0)
    return;
  for (size_t k = 0; k < n; k++)
    if (ws[k].ready)
      handle_death(p, (int)ws[k].handle);
}

void mproc__pool_stop_local(mproc_pool_t *p, int i, int now) {
  pool_worker *w = &p->w[i];
  if (w->proc == NULL)
    return;
  unsigned char q = MSG_QUIT;
  if (now || mproc_queue_put(w->tq, &q, 1, 1000) != 0)
    mproc_process_terminate(w->proc);
  int64_t grace = now ? TERM_GRACE_MS : STOP_GRACE_MS;
  stop_worker(p, i, mproc__os_now_ns() + grace * 1000000);
}

/* Closed and nothing left to run: the workers may go. */
int mproc__pool_no_work_left(mproc_pool_t *p) {
  mproc__hub_lock(p->hub);
  int quit = p->closed && p->all == NULL && p->requeue == NULL;
  mproc__hub_unlock(p->hub);
  return quit;
}

static void serve(mproc_pool_t *p) {
  for (;;) {
    mproc__hub_lock(p->hub);
    int term = p->terminating;
    mproc__hub_unlock(p->hub);
    if (term) {
      terminate_all(p);
      return;
    }
    int quit = mproc__pool_no_work_left(p);
    if (quit && quit_workers(p))
      return;
    int waiting = feed(p);
    int got = drain(p, DRAIN_MAX);
    got += mproc__pool_run_callbacks(p);
    int64_t next = check_timeouts(p), due = mproc__pool_progress_tick(p);
    next = due < next ? due : next;
    if (waiting && next > mproc__os_now_ns() + RETRY_NS)
      next = mproc__os_now_ns() + RETRY_NS; /* room in a task queue appears without a wake-up */
    /* The trap: this thread itself can retire the last job after the check above (an empty
     * map is settled by run_callbacks, a finished job's requeued chunk by feed). close()
     * rang the doorbell long before, so nothing would wake us: look again, don't sleep. */
    if (!quit && mproc__pool_no_work_left(p))
      continue;
    if (got == 0)
      wait_events(p, next);
    else if (mproc__os_now_ns() - p->last_death_check > DEATH_CHECK_NS)
      wait_events(p, mproc__os_now_ns());
  }
}

void mproc__pool_thread(void *arg) {
  mproc_pool_t *p = arg;
  p->thread_token = mproc__os_thread_token();
  int rc = start_all(p);
  mproc__hub_lock(p->hub);
  p->start_rc = rc;
  p->started = 1;
  mproc__hub_wake(p->hub);
  mproc__hub_unlock(p->hub);
  if (rc != 0)
    return;
  serve(p);
  mproc__hub_lock(p->hub);
  p->thread_done = 1;
  mproc__hub_wake(p->hub);
  mproc__hub_unlock(p->hub);
}
