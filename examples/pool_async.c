/* SPDX-License-Identifier: MIT */
/*
 * pool_async — a tour of the pool: map, imap_unordered, apply_async with get(timeout), and a
 * result that is not ready in time.
 *
 * Python (the tutorial's Python 2):
 *     from multiprocessing import Pool, TimeoutError
 *     import os
 *     import time
 *
 *     def func(x):
 *         return x * x
 *
 *     if __name__ == "__main__":
 *         p = Pool(processes=4)
 *
 *         print p.map(func, range(10))
 *
 *         for r in p.imap_unordered(func, range(10)):
 *             print r,
 *         print
 *
 *         # 异步执行
 *         res = p.apply_async(func, (20,))
 *         print res.get(timeout=1)
 *
 *         res = p.apply_async(os.getpid, ())
 *         print res.get(timeout=1)
 *
 *         resutls = [p.apply_async(os.getpid, ()) for i in range(4)]
 *         print [r.get(timeout=1) for r in resutls]
 *
 *         res = p.apply_async(time.sleep, (3,))
 *         try:
 *             print res.get(timeout=1)
 *         except TimeoutError:
 *             print "Timeout error!"
 *
 * ("异步执行": asynchronous execution.) Output, for example:
 *     [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
 *     0 1 4 9 16 25 36 49 64 81
 *     400
 *     4102
 *     [4101, 4103, 4102, 4104]
 *     Timeout error!
 *
 * imap_unordered yields the squares as the workers finish them, so the second line may come in
 * another order; the program checks that it holds each square once. The pids are the workers'.
 *
 * os.getpid and time.sleep are library functions in Python; here they are two small tasks,
 * os_getpid and time_sleep (which takes its seconds as a double). time.sleep(3) with
 * get(timeout=1) becomes a 1-second sleep with a get timeout of 1/3 s: sleeps are capped at one
 * second, and the timeout keeps its ratio to the sleep. The other gets keep timeout=1.
 * TimeoutError is MPROC_ETIMEDOUT from mproc_result_get. At the end Python's pool, never
 * closed, is terminated when the program exits, sleeping worker included; mproc_pool_free does
 * that here.
 *
 * Usage: pool_async [--method fork|spawn|forkserver]
 */
#include "example_util.h"

#include <stdlib.h>

#define N 10
#define GET_TIMEOUT_MS 1000  /* get(timeout=1) */
#define SLEEP_SECONDS 1.0    /* time.sleep(3), capped at one second */
#define SLEEP_TIMEOUT_MS 333 /* its get(timeout=1), a third of the sleep as in Python */

static int func(const mproc_args_t *args, mproc_args_t *result) {
  int64_t x;
  int rc = mproc_args_get_int(args, 0, &x);
  if (rc != 0)
    return mproc_fail(2, "func: bad arguments: %s", mproc_strerror(rc));
  return mproc_args_add_int(result, x * x); /* return x * x */
}

/* os.getpid() */
static int os_getpid(const mproc_args_t *args, mproc_args_t *result) {
  (void)args;
  return mproc_args_add_int(result, mproc_current_pid());
}

/* time.sleep(seconds) */
static int time_sleep(const mproc_args_t *args, mproc_args_t *result) {
  (void)result; /* returns None */
  double seconds;
  int rc = mproc_args_get_double(args, 0, &seconds);
  if (rc != 0)
    return mproc_fail(2, "time_sleep: bad arguments: %s", mproc_strerror(rc));
  example_sleep_ms((int)(seconds * 1000));
  return 0;
}

/* res.get(timeout) of an apply_async whose task returns one int. */
static int get_int(mproc_result_t *res, int64_t timeout_ms, int64_t *out) {
  mproc_args_t *values;
  int rc = mproc_result_get(res, timeout_ms, &values);
  if (rc != 0)
    return rc;
  rc = mproc_args_get_int(values, 0, out);
  mproc_args_free(values);
  return rc;
}

