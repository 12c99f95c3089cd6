/* SPDX-License-Identifier: MIT */
/* The library's own version, for programs that must know what they run against rather than
 * what they were compiled with (a shared library may be newer than the program's header). */
#include "mproc.h"

#define MP_STR(x) #x
#define MP_XSTR(x) MP_STR(x)

unsigned mproc_version(void) {
  return MPROC_VERSION_HEX;
}

const char *mproc_version_string(void) {
  return MP_XSTR(MPROC_VERSION_MAJOR) "." MP_XSTR(MPROC_VERSION_MINOR) "." MP_XSTR(
      MPROC_VERSION_PATCH);
}
