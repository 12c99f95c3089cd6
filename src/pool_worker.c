/* SPDX-License-Identifier: MIT */
/* The pool worker: a process target that takes batches of chunks from its own task queue, runs
 * each item, and puts one result record per chunk into the pool's result queue. Before each
 * chunk and each item it records where it is in its shared slot, so that if it dies the parent
 * knows exactly which item killed it, which ones had finished and which were never begun; the
 * progress callback reads the same words (and the failures so far) to count items as they end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "pool.h"
#include "queue.h"
#include "atomics.h"
#include "log.h"
#include "alloc.h"

#define ST64(p, v) MPROC__ATOMIC_STORE((p), (v), MPROC__ATOMIC_RELEASE)
#define FAIL_MSG_CAP 4096
#define HEADER_BYTES 29 /* u8 'R', u32 slot, u32 gen, u64 id, u64 run_ns, u32 count */

typedef struct worker {
  mproc_queue_t *tq, *rq;
  const mp_worker_io *io; /* the transport to the pool: its queues, or another one */
  void (*put_quiet)(void *ctx, const void *data, size_t len); /* NULL: io->put */
  int (*more)(void *ctx); /* NULL, or: another batch is already waiting for this worker */
  int quiet_owed; /* the last record sent woke nobody */
  int64_t *slot;
  int64_t own_slot[SLOT_WORDS]; /* the slot when nobody else reads it (a remote worker) */
  uint32_t slot_idx, gen;
  int64_t maxtasks, begun;
  uint32_t nfailed; /* items of the current chunk that failed (SLOT_FAILED) */
  uint64_t max_rss; /* bytes; 0: no limit */
  mproc_task_fn *fns;
  int *fn_err;
  size_t nfns;
  mproc_args_t *view, *res, *tmp;
  unsigned char *arena;  /* the pool's arena (NULL: none) */
  size_t arena_size;
  mp_buf in;             /* the batch being run */
  mp_buf uni, outc, msg; /* a chunk's results: uniform values, or outcome records */
  unsigned char *uo;     /* where the uniform values go: uni's data, or the chunk's arena area */
  size_t nu;             /* uniform values so far */
  uint8_t utype;         /* uniform results so far: their type; 0xff once not uniform */
} worker;

/* mproc_fail() inside a task: the message belongs to that task's outcome. */
static MPROC__THREAD_LOCAL struct {
  int set;
  char text[FAIL_MSG_CAP];
} t_fail;

static void fail_sink(int code, const char *msg) {
  (void)code;
  snprintf(t_fail.text, sizeof t_fail.text, "%s", msg ? msg : "");
  t_fail.set = 1;
}

const char *mproc__pool_task_message(void) { return t_fail.set ? t_fail.text : NULL; }

static void put_header(mp_buf *b, const worker *w, uint8_t type) {
  mproc__put_u8(b, type);
  mproc__put_u32(b, w->slot_idx);
  mproc__put_u32(b, w->gen);
}

static void send_record(worker *w, mp_buf *b) {
  if (b->err == 0)
    w->io->put(w->io->ctx, b->data, b->len);
  w->quiet_owed = 0;
}

static void send_record_quiet(worker *w, mp_buf *b) {
  if (b->err != 0 || w->put_quiet == NULL) {
    send_record(w, b);
    return;
  }
  w->put_quiet(w->io->ctx, b->data, b->len);
  w->quiet_owed = 1;
}

/* Another batch waits: its last record will wake the pool (this worker takes nothing else
 * first, and only this worker takes from its queue). */
static int more_batches(worker *w) { return w->more != NULL && w->more(w->io->ctx) > 0; }

/* A batch that ended early (a malformed chunk) after quiet records, with no batch after it:
 * a hello, which changes nothing at the pool, wakes it to read them. */
static void settle_quiet(worker *w) {
  if (!w->quiet_owed || more_batches(w))
    return;
  mp_buf b;
  mproc__buf_init(&b);
  put_header(&b, w, MSG_HELLO);
  send_record(w, &b);
  mproc__buf_free(&b);
}

