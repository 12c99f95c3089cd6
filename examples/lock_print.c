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
 * The lock is a process argument (format letter 'L'): every child gets the same lock. Python's
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

MPROC_TARGET(lock_func, "Li", mproc_lock_t *, l, int, number) {
  MPROC_CHECK(mproc_lock_acquire(l, MPROC_FOREVER));
  printf("Number is: %d", number); /* print "Number is: %d" % number */
  fflush(stdout);
  printf("\n");
  fflush(stdout);
  return MPROC_CHECK(mproc_lock_release(l));
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_lock_t *l;
  mproc_process_t *procs[10];
  MPROC_CHECK(mproc_lock_new(&l));
  for (int number = 0; number < 10; number++)
    MPROC_CHECK(mproc_process_startf(&procs[number], lock_func, "Li", l, number));
  example_join_all(procs, 10); /* what Python does at exit */
  mproc_lock_free(l);
}
