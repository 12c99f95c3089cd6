/* SPDX-License-Identifier: MIT */
/*
 * The smallest real user of mproc, built by each consumer test (add_subdirectory,
 * find_package, pkg-config). It exercises the part a packaging mistake breaks first: spawn
 * re-executes this very program, so the child must re-enter main through mproc_main and
 * find `target` again in a binary that was linked against an installed or vendored mproc.
 *
 * Exit status: 0 when the spawned child's exit code came back as 7, 1 otherwise.
 */
#include <mproc.h>

#include <stdio.h>

static int target(const mproc_args_t *args) {
  (void)args;
  return 7;
}

static int fail(const char *what, int rc) {
  fprintf(stderr, "consumer: %s: %s (%s)\n", what, mproc_strerror(rc), mproc_errname(rc));
  return 1;
}

int main(int argc, char **argv) {
  int rc = mproc_main(argc, argv); /* in the spawned child this runs target and exits */
  if (rc != 0)
    return fail("mproc_main", rc);

  mproc_process_t *p = NULL;
  rc = mproc_process_new(&p, target, NULL);
  if (rc != 0)
    return fail("mproc_process_new", rc);
  rc = mproc_process_set_start_method(p, MPROC_START_SPAWN);
  if (rc == 0)
    rc = mproc_process_start(p);
  if (rc != 0) {
    mproc_process_free(p);
    return fail("start (spawn)", rc);
  }
  rc = mproc_process_join(p, MPROC_FOREVER);
  if (rc != 0) {
    mproc_process_free(p);
    return fail("mproc_process_join", rc);
  }
  int code = -1;
  rc = mproc_process_exitcode(p, &code);
  const char *msg = mproc_process_error(p);
  if (rc != 0) {
    mproc_process_free(p);
    return fail("mproc_process_exitcode", rc);
  }
  if (code != 7)
    fprintf(stderr, "consumer: child exit code %d, expected 7%s%s\n", code, msg ? ": " : "",
            msg ? msg : "");
  mproc_process_free(p);
  if (code != 7)
    return 1;
  printf("consumer: spawned child returned 7\n");
  return 0;
}
