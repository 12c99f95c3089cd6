/* SPDX-License-Identifier: MIT */
/*
 * many_processes — start five processes, then wait for all of them.
 *
 * Python:
 *     import multiprocessing
 *     import time
 *
 *     def func(name):
 *         time.sleep(5)
 *         print('test process:', name)
 *
 *     if __name__ == '__main__':
 *         pl = []
 *         for i in range(5):
 *             name = f'python_process_{i}'
 *             p = multiprocessing.Process(target=func, args=[name])
 *             p.start()
 *             pl.append(p)
 *
 *         for p in pl:
 *             p.join()
 *
 *         print('main process finish!')
 *
 * The five children run in parallel: the whole program takes about one sleep (here 0.5 s
 * instead of 5 s), not five. The lines appear in whatever order the children finish.
 *
 * Usage: many_processes [--method fork|spawn|forkserver]
 */
#include "example_util.h"

MPROC_TARGET(func, "s", const char *, name) {
  example_sleep_ms(500);
  printf("test process: %s\n", name);
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_process_t *pl[5];
  for (int i = 0; i < 5; i++) {
    char name[32];
    snprintf(name, sizeof name, "python_process_%d", i);
    MPROC_CHECK(mproc_process_startf(&pl[i], func, "s", name));
  }
  example_join_all(pl, 5);
  printf("main process finish!\n");
}