/* --- outcomes ---------------------------------------------------------------------------- */

static void put_outcome(mp_buf *b, int status, int code, const char *msg,
                        const mproc_args_t *vals) {
  mproc__put_u32(b, (uint32_t)status);
  mproc__put_u32(b, (uint32_t)code);
  mproc__put_str(b, msg ? msg : "");
  mproc__args_encode(vals, b);
}

/* The uniform results so far become outcome records (a later item did not fit the form). */
static void leave_uniform(worker *w, mproc_args_t *tmp) {
  for (size_t i = 0; i < w->nu; i++) {
    mproc__args_reset(tmp);
    mproc__args_add_raw(tmp, w->utype, w->uo + 8 * i, 8);
    put_outcome(&w->outc, 0, 0, NULL, tmp);
  }
  w->nu = 0;
  w->utype = 0xff;
}

static void push_uniform(worker *w, uint8_t type, const void *p) {
  w->utype = type;
  memcpy(w->uo + 8 * w->nu++, p, 8);
}

static int single_value_status(const mproc_args_t *res, const char **why) {
  size_t n = mproc_args_count(res);
  for (size_t i = 0; i < n; i++) {
    int t = mproc_args_type(res, i);
    if (t == MPROC_ARG_CONN || t > MPROC_ARG_NONE) {
      *why = "a task's results cannot carry connections or shared objects";
      return MPROC_ENOTSUP;
    }
  }
  return 0;
}

static void record_outcome(worker *w, int kind, int rc) {
  int ut = mproc__args_uniform_type(w->res);
  if (rc == 0 && kind != KIND_APPLY && ut != 0 && mproc_args_count(w->res) == 1 &&
      (w->utype == 0 || w->utype == ut)) {
    push_uniform(w, (uint8_t)ut, mproc__args_payload(w->res)); /* one value, the chunk's type */
    return;
  }
  const char *why = NULL;
  int status = rc ? MPROC_ETASKFAILED : single_value_status(w->res, &why);
  size_t n = mproc_args_count(w->res);
  if (status == 0 && kind != KIND_APPLY && n > 1) {
    status = MPROC_EINVAL;
    why = "a map task adds at most one value";
  }
  uint8_t type = 0;
  const unsigned char *p = NULL;
  size_t len = 0;
  if (status == 0 && kind != KIND_APPLY && n == 1)
    mproc__args_item(w->res, 0, &type, &p, &len);
  int fits = (type == MPROC_ARG_INT || type == MPROC_ARG_DOUBLE) &&
             (w->utype == 0 || w->utype == type);
  if (fits) {
    push_uniform(w, type, p);
    return;
  }
  if (w->utype != 0xff)
    leave_uniform(w, w->tmp);
  if (status == MPROC_ETASKFAILED && t_fail.set)
    why = t_fail.text;
  if (status != 0) {
    mproc__args_reset(w->res);
    ST64(&w->slot[SLOT_FAILED], (int64_t)++w->nfailed); /* before the next item's SLOT_ITEM */
  }
  put_outcome(&w->outc, status, rc, why, w->res);
}

static void run_one(worker *w, mproc_task_fn fn, int fn_err, int kind, const mproc_args_t *args) {
  mproc__args_reset(w->res);
  t_fail.set = 0;
  int rc;
  if (fn == NULL) {
    rc = fn_err;
    snprintf(t_fail.text, sizeof t_fail.text, "the task function cannot be found in the worker");
    t_fail.set = 1;
  } else {
    rc = fn(args, w->res);
  }
  record_outcome(w, kind, rc);
}

/* --- one chunk ----------------------------------------------------------------------------- */

typedef struct chunk_in {
  uint64_t id;
  uint32_t fn;
  uint8_t kind, timed, quiet;
  int last; /* the last chunk of its batch */
  uint32_t count;
  const unsigned char *items;
  size_t items_len;
} chunk_in;

static void begin_item(worker *w, const chunk_in *c, uint32_t j) {
  ST64(&w->slot[SLOT_ITEM], (int64_t)j);
  if (c->timed)
    ST64(&w->slot[SLOT_START], mproc__os_now_ns());
}

