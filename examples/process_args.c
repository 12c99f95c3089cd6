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

MPROC_TARGET(process_function, "s", const char *, name) {
  printf("Hello from %s!\n", name);
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_process_t *process;
  MPROC_CHECK(mproc_process_startf(&process, process_function, "s", "Process-1"));
  example_join(process);
}