static int cmp_int64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;

  mproc_pool_options opts = {.processes = 4};
  mproc_pool_t *p;
  int rc = mproc_pool_new(&p, &opts); /* p = Pool(processes=4) */
  if (rc != 0)
    return example_die("mproc_pool_new", rc);
  mproc_args_t *items;
  rc = example_range(&items, 0, N); /* range(10) */
  if (rc != 0)
    return example_die("example_range", rc);

  /* print p.map(func, range(10)) */
  mproc_args_t *squares = NULL;
  rc = mproc_pool_map(p, func, items, NULL, &squares);
  if (rc != 0) {
    mproc_args_free(squares);
    return example_die("mproc_pool_map", rc);
  }
  example_print_list(squares);
  mproc_args_free(squares);

  /* for r in p.imap_unordered(func, range(10)): print r, */
  mproc_result_t *it;
  rc = mproc_pool_imap_unordered(p, func, items, NULL, &it);
  if (rc != 0)
    return example_die("mproc_pool_imap_unordered", rc);
  int64_t seen[N];
  size_t count = 0;
  mproc_args_t *value;
  while (count < N && (rc = mproc_result_next(it, MPROC_FOREVER, &value, NULL)) == 0) {
    int64_t r = -1;
    mproc_args_get_int(value, 0, &r);
    mproc_args_free(value);
    printf("%s%lld", count ? " " : "", (long long)r); /* print r, */
    seen[count++] = r;
  }
  printf("\n"); /* print */
  fflush(stdout);
  if (rc != 0 && rc != MPROC_EEOF) /* an item failed: Python's loop would raise */
    return example_result_die("imap_unordered", it, rc);
  mproc_result_free(it);
  mproc_args_free(items);
  qsort(seen, count, sizeof seen[0], cmp_int64);
  for (size_t i = 0; i < N; i++)
    if (i >= count || seen[i] != (int64_t)(i * i)) {
      fprintf(stderr, "imap_unordered did not yield each square of 0..%d once\n", N - 1);
      return 1;
    }

  /* res = p.apply_async(func, (20,)); print res.get(timeout=1) */
  mproc_args_t *args;
  mproc_result_t *res;
  int64_t x;
  rc = mproc_args_build(&args, "i", 20);
  if (rc != 0)
    return example_die("mproc_args_build", rc);
  rc = mproc_pool_apply_async(p, func, args, NULL, &res);
  mproc_args_free(args);
  if (rc != 0)
    return example_die("mproc_pool_apply_async", rc);
  if ((rc = get_int(res, GET_TIMEOUT_MS, &x)) != 0)
    return example_result_die("func(20)", res, rc);
  mproc_result_free(res);
  printf("%lld\n", (long long)x);
  fflush(stdout);

  /* res = p.apply_async(os.getpid, ()); print res.get(timeout=1) */
  mproc_args_t *no_args; /* () */
  rc = mproc_args_new(&no_args);
  if (rc != 0)
    return example_die("mproc_args_new", rc);
  rc = mproc_pool_apply_async(p, os_getpid, no_args, NULL, &res);
  if (rc != 0)
    return example_die("mproc_pool_apply_async", rc);
  if ((rc = get_int(res, GET_TIMEOUT_MS, &x)) != 0)
    return example_result_die("os.getpid()", res, rc);
  mproc_result_free(res);
  printf("%lld\n", (long long)x);
  fflush(stdout);
  int in_parent = x == mproc_current_pid();

  /* resutls = [p.apply_async(os.getpid, ()) for i in range(4)]
   * print [r.get(timeout=1) for r in resutls] */
  mproc_result_t *results[4];
  for (int i = 0; i < 4; i++) {
    rc = mproc_pool_apply_async(p, os_getpid, no_args, NULL, &results[i]);
    if (rc != 0)
      return example_die("mproc_pool_apply_async", rc);
  }
  mproc_args_free(no_args);
  mproc_args_t *pids;
  rc = mproc_args_new(&pids);
  if (rc != 0)
    return example_die("mproc_args_new", rc);
  for (int i = 0; i < 4; i++) {
    if ((rc = get_int(results[i], GET_TIMEOUT_MS, &x)) != 0)
      return example_result_die("os.getpid()", results[i], rc);
    mproc_result_free(results[i]);
    in_parent |= x == mproc_current_pid();
    if ((rc = mproc_args_add_int(pids, x)) != 0)
      return example_die("mproc_args_add_int", rc);
  }
  example_print_list(pids);
  mproc_args_free(pids);
  if (in_parent) {
    fprintf(stderr, "a task ran in the parent process\n");
    return 1;
  }

  /* res = p.apply_async(time.sleep, (3,))
   * try: print res.get(timeout=1)
   * except TimeoutError: print "Timeout error!" */
  rc = mproc_args_build(&args, "d", SLEEP_SECONDS);
  if (rc != 0)
    return example_die("mproc_args_build", rc);
  rc = mproc_pool_apply_async(p, time_sleep, args, NULL, &res);
  mproc_args_free(args);
  if (rc != 0)
    return example_die("mproc_pool_apply_async", rc);
  rc = mproc_result_get(res, SLEEP_TIMEOUT_MS, NULL);
  if (rc == MPROC_ETIMEDOUT) {
    printf("Timeout error!\n");
  } else if (rc == 0) {
    printf("None\n"); /* time.sleep's result: not expected this early */
  } else {
    return example_result_die("time.sleep(1)", res, rc);
  }
  fflush(stdout);
  mproc_result_free(res);
  mproc_pool_free(p); /* at exit: the pool is terminated, the sleeping worker with it */
  return rc == MPROC_ETIMEDOUT ? 0 : 1;
}
