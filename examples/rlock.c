/* SPDX-License-Identifier: MIT */
/*
 * rlock — a re-entrant lock: acquired twice, released twice, ten processes.
 *
 * Python:
 *     import os
 *     import time
 *     import random
 *     from multiprocessing import Process, RLock
 *
 *     def f(lock, i):
 *         try:
 *             lock.acquire()
 *             lock.acquire()
 *             print(f'{i}:{os.getpid()} is running')
 *             time.sleep(random.randint(1,3))
 *             print(f'{i}:{os.getpid()} is done')
 *         finally:
 *             lock.release()
 *             lock.release()
 *             #锁几次就得release几次   (release it as many times as it was acquired)
 *
 *     if __name__ == '__main__':
 *         lock = RLock() # 可重入锁   (re-entrant lock)
 *
 *         for num in range(10):
 *             Process(target=f, args=(lock, num)).start()
 *
 * mproc_rlock_new is RLock(): the holder may acquire it again without blocking itself (a Lock
 * would answer MPROC_EDEADLK), and it is free for the others once released as many times as
 * acquired. Each child checks that: still its own after the first release, free after the
 * second; the parent checks at the end that nobody holds it. The sleep is randint(1, 3) tenths
 * of a second instead of seconds.
 *
 * Python joins the (non-daemon) children when the main program ends; here the parent joins
 * them explicitly, to check their exit codes and because the creator frees the lock only once
 * no child uses it any more.
 *
 * Usage: rlock [--method fork|spawn|forkserver]
 */
#include "example_util.h"

MPROC_TARGET(f, "Li", mproc_lock_t *, lock, int, i) {
  MPROC_CHECK(mproc_lock_acquire(lock, MPROC_FOREVER)); /* try: lock.acquire() */
  MPROC_CHECK(mproc_lock_acquire(lock, MPROC_FOREVER)); /* held already: no wait */
  printf("%d:%lld is running\n", i, (long long)mproc_current_pid());
  example_sleep_ms(100 * example_randint(1, 3));
  printf("%d:%lld is done\n", i, (long long)mproc_current_pid());
  MPROC_CHECK(mproc_lock_release(lock)); /* finally: lock.release() */
  if (mproc_lock_is_mine(lock) != 1)
    return mproc_fail(5, "f: acquired twice, released once, but no longer held");
  MPROC_CHECK(mproc_lock_release(lock));
  return mproc_lock_is_mine(lock) == 0 ? 0 : mproc_fail(5, "f: released twice, still held");
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_lock_t *lock;
  mproc_process_t *procs[10];
  MPROC_CHECK(mproc_rlock_new(&lock));
  for (int num = 0; num < 10; num++)
    MPROC_CHECK(mproc_process_startf(&procs[num], f, "Li", lock, num));
  example_join_all(procs, 10); /* what Python does at exit */
  /* Every child released as often as it acquired: the lock is free. */
  MPROC_CHECK(mproc_lock_acquire(lock, 0));
  MPROC_CHECK(mproc_lock_release(lock));
  mproc_lock_free(lock);
}
