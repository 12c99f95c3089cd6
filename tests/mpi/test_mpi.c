/* SPDX-License-Identifier: MIT */
/* The MPI pool under mpiexec: each case is one run of `mpiexec -n N test_mpi <case>`. Rank 0
 * runs the case; the other ranks serve it from inside mproc_main. A case prints what failed
 * and exits nonzero; results are compared with a serial run in rank 0. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mproc.h>
#include <mproc_mpi.h>
#include "../../src/atomics.h"

#define CHECK(cond)                                                                       \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);            \
      return 1;                                                                           \
    }                                                                                     \
  } while (0)
#define CHECK_RC(expr)                                                                    \
  do {                                                                                    \
    int rc_ = (expr);                                                                     \
    if (rc_ != 0) {                                                                       \
      fprintf(stderr, "%s:%d: %s = %s\n", __FILE__, __LINE__, #expr, mproc_errname(rc_)); \
      return 1;                                                                           \
    }                                                                                     \
  } while (0)

static int64_t square_of(int64_t x) { return x * x + 7; }

/* --- tasks (run on the ranks) -------------------------------------------------------------- */

static int square(const mproc_args_t *args, mproc_args_t *result) {
  int64_t x;
  int rc = mproc_args_get_int(args, 0, &x);
  return rc ? rc : mproc_args_add_int(result, square_of(x));
}

/* str in, "<rank>:" prefix-free str out: the tagged (non-numeric) path. */
static int shout(const mproc_args_t *args, mproc_args_t *result) {
  const char *s;
  int rc = mproc_args_get_str(args, 0, &s);
  if (rc)
    return rc;
  char buf[64];
  snprintf(buf, sizeof buf, "<%s>", s);
  return mproc_args_add_str(result, buf);
}

static int add2(const mproc_args_t *args, mproc_args_t *result) {
  int64_t a, b;
  int rc = mproc_args_parse(args, "ll", &a, &b);
  return rc ? rc : mproc_args_add_int(result, a + b);
}

/* Fails every item divisible by 10 with code 3 and a message naming it. */
static int picky(const mproc_args_t *args, mproc_args_t *result) {
  int64_t x;
  mproc_args_get_int(args, 0, &x);
  if (x % 10 == 0)
    return mproc_fail(3, "no multiples of ten: %lld", (long long)x);
  return mproc_args_add_int(result, x);
}

/* Item 5 sleeps far past the time limit; the others return at once. */
static int slow_five(const mproc_args_t *args, mproc_args_t *result) {
  int64_t x;
  mproc_args_get_int(args, 0, &x);
  if (x == 5) {
    struct timespec ts = {3, 0};
    nanosleep(&ts, NULL);
  }
  return mproc_args_add_int(result, x);
}

static int64_t g_init_value; /* set by the initializer in each rank */

static int init_rank(const mproc_args_t *args) {
  return mproc_args_get_int(args, 0, &g_init_value);
}

static int read_init(const mproc_args_t *args, mproc_args_t *result) {
  (void)args;
  int rank;
  mproc_mpi_world(&rank, NULL);
  int rc = mproc_args_add_int(result, g_init_value);
  return rc ? rc : mproc_args_add_int(result, rank);
}

static int which_rank(const mproc_args_t *args, mproc_args_t *result) {
  (void)args;
  int rank;
  mproc_mpi_world(&rank, NULL);
  return mproc_args_add_int(result, rank);
}

/* Sleeps 20 ms (long enough that chunks spread over the ranks), returns its rank. */
static int nap_rank(const mproc_args_t *args, mproc_args_t *result) {
  struct timespec ts = {0, 20000000};
  nanosleep(&ts, NULL);
  return which_rank(args, result);
}

/* --- helpers --------------------------------------------------------------------------------- */

