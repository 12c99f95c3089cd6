/* SPDX-License-Identifier: MIT */
/*
 * failing_child — how a parent learns that a child failed, and why.
 *
 * Python:
 *     import multiprocessing, sys, time
 *
 *     def parse_record(n):
 *         sys.exit(3)          # or an uncaught exception: exit code 1 and a traceback
 *
 *     def sleeper():
 *         time.sleep(1)
 *
 *     if __name__ == '__main__':
 *         p = multiprocessing.Process(target=parse_record, args=(42,))
 *         p.start()
 *         p.join()
 *         print(f"{p.name}: exitcode = {p.exitcode}")
 *
 *         q = multiprocessing.Process(target=sleeper)
 *         q.start()
 *         q.terminate()
 *         q.join()
 *         print(f"{q.name}: exitcode = {q.exitcode}")      # -15: killed by SIGTERM
 *
 * A target's return value is its exit code. `return mproc_fail(code, fmt, ...)` also hands
 * a message to the parent, which reads it with mproc_process_error() after join — the part
 * Python leaves to a traceback on the child's stderr. A child stopped by a signal reports
 * -N (here -15 after terminate(); on Windows the library maps terminate() to -15 too).
 *
 * The program itself exits with 0 when both children ended the way they should.
 *
 * Usage: failing_child [--method fork|spawn|forkserver]
 */
#include "example_util.h"

MPROC_TARGET(parse_record, "i", int, n) {
  return mproc_fail(3, "record %d: value out of range", n); /* sys.exit(3), with a message */
}

static int sleeper(const mproc_args_t *args) {
  (void)args;
  example_sleep_ms(1000);
  return 0;
}

/* p.join(); print(f"{p.name}: exitcode = {p.exitcode}"), plus the child's message. */
static int report(mproc_process_t *p) {
  int code;
  MPROC_CHECK(mproc_process_join(p, MPROC_FOREVER));
  MPROC_CHECK(mproc_process_exitcode(p, &code));
  const char *msg = mproc_process_error(p);
  printf("%s: exitcode = %d%s%s\n", mproc_process_name(p), code, msg ? ", error: " : "",
         msg ? msg : "");
  mproc_process_free(p);
  return code;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_process_t *p, *q;
  MPROC_CHECK(mproc_process_startf(&p, parse_record, "i", 42));
  int code_p = report(p);
  MPROC_CHECK(mproc_process_startf(&q, sleeper, ""));
  MPROC_CHECK(mproc_process_terminate(q));
  int code_q = report(q);
  return code_p == 3 && code_q == -15 ? 0 : 1;
}
