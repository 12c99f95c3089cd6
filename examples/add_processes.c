/* SPDX-License-Identifier: MIT */
/*
 * add_processes — two processes, each computing one addition.
 *
 * Python:
 *     import multiprocessing
 *
 *     def add(a, b):
 *         result = a + b
 *         print(f"{a} + {b} = {result}")
 *
 *     if __name__ == '__main__':
 *         p1 = multiprocessing.Process(target=add, args=(1, 2))
 *         p2 = multiprocessing.Process(target=add, args=(3, 4))
 *         p1.start()
 *         p2.start()
 *         p1.join()
 *         p2.join()
 *
 * The steps every tutorial lists: define the target, create the Process with its arguments,
 * start() it, join() it. mproc_main() at the top of main is the C form of
 * `if __name__ == '__main__':` — without it a spawned child would run main again.
 *
 * Usage: add_processes [--method fork|spawn|forkserver]
 */
#include "example_util.h"

MPROC_TARGET(add, "ii", int, a, int, b) {
  int result = a + b;
  printf("%d + %d = %d\n", a, b, result);
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_process_t *p1, *p2;
  MPROC_CHECK(mproc_process_startf(&p1, add, "ii", 1, 2));
  MPROC_CHECK(mproc_process_startf(&p2, add, "ii", 3, 4));
  example_join(p1);
  example_join(p2);
}
