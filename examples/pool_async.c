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
 * another order; the program checks that it holds ten squares that add up to 285, as
 * 0 + 1 + 4 + ... + 81 do. The pids are the workers'.
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

#define SLEEP_SECONDS 1.0    /* time.sleep(3), capped at one second */
#define SLEEP_TIMEOUT_MS 333 /* its get(timeout=1), a third of the sleep as in Python */

MPROC_TASK(func, "l", int64_t, x) {
  return mproc_args_add_int(result, x * x); /* return x * x */
}

/* os.getpid() */
static int os_getpid(const mproc_args_t *args, mproc_args_t *result) {
  (void)args;
  return mproc_args_add_int(result, mproc_current_pid());
}

/* time.sleep(seconds) */
MPROC_TASK(time_sleep, "d", double, seconds) { /* returns None */
  example_sleep_ms((int)(seconds * 1000));
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_pool_t *p;
  mproc_args_t *items, *squares;
  mproc_result_t *res, *results[4];
  int64_t r, x, pids[4], n = 0, sum = 0;
  MPROC_CHECK(mproc_pool_new(&p, &(mproc_pool_options){.processes = 4})); /* Pool(processes=4) */
  MPROC_CHECK(mproc_args_range(&items, 0, 10, 1)); /* range(10) */
  MPROC_CHECK(mproc_pool_map(p, func, items, NULL, &squares)); /* print p.map(func, range(10)) */
  MPROC_CHECK(mproc_args_print(squares));

  MPROC_CHECK(mproc_pool_imap_unordered(p, func, items, NULL, &res));
  for (; mproc_result_nextf(res, MPROC_FOREVER, "l", &r) == 0; n++) {
    printf("%s%lld", n ? " " : "", (long long)r); /* for r in ...: print r, */
    sum += r;
  }
  printf("\n");
  mproc_result_free(res);

  MPROC_CHECK(mproc_pool_apply_asyncf(p, func, &res, "i", 20)); /* p.apply_async(func, (20,)) */
  MPROC_CHECK(mproc_result_getf(res, 1000, "l", &x));           /* print res.get(timeout=1) */
  printf("%lld\n", (long long)x);
  mproc_result_free(res);

  MPROC_CHECK(mproc_pool_apply_asyncf(p, os_getpid, &res, "")); /* p.apply_async(os.getpid, ()) */
  MPROC_CHECK(mproc_result_getf(res, 1000, "l", &x));
  printf("%lld\n", (long long)x);
  mproc_result_free(res);

  for (int i = 0; i < 4; i++) /* resutls = [p.apply_async(os.getpid, ()) for i in range(4)] */
    MPROC_CHECK(mproc_pool_apply_asyncf(p, os_getpid, &results[i], ""));
  for (int i = 0; i < 4; i++) { /* print [r.get(timeout=1) for r in resutls] */
    MPROC_CHECK(mproc_result_getf(results[i], 1000, "l", &pids[i]));
    mproc_result_free(results[i]);
  }
  printf("[%lld, %lld, %lld, %lld]\n", (long long)pids[0], (long long)pids[1],
         (long long)pids[2], (long long)pids[3]);

  MPROC_CHECK(mproc_pool_apply_asyncf(p, time_sleep, &res, "d", SLEEP_SECONDS));
  int rc = mproc_result_get(res, SLEEP_TIMEOUT_MS, NULL); /* try: print res.get(timeout=1) */
  printf("%s\n", rc == MPROC_ETIMEDOUT ? "Timeout error!" : "None"); /* except TimeoutError: */
  mproc_result_free(res);
  mproc_pool_free(p); /* at exit: the pool is terminated, the sleeping worker with it */
  mproc_args_free(items);
  mproc_args_free(squares);
  int in_parent = pids[0] == mproc_current_pid() || x == mproc_current_pid();
  return rc == MPROC_ETIMEDOUT && n == 10 && sum == 285 && !in_parent ? 0 : 1;
}
