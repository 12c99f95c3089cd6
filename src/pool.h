/* SPDX-License-Identifier: MIT */
/* Pool internals shared by pool.c (the pool object and its thread), pool_dispatch.c (chunks to
 * workers, results and deaths), pool_job.c (AsyncResult: per-item outcomes) and
 * pool_worker.c (the worker process). docs/pool.md describes the design. */
#ifndef MPROC_POOL_H
#define MPROC_POOL_H

#include "args.h"

/* --- wire: parent -> worker (one task-queue item) ------------------------------------------
 * 'T' u32 ndefs { u32 fn, target ref } u32 nchunks { chunk }
 * chunk: u64 id, u32 fn, u8 kind, u8 flags (CHUNK_*), u32 count, blob items
 * items: u8 ITEMS_UNIFORM, u8 type, count * 8 bytes
 *      | u8 ITEMS_ARENA, u8 type, u64 off      (count * 8 bytes at arena + off; the results
 *                                               go to the count * 8 bytes that follow)
 *      | u8 ITEMS_PLAIN, count * (u8 type, blob payload)
 *      | u8 ITEMS_LISTS, count * (an encoded argument list)
 * 'Q': finish and exit.
 * --- worker -> parent (one result-queue item) ---------------------------------------------
 * 'H' u32 slot, u32 gen                       started (initializer done)
 * 'I' u32 slot, u32 gen, i32 code, str msg    initializer failed
 * 'R' u32 slot, u32 gen, u64 id, u64 run_ns, u32 count, then
 *      u8 ITEMS_UNIFORM, u8 type, count * 8 bytes     (every item a value of that type)
 *    | u8 ITEMS_ARENA, u8 type                        (the same, left in the chunk's arena area)
 *    | u8 ITEMS_OUTCOMES, count * (i32 status, i32 code, str msg, encoded values list) */
enum { MSG_TASKS = 'T', MSG_QUIT = 'Q', MSG_HELLO = 'H', MSG_INITFAIL = 'I', MSG_RESULT = 'R' };
enum { ITEMS_PLAIN = 0, ITEMS_UNIFORM = 1, ITEMS_LISTS = 2, ITEMS_OUTCOMES = 3, ITEMS_ARENA = 4 };
enum { KIND_MAP = 1, KIND_STAR = 2, KIND_APPLY = 3 };
/* CHUNK_TIMED: stamp each item's start (task_timeout_ms). CHUNK_QUIET: nobody looks at the job
 * before its end, so the chunk's result record need not wake the pool when a later record of
 * the worker will: the worker sends it quietly unless it is the last of its batch with no
 * other batch waiting in its queue. A worker's death also wakes the pool, which reads every
 * record before settling it. */
enum { CHUNK_TIMED = 1, CHUNK_QUIET = 2 };

/* Per worker slot, in a shared int64 array (SLOT_WORDS words each), written by the worker. */
enum {
  SLOT_BEGUN = 0,  /* chunks begun since the worker started */
  SLOT_ITEM = 1,   /* index in the current chunk of the item running (= count once done) */
  SLOT_START = 2,  /* mproc__os_now_ns() when a timed item began, 0 when none runs */
  SLOT_FAILED = 3, /* items of the current chunk that failed so far (progress counts them) */
  SLOT_WORDS = 16 /* 128 bytes: each worker's words on cache lines of their own */
};

/* Worker process arguments: task queue, result queue, slot array, slot, generation,
 * maxtasksperchild, the arena (a byte array), max_memory_per_child, initializer (target ref
 * bytes or None), then the initargs. */
enum { WARG_TASKQ, WARG_RESULTQ, WARG_SLOTS, WARG_SLOT, WARG_GEN, WARG_MAXTASKS, WARG_ARENA,
       WARG_MAXRSS,
       WARG_INIT, WARG_INITARGS };
int mproc__pool_worker_main(const mproc_args_t *args);

/* Read a caller's options into *dst (zeroed first), honouring its leading size field: a struct
 * from an older, smaller header is read only up to its size (0: the 0.1 layout); a larger one
 * is accepted when the fields this library does not know are zero. dst->size ends as sizeof. */
int mproc__pool_read_options(mproc_pool_options *dst, const mproc_pool_options *src);
int mproc__task_read_options(mproc_task_options *dst, const mproc_task_options *src);

/* How a worker talks to its pool: its queues, or another transport (mproc::mpi). get fills
 * `into` with the next message and returns nonzero when there will be none; put sends one
 * record. */
