/* SPDX-License-Identifier: MIT */
/*
 * pool_pids — which worker ran each task: a Pool of three processes, six tasks.
 *
 * Python (the tutorials say "the pool reuses its worker processes"; written out here):
 *     import os
 *     from multiprocessing import Pool
 *
 *     def work(x):
 *         print(f'task {x} in worker {os.getpid()}', flush=True)
 *         return os.getpid()
 *
 *     if __name__ == '__main__':
 *         with Pool(3) as pool:
 *             pids = pool.map(work, range(6))
 *         print('workers used:', len(set(pids)) <= 3, os.getpid() not in pids)
 *
 * Output: six `task N in worker PID` lines (any order, at most three distinct pids), then
 * `workers used: True True`: the six tasks ran in at most three processes, none of them the
 * parent.
 *
 * Usage: pool_pids [--method fork|spawn|forkserver]
 */
#include "example_util.h"

MPROC_TASK(work, "i", int, x) {
  printf("task %d in worker %lld\n", x, (long long)mproc_current_pid());
  fflush(stdout);
  return mproc_args_add_int(result, mproc_current_pid());
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_pool_t *pool;
  mproc_args_t *items, *pids;
  int64_t pid[6];
  int distinct = 0, parent = 0;
  MPROC_CHECK(mproc_pool_new(&pool, &(mproc_pool_options){.processes = 3}));
  MPROC_CHECK(mproc_args_range(&items, 0, 6, 1));
  MPROC_CHECK(mproc_pool_map(pool, work, items, NULL, &pids));
  mproc_pool_free(pool);
  for (int i = 0; i < 6; i++) { /* len(set(pids)), os.getpid() in pids */
    MPROC_CHECK(mproc_args_get_int(pids, (size_t)i, &pid[i]));
    int j = 0;
    while (j < i && pid[j] != pid[i])
      j++;
    distinct += j == i;
    parent |= pid[i] == mproc_current_pid();
  }
  printf("workers used: %s %s\n", distinct <= 3 ? "True" : "False", parent ? "False" : "True");
  mproc_args_free(pids);
  mproc_args_free(items);
}
