/* SPDX-License-Identifier: MIT */
/*
 * map over shared arrays (mproc_pool_map_array): a function runs over chunks of a shared
 * input array and writes a shared output array in place; workers claim chunks with an atomic
 * add on a counter in shared memory, so no message travels per chunk.
 *
 * The call is a starmap of one internal task per worker (a "sweep", at most one per chunk)
 * through the pool's ordinary machinery: deaths, time limits and the on_death policy apply to
 * sweeps as to any item. Each sweep gets a descriptor: the owner's pid, the element counts and
 * sizes, the blocks of the control record and of both arrays, and the function's reference. A
 * worker that has not mapped a block's segment yet takes a handle to it from the calling
 * process (mproc__os_handle_take) and keeps the segment mapped for later calls (a few, least
 * recently used first out), so a second map over the same arrays maps nothing.
 *
 * The control record: the claim counter, a stop flag (a failed chunk stops the others at their
 * next claim) and, per sweep, the range it is working on. A sweep that runs again after its
 * worker died (the retry policy) first finishes the range its earlier run held; without a
 * retry, the sweep's failure (MPROC_EWORKERDIED) is the call's. Either way no range is lost
 * silently.
 */
#include <stdio.h>
#include <string.h>

#include "pool.h"
#include "heap.h"
#include "atomics.h"
#include "alloc.h"

#define LINE 64
#define DESC_MAGIC 0x4d415031u /* "MAP1" */
#define CACHE_SLOTS 8
#define MSG_CAP 1024

/* In shared memory: every word a worker writes on a line of its own. */
typedef struct sweep_rec {
  int64_t start, end; /* the range being worked on (end == 0: none) */
  char pad[LINE - 2 * sizeof(int64_t)];
} sweep_rec;

typedef struct actl {
  int64_t next; /* first index not yet claimed */
  char pad0[LINE - sizeof(int64_t)];
  int64_t stop; /* nonzero: claim nothing more */
  char pad1[LINE - sizeof(int64_t)];
  sweep_rec rec[1]; /* one per sweep (allocated for nsweeps) */
} actl;

typedef struct desc {
  int64_t owner;
  uint64_t n, chunk, in_elem, out_elem, in_off, out_off;
  uint32_t nsweeps;
} desc;

/* --- the caller's side ------------------------------------------------------------------------ */

static const mp_block *array_block(const mproc_array_t *a) {
  return &((const mp_shobj *)(const void *)a)->blk; /* every shared object begins with one */
}

static uint64_t data_offset(const mproc_array_t *a) {
  return (uint64_t)((const unsigned char *)mproc_array_ptr(a) -
                    (const unsigned char *)array_block(a)->p);
}

static void encode_desc(const desc *d, const mp_block *ctl, const mproc_array_t *in,
                        const mproc_array_t *out, const mp_target_ref *ref, mp_buf *b) {
  mproc__put_u32(b, DESC_MAGIC);
  mproc__put_u64(b, (uint64_t)d->owner);
  mproc__put_u64(b, d->n);
  mproc__put_u64(b, d->chunk);
  mproc__put_u64(b, d->in_elem);
  mproc__put_u64(b, d->out_elem);
  mproc__put_u64(b, d->in_off);
  mproc__put_u64(b, d->out_off);
  mproc__put_u32(b, d->nsweeps);
  mproc__block_encode(ctl, b);
  mproc__block_encode(array_block(in), b);
  mproc__block_encode(array_block(out), b);
  mproc__target_encode(ref, b);
}

