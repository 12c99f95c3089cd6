/* SPDX-License-Identifier: MIT */
/* Progress of a call in items: the figures (done, failed, total, rate) and the rate-limited
 * callback the pool's thread runs for map-family and apply results. The generator-fed imap
 * (pool_lazy.c) fills the same struct and calls the same callback from its caller's thread. */
#include <string.h>

#include "pool.h"

#define DEFAULT_INTERVAL_NS ((int64_t)200 * 1000000)

int mproc__progress_fill(mproc_progress *out, const mproc_progress *src, int64_t t0_ns) {
  size_t cap = out->size == 0 || out->size > sizeof *out ? sizeof *out : out->size;
  if (cap < sizeof out->size)
    return MPROC_EINVAL;
  mproc_progress pr = *src;
  int64_t ns = mproc__os_now_ns() - t0_ns;
  pr.elapsed_ms = ns / 1000000;
  pr.items_per_s = ns >= 1000000 ? (double)pr.done * 1e9 / (double)ns : 0.0;
  pr.size = cap;
  memcpy(out, &pr, cap);
  return 0;
}

static int64_t interval_ns(const mproc_result_t *j) {
  int64_t ms = j->opts.progress_interval_ms;
  return ms > 0 ? ms * 1000000 : DEFAULT_INTERVAL_NS;
}

/* Calls j's progress callback with the hub unlocked (the job stays: only this thread
 * settles jobs). Returns with the lock held again. */
static void call(mproc_pool_t *p, mproc_result_t *j, int64_t now) {
  j->prog_last_ns = now;
  j->prog_last_done = j->done;
  mproc_progress pr = {sizeof pr, j->done, j->nfailed, j->n, 1, j->n - j->done, j->n, 0, 0};
  mproc__progress_fill(&pr, &pr, j->t0_ns);
  mproc__hub_unlock(p->hub);
  j->opts.progress(&pr, j->opts.ctx);
  mproc__hub_lock(p->hub);
}

int64_t mproc__pool_progress_tick(mproc_pool_t *p) {
  int64_t next = OS_NO_DEADLINE, now = mproc__os_now_ns();
  mproc__hub_lock(p->hub);
  /* New jobs are pushed at the head from other threads; jobs leave the list only in this
   * thread, so j->next_all stays valid while a callback runs unlocked. */
  for (mproc_result_t *j = p->all; j; j = j->next_all) {
    if (j->opts.progress == NULL || j->prog_final || j->finished || j->done == j->prog_last_done)
      continue;
    int64_t due = j->prog_last_ns + interval_ns(j);
    if (due <= now)
      call(p, j, now);
    else if (due < next)
      next = due;
  }
  mproc__hub_unlock(p->hub);
  return next;
}

void mproc__pool_progress_final(mproc_pool_t *p, mproc_result_t *j) {
  mproc__hub_lock(p->hub);
  if (j->opts.progress != NULL && !j->prog_final) {
    j->prog_final = 1;
    call(p, j, mproc__os_now_ns());
  }
  mproc__hub_unlock(p->hub);
}
