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

static int parse_record(const mproc_args_t *args) {
  int n = 0;
  int rc = mproc_args_parse(args, "i", &n);
  if (rc != 0)
    return mproc_fail(2, "parse_record: bad arguments: %s", mproc_strerror(rc));
  return mproc_fail(3, "record %d: value out of range", n);
}

static int sleeper(const mproc_args_t *args) {
  (void)args;
  example_sleep_ms(1000);
  return 0;
}

/* Starts target(args) and returns the handle, or NULL after printing why. */
static mproc_process_t *start(mproc_target_fn target, mproc_args_t *args) {
  mproc_process_t *p;
  int rc = mproc_process_new(&p, target, args);
  mproc_args_free(args);
  if (rc != 0) {
    example_die("mproc_process_new", rc);
    return NULL;
  }
  rc = mproc_process_start(p);
  if (rc != 0) {
    example_die("mproc_process_start", rc);
    mproc_process_free(p);
    return NULL;
  }
  return p;
}

/* Joins p, prints its exit code and message; returns the code or -1000 on error. */
static int report(mproc_process_t *p) {
  int code = MPROC_EXIT_UNKNOWN;
  int rc = mproc_process_join(p, MPROC_FOREVER);
  if (rc == 0)
    rc = mproc_process_exitcode(p, &code);
  if (rc != 0) {
    example_die("join", rc);
    return MPROC_EXIT_UNKNOWN;
  }
  const char *msg = mproc_process_error(p);
  printf("%s: exitcode = %d", mproc_process_name(p), code);
  if (msg != NULL)
    printf(", error: %s", msg);
  printf("\n");
  fflush(stdout);
  return code;
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;

  mproc_args_t *args;
  int rc = mproc_args_build(&args, "i", 42);
  if (rc != 0)
    return example_die("mproc_args_build", rc);
  mproc_process_t *p = start(parse_record, args);
  if (p == NULL)
    return 1;
  int code_p = report(p);
  mproc_process_free(p);

  mproc_process_t *q = start(sleeper, NULL);
  if (q == NULL)
    return 1;
  rc = mproc_process_terminate(q);
  if (rc != 0)
    return example_die("mproc_process_terminate", rc);
  int code_q = report(q);
  mproc_process_free(q);

  return code_p == 3 && code_q == -15 ? 0 : 1;
}
