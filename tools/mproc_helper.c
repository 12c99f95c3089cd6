/* SPDX-License-Identifier: MIT */
/* mproc-helper: the program a host application hands to mproc_set_executable. A spawned child
 * runs here instead of in the host: mproc_main bootstraps it, loads the shared library that
 * holds its target by path, runs the target and exits. Started any other way it only says what
 * it is for. */
#include <stdio.h>

#include <mproc.h>

int main(int argc, char **argv) {
  int rc = mproc_main(argc, argv);
  if (rc != 0)
    return 2;
  fprintf(stderr, "mproc-helper %s runs the children of programs that use mproc "
                  "(mproc_set_executable); it does nothing on its own.\n",
          mproc_version_string());
  return 2;
}