/* An MPI pool: every rank, then rank 0's local processes (the ones with pids). */
static int new_pool(mproc_pool_t **pool, const mproc_pool_options *opts) {
  CHECK_RC(mproc_mpi_pool_new(pool, opts));
  int size;
  mproc_mpi_world(NULL, &size);
  CHECK(mproc_mpi_pool_is_mpi(*pool) == (size > 1));
  int n = mproc_pool_processes(*pool), want = opts ? opts->processes : 0;
  if (size == 1)
    CHECK(n == (want ? want : mproc_cpu_count_usable()));
  else if (want > 0)
    CHECK(n == want);
  else
    CHECK(n >= size - 1);
  size_t pids = 0;
  CHECK_RC(mproc_pool_pids(*pool, NULL, 0, &pids));
  CHECK(size == 1 || (int)pids == (n > size - 1 ? n - (size - 1) : 0));
  return 0;
}

static int end_pool(mproc_pool_t *pool) {
  CHECK_RC(mproc_pool_close(pool));
  CHECK_RC(mproc_pool_join(pool, 60000));
  mproc_pool_free(pool);
  return 0;
}

static int ints(mproc_args_t **out, int64_t n) {
  CHECK_RC(mproc_args_new(out));
  for (int64_t i = 0; i < n; i++)
    CHECK_RC(mproc_args_add_int(*out, i));
  return 0;
}

/* --- cases ------------------------------------------------------------------------------------ */

static int case_map_serial(void) {
  mproc_pool_t *pool;
  if (new_pool(&pool, NULL))
    return 1;
  const int64_t n = 100000;
  mproc_args_t *items;
  if (ints(&items, n))
    return 1;
  const size_t sizes[] = {0, 1, 7, 1000, 100000};
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    mproc_task_options o = {0};
    o.chunksize = sizes[s];
    mproc_args_t *res;
    int64_t m = sizes[s] == 1 ? 20000 : n; /* one chunk per item: keep the CI's time small */
    mproc_args_t *part = items;
    if (m != n && ints(&part, m))
      return 1;
    CHECK_RC(mproc_pool_map(pool, square, part, &o, &res));
    CHECK(mproc_args_count(res) == (size_t)m);
    for (int64_t i = 0; i < m; i++) {
      int64_t v;
      CHECK_RC(mproc_args_get_int(res, (size_t)i, &v));
      if (v != square_of(i)) {
        fprintf(stderr, "chunksize %zu: item %lld is %lld\n", sizes[s], (long long)i,
                (long long)v);
        return 1;
      }
    }
    mproc_args_free(res);
    if (part != items)
      mproc_args_free(part);
  }
  mproc_args_free(items);
  return end_pool(pool);
}

