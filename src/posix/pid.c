/* SPDX-License-Identifier: MIT */
/* Facts about other processes: alive (a zombie is not), and when they started (a pid plus its
 * start time names one process even after the pid is reused). Per system by nature: Linux
 * reads /proc/<pid>/stat, macOS proc_pidinfo(PROC_PIDTBSDINFO), FreeBSD
 * sysctl(KERN_PROC_PID); kill(pid, 0) alone elsewhere (a zombie then counts as alive, and the
 * birth is unknown). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#if defined(__APPLE__)
#include <libproc.h>
#include <sys/proc.h> /* SZOMB */
#include <sys/proc_info.h>
#elif defined(__FreeBSD__)
#include <sys/param.h>
#include <sys/sysctl.h>
#include <sys/user.h>
#endif

#include "posix.h"

typedef struct pid_facts {
  int found;      /* 0: could not look (no such process, or not allowed) */
  int zombie;     /* exited, not yet reaped */
  uint64_t birth; /* opaque start stamp, 0 if unknown */
} pid_facts;

#if defined(__linux__)
/* /proc/<pid>/stat: the comm field may hold spaces and parentheses, so fields are counted
 * from the last ')'. State is field 3, starttime (clock ticks since boot) field 22. */
static pid_facts look(int64_t pid) {
  pid_facts f = {0, 0, 0};
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
  FILE *fp = fopen(path, "re");
  if (fp == NULL)
    return f;
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  fclose(fp);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')');
  if (p == NULL || p[1] != ' ')
    return f;
  f.found = 1;
  f.zombie = p[2] == 'Z' || p[2] == 'X';
  for (int field = 2; *p; p++)
    if (*p == ' ' && ++field == 22) {
      f.birth = strtoull(p + 1, NULL, 10) + 1; /* + 1: never 0 */
      break;
    }
  return f;
}
#elif defined(__APPLE__)
static pid_facts look(int64_t pid) {
  pid_facts f = {0, 0, 0};
  struct proc_bsdinfo bi;
  if (proc_pidinfo((int)pid, PROC_PIDTBSDINFO, 0, &bi, sizeof bi) != (int)sizeof bi)
    return f;
  f.found = 1;
  f.zombie = bi.pbi_status == SZOMB;
  f.birth = (uint64_t)bi.pbi_start_tvsec * 1000000 + bi.pbi_start_tvusec + 1;
  return f;
}
#elif defined(__FreeBSD__)
static pid_facts look(int64_t pid) {
  pid_facts f = {0, 0, 0};
  struct kinfo_proc kp;
  size_t len = sizeof kp;
  int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, (int)pid};
  if (sysctl(mib, 4, &kp, &len, NULL, 0) != 0 || len != sizeof kp)
    return f;
  f.found = 1;
  f.zombie = kp.ki_stat == SZOMB;
  f.birth = (uint64_t)kp.ki_start.tv_sec * 1000000 + (uint64_t)kp.ki_start.tv_usec + 1;
  return f;
}
#else
static pid_facts look(int64_t pid) {
  (void)pid;
  pid_facts f = {0, 0, 0};
  return f;
}
#endif

int mproc__os_pid_alive(int64_t pid) {
  if (pid <= 0)
    return 0;
  if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
    return 0;
  /* A killed child nobody reaped yet is a zombie: gone for our purposes. */
  pid_facts f = look(pid);
  return !(f.found && f.zombie);
}

uint64_t mproc__os_pid_birth(int64_t pid) {
  if (pid <= 0)
    return 0;
  return look(pid).birth;
}
