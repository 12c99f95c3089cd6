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

/* The number of decimal digits of n!: floor(log10 n!) + 1. */
MPROC_TASK(factorial, "l", int64_t, n) {
  double log10_fact = 0.0;
  for (int64_t k = 2; k <= n; k++)
    log10_fact += log10((double)k);
  return mproc_args_add_int(result, (int64_t)floor(log10_fact) + 1);
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  static const int64_t numbers[] = {100000, 200000, 300000, 400000, 500000};
  mproc_pool_t *pool;
  mproc_args_t *items, *results;
  int64_t digits;
  MPROC_CHECK(mproc_args_from_ints(&items, numbers, 5));
  MPROC_CHECK(mproc_pool_new(&pool, &(mproc_pool_options){.processes = 5})); /* with Pool(5) */
  MPROC_CHECK(mproc_pool_map(pool, factorial, items, NULL, &results));
  mproc_pool_free(pool); /* the end of the with block: pool.terminate() */
  for (size_t i = 0; i < 5; i++) { /* for number, result in zip(numbers, results): */
    MPROC_CHECK(mproc_args_get_int(results, i, &digits));
    if (digits != (int64_t)floor(lgamma((double)numbers[i] + 1.0) / log(10.0)) + 1)
      return 1; /* checked against Stirling's formula: the order is map's too */
    printf("Factorial of %lld is calculated.\n", (long long)numbers[i]);
  }
  mproc_args_free(results);
  mproc_args_free(items);
}