static int case_typed(void) {
  mproc_pool_t *pool;
  if (new_pool(&pool, NULL))
    return 1;
  mproc_args_t *items, *res;
  CHECK_RC(mproc_args_new(&items));
  for (int i = 0; i < 1000; i++) {
    char s[32];
    snprintf(s, sizeof s, "w%d", i);
    CHECK_RC(mproc_args_add_str(items, s));
  }
  mproc_task_options o = {0};
  o.chunksize = 13;
  CHECK_RC(mproc_pool_map(pool, shout, items, &o, &res));
  for (int i = 0; i < 1000; i++) {
    const char *s;
    char want[40];
    snprintf(want, sizeof want, "<w%d>", i);
    CHECK_RC(mproc_args_get_str(res, (size_t)i, &s));
    CHECK(strcmp(s, want) == 0);
  }
  mproc_args_free(res);
  mproc_args_free(items);
  /* starmap */
  mproc_args_t *lists[50];
  for (int i = 0; i < 50; i++)
    CHECK_RC(mproc_args_build(&lists[i], "ll", (int64_t)i, (int64_t)(1000 * i)));
  CHECK_RC(mproc_pool_starmap(pool, add2, (const mproc_args_t *const *)lists, 50, NULL, &res));
  for (int i = 0; i < 50; i++) {
    int64_t v;
    CHECK_RC(mproc_args_get_int(res, (size_t)i, &v));
    CHECK(v == 1001 * i);
    mproc_args_free(lists[i]);
  }
  mproc_args_free(res);
  /* imap in order, imap_unordered: every index once */
  mproc_args_t *in;
  if (ints(&in, 500))
    return 1;
  mproc_result_t *it;
  CHECK_RC(mproc_pool_imap(pool, square, in, NULL, &it));
  for (int64_t i = 0;; i++) {
    mproc_args_t *v;
    size_t idx;
    int rc = mproc_result_next(it, 30000, &v, &idx);
    if (rc == MPROC_EEOF) {
      CHECK(i == 500);
      break;
    }
    CHECK_RC(rc);
    int64_t x;
    CHECK_RC(mproc_args_get_int(v, 0, &x));
    CHECK(idx == (size_t)i && x == square_of(i));
    mproc_args_free(v);
  }
  mproc_result_free(it);
  CHECK_RC(mproc_pool_imap_unordered(pool, square, in, NULL, &it));
  char seen[500] = {0};
  for (int k = 0; k < 500; k++) {
    mproc_args_t *v;
    size_t idx;
    CHECK_RC(mproc_result_next(it, 30000, &v, &idx));
    CHECK(idx < 500 && !seen[idx]);
    seen[idx] = 1;
    mproc_args_free(v);
  }
  CHECK(mproc_result_next(it, 30000, NULL, NULL) == MPROC_EEOF);
  mproc_result_free(it);
  mproc_args_free(in);
  return end_pool(pool);
}

static int case_errors(void) {
  mproc_pool_t *pool;
  if (new_pool(&pool, NULL))
    return 1;
  mproc_args_t *items, *res;
  if (ints(&items, 1000))
    return 1;
  mproc_task_options o = {0};
  o.chunksize = 9;
  mproc_result_t *r;
  CHECK_RC(mproc_pool_map_async(pool, picky, items, &o, &r));
  CHECK(mproc_result_get(r, 60000, &res) == MPROC_ETASKFAILED);
  CHECK(mproc_result_successful(r) == 0);
  for (int64_t i = 0; i < 1000; i++) {
    if (i % 10 == 0) {
      char want[64];
      snprintf(want, sizeof want, "no multiples of ten: %lld", (long long)i);
      CHECK(mproc_result_status(r, (size_t)i) == MPROC_ETASKFAILED);
      CHECK(mproc_result_task_code(r, (size_t)i) == 3);
      CHECK(mproc_result_error(r, (size_t)i) != NULL);
      CHECK(strcmp(mproc_result_error(r, (size_t)i), want) == 0);
      CHECK(mproc_args_type(res, (size_t)i) == MPROC_ARG_NONE);
    } else {
      int64_t v;
      CHECK(mproc_result_status(r, (size_t)i) == 0);
      CHECK_RC(mproc_args_get_int(res, (size_t)i, &v));
      CHECK(v == i);
    }
  }
  mproc_args_free(res);
  mproc_result_free(r);
  mproc_args_free(items);
  return end_pool(pool);
}

