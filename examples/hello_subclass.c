/* SPDX-License-Identifier: MIT */
/*
 * hello_subclass — the "subclass Process and override run()" form of hello_process.
 *
 * Python:
 *     import multiprocessing
 *
 *     class MyProcess(multiprocessing.Process):
 *         def run(self):
 *             print("Hello from a process!")
 *
 *     if __name__ == '__main__':
 *         process = MyProcess()
 *         process.start()
 *         process.join()
 *
 * C has no classes: the "class" is a struct for the instance state and a run function that
 * receives the child's copy of it through mproc_args_self(). mproc_process_bind() copies the
 * struct into the child, so it must be plain data (no pointers). subclass_process.c shows a
 * class with state; this one has a single field, only to show the shape.
 *
 * Usage: hello_subclass [--method fork|spawn|forkserver]
 */
#include "example_util.h"

typedef struct my_process {
  char greeting[64];
} my_process;

/* MyProcess.run(self) */
static int my_process_run(const mproc_args_t *args) {
  my_process *self = mproc_args_self(args, NULL);
  printf("%s\n", self->greeting);
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  my_process state = {"Hello from a process!"};
  mproc_process_t *process;
  MPROC_CHECK(mproc_process_new(&process, my_process_run, NULL)); /* MyProcess() */
  MPROC_CHECK(mproc_process_bind(process, &state, sizeof state));
  MPROC_CHECK(mproc_process_start(process));
  example_join(process);
}
