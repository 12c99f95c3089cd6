/* SPDX-License-Identifier: MIT */
/*
 * process_args — passing arguments to the target (Python's args=(...)).
 *
 * Python:
 *     import multiprocessing
 *
 *     def process_function(name):
 *         print(f"Hello from {name}!")
 *
 *     if __name__ == '__main__':
 *         process = multiprocessing.Process(target=process_function, args=("Process-1",))
 *         process.start()
 *         process.join()
 *
 * Arguments are typed values copied into the child: build them with mproc_args_build() and
 * read them back in the target with mproc_args_parse(), using the same format letters.
 *
 * Usage: process_args [--method fork|spawn|forkserver]
 */
#include "example_util.h"

static int process_function(const mproc_args_t *args) {
  const char *name;
  int rc = mproc_args_parse(args, "s", &name);
  if (rc != 0)
    return mproc_fail(2, "process_function: bad arguments: %s", mproc_strerror(rc));
  printf("Hello from %s!\n", name);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;

  mproc_args_t *args;
  int rc = mproc_args_build(&args, "s", "Process-1");
  if (rc != 0)
    return example_die("mproc_args_build", rc);
  mproc_process_t *process;
  rc = mproc_process_new(&process, process_function, args);
  mproc_args_free(args); /* the process keeps its own copy */
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
  if (code != 0)
    fprintf(stderr, "child exited with %d: %s\n", code,
            mproc_process_error(process) ? mproc_process_error(process) : "(no message)");
  mproc_process_close(process);
  return code == 0 ? 0 : 1;
}
