/* SPDX-License-Identifier: MIT */
/* Pool: the object, submitting work, and its end (close / terminate / join / free). The pool's
 * thread (pool_dispatch.c) does everything that involves the workers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "alloc.h"

/* --- options -------------------------------------------------------------------------------- */

/* Bytes of each struct in its first (0.1) layout, which size 0 stands for. Ends at the last
 * 0.1 field rather than at sizeof, as a later field may move the trailing padding. */
#define POOL_OPTIONS_V1 (offsetof(mproc_pool_options, max_task_retries) + sizeof(unsigned))
#define TASK_OPTIONS_V1 (offsetof(mproc_task_options, ctx) + sizeof(void *))

/* The trap this avoids: `*dst = *src` reads past the end of a struct compiled against an older,
 * smaller header (and ignores fields a newer header set that this library cannot honour). */
static int read_sized(void *dst, size_t dst_size, const void *src, size_t v1_size) {
  size_t n;
  memcpy(&n, src, sizeof n);
  if (n == 0)
    n = v1_size;
  if (n < v1_size)
    return MPROC_EINVAL; /* no released header had a smaller struct */
  memset(dst, 0, dst_size);
  memcpy(dst, src, n < dst_size ? n : dst_size);
  for (size_t i = dst_size; i < n; i++)
    if (((const unsigned char *)src)[i] != 0)
      return MPROC_EINVAL;
  memcpy(dst, &dst_size, sizeof dst_size);
  return 0;
}

int mproc__pool_read_options(mproc_pool_options *dst, const mproc_pool_options *src) {
  return read_sized(dst, sizeof *dst, src, POOL_OPTIONS_V1);
}

int mproc__task_read_options(mproc_task_options *dst, const mproc_task_options *src) {
  return read_sized(dst, sizeof *dst, src, TASK_OPTIONS_V1);
}

/* --- creation ------------------------------------------------------------------------------- */

static int copy_options(mproc_pool_t *p, const mproc_pool_options *o) {
  if (o != NULL && mproc__pool_read_options(&p->opts, o) != 0)
    return MPROC_EINVAL;
  if (p->opts.processes < 0 || (unsigned)p->opts.on_death > MPROC_POOL_BREAK)
    return MPROC_EINVAL;
  if (p->opts.processes == 0)
    p->opts.processes = mproc_cpu_count_usable();
  p->nworkers = p->opts.processes;
  p->opts.initargs = NULL;
  int rc = mproc_args_new(&p->initargs);
  if (rc == 0 && o != NULL && o->initargs != NULL) /* initargs is a 0.1 field: in any size */
    rc = mproc__args_extend(p->initargs, o->initargs, 0);
  if (rc == 0 && p->opts.initializer != NULL) {
    mp_target_ref *ref = mproc__malloc(sizeof *ref);
    rc = ref ? mproc__target_locate(p->opts.initializer, ref) : MPROC_ENOMEM;
    if (rc == 0)
      mproc__target_encode(ref, &p->init_ref);
    mproc__free(ref);
  }
  return rc ? rc : p->init_ref.err;
}

static int make_shared(mproc_pool_t *p) {
  p->w = mproc__calloc((size_t)p->nworkers, sizeof *p->w);
  if (p->w == NULL)
    return MPROC_ENOMEM;
  int rc = mproc_raw_array_new(&p->slots, 'q', (size_t)p->nworkers * SLOT_WORDS, NULL);
  if (rc == 0)
    rc = mproc_queue_new_sized(&p->rq, (size_t)1 << 30, (size_t)4 << 20);
  if (rc == 0)
    rc = mproc__os_notifier_new(&p->doorbell);
  return rc;
}

static void destroy(mproc_pool_t *p) {
  for (int i = 0; p->w && i < p->nworkers; i++) {
    mproc_process_free(p->w[i].proc);
    mproc_queue_free(p->w[i].tq);
    mproc__buf_free(&p->w[i].pending);
  }
  mproc__free(p->w);
  for (pool_chunk *c = p->free_chunks, *n; c; c = n) {
    n = c->next;
    mproc__free(c);
  }
  mproc_queue_free(p->rq);
  mproc_array_free(p->slots);
  mproc_array_free(p->arena);
  mproc__os_close(p->doorbell);
  mproc_args_free(p->initargs);
  mproc__buf_free(&p->init_ref);
  mproc__free(p->fns);
  mproc__free(p->waits);
  mproc__buf_free(&p->rbuf);
  if (p->drive_free)
    p->drive_free(p->drive_ctx);
  if (p->hub) {
    mproc__hub_lock(p->hub);
    p->hub->refs--;
    mproc__hub_unlock(p->hub);
  }
  mproc__free(p);
}

