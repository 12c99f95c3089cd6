/* SPDX-License-Identifier: MIT */
/*
 * pool_squares — a pool of four processes squares ten numbers; map returns the results in
 * order.
 *
 * The tutorial describes this program without showing its code: "Pool() creates a pool object
 * with 4 processes; map() submits 10 tasks to it, each squaring a number. The pool hands the
 * tasks to the processes that are free and returns each task's result." Written out as Python:
 *     from multiprocessing import Pool
 *
 *     def square(x):
 *         return x * x
 *
 *     if __name__ == '__main__':
 *         pool = Pool(4)
 *         results = pool.map(square, range(10))
 *         print(results)
 *         pool.close()
 *         pool.join()
 *
 * Output:
 *     [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
 *
 * The items and the results are lists of typed values (here ints; range(10) is
 * mproc_args_range): the task reads its number with mproc_args_parse and returns its square by
 * adding it to result. The results come back in item order whichever worker computed each
 * one, and mproc_args_print prints them as Python's print(results) does.
 *
 * Usage: pool_squares [--method fork|spawn|forkserver]
 */
#include "example_util.h"

MPROC_TASK(square, "l", int64_t, x) {
  return mproc_args_add_int(result, x * x); /* return x * x */
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_pool_t *pool;
  mproc_args_t *items, *results;
  MPROC_CHECK(mproc_pool_new(&pool, &(mproc_pool_options){.processes = 4}));
  MPROC_CHECK(mproc_args_range(&items, 0, 10, 1));
  MPROC_CHECK(mproc_pool_map(pool, square, items, NULL, &results));
  MPROC_CHECK(mproc_args_print(results));
  MPROC_CHECK(mproc_pool_close(pool));
  MPROC_CHECK(mproc_pool_join(pool, MPROC_FOREVER));
  mproc_args_free(results);
  mproc_args_free(items);
  mproc_pool_free(pool);
}
