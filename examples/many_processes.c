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

#define NPROC 5

static int func(const mproc_args_t *args) {
  const char *name;
  int rc = mproc_args_parse(args, "s", &name);
  if (rc != 0)
    return mproc_fail(2, "func: bad arguments: %s", mproc_strerror(rc));
  example_sleep_ms(500);
  printf("test process: %s\n", name);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;

  mproc_process_t *pl[NPROC];
  for (int i = 0; i < NPROC; i++) {
    char name[32];
    snprintf(name, sizeof name, "python_process_%d", i);
    mproc_args_t *args;
    int rc = mproc_args_build(&args, "s", name);
    if (rc != 0)
      return example_die("mproc_args_build", rc);
    rc = mproc_process_new(&pl[i], func, args);
    mproc_args_free(args);
    if (rc != 0)
      return example_die("mproc_process_new", rc);
    rc = mproc_process_start(pl[i]);
    if (rc != 0)
      return example_die("mproc_process_start", rc);
  }

  int failed = 0;
  for (int i = 0; i < NPROC; i++) {
    int rc = mproc_process_join(pl[i], MPROC_FOREVER);
    if (rc != 0)
      return example_die("mproc_process_join", rc);
    int code = -1;
    rc = mproc_process_exitcode(pl[i], &code);
    if (rc != 0)
      return example_die("mproc_process_exitcode", rc);
    failed += code != 0;
    mproc_process_close(pl[i]);
  }

  printf("main process finish!\n");
  return failed ? 1 : 0;
}
