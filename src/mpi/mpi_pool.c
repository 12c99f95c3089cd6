/* SPDX-License-Identifier: MIT */
/* Rank 0's MPI pool: an ordinary mproc_pool_t (pool.c: submission, results, close, terminate,
 * join, free; pool_job.c: AsyncResult) whose thread talks to MPI ranks instead of local
 * processes. Worker slot i is rank i + 1; chunks, batches and records are the local pool's
 * (pool.h), built and read by the same code, so a task sees exactly what a local worker shows.
 *
 * What differs from the local thread: a rank cannot be watched or killed. A rank whose item
 * runs past its time limit is marked lost: the item fails with MPROC_ETASKTIMEOUT, everything
 * else it held goes to the other ranks, and it gets work again only once that task has
 * returned (lose_rank). Every rank lost at once breaks the pool. A rank that dies is the MPI's
 * business: Open MPI and MPICH end the whole job (docs/mpi.md). Ranks are polled, never
 * waited on in MPI: Open MPI's blocking calls spin a core each.
 *
 * Who moves the traffic: whoever holds the pool's driver flag. Usually the pool's thread; but
 * a caller of a blocking call (apply, map, starmap) takes the flag itself and moves everything
 * until its own job has every outcome, so a round trip is its MPI messages and nothing else
 * (no wake-up of another thread on either side). Callbacks and progress stay with the pool's
 * thread, which the caller wakes when it leaves work there. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_internal.h"
#include "mproc_mpi.h"
#include "../alloc.h"
#include "../atomics.h"

#define RECV_MAX 128 /* records read before feeding the ranks again */
#define TAKE_TRIES 64  /* a caller's tries for the driver flag before it leaves the job */
#define DEATH_LOOK_NS 5000000 /* rank 0's local processes: deaths and time limits looked at */

typedef struct rank {
  MPI_Request req; /* the batch in flight (MPI_REQUEST_NULL when none) */
  int rejoining;   /* lost, told to serve the pool afresh: no work before its hello */
  int64_t head_since; /* when the chunk at the head of the rank's list began (about) */
} rank;

typedef struct mpi_thread {
  mproc_pool_t *p;
  rank *r;
  int nranks;   /* slots 0..nranks-1 are ranks 1..nranks; the rest are local processes */
  int nstarted; /* ranks told about the pool: each is told when it ends */
  int64_t next_death_look; /* local processes: when to look for deaths next */
  int driver;   /* atomic: 1 while a thread moves the pool's MPI traffic */
  int stopped;  /* the ranks were released: nothing moves any more (read by the driver) */
} mpi_thread;

static int take(mpi_thread *t) {
  return MPROC__ATOMIC_EXCHANGE(&t->driver, 1, MPROC__ATOMIC_ACQUIRE) == 0;
}

static void give(mpi_thread *t) { MPROC__ATOMIC_STORE(&t->driver, 0, MPROC__ATOMIC_RELEASE); }

/* The pool's thread at the end: a caller that drives leaves as soon as it sees why. */
static void take_wait(mpi_thread *t) {
  unsigned step = 0;
  while (!take(t))
    mproc__mpi_idle(&step);
}

/* Generations: each start of a rank in a pool has its own, so records of an ended pool, or
 * of a lost rank's earlier life, are ignored. */
static uint32_t g_gen;
static int g_creating; /* an MPI pool is being made (mproc__os_global_lock) */

static void send_ctrl(int dest, const void *data, size_t len) {
  mproc__mpi_post(dest, TAG_CTRL, data, len, NULL);
}

static uint32_t next_gen(void) {
  mproc__os_global_lock();
  uint32_t g = ++g_gen;
  mproc__os_global_unlock();
  return g;
}

/* 'P': rank slot i + 1 serves this pool as generation gen (its records carry it). */
static int send_start(mpi_thread *t, int i, uint32_t gen) {
  mproc_pool_t *p = t->p;
  mp_buf b;
  mproc__buf_init(&b);
  mproc__put_u8(&b, MSG_POOL);
  mproc__put_u32(&b, (uint32_t)i);
  mproc__put_u32(&b, gen);
  mproc__put_blob(&b, p->init_ref.data, p->init_ref.len);
  mproc__args_encode(p->initargs, &b);
  int rc = b.err;
  if (rc == 0)
    send_ctrl(i + 1, b.data, b.len);
  mproc__buf_free(&b);
  return rc;
}

