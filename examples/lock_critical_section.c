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
  for (int num = 0; num < NPROC; num++) {
    mproc_args_t *args; /* args=(lock, num) */
    rc = mproc_args_new(&args);
    if (rc == 0)
      rc = mproc_args_add_lock(args, lock);
    if (rc == 0)
      rc = mproc_args_add_int(args, num);
    if (rc == 0)
      rc = mproc_process_new(&procs[num], f, args);
    mproc_args_free(args);
    if (rc != 0)
      return example_die("creating a process", rc);
    rc = mproc_process_start(procs[num]);
    if (rc != 0)
      return example_die("mproc_process_start", rc);
  }

  /* What Python does at exit: join the children. */
  int failed = 0;
  for (int i = 0; i < NPROC; i++) {
    int code = -1;
    rc = mproc_process_join(procs[i], MPROC_FOREVER);
    if (rc == 0)
      rc = mproc_process_exitcode(procs[i], &code);
    if (rc != 0)
      return example_die("joining a process", rc);
    if (code != 0) {
      fprintf(stderr, "process %d exited with %d: %s\n", i, code,
              mproc_process_error(procs[i]) ? mproc_process_error(procs[i]) : "(no message)");
      failed = 1;
    }
    mproc_process_close(procs[i]);
  }
  mproc_lock_free(lock);
  return failed;
}
