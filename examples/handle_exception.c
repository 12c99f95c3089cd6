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

/* Something that fails ("raise ValueError(...)"): returns the error's message. */
static const char *risky_operation(void) {
  return "An error occurred!";
}

static int process_function(const mproc_args_t *args) {
  (void)args;
  const char *e = risky_operation(); /* try: ... except Exception as e: */
  if (e != NULL)
    printf("Exception in process: %s\n", e);
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_process_t *process;
  MPROC_CHECK(mproc_process_startf(&process, process_function, ""));
  example_join(process);
}