typedef struct mp_worker_io {
  int (*get)(void *ctx, mp_buf *into);
  void (*put)(void *ctx, const void *data, size_t len);
  void *ctx;
} mp_worker_io;
/* A worker over io (its slot is private to it): initializer, hello, batches until 'Q'. */
int mproc__pool_worker_serve(const mp_worker_io *io, uint32_t slot, uint32_t gen, int64_t maxtasks,
                         const void *init_ref, size_t init_len, const mproc_args_t *initargs);

/* --- jobs (pool_job.c) ------------------------------------------------------------------ */
/* State shared by a pool and its results; it lives while either does. */
typedef struct pool_hub {
  os_mutex_mem mu;
  os_handle mu_h;
  uint32_t seq;      /* bumped on every change a waiter may be waiting for */
  uint32_t sleepers; /* guarded by mu */
  os_handle park;
  int refs;          /* guarded by mu */
} pool_hub;

int mproc__hub_new(pool_hub **out);
void mproc__hub_lock(pool_hub *h);
/* Frees the hub when its last reference was dropped under the lock. */
void mproc__hub_unlock(pool_hub *h);
/* With the lock held: wake every waiter. */
void mproc__hub_wake(pool_hub *h);
/* With the lock held: sleep until woken or the deadline (the lock is released meanwhile). */
int mproc__hub_wait(pool_hub *h, int64_t deadline);

typedef struct pool_input {
  int kind;
  const mproc_args_t *items; /* KIND_MAP: the list (owned copy when own_items) */
  mproc_args_t *own_items;
  mp_buf lists;              /* KIND_STAR / KIND_APPLY: encoded argument lists */
  size_t *offs;              /* n + 1 offsets into lists */
} pool_input;

struct mproc_result {
  pool_hub *hub;
  struct mproc_result *next_cut; /* the pool's jobs with items not yet cut (hub lock) */
  struct mproc_result *next_all; /* every job the pool still holds (hub lock) */
  struct mproc_result *next_ready; /* ready, callbacks not yet run (hub lock) */
  int cb_done;                   /* callbacks ran (pool thread) */
  uint64_t cb_thread;            /* the thread running its callback */
  pool_input in;
  uint32_t fn;               /* index in the pool's function table */
  mproc_task_options opts;
  int unordered;
  int quiet; /* nobody can look at it before its end: a blocking call without progress */
  size_t n, chunksize;
  size_t cursor;             /* next item not yet cut into a chunk */
  size_t done;               /* items finished */
  size_t inflight;           /* chunks at workers or requeued */
  int ready;    /* visible to the caller (after callbacks) */
  int finished; /* every item has its outcome */
  int user_ref, pool_ref, failed;
  uint8_t uni;               /* type of every value so far (0: none yet, 0xff: mixed) */
  int32_t first_fail;        /* code of the lowest failed index */
  size_t first_fail_idx;
  /* outcomes per item */
  uint8_t *rtype;            /* 0 while unfinished, else the value's MPROC_ARG_* (NONE too) */
  uint64_t *rword;           /* INT/DOUBLE bits, or a malloc'd {size_t len; bytes} */
  int32_t *status, *tcode;   /* NULL while every finished item succeeded */
  char **msg;
  mproc_args_t *apply_vals;  /* KIND_APPLY: every value the task added */
  size_t *order, norder;     /* completion order (imap_unordered) */
  size_t next_iter;          /* mproc_result_next position */
  size_t nfailed;            /* items finished with a failure code */
  int64_t t0_ns;             /* submission time */
  /* the progress callback (pool thread only) */
  int64_t prog_last_ns;
  size_t prog_last_done;
  int prog_final;
};

int mproc__job_new(pool_hub *hub, int kind, size_t n, mproc_result_t **out);
/* Lock held: record item i (of a chunk at first) as a success with one value. */
int mproc__job_set_value(mproc_result_t *j, size_t i, uint8_t type, const void *p, size_t len);
/* Lock held: items [first, first + n) of uniform values (8 bytes each). */
void mproc__job_set_run(mproc_result_t *j, size_t first, uint8_t type, const unsigned char *p,
                    size_t n);
/* Lock held: item i failed. msg may be NULL. */
void mproc__job_set_failure(mproc_result_t *j, size_t i, int status, int code, const char *msg);
/* Lock held: marks every unfinished item with status (fail-fast, terminate). */
void mproc__job_cancel_rest(mproc_result_t *j, int status, const char *msg);
/* Lock held: 1 when this call found every item finished. The result becomes ready (waiters
 * wake) now, or after its callback has run when it has one. */
