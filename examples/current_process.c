/* SPDX-License-Identifier: MIT */
/*
 * current_process — who am I: names, pids, the parent's pid, running children, CPU counts.
 *
 * Python (the tutorial's get_process, with current_process()/parent_process() added):
 *     from multiprocessing import Process, current_process, parent_process, active_children
 *     import os
 *
 *     def get_process(info):
 *         print(info)
 *         print('Process name:', current_process().name)
 *         print('Process ID:', os.getpid())
 *         print('Parent process ID:', parent_process().pid if parent_process() else None)
 *
 *     def func(name):
 *         get_process('In func:')
 *         print("Hello,", name)
 *
 *     if __name__ == "__main__":
 *         print('cpu_count:', os.cpu_count(), 'usable:', len(os.sched_getaffinity(0)))
 *         get_process('In main:')
 *         p = Process(target=func, args=('marsloo',))
 *         p.start()
 *         print('active children:', [c.name for c in active_children()])
 *         p.join()
 *         print('exit code:', p.exitcode)
 *
 * mproc_parent_pid() is parent_process().pid in a child: the process that started it. In the
 * main process it is os.getppid(), while parent_process() is None: the program prints None
 * there. The child sleeps a little so that it is still running when the parent lists its
 * children, and after the join the list is empty again.
 *
 * Usage: current_process [--method fork|spawn|forkserver]
 */
#include "example_util.h"

static void get_process(const char *info) {
  printf("%s\n", info);
  printf("Process name: %s\n", mproc_current_process_name());
  printf("Process ID: %lld\n", (long long)mproc_current_pid());
  if (strcmp(mproc_current_process_name(), "MainProcess") == 0)
    printf("Parent process ID: None\n"); /* parent_process() is None in the main process */
  else
    printf("Parent process ID: %lld\n", (long long)mproc_parent_pid());
}

MPROC_TARGET(func, "s", const char *, name) {
  get_process("In func:");
  printf("Hello, %s\n", name);
  example_sleep_ms(300); /* still running while the parent lists its children */
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  printf("cpu_count: %d usable: %d\n", mproc_cpu_count(), mproc_cpu_count_usable());
  get_process("In main:");
  mproc_process_t *p, *children[8];
  size_t count;
  MPROC_CHECK(mproc_process_startf(&p, func, "s", "marsloo"));
  MPROC_CHECK(mproc_active_children(children, 8, &count));
  printf("active children: [");
  for (size_t i = 0; i < count && i < 8; i++)
    printf("%s'%s'", i ? ", " : "", mproc_process_name(children[i]));
  printf("]\n");
  example_join(p); /* exit code 0, or the program fails */
  printf("exit code: 0\n");
  MPROC_CHECK(mproc_active_children(NULL, 0, &count));
  printf("active children after join: %lu\n", (unsigned long)count);
}
