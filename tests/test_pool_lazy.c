/* SPDX-License-Identifier: MIT */
/* Pool: imap fed by a generator (bounded window), progress in items, and workers recycled by
 * memory. */
#include "test_pool.h"
#include "../src/atomics.h"

/* --- a generator of script items -------------------------------------------------------------- */

typedef struct gen_state {
  uint64_t n, next;   /* items to give, next index */
  int act;            /* pt_script action of every item ... */
  uint64_t special;   /* ... but this one (UINT64_MAX: none), which gets special_act */
  int special_act;
  int fail_at_rc;     /* returned instead of item n when nonzero (n is then where it fails) */
  uint64_t calls;
} gen_state;

static int gen_items(void *ud, mproc_args_t *item) {
  gen_state *g = ud;
  g->calls++;
  if (g->next >= g->n)
    return g->fail_at_rc ? g->fail_at_rc : MPROC_EEOF;
  uint64_t i = g->next++;
  int act = i == g->special ? g->special_act : g->act;
  return mproc_args_add_int(item, act * PT_ACT + (int64_t)(i % 1000));
}

static gen_state gen_of(uint64_t n, int act) {
  gen_state g = {n, 0, act, UINT64_MAX, 0, 0, 0};
  return g;
}

static int64_t square_of(uint64_t i) { return (int64_t)((i % 1000) * (i % 1000)); }

/* --- ordered and unordered --------------------------------------------------------------------- */

TEST(imap_gen_ordered, 120, ALL) {
  mproc_pool_t *pool = pt_pool(2, NULL);
  gen_state g = gen_of(3000, PT_SQUARE);
  mproc_task_options o = MPROC_TASK_OPTIONS_INIT;
  o.chunksize = 7;
  mproc_imap_t *it;
  ASSERT_OK(mproc_pool_imap_gen(pool, pt_script, gen_items, &g, &o, &it));
  ASSERT_EQ(g.calls, 0); /* nothing taken before the first next */
  for (uint64_t k = 0; k < 3000; k++) {
    mproc_args_t *v = NULL;
    uint64_t idx = UINT64_MAX;
    ASSERT_OK(mproc_imap_next(it, 60000, &v, &idx));
    ASSERT_EQ(idx, k);
    ASSERT_EQ(pt_int_at(v, 0), square_of(k));
    mproc_args_free(v);
  }
  ASSERT_RC(mproc_imap_next(it, 60000, NULL, NULL), MPROC_EEOF);
  ASSERT_RC(mproc_imap_next(it, 0, NULL, NULL), MPROC_EEOF);
  mproc_progress pr = MPROC_PROGRESS_INIT;
  ASSERT_OK(mproc_imap_progress(it, &pr));
  ASSERT_EQ(pr.done, 3000);
  ASSERT_EQ(pr.total, 3000);
  ASSERT_EQ(pr.total_known, 1);
  ASSERT_EQ(pr.failed, 0);
  ASSERT_EQ(pr.in_flight, 0);
  ASSERT_TRUE(pr.in_flight_max <= 4 * 2 * 7);
  mproc_imap_free(it);
  mproc_pool_free(pool);
}

TEST(imap_gen_unordered, 120, ALL) {
  mproc_pool_t *pool = pt_pool(3, NULL);
  enum { N = 2000 };
  gen_state g = gen_of(N, PT_SQUARE);
  mproc_task_options o = MPROC_TASK_OPTIONS_INIT;
  o.max_in_flight = 50;
  o.chunksize = 4;
  mproc_imap_t *it;
  ASSERT_OK(mproc_pool_imap_unordered_gen(pool, pt_script, gen_items, &g, &o, &it));
  static unsigned char seen[N];
  memset(seen, 0, sizeof seen);
  for (int k = 0; k < N; k++) {
    mproc_args_t *v = NULL;
    uint64_t idx = UINT64_MAX;
    ASSERT_OK(mproc_imap_next(it, 60000, &v, &idx));
    ASSERT_TRUE(idx < N && !seen[idx]);
    seen[idx] = 1;
    ASSERT_EQ(pt_int_at(v, 0), square_of(idx));
    mproc_args_free(v);
    mproc_progress pr = MPROC_PROGRESS_INIT;
    ASSERT_OK(mproc_imap_progress(it, &pr));
    ASSERT_TRUE(pr.in_flight <= 50);
  }
  ASSERT_RC(mproc_imap_next(it, 60000, NULL, NULL), MPROC_EEOF);
  mproc_progress pr = MPROC_PROGRESS_INIT;
  ASSERT_OK(mproc_imap_progress(it, &pr));
  ASSERT_TRUE(pr.in_flight_max <= 50);
  ASSERT_TRUE(pr.in_flight_max >= 12); /* a whole batch (3 workers x 4) went out at once */
  mproc_imap_free(it);
  mproc_pool_free(pool);
}

