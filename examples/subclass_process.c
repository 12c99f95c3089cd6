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
 * In C the instance's state travels as the process's arguments: self.name as a string (and as
 * the process name) and self.func as a function reference, format letter 'F'. The child finds
 * the function again by the module that holds it, under every start method — what pickling
 * `self` does for Python under spawn. (A raw function pointer copied into the child with
 * mproc_process_bind would work under fork only: under spawn the child is a new run of the
 * program and addresses may differ.)
 * Sleeps are 0.1-0.4 s instead of 1-4 s.
 *
 * Usage: subclass_process [--method fork|spawn|forkserver]
 */
#include "example_util.h"

static void worker(const char *name) {
  printf("started worker %s\n", name);
  int worker_time = example_randint(1, 4); /* random.choice(range(1, 5)) */
  example_sleep_ms(worker_time * 100);
  printf("%s worker finished in %.1f seconds\n", name, worker_time / 10.0);
}

typedef void (*worker_fn)(const char *);

/* MyProcess.run(self): self.func(self.name) */
MPROC_TARGET(my_process_run, "sF", const char *, name, worker_fn, func) {
  func(name);
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_process_t *processes[5];
  for (int i = 0; i < 5; i++) {
    char name[32];
    snprintf(name, sizeof name, "computer_%d", i);
    MPROC_CHECK(mproc_process_newf(&processes[i], my_process_run, "sF", name, MPROC_FN(worker)));
    MPROC_CHECK(mproc_process_set_name(processes[i], name));
    MPROC_CHECK(mproc_process_start(processes[i]));
  }
  example_join_all(processes, 5);
}
