/* SPDX-License-Identifier: MIT */
/*
 * What both POSIX process backends share (proc.c, Linux's accelerated one, and proc_generic.c,
 * the portable one): the program's own path for spawn, the signal reset a fork child does, and
 * the plain handle bookkeeping.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
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
 * parent's handlers); ignored signals are set back to default too.
 *
 * Looking at each of the 64 signals costs a fork child 64 system calls, a large part of its
 * start on a VM, and reading its own /proc/<pid>/status costs a new pid even more (procfs
 * builds the directory for it). The parent's own /proc/self/status is cheap to read, and its
 * SigIgn and SigCgt masks name every signal not at its default: with signals blocked and no
 * other thread that could call sigaction meanwhile, they are exactly what the child inherits,
 * so the child resets only those. Otherwise (other threads, no /proc) the child looks at each. */
#if defined(__linux__) && !defined(MPROC_POSIX_GENERIC)
/* The unsigned number after "<key>" in a /proc/<pid>/status text (base 10 or 16), which must
 * end its line; 0 with *ok = 0 if absent, cut short or malformed. */
static uint64_t status_field(const char *text, const char *key, int base, int *ok) {
  const char *p = strstr(text, key);
  uint64_t v = 0;
  int digits = 0;
  if (p == NULL) {
    *ok = 0;
    return 0;
  }
  for (p += strlen(key); *p == ' ' || *p == '\t'; p++)
    ;
  for (;; p++, digits++) {
    int c = *p, d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 99;
    if (d >= base)
      break;
    v = v * (uint64_t)base + (uint64_t)d;
  }
  if (digits == 0 || digits > 16 || *p != '\n')
    *ok = 0;
  return v;
}

/* The fields come in the first ~800 bytes (Threads, then SigIgn and SigCgt); one read of a
 * small buffer keeps the parent's stack shallow: every stack page it writes after a fork is
 * one more copy. Cut short (a huge Groups line), the child looks at each signal instead. */
int mproc__px_handled_signals(uint64_t *mask) {
  char buf[1280];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC), ok = 1;
  if (fd < 0)
    return 0;
  ssize_t n;
  do
    n = read(fd, buf, sizeof buf - 1);
  while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0 || NSIG - 1 > 64)
    return 0;
  buf[n] = '\0';
  uint64_t threads = status_field(buf, "\nThreads:", 10, &ok);
  *mask = status_field(buf, "\nSigIgn:", 16, &ok) | status_field(buf, "\nSigCgt:", 16, &ok);
  /* The starter thread only waits (or forks on our behalf while the caller waits). */
  return ok && threads <= 1u + (mproc__px_starter_running() ? 1u : 0u);
}
#else
int mproc__px_handled_signals(uint64_t *mask) {
  *mask = 0;
  return 0;
}
#endif

/* Through a pointer the loader fills in at startup: the parent never calls sigaction, so a
 * lazily bound call would cost every fork child a symbol lookup (and the pages it touches). */
static int (*const volatile sigaction_fn)(int, const struct sigaction *, struct sigaction *) =
    sigaction;

void mproc__px_reset_signals(const uint64_t *handled) {
  struct sigaction dfl, cur;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP)
      continue;
    if (handled != NULL ? (*handled >> (sig - 1) & 1) != 0
                        : sigaction_fn(sig, NULL, &cur) == 0 && cur.sa_handler != SIG_DFL)
      sigaction_fn(sig, &dfl, NULL);
  }
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
