/* SPDX-License-Identifier: MIT */
/* Built-in typeids Queue and JoinableQueue: Python's queue.Queue (both typeids, as in
 * SyncManager), with get/put(block, timeout), the _nowait forms, qsize, empty, full, task_done
 * join and Python 3.13's shutdown (queue.ShutDown). Waits honour their timeouts and end with an error when the server stops. */
#include <string.h>

#include "manager_server.h"
#include "alloc.h"

typedef struct mqueue {
  mgr_val *ring;
  size_t head, n, cap;
  int64_t maxsize; /* <= 0: unbounded */
  int64_t unfinished;
  int shut; /* shutdown() was called (Python 3.13): put raises ShutDown, get once empty */
} mqueue;

static int q_create(const mproc_args_t *a, const mproc_args_t *kw, void **obj, void *ctx) {
  (void)ctx;
  mgr_val v;
  int64_t maxsize = 0;
  if (mproc__mgr_arg(a, kw, 0, "maxsize", &v) && mproc__mgr_val_int(&v, &maxsize) != 0)
    return MPROC_ETYPE;
  mqueue *q = mproc__calloc(1, sizeof *q);
  if (q == NULL)
    return MPROC_ENOMEM;
  q->maxsize = maxsize;
  *obj = q;
  return 0;
}

static void q_destroy(void *obj, void *ctx) {
  (void)ctx;
  mqueue *q = obj;
  for (size_t i = 0; i < q->n; i++)
    mproc__mgr_val_free(&q->ring[(q->head + i) % q->cap]);
  mproc__free(q->ring);
  mproc__free(q);
}

static int q_push(mqueue *q, const mgr_val *v) {
  if (q->n == q->cap) {
    size_t cap = q->cap ? q->cap * 2 : 16;
    mgr_val *r = mproc__malloc(cap * sizeof *r);
    if (r == NULL)
      return MPROC_ENOMEM;
    for (size_t i = 0; i < q->n; i++)
      r[i] = q->ring[(q->head + i) % q->cap];
    mproc__free(q->ring);
    q->ring = r;
    q->cap = cap;
    q->head = 0;
  }
  int rc = mproc__mgr_val_from(&q->ring[(q->head + q->n) % q->cap], v);
  if (rc == 0) {
    q->n++;
    q->unfinished++;
  }
  return rc;
}

/* block and timeout of get/put: args from position pos, Python's names. */
static int q_wait_args(const mproc_args_t *a, const mproc_args_t *kw, size_t pos, int nowait,
                       int64_t *deadline) {
  mgr_val b, t;
  int block = !nowait && (!mproc__mgr_arg(a, kw, pos, "block", &b) || mproc__mgr_truth(&b));
  int64_t ms = MPROC_FOREVER;
  if (block && mproc__mgr_arg(a, kw, pos + 1, "timeout", &t)) {
    int rc = mproc__mgr_timeout_ms(&t, &ms);
    if (rc != 0)
      return rc;
  }
  *deadline = block ? mproc__os_deadline(ms) : 0;
  return 0;
}

static int stopped(mproc_args_t *res) {
  return mproc_manager_raise(res, "builtins", "RuntimeError", "the manager is shutting down");
}

static int shut_down(mproc_args_t *res) {
  return mproc_manager_raise(res, "queue", "ShutDown", NULL);
}

static int q_get(mqueue *q, const mproc_args_t *a, const mproc_args_t *kw, mproc_args_t *res,
                 mgr_srv *s, int nowait) {
  int64_t deadline;
  int rc = q_wait_args(a, kw, 0, nowait, &deadline);
  if (rc != 0)
    return rc;
  MGR_LOCK(s);
  while (q->n == 0 && !q->shut && rc == 0)
    rc = deadline == 0 ? MPROC_ETIMEDOUT : mproc__mgr_wait(s, deadline);
  if (q->n == 0 && q->shut && rc != MPROC_ECLOSED)
    rc = MPROC_ESTATE;
  if (q->n > 0) {
    mgr_val *v = &q->ring[q->head];
    rc = mproc__mgr_val_add(res, v);
    if (rc == 0) {
      mproc__mgr_val_free(v);
      q->head = (q->head + 1) % q->cap;
      q->n--;
      MGR_WAKE(s);
    }
  }
  MGR_UNLOCK(s);
  if (rc == MPROC_ESTATE)
    return shut_down(res);
  if (rc == MPROC_ETIMEDOUT)
    return mproc_manager_raise(res, "_queue", "Empty", NULL);
  return rc == MPROC_ECLOSED ? stopped(res) : rc;
}

