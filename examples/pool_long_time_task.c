/* SPDX-License-Identifier: MIT */
/*
 * pool_long_time_task — five tasks of random length submitted with apply_async to a pool of
 * four processes; close() and join() wait for all of them.
 *
 * Python:
 *     import os, time, random, multiprocessing
 *
 *     def long_time_task(name):
 *         print(f'run task {name}, {os.getpid()}')
 *         start = time.time()
 *         time.sleep(random.random() * 3)
 *         end = time.time()
 *         print(f'task {name} runs {end - start} seconds.')
 *
 *     if __name__ == '__main__':
 *         print('Parent process %s.' % os.getpid())
 *         pool = multiprocessing.Pool(4)  # 四进程的进程池  只能同时执行4个进程
 *         for i in range(5):
 *             pool.apply_async(long_time_task, args=[i])
 *         pool.close()  # 关闭进程池入口, 即不能再添加新的进程
 *         pool.join()
 *         print('All subprocess done.')
 *
 * (The comments: a pool of four processes runs at most four tasks at once; close() shuts the
 * pool's entrance, no new tasks may be added.)
 *
 * Output, for example:
 *     Parent process 4100.
 *     run task 0, 4101
 *     run task 1, 4102
 *     run task 2, 4103
 *     run task 3, 4104
 *     task 2 runs 0.153189 seconds.
 *     run task 4, 4103
 *     task 0 runs 0.402533 seconds.
 *     ...
 *     All subprocess done.
 *
 * Four tasks start at once; the fifth waits for the first free worker and runs in a process
 * that already ran one, so its pid is one printed before. The sleep is random.random() * 1
 * second instead of * 3, and the durations are printed with six decimals.
 *
 * Python drops the AsyncResult objects that apply_async returns, so a task that raised would
 * go unnoticed; the C program keeps the handles and checks after join that every task
 * succeeded (with out NULL, mproc_pool_apply_async drops the handle as Python does).
 *
 * Usage: pool_long_time_task [--method fork|spawn|forkserver]
 */
#include "example_util.h"

MPROC_TASK(long_time_task, "i", int, name) { /* returns None */
  printf("run task %d, %lld\n", name, (long long)mproc_current_pid());
  fflush(stdout);
  double start = example_now();
  example_sleep_ms(example_randint(0, 999)); /* time.sleep(random.random() * 1) */
  double end = example_now();
  printf("task %d runs %.6f seconds.\n", name, end - start);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  printf("Parent process %lld.\n", (long long)mproc_current_pid());
  mproc_pool_t *pool;
  mproc_result_t *res[5];
  MPROC_CHECK(mproc_pool_new(&pool, &(mproc_pool_options){.processes = 4}));
  for (int i = 0; i < 5; i++)
    MPROC_CHECK(mproc_pool_apply_asyncf(pool, long_time_task, &res[i], "i", i));
  MPROC_CHECK(mproc_pool_close(pool));
  MPROC_CHECK(mproc_pool_join(pool, MPROC_FOREVER));
  printf("All subprocess done.\n");
  for (int i = 0; i < 5; i++) { /* every task succeeded (join waited for them) */
    MPROC_CHECK(mproc_result_get(res[i], MPROC_NOWAIT, NULL));
    mproc_result_free(res[i]);
  }
  mproc_pool_free(pool);
}
