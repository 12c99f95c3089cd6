/* SPDX-License-Identifier: MIT */
/*
 * pool_factorial — CPU-bound work in a pool: the factorials of five large numbers, one per
 * worker, with the pool in Python's `with` block.
 *
 * Python:
 *     import multiprocessing
 *     import math
 *
 *     def factorial(n):
 *         return math.factorial(n)
 *
 *     numbers = [100000, 200000, 300000, 400000, 500000]
 *
 *     # 创建进程池
 *     with multiprocessing.Pool(processes=5) as pool:
 *         results = pool.map(factorial, numbers)
 *
 *     for number, result in zip(numbers, results):
 *         print(f"Factorial of {number} is calculated.")
 *
 * Output:
 *     Factorial of 100000 is calculated.
 *     Factorial of 200000 is calculated.
 *     Factorial of 300000 is calculated.
 *     Factorial of 400000 is calculated.
 *     Factorial of 500000 is calculated.
 *
 * What crosses between the processes instead: Python's task returns the factorial itself, an
 * integer of up to 2.6 million digits; C has no big integers, and the values a task returns are
 * ints, doubles, strings and bytes. The task here multiplies 1 * 2 * ... * n in logarithms
 * (log10 n! = log10 1 + log10 2 + ... + log10 n) and returns the number of decimal digits of
 * n!, an int (456574 for 100000!). Python only prints that each result was calculated; the C
 * program also checks each one against Stirling's formula for the same n (lgamma), which
 * shows that map kept the results in the order of the numbers.
 *
 * `with Pool(...) as pool:` ends with pool.terminate(), not close() and join(): leaving the
 * block stops the workers. mproc_pool_free does the same (after map returned there is nothing
 * left to stop). As in pool_map, mproc_main(argc, argv) stands for the missing `__main__`
 * guard.
 *
 * Usage: pool_factorial [--method fork|spawn|forkserver]
 */
#include "example_util.h"

#include <math.h>

#define COUNT 5

/* The number of decimal digits of n!: floor(log10 n!) + 1. */
static int factorial(const mproc_args_t *args, mproc_args_t *result) {
  int64_t n;
  int rc = mproc_args_get_int(args, 0, &n);
  if (rc != 0 || n < 0)
    return mproc_fail(2, "factorial: bad argument");
  double log10_fact = 0.0;
  for (int64_t k = 2; k <= n; k++)
    log10_fact += log10((double)k);
  return mproc_args_add_int(result, (int64_t)floor(log10_fact) + 1);
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;

  static const int64_t numbers[COUNT] = {100000, 200000, 300000, 400000, 500000};
  mproc_args_t *items;
  int rc = mproc_args_build(&items, "lllll", numbers[0], numbers[1], numbers[2], numbers[3],
                            numbers[4]);
  if (rc != 0)
    return example_die("mproc_args_build", rc);

  mproc_pool_options opts = {.processes = 5};
  mproc_pool_t *pool;
  rc = mproc_pool_new(&pool, &opts); /* with multiprocessing.Pool(processes=5) as pool: */
  if (rc != 0)
    return example_die("mproc_pool_new", rc);
  mproc_args_t *results = NULL;
  rc = mproc_pool_map(pool, factorial, items, NULL, &results); /* pool.map(factorial, numbers) */
  mproc_pool_free(pool); /* the end of the with block: pool.terminate() */
  mproc_args_free(items);
  if (rc != 0) {
    mproc_args_free(results);
    return example_die("mproc_pool_map", rc);
  }

  int wrong = 0;
  for (size_t i = 0; i < COUNT; i++) { /* for number, result in zip(numbers, results): */
    int64_t digits = 0;
    int64_t expected = (int64_t)floor(lgamma((double)numbers[i] + 1.0) / log(10.0)) + 1;
    if (mproc_args_get_int(results, i, &digits) != 0 || digits != expected) {
      fprintf(stderr, "factorial(%lld): %lld digits, expected %lld\n", (long long)numbers[i],
              (long long)digits, (long long)expected);
      wrong = 1;
    }
    printf("Factorial of %lld is calculated.\n", (long long)numbers[i]);
  }
  mproc_args_free(results);
  return wrong;
}
