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

static int add(const mproc_args_t *args) {
  int a, b;
  int rc = mproc_args_parse(args, "ii", &a, &b);
  if (rc != 0)
    return mproc_fail(2, "add: bad arguments: %s", mproc_strerror(rc));
  int result = a + b;
  printf("%d + %d = %d\n", a, b, result);
  fflush(stdout);
  return 0;
}

/* Process(target=add, args=(a, b)) */
static int new_add_process(mproc_process_t **out, int a, int b) {
  mproc_args_t *args;
  int rc = mproc_args_build(&args, "ii", a, b);
  if (rc != 0)
    return rc;
  rc = mproc_process_new(out, add, args);
  mproc_args_free(args);
  return rc;
}

/* join() and report how the child ended; returns its exit code, or -1. */
static int join_one(mproc_process_t *p) {
  int rc = mproc_process_join(p, MPROC_FOREVER);
  int code = -1;
  if (rc == 0)
    rc = mproc_process_exitcode(p, &code);
  if (rc != 0) {
    example_die("join", rc);
    return -1;
  }
  return code;
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;

  mproc_process_t *p1, *p2;
  int rc = new_add_process(&p1, 1, 2);
  if (rc == 0)
    rc = new_add_process(&p2, 3, 4);
  if (rc != 0)
    return example_die("mproc_process_new", rc);

  rc = mproc_process_start(p1);
  if (rc != 0)
    return example_die("mproc_process_start", rc);
  rc = mproc_process_start(p2);
  if (rc != 0)
    return example_die("mproc_process_start", rc);
  int c1 = join_one(p1);
  int c2 = join_one(p2);

  mproc_process_close(p1);
  mproc_process_close(p2);
  return c1 == 0 && c2 == 0 ? 0 : 1;
}
