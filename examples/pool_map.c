/* SPDX-License-Identifier: MIT */
/*
 * pool_map — a pool of four worker processes runs a task for each of ten numbers.
 *
 * Python:
 *     import multiprocessing
 *
 *     def worker(num):
 *         """该函数将在子进程中执行"""
 *         print('Worker %d' % num)
 *
 *     # 创建进程池
 *     pool = multiprocessing.Pool(4)
 *     # 启动进程池中的进程
 *     pool.map(worker, range(10))
 *     # 关闭进程池
 *     pool.close()
 *     # 等待进程池中的进程结束
 *     pool.join()
 *
 * (The docstring: "this function runs in a child process"; the comments: create the pool, run
 * the tasks in its processes, close it, wait for its processes to end.)
 *
 * Output: "Worker 0" .. "Worker 9", each once, in the order the workers get to them.
 *
 * The tutorial's script has no `if __name__ == '__main__':` guard, which works only under
 * fork; mproc_main(argc, argv) is that guard in C and lets the program run under every start
 * method. worker is a plain static function: the workers find it by its address, as they find
 * a process target. It returns nothing, as Python's does, so map's result is a list of ten
 * None, which the program drops as Python does.
 *
 * Usage: pool_map [--method fork|spawn|forkserver]
 */
#include "example_util.h"

MPROC_TASK(worker, "i", int, num) { /* adds no value: the item's result is None */
  printf("Worker %d\n", num);
  fflush(stdout); /* the worker's stdout may be a pipe: send the line now */
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_pool_t *pool;
  mproc_args_t *items, *results;
  MPROC_CHECK(mproc_pool_new(&pool, &(mproc_pool_options){.processes = 4}));
  MPROC_CHECK(mproc_args_range(&items, 0, 10, 1));
  MPROC_CHECK(mproc_pool_map(pool, worker, items, NULL, &results));
  MPROC_CHECK(mproc_pool_close(pool));
  MPROC_CHECK(mproc_pool_join(pool, MPROC_FOREVER));
  mproc_args_free(results);
  mproc_args_free(items);
  mproc_pool_free(pool);
}