/* --- live pools, terminated at exit (Python's pool finalizer) ------------------------------ */

static mproc_pool_t *g_pools; /* mproc__os_global_lock */

static void pools_at_exit(void) {
  int64_t me = mproc__os_getpid();
  for (;;) {
    mproc_pool_t *p;
    mproc__os_global_lock();
    for (p = g_pools; p && (p->owner_pid != me || p->exit_done); p = p->next_pool)
      ;
    if (p)
      p->exit_done = 1;
    mproc__os_global_unlock();
    if (p == NULL)
      return;
    if (mproc__os_thread_token() != p->thread_token)
      mproc_pool_terminate(p);
  }
}

static void register_pool(mproc_pool_t *p) {
  p->owner_pid = mproc__os_getpid();
  mproc__os_global_lock();
  p->next_pool = g_pools;
  g_pools = p;
  mproc__os_global_unlock();
  mproc__process_set_exit_prelude(pools_at_exit);
}

static void unregister_pool(mproc_pool_t *p) {
  mproc__os_global_lock();
  mproc_pool_t **pp = &g_pools;
  while (*pp && *pp != p)
    pp = &(*pp)->next_pool;
  if (*pp)
    *pp = p->next_pool;
  mproc__os_global_unlock();
}

/* The workers are started by the pool's thread, which also replaces them. They are daemons:
 * started off the main thread, they are created by the library's starter thread, so they die
 * with this process and with no thread of it (docs/lifecycle.md). */
static int wait_started(mproc_pool_t *p) {
  mproc__hub_lock(p->hub);
  while (!p->started)
    mproc__hub_wait(p->hub, OS_NO_DEADLINE);
  int rc = p->start_rc;
  mproc__hub_unlock(p->hub);
  return rc;
}

int mproc_pool_new(mproc_pool_t **out, const mproc_pool_options *opts) {
  return mproc__pool_new_with(out, opts, mproc__pool_thread);
}