static int case_timeout(void) {
  mproc_pool_t *pool;
  int size;
  mproc_mpi_world(NULL, &size);
  mproc_pool_options ranks_only = {0};
  ranks_only.processes = size > 1 ? size - 1 : 0; /* what happens to ranks, not local ones */
  if (new_pool(&pool, &ranks_only))
    return 1;
  mproc_args_t *items, *res;
  if (ints(&items, 40))
    return 1;
  mproc_task_options o = {0};
  o.task_timeout_ms = 500;
  mproc_result_t *r;
  CHECK_RC(mproc_pool_map_async(pool, slow_five, items, &o, &r));
  int rc = mproc_result_get(r, 60000, &res);
  CHECK(rc == MPROC_ETASKTIMEOUT);
  CHECK(mproc_result_status(r, 5) == MPROC_ETASKTIMEOUT);
  CHECK(mproc_result_error(r, 5) != NULL);
  /* Items the lost rank held go to the others; with no other rank (2 ranks: one worker) the
   * pool is broken instead and they fail, so the caller does not wait on a rank that may never
   * come back. */
  for (int64_t i = 0; i < 40; i++) {
    if (i == 5)
      continue;
    int64_t v;
    int st = mproc_result_status(r, (size_t)i);
    if (size == 2 && i > 5 && st == MPROC_EBROKENPOOL)
      continue;
    CHECK(st == 0);
    CHECK_RC(mproc_args_get_int(res, (size_t)i, &v));
    CHECK(v == i);
  }
  mproc_args_free(res);
  mproc_result_free(r);
  /* With one rank of two lost the pool goes on, and the lost one comes back once its task
   * returns: both serve again. With one of one the pool is broken. */
  if (size > 2) {
    mproc_args_t *more;
    CHECK_RC(mproc_pool_map(pool, square, items, NULL, &more));
    mproc_args_free(more);
    int seen = 0;
    mproc_args_t *ten;
    if (ints(&ten, 10))
      return 1;
    mproc_task_options one = {0};
    one.chunksize = 1;
    for (int k = 0; k < 100 && seen != (1 << size) - 2; k++) {
      mproc_args_t *v;
      CHECK_RC(mproc_pool_map(pool, nap_rank, ten, &one, &v));
      for (size_t j = 0; j < 10; j++) {
        int64_t rank;
        CHECK_RC(mproc_args_get_int(v, j, &rank));
        seen |= 1 << rank;
      }
      mproc_args_free(v);
    }
    CHECK(seen == (1 << size) - 2);
    mproc_args_free(ten);
  } else {
    mproc_args_t *more = NULL;
    CHECK(mproc_pool_map(pool, square, items, NULL, &more) == MPROC_EBROKENPOOL);
    mproc_args_free(more);
  }
  mproc_args_free(items);
  return end_pool(pool);
}

static int g_ok, g_err;
static int on_ok(mproc_result_t *r, void *ctx) {
  (void)r;
  (void)ctx;
  MPROC__ATOMIC_ADD_FETCH(&g_ok, 1, MPROC__ATOMIC_SEQ_CST);
  return 0;
}
static int on_err(mproc_result_t *r, void *ctx) {
  (void)ctx;
  if (mproc_result_successful(r) == 0)
    MPROC__ATOMIC_ADD_FETCH(&g_err, 1, MPROC__ATOMIC_SEQ_CST);
  return 0;
}

static int g_progress_mid; /* progress calls before the end of their map */
static void on_progress(const mproc_progress *pr, void *ctx) {
  (void)ctx;
  if (pr->done < pr->total)
    MPROC__ATOMIC_ADD_FETCH(&g_progress_mid, 1, MPROC__ATOMIC_SEQ_CST);
}

