/* SPDX-License-Identifier: MIT */
/* Progress of a call in items: the figures (done, failed, total, rate) and the rate-limited
 * callback the pool's thread runs for map-family and apply results. Items count as they end,
 * not as their chunk comes back: each worker publishes in its slot how far into its current
 * chunk it is and how many of those items failed. The generator-fed imap (pool_lazy.c) fills
 * the same struct and calls the same callback from its caller's thread. */
#include <string.h>

#include "pool.h"
#include "atomics.h"

#define LD64(p) MPROC__ATOMIC_LOAD((p), MPROC__ATOMIC_ACQUIRE)

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

/* Items of j finished so far (failed ones included, *failed of them), counting the items
 * already over inside chunks that are still running. Pool thread, hub lock held. */
static size_t live_done(const mproc_pool_t *p, const mproc_result_t *j, size_t *failed) {
  size_t done = j->done, nf = j->nfailed;
  const int64_t *slots = p->slots && !p->remote ? mproc_array_ptr(p->slots) : NULL;
  for (int i = 0; slots && !j->finished && i < p->nworkers; i++) {
    const pool_worker *w = &p->w[i];
    const int64_t *s = slots + SLOT_WORDS * i;
    if (w->head == NULL || w->head->job != j || (uint64_t)LD64(&s[SLOT_BEGUN]) != w->received + 1)
      continue; /* not running this job's chunk now (or already on the next one) */
    int64_t item = LD64(&s[SLOT_ITEM]), bad = LD64(&s[SLOT_FAILED]);
    size_t k = item < 0 ? 0 : (size_t)item > w->head->count ? w->head->count : (size_t)item;
    done += k;
    nf += bad < 0 ? 0 : (size_t)bad > k ? k : (size_t)bad;
  }
  *failed = nf;
  return done > j->n ? j->n : done;
}

/* Calls j's progress callback with the hub unlocked (the job stays: only this thread
 * settles jobs). Returns with the lock held again. */
static void call(mproc_pool_t *p, mproc_result_t *j, int64_t now) {
  size_t failed, done = live_done(p, j, &failed);
  j->prog_last_ns = now;
  j->prog_last_done = done;
  mproc_progress pr = {sizeof pr, done, failed, j->n, 1, j->n - done, j->n, 0, 0};
  mproc__progress_fill(&pr, &pr, j->t0_ns);
  mproc__hub_unlock(p->hub);
  j->opts.progress(&pr, j->opts.ctx);
  mproc__hub_lock(p->hub);
}

int64_t mproc__pool_progress_tick(mproc_pool_t *p) {
  int64_t next = OS_NO_DEADLINE, now = mproc__os_now_ns();
  mproc__hub_lock(p->hub);
  /* New jobs are pushed at the head from other threads; a job leaves the list only once this
   * thread ran its callbacks (or, with none, when it finished: it is skipped here), so
   * j->next_all stays valid while j's progress callback runs unlocked. */
  for (mproc_result_t *j = p->all; j; j = j->next_all) {
    if (j->opts.progress == NULL || j->prog_final || j->finished)
      continue;
    int64_t due = j->prog_last_ns + interval_ns(j);
    if (due <= now) {
      size_t failed;
      if (live_done(p, j, &failed) != j->prog_last_done)
        call(p, j, now);
      due = now + interval_ns(j); /* items end inside chunks too: look again one interval on */
    }
    if (due < next)
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
