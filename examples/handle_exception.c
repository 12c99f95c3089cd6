/* SPDX-License-Identifier: MIT */
/*
 * handle_exception — a child that handles its own error.
 *
 * Python:
 *     import multiprocessing
 *
 *     def process_function():
 *         try:
 *             raise ValueError("An error occurred!")
 *         except Exception as e:
 *             print(f"Exception in process: {e}")
 *
 *     if __name__ == '__main__':
 *         process = multiprocessing.Process(target=process_function)
 *         process.start()
 *         process.join()
 *
 * C has no exceptions: a function that can fail returns an error and a message, and the
 * target decides what to do with it. Here it handles the error itself and exits with 0, so
 * the parent sees a normal exit. failing_child.c shows the other choice: hand the failure to
 * the parent with mproc_fail().
 *
 * Usage: handle_exception [--method fork|spawn|forkserver]
 */
#include "example_util.h"

/* Something that fails ("raise ValueError(...)"): returns -1 and fills err. */
static int risky_operation(char *err, size_t size) {
  snprintf(err, size, "An error occurred!");
  return -1;
}

static int process_function(const mproc_args_t *args) {
  char err[128];
  (void)args;
  if (risky_operation(err, sizeof err) != 0) /* try: ... except Exception as e: */
    printf("Exception in process: %s\n", err);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_process_t *process;
  MPROC_CHECK(mproc_process_new(&process, process_function, NULL));
  MPROC_CHECK(mproc_process_start(process));
  example_join(process);
  return 0;
}
