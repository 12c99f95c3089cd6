/* SPDX-License-Identifier: MIT */
/*
 * no_join — what join() changes: without it, parent and child run side by side.
 *
 * Python:
 *     from multiprocessing import Process
 *     import time
 *
 *     def func():
 *         print("Child process start, %s" % time.ctime())
 *         time.sleep(2)
 *         print("Child process end, %s" % time.ctime())
 *
 *     if __name__ == "__main__":
 *         print("Parent process start, %s" % time.ctime())
 *         p = Process(target=func)
 *         p.start()
 *         # p.join()               # --join
 *         time.sleep(1)
 *         print("Parent process end, %s" % time.ctime())
 *
 * Without --join the parent prints its "end" line first; the child is not a daemon, so the
 * program still waits for it when main returns, and the child's "end" line comes last.
 * With --join the child finishes before the parent goes on. Sleeps are 0.6 s and 0.3 s.
 *
 * Usage: no_join [--join] [--method fork|spawn|forkserver]
 */
#include "example_util.h"

static int func(const mproc_args_t *args) {
  char now[32];
  (void)args;
  printf("Child process start, %s\n", example_clock(now, sizeof now));
  example_sleep_ms(600);
  printf("Child process end, %s\n", example_clock(now, sizeof now));
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  char now[32];
  printf("Parent process start, %s\n", example_clock(now, sizeof now));
  mproc_process_t *p;
  MPROC_CHECK(mproc_process_startf(&p, func, ""));
  if (example_has_flag(argc, argv, "--join"))
    MPROC_CHECK(mproc_process_join(p, MPROC_FOREVER));
  example_sleep_ms(300);
  printf("Parent process end, %s\n", example_clock(now, sizeof now));
  fflush(stdout); /* out before the exit waits for the child, whose lines come after */
  mproc_process_free(p); /* a running child is not killed; it is joined at exit */
}
