/* SPDX-License-Identifier: MIT */
/*
 * lock_critical_section — `with lock:` around a critical section, ten processes.
 *
 * Python:
 *     import os, time, random
 *     from multiprocessing import Lock, Process
 *
 *     def f(lock, i):
 *         # try:
 *         #     lock.acquire()
 *         #     print(f'{i}:{os.getpid()} is running')
 *         #     time.sleep(random.randint(1, 3))
 *         #     print(f'{i}:{os.getpid()} is done!')
 *         # finally:
 *         #     lock.release()
 *
 *         with lock:
 *             print(f'{i}:{os.getpid()} is running')
 *             time.sleep(random.randint(1, 3))
 *             print(f'{i}:{os.getpid()} is done!')
 *
 *     if __name__ == '__main__':
 *         lock = Lock()
 *         for num in range(10):
 *             Process(target=f, args=(lock, num)).start()
 *
 * MPROC_WITH_LOCK(lock, rc) is `with lock:`: it acquires the lock, runs the block and releases
 * the lock after it (the commented-out try/finally form is mproc_lock_acquire /
 * mproc_lock_release, as in lock_print.c and rlock.c). Only one child is inside at a time, so
 * every "is running" line is followed by the same child's "is done!" line, in whatever order
 * the children get the lock. The sleep is randint(1, 3) tenths of a second instead of seconds.
 *
 * Python joins the (non-daemon) children when the main program ends; here the parent joins
 * them explicitly, to check their exit codes and because the creator frees the lock only once
 * no child uses it any more.
 *
 * Usage: lock_critical_section [--method fork|spawn|forkserver]
 */
#include "example_util.h"

#include <stdint.h>

#define NPROC 10

static int f(const mproc_args_t *args) {
  mproc_lock_t *lock;
  int64_t i;
  int rc = mproc_args_get_lock(args, 0, &lock);
  if (rc == 0)
    rc = mproc_args_get_int(args, 1, &i);
  if (rc != 0)
    return mproc_fail(2, "f: bad arguments: %s", mproc_strerror(rc));

  MPROC_WITH_LOCK(lock, rc) { /* with lock: */
    printf("%d:%lld is running\n", (int)i, (long long)mproc_current_pid());
    fflush(stdout);
    example_sleep_ms(100 * example_randint(1, 3));
    printf("%d:%lld is done!\n", (int)i, (long long)mproc_current_pid());
    fflush(stdout);
  }
  if (rc != 0)
    return mproc_fail(3, "f: acquire: %s", mproc_strerror(rc));
  return 0;
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;

  mproc_lock_t *lock;
  int rc = mproc_lock_new(&lock); /* lock = Lock() */
  if (rc != 0)
    return example_die("mproc_lock_new", rc);

  mproc_process_t *procs[NPROC];
  if (example_start_lock_int(procs, NPROC, f, lock) != 0) /* args=(lock, num) */
    return 1;

  /* What Python does at exit: join the children. */
  int failed = example_join_all(procs, NPROC);
  if (failed < 0)
    return 1;
  mproc_lock_free(lock);
  return failed;
}