/* The hot loop of a map over ints or doubles: no decoding, no allocation per item. What it
 * touches per item lives in locals (as far as the compiler knows, the task could change any
 * field of w), written back around the rare item that is not a value of the chunk's type. */
static void run_uniform(worker *w, const chunk_in *c, mproc_task_fn fn, uint8_t type,
                        const unsigned char *p) {
  if (mproc__args_view(w->view, type, p, 8) != 0)
    return;
  mproc_args_t *view = w->view, *res = w->res;
  int64_t *item = &w->slot[SLOT_ITEM];
  unsigned char *uo = w->uo;
  size_t nu = w->nu;
  uint8_t ut = w->utype;
  const int map = c->kind != KIND_APPLY, timed = c->timed;
  for (uint32_t j = 0; j < c->count; j++) {
    ST64(item, (int64_t)j);
    if (timed)
      ST64(&w->slot[SLOT_START], mproc__os_now_ns());
    mp_args_view_move(view, p + 8 * (size_t)j);
    if (!mp_args_reset_plain(res))
      mproc__args_reset(res);
    t_fail.set = 0;
    int rc = fn(view, res);
    uint8_t t;
    const unsigned char *v = rc ? NULL : mp_args_single_word(res, &t);
    if (v != NULL && map && (ut == 0 || ut == t)) {
      ut = t;
      memcpy(uo + 8 * nu++, v, 8);
      continue;
    }
    w->nu = nu;
    w->utype = ut;
    record_outcome(w, c->kind, rc);
    nu = w->nu;
    ut = w->utype;
  }
  w->nu = nu;
  w->utype = ut;
}

/* The inputs of a chunk that has an arena area (which takes its results too), else NULL. */
static const unsigned char *arena_inputs(worker *w, const chunk_in *c, mp_rd *r) {
  uint64_t off = mproc__get_u64(r);
  size_t bytes = 16 * (size_t)c->count;
  if (r->err || w->arena == NULL || off > w->arena_size || bytes > w->arena_size - off)
    return NULL;
  w->uo = w->arena + off + 8 * (size_t)c->count;
  return w->arena + off;
}

static void run_items(worker *w, const chunk_in *c, mproc_task_fn fn, int fn_err) {
  mp_rd r;
  mproc__rd_init(&r, c->items, c->items_len);
  uint8_t form = mproc__get_u8(&r);
  uint8_t utype = form == ITEMS_UNIFORM || form == ITEMS_ARENA ? mproc__get_u8(&r) : 0;
  const unsigned char *in = form == ITEMS_ARENA ? arena_inputs(w, c, &r) : NULL;
  if (form == ITEMS_UNIFORM && r.err == 0 && r.len - r.pos == 8 * (size_t)c->count)
    in = r.p + r.pos;
  if (form == ITEMS_ARENA && in == NULL)
    return; /* no results: the parent takes the record for a malformed one */
  if (in != NULL && fn != NULL) {
    run_uniform(w, c, fn, utype, in);
    if (c->timed)
      ST64(&w->slot[SLOT_START], 0);
    return;
  }
  for (uint32_t j = 0; j < c->count && r.err == 0; j++) {
    begin_item(w, c, j);
    if (form == ITEMS_LISTS) {
      mproc_args_t *a = NULL;
      if (mproc__args_decode(&r, &a, MP_ARGS_PLAIN, NULL, 0) == 0)
        run_one(w, fn, fn_err, c->kind, a);
      mproc_args_free(a);
      continue;
    }
    uint8_t type = utype;
    size_t len = 8;
    const void *p;
    if (in != NULL) {
      p = in + 8 * (size_t)j;
    } else if (form == ITEMS_UNIFORM) {
      p = r.pos + 8 <= r.len ? r.p + r.pos : NULL;
      r.pos += 8;
    } else {
      type = mproc__get_u8(&r);
      p = mproc__get_blob(&r, &len);
    }
    if (p == NULL && len > 0)
      break;
    mproc__args_view(w->view, type, p, len);
    run_one(w, fn, fn_err, c->kind, w->view);
  }
  if (c->timed)
    ST64(&w->slot[SLOT_START], 0);
}

