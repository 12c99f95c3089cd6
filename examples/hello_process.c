/* SPDX-License-Identifier: MIT */
/*
 * hello_process — the smallest multiprocessing program: a target without arguments.
 *
 * Python:
 *     import multiprocessing
 *
 *     def process_function():
 *         print("Hello from a process!")
 *
 *     if __name__ == '__main__':
 *         process = multiprocessing.Process(target=process_function)
 *         process.start()
 *         process.join()
 *
 * This is the one example with full error handling: every call's code is tested and reported
 * by hand (example_die prints the call, mproc_strerror and mproc_errname), and main returns
 * 1 instead of exiting — what a program that embeds mproc and must survive its errors does.
 * The other examples write the same checks as MPROC_CHECK(call), which reports the call, file,
 * line and message and exits, as an uncaught exception ends a Python program; with it the
 * body of main here would be two lines (process_args.c has that shape).
 *
 * Usage: hello_process [--method fork|spawn|forkserver]
 */
#include "example_util.h"

static int process_function(const mproc_args_t *args) {
  (void)args;
  printf("Hello from a process!\n");
  return 0;
}

int main(int argc, char **argv) {
  mproc_main(argc, argv); /* a spawned child runs its target here and never returns */
  if (example_apply_method(argc, argv) != 0)
    return 2;

  mproc_process_t *process;
  int rc = mproc_process_new(&process, process_function, NULL);
  if (rc != 0)
    return example_die("mproc_process_new", rc);
  rc = mproc_process_start(process);
  if (rc != 0)
    return example_die("mproc_process_start", rc);
  rc = mproc_process_join(process, MPROC_FOREVER);
  if (rc != 0)
    return example_die("mproc_process_join", rc);

  int code = -1;
  rc = mproc_process_exitcode(process, &code);
  if (rc != 0)
    return example_die("mproc_process_exitcode", rc);
  mproc_process_free(process);
  return code == 0 ? 0 : 1;
}
