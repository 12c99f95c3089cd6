/* SPDX-License-Identifier: MIT */
/* imap / imap_unordered fed by a generator, with a bounded window (Python's buffersize).
 *
 * The iterator is a layer over ordinary submissions: it takes items from the generator in
 * batches (processes * chunksize items, one chunk per worker) and submits each batch as a
 * starmap-style job of its own. A batch is taken only while the items taken and not yet handed
 * to the caller, plus the batch, fit in the window, so memory is bounded by the window whatever
 * the generator's length. Everything happens in the caller's thread, inside mproc_imap_next:
 * the generator needs no locking, and input is consumed at the pace results are, as Python's
 * buffersize does. The pool itself is unchanged: deaths, retries and time limits apply to each
 * batch as to any job. */
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "atomics.h"
#include "alloc.h"

typedef struct lazy_batch {
  struct lazy_batch *next;
  mproc_result_t *res;
  uint64_t base; /* the generator index of its first item */
  size_t n, taken;
} lazy_batch;

struct mproc_imap {
  mproc_pool_t *pool;
  mproc_task_fn fn;
  mproc_gen_fn gen;
  void *ud;
  mproc_task_options o; /* each batch's options: the caller's, without callbacks */
  mproc_progress_cb progress;
  void *ctx;
  int64_t interval_ns, last_cb_ns, t0_ns;
  int unordered;
  int gen_rc;     /* 0 while the generator may give more, MPROC_EEOF once it ended, or its error */
  int final_sent; /* the last progress call was made */
  size_t window, batch;
  lazy_batch *head, *tail;
  mproc_args_t **scratch; /* batch lists being filled */
  uint64_t taken, handed, in_flight_max;
  uint64_t retired_done, retired_failed; /* of batches already freed */
  char *msg;
};

/* --- creation -------------------------------------------------------------------------------- */

static int read_options(mproc_imap_t *it, const mproc_task_options *opts) {
  if (opts != NULL && mproc__task_read_options(&it->o, opts) != 0)
    return MPROC_EINVAL;
  mproc_task_options *o = &it->o;
  if (o->callback || o->error_callback || o->fail_fast)
    return MPROC_EINVAL;
  it->progress = o->progress;
  it->ctx = o->ctx;
  it->interval_ns = (o->progress_interval_ms > 0 ? o->progress_interval_ms : 200) * 1000000;
  o->progress = NULL;
  size_t procs = (size_t)mproc_pool_processes(it->pool);
  size_t c = o->chunksize ? o->chunksize : 1; /* Python's imap default */
  it->window = o->max_in_flight ? o->max_in_flight : 4 * procs * c;
  it->batch = procs * c < it->window ? procs * c : it->window;
  o->chunksize = c < it->batch ? c : it->batch;
  return 0;
}