static int case_callbacks(void) {
  mproc_pool_t *pool;
  if (new_pool(&pool, NULL))
    return 1;
  mproc_task_options o = {0};
  o.callback = on_ok;
  o.error_callback = on_err;
  mproc_result_t *rs[40];
  for (int i = 0; i < 40; i++) {
    mproc_args_t *a;
    CHECK_RC(mproc_args_build(&a, "l", (int64_t)i));
    CHECK_RC(mproc_pool_apply_async(pool, picky, a, &o, &rs[i]));
    mproc_args_free(a);
  }
  for (int i = 0; i < 40; i++) {
    mproc_args_t *v = NULL;
    int rc = mproc_result_get(rs[i], 60000, &v);
    CHECK(rc == (i % 10 == 0 ? MPROC_ETASKFAILED : 0));
    if (rc == 0) {
      int64_t x;
      CHECK_RC(mproc_args_get_int(v, 0, &x));
      CHECK(x == i);
    }
    mproc_args_free(v);
    mproc_result_free(rs[i]);
  }
  CHECK(MPROC__ATOMIC_LOAD(&g_ok, MPROC__ATOMIC_SEQ_CST) == 36);
  CHECK(MPROC__ATOMIC_LOAD(&g_err, MPROC__ATOMIC_SEQ_CST) == 4);
  /* apply: every value the task added, and progress */
  mproc_args_t *none, *v;
  CHECK_RC(mproc_args_new(&none));
  CHECK_RC(mproc_pool_apply(pool, which_rank, none, NULL, &v));
  int64_t rank;
  CHECK_RC(mproc_args_get_int(v, 0, &rank));
  int size;
  mproc_mpi_world(NULL, &size);
  CHECK(rank >= 0 && rank < size); /* 0: one of rank 0's local processes */
  mproc_args_free(v);
  mproc_args_free(none);
  mproc_args_t *items;
  if (ints(&items, 2000))
    return 1;
  mproc_result_t *r;
  CHECK_RC(mproc_pool_map_async(pool, square, items, &o, &r));
  CHECK_RC(mproc_result_wait(r, 60000));
  size_t done, total;
  CHECK_RC(mproc_result_progress(r, &done, &total));
  CHECK(done == 2000 && total == 2000);
  CHECK(MPROC__ATOMIC_LOAD(&g_ok, MPROC__ATOMIC_SEQ_CST) == 37);
  mproc_result_free(r);
  mproc_args_free(items);
  /* progress while a map runs (20 ms items, one per chunk: it takes well over 10 ms) */
  if (ints(&items, 20))
    return 1;
  mproc_task_options po = MPROC_TASK_OPTIONS_INIT;
  po.chunksize = 1;
  po.progress = on_progress;
  po.progress_interval_ms = 10;
  CHECK_RC(mproc_pool_map_async(pool, nap_rank, items, &po, &r));
  CHECK_RC(mproc_result_get(r, 60000, NULL));
  mproc_result_free(r);
  CHECK(MPROC__ATOMIC_LOAD(&g_progress_mid, MPROC__ATOMIC_SEQ_CST) > 0);
  mproc_args_free(items);
  return end_pool(pool);
}

static int case_empty(void) {
  mproc_pool_t *pool;
  if (new_pool(&pool, NULL))
    return 1;
  mproc_args_t *items, *res;
  CHECK_RC(mproc_args_new(&items));
  CHECK_RC(mproc_pool_map(pool, square, items, NULL, &res));
  CHECK(mproc_args_count(res) == 0);
  mproc_args_free(res);
  mproc_task_options o = {0};
  o.callback = on_ok;
  mproc_result_t *r;
  CHECK_RC(mproc_pool_map_async(pool, square, items, &o, &r));
  CHECK_RC(mproc_result_get(r, 30000, &res));
  CHECK(mproc_args_count(res) == 0 && MPROC__ATOMIC_LOAD(&g_ok, MPROC__ATOMIC_SEQ_CST) == 1);
  mproc_args_free(res);
  mproc_result_free(r);
  CHECK_RC(mproc_pool_imap(pool, square, items, NULL, &r));
  CHECK(mproc_result_next(r, 30000, NULL, NULL) == MPROC_EEOF);
  mproc_result_free(r);
  mproc_args_free(items);
  return end_pool(pool);
}

/* A local Pool and the MPI Pool in one program, at the same time; then a second MPI pool with
 * an initializer after the first ended, and terminate with work outstanding. */