static int start_ranks(mpi_thread *t) {
  mproc_pool_t *p = t->p;
  for (int i = 0; i < t->nranks; i++) {
    uint32_t gen = next_gen();
    int rc = send_start(t, i, gen);
    if (rc != 0)
      return rc;
    mproc__hub_lock(p->hub);
    p->w[i].gen = gen;
    p->w[i].state = W_STARTING;
    p->workers_started++;
    mproc__hub_unlock(p->hub);
    t->r[i].req = MPI_REQUEST_NULL;
    t->nstarted = i + 1;
  }
  return 0;
}

static int live(const pool_worker *w) { return w->state == W_STARTING || w->state == W_READY; }

/* A batch for every rank with room whose previous batch has left. */
static int feed(mpi_thread *t) {
  mproc_pool_t *p = t->p;
  int sent = 0;
  for (int i = t->nranks; i < p->nworkers; i++)
    sent += mproc__pool_feed_local(p, i);
  for (int i = 0; i < t->nranks; i++) {
    pool_worker *w = &p->w[i];
    rank *r = &t->r[i];
    if (!live(w) || (r->rejoining && w->state != W_READY))
      continue;
    r->rejoining = 0;
    if (r->req != MPI_REQUEST_NULL) {
      int done = 0;
      MPI_Test(&r->req, &done, MPI_STATUS_IGNORE);
      if (!done)
        continue;
    }
    mproc__hub_lock(p->hub);
    int idle = w->head == NULL;
    size_t room = mproc__pool_room(p, w);
    size_t n = room ? mproc__pool_build_batch(p, w, room) : 0;
    mproc__hub_unlock(p->hub);
    if (n == 0)
      continue;
    if (idle)
      r->head_since = mproc__os_now_ns();
    /* Not MPI_Send: a big batch waits for the rank to post its receive, while that rank may
     * be waiting for us to take its big result. */
    mproc__mpi_post(i + 1, TAG_CTRL, w->pending.data, w->pending.len, &r->req);
    sent++;
  }
  return sent;
}

static int receive(mpi_thread *t) {
  mproc_pool_t *p = t->p;
  int got = 0;
  for (; got < RECV_MAX; got++) {
    int from = 0;
    if (mproc__mpi_take(&p->rbuf, &from) != 1)
      break;
    int i = from - 1;
    pool_chunk *before = i >= 0 && i < t->nranks ? p->w[i].head : NULL;
    mproc__pool_on_record(p, p->rbuf.data, p->rbuf.len);
    if (i >= 0 && i < t->nranks && p->w[i].head != before)
      t->r[i].head_since = mproc__os_now_ns();
  }
  return got;
}

/* Lock held: rank slot i is lost; what it held is settled as if it had died running the
 * chunk at its head (its first item: timed chunks hold one). It comes back once that task
 * returns: it is told to quit this pool (the rest of what it was sent is ignored: new
 * generation) and to serve it again, and gets work after its hello. Every rank lost at once
 * breaks the pool rather than leave the caller waiting on a task that may never return. */
static void lose_rank(mpi_thread *t, int i, const char *why, uint32_t gen) {
  mproc_pool_t *p = t->p;
  pool_worker *w = &p->w[i];
  int64_t *slot = (int64_t *)mproc_array_ptr(p->slots) + SLOT_WORDS * i;
  slot[SLOT_BEGUN] = (int64_t)w->received + 1;
  slot[SLOT_ITEM] = 0;
  w->timed_out = 1;
  mproc__pool_reassign(p, i, why);
  w->gen = gen;
  w->state = W_STARTING;
  w->timed_out = 0;
  w->received = w->assigned = 0;
  w->known_fns = 0;
  t->r[i].rejoining = 1;
  int ready = 0;
  for (int k = 0; k < p->nworkers; k++)
    ready += p->w[k].state == W_READY || (p->w[k].state == W_STARTING && !t->r[k].rejoining);
  if (ready == 0)
    mproc__pool_break(p, "every MPI rank of the pool is lost (%s)", why);
}

static void check_timeouts(mpi_thread *t) {
  mproc_pool_t *p = t->p;
  int64_t now = 0; /* read once, and only when an item has a limit */
  for (int i = 0; i < t->nranks; i++) {
    pool_worker *w = &p->w[i];
    if (!live(w) || w->head == NULL || t->r[i].rejoining)
      continue;
    int64_t limit = w->head->job->opts.task_timeout_ms;
    if (limit > 0 && now == 0)
      now = mproc__os_now_ns();
    if (limit <= 0 || now - t->r[i].head_since <= limit * 1000000)
      continue;
    char why[160];
    snprintf(why, sizeof why, "MPI rank %d lost: the item ran past its time limit", i + 1);
    uint32_t gen = next_gen();
    mproc__hub_lock(p->hub);
    lose_rank(t, i, why, gen);
    mproc__hub_unlock(p->hub);
    if (t->r[i].req != MPI_REQUEST_NULL) {
      mproc__mpi_orphan(t->r[i].req, &w->pending); /* received only once its task returns */
      t->r[i].req = MPI_REQUEST_NULL;
    }
    unsigned char q = MSG_QUIT;
    send_ctrl(i + 1, &q, 1);
    send_start(t, i, gen);
  }
}

