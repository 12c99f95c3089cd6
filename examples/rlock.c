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

  /* try: */
  rc = mproc_lock_acquire(lock, MPROC_FOREVER); /* lock.acquire() */
  if (rc != 0)
    return mproc_fail(3, "f: acquire 1: %s", mproc_strerror(rc));
  rc = mproc_lock_acquire(lock, MPROC_FOREVER); /* lock.acquire(): held already, no wait */
  if (rc != 0)
    return mproc_fail(3, "f: acquire 2: %s", mproc_strerror(rc));
  printf("%d:%lld is running\n", (int)i, (long long)mproc_current_pid());
  fflush(stdout);
  example_sleep_ms(100 * example_randint(1, 3));
  printf("%d:%lld is done\n", (int)i, (long long)mproc_current_pid());
  fflush(stdout);

  /* finally: */
  rc = mproc_lock_release(lock); /* lock.release() */
  if (rc != 0)
    return mproc_fail(4, "f: release 1: %s", mproc_strerror(rc));
  if (mproc_lock_is_mine(lock) != 1)
    return mproc_fail(5, "f: acquired twice, released once, but no longer held");
  rc = mproc_lock_release(lock); /* lock.release() */
  if (rc != 0)
    return mproc_fail(4, "f: release 2: %s", mproc_strerror(rc));
  if (mproc_lock_is_mine(lock) != 0)
    return mproc_fail(5, "f: acquired twice, released twice, but still held");
  return 0;
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;

  mproc_lock_t *lock;
  int rc = mproc_rlock_new(&lock); /* lock = RLock() */
  if (rc != 0)
    return example_die("mproc_rlock_new", rc);

  mproc_process_t *procs[NPROC];
  if (example_start_lock_int(procs, NPROC, f, lock) != 0) /* args=(lock, num) */
    return 1;

  /* What Python does at exit: join the children. */
  int failed = example_join_all(procs, NPROC);
  if (failed < 0)
    return 1;

  /* Every child released as often as it acquired: the lock is free. */
  rc = mproc_lock_acquire(lock, 0);
  if (rc != 0) {
    fprintf(stderr, "the RLock is still held after all children finished: %s\n",
            mproc_strerror(rc));
    failed = 1;
  } else {
    mproc_lock_release(lock);
  }
  mproc_lock_free(lock);
  return failed;
}