int mproc__pool_new_with(mproc_pool_t **out, const mproc_pool_options *opts,
                         void (*thread)(void *)) {
  if (out == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  mproc_pool_t *p = mproc__calloc(1, sizeof *p);
  if (p == NULL)
    return MPROC_ENOMEM;
  p->doorbell = OS_INVALID;
  mproc__buf_init(&p->init_ref);
  int rc = copy_options(p, opts);
  if (rc == 0 && p->nworkers > 0)
    rc = mproc__hub_new(&p->hub);
  else if (rc == 0)
    rc = MPROC_EINVAL;
  if (rc == 0)
    rc = make_shared(p);
  if (rc == 0 && (rc = mproc__os_thread_start(thread, p, &p->thread)) == 0 &&
      (rc = wait_started(p)) != 0) {
    mproc__os_thread_join(p->thread);
    p->thread = NULL;
  }
  if (rc != 0) {
    destroy(p);
    return rc;
  }
  register_pool(p);
  *out = p;
  return 0;
}

int mproc_pool_processes(const mproc_pool_t *p) { return p ? p->nworkers : MPROC_EINVAL; }

int mproc_pool_pids(mproc_pool_t *p, int64_t *pids, size_t cap, size_t *count) {
  if (p == NULL || (pids == NULL && cap > 0))
    return MPROC_EINVAL;
  size_t k = 0;
  mproc__hub_lock(p->hub);
  for (int i = 0; i < p->nworkers; i++) {
    int64_t pid = p->w[i].state != W_EMPTY ? mproc_process_pid(p->w[i].proc) : 0;
    if (pid > 0 && k < cap)
      pids[k] = pid;
    k += pid > 0;
  }
  mproc__hub_unlock(p->hub);
  if (count)
    *count = k;
  return 0;
}

static uint64_t read_counter(mproc_pool_t *p, const uint64_t *c) {
  if (p == NULL)
    return 0;
  mproc__hub_lock(p->hub);
  uint64_t v = *c;
  mproc__hub_unlock(p->hub);
  return v;
}

uint64_t mproc_pool_workers_started(mproc_pool_t *p) {
  return read_counter(p, p ? &p->workers_started : NULL);
}

uint64_t mproc_pool_callback_failures(mproc_pool_t *p) {
  return read_counter(p, p ? &p->callback_failures : NULL);
}

/* --- submitting -------------------------------------------------------------------------------- */

static int fn_known(mproc_pool_t *p, mproc_task_fn fn) {
  mproc__hub_lock(p->hub);
  size_t i = 0;
  while (i < p->nfns && p->fns[i].fn != fn)
    i++;
  mproc__hub_unlock(p->hub);
  return i < p->nfns;
}

/* Lock held: the index of fn in the table (new functions are appended; ref is NULL only for
 * a function already there). */
static int fn_index(mproc_pool_t *p, mproc_task_fn fn, const mp_target_ref *ref, uint32_t *idx) {
  for (size_t i = 0; i < p->nfns; i++)
    if (p->fns[i].fn == fn) {
      *idx = (uint32_t)i;
      return 0;
    }
  if (ref == NULL)
    return MPROC_EINVAL;
  pool_fn *f = mproc__realloc(p->fns, (p->nfns + 1) * sizeof *f);
  if (f == NULL)
    return MPROC_ENOMEM;
  p->fns = f;
  f[p->nfns].fn = fn;
  f[p->nfns].ref = *ref;
  f[p->nfns].ewma_ns = 0;
  *idx = (uint32_t)p->nfns++;
  return 0;
}

/* Python's rule: chunksize, extra = divmod(n, 4 * processes); chunksize += bool(extra). */
static size_t auto_chunksize(const mproc_pool_t *p, size_t n) {
  size_t d = 4 * (size_t)p->nworkers;
  size_t c = n / d + (n % d != 0);
  return c ? c : 1;
}

typedef struct submission {
  int kind, unordered, copy, user;
  mproc_task_fn fn;
  const mproc_args_t *items;
  const mproc_args_t *const *lists;
  size_t n;
  const mproc_task_options *opts;
  int driven; /* the caller moves the job itself (pool->drive): no doorbell */
} submission;

static int prepare_job(mproc_pool_t *p, const submission *s, mproc_result_t **out) {
  mproc_result_t *j;
  int rc = mproc__job_new(p->hub, s->kind, s->n, &j);
  if (rc != 0)
    return rc;
  if (s->opts && mproc__task_read_options(&j->opts, s->opts) != 0) {
    mproc__job_discard(j);
    return MPROC_EINVAL;
  }
  j->unordered = s->unordered;
  j->quiet = !s->copy && j->opts.progress == NULL && j->opts.task_timeout_ms <= 0;
  j->chunksize = j->opts.chunksize ? j->opts.chunksize
                 : s->unordered || s->kind == KIND_APPLY ? 1 : 0;
  if (j->opts.task_timeout_ms > 0 || s->kind == KIND_APPLY)
    j->chunksize = 1;
  if (s->unordered && (s->n > 0 && (j->order = mproc__malloc(s->n * sizeof *j->order)) == NULL))
    rc = MPROC_ENOMEM;
  if (rc == 0)
    rc = mproc__job_set_input(j, s->items, s->lists, s->copy);
  j->pool_ref = 1;
  j->user_ref = s->user;
  if (rc != 0) {
    mproc__job_discard(j);
    return rc;
  }
  *out = j;
  return 0;
}

/* Lock held: the job joins the pool's lists. */
static int enqueue_job(mproc_pool_t *p, mproc_result_t *j, const mp_target_ref *ref,
                       mproc_task_fn fn) {
  if (p->closed || p->terminating)
    return MPROC_ECLOSED;
  if (p->broken)
    return MPROC_EBROKENPOOL;
  int rc = fn_index(p, fn, ref, &j->fn);
  if (rc != 0)
    return rc;
  if (j->chunksize == 0)
    j->chunksize = auto_chunksize(p, j->n);
  p->hub->refs++;
  j->next_all = p->all;
  p->all = j;
  if (p->cut_tail)
    p->cut_tail->next_cut = j;
  else
    p->cut_head = j;
  p->cut_tail = j;
  if (mproc__job_check_ready(j)) /* no items: ready at once; callbacks still run in the thread */
    mproc__pool_ready_push(p, j);
  return 0;
}

static int submit(mproc_pool_t *p, const submission *s, mproc_result_t **out) {
  if (p == NULL || s->fn == NULL || (s->kind == KIND_MAP && s->items == NULL) ||
      (s->kind == KIND_STAR && s->lists == NULL && s->n > 0))
    return MPROC_EINVAL;
  /* A function already in the pool's table (it only grows) was located when it came: the
   * reference (a path's worth of bytes) is looked up for new functions only. */
  mp_target_ref *ref = NULL;
  int rc = 0;
  if (!fn_known(p, s->fn)) {
    if ((ref = mproc__malloc(sizeof *ref)) == NULL)
      return MPROC_ENOMEM;
    rc = mproc__target_locate((mproc_target_fn)(void (*)(void))s->fn, ref);
  }
  mproc_result_t *j = NULL;
  if (rc == 0)
    rc = prepare_job(p, s, &j);
  if (rc == 0) {
    mproc__hub_lock(p->hub);
    rc = enqueue_job(p, j, ref, s->fn);
    mproc__hub_unlock(p->hub);
    if (rc != 0)
      mproc__job_discard(j); /* never seen by anyone else */
  }
  mproc__free(ref);
  if (rc == 0) {
    if (!s->driven)
      mproc__os_notifier_set(p->doorbell);
    if (out)
      *out = j;
  }
  return rc;
}

static int run_sync(mproc_pool_t *p, submission *s, mproc_args_t **results) {
  if (results == NULL)
    return MPROC_EINVAL;
  *results = NULL;
  mproc_result_t *r;
  s->user = 1;
  s->copy = 0;
  s->driven = p != NULL && p->drive != NULL;
  int rc = submit(p, s, &r);
  if (rc != 0)
    return rc;
  if (s->driven)
    p->drive(p, r); /* rings the doorbell itself when it leaves work to the pool's thread */
  rc = mproc__result_take(r, results);
  mproc_result_free(r);
  return rc;
}

int mproc_pool_apply(mproc_pool_t *p, mproc_task_fn fn, const mproc_args_t *args,
                     const mproc_task_options *opts, mproc_args_t **result) {
  submission s = {KIND_APPLY, 0, 0, 1, fn, NULL, &args, 1, opts, 0};
  return run_sync(p, &s, result);
}

int mproc_pool_apply_async(mproc_pool_t *p, mproc_task_fn fn, const mproc_args_t *args,
                           const mproc_task_options *opts, mproc_result_t **out) {
  submission s = {KIND_APPLY, 0, 1, out != NULL, fn, NULL, &args, 1, opts, 0};
  return submit(p, &s, out);
}

int mproc_pool_map(mproc_pool_t *p, mproc_task_fn fn, const mproc_args_t *items,
                   const mproc_task_options *opts, mproc_args_t **results) {
  submission s = {KIND_MAP, 0, 0, 1, fn, items, NULL, mproc_args_count(items), opts, 0};
  return run_sync(p, &s, results);
}

int mproc_pool_map_async(mproc_pool_t *p, mproc_task_fn fn, const mproc_args_t *items,
                         const mproc_task_options *opts, mproc_result_t **out) {
  submission s = {KIND_MAP, 0, 1, out != NULL, fn, items, NULL, mproc_args_count(items), opts,
                  0};
  return submit(p, &s, out);
}

int mproc_pool_starmap(mproc_pool_t *p, mproc_task_fn fn, const mproc_args_t *const *items,
                       size_t n, const mproc_task_options *opts, mproc_args_t **results) {
  submission s = {KIND_STAR, 0, 0, 1, fn, NULL, items, n, opts, 0};
  return run_sync(p, &s, results);
}

int mproc_pool_starmap_async(mproc_pool_t *p, mproc_task_fn fn, const mproc_args_t *const *items,
                             size_t n, const mproc_task_options *opts, mproc_result_t **out) {
  submission s = {KIND_STAR, 0, 1, out != NULL, fn, NULL, items, n, opts, 0};
  return submit(p, &s, out);
}

int mproc__pool_submit_lists(mproc_pool_t *p, mproc_task_fn fn, const mproc_args_t *const *lists,
                             size_t n, const mproc_task_options *o, int unordered,
                             mproc_result_t **out) {
  submission s = {KIND_STAR, unordered, 1, 1, fn, NULL, lists, n, o, 0};
  return submit(p, &s, out);
}

static int imap(mproc_pool_t *p, mproc_task_fn fn, const mproc_args_t *items,
                const mproc_task_options *opts, int unordered, mproc_result_t **out) {
  if (out == NULL)
    return MPROC_EINVAL;
  mproc_task_options o = {0};
  if (opts && mproc__task_read_options(&o, opts) != 0)
    return MPROC_EINVAL;
  if (o.chunksize == 0)
    o.chunksize = 1; /* Python's imap default */
  submission s = {KIND_MAP, unordered, 1, 1, fn, items, NULL, mproc_args_count(items), &o, 0};
  return submit(p, &s, out);
}

int mproc_pool_imap(mproc_pool_t *p, mproc_task_fn fn, const mproc_args_t *items,
                    const mproc_task_options *opts, mproc_result_t **out) {
  return imap(p, fn, items, opts, 0, out);
}

int mproc_pool_imap_unordered(mproc_pool_t *p, mproc_task_fn fn, const mproc_args_t *items,
                              const mproc_task_options *opts, mproc_result_t **out) {
  return imap(p, fn, items, opts, 1, out);
}

/* --- the end ------------------------------------------------------------------------------------ */

int mproc_pool_close(mproc_pool_t *p) {
  if (p == NULL)
    return 0; /* like every _close */
  mproc__hub_lock(p->hub);
  p->closed = 1;
  mproc__hub_unlock(p->hub);
  mproc__os_notifier_set(p->doorbell);
  return 0;
}

static int wait_thread_done(mproc_pool_t *p, int64_t timeout_ms) {
  int64_t deadline = mproc__os_deadline(timeout_ms);
  int rc = 0;
  mproc__hub_lock(p->hub);
  while (!p->thread_done && rc == 0)
    rc = mproc__hub_wait(p->hub, deadline);
  rc = p->thread_done ? 0 : MPROC_ETIMEDOUT;
  mproc__hub_unlock(p->hub);
  return rc;
}

int mproc_pool_terminate(mproc_pool_t *p) {
  if (p == NULL)
    return MPROC_EINVAL;
  mproc__hub_lock(p->hub);
  p->terminating = 1;
  mproc__hub_unlock(p->hub);
  mproc__os_notifier_set(p->doorbell);
  if (mproc__os_thread_token() == p->thread_token)
    return 0; /* from a callback: the thread terminates once the callback returns */
  return wait_thread_done(p, MPROC_FOREVER);
}

int mproc_pool_join(mproc_pool_t *p, int64_t timeout_ms) {
  if (p == NULL || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  mproc__hub_lock(p->hub);
  int open = !p->closed && !p->terminating;
  mproc__hub_unlock(p->hub);
  if (open)
    return MPROC_ESTATE;
  return wait_thread_done(p, timeout_ms);
}

void mproc_pool_free(mproc_pool_t *p) {
  if (p == NULL)
    return;
  unregister_pool(p);
  mproc_pool_terminate(p);
  mproc__os_thread_join(p->thread);
  destroy(p);
}

void mproc__pool_break(mproc_pool_t *p, const char *fmt, ...) {
  if (!p->broken) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->broken_msg, sizeof p->broken_msg, fmt, ap);
    va_end(ap);
    p->broken = MPROC_EBROKENPOOL;
  }
  for (mproc_result_t *j = p->all; j; j = j->next_all) {
    mproc__job_cancel_rest(j, MPROC_EBROKENPOOL, p->broken_msg);
    if (mproc__job_check_ready(j))
      mproc__pool_ready_push(p, j);
  }
}