static int gen_new(mproc_pool_t *p, mproc_task_fn fn, mproc_gen_fn gen, void *ud,
                   const mproc_task_options *opts, int unordered, mproc_imap_t **out) {
  if (out == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  if (p == NULL || fn == NULL || gen == NULL)
    return MPROC_EINVAL;
  mproc_imap_t *it = mproc__calloc(1, sizeof *it);
  if (it == NULL)
    return MPROC_ENOMEM;
  it->pool = p;
  it->fn = fn;
  it->gen = gen;
  it->ud = ud;
  it->unordered = unordered;
  it->t0_ns = mproc__os_now_ns();
  int rc = read_options(it, opts);
  if (rc == 0 && (it->scratch = mproc__calloc(it->batch, sizeof *it->scratch)) == NULL)
    rc = MPROC_ENOMEM;
  for (size_t k = 0; rc == 0 && k < it->batch; k++)
    rc = mproc_args_new(&it->scratch[k]);
  if (rc != 0) {
    mproc_imap_free(it);
    return rc;
  }
  *out = it;
  return 0;
}

int mproc_pool_imap_gen(mproc_pool_t *pool, mproc_task_fn fn, mproc_gen_fn gen, void *ud,
                        const mproc_task_options *opts, mproc_imap_t **out) {
  return gen_new(pool, fn, gen, ud, opts, 0, out);
}

int mproc_pool_imap_unordered_gen(mproc_pool_t *pool, mproc_task_fn fn, mproc_gen_fn gen,
                                  void *ud, const mproc_task_options *opts, mproc_imap_t **out) {
  return gen_new(pool, fn, gen, ud, opts, 1, out);
}

/* --- taking input ---------------------------------------------------------------------------- */

/* Fills the scratch lists; returns how many items it took (gen_rc says why it stopped short). */
static size_t pull(mproc_imap_t *it) {
  size_t k = 0;
  for (; k < it->batch; k++) {
    mproc__args_reset(it->scratch[k]);
    int rc = it->gen(it->ud, it->scratch[k]);
    if (rc != 0) {
      it->gen_rc = rc < 0 ? rc : MPROC_EINVAL;
      break;
    }
  }
  return k;
}

static int submit_batch(mproc_imap_t *it, size_t n) {
  lazy_batch *b = mproc__calloc(1, sizeof *b);
  if (b == NULL)
    return MPROC_ENOMEM;
  int rc = mproc__pool_submit_lists(it->pool, it->fn, (const mproc_args_t *const *)it->scratch,
                                    n, &it->o, it->unordered, &b->res);
  if (rc != 0) {
    mproc__free(b);
    return rc;
  }
  b->base = it->taken;
  b->n = n;
  if (it->tail)
    it->tail->next = b;
  else
    it->head = b;
  it->tail = b;
  it->taken += n;
  uint64_t in_flight = it->taken - it->handed;
  if (in_flight > it->in_flight_max)
    it->in_flight_max = in_flight;
  return 0;
}

/* Takes batches while they fit in the window. A failed submission ends the input with its
 * code (the items of that batch are dropped: they never ran). */
static void refill(mproc_imap_t *it) {
  while (it->gen_rc == 0 && it->taken - it->handed + it->batch <= it->window) {
    size_t n = pull(it);
    int rc = n > 0 ? submit_batch(it, n) : 0;
    if (rc != 0)
      it->gen_rc = rc;
  }
}

/* --- handing out results ----------------------------------------------------------------------- */

static void retire(mproc_imap_t *it, lazy_batch *b, lazy_batch *prev) {
  mproc_progress pr = {.size = sizeof pr};
  if (mproc_result_progress_info(b->res, &pr) == 0) {
    it->retired_done += pr.done;
    it->retired_failed += pr.failed;
  }
  if (prev)
    prev->next = b->next;
  else
    it->head = b->next;
  if (it->tail == b)
    it->tail = prev;
  mproc_result_free(b->res);
  mproc__free(b);
}

static int64_t left_ms(int64_t deadline) {
  if (deadline == OS_NO_DEADLINE)
    return MPROC_FOREVER;
  int64_t ns = deadline - mproc__os_now_ns();
  return ns <= 0 ? 0 : (ns + 999999) / 1000000;
}

/* From batch b: MPROC_ETIMEDOUT when it has nothing ready in time, MPROC_EEOF when it was
 * used up (and is retired), else the item's code with the item handed out. */
static int take_from(mproc_imap_t *it, lazy_batch *b, lazy_batch *prev, int64_t timeout_ms,
                     mproc_args_t **value, uint64_t *index) {
  size_t i = 0;
  int rc = mproc_result_next(b->res, timeout_ms, value, &i);
  if (rc == MPROC_ETIMEDOUT)
    return rc;
  if (rc == MPROC_EEOF) {
    retire(it, b, prev);
    return rc;
  }
  mproc__free(it->msg);
  const char *m = rc < 0 ? mproc_result_error(b->res, i) : NULL;
  it->msg = m ? mproc__strdup(m) : NULL;
  if (index)
    *index = b->base + i;
  it->handed++;
  if (++b->taken == b->n)
    retire(it, b, prev); /* frees room in the window at once */
  return rc;
}

static int take_ordered(mproc_imap_t *it, int64_t deadline, mproc_args_t **value,
                        uint64_t *index) {
  int rc;
  do
    rc = take_from(it, it->head, NULL, left_ms(deadline), value, index);
  while (rc == MPROC_EEOF && it->head != NULL);
  return rc == MPROC_EEOF ? MPROC_ETIMEDOUT : rc; /* the caller refills and asks again */
}

/* Any batch with a finished item not yet handed out. The batches share the pool's hub, whose
 * sequence number moves on every change: a change between the scan and the sleep is seen. */
static int take_any(mproc_imap_t *it, int64_t deadline, mproc_args_t **value, uint64_t *index) {
  pool_hub *h = it->pool->hub;
  for (;;) {
    uint32_t seq = MPROC__ATOMIC_LOAD(&h->seq, MPROC__ATOMIC_ACQUIRE);
    lazy_batch *prev = NULL, *next;
    for (lazy_batch *b = it->head; b; b = next) {
      next = b->next;
      int rc = take_from(it, b, prev, 0, value, index);
      if (rc != MPROC_ETIMEDOUT && rc != MPROC_EEOF)
        return rc;
      if (rc == MPROC_ETIMEDOUT)
        prev = b;
    }
    if (it->head == NULL || (deadline != OS_NO_DEADLINE && mproc__os_now_ns() >= deadline))
      return MPROC_ETIMEDOUT;
    mproc__hub_lock(h);
    if (MPROC__ATOMIC_LOAD(&h->seq, MPROC__ATOMIC_ACQUIRE) == seq)
      mproc__hub_wait(h, deadline);
    mproc__hub_unlock(h);
  }
}

/* --- progress ---------------------------------------------------------------------------------- */

static void progress_now(mproc_imap_t *it, mproc_progress *pr) {
  mproc_progress s = {.size = sizeof s};
  s.done = it->retired_done;
  s.failed = it->retired_failed;
  for (lazy_batch *b = it->head; b; b = b->next) {
    mproc_progress one = {.size = sizeof one};
    if (mproc_result_progress_info(b->res, &one) == 0) {
      s.done += one.done;
      s.failed += one.failed;
    }
  }
  s.total = it->taken;
  s.total_known = it->gen_rc != 0;
  s.in_flight = it->taken - it->handed;
  s.in_flight_max = it->in_flight_max;
  mproc__progress_fill(pr, &s, it->t0_ns);
}

static void maybe_progress(mproc_imap_t *it, int final) {
  if (it->progress == NULL || it->final_sent)
    return;
  int64_t now = mproc__os_now_ns();
  if (!final && now - it->last_cb_ns < it->interval_ns)
    return;
  it->last_cb_ns = now;
  it->final_sent = final;
  mproc_progress pr = {.size = sizeof pr};
  progress_now(it, &pr);
  it->progress(&pr, it->ctx);
}

int mproc_imap_progress(mproc_imap_t *it, mproc_progress *out) {
  if (it == NULL || out == NULL)
    return MPROC_EINVAL;
  progress_now(it, out);
  return 0;
}

/* --- the calls --------------------------------------------------------------------------------- */

/* Nothing in flight: the end, reported once as the generator's error if it had one. */
static int at_end(mproc_imap_t *it) {
  int rc = it->gen_rc == 0 || it->gen_rc == MPROC_EEOF ? MPROC_EEOF : it->gen_rc;
  it->gen_rc = MPROC_EEOF;
  mproc__free(it->msg);
  it->msg = NULL;
  maybe_progress(it, 1);
  return rc;
}

int mproc_imap_next(mproc_imap_t *it, int64_t timeout_ms, mproc_args_t **value,
                    uint64_t *index) {
  if (value)
    *value = NULL;
  if (it == NULL || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  int64_t deadline = mproc__os_deadline(timeout_ms);
  for (;;) {
    refill(it);
    if (it->head == NULL)
      return at_end(it);
    int rc = it->unordered ? take_any(it, deadline, value, index)
                           : take_ordered(it, deadline, value, index);
    int expired = deadline != OS_NO_DEADLINE && mproc__os_now_ns() >= deadline;
    if (rc != MPROC_ETIMEDOUT || (expired && it->head != NULL)) {
      maybe_progress(it, 0);
      return rc;
    }
  }
}

const char *mproc_imap_error(mproc_imap_t *it) { return it ? it->msg : NULL; }

void mproc_imap_free(mproc_imap_t *it) {
  if (it == NULL)
    return;
  while (it->head)
    retire(it, it->head, NULL);
  for (size_t k = 0; it->scratch && k < it->batch; k++)
    mproc_args_free(it->scratch[k]);
  mproc__free(it->scratch);
  mproc__free(it->msg);
  mproc__free(it);
}
