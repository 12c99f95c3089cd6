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

MPROC_TARGET(f, "Li", mproc_lock_t *, lock, int, i) {
  int rc;
  MPROC_WITH_LOCK(lock, rc) { /* with lock: */
    printf("%d:%lld is running\n", i, (long long)mproc_current_pid());
    example_sleep_ms(100 * example_randint(1, 3));
    printf("%d:%lld is done!\n", i, (long long)mproc_current_pid());
  }
  return MPROC_CHECK(rc);
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_lock_t *lock;
  mproc_process_t *procs[10];
  MPROC_CHECK(mproc_lock_new(&lock));
  for (int num = 0; num < 10; num++)
    MPROC_CHECK(mproc_process_startf(&procs[num], f, "Li", lock, num));
  example_join_all(procs, 10); /* what Python does at exit */
  mproc_lock_free(lock);
}
