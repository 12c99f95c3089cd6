/* SPDX-License-Identifier: MIT */
/* mproc_pool_map_array: a map over shared Arrays, read and written in place, chunks claimed by
 * an atomic add. Results equal a serial loop; failures, deaths and bad calls end the call with
 * the right code and never hang. */
#ifndef _WIN32
#include <signal.h>
#include <unistd.h>
#else
#include <windows.h>
#endif

#include "runner.h"
#include "test_pool.h"
#include "../src/atomics.h"

/* out[i] = a * in[i] + b + i (a and b from args, default 3 and 1): a value that depends on the
 * element's index, so a chunk written at the wrong place shows. */
static int affine(const void *in, void *out, size_t first, size_t count,
                  const mproc_args_t *args) {
  int64_t a = 3, b = 1;
  if (mproc_args_count(args) == 2 && mproc_args_parse(args, "ll", &a, &b) != 0)
    return 5;
  const int64_t *x = in;
  int64_t *y = out;
  for (size_t i = 0; i < count; i++)
    y[i] = a * x[i] + b + (int64_t)(first + i);
  return 0;
}

static int64_t affine_of(int64_t x, size_t i, int64_t a, int64_t b) {
  return a * x + b + (int64_t)i;
}

/* int32 in, double out: half of each element. */
static int halve(const void *in, void *out, size_t first, size_t count,
                 const mproc_args_t *args) {
  (void)first, (void)args;
  const int32_t *x = in;
  double *y = out;
  for (size_t i = 0; i < count; i++)
    y[i] = x[i] / 2.0;
  return 0;
}

/* Fails on the chunk holding the index given as args[0]. */
static int fail_at(const void *in, void *out, size_t first, size_t count,
                   const mproc_args_t *args) {
  int64_t k;
  if (mproc_args_get_int(args, 0, &k) != 0)
    return 5;
  if ((size_t)k >= first && (size_t)k < first + count)
    return mproc_fail(7, "bad element %lld", (long long)k);
  return affine(in, out, first, count, NULL);
}

static void die_now(void) {
#ifdef _WIN32
  TerminateProcess(GetCurrentProcess(), 9);
#else
  kill(getpid(), SIGKILL);
#endif
  for (;;)
    t_sleep_ms(1000);
}

/* Dies on the chunk holding the index args[0]; with args[1] nonzero only the first time
 * (the output element at that index, zero until then, is the flag). */
static int die_at(const void *in, void *out, size_t first, size_t count,
                  const mproc_args_t *args) {
  int64_t k, once;
  if (mproc_args_parse(args, "ll", &k, &once) != 0)
    return 5;
  if ((size_t)k >= first && (size_t)k < first + count) {
    int64_t *flag = (int64_t *)out + ((size_t)k - first), zero = 0;
    if (!once || MPROC__ATOMIC_COMPARE_EXCHANGE(flag, &zero, -1, 0, MPROC__ATOMIC_SEQ_CST,
                                                MPROC__ATOMIC_SEQ_CST))
      die_now();
  }
  return affine(in, out, first, count, NULL);
}

/* Sleeps 20 s on the chunk holding the index args[0]. */
static int stall_at(const void *in, void *out, size_t first, size_t count,
                    const mproc_args_t *args) {
  int64_t k;
  if (mproc_args_get_int(args, 0, &k) != 0)
    return 5;
  if ((size_t)k >= first && (size_t)k < first + count)
    t_sleep_ms(20000);
  return affine(in, out, first, count, NULL);
}

static int has(const char *needle) {
  const char *m = mproc_last_error_message();
  return m != NULL && strstr(m, needle) != NULL;
}

static mproc_pool_t *pool_of(int processes, mproc_pool_on_death on_death) {
  mproc_pool_options o = MPROC_POOL_OPTIONS_INIT;
  o.processes = processes;
  o.on_death = on_death;
  o.max_task_retries = 2;
  mproc_pool_t *pool = NULL;
  ASSERT_OK(mproc_pool_new(&pool, &o));
  return pool;
}

/* in[i] = i * 7 - 5; out zero. */
static void make_arrays(size_t n, mproc_array_t **in, mproc_array_t **out) {
  ASSERT_OK(mproc_raw_array_new(in, 'q', n, NULL));
  ASSERT_OK(mproc_raw_array_new(out, 'q', n, NULL));
  int64_t *x = mproc_array_ptr(*in);
  for (size_t i = 0; i < n; i++)
    x[i] = (int64_t)i * 7 - 5;
}