static int case_local_and_mpi(void) {
  mproc_pool_t *local, *mpi;
  mproc_pool_options lo = {0};
  lo.processes = 2;
  CHECK_RC(mproc_pool_new(&local, &lo));
  if (new_pool(&mpi, NULL))
    return 1;
  mproc_args_t *items, *a, *b;
  if (ints(&items, 30000))
    return 1;
  mproc_result_t *ra;
  CHECK_RC(mproc_pool_map_async(mpi, square, items, NULL, &ra));
  CHECK_RC(mproc_pool_map(local, square, items, NULL, &b));
  CHECK_RC(mproc_result_get(ra, 60000, &a));
  mproc_result_free(ra);
  for (size_t i = 0; i < 30000; i++) {
    int64_t x, y;
    CHECK_RC(mproc_args_get_int(a, i, &x));
    CHECK_RC(mproc_args_get_int(b, i, &y));
    CHECK(x == y && x == square_of((int64_t)i));
  }
  mproc_args_free(a);
  mproc_args_free(b);
  mproc_pool_t *second;
  int size;
  mproc_mpi_world(NULL, &size);
  if (size > 1)
    CHECK(mproc_mpi_pool_new(&second, NULL) == MPROC_ESTATE); /* one MPI pool at a time */
  if (end_pool(mpi))
    return 1;
  mproc_args_t *ia;
  CHECK_RC(mproc_args_build(&ia, "l", (int64_t)4242));
  mproc_pool_options io = {0};
  io.initializer = init_rank;
  io.initargs = ia;
  if (new_pool(&mpi, &io))
    return 1;
  mproc_args_free(ia);
  mproc_args_t *none, *v;
  CHECK_RC(mproc_args_new(&none));
  CHECK_RC(mproc_pool_apply(mpi, read_init, none, NULL, &v));
  int64_t got;
  CHECK_RC(mproc_args_get_int(v, 0, &got));
  CHECK(got == 4242);
  mproc_args_free(v);
  mproc_args_free(none);
  /* terminate with a long map outstanding: its items are cancelled, the call returns */
  mproc_result_t *r;
  CHECK_RC(mproc_pool_map_async(mpi, square, items, NULL, &r));
  CHECK_RC(mproc_pool_terminate(mpi));
  CHECK_RC(mproc_result_wait(r, 30000));
  int rc = mproc_result_get(r, 0, NULL);
  CHECK(rc == 0 || rc == MPROC_ECANCELED);
  mproc_result_free(r);
  mproc_pool_free(mpi);
  mproc_args_free(items);
  return end_pool(local);
}

static int init_fails(const mproc_args_t *args) {
  (void)args;
  return mproc_fail(9, "no database on this node");
}

/* An initializer that fails on the ranks breaks the pool with its message, as locally. */
static int case_init_fails(void) {
  mproc_pool_options o = {0};
  o.initializer = init_fails;
  mproc_pool_t *pool;
  if (new_pool(&pool, &o))
    return 1;
  mproc_args_t *items;
  if (ints(&items, 100))
    return 1;
  mproc_result_t *r = NULL;
  int rc = mproc_pool_map_async(pool, square, items, NULL, &r);
  if (rc == 0) {
    rc = mproc_result_get(r, 60000, NULL);
    CHECK(rc == MPROC_EBROKENPOOL);
    const char *msg = mproc_result_error(r, 0);
    CHECK(msg != NULL && strstr(msg, "no database on this node") != NULL);
    mproc_result_free(r);
  }
  CHECK(rc == MPROC_EBROKENPOOL);
  mproc_args_free(items);
  CHECK_RC(mproc_pool_terminate(pool));
  mproc_pool_free(pool);
  /* the ranks serve the next pool as if nothing happened */
  if (new_pool(&pool, NULL) || ints(&items, 1000))
    return 1;
  mproc_args_t *res;
  CHECK_RC(mproc_pool_map(pool, square, items, NULL, &res));
  int64_t v;
  CHECK_RC(mproc_args_get_int(res, 999, &v));
  CHECK(v == square_of(999));
  mproc_args_free(res);
  mproc_args_free(items);
  return end_pool(pool);
}

/* The default pool uses every core: each worker rank, plus a local process of rank 0 for
 * each core of its node that no worker rank holds. Tasks run on both; a time limit fails its
 * item wherever it ran, and the rest of the map is done. */