/* Ten million trivial items: the window holds, whatever the length (memory follows the
 * window: the items themselves are never all held). */
TEST(imap_gen_ten_million, 900, ONCE) {
#ifdef _WIN32
  const uint64_t n = 100000; /* Wine: every hub lock is a wineserver round trip */
#else
  const uint64_t n = 10000000;
#endif
  mproc_pool_t *pool = pt_pool(2, NULL);
  gen_state g = gen_of(n, PT_SQUARE);
  mproc_task_options o = MPROC_TASK_OPTIONS_INIT;
  o.chunksize = 2500;
  mproc_imap_t *it;
  ASSERT_OK(mproc_pool_imap_gen(pool, pt_script, gen_items, &g, &o, &it));
  uint64_t k = 0;
  int64_t sum_err = 0;
  for (;; k++) {
    mproc_args_t *v = NULL;
    uint64_t idx = 0;
    int rc = mproc_imap_next(it, 120000, &v, &idx);
    if (rc == MPROC_EEOF)
      break;
    ASSERT_OK(rc);
    if (idx != k || pt_int_at(v, 0) != square_of(k))
      sum_err++;
    mproc_args_free(v);
    if (k % 1000000 == 0) {
      mproc_progress pr = MPROC_PROGRESS_INIT;
      ASSERT_OK(mproc_imap_progress(it, &pr));
      ASSERT_TRUE(pr.in_flight <= 4 * 2 * 2500);
      ASSERT_TRUE(g.next - k <= 4 * 2 * 2500); /* the generator is never far ahead */
    }
  }
  ASSERT_EQ(sum_err, 0);
  ASSERT_EQ(k, n);
  mproc_progress pr = MPROC_PROGRESS_INIT;
  ASSERT_OK(mproc_imap_progress(it, &pr));
  printf("%llu items, in flight at most %llu, %.0f items/s\n", (unsigned long long)k,
         (unsigned long long)pr.in_flight_max, pr.items_per_s);
  ASSERT_TRUE(pr.in_flight_max <= 4 * 2 * 2500);
  ASSERT_EQ(pr.done, n);
  mproc_imap_free(it);
  mproc_pool_free(pool);
}

/* --- stopping early, errors --------------------------------------------------------------------- */

TEST(imap_gen_free_early, 120, ALL) {
  mproc_pool_t *pool = pt_pool(2, NULL);
  gen_state g = gen_of(UINT64_MAX, PT_SQUARE); /* endless */
  mproc_task_options o = MPROC_TASK_OPTIONS_INIT;
  o.max_in_flight = 16;
  for (int unordered = 0; unordered < 2; unordered++) {
    g.next = g.calls = 0;
    mproc_imap_t *it;
    ASSERT_OK(unordered ? mproc_pool_imap_unordered_gen(pool, pt_script, gen_items, &g, &o, &it)
                        : mproc_pool_imap_gen(pool, pt_script, gen_items, &g, &o, &it));
    for (int k = 0; k < 25; k++) {
      mproc_args_t *v = NULL;
      ASSERT_OK(mproc_imap_next(it, 60000, &v, NULL));
      mproc_args_free(v);
    }
    mproc_imap_free(it);
    ASSERT_TRUE(g.calls <= 25 + 16);
  }
  mproc_imap_free(NULL);
  /* the pool goes on */
  mproc_args_t *items = pt_items(10, PT_SQUARE, PT_INDEX, PT_NONE, 0, 0), *vals = NULL;
  ASSERT_OK(mproc_pool_map(pool, pt_script, items, NULL, &vals));
  ASSERT_EQ(mproc_args_count(vals), 10);
  mproc_args_free(vals);
  mproc_args_free(items);
  mproc_pool_free(pool);
}

