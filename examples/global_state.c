/* SPDX-License-Identifier: MIT */
/*
 * global_state — each process has its own memory: a child's change to a global stays in
 * the child.
 *
 * Python:
 *     from multiprocessing import Process
 *
 *     a = [2]
 *
 *     def func(i):
 *         global a
 *         a[i] += 1
 *         print("a[0] in child process:", a[0])
 *
 *     if __name__ == "__main__":
 *         p = Process(target=func, args=(0, ))
 *         p.start()
 *         p.join()
 *         print("a[0] in parent process:", a[0])
 *
 * Output:
 *     a[0] in child process: 3
 *     a[0] in parent process: 2
 *
 * The same under every start method: fork copies the parent's memory, spawn starts the
 * program afresh (so the child sees the global's initial value). To share state, pass a
 * shared value or send results back through a pipe or queue (planned APIs).
 *
 * Usage: global_state [--method fork|spawn|forkserver]
 */
#include "example_util.h"

static int a[1] = {2};

MPROC_TARGET(func, "i", int, i) {
  a[i] += 1;
  printf("a[0] in child process: %d\n", a[0]);
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_process_t *p;
  MPROC_CHECK(mproc_process_startf(&p, func, "i", 0));
  example_join(p);
  printf("a[0] in parent process: %d\n", a[0]);
  return a[0] == 2 ? 0 : 1;
}