static int case_cores(void) {
  mproc_pool_t *pool;
  if (new_pool(&pool, NULL))
    return 1;
  int size, n = mproc_pool_processes(pool);
  mproc_mpi_world(NULL, &size);
  if (size - 1 < mproc_cpu_count_usable())
    CHECK(n >= mproc_cpu_count_usable()); /* one machine: no core left out */
  mproc_args_t *items, *v;
  if (ints(&items, 40))
    return 1;
  mproc_task_options one = {0};
  one.chunksize = 1;
  int seen = 0, want = (1 << size) - 2 + (n > size - 1);
  for (int k = 0; k < 50 && seen != want; k++) {
    CHECK_RC(mproc_pool_map(pool, nap_rank, items, &one, &v));
    for (size_t j = 0; j < 40; j++) {
      int64_t rank;
      CHECK_RC(mproc_args_get_int(v, j, &rank));
      CHECK(rank >= 0 && rank < size);
      seen |= 1 << rank;
    }
    mproc_args_free(v);
  }
  CHECK(seen == want);
  if (n >= 2) {
    mproc_task_options o = {0};
    o.task_timeout_ms = 500;
    mproc_result_t *r;
    CHECK_RC(mproc_pool_map_async(pool, slow_five, items, &o, &r));
    CHECK(mproc_result_get(r, 60000, &v) == MPROC_ETASKTIMEOUT);
    for (int64_t i = 0; i < 40; i++) {
      int64_t x;
      CHECK(mproc_result_status(r, (size_t)i) == (i == 5 ? MPROC_ETASKTIMEOUT : 0));
      CHECK(i == 5 || (mproc_args_get_int(v, (size_t)i, &x) == 0 && x == i));
    }
    mproc_args_free(v);
    mproc_result_free(r);
  }
  mproc_args_free(items);
  return end_pool(pool);
}

/* Started without mpiexec: the program spawns its own ranks, then maps on them. */
static int case_spawn(void) {
  int size;
  mproc_mpi_world(NULL, &size);
  CHECK(size == 1);
  CHECK_RC(mproc_mpi_spawn(2));
  mproc_mpi_world(NULL, &size);
  CHECK(size == 3);
  CHECK(mproc_mpi_spawn(1) == MPROC_ESTATE);
  mproc_pool_t *pool;
  if (new_pool(&pool, NULL))
    return 1;
  CHECK(mproc_mpi_pool_is_mpi(pool));
  mproc_args_t *items, *res;
  if (ints(&items, 20000))
    return 1;
  mproc_task_options o = {0};
  o.chunksize = 100;
  CHECK_RC(mproc_pool_map(pool, square, items, &o, &res));
  for (int64_t i = 0; i < 20000; i++) {
    int64_t v;
    CHECK_RC(mproc_args_get_int(res, (size_t)i, &v));
    CHECK(v == square_of(i));
  }
  mproc_args_free(res);
  mproc_args_free(items);
  return end_pool(pool);
}

typedef struct mpi_case {
  const char *name;
  int (*fn)(void);
} mpi_case;

static const mpi_case cases[] = {
    {"map_serial", case_map_serial}, {"typed", case_typed},
    {"errors", case_errors},         {"timeout", case_timeout},
    {"callbacks", case_callbacks},   {"empty", case_empty},
    {"local_and_mpi", case_local_and_mpi},
    {"spawn", case_spawn},           {"init_fails", case_init_fails},
    {"cores", case_cores},
};

int main(int argc, char **argv) {
  mproc_main(argc, argv); /* ranks other than 0 serve pools from here and never return */
  if (argc < 2) {
    fprintf(stderr, "usage: mpiexec -n N %s CASE\n", argv[0]);
    return 2;
  }
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    if (strcmp(cases[i].name, argv[1]) != 0)
      continue;
    int rc = cases[i].fn();
    int rank, size;
    mproc_mpi_world(&rank, &size);
    printf("%s on %d rank(s): %s\n", argv[1], size, rc ? "FAILED" : "ok");
    return rc;
  }
  fprintf(stderr, "no case %s\n", argv[1]);
  return 2;
}
