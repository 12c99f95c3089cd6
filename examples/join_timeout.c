/* SPDX-License-Identifier: MIT */
/*
 * join_timeout — join() with and without a timeout.
 *
 * Python (the tutorials describe join(timeout): "returns after timeout seconds even if the
 * process is still running; check is_alive()"; written out here):
 *     from multiprocessing import Event, Process
 *
 *     def waiter(e):
 *         e.wait()
 *
 *     if __name__ == '__main__':
 *         e = Event()
 *         p = Process(target=waiter, args=(e,))
 *         p.start()
 *         p.join(timeout=0.1)
 *         print('after join(timeout=0.1): alive =', p.is_alive())
 *         e.set()
 *         p.join()
 *         print('after join(): alive =', p.is_alive(), 'exitcode =', p.exitcode)
 *
 * Output:
 *     after join(timeout=0.1): alive = True
 *     after join(): alive = False exitcode = 0
 *
 * The child waits for an Event rather than sleeping, so it is certainly still running when
 * the timed join returns, however slow the machine. In C the timed join says so itself:
 * MPROC_ETIMEDOUT.
 *
 * Usage: join_timeout [--method fork|spawn|forkserver]
 */
#include "example_util.h"

MPROC_TARGET(waiter, "E", mproc_event_t *, e) {
  return mproc_event_wait(e, MPROC_FOREVER);
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_event_t *e;
  mproc_process_t *p;
  int code;
  MPROC_CHECK(mproc_event_new(&e));
  MPROC_CHECK(mproc_process_startf(&p, waiter, "E", e));
  if (mproc_process_join(p, 100) != MPROC_ETIMEDOUT)
    return 1;
  printf("after join(timeout=0.1): alive = %s\n", mproc_process_is_alive(p) ? "True" : "False");
  MPROC_CHECK(mproc_event_set(e));
  MPROC_CHECK(mproc_process_join(p, MPROC_FOREVER));
  MPROC_CHECK(mproc_process_exitcode(p, &code));
  printf("after join(): alive = %s exitcode = %d\n", mproc_process_is_alive(p) ? "True" : "False",
         code);
  mproc_process_free(p);
  mproc_event_free(e);
}