TEST(imap_gen_generator_error, 120, ALL) {
  mproc_pool_t *pool = pt_pool(2, NULL);
  gen_state g = gen_of(100, PT_SQUARE);
  g.fail_at_rc = MPROC_ENOSPC;
  mproc_imap_t *it;
  ASSERT_OK(mproc_pool_imap_gen(pool, pt_script, gen_items, &g, NULL, &it));
  for (uint64_t k = 0; k < 100; k++) {
    uint64_t idx = UINT64_MAX;
    ASSERT_OK(mproc_imap_next(it, 60000, NULL, &idx));
    ASSERT_EQ(idx, k);
  }
  ASSERT_RC(mproc_imap_next(it, 60000, NULL, NULL), MPROC_ENOSPC);
  ASSERT_RC(mproc_imap_next(it, 60000, NULL, NULL), MPROC_EEOF);
  ASSERT_EQ(g.calls, 101); /* never called again after it failed */
  mproc_imap_free(it);
  mproc_pool_free(pool);
}

TEST(imap_gen_item_failure, 120, ALL) {
  mproc_pool_t *pool = pt_pool(2, NULL);
  gen_state g = gen_of(40, PT_SQUARE);
  g.special = 17;
  g.special_act = PT_FAIL;
  mproc_imap_t *it;
  ASSERT_OK(mproc_pool_imap_gen(pool, pt_script, gen_items, &g, NULL, &it));
  for (uint64_t k = 0; k < 40; k++) {
    mproc_args_t *v = NULL;
    uint64_t idx = UINT64_MAX;
    int rc = mproc_imap_next(it, 60000, &v, &idx);
    ASSERT_EQ(idx, k);
    if (k == 17) {
      ASSERT_RC(rc, MPROC_ETASKFAILED);
      ASSERT_TRUE(v == NULL);
      ASSERT_TRUE(mproc_imap_error(it) && strstr(mproc_imap_error(it), "bad item 17"));
    } else {
      ASSERT_OK(rc);
      ASSERT_TRUE(mproc_imap_error(it) == NULL);
      mproc_args_free(v);
    }
  }
  ASSERT_RC(mproc_imap_next(it, 60000, NULL, NULL), MPROC_EEOF);
  mproc_progress pr = MPROC_PROGRESS_INIT;
  ASSERT_OK(mproc_imap_progress(it, &pr));
  ASSERT_EQ(pr.done, 40);
  ASSERT_EQ(pr.failed, 1);
  mproc_imap_free(it);
  mproc_pool_free(pool);
}

static int never_cb(mproc_result_t *r, void *ctx) {
  (void)r;
  (void)ctx;
  return 0;
}