static int q_put(mqueue *q, const mproc_args_t *a, const mproc_args_t *kw, mproc_args_t *res,
                 mgr_srv *s, int nowait) {
  mgr_val item;
  int64_t deadline;
  if (!mproc__mgr_arg(a, kw, 0, "item", &item))
    return mproc_manager_raise(res, "builtins", "TypeError", "put() missing 'item'");
  int rc = q_wait_args(a, kw, 1, nowait, &deadline);
  if (rc != 0)
    return rc;
  MGR_LOCK(s);
  while (q->maxsize > 0 && (int64_t)q->n >= q->maxsize && !q->shut && rc == 0)
    rc = deadline == 0 ? MPROC_ETIMEDOUT : mproc__mgr_wait(s, deadline);
  if (q->shut && rc != MPROC_ECLOSED)
    rc = MPROC_ESTATE;
  if (rc == 0 && (rc = q_push(q, &item)) == 0)
    MGR_WAKE(s);
  MGR_UNLOCK(s);
  if (rc == MPROC_ESTATE)
    return shut_down(res);
  if (rc == MPROC_ETIMEDOUT)
    return mproc_manager_raise(res, "queue", "Full", NULL);
  return rc == MPROC_ECLOSED ? stopped(res) : rc;
}

MGR_METHOD(m_get) { return q_get(obj, a, kw, res, ctx, 0); }
MGR_METHOD(m_get_nowait) { return q_get(obj, a, kw, res, ctx, 1); }
MGR_METHOD(m_put) { return q_put(obj, a, kw, res, ctx, 0); }
MGR_METHOD(m_put_nowait) { return q_put(obj, a, kw, res, ctx, 1); }

/* qsize (0), empty (1), full (2). */
static int q_state(mqueue *q, mproc_args_t *res, void *ctx, int what) {
  MGR_LOCK(ctx);
  int64_t n = (int64_t)q->n;
  int rc = what == 0   ? mproc_args_add_int(res, n)
           : what == 1 ? mproc_args_add_bool(res, n == 0)
                       : mproc_args_add_bool(res, q->maxsize > 0 && n >= q->maxsize);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(m_qsize) { (void)a, (void)kw; return q_state(obj, res, ctx, 0); }
MGR_METHOD(m_empty) { (void)a, (void)kw; return q_state(obj, res, ctx, 1); }
MGR_METHOD(m_full) { (void)a, (void)kw; return q_state(obj, res, ctx, 2); }

MGR_METHOD(m_task_done) {
  mqueue *q = obj;
  (void)a, (void)kw;
  MGR_LOCK(ctx);
  int rc = 0;
  if (q->unfinished <= 0)
    rc = mproc_manager_raise(res, "builtins", "ValueError", "task_done() called too many times");
  else if (--q->unfinished == 0)
    MGR_WAKE(ctx);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(m_join) {
  mqueue *q = obj;
  (void)a, (void)kw;
  MGR_LOCK(ctx);
  int rc = 0;
  while (q->unfinished > 0 && rc == 0)
    rc = mproc__mgr_wait(ctx, OS_NO_DEADLINE);
  MGR_UNLOCK(ctx);
  return rc == MPROC_ECLOSED ? stopped(res) : rc;
}

/* shutdown(immediate=False), Python 3.13's: later puts raise ShutDown, gets too once the queue
 * is empty; immediate drops the items (each counting as a task done). Waiters are woken. */
MGR_METHOD(m_shutdown) {
  mqueue *q = obj;
  mgr_val im;
  (void)res;
  int immediate = mproc__mgr_arg(a, kw, 0, "immediate", &im) && mproc__mgr_truth(&im);
  MGR_LOCK(ctx);
  q->shut = 1;
  for (; immediate && q->n > 0; q->n--) {
    mproc__mgr_val_free(&q->ring[q->head]);
    q->head = (q->head + 1) % q->cap;
    if (q->unfinished > 0)
      q->unfinished--;
  }
  MGR_WAKE(ctx);
  MGR_UNLOCK(ctx);
  return 0;
}

static const mproc_manager_method queue_methods[] = {
    {"empty", m_empty, NULL, 0}, {"full", m_full, NULL, 0},
    {"get", m_get, NULL, 1},     {"get_nowait", m_get_nowait, NULL, 0},
    {"join", m_join, NULL, 1},   {"put", m_put, NULL, 1},
    {"put_nowait", m_put_nowait, NULL, 0}, {"qsize", m_qsize, NULL, 0},
    {"shutdown", m_shutdown, NULL, 0}, {"task_done", m_task_done, NULL, 0}};

#define N(x) (sizeof(x) / sizeof((x)[0]))

const mproc_manager_type mproc__mgr_queues[] = {
    {"Queue", q_create, q_destroy, NULL, NULL, queue_methods, N(queue_methods), NULL, NULL, 0},
    {"JoinableQueue", q_create, q_destroy, NULL, NULL, queue_methods, N(queue_methods), NULL,
     NULL, 0}};
const size_t mproc__mgr_nqueues = N(mproc__mgr_queues);