static void send_results(worker *w, const chunk_in *c, int64_t run_ns) {
  mp_buf *b = &w->msg;
  b->len = 0;
  put_header(b, w, MSG_RESULT);
  mproc__put_u64(b, c->id);
  mproc__put_u64(b, (uint64_t)run_ns);
  mproc__put_u32(b, c->count);
  if (w->utype != 0xff && w->utype != 0 && w->nu == c->count && w->uo != w->uni.data) {
    mproc__put_u8(b, ITEMS_ARENA); /* the values are in place */
    mproc__put_u8(b, w->utype);
  } else if (w->utype != 0xff && w->utype != 0) {
    mproc__put_u8(b, ITEMS_UNIFORM);
    mproc__put_u8(b, w->utype);
    mproc__put(b, w->uo, 8 * w->nu);
  } else {
    if (w->utype != 0xff)
      leave_uniform(w, w->tmp); /* count 0: nothing to convert */
    mproc__put_u8(b, ITEMS_OUTCOMES);
    mproc__put(b, w->outc.data, w->outc.len);
  }
  if (c->quiet && (!c->last || more_batches(w)))
    send_record_quiet(w, b);
  else
    send_record(w, b);
}

static void run_chunk(worker *w, const chunk_in *c) {
  ST64(&w->slot[SLOT_ITEM], 0);
  ST64(&w->slot[SLOT_FAILED], 0);
  w->nfailed = 0;
  ST64(&w->slot[SLOT_BEGUN], ++w->begun);
  w->uni.len = w->outc.len = 0;
  w->nu = 0;
  w->utype = 0;
  if (mproc__buf_reserve(&w->uni, 8 * (size_t)c->count) != 0) {
    ST64(&w->slot[SLOT_ITEM], (int64_t)c->count);
    send_results(w, c, 0); /* no outcomes: the parent fails the chunk's items */
    return;
  }
  w->uo = w->uni.data; /* an arena chunk points it at its area */
  int fn_err = MPROC_ENOTARGET;
  mproc_task_fn fn = NULL;
  if (c->fn < w->nfns) {
    fn = w->fns[c->fn];
    fn_err = w->fn_err[c->fn];
  }
  int64_t t0 = mproc__os_now_ns();
  run_items(w, c, fn, fn_err);
  int64_t t1 = mproc__os_now_ns();
  ST64(&w->slot[SLOT_ITEM], (int64_t)c->count);
  send_results(w, c, t1 - t0);
}

/* --- messages ------------------------------------------------------------------------------ */

static int grow_fns(worker *w, uint32_t idx) {
  if (idx < w->nfns)
    return 0;
  size_t n = (size_t)idx + 1;
  mproc_task_fn *f = mproc__realloc(w->fns, n * sizeof *f);
  if (f != NULL)
    w->fns = f;
  int *e = mproc__realloc(w->fn_err, n * sizeof *e);
  if (e != NULL)
    w->fn_err = e;
  if (f == NULL || e == NULL)
    return MPROC_ENOMEM;
  for (size_t i = w->nfns; i < n; i++)
    w->fns[i] = NULL, w->fn_err[i] = MPROC_ENOTARGET;
  w->nfns = n;
  return 0;
}

static void define_fns(worker *w, mp_rd *r) {
  uint32_t n = mproc__get_u32(r);
  for (uint32_t i = 0; i < n && r->err == 0; i++) {
    uint32_t idx = mproc__get_u32(r);
    mp_target_ref ref;
    if (mproc__target_decode(r, &ref) != 0 || grow_fns(w, idx) != 0)
      return;
    mproc_target_fn t = NULL;
    int rc = mproc__target_resolve(&ref, &t);
    w->fn_err[idx] = rc;
    w->fns[idx] = rc == 0 ? (mproc_task_fn)(void (*)(void))t : NULL;
  }
}