/* Every element of out is affine of in with (a, b). */
static void check_affine(const mproc_array_t *in, const mproc_array_t *out, int64_t a,
                         int64_t b) {
  size_t n = mproc_array_length(in);
  const int64_t *x = mproc_array_ptr(in), *y = mproc_array_ptr(out);
  for (size_t i = 0; i < n; i++)
    if (y[i] != affine_of(x[i], i, a, b))
      t_fail(__FILE__, __LINE__, "element %zu: %lld, want %lld", i, (long long)y[i],
             (long long)affine_of(x[i], i, a, b));
}

static void map_with_chunk(mproc_pool_t *pool, size_t n, size_t chunk) {
  mproc_array_t *in, *out;
  make_arrays(n, &in, &out);
  mproc_task_options o = MPROC_TASK_OPTIONS_INIT;
  o.chunksize = chunk;
  ASSERT_OK(mproc_pool_map_array(pool, affine, in, out, NULL, &o));
  check_affine(in, out, 3, 1);
  mproc_array_free(in);
  mproc_array_free(out);
}

TEST(map_array_equals_serial_loop, 120, ALL) {
  mproc_pool_t *pool = pool_of(2, MPROC_POOL_FAIL_TASK);
  static const size_t sizes[] = {0, 1, 2, 7, 1001, 65537};
  static const size_t chunks[] = {0, 1, 3, 4096};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++)
      map_with_chunk(pool, sizes[i], chunks[c]);
  map_with_chunk(pool, 1000000, 0);
  map_with_chunk(pool, 1000000, 10007);
  mproc_pool_free(pool);
}

TEST(map_array_args_in_place_and_types, 60, ALL) {
  mproc_pool_t *pool = pool_of(3, MPROC_POOL_FAIL_TASK);
  mproc_array_t *in, *out, *copy;
  make_arrays(5000, &in, &out);
  ASSERT_OK(mproc_raw_array_new(&copy, 'q', 5000, mproc_array_ptr(in)));
  mproc_args_t *args;
  ASSERT_OK(mproc_args_build(&args, "ll", (int64_t)-2, (int64_t)11));
  ASSERT_OK(mproc_pool_map_array(pool, affine, in, out, args, NULL));
  check_affine(in, out, -2, 11);
  /* in place: out is in */
  ASSERT_OK(mproc_pool_map_array(pool, affine, copy, copy, args, NULL));
  const int64_t *y = mproc_array_ptr(copy), *x = mproc_array_ptr(in);
  for (size_t i = 0; i < 5000; i++)
    ASSERT_EQ(y[i], affine_of(x[i], i, -2, 11));
  mproc_args_free(args);
  /* int32 in, double out, a locked Array among them */
  mproc_array_t *ints, *dbls;
  ASSERT_OK(mproc_array_new(&ints, 'i', 3001, NULL, MPROC_LOCK_NEW));
  ASSERT_OK(mproc_raw_array_new(&dbls, 'd', 3001, NULL));
  int32_t *v = mproc_array_ptr(ints);
  for (int i = 0; i < 3001; i++)
    v[i] = i - 1500;
  ASSERT_OK(mproc_pool_map_array(pool, halve, ints, dbls, NULL, NULL));
  const double *d = mproc_array_ptr(dbls);
  for (int i = 0; i < 3001; i++)
    ASSERT_TRUE(d[i] == (i - 1500) / 2.0);
  mproc_array_free(ints);
  mproc_array_free(dbls);
  mproc_array_free(in);
  mproc_array_free(out);
  mproc_array_free(copy);
  mproc_pool_free(pool);
}