TEST(imap_gen_bad_arguments, 60, ONCE) {
  mproc_pool_t *pool = pt_pool(1, NULL);
  gen_state g = gen_of(1, PT_SQUARE);
  mproc_imap_t *it = (mproc_imap_t *)&g;
  mproc_task_options o = MPROC_TASK_OPTIONS_INIT;
  o.callback = never_cb;
  ASSERT_RC(mproc_pool_imap_gen(pool, pt_script, gen_items, &g, &o, &it), MPROC_EINVAL);
  ASSERT_TRUE(it == NULL);
  o.callback = NULL;
  o.fail_fast = 1;
  ASSERT_RC(mproc_pool_imap_unordered_gen(pool, pt_script, gen_items, &g, &o, &it),
            MPROC_EINVAL);
  ASSERT_RC(mproc_pool_imap_gen(pool, pt_script, NULL, &g, NULL, &it), MPROC_EINVAL);
  ASSERT_RC(mproc_pool_imap_gen(NULL, pt_script, gen_items, &g, NULL, &it), MPROC_EINVAL);
  ASSERT_RC(mproc_pool_imap_gen(pool, pt_script, gen_items, &g, NULL, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_imap_next(NULL, 0, NULL, NULL), MPROC_EINVAL);
  /* a closed pool: the first next reports it */
  ASSERT_OK(mproc_pool_imap_gen(pool, pt_script, gen_items, &g, NULL, &it));
  ASSERT_OK(mproc_pool_close(pool));
  ASSERT_RC(mproc_imap_next(it, 1000, NULL, NULL), MPROC_ECLOSED);
  ASSERT_RC(mproc_imap_next(it, 1000, NULL, NULL), MPROC_EEOF);
  mproc_imap_free(it);
  mproc_pool_free(pool);
}

/* --- progress ------------------------------------------------------------------------------------ */

typedef struct prog_log {
  volatile long calls, finals, bad_thread, decreasing;
  volatile long last_done, last_failed, last_total;
  uint64_t thread; /* where the callback must run */
  int check_thread_is; /* 1: must be `thread`; 0: must not be */
} prog_log;

static void on_progress(const mproc_progress *pr, void *ctx) {
  prog_log *l = ctx;
  pt_atomic_add(&l->calls, 1);
  if ((pt_thread_id() == l->thread) != l->check_thread_is)
    pt_atomic_add(&l->bad_thread, 1);
  if ((long)pr->done < pt_atomic_load(&l->last_done))
    pt_atomic_add(&l->decreasing, 1);
  MPROC__ATOMIC_STORE(&l->last_done, (long)pr->done, MPROC__ATOMIC_SEQ_CST);
  MPROC__ATOMIC_STORE(&l->last_failed, (long)pr->failed, MPROC__ATOMIC_SEQ_CST);
  MPROC__ATOMIC_STORE(&l->last_total, (long)pr->total, MPROC__ATOMIC_SEQ_CST);
  if (pr->total_known && pr->done == pr->total)
    pt_atomic_add(&l->finals, 1);
}

TEST(progress_map_callback, 120, ALL) {
  mproc_pool_t *pool = pt_pool(2, NULL);
  enum { N = 400 };
  mproc_args_t *items; /* 1 ms each; every 50th item fails */
  ASSERT_OK(mproc_args_new(&items));
  for (int i = 0; i < N; i++)
    ASSERT_OK(mproc_args_add_int(items, (i % 50 == 7 ? PT_FAIL : PT_SLEEP) * PT_ACT + 1));
  prog_log l;
  memset(&l, 0, sizeof l);
  l.thread = pt_thread_id();
  l.check_thread_is = 0; /* the pool's thread, not this one */
  mproc_task_options o = MPROC_TASK_OPTIONS_INIT;
  o.chunksize = 5;
  o.progress = on_progress;
  o.progress_interval_ms = 20;
  o.ctx = &l;
  mproc_result_t *res;
  ASSERT_OK(mproc_pool_map_async(pool, pt_script, items, &o, &res));
  mproc_progress pr = MPROC_PROGRESS_INIT;
  ASSERT_OK(mproc_result_progress_info(res, &pr));
  ASSERT_EQ(pr.total, N);
  ASSERT_TRUE(pr.done <= N);
  ASSERT_RC(mproc_result_get(res, 60000, NULL), MPROC_ETASKFAILED);
  ASSERT_OK(mproc_result_progress_info(res, &pr));
  ASSERT_EQ(pr.done, N);
  ASSERT_EQ(pr.failed, N / 50);
  ASSERT_EQ(pr.in_flight, 0);
  ASSERT_EQ(pr.size, sizeof pr);
  /* the last call was made before the result became ready */
  ASSERT_EQ(pt_atomic_load(&l.finals), 1);
  ASSERT_EQ(pt_atomic_load(&l.last_done), N);
  ASSERT_EQ(pt_atomic_load(&l.last_failed), N / 50);
  ASSERT_EQ(pt_atomic_load(&l.last_total), N);
  ASSERT_TRUE(pt_atomic_load(&l.calls) >= 1);
  ASSERT_EQ(pt_atomic_load(&l.bad_thread), 0);
  ASSERT_EQ(pt_atomic_load(&l.decreasing), 0);
  mproc_result_free(res);
  /* the blocking map takes the same option */
  memset(&l, 0, sizeof l);
  l.thread = pt_thread_id();
  mproc_args_t *vals = NULL;
  ASSERT_RC(mproc_pool_map(pool, pt_script, items, &o, &vals), MPROC_ETASKFAILED);
  ASSERT_EQ(pt_atomic_load(&l.finals), 1);
  mproc_args_free(vals);
  mproc_args_free(items);
  mproc_pool_free(pool);
}

/* Items count as they end, not when their chunk comes back: one chunk of three items, the
 * first succeeds, the second fails, the third runs for a minute. Progress must say 2 done,
 * 1 failed while that chunk is still at the worker. */
TEST(progress_counts_items_inside_chunk, 120, ALL) {
  mproc_pool_t *pool = pt_pool(1, NULL);
  mproc_args_t *items;
  ASSERT_OK(mproc_args_new(&items));
  ASSERT_OK(mproc_args_add_int(items, PT_SQUARE * PT_ACT + 3));
  ASSERT_OK(mproc_args_add_int(items, PT_FAIL * PT_ACT + 1));
  ASSERT_OK(mproc_args_add_int(items, PT_SLEEP * PT_ACT + 60000));
  prog_log l;
  memset(&l, 0, sizeof l);
  l.thread = pt_thread_id();
  mproc_task_options o = MPROC_TASK_OPTIONS_INIT;
  o.chunksize = 3; /* one chunk */
  o.progress = on_progress;
  o.progress_interval_ms = 10;
  o.ctx = &l;
  mproc_result_t *res;
  ASSERT_OK(mproc_pool_map_async(pool, pt_script, items, &o, &res));
  for (int i = 0; i < 6000 && pt_atomic_load(&l.last_done) < 2; i++)
    t_sleep_ms(10);
  ASSERT_EQ(pt_atomic_load(&l.last_done), 2);
  ASSERT_EQ(pt_atomic_load(&l.last_failed), 1);
  ASSERT_EQ(pt_atomic_load(&l.last_total), 3);
  ASSERT_EQ(mproc_result_ready(res), 0); /* the chunk is still running */
  ASSERT_EQ(pt_atomic_load(&l.decreasing), 0);
  ASSERT_EQ(pt_atomic_load(&l.bad_thread), 0);
  ASSERT_OK(mproc_pool_terminate(pool));
  ASSERT_TRUE(mproc_result_get(res, 60000, NULL) != 0);
  mproc_result_free(res);
  mproc_args_free(items);
  mproc_pool_free(pool);
}

TEST(progress_imap_gen_callback, 120, ALL) {
  mproc_pool_t *pool = pt_pool(2, NULL);
  gen_state g = gen_of(500, PT_SQUARE);
  prog_log l;
  memset(&l, 0, sizeof l);
  l.thread = pt_thread_id();
  l.check_thread_is = 1; /* the thread calling next */
  mproc_task_options o = MPROC_TASK_OPTIONS_INIT;
  o.progress = on_progress;
  o.progress_interval_ms = 1;
  o.ctx = &l;
  mproc_imap_t *it;
  ASSERT_OK(mproc_pool_imap_unordered_gen(pool, pt_script, gen_items, &g, &o, &it));
  int rc;
  while ((rc = mproc_imap_next(it, 60000, NULL, NULL)) == 0)
    ;
  ASSERT_RC(rc, MPROC_EEOF);
  /* calls after the generator ended may already show everything done; the last one does */
  ASSERT_TRUE(pt_atomic_load(&l.finals) >= 1);
  ASSERT_EQ(pt_atomic_load(&l.last_done), 500);
  ASSERT_EQ(pt_atomic_load(&l.bad_thread), 0);
  mproc_imap_free(it);
  mproc_pool_free(pool);
}

TEST(progress_bad_arguments, 60, ONCE) {
  mproc_progress pr = MPROC_PROGRESS_INIT;
  ASSERT_RC(mproc_result_progress_info(NULL, &pr), MPROC_EINVAL);
  ASSERT_RC(mproc_imap_progress(NULL, &pr), MPROC_EINVAL);
  mproc_pool_t *pool = pt_pool(1, NULL);
  mproc_args_t *args = pt_items(1, PT_SQUARE, 3, PT_NONE, 0, 0);
  mproc_result_t *res;
  ASSERT_OK(mproc_pool_apply_async(pool, pt_script, args, NULL, &res));
  ASSERT_RC(mproc_result_progress_info(res, NULL), MPROC_EINVAL);
  /* a caller's struct from an older, smaller layout is written only up to its size */
  struct {
    mproc_progress pr;
    unsigned char guard[8];
  } small;
  memset(&small, 0xab, sizeof small);
  small.pr.size = offsetof(mproc_progress, total);
  ASSERT_OK(mproc_result_wait(res, 60000));
  ASSERT_OK(mproc_result_progress_info(res, &small.pr));
  ASSERT_EQ(small.pr.done, 1);
  ASSERT_EQ(small.pr.size, offsetof(mproc_progress, total));
  ASSERT_EQ(((unsigned char *)&small.pr)[offsetof(mproc_progress, total)], 0xab);
  mproc_result_free(res);
  mproc_args_free(args);
  mproc_pool_free(pool);
}

/* --- recycling by memory ------------------------------------------------------------------------ */

#define LEAK_BYTES ((size_t)64 << 20)

/* Leaks 64 MiB on purpose (touched, so it is resident) when the item is nonzero; adds the
 * worker's pid. */
static int leak_task(const mproc_args_t *args, mproc_args_t *result) {
  int64_t leak = 0;
  int rc = mproc_args_get_int(args, 0, &leak);
  if (rc != 0)
    return rc;
  if (leak) {
    volatile unsigned char *p = malloc(LEAK_BYTES);
    if (p == NULL)
      return mproc_fail(5, "malloc failed");
    for (size_t i = 0; i < LEAK_BYTES; i += 4096)
      p[i] = 1;
  }
  return mproc_args_add_int(result, mproc_current_pid());
}

static size_t distinct_pids(mproc_pool_t *pool, int leak, int n) {
  int64_t pids[16];
  size_t np = 0;
  mproc_args_t *one;
  ASSERT_OK(mproc_args_build(&one, "i", leak));
  for (int i = 0; i < n; i++) {
    mproc_args_t *v = NULL;
    ASSERT_OK(mproc_pool_apply(pool, leak_task, one, NULL, &v));
    int64_t pid = pt_int_at(v, 0);
    mproc_args_free(v);
    size_t k = 0;
    while (k < np && pids[k] != pid)
      k++;
    if (k == np && np < 16)
      pids[np++] = pid;
  }
  mproc_args_free(one);
  return np;
}

TEST(max_memory_per_child, 180, ALL) {
  mproc_pool_options po = MPROC_POOL_OPTIONS_INIT;
  po.processes = 1;
  po.max_memory_per_child = (uint64_t)192 << 20;
  mproc_pool_t *pool = pt_pool(1, &po);
  /* no growth: one worker does everything */
  ASSERT_EQ(distinct_pids(pool, 0, 6), 1);
  uint64_t started = mproc_pool_workers_started(pool);
  /* 64 MiB a task: a worker passes 192 MiB within a few tasks and is replaced */
  size_t n = distinct_pids(pool, 1, 6);
  ASSERT_TRUE(n >= 2);
  ASSERT_TRUE(mproc_pool_workers_started(pool) > started);
  mproc_pool_free(pool);
}
