/* SPDX-License-Identifier: MIT */
/*
 * daemon — daemon and non-daemon children when the parent does not join them.
 *
 * Python (two variants of the tutorial's program in one):
 *     from multiprocessing import Process
 *     import time
 *
 *     def func(kind, seconds):
 *         print("Child process start (%s), %s" % (kind, time.ctime()))
 *         time.sleep(seconds)
 *         print("Child process end (%s), %s" % (kind, time.ctime()))
 *
 *     if __name__ == "__main__":
 *         print("Parent process start, %s" % time.ctime())
 *         d = Process(target=func, args=("daemon", 1.0))
 *         d.daemon = True          # must be set before start()
 *         d.start()
 *         w = Process(target=func, args=("non-daemon", 0.4))
 *         w.start()
 *         # d.join()               # --join: wait for the daemon too
 *         time.sleep(0.2)
 *         print("Parent process end, %s" % time.ctime())
 *
 * When main returns, the non-daemon child is joined (its "end" line appears after the
 * parent's), and the daemon child is killed: its "end" line never appears. That also holds
 * when the parent dies abruptly (SIGKILL, TerminateProcess): see docs/lifecycle.md.
 * With --join the parent waits for the daemon explicitly, so all four lines appear.
 *
 * Usage: daemon [--join] [--method fork|spawn|forkserver]
 */
#include "example_util.h"

MPROC_TARGET(func, "sd", const char *, kind, double, seconds) {
  char now[32];
  printf("Child process start (%s), %s\n", kind, example_clock(now, sizeof now));
  example_sleep_ms((int)(seconds * 1000));
  printf("Child process end (%s), %s\n", kind, example_clock(now, sizeof now));
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  char now[32];
  printf("Parent process start, %s\n", example_clock(now, sizeof now));
  mproc_process_t *d, *w;
  MPROC_CHECK(mproc_process_newf(&d, func, "sd", "daemon", 1.0));
  MPROC_CHECK(mproc_process_set_daemon(d, 1)); /* before start, as in Python */
  MPROC_CHECK(mproc_process_start(d));
  MPROC_CHECK(mproc_process_startf(&w, func, "sd", "non-daemon", 0.4));
  if (example_has_flag(argc, argv, "--join"))
    MPROC_CHECK(mproc_process_join(d, MPROC_FOREVER));
  example_sleep_ms(200);
  printf("Parent process end, %s\n", example_clock(now, sizeof now));
  fflush(stdout); /* out before the exit waits for w, whose lines come after */
  /* No join, no close: returning from main joins w and kills d, like Python's exit. The
   * handles are left to the library on purpose; mproc_process_free() would do the same, as it
   * never kills a running child. */
}