static int read_chunk(mp_rd *r, chunk_in *c) {
  c->id = mproc__get_u64(r);
  c->fn = mproc__get_u32(r);
  c->kind = mproc__get_u8(r);
  uint8_t flags = mproc__get_u8(r);
  c->timed = (flags & CHUNK_TIMED) != 0;
  c->quiet = (flags & CHUNK_QUIET) != 0;
  c->count = mproc__get_u32(r);
  c->items = mproc__get_blob(r, &c->items_len);
  return r->err;
}

/* Runs one batch; returns 1 when the worker should exit (maxtasksperchild or
 * max_memory_per_child reached). */
static int run_chunks(worker *w, mp_rd *r) {
  define_fns(w, r);
  uint32_t n = mproc__get_u32(r);
  for (uint32_t i = 0; i < n && r->err == 0; i++) {
    chunk_in c;
    if (read_chunk(r, &c) != 0)
      break;
    c.last = i + 1 == n;
    run_chunk(w, &c);
    if (w->maxtasks > 0 && w->begun >= w->maxtasks)
      return 1;
    /* Between chunks, with every begun chunk's result sent: the pool requeues what this
     * worker was given but never began, and starts a fresh one in its place. */
    if (w->max_rss > 0 && mproc__os_rss_bytes() > w->max_rss)
      return 1;
  }
  return 0;
}

static int run_batch(worker *w, mp_rd *r) {
  int rc = run_chunks(w, r);
  settle_quiet(w);
  return rc;
}

static void serve(worker *w) {
  for (;;) {
    if (w->io->get(w->io->ctx, &w->in) != 0)
      return;
    mp_rd r;
    mproc__rd_init(&r, w->in.data, w->in.len);
    uint8_t type = mproc__get_u8(&r);
    if (type != MSG_TASKS || run_batch(w, &r))
      return;
  }
}

/* --- start-up ------------------------------------------------------------------------------ */

static int run_initializer(worker *w, const void *ref_bytes, size_t ref_len,
                           const mproc_args_t *initargs) {
  if (ref_bytes == NULL)
    return 0; /* no initializer */
  mp_rd r;
  mproc__rd_init(&r, ref_bytes, ref_len);
  mp_target_ref ref;
  mproc_target_fn init = NULL;
  int rc = mproc__target_decode(&r, &ref);
  if (rc == 0)
    rc = mproc__target_resolve(&ref, &init);
  if (rc == 0) {
    t_fail.set = 0;
    rc = init(initargs);
    MPROC__DEBUG("pool worker: initializer returned %d", rc);
  } else {
    MPROC__WARN("pool worker: cannot find the initializer: %s", mproc_strerror(rc));
  }
  if (rc == 0)
    return 0;
  mp_buf b;
  mproc__buf_init(&b);
  put_header(&b, w, MSG_INITFAIL);
  mproc__put_u32(&b, (uint32_t)rc);
  mproc__put_str(&b, t_fail.set ? t_fail.text : "the initializer failed");
  send_record(w, &b);
  mproc__buf_free(&b);
  return rc;
}

static int worker_open(worker *w, const mproc_args_t *args) {
  mproc_array_t *slots;
  int64_t slot, gen;
  int rc = mproc_args_get_queue(args, WARG_TASKQ, &w->tq);
  if (rc == 0)
    rc = mproc_args_get_queue(args, WARG_RESULTQ, &w->rq);
  if (rc == 0)
    rc = mproc_args_get_array(args, WARG_SLOTS, &slots);
  if (rc == 0)
    rc = mproc_args_get_int(args, WARG_SLOT, &slot);
  if (rc == 0)
    rc = mproc_args_get_int(args, WARG_GEN, &gen);
  if (rc == 0)
    rc = mproc_args_get_int(args, WARG_MAXTASKS, &w->maxtasks);
  int64_t max_rss = 0;
  if (rc == 0)
    rc = mproc_args_get_int(args, WARG_MAXRSS, &max_rss);
  w->max_rss = (uint64_t)max_rss;
  if (rc != 0)
    return rc;
  mproc_array_t *arena;
  if (mproc_args_get_array(args, WARG_ARENA, &arena) == 0) {
    w->arena = mproc_array_ptr(arena);
    w->arena_size = mproc_array_length(arena);
  }
  w->slot_idx = (uint32_t)slot;
  w->gen = (uint32_t)gen;
  w->slot = (int64_t *)mproc_array_ptr(slots) + SLOT_WORDS * slot;
  return 0;
}

