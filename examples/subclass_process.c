/* SPDX-License-Identifier: MIT */
/*
 * subclass_process — the "class MyProcess(Process)" pattern: state set in the constructor,
 * used by run() in the child.
 *
 * Python:
 *     import random, time, multiprocessing
 *
 *     class MyProcess(multiprocessing.Process):
 *         def __init__(self, name, func):
 *             super().__init__()
 *             self.name = name
 *             self.func = func
 *
 *         def run(self):
 *             self.func(self.name)
 *
 *     def worker(name):
 *         print(f'started worker {name}')
 *         worker_time = random.choice(range(1, 5))
 *         time.sleep(worker_time)
 *         print(f'{name} worker finished in {worker_time} seconds')
 *
 *     if __name__ == '__main__':
 *         processes = []
 *         for i in range(5):
 *             process = MyProcess(name=f'computer_{i}', func=worker)
 *             processes.append(process)
 *             process.start()
 *
 *         for process in processes:
 *             process.join()
 *
 * In C the instance is a plain struct. mproc_process_bind() copies it into the child, where
 * run() gets its private copy from mproc_args_self() — what pickling `self` does for Python
 * under spawn. The struct must hold no pointers: under spawn the child is a new run of the
 * program and addresses differ. That is why self.func is a small enum here rather than a
 * function pointer (a function can also simply be the target: mproc_process_new(&p, worker,..)).
 * Sleeps are 0.1-0.4 s instead of 1-4 s.
 *
 * Usage: subclass_process [--method fork|spawn|forkserver]
 */
#include "example_util.h"

#include <stdlib.h>

typedef enum work_fn { WORK_WORKER = 1 } work_fn;

typedef struct my_process {
  char name[32];
  work_fn func;
} my_process;

static void worker(const char *name) {
  printf("started worker %s\n", name);
  fflush(stdout);
  srand((unsigned)(mproc_current_pid() ^ (int64_t)time(NULL)));
  int worker_time = 1 + rand() % 4; /* random.choice(range(1, 5)) */
  example_sleep_ms(worker_time * 100);
  printf("%s worker finished in %.1f seconds\n", name, worker_time / 10.0);
  fflush(stdout);
}

/* MyProcess.run(self): self.func(self.name) */
static int my_process_run(const mproc_args_t *args) {
  my_process *self = mproc_args_self(args, NULL);
  if (self == NULL)
    return mproc_fail(1, "MyProcess.run: no instance state was bound");
  switch (self->func) {
  case WORK_WORKER:
    worker(self->name);
    return 0;
  }
  return mproc_fail(1, "MyProcess.run: unknown func %d", (int)self->func);
}

/* MyProcess(name=..., func=...) */
static int my_process_new(mproc_process_t **out, const char *name, work_fn func) {
  my_process self;
  memset(&self, 0, sizeof self);
  snprintf(self.name, sizeof self.name, "%s", name);
  self.func = func;

  int rc = mproc_process_new(out, my_process_run, NULL);
  if (rc != 0)
    return rc;
  rc = mproc_process_set_name(*out, name); /* Python's self.name is the process name too */
  if (rc == 0)
    rc = mproc_process_bind(*out, &self, sizeof self);
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

  mproc_process_t *processes[5];
  for (int i = 0; i < 5; i++) {
    char name[32];
    snprintf(name, sizeof name, "computer_%d", i);
    int rc = my_process_new(&processes[i], name, WORK_WORKER);
    if (rc != 0)
      return example_die("MyProcess()", rc);
    rc = mproc_process_start(processes[i]);
    if (rc != 0)
      return example_die("mproc_process_start", rc);
  }

  int failed = 0;
  for (int i = 0; i < 5; i++) {
    int rc = mproc_process_join(processes[i], MPROC_FOREVER);
    if (rc != 0)
      return example_die("mproc_process_join", rc);
    int code = -1;
    rc = mproc_process_exitcode(processes[i], &code);
    if (rc != 0)
      return example_die("mproc_process_exitcode", rc);
    if (code != 0) {
      const char *msg = mproc_process_error(processes[i]);
      fprintf(stderr, "%s exited with %d: %s\n", mproc_process_name(processes[i]), code,
              msg ? msg : "(no message)");
      failed++;
    }
    mproc_process_close(processes[i]);
  }
  return failed ? 1 : 0;
}