static int check_call(mproc_pool_t *p, mproc_array_fn fn, const mproc_array_t *in,
                      const mproc_array_t *out) {
  if (p == NULL || fn == NULL || in == NULL || out == NULL) {
    mproc__set_error_message("map_array: %s is NULL",
                             p == NULL ? "the pool" : fn == NULL ? "the function"
                                                    : in == NULL ? "the input array"
                                                                 : "the output array");
    return MPROC_EINVAL;
  }
  if (mproc_array_length(in) != mproc_array_length(out)) {
    mproc__set_error_message("map_array: the input array has %zu elements and the output %zu",
                             mproc_array_length(in), mproc_array_length(out));
    return MPROC_EINVAL;
  }
  if (p->remote) {
    mproc__set_error_message("map_array: this pool's workers are not local processes");
    return MPROC_ENOTSUP;
  }
  mproc__hub_lock(p->hub);
  int rc = p->closed || p->terminating ? MPROC_ECLOSED : p->broken ? MPROC_EBROKENPOOL : 0;
  mproc__hub_unlock(p->hub);
  return rc;
}

/* One argument list per sweep: the descriptor, the sweep's number, the caller's arguments. */
static int make_lists(const mp_buf *d, uint32_t nsweeps, const mproc_args_t *extra,
                      mproc_args_t **lists) {
  int rc = 0;
  for (uint32_t k = 0; k < nsweeps && rc == 0; k++) {
    rc = mproc_args_new(&lists[k]);
    if (rc == 0)
      rc = mproc_args_add_bytes(lists[k], d->data, d->len);
    if (rc == 0)
      rc = mproc_args_add_int(lists[k], (int64_t)k);
    if (rc == 0 && extra != NULL)
      rc = mproc__args_extend(lists[k], extra, 0);
  }
  return rc;
}

/* A failure of the sweep itself (its function, its worker's death or time limit), rather
 * than one it shared with the rest of the pool (cancelled, pool broken). */
static int own_failure(int st) { return st != MPROC_ECANCELED && st != MPROC_EBROKENPOOL; }

static void describe(mproc_result_t *r, uint32_t k, int st, const actl *ctl) {
  const char *m = mproc_result_error(r, k);
  int64_t b = MPROC__ATOMIC_LOAD(&ctl->rec[k].end, MPROC__ATOMIC_ACQUIRE);
  int64_t a = ctl->rec[k].start;
  char held[96] = "";
  if (st != MPROC_ETASKFAILED && b > a)
    snprintf(held, sizeof held, " (elements [%lld, %lld) were being written)", (long long)a,
             (long long)b);
  mproc__set_error_message("map_array: %s%s", m ? m : mproc_strerror(st), held);
}

/* The call's outcome from its sweeps: 0, or the failure that caused the others (the first
 * sweep's own failure, else the first failure), with its message. *settled is 1 when every
 * sweep has ended in a way that leaves no worker inside the control record. */
static int outcome(mproc_result_t *r, uint32_t nsweeps, const actl *ctl, int *settled) {
  int rc = mproc_result_wait(r, MPROC_FOREVER);
  *settled = rc == 0;
  if (rc != 0)
    return rc;
  uint32_t pick = nsweeps;
  for (uint32_t k = 0; k < nsweeps; k++) {
    int st = mproc_result_status(r, k);
    if (st != 0 && !own_failure(st))
      *settled = 0;
    if (st != 0 && (pick == nsweeps || (own_failure(st) && !own_failure(rc))))
      pick = k, rc = st;
  }
  if (pick < nsweeps)
    describe(r, pick, rc, ctl);
  return rc;
}

static int run(mproc_pool_t *p, const desc *d, const mp_buf *enc, const mproc_args_t *extra,
               const mproc_task_options *o, actl *ctl, int *settled) {
  mproc_args_t **lists = mproc__calloc(d->nsweeps, sizeof *lists);
  if (lists == NULL)
    return MPROC_ENOMEM;
  mproc_result_t *r = NULL;
  int rc = make_lists(enc, d->nsweeps, extra, lists);
  if (rc == 0)
    rc = mproc_pool_starmap_async(p, mproc__pool_array_sweep,
                                  (const mproc_args_t *const *)lists, d->nsweeps, o, &r);
  for (uint32_t k = 0; k < d->nsweeps; k++)
    mproc_args_free(lists[k]);
  mproc__free(lists);
  *settled = rc != 0;
  if (rc == 0) {
    rc = outcome(r, d->nsweeps, ctl, settled);
    if (rc != 0)
      MPROC__ATOMIC_STORE(&ctl->stop, 1, MPROC__ATOMIC_RELEASE);
  }
  mproc_result_free(r);
  return rc;
}

