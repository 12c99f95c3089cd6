/* SPDX-License-Identifier: MIT */
/* Helpers of the pool tests: defined in test_pool.c, used by test_pool_life.c too (the same
 * binary). */
#ifndef MPROC_TEST_POOL_H
#define MPROC_TEST_POOL_H

#include "runner.h"
#include "../src/atomics.h"

/* Items for pt_script: action * PT_ACT + argument, one int per item. */
#define PT_ACT ((int64_t)1 << 32)
enum pt_action {
  PT_SQUARE = 0,   /* adds arg * arg */
  PT_SLEEP = 1,    /* sleeps arg ms, adds arg */
  PT_FAIL = 2,     /* mproc_fail(3, "bad item <arg>") */
  PT_ABORT = 3,    /* records its pid, abort() */
  PT_KILL = 4,     /* records its pid, SIGKILL / TerminateProcess on itself */
  PT_DIE_ONCE = 5, /* the first item to take the shared flag dies as PT_KILL; others square */
  PT_PID = 6,      /* adds the worker's pid */
  PT_TWO = 7,      /* adds two values (a map item must fail with MPROC_EINVAL) */
  PT_INITED = 8    /* sleeps arg ms, adds 1 if the pool's initializer ran here, else 0 */
};
#define PT_INDEX ((int64_t)-1) /* argument: the item's own index */
#define PT_NONE ((size_t)-1)   /* no special item */

/* The task behind most cases: reads one int item and does what its action says. */
int pt_script(const mproc_args_t *args, mproc_args_t *result);
/* x -> x * x. */
int pt_square(const mproc_args_t *args, mproc_args_t *result);
/* n items (act, arg; arg PT_INDEX: the index), item k (unless PT_NONE) is (kact, karg). */
mproc_args_t *pt_items(size_t n, int act, int64_t arg, size_t k, int kact, int64_t karg);
/* What pt_script adds for a value-giving action. */
int64_t pt_expect(int act, int64_t arg);

/* A pool of `processes` workers (0: the default) with base's options (may be NULL); unless
 * base names an initializer, pt_init runs in every worker with the fixture's values. */
mproc_pool_t *pt_pool(int processes, const mproc_pool_options *base);
/* The fixture's shared values: initializer runs, pid of the last worker a task killed, the
 * flag of PT_DIE_ONCE. Reset to 0 by pt_pool. */
int64_t pt_inits(void);
int64_t pt_last_died_pid(void);
int64_t pt_flag(void);

/* Waits for a map-family result of n items (60 s cap) and checks it: every item other than
 * k is 0 with the value pt_script gives for (act, arg), or (if allow is nonzero) has status
 * allow and None as its value; item k is not checked beyond None when it failed. Returns
 * what mproc_result_get returned. */
int pt_check_items(mproc_result_t *res, size_t n, int act, int64_t arg, size_t k, int allow);
/* Items whose status is code. */
size_t pt_count_status(mproc_result_t *res, size_t n, int code);
/* 1 if mproc_result_error(res, i) contains needle. */
int pt_error_has(mproc_result_t *res, size_t i, const char *needle);
/* Integer value i of a list (fails the test if it is not one). */
int64_t pt_int_at(const mproc_args_t *a, size_t i);

/* Workers: the live pids (count returned), polling until there are `want` of them (want < 0:
 * no wait) and none of them is in `not_in` (n_not_in entries). */
size_t pt_pids(mproc_pool_t *pool, int64_t *pids, size_t cap, int want, const int64_t *not_in,
               size_t n_not_in);
void pt_kill_pid(int64_t pid);
int pt_pid_alive(int64_t pid);
/* Every pid is gone (exited and reaped) within 5 s. */
void pt_assert_pids_gone(const int64_t *pids, size_t n);

/* Milliseconds since t0 must be below max_ms: a bound meant to catch hangs only. */
#define ASSERT_WITHIN(t0, max_ms, what)                                                      \
  do {                                                                                       \
    int64_t took_ = t_now_ms() - (t0);                                                       \
    if (took_ >= (max_ms))                                                                   \
      t_fail(__FILE__, __LINE__, "%s took %lld ms (bound %lld)", (what), (long long)took_,  \
             (long long)(max_ms));                                                           \
  } while (0)

/* Counters bumped from the pool's thread and read from the test's. */
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
static inline long pt_atomic_add(volatile long *p, long d) {
  return _InterlockedExchangeAdd(p, d) + d;
}
static inline long pt_atomic_load(volatile long *p) { return _InterlockedOr(p, 0); }
#else
static inline long pt_atomic_add(volatile long *p, long d) {
  return MPROC__ATOMIC_ADD_FETCH(p, d, MPROC__ATOMIC_SEQ_CST);
}
static inline long pt_atomic_load(volatile long *p) {
  return MPROC__ATOMIC_LOAD(p, MPROC__ATOMIC_SEQ_CST);
}
#endif

/* An id of the calling thread. */
uint64_t pt_thread_id(void);

/* Sizes of the big maps: under Wine every message is a wineserver round trip. */
#ifdef _WIN32
#define PT_BIG_N 20000
#else
#define PT_BIG_N 100000
#endif

#endif