/* Each rank goes back to waiting for a pool (a lost one once its task returns: it must read
 * this 'Q' before the next pool's 'P'); sends still in flight keep their buffers. */
static void release_ranks(mpi_thread *t) {
  mproc_pool_t *p = t->p;
  mproc__hub_lock(p->hub);
  int now = p->terminating;
  mproc__hub_unlock(p->hub);
  for (int i = t->nranks; i < p->nworkers; i++)
    mproc__pool_stop_local(p, i, now);
  unsigned char q = MSG_QUIT;
  for (int i = 0; i < t->nstarted; i++) {
    pool_worker *w = &p->w[i];
    rank *r = &t->r[i];
    if (r->req != MPI_REQUEST_NULL) {
      int done = 0;
      MPI_Test(&r->req, &done, MPI_STATUS_IGNORE);
      if (!done)
        mproc__mpi_orphan(r->req, &w->pending);
      r->req = MPI_REQUEST_NULL;
    }
    send_ctrl(i + 1, &q, 1);
    mproc__hub_lock(p->hub);
    w->state = W_EMPTY;
    mproc__hub_unlock(p->hub);
  }
}

/* Rank 0's local processes: records in, time limits, deaths (looked for every few ms). */
static int tend_local(mpi_thread *t) {
  mproc_pool_t *p = t->p;
  if (t->nranks == p->nworkers)
    return 0;
  int got = mproc__pool_drain(p, RECV_MAX);
  int64_t now = mproc__os_now_ns();
  if (now >= t->next_death_look) {
    mproc__pool_check_local_timeouts(p);
    mproc__pool_poll_deaths(p);
    t->next_death_look = now + DEATH_LOOK_NS;
  }
  return got;
}

/* One look at everything, by the driver: batches out, records in, time limits. */
static int move(mpi_thread *t) {
  int busy = feed(t);
  busy += receive(t);
  busy += tend_local(t);
  check_timeouts(t);
  return busy;
}

/* Returns with the driver flag held (the ranks are released next). */
static void serve(mpi_thread *t) {
  mproc_pool_t *p = t->p;
  unsigned step = 0;
  for (;;) {
    mproc__hub_lock(p->hub);
    int term = p->terminating;
    mproc__hub_unlock(p->hub);
    if (term) {
      take_wait(t);
      mproc__pool_cancel_all(p);
      return;
    }
    if (mproc__pool_no_work_left(p)) {
      take_wait(t);
      return;
    }
    int busy = 0, driving = take(t);
    if (driving) {
      busy = move(t);
      give(t);
    }
    busy += mproc__pool_run_callbacks(p);
    int64_t due = mproc__pool_progress_tick(p);
    if (busy) {
      step = 0;
      continue;
    }
    /* Nothing moved: a short pause, cut short by a submission, close, terminate or a caller
     * that leaves callbacks or work behind (MPI has nothing to wait on together with the
     * doorbell, so results are looked for every <= 1 ms while idle). While a caller drives,
     * there is nothing to spin for. */
    if (!driving && step < MPI_SPIN_STEPS)
      step = MPI_SPIN_STEPS;
    int64_t ns = mproc__mpi_backoff(&step), now = mproc__os_now_ns();
    int64_t until = due < now + ns ? due : now + ns;
    size_t which;
    if (until > now && mproc__os_wait_any(&p->doorbell, 1, until, &which) == 0)
      mproc__os_notifier_clear(p->doorbell);
  }
}

/* Lock held: what the pool's thread must see to once the caller stops driving. */
static int left_behind(const mproc_pool_t *p) {
  return p->ready_head != NULL || p->all != NULL || p->requeue != NULL || p->closed;
}

/* Takes the driver flag for a caller: it may be held for a moment by the pool's thread. */
static int take_soon(mpi_thread *t) {
  for (int k = 0; k < TAKE_TRIES; k++) {
    if (take(t))
      return 1;
    sched_yield();
  }
  return 0;
}