static int task_options(const mproc_task_options *opts, mproc_task_options *o) {
  memset(o, 0, sizeof *o);
  if (opts != NULL && mproc__task_read_options(o, opts) != 0) {
    mproc__set_error_message("map_array: the task options' size is not one this library knows");
    return MPROC_EINVAL;
  }
  return 0;
}

int mproc_pool_map_array(mproc_pool_t *p, mproc_array_fn fn, const mproc_array_t *in,
                         mproc_array_t *out, const mproc_args_t *args,
                         const mproc_task_options *opts) {
  mproc__clear_error_message();
  mproc_task_options o;
  int rc = check_call(p, fn, in, out);
  if (rc == 0)
    rc = task_options(opts, &o);
  if (rc != 0 || mproc_array_length(in) == 0)
    return rc;
  desc d = {mproc__os_getpid(), mproc_array_length(in), o.chunksize, mproc_array_elem_size(in),
            mproc_array_elem_size(out), data_offset(in), data_offset(out), 0};
  size_t procs = (size_t)p->nworkers;
  if (d.chunk == 0) /* Python's rule, as map's: ceil(n / (4 * processes)) */
    d.chunk = (d.n + 4 * procs - 1) / (4 * procs);
  uint64_t chunks = d.n / d.chunk + (d.n % d.chunk != 0);
  d.nsweeps = (uint32_t)(chunks < procs ? chunks : procs);
  /* Sweeps are items of their own: one per chunk of the starmap, no fail-fast (a sweep still
   * running must not outlive the call), and no callbacks on an internal result. */
  o.chunksize = 1;
  o.fail_fast = 0;
  o.callback = o.error_callback = NULL;
  o.progress = NULL;
  mp_target_ref *ref = mproc__malloc(sizeof *ref);
  mp_block cb = {0};
  mp_buf enc;
  mproc__buf_init(&enc);
  rc = ref == NULL ? MPROC_ENOMEM
                   : mproc__target_locate((mproc_target_fn)(void (*)(void))fn, ref);
  if (rc == 0)
    rc = mproc__heap_alloc(offsetof(actl, rec) + d.nsweeps * sizeof(sweep_rec), &cb);
  int settled = 1;
  if (rc == 0) {
    encode_desc(&d, &cb, in, out, ref, &enc);
    rc = enc.err ? enc.err : run(p, &d, &enc, args, &o, (actl *)cb.p, &settled);
  }
  /* A cancelled sweep may still be inside the record until its worker is gone: it is left. */
  if (settled)
    mproc__heap_free(&cb);
  mproc__buf_free(&enc);
  mproc__free(ref);
  return rc;
}

/* --- the worker's side ------------------------------------------------------------------------ */

/* Segments this worker keeps mapped between calls: one block reference each. */
static struct {
  mp_block blk[CACHE_SLOTS];
  uint64_t used[CACHE_SLOTS];
  uint64_t tick;
} g_cache;

/* Keeps b's segment mapped (taking b over: *b is then not to be freed), unless it already is. */
static int cache_keep(const mp_block *b) {
  size_t lru = 0;
  for (size_t i = 0; i < CACHE_SLOTS; i++) {
    if (g_cache.blk[i].seg == b->seg) {
      g_cache.used[i] = ++g_cache.tick;
      return 0;
    }
    if (g_cache.used[i] < g_cache.used[lru])
      lru = i;
  }
  mproc__heap_free(&g_cache.blk[lru]); /* the least recently used, never one of this call's */
  g_cache.blk[lru] = *b;
  g_cache.used[lru] = ++g_cache.tick;
  return 1;
}

