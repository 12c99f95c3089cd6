/* SPDX-License-Identifier: MIT */
/*
 * lock_print — ten processes print, one at a time, under one Lock.
 *
 * Python (the tutorial's Python 2):
 *     from multiprocessing import Lock, Process
 *
 *     def lock_func(l, number):
 *         l.acquire()
 *         print "Number is: %d" % number
 *         l.release()
 *
 *     if __name__ == "__main__":
 *         l = Lock()
 *         for number in range(10):
 *             Process(target=lock_func, args=(l, number,)).start()
 *
 * The lock is a process argument (mproc_args_add_lock): every child gets the same lock. Python's
 * print statement writes the text and the line end as two writes, and a line is whole only
 * because nobody else can write between them while the lock is held; the C version writes the
 * two parts separately too (each flushed), so the lock is what keeps the ten lines apart.
 * The lines come in whatever order the children get the lock.
 *
 * Python joins the (non-daemon) children when the main program ends; here the parent joins
 * them explicitly, to check their exit codes and because the creator frees the lock only once
 * no child uses it any more.
 *
 * Usage: lock_print [--method fork|spawn|forkserver]
 */
#include "example_util.h"

#include <stdint.h>

#define NPROC 10

static int lock_func(const mproc_args_t *args) {
  mproc_lock_t *l;
  int64_t number;
  int rc = mproc_args_get_lock(args, 0, &l);
  if (rc == 0)
    rc = mproc_args_get_int(args, 1, &number);
  if (rc != 0)
    return mproc_fail(2, "lock_func: bad arguments: %s", mproc_strerror(rc));

  rc = mproc_lock_acquire(l, MPROC_FOREVER); /* l.acquire() */
  if (rc != 0)
    return mproc_fail(3, "lock_func: acquire: %s", mproc_strerror(rc));
  printf("Number is: %d", (int)number); /* print "Number is: %d" % number */
  fflush(stdout);
  printf("\n");
  fflush(stdout);
  rc = mproc_lock_release(l); /* l.release() */
  if (rc != 0)
    return mproc_fail(4, "lock_func: release: %s", mproc_strerror(rc));
  return 0;
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;

  mproc_lock_t *l;
  int rc = mproc_lock_new(&l); /* l = Lock() */
  if (rc != 0)
    return example_die("mproc_lock_new", rc);

  mproc_process_t *procs[NPROC];
  if (example_start_lock_int(procs, NPROC, lock_func, l) != 0) /* args=(l, number,) */
    return 1;

  /* What Python does at exit: join the children. */
  int failed = example_join_all(procs, NPROC);
  if (failed < 0)
    return 1;
  mproc_lock_free(l);
  return failed;
}