int mproc__job_check_ready(mproc_result_t *j);
/* Lock held: makes the result ready and wakes its waiters. */
void mproc__job_publish(mproc_result_t *j);
/* Frees a job nobody else has seen (it holds no reference to the hub yet). */
void mproc__job_discard(mproc_result_t *j);
/* Drops the pool's or the user's reference; frees the job after both (lock held; the hub
 * goes with its unlock if that was its last reference). */
void mproc__job_unref(mproc_result_t *j, int user);
/* Builds the result list (map family) or copies the apply values. Lock held. */
int mproc__job_values(mproc_result_t *j, mproc_args_t **out);
/* mproc_result_get(r, MPROC_FOREVER, values) for a result nobody else will read: a map whose
 * values are all ints (or all doubles) hands its value array over instead of copying it. */
int mproc__result_take(mproc_result_t *r, mproc_args_t **values);
/* Input encoding for a chunk of items [first, first + n) (no lock needed: inputs are fixed). */
void mproc__job_encode_items(const mproc_result_t *j, size_t first, size_t n, mp_buf *b);
int mproc__job_set_input(mproc_result_t *j, const mproc_args_t *items,
                     const mproc_args_t *const *lists, int copy);

/* --- the pool (pool.c: object and calls; pool_dispatch.c: its thread) --------------------- */
typedef struct pool_fn {
  mproc_task_fn fn;
  mp_target_ref ref;
  int64_t ewma_ns; /* how long its chunks run (moving average; 0 until one came back) */
} pool_fn;

/* Items [first, first + count) of a job, at a worker or waiting to be sent again. */
typedef struct pool_chunk {
  struct pool_chunk *next;
  mproc_result_t *job;
  size_t first, count;
  uint64_t id;
  unsigned deaths; /* workers this chunk's single item has killed (retry policy) */
  size_t arena_off, arena_len; /* its area in the arena (len 0: none): inputs, then results */
} pool_chunk;

enum { W_EMPTY, W_STARTING, W_READY, W_QUITTING };

typedef struct pool_worker {
  mproc_process_t *proc;
  mproc_queue_t *tq;
  uint32_t gen;
  int state;
  pool_chunk *head, *tail; /* chunks assigned, oldest first */
  size_t inflight;
  uint64_t received;       /* result records since the worker started */
  uint64_t assigned;       /* chunks assigned since the worker started */
  mp_buf pending;          /* a batch not yet in the task queue (it was full) */
  size_t pending_chunks;   /* chunks in that batch */
  size_t known_fns;        /* function definitions sent */
  int timed_out;           /* killed by the pool: an item ran past its time limit */
} pool_worker;

struct mproc_pool {
  pool_hub *hub;
  mproc_pool_options opts;
  mproc_args_t *initargs;
  mp_buf init_ref;
  int nworkers;
  pool_worker *w;
  mproc_queue_t *rq;
  mproc_array_t *slots;
  /* The arena: shared bytes the workers map at start. A uniform map's chunk gets an area that
   * holds its inputs and receives its results, so neither goes through a queue. Areas are cut
   * from the front and all given back at once: when none is live, the next starts at 0. */
  mproc_array_t *arena;
  unsigned char *arena_base;
  size_t arena_size, arena_head, arena_live; /* head and live: under the hub lock */
  os_handle doorbell;
  os_thread *thread;
  int joined;
  int remote; /* the workers are not local processes (set by an mproc__pool_new_with thread) */
  /* Set by such a thread before it reports its start (NULL: none): a caller about to wait for
   * the job it just submitted calls drive, which may move the pool's traffic in the caller's
   * own thread until j has every outcome (it returns at once when it cannot); drive_free
   * frees drive_ctx with the pool. */
  void (*drive)(mproc_pool_t *p, mproc_result_t *j);
  void *drive_ctx;
  void (*drive_free)(void *ctx);
  /* under the hub lock */
  pool_fn *fns;
  size_t nfns;
  mproc_result_t *cut_head, *cut_tail, *all, *ready_head, *ready_tail;
  pool_chunk *requeue, *free_chunks;
  int closed, terminating, thread_done, started;
  int broken;          /* MPROC_EBROKENPOOL once broken: submissions fail */
  char broken_msg[512];
  int start_rc;
  uint64_t next_id, workers_started, callback_failures;
  /* pool thread only */
  int startup_deaths;
  int64_t last_death_check;
  unsigned rr;
  mproc_waitable *waits;
  mp_buf rbuf; /* the result record being read */
  uint64_t thread_token;
  /* the registry of live pools (mproc__os_global_lock) */
  struct mproc_pool *next_pool;
  int64_t owner_pid;
  int exit_done;
};