/* A block of the owner's: mapped already (then no handle is taken), or through a handle
 * taken from the owner now. *owned: the caller frees it (0: the cache keeps it). */
static int take_block(mp_rd *r, int64_t owner, mp_block *out, int *owned) {
  mp_rd again = *r, peek = *r;
  os_handle none = OS_INVALID, taken = OS_INVALID;
  mp_hmap hm;
  memset(&hm, 0, sizeof hm);
  hm.actual = &none;
  hm.nactual = 1;
  int rc = mproc__block_decode(r, &hm, out);
  if (rc == MPROC_EPROTO && (rc = mproc__os_handle_take(owner, mproc__block_read_handle(&peek),
                                                        &taken)) == 0) {
    *r = again;
    memset(&hm, 0, sizeof hm);
    hm.actual = &taken;
    hm.nactual = 1;
    rc = mproc__block_decode(r, &hm, out);
    if (hm.nseen == 0)
      mproc__os_close(taken);
  }
  mproc__hmap_close_unclaimed(&hm);
  *owned = rc == 0 && !cache_keep(out);
  return rc;
}

static int decode_desc(mp_rd *r, desc *d) {
  if (mproc__get_u32(r) != DESC_MAGIC)
    return MPROC_EPROTO;
  d->owner = (int64_t)mproc__get_u64(r);
  d->n = mproc__get_u64(r);
  d->chunk = mproc__get_u64(r);
  d->in_elem = mproc__get_u64(r);
  d->out_elem = mproc__get_u64(r);
  d->in_off = mproc__get_u64(r);
  d->out_off = mproc__get_u64(r);
  d->nsweeps = mproc__get_u32(r);
  return r->err ? r->err : d->chunk == 0 ? MPROC_EPROTO : 0;
}

/* The blocks must hold what the descriptor says. */
static int blocks_fit(const desc *d, const mp_block *b) {
  if (d->in_elem == 0 || d->out_elem == 0)
    return MPROC_EPROTO;
  int ok = b[0].size >= offsetof(actl, rec) + d->nsweeps * sizeof(sweep_rec) &&
           d->in_off <= b[1].size && d->n <= (b[1].size - d->in_off) / d->in_elem &&
           d->out_off <= b[2].size && d->n <= (b[2].size - d->out_off) / d->out_elem;
  return ok ? 0 : MPROC_EPROTO;
}

typedef struct sweep {
  desc d;
  actl *ctl;
  const unsigned char *in;
  unsigned char *out;
  mproc_array_fn fn;
  const mproc_args_t *args;
} sweep;

static int run_range(const sweep *s, uint64_t a, uint64_t b) {
  int rc = s->fn(s->in + a * s->d.in_elem, s->out + a * s->d.out_elem, (size_t)a,
                 (size_t)(b - a), s->args);
  if (rc == 0)
    return 0;
  char msg[MSG_CAP];
  const char *why = mproc__pool_task_message();
  snprintf(msg, sizeof msg, "%s", why ? why : "");
  MPROC__ATOMIC_STORE(&s->ctl->stop, 1, MPROC__ATOMIC_RELEASE);
  return mproc_fail(rc, "the function returned %d for elements [%llu, %llu)%s%s", rc,
                    (unsigned long long)a, (unsigned long long)b, msg[0] ? ": " : "", msg);
}