/* More arrays than a worker keeps mapped, big and small, each mapped more than once. */
TEST(map_array_many_arrays, 120, ALL) {
  mproc_pool_t *pool = pool_of(2, MPROC_POOL_FAIL_TASK);
  enum { K = 12 };
  mproc_array_t *in[K], *out[K];
  for (int i = 0; i < K; i++)
    make_arrays(i % 2 ? 100 + (size_t)i : 20000 + (size_t)i, &in[i], &out[i]);
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < K; i++) {
      memset(mproc_array_ptr(out[i]), 0, mproc_array_length(out[i]) * 8);
      ASSERT_OK(mproc_pool_map_array(pool, affine, in[i], out[i], NULL, NULL));
      check_affine(in[i], out[i], 3, 1);
    }
  for (int i = 0; i < K; i++) {
    mproc_array_free(in[i]);
    mproc_array_free(out[i]);
  }
  /* an array made after the others were freed */
  map_with_chunk(pool, 30000, 0);
  mproc_pool_free(pool);
}

TEST(map_array_function_failure, 60, ALL) {
  mproc_pool_t *pool = pool_of(2, MPROC_POOL_FAIL_TASK);
  mproc_array_t *in, *out;
  make_arrays(10000, &in, &out);
  mproc_args_t *args;
  ASSERT_OK(mproc_args_build(&args, "l", (int64_t)4321));
  mproc_task_options o = MPROC_TASK_OPTIONS_INIT;
  o.chunksize = 100;
  ASSERT_RC(mproc_pool_map_array(pool, fail_at, in, out, args, &o), MPROC_ETASKFAILED);
  const char *m = mproc_last_error_message();
  ASSERT_TRUE(m != NULL && strstr(m, "bad element 4321") != NULL);
  ASSERT_TRUE(strstr(m, "[4300, 4400)") != NULL);
  ASSERT_TRUE(strstr(m, "returned 7") != NULL);
  /* the pool goes on */
  ASSERT_OK(mproc_pool_map_array(pool, affine, in, out, NULL, &o));
  check_affine(in, out, 3, 1);
  mproc_args_free(args);
  mproc_array_free(in);
  mproc_array_free(out);
  mproc_pool_free(pool);
}

TEST(map_array_worker_killed, 90, ALL) {
  mproc_pool_t *pool = pool_of(2, MPROC_POOL_FAIL_TASK);
  mproc_array_t *in, *out;
  make_arrays(50000, &in, &out);
  mproc_args_t *args;
  ASSERT_OK(mproc_args_build(&args, "ll", (int64_t)25000, (int64_t)0));
  mproc_task_options o = MPROC_TASK_OPTIONS_INIT;
  o.chunksize = 1000;
  int64_t t0 = t_now_ms();
  ASSERT_RC(mproc_pool_map_array(pool, die_at, in, out, args, &o), MPROC_EWORKERDIED);
  ASSERT_WITHIN(t0, 30000, "a map whose worker died");
  const char *m = mproc_last_error_message();
  ASSERT_TRUE(m != NULL && strstr(m, "map_array") != NULL);
  ASSERT_TRUE(strstr(m, "elements [25000, 26000) were being written") != NULL);
  /* a replacement worker maps the arrays afresh */
  memset(mproc_array_ptr(out), 0, 50000 * 8);
  ASSERT_OK(mproc_pool_map_array(pool, affine, in, out, NULL, &o));
  check_affine(in, out, 3, 1);
  mproc_args_free(args);
  mproc_array_free(in);
  mproc_array_free(out);
  mproc_pool_free(pool);
}

/* The retry policy: the dead worker's share runs again, its unfinished chunk first. */
TEST(map_array_retry_after_death, 90, ALL) {
  mproc_pool_t *pool = pool_of(2, MPROC_POOL_RETRY_TASK);
  mproc_array_t *in, *out;
  make_arrays(50000, &in, &out);
  mproc_args_t *args;
  ASSERT_OK(mproc_args_build(&args, "ll", (int64_t)33333, (int64_t)1));
  mproc_task_options o = MPROC_TASK_OPTIONS_INIT;
  o.chunksize = 1000;
  ASSERT_OK(mproc_pool_map_array(pool, die_at, in, out, args, &o));
  check_affine(in, out, 3, 1);
  /* a chunk that kills every worker that runs it: poison, not a hang */
  mproc_args_free(args);
  ASSERT_OK(mproc_args_build(&args, "ll", (int64_t)100, (int64_t)0));
  ASSERT_RC(mproc_pool_map_array(pool, die_at, in, out, args, &o), MPROC_EPOISON);
  mproc_args_free(args);
  mproc_array_free(in);
  mproc_array_free(out);
  mproc_pool_free(pool);
}

