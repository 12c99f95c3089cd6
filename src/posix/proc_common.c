/* SPDX-License-Identifier: MIT */
/*
 * What both POSIX process backends share (proc.c, Linux's accelerated one, and proc_generic.c,
 * the portable one): the program's own path for spawn, the signal reset a fork child does, and
 * the plain handle bookkeeping.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <mach-o/dyld.h>
#elif defined(__FreeBSD__)
#include <sys/sysctl.h>
#include <sys/types.h>
#endif

#include "posix.h"

/* The program's real path, so the child shows under its own name in ps/top. On Linux
 * /proc/self/exe still works when the file was deleted or replaced since (the fingerprint check
 * in the child catches a replaced build). An empty string when the system cannot tell. */
void mproc__px_self_exe(char *buf, size_t cap) {
#if defined(__linux__)
  ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
  if (n <= 0 || (size_t)n >= cap - 1 || access(buf, X_OK) != 0) {
    snprintf(buf, cap, "/proc/self/exe");
    return;
  }
  buf[n] = '\0';
#elif defined(__APPLE__)
  uint32_t size = (uint32_t)cap;
  if (_NSGetExecutablePath(buf, &size) != 0)
    buf[0] = '\0';
#elif defined(__FreeBSD__)
  int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PATHNAME, -1};
  size_t len = cap;
  if (sysctl(mib, 4, buf, &len, NULL, 0) != 0)
    buf[0] = '\0';
#else
  buf[0] = '\0';
#endif
}

/* Every handler the parent installed back to its default (a fork child must not run the
 * parent's handlers); ignored signals stay ignored only if they were SIG_DFL already. */
void mproc__px_reset_signals(void) {
  struct sigaction dfl, cur;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, NULL, &cur) == 0 &&
        cur.sa_handler != SIG_DFL)
      sigaction(sig, &dfl, NULL);
}

int mproc__os_can_fork(void) { return 1; }

void mproc__os_proc_attach(os_proc *out, int64_t pid, os_handle handle) {
  *out = (os_proc){pid, handle, 0, 0, 0, 0};
}

void mproc__os_proc_release(os_proc *p) {
  if (p->handle != OS_INVALID)
    close((int)p->handle);
  p->handle = OS_INVALID;
}
