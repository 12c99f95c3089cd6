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
  if (self == NULL)
    return mproc_fail(1, "MyProcess.run: no instance state was bound");
  printf("%s\n", self->greeting);
  fflush(stdout);
  return 0;
}

/* MyProcess() — the constructor: an mproc process whose target is run, bound to the state. */
static int my_process_new(mproc_process_t **out, const my_process *self) {
  int rc = mproc_process_new(out, my_process_run, NULL);
  if (rc != 0)
    return rc;
  rc = mproc_process_bind(*out, self, sizeof *self);
  if (rc != 0) {
    mproc_process_free(*out);
    *out = NULL;
  }
  return rc;
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;

  my_process state = {"Hello from a process!"};
  mproc_process_t *process;
  int rc = my_process_new(&process, &state);
  if (rc != 0)
    return example_die("MyProcess()", rc);
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
  mproc_process_close(process);
  return code == 0 ? 0 : 1;
}