/* pool->drive: the caller moves the pool until j has every outcome (or the pool ends). */
static void drive(mproc_pool_t *p, mproc_result_t *j) {
  mpi_thread *t = p->drive_ctx;
  if (!take_soon(t)) {
    mproc__os_notifier_set(p->doorbell); /* the pool's thread or another caller moves it */
    return;
  }
  unsigned step = 0;
  int rang = 0, waiting = 1;
  while (!t->stopped) {
    int busy = waiting ? feed(t) : 0; /* nothing to cut: no batch to build */
    busy += receive(t);
    busy += tend_local(t);
    check_timeouts(t);
    mproc__hub_lock(p->hub);
    int done = j->finished || p->terminating, cbs = p->ready_head != NULL;
    waiting = p->cut_head != NULL || p->requeue != NULL;
    mproc__hub_unlock(p->hub);
    if (cbs && !rang)
      mproc__os_notifier_set(p->doorbell); /* callbacks to run: the pool's thread runs them */
    rang = cbs;
    if (done)
      break;
    if (busy)
      step = 0;
    else
      mproc__mpi_idle(&step);
  }
  give(t);
  mproc__hub_lock(p->hub);
  int more = left_behind(p);
  mproc__hub_unlock(p->hub);
  if (more)
    mproc__os_notifier_set(p->doorbell);
}

static void drive_free(void *ctx) {
  mpi_thread *t = ctx;
  if (t != NULL)
    mproc__free(t->r);
  mproc__free(t);
}

void mproc__mpi_pool_thread(void *arg) {
  mproc_pool_t *p = arg;
  p->thread_token = mproc__os_thread_token();
  p->remote = 1;
  mpi_thread *t = mproc__calloc(1, sizeof *t);
  int rc = t ? 0 : MPROC_ENOMEM;
  if (rc == 0) {
    t->p = p;
    p->drive_ctx = t;
    p->drive_free = drive_free;
    t->nranks = p->nworkers < mproc__mpi_size - 1 ? p->nworkers : mproc__mpi_size - 1;
    t->r = mproc__calloc((size_t)p->nworkers, sizeof *t->r);
    p->waits = mproc__calloc((size_t)p->nworkers + 2, sizeof *p->waits);
    rc = t->r && p->waits ? 0 : MPROC_ENOMEM;
  }
  if (rc == 0)
    rc = start_ranks(t);
  for (int i = t ? t->nranks : 0; rc == 0 && i < p->nworkers; i++)
    rc = mproc__pool_start_worker(p, i);
  mproc__hub_lock(p->hub);
  p->drive = rc == 0 ? drive : NULL;
  p->start_rc = rc;
  p->started = 1;
  mproc__hub_wake(p->hub);
  mproc__hub_unlock(p->hub);
  if (t != NULL) {
    if (rc == 0)
      serve(t); /* returns driving */
    release_ranks(t);
    t->stopped = 1;
    give(t);
  }
  mproc__os_global_lock();
  if (mproc__mpi_active == p)
    mproc__mpi_active = NULL;
  mproc__os_global_unlock();
  mproc__hub_lock(p->hub);
  p->thread_done = 1;
  mproc__hub_wake(p->hub);
  mproc__hub_unlock(p->hub);
}

int mproc_mpi_pool_new(mproc_pool_t **out, const mproc_pool_options *opts) {
  if (out == NULL)
    return MPROC_EINVAL;
  if (mproc__mpi_size < 2 || mproc__mpi_rank != 0)
    return mproc_pool_new(out, opts);
  mproc_pool_options o = {0};
  if (opts && mproc__pool_read_options(&o, opts) != 0)
    return MPROC_EINVAL;
  if (o.processes < 0)
    return MPROC_EINVAL;
  if (o.processes == 0) /* every rank, and a local process for each core rank 0's node has
                           * beyond its worker ranks */
    o.processes = mproc__mpi_size - 1 + mproc__mpi_spare_cores;
  o.maxtasksperchild = 0;
  mproc__os_global_lock();
  int busy = mproc__mpi_active != NULL || g_creating;
  g_creating |= !busy;
  mproc__os_global_unlock();
  if (busy)
    return MPROC_ESTATE;
  int rc = mproc__pool_new_with(out, &o, mproc__mpi_pool_thread);
  mproc__os_global_lock();
  if (rc == 0)
    mproc__mpi_active = *out;
  g_creating = 0;
  mproc__os_global_unlock();
  return rc;
}

int mproc_mpi_pool_is_mpi(const mproc_pool_t *pool) {
  return pool != NULL && pool->remote;
}
