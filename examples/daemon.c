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

static int func(const mproc_args_t *args) {
  const char *kind;
  double seconds;
  char now[32];
  int rc = mproc_args_parse(args, "sd", &kind, &seconds);
  if (rc != 0)
    return mproc_fail(2, "func: bad arguments: %s", mproc_strerror(rc));
  printf("Child process start (%s), %s\n", kind, example_clock(now, sizeof now));
  fflush(stdout);
  example_sleep_ms((int)(seconds * 1000));
  printf("Child process end (%s), %s\n", kind, example_clock(now, sizeof now));
  fflush(stdout);
  return 0;
}

static int start_child(mproc_process_t **out, const char *kind, double seconds, int daemon) {
  mproc_args_t *args;
  int rc = mproc_args_build(&args, "sd", kind, seconds);
  if (rc != 0)
    return rc;
  rc = mproc_process_new(out, func, args);
  mproc_args_free(args);
  if (rc == 0)
    rc = mproc_process_set_daemon(*out, daemon); /* before start, as in Python */
  if (rc == 0)
    rc = mproc_process_start(*out);
  return rc;
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;
  int join_daemon = example_has_flag(argc, argv, "--join");
  char now[32];

  printf("Parent process start, %s\n", example_clock(now, sizeof now));
  fflush(stdout);
  mproc_process_t *d, *w;
  int rc = start_child(&d, "daemon", 1.0, 1);
  if (rc != 0)
    return example_die("start daemon child", rc);
  rc = start_child(&w, "non-daemon", 0.4, 0);
  if (rc != 0)
    return example_die("start non-daemon child", rc);

  if (join_daemon) {
    rc = mproc_process_join(d, MPROC_FOREVER);
    if (rc != 0)
      return example_die("mproc_process_join", rc);
  }
  example_sleep_ms(200);
  printf("Parent process end, %s\n", example_clock(now, sizeof now));
  fflush(stdout);

  /* No join, no close: returning from main joins w and kills d, like Python's exit.
   * The handles are left to the library on purpose; mproc_process_free() would do the
   * same, as it never kills a running child. */
  return 0;
}