void mproc__pool_thread(void *arg);
/* A pool whose thread is `thread` instead of mproc__pool_thread (mproc::mpi): same object, same
 * submission, results and end; opts->processes is the number of worker slots. */
int mproc__pool_new_with(mproc_pool_t **out, const mproc_pool_options *opts,
                         void (*thread)(void *));
/* For such a thread (pool_dispatch.c), lock held unless said otherwise: */
size_t mproc__pool_room(const mproc_pool_t *p, const pool_worker *w);
size_t mproc__pool_build_batch(mproc_pool_t *p, pool_worker *w, size_t n); /* into w->pending */
void mproc__pool_on_record(mproc_pool_t *p, const unsigned char *data, size_t size); /* no lock */
int mproc__pool_run_callbacks(mproc_pool_t *p);                                     /* no lock */
/* Everything assigned to worker i is settled as after its death (slot i of p->slots says how
 * far it got); returns 1 if it held a begun chunk. */
int mproc__pool_reassign(mproc_pool_t *p, int i, const char *why);
/* Local worker processes in such a pool (slots with a process; no lock held, one thread at a
 * time): start slot i; put a batch in its queue (1 if one went in); read up to max records
 * from the result queue; kill those past a time limit (returns when to look again); settle
 * the dead ones (without running callbacks); stop slot i (now: terminate it, else ask it to
 * quit after its work). */
int mproc__pool_start_worker(mproc_pool_t *p, int i);
int mproc__pool_feed_local(mproc_pool_t *p, int i);
int mproc__pool_drain(mproc_pool_t *p, int max);
int64_t mproc__pool_check_local_timeouts(mproc_pool_t *p);
void mproc__pool_poll_deaths(mproc_pool_t *p); /* p->waits: room for every slot */
void mproc__pool_stop_local(mproc_pool_t *p, int i, int now);
/* No lock: outstanding items fail with MPROC_ECANCELED, chunks held by workers are dropped. */
void mproc__pool_cancel_all(mproc_pool_t *p);
int mproc__pool_no_work_left(mproc_pool_t *p); /* no lock: closed and nothing left to run */
/* Lock held: j just became ready; the pool's thread runs its callbacks. */
void mproc__pool_ready_push(mproc_pool_t *p, mproc_result_t *j);
/* Submits a starmap-style job of n argument lists (copied) with options already read. */
int mproc__pool_submit_lists(mproc_pool_t *p, mproc_task_fn fn, const mproc_args_t *const *lists,
                             size_t n, const mproc_task_options *o, int unordered,
                             mproc_result_t **out);

/* --- map over shared arrays (pool_array.c) ---------------------------------------------------- */
/* The internal task of mproc_pool_map_array: one worker's share of the chunks. */
int mproc__pool_array_sweep(const mproc_args_t *args, mproc_args_t *result);
/* pool_worker.c: the mproc_fail message of the task running in this thread, or NULL. */
const char *mproc__pool_task_message(void);

/* --- progress (pool_progress.c) ------------------------------------------------------------ */
/* Fills out (its caller-set size honoured) from the counts. */
int mproc__progress_fill(mproc_progress *out, const mproc_progress *src, int64_t t0_ns);
/* Pool thread, no lock: runs the progress callbacks that are due; returns when the next one
 * will be (OS_NO_DEADLINE: none). */
int64_t mproc__pool_progress_tick(mproc_pool_t *p);
/* Pool thread, no lock: the last progress call of a finished job (before its callbacks). */
void mproc__pool_progress_final(mproc_pool_t *p, mproc_result_t *j);

/* Lock held: the pool cannot go on; every unfinished item fails with code. */
void mproc__pool_break(mproc_pool_t *p, const char *fmt, ...) MPROC_PRINTF(2, 3);

/* boot.c: while set, mproc_fail() in this thread hands its message here instead of to the
 * parent (a pool task's failure belongs to that task). */
typedef void (*mp_fail_sink)(int code, const char *msg);
void mproc__set_fail_sink(mp_fail_sink sink);
/* boot.c: set by an optional component whose launcher starts copies of the program
 * (mproc::mpi): mproc_main calls it in a process that is not an mproc child; it returns what
 * mproc_main returns, or never returns (an MPI rank that serves tasks). */
extern int (*mproc__main_hook)(int argc, char **argv);

#endif /* MPROC_POOL_H */