static void worker_close(worker *w) {
  mproc_args_free(w->view);
  mproc_args_free(w->res);
  mproc_args_free(w->tmp);
  mproc__buf_free(&w->in);
  mproc__buf_free(&w->uni);
  mproc__buf_free(&w->outc);
  mproc__buf_free(&w->msg);
  mproc__free(w->fns);
  mproc__free(w->fn_err);
}

static int queue_get(void *ctx, mp_buf *into) {
  return mproc__queue_get_into(((worker *)ctx)->tq, MPROC_FOREVER, into);
}

/* A record that cannot be put (the result queue is unusable) must not pass for one sent: the
 * parent would wait for that chunk's result for good while this worker went on. Exiting makes
 * it a death the parent settles (the chunk's finished items as lost, the rest elsewhere). */
static void put_failed(int rc) {
  if (rc != 0) {
    MPROC__WARN("pool worker: cannot put a record in the result queue: %s", mproc_strerror(rc));
    mproc__os_exit_now(70);
  }
}

static void queue_put(void *ctx, const void *data, size_t len) {
  put_failed(mproc_queue_put(((worker *)ctx)->rq, data, len, MPROC_FOREVER));
}

static void queue_put_quiet(void *ctx, const void *data, size_t len) {
  put_failed(mproc__queue_put_quiet(((worker *)ctx)->rq, data, len));
}

static int queue_more(void *ctx) { return mproc_queue_qsize(((worker *)ctx)->tq) > 0; }

/* Runs the initializer, says hello and serves batches until told to quit (or the transport
 * ends). w has its transport, slot, generation and maxtasks set. */
static int worker_run(worker *w, const void *init_ref, size_t init_len,
                      const mproc_args_t *initargs) {
  mproc__set_fail_sink(fail_sink);
  int rc = mproc_args_new(&w->view);
  if (rc == 0 && (rc = mproc_args_new(&w->res)) == 0)
    rc = mproc_args_new(&w->tmp);
  if (rc == 0)
    rc = run_initializer(w, init_ref, init_len, initargs);
  if (rc == 0) {
    mp_buf b;
    mproc__buf_init(&b);
    put_header(&b, w, MSG_HELLO);
    send_record(w, &b);
    mproc__buf_free(&b);
    serve(w);
  }
  mproc__set_fail_sink(NULL);
  worker_close(w);
  return rc;
}

int mproc__pool_worker_serve(const mp_worker_io *io, uint32_t slot, uint32_t gen, int64_t maxtasks,
                         const void *init_ref, size_t init_len, const mproc_args_t *initargs) {
  worker w;
  memset(&w, 0, sizeof w);
  w.io = io;
  w.slot = w.own_slot;
  w.slot_idx = slot;
  w.gen = gen;
  w.maxtasks = maxtasks;
  return worker_run(&w, init_ref, init_len, initargs);
}

int mproc__pool_worker_main(const mproc_args_t *args) {
  worker w;
  memset(&w, 0, sizeof w);
  mp_worker_io io = {queue_get, queue_put, &w};
  w.io = &io;
  w.put_quiet = queue_put_quiet;
  w.more = queue_more;
  int rc = worker_open(&w, args);
  const void *ref = NULL;
  size_t ref_len = 0;
  mproc_args_t *initargs = NULL;
  if (rc == 0 && mproc_args_get_bytes(args, WARG_INIT, &ref, &ref_len) != 0)
    ref = NULL; /* None: no initializer */
  if (rc == 0 && (rc = mproc_args_new(&initargs)) == 0)
    rc = mproc__args_extend(initargs, args, WARG_INITARGS);
  if (rc == 0)
    rc = worker_run(&w, ref, ref_len, initargs);
  else
    worker_close(&w);
  mproc_args_free(initargs);
  return rc == 0 ? 0 : 1;
}
