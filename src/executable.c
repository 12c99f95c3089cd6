/* SPDX-License-Identifier: MIT */
/* The program spawn runs for a child (Python's set_executable): by default the running program;
 * a host application that embeds the library (a plugin, a DLL) names another one, such as the
 * shipped mproc-helper, so that spawning never starts the host again. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define EXE_MAX 4096

static char g_exe[EXE_MAX]; /* "" while unset; mproc__os_global_lock */

int mproc_set_executable(const char *path) {
  if (path != NULL && (path[0] == '\0' || strlen(path) >= EXE_MAX))
    return MPROC_EINVAL;
  mproc__os_global_lock();
  if (path)
    memcpy(g_exe, path, strlen(path) + 1);
  else
    g_exe[0] = '\0';
  mproc__os_global_unlock();
  return 0;
}

int mproc__spawn_program(char *exe, size_t cap, char *self_argv[2], char *const **argv) {
  int own_exe = mproc_get_executable(exe, cap) == 0;
  self_argv[0] = exe;
  self_argv[1] = NULL;
  *argv = mproc__main_argv();
  if (*argv == NULL && own_exe)
    *argv = self_argv; /* a host that never called mproc_main: the helper needs no argv */
  return own_exe;
}

int mproc_get_executable(char *buf, size_t cap) {
  if (buf == NULL || cap == 0)
    return MPROC_EINVAL;
  mproc__os_global_lock();
  size_t n = strlen(g_exe);
  int rc = n == 0 ? MPROC_ENOENT : n >= cap ? MPROC_ERANGE : 0;
  if (rc == 0)
    memcpy(buf, g_exe, n + 1);
  mproc__os_global_unlock();
  if (rc != 0)
    buf[0] = '\0';
  return rc;
}
