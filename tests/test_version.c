/* SPDX-License-Identifier: MIT */
/* build.version: the header's version macros equal CMake's project(VERSION) (passed in as
 * MPROC_EXPECT_*), and the run-time calls agree with both. Exit 0 when all hold. */
#include <stdio.h>
#include <string.h>

#include "mproc.h"

#if MPROC_VERSION_AT_LEAST(0, 1, 0) != 1 || MPROC_VERSION_AT_LEAST(999, 0, 0) != 0
#error "MPROC_VERSION_AT_LEAST is wrong"
#endif

static int failures;

static void check(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "FAIL: %s\n", what);
    failures++;
  }
}

int main(void) {
  char want[64];
  snprintf(want, sizeof want, "%d.%d.%d", MPROC_EXPECT_MAJOR, MPROC_EXPECT_MINOR,
           MPROC_EXPECT_PATCH);
  printf("CMake project version %s, header %d.%d.%d, library %s (0x%06x)\n", want,
         MPROC_VERSION_MAJOR, MPROC_VERSION_MINOR, MPROC_VERSION_PATCH, mproc_version_string(),
         mproc_version());
  check(MPROC_VERSION_MAJOR == MPROC_EXPECT_MAJOR, "MPROC_VERSION_MAJOR == project major");
  check(MPROC_VERSION_MINOR == MPROC_EXPECT_MINOR, "MPROC_VERSION_MINOR == project minor");
  check(MPROC_VERSION_PATCH == MPROC_EXPECT_PATCH, "MPROC_VERSION_PATCH == project patch");
  unsigned hex = ((unsigned)MPROC_EXPECT_MAJOR << 16) | ((unsigned)MPROC_EXPECT_MINOR << 8) |
                 (unsigned)MPROC_EXPECT_PATCH;
  check(MPROC_VERSION_HEX == hex, "MPROC_VERSION_HEX");
  check(mproc_version() == hex, "mproc_version()");
  check(strcmp(mproc_version_string(), want) == 0, "mproc_version_string()");
  check(MPROC_VERSION_AT_LEAST(MPROC_EXPECT_MAJOR, MPROC_EXPECT_MINOR, MPROC_EXPECT_PATCH),
        "MPROC_VERSION_AT_LEAST(this version)");
  check(!MPROC_VERSION_AT_LEAST(MPROC_EXPECT_MAJOR, MPROC_EXPECT_MINOR, MPROC_EXPECT_PATCH + 1),
        "!MPROC_VERSION_AT_LEAST(next patch)");
  return failures != 0;
}