TEST(map_array_bad_calls, 60, ALL) {
  mproc_pool_t *pool = pool_of(2, MPROC_POOL_FAIL_TASK);
  mproc_array_t *in, *out, *shorter;
  make_arrays(100, &in, &out);
  ASSERT_OK(mproc_raw_array_new(&shorter, 'q', 99, NULL));
  ASSERT_RC(mproc_pool_map_array(NULL, affine, in, out, NULL, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_pool_map_array(pool, NULL, in, out, NULL, NULL), MPROC_EINVAL);
  ASSERT_TRUE(has("function"));
  ASSERT_RC(mproc_pool_map_array(pool, affine, NULL, out, NULL, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_pool_map_array(pool, affine, in, NULL, NULL, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_pool_map_array(pool, affine, in, shorter, NULL, NULL), MPROC_EINVAL);
  ASSERT_TRUE(has("100 elements and the output 99"));
  mproc_task_options bad = MPROC_TASK_OPTIONS_INIT;
  bad.size = sizeof bad + 64; /* a tail this library does not know, not zero: refused */
  struct {
    mproc_task_options o;
    char tail[64];
  } big;
  memset(&big, 0xff, sizeof big);
  big.o = bad;
  ASSERT_RC(mproc_pool_map_array(pool, affine, in, out, NULL, &big.o), MPROC_EINVAL);
  /* nothing was written by the refused calls */
  const int64_t *y = mproc_array_ptr(out);
  for (size_t i = 0; i < 100; i++)
    ASSERT_EQ(y[i], 0);
  ASSERT_OK(mproc_pool_close(pool));
  ASSERT_RC(mproc_pool_map_array(pool, affine, in, out, NULL, NULL), MPROC_ECLOSED);
  ASSERT_OK(mproc_pool_join(pool, 30000));
  mproc_array_free(in);
  mproc_array_free(out);
  mproc_array_free(shorter);
  mproc_pool_free(pool);
}

/* task_timeout_ms limits a worker's share: a stalled chunk ends the call, not the test. */
TEST(map_array_time_limit, 90, ALL) {
  mproc_pool_t *pool = pool_of(2, MPROC_POOL_FAIL_TASK);
  mproc_array_t *in, *out;
  make_arrays(20000, &in, &out);
  mproc_args_t *args;
  ASSERT_OK(mproc_args_build(&args, "l", (int64_t)15000));
  mproc_task_options o = MPROC_TASK_OPTIONS_INIT;
  o.chunksize = 500;
  o.task_timeout_ms = 1000;
  int64_t t0 = t_now_ms();
  ASSERT_RC(mproc_pool_map_array(pool, stall_at, in, out, args, &o), MPROC_ETASKTIMEOUT);
  ASSERT_WITHIN(t0, 15000, "a map with a stalled chunk");
  ASSERT_TRUE(has("map_array"));
  ASSERT_OK(mproc_pool_map_array(pool, affine, in, out, NULL, &o));
  check_affine(in, out, 3, 1);
  mproc_args_free(args);
  mproc_array_free(in);
  mproc_array_free(out);
  mproc_pool_free(pool);
}

/* The break policy: a death mid-map breaks the pool; the call says so and does not hang. */
TEST(map_array_death_breaks_pool, 90, ALL) {
  mproc_pool_t *pool = pool_of(2, MPROC_POOL_BREAK);
  mproc_array_t *in, *out;
  make_arrays(50000, &in, &out);
  mproc_args_t *args;
  ASSERT_OK(mproc_args_build(&args, "ll", (int64_t)40000, (int64_t)0));
  mproc_task_options o = MPROC_TASK_OPTIONS_INIT;
  o.chunksize = 1000;
  int64_t t0 = t_now_ms();
  int rc = mproc_pool_map_array(pool, die_at, in, out, args, &o);
  ASSERT_WITHIN(t0, 30000, "a map whose worker died under the break policy");
  ASSERT_RC(rc, MPROC_EWORKERDIED); /* the cause, not what it did to the rest */
  ASSERT_TRUE(has("were being written"));
  ASSERT_RC(mproc_pool_map_array(pool, affine, in, out, NULL, &o), MPROC_EBROKENPOOL);
  mproc_args_free(args);
  mproc_array_free(in);
  mproc_array_free(out);
  mproc_pool_free(pool);
}