/* Claims chunks until none is left (or a chunk failed); *done counts the elements run. */
static int claim_loop(const sweep *s, sweep_rec *rec, int64_t *done) {
  if (rec->end > rec->start) { /* an earlier run of this sweep died inside this range */
    int rc = run_range(s, (uint64_t)rec->start, (uint64_t)rec->end);
    if (rc != 0)
      return rc;
    *done += rec->end - rec->start;
    MPROC__ATOMIC_STORE(&rec->end, 0, MPROC__ATOMIC_RELEASE);
  }
  while (!MPROC__ATOMIC_LOAD(&s->ctl->stop, MPROC__ATOMIC_ACQUIRE)) {
    uint64_t a = (uint64_t)MPROC__ATOMIC_FETCH_ADD(&s->ctl->next, (int64_t)s->d.chunk,
                                                   MPROC__ATOMIC_ACQ_REL);
    if (a >= s->d.n)
      break;
    uint64_t b = s->d.n - a < s->d.chunk ? s->d.n : a + s->d.chunk;
    rec->start = (int64_t)a;
    MPROC__ATOMIC_STORE(&rec->end, (int64_t)b, MPROC__ATOMIC_RELEASE);
    int rc = run_range(s, a, b);
    if (rc != 0)
      return rc;
    MPROC__ATOMIC_STORE(&rec->end, 0, MPROC__ATOMIC_RELEASE);
    *done += (int64_t)(b - a);
  }
  return 0;
}

/* The function of the last call (resolving a reference looks at the module's code). */
static struct {
  mp_target_ref ref;
  mproc_array_fn fn;
} g_fn;

static int resolve(mp_rd *r, mproc_array_fn *fn) {
  mp_target_ref ref;
  int rc = mproc__target_decode(r, &ref);
  if (rc != 0)
    return rc;
  if (g_fn.fn != NULL && g_fn.ref.offset == ref.offset && g_fn.ref.hash == ref.hash &&
      strcmp(g_fn.ref.module, ref.module) == 0) {
    *fn = g_fn.fn;
    return 0;
  }
  mproc_target_fn t;
  if ((rc = mproc__target_resolve(&ref, &t)) != 0)
    return mproc_fail(rc, "the array function cannot be found in the worker");
  *fn = (mproc_array_fn)(void (*)(void))t;
  g_fn.ref = ref;
  g_fn.fn = *fn;
  return 0;
}

/* Runs sweep k; the function gets the call's own arguments (items 2.. of the sweep's). */
static int sweep_run(sweep *s, const mproc_args_t *args, int64_t k, mproc_args_t *result) {
  if (k < 0 || (uint64_t)k >= s->d.nsweeps)
    return MPROC_EPROTO;
  mproc_args_t *extra = NULL;
  int64_t done = 0;
  int rc = mproc_args_new(&extra);
  if (rc == 0)
    rc = mproc__args_extend(extra, args, 2);
  s->args = extra;
  if (rc == 0)
    rc = claim_loop(s, &s->ctl->rec[k], &done);
  if (rc == 0)
    rc = mproc_args_add_int(result, done);
  mproc_args_free(extra);
  return rc;
}

int mproc__pool_array_sweep(const mproc_args_t *args, mproc_args_t *result) {
  const void *data;
  size_t len;
  int64_t k;
  int rc = mproc_args_get_bytes(args, 0, &data, &len);
  if (rc == 0)
    rc = mproc_args_get_int(args, 1, &k);
  if (rc != 0)
    return rc;
  mp_rd r;
  mproc__rd_init(&r, data, len);
  sweep s;
  memset(&s, 0, sizeof s);
  mp_block b[3];
  int owned[3] = {0, 0, 0}, got = 0;
  rc = decode_desc(&r, &s.d);
  while (rc == 0 && got < 3) {
    rc = take_block(&r, s.d.owner, &b[got], &owned[got]);
    if (rc == 0)
      got++;
    else
      rc = mproc_fail(rc, "the worker cannot map the arrays of the calling process (%s)",
                      mproc_strerror(rc));
  }
  if (rc == 0 && (rc = blocks_fit(&s.d, b)) == 0 && (rc = resolve(&r, &s.fn)) == 0) {
    s.ctl = (actl *)b[0].p;
    s.in = (const unsigned char *)b[1].p + s.d.in_off;
    s.out = (unsigned char *)b[2].p + s.d.out_off;
    rc = sweep_run(&s, args, k, result);
  }
  for (int i = 0; i < got; i++)
    if (owned[i])
      mproc__heap_free(&b[i]);
  return rc;
}
