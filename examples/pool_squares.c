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
 * The items and the results are lists of typed values (here ints): the task reads its number
 * with mproc_args_get_int and returns its square by adding it to result. The results come back
 * in item order whichever worker computed each one; the program checks them before printing.
 *
 * Usage: pool_squares [--method fork|spawn|forkserver]
 */
#include "example_util.h"

#define N 10

static int square(const mproc_args_t *args, mproc_args_t *result) {
  int64_t x;
  int rc = mproc_args_get_int(args, 0, &x);
  if (rc != 0)
    return mproc_fail(2, "square: bad arguments: %s", mproc_strerror(rc));
  return mproc_args_add_int(result, x * x); /* return x * x */
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;

  mproc_pool_options opts = {.processes = 4};
  mproc_pool_t *pool;
  int rc = mproc_pool_new(&pool, &opts); /* pool = Pool(4) */
  if (rc != 0)
    return example_die("mproc_pool_new", rc);

  mproc_args_t *items, *results = NULL;
  rc = example_range(&items, 0, N);
  if (rc != 0)
    return example_die("example_range", rc);
  rc = mproc_pool_map(pool, square, items, NULL, &results); /* pool.map(square, range(10)) */
  mproc_args_free(items);
  if (rc != 0) {
    mproc_args_free(results);
    return example_die("mproc_pool_map", rc);
  }
  example_print_list(results); /* print(results) */

  int wrong = mproc_args_count(results) != N;
  for (size_t i = 0; !wrong && i < N; i++) {
    int64_t y;
    wrong = mproc_args_get_int(results, i, &y) != 0 || y != (int64_t)(i * i);
  }
  mproc_args_free(results);

  rc = mproc_pool_close(pool); /* pool.close() */
  if (rc == 0)
    rc = mproc_pool_join(pool, MPROC_FOREVER); /* pool.join() */
  if (rc != 0)
    return example_die("closing the pool", rc);
  mproc_pool_free(pool);
  if (wrong) {
    fprintf(stderr, "the results are not the squares of 0..%d in order\n", N - 1);
    return 1;
  }
  return 0;
}
